"""Throttling is atomic: an attempt is counted before any hashing, on every storage and
across API processes, and one network's flood does not hold up another's sign-in."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable

import httpx
import msgspec
import pytest

from adapters.passwords import Argon2PasswordHasher
from entrypoints.container import Container
from picpaygo_core.errors import InvalidCredentials, TooManyAttempts
from support.fakes import cheap_hasher
from support.server import serving

AsyncContainerFactory = Callable[..., Awaitable[Container]]

EMAIL = "victim@example.com"
PASSWORD = "correct horse battery"
NETWORK = "203.0.113.7"
LIMIT = 20
WAIT_SECONDS = 30.0


class CountingHasher:
    """A real (cheap) Argon2 hasher that counts ``verify`` calls and can hold the first
    ``hold`` of them until ``open()``, so a test keeps them in flight on purpose."""

    def __init__(self, hold: int = 0) -> None:
        self._inner: Argon2PasswordHasher = cheap_hasher()
        self._hold = hold
        self._gate = asyncio.Event()
        self._held = asyncio.Event()
        self.verified: list[str] = []

    async def hash(self, password: str) -> str:
        return await self._inner.hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password)
        if len(self.verified) <= self._hold:
            if len(self.verified) == self._hold:
                self._held.set()
            await self._gate.wait()
        return await self._inner.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._inner.needs_rehash(password_hash)

    async def all_held(self) -> None:
        await asyncio.wait_for(self._held.wait(), WAIT_SECONDS)

    def open(self) -> None:
        self._gate.set()


async def test_concurrent_guesses_past_the_limit_get_429_without_any_hash(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container(AUTH_ATTEMPTS_PER_MINUTE=str(LIMIT))
    # Every counted guess is let into hashing at once, to be held there in flight.
    policy = msgspec.structs.replace(container.policy(), hashes_in_flight_per_network=LIMIT)
    container.policy.override(policy)
    hasher = CountingHasher(hold=LIMIT)
    container.hasher.override(hasher)
    auth = container.auth_service()
    await auth.register(email=EMAIL, password=PASSWORD, client_ip="198.51.100.1")

    async def login(password: str) -> object:
        try:
            return await auth.login(email=EMAIL, password=password, client_ip=NETWORK)
        except (InvalidCredentials, TooManyAttempts) as exc:
            return exc

    # The limit's worth of wrong guesses, all still being hashed ...
    guesses = [asyncio.create_task(login(f"wrong {n}")) for n in range(LIMIT)]
    await hasher.all_held()
    # ... while 180 more arrive, the right password among them.
    late = await asyncio.gather(
        *(login(PASSWORD if n == 130 else f"late {n}") for n in range(200 - LIMIT))
    )
    hasher.open()
    early = await asyncio.gather(*guesses)

    assert all(isinstance(outcome, InvalidCredentials) for outcome in early)
    assert all(isinstance(outcome, TooManyAttempts) for outcome in late), [
        type(outcome).__name__ for outcome in late if not isinstance(outcome, TooManyAttempts)
    ]
    assert len(hasher.verified) == LIMIT


async def test_a_successful_sign_in_does_not_use_up_the_limit(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container(AUTH_ATTEMPTS_PER_MINUTE="2")
    auth = container.auth_service()
    await auth.register(email=EMAIL, password=PASSWORD, client_ip="198.51.100.1")

    for _ in range(5):
        await auth.login(email=EMAIL, password=PASSWORD, client_ip=NETWORK)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await auth.login(email=EMAIL, password="wrong password", client_ip=NETWORK)
    with pytest.raises(TooManyAttempts):
        await auth.login(email=EMAIL, password=PASSWORD, client_ip=NETWORK)


def test_concurrent_registrations_on_two_api_processes_give_at_most_the_limit(
    postgres_url: str,
) -> None:
    env = {
        "DATABASE_URL": postgres_url,
        "JOB_WORKERS": "0",
        "AUTH_ATTEMPTS_PER_MINUTE": str(LIMIT),
    }
    with serving(env) as first, serving(env) as second:

        def register(n: int) -> int:
            base_url = (first if n % 2 else second).base_url
            with httpx.Client(base_url=base_url, timeout=60.0) as client:
                response = client.post(
                    "/api/auth/register",
                    json={"email": f"user-{n}@example.com", "password": PASSWORD},
                )
                return response.status_code

        with concurrent.futures.ThreadPoolExecutor(60) as pool:
            statuses = list(pool.map(register, range(60)))

    assert statuses.count(201) <= LIMIT
    assert statuses.count(201) + statuses.count(429) == 60, statuses
