"""Counting sign-in attempts in PostgreSQL, so every API process shares one count."""

from __future__ import annotations

from datetime import timedelta

from adapters.postgres.database import PostgresDatabase
from picpaygo_core.ports import Clock

# Counts older than this can no longer block anyone (windows last a minute or so).
RETENTION = timedelta(hours=1)

# Counts an attempt unless the key's current window is full; the upsert locks the row,
# so concurrent attempts (from any process) are counted one after the other and at most
# ``limit`` of them get a row back.
ACQUIRE_SQL = b"""
    INSERT INTO auth_attempts AS a (key, window_started, attempts)
    VALUES (%(key)s, %(now)s, 1)
    ON CONFLICT (key) DO UPDATE SET
        window_started = CASE WHEN a.window_started + %(window)s <= %(now)s
                              THEN %(now)s ELSE a.window_started END,
        attempts = CASE WHEN a.window_started + %(window)s <= %(now)s
                        THEN 1 ELSE a.attempts + 1 END
    WHERE a.window_started + %(window)s <= %(now)s OR a.attempts < %(limit)s
    RETURNING attempts
"""


class PostgresAttemptThrottle:
    """Fixed windows per key, starting at a key's first attempt (as the in-memory one).

    Not a unit of work: each statement is atomic and takes effect on its own (the pooled
    connection is in autocommit), which is all a counter needs.
    """

    def __init__(self, database: PostgresDatabase, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def acquire(self, key: str, *, limit: int, window_seconds: float) -> float | None:
        """One statement counts the attempt only while under ``limit`` (row-locked upsert)."""
        now = self._clock.now()
        window = timedelta(seconds=window_seconds)
        async with self._database.connection() as conn:
            counted = await conn.fetch_one(
                ACQUIRE_SQL,
                {"key": key, "now": now, "window": window, "limit": limit},
            )
            if counted is not None:
                return None
            row = await conn.fetch_one(
                b"SELECT window_started FROM auth_attempts WHERE key = %s", (key,)
            )
        if row is None:
            return window_seconds
        return max(float((row["window_started"] + window - now).total_seconds()), 0.0)

    async def release(self, key: str) -> None:
        async with self._database.connection() as conn:
            await conn.fetch_all(
                b"UPDATE auth_attempts SET attempts = attempts - 1 WHERE key = %s AND attempts > 0",
                (key,),
            )

    async def forget_expired(self) -> int:
        """Delete counts whose window ended long ago; returns how many went."""
        horizon = self._clock.now() - RETENTION
        async with self._database.connection() as conn:
            rows = await conn.fetch_all(
                b"WITH gone AS (DELETE FROM auth_attempts WHERE window_started < %s RETURNING 1) "
                b"SELECT count(*) FROM gone",
                (horizon,),
            )
        return int(rows[0]["count"])
