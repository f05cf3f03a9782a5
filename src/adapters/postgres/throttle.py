"""Counting sign-in attempts in PostgreSQL, so every API process shares one count."""

from __future__ import annotations

from datetime import timedelta

from adapters.postgres.database import PostgresDatabase
from picpaygo_core.ports import Clock

# Counts older than this can no longer block anyone (windows last a minute or so).
RETENTION = timedelta(hours=1)


class PostgresAttemptThrottle:
    """Fixed windows per key, starting at a key's first attempt (as the in-memory one)."""

    def __init__(self, database: PostgresDatabase, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def blocked_for(self, key: str, *, limit: int, window_seconds: float) -> float | None:
        now = self._clock.now()
        async with self._database.connection() as conn:
            row = await conn.fetch_one(
                b"SELECT window_started, attempts FROM auth_attempts WHERE key = %s", (key,)
            )
        if row is None:
            return None
        ends = row[0] + timedelta(seconds=window_seconds)
        if now >= ends or row[1] < limit:
            return None
        return float((ends - now).total_seconds())

    async def record(self, key: str, *, window_seconds: float) -> None:
        now = self._clock.now()
        window = timedelta(seconds=window_seconds)
        async with self._database.connection() as conn:
            await conn.fetch_all(
                b"""
                    INSERT INTO auth_attempts AS a (key, window_started, attempts)
                    VALUES (%(key)s, %(now)s, 1)
                    ON CONFLICT (key) DO UPDATE SET
                        window_started = CASE WHEN a.window_started + %(window)s <= %(now)s
                                              THEN %(now)s ELSE a.window_started END,
                        attempts = CASE WHEN a.window_started + %(window)s <= %(now)s
                                        THEN 1 ELSE a.attempts + 1 END
                    """,
                {"key": key, "now": now, "window": window},
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
        return int(rows[0][0])
