"""The access middleware around an app that fails with ``OSError``: only a client that
went away is the INFO "client disconnected" line; any other I/O error is an ERROR."""

from __future__ import annotations

import errno
import logging

import pytest
from litestar.types import Message, Receive, Scope, Send

from entrypoints.http.access import AccessMiddleware

SCOPE: Scope = {  # type: ignore[typeddict-item]
    "type": "http",
    "method": "GET",
    "path": "/api/credits",
    "headers": [],
}


async def failing_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    raise OSError(errno.EIO, "Input/output error")


async def run(app_receives: Message) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return app_receives

    async def send(message: Message) -> None:
        sent.append(message)

    await AccessMiddleware(failing_app, observers=[])(SCOPE, receive, send)  # type: ignore[arg-type]
    return sent


async def test_an_io_error_of_ours_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="picpaygo.access")

    await run({"type": "http.request", "body": b"", "more_body": False})

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, caplog.text
    assert errors[0].exc_info is not None
    assert "disconnected" not in caplog.text
    (access,) = [r for r in caplog.records if r.levelno == logging.INFO]
    assert access.fields["status"] == 500  # type: ignore[attr-defined]


async def test_a_client_that_went_away_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="picpaygo.access")

    await run({"type": "http.disconnect"})

    assert [r.levelno for r in caplog.records] == [logging.INFO], caplog.text
    assert caplog.records[0].fields["client_disconnected"] is True  # type: ignore[attr-defined]
