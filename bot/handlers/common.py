"""Handlers everyone meets: who is calling, role checks, /start, /bind, /help, /lang, errors.

A conversation starts here: a stranger gets one polite sentence in a private chat (with their
Telegram id, which an admin needs) and nothing at all in a group; a deep link ``/start <code>``
enrols a person, in a private chat only; an enrolled leader binds a group with ``/bind``; and
``/help`` lists what the caller can do and the rules of the chat (docs/chat.md). Edited and
forwarded messages are never read as commands or reports. The error handler logs first, tells
the person the truth, and pages the admins at most once an hour per kind of error.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass
from html import escape

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.i18n import LANGUAGES, N_, Translator
from bot.menus import set_person_commands
from bot.messages import is_transient_telegram_error, reply
from bot.notices import notify_admins
from bot.render import ECHO_PREVIEW, People, shorten
from bot.services import Services, request_replan, services_of
from schedules.commands import FIRST_CYCLE, LAST_CYCLE, YEAR_RULE, looks_like_a_year
from schedules.planning import cycle_cutoff
from schedules.text import visible_text
from schedules.years import glue_year_suffix
from storage import Enrolment, InviteError, is_transient_database_error

log = logging.getLogger(__name__)

ROLES = ("contact", "leader", "admin")
ROLE_TITLES = {"contact": N_("a contact"), "leader": N_("a leader"), "admin": N_("an admin")}
INVITE_ERRORS = {
    "unknown": N_("This enrolment code is not known. Ask your administrator for a new link."),
    "used": N_("This enrolment code has already been used. Ask your administrator for a new "
               "link."),
    "expired": N_("This enrolment code has expired. Ask your administrator for a new link."),
}
ADMIN_PAGE_EVERY = dt.timedelta(hours=1)
"""The admins hear of one kind of error at most this often."""
ATTEMPT_WINDOW = dt.timedelta(hours=1)
"""The window of the limits on enrolment codes that fail and on invitations made."""
FAILED_ENROLMENTS_ALLOWED = 5
"""Enrolment codes that may fail per person per window; then no code is even looked up."""


def next_attempt(times: list[dt.datetime], allowed: int, now: dt.datetime) -> dt.datetime | None:
    """When one more attempt is allowed, given the attempts of the last window; None: now.

    Args:
        times: the attempts within the window (:data:`ATTEMPT_WINDOW`) before ``now``, oldest
            first.
        allowed: how many the window may hold.
        now: the present.
    """
    if len(times) < allowed:
        return None
    return max(now, times[-allowed] + ATTEMPT_WINDOW)


# -- who is calling -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """Who sent an update, as far as duban knows them.

    Attributes:
        telegram_user_id: their Telegram user id.
        role: ``contact``, ``leader``, ``admin`` (also everyone in ``DUBAN_ADMINS``), or None
            for someone not enrolled.
        units: the units they serve as a contact (a clerk may serve two), timetable order.
        language: their language.
        display_name: their name.
        t: their translator (dates in the office's time zone).
    """

    telegram_user_id: int
    role: str | None
    units: tuple[str, ...]
    language: str
    display_name: str
    t: Translator

    @property
    def is_leader(self) -> bool:
        """Leaders and admins may read summaries."""
        return self.role in ("leader", "admin")

    @property
    def is_admin(self) -> bool:
        """Admins manage people and the timetable."""
        return self.role == "admin"


async def caller_of(update: Update, services: Services) -> Caller | None:
    """The person behind an update (admins of DUBAN_ADMINS count even if not enrolled)."""
    user = update.effective_user
    if user is None:
        return None
    person, served = await services.caller(user.id)
    if person is not None and person.active:
        language = person.language or services.translator(user.language_code).language
        role = "admin" if services.is_env_admin(user.id) else person.role
        known = services.timetable.units_by_id  # kept with the timetable, not built anew
        units = tuple(u for u in served if u in known)
        if len(units) < len(served):
            log.warning("person %s serves units the timetable no longer has: %s", user.id,
                        sorted(set(served) - known.keys()))
        return Caller(user.id, role, units, language, person.display_name,
                      services.translator(language))
    t = services.translator(user.language_code)
    stranger_role = "admin" if services.is_env_admin(user.id) else None
    return Caller(user.id, stranger_role, (), t.language, user.full_name, t)


async def people_named(services: Services) -> People:
    """Everyone ever enrolled, by Telegram id, to name who acknowledged, reviewed or urged."""
    return People(await services.db(services.store.people_names))


def in_group(update: Update) -> bool:
    """Whether the update comes from a group (or supergroup, or channel) rather than privately."""
    chat = update.effective_chat
    return chat is not None and chat.type != ChatType.PRIVATE


SENT_AT_GRAIN = dt.timedelta(seconds=1)
"""Telegram dates a message to the second: a message handled within that long is dated by the
clock, which keeps the order of a note and the button press just before it."""


def sent_at(services: Services, message: Message | None) -> dt.datetime:
    """When a message was sent (``message.date``), in the office's time zone: the time of a
    report, and which cycle and day it belongs to, however late the bot handles it (a restart,
    a backlog). Never in the future; a message handled at once takes the clock's time (Telegram
    dates to the second only). Without a message (a button press, whose time Telegram does not
    give): now."""
    now = services.now()
    if message is None or message.date is None:
        return now
    when = min(message.date.astimezone(services.settings.zone), now)
    return when if now - when >= SENT_AT_GRAIN else now


async def in_leadership_chat(update: Update, services: Services) -> bool:
    """Whether the update comes from a bound leadership group chat."""
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        return False
    bound = await services.db(services.store.get_chat, chat.id)
    return bound is not None and bound.active


async def known_caller(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    """The enrolled caller; a stranger gets the polite refusal privately and silence in groups."""
    caller = await caller_of(update, services_of(context))
    if caller is None:
        return None
    if caller.role is None:
        await refuse_unknown(update, caller.t)
        return None
    return caller


async def refuse_unknown(update: Update, t: Translator) -> None:
    """The one polite sentence a stranger gets, in a private chat only (never their id in a
    group)."""
    message = update.effective_message
    if message is None or in_group(update):
        return
    await reply(message, t.gettext(
        "Sorry, this bot serves the enrolled departments of the work plan only; ask your "
        "administrator for an enrolment link (your Telegram id is {id}).").format(
        id=update.effective_user.id if update.effective_user else "?"), t)


def echo(text: str) -> str:
    """A user's argument repeated in an answer: shortened, then escaped."""
    return escape(shorten(text, ECHO_PREVIEW))


def year_usage(t: Translator, usage: str, args: list[str] | None) -> str:
    """The answer to a command whose year is wrong: its ``usage`` (a msgid) and the rule for
    years (:data:`schedules.commands.YEAR_RULE`); a number out of that range is named first,
    e.g. “1999”: the year must be from 2019 to 2100."""
    words = glue_year_suffix(args)
    if len(words) == 1 and looks_like_a_year(words[0]):
        return year_refusal(t, words[0]) + "\n" + t.gettext(usage)
    return t.gettext("{usage} {rule}").format(
        usage=t.gettext(usage), rule=t.gettext(YEAR_RULE).format(first=FIRST_CYCLE,
                                                                 last=LAST_CYCLE))


def year_refusal(t: Translator, word: str) -> str:
    """“1999”: the year must be from 2019 to 2100 (``word`` escaped)."""
    return t.gettext("{word}: {rule}").format(
        word="“" + echo(word) + "”",
        rule=t.gettext(YEAR_RULE).format(first=FIRST_CYCLE, last=LAST_CYCLE))


async def answer_query(query: CallbackQuery, text: str | None = None) -> bool:
    """Answer a button press; whether Telegram took the answer. A failed answer is no error.

    Telegram accepts an answer only for a short while ("query is too old"), may ask the bot
    to wait (429), or be unreachable: the answer only stops the spinner (and shows a pop-up),
    so whatever the press did stands; a handler whose pop-up carried the only confirmation
    says it by a message instead (:func:`confirm_press`).
    """
    try:
        await query.answer(text)
    except BadRequest as exc:
        log.info("a button press could not be answered: %s", exc.message)
        return False
    except TelegramError as exc:  # RetryAfter, NetworkError, ...: cosmetic all the same
        log.warning("a button press could not be answered: %s: %s", type(exc).__name__, exc)
        return False
    return True


async def confirm_press(query: CallbackQuery, text: str, t: Translator) -> None:
    """Confirm what a press did in a pop-up, or by a message when the pop-up could not be
    shown (a press handled too late for Telegram): the person always sees it."""
    if not await answer_query(query, text) and isinstance(query.message, Message):
        await reply(query.message, text, t)


async def expired_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button whose data no handler understands: a quiet "this button has expired"."""
    query = update.callback_query
    if query is None:
        return
    caller = await caller_of(update, services_of(context))
    t = caller.t if caller is not None else services_of(context).translator(None)
    await answer_query(query, t.gettext("This button has expired."))


# -- what everyone can do -------------------------------------------------------------------------
def example_task(services: Services, caller: Caller) -> int:
    """A task of the caller's first unit with a cutoff this cycle (else any of theirs, else 7),
    for the examples of /help."""
    cycle = services.cycle()
    for unit_id in caller.units:
        duties = [task for task, _ in services.timetable.tasks_for_unit(unit_id)]
        with_cutoff = [task.id for task in duties
                       if cycle_cutoff(services.timetable, task, cycle) is not None]
        if with_cutoff or duties:
            return (with_cutoff or [task.id for task in duties])[0]
    return 7


def capabilities(t: Translator, caller: Caller, example: int = 7) -> str:
    """What the caller can do, and the rules of the chat, as a short help text.

    ``example``: a task number of the caller's own units for the examples (see
    :func:`example_task`), so that trying an example works.
    """
    lines = []
    if caller.units:
        lines += [t.gettext("/mytasks — your units' tasks, cutoffs and status"),
                  t.gettext("/report <task> [year] <status> [percent] [note] — e.g. "
                            "/report {number} ongoing 60%").format(number=example),
                  t.gettext("/task <number> — one task with every unit's input"),
                  t.gettext("/extend <task> <new due date> <reason> — ask the leaders for more "
                            "time, e.g. /extend {number} 12-20 equipment delayed").format(
                      number=example),
                  t.gettext("/calendar [year] — your units' due days and reminder days as a "
                            "calendar file (.ics)"),
                  t.gettext("Or press the buttons under a reminder, or reply to it in words; "
                            "收到 acknowledges every task it lists.")]
    if caller.is_leader:
        lines += [t.gettext("/summary [year] — status of every task"),
                  t.gettext("/task <number> — one task, unit by unit, with review and urge "
                            "buttons"),
                  t.gettext("/unit <name> — one unit's tasks"),
                  t.gettext("/overdue — who is late or silent, with 催办 (urge) buttons"),
                  t.gettext("/review [year] — reports of done to confirm or return"),
                  t.gettext("/export [year] — the ledger (台账) as an Excel workbook"),
                  t.gettext("/scores [year] — each unit's scorecard (考评): on time, late, "
                            "missing, acknowledged, urged"),
                  t.gettext("/bulletin [year] — a draft bulletin (通报): units early, units "
                            "overdue, tasks at risk, ready to forward"),
                  t.gettext("/chart [year] — progress charts per task and per unit (PNG)"),
                  t.gettext("/digest on|off — the leadership digests in this private chat too"),
                  t.gettext("/bind — in a group: make it a leadership group")]
    if caller.is_admin:
        lines += [t.gettext("/invite <unit> [contact|leader|admin] — an enrolment link"),
                  t.gettext("/invites — the enrolment links still open; /cancel <id or link> "
                            "cancels one"),
                  t.gettext("/people [unit] — who is enrolled, and the bound groups"),
                  t.gettext("/revoke <telegram id> [unit] — remove a person, or one unit"),
                  t.gettext("/unbind <chat id> — stop a group being a leadership group"),
                  t.gettext("/reload — read the timetable file again"),
                  t.gettext("/audit [task] — who reported, acknowledged, reviewed, extended or "
                            "urged, and when")]
    lines.append(t.gettext("/lang — change the language"))
    rules = [t.gettext("Edited messages are not recorded: send a new report instead."),
             t.gettext("Forwarded messages are never read as reports or commands.")]
    if caller.units:
        rules += [t.gettext("A reply or a button under a reminder or notice counts for that "
                            "message's year; a report counts from when you sent it."),
                  t.gettext("The same report sent twice within a minute (a button, /report or "
                            "a reply) counts once; thanks, emoji and questions are never kept "
                            "as a note."),
                  t.gettext("Numbers are written in digits 0-9 (or ０-９); a percentage is a "
                            "whole number 0-100, and a bare number in reply to my "
                            "acknowledgement is one. A year may be written 2026, 二〇二六年, "
                            "今年 or 去年."),
                  t.gettext("第16项, 任务16 or a number before the status (16 已完成) names "
                            "task 16; 2项已完成 is a count, not task 2.")]
    return "\n".join(escape(line) for line in lines) + "\n\n" + "\n".join(
        "• " + escape(rule) for rule in rules)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Enrol with a deep-link code (private chats only), or greet a known person."""
    services = services_of(context)
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    caller = await caller_of(update, services)
    assert caller is not None
    t = caller.t
    if in_group(update):
        if caller.role is None:
            return
        await reply(message, t.gettext(
            "Enrolment links work only in a private chat with me. To make this group a "
            "leadership group, an enrolled leader sends /bind here."), t)
        return
    if not context.args:
        if caller.role is None:
            await refuse_unknown(update, t)
            return
        await reply(message, t.gettext("Hello, {name}.").format(
            name=escape(visible_text(caller.display_name))) + "\n\n"
            + capabilities(t, caller, example_task(services, caller)), t)
        return
    now = services.now()
    failures = await services.db(services.store.failed_enrolments, user.id,
                                 now - ATTEMPT_WINDOW)
    retry_at = next_attempt(failures, FAILED_ENROLMENTS_ALLOWED, now)
    if retry_at is not None:  # someone guessing codes: this one is not even looked up
        await reply(message, t.gettext(
            "Too many enrolment codes that did not work: I will not check another one before "
            "{time}. Ask your administrator for a new link.").format(time=t.moment(retry_at)),
            t)
        return
    try:
        enrolment = await services.db(services.store.enrol_with_invite, context.args[0],
                                      user.id, visible_text(user.full_name) or str(user.id),
                                      services.translator(user.language_code).language, now)
    except InviteError as exc:
        await services.db(services.store.record_failed_enrolment, user.id, exc.reason, now)
        await reply(message, t.gettext(INVITE_ERRORS[exc.reason]), t)
        return
    request_replan(context.application)
    caller = await caller_of(update, services)
    assert caller is not None and caller.role is not None
    t = caller.t
    await set_person_commands(context.application, user.id, caller.role, t.language,
                              bool(caller.units))
    person = enrolment.person
    if enrolment.unit_id:
        unit = services.timetable.unit(enrolment.unit_id)
        who = t.gettext("Welcome, {name}: you are enrolled as a contact of {unit}.").format(
            name=escape(visible_text(person.display_name)),
            unit=escape(unit.name_en if t.language == "en" else unit.name))
        others = [services.timetable.unit(u) for u in caller.units if u != unit.id]
        if others:
            who += "\n" + t.gettext("You also serve: {units}.").format(units=", ".join(
                escape(u.name_en if t.language == "en" else u.name) for u in others))
    else:
        who = t.gettext("Welcome, {name}: you are enrolled as {role}.").format(
            name=escape(visible_text(person.display_name)),
            role=t.gettext(ROLE_TITLES[caller.role]))
    await reply(message, who + "\n\n" + capabilities(t, caller, example_task(services, caller)),
                t)
    await tell_admins_of_enrolment(context, enrolment, len(caller.units))


async def tell_admins_of_enrolment(context: ContextTypes.DEFAULT_TYPE, enrolment: Enrolment,
                                   unit_count: int) -> None:
    """Every enrolment is told to the admins (but the one enrolled): who, as what, with which
    link made by whom, and the command that undoes it — a leaked link shows at once."""
    services = services_of(context)
    person = enrolment.person
    names = await people_named(services)
    unit = (services.timetable.find_unit(enrolment.unit_id)
            if enrolment.unit_id is not None else None)
    undo = (f"/revoke {person.telegram_user_id} {enrolment.unit_id}"
            if unit is not None and unit_count > 1 else f"/revoke {person.telegram_user_id}")

    def notice(r: Translator) -> str:
        what = (r.gettext(ROLE_TITLES[enrolment.role]) if unit is None
                else r.gettext("a contact of {unit}").format(
                    unit=escape(unit.name_en if r.language == "en" else unit.name)))
        maker = (names.name(enrolment.invite_created_by)
                 if enrolment.invite_created_by is not None
                 else r.gettext("the server (duban invite)"))
        return "🆕 " + r.gettext(
            "{name} ({id}) enrolled as {what} with the link {link} made by {maker}. To undo "
            "it: {undo}").format(name=escape(visible_text(person.display_name)),
                                 id=person.telegram_user_id, what=what,
                                 link=escape(enrolment.invite_code[:8]), maker=maker,
                                 undo=undo)

    await notify_admins(context.bot, services, notice, skip=person.telegram_user_id)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List what the caller can do (silence for strangers in groups)."""
    caller = await known_caller(update, context)
    if caller is None or update.effective_message is None:
        return
    await reply(update.effective_message, capabilities(
        caller.t, caller, example_task(services_of(context), caller)), caller.t)


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer the languages (or set one given as argument); in a bound group, the group's."""
    caller = await known_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    t = caller.t
    if in_group(update) and not (caller.is_leader
                                 and await in_leadership_chat(update, services_of(context))):
        await reply(message, t.gettext(
            "In a group, a leader sets the language of a bound leadership group's digests."), t)
        return
    choice = language_choice(" ".join(context.args)) if context.args else None
    if choice is not None:
        await set_language(update, context, caller, choice)
        return
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton("简体中文", callback_data="l|zh_Hans"),
        InlineKeyboardButton("English", callback_data="l|en")]])
    await reply(message, t.gettext("Choose your language:"), t, keyboard)


LANGUAGE_WORDS = {
    "zh_Hans": ("zh", "zh_hans", "zh-hans", "zh_cn", "zh-cn", "cn", "chinese", "中文", "简体中文",
                "简体", "汉语", "普通话"),
    "en": ("en", "english", "en_us", "en-us", "en_gb", "en-gb", "英文", "英语"),
}


def language_choice(word: str) -> str | None:
    """The supported language a word names (``English``, ``中文``, ``zh-CN``), or None."""
    wanted = word.strip().casefold()
    return next((language for language, words in LANGUAGE_WORDS.items() if wanted in words),
                None)


async def set_language(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                       language: str) -> None:
    """Set the person's language (``zh_Hans`` or ``en``), or a bound group's (its digests')."""
    services = services_of(context)
    chat = update.effective_chat
    t = services.translator(language)
    if chat is not None and in_group(update):
        await services.db(services.store.set_chat_language, chat.id, language, services.now(),
                          caller.telegram_user_id)
        text = t.gettext("Language of this group's digests: English.")
    elif await services.db(services.store.set_language, caller.telegram_user_id, language,
                           services.now()):
        await set_person_commands(context.application, caller.telegram_user_id,
                                  caller.role, language, bool(caller.units))
        text = t.gettext("Language set: English.")
    else:  # an admin of DUBAN_ADMINS who never enrolled: nothing to remember it in
        t = caller.t
        text = t.gettext("I can remember a language only for enrolled people; until then I "
                         "follow your Telegram app's language. To enrol, send /invite admin and "
                         "open the link yourself.")
    if update.effective_message is not None:
        await reply(update.effective_message, text, t)


async def language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Set the language from the /lang buttons."""
    query = update.callback_query
    assert query is not None and query.data is not None
    caller = await caller_of(update, services_of(context))
    choice = query.data.split("|", 1)[1]
    if caller is None or caller.role is None or choice not in LANGUAGES:
        await answer_query(query, caller.t.gettext("This button has expired.")
                           if caller is not None else None)
        return
    await answer_query(query)
    if in_group(update) and not (caller.is_leader
                                 and await in_leadership_chat(update, services_of(context))):
        return
    await set_language(update, context, caller, choice)


# -- what is not read -------------------------------------------------------------------------
EDIT_NOTICE_KEY = "edit_notice_day"


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: never a report nor a command; the person is told once a day."""
    services = services_of(context)
    message = update.edited_message
    if message is None or in_group(update) or context.user_data is None:
        return
    caller = await known_caller(update, context)
    if caller is None:
        return
    today = services.today().isoformat()
    if context.user_data.get(EDIT_NOTICE_KEY) == today:
        return
    context.user_data[EDIT_NOTICE_KEY] = today
    t = caller.t
    await reply(message, t.gettext(
        "Edits are not recorded: what you sent first stands. To correct a report, send a new "
        "one (e.g. /report 15 ongoing 60%); the newest report counts."), t)


async def forwarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A forwarded message: never read as a report or a command; said once, privately."""
    message = update.effective_message
    if message is None or in_group(update):
        return
    caller = await known_caller(update, context)
    if caller is None:
        return
    await reply(message, caller.t.gettext(
        "Forwarded messages are not read as reports or commands: they may be someone else's. "
        "Send your report yourself, or send a file as a reply to my message."), caller.t)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other command: answered in private chats only (groups have other bots)."""
    message = update.effective_message
    if message is None or in_group(update) or _addressed_elsewhere(message, context):
        return
    caller = await known_caller(update, context)
    if caller is None:
        return
    await reply(message, caller.t.gettext("Unknown command. /help lists yours."), caller.t)


def _addressed_elsewhere(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Whether a command names another bot (``/poll@PollBot``)."""
    for entity, text in message.parse_entities([MessageEntity.BOT_COMMAND]).items():
        if entity.offset == 0 and "@" in text:
            return text.split("@", 1)[1].casefold() != (context.bot.username or "").casefold()
    return False


async def chat_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A bound group became a supergroup: follow it to its new chat id (Telegram says so in
    the old group, ``migrate_to_chat_id``, and in the new one, ``migrate_from_chat_id``)."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        old, new = message.chat_id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old, new = message.migrate_from_chat_id, message.chat_id
    else:
        return
    services = services_of(context)
    if await services.db(services.store.migrate_chat, old, new, services.now()):
        log.info("leadership chat %s moved to %s", old, new)


# -- errors -------------------------------------------------------------------------------------
def error_kind(error: BaseException | None) -> str:
    """What makes two errors "the same kind": the exception type and where it was raised."""
    if error is None:
        return "unknown"
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__}@{where}"


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error, tell the person the truth, page the admins once an hour per kind.

    Passing troubles (Telegram unreachable or answering 5xx, a failed poll, the database
    restarting) are one warning line each and page nobody: nothing is lost, the bot recovers
    by itself, and a person whose message could not be stored is told to send it again.
    """
    services = services_of(context)
    error = context.error
    if is_transient_telegram_error(error):
        where = "polling" if update is None else "a reply"
        log.warning("Telegram trouble during %s: %s: %s", where, type(error).__name__, error)
        return
    if error is not None and is_transient_database_error(error):
        log.warning("the database is unreachable; an update could not be handled: %s",
                    str(error).strip().splitlines()[0] if str(error).strip() else
                    type(error).__name__)
        if isinstance(update, Update) and update.effective_message is not None \
                and not in_group(update):
            t = services.translator(update.effective_user.language_code
                                    if update.effective_user else None)
            await reply(update.effective_message, database_apology(t, update), t)
        return
    log.error("handler failed", exc_info=error)
    now = services.now()
    kind = error_kind(context.error)
    paged: dict[str, dt.datetime] = context.bot_data.setdefault("errors_paged", {})
    if kind not in paged or now - paged[kind] >= ADMIN_PAGE_EVERY:
        paged[kind] = now
        summary_text = "".join(traceback.format_exception_only(context.error)).strip()
        token = services.settings.telegram_bot_token
        if token is not None and token.get_secret_value():
            summary_text = summary_text.replace(token.get_secret_value(), "<token>")
        for admin_id in services.settings.admins:
            try:
                await context.bot.send_message(admin_id, "⚠️ duban: " + escape(
                    summary_text[-500:]))
            except TelegramError:
                log.warning("could not tell admin %s about an error", admin_id)
    if isinstance(update, Update) and update.effective_message is not None \
            and not in_group(update):
        caller = await caller_of(update, services)
        t = caller.t if caller is not None else services.translator(None)
        await reply(update.effective_message, error_apology(t, update, caller), t)


READ_ONLY_COMMANDS = frozenset({
    "start", "help", "mytasks", "calendar", "summary", "task", "unit", "overdue", "export",
    "chart", "scores", "bulletin", "people", "audit"})
"""Commands that only show something: when one fails, nothing the person sent can be lost."""


def read_only_command(update: Update) -> str | None:
    """The command the message is, when it only shows something (:data:`READ_ONLY_COMMANDS`;
    ``/start`` with an invite code enrols, so it is not); else None."""
    message = update.effective_message
    words = ((message.text or "") if message is not None else "").split()
    if not words or not words[0].startswith("/"):
        return None
    command = words[0].split("@")[0].removeprefix("/").casefold()
    if command not in READ_ONLY_COMMANDS or (command == "start" and len(words) > 1):
        return None
    return command


def database_apology(t: Translator, update: Update) -> str:
    """What a person is told when the database stayed unreachable through the handler's
    retries (:data:`bot.services.REPLY_DB_RETRIES`): a command that only shows something
    changed nothing; anything else may or may not be stored, and sending it again is safe."""
    command = read_only_command(update)
    if command is not None:
        return t.gettext("The database could not be reached just now, so /{command} cannot be "
                         "answered; nothing was changed. Please try again in a "
                         "minute.").format(command=command)
    return t.gettext(
        "The database could not be reached just now, so I cannot confirm that what you "
        "just sent was recorded. Please send it again in a minute; sending it twice "
        "does no harm.")


def error_apology(t: Translator, update: Update, caller: Caller | None) -> str:
    """What a person is told when their update failed: it fits what they sent and who they are.

    A command that only shows something (:data:`READ_ONLY_COMMANDS`) lost nothing: try again
    later. Anything else may or may not have been stored: a contact is pointed to /mytasks,
    which shows what is stored; others (leaders, admins, strangers) cannot use it.
    """
    command = read_only_command(update)
    if command is not None:
        return t.gettext("Sorry, something went wrong while answering /{command}; nothing was "
                         "changed. The administrators have been told; please try again "
                         "later.").format(command=command)
    if caller is not None and caller.units:
        return t.gettext(
            "Sorry, something went wrong and I cannot tell whether your last message was "
            "recorded. /mytasks shows what is stored; send it again if it is missing. The "
            "administrators have been told.")
    return t.gettext("Sorry, something went wrong and I cannot tell whether that was done. "
                     "The administrators have been told; please try it again later.")
