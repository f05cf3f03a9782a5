"""A client's credits: see them, spend them, buy more."""

from __future__ import annotations

from picpaygo_core.errors import InvalidPack, NotAuthenticated
from picpaygo_core.models import Caller, CreditsView
from picpaygo_core.policy import CREDIT_PACKS, Policy
from picpaygo_core.ports import Clock, PaymentGateway, UnitOfWorkFactory
from picpaygo_core.services.ledger import credits_view, ledger_entry, spend
from picpaygo_core.validation import check_amount


class CreditService:
    """Use cases for a client's own credits."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        payments: PaymentGateway,
        clock: Clock,
        policy: Policy,
    ) -> None:
        self._uow_factory = uow_factory
        self._payments = payments
        self._clock = clock
        self._policy = policy

    async def view(self, caller: Caller) -> CreditsView:
        """The caller's free credits, paid balance and their total."""
        async with self._uow_factory() as uow:
            return await credits_view(uow, caller, self._policy.free_credits)

    async def consume(self, caller: Caller, amount: int = 1) -> CreditsView:
        """Spend ``amount`` credits, free ones first; all or nothing (``InsufficientCredits``)."""
        check_amount(amount)
        async with self._uow_factory() as uow:
            await spend(
                uow,
                caller,
                amount=amount,
                free_credits=self._policy.free_credits,
                reason="consume",
                now=self._clock.now(),
            )
            view = await credits_view(uow, caller, self._policy.free_credits)
            await uow.commit()
        return view

    async def checkout(self, caller: Caller, pack: int) -> CreditsView:
        """Buy a pack of 5, 10 or 20 credits through the payment gateway.

        Only signed-in users can buy (``NotAuthenticated``). When the gateway completes
        the payment at once, the credits are added under the payment's reference, so the
        same payment can never be credited twice.
        """
        if caller.user is None:
            raise NotAuthenticated("Sign in to buy credits.")
        if pack not in CREDIT_PACKS:
            raise InvalidPack
        result = await self._payments.checkout(caller.user.id, pack)
        async with self._uow_factory() as uow:
            if result.completed:
                await uow.credits.record(
                    ledger_entry(
                        user_id=caller.user.id,
                        amount=pack,
                        reason="purchase",
                        actor=caller.actor,
                        now=self._clock.now(),
                        idempotency_key=f"purchase:{result.reference}",
                    )
                )
            view = await credits_view(uow, caller, self._policy.free_credits)
            await uow.commit()
        return view
