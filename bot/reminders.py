"""Reminder delivery: plan into the database, then send what is due, exactly once.

The plan (``schedules.planning``) says *when* each unit is reminded; :func:`delivery_specs` turns
it into one durable row per recipient chat (unique key: task, unit, cycle, kind, offset, chat).
A unit with no enrolled contact gets a row for chat 0, which is never sent but reported to the
admins, so nobody is skipped silently. :func:`dispatch_due` runs every minute from PTB's
JobQueue (APScheduler): it re-plans when the recipients or the timetable changed, decides what to
do with each due row (:func:`decide`, pure), leases the rows of each message just before sending
it (``Store.claim_leased``, judged by the database's clock, renewed while the run works) and
records them sent with their Telegram message id as soon as Telegram answered.

Catch-up after downtime: of several missed reminders of the same kind for the same task and chat
only the newest is sent (one digest per chat), a ``before`` reminder only while the cutoff has not
passed, overdue notices and digests only within :data:`STALE_AFTER`; the others are marked
skipped with their reason. A row planned long after its time (its recipient enrolled later, or
the timetable gained a reminder) is skipped the same way, never sent late.

Limits: at most ``max_send_rate`` messages are between claim and record at once, so a crash
leaves at most that many unrecorded (sent again once their lease runs out); sends go through
the pacer (:class:`bot.pacing.ChatPacer`) and the run's own :class:`SendWindow`, which keeps its
sends to :data:`MAX_SEND_RATE` in any second as Telegram sees them, and ``per_chat_interval``
seconds apart within one chat. A 403 deactivates the person (or unbinds the group) and tells the
admins; network errors and 5xx put the rows back to pending with an exponential back-off; a
database outage puts them back to pending (or their lease returns them) and the run retries
with back-off; other errors fail the row and tell the admins. The rules, in a table:
docs/reminders.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import itertools
import logging
import os
import socket
import uuid
from collections import Counter, defaultdict
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Mapping,
    Sequence,
)
from contextlib import nullcontext
from dataclasses import dataclass, field
from html import escape
from typing import Any, TypeVar

import httpx
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ContextTypes

from bot.grouping import Batches
from bot.i18n import Translator
from bot.messages import daily_keyboard, report_keyboard
from bot.pacing import BULK, ChatPacer, SendWindow
from bot.render import (
    DueItem,
    Facts,
    page_footer,
    paginate,
    plain_unit_name,
    render_overdue,
    render_reminder,
    render_summary,
    unit_name,
)
from bot.services import Services, request_replan
from schedules.delivery import (
    ACKNOWLEDGED,
    NO_CONTACT,
    NO_LEADERSHIP,
    NOT_ENROLLED,
    REPORTED_DONE,
    Decision,
    PlannedDeliveries,
    ReminderSpec,
    decide,
    delivery_batches,
    delivery_specs,
    recipients,
    retry_delay,
)
from schedules.planning import PlannedReminder, ReminderKind, plan_reminders
from schedules.workflow import (
    CycleFacts,
    acknowledged_pairs,
    cutoff_overrides,
    finished_pairs,
    unit_state,
)
from storage import is_transient_database_error

log = logging.getLogger(__name__)
T = TypeVar("T")

JOB_NAME = "dispatch-reminders"
RECORD_PATIENCE = 600.0
"""Seconds the dispatcher keeps trying to record a message that went out (database down)."""
CLAIM_PATIENCE = 30.0
"""Seconds the dispatcher keeps trying to claim while the database is down, before it leaves
the rest to the next run."""
RECORD_LINGER = 0.03
"""Seconds a batch of records smaller than :data:`RECORD_ENOUGH` waits for more (group
commit): at a fan-out's full speed the records then go a dozen to a transaction instead of two
or three, which took a third of a send's CPU (docs/performance.md, 1); at Telegram's 28 a
second a message's record waits at most this long, its in-flight slot with it."""
RECORD_ENOUGH = 14
"""A batch of records this large is written at once (half of :data:`MAX_SEND_RATE`, the
messages in flight: the other half keep sending meanwhile)."""
MAX_ATTEMPTS = 5
QUICK_RETRIES = (1.0, 3.0)
"""Seconds before a message that met a dropped connection or a 5xx is tried again within the
run, holding its lease; after these it goes back to pending with :func:`retry_delay`'s
back-off (1, 2, 4, 8 minutes). A 5 % connection drop then costs a fan-out seconds, not
minutes."""
REPLAN_EVERY = dt.timedelta(hours=1)
DUE_PAGE = 200
"""Chats whose due rows a dispatch run reads and decides on at once."""
MAX_SEND_RATE = 28
"""The dispatcher's messages in flight at once (between claim and record: what a crash can leave
unrecorded), and its sends in any second when no pacer keeps the bulk budget (with
:class:`bot.pacing.ChatPacer`, its bulk window of 28 a second does, and replies to people go
ahead of every bulk send)."""


@dataclass
class DispatchReport:
    """What one dispatch run did."""

    sent: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    units_without_contact: set[tuple[int, str]] = field(default_factory=set)
    digest_without_leadership: bool = False
    deactivated: list[int] = field(default_factory=list)
    unbound: list[int] = field(default_factory=list)
    resent_soon: list[int] = field(default_factory=list)
    """Messages (by their first row) tried again within the run after a transient error."""


# -- planning into the database ----------------------------------------------------------------
async def planned_specs(services: Services, cycle: int, contacts: Mapping[str, Sequence[int]],
                        leadership: Sequence[int]) -> list[ReminderSpec]:
    """The delivery rows of a cycle's plan, each unit's cutoff moved by its approved extension."""
    return delivery_specs(await cycle_plan(services, cycle), contacts, leadership)


async def cycle_plan(services: Services, cycle: int) -> list[PlannedReminder]:
    """The cycle's planned reminders, each unit's cutoff moved by its approved extension."""
    moved = cutoff_overrides(await services.bulk_db(services.store.extensions, cycle))
    return plan_reminders(services.timetable, cycle, services.calendar, moved)


async def current_specs(services: Services, cycle: int) -> list[ReminderSpec]:
    """The delivery rows the cycle's plan asks for, given who is enrolled now."""
    people = await services.bulk_db(services.store.list_people, None, None, False)
    memberships = [(m.telegram_user_id, m.unit_id)
                   for m in await services.bulk_db(services.store.memberships)]
    chats = [c.chat_id for c in await services.bulk_db(services.store.leadership_chats)]
    contacts, leadership = recipients(people, memberships, chats)
    return await planned_specs(services, cycle, contacts, leadership)


async def sync_plan(services: Services, cycle: int, now: dt.datetime) -> int:
    """Write the cycle's delivery rows (idempotent), a batch at a time (one transaction each:
    :func:`schedules.delivery.delivery_batches`); returns how many were new."""
    people = await services.bulk_db(services.store.list_people, None, None, False)
    memberships = [(m.telegram_user_id, m.unit_id)
                   for m in await services.bulk_db(services.store.memberships)]
    chats = [c.chat_id for c in await services.bulk_db(services.store.leadership_chats)]
    contacts, leadership = recipients(people, memberships, chats)
    added = 0
    for batch in delivery_batches(await cycle_plan(services, cycle), contacts, leadership):
        added += await services.bulk_db(services.store.plan_deliveries, batch, now)
    return added


def plan_fingerprint(plan: Sequence[PlannedReminder], contacts: Mapping[str, Sequence[int]],
                     leadership: Sequence[int]) -> int:
    """A hash of what a cycle's deliveries are made of (:func:`delivery_specs` of the same
    arguments): when it is unchanged, so are the deliveries, and re-planning can wait."""
    return hash((tuple(plan), tuple((unit, tuple(chats)) for unit, chats
                                    in sorted(contacts.items())), tuple(leadership)))


# -- rendering -------------------------------------------------------------------------------
def due_items(services: Services, rows: Sequence[Any], facts: Mapping[int, CycleFacts],
              today: dt.date) -> list[DueItem]:
    """The tasks a person's due rows are about: one item per (task, unit, cycle)."""
    kinds: dict[tuple[int, str, int], set[str]] = defaultdict(set)
    for row in rows:
        kinds[(row.task_id, row.unit_id, row.cycle)].add(row.kind)
    timetable = services.timetable
    return [DueItem(unit_state(timetable, timetable.task(task_id), unit_id, facts[cycle], today),
                    frozenset(found))
            for (task_id, unit_id, cycle), found in kinds.items()]


def render_digest(services: Services, t: Translator, cycle: int, facts: Facts,
                  today: dt.date) -> str:
    """The leadership digest: the summary counts and lines, then who is overdue or silent."""
    return (render_summary(t, services.timetable, cycle, facts, today) + "\n\n"
            + render_overdue(t, services.timetable, cycle, facts, today))


# -- sending ---------------------------------------------------------------------------------
@dataclass
class _Run:
    """What one dispatch run shares between its concurrent senders."""

    application: Application
    services: Services
    now: dt.datetime
    report: DispatchReport
    languages: dict[int, str | None]
    window: SendWindow
    interval: float
    facts: dict[int, CycleFacts] = field(default_factory=dict)
    failures: list[tuple[Any, str]] = field(default_factory=list)
    chats_written: set[int] = field(default_factory=set)
    in_flight: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_SEND_RATE))
    instance: str = ""
    lease_seconds: float = 30.0
    claim_patience: float = CLAIM_PATIENCE
    database_down: bool = False
    database_warned: bool = False
    incidents: list[str] = field(default_factory=list)
    quick_retry_scale: float = 1.0
    report_mark: int = 0
    """The facts' revision read before the run's facts: reports stamped above it are read again
    with the claims (see :func:`_claim_batch`, :meth:`storage.Store.reports_after`)."""
    claims: Batches[list[int], list[Any]] | None = None
    records: Batches[tuple[list[int], int], list[int]] | None = None
    facts_version: int = 0
    """Raised whenever ``facts`` changes (a report or an acknowledgement during the run)."""
    _settled: tuple[int, tuple[set[tuple[int, str, int]], set[tuple[int, str, int]]]] | None = (
        None)
    _texts: dict[tuple[object, ...], tuple[str, list[DueItem]]] = field(default_factory=dict)

    @property
    def today(self) -> dt.date:
        return self.now.date()

    def settle(self, cycle: int, facts: CycleFacts) -> None:
        """Replace a cycle's facts (read again during the run)."""
        self.facts[cycle] = facts
        self.facts_version += 1
        self._texts.clear()

    def settled(self) -> tuple[set[tuple[int, str, int]], set[tuple[int, str, int]]]:
        """:func:`settled` of the run's facts, computed once per change of them."""
        if self._settled is None or self._settled[0] != self.facts_version:
            self._settled = (self.facts_version, settled(self.services, self.facts))
        return self._settled[1]

    def rendered(self, t: Translator, rows: Sequence[Any], several: bool
                 ) -> tuple[str, list[DueItem]]:
        """The reminder text of ``rows`` in ``t``'s language and its items, rendered once per
        run for every message that lists the same tasks the same way (the contacts of a unit
        get the same text; only their keyboards name their own rows)."""
        kinds: dict[tuple[int, str, int], set[str]] = defaultdict(set)
        for row in rows:
            kinds[(row.task_id, row.unit_id, row.cycle)].add(row.kind)
        shape = (t.language, several, tuple((key, frozenset(found))
                                            for key, found in kinds.items()))
        found = self._texts.get(shape)
        if found is None:
            items = due_items(self.services, rows, self.facts, self.today)
            text = render_reminder(t, self.services.timetable, items, several)
            found = self._texts[shape] = (text, items)
        return found


async def _send_text(run: _Run, chat_id: int, text: str, t: Translator,
                     reply_markup: Any = None, priority: int = 0,
                     progress: list[int] | None = None) -> int:
    """Send ``text`` in pages, paced; the last page's message id (it carries the keyboard).

    ``progress``: ``[pages Telegram accepted]``: the send starts after those (never after the
    last page) and counts on, so that a try after a failure resumes where it stopped.
    """
    pages = paginate(text)
    message_id = 0
    start = min(progress[0], len(pages) - 1) if progress else 0
    for index, page in enumerate(pages):
        if index < start:
            continue
        if index > start:
            await asyncio.sleep(run.interval)
        if len(pages) > 1:
            page = page + "\n\n" + page_footer(t, index, len(pages))
        bulk: dict[str, Any] = {"rate_limit_args": BULK} if run.application.bot.rate_limiter \
            else {}
        markup = reply_markup if index == len(pages) - 1 else None
        async with run.window.slot(priority + len(pages) - index - 1):
            try:
                message = await run.application.bot.send_message(chat_id, page,
                                                                 reply_markup=markup, **bulk)
            except ChatMigrated as exc:  # a bound group became a supergroup: follow it
                store = run.services.store
                if await run.services.bulk_db(store.migrate_chat, chat_id, exc.new_chat_id,
                                              run.now):
                    log.info("leadership chat %s moved to %s", chat_id, exc.new_chat_id)
                chat_id = exc.new_chat_id
                message = await run.application.bot.send_message(chat_id, page,
                                                                 reply_markup=markup, **bulk)
        run.chats_written.add(chat_id)
        message_id = message.message_id
        if progress is not None:
            progress[0] = index + 1
    return message_id


def messages_for(rows: Sequence[Any]) -> list[list[Any]]:
    """What one chat gets from one run: its due reminders in one message, and its digest."""
    reminders = [r for r in rows if r.kind != ReminderKind.DIGEST.value]
    digests = [[r] for r in rows if r.kind == ReminderKind.DIGEST.value]
    return ([reminders] if reminders else []) + digests


async def _claim_batch(run: _Run, messages: list[list[int]]) -> list[list[Any]]:
    """Lease the rows of several messages at once (retried while the database is down), then
    read again the latest reports of every unit that reported since the run's facts were read
    (a report may come in while the run sends; usually none did: one indexed query), and
    whether the claimed acknowledgement reminders' tasks were acknowledged meanwhile (收到
    pressed during the run). When that read fails, the claimed rows are given back (nothing
    went out) and nothing is sent.

    The mark (the newest report id before the facts were read) does not move during the run:
    on PostgreSQL ids are taken when a report is inserted but seen when it commits, so a report
    with a lower id than one already read may still come in.
    """
    store = run.services.store
    claimed = await _with_database(run, store.claim_messages, messages, run.instance,
                                   run.lease_seconds, run.now, patience=run.claim_patience)
    cycles = set(run.facts)
    asked = {(row.task_id, row.unit_id, row.cycle) for rows in claimed for row in rows
             if row.kind == ReminderKind.ACKNOWLEDGE.value and row.cycle in cycles}

    def read() -> tuple[dict[int, dict[tuple[int, str], Any]], dict[tuple[int, str, int], Any]]:
        _, touched = store.reports_after(run.report_mark)
        fresh: dict[int, dict[tuple[int, str], Any]] = defaultdict(dict)
        for cycle, unit_id in sorted({(c, u) for _, u, c in touched if c in cycles}):
            fresh[cycle].update(store.latest_reports(cycle, None, unit_id))
        return fresh, store.acknowledged_among(asked) if asked else {}

    try:
        fresh, acknowledged = await run.services.bulk_db(read)
    except Exception as exc:
        if not is_transient_database_error(exc):
            raise
        await _give_back(run, [row for rows in claimed for row in rows], exc)
        return [[] for _ in messages]
    for cycle, reports in fresh.items():
        known = run.facts[cycle]
        run.settle(cycle, dataclasses.replace(known, reports={**known.reports, **reports}))
    for (task_id, unit_id, cycle), acknowledgement in acknowledged.items():
        known = run.facts[cycle]
        run.settle(cycle, dataclasses.replace(known, acknowledgements={
            **known.acknowledgements, (task_id, unit_id): acknowledgement}))
    return claimed


async def _record_batch(run: _Run, sent: list[tuple[list[int], int]]) -> list[list[int]]:
    """Mark several messages' rows sent in one transaction, patiently (they went out)."""
    return await _with_database(run, run.services.store.mark_sent_messages, sent, run.now,
                                patience=RECORD_PATIENCE)


async def _compose(run: _Run, rows: list[Any], t: Translator) -> tuple[str, Any, list[Any]]:
    """The text and keyboard of one person's message; the rows it carries (others skipped)."""
    services, store, now = run.services, run.services.store, run.now
    finished, acknowledged = run.settled()  # of the facts read again with the claim
    carried: list[Any] = []
    for row in rows:
        key = (row.task_id, row.unit_id, row.cycle)
        reason = REPORTED_DONE if key in finished else ""
        if row.kind == ReminderKind.ACKNOWLEDGE.value and key in acknowledged:
            reason = ACKNOWLEDGED
        if reason:  # it changed during this run
            await services.bulk_db(store.mark_skipped, row.id, reason, now, run.instance)
            run.report.skipped.append((row.id, reason))
        else:
            carried.append(row)
    if not carried:
        return "", None, []
    several = len({row.unit_id for row in carried}) > 1
    text, items = run.rendered(t, carried, several)
    if len(items) == 1:
        state = items[0].state
        keyboard = report_keyboard(t, state.task_id, state.cycle, state.unit_id, carried[0].id)
    else:
        timetable = services.timetable
        labels = [(i.state.task_id, i.state.unit_id,
                   plain_unit_name(t, timetable.unit(i.state.unit_id)) if several else "")
                  for i in sorted(items, key=lambda i: (i.state.task_id, i.state.unit_id))]
        keyboard = daily_keyboard(t, labels, carried[0].id)
    return text, keyboard, carried


async def _send_message(run: _Run, rows: list[Any], priority: int = 0) -> bool:
    """Claim, render, send and record one message (a digest, or a person's reminders).

    At most ``run.in_flight`` messages are between their claim and their record at once, so
    that a crash leaves at most that many sends unrecorded (docs/reminders.md). Every row the
    message carries is leased together and marked sent with its Telegram message id as soon as
    Telegram answered. False if its chat can no longer be written to. ``priority``: how many
    more messages its chat is waiting for (see :class:`SendWindow`).
    """
    async with run.in_flight:
        if run.database_down:  # the run gives up on new claims; the rows stay pending
            report_rows(run.report.waiting, rows)
            return True
        assert run.claims is not None
        try:
            claimed = await run.claims.submit([row.id for row in rows])
        except DatabaseUnavailable:
            run.database_down = True
            report_rows(run.report.waiting, rows)
            return True
        if not claimed:
            return True  # another instance (or run) holds them
        return await _send_claimed(run, claimed, priority)


def report_rows(into: list[int], rows: Sequence[Any]) -> None:
    """Add the rows' ids to one of a report's lists."""
    into.extend(row.id for row in rows)


async def _send_claimed(run: _Run, claimed: list[Any], priority: int) -> bool:
    services = run.services
    chat_id = claimed[0].chat_id
    t = services.translator(run.languages.get(chat_id))
    # pages Telegram accepted already (an earlier try failed on a later one)
    progress = [0]
    digest: str | None = None
    try:
        if claimed[0].kind == ReminderKind.DIGEST.value:
            row = claimed[0]
            text = render_digest(services, t, row.cycle, run.facts[row.cycle], run.today)
            keyboard = None
        else:
            text, keyboard, claimed = await _compose(run, claimed, t)
            if not claimed:
                return True
        digest = text_digest(text)
        if all(row.pages_digest == digest for row in claimed):  # the same text as then
            progress[0] = min(row.pages_sent for row in claimed)
        for attempt in itertools.count(1):
            try:
                message_id = await _send_text(run, chat_id, text, t, keyboard, priority,
                                              progress)
                break
            except (BadRequest, RetryAfter):
                raise
            except NetworkError as exc:  # a dropped connection, a 5xx: try again soon
                run.incidents.append(first_line(exc))
                if attempt > len(QUICK_RETRIES) or unanswered(exc):
                    raise
                await asyncio.sleep(QUICK_RETRIES[attempt - 1] * run.quick_retry_scale)
                run.report.resent_soon.append(claimed[0].id)
    except Forbidden as exc:
        await _unsent(run, claimed, _forbidden(run, claimed, exc))
        return False
    except BadRequest as exc:  # a NetworkError subclass, but retrying cannot help
        await _unsent(run, claimed, _fail(run, claimed, f"bad request: {exc.message}"))
        return True
    except (RetryAfter, NetworkError) as exc:
        await _unsent(run, claimed, _retry(run, claimed, exc, progress[0], digest),
                      unsure=unanswered(exc))
        return True
    except TelegramError as exc:
        await _unsent(run, claimed, _fail(run, claimed, f"{type(exc).__name__}: {exc}"))
        return True
    except Exception as exc:
        if is_transient_database_error(exc):  # before the send: nothing went out
            await _give_back(run, claimed, exc)
            return True
        # a bug must not leave the rows "sending" nor stop the run
        log.exception("reminders %s could not be sent", [row.id for row in claimed])
        await _fail(run, claimed, f"internal error: {type(exc).__name__}: {exc}")
        return True
    await _record_sent(run, claimed, message_id)
    return True


async def _unsent(run: _Run, rows: Sequence[Any], noting: Awaitable[None], *,
                  unsure: bool = False) -> None:
    """Note what Telegram said of a message that did not go out; when the database fails
    meanwhile, leave the rows to the next run (they come back to pending and are tried again)
    instead of ending the run. ``unsure``: Telegram did not answer the send, so it may have
    arrived; the next run gives the rows back as such (one more try at most, after the
    back-off), never as untried."""
    try:
        await noting
    except Exception as exc:
        if not is_transient_database_error(exc):
            raise
        run.database_down = True
        log.warning("reminders %s were not sent and the database failed while noting why "
                    "(%s); the next run gives them back", [row.id for row in rows],
                    first_line(exc))
        strand(run, rows, unsure=unsure)
        report_rows(run.report.waiting, rows)


async def _record_sent(run: _Run, rows: Sequence[Any], message_id: int) -> None:
    """Mark the rows of a message Telegram accepted as sent, patiently: it went out, and a row
    left ``sending`` would be sent again once its lease runs out."""
    ids = [row.id for row in rows]
    assert run.records is not None
    try:
        await run.records.submit((ids, message_id))
    except DatabaseUnavailable:
        log.error("reminders %s went out as message %s to chat %s but cannot be recorded: "
                  "the database is unreachable; they will be sent again when their lease "
                  "runs out", ids, message_id, rows[0].chat_id)
        return
    for row in rows:
        run.report.sent.append(row.id)


def unanswered(exc: TelegramError) -> bool:
    """Whether Telegram may have delivered a send that raised ``exc``: the request went out
    and no answer came back — a read or write timeout, or any error while reading the answer
    (a connection reset, the server closing the connection without a response). Not a connect
    or pool timeout, a refused connection or a failed write, which sent nothing, nor an error
    Telegram answered (a 5xx)."""
    if isinstance(exc, TimedOut):
        return not isinstance(exc.__cause__, (httpx.ConnectTimeout, httpx.PoolTimeout))
    return isinstance(exc, NetworkError) and isinstance(
        exc.__cause__, (httpx.ReadError, httpx.RemoteProtocolError))


def text_digest(text: str) -> str:
    """The hash of a message's text kept with its ``pages_sent`` (``reminder.pages_digest``)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def judge_failed_send(rows: Sequence[Any], unanswered: bool
                      ) -> tuple[list[Any], list[Any], list[Any]]:
    """A message's rows after a failed send, judged each by its own counts: those that have
    had their :data:`MAX_ATTEMPTS` tries (given up), those whose send Telegram did not answer
    for the second time (``unanswered``: it may have arrived; a duplicate at most, never a
    third), and the rest, to try again together. A fresh reminder that shares a message with
    one tried four times is not given up with it.

    Returns:
        ``(spent, twice, again)``, each in the order of ``rows``, spent sorted by tries.
    """
    spent = sorted((row for row in rows if row.attempts + 1 >= MAX_ATTEMPTS),
                   key=lambda row: row.attempts)
    gone = {row.id for row in spent}
    twice = [row for row in rows if unanswered and row.unanswered >= 1 and row.id not in gone]
    gone |= {row.id for row in twice}
    return spent, twice, [row for row in rows if row.id not in gone]


async def _retry(run: _Run, rows: Sequence[Any], exc: TelegramError, pages_sent: int,
                 digest: str | None = None) -> None:
    """A transient Telegram error: back to pending, retried after a back-off kept in the rows
    (``not_before``, so every instance waits for it), from the first page Telegram did not
    accept (``pages_sent``). A send Telegram did not answer may have arrived: it is tried again
    once, not more (the rows fail when that try is not answered either)."""
    services, store, now = run.services, run.services.store, run.now
    unsure = unanswered(exc)
    spent, twice, rows = judge_failed_send(rows, unsure)
    for tries, given_up in itertools.groupby(spent, key=lambda row: row.attempts + 1):
        await _fail(run, list(given_up), f"gave up after {tries} attempts: {exc}")
    if twice:
        await _fail(run, twice, f"Telegram did not answer twice; it may have arrived: {exc}")
    if not rows:
        return
    attempts = max(row.attempts for row in rows) + 1
    delay = retry_delay(attempts)
    if isinstance(exc, RetryAfter):  # the rate limiter already waited and retried
        # ``exc.retry_after`` warns until PTB_TIMEDELTA is set; the value is this one
        delay = max(delay, exc._retry_after)
    # one transaction, one back-off end: the message's rows come back as one message
    moved = await services.bulk_db(
        store.retry_message_later, [row.id for row in rows], f"{type(exc).__name__}: {exc}",
        now, instance=run.instance, back_off=delay, pages_sent=pages_sent,
        pages_digest=digest, unanswered=unsure)
    run.report.retried.extend(moved)
    run.incidents.append(first_line(exc))


async def _give_back(run: _Run, rows: Sequence[Any], exc: Exception) -> None:
    """The database failed before the send: the rows go back to pending (their lease runs out
    if even that fails), the run stops claiming, the next run tries again. No attempt is
    counted: Telegram was not asked."""
    run.database_down = True
    try:  # all in one transaction: a message is never given back in part
        await run.services.bulk_db(run.services.store.retry_message_later,
                                   [row.id for row in rows],
                                   f"database error: {type(exc).__name__}", run.now,
                                   instance=run.instance, attempted=False)
    except Exception as again:  # still down: the next run gives them back
        if not is_transient_database_error(again):
            raise
        strand(run, rows)
    report_rows(run.report.waiting, rows)


STRANDED = "stranded"
"""``bot_data`` key: ids of rows this instance still holds ``sending`` although nothing of it
sends them (the database failed while they were given back). The renewal would keep their
lease alive while runs go on; the next run gives them back first (:func:`give_back_stranded`)."""

STRANDED_UNSURE = "stranded_unsure"
"""``bot_data`` key: those of the stranded rows whose send Telegram did not answer (it may
have arrived): given back as unanswered, with a back-off."""


def strand(run: _Run, rows: Sequence[Any], *, unsure: bool = False) -> None:
    """Remember rows left ``sending`` that nothing sends, for the next run."""
    stranded: set[int] = run.application.bot_data.setdefault(STRANDED, set())
    stranded.update(row.id for row in rows)
    if unsure:
        run.application.bot_data.setdefault(STRANDED_UNSURE, set()).update(
            row.id for row in rows)


async def give_back_stranded(application: Application, services: Services,
                             now: dt.datetime) -> list[tuple[Any, str]]:
    """Put back to pending the rows a run of this instance left ``sending`` when the database
    failed (no sender of this instance holds them: runs never overlap) and that it still holds;
    no attempt counted, Telegram was not asked (or its refusal was not noted and is met
    again). A row whose send Telegram did not answer goes back as :func:`_retry` would have
    left it (an attempt and an unanswered send counted, the first back-off): it is tried once
    more at most; one at its last try, or unanswered before, is failed (:func:`judge_failed_send`).

    Returns:
        The rows failed here, each with its reason (for the run's report and the admins).
    """
    failed: list[tuple[Any, str]] = []
    stranded: set[int] = application.bot_data.get(STRANDED, set())
    unsure: set[int] = application.bot_data.get(STRANDED_UNSURE, set())
    instance = instance_of(application)
    if stranded & unsure:
        # judged as _retry would have: a row at its last try, or unanswered before, is failed
        # (never a sixth try, never a third send of a message that may have arrived)
        store = services.store
        rows = [row for reminder_id in sorted(stranded & unsure)
                if (row := await services.bulk_db(store.get_reminder, reminder_id)) is not None
                and row.state == "sending" and row.claimed_by == instance]
        spent, twice, again = judge_failed_send(rows, True)
        # worded so that the ledger's reading of a reason (bot/reports/ledger.py: FAILURES,
        # by the first phrase it finds) says what ended the row
        reason = "no answer from Telegram, then a database error"
        verdicts = [(row, f"gave up after {row.attempts + 1} attempts: {reason}")
                    for row in spent]
        verdicts += [(row, "Telegram did not answer twice; it may have arrived") for row in twice]
        for row, verdict in verdicts:
            if await services.bulk_db(store.mark_failed, row.id, verdict, now, instance):
                failed.append((row, verdict))
        if again:
            await services.bulk_db(store.retry_message_later, [row.id for row in again],
                                   reason, now, instance=instance, back_off=retry_delay(1),
                                   unanswered=True)
        stranded -= unsure
        unsure.clear()
    if stranded:
        await services.bulk_db(services.store.give_back, sorted(stranded),
                               instance, "database error", now)
        stranded.clear()
    unsure.clear()
    return failed


class DatabaseUnavailable(Exception):
    """The database kept failing for longer than the caller's patience."""


async def _with_database(run: _Run, function: Callable[..., T], *args: Any,
                         patience: float) -> T:
    """``services.bulk_db(function, *args)``, retried with back-off while the database is
    unreachable (a restart, a fail-over), for up to ``patience`` seconds.

    Raises:
        DatabaseUnavailable: still failing after ``patience`` seconds (one warning logged).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.5
    while True:
        try:
            return await run.services.bulk_db(function, *args)
        except Exception as exc:
            if not is_transient_database_error(exc):
                raise
            if loop.time() + delay > deadline:
                raise DatabaseUnavailable(str(exc)) from exc
            if not run.database_warned:
                run.database_warned = True
                log.warning("the database is unreachable (%s); the dispatcher retries with "
                            "back-off", first_line(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def first_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def _fail(run: _Run, rows: Sequence[Any], reason: str) -> None:
    for row in rows:
        await run.services.bulk_db(run.services.store.mark_failed, row.id, reason, run.now,
                                   run.instance)
        run.report.failed.append((row.id, reason))
        run.failures.append((row, reason))
    log.warning("reminders %s to chat %s failed: %s", [row.id for row in rows],
                rows[0].chat_id, reason)


async def _forbidden(run: _Run, rows: Sequence[Any], exc: Forbidden) -> None:
    """The recipient blocked the bot (or the bot left the group): stop writing there."""
    services, store, now = run.services, run.services.store, run.now
    reason = f"forbidden: {exc.message}"
    chat_id = rows[0].chat_id
    for row in rows:
        await services.bulk_db(store.mark_failed, row.id, reason, now, run.instance)
        run.report.failed.append((row.id, reason))
    log.warning("reminders %s: chat %s refuses the bot: %s", [row.id for row in rows], chat_id,
                exc.message)
    if chat_id in run.languages and chat_id > 0:
        if await services.bulk_db(store.deactivate_person, chat_id,
                             f"bot blocked or never started: {exc.message}", now):
            run.report.deactivated.append(chat_id)
    elif await services.bulk_db(store.unbind_chat, chat_id, now):
        run.report.unbound.append(chat_id)
    else:
        run.failures.extend((row, reason) for row in rows)
    request_replan(run.application)


async def tell_admins(application: Application, services: Services,
                      text_for: Callable[[Translator], str], window: SendWindow | None = None,
                      pause_before: Collection[int] = (), interval: float = 0.0) -> None:
    """Send a notice to every admin (DUBAN_ADMINS and enrolled admins) in their language.

    Args:
        application: the bot.
        services: the services.
        text_for: the notice in a given language.
        window: the run's overall limit, if any.
        pause_before: chats just written to: wait ``interval`` first (per-chat limit).
        interval: seconds between two messages to one chat.
    """
    people = await services.bulk_db(services.store.list_people, None, "admin")
    targets = {p.telegram_user_id: p.language for p in people}
    for admin_id in services.settings.admins:
        targets.setdefault(admin_id, None)
    for chat_id, language in targets.items():
        t = services.translator(language)
        try:
            for index, page in enumerate(pages := paginate(text_for(t))):
                if index or chat_id in pause_before:
                    await asyncio.sleep(interval)
                if len(pages) > 1:
                    page = page + "\n\n" + page_footer(t, index, len(pages))
                async with window.slot() if window is not None else nullcontext():
                    await application.bot.send_message(chat_id, page)
        except TelegramError as exc:
            log.warning("could not notify admin %s: %s", chat_id, exc)


def admin_notice(services: Services, t: Translator, report: DispatchReport,
                 people: Mapping[int, Any], failures: Sequence[tuple[Any, str]],
                 served: Mapping[int, Sequence[str]] | None = None) -> str:
    """What the admins must hear about one run: blocked people, unreachable units and chats.

    ``served``: Telegram user id -> the units they served when the run began.
    """
    timetable = services.timetable
    parts: list[str] = []
    for chat_id in report.deactivated:
        person = people.get(chat_id)
        units = [u for u in (served or {}).get(chat_id, ()) if timetable.find_unit(u)]
        unit = ", ".join(unit_name(t, timetable.unit(u)) for u in units) or "-"
        name = escape(person.display_name) if person is not None else str(chat_id)
        parts.append(t.gettext(
            "{name} ({id}) has blocked the bot or never started it; they are marked "
            "inactive. Reminders for {unit} need another contact.").format(
            name=name, id=chat_id, unit=unit))
    for chat_id in report.unbound:
        parts.append(t.gettext(
            "The bot can no longer write to the leadership chat {chat}; it is unbound. A "
            "leader can /bind the group again.").format(chat=chat_id))
    if report.units_without_contact:
        by_unit: dict[str, list[int]] = defaultdict(list)
        for task_id, unit_id in sorted(report.units_without_contact):
            by_unit[unit_id].append(task_id)
        lines = [escape(t.gettext("These units have no enrolled contact, so their reminders "
                                  "were not sent. Enrol someone with /invite <unit>:"))]
        for unit_id, tasks in by_unit.items():
            lines.append(t.gettext("• {unit}: tasks {tasks}").format(
                unit=unit_name(t, timetable.unit(unit_id)),
                tasks=", ".join(str(n) for n in tasks)))
        parts.append("\n".join(lines))
    if report.digest_without_leadership:
        parts.append(t.gettext(
            "The leadership digest was not sent: no leadership chat is bound and no leader is "
            "enrolled. A leader can /bind the group, or enrol a leader."))
    if failures:
        lines = [t.gettext("These reminders could not be delivered:")]
        for row, reason in failures:
            what = (t.gettext("leadership group") if row.kind == ReminderKind.DIGEST.value
                    else t.gettext("task {number}").format(number=row.task_id))
            lines.append(f"• {what} → {row.chat_id}: {escape(reason)}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def settled(services: Services, facts: Mapping[int, CycleFacts]
            ) -> tuple[set[tuple[int, str, int]], set[tuple[int, str, int]]]:
    """(task, unit, cycle) reported done (and not returned), and those acknowledged (or
    reported on: no acknowledgement reminder for them)."""
    finished = {(task, unit, cycle) for cycle, known in facts.items()
                for task, unit in finished_pairs(services.timetable, known)}
    acknowledged = {(task, unit, cycle) for cycle, known in facts.items()
                    for task, unit in acknowledged_pairs(known)}
    return finished, acknowledged


async def dispatch_due(application: Application, now: dt.datetime | None = None
                       ) -> DispatchReport:
    """Re-plan if needed, then send every due reminder exactly once.

    Sends to different chats run concurrently, at most ``max_send_rate`` in any second
    (:class:`SendWindow`; PTB's AIORateLimiter also keeps the overall and group limits and
    retries a 429); sends to one chat go one after another, ``per_chat_interval`` seconds apart
    (from the end of one to the start of the next), to keep within Telegram's one message per
    second per chat. Both come from ``application.bot_data`` (0: no spacing, e.g. on a virtual
    clock).
    """
    services: Services = application.bot_data["services"]
    now = (now or services.clock.now()).astimezone(services.settings.zone)
    started = asyncio.get_running_loop().time()
    report = await _dispatch(application, services, now)
    if report.sent or report.skipped or report.failed or report.retried:
        log.info("%s", summary_line(report, now, asyncio.get_running_loop().time() - started))
    return report


def summary_line(report: DispatchReport, now: dt.datetime, seconds: float) -> str:
    """One dispatch run in one log line: what it sent, skipped (by reason), retried, failed."""
    reasons = Counter(reason for _, reason in report.skipped)
    skipped = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    return (f"dispatch at {now.isoformat(timespec='seconds')}: {len(report.sent)} sent, "
            f"{len(report.skipped)} skipped{f' ({skipped})' if skipped else ''}, "
            f"{len(report.retried)} to retry, {len(report.failed)} failed, "
            f"{len(report.waiting)} waiting; {seconds:.1f} s")


async def _dispatch(application: Application, services: Services, now: dt.datetime
                    ) -> DispatchReport:
    store = services.store
    report = DispatchReport()
    failed_early = await give_back_stranded(application, services, now)
    report.failed.extend((row.id, reason) for row, reason in failed_early)
    released = await services.bulk_db(store.release_expired_leases, now)
    if released:
        log.warning("%s reminders were left sending by a stopped dispatcher (%s); their lease "
                    "ran out and they are sent again", len(released),
                    ", ".join(sorted({r.claimed_by or "-" for r in released})))
    everyone = await services.bulk_db(store.list_people, None, None, False)
    memberships = [(m.telegram_user_id, m.unit_id)
                   for m in await services.bulk_db(store.memberships)]
    served: dict[int, list[str]] = defaultdict(list)
    for telegram_user_id, unit_id in memberships:
        served[telegram_user_id].append(unit_id)
    bound = [c.chat_id for c in await services.bulk_db(store.leadership_chats)]
    contacts, leadership = recipients(everyone, memberships, bound)

    cycle = now.year
    plans = {cycle: await cycle_plan(services, cycle)}
    # a hash of what the deliveries are made of, not of the deliveries (tens of thousands)
    fingerprint = plan_fingerprint(plans[cycle], contacts, leadership)
    last = application.bot_data.get("replanned_at")
    if (last is None or now - last >= REPLAN_EVERY or now < last
            or application.bot_data.get("planned") != fingerprint):
        added = 0
        for batch in delivery_batches(plans[cycle], contacts, leadership):
            added += await services.bulk_db(store.plan_deliveries, batch, now)
        application.bot_data["replanned_at"] = now
        application.bot_data["planned"] = fingerprint
        if added:
            log.info("planned %s new deliveries for %s", added, cycle)
    due_chats = await services.bulk_db(store.due_chats, now)
    if not due_chats and not failed_early:  # else the admins hear of those failures below
        return report
    facts: dict[int, CycleFacts] = {}
    # before the facts: a report that comes in from here on is read again with the claims
    report_mark = await services.bulk_db(store.facts_revision)
    for row_cycle in sorted({row_cycle for _, row_cycle in due_chats}):
        if row_cycle not in plans:
            plans[row_cycle] = await cycle_plan(services, row_cycle)
        facts[row_cycle] = await services.bulk_db(store.cycle_facts, row_cycle)
    finished, acknowledged = settled(services, facts)
    wanted = PlannedDeliveries(itertools.chain.from_iterable(plans.values()), contacts,
                               leadership)
    inactive = {p.telegram_user_id for p in everyone if not p.active}
    sending: list[Any] = []
    # a page of chats at a time: a first start's catch-up decides on tens of thousands of rows
    # (a chat's rows are decided together: catch-up groups never span chats)
    chats = sorted({chat_id for chat_id, _ in due_chats})
    for first in range(0, len(chats), DUE_PAGE):
        due = [row for row in await services.bulk_db(store.due_rows, now,
                                                     chats[first:first + DUE_PAGE])
               if row.cycle in facts]  # (a row of another cycle due since: the next run's)
        skips: list[tuple[int, str]] = []
        retry_at = await backing_off_until(services, due, now)
        for decision in decide(due, now, finished, wanted, inactive, retry_at, acknowledged):
            row = decision.row
            if decision.send:
                sending.append(row)
            elif decision.wait:
                report.waiting.append(row.id)
            else:
                skips.append((row.id, decision.reason))
                if decision.reason == NO_CONTACT:
                    report.units_without_contact.add((row.task_id, row.unit_id))
                elif decision.reason == NO_LEADERSHIP:
                    report.digest_without_leadership = True
        if skips:  # one transaction a page, whatever their number
            await services.bulk_db(store.mark_skipped_many, skips, now,
                                   instance_of(application))
            report.skipped.extend(skips)
        del due, skips
    by_chat: dict[int, list[Any]] = defaultdict(list)
    for row in sorted(sending, key=lambda row: (row.due_at, row.id)):
        by_chat[row.chat_id].append(row)
    del sending
    languages: dict[int, str | None] = {p.telegram_user_id: p.language for p in everyone}
    languages |= {c.chat_id: c.language for c in await services.bulk_db(store.leadership_chats)}
    rate = int(application.bot_data.get("max_send_rate", MAX_SEND_RATE))
    # With the pacer, its bulk window paces the sends as Telegram sees them (a second window
    # here would hold each slot through the pacer's waits too, and slow the fan-out).
    paced = (isinstance(application.bot.rate_limiter, ChatPacer)
             and "max_send_rate" not in application.bot_data)
    run = _Run(application, services, now, report, languages, SendWindow(0 if paced else rate),
               application.bot_data.get("per_chat_interval", 1.0), facts,
               in_flight=asyncio.Semaphore(min(rate, MAX_SEND_RATE) if rate > 0
                                           else MAX_SEND_RATE),
               instance=instance_of(application), lease_seconds=services.settings.lease_seconds,
               quick_retry_scale=float(application.bot_data.get("quick_retry_scale", 1.0)),
               report_mark=report_mark)
    run.failures.extend(failed_early)
    run.claims = Batches(lambda messages: _claim_batch(run, messages), MAX_SEND_RATE)
    run.records = Batches(lambda sent: _record_batch(run, sent), MAX_SEND_RATE,
                           RECORD_LINGER, RECORD_ENOUGH)

    async def drain(rows: list[Any]) -> None:
        messages = messages_for(rows)
        for index, message in enumerate(messages):
            if index:
                await asyncio.sleep(run.interval)
            if not await _send_message(run, message, len(messages) - index - 1):
                for rest in messages[index + 1:]:  # the chat refuses the bot: the rest cannot go
                    for row in rest:
                        await services.bulk_db(store.mark_skipped, row.id, NOT_ENROLLED, now,
                                               run.instance)
                        report.skipped.append((row.id, NOT_ENROLLED))
                return

    renewal = asyncio.create_task(_renew_leases(run))
    try:
        # every sender runs to its end, whatever another met: the leases stay renewed while
        # any of them works, and the run never ends with a sender still sending
        outcomes = await asyncio.gather(*(drain(rows) for rows in by_chat.values()),
                                        return_exceptions=True)
    finally:
        renewal.cancel()
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            log.error("a reminder sender stopped: %s", first_line(outcome),
                      exc_info=outcome)
    if run.incidents:  # one line for the run, however many sends met them
        kinds = Counter(run.incidents)
        log.warning("Telegram trouble during the dispatch: %s transient errors (%s); %s "
                    "quick retries within the run, %s rows wait for a later run",
                    len(run.incidents),
                    "; ".join(f"{n} x {k}" for k, n in kinds.most_common(3)),
                    len(report.resent_soon), len(report.retried))
    people = {p.telegram_user_id: p for p in everyone}
    notice = news_for_admins(report, application.bot_data.setdefault("admins_told", {}),
                             run.today)
    if (notice.deactivated or notice.unbound or notice.units_without_contact
            or notice.digest_without_leadership or run.failures):
        await tell_admins(application, services,
                          lambda t: admin_notice(services, t, notice, people, run.failures,
                                                 served),
                          run.window, run.chats_written, run.interval)
    return report


def news_for_admins(report: DispatchReport, told: dict[str, dt.date], today: dt.date
                    ) -> DispatchReport:
    """What of a run's report the admins have not heard today: a unit without contact and a
    digest without leadership are told at most once a day (a unit with reminders at several
    hours would otherwise be reported at each). ``told`` (kept by the caller) is updated.
    """
    units = {(task, unit) for task, unit in report.units_without_contact
             if told.get(f"no contact:{unit}") != today}
    leadership = report.digest_without_leadership and told.get("no leadership") != today
    for _, unit in units:
        told[f"no contact:{unit}"] = today
    if leadership:
        told["no leadership"] = today
    return dataclasses.replace(report, units_without_contact=units,
                               digest_without_leadership=leadership)


def instance_of(application: Application) -> str:
    """This process's name in ``reminder.claimed_by``: host, process id and a random part (a
    new one at every start, so that a restarted bot never takes its predecessor's leases for
    its own)."""
    instance: str | None = application.bot_data.get("instance")
    if instance is None:
        instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        application.bot_data["instance"] = instance
    return instance


async def _renew_leases(run: _Run) -> None:
    """Keep this instance's leases alive while the run sends (every third of a lease)."""
    store = run.services.store
    while True:
        await asyncio.sleep(run.lease_seconds / 3)
        try:
            await run.services.bulk_db(store.renew_leases, run.instance, run.lease_seconds)
        except Exception as exc:
            if not is_transient_database_error(exc):
                raise
            if not run.database_warned:  # one line per outage
                run.database_warned = True
                log.warning("could not renew the reminder leases: %s", first_line(exc))


@dataclass(frozen=True)
class DryRow:
    """A delivery as :func:`dry_run` sees it: planned, and its stored state if any."""

    id: int
    task_id: int
    unit_id: str
    cycle: int
    kind: str
    offset_days: int
    chat_id: int
    due_at: dt.datetime
    cutoff: dt.date
    state: str
    attempts: int = 0
    created_at: dt.datetime | None = None
    not_before: dt.datetime | None = None


def _identity(spec: ReminderSpec) -> tuple[int, str, int, str, int, int]:
    """(task, unit, cycle, kind, offset_days, chat): the fields of :class:`DryRow` before its
    times."""
    return (spec.task_id, spec.unit_id, spec.cycle, spec.kind, spec.offset_days, spec.chat_id)


async def dry_run(services: Services, at: dt.datetime) -> list[Decision]:
    """What a dispatch run at ``at`` would do, without writing or sending anything."""
    at = at.astimezone(services.settings.zone)
    cycle = at.year
    stored = {r.key: r for r in await services.bulk_db(services.store.reminders_for_cycle, cycle)}
    specs = await current_specs(services, cycle)
    rows: list[DryRow] = []
    for spec in specs:
        row = stored.get(spec.key)
        state = row.state if row is not None else "unplanned"
        if spec.due_at > at or state not in ("pending", "unplanned"):
            continue
        if row is None:  # the run would plan it now
            rows.append(DryRow(0, *_identity(spec), spec.due_at, spec.cutoff, state,
                               created_at=at))
        else:
            rows.append(DryRow(row.id or 0, *_identity(spec), spec.due_at, spec.cutoff, state,
                               row.attempts, row.created_at, row.not_before))
    facts = {cycle: await services.bulk_db(services.store.cycle_facts, cycle)}
    finished, acknowledged = settled(services, facts)
    everyone = await services.bulk_db(services.store.list_people, None, None, False)
    inactive = {p.telegram_user_id for p in everyone if not p.active}
    retry_at = await backing_off_until(services, rows, at)
    return decide(rows, at, finished, {s.key for s in specs}, inactive, retry_at, acknowledged)


async def backing_off_until(services: Services, rows: Sequence[Any], now: dt.datetime
                            ) -> dict[int, dt.datetime]:
    """Row id -> the end of its back-off on this instance's clock (``now``).

    ``not_before`` is written on the database's clock (``Store.retry_later``); moved by the
    difference between that clock and ``now``, so that an instance whose clock runs ahead or
    behind neither sends early (the claim refuses it anyway) nor waits too long.
    """
    waiting = [row for row in rows if getattr(row, "not_before", None) is not None]
    if not waiting:
        return {}
    skew = await services.bulk_db(services.store.database_now) - now
    return {row.id: row.not_before - skew for row in waiting}


async def dispatch_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The JobQueue callback: one dispatch run at the clock's current time."""
    await dispatch_due(context.application)


def schedule_dispatch(application: Application) -> None:
    """Run :func:`dispatch_job` every ``DUBAN_DISPATCH_INTERVAL`` seconds (one job, by name)."""
    services: Services = application.bot_data["services"]
    job_queue = application.job_queue
    if job_queue is None:
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    for job in job_queue.get_jobs_by_name(JOB_NAME):
        job.schedule_removal()
    job_queue.run_repeating(dispatch_job, interval=services.settings.dispatch_interval_seconds,
                            first=1, name=JOB_NAME)
