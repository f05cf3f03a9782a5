"""The account repositories behave alike on both storages: link tokens, the mail outbox,
account records, and erasure of a user's jobs, keys and account."""

from __future__ import annotations

import uuid
from datetime import timedelta

from picpaygo_core.models import (
    AccountEvent,
    AccountToken,
    IdempotencyRecord,
    KeyClaim,
    MailStatus,
    TokenPurpose,
    User,
)
from picpaygo_core.ports import UnitOfWorkFactory
from picpaygo_core.services.account_links import new_mail
from picpaygo_core.services.account_mail import trial_mail
from support.fakes import START

LATER = START + timedelta(hours=1)


def a_user() -> User:
    return User(
        id=uuid.uuid4(),
        email=f"u-{uuid.uuid4().hex[:8]}@example.com",
        password_hash="x",
        name="Ada",
        surname=None,
        is_google_account=False,
        google_id=None,
        created_at=START,
    )


def a_token(user: User, purpose: TokenPurpose = TokenPurpose.RESET) -> AccountToken:
    return AccountToken(
        token_hash=uuid.uuid4().hex,
        purpose=purpose,
        user_id=user.id,
        email=user.email,
        created_at=START,
        expires_at=LATER,
    )


async def test_tokens_are_used_once_and_voided_but_the_kept_one(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    tokens = [a_token(user), a_token(user), a_token(user, TokenPurpose.VERIFY)]
    async with uow_factory() as uow:
        await uow.users.add(user)
        for token in tokens:
            await uow.account_tokens.add(token)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.account_tokens.usable_count(user.id, TokenPurpose.RESET, START) == 2
        assert await uow.account_tokens.use(tokens[0].token_hash, START)
        assert not await uow.account_tokens.use(tokens[0].token_hash, START)
        assert await uow.account_tokens.void(user.id, TokenPurpose.RESET, START) == 1
        assert await uow.account_tokens.usable_count(user.id, TokenPurpose.RESET, START) == 0
        assert await uow.account_tokens.usable_count(user.id, TokenPurpose.VERIFY, START) == 1
        assert await uow.account_tokens.usable_count(user.id, TokenPurpose.VERIFY, LATER) == 0
        found = await uow.account_tokens.find(tokens[2].token_hash)
        await uow.commit()
    assert found == tokens[2]


async def test_the_outbox_claims_lists_finishes_and_purges(
    uow_factory: UnitOfWorkFactory,
) -> None:
    mails = [new_mail(f"r{n}@example.com", trial_mail(), user_id=None, now=START) for n in range(3)]
    async with uow_factory() as uow:
        for mail in mails:
            await uow.outbox.add(mail)
        await uow.commit()
    async with uow_factory() as uow:
        first = await uow.outbox.claim(START, LATER)
        second = await uow.outbox.claim(START, LATER)
        await uow.commit()
    assert first is not None
    assert second is not None
    assert [first.id, second.id] == [mails[0].id, mails[1].id]
    assert first.attempts == 1
    assert first.next_attempt_at == LATER
    async with uow_factory() as uow:
        await uow.outbox.sent(first.id, START)
        await uow.outbox.failed(second.id, "550 no")
        await uow.outbox.retry_at(mails[2].id, LATER, "451 later")
        await uow.commit()
    async with uow_factory() as uow:
        listed = await uow.outbox.listed(frozenset({MailStatus.QUEUED, MailStatus.FAILED}), 10)
        everything = await uow.outbox.listed(frozenset(MailStatus), 10)
        assert await uow.outbox.claim(START, LATER) is None  # the last one is not due yet
        purged = await uow.outbox.purge_sent_before(LATER + timedelta(hours=2))
        await uow.commit()
    assert [(m.status, m.last_error) for m in listed] == [
        (MailStatus.FAILED, "550 no"),
        (MailStatus.QUEUED, "451 later"),
    ]
    sent = next(m for m in everything if m.id == first.id)
    assert (sent.recipient, sent.text, sent.html) == ("", "", "")
    assert purged == 2


async def test_erasing_a_user_takes_their_records_keys_mails_and_tokens(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user, other = a_user(), a_user()
    claim = KeyClaim(
        key="k", fingerprint="f", now=START, expires_at=LATER, stale_before=START - timedelta(1)
    )
    async with uow_factory() as uow:
        for someone in (user, other):
            await uow.users.add(someone)
            await uow.account_tokens.add(a_token(someone))
            await uow.outbox.add(
                new_mail(someone.email, trial_mail(), user_id=someone.id, now=START)
            )
            await uow.account_events.add(
                AccountEvent(user_id=someone.id, kind="k", client_network="n", created_at=START)
            )
            assert await uow.idempotency.claim(f"user:{someone.id}", claim) is None
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.idempotency.delete_scope(f"user:{user.id}") == 1
        assert await uow.outbox.delete_for_user(user.id) == 1
        assert await uow.account_events.delete_for_user(user.id) == 1
        assert await uow.jobs.erase_for_owner(user.id) == (0, [])
        await uow.users.delete(user.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.find_by_id(user.id) is None
        assert await uow.users.find_by_email(user.email) is None
        assert await uow.account_tokens.usable_count(user.id, TokenPurpose.RESET, START) == 0
        assert await uow.account_tokens.usable_count(other.id, TokenPurpose.RESET, START) == 1
        assert len(await uow.outbox.listed(frozenset(MailStatus), 10)) == 1
        kept = await uow.idempotency.claim(f"user:{other.id}", claim)
    assert isinstance(kept, IdempotencyRecord)
