"""The real bot end to end: command latency, reminder fan-out pacing, memory after start.

The duban Application (real python-telegram-bot HTTP stack, real ``AIORateLimiter``) talks to
the local Bot API stand-in (``bot_api_standin``) on 127.0.0.1, in this one process, as in
``tests/bot/conftest.py``: a simulated person's update is fetched with ``getUpdates`` and handed
to ``process_update``. The database holds the storage benchmark's fixture (88,400 reports over
five cycles, loaded by a separate process so that it does not count in this one's memory; all
``in_progress`` or ``blocked``, so that no reminder is skipped as done) and ``/summary`` reads a
full cycle. The clock is frozen at 2026-11-26 10:00 Asia/Shanghai. Run from the repository
root::

    python -m bench.bench_bot                     # 50 requests of each, 300 reminders
    python -m bench.bench_bot --quick             # 20 requests, 100 reminders
    python -m bench.bench_bot --backend postgres  # the same on PostgreSQL (default: SQLite)

Fan-out: ``dispatch_due`` at one instant with exactly one due reminder for each of N contacts'
private chats (the other due rows are marked skipped first), ``per_chat_interval`` 0, the
dispatcher's own pacing left at its default. It runs twice: once with the stand-in only
recording (the app's own pacing, as the stand-in's clock sees each send), once with the stand-in
enforcing Telegram's limits (30 sends in any second, answering 429 beyond, which
``AIORateLimiter`` retries). Then a few dispatch runs with nothing due (the every-minute case).

Prints a table (figure | value | target | ok?); a missed target prints MISSED and the exit
status is 0 all the same. ``--runs`` is accepted (``bench/run_all`` passes it to every
benchmark) and ignored: each figure is already a percentile or worst case over 50 (20) requests.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import update
from sqlmodel import col
from telegram.ext import Application

from bench.common import (
    BACKENDS,
    SHANGHAI,
    TASKS_PATH,
    Figure,
    Record,
    add_common_options,
    contacts_by_unit,
    figure,
    finish,
    info,
    load_fixture_elsewhere,
    max_rss_mib,
    median_ms,
    migrated_store,
    percentile,
    print_environment,
)
from bot.app import build_application
from bot.reminders import dispatch_due
from bot.settings import Settings
from bot_api_standin import BotApiStandIn
from schedules.clock import FrozenClock
from schedules.loader import load_timetable
from schedules.model import Timetable
from storage import Reminder, Store

TOKEN = "123456:BENCH-duban-token"
ADMIN = 1000
LEADER = 2000
CONTACT = 3001
CONTACT_UNIT = "ecology-environment"
FIRST_FANOUT_ID = 100_000
CYCLES = (2022, 2023, 2024, 2025, 2026)
NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
PLAN_AT = dt.datetime(2026, 10, 1, 9, 0, tzinfo=SHANGHAI)  # before any reminder is due
# Two reminder instants of the 2026 cycle (the 14- and 7-day reminders before the cutoff).
FANOUT_AT = (dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI),
             dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI))
WARM_UP = 3
MAX_RATE = 30  # Telegram: about 30 messages per second to different chats
IDLE_RUNS = 5


class LoopLag:
    """The longest event-loop stall: the worst lateness of a 1 ms ticker.

    It is how long an incoming update or a timer could have waited: a callback that blocks, a
    garbage collection, or worker threads holding the GIL while the loop wants it.
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, loop.time() - before - 0.001)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task


class LogTally(logging.Handler):
    """Counts the warnings and errors logged during the run instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record by logger, level and the start of its message."""
        message = record.getMessage().split("\n", 1)[0]
        self.seen[f"{record.levelname} {record.name}: {message[:90]}"] += 1


@dataclass
class Bot:
    """The running application, its stand-in and store."""

    app: Application
    api: BotApiStandIn
    store: Store
    offset: int = 0

    async def round_trip(self, user_id: int, command: str) -> float:
        """``/command`` from ``user_id``, fetched and processed; seconds until the reply."""
        start = time.perf_counter()
        sent = self.api.send_command(user_id, command)
        while True:
            updates = await self.app.bot.get_updates(offset=self.offset, timeout=0)
            for incoming in updates:
                self.offset = incoming.update_id + 1
                await self.app.process_update(incoming)
            if updates:
                break
        elapsed = time.perf_counter() - start
        replies = [m for m in self.api.bot_messages(user_id)
                   if m["message_id"] > sent["message_id"]]
        if not replies:
            raise RuntimeError(f"/{command} from {user_id} got no reply")
        return elapsed


async def start_bot(api: BotApiStandIn, store: Store, timetable: Timetable) -> Bot:
    """Build and start the application as ``duban run`` would, minus polling and the job."""
    settings = Settings(telegram_bot_token=SecretStr(TOKEN), telegram_api_base_url=api.base_url,
                        telegram_file_base_url=api.base_file_url, database_url=store.url,
                        admins=(ADMIN,), dispatch_interval_seconds=3600)
    app = build_application(settings, timetable=timetable, store=store,
                            clock=FrozenClock(NOW), auto_dispatch=False)
    app.bot_data["per_chat_interval"] = 0.0
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    return Bot(app, api, store)


async def latency(bot: Bot, requests: int) -> list[Figure]:
    """p50/p95 of /summary (a leader) and /mytasks (a contact) round trips."""
    figures: list[Figure] = []
    for user_id, command in ((LEADER, "summary"), (CONTACT, "mytasks")):
        for _ in range(WARM_UP):
            await bot.round_trip(user_id, command)
        async with LoopLag() as lag:
            seconds = [await bot.round_trip(user_id, command) for _ in range(requests)]
        figures += [
            figure(f"/{command} round trip p50 ({requests} requests)",
                   percentile(seconds, 50) * 1000, "ms"),
            figure(f"/{command} round trip p95", percentile(seconds, 95) * 1000, "ms"),
            figure(f"/{command} round trip max", max(seconds) * 1000, "ms"),
            figure(f"/{command}: longest event-loop stall", lag.worst * 1000, "ms"),
        ]
    return figures


def enrol_fanout(bot: Bot, timetable: Timetable, count: int) -> list[int]:
    """``count`` contacts over all units, known to the stand-in and enrolled in the store."""
    chats: list[int] = []
    for unit_id, ids in contacts_by_unit(timetable, count, FIRST_FANOUT_ID).items():
        for telegram_id in ids:
            bot.api.add_user(telegram_id, f"联络员{telegram_id}", "zh-hans")
            bot.store.add_person(telegram_id, f"联络员{telegram_id}", "contact", unit_id,
                                 "zh_Hans", NOW)
            chats.append(telegram_id)
    return chats


def leave_one_due_per_chat(store: Store, at: dt.datetime, chats: Sequence[int]) -> int:
    """Skip every pending row due by ``at`` except the first of each chat in ``chats``.

    Setup, not measured: one Core UPDATE. Returns how many rows stay due.
    """
    wanted = set(chats)
    keep: dict[int, int] = {}
    drop: list[int] = []
    for row in store.due_deliveries(at):
        assert row.id is not None
        if row.chat_id in wanted and row.chat_id not in keep:
            keep[row.chat_id] = row.id
        else:
            drop.append(row.id)
    with store.engine.begin() as connection:
        for first in range(0, len(drop), 500):
            connection.execute(update(Reminder)
                               .where(col(Reminder.id).in_(drop[first:first + 500]))
                               .values(state="skipped", reason="benchmark: one per chat"))
    return len(keep)


async def fan_out(bot: Bot, at: dt.datetime, chats: Sequence[int], enforce: bool,
                  label: str) -> list[Figure]:
    """One dispatch run at ``at``; how long it took and how fast the sends went."""
    due = leave_one_due_per_chat(bot.store, at, chats)
    bot.api.enforce_limits = enforce
    sends_before = len(bot.api.send_times())
    calls_before = len(bot.api.calls("sendMessage"))
    start = time.perf_counter()
    async with LoopLag() as lag:
        report = await dispatch_due(bot.app, at)
    total = time.perf_counter() - start
    times = bot.api.send_times()[sends_before:]
    calls = bot.api.calls("sendMessage")[calls_before:]
    too_many = sum(1 for call in calls if call.status == 429)
    window = (times[-1] - times[0]) if len(times) > 1 else 0.0
    max_rate = _max_rate(sorted(times))
    # When the stand-in enforces the limit, sends beyond it are refused, not recorded: the
    # figure then says nothing about the app's pacing, and the 429 count does.
    pacing = (info(f"{label}: max sends in any 1 s", f"{max_rate} msgs/s") if enforce else
              figure(f"{label}: max sends in any 1 s", max_rate, "msgs/s", at_most=MAX_RATE,
                     digits=0))
    return [
        info(f"{label}: reminders due / sent / failed / retried",
             f"{due} / {len(report.sent)} / {len(report.failed)} / {len(report.retried)}"),
        figure(f"{label}: dispatch_due total", total, "s", digits=2),
        figure(f"{label}: first to last send", window, "s", digits=2),
        pacing,
        figure(f"{label}: throughput (sent / total)", len(times) / total, "msgs/s"),
        info(f"{label}: 429 answers from the stand-in", too_many),
        figure(f"{label}: longest event-loop stall", lag.worst * 1000, "ms"),
    ]


async def idle_dispatch(bot: Bot, after: dt.datetime) -> list[Figure]:
    """The run every minute when nothing is due, and the hourly one that re-plans too."""
    seconds: list[float] = []
    async with LoopLag() as lag:
        for minute in range(1, IDLE_RUNS + 1):
            start = time.perf_counter()
            await dispatch_due(bot.app, after + dt.timedelta(minutes=minute))
            seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        await dispatch_due(bot.app, after + dt.timedelta(hours=2))
        hourly = time.perf_counter() - start
    return [
        figure(f"dispatch_due, nothing due (every minute), median of {IDLE_RUNS}",
               median_ms(seconds), "ms"),
        figure("dispatch_due, nothing due, re-planning (hourly)", hourly * 1000, "ms"),
        figure("idle dispatch runs: longest event-loop stall", lag.worst * 1000, "ms"),
    ]


def _max_rate(times: Sequence[float]) -> int:
    """Most of ``times`` (sorted seconds) within any one second."""
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def run(backend: str, quick: bool) -> list[Figure]:
    """Start the bot on a fresh database of ``backend`` and measure."""
    requests = 20 if quick else 50
    fanout = 100 if quick else 300
    rss_after_imports = max_rss_mib()
    timetable = load_timetable(TASKS_PATH)
    with migrated_store(backend) as store:
        # No "done" in the fixture, so that no reminder is skipped as finished.
        load_fixture_elsewhere(store.url, CYCLES, 20, statuses=("in_progress", "blocked"))
        async with BotApiStandIn() as api:
            api.add_bot(TOKEN, "duban_bench_bot", 123456)
            for user_id, name in ((ADMIN, "管理员"), (LEADER, "李组长"), (CONTACT, "王芳")):
                api.add_user(user_id, name, "zh-hans")
            bot = await start_bot(api, store, timetable)
            rss_after_start = max_rss_mib()
            try:
                store.add_person(LEADER, "李组长", "leader", None, "zh_Hans", NOW)
                store.add_person(CONTACT, "王芳", "contact", CONTACT_UNIT, "zh_Hans", NOW)
                figures = [info("database", f"{backend}, 88,400 reports over 5 cycles"),
                           figure("max RSS after imports", rss_after_imports, "MiB"),
                           figure("max RSS after start (bot + stand-in, one process)",
                                  rss_after_start, "MiB")]
                figures += await latency(bot, requests)
                chats = enrol_fanout(bot, timetable, fanout)
                await dispatch_due(bot.app, PLAN_AT)  # plans the cycle; nothing is due yet
                figures += await fan_out(bot, FANOUT_AT[0], chats, False,
                                         f"fan-out of {fanout}, stand-in recording")
                figures += await fan_out(bot, FANOUT_AT[1], chats, True,
                                         f"fan-out of {fanout}, stand-in enforcing limits")
                figures += await idle_dispatch(bot, FANOUT_AT[1])
                figures.append(figure("max RSS at the end", max_rss_mib(), "MiB"))
            finally:
                await bot.app.shutdown()
    return figures


def main() -> None:
    """Parse the options, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite",
                        help="the database (default: sqlite, a temporary file)")
    add_common_options(parser)
    options = parser.parse_args()
    print_environment()
    record = Record("bench_bot", options)
    tally = LogTally()
    logging.basicConfig(handlers=[tally], level=logging.WARNING, force=True)
    figures = asyncio.run(run(options.backend, options.quick))
    figures.append(info("warnings and errors logged", sum(tally.seen.values())))
    for line, count in tally.seen.most_common():
        print(f"  {count:4} x {line}")
    finish(record, f"bench_bot — {options.backend}", figures)


if __name__ == "__main__":
    main()
