"""Spends for whoever holds a session, made for many requests at once.

Concurrent consumes become one batch: ``SESSION_SPEND_SQL`` once per spend, all sent in
one round trip and committed together (one write-ahead log flush for the batch), while
the next batch gathers (see ``coalescing``, serial mode). One batch is in flight per
process, so a process's batches never wait for each other's row locks. A batch that
fails as a whole (a constraint, or a deadlock with another process's batch, which
PostgreSQL breaks by rolling one back) changed nothing, and its spends are made again
one by one, so that only the one at fault fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from adapters.postgres.coalescing import Coalescer
from adapters.postgres.database import BatchRolledBack, PostgresDatabase
from adapters.postgres.spends import charge_in_row, session_charge, session_spend_params
from adapters.postgres.sql import SESSION_SPEND_SQL
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from picpaygo_core.errors import DomainError
from picpaygo_core.models import SessionCharge, Spending

# A spend asked for: session token hash, the spending, loop time it was asked at.
SpendRequest = tuple[str | None, Spending, float]
Outcome = SessionCharge | Exception


class PostgresSessionSpends:
    """``SessionSpends`` over the pool, batching concurrent calls."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self._spends: Coalescer[SpendRequest, Outcome] = Coalescer(
            self._spend_together, serial=True
        )

    async def spend_for_session(self, token_hash: str | None, spending: Spending) -> SessionCharge:
        """As ``CreditRepository.spend_for_session``, committed when it returns."""
        asked_at = asyncio.get_running_loop().time()
        outcome = await self._spends.get((token_hash, spending, asked_at))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _spend_together(self, requests: Sequence[SpendRequest]) -> list[Outcome]:
        # The batch's deadline counts from its oldest request, which may have waited for
        # the batch before.
        started = min(request[2] for request in requests)
        params = [session_spend_params(token, spending) for token, spending, _ in requests]
        try:
            async with self._database.connection(started=started) as conn:
                results = await conn.fetch_batch(SESSION_SPEND_SQL, params)
        except BatchRolledBack:
            # None of the batch happened: each spend is made again on its own, so that
            # only the one at fault fails.
            return [await self._spend_alone(request) for request in requests]
        outcomes: list[Outcome] = []
        for request, rows in zip(requests, results, strict=True):
            try:
                charge = charge_in_row(rows[0], request[1].amount)
            except DomainError as refused:
                outcomes.append(refused)
                continue
            if charge is None:  # left to the step-by-step path
                outcomes.append(await self._spend_alone(request))
            else:
                outcomes.append(session_charge(rows[0], charge))
        return outcomes

    async def _spend_alone(self, request: SpendRequest) -> Outcome:
        token_hash, spending, _ = request
        try:
            async with PostgresUnitOfWork(self._database, single_change=True) as uow:
                spent = await uow.credits.spend_for_session(token_hash, spending)
                await uow.commit()
        except Exception as failed:  # handed to the request that asked for this spend
            return failed
        return spent
