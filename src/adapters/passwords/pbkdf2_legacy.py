"""Password hashes of the previous (FastAPI) service: PBKDF2-HMAC-SHA256.

Two stored layouts are read:

- ``"<base64 salt>$<hex digest>"``, the seed's layout, always 100,000 iterations;
- ``"pbkdf2_sha256$<iterations>$<base64 salt>$<hex or base64 digest>"``.

These hashes are only ever verified (and then replaced by Argon2id on the next
login); :func:`legacy_pbkdf2_hash` exists so tests and documentation can make one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import string
from dataclasses import dataclass

LEGACY_ITERATIONS = 100_000
"""Iteration count of the seed's hashes (implied by the ``salt$hex`` layout)."""

EXPLICIT_PREFIX = "pbkdf2_sha256"

# Bounds that keep a corrupt or hostile stored hash from costing minutes of CPU.
_MAX_ITERATIONS = 10_000_000
_MIN_DIGEST_BYTES = 16
_MAX_DIGEST_BYTES = 64
_HEX_DIGITS = frozenset(string.hexdigits)


@dataclass(frozen=True, slots=True)
class LegacyHash:
    """The parts of a parsed PBKDF2-HMAC-SHA256 hash."""

    salt: bytes
    digest: bytes
    iterations: int


def parse_legacy_hash(password_hash: str) -> LegacyHash | None:
    """Read a legacy hash in either layout; None when it is not one (or is damaged)."""
    parts = password_hash.split("$")
    if len(parts) == 2:
        salt_text, digest_text = parts
        salt, digest = _b64decode(salt_text), _hexdecode(digest_text)
        iterations: int | None = LEGACY_ITERATIONS
    elif len(parts) == 4 and parts[0] == EXPLICIT_PREFIX:
        _, iterations_text, salt_text, digest_text = parts
        iterations = _positive_int(iterations_text)
        salt = _b64decode(salt_text)
        digest = _hexdecode(digest_text) or _b64decode(digest_text)
    else:
        return None
    if iterations is None or not salt or digest is None:
        return None
    if not _MIN_DIGEST_BYTES <= len(digest) <= _MAX_DIGEST_BYTES:
        return None
    return LegacyHash(salt=salt, digest=digest, iterations=iterations)


def is_legacy_hash(password_hash: str) -> bool:
    """True when ``password_hash`` is a readable hash in one of the legacy layouts."""
    return parse_legacy_hash(password_hash) is not None


def verify_legacy_pbkdf2(password_hash: str, password: str) -> bool:
    """Check ``password`` against a legacy hash in constant time; False if unreadable."""
    parsed = parse_legacy_hash(password_hash)
    if parsed is None:
        return False
    derived = _derive(password, parsed.salt, parsed.iterations, len(parsed.digest))
    return hmac.compare_digest(derived, parsed.digest)


def legacy_pbkdf2_hash(
    password: str, salt: bytes | None = None, iterations: int = LEGACY_ITERATIONS
) -> str:
    """Make a hash as the previous service did: ``"<base64 salt>$<hex digest>"``.

    With a non-default ``iterations`` the explicit ``pbkdf2_sha256$...`` layout is
    used instead, since the short layout implies 100,000 iterations.
    """
    salt = os.urandom(16) if salt is None else salt
    digest = _derive(password, salt, iterations, hashlib.sha256().digest_size).hex()
    salt_text = base64.b64encode(salt).decode("ascii")
    if iterations == LEGACY_ITERATIONS:
        return f"{salt_text}${digest}"
    return f"{EXPLICIT_PREFIX}${iterations}${salt_text}${digest}"


def _derive(password: str, salt: bytes, iterations: int, length: int) -> bytes:
    secret = password.encode("utf-8", "surrogatepass")
    return hashlib.pbkdf2_hmac("sha256", secret, salt, iterations, dklen=length)


def _positive_int(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= _MAX_ITERATIONS else None


def _hexdecode(text: str) -> bytes | None:
    if not text or len(text) % 2 or not _HEX_DIGITS.issuperset(text):
        return None
    return bytes.fromhex(text)


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, with or without padding."""
    if not text or not text.isascii():
        return None
    padded = text + "=" * (-len(text) % 4)
    for altchars in (b"+/", b"-_"):
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None
