"""What only the in-memory adapter does: one unit of work at a time, under the store's lock.

Everything else the in-memory adapters promise is the storage contract, checked on every
adapter by ``tests/integration/test_storage_contract.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.memory import MemoryStore, MemoryUnitOfWorkFactory


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def uow_factory(store: MemoryStore) -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory(store)


async def test_a_second_unit_of_work_waits_for_the_first_to_finish(
    uow_factory: MemoryUnitOfWorkFactory,
) -> None:
    seen: list[str] = []
    first_inside = asyncio.Event()
    second_trying = asyncio.Event()

    async def first() -> None:
        async with uow_factory():
            seen.append("first in")
            first_inside.set()
            await second_trying.wait()  # resumes only once the second task is blocked
            seen.append("first out")

    async def second() -> None:
        await first_inside.wait()
        second_trying.set()
        async with uow_factory():
            seen.append("second in")

    await asyncio.gather(first(), second())

    assert seen == ["first in", "first out", "second in"]


async def test_the_lock_is_released_when_a_unit_of_work_fails(
    store: MemoryStore, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    async def fail_inside() -> None:
        async with uow_factory():
            assert store.lock.locked()
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await fail_inside()

    assert not store.lock.locked()
    async with uow_factory():
        pass
