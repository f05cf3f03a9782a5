"""Waking idle workers in every process through PostgreSQL's LISTEN/NOTIFY.

A job insert runs ``pg_notify`` in its transaction, so the notification goes out when
the job is committed. Each process keeps one autocommit connection of its own LISTENing;
it dies with a database restart, so it is reconnected (with backoff) and re-LISTENs.
Workers still poll slowly, so a notification lost while reconnecting strands nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.jobs import JOBS_CHANNEL
from adapters.process_wakeup import ProcessJobWakeup

logger = logging.getLogger(__name__)

FIRST_RECONNECT_DELAY_SECONDS = 0.5
MAX_RECONNECT_DELAY_SECONDS = 10.0


class PostgresJobWakeup:
    """``JobWakeup`` for several processes: LISTEN in the background, wake local waiters."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._database = database
        self._sleep = sleep
        self._local = ProcessJobWakeup()
        self._listener: asyncio.Task[None] | None = None
        self._listened = False

    def notify(self) -> None:
        """Wake this process's waiting workers (others hear the job's own NOTIFY)."""
        self._local.notify()

    async def wait(self, max_seconds: float) -> None:
        """Return on the next notification, or after ``max_seconds``."""
        await self._local.wait(max_seconds)

    def start(self) -> None:
        """Start listening in the running event loop."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="job-listener")

    async def stop(self) -> None:
        """Stop listening and close the listening connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen_forever(self) -> None:
        delay = FIRST_RECONNECT_DELAY_SECONDS
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._listened:
                    # The connection had been working: a new outage, so start over quickly.
                    delay = FIRST_RECONNECT_DELAY_SECONDS
                    self._listened = False
                logger.warning(
                    "job listener lost its connection (%s); reconnecting in %.1fs",
                    exc.__class__.__name__,
                    delay,
                )
                await self._sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY_SECONDS)

    async def _listen_once(self) -> None:
        conn = await self._database.connect_directly(autocommit=True)
        try:
            await conn.execute(f"LISTEN {JOBS_CHANNEL}")
            self._listened = True
            # Jobs queued while nobody was listening: let every worker look now.
            self._local.notify_all()
            async for _ in conn.notifies():
                self._local.notify()
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
