"""The session cookie: HttpOnly, SameSite=Lax, Path=/, Secure (and ``__Host-``) when configured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Response
from litestar.datastructures import Cookie

HOST_PREFIX = "__Host-"


@dataclass(frozen=True)
class SessionCookie:
    """How the session token travels to and from the browser.

    With ``secure`` the cookie is named ``__Host-<name>``: browsers accept such a cookie
    only over HTTPS, for this host alone, with ``Path=/``, so no sibling subdomain and
    no plain-HTTP page can plant one (cookie tossing).
    """

    name: str
    secure: bool
    max_age_seconds: int

    @property
    def cookie_name(self) -> str:
        """The name on the wire: ``__Host-`` prefixed when the cookie is Secure."""
        return f"{HOST_PREFIX}{self.name}" if self.secure else self.name

    def read(self, cookie_header: str | None) -> str | None:
        """The token sent by the browser, if exactly one was sent.

        Two different values under the session cookie's name mean someone planted one
        (a subdomain or a plain-HTTP page can set a cookie with another path or domain);
        which is the person's own cannot be told, so neither signs anyone in.
        """
        values = {
            value.strip()
            for name, value in _pairs(cookie_header or "")
            if name == self.cookie_name and value.strip()
        }
        return values.pop() if len(values) == 1 else None

    def set(self, response: Response[Any], token: str) -> None:
        """Attach a cookie carrying ``token`` for the session's lifetime."""
        response.set_cookie(
            Cookie(
                key=self.cookie_name,
                value=token,
                max_age=self.max_age_seconds,
                path="/",
                httponly=True,
                samesite="lax",
                secure=self.secure,
            )
        )

    def clear(self, response: Response[Any]) -> None:
        """Tell the browser to drop the cookie."""
        response.set_cookie(
            Cookie(
                key=self.cookie_name,
                value="",
                max_age=0,
                path="/",
                httponly=True,
                samesite="lax",
                secure=self.secure,
            )
        )


def _pairs(cookie_header: str) -> list[tuple[str, str]]:
    pairs = []
    for part in cookie_header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            pairs.append((name.strip(), value.strip().strip('"')))
    return pairs
