"""The LISTEN connection of ``PostgresJobWakeup``: reconnect with backoff, reset after success.

A scripted stand-in for the database hands out connections that fail or work as the
test says; sleeping is recorded instead of waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from adapters.postgres.wakeup import (
    FIRST_RECONNECT_DELAY_SECONDS,
    MAX_RECONNECT_DELAY_SECONDS,
    PostgresJobWakeup,
)
from adapters.process_job_changes import ProcessJobChanges
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.models import JobMark, JobStatus


class LostConnection(Exception):
    """The listening connection dropped."""


class Notification:
    """What psycopg hands over: the payload is empty for a new job, else a job's id."""

    def __init__(self, payload: str = "") -> None:
        self.payload = payload


class ListeningConnection:
    """LISTENs fine, delivers ``notifications`` (new jobs, then ``payloads``) and drops."""

    def __init__(self, notifications: int, payloads: tuple[str, ...] = ()) -> None:
        self.notifications = notifications
        self.payloads = payloads
        self.statements: list[str] = []
        self.closed = False

    async def execute(self, query: str) -> None:
        self.statements.append(query)

    async def notifies(self) -> AsyncIterator[object]:
        for _ in range(self.notifications):
            await asyncio.sleep(0)
            yield Notification()
        for payload in self.payloads:
            await asyncio.sleep(0)
            yield Notification(payload)
        raise LostConnection

    async def close(self) -> None:
        self.closed = True


class ScriptedDatabase:
    """``connect_directly`` follows a script: ``None`` fails, a number works then drops."""

    def __init__(self, script: list[int | None], payloads: tuple[str, ...] = ()) -> None:
        self.script = script
        self.payloads = payloads
        self.connections: list[ListeningConnection] = []
        self.exhausted = asyncio.Event()

    async def connect_directly(self, *, autocommit: bool = True) -> Any:
        if not self.script:
            self.exhausted.set()
            await asyncio.Event().wait()  # park here until the test stops the listener
        step = self.script.pop(0)
        if step is None:
            raise StorageUnavailable
        conn = ListeningConnection(step, self.payloads)
        self.connections.append(conn)
        return conn


async def run_listener(script: list[int | None]) -> tuple[list[float], ScriptedDatabase]:
    database = ScriptedDatabase(script)
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    wakeup = PostgresJobWakeup(database, sleep=record)  # type: ignore[arg-type]
    wakeup.start()
    await asyncio.wait_for(database.exhausted.wait(), 5.0)
    await wakeup.stop()
    return delays, database


async def test_failed_connects_back_off_exponentially_up_to_a_cap() -> None:
    delays, _ = await run_listener([None] * 8)

    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert delays[0] == FIRST_RECONNECT_DELAY_SECONDS
    assert max(delays) == MAX_RECONNECT_DELAY_SECONDS


async def test_after_a_working_connection_drops_the_backoff_starts_over() -> None:
    # Four failures (the delay grows to 8 s), then a connection that works and drops,
    # then one more failure: the first retry after the drop is quick again.
    delays, database = await run_listener([None, None, None, None, 2, None])

    assert delays == [0.5, 1.0, 2.0, 4.0, 0.5, 1.0]
    (listened,) = database.connections
    assert listened.statements == ["LISTEN picpaygo_jobs"]
    assert listened.closed


async def test_notifications_and_each_new_listen_wake_the_workers() -> None:
    database = ScriptedDatabase([3])
    wakeup = PostgresJobWakeup(database, sleep=lambda _: asyncio.sleep(0))  # type: ignore[arg-type]
    woken = asyncio.create_task(wakeup.wait(5.0))

    wakeup.start()

    await asyncio.wait_for(woken, 1.0)
    await wakeup.stop()


async def test_a_job_id_tells_that_jobs_followers() -> None:
    followed, other = uuid4(), uuid4()
    payloads = ("not-a-job", str(other), f"{followed} running 2026-01-15T09:30:00.123456")
    database = ScriptedDatabase([0], payloads=payloads)
    changes = ProcessJobChanges()
    wakeup = PostgresJobWakeup(
        database,  # type: ignore[arg-type]
        changes=changes,
        sleep=lambda _: asyncio.sleep(0),
    )
    async with changes.watch(followed) as watch, changes.watch(other) as elsewhere:
        wakeup.start()
        # Told once on LISTEN (anything may have changed unheard), then by the id.
        assert await asyncio.wait_for(watch.changed(5.0), 1.0)
        await asyncio.wait_for(database.exhausted.wait(), 1.0)
        await wakeup.stop()
        assert await watch.changed(0)
        assert await elsewhere.changed(0)
        # The status and time of the change come with it (the trigger of migration 0007).
        assert watch.marks() == [
            JobMark(
                status=JobStatus.RUNNING,
                updated_at=datetime(2026, 1, 15, 9, 30, 0, 123456, tzinfo=UTC),
            )
        ]
        assert elsewhere.marks() == []  # a bare id: only "look again"
