"""Export and erasure on both storages, through the HTTP app: what the zip holds, what
deletion erases, what it keeps for the books; mailed links single-use under races; the
outbox sent once by two senders at the same time (a real SMTP server)."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from entrypoints.http import create_app
from picpaygo_core.models import CheckoutPaid, Purchase, PurchaseStatus
from picpaygo_core.ports import UnitOfWorkFactory
from picpaygo_core.services.account_links import new_mail
from picpaygo_core.services.account_mail import trial_mail
from picpaygo_core.services.outbox import MailSender
from support.images import png_bytes
from support.mail import mailed_token
from support.smtp import SmtpServer

Client = AsyncTestClient[Litestar]
EMAIL = "grace@example.com"
PASSWORD = "correct horse battery"
COOKIE = "picpaygo_session"


@pytest.fixture
async def opened(
    storage: str, make_container: Callable[..., Container], request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Container, Client]]:
    """The app on the storage under test (opened by its lifespan), mail kept in memory."""
    environ = {"MAIL_URL": "memory://"}
    if storage == "postgres":
        environ["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    container = make_container(**environ)
    async with AsyncTestClient(create_app(container)) as client:
        yield container, client


async def signed_up_with_a_picture(container: Container, client: Client) -> tuple[str, str]:
    """Register, buy 5 credits, make one picture; the user id and the job id."""
    registered = await client.post(
        "/api/auth/register", json={"email": EMAIL, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    assert (await client.post("/api/credits/checkout", json={"pack": 5})).status_code == 200
    created = await client.post(
        "/api/generate",
        files={"image": ("photo.png", png_bytes(), "image/png")},
        data={"category": "portraits"},
    )
    assert created.status_code == 202, created.text
    assert await container.job_processor().process_next() is not None
    return registered.json()["user"]["id"], created.json()["jobId"]


async def test_the_export_holds_the_account_and_every_kept_picture_byte_for_byte(
    opened: tuple[Container, Client],
) -> None:
    container, client = opened
    user_id, job_id = await signed_up_with_a_picture(container, client)
    picture = await client.get(f"/api/generate/{job_id}/image")
    assert picture.status_code == 200

    exported = await client.get("/api/account/export")

    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        account = json.loads(archive.read("account.json"))
        [job] = account["jobs"]
        assert archive.read(job["picture"]) == picture.content
    assert account["profile"]["id"] == user_id
    assert account["profile"]["email"] == EMAIL
    assert account["profile"]["emailVerified"] is False
    assert [e["amount"] for e in account["ledger"]] == [5]
    assert [(p["pack"], p["status"]) for p in account["purchases"]] == [(5, "paid")]
    assert job["jobId"] == job_id
    assert job["category"] == "portraits"
    assert job["status"] == "succeeded"
    assert job["picture"] == f"pictures/{job_id}.png"
    assert (await client.get("/api/account/export")).status_code == 429


async def test_deletion_erases_the_person_and_keeps_the_books_anonymised(
    opened: tuple[Container, Client],
) -> None:
    container, client = opened
    user_id, job_id = await signed_up_with_a_picture(container, client)
    uow_factory: UnitOfWorkFactory = container.uow_factory()
    pending = Purchase(
        id=uuid.uuid4(),
        user_id=uuid.UUID(user_id),
        pack=10,
        amount=900,
        currency="usd",
        status=PurchaseStatus.PENDING,
        created_at=container.clock().now(),
        updated_at=container.clock().now(),
        checkout_session_id="cs_test_erased",
    )
    async with uow_factory() as uow:
        await uow.purchases.add(pending)
        await uow.commit()
    old_cookie = client.cookies[COOKIE]

    deleted = await client.request("DELETE", "/api/account", json={"password": PASSWORD})

    assert deleted.status_code == 204, deleted.text
    client.cookies.set(COOKIE, old_cookie)
    assert (await client.get("/api/auth/me")).status_code == 401
    assert (await client.get(f"/api/generate/{job_id}")).status_code == 404
    assert (await client.get(f"/api/generate/{job_id}/image")).status_code == 404
    client.cookies.clear()
    again = await client.post("/api/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert again.status_code == 201, again.text
    assert again.json()["user"]["id"] != user_id
    assert (await client.get("/api/credits")).json()["balance"] == 0

    async with uow_factory() as uow:
        assert await uow.users.find_by_id(uuid.UUID(user_id)) is None
        entries = await uow.credits.history(uuid.UUID(user_id), 100)
        kept = await uow.purchases.list_recent(uuid.UUID(user_id), 100)
    assert sorted(e.amount for e in entries) == [-5, 5]  # bought, then forfeited
    assert sum(e.amount for e in entries) == 0
    assert {p.id for p in kept} >= {pending.id}

    # A payment event for the erased account's purchase is acknowledged and changes nothing.
    await container.payment_event_service().apply(
        CheckoutPaid(
            event_id="evt_after_erasure",
            session_id="cs_test_erased",
            purchase_reference=str(pending.id),
            payment_intent_id="pi_after_erasure",
            amount_total=900,
            currency="usd",
        )
    )
    async with uow_factory() as uow:
        after = await uow.purchases.find(pending.id)
        assert len(await uow.credits.history(uuid.UUID(user_id), 100)) == 2
    assert after is not None
    assert after.status is PurchaseStatus.PENDING


async def test_a_mailed_link_is_used_once_however_many_race_for_it(
    opened: tuple[Container, Client],
) -> None:
    container, client = opened
    await client.post("/api/auth/register", json={"email": EMAIL, "password": PASSWORD})
    token = await mailed_token(container, "verify")
    answers = await asyncio.gather(
        *(client.post("/api/auth/email/verify", json={"token": token}) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400, 400]


async def test_two_senders_never_send_a_mail_twice(
    storage: str, make_storage_container: Callable[..., Awaitable[Container]]
) -> None:
    smtp = SmtpServer()
    smtp.start()
    try:
        async with AsyncExitStack():
            first = await make_storage_container(MAIL_URL=smtp.url)
            uow_factory: UnitOfWorkFactory = first.uow_factory()
            now = first.clock().now()
            recipients = [f"reader-{n}@example.com" for n in range(12)]
            async with uow_factory() as uow:
                for recipient in recipients:
                    await uow.outbox.add(new_mail(recipient, trial_mail(), user_id=None, now=now))
                await uow.commit()
            if storage == "memory":
                senders = [first.mail_sender(), first.mail_sender()]
            else:
                second = await make_storage_container(MAIL_URL=smtp.url)
                senders = [first.mail_sender(), second.mail_sender()]
            assert all(isinstance(s, MailSender) for s in senders)
            handled = await asyncio.gather(*(s.send_due() for s in senders))
        assert sum(handled) == len(recipients)
        received = sorted(m["To"] for m in smtp.inbox.messages)
        assert received == sorted(recipients)
        assert len({m["Message-ID"] for m in smtp.inbox.messages}) == len(recipients)
    finally:
        smtp.stop()
