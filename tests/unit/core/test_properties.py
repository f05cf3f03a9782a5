"""Credit and job invariants under random sequences and concurrent bursts of operations.

Hypothesis cannot use function-scoped fixtures, so every example builds its own
service (``World``) and runs its scenario with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from entrypoints.container import Container, build_container
from entrypoints.settings import load_settings
from picpaygo_core.errors import InsufficientCredits
from picpaygo_core.models import (
    Caller,
    CreditSource,
    Generated,
    GenerationOutcome,
    JobStatus,
    OperatorFailure,
    PermanentFailure,
    TransientFailure,
    User,
)
from support.fakes import FakeClock, ScriptedGenerator, cheap_hasher
from support.images import jpeg_bytes

EMAIL = "ada@example.com"
NETWORK = "203.0.113.7"
PHOTO = jpeg_bytes(16, 16)
MAX_ATTEMPTS = 3

OUTCOMES: dict[str, GenerationOutcome] = {
    "success": Generated(data=b"\x89PNG\r\n\x1a\nproperty", content_type="image/png"),
    "transient": TransientFailure(reason="provider busy"),
    "transient-retry-after": TransientFailure(reason="rate limited", retry_after=30),
    "permanent": PermanentFailure(message="The photo shows no person."),
    "operator": OperatorFailure(message="invalid API key"),
}

Operation = tuple[str, int | str]

creating = st.tuples(st.just("create"), st.sampled_from(["user", "anonymous"]))
processing = st.tuples(st.just("process"), st.sampled_from(sorted(OUTCOMES)))
# Creating and processing jobs are listed twice so that they come up more often.
operations: st.SearchStrategy[Operation] = st.one_of(
    st.tuples(st.just("grant"), st.integers(1, 5)),
    st.tuples(st.just("revoke"), st.integers(1, 5)),
    st.tuples(st.just("consume"), st.integers(1, 4)),
    creating,
    creating,
    processing,
    processing,
    st.tuples(st.just("advance"), st.integers(1, 400)),
)


class World:
    """A fresh service on in-memory adapters with one user and one anonymous client,
    both on the same network (so they share its free credits)."""

    def __init__(self, free_credits: int) -> None:
        self.clock = FakeClock()
        self.generator = ScriptedGenerator()
        self.free_credits = free_credits
        self.container: Container = build_container(
            load_settings(
                {
                    "DATABASE_URL": "memory://",
                    "JOB_WORKERS": "0",
                    "DEFAULT_FREE_CREDITS": str(free_credits),
                    "JOB_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
                }
            )
        )
        self.container.clock.override(self.clock)
        self.container.hasher.override(cheap_hasher())
        self.container.generator.override(self.generator)
        self.store = self.container.storage().store
        self._user: User | None = None

    async def sign_up(self) -> None:
        signed_in = await self.container.auth_service().register(
            email=EMAIL, password="correct horse battery"
        )
        self._user = signed_in.user

    @property
    def user(self) -> User:
        assert self._user is not None
        return self._user

    @property
    def free_left(self) -> int:
        return self.store.free_credits.get(NETWORK, self.free_credits)

    @property
    def balance(self) -> int:
        return self.store.balances.get(self.user.id, 0)

    async def run(self, operation: Operation, *, tidy: bool = True) -> None:
        """Apply one operation. ``tidy`` drops a scripted outcome no job consumed."""
        kind, argument = operation
        admin = self.container.admin_service()
        match kind, argument:
            case "grant", int(amount):
                await admin.grant(EMAIL, amount, reason="property", actor="test")
            case "revoke", int(amount):
                await admin.revoke(EMAIL, amount, reason="property", actor="test")
            case "consume", int(amount):
                caller = Caller(user=self.user, client_network=NETWORK)
                await self.container.credit_service().consume(caller, amount)
            case "create", str(who):
                caller = Caller(user=self.user if who == "user" else None, client_network=NETWORK)
                await self.container.generation_service().create_job(
                    caller, category="portraits", image=PHOTO
                )
            case "process", str(outcome):
                self.generator.outcomes.append(OUTCOMES[outcome])
                await self.container.job_processor().process_next()
                if tidy:
                    self.generator.outcomes.clear()
            case "advance", int(seconds):
                self.clock.advance(seconds=seconds)
            case _:
                raise AssertionError(f"unknown operation {operation!r}")

    async def drain(self) -> None:
        """Let time pass and work off the queue until every job is finished.

        Scripted outcomes left over are used first; after them every generation succeeds.
        """
        for _ in range(MAX_ATTEMPTS + len(self.generator.outcomes) + 2):
            self.clock.advance(hours=1)
            while await self.container.job_processor().process_next() is not None:
                pass

    def check_invariants(self) -> None:
        """What must hold after any operation, whatever happened before."""
        entries = self.store.ledger.get(self.user.id, [])
        assert self.balance >= 0
        assert 0 <= self.free_left <= self.free_credits
        assert self.balance == sum(entry.amount for entry in entries)

        per_job = Counter((entry.job_id, entry.reason) for entry in entries if entry.job_id)
        assert {job_id for job_id, _ in per_job} <= set(self.store.jobs)
        for job in self.store.jobs.values():
            charges = per_job[(job.id, "generation")]
            refunds = per_job[(job.id, "refund")]
            paid = job.credit_source is CreditSource.PAID
            assert charges == (1 if paid else 0), job
            assert refunds == (1 if paid and job.status is JobStatus.FAILED else 0), job
            assert job.refunded == (job.status is JobStatus.FAILED), job
            if job.status.is_finished:
                assert job.input_image_id is None, job
            else:
                assert job.input_image_id in self.store.images, job
            if job.status is JobStatus.SUCCEEDED:
                assert job.output_image_id in self.store.images, job
            if job.status is JobStatus.FAILED:
                assert job.error, job

    def unrefunded_jobs(self, source: CreditSource) -> int:
        return sum(
            1
            for job in self.store.jobs.values()
            if job.credit_source is source and not job.refunded
        )


class Model:
    """What the free credits and balance must be, from the operations that succeeded."""

    def __init__(self) -> None:
        self.paid_adjustments = 0  # grants - revokes - paid part of consumes
        self.free_spent_by_consume = 0
        self.jobs = 0


async def step(world: World, model: Model, operation: Operation) -> None:
    """Run one operation and check it was refused exactly when it had to be."""
    kind, argument = operation
    free, balance = world.free_left, world.balance
    try:
        await world.run(operation)
    except InsufficientCredits:
        refused = True
    else:
        refused = False

    match kind, argument:
        case "grant", int(amount):
            assert not refused
            model.paid_adjustments += amount
        case "revoke", int(amount):
            assert refused == (balance < amount)
            if not refused:
                model.paid_adjustments -= amount
        case "consume", int(amount):
            assert refused == (free + balance < amount)
            if not refused:
                model.free_spent_by_consume += min(free, amount)
                model.paid_adjustments -= amount - min(free, amount)
        case "create", str(who):
            spendable = free + balance if who == "user" else free
            assert refused == (spendable < 1)
            if not refused:
                model.jobs += 1
                newest = list(world.store.jobs.values())[-1]
                expected = CreditSource.FREE if free else CreditSource.PAID
                assert newest.credit_source is expected
        case _:
            assert not refused


def check_model(world: World, model: Model) -> None:
    assert len(world.store.jobs) == model.jobs
    assert world.balance == model.paid_adjustments - world.unrefunded_jobs(CreditSource.PAID)
    assert world.free_left == (
        world.free_credits - model.free_spent_by_consume - world.unrefunded_jobs(CreditSource.FREE)
    )
    for job in world.store.jobs.values():
        assert job.attempts <= MAX_ATTEMPTS, job


@settings(max_examples=250, deadline=None)
@given(
    free_credits=st.integers(0, 3),
    stock=st.integers(0, 6),
    ops=st.lists(operations, min_size=6, max_size=40),
)
def test_random_sequences_of_operations_keep_credits_and_jobs_consistent(
    free_credits: int, stock: int, ops: list[Operation]
) -> None:
    async def scenario() -> None:
        world = World(free_credits)
        await world.sign_up()
        model = Model()
        for operation in [("grant", stock)] * bool(stock) + ops:
            await step(world, model, operation)
            world.check_invariants()
            check_model(world, model)
        await world.drain()
        world.check_invariants()
        check_model(world, model)
        assert all(job.status.is_finished for job in world.store.jobs.values())

    asyncio.run(scenario())


@settings(max_examples=150, deadline=None)
@given(
    free_credits=st.integers(0, 3),
    stock=st.integers(0, 6),
    backlog=st.lists(st.sampled_from(["user", "anonymous"]), max_size=4),
    ops=st.lists(operations, min_size=4, max_size=24),
)
def test_concurrent_operations_keep_credits_and_jobs_consistent(
    free_credits: int, stock: int, backlog: list[str], ops: list[Operation]
) -> None:
    async def scenario() -> None:
        world = World(free_credits)
        await world.sign_up()
        if stock:
            await world.run(("grant", stock))
        for who in backlog:  # jobs already queued when the burst starts
            with contextlib.suppress(InsufficientCredits):
                await world.run(("create", who))

        results = await asyncio.gather(
            *(world.run(operation, tidy=False) for operation in ops), return_exceptions=True
        )

        unexpected = [
            result
            for result in results
            if isinstance(result, BaseException) and not isinstance(result, InsufficientCredits)
        ]
        assert unexpected == []
        world.check_invariants()
        await world.drain()
        world.check_invariants()
        assert all(job.status.is_finished for job in world.store.jobs.values())

    asyncio.run(scenario())
