"""Department contacts: /mytasks, /report, the status buttons, replies in words, evidence,
/calendar.

Read top to bottom as a contact's conversation goes: the contact opens their tasks (or a
reminder), presses a status or writes one, may add a note or a file, and gets an acknowledgement
that repeats what was stored. Every report is committed before it is acknowledged, and a report
that was stored is never said to have failed.

What a report is about: the task, the unit (a clerk may serve two) and the cycle (year). A reply
or a button under a reminder belongs to that reminder's task, unit and cycle. When something is
missing, the bot asks with buttons, one question at a time (which task, which unit, which year,
which status) and stores nothing until the answers are in: see :class:`Draft` and
docs/chat.md.

Callback data (at most 64 bytes, fields joined by ``|``):

* ``t|<task>|<unit>``                        open one task with its report buttons
* ``r|<task>|<status code>|<cycle>|<unit>``  report a status (codes in ``bot.messages``)
* ``c|<token>|<field>|<value>``              answer a question about a draft report
* ``a|<reminder id>``                        acknowledge every task a reminder lists (收到)
* ``b|<reminder id>|<status code>``          report every task a reminder lists at once
* ``e|<token>|<unit>``                       the unit an extension request is for

``/extend <task> <new due date> <reason>`` asks the leaders to move the unit's due date; a
report is checked against the workflow first (a confirmed task is closed, docs/workflow.md), a
cooperating unit's report goes to the lead unit's contacts, and a delivering unit's report of
done goes to the leadership for review.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from html import escape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.handlers.common import (
    SENT_AT_GRAIN,
    Caller,
    answer_query,
    caller_of,
    confirm_press,
    echo,
    in_group,
    known_caller,
    people_named,
    sent_at,
    year_usage,
)
from bot.i18n import N_, Translator
from bot.messages import (
    BUTTON_LABELS,
    CODE_STATUSES,
    MAX_TASK_BUTTONS,
    STATUS_CODES,
    extension_keyboard,
    reply,
    reply_file,
    report_keyboard,
    review_keyboard,
)
from bot.notices import notify_leadership, notify_unit, remember_notices
from bot.render import (
    deadline_line,
    plain_unit_name,
    render_task,
    render_unit,
    report_line,
    role_label,
    status_label,
    unit_name,
    unit_names,
    workflow_lines,
)
from bot.reports.calendar import build_calendar, calendar_filename
from bot.reports.packages import missing_package_text, missing_packages
from bot.services import Services, services_of
from schedules.commands import (
    FIRST_CYCLE,
    LAST_CYCLE,
    ExtendError,
    ExtendProblem,
    ReportError,
    ReportProblem,
    named_task,
    parse_cycle_year,
    parse_extend_args,
    parse_report_text,
    year_in_words,
)
from schedules.feeds import feed_events
from schedules.model import Timetable, UnitKind
from schedules.numbers import foreign_digits, is_bare_number, parse_number, parse_percent
from schedules.planning import cycle_cutoff
from schedules.progress import carried_progress, cycle_is_open, deliverers, is_closed
from schedules.status import (
    Status,
    is_acknowledgement,
    is_question,
    is_small_talk,
    parse_status_text,
)
from schedules.text import visible_text
from schedules.workflow import (
    EXTENSION_PENDING,
    NOT_THIS_CYCLE,
    PAST_DATE,
    CycleFacts,
    Phase,
    UnitState,
    extension_refusal,
    report_refusal,
    unit_state,
)
from schedules.years import glue_year_suffix
from storage import (
    NotServing,
    PairStanding,
    ReportRequest,
    StatusReport,
    StillOwed,
    is_transient_database_error,
)

log = logging.getLogger(__name__)

NOTE_WINDOW = dt.timedelta(minutes=15)
"""A message that is not a reply counts as the note of a button report only this soon after."""
REDELIVERY_AGE = 2 * SENT_AT_GRAIN
"""A message handled this long after it was sent may have been handled before: Telegram
delivers an update again when the bot did not confirm it (a crash or restart mid-handling, which
takes longer than this; Bot API, getUpdates' ``offset``, setWebhook's retries). Its report is
looked up by its message first (``ReportRequest.maybe_again``), so that a colleague's report in
between does not make it new. A message handled sooner is one the bot has not seen."""
REPEAT_WINDOW = dt.timedelta(minutes=1)
"""The same report (status, percentage, note) from the same person on the same task, unit and
cycle within this long is one report, whatever the channel: a double press, or the same /report
or reply sent twice."""
REPORT_STATUSES = ("done", "in_progress", "blocked", "not_applicable")
DRAFTS_KEPT = 20
"""Open questions remembered per person; older ones expire."""


async def contact_caller(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    """The caller if they serve at least one unit and write privately; otherwise answer, None.

    A unit's reports and notes are for its contact and the leaders: they are never posted in a
    group, so reporting happens in a private chat only.
    """
    caller = await known_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return None
    if in_group(update):
        await reply(message, caller.t.gettext(
            "Please report to me in a private chat: a unit's reports are not for a group."),
            caller.t)
        return None
    if not caller.units:
        await reply(message, caller.t.gettext(
            "Only department contacts report on tasks, and you serve no unit at the moment; "
            "an admin can enrol you for one with /invite."), caller.t)
        return None
    return caller


def duty_units(services: Services, caller: Caller, task_id: int) -> list[str]:
    """The caller's units that have a duty on the task (timetable order)."""
    task = services.timetable.task(task_id)
    responsible = {a.unit_id for a in services.timetable.responsible_units(task)}
    return [u for u in caller.units if u in responsible]


def task_problem(services: Services, caller: Caller, task_id: int, unit_id: str | None,
                 cycle: int) -> str:
    """Why the caller cannot report on this task (for this unit and cycle), or "" if they can.

    Returns a message id; format it with ``number``.
    """
    try:
        task = services.timetable.task(task_id)
    except KeyError:
        return N_("There is no task {number}. /mytasks lists your units' tasks.")
    units = duty_units(services, caller, task_id)
    if not units or (unit_id is not None and unit_id not in units):
        return N_("Task {number} is not one of your units' tasks; you can report only for "
                  "your own units. /mytasks lists them.")
    if is_closed(task, cycle):
        return N_("Task {number} had a once-only deadline and is closed.")
    return ""


# -- /mytasks and one task's card --------------------------------------------------------------
async def my_tasks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List each of the contact's units' tasks with role, cutoff, days left and status.

    One message per unit, each with that unit's task buttons: a clerk of many units would
    otherwise exceed Telegram's 100 buttons under one message.
    """
    caller = await contact_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = caller.t
    cycle = services.cycle()
    for unit_id in caller.units:
        unit = services.timetable.unit(unit_id)
        # the unit's own facts, with its latest notes (a group's tasks: every unit's)
        facts = await services.db(services.store.cycle_facts, cycle, None,
                                  None if unit.kind is UnitKind.GROUP else unit_id)
        text = render_unit(t, services.timetable, unit, cycle, facts, services.today())
        open_tasks = [task.id for task, _ in services.timetable.tasks_for_unit(unit_id)
                      if not is_closed(task, cycle)]
        buttons = [InlineKeyboardButton(str(n), callback_data=f"t|{n}|{unit_id}")
                   for n in open_tasks[:MAX_TASK_BUTTONS]]
        rows = [buttons[i:i + 6] for i in range(0, len(buttons), 6)]
        if rows:
            text += "\n\n" + t.gettext("Press a task number to report on it.")
        sent = await reply(message, text, t, InlineKeyboardMarkup(rows) if rows else None)
        if sent is not None and rows:  # its task buttons are about this cycle, pressed whenever
            await services.db(services.store.record_notice_messages, message.chat_id, sent,
                              [(0, unit_id, cycle)], "listing", services.now())


async def calendar_feed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/calendar [year]: an .ics file of the person's units' due days and reminder days."""
    caller = await known_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services, t = services_of(context), caller.t
    if in_group(update):
        await reply(message, t.gettext(
            "Your calendar is your own: send /calendar to me in a private chat."), t)
        return
    if not caller.units:
        await reply(message, t.gettext(
            "The calendar holds your units' due days, and you serve no unit at the moment; "
            "an admin can enrol you for one with /invite."), t)
        return
    words = glue_year_suffix(context.args)
    cycle = (services.cycle() if not words else parse_cycle_year(words[0])
             if len(words) == 1 else None)
    if cycle is None:
        await reply(message, year_usage(
            t, N_("Usage: /calendar [year], e.g. /calendar 2026."), words), t)
        return
    if missing_packages("icalendar"):
        log.error("/calendar: icalendar is not installed (pip install -e .)")
        await reply(message, missing_package_text(t, "icalendar"), t)
        return
    facts = await services.db(services.store.cycle_facts, cycle)
    events = await asyncio.to_thread(feed_events, services.timetable, cycle, caller.units,
                                     services.calendar, services.settings.zone, facts=facts)
    names = "、".join(plain_unit_name(t, services.timetable.unit(u)) for u in caller.units)
    if not events:
        await reply(message, t.gettext(
            "Your units have no due day in {year}: their tasks are judged on statistics or "
            "were once-only.").format(year=cycle), t)
        return
    content = await asyncio.to_thread(build_calendar, t, services.timetable, events, cycle,
                                      services.now(), names)
    who = caller.units[0] if len(caller.units) == 1 else "mine"
    await reply_file(message, content, calendar_filename(cycle, who), t.gettext(
        "Due days and reminder days of {units}, cycle {year}: open the file to add them to "
        "your calendar. Importing a newer file updates them.").format(
            units=escape(names), year=cycle))


async def open_task(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show one task to a contact with the report buttons (``t|<task>|<unit>``)."""
    press = await contact_press(update, context)
    if press is None:
        return
    caller, message, services, t = press.caller, press.message, press.services, press.t
    task_id = parse_number(press.fields[0], 1, 10**6) if press.fields else None
    unit_id = press.fields[1] if len(press.fields) > 1 else ""
    if task_id is None or unit_id not in caller.units:
        await answer_query(press.query, t.gettext("This button has expired."))
        return
    await answer_query(press.query)
    cycle = await message_cycle(services, context.user_data or {}, message, task_id, unit_id)
    problem = task_problem(services, caller, task_id, unit_id, cycle)
    if problem:
        await reply(message, t.gettext(problem).format(number=task_id), t)
        return
    sent = await reply(message, await task_card(services, t, task_id, unit_id, cycle), t,
                       report_keyboard(t, task_id, cycle, unit_id))
    remember_about(context, sent, task_id, unit_id, cycle)


async def message_cycle(services: Services, user_data: dict[str, Any], message: Message,
                        task_id: int, unit_id: str) -> int:
    """The cycle a task button under one of the bot's messages acts on: that message's own (a
    reminder or overdue notice, a return or urge, a /mytasks listing, a task card), whenever it
    is pressed — a button under December's overdue notice pressed in January is December's.
    The current cycle for a message the bot kept no record of."""
    rows = await services.db(services.store.reminders_by_message, message.chat_id,
                             message.message_id)
    cycles = [r.cycle for r in rows if r.task_id == task_id and r.unit_id == unit_id]
    if not cycles:
        notices = await services.db(services.store.notice_messages, message.chat_id,
                                    message.message_id)
        cycles = [n.cycle for n in notices
                  if n.task_id in (0, task_id) and n.unit_id == unit_id]
    about = user_data.get("about", {}).get(message.message_id)
    if not cycles and about is not None and tuple(about[:2]) == (task_id, unit_id):
        cycles = [about[2]]
    return cycles[0] if cycles else services.cycle()


async def task_card(services: Services, t: Translator, task_id: int, unit_id: str,
                    cycle: int) -> str:
    """One task for a contact: items, their unit's role, cutoff and latest report."""
    timetable = services.timetable
    task = timetable.task(task_id)
    facts = await services.db(services.store.cycle_facts, cycle, task_id, unit_id)
    state = unit_state(timetable, task, unit_id, facts, services.today())
    lines = [f"{state.light.value} <b>{task.id}. {escape(task.title)}</b>",
             t.gettext("{unit} is {role} ({year}).").format(
                 unit=unit_name(t, timetable.unit(unit_id)), role=role_label(t, state.role),
                 year=cycle),
             deadline_line(t, state, task)]
    lines += [f"• {escape(item)}" for item in task.items]
    lines.append(t.gettext("Latest report: {report}").format(report=report_line(
        t, state.report, state=state)))
    lines += workflow_lines(t, state, await people_named(services))
    return "\n".join(lines)


# -- a draft report and its questions -------------------------------------------------------
@dataclass(frozen=True)
class Draft:
    """A report being put together: what is known so far, and where it came from.

    ``task_id``, ``unit_id``, ``cycle`` or ``status`` is None while the bot still has to ask.
    ``tasks`` are the candidates when a message named several (a day's reminder).
    """

    task_id: int | None
    unit_id: str | None
    cycle: int | None
    status: str | None
    percent: int | None
    note: str
    source: str
    message_id: int | None
    tasks: tuple[tuple[int, str, int], ...] = ()  # (task, unit, cycle) to choose from
    statuses: tuple[str, ...] = REPORT_STATUSES  # the statuses to offer
    cycle_given: bool = False
    years: tuple[int, ...] = ()  # the years offered, when the bot asked which
    at: dt.datetime | None = None  # when the message was sent (None: a button, now)
    files: tuple[dict[str, Any], ...] = ()  # sent with the words: kept with this report
    noted: int | None = None  # the acknowledgement whose report these words annotate
    unless_owed: bool = False
    """``cycle`` is the year it was sent in unless the unit still owes the year before: that
    is checked in the transaction that stores it (:func:`store_report`), and the person asked
    which year it is for if so."""


ABOUT_KEPT = 50
"""Bot messages per person whose task is remembered (cards, acknowledgements)."""


def remember_about(context: ContextTypes.DEFAULT_TYPE, message_id: int | None, task_id: int,
                   unit_id: str, cycle: int) -> None:
    """Remember that a message the bot sent is about one task, so that a reply to it is too."""
    if message_id is None:
        return
    about: dict[int, tuple[int, str, int]] = context.user_data.setdefault(  # type: ignore[union-attr]
        "about", {})
    while len(about) >= ABOUT_KEPT:
        about.pop(next(iter(about)))
    about[message_id] = (task_id, unit_id, cycle)


def remember(context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> str:
    """Keep a draft in the person's data under a new token; the oldest drafts expire."""
    drafts: dict[str, Draft] = context.user_data.setdefault("drafts", {})  # type: ignore[union-attr]
    while len(drafts) >= DRAFTS_KEPT:
        drafts.pop(next(iter(drafts)))
    token = secrets.token_urlsafe(6)
    drafts[token] = draft
    return token


async def settle(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                 message: Message, draft: Draft) -> None:
    """Ask the next missing thing about a draft, or store it when nothing is missing."""
    services = services_of(context)
    t = caller.t
    draft = await _fill_in(services, caller, draft)
    question = _question(services, caller, draft)
    if question is not None:
        await ask(context, message, t, draft, question)
        return
    await store_report(update, context, caller, message, draft)


async def ask(context: ContextTypes.DEFAULT_TYPE, message: Message, t: Translator,
              draft: Draft, question: Question) -> None:
    """Ask a question about a draft, kept under a new token until it is answered."""
    text, field, choices = question
    token = remember(context, draft)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(
        label, callback_data=f"c|{token}|{field}|{value}")] for value, label in choices])
    await reply(message, text + "\n" + t.gettext("Nothing is stored until you choose."),
                t, keyboard)


async def _fill_in(services: Services, caller: Caller, draft: Draft) -> Draft:
    """Decide what needs no question: the only task, the only unit, the only open year."""
    if draft.task_id is None and len(draft.tasks) == 1:
        only_task, only_unit, only_cycle = draft.tasks[0]
        draft = dataclasses.replace(draft, task_id=only_task, unit_id=only_unit,
                                    cycle=only_cycle, cycle_given=True, tasks=())
    task_id = draft.task_id
    if task_id is None:
        return draft
    if draft.unit_id is None:
        units = duty_units(services, caller, task_id)
        if len(units) == 1:
            draft = dataclasses.replace(draft, unit_id=units[0])
    unit_id = draft.unit_id
    if unit_id is not None and draft.cycle is None:
        current = (draft.at or services.now()).year  # the year it was sent in
        previous = current - 1
        if (draft.status is not None and may_be_owed(services, task_id, previous)
                and not task_problem(services, caller, task_id, unit_id, current)):
            # the year is the last question left, and the report can be stored for this
            # year: the year before is looked at in the transaction that stores it (one
            # database call, not two; the same question when the unit still owes that year)
            draft = dataclasses.replace(draft, cycle=current, unless_owed=True)
        elif not await previous_cycle_open(services, task_id, unit_id, previous):
            draft = dataclasses.replace(draft, cycle=current)
        else:
            draft = dataclasses.replace(draft, years=(previous, current))
    return draft


async def previous_cycle_open(services: Services, task_id: int, unit_id: str,
                              previous: int) -> bool:
    """Whether the unit still owes ``previous``'s cycle of the task (``cycle_is_open``): a
    report that is not done, or done and returned (退回) by a leader, or none after a reminder."""
    if not may_be_owed(services, task_id, previous):
        return False
    found = await services.db(services.store.pair_standing, previous, task_id, unit_id)
    return owes(services, task_id, previous, found)


def may_be_owed(services: Services, task_id: int, previous: int) -> bool:
    """Whether ``previous``'s cycle of the task can be owed at all (``cycle_is_open``'s first
    rule, without reading the database): a cycle duban knows, in which the task had a due
    date."""
    task = services.timetable.task(task_id)
    return previous >= FIRST_CYCLE and cycle_cutoff(services.timetable, task, previous) is not None


def owes(services: Services, task_id: int, previous: int, found: PairStanding) -> bool:
    """Whether a unit whose ``previous`` cycle of the task stands as ``found`` still owes it."""
    return cycle_is_open(services.timetable, services.timetable.task(task_id), previous,
                         found.status, found.status is None and found.reminded,
                         returned=found.returned)


Question = tuple[str, str, list[tuple[str, str]]]


def _question(services: Services, caller: Caller, draft: Draft) -> Question | None:
    """The next question about a draft: (text, field, [(value, label)]), or None."""
    timetable, t = services.timetable, caller.t
    if draft.task_id is None:
        repeated = {task for task, _, _ in draft.tasks
                    if sum(1 for other, _, _ in draft.tasks if other == task) > 1}
        return (t.gettext("Which task is this about?"), "t",
                [(f"{task_id}.{unit_id}.{cycle}", f"{task_id}. " + (
                    plain_unit_name(t, timetable.unit(unit_id)) if task_id in repeated
                    else _title(services, task_id)))
                 for task_id, unit_id, cycle in draft.tasks[:MAX_TASK_BUTTONS]])
    if draft.unit_id is None:
        units = [timetable.unit(u) for u in duty_units(services, caller, draft.task_id)]
        return (t.gettext("Task {number} is a task of several of your units. For which unit?")
                .format(number=draft.task_id), "u",
                [(u.id, u.name_en if t.language == "en" else u.name) for u in units])
    if draft.cycle is None:
        current = draft.years[-1] if draft.years else services.cycle()
        return (t.gettext("Your unit has not finished task {number} for {previous}. Which "
                          "year is this report for?").format(number=draft.task_id,
                                                             previous=current - 1), "y",
                [(str(current - 1), str(current - 1)), (str(current), str(current))])
    if draft.status is None:
        return (t.gettext("Which status do you mean for task {number}?").format(
            number=draft.task_id), "s",
            [(STATUS_CODES[s], t.gettext(BUTTON_LABELS[s])) for s in draft.statuses])
    return None


def _title(services: Services, task_id: int) -> str:
    title = services.timetable.task(task_id).title
    return title if len(title) <= 24 else title[:23] + "…"


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One answer to a draft's question (``c|<token>|<field>|<value>``)."""
    press = await contact_press(update, context)
    if press is None:
        return
    caller, t = press.caller, press.t
    drafts: dict[str, Draft] = context.user_data.get("drafts", {})  # type: ignore[union-attr]
    answered: dict[str, bool] = context.user_data.setdefault(  # type: ignore[union-attr]
        "answered", {})
    if len(press.fields) == 3 and press.fields[0] in answered:
        # a second press on a question already answered (a double press): what the first
        # press chose stands
        await answer_query(press.query, t.gettext(
            "Already answered: your first choice is recorded."))
        return
    if len(press.fields) != 3 or press.fields[0] not in drafts:
        await answer_query(press.query, t.gettext(
            "This question has expired; please send your report again."))
        return
    token, field, value = press.fields
    draft = drafts[token]
    answered_draft = _answer(draft, field, value, caller)
    if answered_draft is None:
        await answer_query(press.query, t.gettext("This button has expired."))
        return
    drafts.pop(token)
    while len(answered) >= DRAFTS_KEPT * 2:
        answered.pop(next(iter(answered)))
    answered[token] = True
    await answer_query(press.query)
    await settle(update, context, caller, press.message, answered_draft)


def _answer(draft: Draft, field: str, value: str, caller: Caller) -> Draft | None:
    """The draft with one question answered, or None if the answer does not fit."""
    if field == "t":
        parts = value.split(".")
        chosen = next((c for c in draft.tasks if ".".join(map(str, c)) == value), None)
        if len(parts) != 3 or chosen is None:
            return None
        return dataclasses.replace(draft, task_id=chosen[0], unit_id=chosen[1],
                                   cycle=chosen[2], cycle_given=True, tasks=())
    if field == "u" and value in caller.units and draft.unit_id is None:
        return dataclasses.replace(draft, unit_id=value)
    if field == "y" and draft.cycle is None:
        cycle = parse_number(value, FIRST_CYCLE, LAST_CYCLE)
        if cycle is None or cycle not in draft.years:  # only a year that was offered
            return None
        return dataclasses.replace(draft, cycle=cycle)
    if field == "s" and value in CODE_STATUSES and draft.status is None:
        return dataclasses.replace(draft, status=CODE_STATUSES[value])
    return None


# -- storing ------------------------------------------------------------------------------
def not_serving(t: Translator, timetable: Timetable, task_ids: Sequence[int],
                unit_id: str) -> str:
    """What a person is told when their reports on ``task_ids`` for a unit met
    :class:`storage.NotServing` (an admin ended their service meanwhile): one line."""
    return t.ngettext(
        "Nothing was stored for task {numbers}: you no longer serve {unit} (an admin ended it "
        "just now). /mytasks shows the units you serve; an admin can enrol you again.",
        "Nothing was stored for tasks {numbers}: you no longer serve {unit} (an admin ended "
        "it just now). /mytasks shows the units you serve; an admin can enrol you again.",
        len(task_ids)).format(numbers=", ".join(map(str, task_ids)),
                              unit=unit_name(t, timetable.unit(unit_id)))


class Refused(Exception):
    """The workflow refuses a report (:func:`schedules.workflow.report_refusal`): nothing is
    stored; ``reason`` is the message id to tell the person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Recorded:
    """A report stored (or a repeat recognised), with the unit's state before and after."""

    report: StatusReport
    new: bool
    before: UnitState
    after: UnitState


async def record_report(services: Services, caller: Caller, task_id: int, unit_id: str,
                        cycle: int, status: str, percent: int | None, note: str, source: str,
                        message_id: int | None, at: dt.datetime | None = None,
                        unless_owed: int | None = None) -> Recorded | str:
    """Store a report the workflow allows; otherwise the refusal, in the caller's language.

    ``at``: when it was sent (its message's date; None: now, for a button), which is the time
    stored and the day its state is judged on (on time or late). ``unless_owed``: a cycle
    (the year before) that the unit must not still owe, else nothing is stored and
    :class:`storage.StillOwed` raised. :class:`storage.NotServing` is raised when the caller no
    longer serves the unit as the report is written (revoked meanwhile): :func:`not_serving`
    says so.
    """
    t = caller.t
    at = at or services.now()
    timetable = services.timetable
    task = timetable.task(task_id)

    checked: list[tuple[CycleFacts, UnitState]] = []

    def check(facts: CycleFacts) -> int | None:
        """The workflow's check on the pair's facts, in the transaction that appends: the
        progress to store (carried from the unit's previous report), or :class:`Refused`."""
        before = unit_state(timetable, task, unit_id, facts, at.date())
        checked.append((facts, before))
        refusal = report_refusal(before)
        if refusal:
            raise Refused(refusal)
        return carried_progress(status, percent, facts.reports.get((task_id, unit_id)))

    try:
        stored = await services.add_report(ReportRequest(
            task_id, unit_id, cycle, status, percent, note, caller.telegram_user_id, at, source,
            message_id, REPEAT_WINDOW, check=check, standing_of=unless_owed,
            owed=None if unless_owed is None else partial(owes, services, task_id, unless_owed),
            serving=True, maybe_again=services.now() - at > REDELIVERY_AGE))
    except Refused as refused:
        return t.gettext(refused.reason).format(number=task_id, year=cycle,
                                                unit=unit_name(t, timetable.unit(unit_id)))

    report, new = stored
    if not checked:  # found stored by an earlier handling of this very message (a retry's
        # ``again``) before this one's check ran: nothing of this handling was stored
        pair = await services.db(services.store.pair_facts, cycle, task_id, unit_id)
        state = unit_state(timetable, task, unit_id, pair.facts, at.date())
        return Recorded(report, False, state, state)
    facts, before = checked[-1]
    reports = {**facts.reports, (task_id, unit_id): report}
    after = unit_state(timetable, task, unit_id, dataclasses.replace(facts, reports=reports),
                       at.date())
    return Recorded(report, new, before, after)


async def announce(context: ContextTypes.DEFAULT_TYPE, caller: Caller, recorded: Recorded) -> str:
    """Pass a new report on: a cooperating unit's input to the lead unit's contacts, a
    delivering unit's report of done to the leadership for review.

    Returns:
        A line for the reporter saying who was told ("" for nobody).
    """
    if not recorded.new:
        return ""
    services = services_of(context)
    timetable = services.timetable
    state, report = recorded.after, recorded.report
    task = timetable.task(state.task_id)
    unit = timetable.unit(state.unit_id)
    t = caller.t
    if not state.delivers:
        leads = deliverers(timetable, task)
        reached = []
        for lead in leads:
            reached += await notify_unit(
                context.bot, services, lead, lambda r: "📥 " + r.gettext(
                    "Input from {unit} on task {number} ({year}): {report}").format(
                    unit=unit_name(r, unit), number=task.id, year=state.cycle,
                    report=report_line(r, report, None)) + "\n" + r.gettext(
                    "/task {number} shows every unit's input.").format(number=task.id),
                skip=caller.telegram_user_id,
                sent=remember_notices(services, task.id, lead, state.cycle, "input"))
        if not reached:
            return ""
        return t.gettext("Your input has been passed to the lead unit ({units}).").format(
            units=unit_names(t, timetable, leads))
    if state.phase is Phase.REPORTED_DONE and recorded.before.phase is not Phase.REPORTED_DONE:
        reached = await notify_leadership(
            context.bot, services, lambda r: "🔵 " + r.gettext(
                "{unit} reports task {number} ({year}) done: {report}").format(
                unit=unit_name(r, unit), number=task.id, year=state.cycle,
                report=report_line(r, report, None)) + "\n" + r.gettext(
                "Confirm it (审结) or return it with a comment (退回):"),
            lambda r: review_keyboard(r, task.id, unit.id, state.cycle, report.id))
        if reached:
            return t.gettext("The leadership has been asked to review it.")
    return ""


async def store_report(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                       message: Message, draft: Draft) -> None:
    """Commit a complete draft, then acknowledge it, repeating what was stored."""
    services = services_of(context)
    t = caller.t
    assert draft.task_id is not None and draft.unit_id is not None
    assert draft.cycle is not None and draft.status is not None
    problem = task_problem(services, caller, draft.task_id, draft.unit_id, draft.cycle)
    if problem:
        await reply(message, t.gettext(problem).format(number=draft.task_id), t)
        return
    try:
        recorded = await record_report(
            services, caller, draft.task_id, draft.unit_id, draft.cycle, draft.status,
            draft.percent, draft.note, draft.source, draft.message_id, draft.at,
            unless_owed=draft.cycle - 1 if draft.unless_owed else None)
    except NotServing:  # revoked while the report waited: it is not theirs to make any more
        await reply(message, not_serving(t, services.timetable, [draft.task_id], draft.unit_id),
                    t)
        return
    except StillOwed as owed:  # nothing stored: which year is it for?
        asked = dataclasses.replace(draft, cycle=None, unless_owed=False,
                                    years=(owed.cycle, draft.cycle))
        question = _question(services, caller, asked)
        assert question is not None
        await ask(context, message, t, asked, question)
        return
    if isinstance(recorded, str):
        await reply(message, recorded, t)
        return
    report = recorded.report
    user_data: dict[str, Any] = context.user_data  # type: ignore[assignment]
    user_data["last_report"] = {"task": draft.task_id, "unit": draft.unit_id,
                                "cycle": draft.cycle, "report_id": report.id}
    unit = services.timetable.unit(draft.unit_id)
    head = t.gettext("Stored for task {number}, {unit} ({cycle}): {report}") if recorded.new \
        else t.gettext("Already stored for task {number}, {unit} ({cycle}); the repeat was not "
                       "stored again: {report}")
    text = head.format(number=draft.task_id, unit=unit_name(t, unit), cycle=report.cycle,
                       report=report_line(t, report, state=recorded.after))
    if draft.source == "button":
        text += "\n" + t.gettext("Reply to this message with a note, a percentage or a file if "
                                 "you like.")
    sent = await reply(message, text, t)
    remember_about(context, sent, draft.task_id, draft.unit_id, draft.cycle)
    if draft.source == "button":
        user_data["awaiting_note"] = {
            "task": draft.task_id, "unit": draft.unit_id, "cycle": draft.cycle,
            "status": report.status, "progress": report.progress, "message_id": sent,
            "report_id": report.id, "until": services.now() + NOTE_WINDOW}
    elif draft.noted is not None:
        # a note or percentage on a button report: a later reply to the same acknowledgement
        # is still that report's (now this one's) note; other messages no longer are
        user_data["awaiting_note"] = {
            "task": draft.task_id, "unit": draft.unit_id, "cycle": draft.cycle,
            "status": report.status, "progress": report.progress, "message_id": draft.noted,
            "report_id": report.id, "until": None}
    told = await announce_patiently(context, caller, recorded)
    if told:
        await reply(message, told, t)
    if draft.files:  # sent with the words that made this report: kept with it
        user_data.setdefault("pending_evidence", []).extend(
            {**f, "task": draft.task_id, "unit": draft.unit_id, "cycle": draft.cycle}
            for f in draft.files)
    await attach_pending_evidence(context, caller, message)


ANNOUNCE_RETRIES = (0.5, 1.0, 2.0, 4.0)
"""Seconds to wait before each new try when the database fails while a stored report is
announced (the lead unit's contacts, the leadership's review request)."""


async def announce_patiently(context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                             recorded: Recorded) -> str:
    """:func:`announce`, tried again while the database fails for a moment.

    The report is stored and the person was told so: a database error now must neither tell
    them to send it again nor lose the leadership's review request silently. After the last
    try it is logged as an error (the admins see it in the log) and the person's answer stands.
    """
    for wait in (*ANNOUNCE_RETRIES, None):
        try:
            return await announce(context, caller, recorded)
        except Exception as exc:
            if not is_transient_database_error(exc):
                raise
            if wait is None:
                log.error("report %s is stored, but the database failed while it was announced "
                          "to the lead unit and the leadership: %s", recorded.report.id,
                          str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                return ""
            await asyncio.sleep(wait)
    return ""


async def attach_pending_evidence(context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                                  message: Message) -> None:
    """Files sent before their report existed are kept with that report now, every one."""
    user_data: dict[str, Any] = context.user_data  # type: ignore[assignment]
    last = user_data.get("last_report")
    waiting: list[dict[str, Any]] = user_data.get("pending_evidence", [])
    if not last or not waiting:
        return
    key = (last["task"], last["unit"], last["cycle"])
    mine = [f for f in waiting if (f["task"], f["unit"], f["cycle"]) == key]
    if not mine:
        return
    user_data["pending_evidence"] = [f for f in waiting if f not in mine]
    services = services_of(context)
    for pending in mine:
        await services.db(services.store.add_evidence, last["report_id"], pending["file_id"],
                          pending["file_unique_id"], pending["kind"], pending["file_name"],
                          caller.telegram_user_id, services.now())
    t = caller.t
    names = ", ".join(echo(f["file_name"] or f["kind"]) for f in mine)
    await reply(message, t.gettext("Kept as evidence of this report: {names}.").format(
        names=names), t)


# -- buttons ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContactPress:
    """A contact's button press on a message the bot can see, with what the handler needs.

    The query is *not* answered yet: the handler answers it (``answer_query``), with "this
    button has expired" when its data do not fit.
    """

    caller: Caller
    query: Any
    message: Message
    fields: list[str]  # the callback data's fields after its prefix
    services: Services
    t: Translator


async def contact_press(update: Update, context: ContextTypes.DEFAULT_TYPE
                        ) -> ContactPress | None:
    """Check the role first, then hand over the press; anyone else's press is just answered."""
    query = update.callback_query
    assert query is not None and query.data is not None
    services = services_of(context)
    caller = await caller_of(update, services)
    message = query.message if isinstance(query.message, Message) else None
    if caller is None or not caller.units or message is None or in_group(update):
        text = caller.t.gettext("This button is not for you.") if caller else None
        await answer_query(query, text)
        return None
    return ContactPress(caller, query, message, query.data.split("|")[1:], services, caller.t)


async def report_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the status chosen with a button (``r|<task>|<code>|<cycle>|<unit>``)."""
    press = await contact_press(update, context)
    if press is None:
        return
    fields, t = press.fields, press.t
    task_id = parse_number(fields[0], 1, 10**6) if len(fields) == 4 else None
    # a year that has not begun is no button the bot ever sent
    cycle = parse_number(fields[2], FIRST_CYCLE, press.services.cycle()) if task_id else None
    status = CODE_STATUSES.get(fields[1]) if cycle else None
    if task_id is None or cycle is None or status is None or fields[3] not in press.caller.units:
        await answer_query(press.query, t.gettext("This button has expired."))
        return
    await answer_query(press.query)
    await settle(update, context, press.caller, press.message, Draft(
        task_id, fields[3], cycle, status, None, "", "button", press.message.message_id,
        cycle_given=True))


async def acknowledge_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """收到 under a reminder: acknowledge every task it lists; only its recipient, in its chat."""
    query = update.callback_query
    assert query is not None and query.data is not None
    services = services_of(context)
    caller = await caller_of(update, services)
    t = caller.t if caller is not None else services.translator(None)
    fields = query.data.split("|")
    reminder_id = parse_number(fields[1], 1, 2**62) if len(fields) == 2 else None
    reminder = (await services.db(services.store.get_reminder, reminder_id)
                if reminder_id is not None else None)
    if (caller is None or caller.role is None or reminder is None
            or reminder.message_id is None or query.message is None
            or reminder.chat_id != query.message.chat.id):
        await answer_query(query, t.gettext("This button has expired."))
        return
    acknowledged = await services.db(services.store.acknowledge_message, reminder.chat_id,
                                     reminder.message_id, caller.telegram_user_id,
                                     services.now())
    await confirm_press(query, t.gettext("Thank you, noted as received.") if acknowledged
                        else t.gettext("Already noted as received."), t)


async def report_all_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """"All in progress" / "all done" under a reminder (``b|<reminder id>|<status code>``)."""
    press = await contact_press(update, context)
    if press is None:
        return
    caller, services, t = press.caller, press.services, press.t
    reminder_id = parse_number(press.fields[0], 1, 2**62) if len(press.fields) == 2 else None
    status = CODE_STATUSES.get(press.fields[1]) if reminder_id is not None else None
    reminder = (await services.db(services.store.get_reminder, reminder_id)
                if reminder_id is not None and status in ("done", "in_progress") else None)
    if (status is None or reminder is None or reminder.message_id is None
            or reminder.chat_id != press.message.chat_id):
        await answer_query(press.query, t.gettext("This button has expired."))
        return
    await answer_query(press.query)
    rows = await services.db(services.store.reminders_by_message, reminder.chat_id,
                             reminder.message_id)
    targets = dict.fromkeys((r.task_id, r.unit_id, r.cycle) for r in rows
                            if r.task_id and r.unit_id in caller.units)
    several_units = len({unit for _, unit, _ in targets}) > 1
    stored: list[str] = []
    kept: list[str] = []
    told: list[str] = []
    lost: dict[str, list[int]] = {}  # unit -> its tasks, when the caller no longer serves it
    for task_id, unit_id, cycle in targets:
        # the task's number, and its unit's name when the message lists several units
        label = (f"{task_id} ({plain_unit_name(t, services.timetable.unit(unit_id))})"
                 if several_units else str(task_id))
        if task_problem(services, caller, task_id, unit_id, cycle):
            kept.append(label)
            continue
        facts = await services.db(services.store.cycle_facts, cycle, task_id, unit_id)
        state = unit_state(services.timetable, services.timetable.task(task_id), unit_id,
                           facts, services.today())
        if state.finished:  # "all in progress" never reopens a task reported done
            kept.append(label)
            continue
        try:
            recorded = await record_report(services, caller, task_id, unit_id, cycle, status,
                                           None, "", "button", press.message.message_id)
        except NotServing:  # revoked meanwhile: said apart, not as "not changed"
            lost.setdefault(unit_id, []).append(task_id)
            continue
        if isinstance(recorded, str):
            kept.append(label)
            continue
        stored.append(label)
        told.append(await announce(context, caller, recorded))
    lines = [t.gettext("Stored “{status}” for tasks {numbers}.").format(
        status=status_label(t, status), numbers=", ".join(stored) or "—")]
    if kept:
        lines.append(t.gettext("Not changed (already reported done, confirmed or closed): "
                               "tasks {numbers}.").format(numbers=", ".join(kept)))
    lines += [not_serving(t, services.timetable, tasks, unit) for unit, tasks in lost.items()]
    lines += dict.fromkeys(line for line in told if line)
    await reply(press.message, "\n".join(lines), t)


# -- /extend --------------------------------------------------------------------------------
EXTEND_USAGE = N_("Usage: /extend <task number> <new due date> <reason>, e.g. /extend 7 "
                  "2026-12-20 equipment delayed. The date is the new last day: 2026-12-20, "
                  "12-20 or 12月20日.")
EXTEND_PROBLEMS = {
    ExtendProblem.UNKNOWN_TASK: N_("There is no task {word}; tasks are numbered 1 to {last}."),
    ExtendProblem.BAD_DATE: N_("{word} is not a date: write it as 2026-12-20, 12-20 or "
                               "12月20日."),
    ExtendProblem.NO_REASON: N_("Give a reason after the date: the leaders decide on it."),
}


async def extend_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/extend <task> <new due date> <reason>: ask the leaders to move the unit's due date."""
    caller = await contact_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = caller.t
    cycle = services.cycle()
    parsed = parse_extend_args(list(context.args or []), len(services.timetable.tasks),
                               services.today())
    if isinstance(parsed, ExtendError):
        text = escape(t.gettext(EXTEND_USAGE))
        if parsed.problem in EXTEND_PROBLEMS:
            text = t.gettext(EXTEND_PROBLEMS[parsed.problem]).format(
                word=echo(parsed.word), last=len(services.timetable.tasks)) + "\n" + text
        await reply(message, text, t)
        return
    problem = task_problem(services, caller, parsed.task_id, None, cycle)
    if problem:
        await reply(message, t.gettext(problem).format(number=parsed.task_id), t)
        return
    units = duty_units(services, caller, parsed.task_id)
    if len(units) > 1:
        drafts: dict[str, tuple[int, dt.date, str]] = context.user_data.setdefault(  # type: ignore[union-attr]
            "extension_drafts", {})
        while len(drafts) >= DRAFTS_KEPT:
            drafts.pop(next(iter(drafts)))
        token = secrets.token_urlsafe(6)
        drafts[token] = (parsed.task_id, parsed.due_date, parsed.reason)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(
            unit_name(t, services.timetable.unit(u)), callback_data=f"e|{token}|{u}")]
            for u in units])
        await reply(message, t.gettext("Task {number} is a task of several of your units. For "
                                       "which unit?").format(number=parsed.task_id), t,
                    keyboard)
        return
    await request_extension(context, caller, message, parsed.task_id, units[0],
                            parsed.due_date, parsed.reason)


async def extension_unit_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The unit an extension request is for (``e|<token>|<unit>``)."""
    press = await contact_press(update, context)
    if press is None:
        return
    drafts: dict[str, tuple[int, dt.date, str]] = context.user_data.get(  # type: ignore[union-attr]
        "extension_drafts", {})
    if (len(press.fields) != 2 or press.fields[0] not in drafts
            or press.fields[1] not in press.caller.units):
        await answer_query(press.query, press.t.gettext("This button has expired."))
        return
    task_id, due_date, reason = drafts.pop(press.fields[0])
    await answer_query(press.query)
    await request_extension(context, press.caller, press.message, task_id, press.fields[1],
                            due_date, reason)


async def extension_cycle(services: Services, task_id: int, unit_id: str,
                          due_date: dt.date) -> int:
    """The cycle an extension request is for: the current one, or last year's while the unit
    still owes that one and the new date comes before this year's cutoff (in January a unit
    late on December's task asks for a date in January)."""
    current = services.cycle()
    previous = current - 1
    task = services.timetable.task(task_id)
    this_cutoff = cycle_cutoff(services.timetable, task, current)
    if previous < FIRST_CYCLE or (this_cutoff is not None and due_date >= this_cutoff):
        return current
    owed = await previous_cycle_open(services, task_id, unit_id, previous)
    return previous if owed else current


async def request_extension(context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                            message: Message, task_id: int, unit_id: str, due_date: dt.date,
                            reason: str) -> None:
    """Store an extension request the workflow allows and put it before the leadership."""
    services = services_of(context)
    t = caller.t
    timetable = services.timetable
    task = timetable.task(task_id)
    unit = timetable.unit(unit_id)
    cycle = await extension_cycle(services, task_id, unit_id, due_date)
    today = services.today()
    seen: list[UnitState] = []

    def check(facts: CycleFacts) -> None:
        """The workflow's check, in the transaction that records the request: a colleague's
        report of done cannot come between."""
        seen.append(unit_state(timetable, task, unit_id, facts, today))
        refused = extension_refusal(seen[-1], due_date, today)
        if refused:
            raise Refused(refused)

    refusal = None
    try:
        extension = await services.db(services.store.request_extension, task_id, unit_id, cycle,
                                      due_date, reason, caller.telegram_user_id, services.now(),
                                      check=check, serving=True)
    except Refused as refused:
        extension, refusal = None, refused.reason
    except NotServing:  # an admin ended the caller's service meanwhile
        await reply(message, not_serving(t, timetable, [task_id], unit_id), t)
        return
    state = seen[-1]
    if extension is None:  # refused, or a request of a colleague came first
        current = t.date(state.cutoff - dt.timedelta(days=1)) if state.cutoff else ""
        await reply(message, t.gettext(refusal or EXTENSION_PENDING).format(
            number=task_id, unit=unit_name(t, unit),
            date=t.date(due_date) if refusal == PAST_DATE else current,
            year=cycle + 1 if refusal == NOT_THIS_CYCLE else cycle), t)
        return
    extension_id = extension.id
    assert extension_id is not None
    reached = await notify_leadership(
        context.bot, services, lambda r: "📅 " + r.gettext(
            "{unit} asks to move task {number} ({year}) from {old} to {new}, asked by {who}: "
            "{reason}").format(
            unit=unit_name(r, unit), number=task_id, year=cycle,
            old=r.date(state.cutoff - dt.timedelta(days=1)) if state.cutoff else "—",
            new=r.date(due_date), who=escape(caller.display_name), reason=escape(reason)),
        lambda r: extension_keyboard(r, extension_id))
    text = t.gettext("Your request to move task {number} ({unit}) to {date} is waiting for the "
                     "leaders' decision.").format(number=task_id, unit=unit_name(t, unit),
                                                  date=t.date(due_date))
    if not reached:
        text += "\n" + t.gettext("No leader is enrolled yet to decide it.")
    await reply(message, text, t)


# -- /task for a contact --------------------------------------------------------------------
async def contact_task(update: Update, context: ContextTypes.DEFAULT_TYPE,
                       caller: Caller, message: Message, task_id: int) -> None:
    """/task N for a contact: a lead (or joint) unit sees every input, a cooperating unit the
    consolidated status and its own input; with the status buttons of their unit."""
    services = services_of(context)
    t = caller.t
    cycle = services.cycle()
    problem = task_problem(services, caller, task_id, None, cycle)
    if problem:
        await reply(message, t.gettext(problem).format(number=task_id), t)
        return
    timetable = services.timetable
    task = timetable.task(task_id)
    units = duty_units(services, caller, task_id)
    delivering = set(deliverers(timetable, task))
    only = None if delivering & set(units) else units
    facts = await services.db(services.store.cycle_facts, cycle, task_id)
    text = render_task(t, timetable, task, cycle, facts, services.today(),
                       people=await people_named(services), only=only)
    await reply(message, text, t, report_keyboard(t, task_id, cycle, units[0])
                if len(units) == 1 else None)


# -- /report --------------------------------------------------------------------------------
REPORT_USAGE = N_("Usage: /report <task number> [year] <status> [percent] [note], e.g. "
                  "/report 7 ongoing 60%, or /report 15 2026 done report sent. "
                  "Statuses: done / ongoing / blocked / n/a (or 已完成 / 进行中 / 受阻 / "
                  "不适用); the percentage is a whole number 0-100.")
REPORT_PROBLEMS = {
    ReportProblem.UNKNOWN_TASK: N_("There is no task {word}; tasks are numbered 1 to {last}."),
    ReportProblem.BAD_YEAR: N_("{word} is not a year you can report for: from {first} to "
                               "{year}."),
    ReportProblem.BAD_PERCENT: N_("{word} is not a percentage: give a whole number from 0 to "
                                  "100, e.g. 60%."),
    ReportProblem.TWO_YEARS: N_("{word}: these are different years; write the one year you "
                                "report for."),
    ReportProblem.NO_STATUS: N_("I could not tell one status from {word}."),
    ReportProblem.CONTRADICTION: N_("The status and {word} disagree: done means 100%, not "
                                    "applicable has no percentage, and in progress is below "
                                    "100%."),
}
_COMMAND = re.compile(r"^/\S*")
REPORT_CAPTION = re.compile(r"/report(?:@\w+)?(?![^\s@])", re.IGNORECASE)
"""A caption that is a /report command (``/report 16 已完成``, ``/report@duban_bot 16 done``)."""


async def report_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/report <task> [year] <status> [percent] [note]: a report in one line."""
    caller = await contact_caller(update, context)
    message = update.effective_message
    if caller is None or message is None or message.text is None:
        return
    await report_in_one_line(update, context, caller, message, message.text, None)


async def report_in_one_line(update: Update, context: ContextTypes.DEFAULT_TYPE,
                             caller: Caller, message: Message, text: str,
                             file: dict[str, Any] | None) -> None:
    """Read ``/report …`` (a command, or a file's caption) and settle it; ``file`` goes with
    the report it makes."""
    services = services_of(context)
    t = caller.t
    usage = escape(t.gettext(REPORT_USAGE))
    at = sent_at(services, message)
    parsed = parse_report_text(_COMMAND.sub("", text, count=1),
                               len(services.timetable.tasks), at.year)
    if isinstance(parsed, ReportError):
        text = usage
        if parsed.problem in REPORT_PROBLEMS:
            text = t.gettext(REPORT_PROBLEMS[parsed.problem]).format(
                word="“" + echo(parsed.word) + "”", last=len(services.timetable.tasks),
                year=at.year, first=FIRST_CYCLE) + "\n" + usage
        await reply(message, text, t)
        return
    problem = task_problem(services, caller, parsed.task_id, None, parsed.cycle or at.year)
    if problem:
        await reply(message, t.gettext(problem).format(number=parsed.task_id), t)
        return
    await settle(update, context, caller, message, Draft(
        parsed.task_id, None, parsed.cycle, parsed.status.value, parsed.percent, parsed.note,
        "command", message.message_id, cycle_given=parsed.cycle is not None, at=at,
        files=(file,) if file is not None else ()))


# -- replies in words, and files ---------------------------------------------------------------
QUESTION_ANSWER = N_("I keep reports, not questions, so nothing was stored. Please ask the "
                     "office that sends the reminders directly. To add a note to your report, "
                     "write it as a statement (e.g. 材料已报送) in reply to my acknowledgement; "
                     "to report, reply to a reminder or use /report.")


def awaiting_note(user_data: dict[str, Any], now: dt.datetime,
                  replied: Message | None) -> dict[str, Any] | None:
    """The button report waiting for a note: any message within the window, later only replies
    to its acknowledgement."""
    awaiting: dict[str, Any] | None = user_data.get("awaiting_note")
    if awaiting is None:
        return None
    if replied is not None:
        return awaiting if replied.message_id == awaiting["message_id"] else None
    until = awaiting["until"]  # None: only replies to the acknowledgement
    return awaiting if until is not None and until >= now else None


async def still_open_for_notes(services: Services, awaiting: dict[str, Any]) -> bool:
    """Whether the report a note would annotate is still the unit's latest, unreviewed one.

    After a leader returned (or confirmed) it, or the unit reported again, a reply to the old
    acknowledgement is a new message about the task, not a note that repeats the old status.
    """
    facts = await services.db(services.store.cycle_facts, awaiting["cycle"], awaiting["task"],
                              awaiting["unit"])
    latest = facts.reports.get((awaiting["task"], awaiting["unit"]))
    return (latest is not None and latest.id == awaiting.get("report_id")
            and facts.review_of(latest) is None)


async def targets_of(services: Services, caller: Caller, message: Message,
                     user_data: dict[str, Any]) -> tuple[tuple[int, str, int], ...]:
    """The (task, unit, cycle) a reply is about: those of the reminder, notice (a return, an
    urge, an extension decision), task card or acknowledgement it answers (none for a message
    that is not a reply)."""
    replied = message.reply_to_message
    if replied is None:
        return ()
    rows = await services.db(services.store.reminders_by_message, message.chat_id,
                             replied.message_id)
    found = [(r.task_id, r.unit_id, r.cycle) for r in rows
             if r.task_id and r.unit_id in caller.units]
    notices = await services.db(services.store.notice_messages, message.chat_id,
                                replied.message_id)
    found += [(n.task_id, n.unit_id, n.cycle) for n in notices
              if n.task_id and n.unit_id in caller.units]
    about = user_data.get("about", {}).get(replied.message_id)
    if about is not None and about[1] in caller.units:
        found.append(about)
    return tuple(dict.fromkeys(found))


async def text_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message in words: a note after a button, or a report replying to a reminder."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    caller = await known_caller(update, context)
    if caller is None:
        return
    await read_words(update, context, caller, message, message.text, None)


async def read_words(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                     message: Message, words: str, file: dict[str, Any] | None) -> None:
    """Read a report from words (a message, or a file's caption) and settle it.

    In order: small talk is ignored; words that name one task (第16项) are about that task; a
    reply to a reminder, task card or acknowledgement is about its task; a message soon after a
    status button (or a reply to its acknowledgement) is that report's note — the button's
    status stays, and the words may only add a percentage to an unfinished one.

    Args:
        file: a document or photo sent with the words as its caption: kept with the report.
    """
    services = services_of(context)
    t = caller.t
    replied = message.reply_to_message
    if replied is not None and is_acknowledgement(words):
        # 收到 in reply to a reminder is how clerks 签收: as the 收到 button under it
        rows = await services.db(services.store.reminders_by_message, message.chat_id,
                                 replied.message_id)
        if rows:
            acknowledged = await services.db(services.store.acknowledge_message,
                                             message.chat_id, replied.message_id,
                                             caller.telegram_user_id, services.now())
            await reply(message, t.gettext("Thank you, noted as received.") if acknowledged
                        else t.gettext("Already noted as received."), t)
            return
    if is_small_talk(words):
        return  # thanks, 好的，谢谢, 👍, [强]: nothing to store, nothing to answer
    if is_question(words):  # 需要上传附件吗？ is neither a report nor a note
        await reply(message, escape(t.gettext(QUESTION_ANSWER)), t)
        return
    written = visible_text(words)
    foreign = foreign_digits(written)
    parsed = parse_status_text(written)
    if foreign or parsed.bad_percent:  # ٦٠, 0.5%, 150%: asked again, nothing stored
        await reply(message, t.gettext(REPORT_PROBLEMS[ReportProblem.BAD_PERCENT]).format(
            word="“" + echo(foreign or parsed.bad_percent) + "”"), t)
        return
    user_data: dict[str, Any] = context.user_data  # type: ignore[assignment]
    status = parsed.status.value if parsed.status is not None and not parsed.ambiguous else None
    named = named_task(words)
    awaiting = awaiting_note(user_data, services.now(), message.reply_to_message)
    if awaiting is not None and named not in (None, awaiting["task"]):
        awaiting = None  # it names another task: not a note on this one
    if awaiting is not None and not await still_open_for_notes(services, awaiting):
        awaiting = None  # reviewed, or reported again since: words are read afresh
    targets = await targets_of(services, caller, message, user_data)
    if named is not None:  # 第15项已完成 replying to a day's reminder is about task 15 only
        targets = tuple(target for target in targets if target[0] == named)
    if awaiting is not None and is_bare_number(written):
        # a bare number after a status button is the percentage the acknowledgement invited
        percent = parse_percent(written)
        unfinished = awaiting["status"] not in ("done", "not_applicable")
        if percent is None or not unfinished or percent == 100:
            wrong = (ReportProblem.BAD_PERCENT if percent is None
                     else ReportProblem.CONTRADICTION)
            await reply(message, t.gettext(REPORT_PROBLEMS[wrong]).format(
                word="“" + echo(written) + "”"), t)
            return
        user_data.pop("awaiting_note", None)
        draft = Draft(awaiting["task"], awaiting["unit"], awaiting["cycle"], awaiting["status"],
                      percent, "", "reply", message.message_id, cycle_given=True,
                      noted=awaiting["message_id"])
    elif awaiting is not None:
        user_data.pop("awaiting_note", None)
        unfinished = awaiting["status"] not in ("done", "not_applicable")
        draft = Draft(awaiting["task"], awaiting["unit"], awaiting["cycle"], awaiting["status"],
                      parsed.percent if unfinished and parsed.percent is not None
                      else awaiting["progress"], parsed.own_note, "reply", message.message_id,
                      cycle_given=True, noted=awaiting["message_id"])
    elif targets:
        draft = Draft(None, None, None, status, parsed.percent, parsed.own_note, "reply",
                      message.message_id, tasks=targets, statuses=_offered(parsed.candidates))
    elif named is not None:
        problem = task_problem(services, caller, named, None, services.cycle())
        if problem:
            await reply(message, t.gettext(problem).format(number=named), t)
            return
        at = sent_at(services, message)
        year = year_in_words(written, at.year)  # 第15项去年已完成: the year, never the note
        if isinstance(year, ReportError):
            await reply(message, t.gettext(REPORT_PROBLEMS[year.problem]).format(
                word="“" + echo(year.word) + "”", year=at.year, first=FIRST_CYCLE), t)
            return
        cycle, said = year
        note = parse_status_text(said).own_note if cycle is not None else parsed.own_note
        draft = Draft(named, None, cycle, status, parsed.percent, note, "reply",
                      message.message_id, statuses=_offered(parsed.candidates),
                      cycle_given=cycle is not None)
    elif not caller.units:  # a leader or admin: there is nothing to report for
        await reply(message, t.gettext("I read commands from you: /help lists yours."), t)
        return
    else:
        await reply(message, escape(t.gettext(
            "To report, reply to a reminder, press the buttons under /mytasks, or use "
            "/report <task> <status> [note].")), t)
        return
    draft = dataclasses.replace(draft, at=sent_at(services, message))  # when it was written
    if file is not None:  # kept with the report these words make, whichever task it is
        draft = dataclasses.replace(draft, files=(file,))
    await settle(update, context, caller, message, draft)


def _offered(candidates: frozenset[Status]) -> tuple[str, ...]:
    """The statuses to offer: the ones the words named, or all."""
    named = tuple(s for s in REPORT_STATUSES if Status(s) in candidates)
    return named if len(named) > 1 else REPORT_STATUSES


async def evidence(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep a document or photo sent in reply as evidence; a caption is read as words."""
    caller = await contact_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = caller.t
    user_data: dict[str, Any] = context.user_data  # type: ignore[assignment]
    if message.document is not None:
        file_id, unique, kind = (message.document.file_id, message.document.file_unique_id,
                                 "document")
        name = visible_text(message.document.file_name or "")
    else:
        photo = message.photo[-1]
        file_id, unique, kind, name = photo.file_id, photo.file_unique_id, "photo", ""
    file: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique, "kind": kind,
                            "file_name": name}
    caption = visible_text(message.caption or "")
    if REPORT_CAPTION.match(caption):  # /report 16 已完成 见附件: the command, with its file
        await report_in_one_line(update, context, caller, message, caption, file)
        return
    if caption and not is_small_talk(caption) and not is_question(caption):
        # The caption says something: it is read as a report in words (第16项已完成 is about
        # task 16, whatever the file replies to), and the file is kept with that report.
        await read_words(update, context, caller, message, caption, file)
        return
    targets = await targets_of(services, caller, message, user_data)
    awaiting = awaiting_note(user_data, services.now(), message.reply_to_message)
    if len(targets) == 1:
        task_id, unit_id, cycle = targets[0]
    elif not targets and awaiting is not None:
        task_id, unit_id, cycle = awaiting["task"], awaiting["unit"], awaiting["cycle"]
    elif len(targets) > 1:  # a day's reminder lists several tasks: which one?
        rows = [[InlineKeyboardButton(f"{task} · " + _title(services, task),
                                      callback_data=f"t|{task}|{unit}")]
                for task, unit, _ in targets[:MAX_TASK_BUTTONS]]
        asked = await reply(message, t.gettext(
            "This reminder lists several tasks: open the one the file is for, then send the "
            "file again as a reply to that task."), t, InlineKeyboardMarkup(rows))
        if asked is not None:  # its task buttons are the reminder's cycles
            await services.db(services.store.record_notice_messages, message.chat_id, asked,
                              targets[:MAX_TASK_BUTTONS], "question", services.now())
        return
    else:
        await reply(message, t.gettext(
            "Send files as a reply to a reminder about one task, or to my acknowledgement of "
            "your report, so I know which task they belong to."), t)
        return
    problem = task_problem(services, caller, task_id, unit_id, cycle)
    if problem:
        await reply(message, t.gettext(problem).format(number=task_id), t)
        return
    file.update(task=task_id, unit=unit_id, cycle=cycle)
    latest = await services.db(services.store.latest_reports, cycle, task_id, unit_id)
    report = latest.get((task_id, unit_id))
    if report is None:
        user_data.setdefault("pending_evidence", []).append(file)
        await reply(message, t.gettext(
            "Your unit has not reported on task {number} yet: choose its status and the file "
            "will be kept with that report.").format(number=task_id), t,
            report_keyboard(t, task_id, cycle, unit_id))
        return
    assert report.id is not None
    await services.db(services.store.add_evidence, report.id, file_id, unique, kind, name,
                      caller.telegram_user_id, services.now())
    await reply(message, t.gettext(
        "The file {name} is kept as evidence of your report on task {number}: {report}").format(
        name=echo(name or kind), number=task_id, report=report_line(t, report)), t)


async def unsupported_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Voice, video, stickers, dice, polls and any other kind the bot does not keep: say what
    it keeps (privately; nothing in a group)."""
    message = update.effective_message
    if message is None or in_group(update):
        return
    caller = await known_caller(update, context)
    if caller is None:
        return
    await reply(message, caller.t.gettext(
        "I keep documents and photos as evidence, and text as reports; voice messages, videos, "
        "stickers and the like are not kept. Please write your report, or send the file as a "
        "document."), caller.t)
