"""One time limit per unit of work: when it passes, the connection's socket is shut down.

A round trip to a frozen database never ends by itself, and cancelling it does not help
either: psycopg then asks the server to cancel the query and waits for the answer, which
a frozen server never gives. Shutting the socket down ends whatever is waiting on it at
once (psycopg raises ``OperationalError``), the connection is broken, and the pool drops
it. This costs one timer per unit of work, armed on entry and disarmed on exit, instead
of a task and a timeout for every round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import psycopg


class Deadline:
    """A time limit on one connection, from ``arm`` until ``disarm``."""

    __slots__ = ("_handle", "expired")

    def __init__(self) -> None:
        self._handle: asyncio.TimerHandle | None = None
        self.expired = False

    def arm(self, conn: psycopg.AsyncConnection[Any], at: float) -> None:
        """Cut ``conn`` at loop time ``at`` unless disarmed before."""
        self._handle = asyncio.get_running_loop().call_at(at, self._expire, conn)

    def disarm(self) -> None:
        """The work ended in time (or failed otherwise): cut nothing."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.expired = True
        self._handle = None
        cut(conn)


def cut(conn: psycopg.AsyncConnection[Any]) -> None:
    """Shut ``conn``'s socket down: a pending or later round trip on it fails at once."""
    if conn.closed:
        return
    with contextlib.suppress(OSError, psycopg.Error):
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()
