"""A PostgreSQL outage in the middle of a fan-out loses nothing and sends nothing twice.

The tests start a PostgreSQL server of their own (tests/pg_server.py) and stop it mid fan-out:

- for 3 s under the dispatcher called directly (60 contacts at 10 messages a second): it waits
  with back-off, records what went out when the database is back, and the next runs send the
  rest;
- for 20 s under a real ``duban run`` (150 contacts, 5-second leases): longer than a lease and
  than a person's retries; the run gives up claiming, rows given back when the database fails
  go at the next run, a ``/report`` sent meanwhile is answered truthfully, and the bot recovers
  by itself.

No reminder ends ``failed`` and no contact gets two.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application
from bot.pacing import ChatPacer
from bot.reminders import dispatch_due
from bot_api_standin import BotApiStandIn
from schedules.calendar import WorkingDayCalendar
from schedules.clock import FrozenClock
from schedules.loader import load_timetable
from schedules.model import Timetable
from schedules.planning import plan_reminders
from storage import Store
from tests.bot.cli_process import DUBAN, TASKS, clean_env
from tests.bot.conftest import BOT_USERNAME, TOKEN, make_settings
from tests.bot.fleet import DUE, contacts_due, enrol
from tests.pg_server import private_postgres

CONTACTS = 60


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def test_a_database_restart_mid_fan_out_loses_and_duplicates_nothing(
        api: BotApiStandIn, timetable: Timetable) -> None:
    with private_postgres() as server:
        store = Store(server.url)
        contacts = contacts_due(CONTACTS)
        enrol(store, api, contacts)
        clock = FrozenClock(DUE - dt.timedelta(days=60))
        settings = make_settings(api, store).model_copy(update={"lease_seconds": 2.0})
        app = build_application(settings, timetable=timetable, store=store, clock=clock,
                                auto_dispatch=False, pacer=ChatPacer(private_rate=50))
        app.bot_data["per_chat_interval"] = 0.0
        app.bot_data["max_send_rate"] = 10
        await app.initialize()
        try:
            assert app.post_init is not None
            await app.post_init(app)
            await dispatch_due(app, clock.now())  # plans; nothing is due yet
            clock.set(DUE)

            def sent() -> Counter[int]:
                return Counter(int(c.params["chat_id"]) for c in api.calls("sendMessage")
                               if c.status == 200 and int(c.params["chat_id"]) in contacts)

            run = asyncio.create_task(dispatch_due(app, DUE))
            while len(sent()) < 10:
                await asyncio.sleep(0.02)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(3)
            await asyncio.to_thread(server.start)
            first = await asyncio.wait_for(run, 60)
            await asyncio.sleep(2.5)  # a lease its holder could not renew runs out
            later = [await dispatch_due(app, DUE + dt.timedelta(minutes=m)) for m in (1, 2)]
            assert first.failed == [] and all(r.failed == [] for r in later)
            sends = sent()
            assert sorted(sends) == sorted(contacts)
            assert [chat for chat, n in sends.items() if n > 1] == []
            rows = [r for r in store.reminders_for_cycle(2026)
                    if r.chat_id in contacts and r.due_at == DUE]
            assert rows and {r.state for r in rows} == {"sent"}
        finally:
            await app.shutdown()
            store.close()


OUTAGE_SECONDS = 20.0
LONG_OUTAGE_CONTACTS = 150


def reminders_sent(api: BotApiStandIn, chats: Collection[int]) -> Counter[int]:
    """Reminders Telegram accepted, per chat (the messages with a 收到 button: not replies)."""
    return Counter(int(c.params["chat_id"]) for c in api.calls("sendMessage")
                   if c.status == 200 and int(c.params["chat_id"]) in chats
                   and '"a|' in str(c.params.get("reply_markup", "")))


async def test_a_20_second_outage_under_a_running_bot_loses_duplicates_and_fails_nothing(
        tmp_path: Path) -> None:
    """``duban run`` (polling, a dispatch every second, 5-second leases) loses its PostgreSQL
    server for 20 s in the middle of a fan-out of 150: longer than a lease and than a person's
    retries. No reminder is lost, sent twice or failed; a ``/report`` sent during the outage is
    answered truthfully (stored and said so, or not confirmed and to be sent again), the same
    report sent after it is stored; the bot recovers by itself, without a restart."""
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, BOT_USERNAME, 123456)
        with private_postgres() as server:
            contacts = contacts_due(LONG_OUTAGE_CONTACTS)
            store = Store(server.url)
            try:
                enrol(store, api, contacts)
            finally:
                store.close()
            offset = (DUE + dt.timedelta(seconds=30) - dt.datetime.now(dt.UTC)).total_seconds()
            env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
                            TELEGRAM_FILE_BASE_URL=api.base_file_url, DATABASE_URL=server.url,
                            DUBAN_DATA_DIR=str(tmp_path / "data"), DUBAN_DISPATCH_INTERVAL="1",
                            DUBAN_LEASE_SECONDS="5", DUBAN_CLOCK_OFFSET=str(offset))
            log_path = tmp_path / "bot.log"
            with log_path.open("w", encoding="utf-8") as log:
                bot = await asyncio.create_subprocess_exec(
                    str(DUBAN), "run", cwd=tmp_path, env=env, stdout=log, stderr=log)
            try:
                await api.wait_for(lambda: len(reminders_sent(api, contacts)) >= 20, 60)
                reporter = min(reminders_sent(api, contacts))  # had their reminder already
                await asyncio.to_thread(server.stop)
                stopped = time.monotonic()
                task = due_task(contacts[reporter])
                during = await report_during_outage(api, reporter, task, stopped)
                await asyncio.sleep(max(0.0, stopped + OUTAGE_SECONDS - time.monotonic()))
                await asyncio.to_thread(server.start)
                await api.wait_for(lambda: len(reminders_sent(api, contacts)) == len(contacts)
                                   or None, 40)
                after = api.send_command(reporter, "report", f"{task} 进行中 50%")
                stored = await api.wait_for_bot_message(reporter, after=after["message_id"],
                                                        timeout=20)
                await asyncio.sleep(3)  # several more runs: nothing more may go out
                assert bot.returncode is None  # it recovered by itself
            finally:
                if bot.returncode is None:
                    bot.terminate()
                await asyncio.wait_for(bot.wait(), 30)
            printed = log_path.read_text(encoding="utf-8")
            sends = reminders_sent(api, contacts)
            assert sorted(sends) == sorted(contacts), printed[-3000:]
            assert [chat for chat, n in sends.items() if n > 1] == []
            store = Store(server.url)
            try:
                rows = [r for r in store.reminders_for_cycle(2026)
                        if r.chat_id in contacts and r.due_at == DUE]
                reports = store.report_history(task, contacts[reporter], 2026)
            finally:
                store.close()
    assert rows and {r.state for r in rows} == {"sent"}  # none failed for good, none stranded
    assert "已记录" in stored["text"] and f"第{task}项任务" in stored["text"]
    if "无法确认" in during["text"]:  # not confirmed, and to be sent again
        assert "再发" in during["text"], during["text"]
        assert len(reports) in (1, 2)  # (a connection lost during the commit itself)
    else:  # said stored: it was committed
        assert f"已记录第{task}项任务" in during["text"], during["text"]
        assert len(reports) == 2
    assert reports[-1].progress == 50
    assert "Traceback" not in printed, printed[-3000:]


async def report_during_outage(api: BotApiStandIn, reporter: int, task: int,
                               stopped: float) -> dict[str, Any]:
    """The reporter sends a report a second into the outage; the bot's answer."""
    await asyncio.sleep(max(0.0, stopped + 1 - time.monotonic()))
    sent = api.send_command(reporter, "report", f"{task} 进行中 40%")
    return await api.wait_for_bot_message(reporter, after=sent["message_id"], timeout=15)


def due_task(unit_id: str) -> int:
    """A task the unit is reminded of at :data:`DUE` (reported in progress, it changes no
    reminder)."""
    plan = plan_reminders(load_timetable(TASKS), 2026, WorkingDayCalendar())
    return min(r.task_id for r in plan if r.at == DUE and r.unit_id == unit_id)
