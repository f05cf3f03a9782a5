"""One send per response: the writes a connection makes in one turn of the event loop
leave together.

uvicorn writes a response's head and its body with two ``transport.write`` calls, and
each becomes a ``send`` system call of its own, which on a loaded server costs about as
much as the rest of a small response. The transport below collects what is written in
one turn and sends it at the end of the turn, in one call. Everything else is the
wrapped transport's.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """Wraps an ``asyncio.Transport``: ``write`` calls of one loop turn go out as one."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for the end of this loop turn."""
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: list[bytes]) -> None:
        """Queue each of ``chunks``."""
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what was queued, in one write."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def write_eof(self) -> None:
        """Send what was queued, then half-close."""
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        """Send what was queued, then close (the transport sends its buffer first)."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what was queued and close at once."""
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
