"""Fan-out: reminders to thousands of private chats at Telegram's limits, next to bare PTB.

The real dispatcher (``bot.reminders.dispatch_due`` of the application ``build_application``
makes, with its own rate limiter) sends one instant's reminders to N contacts' private chats
through the Bot API stand-in, which runs in a process of its own (``bench/standin_process.py``)
so that this process's CPU time and memory are the bot's. Run from the repository root::

    python -m bench.bench_fanout            # 2,000 chats; growth 200 -> 2,000 -> 20,000
    python -m bench.bench_fanout --quick    # 30 chats, one run each: that it runs (CI)
    python -m bench.bench_fanout --size 1000 --growth ""   # 1,000 chats, no growth runs
    python -m bench.bench_fanout --growth "" --ceiling-only  # the dispatcher's ceiling only

Each run is a fresh instant of the shipped timetable's reminders (the instants of 2024 at which
every unit is reminded), on a SQLite database holding N contacts dealt over the 34 units: each
chat is due exactly one message (its due tasks in one reminder), older rows are skipped first.

1. **At Telegram's limits**: the stand-in enforces 30 sends a second overall and about one a
   second per private chat (burst 3), answering 429 beyond. Figures: the rate from the first to
   the last send as the stand-in logged them (target >= 27/s, 90 % of the limit), 429 answers,
   chats that got nothing (lost) or more than one (duplicated), the most sends in any one
   second, CPU ms per send (this process: the dispatcher, PTB, the database), the peak RSS during
   the run. In the same run, a **bare PTB** sender (``Bot.send_message`` to every chat at once
   through ``AIORateLimiter(max_retries=10)``, another bot token on the same stand-in) sends a
   reminder-sized text to the same chats: its rate, 429s, CPU ms per send; ratio duban / bare.
2. **Ceiling**: limits off on both sides (``rate_limit=False``, ``max_send_rate`` unlimited, the
   stand-in only recording): how fast the dispatcher itself can go (target >= 300/s).
3. **Growth**: the ceiling run and its peak RSS at 200, 2,000 and 20,000 contacts (20,000 in full
   mode only, one run: it plans 100,000 deliveries first).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy import update
from sqlmodel import col
from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, Defaults

from bench.common import (
    SHANGHAI,
    TASKS_PATH,
    Figure,
    Record,
    add_common_options,
    bench_database,
    concrete_units,
    contacts_by_unit,
    enrol_contacts,
    figure,
    finish,
    info,
    median_figure,
    peak_rss_mib,
    print_environment,
    reset_peak_rss,
)
from bench.standin_process import RemoteStandIn
from bot.app import CONNECTIONS, POOL_WAIT_SECONDS, build_application
from bot.reminders import MAX_SEND_RATE, dispatch_due
from bot.settings import Settings
from bot_api_standin import RateLimits
from schedules.calendar import WorkingDayCalendar
from schedules.clock import FrozenClock
from schedules.delivery import NO_CONTACT_CHAT
from schedules.loader import load_timetable
from schedules.model import Timetable
from schedules.planning import plan_reminders
from storage import Reminder, Store

TOKEN = "123456:BENCH-duban-fanout"
BARE_TOKEN = "654321:BENCH-bare-ptb"
ADMIN = 1000
FIRST_CONTACT = 100_000
YEAR = 2024
PLAN_AT = dt.datetime(YEAR, 10, 1, 9, 0, tzinfo=SHANGHAI)
RATE_TARGET = 27.0
CEILING_TARGET = 300.0
BARE_TEXT = ("⏰ <b>督办提醒</b>\n"
             + "15. 推进重点领域节能降碳 — 截止 2024年12月1日，还剩 7 天\n" * 4
             + "请回复：✅ 已完成 · 🔄 进行中 · ⛔ 受阻")


@dataclass
class Sends:
    """What the stand-in logged of one bot's sends to the chats of one run."""

    rate: float
    sent: int
    lost: int
    duplicated: int
    too_many: int
    max_in_1s: int
    errors: dict[str, int]
    window: float


def tally(logged: dict[str, Any], chats: set[int]) -> Sends:
    """Sends to ``chats`` from :func:`bench.standin_process._sends_since`'s answer."""
    ok: dict[int, list[float]] = {int(chat): times for chat, times in logged["ok"].items()}
    times = sorted(t for chat, ts in ok.items() if chat in chats for t in ts)
    window = times[-1] - times[0] if len(times) > 1 else 0.0
    return Sends(rate=(len(times) - 1) / window if window else float("nan"), sent=len(times),
                 lost=sum(1 for chat in chats if chat not in ok),
                 duplicated=sum(1 for chat in chats if len(ok.get(chat, ())) > 1),
                 too_many=logged["too_many"], max_in_1s=logged["max_in_1s"],
                 errors=logged["errors"], window=window)


def instants(timetable: Timetable) -> list[dt.datetime]:
    """The instants of :data:`YEAR` at which every unit is due a reminder, in order."""
    units = set(concrete_units(timetable))
    by_instant: dict[dt.datetime, set[str]] = defaultdict(set)
    for planned in plan_reminders(timetable, YEAR, WorkingDayCalendar()):
        if planned.unit_id:
            by_instant[planned.at].add(planned.unit_id)
    return sorted(at for at, due in by_instant.items() if due >= units)


def skip_older(store: Store, at: dt.datetime) -> None:
    """Setup: skip the pending rows due before ``at`` (one UPDATE), so that each chat is due
    exactly the message of ``at``."""
    with store.engine.begin() as connection:
        connection.execute(update(Reminder).where(col(Reminder.due_at) < at,
                                                  col(Reminder.state) == "pending")
                           .values(state="skipped", reason="benchmark: an earlier instant"))


def build(remote: RemoteStandIn, url: str, timetable: Timetable, limited: bool) -> Application:
    """The duban application on ``url``: with its rate limiter, or with every limit off."""
    settings = Settings(telegram_bot_token=SecretStr(TOKEN), telegram_api_base_url=remote.base_url,
                        telegram_file_base_url=remote.base_file_url, database_url=url,
                        admins=(ADMIN,), dispatch_interval_seconds=3600)
    app = build_application(settings, timetable=timetable, store=Store(url),
                            clock=FrozenClock(PLAN_AT), auto_dispatch=False, rate_limit=limited)
    if not limited:
        app.bot_data["max_send_rate"] = 1_000_000
        app.bot_data["per_chat_interval"] = 0.0
    return app


async def start(app: Application) -> None:
    """Initialise as ``duban run`` does, minus polling and the job."""
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)


async def stop(app: Application) -> None:
    """Shut down and close the store."""
    await app.shutdown()
    app.bot_data["services"].store.close()


async def duban_run(app: Application, remote: RemoteStandIn, at: dt.datetime
                    ) -> tuple[Sends, float, float, float, int]:
    """One dispatch at ``at``: the sends, CPU ms per send, peak RSS (MiB), total seconds, and
    how many chats were due."""
    store: Store = app.bot_data["services"].store
    skip_older(store, at)
    # a unit without a contact is planned to chat 0 (NO_CONTACT_CHAT) and skipped, never sent
    chats = {row.chat_id for row in store.due_deliveries(at)} - {NO_CONTACT_CHAT}
    mark = await remote.acall("mark")
    reset_peak_rss()
    cpu = time.process_time()
    start_at = time.perf_counter()
    await dispatch_due(app, at)
    total = time.perf_counter() - start_at
    cpu = time.process_time() - cpu
    peak = peak_rss_mib()
    sends = tally(await remote.acall("sends_since", mark, TOKEN), chats)
    return sends, cpu * 1000 / max(sends.sent, 1), peak, total, len(chats)


async def bare_run(remote: RemoteStandIn, chats: Sequence[int]) -> tuple[Sends, float]:
    """The bare PTB sender to ``chats`` at once: the sends and CPU ms per send."""
    bare = (ApplicationBuilder().token(BARE_TOKEN).base_url(remote.base_url)
            .rate_limiter(AIORateLimiter(max_retries=10)).build())
    await bare.initialize()
    failures: Counter[str] = Counter()

    async def send(chat: int) -> None:
        try:
            await bare.bot.send_message(chat, BARE_TEXT, parse_mode="HTML")
        except TelegramError as exc:
            failures[type(exc).__name__] += 1

    mark = await remote.acall("mark")
    cpu = time.process_time()
    try:
        await asyncio.gather(*(send(chat) for chat in chats))
    finally:
        cpu = time.process_time() - cpu
        await bare.shutdown()
    sends = tally(await remote.acall("sends_since", mark, BARE_TOKEN), set(chats))
    sends.errors.update({f"raised {k}": v for k, v in failures.items()})
    return sends, cpu * 1000 / max(sends.sent, 1)


async def bare_replay(remote: RemoteStandIn, messages: Sequence[tuple[int, str, Any]]
                      ) -> tuple[Sends, float]:
    """Bare PTB sending duban's very messages of a ceiling run (each chat's text and keyboard,
    as logged) to the same chats, limits off, the way duban sends: ``CONNECTIONS`` kept-alive
    connections, at most ``MAX_SEND_RATE`` sends at once, HTML by ``Defaults``; no database,
    no claims, no records. What PTB's own request path allows for these messages: the sends
    and CPU ms per send (the keyboards are parsed before the clock starts)."""
    bare = (ApplicationBuilder().token(BARE_TOKEN).base_url(remote.base_url)
            .connection_pool_size(CONNECTIONS).pool_timeout(POOL_WAIT_SECONDS)
            .defaults(Defaults(parse_mode=ParseMode.HTML)).build())
    await bare.initialize()
    keyboards = [InlineKeyboardMarkup.de_json(json.loads(markup), bare.bot) if markup else None
                 for _, _, markup in messages]
    in_flight = asyncio.Semaphore(MAX_SEND_RATE)
    failures: Counter[str] = Counter()

    async def send(chat: int, text: str, keyboard: InlineKeyboardMarkup | None) -> None:
        async with in_flight:
            try:
                await bare.bot.send_message(chat, text, reply_markup=keyboard)
            except TelegramError as exc:
                failures[type(exc).__name__] += 1

    mark = await remote.acall("mark")
    cpu = time.process_time()
    try:
        await asyncio.gather(*(send(chat, text, keyboard)
                               for (chat, text, _), keyboard in zip(messages, keyboards,
                                                                    strict=True)))
    finally:
        cpu = time.process_time() - cpu
        await bare.shutdown()
    sends = tally(await remote.acall("sends_since", mark, BARE_TOKEN),
                  {chat for chat, _, _ in messages})
    sends.errors.update({f"raised {k}": v for k, v in failures.items()})
    return sends, cpu * 1000 / max(sends.sent, 1)


async def measure_size(count: int, limited_runs: int, ceiling_runs: int, timetable: Timetable,
                       record: Record) -> list[Figure]:
    """Enrol ``count`` contacts on a fresh database; limited runs (with bare PTB), ceiling runs."""
    figures: list[Figure] = []
    pool = instants(timetable)
    if limited_runs + ceiling_runs > len(pool):
        raise ValueError(f"{limited_runs + ceiling_runs} runs need as many instants; "
                         f"{YEAR} has {len(pool)}")
    contacts = contacts_by_unit(timetable, count, FIRST_CONTACT)
    everyone = [telegram_id for ids in contacts.values() for telegram_id in ids]
    with bench_database("sqlite") as url, RemoteStandIn(limits=RateLimits()) as remote:
        remote.call("add_bot", TOKEN, "duban_fanout_bot", 123456)
        remote.call("add_bot", BARE_TOKEN, "bare_ptb_bot", 654321)
        remote.call("add_user", ADMIN, "管理员", "zh-hans")
        for first in range(0, len(everyone), 5000):
            remote.call("add_users", everyone[first:first + 5000])
        setup = Store(url)
        setup.upgrade()
        setup.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], PLAN_AT)
        enrol_contacts(setup, contacts, PLAN_AT)
        setup.close()
        runs: dict[str, list[Any]] = {"limited": [], "bare": [], "ceiling": [], "replay": []}
        if limited_runs:
            remote.call("set_limits", True)
            app = build(remote, url, timetable, limited=True)
            await start(app)
            planned = time.perf_counter()
            await dispatch_due(app, PLAN_AT)  # plans the year; nothing is due yet
            planned = time.perf_counter() - planned
            try:
                for at in pool[:limited_runs]:
                    result = await duban_run(app, remote, at)
                    runs["limited"].append(result)
                    runs["bare"].append(await bare_run(remote, sorted(everyone)))
                    remote.call("forget")
                    await asyncio.sleep(1.5)  # the stand-in's per-chat buckets refill
            finally:
                await stop(app)
            figures.append(info(f"{count:,} contacts: first dispatch, planning the year "
                                "(not a target)", f"{planned:.1f} s"))
        if ceiling_runs:
            remote.call("set_limits", False)
            app = build(remote, url, timetable, limited=False)
            await start(app)
            try:
                if not limited_runs:
                    await dispatch_due(app, PLAN_AT)
                for at in pool[limited_runs:limited_runs + ceiling_runs]:
                    mark = await remote.acall("mark")
                    runs["ceiling"].append(await duban_run(app, remote, at))
                    sent = await remote.acall("messages_since", mark, TOKEN)
                    runs["replay"].append(await bare_replay(remote, sent))
                    remote.call("forget")
            finally:
                await stop(app)
    label = f"{count:,} chats"
    if runs["limited"]:
        duban = [r[0] for r in runs["limited"]]
        bare = [r[0] for r in runs["bare"]]
        ratios = [d.rate / b.rate for d, b in zip(duban, bare, strict=True)]
        record.ratio(f"{label}: duban rate / bare PTB rate (median of runs)",
                     statistics.median(ratios))
        due = runs["limited"][0][4]
        figures += [
            info(f"{label} at Telegram's limits: chats due one message each", f"{due:,}"),
            median_figure(f"{label}, limits enforced: duban rate, first to last send",
                          [s.rate for s in duban], "msgs/s", at_least=RATE_TARGET),
            figure(f"{label}, limits enforced: duban 429 answers (all runs)",
                   sum(s.too_many for s in duban), "", at_most=0, digits=0),
            figure(f"{label}, limits enforced: duban lost (all runs)",
                   sum(s.lost for s in duban), "", at_most=0, digits=0),
            figure(f"{label}, limits enforced: duban duplicated (all runs)",
                   sum(s.duplicated for s in duban), "", at_most=0, digits=0),
            info(f"{label}, limits enforced: duban most sends in any 1 s, per run",
                 ", ".join(str(s.max_in_1s) for s in duban)),
            median_figure(f"{label}, limits enforced: duban CPU per send",
                          [r[1] for r in runs["limited"]], "ms", digits=2),
            median_figure(f"{label}, limits enforced: duban dispatch_due total",
                          [r[3] for r in runs["limited"]], "s", digits=2),
            median_figure(f"{label}, limits enforced: peak RSS during the fan-out",
                          [r[2] for r in runs["limited"]], "MiB"),
            median_figure(f"{label}, limits enforced: bare PTB + AIORateLimiter rate",
                          [s.rate for s in bare], "msgs/s"),
            info(f"{label}, limits enforced: bare PTB 429 answers, per run",
                 ", ".join(str(s.too_many) for s in bare)),
            info(f"{label}, limits enforced: bare PTB lost / duplicated (all runs)",
                 f"{sum(s.lost for s in bare)} / {sum(s.duplicated for s in bare)}"),
            info(f"{label}, limits enforced: bare PTB most sends in any 1 s, per run",
                 ", ".join(str(s.max_in_1s) for s in bare)),
            median_figure(f"{label}, limits enforced: bare PTB CPU per send",
                          [r[1] for r in runs["bare"]], "ms", digits=2),
            info(f"{label}: duban rate / bare PTB rate (median of the runs' ratios)",
                 f"{statistics.median(ratios):.2f}"),
        ]
        errors = Counter[str]()
        for sends in duban + bare:
            errors.update(sends.errors)
        if errors:
            figures.append(info(f"{label}: other answers", dict(errors)))
    if runs["ceiling"]:
        ceiling = [r[0] for r in runs["ceiling"]]
        replay = [r[0] for r in runs["replay"]]
        replay_ratios = [d.rate / b.rate for d, b in zip(ceiling, replay, strict=True)]
        record.ratio(f"{label}, limits off: duban ceiling / bare PTB sending the same messages "
                     "(median of runs)", statistics.median(replay_ratios))
        figures += [
            median_figure(f"{label}, limits off: duban ceiling, first to last send",
                          [s.rate for s in ceiling], "msgs/s", at_least=CEILING_TARGET),
            info(f"{label}, limits off: sent / lost / duplicated (all runs)",
                 f"{sum(s.sent for s in ceiling):,} / {sum(s.lost for s in ceiling)} / "
                 f"{sum(s.duplicated for s in ceiling)}"),
            median_figure(f"{label}, limits off: CPU per send", [r[1] for r in runs["ceiling"]],
                          "ms", digits=2),
            median_figure(f"{label}, limits off: dispatch_due total",
                          [r[3] for r in runs["ceiling"]], "s", digits=2),
            median_figure(f"{label}, limits off: peak RSS during the fan-out",
                          [r[2] for r in runs["ceiling"]], "MiB"),
            median_figure(f"{label}, limits off: bare PTB sending duban's very messages, "
                          "first to last send", [s.rate for s in replay], "msgs/s"),
            median_figure(f"{label}, limits off: bare PTB sending them, CPU per send",
                          [r[1] for r in runs["replay"]], "ms", digits=2),
            info(f"{label}, limits off: duban ceiling / bare PTB sending the same messages "
                 "(median of the runs' ratios)", f"{statistics.median(replay_ratios):.2f}"),
        ]
    record.extra.setdefault("runs", {})[count] = {
        kind: [{"rate": r[0].rate, "sent": r[0].sent, "lost": r[0].lost,
                "duplicated": r[0].duplicated, "too_many": r[0].too_many,
                "max_in_1s": r[0].max_in_1s, "cpu_ms_per_send": r[1],
                **({"peak_rss_mib": r[2], "total_s": r[3]} if len(r) > 2 else {})}
               for r in results] for kind, results in runs.items()}
    return figures


async def run(options: argparse.Namespace, record: Record) -> list[Figure]:
    """Every size: the main one with limits and bare PTB, the others at the ceiling."""
    timetable = load_timetable(TASKS_PATH)
    runs = 1 if options.quick else max(options.runs, 3)  # quick: that it runs (CI)
    main_size = options.size or (30 if options.quick else 2000)
    figures = await measure_size(main_size, 0 if options.ceiling_only else runs, runs,
                                 timetable, record)
    growth = [] if options.quick else [int(n) for n in options.growth.split(",") if n]
    for size in growth:
        if size != main_size:
            figures += await measure_size(size, 0, runs if size <= 2000 else 1, timetable,
                                          record)
    return figures


def main() -> None:
    """Parse the options, measure, write the record, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--growth", default="200,20000",
                        help="other numbers of contacts, at the ceiling only (default 200,20000; "
                             "none with --quick); above 2,000 one run each")
    parser.add_argument("--size", type=int, default=0,
                        help="contacts of the main run, at the limits and the ceiling "
                             "(default 2,000; 30 with --quick)")
    parser.add_argument("--ceiling-only", action="store_true",
                        help="the main size's ceiling runs only (limits off): no runs at the "
                             "limits, no bare PTB sender")
    add_common_options(parser)
    options = parser.parse_args()
    print_environment()
    logging.basicConfig(level=logging.ERROR)
    record = Record("bench_fanout", options)
    finish(record, "bench_fanout — reminders at Telegram's limits", asyncio.run(run(options,
                                                                                     record)))


if __name__ == "__main__":
    main()
