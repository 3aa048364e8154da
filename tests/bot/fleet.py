"""Real ``duban run`` processes sending one fan-out, watched through the Bot API stand-in.

For the tests of what a crash (kill -9) or a second instance does to the reminders: the
stand-in runs on a thread of its own (:mod:`tests.bot.standin_thread`), the contacts are
enrolled straight into the database, and each instance is the real console script with its
clock moved (``DUBAN_CLOCK_OFFSET``) so that the fan-out of 24 November 2026, 09:00 in Shanghai
is due the moment it starts.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bot_api_standin import BotApiStandIn
from schedules.calendar import WorkingDayCalendar
from schedules.loader import load_timetable
from schedules.planning import ReminderKind, plan_reminders
from storage import Store
from tests.bot.cli_process import DUBAN, TASKS, clean_env
from tests.bot.conftest import SHANGHAI, TOKEN

DUE = dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
FIRST_CONTACT = 200_000


def contacts_due(count: int) -> dict[int, str]:
    """``count`` contacts (Telegram id -> unit), each of a unit reminded at :data:`DUE`."""
    plan = plan_reminders(load_timetable(TASKS), 2026, WorkingDayCalendar())
    units = sorted({r.unit_id for r in plan
                    if r.at == DUE and r.kind is not ReminderKind.DIGEST and r.unit_id})
    return {FIRST_CONTACT + n: units[n % len(units)] for n in range(count)}


def enrol(store: Store, api: BotApiStandIn, contacts: dict[int, str]) -> None:
    """Enrol every contact in the database and give each a chat in the stand-in."""
    store.upgrade()
    when = DUE - dt.timedelta(days=30)
    store.sync_units([(u.id, u.name, u.kind.value) for u in load_timetable(TASKS).units], when)
    for user_id, unit in contacts.items():
        api.add_user(user_id, f"联络员{user_id}", "zh-hans")
        store.add_person(user_id, f"联络员{user_id}", "contact", unit, "zh_Hans", when)


@dataclass
class Fleet:
    """The stand-in, the database and the ``duban run`` processes started on them."""

    api: BotApiStandIn
    database_url: str
    folder: Path
    contacts: dict[int, str]
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    logs: list[IO[str]] = field(default_factory=list)

    def start(self, name: str, *, clock_ahead: float = 0.0, lease: float = 5.0,
              **extra: str) -> subprocess.Popen[str]:
        """Start one instance; its clock reads :data:`DUE` + 30 s (+ ``clock_ahead``) now."""
        offset = (DUE + dt.timedelta(seconds=30)
                  - dt.datetime.now(dt.UTC)).total_seconds() + clock_ahead
        data = self.folder / name
        data.mkdir(exist_ok=True)
        env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=self.api.base_url,
                        TELEGRAM_FILE_BASE_URL=self.api.base_file_url,
                        DATABASE_URL=self.database_url, DUBAN_DATA_DIR=str(data),
                        DUBAN_DISPATCH_INTERVAL="1", DUBAN_LEASE_SECONDS=str(lease),
                        DUBAN_CLOCK_OFFSET=str(offset), **extra)
        log = (self.folder / f"{name}.log").open("a", encoding="utf-8")
        self.logs.append(log)
        process = subprocess.Popen([str(DUBAN), "run"], cwd=data, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        """What an instance printed."""
        return (self.folder / f"{name}.log").read_text(encoding="utf-8")

    def sends(self) -> Counter[int]:
        """Reminder messages Telegram accepted, per contact chat."""
        return Counter(int(c.params["chat_id"]) for c in self.api.calls("sendMessage")
                       if c.status == 200 and int(c.params["chat_id"]) in self.contacts)

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``predicate`` every 20 ms; fail with ``what`` and the logs after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text(encoding="utf-8")[-3000:]
                                 for p in sorted(self.folder.glob("*.log")))
                raise AssertionError(f"timed out waiting until {what}; sent {len(self.sends())}"
                                     f" of {len(self.contacts)}\n{logs}")
            time.sleep(0.02)

    @staticmethod
    def kill(process: subprocess.Popen[str]) -> None:
        """kill -9: no clean-up of any kind."""
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        """Stop every instance still running (SIGTERM, then SIGKILL)."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for log in self.logs:
            log.close()


@contextmanager
def fleet(api: BotApiStandIn, database_url: str, folder: Path, count: int) -> Iterator[Fleet]:
    """A :class:`Fleet` with ``count`` contacts enrolled; its processes stopped on the way out."""
    contacts = contacts_due(count)
    store = Store(database_url)
    try:
        enrol(store, api, contacts)
    finally:
        store.close()
    running = Fleet(api, database_url, folder, contacts)
    try:
        yield running
    finally:
        running.stop_all()
