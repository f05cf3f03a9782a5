"""Waking idle workers, and telling followers of a job it changed, in every process,
through PostgreSQL's LISTEN/NOTIFY.

Every visible change of a job, its insert included, notifies its id, new status and time
(a trigger, migration 0007), when its transaction commits: it tells the process's
followers of that job (``ProcessJobChanges``), and a job that is (again) queued wakes a
worker. Each process keeps ONE autocommit connection of its own LISTENing for both,
whatever the number of its workers and streams; it dies with a database restart, so it
is reconnected (with backoff) and re-LISTENs. Workers still poll slowly and followers
re-read at each heartbeat, and both are told to look again on every (re)connection, so
a notification lost while reconnecting strands nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.jobs import JOBS_CHANNEL
from adapters.process_job_changes import ProcessJobChanges, ProcessJobWatch
from adapters.process_wakeup import ProcessJobWakeup
from picpaygo_core.models import JobMark, JobStatus

logger = logging.getLogger(__name__)

FIRST_RECONNECT_DELAY_SECONDS = 0.5
MAX_RECONNECT_DELAY_SECONDS = 10.0
# How long a new follower waits for the LISTEN to be in place (it is, but for the first
# follower of a process or during an outage): its stream then misses no change.
LISTEN_WAIT_SECONDS = 2.0


class PostgresJobWakeup:
    """``JobWakeup`` for several processes: LISTEN in the background, wake local waiters
    (and tell ``changes`` of the jobs notified by id)."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        changes: ProcessJobChanges | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._database = database
        self._sleep = sleep
        self._local = ProcessJobWakeup()
        self._changes = changes if changes is not None else ProcessJobChanges()
        self._listener: asyncio.Task[None] | None = None
        self._listened = False
        self._listening = asyncio.Event()

    def notify(self) -> None:
        """Wake this process's waiting workers (others hear the job's own NOTIFY)."""
        self._local.notify()

    async def wait(self, max_seconds: float) -> None:
        """Return on the next notification, or after ``max_seconds``."""
        await self._local.wait(max_seconds)

    async def listening(self, max_seconds: float) -> bool:
        """Wait until the LISTEN is in place (at most ``max_seconds``): whether it is."""
        try:
            async with asyncio.timeout(max_seconds):
                await self._listening.wait()
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        """Start listening in the running event loop (again: nothing)."""
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
            self._listening.set()
            # Jobs queued or changed while nobody was listening: let everyone look now.
            self._local.notify_all()
            self._changes.announce_all()
            async for notification in conn.notifies():
                if notification.payload:
                    self._changed(notification.payload)
                else:  # from a process of an earlier release, during a rolling deploy
                    self._local.notify()
        finally:
            self._listening.clear()
            with contextlib.suppress(Exception):
                await conn.close()

    def _changed(self, payload: str) -> None:
        """``<job id> <status> <UTC time>`` (migration 0007); a bare id is heard too."""
        job_id_text, _, rest = payload.partition(" ")
        try:
            job_id = UUID(job_id_text)
        except ValueError:
            logger.warning("ignored a job notification with payload %r", payload[:64])
            return
        mark = _mark(rest)
        self._changes.announce(job_id, mark)
        if mark is None or mark.status is JobStatus.QUEUED:
            self._local.notify()


def _mark(text: str) -> JobMark | None:
    """The status and time of a notification, or None if they cannot be read."""
    status, _, stamp = text.partition(" ")
    try:
        return JobMark(
            status=JobStatus(status),
            updated_at=datetime.fromisoformat(stamp).replace(tzinfo=UTC),
        )
    except ValueError:
        return None


class PostgresJobChanges:
    """``JobChanges`` for several processes: the followers of this process, told by the
    process's one listening connection, which the first follower starts if no worker
    has."""

    def __init__(self, listener: PostgresJobWakeup, changes: ProcessJobChanges) -> None:
        self._listener = listener
        self._changes = changes

    @contextlib.asynccontextmanager
    async def watch(self, job_id: UUID) -> AsyncIterator[ProcessJobWatch]:
        """Be told of ``job_id``'s changes, from any process, while the block runs (from
        when the block starts: the LISTEN is in place, unless the database is away)."""
        self._listener.start()
        async with self._changes.watch(job_id) as watch:
            await self._listener.listening(LISTEN_WAIT_SECONDS)
            yield watch
