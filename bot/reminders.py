"""Reminder delivery: plan into the database, then send what is due, exactly once.

The plan (``schedules.planning``) says *when* each unit is reminded; :func:`delivery_specs` turns
it into one durable row per recipient chat (unique key: task, unit, cycle, kind, offset, chat).
A unit with no enrolled contact gets a row for chat 0, which is never sent but reported to the
admins, so nobody is skipped silently. :func:`dispatch_due` runs every minute from PTB's
JobQueue (APScheduler): it claims each due row, sends it, and marks it sent with its message id.

Catch-up after downtime: of several missed ``before`` reminders for the same task and chat only
the latest is sent, and only while the cutoff has not passed; overdue notices and digests older
than :data:`STALE_AFTER` are dropped with a log line. A row left ``sending`` by a crash is sent
again (at-least-once in that narrow window, see docs/reminders.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Protocol

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes

from bot.app import Services
from bot.i18n import Translator, translator
from bot.messages import report_keyboard, send_pages
from bot.render import deadline_line, render_overdue, render_summary, report_line, role_label
from schedules.planning import PlannedReminder, ReminderKind, plan_reminders
from schedules.progress import FINISHED, task_state
from storage import ReminderSpec

log = logging.getLogger(__name__)

JOB_NAME = "dispatch-reminders"
NO_CONTACT_CHAT = 0
STALE_AFTER = dt.timedelta(days=3)
MAX_ATTEMPTS = 5
REPLAN_EVERY = dt.timedelta(hours=1)


class DeliveryRow(Protocol):
    """What the dispatcher needs of a stored reminder row."""

    id: int
    task_id: int
    unit_id: str
    cycle: int
    kind: str
    offset_days: int
    chat_id: int
    due_at: dt.datetime
    cutoff: dt.date
    attempts: int


@dataclass(frozen=True)
class Decision:
    """What to do with one due row: send it, or skip it and why."""

    row: Any
    send: bool
    reason: str = ""


@dataclass
class DispatchReport:
    """What one dispatch run did."""

    sent: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    units_without_contact: set[tuple[int, str]] = field(default_factory=set)


def delivery_specs(plan: Iterable[PlannedReminder], contacts: dict[str, list[int]],
                   leadership: Sequence[int]) -> list[ReminderSpec]:
    """One row per recipient chat for each planned reminder.

    Args:
        plan: the cycle's planned reminders.
        contacts: unit id -> Telegram ids of its active contacts.
        leadership: chat ids that receive digests (bound group chats, or leaders' own chats).

    Returns:
        The rows to plan; a unit without contacts gets one row for chat 0.
    """
    specs: list[ReminderSpec] = []
    for r in plan:
        if r.kind is ReminderKind.DIGEST:
            chats: Sequence[int] = leadership or (NO_CONTACT_CHAT,)
        else:
            chats = contacts.get(r.unit_id or "", []) or (NO_CONTACT_CHAT,)
        for chat in chats:
            specs.append(ReminderSpec(task_id=r.task_id or 0, unit_id=r.unit_id or "",
                                      cycle=r.cycle, kind=r.kind.value,
                                      offset_days=r.offset_days, chat_id=chat, due_at=r.at,
                                      cutoff=r.cutoff))
    return specs


def decide(rows: Sequence[Any], now: dt.datetime, finished: set[tuple[int, str, int]],
           planned: set[tuple[int, str, int, str, int]] | None = None,
           inactive: set[int] | frozenset[int] = frozenset()) -> list[Decision]:
    """Decide for each due row whether to send it (pure; the rules of catch-up).

    Args:
        rows: due rows, any order.
        now: the current instant.
        finished: (task, unit, cycle) whose unit reported done or not applicable.
        planned: the keys (:func:`plan_key`) the current timetable still plans; None: all.
        inactive: chats of people who are no longer enrolled.
    """
    decisions: list[Decision] = []
    newest: dict[tuple[int, str, int, int], Any] = {}
    for row in rows:
        if row.kind == ReminderKind.BEFORE.value:
            key = (row.task_id, row.unit_id, row.cycle, row.chat_id)
            if key not in newest or row.due_at > newest[key].due_at:
                newest[key] = row
    for row in sorted(rows, key=lambda r: (r.due_at, r.id)):
        if row.chat_id == NO_CONTACT_CHAT:
            decisions.append(Decision(row, False, "no enrolled contact"))
        elif planned is not None and plan_key(row) not in planned:
            decisions.append(Decision(row, False, "no longer in the timetable"))
        elif row.chat_id in inactive:
            decisions.append(Decision(row, False, "recipient no longer enrolled"))
        elif row.kind != ReminderKind.DIGEST.value and (
                row.task_id, row.unit_id, row.cycle) in finished:
            decisions.append(Decision(row, False, "unit reported done"))
        elif row.kind == ReminderKind.BEFORE.value:
            if now.date() >= row.cutoff:
                decisions.append(Decision(row, False, "missed: the cutoff has passed"))
            elif newest[(row.task_id, row.unit_id, row.cycle, row.chat_id)] is not row:
                decisions.append(Decision(row, False, "superseded by a later reminder"))
            else:
                decisions.append(Decision(row, True))
        elif now - row.due_at > STALE_AFTER:
            decisions.append(Decision(row, False, "stale: missed while the bot was down"))
        else:
            decisions.append(Decision(row, True))
    return decisions


# -- planning into the database ----------------------------------------------------------------
async def current_specs(services: Services, cycle: int) -> list[ReminderSpec]:
    """The delivery rows the cycle's plan asks for, given who is enrolled now."""
    plan = plan_reminders(services.timetable, cycle, services.calendar)
    people = await services.db(services.store.list_people)
    contacts: dict[str, list[int]] = defaultdict(list)
    for person in people:
        if person.role == "contact" and person.unit_id:
            contacts[person.unit_id].append(person.telegram_user_id)
    chats = [c.chat_id for c in await services.db(services.store.leadership_chats)]
    if not chats:
        chats = [p.telegram_user_id for p in people if p.role in ("leader", "admin")]
    return delivery_specs(plan, contacts, chats)


def plan_key(row: Any) -> tuple[int, str, int, str, int]:
    """The part of a delivery's key that the timetable decides (``PlannedReminder.key``)."""
    return (row.task_id, row.unit_id, row.cycle, row.kind, row.offset_days)


async def sync_plan(services: Services, cycle: int, now: dt.datetime) -> int:
    """Write the cycle's delivery rows (idempotent); returns how many were new."""
    specs = await current_specs(services, cycle)
    return await services.db(services.store.plan_deliveries, specs, now)


def request_replan(application: Application) -> None:
    """Make the next dispatch run re-plan (after an enrolment, a revocation, ...)."""
    application.bot_data["replanned_at"] = None


# -- rendering -------------------------------------------------------------------------------
def render_reminder(services: Services, t: Translator, row: Any, latest: Any,
                    today: dt.date) -> str:
    """The text of one reminder or overdue notice to a unit's contact."""
    timetable = services.timetable
    task = timetable.task(row.task_id)
    unit = timetable.unit(row.unit_id)
    duty = next((a for tk, a in timetable.tasks_for_unit(unit.id) if tk.id == task.id), None)
    state = task_state(timetable, task, row.cycle, {unit.id: latest} if latest else {}, today)
    if row.kind == ReminderKind.OVERDUE.value:
        head = "🔴 " + t.gettext("Overdue: task {number} has passed its cutoff").format(
            number=task.id)
    else:
        head = "⏰ " + t.gettext("Reminder: task {number}").format(number=task.id)
    lines = [f"<b>{head}</b>", f"<b>{task.id}. {escape(task.title)}</b>"]
    if duty is not None:
        lines.append(t.gettext("Your unit ({unit}) is {role}.").format(
            unit=escape(unit.name_en if t.language == "en" else unit.name),
            role=role_label(t, duty.role)))
    lines += [f"• {escape(item)}" for item in task.items]
    lines.append(deadline_line(t, state, task))
    lines.append(t.gettext("Latest report: {report}").format(report=report_line(t, latest)))
    lines.append(t.gettext("Press a status, or reply to this message in words (e.g. 进行中 60%)."))
    return "\n".join(lines)


def render_digest(services: Services, t: Translator, cycle: int, latest: Any,
                  today: dt.date) -> str:
    """The leadership digest: the summary counts and lines, then who is overdue or silent."""
    return (render_summary(t, services.timetable, cycle, latest, today) + "\n\n"
            + render_overdue(t, services.timetable, cycle, latest, today))


# -- sending ---------------------------------------------------------------------------------
async def _send_one(application: Application, services: Services, row: Any,
                    report: DispatchReport, now: dt.datetime) -> None:
    store = services.store
    if not await services.db(store.claim, row.id, now):
        return
    person = await services.db(store.get_person, row.chat_id)
    t = translator(person.language if person else None)
    today = now.astimezone(services.settings.zone).date()
    try:
        if row.kind == ReminderKind.DIGEST.value:
            latest = await services.db(store.latest_reports, row.cycle)
            message_id = await send_pages(
                application.bot, row.chat_id, render_digest(services, t, row.cycle, latest,
                                                            today), t)
        else:
            latest = await services.db(store.latest_reports, row.cycle, row.task_id, row.unit_id)
            text = render_reminder(services, t, row, latest.get((row.task_id, row.unit_id)),
                                   today)
            message = await application.bot.send_message(
                row.chat_id, text, reply_markup=report_keyboard(t, row.task_id, row.id))
            message_id = message.message_id
    except Forbidden as exc:
        await services.db(store.mark_failed, row.id, f"forbidden: {exc.message}", now)
        report.failed.append((row.id, exc.message))
        if person is not None:
            await services.db(store.deactivate_person, row.chat_id,
                              f"bot blocked or never started: {exc.message}", now)
            request_replan(application)
            await tell_admins(application, services, lambda a: a.gettext(
                "{name} ({id}) has blocked the bot or never started it; they are marked "
                "inactive. Reminders for {unit} need another contact.").format(
                name=escape(person.display_name), id=person.telegram_user_id,
                unit=escape(person.unit_id or "-")))
        return
    except (RetryAfter, NetworkError) as exc:
        if isinstance(exc, BadRequest):
            await services.db(store.mark_failed, row.id, f"bad request: {exc.message}", now)
            report.failed.append((row.id, exc.message))
            return
        if row.attempts + 1 >= MAX_ATTEMPTS:
            await services.db(store.mark_failed, row.id, f"gave up: {exc}", now)
            report.failed.append((row.id, str(exc)))
            return
        await services.db(store.retry_later, row.id, f"{type(exc).__name__}: {exc}", now)
        report.retried.append(row.id)
        return
    except TelegramError as exc:
        await services.db(store.mark_failed, row.id, f"{type(exc).__name__}: {exc}", now)
        report.failed.append((row.id, str(exc)))
        return
    await services.db(store.mark_sent, row.id, message_id, now)
    report.sent.append(row.id)


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


async def dry_run(services: Services, at: dt.datetime) -> list[Decision]:
    """What a dispatch run at ``at`` would do, without writing or sending anything."""
    cycle = at.astimezone(services.settings.zone).year
    stored = {(r.task_id, r.unit_id, r.cycle, r.kind, r.offset_days, r.chat_id): r
              for r in await services.db(services.store.reminders_for_cycle, cycle)}
    rows: list[DryRow] = []
    for spec in await current_specs(services, cycle):
        row = stored.get(spec.key)
        state = row.state if row is not None else "unplanned"
        if spec.due_at <= at and state in ("pending", "unplanned"):
            rows.append(DryRow(row.id if row is not None else 0, spec.task_id, spec.unit_id,
                               spec.cycle, spec.kind, spec.offset_days, spec.chat_id,
                               spec.due_at, spec.cutoff, state))
    latest = await services.db(services.store.latest_reports, cycle)
    finished = {(task, unit, cycle) for (task, unit), r in latest.items()
                if r.status in FINISHED}
    everyone = await services.db(services.store.list_people, None, None, False)
    inactive = {p.telegram_user_id for p in everyone if not p.active}
    return decide(rows, at, finished, None, inactive)


async def tell_admins(application: Application, services: Services,
                      text_for: Any) -> None:
    """Send a notice to every admin (DUBAN_ADMINS and enrolled admins) in their language."""
    people = await services.db(services.store.list_people, None, "admin")
    targets = {p.telegram_user_id: p.language for p in people}
    for admin_id in services.settings.admins:
        targets.setdefault(admin_id, None)
    for chat_id, language in targets.items():
        try:
            await application.bot.send_message(chat_id, text_for(translator(language)))
        except TelegramError as exc:
            log.warning("could not notify admin %s: %s", chat_id, exc)


async def dispatch_due(application: Application, now: dt.datetime | None = None
                       ) -> DispatchReport:
    """Plan if needed, then send every due reminder exactly once.

    Sends to different chats run concurrently (PTB's AIORateLimiter keeps the overall and group
    limits); sends to one chat go one after another, ``per_chat_interval`` seconds apart, to keep
    within Telegram's one message per second per chat.
    """
    services: Services = application.bot_data["services"]
    now = now or services.clock.now()
    report = DispatchReport()
    last = application.bot_data.get("replanned_at")
    if last is None or now - last >= REPLAN_EVERY or now < last:
        for stale in await services.db(services.store.stale_sending, now - dt.timedelta(
                minutes=10)):
            await services.db(services.store.retry_later, stale.id,
                              "interrupted while sending", now)
        await sync_plan(services, now.astimezone(services.settings.zone).year, now)
        application.bot_data["replanned_at"] = now
    due = await services.db(services.store.due_deliveries, now)
    if not due:
        return report
    finished: set[tuple[int, str, int]] = set()
    for cycle in {row.cycle for row in due}:
        latest = await services.db(services.store.latest_reports, cycle)
        finished |= {(task, unit, cycle) for (task, unit), r in latest.items()
                     if r.status in FINISHED}
    planned = {r.key for cycle in {row.cycle for row in due}
               for r in plan_reminders(services.timetable, cycle, services.calendar)}
    everyone = await services.db(services.store.list_people, None, None, False)
    inactive = {p.telegram_user_id for p in everyone if not p.active}
    by_chat: dict[int, list[Any]] = defaultdict(list)
    for decision in decide(due, now, finished, planned, inactive):
        row = decision.row
        if decision.send:
            by_chat[row.chat_id].append(row)
            continue
        await services.db(services.store.mark_skipped, row.id, decision.reason, now)
        report.skipped.append((row.id, decision.reason))
        if decision.reason == "no enrolled contact" and row.unit_id:
            report.units_without_contact.add((row.task_id, row.unit_id))
        else:
            log.info("reminder %s skipped: %s", row.id, decision.reason)
    interval = application.bot_data.get("per_chat_interval", 1.0)

    async def drain(rows: list[Any]) -> None:
        for index, row in enumerate(rows):
            if index:
                await asyncio.sleep(interval)
            await _send_one(application, services, row, report, now)

    await asyncio.gather(*(drain(rows) for rows in by_chat.values()))
    if report.units_without_contact:
        await _report_missing_contacts(application, services, report.units_without_contact)
    return report


async def _report_missing_contacts(application: Application, services: Services,
                                   missing: set[tuple[int, str]]) -> None:
    by_unit: dict[str, list[int]] = defaultdict(list)
    for task_id, unit_id in sorted(missing):
        by_unit[unit_id].append(task_id)

    def text(t: Translator) -> str:
        lines = [t.gettext("These units have no enrolled contact, so their reminders were not "
                           "sent. Enrol someone with /invite <unit>:")]
        for unit_id, tasks in by_unit.items():
            unit = services.timetable.unit(unit_id)
            name = unit.name_en if t.language == "en" else unit.name
            lines.append(t.gettext("• {unit}: tasks {tasks}").format(
                unit=escape(name), tasks=", ".join(str(n) for n in tasks)))
        return "\n".join(lines)

    await tell_admins(application, services, text)


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
