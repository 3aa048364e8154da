"""The services every handler and job needs, opened once per application.

:func:`bot.app.build_application` puts one :class:`Services` into
``application.bot_data["services"]``; handlers reach it with :func:`services_of`. Nothing here
imports a handler or the wiring module, so any module of ``bot/`` may import it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from telegram.ext import Application, ContextTypes

from bot.i18n import Translator, translator
from bot.settings import Settings
from schedules.calendar import WorkingDayCalendar
from schedules.clock import Clock
from schedules.model import Timetable
from storage import Store

T = TypeVar("T")
P = ParamSpec("P")

DB_CONCURRENCY = 2
"""Storage calls running at once in worker threads (see :meth:`Services.db`)."""


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

    def now(self) -> dt.datetime:
        """The clock's current instant in the office's time zone (``DUBAN_TZ``)."""
        return self.clock.now().astimezone(self.settings.zone)

    def today(self) -> dt.date:
        """Today in the office's time zone."""
        return self.now().date()

    def translator(self, language: str | None) -> Translator:
        """The translator of a language that shows instants in the office's time zone."""
        return translator(language, self.settings.zone)

    def cycle(self) -> int:
        """The current cycle year (``schedules.planning.current_cycle``: the office's year)."""
        return self.now().year


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The application's services."""
    services: Services = context.application.bot_data["services"]
    return services


def request_replan(application: Application) -> None:
    """Make the next dispatch run re-plan (after an enrolment, a revocation, a reload...)."""
    application.bot_data["replanned_at"] = None
