"""A PostgreSQL outage in the middle of a fan-out loses nothing and sends nothing twice.

The test starts a PostgreSQL server of its own (tests/pg_server.py), lets the dispatcher send
to 60 contacts at 10 messages a second, stops the server for a few seconds mid-way and starts
it again: the dispatcher waits with back-off, records what went out when the database is back,
and the next runs send the rest; no reminder ends ``failed`` and no contact gets two.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import pytest

from bot.app import build_application
from bot.pacing import ChatPacer
from bot.reminders import dispatch_due
from bot_api_standin import BotApiStandIn
from schedules.clock import FrozenClock
from schedules.model import Timetable
from storage import Store
from tests.bot.conftest import make_settings
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
