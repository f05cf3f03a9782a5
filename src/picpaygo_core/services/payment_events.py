"""What the payment provider tells us, applied to purchases and credits exactly once.

Events come late, twice, or in any order, and two API processes may get the same one at
once. Each is applied in one transaction with the purchase locked, and the outcome does
not depend on their order: once the money arrived the purchase is paid (the pack
credited once, under the Checkout Session id), and once a paid purchase's payment is
refunded or disputed it is reversed (the pack taken back once, never below zero).
Without money, a failed payment outranks an expired page, which outranks pending.

An event about a Checkout Session acts only on the purchase that stored that session
when it was opened: another session naming the purchase (a Payment Link, another app on
the same Stripe account, a forged reference) changes nothing and is logged at WARNING.
The checkout stores its session before the buyer gets the payment page, so a genuine
event always finds it; a purchase without a stored session accepts no event at all.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from uuid import UUID

import msgspec

from picpaygo_core.errors import DuplicateLedgerEntry, InsufficientCredits
from picpaygo_core.models import (
    CheckoutExpired,
    CheckoutFailed,
    CheckoutPaid,
    CheckoutUnpaid,
    IgnoredPaymentEvent,
    PaymentEvent,
    PaymentReversal,
    PaymentReversed,
    Purchase,
    PurchaseStatus,
)
from picpaygo_core.ports import Clock, PaymentGateway, UnitOfWork, UnitOfWorkFactory
from picpaygo_core.ports.telemetry import NO_TELEMETRY, Telemetry
from picpaygo_core.services.ledger import ledger_entry, purchase_credit

logger = logging.getLogger(__name__)

PROVIDER_ACTOR = "payments"
# Without money, the later word on a checkout is the stronger of the two.
_RANK = {PurchaseStatus.PENDING: 0, PurchaseStatus.EXPIRED: 1, PurchaseStatus.FAILED: 2}


class PaymentEventService:
    """Receives the payment provider's notifications (the Stripe webhook)."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        payments: PaymentGateway,
        clock: Clock,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._uow_factory = uow_factory
        self._payments = payments
        self._clock = clock
        self._telemetry = telemetry

    async def receive(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """Verify and apply one notification; returns the event it carried.

        ``InvalidPaymentEvent`` (nothing changed) for a bad signature or body;
        ``StorageUnavailable`` when it could not be applied, so the provider sends it again.
        """
        event = self._payments.read_event(payload, signature)
        await self.apply(event)
        return event

    async def apply(self, event: PaymentEvent) -> None:
        """Apply a verified event (idempotent: applying it again changes nothing)."""
        if isinstance(event, CheckoutPaid):
            await self._paid(event)
        elif isinstance(event, CheckoutUnpaid):
            await self._settle_without_money(event, None)
        elif isinstance(event, CheckoutFailed):
            await self._settle_without_money(event, PurchaseStatus.FAILED)
        elif isinstance(event, CheckoutExpired):
            await self._settle_without_money(event, PurchaseStatus.EXPIRED)
        elif isinstance(event, PaymentReversed):
            await self._reversed(event)
        else:
            assert isinstance(event, IgnoredPaymentEvent)
            logger.debug("payment event %s (%s) ignored", event.event_id, event.event_type)

    async def _paid(self, event: CheckoutPaid) -> None:
        now = self._clock.now()
        async with self._uow_factory() as uow:
            if event.payment_intent_id:
                await uow.purchases.lock_payment(event.payment_intent_id)
            purchase = await _purchase(uow, event, event.purchase_reference)
            if purchase is None or not _is_its_session(purchase, event):
                return
            if purchase.status in (PurchaseStatus.PAID, PurchaseStatus.REVERSED):
                return
            if event.amount_total is None:
                logger.warning(
                    "payment event %s: session %s of purchase %s says no amount_total; "
                    "not credited",
                    event.event_id,
                    event.session_id,
                    purchase.id,
                )
                return
            if not _amount_matches(purchase, event):
                logger.error(
                    "payment event %s: session %s paid %s %s, but purchase %s costs %d %s; "
                    "not credited",
                    event.event_id,
                    event.session_id,
                    event.amount_total,
                    event.currency,
                    purchase.id,
                    purchase.amount,
                    purchase.currency,
                )
                return
            try:
                await uow.credits.record(
                    purchase_credit(
                        purchase,
                        key=f"checkout:{event.session_id}",
                        actor=PROVIDER_ACTOR,
                        now=now,
                    )
                )
            except DuplicateLedgerEntry:
                logger.warning(
                    "payment event %s: checkout session %s was credited already; "
                    "purchase %s left as it is",
                    event.event_id,
                    event.session_id,
                    purchase.id,
                )
                return
            purchase = msgspec.structs.replace(
                purchase,
                status=PurchaseStatus.PAID,
                payment_intent_id=event.payment_intent_id or purchase.payment_intent_id,
                updated_at=now,
            )
            await uow.purchases.update(purchase)
            logger.info("purchase %s paid: %d credits added", purchase.id, purchase.pack)
            taken_back = None
            if purchase.payment_intent_id:
                reversal = await uow.purchases.find_reversal(purchase.payment_intent_id)
                if reversal is not None:
                    taken_back = await _reverse(uow, purchase, reversal, now)
            await uow.commit()
        self._telemetry.credits_moved("purchased", purchase.pack)
        if taken_back:
            self._telemetry.credits_moved("reversed", taken_back)

    async def _settle_without_money(
        self,
        event: CheckoutUnpaid | CheckoutFailed | CheckoutExpired,
        status: PurchaseStatus | None,
    ) -> None:
        """A checkout ended without money (``status``), or is waiting for it (None)."""
        now = self._clock.now()
        async with self._uow_factory() as uow:
            purchase = await _purchase(uow, event, event.purchase_reference)
            if purchase is None or not _is_its_session(purchase, event):
                return
            if purchase.status not in _RANK:
                return  # paid or reversed: the money's word stands
            changed = purchase
            if status is not None and _RANK[status] > _RANK[purchase.status]:
                changed = msgspec.structs.replace(changed, status=status, updated_at=now)
            if isinstance(event, CheckoutUnpaid) and changed.payment_intent_id is None:
                changed = msgspec.structs.replace(
                    changed, payment_intent_id=event.payment_intent_id
                )
            if changed != purchase:
                await uow.purchases.update(changed)
                await uow.commit()
                logger.info("purchase %s is %s", changed.id, changed.status)

    async def _reversed(self, event: PaymentReversed) -> None:
        now = self._clock.now()
        reversal = PaymentReversal(
            payment_intent_id=event.payment_intent_id,
            kind=event.kind,
            reference=event.reference,
            created_at=now,
        )
        taken_back = None
        async with self._uow_factory() as uow:
            await uow.purchases.lock_payment(event.payment_intent_id)
            purchase = await uow.purchases.find_by_payment_for_update(event.payment_intent_id)
            if purchase is not None and await _of_erased_account(uow, purchase, event):
                return
            await uow.purchases.add_reversal(reversal)
            if purchase is None:
                logger.warning(
                    "payment event %s: %s of payment %s, which no paid purchase has yet; "
                    "kept, in case its payment is confirmed later",
                    event.event_id,
                    event.kind,
                    event.payment_intent_id,
                )
            elif purchase.status is PurchaseStatus.PAID:
                taken_back = await _reverse(uow, purchase, reversal, now)
            await uow.commit()
        if taken_back:
            self._telemetry.credits_moved("reversed", taken_back)


async def _purchase(uow: UnitOfWork, event: PaymentEvent, reference: str | None) -> Purchase | None:
    """The purchase an event names, locked; None (logged) for one we do not know."""
    purchase_id = _as_uuid(reference)
    purchase = await uow.purchases.find_for_update(purchase_id) if purchase_id else None
    if purchase is None:
        logger.warning(
            "payment event %s names purchase %r, which does not exist; acknowledged and ignored",
            event.event_id,
            reference,
        )
    elif await _of_erased_account(uow, purchase, event):
        return None
    return purchase


def _is_its_session(
    purchase: Purchase, event: CheckoutPaid | CheckoutUnpaid | CheckoutFailed | CheckoutExpired
) -> bool:
    """Whether the event is about the Checkout Session the purchase stored; logged if not."""
    if purchase.checkout_session_id == event.session_id:
        return True
    logger.warning(
        "payment event %s: Checkout Session %s names purchase %s, whose session is %s; "
        "nothing changed",
        event.event_id,
        event.session_id,
        purchase.id,
        purchase.checkout_session_id or "not stored yet",
    )
    return False


async def _of_erased_account(uow: UnitOfWork, purchase: Purchase, event: PaymentEvent) -> bool:
    """True (logged) when the purchase's account was erased: its events change nothing."""
    if await uow.users.find_by_id(purchase.user_id) is not None:
        return False
    logger.warning(
        "payment event %s for purchase %s of an erased account; acknowledged, nothing changed",
        event.event_id,
        purchase.id,
    )
    return True


async def _reverse(
    uow: UnitOfWork, purchase: Purchase, reversal: PaymentReversal, now: datetime
) -> int:
    """Take a paid purchase's pack back, as far as the balance allows, and mark it reversed;
    how many credits were taken back."""
    taken = await _take_back(uow, purchase, purchase.pack, now)
    shortfall = purchase.pack - taken
    if shortfall:
        logger.warning(
            "purchase %s reversed by a %s (%s): took back %d of %d credits; user %s had "
            "already spent them, a shortfall of %d credits",
            purchase.id,
            reversal.kind,
            reversal.reference,
            taken,
            purchase.pack,
            purchase.user_id,
            shortfall,
        )
    else:
        logger.info(
            "purchase %s reversed by a %s (%s): took back %d credits",
            purchase.id,
            reversal.kind,
            reversal.reference,
            taken,
        )
    await uow.purchases.update(
        msgspec.structs.replace(purchase, status=PurchaseStatus.REVERSED, updated_at=now)
    )
    return taken


async def _take_back(uow: UnitOfWork, purchase: Purchase, wanted: int, now: datetime) -> int:
    """Record a ``payment_reversed`` entry of up to ``wanted`` credits; how many were taken.

    A spend committed meanwhile lowers what is left; the entry is then tried again with
    the lower amount, so the balance never goes below zero.
    """
    while True:
        take = min(wanted, await uow.credits.balance(purchase.user_id))
        if take <= 0:
            return 0
        try:
            await uow.credits.record(
                ledger_entry(
                    user_id=purchase.user_id,
                    amount=-take,
                    reason="payment_reversed",
                    actor=PROVIDER_ACTOR,
                    now=now,
                    idempotency_key=f"reversal:{purchase.id}",
                    purchase_id=purchase.id,
                )
            )
        except InsufficientCredits:
            continue
        except DuplicateLedgerEntry:
            return 0
        return take


def _amount_matches(purchase: Purchase, event: CheckoutPaid) -> bool:
    if event.amount_total != purchase.amount:
        return False
    return event.currency is None or event.currency.lower() == purchase.currency


def _as_uuid(reference: str | None) -> UUID | None:
    try:
        return uuid.UUID(reference) if reference else None
    except ValueError:
        return None
