"""Requests gathered into calls (``bot.grouping.Batches``): the first goes at once, those
arriving meanwhile share the next call (at most ``most``), calls never overlap, each caller gets
its own outcome, a call's failure goes to its callers, a cancelled caller is left out."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.grouping import Batches


class Runner:
    """A ``run`` that records its calls, can be held, and answers ``request * 10`` (or the
    ``ValueError`` a negative request stands for)."""

    def __init__(self, *, hold_first: bool = False, pause: float = 0.0) -> None:
        self.calls: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        if not hold_first:
            self.gate.set()
        self.pause = pause

    async def run(self, requests: list[int]) -> Sequence[int | Exception]:
        self.calls.append(list(requests))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            self.started.set()
            await self.gate.wait()
            await asyncio.sleep(self.pause)
            return [ValueError(r) if r < 0 else r * 10 for r in requests]
        finally:
            self.running -= 1


async def _spin(turns: int = 5) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def test_most_must_be_at_least_one() -> None:
    async def run(requests: list[int]) -> list[int]:
        return requests

    with pytest.raises(ValueError, match="at least 1"):
        Batches(run, 0)
    Batches(run, 1)


async def test_a_lone_request_goes_at_once() -> None:
    runner = Runner()
    gathered = Batches(runner.run, 32)
    assert await gathered.submit(4) == 40
    assert await gathered.submit(5) == 50
    assert runner.calls == [[4], [5]] and gathered.waiting == 0


async def test_requests_arriving_during_a_call_go_together_in_the_next() -> None:
    runner = Runner(hold_first=True)
    gathered = Batches(runner.run, 32)
    first = asyncio.create_task(gathered.submit(1))
    await runner.started.wait()
    rest = [asyncio.create_task(gathered.submit(n)) for n in range(2, 7)]
    await _spin()
    assert runner.calls == [[1]] and gathered.waiting == 5
    runner.gate.set()
    assert await asyncio.gather(first, *rest) == [10, 20, 30, 40, 50, 60]
    assert runner.calls == [[1], [2, 3, 4, 5, 6]]


@pytest.mark.parametrize("most", [1, 3, 32])
async def test_calls_take_at_most_most_in_the_order_they_came(most: int) -> None:
    runner = Runner(hold_first=True)
    gathered = Batches(runner.run, most)
    first = asyncio.create_task(gathered.submit(0))
    await runner.started.wait()
    rest = [asyncio.create_task(gathered.submit(n)) for n in range(1, 71)]
    await _spin()
    runner.gate.set()
    assert await asyncio.gather(first, *rest) == [n * 10 for n in range(71)]
    assert runner.calls[0] == [0]
    assert [len(call) for call in runner.calls[1:]] == [most] * (70 // most) + (
        [70 % most] if 70 % most else [])
    assert [n for call in runner.calls for n in call] == list(range(71))
    assert runner.most_running == 1


async def test_requests_of_one_turn_share_the_first_call() -> None:
    runner = Runner()
    gathered = Batches(runner.run, 4)
    assert await asyncio.gather(*(gathered.submit(n) for n in range(10))) == [
        n * 10 for n in range(10)]
    assert [len(call) for call in runner.calls] == [4, 4, 2]


async def test_many_tasks_arriving_at_random_never_overlap_and_each_gets_its_own() -> None:
    runner = Runner(pause=0.002)
    gathered = Batches(runner.run, 32)
    chance = random.Random(7)

    async def one(n: int) -> int | str:
        await asyncio.sleep(chance.random() * 0.05)
        try:
            return await gathered.submit(n)
        except ValueError as exc:
            return f"refused {exc.args[0]}"

    requests = [n if n % 9 else -n for n in range(1, 601)]
    outcomes = await asyncio.gather(*(one(n) for n in requests))
    assert outcomes == [n * 10 if n > 0 else f"refused {n}" for n in requests]
    assert runner.most_running == 1
    assert all(1 <= len(call) <= 32 for call in runner.calls)
    assert sorted(n for call in runner.calls for n in call) == sorted(requests)
    assert len(runner.calls) < len(requests)  # some were gathered
    assert gathered.waiting == 0


async def test_a_requests_own_exception_goes_to_its_caller_only() -> None:
    runner = Runner()
    gathered = Batches(runner.run, 32)
    outcomes = await asyncio.gather(*(gathered.submit(n) for n in (1, -2, 3, -4)),
                                    return_exceptions=True)
    assert outcomes[0] == 10 and outcomes[2] == 30
    assert isinstance(outcomes[1], ValueError) and outcomes[1].args == (-2,)
    assert isinstance(outcomes[3], ValueError) and outcomes[3].args == (-4,)
    assert runner.calls == [[1, -2, 3, -4]]


async def test_an_exception_of_run_goes_to_every_caller_of_that_call_only() -> None:
    calls: list[list[int]] = []
    gate = asyncio.Event()

    async def run(requests: list[int]) -> list[int]:
        calls.append(requests)
        if len(calls) == 1:
            await gate.wait()
            return [r for r in requests]
        if len(calls) == 2:
            raise OSError("the database is down")
        return requests

    gathered = Batches(run, 32)
    first = asyncio.create_task(gathered.submit(1))
    await _spin()
    failing = [asyncio.create_task(gathered.submit(n)) for n in (2, 3, 4)]
    await _spin()
    gate.set()
    assert await first == 1
    for task in failing:
        with pytest.raises(OSError, match="down"):
            await task
    assert await gathered.submit(5) == 5
    assert calls == [[1], [2, 3, 4], [5]]


@pytest.mark.parametrize("answer", [[], [1], [1, 2, 3, 4]])
async def test_a_wrong_number_of_outcomes_fails_that_calls_callers(answer: list[int]) -> None:
    calls: list[list[int]] = []

    async def run(requests: list[int]) -> list[int]:
        calls.append(requests)
        return answer if len(calls) == 1 else requests

    gathered = Batches(run, 32)
    outcomes = await asyncio.gather(gathered.submit(1), gathered.submit(2), gathered.submit(3),
                                    return_exceptions=True)
    assert all(isinstance(o, RuntimeError) and "outcomes for a batch of 3" in str(o)
               for o in outcomes), outcomes
    assert await gathered.submit(4) == 4  # the next call is not affected


async def test_a_caller_cancelled_before_its_call_is_left_out_of_it() -> None:
    runner = Runner(hold_first=True)
    gathered = Batches(runner.run, 32)
    first = asyncio.create_task(gathered.submit(1))
    await runner.started.wait()
    waiting = {n: asyncio.create_task(gathered.submit(n)) for n in (2, 3, 4, 5)}
    await _spin()
    waiting[3].cancel()
    waiting[5].cancel()
    await _spin()
    runner.gate.set()
    assert await first == 10
    assert await waiting[2] == 20 and await waiting[4] == 40
    for n in (3, 5):
        with pytest.raises(asyncio.CancelledError):
            await waiting[n]
    assert runner.calls == [[1], [2, 4]]


async def test_cancelled_callers_take_no_places_in_a_batch() -> None:
    """A batch of at most 2 after two of the waiting were cancelled: the next two that wait."""
    runner = Runner(hold_first=True)
    gathered = Batches(runner.run, 2)
    first = asyncio.create_task(gathered.submit(1))
    await runner.started.wait()
    waiting = {n: asyncio.create_task(gathered.submit(n)) for n in (2, 3, 4, 5)}
    await _spin()
    waiting[2].cancel()
    waiting[3].cancel()
    await _spin()
    runner.gate.set()
    assert await first == 10 and await waiting[4] == 40 and await waiting[5] == 50
    assert runner.calls == [[1], [4, 5]]


async def test_a_call_of_cancelled_callers_only_is_not_made() -> None:
    runner = Runner(hold_first=True)
    gathered = Batches(runner.run, 2)
    first = asyncio.create_task(gathered.submit(1))
    await runner.started.wait()
    gone = [asyncio.create_task(gathered.submit(n)) for n in (2, 3)]
    await _spin()
    for task in gone:
        task.cancel()
    await _spin()
    runner.gate.set()
    assert await first == 10
    await asyncio.gather(*gone, return_exceptions=True)
    assert await gathered.submit(4) == 40
    assert runner.calls == [[1], [4]] and gathered.waiting == 0


async def test_a_caller_cancelled_during_its_call_is_done_and_the_others_get_theirs() -> None:
    runner = Runner(hold_first=True)
    gathered = Batches(runner.run, 32)
    tasks = [asyncio.create_task(gathered.submit(n)) for n in (1, 2, -3)]
    await runner.started.wait()
    tasks[0].cancel()
    tasks[2].cancel()  # its ValueError must not be left unretrieved either
    await _spin()
    runner.gate.set()
    assert await tasks[1] == 20
    for task in (tasks[0], tasks[2]):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert runner.calls == [[1, 2, -3]]
    assert await gathered.submit(7) == 70


async def test_cancelling_the_calling_task_cancels_its_callers_and_those_waiting() -> None:
    """What the loop's shutdown does: nobody is left waiting for ever; afterwards a new request
    starts a new call."""
    runner = Runner(hold_first=True)
    gathered = Batches(runner.run, 32)
    first = asyncio.create_task(gathered.submit(1))
    await runner.started.wait()
    waiting = [asyncio.create_task(gathered.submit(n)) for n in (2, 3)]
    await _spin()
    calling = gathered._writer
    assert calling is not None
    calling.cancel()
    for task in (first, *waiting):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)
    assert gathered.waiting == 0 and runner.running == 0
    runner.gate.set()
    assert await asyncio.wait_for(gathered.submit(4), 2) == 40


def test_the_loops_shutdown_during_a_call_leaves_nothing_pending() -> None:
    finished: list[str] = []

    async def run(requests: list[int]) -> list[int]:
        try:
            await asyncio.Event().wait()
        finally:
            finished.append("run")
        return requests

    async def main() -> Batches[int, int]:
        gathered: Batches[int, int] = Batches(run, 32)
        for n in range(5):
            asyncio.get_running_loop().create_task(gathered.submit(n))
        await _spin()
        return gathered  # asyncio.run cancels what is left

    gathered = asyncio.run(main())
    assert finished == ["run"] and gathered.waiting == 0
    assert gathered._writer is not None and gathered._writer.done()


def test_a_keyboard_interrupt_in_run_stops_the_loop() -> None:
    """Decided: not an outcome of the callers but the program's stop (as a
    ``KeyboardInterrupt`` in a handler was before the gathering), its callers cancelled. In a
    process of its own: an interrupt through the loop upsets this interpreter's later tests
    (CPython 3.11: "AST constructor recursion depth mismatch")."""
    script = textwrap.dedent("""
        import asyncio
        from bot.grouping import Batches

        async def run(requests):
            raise KeyboardInterrupt

        callers = []

        async def main():
            gathered = Batches(run, 32)
            callers.extend(asyncio.create_task(gathered.submit(n)) for n in (1, 2))
            await asyncio.gather(*callers)

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            print("interrupted", [task.cancelled() for task in callers])
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parents[2],
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.stdout.strip() == "interrupted [True, True]", (done.stdout, done.stderr)


def _retrieve(gathered: Batches[int, int]) -> None:
    """Take the calling task's exception (no "Task exception was never retrieved")."""
    calling = gathered._writer
    if calling is not None and calling.done() and not calling.cancelled():
        calling.exception()


class Odd(BaseException):
    """Neither an ``Exception`` nor a cancellation (as ``GeneratorExit`` is)."""


async def test_a_base_exception_of_run_reaches_its_callers() -> None:
    async def run(requests: list[int]) -> list[int]:
        raise Odd

    gathered = Batches(run, 32)
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(gathered.submit(1), gathered.submit(2), return_exceptions=True), 1)
    finally:
        _retrieve(gathered)
    assert all(isinstance(o, Odd) for o in outcomes)


async def test_a_run_returning_no_sequence_fails_its_callers() -> None:
    async def run(requests: list[int]) -> list[int]:
        return None  # type: ignore[return-value]

    gathered = Batches(run, 32)
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(gathered.submit(1), gathered.submit(2), return_exceptions=True), 1)
    finally:
        _retrieve(gathered)
    assert all(isinstance(o, Exception) for o in outcomes)


async def test_a_failed_call_gives_every_caller_its_own_copy_of_the_exception() -> None:
    """Each caller raises a copy of the batch's error (same type, message and traceback), so
    that one caller's handling does not change what another logs (see the next test)."""
    error = OSError("down")

    async def run(requests: list[int]) -> list[int]:
        raise error

    gathered = Batches(run, 32)
    outcomes = await asyncio.gather(gathered.submit(1), gathered.submit(2), return_exceptions=True)
    assert outcomes[0] is not outcomes[1] and error not in outcomes
    assert all(type(o) is OSError and o.args == ("down",) for o in outcomes)


async def test_one_callers_handling_does_not_change_anothers_exception() -> None:
    gate = asyncio.Event()

    async def run(requests: list[int]) -> list[int]:
        await gate.wait()
        raise OSError("down")

    gathered = Batches(run, 32)
    seen: list[tuple[BaseException | None, BaseException | None]] = []

    async def plain() -> None:
        try:
            await gathered.submit(1)
        except OSError as exc:
            before = exc.__context__
            await asyncio.sleep(0.05)  # the other caller handles its error meanwhile
            seen.append((before, exc.__context__))

    async def inside_a_handler() -> None:
        try:
            raise KeyError("unrelated")
        except KeyError:
            with contextlib.suppress(OSError):
                await gathered.submit(2)

    tasks = [asyncio.create_task(plain()), asyncio.create_task(inside_a_handler())]
    await _spin()
    gate.set()
    await asyncio.gather(*tasks)
    [(before, after)] = seen
    context_changed = before is not after
    seen.clear()  # no exceptions kept beyond the test (their chains are long)
    assert not context_changed


# -- the bot's services ---------------------------------------------------------------------------
async def test_services_gather_concurrent_reports_and_callers_into_one_call(
        tmp_path: Path) -> None:
    """``Services.add_report`` and ``Services.caller``: concurrent requests share a storage
    call, each caller gets its own outcome or its own error."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from bot.services import Services
    from storage import ReportRequest
    from tests.dbs import migrated_store, sqlite_url

    now = dt.datetime(2025, 11, 3, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    with migrated_store(sqlite_url(tmp_path)) as store:
        store.sync_units([("fgw", "市发展改革委", "bureau")], now)
        store.add_person(1001, "user 1001", "contact", "fgw", None, now)
        groups: list[int] = []
        real = store.add_reports_once

        def add_reports_once(requests: Sequence[ReportRequest]) -> list[object]:
            groups.append(len(requests))
            return real(requests)  # type: ignore[return-value]

        store.add_reports_once = add_reports_once  # type: ignore[method-assign,assignment]
        services = Services(settings=None, timetable=None, store=store,  # type: ignore[arg-type]
                            clock=None)  # type: ignore[arg-type]

        def request(task_id: int, unit_id: str = "fgw") -> ReportRequest:
            return ReportRequest(task_id, unit_id, 2025, "done", None, "", 1001, now, "command")

        outcomes = await asyncio.gather(
            *(services.add_report(request(task)) for task in range(1, 21)),
            services.add_report(request(99, "nope")), return_exceptions=True)
        assert all(isinstance(o, tuple) and o[0].task_id == task and o[1]
                   for task, o in zip(range(1, 21), outcomes, strict=False))
        assert isinstance(outcomes[-1], ValueError) and "unknown unit" in str(outcomes[-1])
        assert groups[0] == 21  # one turn's requests: one call (then each alone: the unknown unit)
        assert len(store.reports_for_cycle(2025)) == 20
        found = await asyncio.gather(*(services.caller(who) for who in (1001, 5, 1001)))
        assert [p.telegram_user_id if p else None for p, _ in found] == [1001, None, 1001]
        assert [served for _, served in found] == [["fgw"], [], ["fgw"]]
