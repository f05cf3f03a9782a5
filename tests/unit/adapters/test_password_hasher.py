"""The Argon2id password hasher, including the seed's legacy PBKDF2 hashes."""

from __future__ import annotations

import asyncio
import base64
import threading

import argon2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.passwords import Argon2PasswordHasher
from adapters.passwords.pbkdf2_legacy import legacy_pbkdf2_hash


def cheap_argon2() -> argon2.PasswordHasher:
    return argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(cheap_argon2())


async def test_a_hashed_password_verifies(hasher: Argon2PasswordHasher) -> None:
    password_hash = await hasher.hash("correct horse battery staple")

    assert await hasher.verify(password_hash, "correct horse battery staple")


async def test_a_wrong_password_does_not_verify(hasher: Argon2PasswordHasher) -> None:
    password_hash = await hasher.hash("correct horse battery staple")

    assert not await hasher.verify(password_hash, "Correct horse battery staple")


async def test_new_hashes_are_argon2id(hasher: Argon2PasswordHasher) -> None:
    password_hash = await hasher.hash("secret-password")

    assert password_hash.startswith("$argon2id$")
    assert not hasher.needs_rehash(password_hash)


async def test_the_default_hasher_uses_argon2id_with_owasps_parameters() -> None:
    password_hash = await Argon2PasswordHasher().hash("secret-password")

    parameters = argon2.extract_parameters(password_hash)
    assert parameters.type is argon2.Type.ID
    # OWASP Password Storage Cheat Sheet: at least 19 MiB, 2 iterations, 1 lane.
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (
        2,
        19456,
        1,
    )


async def test_concurrent_hashes_never_use_more_threads_than_configured() -> None:
    hasher = Argon2PasswordHasher(
        argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), threads=1
    )
    threads: set[str] = set()
    original = hasher._verify_argon2

    def recording(password_hash: str, password: str) -> bool:
        threads.add(threading.current_thread().name)
        return original(password_hash, password)

    hasher._verify_argon2 = recording  # type: ignore[method-assign]
    password_hash = await hasher.hash("secret-password")

    results = await asyncio.gather(
        *(hasher.verify(password_hash, "secret-password") for _ in range(20))
    )

    assert all(results)
    assert len(threads) == 1
    assert threading.current_thread().name not in threads


async def test_the_same_password_hashes_differently_each_time(
    hasher: Argon2PasswordHasher,
) -> None:
    assert await hasher.hash("secret-password") != await hasher.hash("secret-password")


async def test_a_legacy_salt_and_hex_hash_verifies_and_needs_rehash(
    hasher: Argon2PasswordHasher,
) -> None:
    legacy = legacy_pbkdf2_hash("old-password")
    salt_text, digest_text = legacy.split("$")
    assert len(base64.b64decode(salt_text)) == 16
    assert len(digest_text) == 64

    assert await hasher.verify(legacy, "old-password")
    assert not await hasher.verify(legacy, "old-passwore")
    assert hasher.needs_rehash(legacy)


async def test_a_legacy_hash_with_a_known_salt_matches_pbkdf2_sha256(
    hasher: Argon2PasswordHasher,
) -> None:
    # Known answer: PBKDF2-HMAC-SHA256(password="password", salt=b"salt", 100,000 rounds).
    legacy = legacy_pbkdf2_hash("password", salt=b"salt")

    assert legacy.startswith(
        "c2FsdA==$0394a2ede332c9a13eb82e9b24631604c31df978b4e2f0fbd2c549944f9d79a5"
    )
    assert await hasher.verify(legacy, "password")


@pytest.mark.parametrize("digest_encoding", ["hex", "base64"])
async def test_a_legacy_explicit_layout_hash_verifies(
    hasher: Argon2PasswordHasher, digest_encoding: str
) -> None:
    salt_text, hex_digest = legacy_pbkdf2_hash("old-password", salt=b"0123456789abcdef").split("$")
    digest = (
        hex_digest
        if digest_encoding == "hex"
        else base64.b64encode(bytes.fromhex(hex_digest)).decode()
    )
    explicit = f"pbkdf2_sha256$100000${salt_text}${digest}"

    assert await hasher.verify(explicit, "old-password")
    assert not await hasher.verify(explicit, "other-password")
    assert hasher.needs_rehash(explicit)


async def test_a_legacy_explicit_layout_honours_its_iteration_count(
    hasher: Argon2PasswordHasher,
) -> None:
    legacy = legacy_pbkdf2_hash("old-password", iterations=1_000)

    assert legacy.startswith("pbkdf2_sha256$1000$")
    assert await hasher.verify(legacy, "old-password")


GARBAGE_HASHES = [
    "",
    "garbage",
    "$",
    "a$b",
    "c2FsdA==$not-hex",
    "pbkdf2_sha256$abc$c2FsdA==$00",
    "pbkdf2_sha256$0$c2FsdA==$0394a2ede332c9a13eb82e9b24631604",
    "$argon2id$",
    "$argon2id$v=19$m=1024,t=1,p=1$",
    "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
    "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$!!!",
    "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\u00e9",
    "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA",
]


@pytest.mark.parametrize("password_hash", GARBAGE_HASHES)
async def test_an_unreadable_hash_never_verifies_and_needs_rehash(
    hasher: Argon2PasswordHasher, password_hash: str
) -> None:
    assert not await hasher.verify(password_hash, "password")
    assert hasher.needs_rehash(password_hash)


async def test_a_truncated_argon2_hash_does_not_verify(hasher: Argon2PasswordHasher) -> None:
    password_hash = await hasher.hash("secret-password")

    for cut in (1, 10, len(password_hash) // 2):
        assert not await hasher.verify(password_hash[:-cut], "secret-password")


async def test_a_hash_with_weaker_parameters_needs_rehash_under_the_defaults() -> None:
    weak_hash = await Argon2PasswordHasher(cheap_argon2()).hash("secret-password")

    assert Argon2PasswordHasher().needs_rehash(weak_hash)


async def test_an_argon2i_hash_still_verifies_but_needs_rehash(
    hasher: Argon2PasswordHasher,
) -> None:
    argon2i = argon2.PasswordHasher(
        time_cost=1, memory_cost=1024, parallelism=1, type=argon2.Type.I
    )
    password_hash = argon2i.hash("secret-password")

    assert await hasher.verify(password_hash, "secret-password")
    assert hasher.needs_rehash(password_hash)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(password=st.text(max_size=64))
async def test_any_text_password_round_trips(hasher: Argon2PasswordHasher, password: str) -> None:
    password_hash = await hasher.hash(password)

    assert await hasher.verify(password_hash, password)
    assert not await hasher.verify(password_hash, password + "x")
