"""Brute-force protection: failed sign-ins are counted per client network."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from litestar.testing import AsyncTestClient

from adapters.memory import MemoryAttemptThrottle
from entrypoints.container import Container
from entrypoints.http import create_app
from picpaygo_core.errors import InvalidCredentials, TooManyAttempts
from picpaygo_core.policy import Policy
from support.fakes import FakeClock, cheap_hasher

ContainerFactory = Callable[..., Container]


async def test_the_memory_throttle_counts_up_to_its_limit_until_the_window_ends(
    clock: FakeClock,
) -> None:
    throttle = MemoryAttemptThrottle(clock)
    for _ in range(3):
        assert await throttle.acquire("k", limit=3, window_seconds=60) is None
    clock.advance(seconds=15)

    assert await throttle.acquire("k", limit=3, window_seconds=60) == pytest.approx(45)
    assert await throttle.acquire("other", limit=3, window_seconds=60) is None
    await throttle.release("k")
    assert await throttle.acquire("k", limit=3, window_seconds=60) is None
    assert await throttle.acquire("k", limit=3, window_seconds=60) == pytest.approx(45)
    clock.advance(seconds=45)
    assert await throttle.acquire("k", limit=3, window_seconds=60) is None


async def test_failed_logins_from_one_network_are_refused_after_the_limit(
    make_container: ContainerFactory,
) -> None:
    auth = make_container(AUTH_ATTEMPTS_PER_MINUTE="3").auth_service()
    await auth.register(email="ada@example.com", password="correct horse", client_ip="192.0.2.1")
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await auth.login(email="ada@example.com", password="wrong!!!", client_ip="192.0.2.1")

    with pytest.raises(TooManyAttempts):
        await auth.login(email="ada@example.com", password="correct horse", client_ip="192.0.2.1")
    signed_in = await auth.login(
        email="ada@example.com", password="correct horse", client_ip="192.0.2.2"
    )
    assert signed_in.user.email == "ada@example.com"


async def test_successful_logins_are_not_counted(make_container: ContainerFactory) -> None:
    auth = make_container(AUTH_ATTEMPTS_PER_MINUTE="2").auth_service()
    await auth.register(email="ada@example.com", password="correct horse", client_ip="192.0.2.1")
    for _ in range(5):
        await auth.login(email="ada@example.com", password="correct horse", client_ip="192.0.2.1")


async def test_a_throttled_network_may_try_again_after_a_minute(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    auth = make_container(AUTH_ATTEMPTS_PER_MINUTE="1").auth_service()
    with pytest.raises(InvalidCredentials):
        await auth.login(email="nobody@example.com", password="whatever1", client_ip="192.0.2.9")
    with pytest.raises(TooManyAttempts):
        await auth.login(email="nobody@example.com", password="whatever1", client_ip="192.0.2.9")

    clock.advance(seconds=61)

    with pytest.raises(InvalidCredentials):
        await auth.login(email="nobody@example.com", password="whatever1", client_ip="192.0.2.9")


async def test_an_ipv6_network_is_throttled_per_64(make_container: ContainerFactory) -> None:
    auth = make_container(AUTH_ATTEMPTS_PER_MINUTE="1").auth_service()
    with pytest.raises(InvalidCredentials):
        await auth.login(email="x@example.com", password="whatever1", client_ip="2001:db8::1")
    with pytest.raises(TooManyAttempts):
        await auth.login(email="x@example.com", password="whatever1", client_ip="2001:db8::ffff")


async def test_zero_turns_the_throttle_off(make_container: ContainerFactory) -> None:
    auth = make_container(AUTH_ATTEMPTS_PER_MINUTE="0").auth_service()
    for _ in range(30):
        with pytest.raises(InvalidCredentials):
            await auth.login(email="x@example.com", password="whatever1", client_ip="192.0.2.1")


async def test_registrations_from_one_network_are_throttled(
    make_container: ContainerFactory,
) -> None:
    auth = make_container(AUTH_ATTEMPTS_PER_MINUTE="2").auth_service()
    await auth.register(email="a@example.com", password="correct horse", client_ip="192.0.2.1")
    await auth.register(email="b@example.com", password="correct horse", client_ip="192.0.2.1")
    with pytest.raises(TooManyAttempts):
        await auth.register(email="c@example.com", password="correct horse", client_ip="192.0.2.1")


async def test_a_throttled_login_is_a_429_with_retry_after(
    make_container: ContainerFactory,
) -> None:
    app = create_app(make_container(AUTH_ATTEMPTS_PER_MINUTE="1"))
    async with AsyncTestClient(app) as client:
        body = {"email": "x@example.com", "password": "whatever1"}
        assert (await client.post("/api/auth/login", json=body)).status_code == 401
        refused = await client.post("/api/auth/login", json=body)

    assert refused.status_code == 429
    assert refused.json() == {
        "status_code": 429,
        "detail": "Too many attempts. Try again in a minute.",
    }
    assert refused.headers["retry-after"] == "60"


class OrderRecordingHasher:
    """Cheap Argon2 on one thread; records whose verification was queued, in order."""

    def __init__(self) -> None:
        self._inner = cheap_hasher(threads=1)
        self.queued: list[str] = []
        self.first_queued = asyncio.Event()

    async def hash(self, password: str) -> str:
        return await self._inner.hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        self.queued.append(password)
        self.first_queued.set()
        return await self._inner.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._inner.needs_rehash(password_hash)


async def test_one_networks_flood_delays_anothers_sign_in_by_a_few_hashes_at_most(
    make_container: ContainerFactory,
) -> None:
    container = make_container(AUTH_ATTEMPTS_PER_MINUTE="0")  # the flood is not throttled
    hasher = OrderRecordingHasher()
    container.hasher.override(hasher)
    auth = container.auth_service()
    await auth.register(email="ada@example.com", password="correct horse", client_ip="10.9.9.9")

    async def guess() -> None:
        with pytest.raises(InvalidCredentials):
            await auth.login(email="ada@example.com", password="flood", client_ip="203.0.113.7")

    flood = [asyncio.create_task(guess()) for _ in range(400)]
    await asyncio.wait_for(hasher.first_queued.wait(), 30)
    queued_before = len(hasher.queued)
    signed_in = await auth.login(
        email="ada@example.com", password="correct horse", client_ip="198.51.100.1"
    )
    ahead = hasher.queued.index("correct horse") - queued_before
    await asyncio.gather(*flood)

    assert signed_in.user.email == "ada@example.com"
    assert ahead <= Policy().hashes_in_flight_per_network
    assert len(hasher.queued) == 401
