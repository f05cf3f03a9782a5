"""The session cookie: HttpOnly, SameSite=Lax, Path=/, Secure when configured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Response
from litestar.datastructures import Cookie


@dataclass(frozen=True)
class SessionCookie:
    """How the session token travels to and from the browser."""

    name: str
    secure: bool
    max_age_seconds: int

    def read(self, cookies: dict[str, str]) -> str | None:
        """The token sent by the browser, if any."""
        return cookies.get(self.name) or None

    def set(self, response: Response[Any], token: str) -> None:
        """Attach a cookie carrying ``token`` for the session's lifetime."""
        response.set_cookie(
            Cookie(
                key=self.name,
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
        response.delete_cookie(self.name, path="/")
