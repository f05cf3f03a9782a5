"""The mail outbox on the in-memory adapters: claiming, retries with backoff, giving up,
and the links' tokens (single use, purpose-bound, voided by a newer reset link)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
import pytest

from adapters.memory import MemoryStore, MemoryUnitOfWorkFactory
from picpaygo_core.errors import InvalidAccountLink, MailDeliveryFailed
from picpaygo_core.models import MailStatus, OutgoingMail, TokenPurpose, User
from picpaygo_core.services.account_links import AccountLinks, new_mail
from picpaygo_core.services.account_mail import trial_mail
from picpaygo_core.services.outbox import GIVE_UP_AFTER, MailSender, retry_delay
from support.fakes import FakeClock


class ScriptedMailer:
    """Fails as scripted (transient or not), then delivers."""

    description = "scripted"

    def __init__(self, *failures: bool) -> None:
        self.failures = list(failures)
        self.sent: list[OutgoingMail] = []

    async def send(self, mail: OutgoingMail) -> None:
        if self.failures:
            raise MailDeliveryFailed("the server said no", transient=self.failures.pop(0))
        self.sent.append(mail)


def user(email: str = "ada@example.com") -> User:
    return User(
        id=uuid.uuid4(),
        email=email,
        password_hash=None,
        name=None,
        surname=None,
        is_google_account=False,
        google_id=None,
        created_at=FakeClock().now(),
    )


async def queued(factory: MemoryUnitOfWorkFactory, clock: FakeClock) -> OutgoingMail:
    mail = new_mail("ada@example.com", trial_mail(), user_id=None, now=clock.now())
    async with factory() as uow:
        await uow.outbox.add(mail)
        await uow.commit()
    return mail


async def status(factory: MemoryUnitOfWorkFactory) -> list[OutgoingMail]:
    async with factory() as uow:
        return await uow.outbox.listed(frozenset(MailStatus), 10)


def test_retries_back_off_doubling_up_to_an_hour() -> None:
    first = timedelta(seconds=30)
    assert [retry_delay(n, first).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay(50, first) == timedelta(hours=1)


async def test_a_transient_failure_is_retried_later_and_then_sent() -> None:
    clock = FakeClock()
    factory = MemoryUnitOfWorkFactory(MemoryStore())
    mailer = ScriptedMailer(True)
    sender = MailSender(uow_factory=factory, mailer=mailer, clock=clock)
    await queued(factory, clock)

    assert await sender.send_next()
    [waiting] = await status(factory)
    assert waiting.status is MailStatus.QUEUED
    assert waiting.attempts == 1
    assert waiting.last_error == "the server said no"
    assert not await sender.send_next()  # not due yet
    clock.advance(seconds=31)
    assert await sender.send_next()
    [sent] = await status(factory)
    assert sent.status is MailStatus.SENT
    assert sent.text == ""  # no link outlives its delivery
    assert sent.recipient == ""
    assert sent.html == ""
    assert [m.subject for m in mailer.sent] == [trial_mail().subject]


async def test_a_final_answer_fails_the_mail_after_one_try() -> None:
    clock = FakeClock()
    factory = MemoryUnitOfWorkFactory(MemoryStore())
    sender = MailSender(uow_factory=factory, mailer=ScriptedMailer(False), clock=clock)
    await queued(factory, clock)
    assert await sender.send_next()
    [failed] = await status(factory)
    assert failed.status is MailStatus.FAILED
    assert failed.attempts == 1


async def test_transient_failures_give_up_after_a_day() -> None:
    clock = FakeClock()
    factory = MemoryUnitOfWorkFactory(MemoryStore())
    sender = MailSender(uow_factory=factory, mailer=ScriptedMailer(*[True] * 100), clock=clock)
    await queued(factory, clock)
    while clock.now() - FakeClock().now() <= GIVE_UP_AFTER + timedelta(hours=1):
        await sender.send_due()
        clock.advance(minutes=30)
    [given_up] = await status(factory)
    assert given_up.status is MailStatus.FAILED
    assert 20 <= given_up.attempts <= 40


async def test_a_claimed_mail_is_not_claimed_again_until_its_lease_ends() -> None:
    clock = FakeClock()
    factory = MemoryUnitOfWorkFactory(MemoryStore())
    await queued(factory, clock)
    async with factory() as uow:
        first = await uow.outbox.claim(clock.now(), clock.now() + timedelta(minutes=2))
        second = await uow.outbox.claim(clock.now(), clock.now() + timedelta(minutes=2))
        await uow.commit()
    assert first is not None
    assert second is None


async def test_tokens_are_single_use_purpose_bound_and_a_new_reset_voids_the_old() -> None:
    clock = FakeClock()
    factory = MemoryUnitOfWorkFactory(MemoryStore())
    links = AccountLinks(public_url="https://app.example/", reset_ttl=timedelta(minutes=30))
    ada = user()
    async with factory() as uow:
        await uow.users.add(ada)
        await links.send_reset(uow, ada, clock.now())
        await links.send_reset(uow, ada, clock.now())
        await links.send_verification(uow, ada, clock.now())
        assert await uow.account_tokens.usable_count(ada.id, TokenPurpose.RESET, clock.now()) == 1
        await uow.commit()
    mails = await status(factory)
    assert all("https://app.example/?" in m.text for m in mails)
    older, newer = (m.text.split("?reset=")[1].split()[0] for m in mails[:2])
    verify = mails[2].text.split("?verify=")[1].split()[0]
    async with factory() as uow:
        for token, purpose in ((older, TokenPurpose.RESET), (verify, TokenPurpose.RESET)):
            with pytest.raises(InvalidAccountLink):
                await links.redeem(uow, token, purpose, clock.now())
        assert await links.redeem(uow, newer, TokenPurpose.RESET, clock.now()) == ada
        with pytest.raises(InvalidAccountLink):
            await links.redeem(uow, newer, TokenPurpose.RESET, clock.now())


async def test_a_link_sent_to_a_former_email_no_longer_works() -> None:
    clock = FakeClock()
    factory = MemoryUnitOfWorkFactory(MemoryStore())
    links = AccountLinks(public_url="https://app.example", reset_ttl=timedelta(minutes=30))
    ada = user()
    async with factory() as uow:
        await uow.users.add(ada)
        await links.send_verification(uow, ada, clock.now())
        await uow.users.update(msgspec.structs.replace(ada, email="ada@elsewhere.example"))
        await uow.commit()
    [mail] = await status(factory)
    token = mail.text.split("?verify=")[1].split()[0]
    async with factory() as uow:
        with pytest.raises(InvalidAccountLink):
            await links.redeem(uow, token, TokenPurpose.VERIFY, clock.now())
