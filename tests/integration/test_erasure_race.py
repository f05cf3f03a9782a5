"""Erasing an account while another transaction is changing its balance: the credit (or
spend) lands first or waits for the erasure, and the forfeit is the whole balance, so the
ledger the books keep still sums to zero and nothing vanishes unrecorded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from entrypoints.http import create_app

EMAIL = "ada@example.com"
WAIT_FOR_LOCK_SECONDS = 5.0


@pytest.fixture
async def container(
    make_container: Callable[..., Container], postgres_url: str
) -> AsyncIterator[Container]:
    """A container on PostgreSQL, opened by the app's lifespan."""
    opened = make_container(DATABASE_URL=postgres_url)
    async with AsyncTestClient[Litestar](create_app(opened)):
        yield opened


async def waiting_on_a_lock(admin: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    """Returns once a session of the service waits on a row lock."""
    async with asyncio.timeout(WAIT_FOR_LOCK_SECONDS):
        while True:
            found = await admin.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'picpaygo' AND wait_event_type = 'Lock'"
            )
            row = await found.fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.01)


async def test_a_credit_landing_during_the_erasure_is_forfeited_with_the_rest(
    container: Container, postgres_url: str
) -> None:
    registered = await container.auth_service().register(email=EMAIL, password="x" * 12)
    user_id = registered.user.id
    await container.admin_service().grant(EMAIL, 100, reason="stock", actor="test")

    async with (
        await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin,
        await psycopg.AsyncConnection.connect(postgres_url) as payer,
    ):
        # Another transaction (a payment, say) holds the balance while it adds 5 credits.
        await payer.execute("SELECT balance FROM credits WHERE user_id = %s FOR UPDATE", (user_id,))
        erasing = asyncio.ensure_future(
            container.account_service().erase(EMAIL, reason="asked", actor="test")
        )
        await waiting_on_a_lock(admin)
        await payer.execute(
            "UPDATE credits SET balance = balance + 5 WHERE user_id = %s", (user_id,)
        )
        await payer.execute(
            "INSERT INTO credit_ledger (id, user_id, amount, reason, actor, created_at) "
            "VALUES (%s, %s, 5, 'grant', 'test', now())",
            (uuid.uuid4(), user_id),
        )
        await payer.commit()
        await erasing

        found = await admin.execute(
            "SELECT amount FROM credit_ledger WHERE user_id = %s ORDER BY seq", (user_id,)
        )
        amounts = [row[0] for row in await found.fetchall()]

    assert amounts == [100, 5, -105]
