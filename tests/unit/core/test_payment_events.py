"""PaymentEventService on the in-memory adapters: what each provider event does to a
purchase and the ledger, and, under random histories of events, replays and spends, the
invariants that make the money safe.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from adapters.memory import MemoryStore, MemoryUnitOfWorkFactory
from adapters.payments import InstantPaymentGateway
from picpaygo_core.errors import InsufficientCredits
from picpaygo_core.models import (
    Caller,
    Charge,
    CheckoutExpired,
    CheckoutFailed,
    CheckoutPaid,
    CheckoutUnpaid,
    IgnoredPaymentEvent,
    PaymentEvent,
    PaymentReversed,
    Purchase,
    PurchaseStatus,
    User,
)
from picpaygo_core.ports import UnitOfWork
from picpaygo_core.services import PaymentEventService
from picpaygo_core.services.ledger import spending_of
from support.builders import NETWORK, a_purchase, a_user, an_entry
from support.fakes import FakeClock

PACKS = (5, 10)


async def spend(uow: UnitOfWork, caller: Caller, **spending: Any) -> Charge:
    """``caller`` spends in ``uow`` (see ``spending_of``)."""
    return await uow.credits.spend(spending_of(caller, **spending))


class Shop:
    """One user with two pending purchases, and the service that applies events."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.uow_factory = MemoryUnitOfWorkFactory(self.store)
        self.clock = FakeClock()
        self.service = PaymentEventService(
            uow_factory=self.uow_factory, payments=InstantPaymentGateway(), clock=self.clock
        )
        self.user: User = a_user()
        # As the checkout leaves them: pending, with their Checkout Session stored.
        self.purchases: list[Purchase] = [
            a_purchase(self.user, pack, checkout_session_id=self.session_id(index))
            for index, pack in enumerate(PACKS)
        ]

    async def open(self) -> None:
        async with self.uow_factory() as uow:
            await uow.users.add(self.user)
            await uow.credits.record(an_entry(self.user, 1))
            for purchase in self.purchases:
                await uow.purchases.add(purchase)
            await uow.commit()

    def session_id(self, index: int) -> str:
        return f"cs_{index}"

    def payment_id(self, index: int) -> str:
        return f"pi_{index}"

    def paid(self, index: int, event_id: str = "evt") -> CheckoutPaid:
        purchase = self.purchases[index]
        return CheckoutPaid(
            event_id=event_id,
            session_id=self.session_id(index),
            purchase_reference=str(purchase.id),
            payment_intent_id=self.payment_id(index),
            amount_total=purchase.amount,
            currency=purchase.currency,
        )

    def unpaid(self, index: int) -> CheckoutUnpaid:
        return CheckoutUnpaid(
            event_id="evt",
            session_id=self.session_id(index),
            purchase_reference=str(self.purchases[index].id),
            payment_intent_id=self.payment_id(index),
        )

    def failed(self, index: int) -> CheckoutFailed:
        return CheckoutFailed(
            event_id="evt",
            session_id=self.session_id(index),
            purchase_reference=str(self.purchases[index].id),
        )

    def expired(self, index: int) -> CheckoutExpired:
        return CheckoutExpired(
            event_id="evt",
            session_id=self.session_id(index),
            purchase_reference=str(self.purchases[index].id),
        )

    def reversed(self, index: int, kind: str = "refund") -> PaymentReversed:
        return PaymentReversed(
            event_id="evt",
            payment_intent_id=self.payment_id(index),
            kind=kind,
            reference=f"ch_{index}",
        )

    async def spend(self, amount: int) -> bool:
        caller = Caller(user=self.user, client_network=NETWORK)
        async with self.uow_factory() as uow:
            try:
                await spend(
                    uow,
                    caller,
                    amount=amount,
                    free_credits=0,
                    reason="consume",
                    now=self.clock.now(),
                )
            except InsufficientCredits:
                return False
            await uow.commit()
        return True

    async def stored(self, index: int) -> Purchase:
        async with self.uow_factory() as uow:
            purchase = await uow.purchases.find(self.purchases[index].id)
        assert purchase is not None
        return purchase

    async def status(self, index: int) -> PurchaseStatus:
        return (await self.stored(index)).status

    def balance(self) -> int:
        return self.store.balances.get(self.user.id, 0)

    def ledger(self) -> list[Any]:
        return list(self.store.ledger.get(self.user.id, []))


def foreign(event: PaymentEvent, session_id: str = "cs_payment_link") -> PaymentEvent:
    """``event`` as another Checkout Session naming the same purchase would send it."""
    return msgspec.structs.replace(event, session_id=session_id)


@pytest.fixture
async def shop() -> Shop:
    opened = Shop()
    await opened.open()
    return opened


async def test_a_paid_checkout_credits_its_pack_under_the_session_id(shop: Shop) -> None:
    await shop.service.apply(shop.paid(0))

    assert await shop.status(0) is PurchaseStatus.PAID
    assert shop.balance() == 1 + 5
    credit = shop.ledger()[-1]
    assert (credit.amount, credit.reason, credit.idempotency_key, credit.purchase_id) == (
        5,
        "purchase",
        "checkout:cs_0",
        shop.purchases[0].id,
    )


async def test_replaying_a_paid_checkout_changes_nothing(shop: Shop) -> None:
    await shop.service.apply(shop.paid(0, "evt_1"))
    await shop.service.apply(shop.paid(0, "evt_1"))
    await shop.service.apply(shop.paid(0, "evt_2"))

    assert shop.balance() == 6
    assert len(shop.ledger()) == 2


async def test_an_amount_that_is_not_the_purchases_is_not_credited(shop: Shop) -> None:
    await shop.service.apply(msgspec.structs.replace(shop.paid(0), amount_total=1))

    assert await shop.status(0) is PurchaseStatus.PENDING
    assert shop.balance() == 1


async def test_an_unpaid_checkout_stays_pending_and_keeps_its_payment(shop: Shop) -> None:
    await shop.service.apply(shop.unpaid(0))

    purchase = await shop.stored(0)
    assert purchase.status is PurchaseStatus.PENDING
    assert (purchase.checkout_session_id, purchase.payment_intent_id) == ("cs_0", "pi_0")


@pytest.mark.parametrize("reference", [None, "not-a-uuid", "00000000-0000-4000-8000-0000000000aa"])
async def test_an_event_for_an_unknown_purchase_changes_nothing(
    shop: Shop, reference: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    event = msgspec.structs.replace(shop.paid(0, "evt_stranger"), purchase_reference=reference)

    await shop.service.apply(event)

    assert shop.balance() == 1
    assert await shop.status(0) is PurchaseStatus.PENDING
    assert "evt_stranger" in caplog.text


async def test_ignored_events_change_nothing(shop: Shop) -> None:
    await shop.service.apply(IgnoredPaymentEvent(event_id="evt", event_type="customer.created"))

    assert shop.balance() == 1


async def test_a_reversal_takes_back_only_what_is_left_and_warns_of_the_shortfall(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    await shop.service.apply(shop.paid(1))
    assert await shop.spend(8)

    await shop.service.apply(shop.reversed(1, "dispute"))

    assert shop.balance() == 0
    assert await shop.status(1) is PurchaseStatus.REVERSED
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "a shortfall of 7 credits" in warning.getMessage()
    assert str(shop.purchases[1].id) in warning.getMessage()


# --- invariants under random histories ---------------------------------------------------------


def expected_status(paid: bool, reversed_: bool, without_money: set[PurchaseStatus]) -> str:
    """What a purchase must be after its events, whatever their order."""
    if paid:
        return "reversed" if reversed_ else "paid"
    for status in (PurchaseStatus.FAILED, PurchaseStatus.EXPIRED):
        if status in without_money:
            return status.value
    return "pending"


class PaymentHistories(RuleBasedStateMachine):
    """Random sequences of provider events (and replays of earlier ones) and spends."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.shop = Shop()
        self.run(self.shop.open())
        self.delivered: list[PaymentEvent] = []
        self.paid = [False] * len(PACKS)
        self.reversal = [False] * len(PACKS)
        self.without_money: list[set[PurchaseStatus]] = [set() for _ in PACKS]

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def deliver(self, event: PaymentEvent) -> None:
        self.run(self.shop.service.apply(event))
        self.delivered.append(event)

    purchase = st.integers(min_value=0, max_value=len(PACKS) - 1)

    @rule(index=purchase)
    def paid_checkout(self, index: int) -> None:
        self.deliver(self.shop.paid(index))
        self.paid[index] = True

    @rule(index=purchase)
    def unpaid_checkout(self, index: int) -> None:
        self.deliver(self.shop.unpaid(index))

    @rule(index=purchase)
    def failed_checkout(self, index: int) -> None:
        self.deliver(self.shop.failed(index))
        self.without_money[index].add(PurchaseStatus.FAILED)

    @rule(index=purchase)
    def expired_checkout(self, index: int) -> None:
        self.deliver(self.shop.expired(index))
        self.without_money[index].add(PurchaseStatus.EXPIRED)

    @rule(index=purchase, kind=st.sampled_from(["refund", "dispute"]))
    def payment_reversed(self, index: int, kind: str) -> None:
        self.deliver(self.shop.reversed(index, kind))
        self.reversal[index] = True

    @rule(index=purchase, kind=st.sampled_from(["paid", "unpaid", "failed", "expired"]))
    def another_session_naming_the_purchase(self, index: int, kind: str) -> None:
        self.deliver(foreign(getattr(self.shop, kind)(index)))

    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        if self.delivered:
            self.deliver(data.draw(st.sampled_from(self.delivered)))

    @rule(amount=st.integers(min_value=1, max_value=12))
    def spend(self, amount: int) -> None:
        self.run(self.shop.spend(amount))

    @invariant()
    def the_balance_is_the_ledger_sum_and_never_negative(self) -> None:
        balance = self.shop.balance()
        assert balance == sum(entry.amount for entry in self.shop.ledger())
        assert balance >= 0

    @invariant()
    def each_session_is_credited_at_most_once_and_each_reversal_happens_at_most_once(
        self,
    ) -> None:
        entries = self.shop.ledger()
        for index, purchase in enumerate(self.shop.purchases):
            credits = [e for e in entries if e.purchase_id == purchase.id and e.amount > 0]
            reversals = [e for e in entries if e.reason == "payment_reversed"]
            reversals = [e for e in reversals if e.purchase_id == purchase.id]
            assert len(credits) == (1 if self.paid[index] else 0)
            key = f"checkout:{self.shop.session_id(index)}"
            assert all(e.idempotency_key == key for e in credits)
            assert len(reversals) <= 1
            if reversals:
                assert self.paid[index]
                assert self.reversal[index]
                assert -reversals[0].amount <= purchase.pack

    @invariant()
    def each_purchase_ends_in_the_same_state_whatever_the_order(self) -> None:
        for index in range(len(PACKS)):
            status = self.run(self.shop.status(index))
            assert status.value == expected_status(
                self.paid[index], self.reversal[index], self.without_money[index]
            )

    def teardown(self) -> None:
        self.loop.close()


PaymentHistories.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPaymentHistories = PaymentHistories.TestCase


async def test_a_session_credited_already_adds_nothing_and_says_no_credits_were_added(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    await shop.service.apply(shop.paid(0, "evt_1"))
    other_purchase_same_session = msgspec.structs.replace(
        shop.paid(1, "evt_2"), session_id=shop.session_id(0), amount_total=shop.purchases[1].amount
    )

    with caplog.at_level("INFO", logger="picpaygo_core.services.payment_events"):
        await shop.service.apply(other_purchase_same_session)

    assert shop.balance() == 6
    assert await shop.status(1) is PurchaseStatus.PENDING
    assert "credits added" not in caplog.text
    assert "nothing changed" in caplog.text


# --- events about a session the purchase did not store -----------------------------------------


def warnings_naming(caplog: pytest.LogCaptureFixture, *words: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and all(word in r.getMessage() for word in words)
    ]


@pytest.mark.parametrize("kind", ["paid", "unpaid", "failed", "expired"])
async def test_another_session_naming_the_purchase_changes_nothing_and_is_warned_of(
    shop: Shop, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = foreign(getattr(shop, kind)(0))
    before = await shop.stored(0)

    await shop.service.apply(event)

    assert await shop.stored(0) == before  # the stored session id is not overwritten either
    assert shop.balance() == 1
    assert len(shop.ledger()) == 1
    [warning] = warnings_naming(caplog, "cs_payment_link", str(shop.purchases[0].id))
    assert "cs_0" in warning


async def test_another_session_cannot_fulfil_a_purchase_a_second_time(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    await shop.service.apply(shop.paid(0, "evt_1"))
    paid = await shop.stored(0)

    await shop.service.apply(foreign(shop.paid(0, "evt_2")))

    assert await shop.stored(0) == paid
    assert shop.balance() == 1 + 5
    assert warnings_naming(caplog, "cs_payment_link")


@pytest.mark.parametrize("kind", ["paid", "unpaid", "failed", "expired"])
async def test_a_purchase_without_a_stored_session_accepts_no_event(
    shop: Shop, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The checkout stores the session before the buyer sees the payment page, so only a
    # session it never handed out can name a purchase that has none yet.
    async with shop.uow_factory() as uow:
        await uow.purchases.update(
            msgspec.structs.replace(shop.purchases[0], checkout_session_id=None)
        )
        await uow.commit()
    before = await shop.stored(0)

    await shop.service.apply(getattr(shop, kind)(0))

    assert await shop.stored(0) == before
    assert shop.balance() == 1
    assert warnings_naming(caplog, "cs_0", "not stored yet")


async def test_a_paid_event_without_an_amount_credits_nothing_and_is_warned_of(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    await shop.service.apply(
        msgspec.structs.replace(shop.paid(0, "evt_no_amount"), amount_total=None)
    )

    assert await shop.status(0) is PurchaseStatus.PENDING
    assert shop.balance() == 1
    [warning] = warnings_naming(caplog, "evt_no_amount", str(shop.purchases[0].id))
    assert "amount_total" in warning
