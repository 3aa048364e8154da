"""The Bot API stand-in, driven through python-telegram-bot's real HTTP stack.

Every request goes over loopback to ``BotApiStandIn``; the autouse ``no_internet`` fixture fails
a test that tries to connect anywhere else.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import importlib.util
import json
import re
import socket
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot as PtbBot
from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonCommands,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)
from telegram.request import HTTPXRequest

from bot_api_standin import BotApiStandIn, RateLimits, parse_html, validate_call
from bot_api_standin.spec import ApiError

TOKEN = "123456:TEST-standin-token"
BOT_USERNAME = "duban_test_bot"
ALICE = 1001
GROUP = -1001234567890
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuse (with OSError, so callers clean up) and report connections off loopback."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise ConnectionRefusedError(f"tests must not reach {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield attempts
    assert attempts == [], f"test tried to reach {attempts}"


def test_no_internet_guard_refuses_other_hosts(no_internet: list[Any]) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 443))

    assert no_internet == [("192.0.2.1", 443)]
    no_internet.clear()


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A running stand-in with one bot, one user and one supergroup."""
    async with BotApiStandIn() as stand_in:
        stand_in.add_bot(TOKEN, BOT_USERNAME, first_name="督办")
        stand_in.add_user(ALICE, "张三", username="zhangsan")
        stand_in.add_group(GROUP, "督办工作群")
        yield stand_in


def make_bot(api: BotApiStandIn, token: str = TOKEN) -> PtbBot:
    """A PTB Bot whose requests go to the stand-in."""
    return PtbBot(
        token,
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        request=HTTPXRequest(),
        get_updates_request=HTTPXRequest(),
    )


@pytest.fixture
async def bot(api: BotApiStandIn) -> AsyncIterator[PtbBot]:
    """An initialised PTB Bot talking to ``api``."""
    async with make_bot(api) as ptb_bot:
        yield ptb_bot


async def raw_post(api: BotApiStandIn, method: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a JSON body with plain aiohttp; return (status, parsed JSON)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{api.base_url}{TOKEN}/{method}", json=body) as response,
    ):
        return response.status, await response.json()


def ci(text: str) -> str:
    """A case-insensitive literal pattern: PTB re-capitalises BadRequest messages."""
    return "(?i)" + re.escape(text)


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    """One row of callback buttons from (label, data) pairs."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in pairs]])


# --- basics --------------------------------------------------------------------------------


async def test_get_me_returns_the_registered_bot(api: BotApiStandIn, bot: PtbBot) -> None:
    me = await bot.get_me()

    assert me.is_bot
    assert me.username == BOT_USERNAME
    assert me.id == 123456
    assert bot.username == BOT_USERNAME  # Bot.initialize() called getMe too
    assert [c.method for c in api.calls()] == ["getMe", "getMe"]


async def test_unknown_token_is_unauthorized(api: BotApiStandIn) -> None:
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with make_bot(api, token="999:WRONG"):
            pass

    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{api.base_url}999:WRONG/getMe") as response,
    ):
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }


async def test_base_url_needs_a_running_server() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = BotApiStandIn().base_url


async def test_send_message_is_stored_and_returned(api: BotApiStandIn, bot: PtbBot) -> None:
    message = await bot.send_message(
        ALICE,
        "<b>任务</b> 已到期 &lt;3",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard(("完成", "done:1")),
    )

    assert message.text == "任务 已到期 <3"
    assert message.chat.id == ALICE
    assert message.from_user is not None
    assert message.from_user.username == BOT_USERNAME
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bold", 0, 2)]
    assert message.reply_markup == keyboard(("完成", "done:1"))
    stored = api.last_bot_message(ALICE)
    assert stored is not None
    assert stored["message_id"] == message.message_id
    assert stored["text"] == "任务 已到期 <3"
    assert api.sent_source(ALICE, message.message_id) == ("<b>任务</b> 已到期 &lt;3", "HTML")


async def test_message_to_unknown_chat_is_bad_request(bot: PtbBot) -> None:
    with pytest.raises(BadRequest, match=ci("chat not found")):
        await bot.send_message(424242, "hello")


async def test_reply_parameters_point_at_a_stored_message(api: BotApiStandIn, bot: PtbBot) -> None:
    asked = api.send_text(ALICE, "进度如何？")

    answer = await bot.send_message(ALICE, "80%", reply_to_message_id=asked["message_id"])

    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "进度如何？"
    with pytest.raises(BadRequest, match=ci("message to be replied not found")):
        await bot.send_message(ALICE, "x", reply_to_message_id=999)


# --- text validation -----------------------------------------------------------------------


async def test_text_of_4096_characters_passes_and_4097_is_too_long(bot: PtbBot) -> None:
    await bot.send_message(ALICE, "字" * 4096)
    # Tags and character references do not count.
    await bot.send_message(ALICE, "<b>" + "&amp;" * 4096 + "</b>", parse_mode=ParseMode.HTML)

    with pytest.raises(BadRequest, match=ci("message is too long")):
        await bot.send_message(ALICE, "字" * 4097)


@pytest.mark.parametrize(
    "text",
    [
        "<b>unclosed",
        "line<br>break",
        "a < b",
        "AT&T",
        "&nbsp;",
        "<b>crossed</i>",
        "<span>not a spoiler</span>",
        "<div>block</div>",
    ],
)
async def test_malformed_html_is_rejected(bot: PtbBot, text: str) -> None:
    with pytest.raises(BadRequest, match=ci("can't parse entities")):
        await bot.send_message(ALICE, text, parse_mode=ParseMode.HTML)


async def test_escaped_html_is_accepted(api: BotApiStandIn, bot: PtbBot) -> None:
    raw = 'a < b & "c" > d'

    message = await bot.send_message(
        ALICE, f"<i>{html.escape(raw)}</i>", parse_mode=ParseMode.HTML
    )

    assert message.text == raw
    assert [(e.type, e.length) for e in message.entities] == [("italic", len(raw))]


async def test_empty_text_and_unsupported_parse_mode(bot: PtbBot) -> None:
    with pytest.raises(BadRequest, match=ci("message text is empty")):
        await bot.send_message(ALICE, "  \n ")
    with pytest.raises(BadRequest, match=ci("unsupported parse_mode")):
        await bot.send_message(ALICE, "x", parse_mode="BBCode")


def test_parse_html_counts_offsets_in_utf16() -> None:
    text, entities = parse_html('😀 <b>粗</b> <a href="https://example.org/?a=1&amp;b=2">链接</a>')

    assert text == "😀 粗 链接"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 1},
        {"type": "text_link", "offset": 5, "length": 2, "url": "https://example.org/?a=1&b=2"},
    ]


def test_parse_html_supports_telegram_tags() -> None:
    text, entities = parse_html(
        '<pre><code class="language-python">x = 1</code></pre>'
        "<tg-spoiler>s</tg-spoiler><blockquote expandable>q</blockquote>"
    )

    assert text == "x = 1sq"
    assert [e["type"] for e in entities] == ["pre", "spoiler", "expandable_blockquote"]
    assert entities[0]["language"] == "python"


# --- missing parameters, unknown methods ---------------------------------------------------


async def test_missing_required_parameters(api: BotApiStandIn, bot: PtbBot) -> None:
    status, body = await raw_post(api, "sendMessage", {"text": "hi"})
    assert (status, body) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"},
    )

    status, body = await raw_post(api, "answerCallbackQuery", {})
    assert status == 400
    assert body["description"] == 'Bad Request: parameter "callback_query_id" is required'

    with pytest.raises(BadRequest, match=ci("message text is empty")):
        await bot._post("sendMessage", {"chat_id": ALICE})


async def test_wrong_scalar_types_are_rejected(api: BotApiStandIn) -> None:
    status, body = await raw_post(
        api, "sendMessage", {"chat_id": ALICE, "text": "x", "disable_notification": "maybe"}
    )
    assert status == 400
    assert body["description"] == (
        'Bad Request: parameter "disable_notification" must be of type Boolean'
    )

    status, body = await raw_post(api, "sendMessage", {"chat_id": "not-a-chat", "text": "x"})
    assert body["description"] == "Bad Request: chat not found"


async def test_unknown_method_is_not_found(api: BotApiStandIn, bot: PtbBot) -> None:
    status, body = await raw_post(api, "sendTelepathy", {})
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})

    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("send_telepathy")


async def test_method_names_ignore_case_and_unknown_parameters_are_ignored(
    api: BotApiStandIn,
) -> None:
    status, body = await raw_post(api, "SENDMESSAGE", {"chat_id": ALICE, "text": "x", "foo": 1})

    assert status == 200
    assert body["ok"] is True
    assert body["result"]["text"] == "x"


# --- faults --------------------------------------------------------------------------------


async def test_injected_429_surfaces_as_retry_after(
    api: BotApiStandIn, bot: PtbBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, reading RetryAfter.retry_after emits a PTBDeprecationWarning.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    api.fail_next("sendMessage", 429, retry_after=7)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ALICE, "first")

    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(ALICE, "second")  # only the next call failed
    assert [c.status for c in api.calls("sendMessage")] == [429, 200]
    assert api.calls("sendMessage")[0].description == "Too Many Requests: retry after 7"


async def test_blocked_user_is_forbidden(api: BotApiStandIn, bot: PtbBot) -> None:
    api.block_bot(ALICE)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "hello")


async def test_user_who_never_started_the_bot_is_forbidden(
    api: BotApiStandIn, bot: PtbBot
) -> None:
    api.add_user(1002, "李四", started=False)

    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(1002, "hello")
    api.send_command(1002, "start")
    await bot.send_message(1002, "hello")


@pytest.mark.parametrize(("code", "text"), [(500, "Internal Server Error"), (502, "Bad Gateway")])
async def test_server_errors_surface_as_network_error(
    api: BotApiStandIn, bot: PtbBot, code: int, text: str
) -> None:
    api.fail_next("sendMessage", code, times=2)

    for _ in range(2):
        with pytest.raises(NetworkError, match=text) as caught:
            await bot.send_message(ALICE, "hello")
        assert not isinstance(caught.value, BadRequest)
    await bot.send_message(ALICE, "hello")


# --- keyboards -----------------------------------------------------------------------------


async def test_callback_data_longer_than_64_bytes_is_rejected(bot: PtbBot) -> None:
    await bot.send_message(ALICE, "ok", reply_markup=keyboard(("a", "é" * 32)))  # 64 bytes

    with pytest.raises(BadRequest, match=ci("BUTTON_DATA_INVALID")):
        await bot.send_message(ALICE, "too long", reply_markup=keyboard(("a", "x" * 65)))


async def test_inline_keyboard_is_validated_field_by_field(bot: PtbBot) -> None:
    without_text = {"inline_keyboard": [[{"callback_data": "a"}]]}
    with pytest.raises(BadRequest, match=ci('can\'t find field "text"')):
        await bot.send_message(ALICE, "x", api_kwargs={"reply_markup": json.dumps(without_text)})

    without_action = {"inline_keyboard": [[{"text": "a"}]]}
    with pytest.raises(BadRequest, match=ci("Text buttons are unallowed")):
        await bot.send_message(ALICE, "x", api_kwargs={"reply_markup": json.dumps(without_action)})

    not_rows = {"inline_keyboard": [{"text": "a", "callback_data": "a"}]}
    with pytest.raises(BadRequest, match=ci("must be of type Array")):
        await bot.send_message(ALICE, "x", api_kwargs={"reply_markup": json.dumps(not_rows)})


async def test_reply_keyboard_is_tracked_per_chat(api: BotApiStandIn, bot: PtbBot) -> None:
    await bot.send_message(ALICE, "选择", reply_markup=ReplyKeyboardMarkup([["完成", "受阻"]]))

    shown = api.reply_keyboard(ALICE)
    assert shown is not None
    assert shown["keyboard"] == [[{"text": "完成"}, {"text": "受阻"}]]
    last = api.last_bot_message(ALICE)
    assert last is not None
    assert "reply_markup" not in last  # Telegram only echoes inline keyboards

    await bot.send_message(ALICE, "好", reply_markup=ReplyKeyboardRemove())
    assert api.reply_keyboard(ALICE) is None


async def test_callbacks_are_tracked_until_answered(api: BotApiStandIn, bot: PtbBot) -> None:
    sent = await bot.send_message(ALICE, "状态？", reply_markup=keyboard(("完成", "done")))

    query = api.press_button(ALICE, sent.message_id, "done")
    assert [q["id"] for q in api.unanswered_callbacks()] == [query["id"]]

    assert await bot.answer_callback_query(query["id"], text="已记录")
    assert api.unanswered_callbacks() == []
    assert (api.callback_answer(query["id"]) or {})["text"] == "已记录"
    with pytest.raises(BadRequest, match=ci("query is too old")):
        await bot.answer_callback_query(query["id"])
    with pytest.raises(ValueError, match="no button"):
        api.press_button(ALICE, sent.message_id, "not-offered")


async def test_edits_follow_telegram_rules(api: BotApiStandIn, bot: PtbBot) -> None:
    sent = await bot.send_message(ALICE, "待办", reply_markup=keyboard(("完成", "done")))

    with pytest.raises(BadRequest, match=ci("message is not modified")):
        await bot.edit_message_text(
            "待办", ALICE, sent.message_id, reply_markup=keyboard(("完成", "done"))
        )
    with pytest.raises(BadRequest, match=ci("message to edit not found")):
        await bot.edit_message_text("x", ALICE, 999)

    edited = await bot.edit_message_text(
        "<b>已完成</b>", ALICE, sent.message_id, parse_mode="HTML"
    )

    assert isinstance(edited, type(sent))
    assert edited.text == "已完成"
    assert edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    again = await bot.edit_message_reply_markup(
        ALICE, sent.message_id, reply_markup=keyboard(("撤销", "undo"))
    )
    assert isinstance(again, type(sent))
    assert again.reply_markup == keyboard(("撤销", "undo"))


# --- updates -------------------------------------------------------------------------------


async def test_long_poll_returns_an_injected_update_and_honours_offset(
    api: BotApiStandIn, bot: PtbBot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    sent = api.send_text(ALICE, "进度 80%")

    updates = await poll

    assert loop.time() - started < 2
    assert [u.message.text for u in updates if u.message] == ["进度 80%"]
    assert updates[0].message is not None
    assert updates[0].message.message_id == sent["message_id"]
    # Not confirmed yet: served again.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    # Confirmed by offset: gone.
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert api.pending_updates() == []


async def test_empty_long_poll_times_out(bot: PtbBot) -> None:
    assert await bot.get_updates(timeout=1) == ()


async def test_concurrent_get_updates_conflict(bot: PtbBot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)

    assert await bot.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_webhook_blocks_get_updates(api: BotApiStandIn, bot: PtbBot) -> None:
    api.send_text(ALICE, "hi")
    assert await bot.set_webhook("https://example.org/hook")
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("https://example.org/hook", 1)
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()

    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


class FakeWebhook:
    """A bot's webhook server: records each post, answers 403 without the expected secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((dict(request.headers), await request.json()))
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != self.secret:
            return web.Response(status=403)
        return web.Response()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/duban", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_updates_are_posted_to_the_webhook_with_the_secret(api: BotApiStandIn,
                                                                 bot: PtbBot) -> None:
    hook = FakeWebhook("s3cret-Token_1")
    await hook.start()
    try:
        api.route_webhook("https://bot.example.org", f"http://127.0.0.1:{hook.port}")
        assert await bot.set_webhook("https://bot.example.org/duban",
                                     secret_token="s3cret-Token_1")
        sent = api.send_command(ALICE, "start")
        await api.wait_for(lambda: not api.pending_updates())
        headers, update = hook.posts[-1]
        assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret-Token_1"
        assert headers["Content-Type"] == "application/json"
        assert update["message"]["message_id"] == sent["message_id"]
        [delivery] = api.webhook_deliveries()
        assert (delivery.status, delivery.url) == (200, f"http://127.0.0.1:{hook.port}/duban")
        # Anyone else posting: a wrong secret, or none, is refused by the bot.
        assert await api.post_to_webhook(secret_token="wrong") == 403
        assert await api.post_to_webhook(secret_token="") == 403
        assert "X-Telegram-Bot-Api-Secret-Token" not in hook.posts[-1][0]
        assert await api.post_to_webhook() == 200
    finally:
        await hook.stop()


async def test_a_refused_webhook_post_is_retried_and_reported(api: BotApiStandIn,
                                                              bot: PtbBot) -> None:
    hook = FakeWebhook("the-right-one")
    await hook.start()
    try:
        api.route_webhook("https://bot.example.org", f"http://127.0.0.1:{hook.port}")
        assert await bot.set_webhook("https://bot.example.org/duban", secret_token="old-one")
        api.send_text(ALICE, "hi")
        await api.wait_for(lambda: len(hook.posts) >= 2)
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 1
        assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
        assert await bot.set_webhook("https://bot.example.org/duban",
                                     secret_token="the-right-one")
        await api.wait_for(lambda: not api.pending_updates())
        assert (await bot.get_webhook_info()).last_error_message is None
        assert hook.posts[-1][1]["message"]["text"] == "hi"
    finally:
        await hook.stop()
    with pytest.raises(BadRequest, match=r"(?i)secret token contains unallowed characters"):
        await bot.set_webhook("https://bot.example.org/duban", secret_token="not ok!")


async def test_group_privacy_mode_filters_plain_text(api: BotApiStandIn) -> None:
    api.send_text(ALICE, "大家好", chat_id=GROUP)
    api.send_command(ALICE, "status", chat_id=GROUP, with_username=True)
    api.send_text(ALICE, "/start@some_other_bot", chat_id=GROUP)
    api.send_text(ALICE, f"@{BOT_USERNAME} 帮我看看", chat_id=GROUP)

    delivered = [u["message"]["text"] for u in api.pending_updates()]

    assert delivered == [f"/status@{BOT_USERNAME}", f"@{BOT_USERNAME} 帮我看看"]
    assert len(api.messages(GROUP)) == 4


# --- an Application end to end -----------------------------------------------------------


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user, with a keyboard."""
    assert update.effective_user is not None and update.effective_message is not None
    name = html.escape(update.effective_user.first_name)
    await update.effective_message.reply_text(
        f"你好，<b>{name}</b>！",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard(("完成", "done")),
    )


async def _done(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the query and confirm in place."""
    query = update.callback_query
    assert query is not None
    await query.answer("已记录")
    await query.edit_message_text("✅ 已完成")


def build_application(api: BotApiStandIn) -> Application:
    """An Application wired to the stand-in, with /start and a button handler."""
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", _start))
    application.add_handler(CallbackQueryHandler(_done, pattern="^done$"))
    return application


@pytest.fixture
async def polling_application(api: BotApiStandIn) -> AsyncIterator[Application]:
    """The application, polling the stand-in."""
    application = build_application(api)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=2))
        yield application
        await application.updater.stop()
        await application.stop()


async def test_application_answers_a_command_and_a_button(
    api: BotApiStandIn, polling_application: Application
) -> None:
    command = api.send_command(ALICE, "start")

    reply = await api.wait_for_bot_message(ALICE, after=command["message_id"])

    assert reply["text"] == "你好，张三！"
    assert "reply_to_message" not in reply  # PTB 22 quotes only outside private chats
    api.press_button(ALICE, reply["message_id"], "done")
    await api.wait_for(lambda: not api.unanswered_callbacks() and api.calls("editMessageText"))
    edited = api.get_message(ALICE, reply["message_id"])
    assert edited is not None
    assert edited["text"] == "✅ 已完成"
    assert "reply_markup" not in edited
    assert [(e.sender, e.kind, e.text) for e in api.transcript] == [
        ("张三", "command", "/start"),
        ("督办", "message", "你好，张三！"),
        ("张三", "button", "完成"),
        ("督办", "answer", "已记录"),
        ("督办", "edit", "✅ 已完成"),
    ]
    assert "[张三] 督办: 你好，张三！\n    [完成]" in api.render_transcript()


async def test_chat_action_and_delete(api: BotApiStandIn, bot: PtbBot) -> None:
    sent = await bot.send_message(ALICE, "临时")

    assert await bot.send_chat_action(ALICE, "typing")
    with pytest.raises(BadRequest, match=ci("wrong parameter action")):
        await bot.send_chat_action(ALICE, "dancing")
    assert await bot.delete_message(ALICE, sent.message_id)
    assert api.bot_messages(ALICE) == []
    with pytest.raises(BadRequest, match=ci("message to delete not found")):
        await bot.delete_message(ALICE, sent.message_id)


# --- commands, menu, chats -----------------------------------------------------------------


async def test_commands_are_stored_per_scope_and_language(api: BotApiStandIn, bot: PtbBot) -> None:
    everyone = [BotCommand("start", "开始"), BotCommand("status", "查看进度")]
    group_en = [BotCommand("status", "Progress")]

    assert await bot.set_my_commands(everyone)
    assert await bot.set_my_commands(
        group_en, scope=BotCommandScopeChat(GROUP), language_code="en"
    )

    assert api.commands_for() == [c.to_dict() for c in everyone]
    assert api.commands_for({"type": "chat", "chat_id": GROUP}, "en") == [group_en[0].to_dict()]
    assert api.commands_for({"type": "chat", "chat_id": GROUP}) == []
    fetched = await bot.get_my_commands(scope=BotCommandScopeChat(GROUP), language_code="en")
    assert list(fetched) == group_en
    assert await bot.delete_my_commands(scope=BotCommandScopeChat(GROUP), language_code="en")
    assert api.commands_for({"type": "chat", "chat_id": GROUP}, "en") == []

    with pytest.raises(BadRequest, match=ci("invalid language code")):
        await bot.set_my_commands(everyone, language_code="zh-hans")
    with pytest.raises(BadRequest, match=ci("BOT_COMMAND_INVALID")):
        await bot.set_my_commands([BotCommand("Start", "大写")])
    assert await bot.set_my_commands(everyone, scope=BotCommandScopeAllGroupChats())
    assert api.commands_for({"type": "all_group_chats"}) == [c.to_dict() for c in everyone]


async def test_get_chat_and_menu_button(bot: PtbBot) -> None:
    group = await bot.get_chat(GROUP)
    private = await bot.get_chat(ALICE)

    assert (group.type, group.title) == ("supergroup", "督办工作群")
    assert (private.type, private.first_name, private.username) == ("private", "张三", "zhangsan")
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert await bot.get_chat_menu_button() == MenuButtonCommands()


# --- files ---------------------------------------------------------------------------------


async def test_send_document_multipart_is_stored_and_downloadable(
    api: BotApiStandIn, bot: PtbBot
) -> None:
    content = "任务,状态\n1,完成\n".encode()

    message = await bot.send_document(
        ALICE, content, filename="周报.csv", caption="<b>周报</b>", parse_mode=ParseMode.HTML
    )

    assert message.document is not None
    assert message.document.file_name == "周报.csv"
    assert message.document.file_size == len(content)
    assert message.caption == "周报"
    assert api.file(message.document.file_id).content == content
    assert [c.params["document"].filename for c in api.calls("sendDocument")] == ["周报.csv"]
    telegram_file = await bot.get_file(message.document.file_id)
    assert bytes(await telegram_file.download_as_bytearray()) == content
    resent = await bot.send_document(GROUP, message.document.file_id)
    assert resent.document is not None
    assert resent.document.file_id == message.document.file_id
    with pytest.raises(BadRequest, match=ci("wrong file identifier")):
        await bot.send_document(ALICE, "no-such-file-id")


async def test_user_uploads_reach_the_bot(api: BotApiStandIn, bot: PtbBot) -> None:
    api.send_document(ALICE, "进度.xlsx", b"PK\x03\x04 fake workbook", caption="本周")
    api.send_photo(ALICE, tiny_png(4, 3))

    updates = await bot.get_updates()

    document_message, photo_message = (u.message for u in updates)
    assert document_message is not None and document_message.document is not None
    assert document_message.caption == "本周"
    downloaded = await (
        await bot.get_file(document_message.document.file_id)
    ).download_as_bytearray()
    assert bytes(downloaded) == b"PK\x03\x04 fake workbook"
    assert photo_message is not None
    assert (photo_message.photo[-1].width, photo_message.photo[-1].height) == (4, 3)


async def test_send_photo_needs_an_image(api: BotApiStandIn, bot: PtbBot) -> None:
    message = await bot.send_photo(ALICE, tiny_png(), caption="截图")

    assert (message.photo[0].width, message.photo[0].height) == (3, 2)
    with pytest.raises(BadRequest, match=ci("IMAGE_PROCESS_FAILED")):
        await bot.send_photo(ALICE, b"not an image")


# --- rate limits ---------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def limited() -> AsyncIterator[tuple[BotApiStandIn, FakeClock]]:
    """A stand-in enforcing Telegram's limits on a fake clock."""
    clock = FakeClock()
    async with BotApiStandIn(enforce_limits=True, clock=clock) as stand_in:
        stand_in.add_bot(TOKEN, BOT_USERNAME)
        stand_in.add_user(ALICE, "张三")
        stand_in.add_group(GROUP, "督办工作群")
        yield stand_in, clock


async def test_private_chat_allows_a_burst_then_one_per_second(
    limited: tuple[BotApiStandIn, FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    api, clock = limited
    async with make_bot(api) as ptb_bot:
        for _ in range(3):
            await ptb_bot.send_message(ALICE, "burst")
        with pytest.raises(RetryAfter) as caught:
            await ptb_bot.send_message(ALICE, "one too many")
        assert caught.value.retry_after == dtm.timedelta(seconds=1)

        clock.now += 1.0
        await ptb_bot.send_message(ALICE, "after waiting")

    assert api.max_rate_observed(ALICE) == 3
    assert api.max_rate_observed_per_chat(window=2.0) == {ALICE: 4}


async def test_group_allows_twenty_per_minute(
    limited: tuple[BotApiStandIn, FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    api, clock = limited
    async with make_bot(api) as ptb_bot:
        for _ in range(20):
            clock.now += 0.5
            await ptb_bot.send_message(GROUP, "提醒")
        with pytest.raises(RetryAfter) as caught:
            await ptb_bot.send_message(GROUP, "one too many")

    assert caught.value.retry_after == dtm.timedelta(seconds=51)
    assert api.max_rate_observed(GROUP, window=60.0) == 20


def test_limits_overall_thirty_per_second() -> None:
    clock = FakeClock()
    api = BotApiStandIn(enforce_limits=True, clock=clock, limits=RateLimits())
    api.add_bot(TOKEN, BOT_USERNAME)
    chat_ids = list(range(2000, 2031))
    for chat_id in chat_ids:
        api.add_user(chat_id, f"u{chat_id}")
    bot_state = api._bot(None)

    for chat_id in chat_ids[:30]:
        api._check_limits(bot_state, api._chat(chat_id))
    with pytest.raises(ApiError) as caught:
        api._check_limits(bot_state, api._chat(chat_ids[30]))

    assert caught.value.error_code == 429
    assert caught.value.parameters == {"retry_after": 1}


# --- the spec subset -----------------------------------------------------------------------


def _load_generator() -> Any:
    path = REPO_ROOT / "scripts" / "make_api_subset.py"
    spec = importlib.util.spec_from_file_location("make_api_subset", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def generator() -> Iterator[Any]:
    """The ``scripts/make_api_subset.py`` module."""
    yield _load_generator()


def test_packaged_subset_is_up_to_date(generator: Any) -> None:
    if not generator.DEFAULT_SPEC.exists():
        pytest.skip(f"full spec not available at {generator.DEFAULT_SPEC}")
    full = json.loads(generator.DEFAULT_SPEC.read_text(encoding="utf-8"))
    packaged = (REPO_ROOT / "bot_api_standin" / "api_subset.json").read_text(encoding="utf-8")

    assert generator.render(generator.build_subset(full)) == packaged


def test_every_supported_method_has_a_handler(generator: Any) -> None:
    api = BotApiStandIn()

    assert sorted(api._handlers) == sorted(generator.SUPPORTED_METHODS)


def test_validate_call_converts_form_values() -> None:
    call = validate_call(
        "sendMessage",
        {
            "chat_id": "-1001234567890",
            "text": "x",
            "disable_notification": "true",
            "reply_parameters": '{"message_id": "5"}',
        },
    )

    assert call.args["chat_id"] == GROUP
    assert call.args["disable_notification"] is True
    assert call.args["reply_parameters"] == {"message_id": 5}
