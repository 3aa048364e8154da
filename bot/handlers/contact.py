"""Department contacts: /mytasks, /report, the status buttons, replies in words, evidence.

Read top to bottom as a contact's conversation goes: the contact opens their tasks (or a
reminder), presses a status or writes one, may add a note or a file, and gets an acknowledgement
that repeats what was stored. Every report is committed before it is acknowledged.

Callback data (at most 64 bytes, fields joined by ``|``):

* ``t|<task>``           open one task with its report buttons
* ``r|<task>|<status>``  report a status on a task
* ``c|<token>|<status>`` confirm the status of an ambiguous free-text report
* ``a|<reminder id>``    acknowledge a reminder (收到)
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from html import escape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.handlers.common import (
    Caller,
    caller_of,
    known_caller,
    reply_pages,
)
from bot.i18n import N_, Translator, translator
from bot.messages import BUTTON_LABELS, report_keyboard
from bot.render import (
    deadline_line,
    render_my_tasks,
    report_line,
    role_label,
)
from bot.services import Services, services_of
from schedules.model import Task
from schedules.progress import is_closed, task_state
from schedules.status import Status, parse_status_text

log = logging.getLogger(__name__)


# A message that is not a reply counts as the note of a button report only this soon after it.
NOTE_WINDOW = dt.timedelta(minutes=15)


REPORT_STATUSES = ("done", "in_progress", "blocked", "not_applicable")


async def contact_caller(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    """The caller if they are an enrolled contact with a unit; otherwise answer and None."""
    known = await known_caller(update, context)
    if known is None:
        return None
    caller, t = known
    if caller.unit_id is None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(t.gettext(
                "Only department contacts report on tasks; you are enrolled without a unit."))
        return None
    return caller


def unit_task(services: Services, caller: Caller, task_id: int) -> tuple[Task | None, str]:
    """The task if the caller's unit has a duty on it this cycle, or an error message id."""
    try:
        task = services.timetable.task(task_id)
    except KeyError:
        return None, N_("There is no task {number}. /mytasks lists your unit's tasks.")
    assert caller.unit_id is not None
    if not any(tk.id == task_id for tk, _ in services.timetable.tasks_for_unit(caller.unit_id)):
        return None, N_("Task {number} is not one of your unit's tasks; you can report only for "
                        "your own unit. /mytasks lists them.")
    if is_closed(task, services.cycle()):
        return None, N_("Task {number} had a once-only deadline and is closed.")
    return task, ""


async def my_tasks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the contact's unit's tasks with role, cutoff, days left and status."""
    caller = await contact_caller(update, context)
    if caller is None or update.effective_message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    cycle = services.cycle()
    assert caller.unit_id is not None
    latest = await services.db(services.store.latest_reports, cycle, None, caller.unit_id)
    unit = services.timetable.unit(caller.unit_id)
    text = render_my_tasks(t, services.timetable, unit, cycle, latest, services.today())
    open_tasks = [task.id for task, _ in services.timetable.tasks_for_unit(unit.id)
                  if not is_closed(task, cycle)]
    rows = [[InlineKeyboardButton(str(n), callback_data=f"t|{n}") for n in open_tasks[i:i + 6]]
            for i in range(0, len(open_tasks), 6)]
    markup = InlineKeyboardMarkup(rows) if rows else None
    await reply_pages(update.effective_message, text + "\n\n" + t.gettext(
        "Press a task number to report on it."), t, markup)


@dataclass(frozen=True)
class ContactPress:
    """A contact's button press, answered, with what the handler needs."""

    caller: Caller
    message: Message
    fields: list[str]  # the callback data's fields after its prefix
    services: Services
    t: Translator


async def contact_press(update: Update, context: ContextTypes.DEFAULT_TYPE
                        ) -> ContactPress | None:
    """Answer the callback query, then check that a contact pressed it on an accessible message."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    caller = await contact_caller(update, context)
    message = query.message if isinstance(query.message, Message) else None
    if caller is None or message is None:
        return None
    return ContactPress(caller, message, query.data.split("|")[1:], services_of(context),
                        translator(caller.language))


async def open_task(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show one task to a contact with the report buttons."""
    press = await contact_press(update, context)
    if press is None:
        return
    caller, message, services, t = press.caller, press.message, press.services, press.t
    task, error = unit_task(services, caller, int(press.fields[0]))
    if task is None:
        await message.reply_text(t.gettext(error).format(number=press.fields[0]))
        return
    await message.reply_text(await task_card(services, t, task, caller.unit_id or ""),
                                   reply_markup=report_keyboard(t, task.id))


async def task_card(services: Services, t: Translator, task: Task, unit_id: str) -> str:
    """One task for a contact: items, their role, cutoff and their unit's latest report."""
    cycle = services.cycle()
    latest = await services.db(services.store.latest_reports, cycle, task.id, unit_id)
    duty = next(a for tk, a in services.timetable.tasks_for_unit(unit_id) if tk.id == task.id)
    state = task_state(services.timetable, task, cycle,
                       {u: r for (_, u), r in latest.items()}, services.today())
    lines = [f"<b>{task.id}. {escape(task.title)}</b>",
             t.gettext("Your role: {role}").format(role=role_label(t, duty.role)),
             deadline_line(t, state, task)]
    lines += [f"• {escape(item)}" for item in task.items]
    lines.append(t.gettext("Latest report: {report}").format(
        report=report_line(t, latest.get((task.id, unit_id)))))
    return "\n".join(lines)


async def store_report(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                       task: Task, status: str, progress: int | None, note: str,
                       source: str, source_message_id: int | None) -> str:
    """Commit a report, then return the acknowledgement repeating what was stored."""
    services = services_of(context)
    assert caller.unit_id is not None
    report = await services.db(
        services.store.add_report, task.id, caller.unit_id, services.cycle(), status,
        progress, note, caller.telegram_user_id, services.clock.now(), source,
        source_message_id)
    context.user_data["last_report"] = {"task": task.id, "report_id": report.id,  # type: ignore[index]
                                        "status": status}
    t = translator(caller.language)
    return t.gettext("Stored for task {number} ({cycle}): {report}").format(
        number=task.id, cycle=report.cycle, report=report_line(t, report))


async def report_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the status chosen with a button under a task or reminder."""
    press = await contact_press(update, context)
    if press is None:
        return
    caller, message, services, t = press.caller, press.message, press.services, press.t
    task_text, status = press.fields
    task, error = unit_task(services, caller, int(task_text))
    if task is None or status not in REPORT_STATUSES:
        await message.reply_text(t.gettext(error or N_("Unknown status.")).format(
            number=task_text))
        return
    ack = await store_report(update, context, caller, task, status, None, "", "button",
                             message.message_id)
    sent = await message.reply_text(ack + "\n" + t.gettext(
        "Reply to this message with a note, a percentage or a file if you like."))
    context.user_data["awaiting_note"] = {  # type: ignore[index]
        "task": task.id, "status": status, "message_id": sent.message_id,
        "until": services.clock.now() + NOTE_WINDOW}
    await attach_pending_evidence(update, context, caller)


async def attach_pending_evidence(update: Update, context: ContextTypes.DEFAULT_TYPE,
                                   caller: Caller) -> None:
    user_data: dict[str, Any] = context.user_data  # type: ignore[assignment]
    pending = user_data.pop("pending_evidence", None)
    last = user_data.get("last_report")
    if not pending or not last or last["task"] != pending["task"]:
        return
    services = services_of(context)
    await services.db(services.store.add_evidence, last["report_id"], pending["file_id"],
                      pending["file_unique_id"], pending["kind"], pending["file_name"],
                      caller.telegram_user_id, services.clock.now())
    if update.effective_message is not None:
        t = translator(caller.language)
        await update.effective_message.reply_text(t.gettext(
            "The file {name} is kept as evidence of this report.").format(
            name=escape(pending["file_name"] or pending["kind"])))


async def confirm_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store an ambiguous free-text report once the contact has chosen its status."""
    press = await contact_press(update, context)
    if press is None:
        return
    caller, message, services, t = press.caller, press.message, press.services, press.t
    token, status = press.fields
    pending = context.user_data.get("pending_text", {}).pop(token, None)  # type: ignore[union-attr]
    if pending is None or status not in REPORT_STATUSES:
        await message.reply_text(t.gettext(
            "This question has expired; please send your report again."))
        return
    task, error = unit_task(services, caller, pending["task"])
    if task is None:
        await message.reply_text(t.gettext(error).format(number=pending["task"]))
        return
    ack = await store_report(update, context, caller, task, status, pending["percent"],
                             pending["note"], "reply", pending["message_id"])
    await message.reply_text(ack)


async def acknowledge_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record that a contact has seen a reminder (收到)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    services = services_of(context)
    caller = await caller_of(update, services)
    t = translator(caller.language if caller else None)
    reminder_id = int(query.data.split("|")[1])
    reminder = await services.db(services.store.get_reminder, reminder_id)
    # Only the reminder's own recipient acknowledges it, in the chat it was sent to.
    if (caller is None or caller.role is None or reminder is None or query.message is None
            or reminder.chat_id != query.message.chat.id):
        await query.answer()
        return
    await services.db(services.store.acknowledge, reminder_id, caller.telegram_user_id,
                      services.clock.now())
    await query.answer(t.gettext("Thank you, noted as received."))


async def report_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/report <task> <status> [note]: store a report from one line."""
    caller = await contact_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    usage = escape(t.gettext(
        "Usage: /report <task number> <status> [note], e.g. /report 7 进行中 60% 已完成选址. "
        "Statuses: 已完成 / 进行中 / 受阻 / 不适用 (done / in progress / blocked / n/a)."))
    if not context.args or not context.args[0].isdigit() or len(context.args) < 2:
        await message.reply_text(usage)
        return
    task, error = unit_task(services, caller, int(context.args[0]))
    if task is None:
        await message.reply_text(t.gettext(error).format(number=context.args[0]))
        return
    status, percent, note = command_report(context.args[1:])
    if status is None:
        await message.reply_text(t.gettext("I could not tell the status from {text!r}.").format(
            text=escape(" ".join(context.args[1:]))) + "\n" + usage)
        return
    ack = await store_report(update, context, caller, task, status.value, percent, note,
                             "command", message.message_id)
    await message.reply_text(ack)


# The status words /report takes as its first word (its usage text lists them).
COMMAND_STATUS_WORDS = {
    "已完成": Status.DONE, "完成": Status.DONE, "done": Status.DONE,
    "进行中": Status.IN_PROGRESS, "推进中": Status.IN_PROGRESS,
    "in_progress": Status.IN_PROGRESS, "ongoing": Status.IN_PROGRESS,
    "受阻": Status.BLOCKED, "困难": Status.BLOCKED, "blocked": Status.BLOCKED,
    "不适用": Status.NOT_APPLICABLE, "n/a": Status.NOT_APPLICABLE, "na": Status.NOT_APPLICABLE,
}


def command_report(words: list[str]) -> tuple[Status | None, int | None, str]:
    """Status, percentage and note of ``/report <task> <status> [percent] [note]``.

    When the first word is a status word it is the status ("进行中 60% 已完成核查" is in progress,
    60%, note "已完成核查"); otherwise the whole text is read, must name one status clearly, and
    is kept as the note.
    """
    status = COMMAND_STATUS_WORDS.get(words[0].casefold())
    if status is not None:
        rest = words[1:]
        percent = parse_status_text(rest[0]).percent if rest else None
        if percent is not None and rest[0].rstrip("%％") != rest[0]:
            rest = rest[1:]
        else:
            percent = None
        return status, percent, " ".join(rest)
    whole = parse_status_text(" ".join(words))
    return (None if whole.ambiguous else whole.status), whole.percent, whole.note


def awaiting_note(user_data: dict[str, Any], now: dt.datetime,
                  replied: Message | None) -> dict[str, Any] | None:
    """The button report waiting for a note: any message within the window, later only replies
    to its acknowledgement."""
    awaiting: dict[str, Any] | None = user_data.get("awaiting_note")
    if awaiting is None or awaiting["until"] >= now:
        return awaiting
    if replied is not None and replied.message_id == awaiting["message_id"]:
        return awaiting
    return None


async def text_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A free-text message: a note after a button, or a report replying to a reminder."""
    services = services_of(context)
    message = update.effective_message
    if message is None or message.text is None:
        return
    known = await known_caller(update, context)
    if known is None:
        return
    caller, t = known
    user_data: dict[str, Any] = context.user_data  # type: ignore[assignment]
    awaiting = awaiting_note(user_data, services.clock.now(), message.reply_to_message)
    replied = message.reply_to_message
    task_id: int | None = None
    if replied is not None:
        reminder = await services.db(services.store.find_reminder_by_message, message.chat_id,
                                     replied.message_id)
        if reminder is not None and reminder.task_id:
            task_id = reminder.task_id
        elif awaiting and awaiting["message_id"] == replied.message_id:
            task_id = awaiting["task"]
    elif awaiting:
        task_id = awaiting["task"]
    if task_id is None or caller.unit_id is None:
        await message.reply_text(escape(t.gettext(
            "To report, reply to a reminder, press the buttons under /mytasks, or use "
            "/report <task> <status> [note].")))
        return
    task, error = unit_task(services, caller, task_id)
    if task is None:
        await message.reply_text(t.gettext(error).format(number=task_id))
        return
    parsed = parse_status_text(message.text)
    if awaiting and awaiting["task"] == task_id and not parsed.ambiguous:
        # A note after a button: keep the chosen status unless the words say another clearly.
        user_data.pop("awaiting_note", None)
        status = parsed.status.value if parsed.status else awaiting["status"]
        ack = await store_report(update, context, caller, task, status, parsed.percent,
                                 parsed.note, "reply", message.message_id)
        await message.reply_text(ack)
        return
    if parsed.status is not None and not parsed.ambiguous:
        ack = await store_report(update, context, caller, task, parsed.status.value,
                                 parsed.percent, parsed.note, "reply", message.message_id)
        await message.reply_text(ack)
        return
    token = secrets.token_urlsafe(6)
    user_data.setdefault("pending_text", {})[token] = {
        "task": task.id, "note": parsed.note, "percent": parsed.percent,
        "message_id": message.message_id}
    choices = [s.value for s in Status] if not parsed.candidates else [
        s.value for s in Status if s in parsed.candidates]
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(
        t.gettext(BUTTON_LABELS[s]), callback_data=f"c|{token}|{s}")] for s in choices])
    await message.reply_text(t.gettext(
        "Which status do you mean for task {number}? Nothing is stored until you choose.").format(
        number=task.id), reply_markup=keyboard)


async def evidence(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep a document or photo sent in reply as evidence of the unit's latest report."""
    caller = await contact_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    user_data: dict[str, Any] = context.user_data  # type: ignore[assignment]
    task_id: int | None = None
    if message.reply_to_message is not None:
        reminder = await services.db(services.store.find_reminder_by_message, message.chat_id,
                                     message.reply_to_message.message_id)
        if reminder is not None and reminder.task_id:
            task_id = reminder.task_id
    awaiting = awaiting_note(user_data, services.clock.now(), message.reply_to_message)
    if task_id is None and awaiting:
        task_id = awaiting["task"]
    if task_id is None:
        await message.reply_text(t.gettext(
            "Send files as a reply to a reminder or to my acknowledgement of your report, so I "
            "know which task they belong to."))
        return
    task, error = unit_task(services, caller, task_id)
    if task is None:
        await message.reply_text(t.gettext(error).format(number=task_id))
        return
    if message.document is not None:
        file_id, unique, kind = (message.document.file_id, message.document.file_unique_id,
                                 "document")
        name = message.document.file_name or ""
    else:
        photo = message.photo[-1]
        file_id, unique, kind, name = photo.file_id, photo.file_unique_id, "photo", ""
    assert caller.unit_id is not None
    latest = await services.db(services.store.latest_reports, services.cycle(), task.id,
                               caller.unit_id)
    report = latest.get((task.id, caller.unit_id))
    if report is None:
        user_data["pending_evidence"] = {"task": task.id, "file_id": file_id,
                                         "file_unique_id": unique, "kind": kind,
                                         "file_name": name}
        await message.reply_text(t.gettext(
            "Your unit has not reported on task {number} yet: choose its status and the file "
            "will be kept with that report.").format(number=task.id),
            reply_markup=report_keyboard(t, task.id))
        return
    assert report.id is not None
    await services.db(services.store.add_evidence, report.id, file_id, unique, kind, name,
                      caller.telegram_user_id, services.clock.now())
    await message.reply_text(t.gettext(
        "The file {name} is kept as evidence of your report on task {number}: {report}").format(
        name=escape(name or kind), number=task.id, report=report_line(t, report)))
