"""Reminders exactly once, and replies ahead of a fan-out: the figures of issue 12, items 1-4.

Three scenarios, each against the local Bot API stand-in:

1. **kill -9 mid fan-out** (real ``duban run`` processes, PostgreSQL by default): N contacts
   each due one reminder message at 24 Nov 2026 09:00 (the instances' clocks are moved there
   with ``DUBAN_CLOCK_OFFSET``). While the first instance sends, a sampler compares the messages
   Telegram accepted with those recorded ``sent`` in the database: the worst gap is the
   **unrecorded sends at worst**. After a quarter, kill -9; a new instance starts at once. The
   figures: **duplicates after the kill** (chats that got two messages; bound: the in-flight
   limit, ``MAX_SEND_RATE``), seconds from the restart to its first send, and to the last.
2. **two instances, one clock 11 minutes ahead** (PostgreSQL): duplicates (target 0).
3. **reply latency during a fan-out** (in this process, the stand-in enforcing Telegram's
   limits: 30 sends in any second, one a second per chat): while ``dispatch_due`` sends to N
   contacts, another contact sends ``/mytasks`` every 0.3 s; p50 and worst round trip
   (target < 2 s), the fan-out's throughput and the stand-in's 429 answers.

Run from the repository root (``--quick``: 120 contacts for the processes, 300 for the
fan-out, instead of 400 and 1,000)::

    python -m bench.bench_dispatch [--quick] [--backend postgres|sqlite]

Prints the table last and writes a JSON record like every benchmark's
(``bench.common.Record``: ``--results DIR``, else ``$DUBAN_BENCH_RESULTS``, else
``bench/results``; the commit, the machine, the load average). Each scenario is one run of a
whole fan-out, so ``--runs`` is accepted for ``bench/run_all`` and ignored: its figures are
worst cases and counts, not medians.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import Session, col, select

from bench.common import (
    Figure,
    Record,
    add_common_options,
    figure,
    finish,
    info,
    print_environment,
)
from bot.app import build_application
from bot.reminders import MAX_SEND_RATE, dispatch_due
from bot.settings import Settings
from bot_api_standin import BotApiStandIn
from schedules.clock import FrozenClock
from storage import Reminder, Store
from tests.bot.conftest import BOT_USERNAME, TOKEN
from tests.bot.fleet import DUE, FIRST_CONTACT, Fleet, contacts_due, enrol, fleet
from tests.bot.standin_thread import running_standin
from tests.dbs import database_url, postgres_database

REPLY_FROM = 3001
REPLY_TARGET_S = 2.0


def recorded_messages(store: Store) -> int:
    """Contact chats whose reminder is recorded ``sent``."""
    with Session(store.engine) as session:
        return int(session.exec(
            select(func.count(func.distinct(Reminder.chat_id)))
            .where(Reminder.state == "sent", col(Reminder.chat_id) >= FIRST_CONTACT)).one())


@contextmanager
def sampler(bots: Fleet, store: Store) -> Iterator[list[int]]:
    """Sample (accepted - recorded) every 20 ms on a thread until the block ends."""
    gaps: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            recorded = recorded_messages(store)
            accepted = len(bots.sends())
            gaps.append(max(0, accepted - recorded))
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield gaps
    finally:
        stop.set()
        thread.join(timeout=10)


def kill_scenario(backend: str, count: int) -> tuple[list[Figure], dict[str, Any]]:
    """Scenario 1: kill -9 after a quarter, restart at once."""
    with tempfile.TemporaryDirectory() as folder, running_standin() as api, \
            database_url(backend, Path(folder)) as url, \
            fleet(api, url, Path(folder), count) as bots:
        api.add_bot(TOKEN, BOT_USERNAME, 123456)
        store = Store(url)
        try:
            first = bots.start("first")
            with sampler(bots, store) as gaps:
                bots.wait(lambda: len(bots.sends()) >= count // 4, 120, "a quarter is sent")
                Fleet.kill(first)
            killed_at = time.monotonic()
            before = len(bots.sends())
            bots.start("again")
            bots.wait(lambda: len(bots.sends()) > before, 120, "the restart sends")
            resumed = time.monotonic() - killed_at
            bots.wait(lambda: len(bots.sends()) == count, 300, "every contact has a reminder")
            finished = time.monotonic() - killed_at
        finally:
            store.close()
        sends = bots.sends()
    duplicates = sum(n - 1 for n in sends.values())
    worst = max(gaps, default=0)
    figures = [
        info(f"kill -9 ({backend}): contacts / sent before the kill", f"{count} / {before}"),
        figure(f"kill -9 ({backend}): unrecorded sends at worst", worst, "messages",
               at_most=MAX_SEND_RATE, digits=0),
        figure(f"kill -9 ({backend}): duplicates after the restart", duplicates, "messages",
               at_most=MAX_SEND_RATE, digits=0),
        figure(f"kill -9 ({backend}): restart to its first send", resumed, "s"),
        info(f"kill -9 ({backend}): kill to the last send", f"{finished:.1f} s"),
    ]
    return figures, {"contacts": count, "sent_before_kill": before,
                     "unrecorded_at_worst": worst, "duplicates": duplicates,
                     "bound": MAX_SEND_RATE, "restart_to_first_send_s": resumed,
                     "kill_to_last_send_s": finished}


def two_instances_scenario(count: int) -> tuple[list[Figure], dict[str, Any]]:
    """Scenario 2: two instances on one PostgreSQL, the second 11 minutes ahead."""
    with tempfile.TemporaryDirectory() as folder, running_standin() as api, \
            postgres_database() as url, fleet(api, url, Path(folder), count) as bots:
        api.add_bot(TOKEN, BOT_USERNAME, 123456)
        bots.start("first")
        bots.wait(lambda: len(bots.sends()) >= 5, 120, "the first one sends")
        bots.start("ahead", clock_ahead=11 * 60)
        bots.wait(lambda: len(bots.sends()) == count, 300, "every contact has a reminder")
        time.sleep(3)
        sends = bots.sends()
    duplicates = sum(n - 1 for n in sends.values())
    return ([figure("two instances, one 11 min ahead (postgres): duplicates", duplicates,
                    "messages", at_most=0, digits=0)],
            {"contacts": count, "duplicates": duplicates})


async def reply_scenario(backend: str, count: int) -> tuple[list[Figure], dict[str, Any]]:
    """Scenario 3: /mytasks round trips while a fan-out of ``count`` runs."""
    with tempfile.TemporaryDirectory() as folder, database_url(backend, Path(folder)) as url:
        store = Store(url)
        async with BotApiStandIn() as api:
            api.add_bot(TOKEN, BOT_USERNAME, 123456)
            contacts = contacts_due(count)
            enrol(store, api, contacts)
            api.add_user(REPLY_FROM, "王芳", "zh-hans")
            store.add_person(REPLY_FROM, "王芳", "contact", "ecology-environment", "zh_Hans",
                             DUE - dt.timedelta(days=30))
            clock = FrozenClock(DUE - dt.timedelta(days=60))
            settings = Settings(telegram_bot_token=SecretStr(TOKEN),
                                telegram_api_base_url=api.base_url,
                                telegram_file_base_url=api.base_file_url, database_url=url,
                                dispatch_interval_seconds=3600)
            app = build_application(settings, store=store, clock=clock, auto_dispatch=False)
            await app.initialize()
            assert app.post_init is not None
            await app.post_init(app)
            try:
                await dispatch_due(app, clock.now())  # plans; nothing due yet
                clock.set(DUE)
                api.enforce_limits = True
                calls_before = len(api.calls("sendMessage"))
                offset = 0
                seconds: list[float] = []
                start = time.perf_counter()
                run = asyncio.create_task(dispatch_due(app, DUE))
                while not run.done():
                    began = time.perf_counter()
                    sent = api.send_command(REPLY_FROM, "mytasks")
                    while not [m for m in api.bot_messages(REPLY_FROM)
                               if m["message_id"] > sent["message_id"]]:
                        for update in await app.bot.get_updates(offset=offset, timeout=0):
                            offset = update.update_id + 1
                            await app.process_update(update)
                        await asyncio.sleep(0.01)
                    seconds.append(time.perf_counter() - began)
                    await asyncio.sleep(0.3)
                report = await run
                total = time.perf_counter() - start
                calls = api.calls("sendMessage")[calls_before:]
                fan_out = [c for c in calls if c.status == 200
                           and int(c.params["chat_id"]) in contacts]
                too_many = sum(1 for c in calls if c.status == 429)
            finally:
                await app.shutdown()
        store.close()
    worst = max(seconds, default=0.0)
    rate = len(fan_out) / total if total else 0.0
    figures = [
        info(f"fan-out of {count} ({backend}): messages sent / rows", f"{len(fan_out)} / "
             f"{len(report.sent)}"),
        figure(f"fan-out of {count}: throughput", rate, "msgs/s"),
        info(f"fan-out of {count}: 429 answers", too_many),
        figure(f"/mytasks during the fan-out: p50 ({len(seconds)} requests)",
               statistics.median(seconds) if seconds else 0.0, "s", digits=2),
        figure("/mytasks during the fan-out: worst", worst, "s", below=REPLY_TARGET_S,
               digits=2),
    ]
    return figures, {"contacts": count, "messages": len(fan_out), "throughput": rate,
                     "too_many_requests": too_many, "reply_p50_s": statistics.median(seconds)
                     if seconds else None, "reply_worst_s": worst,
                     "reply_target_s": REPLY_TARGET_S}


def main() -> None:
    """Parse the options, measure, write the JSON record, print the table last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_common_options(parser, runs=1)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres",
                        help="the database of scenarios 1 and 3 (2 needs PostgreSQL)")
    options = parser.parse_args()
    print_environment()
    record = Record("bench_dispatch", options)
    processes, fan_out = (120, 300) if options.quick else (400, 1000)
    figures: list[Figure] = []
    found, record.extra["kill_9"] = kill_scenario(options.backend, processes)
    figures += found
    found, record.extra["two_instances"] = two_instances_scenario(processes)
    figures += found
    found, record.extra["reply_during_fan_out"] = asyncio.run(reply_scenario(options.backend,
                                                                             fan_out))
    figures += found
    record.extra["backend"] = options.backend
    finish(record, "bench_dispatch", figures)


if __name__ == "__main__":
    main()
