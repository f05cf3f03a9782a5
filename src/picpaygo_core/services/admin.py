"""Maintainers' credit adjustments, as used by the ``picpaygo credits`` commands."""

from __future__ import annotations

import msgspec

from picpaygo_core.errors import InsufficientCredits, UserNotFound
from picpaygo_core.models import LedgerEntry, User
from picpaygo_core.ports import Clock, UnitOfWork, UnitOfWorkFactory
from picpaygo_core.ports.telemetry import NO_TELEMETRY, Telemetry
from picpaygo_core.services.ledger import ledger_entry
from picpaygo_core.validation import check_amount, check_ledger_text, has_invisible_characters

MAX_REASON_LENGTH = 500
MAX_ACTOR_LENGTH = 200


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """A user and their paid balance."""

    user: User
    balance: int


class AdminService:
    """Use cases for maintainers: look at and adjust a user's paid balance."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._uow_factory = uow_factory
        self._clock = clock

    async def show(self, email: str) -> Account:
        """The user with ``email`` and their balance; ``UserNotFound`` if none."""
        async with self._uow_factory() as uow:
            user = await user_by_email(uow, email)
            return Account(user=user, balance=await uow.credits.balance(user.id))

    async def grant(self, email: str, amount: int, *, reason: str, actor: str) -> Account:
        """Add ``amount`` credits to a user's balance, recorded in the ledger with ``reason``
        and ``actor`` (each one line of visible text, or ``InvalidInput``)."""
        check_amount(amount)
        return await self._adjust(email, amount, reason=reason, actor=actor, kind="admin_grant")

    async def revoke(self, email: str, amount: int, *, reason: str, actor: str) -> Account:
        """Take ``amount`` credits away; refused with ``InsufficientCredits`` below zero."""
        check_amount(amount)
        return await self._adjust(email, -amount, reason=reason, actor=actor, kind="admin_revoke")

    async def history(self, email: str, limit: int = 50) -> list[LedgerEntry]:
        """The user's newest ledger entries, newest first."""
        async with self._uow_factory() as uow:
            user = await user_by_email(uow, email)
            return await uow.credits.history(user.id, limit)

    async def _adjust(
        self, email: str, amount: int, *, reason: str, actor: str, kind: str
    ) -> Account:
        reason = check_ledger_text(reason, "reason", MAX_REASON_LENGTH)
        actor = check_ledger_text(actor, "actor", MAX_ACTOR_LENGTH)
        async with self._uow_factory() as uow:
            user = await user_by_email(uow, email)
            entry = ledger_entry(
                user_id=user.id,
                amount=amount,
                reason=f"{kind}: {reason}",
                actor=actor,
                now=self._clock.now(),
            )
            try:
                balance = await uow.credits.record(entry)
            except InsufficientCredits:
                current = await uow.credits.balance(user.id)
                raise InsufficientCredits(
                    f"{user.email} has {current} credits; taking {-amount} would go below "
                    "zero, so nothing was changed."
                ) from None
            await uow.commit()
        if amount > 0:
            self._telemetry.credits_moved("granted", amount)
        return Account(user=user, balance=balance)


async def user_by_email(uow: UnitOfWork, email: str) -> User:
    """The user a maintainer names by ``email``; ``UserNotFound`` if there is none."""
    if has_invisible_characters(email):
        raise UserNotFound("No user has an email with control or format characters.")
    user = await uow.users.find_by_email(email)
    if user is None:
        raise UserNotFound(f"No user with the email {email.strip()!r}.")
    return user
