"""A real S3 API on 127.0.0.1 for tests: moto's server, in a thread of the test process.

In front of moto sits ``PresignedUrlGate``, which checks presigned GET URLs as AWS does
(moto serves them without looking): the Signature Version 4 signature, with the secret
key the test configured, and the expiry (``X-Amz-Date`` + ``X-Amz-Expires``). A URL that
fails either gets AWS's answer, 403 ``AccessDenied``. Everything else goes to moto as is.

``S3Server.env(bucket, prefix)`` is the service's environment for a bucket made for one
test; ``objects(bucket)`` reads what the bucket holds, with boto3, to check it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

HOST = "127.0.0.1"
REGION = "us-east-1"
ACCESS_KEY_ID = "AKIATESTPICPAYGO0001"
SECRET_ACCESS_KEY = "test-secret-key-for-the-local-s3-api"

# moto's server logs every request at INFO; a test's output has better things to show.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def presigned_problem(method: str, host: str, path: str, query: str, secret: str) -> str | None:
    """Why a presigned URL would be refused by AWS (None when it is valid now)."""
    params = parse_qsl(query, keep_blank_values=True)
    values = dict(params)
    try:
        signed_at = datetime.strptime(values["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(values["X-Amz-Expires"])
        credential = values["X-Amz-Credential"]
        signature = values["X-Amz-Signature"]
    except (KeyError, ValueError):
        return "malformed presigned URL"
    if datetime.now(UTC) > signed_at + timedelta(seconds=expires):
        return "Request has expired"
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(params)
        if k != "X-Amz-Signature"
    )
    signed_headers = values.get("X-Amz-SignedHeaders", "host")
    if signed_headers != "host":
        return "unexpected signed headers"
    canonical = "\n".join(
        [method, path, canonical_query, f"host:{host}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    _, date, region, service, _ = credential.split("/")
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            values["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "The request signature we calculated does not match the signature you provided"
    return None


class PresignedUrlGate:
    """WSGI middleware: checks presigned GET URLs, then hands every request to moto."""

    def __init__(self, app: WsgiApp, secret: str) -> None:
        self._app = app
        self._secret = secret
        self.refused: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        query = environ.get("QUERY_STRING", "")
        if "X-Amz-Signature=" in query:
            path = quote(environ.get("PATH_INFO", ""), safe="/-_.~")
            problem = presigned_problem(
                environ["REQUEST_METHOD"], environ.get("HTTP_HOST", ""), path, query, self._secret
            )
            if problem is not None:
                self.refused.append(problem)
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                    f"<Message>{problem}</Message></Error>"
                ).encode()
                start_response(
                    "403 Forbidden",
                    [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self._app(environ, start_response)


class S3Server:
    """moto's S3 API (behind ``PresignedUrlGate``) on a free loopback port."""

    def __init__(self) -> None:
        self.gate = PresignedUrlGate(
            DomainDispatcherApplication(create_backend_app), SECRET_ACCESS_KEY
        )
        self._server: BaseWSGIServer = make_server(
            HOST, 0, self.gate, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = int(self._server.server_address[1])
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="s3-server", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    def client(self) -> Any:
        """A boto3 S3 client of this server, for checks made beside the service."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def new_bucket(self) -> str:
        """A new, empty bucket (moto keeps every bucket of the test process)."""
        name = f"pictures-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object of ``bucket`` under ``prefix``, by key, with its bytes."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                found[item["Key"]] = body
        return found


def store_env(endpoint_url: str, bucket: str, prefix: str = "", **more: str) -> dict[str, str]:
    """The service's settings for ``bucket`` (under ``prefix``) at ``endpoint_url``."""
    store = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return {
        "PICTURE_STORE": store,
        "S3_ENDPOINT_URL": endpoint_url,
        "S3_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        **more,
    }
