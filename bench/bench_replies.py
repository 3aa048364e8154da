"""Replies: status reports from hundreds of people end to end, next to a bare PTB echo bot.

Each report goes the whole way: the Bot API stand-in (a process of its own,
``bench/standin_process.py``) holds a person's ``/report 7 进行中 60%``, the bot fetches it with
``getUpdates`` (PTB's long polling, as ``duban run``), its handler stores the report (committed)
and answers the person. Run from the repository root::

    python -m bench.bench_replies            # 5,000 reports from 500 people, both backends
    python -m bench.bench_replies --quick    # 50 reports from 5 people, one run: that it runs

Throughput: all reports are put in the stand-in at once (10 per person), then the time from
the first to the last answer (the stand-in's clock) gives reports per second. In the same run a
**bare PTB echo bot** (``ApplicationBuilder`` with PTB's defaults and one ``MessageHandler``
that answers each text with itself, quoting it) gets the same messages. Both pairings:

* **with rate limiters**: duban's own limiter, ``AIORateLimiter(max_retries=10)`` for the echo
  bot; the stand-in enforces Telegram's limits (30/s overall, about 1/s per chat, 429 beyond).
  Both are then bound by Telegram's 30/s: 5,000 would take 3 minutes per bot per run, so this
  pairing answers ``--limited-reports`` (1,500 from 150 people by default, full mode).
* **without**: no limiter on either side (``rate_limit=False``) and the stand-in only records.

Target: duban / echo >= 0.5 in both pairings; every report stored exactly once (counted in
the database by the person and message it came from); CPU ms per answer of each.

Latency during a fan-out (SQLite, limits on): 2,000 contacts are due a reminder at one instant;
while ``dispatch_due`` sends them, 200 other contacts each send one ``/report`` at a steady
rate; the time from a report entering the stand-in to its answer: p50 and p95 (target < 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import statistics
import time
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select, tuple_, update
from sqlmodel import col
from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, MessageHandler, filters

from bench.common import (
    BACKENDS,
    SHANGHAI,
    TASKS_PATH,
    Figure,
    Record,
    add_common_options,
    bench_database,
    contacts_by_unit,
    enrol_contacts,
    figure,
    finish,
    info,
    median_figure,
    percentile,
    print_environment,
)
from bench.standin_process import RemoteStandIn
from bot.app import build_application
from bot.reminders import dispatch_due
from bot.settings import Settings
from bot_api_standin import RateLimits
from schedules.clock import FrozenClock
from schedules.loader import load_timetable
from schedules.model import DeadlineKind, Role, Timetable
from storage import Reminder, StatusReport, Store

TOKEN = "123456:BENCH-duban-replies"
ECHO_TOKEN = "777777:BENCH-echo-ptb"
ADMIN = 1000
FIRST_REPORTER = 200_000
FIRST_FANOUT = 300_000
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
PLAN_AT = dt.datetime(2026, 10, 1, 9, 0, tzinfo=SHANGHAI)
FANOUT_AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
PER_PERSON = 10
RATIO_TARGET = 0.5
LATENCY_TARGET_S = 2.0
STATUSES = ("进行中 40%", "进行中 60%", "受阻 等待资金下达", "进行中 80% 已完成招标")


def reports_for(timetable: Timetable, contacts: dict[str, list[int]], per_person: int
                ) -> list[tuple[int, str]]:
    """``per_person`` ``/report`` texts from each contact, on annual tasks their unit leads or
    shares (a cooperating unit's input would also notify the lead unit), round robin. Each
    text ends with its own note (第N次), so that none repeats the same person's earlier one:
    duban rightly stores a repeat within a minute once, and "stored exactly once" must count
    losses only (a fresh audit found 4,500 of 5,000 texts repeating per person)."""
    messages: list[list[tuple[int, str]]] = []
    for unit_id, ids in contacts.items():
        tasks = [task.id for task, duty in timetable.tasks_for_unit(unit_id)
                 if duty.role in (Role.LEAD, Role.JOINT)
                 and task.deadline.kind is DeadlineKind.ANNUAL]
        if not tasks:
            continue
        for telegram_id in ids:
            messages.append([(telegram_id, f"/report {tasks[(telegram_id + i) % len(tasks)]} "
                                           f"{STATUSES[i % len(STATUSES)]} 第{i + 1}次")
                             for i in range(per_person)])
    # Interleaved: each person's reports are spread over the batch, as people write.
    return [batch[i] for i in range(per_person) for batch in messages]


def reporters(timetable: Timetable, count: int, first: int) -> dict[str, list[int]]:
    """``count`` contacts over the units that lead or share an annual task."""
    units = [unit_id for unit_id in contacts_by_unit(timetable, 1000, 0)
             if any(duty.role in (Role.LEAD, Role.JOINT)
                    and task.deadline.kind is DeadlineKind.ANNUAL
                    for task, duty in timetable.tasks_for_unit(unit_id))]
    found: dict[str, list[int]] = {unit: [] for unit in units}
    for index in range(count):
        found[units[index % len(units)]].append(first + index)
    return found


def duban_app(remote: RemoteStandIn, url: str, timetable: Timetable, limited: bool
              ) -> Application:
    """The duban application on ``url``, with its own limiter or none."""
    settings = Settings(telegram_bot_token=SecretStr(TOKEN), telegram_api_base_url=remote.base_url,
                        telegram_file_base_url=remote.base_file_url, database_url=url,
                        admins=(ADMIN,), dispatch_interval_seconds=3600)
    return build_application(settings, timetable=timetable, store=Store(url),
                             clock=FrozenClock(NOW), auto_dispatch=False, rate_limit=limited)


def echo_app(remote: RemoteStandIn, limited: bool) -> Application:
    """The bare PTB echo bot: defaults, one handler; ``AIORateLimiter`` if ``limited``."""
    builder = ApplicationBuilder().token(ECHO_TOKEN).base_url(remote.base_url)
    if limited:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=10))
    app = builder.build()

    async def echo(update: Update, context: Any) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text, do_quote=True)

    app.add_handler(MessageHandler(filters.TEXT, echo))
    return app


async def polling(app: Application, duban: bool) -> None:
    """Start ``app`` as ``run_polling`` does (duban: with its post_init)."""
    await app.initialize()
    if duban:
        assert app.post_init is not None
        await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1,
                                    allowed_updates=Update.ALL_TYPES)
    await app.start()


async def stopped(app: Application, duban: bool) -> None:
    """Stop polling and shut down (duban: close its store)."""
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()
    if duban:
        app.bot_data["services"].store.close()


ANSWER_IDLE_S = 60.0
"""A run's wait ends when no new answer came for this long: the bot stopped answering (what is
still unanswered then is lost, not late)."""
ANSWER_CAP_S = 3600.0
"""The longest a run waits in all."""


async def answered(remote: RemoteStandIn, sent: Sequence[tuple[int, int, float]], token: str,
                   idle: float = ANSWER_IDLE_S, cap: float = ANSWER_CAP_S
                   ) -> list[float | None]:
    """Wait until every injected message has its answer, or no new answer came for ``idle``
    seconds, or ``cap`` seconds in all; each answer's time (None: unanswered).

    The wait follows the answers, not the clock: a run slowed down by the machine (a fixed wait
    of 60 s + 0.2 s a message once ended a PostgreSQL run at 3.4 answers a second with 1,423
    late answers counted as missing) is waited for as long as it answers."""
    start = last = time.monotonic()
    count = -1
    while True:
        answers = await remote.acall("answers", list(sent), token)
        got = sum(1 for a in answers if a is not None)
        now = time.monotonic()
        if got > count:
            count, last = got, now
        if got == len(answers) or now - last > idle or now - start > cap:
            return answers
        await asyncio.sleep(0.25)


async def throughput(remote: RemoteStandIn, app: Application, duban: bool,
                     messages: list[tuple[int, str]], token: str
                     ) -> tuple[float, float, int, list[tuple[int, int, float]]]:
    """Inject ``messages`` at once for ``app``; answers per second (first injection to last
    answer), CPU ms per answer, how many went unanswered, and what was injected."""
    await polling(app, duban)
    try:
        cpu = time.process_time()
        sent = await remote.acall("inject", messages, token)
        answers = await answered(remote, sent, token)
        cpu = time.process_time() - cpu
    finally:
        await stopped(app, duban)
    got = [a for a in answers if a is not None]
    window = max(got) - sent[0][2] if got else float("nan")
    return len(got) / window, cpu * 1000 / max(len(got), 1), len(answers) - len(got), sent


def stored_once(url: str, messages: Sequence[tuple[int, int, float]]) -> tuple[int, int]:
    """Of the injected ``(person, message id, time)``: how many are stored, and how many more
    than once."""
    store = Store(url)
    try:
        wanted = [(person, message_id) for person, message_id, _ in messages]
        counts: dict[tuple[int, int], int] = {}
        with store.engine.connect() as connection:
            for first in range(0, len(wanted), 500):
                key = tuple_(col(StatusReport.reporter_telegram_id),
                             col(StatusReport.source_message_id))
                rows = connection.execute(
                    select(col(StatusReport.reporter_telegram_id),
                           col(StatusReport.source_message_id), func.count())
                    .where(key.in_(wanted[first:first + 500]))
                    .group_by(col(StatusReport.reporter_telegram_id),
                              col(StatusReport.source_message_id)))
                counts.update({(r[0], r[1]): r[2] for r in rows})
        return len(counts), sum(1 for c in counts.values() if c > 1)
    finally:
        store.close()


async def pairing(backend: str, limited: bool, people: int, runs: int, timetable: Timetable,
                  record: Record) -> list[Figure]:
    """duban and the echo bot, ``runs`` times each on the same stand-in and messages."""
    contacts = reporters(timetable, people, FIRST_REPORTER)
    everyone = [person for ids in contacts.values() for person in ids]
    messages = reports_for(timetable, contacts, PER_PERSON)
    mode = "with rate limiters" if limited else "without rate limiters"
    label = f"{backend}, {mode}, {len(messages):,} reports from {people}"
    duban_rates, echo_rates, duban_cpu, echo_cpu, ratios = [], [], [], [], []
    unanswered = stored = twice = 0
    injected: list[tuple[int, int, float]] = []
    with bench_database(backend) as url, RemoteStandIn(enforce_limits=limited,
                                                       limits=RateLimits()) as remote:
        remote.call("add_bot", TOKEN, "duban_replies_bot", 123456)
        remote.call("add_bot", ECHO_TOKEN, "echo_ptb_bot", 777777)
        remote.call("add_user", ADMIN, "管理员", "zh-hans")
        remote.call("add_users", everyone)
        setup = Store(url)
        setup.upgrade()
        setup.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], NOW)
        enrol_contacts(setup, contacts, NOW)
        setup.close()
        for _ in range(runs):
            rate, cpu, missing, sent = await throughput(
                remote, duban_app(remote, url, timetable, limited), True, messages, TOKEN)
            injected += sent
            duban_rates.append(rate)
            duban_cpu.append(cpu)
            unanswered += missing
            remote.call("forget")
            await asyncio.sleep(2 if limited else 0)  # per-chat buckets refill
            echo_rate, cpu, missing, _ = await throughput(remote, echo_app(remote, limited),
                                                          False, messages, ECHO_TOKEN)
            echo_rates.append(echo_rate)
            echo_cpu.append(cpu)
            ratios.append(rate / echo_rate)
            remote.call("forget")
            await asyncio.sleep(2 if limited else 0)
        stored, twice = stored_once(url, injected)
    record.ratio(f"{label}: duban / echo (median of runs)", statistics.median(ratios))
    return [
        median_figure(f"{label}: duban answers", duban_rates, "reports/s"),
        median_figure(f"{label}: bare PTB echo answers", echo_rates, "msgs/s"),
        figure(f"{label}: duban / echo (median of the runs' ratios)", statistics.median(ratios),
               "", at_least=RATIO_TARGET, digits=2),
        median_figure(f"{label}: duban CPU per answer", duban_cpu, "ms", digits=2),
        median_figure(f"{label}: echo CPU per answer", echo_cpu, "ms", digits=2),
        figure(f"{label}: reports not stored exactly once (all runs)",
               runs * len(messages) - stored + twice, "", at_most=0, digits=0),
        info(f"{label}: unanswered, no answer for {ANSWER_IDLE_S:g} s (all runs, both bots)",
             unanswered),
    ]


async def latency_during_fanout(backend: str, fanout: int, people: int, rate: float,
                                timetable: Timetable, record: Record) -> list[Figure]:
    """Reports answered while ``fanout`` reminders go out: p50 / p95 from entering the
    stand-in to the answer."""
    reminded = contacts_by_unit(timetable, fanout, FIRST_FANOUT)
    contacts = reporters(timetable, people, FIRST_REPORTER)
    messages = reports_for(timetable, contacts, 1)
    everyone = [p for ids in (*reminded.values(), *contacts.values()) for p in ids]
    with bench_database(backend) as url, RemoteStandIn(enforce_limits=True,
                                                       limits=RateLimits()) as remote:
        remote.call("add_bot", TOKEN, "duban_replies_bot", 123456)
        remote.call("add_user", ADMIN, "管理员", "zh-hans")
        for first in range(0, len(everyone), 5000):
            remote.call("add_users", everyone[first:first + 5000])
        setup = Store(url)
        setup.upgrade()
        setup.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], NOW)
        enrol_contacts(setup, reminded, NOW)
        enrol_contacts(setup, contacts, NOW)
        setup.close()
        app = duban_app(remote, url, timetable, limited=True)
        await polling(app, True)
        try:
            await dispatch_due(app, PLAN_AT)  # plans the cycle; nothing due yet
            store: Store = app.bot_data["services"].store
            reporting = {p for ids in contacts.values() for p in ids}
            with store.engine.begin() as connection:  # setup: the reporters are not reminded
                connection.execute(update(Reminder).where(
                    col(Reminder.chat_id).in_(reporting)).values(
                    state="skipped", reason="benchmark: a reporter"))
                connection.execute(update(Reminder).where(
                    col(Reminder.due_at) < FANOUT_AT, col(Reminder.state) == "pending").values(
                    state="skipped", reason="benchmark: an earlier instant"))
            due = len({row.chat_id for row in store.due_deliveries(FANOUT_AT)})
            dispatch = asyncio.create_task(dispatch_due(app, FANOUT_AT))
            await asyncio.sleep(1.0)  # the fan-out is under way
            sent = await remote.acall("inject_paced", messages, rate, TOKEN)
            answers = await answered(remote, sent, TOKEN, cap=120)
            report = await dispatch
        finally:
            await stopped(app, True)
    waits = [a - s[2] for a, s in zip(answers, sent, strict=True) if a is not None]
    label = f"{backend}, {len(messages)} reports at {rate:g}/s during a {due:,}-reminder fan-out"
    record.extra["latency"] = {"waits": waits, "sent_reminders": len(report.sent)}
    return [
        figure(f"{label}: answer p50", percentile(waits, 50), "s", digits=2),
        figure(f"{label}: answer p95", percentile(waits, 95), "s", below=LATENCY_TARGET_S,
               digits=2),
        figure(f"{label}: answer max", max(waits), "s", digits=2),
        info(f"{label}: unanswered", len(answers) - len(waits)),
        info(f"{label}: reminder rows sent by the fan-out (several per message)",
             len(report.sent)),
    ]


async def run(options: argparse.Namespace, record: Record) -> list[Figure]:
    """Both pairings on each backend, then latency during a fan-out."""
    timetable = load_timetable(TASKS_PATH)
    runs = 1 if options.quick else max(options.runs, 1)  # quick: that it runs (CI)
    backends = ("sqlite",) if options.quick else (
        BACKENDS if options.backend == "both" else (options.backend,))
    people = 5 if options.quick else options.reports // PER_PERSON
    limited_people = 3 if options.quick else options.limited_reports // PER_PERSON
    figures: list[Figure] = []
    for backend in backends:
        if people:
            figures += await pairing(backend, False, people, runs, timetable, record)
        if limited_people:
            figures += await pairing(backend, True, limited_people, runs, timetable, record)
    fanout = 30 if options.quick else options.fanout
    if fanout:
        figures += await latency_during_fanout("sqlite", fanout, 6 if options.quick else 200,
                                               2.0, timetable, record)
    return figures


def main() -> None:
    """Parse the options, measure, write the record, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument("--reports", type=int, default=5000,
                        help="reports without limiters (10 per person; default 5,000; 0: only "
                             "the pairing with limiters)")
    parser.add_argument("--limited-reports", type=int, default=1500,
                        help="reports with the limiters on (default 1,500; 0: only the pairing "
                             "without limiters)")
    parser.add_argument("--fanout", type=int, default=2000,
                        help="reminders of the fan-out during which the latency is measured "
                             "(default 2,000; 0: no latency run)")
    add_common_options(parser)
    options = parser.parse_args()
    print_environment()
    logging.basicConfig(level=logging.ERROR)
    record = Record("bench_replies", options)
    record.extra["options"] = json.loads(json.dumps(vars(options), default=str))
    finish(record, "bench_replies — status reports end to end", asyncio.run(run(options,
                                                                                 record)))


if __name__ == "__main__":
    main()
