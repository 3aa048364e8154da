"""Handlers everyone meets: who is calling, role checks, /start, /help, /lang, errors.

A conversation starts here: a stranger gets one polite sentence (with their Telegram id, which
an admin needs), a deep link ``/start <code>`` enrols a person or binds the leadership group's
chat, and ``/help`` lists what the caller's role can do. The error handler logs first, then tells
the admins.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from dataclasses import dataclass
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.i18n import LANGUAGES, N_, Translator, translator
from bot.menus import set_person_commands
from bot.messages import send_pages
from bot.services import Services, request_replan, services_of
from storage import InviteError

log = logging.getLogger(__name__)


ROLES = ("contact", "leader", "admin")


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
        await set_language(update, context, caller, context.args[0])
        return
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton("简体中文", callback_data="l|zh_Hans"),
        InlineKeyboardButton("English", callback_data="l|en")]])
    await update.effective_message.reply_text(t.gettext("Choose your language:"),
                                              reply_markup=keyboard)


async def set_language(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller,
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
    await set_language(update, context, caller, query.data.split("|", 1)[1])


async def chat_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A bound group became a supergroup: follow it to its new chat id."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    services = services_of(context)
    if await services.db(services.store.migrate_chat, message.chat_id,
                         message.migrate_to_chat_id, services.clock.now()):
        log.info("leadership chat %s moved to %s", message.chat_id, message.migrate_to_chat_id)


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
