"""The command menus: each person sees only their role's commands (``setMyCommands``).

The default scope carries the commands everyone has, once per language (Chinese is the default,
with no language code); each enrolled person's private chat carries their role's menu
(``BotCommandScopeChat``), in their language. See Telegram's docs on ``setMyCommands`` and
command scopes.
"""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import TelegramError
from telegram.ext import Application

from bot.i18n import N_, translator

log = logging.getLogger(__name__)

COMMON_COMMANDS = (("start", N_("start or enrol")), ("help", N_("what I can do")),
                   ("lang", N_("language / 语言")))
CONTACT_COMMANDS = (("mytasks", N_("my unit's tasks and status")),
                    ("report", N_("report: /report <task> <status> [note]")))
LEADER_COMMANDS = (("summary", N_("status summary of the cycle")),
                   ("task", N_("one task: /task <number>")),
                   ("unit", N_("one unit: /unit <name>")),
                   ("overdue", N_("who is late or silent")),
                   ("export", N_("the status as an Excel workbook")))
ADMIN_COMMANDS = (("invite", N_("enrolment link: /invite <unit> [role]")),
                  ("people", N_("enrolled people")),
                  ("revoke", N_("remove a person: /revoke <telegram id>")),
                  ("reload", N_("read the timetable file again")))


def commands_for_role(role: str | None) -> tuple[tuple[str, str], ...]:
    """The (command, description id) pairs a role sees."""
    if role == "contact":
        return CONTACT_COMMANDS + COMMON_COMMANDS
    if role == "leader":
        return LEADER_COMMANDS + COMMON_COMMANDS
    if role == "admin":
        return LEADER_COMMANDS + ADMIN_COMMANDS + COMMON_COMMANDS
    return COMMON_COMMANDS


def bot_commands(role: str | None, language: str) -> list[BotCommand]:
    """The translated menu of a role."""
    t = translator(language)
    return [BotCommand(name, t.gettext(text)) for name, text in commands_for_role(role)]


async def set_person_commands(application: Application, chat_id: int, role: str,
                              language: str) -> None:
    """Give one person's private chat the menu of their role, in their language."""
    try:
        await application.bot.set_my_commands(bot_commands(role, language),
                                               scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:
        log.warning("could not set the command menu of chat %s: %s", chat_id, exc)
