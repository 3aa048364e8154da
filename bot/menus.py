"""The command menus: each person sees only their role's commands (``setMyCommands``).

The default scope carries the commands everyone has, once per language (Chinese is the default,
with no language code), set at each start (four calls, however many people are enrolled); each
enrolled person's private chat carries their role's menu (``BotCommandScopeChat``), in their
language, set when their role, units or language change. See Telegram's docs on
``setMyCommands`` and command scopes.
"""

from __future__ import annotations

import logging

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError
from telegram.ext import Application

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translator

log = logging.getLogger(__name__)

COMMON_COMMANDS = (("start", N_("start or enrol")), ("help", N_("what I can do")),
                   ("lang", N_("language / 语言")))
CONTACT_COMMANDS = (("mytasks", N_("my units' tasks and status")),
                    ("report", N_("report: /report <task> <status> [note]")),
                    ("task", N_("one task: /task <number>")),
                    ("extend", N_("ask for more time: /extend <task> <date> <reason>")),
                    ("calendar", N_("my units' due days as a calendar file")))
LEADER_COMMANDS = (("summary", N_("status summary of the cycle")),
                   ("task", N_("one task: /task <number>")),
                   ("unit", N_("one unit: /unit <name>")),
                   ("overdue", N_("who is late or silent")),
                   ("review", N_("reports of done awaiting review")),
                   ("export", N_("the ledger (台账) as an Excel workbook")),
                   ("scores", N_("each unit's scorecard (考评)")),
                   ("bulletin", N_("a draft bulletin (通报) to forward")),
                   ("chart", N_("progress charts per task and per unit")),
                   ("digest", N_("digests in this chat: /digest on|off")))
ADMIN_COMMANDS = (("invite", N_("enrolment link: /invite <unit> [role]")),
                  ("invites", N_("enrolment links still open")),
                  ("cancel", N_("cancel an open enrolment link: /cancel <id>")),
                  ("people", N_("enrolled people and bound groups")),
                  ("revoke", N_("remove a person: /revoke <telegram id> [unit]")),
                  ("unbind", N_("unbind a group: /unbind <chat id>")),
                  ("reload", N_("read the timetable file again")),
                  ("audit", N_("who did what in the workflow: /audit [task]")))
GROUP_COMMANDS = (("summary", N_("status summary of the cycle")),
                  ("task", N_("one task: /task <number>")),
                  ("unit", N_("one unit: /unit <name>")),
                  ("overdue", N_("who is late or silent")),
                  ("review", N_("reports of done awaiting review")),
                  ("scores", N_("each unit's scorecard (考评)")),
                  ("bulletin", N_("a draft bulletin (通报) to forward")),
                  ("chart", N_("progress charts per task and per unit")),
                  ("bind", N_("make this group a leadership group (leaders)")),
                  ("lang", N_("language of this group's digests")))


def commands_for_role(role: str | None, serves_units: bool = False
                      ) -> tuple[tuple[str, str], ...]:
    """The (command, description id) pairs a person sees.

    Args:
        role: ``contact``, ``leader``, ``admin``, or None for someone not enrolled.
        serves_units: whether the person is a contact of at least one unit (a leader may be).
    """
    commands: tuple[tuple[str, str], ...] = ()
    if serves_units:
        commands += CONTACT_COMMANDS
    if role in ("leader", "admin"):
        names = {name for name, _ in commands}
        commands += tuple(c for c in LEADER_COMMANDS if c[0] not in names)
    if role == "admin":
        commands += ADMIN_COMMANDS
    return commands + COMMON_COMMANDS


def bot_commands(commands: tuple[tuple[str, str], ...], language: str) -> list[BotCommand]:
    """A menu translated."""
    t = translator(language)
    return [BotCommand(name, t.gettext(text)) for name, text in commands]


async def set_default_menus(application: Application) -> bool:
    """The menus of everyone not enrolled, and of group chats: one per scope and language.

    Called once at each start: their number does not grow with the people enrolled (each
    person's own menu is set when their role changes: :func:`set_person_commands`). Telegram
    failing at that moment (a 5xx, a dropped connection) is one warning line, not a stopped
    start: the menus Telegram already has stay, and the next start sets them again.

    Returns:
        Whether every menu was set.
    """
    failures: list[str] = []
    for language in LANGUAGES:
        code = None if language == DEFAULT_LANGUAGE else language
        for scope, commands in ((BotCommandScopeDefault(), COMMON_COMMANDS),
                                (BotCommandScopeAllGroupChats(), GROUP_COMMANDS)):
            try:
                await application.bot.set_my_commands(bot_commands(commands, language),
                                                      scope=scope, language_code=code)
            except TelegramError as exc:
                failures.append(f"{scope.type}/{language}: {type(exc).__name__}: {exc}")
    if failures:
        log.warning("Telegram did not take %s of the default command menus (%s); the menus it "
                    "had stay until the next start", len(failures), failures[0])
    return not failures


async def set_person_commands(application: Application, chat_id: int, role: str | None,
                              language: str, serves_units: bool = False) -> None:
    """Give one person's private chat the menu of their role, in their language.

    Called whenever a person's role, units or language change; a person who is no longer
    enrolled (``role`` None) gets the default menu back.
    """
    scope = BotCommandScopeChat(chat_id)
    try:
        if role is None:
            await application.bot.delete_my_commands(scope=scope)
        else:
            await application.bot.set_my_commands(
                bot_commands(commands_for_role(role, serves_units), language), scope=scope)
    except TelegramError as exc:
        log.warning("could not set the command menu of chat %s: %s: %s", chat_id,
                    type(exc).__name__, exc)
