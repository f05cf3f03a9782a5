"""A real SMTP server on 127.0.0.1 inside the test process (aiosmtpd's controller), and
an inbox to wait on."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from support.server import free_port

POLL_SECONDS = 0.05


class Inbox:
    """aiosmtpd handler keeping every message it accepts; ``refuse_with`` answers DATA
    with that reply instead (``"550 ..."``, ``"451 ..."``)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse_with: str | None = None
        self.refused = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with is not None:
            self.refused += 1
            return self.refuse_with
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, recipient: str) -> list[EmailMessage]:
        """The messages received for ``recipient``."""
        with self._lock:
            return [m for m in self.messages if m["To"] == recipient]

    def wait_for(
        self, recipient: str, count: int = 1, deadline_seconds: float = 20.0
    ) -> list[EmailMessage]:
        """Wait until ``count`` messages for ``recipient`` arrived; all of them."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            found = self.to(recipient)
            if len(found) >= count:
                return found
            time.sleep(POLL_SECONDS)
        raise AssertionError(
            f"{count} mail(s) to {recipient} did not arrive in {deadline_seconds}s"
        )


class SmtpServer:
    """An aiosmtpd controller on a fixed loopback port that can be stopped and started
    again (an outage)."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
