"""Concurrent reads of one kind, answered by one statement.

Every signed-in request starts with the same read (its session, its user, maybe its
credits). Under load, many requests make that read in the same turn of the event loop;
a ``Coalescer`` gathers the keys asked for in one turn and looks them all up in one
unit of work and one statement, instead of one pooled connection, one deadline and one
round trip each. A lone request pays one loop turn more, nothing else.

A serial ``Coalescer`` keeps one lookup in flight: the keys asked for meanwhile wait and
go together in the next one, as a database's group commit does with transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
R = TypeVar("R")

# Keys per statement: past this, a turn's lookups are split over several statements.
MAX_BATCH = 64


class Coalescer(Generic[K, R]):
    """``get(key)`` answered by ``lookup(keys)``, one call per loop turn and batch.

    ``lookup`` returns one result per key, in the keys' order. If it raises, every
    ``get`` of its batch raises the same error. ``serial``: at most one ``lookup`` runs
    at a time, and the next one takes every key asked for while it ran (in batches of
    ``max_batch``).
    """

    def __init__(
        self,
        lookup: Callable[[Sequence[K]], Awaitable[Sequence[R]]],
        max_batch: int = MAX_BATCH,
        *,
        serial: bool = False,
    ) -> None:
        self._lookup = lookup
        self._max_batch = max_batch
        self._serial = serial
        self._busy = False
        self._keys: list[K] = []
        self._waiters: list[asyncio.Future[R]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> R:
        """The result for ``key``, looked up together with the others of this turn."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[R] = loop.create_future()
        if not self._keys and not self._busy:
            # Its first step runs next turn: by then this turn's keys are all here.
            self._start(self._run())
        self._keys.append(key)
        self._waiters.append(waiter)
        if len(self._keys) >= self._max_batch and not self._serial:
            self._start(self._answer(*self._take()))
        return await waiter

    def _start(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._running.add(task)  # a reference, so the task is not collected mid-way
        task.add_done_callback(self._running.discard)

    def _take(self) -> tuple[list[K], list[asyncio.Future[R]]]:
        if len(self._keys) <= self._max_batch:
            taken = self._keys, self._waiters
            self._keys, self._waiters = [], []
            return taken
        batch = self._max_batch
        taken = self._keys[:batch], self._waiters[:batch]
        del self._keys[:batch], self._waiters[:batch]
        return taken

    async def _run(self) -> None:
        if not self._serial:
            # A full batch may have gone already; then these are later keys, or none.
            await self._answer(*self._take())
            return
        self._busy = True
        try:
            while self._keys:
                await self._answer(*self._take())
        finally:
            self._busy = False

    async def _answer(self, keys: list[K], waiters: list[asyncio.Future[R]]) -> None:
        if not keys:
            return
        try:
            results = await self._lookup(keys)
        except Exception as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        except BaseException:
            for waiter in waiters:
                waiter.cancel()
            raise
        for waiter, result in zip(waiters, results, strict=True):
            if not waiter.done():
                waiter.set_result(result)
