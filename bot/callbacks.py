"""Handlers: parse the update, check the role, call the domain or storage, render, reply.

Callback data (at most 64 bytes, fields joined by ``|``):

* ``r|<task>|<status>``  report a status on a task (contact)
* ``c|<token>|<status>`` confirm the status of an ambiguous free-text report
* ``a|<reminder id>``    acknowledge a reminder (收到)
* ``t|<task>``           open one task with its report buttons (contact)
* ``l|<language>``       choose the language
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import traceback
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.helpers import create_deep_linked_url

from bot.app import Services, services_of, set_person_commands
from bot.export import build_workbook, export_filename
from bot.i18n import LANGUAGES, N_, Translator, translator
from bot.messages import BUTTON_LABELS, report_keyboard, send_pages
from bot.reminders import request_replan
from bot.render import (
    deadline_line,
    render_my_tasks,
    render_overdue,
    render_people,
    render_summary,
    render_task,
    render_unit,
    report_line,
    role_label,
)
from schedules.loader import TimetableError, load_timetable
from schedules.model import Task
from schedules.progress import is_closed, task_state
from schedules.status import Status, parse_status_text
from storage import InviteError

log = logging.getLogger(__name__)

ROLES = ("contact", "leader", "admin")
# A message that is not a reply counts as the note of a button report only this soon after it.
NOTE_WINDOW = dt.timedelta(minutes=15)
REPORT_STATUSES = ("done", "in_progress", "blocked", "not_applicable")
INVITE_ERRORS = {
    "unknown": N_("This enrolment code is not known. Ask your administrator for a new link."),
    "used": N_("This enrolment code has already been used. Ask your administrator for a new "
               "link."),
    "expired": N_("This enrolment code has expired. Ask your administrator for a new link."),
    "wrong_kind": N_("This code cannot be used here: a group chat can only be bound with a "
                     "leader invitation."),
}


@dataclass(frozen=True)
class Caller:
    """Who sent an update, as far as duban knows them."""

    telegram_user_id: int
    role: str | None  # None: unknown person
    unit_id: str | None
    language: str
    display_name: str

    @property
    def is_leader(self) -> bool:
        """Leaders and admins may read summaries."""
        return self.role in ("leader", "admin")


async def caller_of(update: Update, services: Services) -> Caller | None:
    """The person behind an update (admins of DUBAN_ADMINS count even if not enrolled)."""
    user = update.effective_user
    if user is None:
        return None
    person = await services.db(services.store.get_person, user.id)
    if person is not None and person.active:
        language = person.language or translator(user.language_code).language
        role = "admin" if services.is_env_admin(user.id) else person.role
        unit_id = person.unit_id
        if unit_id is not None and services.timetable.find_unit(unit_id) is None:
            log.warning("person %s belongs to unit %r, which the timetable no longer has",
                        user.id, unit_id)
            unit_id = None
        return Caller(user.id, role, unit_id, language, person.display_name)
    language = translator(user.language_code).language
    if services.is_env_admin(user.id):
        return Caller(user.id, "admin", None, language, user.full_name)
    return Caller(user.id, None, None, language, user.full_name)


async def in_leadership_chat(update: Update, services: Services) -> bool:
    """Whether the update comes from a bound leadership group chat."""
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        return False
    chats = await services.db(services.store.leadership_chats)
    return any(c.chat_id == chat.id for c in chats)


async def known_caller(update: Update, context: ContextTypes.DEFAULT_TYPE
                       ) -> tuple[Caller, Translator] | None:
    """The enrolled caller and their translator; an unknown person gets the polite refusal."""
    caller = await caller_of(update, services_of(context))
    if caller is None:
        return None
    t = translator(caller.language)
    if caller.role is None:
        await refuse_unknown(update, t)
        return None
    return caller, t


async def refuse_unknown(update: Update, t: Translator) -> None:
    """The one polite sentence an unknown person gets."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(t.gettext(
            "Sorry, this bot serves the enrolled departments of the work plan only; ask your "
            "administrator for an enrolment link (your Telegram id is {id}).").format(
            id=update.effective_user.id if update.effective_user else "?"))


async def reply_pages(message: Message, text: str, t: Translator,
                      reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Answer ``message`` with ``text``, split into pages under Telegram's length limit."""
    await send_pages(message.get_bot(), message.chat_id, text, t, reply_markup,
                     reply_to_message_id=message.message_id)


def cycle_of(services: Services) -> int:
    """The current cycle year."""
    return services.clock.now().astimezone(services.settings.zone).year


def today_of(services: Services) -> dt.date:
    """Today in the plan's time zone."""
    return services.clock.now().astimezone(services.settings.zone).date()


# -- /start, /help, /lang ------------------------------------------------------------------------
def capabilities(t: Translator, role: str | None) -> str:
    """What a role can do, as a short help text."""
    lines = []
    if role == "contact":
        lines += [t.gettext("/mytasks — your unit's tasks, cutoffs and status"),
                  t.gettext("/report <task> <status> [note] — e.g. /report 7 进行中 60% "
                            "已完成选址"),
                  t.gettext("Or press the buttons under a reminder, or reply to it in words.")]
    if role in ("leader", "admin"):
        lines += [t.gettext("/summary [year] — status of every task"),
                  t.gettext("/task <number> — one task, unit by unit"),
                  t.gettext("/unit <name> — one unit's tasks"),
                  t.gettext("/overdue — who is late or silent"),
                  t.gettext("/export [year] — the status as an Excel workbook")]
    if role == "admin":
        lines += [t.gettext("/invite <unit> [contact|leader|admin] — an enrolment link"),
                  t.gettext("/people [unit] — who is enrolled"),
                  t.gettext("/revoke <telegram id> — remove a person"),
                  t.gettext("/reload — read the timetable file again")]
    lines.append(t.gettext("/lang — change the language"))
    return "\n".join(escape(line) for line in lines)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Enrol with a deep-link code, bind a leadership chat, or greet a known person."""
    services = services_of(context)
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or user is None or chat is None:
        return
    now = services.clock.now()
    caller = await caller_of(update, services)
    assert caller is not None
    t = translator(caller.language)
    if context.args:
        code = context.args[0]
        if chat.type != ChatType.PRIVATE:
            try:
                await services.db(services.store.bind_chat_with_invite, code, chat.id,
                                  chat.title or "", user.id, now)
            except InviteError as exc:
                await message.reply_text(t.gettext(INVITE_ERRORS[exc.reason]))
                return
            await message.reply_text(t.gettext(
                "This chat is now bound as the leadership group's chat: digests and summaries "
                "can be sent here. Try /summary."))
            return
        try:
            person = await services.db(services.store.enrol_with_invite, code, user.id,
                                       user.full_name, translator(user.language_code).language,
                                       now)
        except InviteError as exc:
            await message.reply_text(t.gettext(INVITE_ERRORS[exc.reason]))
            return
        t = translator(person.language)
        request_replan(context.application)
        await set_person_commands(context.application, user.id, person.role, t.language)
        if person.unit_id:
            unit = services.timetable.unit(person.unit_id)
            who = t.gettext("Welcome, {name}: you are enrolled as a contact of {unit}.").format(
                name=escape(person.display_name),
                unit=escape(unit.name_en if t.language == "en" else unit.name))
        else:
            who = t.gettext("Welcome, {name}: you are enrolled as {role}.").format(
                name=escape(person.display_name), role=t.gettext(ROLE_TITLES[person.role]))
        await message.reply_text(who + "\n\n" + capabilities(t, person.role))
        return
    if caller.role is None:
        await refuse_unknown(update, t)
        return
    await message.reply_text(t.gettext("Hello, {name}.").format(name=escape(caller.display_name))
                             + "\n\n" + capabilities(t, caller.role))


ROLE_TITLES = {"contact": N_("a contact"), "leader": N_("a leader"), "admin": N_("an admin")}


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List what the caller can do."""
    services = services_of(context)
    caller = await caller_of(update, services)
    if caller is None or update.effective_message is None:
        return
    t = translator(caller.language)
    if caller.role is None and not await in_leadership_chat(update, services):
        await refuse_unknown(update, t)
        return
    await update.effective_message.reply_text(capabilities(t, caller.role or "leader"))


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer the languages (or set one given as argument)."""
    known = await known_caller(update, context)
    if known is None or update.effective_message is None:
        return
    caller, t = known
    if context.args:
        await _set_language(update, context, caller, context.args[0])
        return
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton("简体中文", callback_data="l|zh_Hans"),
        InlineKeyboardButton("English", callback_data="l|en")]])
    await update.effective_message.reply_text(t.gettext("Choose your language:"),
                                              reply_markup=keyboard)


async def _set_language(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                        choice: str) -> None:
    services = services_of(context)
    language = choice if choice in LANGUAGES else translator(choice).language
    person = await services.db(services.store.get_person, caller.telegram_user_id)
    if caller.role is not None and person is not None:
        await services.db(services.store.set_language, caller.telegram_user_id, language,
                          services.clock.now())
        await set_person_commands(context.application, caller.telegram_user_id,
                                  caller.role, language)
    t = translator(language)
    if update.effective_message is not None:
        await update.effective_message.reply_text(t.gettext("Language set: English."))


async def language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Set the language from the /lang buttons."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    services = services_of(context)
    caller = await caller_of(update, services)
    if caller is None or caller.role is None:
        return
    await _set_language(update, context, caller, query.data.split("|", 1)[1])


# -- department contacts -------------------------------------------------------------------------
async def _contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
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
    if is_closed(task, cycle_of(services)):
        return None, N_("Task {number} had a once-only deadline and is closed.")
    return task, ""


async def my_tasks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the contact's unit's tasks with role, cutoff, days left and status."""
    caller = await _contact(update, context)
    if caller is None or update.effective_message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    cycle = cycle_of(services)
    assert caller.unit_id is not None
    latest = await services.db(services.store.latest_reports, cycle, None, caller.unit_id)
    unit = services.timetable.unit(caller.unit_id)
    text = render_my_tasks(t, services.timetable, unit, cycle, latest, today_of(services))
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
    caller = await _contact(update, context)
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
    cycle = cycle_of(services)
    latest = await services.db(services.store.latest_reports, cycle, task.id, unit_id)
    duty = next(a for tk, a in services.timetable.tasks_for_unit(unit_id) if tk.id == task.id)
    state = task_state(services.timetable, task, cycle,
                       {u: r for (_, u), r in latest.items()}, today_of(services))
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
        services.store.add_report, task.id, caller.unit_id, cycle_of(services), status,
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
    await _attach_pending_evidence(update, context, caller)


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
    caller = await _contact(update, context)
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


async def _attach_pending_evidence(update: Update, context: ContextTypes.DEFAULT_TYPE,
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


async def evidence(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep a document or photo sent in reply as evidence of the unit's latest report."""
    caller = await _contact(update, context)
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
    latest = await services.db(services.store.latest_reports, cycle_of(services), task.id,
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


# -- leadership -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeaderAsk:
    """A question from someone allowed to read summaries, with what the handler needs."""

    t: Translator
    message: Message
    services: Services


async def _leader(update: Update, context: ContextTypes.DEFAULT_TYPE) -> LeaderAsk | None:
    """The ask if the caller may read summaries (a leader, an admin, or in the bound leadership
    chat); otherwise answer and None."""
    services = services_of(context)
    caller = await caller_of(update, services)
    message = update.effective_message
    if caller is None or message is None:
        return None
    t = translator(caller.language)
    if caller.is_leader or await in_leadership_chat(update, services):
        return LeaderAsk(t, message, services)
    if caller.role is None:
        await refuse_unknown(update, t)
    else:
        await message.reply_text(t.gettext(
            "Summaries are for the leadership group; /mytasks shows your unit's tasks."))
    return None


def cycle_argument(args: list[str] | None, services: Services) -> int | None:
    """The cycle year given as first argument, the current one without argument, None if bad."""
    if not args:
        return cycle_of(services)
    if args[0].isdigit() and 2019 <= int(args[0]) <= 2100:
        return int(args[0])
    return None


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary [year]: counts and one line per task with its light."""
    ask = await _leader(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await message.reply_text(t.gettext("Usage: /summary [year], e.g. /summary 2026."))
        return
    latest = await services.db(services.store.latest_reports, cycle)
    await reply_pages(message, render_summary(t, services.timetable, cycle, latest,
                                              today_of(services)), t)


async def task_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/task N: every responsible unit with its latest report."""
    ask = await _leader(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    if not context.args or not context.args[0].isdigit():
        await message.reply_text(escape(t.gettext("Usage: /task <number>, e.g. /task 7.")))
        return
    try:
        task = services.timetable.task(int(context.args[0]))
    except KeyError:
        await message.reply_text(t.gettext("There is no task {number}; tasks are numbered 1 to "
                                           "{last}.").format(number=context.args[0],
                                                             last=len(services.timetable.tasks)))
        return
    cycle = cycle_of(services)
    latest = await services.db(services.store.latest_reports, cycle, task.id)
    await reply_pages(message, render_task(t, services.timetable, task, cycle, latest,
                                           today_of(services)), t)


async def unit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unit <id, name or alias>: that unit's tasks and reports."""
    ask = await _leader(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    reference = " ".join(context.args or [])
    unit = services.timetable.find_unit(reference) if reference else None
    if unit is None:
        await message.reply_text(t.gettext(
            "Unknown unit {ref!r}. Give an id, a name or an alias, e.g. /unit 生态环境局.").format(
            ref=escape(reference)))
        return
    cycle = cycle_of(services)
    latest = await services.db(services.store.latest_reports, cycle, None, unit.id)
    await reply_pages(message, render_unit(t, services.timetable, unit, cycle, latest,
                                           today_of(services)), t)


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export [year]: the cycle's status as an Excel workbook."""
    ask = await _leader(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await message.reply_text(t.gettext("Usage: /export [year], e.g. /export 2026."))
        return
    latest = await services.db(services.store.latest_reports, cycle)
    history = await services.db(services.store.reports_for_cycle, cycle)
    today = today_of(services)
    content = await asyncio.to_thread(build_workbook, t, services.timetable, cycle, latest,
                                      history, today)
    await message.reply_document(content, filename=export_filename(cycle, today),
                                 caption=t.gettext("Status of cycle {year}, as of {date}.").format(
                                     year=cycle, date=t.date(today)))


async def overdue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/overdue: who missed the cutoff and who is silent as it approaches."""
    ask = await _leader(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_of(services)
    latest = await services.db(services.store.latest_reports, cycle)
    await reply_pages(message, render_overdue(t, services.timetable, cycle, latest,
                                              today_of(services)), t)


# -- admins -------------------------------------------------------------------------------------
async def _admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    """The caller if they are an admin; otherwise answer and None."""
    known = await known_caller(update, context)
    if known is None:
        return None
    caller, t = known
    if caller.role == "admin":
        return caller
    if update.effective_message is not None:
        await update.effective_message.reply_text(t.gettext("This command is for admins."))
    return None


async def invite(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/invite <unit> [contact|leader|admin]: a one-time deep link."""
    caller = await _admin(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    args = list(context.args or [])
    role = "contact"
    if args and args[-1] in ROLES:
        role = args.pop()
    reference = " ".join(args)
    unit_id = None
    if role == "contact":
        unit = services.timetable.find_unit(reference) if reference else None
        if unit is None or unit.kind.value == "group":
            await message.reply_text(escape(t.gettext(
                "Usage: /invite <unit> [contact|leader|admin], e.g. /invite 生态环境局. The unit "
                "{ref!r} is unknown or a group; a contact belongs to one unit.").format(
                ref=reference)))
            return
        unit_id = unit.id
    created = await services.db(services.store.create_invite, unit_id, role,
                                caller.telegram_user_id, services.clock.now(),
                                invite_ttl(services))
    link = create_deep_linked_url(context.bot.username, created.code)
    await message.reply_text(t.gettext(
        "One-time enrolment link ({role}), valid until {date}:\n{link}\nA leader invitation "
        "opened in a group chat binds that chat to the leadership group.").format(
        role=t.gettext(ROLE_TITLES[role]), date=t.datetime(created.expires_at.astimezone(
            services.settings.zone)), link=escape(link)))


def invite_ttl(services: Services) -> dt.timedelta:
    """How long an invitation stays valid."""
    return dt.timedelta(days=services.settings.invite_ttl_days)


async def people(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/people [unit]: the enrolled people."""
    caller = await _admin(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    unit_id = None
    if context.args:
        unit = services.timetable.find_unit(" ".join(context.args))
        if unit is None:
            await message.reply_text(t.gettext("Unknown unit {ref!r}.").format(
                ref=escape(" ".join(context.args))))
            return
        unit_id = unit.id
    found = await services.db(services.store.list_people, unit_id, None, False)
    await reply_pages(message, render_people(t, services.timetable, found), t)


async def revoke(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/revoke <telegram id>: deactivate a person (their reports stay)."""
    caller = await _admin(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    if not context.args or not context.args[0].lstrip("-").isdigit():
        await message.reply_text(escape(t.gettext(
            "Usage: /revoke <telegram id>; /people shows the ids.")))
        return
    target = int(context.args[0])
    done = await services.db(services.store.deactivate_person, target, "revoked by admin",
                             services.clock.now(), caller.telegram_user_id)
    if done:
        request_replan(context.application)
        await message.reply_text(t.gettext(
            "Person {id} is no longer enrolled; their reports are kept.").format(id=target))
    else:
        await message.reply_text(t.gettext("No active person has the id {id}.").format(id=target))


async def chat_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A bound group became a supergroup: follow it to its new chat id."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    services = services_of(context)
    if await services.db(services.store.migrate_chat, message.chat_id,
                         message.migrate_to_chat_id, services.clock.now()):
        log.info("leadership chat %s moved to %s", message.chat_id, message.migrate_to_chat_id)


async def reload_timetable(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reload: read the timetable file again; a bad file changes nothing."""
    caller = await _admin(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    path = Path(services.settings.tasks_path)
    try:
        timetable = await asyncio.to_thread(load_timetable, path)
    except (OSError, TimetableError) as exc:
        problems = exc.problems if isinstance(exc, TimetableError) else [exc]
        await reply_pages(message, escape(t.gettext(
            "The timetable {path} was not reloaded; the bot keeps the one it had. Problems:")
            .format(path=path) + "\n" + "\n".join(str(p) for p in problems)), t)
        return
    known = {u.id for u in timetable.units}
    people = await services.db(services.store.list_people)
    orphans = sorted({p.unit_id for p in people if p.unit_id and p.unit_id not in known})
    if orphans:
        await message.reply_text(escape(t.gettext(
            "The timetable {path} was not reloaded: it drops units that still have enrolled "
            "contacts ({units}). Keep those units, or /revoke their contacts first.").format(
            path=path, units=", ".join(orphans))))
        return
    await services.db(services.store.sync_units,
                      [(u.id, u.name, u.kind.value) for u in timetable.units],
                      services.clock.now())
    services.timetable = timetable
    request_replan(context.application)
    await message.reply_text(t.gettext(
        "Timetable reloaded: {tasks} tasks, {units} units. Reminders are re-planned at the next "
        "run.").format(tasks=len(timetable.tasks), units=len(timetable.units)))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other command."""
    known = await known_caller(update, context)
    if known is None or update.effective_message is None:
        return
    _, t = known
    await update.effective_message.reply_text(t.gettext("Unknown command. /help lists yours."))


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error first, then tell the admins in one short message."""
    log.error("handler failed", exc_info=context.error)
    services = services_of(context)
    summary_text = "".join(traceback.format_exception_only(context.error)).strip()
    token = services.settings.telegram_bot_token
    if token is not None and token.get_secret_value():
        summary_text = summary_text.replace(token.get_secret_value(), "<token>")
    summary_text = summary_text[-500:]
    for admin_id in services.settings.admins:
        try:
            await context.bot.send_message(admin_id, "⚠️ duban: " + escape(summary_text))
        except TelegramError:
            log.warning("could not tell admin %s about an error", admin_id)
    if isinstance(update, Update) and update.effective_message is not None:
        t = translator(update.effective_user.language_code if update.effective_user else None)
        with contextlib.suppress(TelegramError):
            await update.effective_message.reply_text(t.gettext(
                "Something went wrong; nothing you sent was lost. The administrators have been "
                "told."))


def register_handlers(application: Application) -> None:
    """All handlers, in order: commands, then buttons, then free text and files, then errors."""
    # 1. Commands first so that "/report ..." is never read as free text.
    for name, callback in (("start", start), ("help", help_command), ("lang", lang),
                           ("mytasks", my_tasks), ("report", report_command),
                           ("summary", summary), ("task", task_command), ("unit", unit_command),
                           ("overdue", overdue), ("export", export), ("invite", invite),
                           ("people", people), ("revoke", revoke),
                           ("reload", reload_timetable)):
        application.add_handler(CommandHandler(name, callback))
    # 2. Buttons, by the prefix of their callback data.
    application.add_handler(CallbackQueryHandler(report_button, pattern=r"^r\|"))
    application.add_handler(CallbackQueryHandler(confirm_button, pattern=r"^c\|"))
    application.add_handler(CallbackQueryHandler(acknowledge_button, pattern=r"^a\|"))
    application.add_handler(CallbackQueryHandler(open_task, pattern=r"^t\|"))
    application.add_handler(CallbackQueryHandler(language_button, pattern=r"^l\|"))
    # 3. Files and free text in private chats.
    private = filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(
        private & (filters.Document.ALL | filters.PHOTO), evidence))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, text_reply))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chat_migrated))
    # 4. Unknown commands last.
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    application.add_error_handler(error_handler)


__all__ = ["register_handlers"]
