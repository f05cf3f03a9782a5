"""Waking idle workers: one per new job, every one after a possible gap."""

from __future__ import annotations

import asyncio

from adapters.process_wakeup import MAX_PENDING_NOTIFICATIONS, ProcessJobWakeup

LONG = 30.0  # a wait that would fail the test by its length if nothing woke it


async def waiting(wakeup: ProcessJobWakeup, count: int) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(wakeup.wait(LONG)) for _ in range(count)]
    for _ in range(5):
        await asyncio.sleep(0)  # let every task reach its wait
    return tasks


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_notification_wakes_exactly_one_of_several_waiting_workers() -> None:
    wakeup = ProcessJobWakeup()
    tasks = await waiting(wakeup, 3)

    wakeup.notify()
    await settle()

    assert sum(task.done() for task in tasks) == 1
    wakeup.notify_all()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_two_notifications_wake_two_workers_in_the_order_they_waited() -> None:
    wakeup = ProcessJobWakeup()
    tasks = await waiting(wakeup, 3)

    wakeup.notify()
    wakeup.notify()
    await settle()

    assert [task.done() for task in tasks] == [True, True, False]
    wakeup.notify()
    await asyncio.wait_for(tasks[2], 5)


async def test_a_notification_with_nobody_waiting_is_kept_for_the_next_worker() -> None:
    wakeup = ProcessJobWakeup()

    wakeup.notify()

    await asyncio.wait_for(wakeup.wait(LONG), 1)


async def test_notify_all_wakes_every_waiting_worker() -> None:
    wakeup = ProcessJobWakeup()
    tasks = await waiting(wakeup, 4)

    wakeup.notify_all()

    await asyncio.wait_for(asyncio.gather(*tasks), 1)


async def test_kept_notifications_are_bounded() -> None:
    wakeup = ProcessJobWakeup()
    for _ in range(MAX_PENDING_NOTIFICATIONS * 10):
        wakeup.notify()

    for _ in range(MAX_PENDING_NOTIFICATIONS):
        await asyncio.wait_for(wakeup.wait(LONG), 1)
    left = await waiting(wakeup, 1)

    assert not left[0].done()
    wakeup.notify()
    await asyncio.wait_for(left[0], 1)


async def test_a_worker_whose_wait_timed_out_is_not_woken_later() -> None:
    wakeup = ProcessJobWakeup()
    await wakeup.wait(0.01)
    tasks = await waiting(wakeup, 1)

    wakeup.notify()

    await asyncio.wait_for(tasks[0], 1)
