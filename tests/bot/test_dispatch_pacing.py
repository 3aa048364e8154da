"""The dispatcher's pacing (``SendWindow``) and the one-job promise of ``schedule_dispatch``."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace

from telegram.ext import ApplicationBuilder

from bot.reminders import JOB_NAME, SendWindow, dispatch_job, schedule_dispatch


async def test_send_window_counts_a_send_until_a_period_after_it_finished() -> None:
    window = SendWindow(3, period=0.2)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def send(duration: float) -> None:
        async with window.slot():
            starts.append(loop.time())
            await asyncio.sleep(duration)

    began = loop.time()
    await asyncio.gather(send(0.3), *(send(0.0) for _ in range(6)))
    # Never more than 3 started within 0.2 s, and the slow send held its place while in flight.
    assert all(b - a >= 0.2 - 1e-3 for a, b in zip(starts, starts[3:], strict=False))
    assert starts[3] - began >= 0.2 - 1e-3
    assert len(starts) == 7
    unlimited = SendWindow(0)
    async with unlimited.slot():
        pass


async def test_send_window_lets_the_longest_queue_go_first() -> None:
    window = SendWindow(1, period=0.05)
    order: list[str] = []

    async def send(name: str, priority: int) -> None:
        async with window.slot(priority):
            order.append(name)

    async with window.slot():  # hold the window while the others queue up
        tasks = [asyncio.create_task(send(name, priority))
                 for name, priority in (("a", 0), ("b", 0), ("c", 11), ("d", 3))]
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["c", "d", "a", "b"]


async def test_a_waiter_cancelled_in_the_window_gives_its_place_back() -> None:
    window = SendWindow(1, period=0.01)

    async def send() -> None:
        async with window.slot():
            pass

    async with window.slot():
        waiting = asyncio.create_task(send())
        await asyncio.sleep(0)
        waiting.cancel()
    async with asyncio.timeout(1):  # the cancelled waiter does not hold the only place
        async with window.slot():
            pass


# -- the job -------------------------------------------------------------------------------
async def test_schedule_dispatch_keeps_exactly_one_repeating_job() -> None:
    app = ApplicationBuilder().token("123456:TEST-duban-token").build()
    app.bot_data["services"] = SimpleNamespace(
        settings=SimpleNamespace(dispatch_interval_seconds=60))
    job_queue = app.job_queue
    assert job_queue is not None
    schedule_dispatch(app)
    schedule_dispatch(app)  # e.g. post_init running again
    jobs = job_queue.jobs()
    assert [j.name for j in jobs] == [JOB_NAME]
    assert jobs[0].callback is dispatch_job
    assert jobs[0].job.trigger.interval == dt.timedelta(seconds=60)
    await job_queue.start()  # and once the scheduler runs
    try:
        schedule_dispatch(app)
        schedule_dispatch(app)
        assert [j.name for j in job_queue.jobs()] == [JOB_NAME]
        assert len(job_queue.get_jobs_by_name(JOB_NAME)) == 1
    finally:
        await job_queue.stop()
