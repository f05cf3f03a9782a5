"""Purchases of credit packs: a buyer's own, and everyone's for maintainers."""

from __future__ import annotations

from uuid import UUID

from picpaygo_core.errors import InvalidInput, NotAuthenticated, PurchaseNotFound, UserNotFound
from picpaygo_core.models import Caller, Purchase
from picpaygo_core.ports import UnitOfWorkFactory

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class PurchaseService:
    """Reading purchases; they change only through checkout and the provider's events."""

    def __init__(self, *, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def mine(self, caller: Caller, limit: int = DEFAULT_LIMIT) -> list[Purchase]:
        """The caller's purchases, newest first; signed-in users only (``NotAuthenticated``)."""
        if caller.user is None:
            raise NotAuthenticated("Sign in to see your purchases.")
        _check_limit(limit)
        async with self._uow_factory() as uow:
            return await uow.purchases.list_recent(caller.user.id, limit)

    async def one_of_mine(self, caller: Caller, purchase_id: UUID) -> Purchase:
        """One of the caller's purchases; ``PurchaseNotFound`` for anyone else's."""
        if caller.user is None:
            raise NotAuthenticated("Sign in to see your purchases.")
        async with self._uow_factory() as uow:
            purchase = await uow.purchases.find(purchase_id)
        if purchase is None or purchase.user_id != caller.user.id:
            raise PurchaseNotFound
        return purchase

    async def recent(self, email: str | None, limit: int = MAX_LIMIT) -> list[Purchase]:
        """For maintainers: the newest purchases of the user with ``email`` (of all if None)."""
        async with self._uow_factory() as uow:
            user_id = None
            if email is not None:
                user = await uow.users.find_by_email(email.strip())
                if user is None:
                    raise UserNotFound(f"No user with the email {email.strip()!r}.")
                user_id = user.id
            return await uow.purchases.list_recent(user_id, limit)

    async def show(self, purchase_id: UUID) -> Purchase:
        """For maintainers: any purchase by id."""
        async with self._uow_factory() as uow:
            purchase = await uow.purchases.find(purchase_id)
        if purchase is None:
            raise PurchaseNotFound(f"No purchase with the id {purchase_id}.")
        return purchase


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIMIT}.")
