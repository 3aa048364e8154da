"""Wiring: settings in, a python-telegram-bot ``Application`` out.

``duban run`` and the tests both call :func:`build_application`. Services (timetable, store,
clock, working-day calendar; :mod:`bot.services`) are opened here and in ``post_init``, closed in
``post_shutdown``, and reach the handlers through ``context.bot_data["services"]``. Handlers are
registered by :func:`bot.handlers.register_handlers`; reminders are scheduled by
:func:`bot.reminders.schedule_dispatch`.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from pathlib import Path
from typing import Any

from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BasePersistence,
    Defaults,
    PersistenceInput,
    PicklePersistence,
)
from telegram.request import BaseRequest

from bot.handlers import register_handlers
from bot.logs import quiet_library_noise
from bot.menus import set_default_menus, set_person_commands
from bot.pacing import ChatPacer, PerChatUpdates
from bot.reminders import schedule_dispatch
from bot.services import ConfigError, Services
from bot.settings import Settings
from bot.transport import sends_request
from schedules.clock import Clock, OffsetClock, SystemClock
from schedules.loader import load_timetable
from schedules.model import Timetable
from storage import Store

log = logging.getLogger(__name__)

CONNECTIONS = 8
"""Connections to the Bot API kept for sends (getUpdates has its own)."""
POOL_WAIT_SECONDS = 30.0
"""How long a send may wait for a free connection before it fails as a network error."""
__all__ = ["ConfigError", "build_application"]


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data["services"]
    await services.db(services.store.upgrade)
    await services.db(services.store.sync_units,
                      [(u.id, u.name, u.kind.value) for u in services.timetable.units],
                      services.clock.now())
    # Menus are set when a person's role changes (bot.menus); at start only the default and
    # group menus, and those of the admins named in DUBAN_ADMINS, who may never have enrolled.
    await set_default_menus(application)
    for admin_id in services.settings.admins:
        person = await services.db(services.store.get_person, admin_id)
        units = await services.db(services.store.units_of, admin_id) if person else []
        language = services.translator(person.language if person else None).language
        await set_person_commands(application, admin_id, "admin", language, bool(units))
    # Everything loaded so far lives as long as the bot: keep it out of the collector's full
    # passes, which otherwise cost ~60 ms per request at p95 (docs/benchmarks.md).
    gc.freeze()
    if application.bot_data.get("auto_dispatch", True):
        schedule_dispatch(application)


async def _post_shutdown(application: Application) -> None:
    services: Services = application.bot_data["services"]
    await services.db(services.store.close)


def conversation_store(settings: Settings) -> PicklePersistence[Any, Any, Any]:
    """PTB's persistence of people's and chats' open questions in the data folder
    (``DUBAN_DATA_DIR/conversations.pickle``): what someone was asked survives a restart. The
    bot's own data (services) is not kept; reports and everything else live in the database.
    Two instances on one database each keep their own file: a question is answered by the
    instance that asked it only if the same one receives the answer (webhook or polling both
    deliver a chat's updates to one instance at a time)."""
    return PicklePersistence(settings.data_dir / "conversations.pickle",
                             store_data=PersistenceInput(bot_data=False, callback_data=False),
                             update_interval=30)


def build_application(settings: Settings, *, timetable: Timetable | None = None,
                      store: Store | None = None, clock: Clock | None = None,
                      request: BaseRequest | None = None,
                      get_updates_request: BaseRequest | None = None,
                      rate_limit: bool = True, pacer: ChatPacer | None = None,
                      auto_dispatch: bool = True,
                      persistence: BasePersistence[Any, Any, Any] | None = None
                      ) -> Application:
    """Build the bot from its settings.

    Args:
        settings: validated settings (token, API base URL, database, time zone...).
        timetable: an already loaded timetable (default: load ``settings.tasks_path``).
        store: an open store (default: one on ``settings.resolved_database_url``).
        clock: the clock (default: the system clock in ``settings.tz``).
        request: an injected ``BaseRequest`` for narrow tests.
        get_updates_request: an injected ``BaseRequest`` for getUpdates.
        rate_limit: keep Telegram's flood limits per chat (:class:`bot.pacing.ChatPacer`).
        pacer: the pacer to use instead of the default one (tests use faster limits).
        persistence: keeps each person's and chat's open questions (drafts of reports, the
            note window, a leader's prompt for a reason) across a restart (``duban run`` gives
            :func:`conversation_store`).
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
    if clock is None:
        clock = SystemClock(settings.zone)
        if settings.clock_offset_seconds:
            clock = OffsetClock(clock, dt.timedelta(seconds=settings.clock_offset_seconds))
    services = Services(settings=settings, timetable=timetable, store=store, clock=clock)

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.resolved_file_base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=settings.zone,
                           disable_notification=False, allow_sending_without_reply=True))
        .concurrent_updates(PerChatUpdates())
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if rate_limit:
        builder = builder.rate_limiter(pacer or ChatPacer())  # type: ignore[arg-type]
    if persistence is not None:
        builder = builder.persistence(persistence)
    if request is not None:
        builder = builder.request(request)
    else:
        # A few kept-alive connections carry Telegram's 30 sends a second; a request waits its
        # turn for a connection. On aiohttp, not PTB's httpx, unless the environment's proxy is
        # one aiohttp does not take (SOCKS): bot/transport.py says why.
        builder = builder.request(sends_request(settings.telegram_api_base_url, CONNECTIONS,
                                                POOL_WAIT_SECONDS))
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    quiet_library_noise()
    application.bot_data["services"] = services
    application.bot_data["auto_dispatch"] = auto_dispatch

    register_handlers(application)
    return application
