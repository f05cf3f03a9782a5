"""The mail port: hands one mail to the transport (SMTP, or the development outbox)."""

from __future__ import annotations

from typing import Protocol

from picpaygo_core.models import OutgoingMail


class Mailer(Protocol):
    @property
    def description(self) -> str:
        """Where mail goes, for the logs (never a password)."""
        ...

    async def send(self, mail: OutgoingMail) -> None:
        """Deliver ``mail`` (with ``From``, ``Message-ID`` and ``Date`` added).

        Raises ``MailDeliveryFailed``: ``transient`` for a connection failure or a 4xx
        answer (try again later), not for a 5xx answer (it will not work).
        """
        ...
