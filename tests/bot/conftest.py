"""End-to-end fixtures: the real duban Application against the local Bot API stand-in.

Every request goes through python-telegram-bot's real HTTP stack to ``BotApiStandIn`` on
127.0.0.1. Updates are fetched with a real ``getUpdates`` call and handed to
``application.process_update`` so each step finishes before the test looks at the chat.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.app import build_application
from bot.settings import Settings
from bot.standin import BotApiStandIn
from schedules.clock import FrozenClock
from schedules.loader import load_timetable
from schedules.model import Timetable
from storage import Store
from tests.dbs import backend, db_url, store

__all__ = ["backend", "db_url", "store"]

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


class Harness:
    """One running bot, its stand-in, store and clock, with the moves of simulated people."""

    def __init__(self, app: Application, api: BotApiStandIn, store: Store,
                 clock: FrozenClock) -> None:
        self.app = app
        self.api = api
        self.store = store
        self.clock = clock
        self.offset = 0

    async def pump(self) -> None:
        """Fetch pending updates over HTTP and process each one to the end."""
        while True:
            updates = await self.app.bot.get_updates(offset=self.offset, timeout=0)
            if not updates:
                return
            for update in updates:
                self.offset = update.update_id + 1
                await self.app.process_update(update)

    def _new(self, chat_id: int, after: int) -> list[dict[str, Any]]:
        return [m for m in self.api.bot_messages(chat_id) if m["message_id"] > after]

    async def command(self, user_id: int, command: str, args: str = "",
                      chat_id: int | None = None) -> list[dict[str, Any]]:
        """The user sends ``/command args``; returns the bot's new messages in that chat."""
        sent = self.api.send_command(user_id, command, args, chat_id=chat_id)
        await self.pump()
        return self._new(chat_id or user_id, sent["message_id"])

    async def say(self, user_id: int, text: str,
                  reply_to: int | None = None) -> list[dict[str, Any]]:
        """The user writes ``text`` (optionally replying to a message)."""
        sent = self.api.send_text(user_id, text, reply_to_message_id=reply_to)
        await self.pump()
        return self._new(user_id, sent["message_id"])

    async def press(self, user_id: int, message_id: int, data: str,
                    chat_id: int | None = None) -> list[dict[str, Any]]:
        """The user presses a button of the bot's message."""
        chat = chat_id or user_id
        before = max([m["message_id"] for m in self.api.messages(chat)] or [0])
        self.api.press_button(user_id, message_id, data, chat_id=chat_id)
        await self.pump()
        return self._new(chat, before)

    async def enrol(self, user_id: int, unit: str | None, role: str = "contact",
                    chat_id: int | None = None) -> list[dict[str, Any]]:
        """The admin makes an invitation in chat; the person opens the deep link."""
        args = f"{unit} {role}" if unit else role
        reply = await self.command(ADMIN, "invite", args)
        match = re.search(r"start=([A-Za-z0-9_-]+)", reply[-1]["text"])
        assert match, reply[-1]["text"]
        return await self.command(user_id, "start", match.group(1), chat_id=chat_id)


def button_data(message: dict[str, Any]) -> list[str]:
    """Every callback_data under a message."""
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
            if "callback_data" in b]


@pytest.fixture(scope="session")
def timetable() -> Timetable:
    """The shipped timetable."""
    return load_timetable(ROOT / "data" / "tasks.yaml")


@pytest.fixture
def clock() -> FrozenClock:
    """Monday 16 November 2026, 10:00 in Shanghai: two weeks before the cutoff."""
    return FrozenClock(dt.datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """The stand-in with the bot and the simulated people registered."""
    async with BotApiStandIn() as stand_in:
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
    app = build_application(make_settings(api, store), timetable=timetable, store=store,
                            clock=clock, auto_dispatch=False)
    app.bot_data["per_chat_interval"] = 0.0
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    try:
        yield Harness(app, api, store, clock)
    finally:
        await app.shutdown()
