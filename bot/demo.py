"""``duban demo``: see duban work in a minute, with no token and no network.

    duban demo [--lang zh|en] [--year 2026] [--database-url URL] [--tasks PATH]

Starts the local Bot API stand-in (:mod:`bot_api_standin`) on 127.0.0.1, builds the real
application against it (:func:`bot.app.build_application`: real handlers, real storage, real
HTTP stack) with a virtual clock, and plays a small cast through one December cycle: the admin
enrols everyone with deep links, the leader binds the leadership group chat, then every day at
09:00 from 25 October to 8 December the reminder dispatcher runs (each person gets one message a
day listing their due tasks) while the contacts react (or do not): one acknowledges (收到), two
report, one stays silent, one blocks the bot; the leader confirms one report (审结) in the group
and urges (催办) the silent unit after the cutoff. The chat transcript is printed as it happens,
every message whole (its first line beside the time, sender and chat, the rest indented below
it), then the final summary.

:class:`ScriptedChat` is the driver of simulated people; it is general enough for tests: each
move injects what a person does into the stand-in, fetches the resulting updates with a real
``getUpdates`` call and hands each to ``application.process_update``, so the bot has finished
answering when the move returns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from telegram.ext import Application
from telegram.request import HTTPXRequest

from bot.app import build_application
from bot.configuration import shipped_tasks_path
from bot.i18n import Translator, translator
from bot.messages import STATUS_CODES
from bot.reminders import dispatch_due
from bot.render import render_summary
from bot.services import Services
from bot.settings import Settings
from bot_api_standin import BotApiStandIn, TranscriptEvent
from schedules.clock import FrozenClock
from schedules.loader import load_timetable
from schedules.model import Timetable
from storage import Store

JSONDict = dict[str, Any]

TOKEN = "000000:DEMO"  # accepted only by the stand-in
BOT_USERNAME = "duban_demo_bot"
BOT_NAME = "duban"
ZONE = ZoneInfo("Asia/Shanghai")
CLIENT_LANGUAGE = {"zh_Hans": "zh-hans", "en": "en"}

# The cast: Telegram user ids, and the leadership group chat.
ADMIN = 1001
LEADER = 1002
ECOLOGY = 2001  # contact of 生态环境局: 进行中 on the first reminder, later 已完成 in words
AGRICULTURE = 2002  # contact of 农业农村局: 收到, then 已完成, which the leader confirms
FORESTRY = 2003  # contact of 林业局: stays silent, gets the overdue notice, is urged
TOWN = 2004  # contact of 岑城镇: blocks the bot midway
GROUP = -1001000000001
CONTACT_UNITS = {ECOLOGY: "生态环境局", AGRICULTURE: "农业农村局", FORESTRY: "林业局",
                 TOWN: "岑城镇"}
NAMES = {
    "zh_Hans": {ADMIN: "周主任", LEADER: "李组长", ECOLOGY: "王芳", AGRICULTURE: "张伟",
                FORESTRY: "刘洋", TOWN: "陈静", GROUP: "降碳领导小组"},
    "en": {ADMIN: "Director Zhou", LEADER: "Leader Li", ECOLOGY: "Wang Fang",
           AGRICULTURE: "Zhang Wei", FORESTRY: "Liu Yang", TOWN: "Chen Jing",
           GROUP: "Leading Group"},
}
ECOLOGY_DONE_TEXT = {"zh_Hans": "已完成，报告已报送", "en": "done, the report has been filed"}
FIRST_TASK = {ECOLOGY: 11, AGRICULTURE: 7}  # the task each reports on
URGE_DAY = (12, 2)  # the leader urges 林业局 on task 8 the day after the overdue notice

# Transcript layout: time, who → whom (names cut to fit), then the whole text.
NAME_WIDTH = 14
_TAG = re.compile(r"<[^>]+>")


class ScriptError(RuntimeError):
    """The bot did not answer a scripted move the way the script needs to go on."""


def button_data(message: JSONDict) -> list[str]:
    """Every ``callback_data`` under a message (as the stand-in stores it)."""
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
            if "callback_data" in b]


class ScriptedChat:
    """Simulated people talking to a running application through the Bot API stand-in.

    The application must be initialised (and its ``post_init`` run) but not polling: every move
    pumps the updates itself. Moves return the bot's new messages in the chat concerned.

    Args:
        app: the initialised application, built against ``api``.
        api: the running stand-in, with the bot and the people registered.
        admin_id: who makes the invitations in :meth:`enrol`.
    """

    def __init__(self, app: Application, api: BotApiStandIn, admin_id: int) -> None:
        self.app = app
        self.api = api
        self.admin_id = admin_id
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

    def bot_messages_after(self, chat_id: int, after: int) -> list[JSONDict]:
        """The bot's messages in a chat with an id above ``after``."""
        return [m for m in self.api.bot_messages(chat_id) if m["message_id"] > after]

    def last_message_id(self, chat_id: int) -> int:
        """The id of the latest message in a chat, from anyone (0 when empty)."""
        return max((m["message_id"] for m in self.api.messages(chat_id)), default=0)

    async def command(self, user_id: int, command: str, args: str = "",
                      chat_id: int | None = None) -> list[JSONDict]:
        """The user sends ``/command args`` (in their private chat unless ``chat_id``)."""
        sent = self.api.send_command(user_id, command, args, chat_id=chat_id)
        await self.pump()
        return self.bot_messages_after(chat_id or user_id, sent["message_id"])

    async def say(self, user_id: int, text: str, reply_to: int | None = None,
                  chat_id: int | None = None) -> list[JSONDict]:
        """The user writes ``text``, optionally replying to a message."""
        sent = self.api.send_text(user_id, text, chat_id, reply_to_message_id=reply_to)
        await self.pump()
        return self.bot_messages_after(chat_id or user_id, sent["message_id"])

    async def press(self, user_id: int, message_id: int, data: str,
                    chat_id: int | None = None) -> list[JSONDict]:
        """The user presses the button with callback data ``data`` under a bot message."""
        chat = chat_id or user_id
        before = self.last_message_id(chat)
        self.api.press_button(user_id, message_id, data, chat_id=chat_id)
        await self.pump()
        return self.bot_messages_after(chat, before)

    async def enrol(self, user_id: int, unit: str | None, role: str = "contact"
                    ) -> list[JSONDict]:
        """The admin asks for an invitation; the person opens its deep link privately.

        Raises:
            ScriptError: the admin's reply carries no enrolment link.
        """
        reply = await self.command(self.admin_id, "invite", f"{unit} {role}" if unit else role)
        match = re.search(r"start=([A-Za-z0-9_-]+)", reply[-1]["text"] if reply else "")
        if match is None:
            raise ScriptError(f"no enrolment link in the admin's reply: {reply!r}")
        return await self.command(user_id, "start", match.group(1))

    async def bind(self, user_id: int, chat_id: int) -> list[JSONDict]:
        """An enrolled leader sends /bind in a group: it becomes a leadership group."""
        return await self.command(user_id, "bind", chat_id=chat_id)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: from now on sends to them answer 403."""
        self.api.block_bot(user_id)


# -- the transcript, for a terminal ------------------------------------------------------------
def plain_text(text: str) -> str:
    """Telegram HTML as terminal text: tags dropped, entities decoded."""
    return html.unescape(_TAG.sub("", text))


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide CJK characters count two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns (with an ellipsis), or padded to them."""
    if display_width(text) <= width:
        return text + " " * (width - display_width(text))
    kept, used = [], 0
    for char in text:
        used += display_width(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + "…" + " " * (width - 1 - display_width("".join(kept)))


_MARKERS = {"button": "▶ ", "answer": "💬 ", "edit": "✎ ", "markup": "⌨ ", "delete": "🗑 ",
            "document": "📄 ", "photo": "🖼 "}


def transcript_line(event: TranscriptEvent, at: dt.datetime, group_ids: set[int]) -> str:
    """One event, whole: ``MM-DD HH:MM  who → whom  first line [buttons]``, then the rest.

    The message's other lines follow, indented under its first; nothing is cut.
    """
    if event.from_bot:
        who, whom = BOT_NAME, event.chat_title
    elif event.chat_id in group_ids:
        who, whom = event.sender, event.chat_title
    else:
        who, whom = event.sender, BOT_NAME
    head = f"{at:%m-%d %H:%M}  {fit(who, NAME_WIDTH)} → {fit(whom, NAME_WIDTH)}  "
    # The stand-in records text as the recipient sees it: entities parsed, no HTML left.
    lines = [" ".join(line.split()) for line in event.text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    first = _MARKERS.get(event.kind, "") + (lines[0] if lines else "")
    buttons = " ".join(f"[{label}]" for row in event.buttons for label in row)
    indent = " " * display_width(head)
    out = [(head + first + (f"  {buttons}" if buttons else "")).rstrip()]
    out += [(indent + line).rstrip() for line in lines[1:]]
    return "\n".join(out)


# -- the scripted December cycle -----------------------------------------------------------------
def each_day(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Every day from ``start`` to ``end`` inclusive."""
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


@dataclass
class Contact:
    """What a scripted contact has seen so far."""

    user_id: int
    seen: int = 0  # last message id of the chat already looked at
    rounds: int = 0  # days on which reminders arrived
    blocked: bool = False


class DemoCycle:
    """One run of the demo: the world, the script, and the printer."""

    def __init__(self, out: TextIO, t: Translator, year: int, app: Application,
                 api: BotApiStandIn, clock: FrozenClock) -> None:
        self.out = out
        self.t = t
        self.year = year
        self.app = app
        self.api = api
        self.clock = clock
        self.chat = ScriptedChat(app, api, ADMIN)
        self.names = NAMES[t.language]
        self.contacts = {user_id: Contact(user_id) for user_id in CONTACT_UNITS}
        self.printed = 0
        self.confirmed = False

    # printing
    def flush(self) -> None:
        """Print the transcript events that happened since the last flush, at the clock's time."""
        events = self.api.transcript
        for event in events[self.printed:]:
            print(transcript_line(event, self.clock.now(), {GROUP}), file=self.out)
        self.printed = len(events)
        self.out.flush()

    def narrate(self, text: str) -> None:
        """A line about something that is not a message (e.g. blocking the bot)."""
        self.flush()
        print(f"{self.clock.now():%m-%d %H:%M}  {text}", file=self.out)

    def at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        """Set the virtual clock to ``day`` at ``hour:minute`` in Shanghai."""
        self.flush()
        now = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZONE)
        self.clock.set(now)
        return now

    # the script
    async def enrol_everyone(self) -> None:
        """The admin enrols themself, the leader, the group chat and the four contacts."""
        await self.chat.command(ADMIN, "start")
        await self.chat.enrol(ADMIN, None, "admin")
        await self.chat.enrol(LEADER, None, "leader")
        await self.chat.bind(LEADER, GROUP)
        for user_id, unit in CONTACT_UNITS.items():
            await self.chat.enrol(user_id, unit)
            self.contacts[user_id].seen = self.chat.last_message_id(user_id)

    def new_reminders(self, contact: Contact) -> list[JSONDict]:
        """The reminders that reached a contact since they last looked."""
        fresh = self.chat.bot_messages_after(contact.user_id, contact.seen)
        contact.seen = self.chat.last_message_id(contact.user_id)
        return [m for m in fresh if any(d.startswith("a|") for d in button_data(m))]

    async def react(self, day: dt.date) -> None:
        """What the contacts do at 10:00 with the reminder they got at 09:00, then the leader."""
        self.at(day, 10)
        for contact in self.contacts.values():
            if contact.blocked:
                continue
            reminders = self.new_reminders(contact)
            if reminders:
                contact.rounds += 1
            await self.react_one(contact, reminders)
        await self.leader_acts(day)

    async def react_one(self, contact: Contact, reminders: list[JSONDict]) -> None:
        """One contact's part of the script."""
        user = contact.user_id
        if user == ECOLOGY and reminders and contact.rounds == 1:
            await self.report(user, reminders[0], FIRST_TASK[user], "in_progress")
        elif user == ECOLOGY and reminders and contact.rounds == 3:
            which = await self.chat.say(user, ECOLOGY_DONE_TEXT[self.t.language],
                                        reply_to=reminders[0]["message_id"])
            task = next((d for m in which for d in button_data(m)
                         if d.startswith("c|") and f"|t|{FIRST_TASK[user]}." in d), None)
            if task is not None:  # the message listed several tasks: which one
                await self.chat.press(user, which[-1]["message_id"], task)
        elif user == AGRICULTURE and reminders and contact.rounds == 1:
            first = reminders[0]
            ack = next(d for d in button_data(first) if d.startswith("a|"))
            await self.chat.press(user, first["message_id"], ack)
        elif user == AGRICULTURE and reminders and contact.rounds == 2:
            await self.report(user, reminders[0], FIRST_TASK[user], "done")
        elif user == TOWN and contact.rounds == 2 and not reminders:
            # Midway: the day after their second reminder, they block the bot.
            self.chat.block(user)
            contact.blocked = True
            self.narrate("⛔ " + self.t.gettext("{name} blocks the bot.").format(
                name=self.names[user]))

    async def report(self, user: int, reminder: JSONDict, task: int, status: str) -> None:
        """Report a status on one task of a reminder: open it first if it lists several."""
        buttons = button_data(reminder)
        opener = next((d for d in buttons if d.startswith(f"t|{task}|")), None)
        if opener is not None:
            card = await self.chat.press(user, reminder["message_id"], opener)
            reminder = card[0]
        await self.chat.press(user, reminder["message_id"], _status_button(reminder, status))

    async def leader_acts(self, day: dt.date) -> None:
        """The leader confirms 农业农村局's report of done in the group, and urges 林业局."""
        wanted = f"v|{FIRST_TASK[AGRICULTURE]}|agriculture-rural|{self.year}|c"
        found = ((m, d) for m in self.api.bot_messages(GROUP) for d in button_data(m)
                 if d == wanted or d.startswith(wanted + "|"))  # (the report's id follows)
        request, data = next(found, (None, ""))
        if request is not None and not self.confirmed:
            self.at(day, 10, 30)
            await self.chat.press(LEADER, request["message_id"], data, chat_id=GROUP)
            self.confirmed = True
        if (day.month, day.day) == URGE_DAY:
            self.at(day, 10, 30)
            late = await self.chat.command(LEADER, "overdue", chat_id=GROUP)
            urge = f"u|8|forestry|{self.year}"
            if late and urge in button_data(late[-1]):
                await self.chat.press(LEADER, late[-1]["message_id"], urge, chat_id=GROUP)

    async def walk(self) -> None:
        """Every day at 09:00 the dispatcher runs; at 10:00 the contacts react."""
        for day in each_day(dt.date(self.year, 10, 25), dt.date(self.year, 12, 8)):
            now = self.at(day, 9)
            await dispatch_due(self.app, now)
            await self.react(day)

    async def leadership_asks(self) -> None:
        """At the end the leader asks the group chat for /summary and /overdue."""
        self.at(dt.date(self.year, 12, 8), 10, 30)
        await self.chat.command(LEADER, "summary", chat_id=GROUP)
        await self.chat.command(LEADER, "overdue", chat_id=GROUP)
        self.flush()

    async def final_summary(self) -> str:
        """The summary the leadership gets, rendered in the demo's language, as plain text."""
        services: Services = self.app.bot_data["services"]
        facts = await services.db(services.store.cycle_facts, self.year)
        today = self.clock.now().date()
        return plain_text(render_summary(self.t, services.timetable, self.year, facts, today))

    def handler_errors(self) -> list[str]:
        """Error notices the bot sent the admin (a handler failed)."""
        return [m["text"] for m in self.api.bot_messages(ADMIN)
                if m.get("text", "").startswith("⚠️ duban:")]


def _status_button(message: JSONDict, status: str) -> str:
    code = STATUS_CODES[status]
    data = next((d for d in button_data(message)
                 if (d.startswith("r|") and d.split("|")[2] == code)
                 or (d.startswith("c|") and d.split("|")[2:] == ["s", code])), None)
    if data is None:
        raise ScriptError(f"no {status} button under message {message['message_id']}")
    return data


def _task_of(message: JSONDict) -> int | None:
    """The task a reminder is about (from its report buttons)."""
    for data in button_data(message):
        if data.startswith("r|"):
            return int(data.split("|")[1])
    return None


@dataclass(frozen=True)
class DemoResult:
    """What :func:`_play` leaves for the end of the output."""

    summary: str
    messages: int
    errors: list[str]


async def run_demo(out: TextIO, *, language: str = "zh_Hans", database_url: str | None = None,
                   year: int = 2026, timetable: Timetable | None = None) -> int:
    """Play the scripted December cycle and print its transcript and the final summary.

    Args:
        out: where to print.
        language: the demo's language (``zh_Hans`` or ``en``): its headings and the language
            of the scripted people's Telegram clients.
        database_url: SQLAlchemy URL of an empty database (default: a temporary SQLite file).
        year: the cycle year walked through.
        timetable: the timetable (default: the shipped ``data/tasks.yaml``).

    Returns:
        0; 1 when the bot reported a handler error or the script could not go on; 2 when the
        database is not empty.
    """
    t = translator(language)
    timetable = timetable or load_timetable(shipped_tasks_path())
    started = time.perf_counter()
    start = dt.datetime(year, 10, 25, 9, tzinfo=ZONE)
    clock = FrozenClock(start)
    with tempfile.TemporaryDirectory(prefix="duban-demo-") as folder:
        store = Store(database_url or f"sqlite:///{Path(folder) / 'duban-demo.sqlite3'}")
        try:
            # Never mix the scripted people into a real deployment's data.
            await asyncio.to_thread(store.upgrade)
            if await asyncio.to_thread(store.list_people, None, None, False):
                print(t.gettext("The database {url} is not empty; the demo needs an empty one "
                                "(without --database-url it makes a temporary SQLite file).")
                      .format(url=make_url(store.url).render_as_string(hide_password=True)),
                      file=sys.stderr)
                return 2
            async with BotApiStandIn(wall_clock=lambda: clock.now().timestamp()) as api:
                result = await _play(out, t, year, timetable, store, clock, api)
        except ScriptError as exc:
            print(t.gettext("The demo stopped: {problem}").format(problem=exc), file=sys.stderr)
            return 1
        finally:
            store.close()
    print("", file=out)
    print("== " + t.gettext("Final summary") + " ==", file=out)
    print(result.summary, file=out)
    print("", file=out)
    print(t.gettext("{count} messages in {seconds} s of real time; everything went through the "
                    "local stand-in on 127.0.0.1.").format(
        count=result.messages, seconds=f"{time.perf_counter() - started:.1f}"), file=out)
    if database_url is None:  # the reports need the data: say how to keep them
        print(t.gettext("The demo's data were in a temporary database, now removed. To keep "
                        "them for duban export, chart and ics: duban demo --database-url "
                        "sqlite:///demo.sqlite3, then DATABASE_URL=sqlite:///demo.sqlite3 "
                        "duban export --year {year}.").format(year=year), file=out)
    if result.errors:
        for error in result.errors:
            print(error, file=sys.stderr)
        return 1
    return 0


async def _play(out: TextIO, t: Translator, year: int, timetable: Timetable, store: Store,
                clock: FrozenClock, api: BotApiStandIn) -> DemoResult:
    api.add_bot(TOKEN, BOT_USERNAME, first_name=BOT_NAME)
    names = NAMES[t.language]
    for user_id in (ADMIN, LEADER, *CONTACT_UNITS):
        api.add_user(user_id, names[user_id], CLIENT_LANGUAGE[t.language])
    api.add_group(GROUP, names[GROUP])
    settings = Settings(telegram_bot_token=SecretStr(TOKEN), telegram_api_base_url=api.base_url,
                        telegram_file_base_url=api.base_file_url, database_url=store.url,
                        admins=(ADMIN,), tz="Asia/Shanghai", invite_ttl_days=7,
                        dispatch_interval_seconds=3600)
    # trust_env=False: no proxy from the environment between us and 127.0.0.1. No rate limiter:
    # weeks pass in seconds here, and the stand-in does not enforce Telegram's limits.
    app = build_application(settings, timetable=timetable, store=store, clock=clock,
                            request=_local_request(), get_updates_request=_local_request(),
                            rate_limit=False, auto_dispatch=False)
    # Virtual time: no real-time spacing of the dispatcher's sends.
    app.bot_data["per_chat_interval"] = 0.0
    app.bot_data["max_send_rate"] = 0.0
    await app.initialize()
    try:
        assert app.post_init is not None
        await app.post_init(app)
        cycle = DemoCycle(out, t, year, app, api, clock)
        print(t.gettext("duban demo: the {year} cycle from {start} to {end} on a virtual clock, "
                        "with the real bot against a local Bot API stand-in (no token, no "
                        "network).").format(year=year, start=t.date(clock.now().date()),
                                            end=t.date(dt.date(year, 12, 8))), file=out)
        print("", file=out)
        print("== " + t.gettext("Transcript") + " ==", file=out)
        await cycle.enrol_everyone()
        await cycle.walk()
        await cycle.leadership_asks()
        summary = await cycle.final_summary()
        messages = sum(1 for e in api.transcript if e.from_bot and e.kind == "message")
        return DemoResult(summary, messages, cycle.handler_errors())
    finally:
        await app.shutdown()


def _local_request() -> HTTPXRequest:
    return HTTPXRequest(connection_pool_size=8, httpx_kwargs={"trust_env": False})
