"""Maintainers' credit adjustments: grant, revoke, show and history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from entrypoints.container import Container
from picpaygo_core.errors import InsufficientCredits, InvalidInput, UserNotFound
from picpaygo_core.models import User
from picpaygo_core.services import AdminService
from support.fakes import FakeClock

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
ACTOR = "cli:maintainer"


@pytest.fixture
def admin(container: Container) -> AdminService:
    return container.admin_service()


@pytest.fixture
async def user(container: Container) -> User:
    return (await container.auth_service().register(email=EMAIL, password=PASSWORD)).user


async def test_granting_adds_credits_to_the_balance(admin: AdminService, user: User) -> None:
    account = await admin.grant(EMAIL, 7, reason="welcome gift", actor=ACTOR)

    assert account.user.id == user.id
    assert account.balance == 7
    assert (await admin.show(EMAIL)).balance == 7


async def test_a_grant_is_a_ledger_entry_with_its_reason_and_actor(
    admin: AdminService, user: User, clock: FakeClock
) -> None:
    await admin.grant(EMAIL, 7, reason="  welcome gift  ", actor=ACTOR)

    (entry,) = await admin.history(EMAIL)
    assert entry.user_id == user.id
    assert entry.amount == 7
    assert entry.reason == "admin_grant: welcome gift"
    assert entry.actor == ACTOR
    assert entry.created_at == clock.now()


async def test_revoking_takes_credits_from_the_balance(admin: AdminService, user: User) -> None:
    await admin.grant(EMAIL, 7, reason="welcome gift", actor=ACTOR)

    account = await admin.revoke(EMAIL, 3, reason="chargeback", actor=ACTOR)

    assert account.balance == 4
    newest = (await admin.history(EMAIL))[0]
    assert (newest.amount, newest.reason) == (-3, "admin_revoke: chargeback")


async def test_revoking_the_whole_balance_leaves_zero(admin: AdminService, user: User) -> None:
    await admin.grant(EMAIL, 5, reason="welcome gift", actor=ACTOR)

    account = await admin.revoke(EMAIL, 5, reason="chargeback", actor=ACTOR)

    assert account.balance == 0


async def test_revoking_below_zero_is_refused_and_changes_nothing(
    admin: AdminService, user: User
) -> None:
    await admin.grant(EMAIL, 2, reason="welcome gift", actor=ACTOR)

    with pytest.raises(InsufficientCredits):
        await admin.revoke(EMAIL, 3, reason="chargeback", actor=ACTOR)

    assert (await admin.show(EMAIL)).balance == 2
    assert len(await admin.history(EMAIL)) == 1


async def test_showing_an_account_gives_the_user_and_the_balance(
    admin: AdminService, user: User
) -> None:
    await admin.grant(EMAIL, 4, reason="welcome gift", actor=ACTOR)

    account = await admin.show(EMAIL)

    assert account.user == user
    assert account.balance == 4


async def test_a_new_account_has_a_zero_balance_and_no_history(
    admin: AdminService, user: User
) -> None:
    assert (await admin.show(EMAIL)).balance == 0
    assert await admin.history(EMAIL) == []


async def test_the_email_is_matched_ignoring_letter_case_and_spaces(
    admin: AdminService, user: User
) -> None:
    account = await admin.grant("  ADA@Example.COM ", 1, reason="welcome gift", actor=ACTOR)

    assert account.user.id == user.id


ACTIONS: dict[str, Callable[[AdminService, str], Awaitable[object]]] = {
    "show": lambda admin, email: admin.show(email),
    "grant": lambda admin, email: admin.grant(email, 1, reason="gift", actor=ACTOR),
    "revoke": lambda admin, email: admin.revoke(email, 1, reason="chargeback", actor=ACTOR),
    "history": lambda admin, email: admin.history(email),
}


@pytest.mark.parametrize("action", list(ACTIONS.values()), ids=list(ACTIONS))
async def test_an_unknown_email_raises_user_not_found(
    admin: AdminService, user: User, action: Callable[[AdminService, str], Awaitable[object]]
) -> None:
    with pytest.raises(UserNotFound):
        await action(admin, "nobody@example.com")


@pytest.mark.parametrize("reason", ["", "   "])
async def test_a_grant_without_a_reason_is_invalid_and_records_nothing(
    admin: AdminService, user: User, reason: str
) -> None:
    with pytest.raises(InvalidInput):
        await admin.grant(EMAIL, 5, reason=reason, actor=ACTOR)

    assert await admin.history(EMAIL) == []


async def test_a_revoke_without_a_reason_is_invalid_and_records_nothing(
    admin: AdminService, user: User
) -> None:
    await admin.grant(EMAIL, 5, reason="welcome gift", actor=ACTOR)

    with pytest.raises(InvalidInput):
        await admin.revoke(EMAIL, 1, reason="", actor=ACTOR)

    assert (await admin.show(EMAIL)).balance == 5
    assert len(await admin.history(EMAIL)) == 1


async def test_a_reason_over_500_characters_is_invalid(admin: AdminService, user: User) -> None:
    with pytest.raises(InvalidInput):
        await admin.grant(EMAIL, 5, reason="r" * 501, actor=ACTOR)

    assert await admin.history(EMAIL) == []


async def test_granting_zero_credits_is_invalid(admin: AdminService, user: User) -> None:
    with pytest.raises(InvalidInput):
        await admin.grant(EMAIL, 0, reason="nothing", actor=ACTOR)


async def test_granting_a_negative_amount_is_invalid(admin: AdminService, user: User) -> None:
    await admin.grant(EMAIL, 10, reason="welcome gift", actor=ACTOR)

    with pytest.raises(InvalidInput):
        await admin.grant(EMAIL, -5, reason="oops", actor=ACTOR)

    assert (await admin.show(EMAIL)).balance == 10


async def test_revoking_a_negative_amount_is_invalid(admin: AdminService, user: User) -> None:
    with pytest.raises(InvalidInput):
        await admin.revoke(EMAIL, -5, reason="oops", actor=ACTOR)

    assert (await admin.show(EMAIL)).balance == 0


async def test_history_lists_entries_newest_first_with_reasons_and_actors(
    admin: AdminService, user: User, clock: FakeClock
) -> None:
    await admin.grant(EMAIL, 10, reason="welcome gift", actor="cli:alice")
    clock.advance(minutes=1)
    await admin.revoke(EMAIL, 4, reason="chargeback", actor="cli:bob")
    clock.advance(minutes=1)
    await admin.grant(EMAIL, 1, reason="apology", actor="cli:carol")

    history = await admin.history(EMAIL)

    assert [(e.amount, e.reason, e.actor) for e in history] == [
        (1, "admin_grant: apology", "cli:carol"),
        (-4, "admin_revoke: chargeback", "cli:bob"),
        (10, "admin_grant: welcome gift", "cli:alice"),
    ]
    assert history[0].created_at > history[1].created_at > history[2].created_at


async def test_history_is_limited_to_the_newest_entries(admin: AdminService, user: User) -> None:
    for amount in range(1, 6):
        await admin.grant(EMAIL, amount, reason=f"gift {amount}", actor=ACTOR)

    history = await admin.history(EMAIL, limit=2)

    assert [e.amount for e in history] == [5, 4]


async def test_the_balance_equals_the_sum_of_the_history(admin: AdminService, user: User) -> None:
    await admin.grant(EMAIL, 10, reason="welcome gift", actor=ACTOR)
    await admin.revoke(EMAIL, 3, reason="chargeback", actor=ACTOR)
    await admin.grant(EMAIL, 2, reason="apology", actor=ACTOR)

    account = await admin.show(EMAIL)

    assert account.balance == sum(e.amount for e in await admin.history(EMAIL)) == 9
