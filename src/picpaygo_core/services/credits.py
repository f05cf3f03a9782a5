"""A client's credits: see them, spend them, buy more."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from uuid import UUID

import msgspec

from picpaygo_core.errors import (
    InvalidPack,
    NotAuthenticated,
    PaymentProviderRefused,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
    TooManyPendingCheckouts,
)
from picpaygo_core.models import Caller, CheckoutOutcome, CreditsView, Purchase, PurchaseStatus
from picpaygo_core.policy import CREDIT_PACKS, Policy
from picpaygo_core.ports import Clock, PaymentGateway, UnitOfWork, UnitOfWorkFactory
from picpaygo_core.ports.telemetry import NO_TELEMETRY, Telemetry
from picpaygo_core.services.idempotency import Recorder
from picpaygo_core.services.ledger import (
    credits_view,
    purchase_credit,
    spending_of,
    view_after,
)
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
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._uow_factory = uow_factory
        self._payments = payments
        self._clock = clock
        self._policy = policy

    async def view(self, caller: Caller) -> CreditsView:
        """The caller's free credits, paid balance and their total."""
        async with self._uow_factory() as uow:
            return await credits_view(uow, caller, self._policy.free_credits)

    async def consume(
        self, caller: Caller, amount: int = 1, *, recorder: Recorder[CreditsView] | None = None
    ) -> CreditsView:
        """Spend ``amount`` credits, free ones first; all or nothing (``InsufficientCredits``).

        ``recorder`` keeps the answer of an idempotent request in the same transaction.
        """
        check_amount(amount)
        spending = spending_of(
            caller,
            amount=amount,
            free_credits=self._policy.free_credits,
            reason="consume",
            now=self._clock.now(),
        )
        async with self._uow_factory() as uow:
            charge = await uow.credits.spend(spending)
            view = view_after(charge, authenticated=caller.user is not None)
            if recorder is not None:
                await recorder(uow, view)
            await uow.commit()
        self._telemetry.credits_moved("spent", amount)
        return view

    async def checkout(
        self, caller: Caller, pack: int, *, recorder: Recorder[CheckoutOutcome] | None = None
    ) -> CheckoutOutcome:
        """Buy a pack of 5, 10 or 20 credits through the payment gateway.

        Only signed-in users can buy (``NotAuthenticated``). Every checkout stores a
        purchase. A gateway that settles at once (development) pays and credits it in the
        same transaction. Otherwise the purchase is stored as pending first, then the
        provider's payment page is opened (closing ``Policy.checkout_expiry`` after the
        start) and its session stored before the page is handed out; no credit moves
        until the provider says the money arrived (see ``PaymentEventService``). A
        provider failure marks the purchase failed and is raised again
        (``PaymentProviderRefused`` or ``PaymentProviderUnavailable``). A buyer with
        ``Policy.max_pending_checkouts`` pending purchases whose pages are still open
        gets ``TooManyPendingCheckouts``, before anything is stored or asked of the
        provider.
        """
        if caller.user is None:
            raise NotAuthenticated("Sign in to buy credits.")
        if pack not in CREDIT_PACKS:
            raise InvalidPack
        if not self._payments.enabled:
            raise PaymentsNotConfigured
        user = caller.user
        now = self._clock.now()
        purchase = Purchase(
            id=uuid.uuid4(),
            user_id=user.id,
            pack=pack,
            amount=self._policy.pack_prices[pack],
            currency=self._policy.currency,
            status=PurchaseStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        if self._payments.settles_at_once:
            return await self._settle_at_once(caller, purchase, recorder)
        async with self._uow_factory() as uow:
            await self._check_room_for_a_checkout(uow, user.id, now)
            await uow.purchases.add(purchase)
            customer_id = await uow.users.payment_customer(user.id)
            await uow.commit()
        expires_at = now + self._policy.checkout_expiry
        try:
            session = await self._payments.start_checkout(purchase, user, customer_id, expires_at)
        except (PaymentProviderRefused, PaymentProviderUnavailable):
            await self._mark_failed(purchase)
            raise
        async with self._uow_factory() as uow:
            if session.customer_id and session.customer_id != customer_id:
                await uow.users.set_payment_customer(user.id, session.customer_id)
            # The provider's events act only on a purchase whose session is stored (see
            # PaymentEventService), so none has touched this one: the buyer has not seen
            # the page yet. It is stored here, in the transaction that hands out the page.
            current = await uow.purchases.find_for_update(purchase.id) or purchase
            current = msgspec.structs.replace(
                current, checkout_session_id=session.id, updated_at=self._clock.now()
            )
            await uow.purchases.update(current)
            view = await credits_view(uow, caller, self._policy.free_credits)
            outcome = CheckoutOutcome(purchase=current, credits=view, checkout_url=session.url)
            if recorder is not None:
                await recorder(uow, outcome)
            await uow.commit()
        return outcome

    async def _check_room_for_a_checkout(
        self, uow: UnitOfWork, user_id: UUID, now: datetime
    ) -> None:
        """``TooManyPendingCheckouts`` when the buyer's limit of open checkouts is reached.

        A pending purchase counts while its payment page may still be open: the provider's
        ``expired`` event usually ends it sooner, but one that never comes (a page that was
        never handed out, a webhook that is not set up) must not block the buyer for ever.
        """
        expiry = self._policy.checkout_expiry
        pending = await uow.purchases.pending_checkouts(user_id, since=now - expiry)
        if pending.count < self._policy.max_pending_checkouts:
            return
        oldest = pending.oldest_created_at or now
        retry_after = max((oldest + expiry - now).total_seconds(), 1.0)
        minutes = math.ceil(retry_after / 60)
        raise TooManyPendingCheckouts(
            retry_after,
            f"You have {pending.count} unfinished checkouts, the most one account may hold. "
            "Finish one of them, or try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}.",
        )

    async def _settle_at_once(
        self, caller: Caller, purchase: Purchase, recorder: Recorder[CheckoutOutcome] | None
    ) -> CheckoutOutcome:
        paid = msgspec.structs.replace(purchase, status=PurchaseStatus.PAID)
        async with self._uow_factory() as uow:
            await uow.purchases.add(paid)
            await uow.credits.record(
                purchase_credit(
                    paid, key=f"purchase:{paid.id}", actor=caller.actor, now=paid.created_at
                )
            )
            view = await credits_view(uow, caller, self._policy.free_credits)
            outcome = CheckoutOutcome(purchase=paid, credits=view, checkout_url=None)
            if recorder is not None:
                await recorder(uow, outcome)
            await uow.commit()
        self._telemetry.credits_moved("purchased", paid.pack)
        return outcome

    async def _mark_failed(self, purchase: Purchase) -> None:
        async with self._uow_factory() as uow:
            current = await uow.purchases.find_for_update(purchase.id)
            if current is not None and current.status is PurchaseStatus.PENDING:
                await uow.purchases.update(
                    msgspec.structs.replace(
                        current, status=PurchaseStatus.FAILED, updated_at=self._clock.now()
                    )
                )
            await uow.commit()
