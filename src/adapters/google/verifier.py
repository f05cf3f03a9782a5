"""The ``GoogleTokenVerifier`` port on google-auth, plus a stand-in for when it is off."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from google.auth import exceptions, transport
from google.oauth2 import id_token

from adapters.google.certs_transport import CachingHttpxRequest
from picpaygo_core.errors import GoogleLoginDisabled, GoogleUnavailable, InvalidGoogleToken
from picpaygo_core.models import GoogleIdentity

DEFAULT_CLOCK_SKEW_SECONDS = 10
"""Leeway for ``iat``/``exp`` so a server clock a few seconds off does not fail logins."""

_MAX_TOKEN_CHARS = 16_384
"""Google ID tokens are about 1 KB; anything far longer is refused before any work."""


class GoogleIdTokenVerifier:
    """Verifies Google ID tokens (signature, audience, issuer, expiry) with google-auth.

    The audience is always checked against ``client_id``. Every bad token, whatever
    google-auth raises for it, becomes ``InvalidGoogleToken``. When Google's
    certificates cannot be fetched the error is ``GoogleUnavailable``: the token may
    be fine, so the person is asked to try again rather than told it is invalid.
    """

    def __init__(
        self,
        client_id: str,
        request: transport.Request | None = None,
        *,
        clock_skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS,
    ) -> None:
        """Verify tokens issued for ``client_id``, fetching certificates with ``request``.

        Without ``request`` a :class:`CachingHttpxRequest` is built (and closed by
        :meth:`close`).
        """
        if not client_id.strip():
            raise ValueError("GOOGLE_CLIENT_ID is empty; leave it unset to turn Google login off")
        self._client_id = client_id
        self._owned_request = CachingHttpxRequest() if request is None else None
        self._request = request if request is not None else self._owned_request
        self._clock_skew_seconds = clock_skew_seconds

    @property
    def client_id(self) -> str:
        """The OAuth client id tokens must be issued for."""
        return self._client_id

    async def verify(self, credential: str) -> GoogleIdentity:
        """The identity a valid token vouches for; ``InvalidGoogleToken`` otherwise."""
        if (
            not isinstance(credential, str)
            or len(credential) > _MAX_TOKEN_CHARS
            or credential.count(".") != 2
        ):
            raise InvalidGoogleToken()
        claims = await asyncio.to_thread(self._verify_sync, credential)
        return identity_from_claims(claims)

    def close(self) -> None:
        """Close the HTTP client this verifier built, if any."""
        if self._owned_request is not None:
            self._owned_request.close()

    def _verify_sync(self, credential: str) -> Mapping[str, Any]:
        try:
            claims = id_token.verify_oauth2_token(  # type: ignore[no-untyped-call]
                credential,
                self._request,
                audience=self._client_id,
                clock_skew_in_seconds=self._clock_skew_seconds,
            )
        except exceptions.TransportError as exc:
            raise GoogleUnavailable from exc
        # GoogleAuthError: wrong issuer; ValueError: malformed, expired, bad signature,
        # wrong audience; KeyError/TypeError: a signed token missing or mistyping claims.
        except (exceptions.GoogleAuthError, ValueError, KeyError, TypeError) as exc:
            raise InvalidGoogleToken() from exc
        if not isinstance(claims, Mapping):
            raise InvalidGoogleToken()
        return claims


class DisabledGoogleVerifier:
    """Stands in when ``GOOGLE_CLIENT_ID`` is not set: every Google login is refused."""

    @property
    def client_id(self) -> None:
        """Always None: Google login is off."""
        return None

    async def verify(self, credential: str) -> GoogleIdentity:
        """Always raises ``GoogleLoginDisabled``."""
        raise GoogleLoginDisabled()

    def close(self) -> None:
        """Nothing to close."""


def identity_from_claims(claims: Mapping[str, Any]) -> GoogleIdentity:
    """Map verified claims to a ``GoogleIdentity``; tokens without sub or email are refused."""
    google_id = claims.get("sub")
    email = claims.get("email")
    if not isinstance(google_id, str) or not google_id.strip():
        raise InvalidGoogleToken("The Google sign-in did not name an account.")
    if not isinstance(email, str) or not email.strip():
        raise InvalidGoogleToken("The Google account did not share an email address.")
    return GoogleIdentity(
        google_id=google_id,
        email=email.strip(),
        email_verified=_is_true(claims.get("email_verified")),
        name=_optional_text(claims.get("given_name")),
        surname=_optional_text(claims.get("family_name")),
    )


def _is_true(value: object) -> bool:
    """Google sends a bool; older tokens carried the string ``"true"``."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _optional_text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
