"""The services every handler and job needs, opened once per application.

:func:`bot.app.build_application` puts one :class:`Services` into
``application.bot_data["services"]``; handlers reach it with :func:`services_of`. Nothing here
imports a handler or the wiring module, so any module of ``bot/`` may import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from telegram.ext import Application, ContextTypes

from bot.grouping import Batches
from bot.i18n import Translator, translator
from bot.settings import Settings
from schedules.calendar import WorkingDayCalendar
from schedules.clock import Clock
from schedules.model import Timetable
from storage import (
    DatabaseStalled,
    PersonRow,
    ReportRequest,
    StatusReport,
    Store,
    is_transient_database_error,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

DB_CONCURRENCY = 2
"""Storage calls running at once in worker threads (see :meth:`Services.db`)."""


REPLY_PRIORITY = 1
"""The database priority of a call made for a person (the dispatcher's are 0)."""

REPLY_DB_RETRIES = (0.25, 0.5, 1.0, 2.0)
"""Seconds to wait before each new try of a call made for a person while the database is
unreachable (a restart, a fail-over, SQLite locked): about 4 s in all before the handler gives
up and the person is told (``bot.handlers.common.error_handler``)."""
REPLY_DB_PATIENCE = 5.0
"""Seconds after which a call made for a person is not tried again: a database that lets each
try wait for its connect timeout (storage.store.POSTGRES_CONNECT_ARGS) must not keep a person
waiting for all of :data:`REPLY_DB_RETRIES` on top."""


GATHER_MOST = 32
"""Requests gathered into one storage call at most (:class:`bot.grouping.Batches`): a report
transaction of 32 holds the facts' lock for a few tens of milliseconds."""

BULK_DB_PATIENCE = 60.0
"""Seconds a dispatcher's storage call may take on a database that can stall (PostgreSQL)
before it is abandoned: beyond the server's own 30 s statement limit, so only a server that
stopped answering reaches it."""


class DatabaseSlots:
    """At most ``size`` holders at once; waiters with a higher priority first, then in order."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            admitted = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (-priority, next(self._arrivals), admitted))
            try:
                await admitted
            except asyncio.CancelledError:
                if admitted.done() and not admitted.cancelled():  # admitted, then cancelled
                    self._release()
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, admitted = heapq.heappop(self._waiting)
            if not admitted.done():  # else its task was cancelled while waiting
                admitted.set_result(None)
                return
        self._free += 1


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

    _db_slots: DatabaseSlots | None = field(default=None, init=False, repr=False)
    _callers: Batches[int, tuple[PersonRow | None, list[str]]] | None = field(
        default=None, init=False, repr=False)
    _reports: Batches[ReportRequest, tuple[StatusReport, bool]] | None = field(
        default=None, init=False, repr=False)
    closed_chats_told: dict[int, dt.date] = field(default_factory=dict, init=False, repr=False)
    """Bound groups that took no notice, and the office day the admins were last told."""

    async def db(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one short storage call in a worker thread so the event loop never blocks.

        At most :data:`DB_CONCURRENCY` calls run at once: a reminder fan-out would otherwise
        start a thread per chat, and their fight for the GIL stalled the event loop for ~0.3 s
        (docs/benchmarks.md). Calls for people (handlers) go ahead of the dispatcher's
        (:meth:`bulk_db`) waiting for a slot.

        A transient database error (:func:`storage.is_transient_database_error`: the server
        restarting, a dropped connection, SQLite locked) is tried again after each of
        :data:`REPLY_DB_RETRIES`, the slot given up meanwhile; after the last the error is
        raised for the error handler to tell the person. A failed call is tried again whole:
        its transaction was rolled back (only a connection lost while the commit itself was
        under way leaves that unknown), so every handler gets the retry in this one place.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_DB_PATIENCE
        for wait in (*REPLY_DB_RETRIES, None):
            try:
                return await self._run_db(REPLY_PRIORITY, function, *args,
                                          _limit=max(deadline - loop.time(), 0.5), **kwargs)
            except Exception as exc:
                if (wait is None or not is_transient_database_error(exc)
                        or loop.time() + wait > deadline):
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def caller(self, telegram_user_id: int) -> tuple[PersonRow | None, list[str]]:
        """``Store.caller`` through :meth:`db`, read in one statement with the other updates'
        callers waiting beside it (:class:`bot.grouping.Batches`)."""
        if self._callers is None:
            self._callers = Batches(lambda ids: self.db(self.store.callers, ids), GATHER_MOST)
        return await self._callers.submit(telegram_user_id)

    async def add_report(self, request: ReportRequest) -> tuple[StatusReport, bool]:
        """``Store.add_report_once`` through :meth:`db`, in one transaction with the reports
        waiting beside it (a group commit: ``Store.add_reports_once``). Raises what the request
        alone raised (its check's refusal, ``storage.StillOwed``, ``ValueError``) or the
        database's error after :meth:`db`'s retries."""
        if self._reports is None:
            self._reports = Batches(self._add_reports, GATHER_MOST)
        return await self._reports.submit(request)

    async def _add_reports(self, requests: list[ReportRequest]
                           ) -> list[tuple[StatusReport, bool] | Exception]:
        """One group's ``Store.add_reports_once`` through :meth:`db`. A try after the first
        says so (``again``): the first may have committed before its answer was lost, and its
        reports must not be stored twice."""
        tried = False

        def add() -> list[tuple[StatusReport, bool] | Exception]:
            nonlocal tried
            if not tried:
                tried = True
                return self.store.add_reports_once(requests)
            return self.store.add_reports_once(requests, again=True)

        return await self.db(add)

    async def bulk_db(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`db` for the reminder dispatcher: behind every call made for a person, so that
        a reply never waits behind a fan-out's claims and records."""
        return await self._run_db(0, function, *args, _limit=BULK_DB_PATIENCE, **kwargs)

    async def _run_db(self, priority: int, function: Callable[..., T], *args: object,
                      _limit: float, **kwargs: object) -> T:
        """Run ``function`` in a worker thread holding a slot. On a database that can stall
        (``Store.can_stall``: PostgreSQL) the call is given up after ``_limit`` seconds: its
        slot is freed, every connection abandoned (``Store.abandon_connections``: the stuck
        thread's call fails at once) and :class:`storage.DatabaseStalled` raised, a transient
        error. Without the limit a paused server held both slots, and so every handler and
        the dispatcher, for as long as it stayed paused."""
        if self._db_slots is None:
            self._db_slots = DatabaseSlots(DB_CONCURRENCY)
        async with self._db_slots.slot(priority):
            call = asyncio.to_thread(function, *args, **kwargs)
            if not self.store.can_stall:
                return await call
            try:
                return await asyncio.wait_for(call, _limit)
            except TimeoutError:
                abandoned = self.store.abandon_connections()
                log.warning("a database call (%s) did not finish within %.1f s: the server "
                            "stopped answering; %s connections abandoned",
                            getattr(function, "__name__", function), _limit, abandoned)
                raise DatabaseStalled(f"no answer within {_limit:.1f} s") from None

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
