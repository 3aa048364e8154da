"""The access matrix of docs/access.md, every cell, end to end through the Bot API stand-in.

Who (stranger, contact, leader, an admin named in ``DUBAN_ADMINS`` who never enrolled, an admin
enrolled by invitation) does what (every command of ``bot.handlers.COMMANDS``, a wrong
enrolment code, plain text, unknown commands, another bot's command, an edited and a forwarded
command, buttons) where (their private chat, a bound leadership group, a group that is not
bound): each cell is one test that asserts what comes back: an answer with the content
(``A``), a refusal in words (``R``) or nothing at all (``-``). The bot runs with privacy mode
off, as a group admin does, so that it sees every group message and its own rules are tested.

One world (SQLite; the rules are the bot's, not the database's) serves every cell: the cells
change nothing another cell reads (a /bind in an unbound group uses a group of its own).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telegram import Update

from bot.app import build_application
from bot.demo import ScriptedChat
from bot.handlers import COMMANDS
from bot.pacing import ChatPacer
from bot.settings import Settings
from bot_api_standin import BotApiStandIn
from schedules.clock import FrozenClock
from schedules.loader import load_timetable
from storage import Store

# One bot for the module's cells: with pytest-xdist they share one worker.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("access")]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-access-token"
BOT = {"id": 123456, "is_bot": True, "first_name": "duban", "username": "duban_access_bot"}
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
STRANGER, CONTACT, LEADER, ADMIN_CONFIG, ADMIN = 9999, 3001, 2000, 1000, 1500
ROLES = {"stranger": STRANGER, "contact": CONTACT, "leader": LEADER,
         "admin (DUBAN_ADMINS)": ADMIN_CONFIG, "admin (enrolled)": ADMIN}
BOUND = -100777
CHATS = ("private", "bound group", "unbound group")


@dataclass
class World:
    """The running bot, the stand-in, the store and a driver for the people."""

    chat: ScriptedChat
    api: BotApiStandIn
    store: Store
    groups: itertools.count[int]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """Five people, one bound group; the contact serves 生态环境局."""
    folder = tmp_path_factory.mktemp("access")
    store = Store(f"sqlite:///{folder / 'duban.sqlite3'}")
    store.upgrade()
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, BOT["username"], BOT["id"], first_name="duban", privacy_mode=False)
        for role, user_id in ROLES.items():
            api.add_user(user_id, role.split()[0].title(), "en")
        settings = Settings(telegram_bot_token=TOKEN, telegram_api_base_url=api.base_url,
                            telegram_file_base_url=api.base_file_url, database_url=store.url,
                            admins=(ADMIN_CONFIG,), dispatch_interval_seconds=3600)
        clock = FrozenClock(dt.datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI))
        app = build_application(settings, timetable=load_timetable(ROOT / "data" / "tasks.yaml"),
                                store=store, clock=clock, auto_dispatch=False,
                                pacer=ChatPacer(private_rate=500, group_rate=500,
                                                group_period=1))
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        try:
            chat = ScriptedChat(app, api, ADMIN_CONFIG)
            await chat.enrol(CONTACT, "生态环境局")
            await chat.enrol(LEADER, None, "leader")
            await chat.enrol(ADMIN, None, "admin")
            api.add_group(BOUND, "降碳领导小组")
            assert "leadership group" in (await chat.bind(LEADER, BOUND))[0]["text"]
            yield World(chat, api, store, itertools.count(-5001, -1))
        finally:
            await app.shutdown()
            store.close()


# -- what people do ----------------------------------------------------------------------------
def _chat_json(world: World, chat_id: int, user_id: int) -> dict[str, Any]:
    if chat_id == user_id:
        return {"id": user_id, "type": "private", "first_name": "someone"}
    return {"id": chat_id, "type": "supergroup", "title": "a group"}


def _user_json(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "someone", "language_code": "en"}


async def _inject(world: World, kind: str, payload: dict[str, Any]) -> None:
    """An update the stand-in has no user action for, handed to the bot directly."""
    app = world.chat.app
    update = Update.de_json({"update_id": 10**7 + next(world.groups) * -1, kind: payload},
                            app.bot)
    await app.process_update(update)


def _message(world: World, chat_id: int, user_id: int, text: str,
             **extra: Any) -> dict[str, Any]:
    entities = ([{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
                if text.startswith("/") else [])
    return {"message_id": 10**6, "date": 1795000000, "text": text, "entities": entities,
            "from": _user_json(user_id), "chat": _chat_json(world, chat_id, user_id), **extra}


async def _command(world: World, user_id: int, chat_id: int, name: str, args: str) -> None:
    world.api.send_command(user_id, name, args,
                           chat_id=None if chat_id == user_id else chat_id,
                           with_username=chat_id != user_id)
    await world.chat.pump()


async def _text(world: World, user_id: int, chat_id: int, text: str) -> None:
    world.api.send_text(user_id, text, None if chat_id == user_id else chat_id)
    await world.chat.pump()


async def _edited(world: World, user_id: int, chat_id: int) -> None:
    await _inject(world, "edited_message", _message(
        world, chat_id, user_id, "/summary", edit_date=1795000100))


async def _forwarded(world: World, user_id: int, chat_id: int) -> None:
    await _inject(world, "message", _message(
        world, chat_id, user_id, "/report 15 done", forward_origin={
            "type": "user", "date": 1794999000, "sender_user": _user_json(CONTACT)}))


def _press(data: str) -> Callable[[World, int, int], Any]:
    async def press(world: World, user_id: int, chat_id: int) -> None:
        message = {"message_id": 1, "date": 1795000000, "text": "a button",
                   "from": BOT, "chat": _chat_json(world, chat_id, user_id)}
        await _inject(world, "callback_query", {
            "id": f"q{next(world.groups)}", "from": _user_json(user_id), "message": message,
            "chat_instance": "1", "data": data})
    return press


ARGUMENTS = {"report": "15 ongoing 60%", "task": "15", "unit": "生态环境局", "digest": "on",
             "invite": "leader", "revoke": "424242", "unbind": "-424242", "cancel": "NoSuchId",
             "extend": "16 12-20 equipment delayed", "audit": "15"}
"""Arguments that do the command's work but change nothing another cell reads."""

Action = Callable[[World, int, int], Any]


def _do_command(name: str) -> Action:
    async def do(world: World, user_id: int, chat_id: int) -> None:
        await _command(world, user_id, chat_id, name, ARGUMENTS.get(name, ""))
    return do


ACTIONS: dict[str, Action] = {f"/{name}": _do_command(name) for name, _ in COMMANDS}
ACTIONS.update({
    "/start <a wrong code>": lambda w, u, c: _command(w, u, c, "start", "NoSuchCode12345"),
    "plain text": lambda w, u, c: _text(w, u, c, "已完成 60%"),
    "unknown command": lambda w, u, c: _text(w, u, c, "/weather 岑溪"),
    "another bot's command": lambda w, u, c: _text(w, u, c, "/summary@PollBot"),
    "edited command": _edited,
    "forwarded command": _forwarded,
    "status button": _press("r|15|p|2026|ecology-environment"),
    "review button": _press("v|24|ecology-environment|2026|c"),
    "language button": _press("l|en"),
    "stale button": _press("x|junk"),
})

# What an answer "with the content" says, per action (everyone here reads English).
CONTENT = {
    "/start": r"^Hello, ", "/bind": r"is now a leadership group", "/help": r"/lang — change",
    "/lang": r"^Choose your language", "/mytasks": r"Press a task number",
    "/report": r"Stored for task 15|Which year", "/summary": r"^Summary of cycle 2026",
    "/task": r"Ecology and Environment Bureau \(lead\)", "/unit": r"Tasks of cycle 2026",
    "/overdue": r"^Overdue and silent", "/export": r"^Ledger \(台账\) of cycle 2026",
    "/scores": r"^Scorecard of cycle 2026",
    "/bulletin": r"^Notice on the progress of the target tasks of 2026",
    "/chart": r"^Cycle 2026 per task", "/calendar": r"^Due days and reminder days of",
    "/digest": r"Digests will come to you here", "/invite": r"t\.me/duban_access_bot\?start=",
    "/people": r"^Enrolled people", "/revoke": r"No active person has the id 424242",
    "/invites": r"^(Open enrolment links|No enrolment link is open)",
    "/cancel": r"No open enrolment link has the id",
    "/unbind": r"No bound group has the id -424242", "/reload": r"^Timetable reloaded",
    "/extend": r"waiting for the leaders' decision", "/review": r"^Awaiting review, cycle 2026",
    "/audit": r"^Workflow log of task 15",
    "plain text": r"^To report, reply to a reminder",
    "status button": r"(?i)stored for task 15", "unknown command": r"^Unknown command",
    # a leader's press passes the role check and meets the workflow's own rule
    "review button": r"nothing to review",
    "language button": r"^Language (set|of this group's digests): English",
}


async def outcome(world: World, action: str, role: str, where: str) -> tuple[str, list[str]]:
    """Do ``action`` as ``role`` in ``where``; "A" answered, "R" refused, "-" silent."""
    user_id = ROLES[role]
    if where == "private":
        chat_id = user_id
    elif where == "bound group":
        chat_id = BOUND
    else:
        chat_id = next(world.groups)
        world.api.add_group(chat_id, "a group that is not bound")
    chats = {chat_id, user_id}
    before = {c: world.chat.last_message_id(c) for c in chats}
    answers_before = len(world.api.calls("answerCallbackQuery"))
    await ACTIONS[action](world, user_id, chat_id)
    texts = [m.get("text") or m.get("caption") or "" for c in chats
             for m in world.chat.bot_messages_after(c, before[c])]
    popups = [str(call.params.get("text", "")) for call in
              world.api.calls("answerCallbackQuery")[answers_before:] if call.params.get("text")]
    if not texts and not popups:
        return "-", []
    pattern = CONTENT.get(action)
    if pattern and any(re.search(pattern, text, re.MULTILINE) for text in texts):
        return "A", texts
    return "R", texts + popups


# -- the matrix (docs/access.md) -----------------------------------------------------------------
# One letter per role, in the order of ROLES: stranger, contact, leader, admin (DUBAN_ADMINS),
# admin (enrolled).
EXPECTED: dict[str, dict[str, str]] = {
    "private": {
        "/start": "RAAAA", "/start <a wrong code>": "RRRRR", "/bind": "RRRRR", "/help": "RAAAA",
        "/lang": "RAAAA", "/mytasks": "RARRR", "/report": "RARRR", "/summary": "RRAAA",
        "/task": "RAAAA", "/unit": "RRAAA", "/overdue": "RRAAA", "/export": "RRAAA",
        "/chart": "RRAAA", "/calendar": "RARRR",
        "/digest": "RRARA", "/invite": "RRRAA", "/invites": "RRRAA", "/cancel": "RRRAA",
        "/people": "RRRAA", "/revoke": "RRRAA",
        "/unbind": "RRRAA", "/reload": "RRRAA", "plain text": "RARRR",
        "/extend": "RARRR", "/review": "RRAAA", "/audit": "RRRAA",
        "/scores": "RRAAA",
        "/bulletin": "RRAAA",
        "unknown command": "RAAAA", "another bot's command": "-----", "edited command": "RRRRR",
        "forwarded command": "RRRRR", "status button": "RARRR", "language button": "RAARA",
        "review button": "RRAAA",
        "stale button": "RRRRR",
    },
    "bound group": {
        "/start": "-RRRR", "/start <a wrong code>": "-RRRR", "/bind": "-RAAA", "/help": "-AAAA",
        "/lang": "-RAAA", "/mytasks": "-RRRR", "/report": "-RRRR", "/summary": "-RAAA",
        "/task": "-RAAA", "/unit": "-RAAA", "/overdue": "-RAAA", "/export": "-RAAA",
        "/chart": "-RAAA", "/calendar": "-RRRR",
        "/digest": "-RRRR", "/invite": "---RR", "/invites": "---RR", "/cancel": "---RR",
        "/people": "---RR", "/revoke": "---RR",
        "/unbind": "---RR", "/reload": "---RR", "plain text": "-----",
        "/extend": "-RRRR", "/review": "-RAAA", "/audit": "---RR",
        "/scores": "-RAAA",
        "/bulletin": "-RAAA",
        "unknown command": "-----", "another bot's command": "-----", "edited command": "-----",
        "forwarded command": "-----", "status button": "RRRRR", "language button": "R-AAA",
        "review button": "RRAAA",
        "stale button": "RRRRR",
    },
    "unbound group": {
        "/start": "-RRRR", "/start <a wrong code>": "-RRRR", "/bind": "-RAAA", "/help": "-AAAA",
        "/lang": "-RRRR", "/mytasks": "-RRRR", "/report": "-RRRR", "/summary": "-RRRR",
        "/task": "-RRRR", "/unit": "-RRRR", "/overdue": "-RRRR", "/export": "-RRRR",
        "/chart": "-RRRR", "/calendar": "-RRRR",
        "/digest": "-RRRR", "/invite": "---RR", "/invites": "---RR", "/cancel": "---RR",
        "/people": "---RR", "/revoke": "---RR",
        "/unbind": "---RR", "/reload": "---RR", "plain text": "-----",
        "/extend": "-RRRR", "/review": "-RRRR", "/audit": "---RR",
        "/scores": "-RRRR",
        "/bulletin": "-RRRR",
        "unknown command": "-----", "another bot's command": "-----", "edited command": "-----",
        "forwarded command": "-----", "status button": "RRRRR", "language button": "R----",
        "review button": "RRRRR",
        "stale button": "RRRRR",
    },
}
CELLS = [(where, action, role) for where in CHATS for action in ACTIONS for role in ROLES]


async def test_the_matrix_covers_every_command_and_action() -> None:
    for where in CHATS:
        assert set(EXPECTED[where]) == set(ACTIONS), where
        assert all(len(row) == len(ROLES) for row in EXPECTED[where].values())
    assert {f"/{name}" for name, _ in COMMANDS} <= set(ACTIONS)


@pytest.mark.parametrize("where,action,role", CELLS,
                         ids=[f"{w}|{a}|{r}" for w, a, r in CELLS])
async def test_access(world: World, where: str, action: str, role: str) -> None:
    got, texts = await outcome(world, action, role, where)
    wanted = EXPECTED[where][action][list(ROLES).index(role)]
    assert got == wanted, f"{role} {action} in {where}: got {got} {texts!r}, want {wanted}"
    if where != "private":
        for text in texts:  # nothing private ever lands in a group
            assert "start=" not in text and str(ROLES[role]) not in text, text
    if got == "R":
        assert len(texts) == 1, texts  # a refusal is one message (or one pop-up)


async def test_docs_access_md_shows_the_matrix_tested_here() -> None:
    symbols = {"✅": "A", "⛔": "R", "—": "-"}
    text = (ROOT / "docs" / "access.md").read_text(encoding="utf-8")
    titles = {"private": "In a private chat with the bot",
              "bound group": "In a bound leadership group",
              "unbound group": "In a group that is not bound"}
    for where, title in titles.items():
        section = text.split(f"### {title}\n", 1)[1].split("\n\n", 1)[0]
        header, _, *rows = section.strip().splitlines()
        assert [c.strip() for c in header.strip("|").split("|")][1:] == list(ROLES)
        documented = {}
        for row in rows:
            action, *cells = (c.strip() for c in row.strip("|").split("|"))
            documented[action.strip("`")] = "".join(symbols[c] for c in cells)
        assert documented == EXPECTED[where], where
