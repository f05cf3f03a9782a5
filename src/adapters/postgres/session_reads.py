"""The reads every request starts with, answered for many requests at once.

The lookups asked for in one turn of the event loop go out together as one statement
(``SESSIONS_WITH_USERS_SQL``, ``CALLERS_SQL``) on one pooled connection, instead of one
connection, one deadline and one round trip each. The gathering is aiodataloader's
(the DataLoader pattern): a lone request waits one loop turn more, nothing else, and no
request waits for another's batch, since each turn's batch leaves at once. These reads
take no locks. A batch that fails, is cancelled or answers the wrong number of rows
fails every request of its batch (a cancelled one at the latest a second past its
deadline), and the next turn's batch starts afresh.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from aiodataloader import DataLoader

from adapters.postgres.database import UNAVAILABLE, PostgresDatabase, Row
from adapters.postgres.users import (
    SESSION_AS_PREFIXED,
    USER_COLUMNS,
    caller_lookup,
    session_with_user,
)
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.models import CallerLookup, Session, User

# What a request asks about its caller: session token hash, network, free credits of a
# network never seen.
CallerQuestion = tuple[str | None, str, int]
# Keys per statement: past this, one turn's lookups are split over several statements.
MAX_BATCH = 64
WAIT_BEYOND_DEADLINE_SECONDS = 1.0
T = TypeVar("T")
_USER = ", ".join(f"u.{column}" for column in USER_COLUMNS.split(", "))

# One row per asked token that matches a session, with its user, tagged with its place
# in the array.
SESSIONS_WITH_USERS_SQL = f"""
SELECT k.i, {SESSION_AS_PREFIXED}, {_USER}
FROM unnest(%(token_hashes)s::text[]) WITH ORDINALITY AS k(token_hash, i)
JOIN sessions s ON s.token_hash = k.token_hash
JOIN users u ON u.id = s.user_id
""".encode()

# Per asked (token, network): the session (if any) with its user, the user's balance and
# the network's free credits (the columns of ``CALLER_SQL``); exactly one row per
# question, in the questions' order.
CALLERS_SQL = f"""
SELECT k.i, {SESSION_AS_PREFIXED}, {_USER}, c.balance, f.remaining AS free_credits
FROM unnest(%(token_hashes)s::text[], %(networks)s::text[]) WITH ORDINALITY
     AS k(token_hash, network, i)
LEFT JOIN sessions s ON s.token_hash = k.token_hash
LEFT JOIN users u ON u.id = s.user_id
LEFT JOIN credits c ON c.user_id = u.id
LEFT JOIN free_credits f ON f.network = k.network
ORDER BY k.i
""".encode()


class PostgresSessionReads:
    """``SessionReads`` over the pool, answering one loop turn's lookups together."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: DataLoader[str, tuple[Session, User] | None]
        self._callers: DataLoader[CallerQuestion, CallerLookup]

    async def session_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        """The session of ``token_hash`` (expired or not) and its user, or None."""
        self._bind_to_running_loop()
        return await self._answer(self._sessions.load(token_hash))

    async def caller(
        self, token_hash: str | None, client_network: str, initial_free: int
    ) -> CallerLookup:
        """The session (if any) with its user, their balance and the network's free credits."""
        self._bind_to_running_loop()
        return await self._answer(self._callers.load((token_hash, client_network, initial_free)))

    async def _answer(self, answer: asyncio.Future[T]) -> T:
        """The batch's answer for one request, waited for no longer than the batch's own
        deadline and a second: a batch whose task was cancelled before it could answer
        (at shutdown, say) leaves no request waiting for ever."""
        try:
            async with asyncio.timeout(self._database.timeout + WAIT_BEYOND_DEADLINE_SECONDS):
                return await answer
        except TimeoutError:
            raise StorageUnavailable(UNAVAILABLE) from None

    def _bind_to_running_loop(self) -> None:
        """A DataLoader belongs to one event loop: make them for the running one."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            # cache=False: every request reads afresh (a session may end at any moment).
            self._sessions = DataLoader(
                self._sessions_with_users, cache=False, max_batch_size=MAX_BATCH, loop=loop
            )
            self._callers = DataLoader(
                self._caller_lookups, cache=False, max_batch_size=MAX_BATCH, loop=loop
            )

    async def _sessions_with_users(
        self, token_hashes: list[str]
    ) -> list[tuple[Session, User] | None]:
        rows = await self._fetch(SESSIONS_WITH_USERS_SQL, {"token_hashes": token_hashes})
        found: list[tuple[Session, User] | None] = [None] * len(token_hashes)
        for row in rows:
            found[row["i"] - 1] = session_with_user(row)
        return found

    async def _caller_lookups(self, questions: list[CallerQuestion]) -> list[CallerLookup]:
        params = {"token_hashes": [q[0] for q in questions], "networks": [q[1] for q in questions]}
        rows = await self._fetch(CALLERS_SQL, params)
        return [
            caller_lookup(row, initial_free)
            for (_, _, initial_free), row in zip(questions, rows, strict=True)
        ]

    async def _fetch(self, query: bytes, params: dict[str, object]) -> list[Row]:
        try:
            async with self._database.connection() as conn:
                return await conn.fetch_all(query, params)
        except asyncio.CancelledError:
            # aiodataloader hands an Exception to every request of the batch, but not a
            # cancellation: turn it into one, so that no request waits for ever.
            raise StorageUnavailable(UNAVAILABLE) from None
