"""Live progress of a job: its state now, then every change, until it finishes.

A follower reads the job when it starts watching and again each time the ``JobChanges``
port says it may have changed; only a visible difference (what ``GET`` of the job would
show) is passed on. Between changes it yields ``None`` every ``heartbeat_seconds`` (the
HTTP layer sends a comment line, which keeps proxies from closing an idle stream) and
reads the job again, so a notification lost in a reconnect delays an update, never
strands it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Hashable
from datetime import datetime
from uuid import UUID

import msgspec

from picpaygo_core.errors import JobNotFound, StorageUnavailable, TooManyStreams
from picpaygo_core.models import Caller, Job, JobMark, JobStatus
from picpaygo_core.models.jobs import visible_state
from picpaygo_core.ports import JobChanges, JobWatch
from picpaygo_core.services.generation import GenerationService

# Streams one caller (a user, or an anonymous caller's network) may hold open per process.
MAX_STREAMS_PER_CALLER = 5
HEARTBEAT_SECONDS = 15.0


class StreamSlots:
    """How many streams each caller holds open in this process, up to a limit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[Hashable, int] = {}

    def take(self, holder: Hashable) -> Slot:
        """A slot for ``holder``, or ``TooManyStreams`` when it holds ``limit`` already."""
        held = self._open.get(holder, 0)
        if held >= self._limit:
            raise TooManyStreams
        self._open[holder] = held + 1
        return Slot(self, holder)

    def held(self, holder: Hashable) -> int:
        """The streams ``holder`` has open."""
        return self._open.get(holder, 0)

    def give_back(self, holder: Hashable) -> None:
        """Free one of ``holder``'s slots."""
        held = self._open.get(holder, 0) - 1
        if held > 0:
            self._open[holder] = held
        else:
            self._open.pop(holder, None)


class Slot:
    """One open stream's place; freed once, however many times ``release`` is called."""

    def __init__(self, slots: StreamSlots, holder: Hashable) -> None:
        self._slots = slots
        self._holder: Hashable | None = holder

    def release(self) -> None:
        """Give the place back (again: nothing)."""
        holder, self._holder = self._holder, None
        if holder is not None:
            self._slots.give_back(holder)


class JobProgressService:
    """Follow a job the caller may see (the same rule as ``GenerationService.job``)."""

    def __init__(
        self,
        *,
        generation: GenerationService,
        changes: JobChanges,
        max_streams_per_caller: int = MAX_STREAMS_PER_CALLER,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._generation = generation
        self._changes = changes
        self._slots = StreamSlots(max_streams_per_caller)
        self._heartbeat_seconds = heartbeat_seconds
        self._stopping = asyncio.Event()

    def stop_all(self) -> None:
        """End every stream now, and any opened later at once (the process is stopping:
        an open stream would hold its shutdown up until its job ends)."""
        self._stopping.set()

    def open_streams(self, caller: Caller) -> int:
        """How many streams the caller holds open in this process."""
        return self._slots.held(_holder(caller))

    async def follow(self, caller: Caller, job_id: UUID) -> JobUpdates:
        """The job's updates, after checking it is the caller's to see (``JobNotFound``)
        and that the caller has a stream to spare (``TooManyStreams``)."""
        job = await self._generation.job(caller, job_id)
        slot = self._slots.take(_holder(caller))
        return JobUpdates(self, caller, job, slot)

    async def _updates(self, caller: Caller, first: Job) -> AsyncGenerator[Job | None]:
        if first.status.is_finished:
            yield first
            return
        # Watch first, then read: every change after the state sent first is heard.
        async with self._changes.watch(first.id) as watch:
            last: Job | None = None
            told = True
            while True:
                if not told:
                    yield None
                try:
                    job = await self._generation.job(caller, first.id)
                except StorageUnavailable:
                    if last is None:  # the state read a moment ago is the state now
                        last = first
                        yield first
                    word = await self._next_word(watch)  # try again then; the marks wait
                    if word is None:
                        return
                    told = word
                    continue
                except JobNotFound:
                    return  # erased with its account
                if last is None:
                    watch.marks()  # what happened before the first state sent is in it
                else:
                    for passed in _passed_states(watch.marks(), last, job):
                        last = passed
                        yield passed
                if last is None or visible_state(job) != visible_state(last):
                    last = job
                    yield job
                if job.status.is_finished:
                    return
                word = await self._next_word(watch)
                if word is None:
                    return
                told = word

    async def _next_word(self, watch: JobWatch) -> bool | None:
        """``watch.changed``, or None once the process is stopping."""
        if self._stopping.is_set():
            return None
        changed = asyncio.ensure_future(watch.changed(self._heartbeat_seconds))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((changed, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            stopping.cancel()
        if stopping.done() and not stopping.cancelled():
            return None
        return changed.result()


def _passed_states(marks: list[JobMark], last: Job, now: Job) -> list[Job]:
    """The unfinished states ``marks`` announce between the last one sent and the job as
    read ``now`` (say, running, between queued and succeeded, when the job ran faster
    than it could be read): each as the job was then (no output, no error yet)."""
    passed: list[Job] = []
    for mark in marks:
        previous = passed[-1] if passed else last
        if not mark.status.is_finished and _order(previous.status, previous.updated_at) < _order(
            mark.status, mark.updated_at
        ) < _order(now.status, now.updated_at):
            passed.append(
                msgspec.structs.replace(
                    now,
                    status=mark.status,
                    updated_at=mark.updated_at,
                    output_image_id=None,
                    error=None,
                )
            )
    return passed


def _order(status: JobStatus, updated_at: datetime) -> tuple[datetime, int]:
    """States in the order a job goes through them: by time, and within one instant (a
    clock too coarse to tell them apart) queued, then running, then finished."""
    return updated_at, _STAGE[status]


_STAGE = {JobStatus.QUEUED: 0, JobStatus.RUNNING: 1, JobStatus.SUCCEEDED: 2, JobStatus.FAILED: 2}


class JobUpdates:
    """The states of one followed job: ``Job`` for each visible change, the first being
    its state when followed, and ``None`` for a heartbeat. Ends after the job finishes.

    The caller's stream slot is freed when the iteration ends, is closed, or, if it
    never started (a client gone before the first byte), when this object is dropped.
    """

    def __init__(self, service: JobProgressService, caller: Caller, first: Job, slot: Slot):
        self.first = first
        self._updates = service._updates(caller, first)
        self._slot = slot
        weakref.finalize(self, slot.release)

    def __aiter__(self) -> AsyncIterator[Job | None]:
        return self._run()

    async def _run(self) -> AsyncIterator[Job | None]:
        try:
            async for update in self._updates:
                yield update
        finally:
            self._slot.release()
            await self._updates.aclose()

    def close(self) -> None:
        """Free the stream slot now (for a stream that will not be iterated)."""
        self._slot.release()


def _holder(caller: Caller) -> Hashable:
    return ("user", caller.user.id) if caller.user else ("network", caller.client_network)
