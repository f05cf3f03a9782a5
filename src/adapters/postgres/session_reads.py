"""The reads every request starts with, answered for many requests at once.

Concurrent ``session_with_user`` calls of one loop turn become one statement, and so do
concurrent ``credits_for_session`` calls (see ``coalescing``); each statement runs on
its own pooled connection, under its own deadline, outside any transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.postgres.coalescing import Coalescer
from adapters.postgres.database import PostgresDatabase, Row
from adapters.postgres.repositories import session_from_row, user_from_row
from adapters.postgres.sql import CREDITS_FOR_SESSIONS_SQL, SESSIONS_WITH_USERS_SQL
from picpaygo_core.models import CallerCredits, Session, User

# What a request asks about its credits: session token hash, network, free credits of a
# network never seen.
CreditsQuestion = tuple[str | None, str, int]


class PostgresSessionReads:
    """``SessionReads`` over the pool, coalescing concurrent calls."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self._sessions: Coalescer[str, tuple[Session, User] | None] = Coalescer(
            self._sessions_with_users
        )
        self._credits: Coalescer[CreditsQuestion, CallerCredits] = Coalescer(
            self._credits_for_sessions
        )

    async def session_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        """The session of ``token_hash`` (expired or not) and its user, or None."""
        return await self._sessions.get(token_hash)

    async def credits_for_session(
        self, token_hash: str | None, network: str, initial_free: int
    ) -> CallerCredits:
        """The session of ``token_hash`` (if any), its user's balance and the network's
        free credits (``initial_free`` for a network never seen), read together."""
        return await self._credits.get((token_hash, network, initial_free))

    async def _sessions_with_users(
        self, token_hashes: Sequence[str]
    ) -> list[tuple[Session, User] | None]:
        rows = await self._fetch(SESSIONS_WITH_USERS_SQL, {"token_hashes": list(token_hashes)})
        found: list[tuple[Session, User] | None] = [None] * len(token_hashes)
        for row in rows:
            found[row[0] - 1] = session_from_row(row[1:]), user_from_row(row[5:])
        return found

    async def _credits_for_sessions(
        self, questions: Sequence[CreditsQuestion]
    ) -> list[CallerCredits]:
        params = {"token_hashes": [q[0] for q in questions], "networks": [q[1] for q in questions]}
        rows = sorted(await self._fetch(CREDITS_FOR_SESSIONS_SQL, params), key=_place)
        return [
            CallerCredits(
                session=session_from_row(row[1:]) if row[1] is not None else None,
                balance=row[5] or 0,
                free_credits=question[2] if row[6] is None else row[6],
            )
            for question, row in zip(questions, rows, strict=True)
        ]

    async def _fetch(self, query: bytes, params: dict[str, object]) -> list[Row]:
        async with self._database.connection() as conn:
            return await conn.fetch_all(query, params)


def _place(row: Row) -> int:
    return int(row[0])
