"""End-to-end fixtures: the real duban Application against the local Bot API stand-in.

Every request goes through python-telegram-bot's real HTTP stack to ``BotApiStandIn`` on
127.0.0.1. Updates are fetched with a real ``getUpdates`` call and handed to
``application.process_update`` so each step finishes before the test looks at the chat.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from telegram.ext import Application

from bot.app import build_application
from bot.demo import ScriptedChat, button_data
from bot.pacing import ChatPacer
from bot.settings import Settings
from bot_api_standin import BotApiStandIn
from schedules.clock import FrozenClock
from schedules.model import Timetable
from storage import Store
from tests.dbs import backend, db_url, store

__all__ = ["backend", "button", "button_data", "db_url", "store"]


def button(message: dict, prefix: str) -> str:
    """The callback data under ``message`` that is ``prefix`` or begins with ``prefix|``
    (a review button carries the id of the report shown after its fixed fields)."""
    found = [d for d in button_data(message) if d == prefix or d.startswith(prefix + "|")]
    assert len(found) == 1, (prefix, button_data(message))
    return found[0]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-duban-token"
BOT_USERNAME = "duban_test_bot"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
ADMIN = 1000
LEADER = 2000
ECOLOGY = 3001  # contact of 生态环境局
REFORM = 3002  # contact of 发展改革局
TOWN = 3003  # contact of 岑城镇
STRANGER = 9999


def texts(messages: list[dict]) -> str:
    """The texts of the bot's messages, one per line (a message without text: an empty line)."""
    return "\n".join(m.get("text", "") for m in messages)


def error_notices(harness: Harness) -> list[str]:
    """The error notices the admins were sent (``bot.handlers.common.error_handler``)."""
    return [m["text"] for m in harness.api.bot_messages(ADMIN)
            if m.get("text", "").startswith("⚠️ duban")]


class Harness(ScriptedChat):
    """The demo's scripted chat driver, plus the test's store and clock."""

    def __init__(self, app: Application, api: BotApiStandIn, store: Store,
                 clock: FrozenClock) -> None:
        super().__init__(app, api, ADMIN)
        self.store = store
        self.clock = clock


@pytest.fixture
def clock() -> FrozenClock:
    """Monday 16 November 2026, 10:00 in Shanghai: two weeks before the cutoff."""
    return FrozenClock(dt.datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
async def api(clock: FrozenClock) -> AsyncIterator[BotApiStandIn]:
    """The stand-in with the bot and the simulated people registered; the messages people send
    are dated by the test's clock, as Telegram dates them when they are sent."""
    async with BotApiStandIn(wall_clock=lambda: clock.now().timestamp()) as stand_in:
        stand_in.add_bot(TOKEN, BOT_USERNAME, 123456)
        stand_in.add_user(ADMIN, "管理员", "zh-hans")
        stand_in.add_user(LEADER, "Leader Li", "en")
        stand_in.add_user(ECOLOGY, "王芳", "zh-hans")
        stand_in.add_user(REFORM, "Zhang Wei", "en-US")
        stand_in.add_user(TOWN, "陈镇", "zh-hans")
        stand_in.add_user(STRANGER, "路人", "zh-hans")
        yield stand_in


def make_settings(api: BotApiStandIn, store: Store) -> Settings:
    """Settings pointing at the stand-in and the test database."""
    return Settings(telegram_bot_token=TOKEN, telegram_api_base_url=api.base_url,
                    telegram_file_base_url=api.base_file_url, database_url=store.url,
                    admins=(ADMIN,), dispatch_interval_seconds=3600)


@pytest.fixture
async def harness(api: BotApiStandIn, store: Store, clock: FrozenClock,
                  timetable: Timetable) -> AsyncIterator[Harness]:
    """A running duban application (post_init done, no polling, no automatic dispatch)."""
    # Telegram's limits, but a private chat may take 50 messages a second: the tests' people
    # read fast (tests/bot/test_pacing.py checks the real per-chat pace).
    app = build_application(make_settings(api, store), timetable=timetable, store=store,
                            clock=clock, auto_dispatch=False,
                            pacer=ChatPacer(private_rate=50, group_rate=20, group_period=60))
    app.bot_data["per_chat_interval"] = 0.0
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    try:
        yield Harness(app, api, store, clock)
    finally:
        await app.shutdown()


@pytest.fixture
def database_follows_clock(store: Store, clock: FrozenClock) -> Iterator[None]:
    """The database's clock (leases, back-offs) reads the test's clock, as if the server's
    clock moved with it: for tests that wait out a back-off on the virtual clock. (Its own
    patch: a test's ``monkeypatch.undo()`` leaves it.)"""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "_database_now", lambda session: clock.now().astimezone(dt.UTC))
        yield
