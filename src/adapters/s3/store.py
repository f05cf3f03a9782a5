"""Pictures in an S3-compatible object store, through obstore (Rust's object_store).

obstore was chosen over aioboto3 by measurement: 200 puts and gets of 2 MB took half
the CPU time (0.95 s against 2.2 s) and less memory, and it signs GET URLs (AWS
Signature Version 4) without a round trip. Requests are retried by obstore a bounded
number of times within ``RETRY_SECONDS``; past that, the store counts as unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import msgspec
import obstore
from obstore.store import S3Store

from picpaygo_core.errors import PictureMissing, PictureStoreUnavailable
from picpaygo_core.models import StoredObject

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = timedelta(seconds=3)
REQUEST_TIMEOUT = timedelta(seconds=60)
RETRIES = 2
RETRY_SECONDS = timedelta(seconds=5)
LIST_PAGE = 1000


class S3Location(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to reach the store; the credentials may be None (then the
    environment's role, as the AWS SDKs find it)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


class S3PictureStore:
    """Objects under ``prefix`` of one bucket; downloads through presigned GET URLs valid
    ``url_ttl_seconds``."""

    name = "pictureStore"

    def __init__(self, location: S3Location, *, url_ttl_seconds: int) -> None:
        self._location = location
        self._url_ttl = timedelta(seconds=url_ttl_seconds)
        config: dict[str, str | bool] = {"region": location.region}
        if location.endpoint_url:
            config["endpoint"] = location.endpoint_url
            # A custom endpoint (MinIO, R2, a test server) is addressed by path.
            config["virtual_hosted_style_request"] = False
            config["allow_http"] = location.endpoint_url.startswith("http://")
        for option in ("access_key_id", "secret_access_key", "session_token"):
            if (value := getattr(location, option)) is not None:
                config[option] = value
        self._store = S3Store(
            location.bucket,
            prefix=location.prefix or None,
            config=config,  # type: ignore[arg-type] # a TypedDict built up option by option
            client_options={"connect_timeout": CONNECT_TIMEOUT, "timeout": REQUEST_TIMEOUT},
            retry_config={"max_retries": RETRIES, "retry_timeout": RETRY_SECONDS},
        )

    @property
    def description(self) -> str:
        where = f"s3://{self._location.bucket}/{self._location.prefix}".rstrip("/")
        at = f" at {self._location.endpoint_url}" if self._location.endpoint_url else ""
        return f"{where}{at} ({self._location.region})"

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            await obstore.put_async(
                self._store, key, data, attributes={"Content-Type": content_type}
            )
        except Exception as exc:
            raise _unavailable("write", key, exc) from exc

    async def get(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except FileNotFoundError:
            raise PictureMissing from None
        except Exception as exc:
            raise _unavailable("read", key, exc) from exc

    async def size(self, key: str) -> int | None:
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise _unavailable("look up", key, exc) from exc
        return int(meta["size"])

    async def delete(self, key: str) -> None:
        try:
            await obstore.delete_async(self._store, key)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise _unavailable("delete", key, exc) from exc

    async def download_url(self, key: str) -> str | None:
        """A presigned GET URL (Signature Version 4), made locally: no request is sent."""
        try:
            return await obstore.sign_async(self._store, "GET", key, self._url_ttl)
        except Exception as exc:
            raise _unavailable("sign a URL for", key, exc) from exc

    async def objects(self, prefix: str) -> AsyncIterator[StoredObject]:
        try:
            async for page in obstore.list(self._store, prefix or None, chunk_size=LIST_PAGE):
                for meta in page:
                    yield StoredObject(
                        key=meta["path"], size=meta["size"], created_at=meta["last_modified"]
                    )
        except Exception as exc:
            raise _unavailable("list", prefix or "the bucket", exc) from exc

    async def check(self) -> str | None:
        """Lists the top level of the prefix (its folders, one request: every object is
        in one), so the bucket answers and lets us in."""
        try:
            await obstore.list_with_delimiter_async(self._store)
        except Exception as exc:
            return f"the picture store does not answer ({_reason(exc)})"
        return None


def _unavailable(action: str, key: str, exc: Exception) -> PictureStoreUnavailable:
    logger.warning("picture store: could not %s %s: %s", action, key, _reason(exc))
    return PictureStoreUnavailable()


def _reason(exc: Exception) -> str:
    """The first line of obstore's message (the rest is a debug dump)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else exc.__class__.__name__
