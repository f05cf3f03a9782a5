"""A pool of asyncio workers that drain the job queue and do periodic clean-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.ports import JobWakeup
from picpaygo_core.services.outbox import MailSender
from picpaygo_core.services.processing import JobProcessor

logger = logging.getLogger(__name__)

Chore = Callable[[], Awaitable[object]]

OUTAGE_RETRY_SECONDS = 1.0
# How often the mail sender looks for due mail when the outbox is empty.
MAIL_POLL_SECONDS = 1.0


class WorkerPool:
    """Runs ``size`` job workers, the mail sender (with ``mail_sender``) and a maintenance
    loop until ``stop`` is called.

    Idle workers wait for a wake-up (a new job) or ``poll_seconds``, whichever comes
    first, so a job whose notification was lost is still picked up.
    """

    def __init__(
        self,
        *,
        processor: JobProcessor,
        wakeup: JobWakeup,
        size: int,
        poll_seconds: float = 2.0,
        chores: Sequence[Chore] = (),
        chore_interval_seconds: float = 300.0,
        shutdown_grace_seconds: float = 20.0,
        mail_sender: MailSender | None = None,
    ) -> None:
        self._mail_sender = mail_sender
        self._grace = shutdown_grace_seconds
        self._busy: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._processor = processor
        self._wakeup = wakeup
        self._size = size
        self._poll_seconds = poll_seconds
        self._chores = chores
        self._chore_interval = chore_interval_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._prefix = uuid.uuid4().hex[:8]
        self._storage_down = False

    @property
    def running(self) -> bool:
        """True between ``start`` and ``stop``."""
        return bool(self._tasks)

    def start(self) -> None:
        """Start the workers in the running event loop."""
        if self._tasks:
            return
        for number in range(self._size):
            worker_id = f"{self._prefix}-{number}"
            self._tasks.append(asyncio.create_task(self._work(worker_id), name=worker_id))
        if self._chores:
            self._tasks.append(asyncio.create_task(self._maintain(), name="maintenance"))
        if self._mail_sender is not None and self._size > 0:
            sender = self._mail_sender
            self._tasks.append(asyncio.create_task(self._send_mail(sender), name="mail"))
            logger.info("mail goes to %s", sender.transport)
        logger.info("started %d job worker(s)", self._size)

    async def stop(self) -> None:
        """Drain: claim no more jobs, let running ones finish for up to the shutdown grace,
        then cancel the rest, which hands their jobs back to the queue at once (the
        attempt not counted) for another worker to take over."""
        self._stopping = True
        self._processor.close()
        tasks, self._tasks = self._tasks, []
        busy = [task for task in tasks if task in self._busy]
        for task in tasks:
            if task not in self._busy:
                task.cancel()
        if busy and self._grace > 0:
            logger.info("waiting up to %gs for %d running job(s) to finish", self._grace, len(busy))
            _, unfinished = await asyncio.wait(busy, timeout=self._grace)
            if unfinished:
                logger.info("handing back %d job(s) still running", len(unfinished))
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self, worker_id: str) -> None:
        current = asyncio.current_task()
        while not self._stopping:
            if current is not None:
                self._busy.add(current)
            try:
                job = await self._processor.process_next(worker_id)
            except StorageUnavailable:
                self._note_storage(available=False)
                job = None
            except Exception:
                logger.exception("worker %s failed to process a job", worker_id)
                job = None
            else:
                self._note_storage(available=True)
            finally:
                if current is not None:
                    self._busy.discard(current)
            if job is None and not self._stopping:
                # While the storage is away, look again soon: its return sends no wake-up.
                wait = self._poll_seconds
                if self._storage_down:
                    wait = min(wait, OUTAGE_RETRY_SECONDS)
                await self._wakeup.wait(wait)

    def _note_storage(self, *, available: bool) -> None:
        """Log once when the storage goes away and once when it is back, not every poll."""
        if available and self._storage_down:
            logger.info("storage is reachable again; job workers resume")
        elif not available and not self._storage_down:
            logger.warning("storage is unreachable; job workers keep polling until it is back")
        self._storage_down = not available

    async def _send_mail(self, sender: MailSender) -> None:
        """Send due mail one at a time; look again every ``MAIL_POLL_SECONDS`` when none is."""
        while True:
            try:
                handled = await sender.send_next()
            except StorageUnavailable:
                handled = False
            except Exception:
                logger.exception("the mail sender failed")
                handled = False
            if not handled:
                await asyncio.sleep(MAIL_POLL_SECONDS)

    async def _maintain(self) -> None:
        while True:
            for chore in self._chores:
                try:
                    await chore()
                except StorageUnavailable:
                    logger.warning("maintenance skipped: storage is unreachable")
                    break  # one line per round, not one per chore
                except Exception:
                    logger.exception("maintenance chore failed")
            await asyncio.sleep(self._chore_interval)
