"""The coalescer behind the PostgreSQL session reads: one lookup per loop turn."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from adapters.postgres.coalescing import Coalescer


class Lookups:
    """A lookup that records each batch it is asked for."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    async def __call__(self, keys: Sequence[int]) -> list[str]:
        self.batches.append(list(keys))
        await asyncio.sleep(0)  # answer on a later turn, as a database would
        if self.fail is not None:
            raise self.fail
        return [f"value {key}" for key in keys]


async def test_the_reads_of_one_turn_share_one_lookup_and_each_gets_its_answer() -> None:
    lookups = Lookups()
    coalescer: Coalescer[int, str] = Coalescer(lookups)

    answers = await asyncio.gather(*(coalescer.get(key) for key in [3, 1, 2, 1]))

    assert answers == ["value 3", "value 1", "value 2", "value 1"]
    assert lookups.batches == [[3, 1, 2, 1]]


async def test_reads_of_later_turns_get_lookups_of_their_own() -> None:
    lookups = Lookups()
    coalescer: Coalescer[int, str] = Coalescer(lookups)

    assert await coalescer.get(1) == "value 1"
    assert await coalescer.get(2) == "value 2"

    assert lookups.batches == [[1], [2]]


async def test_a_full_batch_goes_at_once_and_the_rest_follows() -> None:
    lookups = Lookups()
    coalescer: Coalescer[int, str] = Coalescer(lookups, max_batch=3)

    answers = await asyncio.gather(*(coalescer.get(key) for key in range(7)))

    assert answers == [f"value {key}" for key in range(7)]
    assert sorted(lookups.batches) == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_lookup_fails_every_read_of_its_batch_and_only_those() -> None:
    lookups = Lookups(fail=RuntimeError("database down"))
    coalescer: Coalescer[int, str] = Coalescer(lookups)

    results = await asyncio.gather(coalescer.get(1), coalescer.get(2), return_exceptions=True)

    assert [str(result) for result in results] == ["database down", "database down"]
    lookups.fail = None
    assert await coalescer.get(3) == "value 3"


async def test_a_read_given_up_leaves_the_others_of_its_batch_answered() -> None:
    lookups = Lookups()
    coalescer: Coalescer[int, str] = Coalescer(lookups)

    abandoned = asyncio.ensure_future(coalescer.get(1))
    kept = asyncio.ensure_future(coalescer.get(2))
    await asyncio.sleep(0)
    abandoned.cancel()

    assert await kept == "value 2"
    with pytest.raises(asyncio.CancelledError):
        await abandoned


class GatedLookups(Lookups):
    """A lookup that answers only when the test opens its gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def __call__(self, keys: Sequence[int]) -> list[str]:
        self.batches.append(list(keys))
        await self.gate.wait()
        return [f"value {key}" for key in keys]


async def test_a_serial_coalescer_gathers_the_keys_asked_for_while_its_lookup_runs() -> None:
    lookups = GatedLookups()
    coalescer: Coalescer[int, str] = Coalescer(lookups, serial=True)

    first = asyncio.ensure_future(coalescer.get(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first lookup has started and waits at the gate
    later = [asyncio.ensure_future(coalescer.get(key)) for key in (2, 3)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert lookups.batches == [[1]]  # one lookup in flight, the others wait for it

    lookups.gate.set()

    assert await first == "value 1"
    assert await asyncio.gather(*later) == ["value 2", "value 3"]
    assert lookups.batches == [[1], [2, 3]]


async def test_a_serial_coalescer_splits_what_waited_into_full_batches() -> None:
    lookups = Lookups()
    coalescer: Coalescer[int, str] = Coalescer(lookups, max_batch=3, serial=True)

    answers = await asyncio.gather(*(coalescer.get(key) for key in range(7)))

    assert answers == [f"value {key}" for key in range(7)]
    assert lookups.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_serial_lookup_fails_its_batch_and_the_next_one_still_runs() -> None:
    lookups = Lookups(fail=RuntimeError("database down"))
    coalescer: Coalescer[int, str] = Coalescer(lookups, max_batch=2, serial=True)

    results = await asyncio.gather(
        *(coalescer.get(key) for key in range(3)), return_exceptions=True
    )

    assert [str(result) for result in results] == ["database down"] * 3
    assert lookups.batches == [[0, 1], [2]]
    lookups.fail = None
    assert await coalescer.get(3) == "value 3"
