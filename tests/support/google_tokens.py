"""Real, locally signed Google-style ID tokens for tests: no network, no mocks of google-auth.

``GoogleTokenFactory`` holds an RSA key and a self-signed X.509 certificate for it
(the form Google serves at ``oauth2/v1/certs``), a fake certificate endpoint
(``factory.request``) to hand to the verifier, and ``factory.token(...)`` to sign
tokens with any claims changed or removed, or with another key.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt, transport

CLIENT_ID = "1234567890-test.apps.googleusercontent.com"
KEY_ID = "test-kid"
GOOGLE_ISSUER = "https://accounts.google.com"


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair with the PEM forms google-auth reads."""

    private_pem: bytes
    public_pem: str
    certificate_pem: str


def make_signing_key(common_name: str = "test-google-signer") -> SigningKey:
    """A fresh 2048-bit RSA key and a self-signed certificate valid around today."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )
    return SigningKey(
        private_pem=private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem=private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
    )


@dataclass(frozen=True)
class FakeResponse:
    """What google-auth reads from a transport response."""

    status: int
    headers: Mapping[str, str]
    data: bytes


@dataclass
class FakeCertsRequest(transport.Request):
    """A google-auth ``Request`` that serves ``certs`` as JSON and records the URLs asked."""

    certs: Mapping[str, str]
    status: int = 200
    urls: list[str] = field(default_factory=list)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> FakeResponse:
        self.urls.append(url)
        return FakeResponse(status=self.status, headers={}, data=json.dumps(self.certs).encode())


class GoogleTokenFactory:
    """Signs ID tokens as Google would and serves the matching certificate."""

    def __init__(
        self, key: SigningKey | None = None, *, client_id: str = CLIENT_ID, key_id: str = KEY_ID
    ) -> None:
        self.key = key or make_signing_key()
        self.client_id = client_id
        self.key_id = key_id
        self.request = FakeCertsRequest({key_id: self.key.certificate_pem})

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """The default claims of a valid token, with ``overrides`` applied."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": GOOGLE_ISSUER,
            "aud": self.client_id,
            "sub": "110169484474386276334",
            "email": "ada@example.com",
            "email_verified": True,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return claims

    def token(
        self,
        *,
        remove: Iterable[str] = (),
        signed_by: SigningKey | None = None,
        key_id: str | None = None,
        **overrides: Any,
    ) -> str:
        """A signed token: default claims with ``overrides`` set and ``remove`` dropped.

        ``signed_by`` signs with another key (under the same key id unless ``key_id``
        is given), which the verifier must reject.
        """
        claims = self.claims(**overrides)
        for name in remove:
            claims.pop(name, None)
        key = signed_by or self.key
        signer = crypt.RSASigner.from_string(  # type: ignore[no-untyped-call]
            key.private_pem, key_id=key_id or self.key_id
        )
        encoded: bytes = jwt.encode(signer, claims)  # type: ignore[no-untyped-call]
        return encoded.decode("ascii")
