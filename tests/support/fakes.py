"""Test doubles that implement the core's ports for real (no mocks)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import argon2

from adapters.memory.pictures import MemoryPictureStore
from adapters.passwords import Argon2PasswordHasher
from picpaygo_core.errors import PaymentsNotConfigured, PictureStoreUnavailable
from picpaygo_core.models import (
    Category,
    CheckoutSession,
    Generated,
    GenerationOutcome,
    PaymentEvent,
    Purchase,
    User,
)
from picpaygo_core.ports import Clock

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = START) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        """Move time forward, e.g. ``clock.advance(hours=2)``."""
        self._now += timedelta(**delta)


def cheap_hasher(threads: int | None = None) -> Argon2PasswordHasher:
    """Argon2id with tiny parameters, so tests stay fast. Same code path as production."""
    return Argon2PasswordHasher(
        argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), threads=threads
    )


class Call:
    """One request the scripted generator received."""

    def __init__(self, prompt: str, category: Category, image: bytes, content_type: str) -> None:
        self.prompt = prompt
        self.category = category
        self.image = image
        self.content_type = content_type


class ScriptedGenerator:
    """An image generator that answers from a script of outcomes, then succeeds.

    ``hold`` makes every call wait until ``release()`` — to look at a job while it runs.
    """

    name = "scripted"

    def __init__(self, outcomes: Iterable[GenerationOutcome] = (), *, hold: bool = False) -> None:
        self.outcomes: deque[GenerationOutcome] = deque(outcomes)
        self.calls: list[Call] = []
        self._gate = asyncio.Event()
        if not hold:
            self._gate.set()
        self.started = asyncio.Event()

    def release(self) -> None:
        self._gate.set()

    async def generate(
        self, *, prompt: str, category: Category, image: bytes, content_type: str
    ) -> GenerationOutcome:
        self.calls.append(Call(prompt, category, image, content_type))
        self.started.set()
        await self._gate.wait()
        if self.outcomes:
            return self.outcomes.popleft()
        return Generated(data=b"\x89PNG\r\n\x1a\nscripted", content_type="image/png")


class PaymentPagesGateway:
    """A payment gateway that opens a numbered "page" per checkout and remembers each
    request (purchase, customer, closing time); it takes no money and reads no events."""

    enabled = True
    settles_at_once = False

    def __init__(self) -> None:
        self.checkouts: list[tuple[Purchase, str | None, datetime]] = []

    async def start_checkout(
        self, purchase: Purchase, buyer: User, customer_id: str | None, expires_at: datetime
    ) -> CheckoutSession:
        self.checkouts.append((purchase, customer_id, expires_at))
        number = len(self.checkouts)
        return CheckoutSession(
            id=f"cs_page_{number}",
            url=f"https://pay.example/{number}",
            customer_id=customer_id or f"cus_{buyer.id.hex[:8]}",
        )

    def read_event(self, payload: bytes, signature: str | None) -> PaymentEvent:
        raise PaymentsNotConfigured("This gateway reads no events.")


class FlakyPictureStore(MemoryPictureStore):
    """The in-memory picture store, which can be taken down (every call then fails as an
    unreachable store's does) and can give download links (as an object store does)."""

    def __init__(self, clock: Clock, *, links: bool = False) -> None:
        super().__init__(clock)
        self.down = False
        self._links = links

    def _answer(self) -> None:
        if self.down:
            raise PictureStoreUnavailable

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self._answer()
        await super().put(key, data, content_type)

    async def get(self, key: str) -> bytes:
        self._answer()
        return await super().get(key)

    async def delete(self, key: str) -> None:
        self._answer()
        await super().delete(key)

    async def download_url(self, key: str) -> str | None:
        return f"https://store.example/{key}?X-Amz-Signature=test" if self._links else None

    def keys(self) -> list[str]:
        return sorted(self._objects)
