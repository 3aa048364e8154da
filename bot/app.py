"""Wiring: settings in, a python-telegram-bot ``Application`` out.

``duban run`` and the tests both call :func:`build_application`. Services (timetable, store,
clock, working-day calendar) are opened here and in ``post_init``, closed in ``post_shutdown``,
and reach the handlers through ``context.bot_data["services"]``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults
from telegram.request import BaseRequest

from bot.i18n import LANGUAGES, N_, translator
from bot.settings import Settings
from schedules.calendar import WorkingDayCalendar
from schedules.clock import Clock, SystemClock
from schedules.loader import load_timetable
from schedules.model import Timetable
from storage import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")


DB_CONCURRENCY = 2


class ConfigError(Exception):
    """The bot cannot start with these settings; the message says how to fix them."""


@dataclass
class Services:
    """What every handler and job needs, opened once per application."""

    settings: Settings
    timetable: Timetable
    store: Store
    clock: Clock
    calendar: WorkingDayCalendar = field(default_factory=WorkingDayCalendar)

    _db_slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    async def db(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one short storage call in a worker thread so the event loop never blocks.

        At most :data:`DB_CONCURRENCY` calls run at once: a reminder fan-out would otherwise
        start a thread per chat, and their fight for the GIL stalled the event loop for ~0.3 s
        (docs/benchmarks.md).
        """
        if self._db_slots is None:
            self._db_slots = asyncio.Semaphore(DB_CONCURRENCY)
        async with self._db_slots:
            return await asyncio.to_thread(function, *args, **kwargs)

    def is_env_admin(self, telegram_user_id: int) -> bool:
        """Whether ``DUBAN_ADMINS`` names this Telegram user."""
        return telegram_user_id in self.settings.admins


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The application's services."""
    services: Services = context.application.bot_data["services"]
    return services


# The command menus. Each person sees only their role's commands (setMyCommands per chat scope).
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


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data["services"]
    await services.db(services.store.upgrade)
    await services.db(services.store.sync_units,
                      [(u.id, u.name, u.kind.value) for u in services.timetable.units],
                      services.clock.now())
    # Default menu for everyone, one per language: Chinese is the default (no language code).
    for language in LANGUAGES:
        code = None if language == "zh_Hans" else language
        await application.bot.set_my_commands(bot_commands(None, language),
                                              scope=BotCommandScopeDefault(),
                                              language_code=code)
    people = await services.db(services.store.list_people)
    for person in people:
        await set_person_commands(application, person.telegram_user_id, person.role,
                                  translator(person.language).language)
    # Everything loaded so far lives as long as the bot: keep it out of the collector's full
    # passes, which otherwise cost ~60 ms per request at p95 (docs/benchmarks.md).
    gc.freeze()
    if application.bot_data.get("auto_dispatch", True):
        from bot.reminders import schedule_dispatch

        schedule_dispatch(application)


async def _post_shutdown(application: Application) -> None:
    services: Services = application.bot_data["services"]
    await services.db(services.store.close)


def build_application(settings: Settings, *, timetable: Timetable | None = None,
                      store: Store | None = None, clock: Clock | None = None,
                      request: BaseRequest | None = None,
                      get_updates_request: BaseRequest | None = None,
                      rate_limit: bool = True, auto_dispatch: bool = True) -> Application:
    """Build the bot from its settings.

    Args:
        settings: validated settings (token, API base URL, database, time zone...).
        timetable: an already loaded timetable (default: load ``settings.tasks_path``).
        store: an open store (default: one on ``settings.resolved_database_url``).
        clock: the clock (default: the system clock in ``settings.tz``).
        request: an injected ``BaseRequest`` for narrow tests.
        get_updates_request: an injected ``BaseRequest`` for getUpdates.
        rate_limit: use PTB's AIORateLimiter (Telegram's flood limits, 429 retries).
        auto_dispatch: schedule the reminder dispatch job (tests drive it by hand).

    Raises:
        ConfigError: the token is missing.
        schedules.loader.TimetableError: the timetable is invalid.
    """
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather in Telegram "
            "(send /newbot), then export TELEGRAM_BOT_TOKEN=<the token it gives you> or put "
            "it in a .env file beside where you run duban.")
    if timetable is None:
        timetable = load_timetable(Path(settings.tasks_path))
    if store is None:
        if settings.resolved_database_url.startswith("sqlite:///"):
            Path(settings.resolved_database_url[len("sqlite:///"):]).parent.mkdir(
                parents=True, exist_ok=True)
        store = Store(settings.resolved_database_url)
    services = Services(settings=settings, timetable=timetable, store=store,
                        clock=clock or SystemClock(settings.zone))

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.resolved_file_base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=settings.zone,
                           disable_notification=False))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    application.bot_data["services"] = services
    application.bot_data["auto_dispatch"] = auto_dispatch

    from bot.callbacks import register_handlers

    register_handlers(application)
    return application
