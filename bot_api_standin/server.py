"""A local stand-in for the Telegram Bot API HTTP server, for tests and ``duban demo``.

It speaks the real wire protocol (``POST /bot<token>/<method>`` with JSON, urlencoded or
multipart bodies; Telegram's JSON answers and error shapes), so python-telegram-bot's own HTTP
stack talks to it unchanged. It simulates a small world (users, groups, one or more bots),
lets a test inject what users do, and records what the bot did.

Usage::

    async with BotApiStandIn() as api:
        api.add_bot("123:TEST", "duban_bot")
        api.add_user(1001, "张三")
        application = (
            ApplicationBuilder().token("123:TEST")
            .base_url(api.base_url).base_file_url(api.base_file_url).build()
        )
        async with application:
            await application.start()
            await application.updater.start_polling(poll_interval=0)
            sent = api.send_command(1001, "start")
            reply = await api.wait_for_bot_message(1001, after=sent["message_id"])
            await application.updater.stop()
            await application.stop()
        print(api.render_transcript())

Private chats have the user's id as chat id. Updates are served by ``getUpdates`` (long
polling), or, once ``setWebhook`` is called, posted one at a time to the webhook as Telegram
does: JSON, with the ``X-Telegram-Bot-Api-Secret-Token`` header when a secret token was set,
retried until the bot answers 2xx (``getWebhookInfo`` shows the last error). The stand-in has
no network: :meth:`BotApiStandIn.route_webhook` plays the reverse proxy that serves the public
HTTPS URL from a local address, and :meth:`BotApiStandIn.post_to_webhook` posts one update
with any secret (or none), for tests of the bot's check. Methods outside the packaged subset
answer 404, like an unknown method does on Telegram.

Webhook usage::

    api.route_webhook("https://bot.example.org", "http://127.0.0.1:8443")
    # the bot calls setWebhook("https://bot.example.org/duban", secret_token=...) and listens
    sent = api.send_command(1001, "start")            # posted to http://127.0.0.1:8443/duban
    assert await api.post_to_webhook(secret_token="wrong") == 403
"""

from __future__ import annotations

import asyncio
import copy
import math
import mimetypes
import re
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
from aiohttp import web

from .spec import (
    ApiError,
    ApiSpec,
    FormattedText,
    UploadedFile,
    ValidatedCall,
    load_api_subset,
    utf16_len,
    validate_call,
)

T = TypeVar("T")
JSONDict = dict[str, Any]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # Telegram's limit for files sent by bots
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Update kinds Telegram sends when allowed_updates is empty (all but these three).
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_BOT_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_KIND_MARKERS = {
    "message": "",
    "command": "",
    "document": "📄 ",
    "photo": "🖼 ",
    "button": "▶ ",
    "edit": "✎ ",
    "markup": "⌨ ",
    "answer": "💬 ",
    "delete": "🗑 ",
}
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_NO_ROUTE = "Failed to resolve host: the stand-in has no network (see route_webhook)"
_BAD_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class RateLimits:
    """Telegram's documented sending limits, enforced when ``enforce_limits=True``.

    Only messages the bot sends (``sendMessage``, ``sendDocument``, ``sendPhoto``) count;
    edits, answers and chat actions do not.

    Attributes:
        overall_per_second: Sends per second across all chats.
        private_per_second: Sustained sends per second to one private chat.
        private_burst: Sends to one private chat allowed back to back before throttling.
        group_per_minute: Sends per minute to one group.
    """

    overall_per_second: int = 30
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: int = 20


@dataclass(frozen=True)
class StoredFile:
    """A file the stand-in knows (uploaded by the bot or sent by a user).

    Attributes:
        file_id: Identifier usable with ``getFile`` and to resend the file.
        file_unique_id: Stable unique identifier.
        file_name: Original name (None for photos).
        mime_type: MIME type.
        content: The bytes.
        file_path: Path below ``base_file_url`` + token to download it.
    """

    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str
    content: bytes = field(repr=False)
    file_path: str

    @property
    def size(self) -> int:
        """File size in bytes."""
        return len(self.content)


@dataclass(frozen=True)
class TranscriptEvent:
    """One thing that happened in a chat, for printing a conversation.

    Attributes:
        seq: Position in the transcript (0, 1, ...).
        chat_id: The chat.
        chat_title: Group title, or the user's name for a private chat.
        sender: Display name of who acted (user's first name or bot's first name).
        from_bot: Whether the bot acted.
        kind: ``message``, ``command``, ``document``, ``photo``, ``button`` (a user pressed
            one), ``edit``, ``markup`` (keyboard edited), ``answer`` (callback answered),
            ``delete``.
        text: Plain text (HTML already parsed), caption, file name or button label.
        buttons: Inline keyboard labels, row by row, if the message carries one.
        message_id: The message concerned, if any.
    """

    seq: int
    chat_id: int
    chat_title: str
    sender: str
    from_bot: bool
    kind: str
    text: str
    buttons: tuple[tuple[str, ...], ...] = ()
    message_id: int | None = None

    def __str__(self) -> str:
        marker = _KIND_MARKERS.get(self.kind, f"[{self.kind}] ")
        line = f"[{self.chat_title}] {self.sender}: {marker}{self.text}"
        for row in self.buttons:
            line += "\n    " + " ".join(f"[{label}]" for label in row)
        return line


@dataclass(frozen=True)
class ApiCall:
    """One HTTP call the stand-in answered.

    Attributes:
        token: Bot token used.
        method: Method as named in the URL's canonical form (``sendMessage``).
        params: Parameters as received (uploads as :class:`UploadedFile`).
        status: HTTP status answered.
        description: Error description, or None on success.
        at: Monotonic time (the stand-in's clock) of the call.
    """

    token: str
    method: str
    params: Mapping[str, Any]
    status: int
    description: str | None
    at: float


@dataclass(frozen=True)
class WebhookDelivery:
    """One post of an update to a bot's webhook.

    Attributes:
        update_id: The update posted.
        url: Where it went (after the route of :meth:`BotApiStandIn.route_webhook`).
        status: The HTTP status the bot answered, 0 when it could not be reached.
        error: Telegram's words for a failure (``Wrong response from the webhook: 403
            Forbidden``), "" on success.
    """

    update_id: int
    url: str
    status: int
    error: str


@dataclass
class _Fault:
    error_code: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class _User:
    id: int
    first_name: str
    language_code: str | None
    username: str | None
    last_name: str | None
    blocked: bool = False
    started: bool = True

    def as_user(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class _Chat:
    id: int
    type: Literal["private", "group", "supergroup"]
    title: str | None = None
    username: str | None = None
    user: _User | None = None

    @property
    def display(self) -> str:
        if self.user is not None:
            return self.user.first_name
        return self.title or str(self.id)

    def as_chat(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "type": self.type}
        if self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
        else:
            data["title"] = self.title or ""
            if self.username:
                data["username"] = self.username
        return data


@dataclass
class _StoredMessage:
    data: JSONDict  # the Message JSON as Telegram would return it
    from_bot: bool
    parse_mode: str | None = None
    source_text: str | None = None  # text or caption as the bot sent it (raw HTML...)


@dataclass
class _ChatLog:
    next_message_id: int = 1
    messages: dict[int, _StoredMessage] = field(default_factory=dict)


@dataclass
class _Callback:
    query: JSONDict
    answered: bool = False
    answer: JSONDict | None = None


@dataclass
class _BotState:
    token: str
    user: JSONDict
    privacy_mode: bool
    updates: list[JSONDict] = field(default_factory=list)
    next_update_id: int = 1000
    poll_generation: int = 0
    allowed_updates: list[str] = field(default_factory=list)
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_error: tuple[int, str] | None = None  # (unix time, message) of the last failure
    webhook_deliveries: list[WebhookDelivery] = field(default_factory=list)
    chats: dict[int, _ChatLog] = field(default_factory=dict)
    callbacks: dict[str, _Callback] = field(default_factory=dict)
    commands: dict[tuple[str, str], list[JSONDict]] = field(default_factory=dict)
    menu_buttons: dict[int | None, JSONDict] = field(default_factory=dict)
    reply_keyboards: dict[int, JSONDict] = field(default_factory=dict)
    sends: list[tuple[float, int]] = field(default_factory=list)
    private_buckets: dict[int, tuple[float, float]] = field(default_factory=dict)
    recent_overall: deque[float] = field(default_factory=deque)
    recent_group: dict[int, deque[float]] = field(default_factory=dict)

    @property
    def first_name(self) -> str:
        return str(self.user["first_name"])

    def log(self, chat_id: int) -> _ChatLog:
        return self.chats.setdefault(chat_id, _ChatLog())


def _image_size(content: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG image, or None if it is none of them."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return width, height
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        width, height = struct.unpack("<HH", content[6:10])
        return width, height
    if content.startswith(b"\xff\xd8"):
        index = 2
        while index + 9 < len(content):
            if content[index] != 0xFF:
                return None
            marker = content[index + 1]
            (segment,) = struct.unpack(">H", content[index + 2 : index + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", content[index + 5 : index + 9])
                return width, height
            index += 2 + segment
    return None


def _detect_entities(text: str) -> list[JSONDict]:
    """Entities Telegram derives from a user's plain text: bot commands and mentions."""
    found: list[JSONDict] = []
    for pattern, kind in ((_BOT_COMMAND, "bot_command"), (_MENTION, "mention")):
        for match in pattern.finditer(text):
            found.append(
                {
                    "type": kind,
                    "offset": utf16_len(text[: match.start()]),
                    "length": utf16_len(match.group(0)),
                }
            )
    found.sort(key=lambda e: e["offset"])
    return found


def _button_labels(markup: JSONDict | None) -> tuple[tuple[str, ...], ...]:
    if not markup or "inline_keyboard" not in markup:
        return ()
    return tuple(tuple(str(b.get("text", "")) for b in row) for row in markup["inline_keyboard"])


def _max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class BotApiStandIn:
    """A local Bot API server with a simulated world; see the module docstring.

    Args:
        host: Interface to listen on.
        port: TCP port; 0 picks a free one.
        enforce_limits: Answer 429 when the bot sends faster than Telegram allows.
        limits: The limits to enforce.
        clock: Monotonic clock for rate accounting (inject a fake one in tests).
        wall_clock: Unix time for message dates.
        spec: API spec to validate against (default: the packaged subset).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        enforce_limits: bool = False,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        spec: ApiSpec | None = None,
    ) -> None:
        self.enforce_limits = enforce_limits
        self.limits = limits or RateLimits()
        self._host = host
        self._port = port
        self._clock = clock
        self._wall_clock = wall_clock
        self._spec = spec or load_api_subset()
        self._bots: dict[str, _BotState] = {}
        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_seq = 0
        self._callback_seq = 0
        self._faults: dict[str, list[_Fault]] = {}
        self._refusing_chats: dict[int, tuple[int, str, dict[str, Any] | None]] = {}
        self._calls: list[ApiCall] = []
        self._transcript: list[TranscriptEvent] = []
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self._webhook_routes: dict[str, str] = {}
        self._webhook_senders: dict[str, asyncio.Task[None]] = {}
        self._client: aiohttp.ClientSession | None = None
        self.webhook_retry_delay = 0.2
        """Seconds before a failed webhook post is tried again (Telegram waits longer)."""
        self._handlers: dict[str, Callable[[_BotState, ValidatedCall], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "close": self._true,
            "logOut": self._true,
        }

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on ``host``:``port`` (a free port when 0)."""
        if self._runner is not None:
            raise RuntimeError("BotApiStandIn is already running")
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self._host, self._port))
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._closing = False
        self._runner = runner
        self._socket = sock
        self._port = sock.getsockname()[1]

    async def stop(self) -> None:
        """Stop serving; pending long polls are answered with no updates first."""
        if self._runner is None:
            return
        self._closing = True
        self._notify()
        for sender in self._webhook_senders.values():
            sender.cancel()
        for sender in list(self._webhook_senders.values()):
            with suppress(asyncio.CancelledError):
                await sender
        self._webhook_senders.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
        runner, sock = self._runner, self._socket
        self._runner = self._socket = None
        await runner.cleanup()
        if sock is not None:
            sock.close()

    async def __aenter__(self) -> BotApiStandIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port served on (only meaningful once started)."""
        return self._port

    @property
    def base_url(self) -> str:
        """Value for ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        self._require_running()
        return f"http://{self._host}:{self._port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``Bot(base_file_url=...)`` / ``ApplicationBuilder().base_file_url(...)``."""
        self._require_running()
        return f"http://{self._host}:{self._port}/file/bot"

    def _require_running(self) -> None:
        if self._runner is None:
            raise RuntimeError("BotApiStandIn is not running; use `async with` or start()")

    # --- the simulated world --------------------------------------------------------------

    def add_bot(
        self,
        token: str,
        username: str,
        bot_id: int | None = None,
        *,
        first_name: str | None = None,
        privacy_mode: bool = True,
    ) -> JSONDict:
        """Register a bot whose token the server accepts.

        Args:
            token: Bot token, e.g. ``"123456:TEST"``.
            username: Bot username without ``@``.
            bot_id: Bot user id (default: the number before ``:`` in the token).
            first_name: Display name (default: the username).
            privacy_mode: Like BotFather's privacy mode: in groups the bot only receives
                commands, replies to its own messages and messages mentioning it.

        Returns:
            The bot's ``User`` JSON, as ``getMe`` answers it.
        """
        if bot_id is None:
            head = token.split(":", 1)[0]
            bot_id = int(head) if head.isdigit() else 1
        user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name or username,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": not privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._bots[token] = _BotState(token=token, user=user, privacy_mode=privacy_mode)
        return dict(user)

    def add_user(
        self,
        user_id: int,
        first_name: str,
        language_code: str | None = "zh-hans",
        username: str | None = None,
        *,
        last_name: str | None = None,
        started: bool = True,
    ) -> JSONDict:
        """Add a user and their private chat (chat id = user id).

        Args:
            user_id: Telegram user id (positive).
            first_name: Display name.
            language_code: IETF tag the client reports (``from.language_code``).
            username: Username without ``@``.
            last_name: Optional last name.
            started: Whether the user has started the bot; if not, the bot can't write first
                (403 ``Forbidden: bot can't initiate conversation with a user``) until the
                user sends something.

        Returns:
            The user's ``User`` JSON.
        """
        user = _User(user_id, first_name, language_code, username, last_name, started=started)
        self._users[user_id] = user
        self._chats[user_id] = _Chat(id=user_id, type="private", user=user)
        return user.as_user()

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        username: str | None = None,
        supergroup: bool | None = None,
    ) -> JSONDict:
        """Add a group the bot is a member of.

        Args:
            chat_id: Negative chat id; ``-100...`` ids are supergroups unless told otherwise.
            title: Group title.
            username: Public username (lets the bot address it as ``@username``).
            supergroup: Force the chat type.

        Returns:
            The group's ``Chat`` JSON.
        """
        if supergroup is None:
            supergroup = str(chat_id).startswith("-100")
        chat = _Chat(
            id=chat_id,
            type="supergroup" if supergroup else "group",
            title=title,
            username=username,
        )
        self._chats[chat_id] = chat
        return chat.as_chat()

    def block_bot(self, user_id: int, blocked: bool = True) -> None:
        """Make the user block (or unblock) the bot: sends to them answer 403."""
        self._users[user_id].blocked = blocked

    def route_webhook(self, public_prefix: str, local_base: str) -> None:
        """Play the reverse proxy: posts to URLs under ``public_prefix`` go to ``local_base``.

        Args:
            public_prefix: The start of the public HTTPS URL (``https://bot.example.org``).
            local_base: What serves it (``http://127.0.0.1:8443``); the rest of the path is
                kept.
        """
        self._webhook_routes[public_prefix.rstrip("/")] = local_base.rstrip("/")
        self._notify()

    def webhook_deliveries(self, *, token: str | None = None) -> list[WebhookDelivery]:
        """Every post of an update to the bot's webhook, oldest first."""
        return list(self._bot(token).webhook_deliveries)

    async def post_to_webhook(
        self,
        update: JSONDict | None = None,
        *,
        secret_token: str | None = None,
        token: str | None = None,
    ) -> int:
        """Post one update to the bot's webhook now, as anyone could; return the HTTP status.

        Args:
            update: The ``Update`` JSON (default: a private ``/start`` from a made-up user).
            secret_token: The header's value: None sends the secret set with ``setWebhook``,
                ``""`` sends no header.
            token: Which bot (needed only when several are registered).

        Returns:
            The bot's HTTP status, 0 when it cannot be reached.
        """
        bot = self._bot(token)
        if not bot.webhook_url:
            raise ValueError("no webhook is set; the bot must call setWebhook first")
        if update is None:
            user = {"id": 777, "is_bot": False, "first_name": "Mallory"}
            update = {"update_id": 1, "message": {
                "message_id": 1, "from": user, "chat": {"id": 777, "type": "private",
                                                        "first_name": "Mallory"},
                "date": int(self._wall_clock()), "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
        secret = bot.webhook_secret if secret_token is None else secret_token
        status, _ = await self._post_update(bot, update, secret)
        return status

    # --- what users do --------------------------------------------------------------------

    def send_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
        *,
        token: str | None = None,
    ) -> JSONDict:
        """The user sends a text message (bot commands and mentions become entities).

        Args:
            user_id: Who writes.
            text: What they write.
            chat_id: Where (default: their private chat with the bot).
            reply_to_message_id: A message in that chat they reply to.
            token: Which bot (needed only when several are registered).

        Returns:
            The created ``Message`` JSON.
        """
        entities = _detect_entities(text)
        starts_with_command = bool(
            entities and entities[0]["type"] == "bot_command" and entities[0]["offset"] == 0
        )
        kind = "command" if starts_with_command else "message"
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        return self._user_message(
            user_id, chat_id, reply_to_message_id, content, kind=kind, label=text, token=token
        )

    def send_command(
        self,
        user_id: int,
        command: str,
        args: str = "",
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
        *,
        with_username: bool = False,
        token: str | None = None,
    ) -> JSONDict:
        """The user sends ``/command [args]`` with a ``bot_command`` entity.

        Args:
            user_id: Who writes.
            command: Command name, with or without the leading ``/``.
            args: Text after the command.
            chat_id: Where (default: their private chat with the bot).
            reply_to_message_id: A message they reply to.
            with_username: Append ``@bot_username`` as clients do in groups.
            token: Which bot (needed only when several are registered).

        Returns:
            The created ``Message`` JSON.
        """
        bot = self._bot(token)
        text = "/" + command.removeprefix("/")
        if with_username:
            text += f"@{bot.user['username']}"
        if args:
            text += f" {args}"
        return self.send_text(user_id, text, chat_id, reply_to_message_id, token=bot.token)

    def edit_text(
        self,
        user_id: int,
        message_id: int,
        text: str,
        chat_id: int | None = None,
        *,
        token: str | None = None,
    ) -> JSONDict:
        """The user edits one of their text messages: the bot gets an ``edited_message``.

        Returns:
            The edited ``Message`` JSON (with ``edit_date``).

        Raises:
            ValueError: No such message of this user in the chat.
        """
        bot = self._bot(token)
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        stored = bot.log(chat.id).messages.get(message_id)
        if stored is None or stored.from_bot or stored.data["from"]["id"] != user_id:
            raise ValueError(f"no message {message_id} of user {user_id} in chat {chat.id}")
        stored.data["text"] = text
        entities = _detect_entities(text)
        if entities:
            stored.data["entities"] = entities
        else:
            stored.data.pop("entities", None)
        stored.data["edit_date"] = int(self._wall_clock())
        self._record(chat, user.first_name, False, "edit", text, message_id)
        self._enqueue(bot, "edited_message", stored.data)
        return copy.deepcopy(stored.data)

    def forward_text(
        self,
        user_id: int,
        text: str,
        original_sender_id: int,
        chat_id: int | None = None,
        *,
        token: str | None = None,
    ) -> JSONDict:
        """The user forwards a text message first written by ``original_sender_id``.

        Returns:
            The created ``Message`` JSON, with ``forward_origin`` as Telegram sets it.
        """
        original = self._user(original_sender_id)
        entities = _detect_entities(text)
        content: JSONDict = {
            "text": text,
            "forward_origin": {"type": "user", "date": int(self._wall_clock()) - 3600,
                               "sender_user": original.as_user()},
        }
        if entities:
            content["entities"] = entities
        return self._user_message(
            user_id, chat_id, None, content, kind="forward", label=text, token=token
        )

    def send_media(
        self,
        user_id: int,
        kind: Literal["voice", "video", "sticker", "video_note", "audio", "animation", "dice",
                      "poll", "venue", "game", "story"],
        reply_to_message_id: int | None = None,
        *,
        chat_id: int | None = None,
        token: str | None = None,
    ) -> JSONDict:
        """The user sends a voice message, video, sticker, dice, poll... (no file is kept by the
        stand-in).

        Returns:
            The created ``Message`` JSON.
        """
        self._file_seq += 1
        ident = {"file_id": f"{kind}-{self._file_seq}", "file_unique_id": f"u{self._file_seq}"}
        shapes: dict[str, JSONDict] = {
            "voice": {**ident, "duration": 3},
            "audio": {**ident, "duration": 3},
            "video": {**ident, "width": 320, "height": 240, "duration": 3},
            "animation": {**ident, "width": 320, "height": 240, "duration": 3},
            "video_note": {**ident, "length": 240, "duration": 3},
            "sticker": {**ident, "type": "regular", "width": 512, "height": 512,
                        "is_animated": False, "is_video": False, "emoji": "👍"},
            "dice": {"emoji": "🎲", "value": 3},
            "poll": {"id": f"poll-{self._file_seq}", "question": "周五开会?",
                     "options": [{"persistent_id": "1", "text": "是", "voter_count": 0},
                                 {"persistent_id": "2", "text": "否", "voter_count": 0}],
                     "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                     "type": "regular", "allows_multiple_answers": False,
                     "allows_revoting": True, "members_only": False},
            "venue": {"location": {"latitude": 30.0, "longitude": 120.0},
                      "title": "区政府", "address": "人民路1号"},
            "game": {"title": "game", "description": "a game",
                     "photo": [{**ident, "width": 64, "height": 64}]},
            "story": {"chat": {"id": user_id, "type": "private"}, "id": self._file_seq},
        }
        return self._user_message(
            user_id, chat_id, reply_to_message_id, {kind: shapes[kind]}, kind=kind,
            label=f"[{kind}]", token=token
        )

    def press_forged_button(
        self,
        user_id: int,
        message_id: int,
        callback_data: str,
        *,
        chat_id: int | None = None,
        token: str | None = None,
    ) -> JSONDict:
        """A callback query with data that no button carries (a modified or stale client).

        Returns:
            The created ``CallbackQuery`` JSON.
        """
        bot = self._bot(token)
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        stored = bot.log(chat.id).messages.get(message_id)
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {chat.id}")
        return self._callback(bot, user, chat, stored, callback_data, callback_data)

    def send_document(
        self,
        user_id: int,
        file_name: str,
        content: bytes,
        reply_to_message_id: int | None = None,
        *,
        chat_id: int | None = None,
        caption: str | None = None,
        mime_type: str | None = None,
        token: str | None = None,
    ) -> JSONDict:
        """The user sends a file as a document.

        Args:
            user_id: Who sends.
            file_name: The file's name.
            content: The file's bytes (downloadable by the bot through ``getFile``).
            reply_to_message_id: A message they reply to.
            chat_id: Where (default: their private chat).
            caption: Optional caption.
            mime_type: MIME type (default: guessed from the name).
            token: Which bot (needed only when several are registered).

        Returns:
            The created ``Message`` JSON.
        """
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self._store_file(content, file_name, mime, kind="documents")
        document_json = self._document_json(stored)
        message: JSONDict = {"document": document_json}
        if caption:
            message["caption"] = caption
        return self._user_message(
            user_id,
            chat_id,
            reply_to_message_id,
            message,
            kind="document",
            label=file_name + (f" — {caption}" if caption else ""),
            token=token,
        )

    def send_photo(
        self,
        user_id: int,
        content: bytes,
        reply_to_message_id: int | None = None,
        *,
        chat_id: int | None = None,
        caption: str | None = None,
        width: int = 1280,
        height: int = 960,
        token: str | None = None,
    ) -> JSONDict:
        """The user sends a photo.

        Args:
            user_id: Who sends.
            content: Image bytes; the size of PNG/GIF/JPEG images is read from them.
            reply_to_message_id: A message they reply to.
            chat_id: Where (default: their private chat).
            caption: Optional caption.
            width: Width to report when ``content`` is not a recognised image.
            height: Height to report when ``content`` is not a recognised image.
            token: Which bot (needed only when several are registered).

        Returns:
            The created ``Message`` JSON.
        """
        width, height = _image_size(content) or (width, height)
        stored = self._store_file(content, None, "image/jpeg", kind="photos")
        message: JSONDict = {"photo": [self._photo_size_json(stored, width, height)]}
        if caption:
            message["caption"] = caption
        return self._user_message(
            user_id,
            chat_id,
            reply_to_message_id,
            message,
            kind="photo",
            label=caption or "",
            token=token,
        )

    def press_button(
        self,
        user_id: int,
        message_id: int,
        callback_data: str,
        *,
        chat_id: int | None = None,
        token: str | None = None,
    ) -> JSONDict:
        """The user presses an inline button of one of the bot's messages.

        Args:
            user_id: Who presses.
            message_id: The bot's message carrying the keyboard.
            callback_data: The pressed button's ``callback_data``; it must be on the message.
            chat_id: The message's chat (default: the user's private chat).
            token: Which bot (needed only when several are registered).

        Returns:
            The created ``CallbackQuery`` JSON.

        Raises:
            ValueError: The message is unknown, not the bot's, or has no such button.
        """
        bot = self._bot(token)
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        stored = bot.log(chat.id).messages.get(message_id)
        if stored is None or not stored.from_bot:
            raise ValueError(f"no bot message {message_id} in chat {chat.id}")
        rows = (stored.data.get("reply_markup") or {}).get("inline_keyboard", [])
        pressed = next(
            (b for row in rows for b in row if b.get("callback_data") == callback_data), None
        )
        if pressed is None:
            offered = [b.get("callback_data") for row in rows for b in row]
            raise ValueError(
                f"message {message_id} has no button with callback_data {callback_data!r}; "
                f"it offers {offered}"
            )
        return self._callback(bot, user, chat, stored, callback_data,
                              str(pressed.get("text", "")))

    def _callback(self, bot: _BotState, user: _User, chat: _Chat, stored: _StoredMessage,
                  callback_data: str, label: str) -> JSONDict:
        """Deliver a callback query about ``stored`` and record the press."""
        self._callback_seq += 1
        query_id = str(4_000_000_000_000 + self._callback_seq)
        query: JSONDict = {
            "id": query_id,
            "from": user.as_user(),
            "message": copy.deepcopy(stored.data),
            "chat_instance": str(abs(chat.id) * 7 + 1),
            "data": callback_data,
        }
        bot.callbacks[query_id] = _Callback(query=query)
        self._record(chat, user.first_name, False, "button", label, stored.data["message_id"])
        self._enqueue(bot, "callback_query", query)
        return copy.deepcopy(query)

    # --- what tests read ------------------------------------------------------------------

    def messages(
        self, chat_id: int, *, from_bot: bool | None = None, token: str | None = None
    ) -> list[JSONDict]:
        """Messages in a chat, oldest first (copies); ``from_bot`` filters by sender."""
        log = self._bot(token).log(chat_id)
        return [
            copy.deepcopy(m.data)
            for m in log.messages.values()
            if from_bot is None or m.from_bot == from_bot
        ]

    def bot_messages(self, chat_id: int, *, token: str | None = None) -> list[JSONDict]:
        """The bot's messages in a chat, oldest first."""
        return self.messages(chat_id, from_bot=True, token=token)

    def last_bot_message(self, chat_id: int, *, token: str | None = None) -> JSONDict | None:
        """The bot's latest message in a chat, or None."""
        sent = self.bot_messages(chat_id, token=token)
        return sent[-1] if sent else None

    def get_message(
        self, chat_id: int, message_id: int, *, token: str | None = None
    ) -> JSONDict | None:
        """One stored message (copy), or None."""
        stored = self._bot(token).log(chat_id).messages.get(message_id)
        return copy.deepcopy(stored.data) if stored else None

    def sent_source(
        self, chat_id: int, message_id: int, *, token: str | None = None
    ) -> tuple[str | None, str | None]:
        """The text or caption exactly as the bot sent it and its parse mode."""
        stored = self._bot(token).log(chat_id).messages[message_id]
        return stored.source_text, stored.parse_mode

    def reply_keyboard(self, chat_id: int, *, token: str | None = None) -> JSONDict | None:
        """The reply keyboard (``ReplyKeyboardMarkup``) currently shown in a chat, if any."""
        markup = self._bot(token).reply_keyboards.get(chat_id)
        return copy.deepcopy(markup) if markup else None

    def file(self, file_id: str) -> StoredFile:
        """A stored file by id (``KeyError`` if unknown)."""
        return self._files[file_id]

    def commands_for(
        self,
        scope: Mapping[str, Any] | None = None,
        language_code: str = "",
        *,
        token: str | None = None,
    ) -> list[JSONDict]:
        """Commands set with ``setMyCommands`` for exactly this scope and language.

        Args:
            scope: A ``BotCommandScope`` dict (default ``{"type": "default"}``).
            language_code: Two-letter code, or ``""`` for all languages.
            token: Which bot (needed only when several are registered).

        Returns:
            The ``BotCommand`` dicts, empty when none are set.
        """
        key = (self._scope_key(scope), language_code)
        return copy.deepcopy(self._bot(token).commands.get(key, []))

    def unanswered_callbacks(self, *, token: str | None = None) -> list[JSONDict]:
        """Callback queries not answered with ``answerCallbackQuery`` (copies)."""
        return [
            copy.deepcopy(c.query) for c in self._bot(token).callbacks.values() if not c.answered
        ]

    def callback_answer(self, query_id: str, *, token: str | None = None) -> JSONDict | None:
        """Parameters of the ``answerCallbackQuery`` call for a query, or None."""
        callback = self._bot(token).callbacks[query_id]
        return copy.deepcopy(callback.answer)

    def pending_updates(self, *, token: str | None = None) -> list[JSONDict]:
        """Updates not yet confirmed by a ``getUpdates`` offset (copies)."""
        return copy.deepcopy(self._bot(token).updates)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every API call answered so far, optionally only one method's."""
        if method is None:
            return list(self._calls)
        return [c for c in self._calls if c.method.lower() == method.lower()]

    @property
    def transcript(self) -> list[TranscriptEvent]:
        """Everything users and bots did, in order."""
        return list(self._transcript)

    def render_transcript(self) -> str:
        """The transcript as printable lines."""
        return "\n".join(str(event) for event in self._transcript)

    def send_times(self, chat_id: int | None = None, *, token: str | None = None) -> list[float]:
        """Clock readings of the bot's successful sends (to one chat, or all)."""
        return [t for t, c in self._bot(token).sends if chat_id is None or c == chat_id]

    def max_rate_observed(
        self, chat_id: int | None = None, *, window: float = 1.0, token: str | None = None
    ) -> int:
        """Most sends within any ``window`` seconds (to one chat, or overall)."""
        return _max_in_window(self.send_times(chat_id, token=token), window)

    def max_rate_observed_per_chat(
        self, *, window: float = 1.0, token: str | None = None
    ) -> dict[int, int]:
        """:meth:`max_rate_observed` for every chat the bot sent to."""
        chats = {c for _, c in self._bot(token).sends}
        return {c: self.max_rate_observed(c, window=window, token=token) for c in sorted(chats)}

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` returns something truthy.

        Args:
            predicate: Checked now and after every change in the stand-in.
            timeout: Seconds to wait.

        Returns:
            The predicate's result.

        Raises:
            TimeoutError: Nothing came within ``timeout``; the transcript tail is included.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                tail = "\n".join(str(e) for e in self._transcript[-5:])
                raise TimeoutError(f"condition not met within {timeout}s; transcript:\n{tail}")
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_bot_message(
        self, chat_id: int, *, after: int = 0, timeout: float = 5.0, token: str | None = None
    ) -> JSONDict:
        """Wait for the bot's first message in a chat with ``message_id > after``.

        Pass the ``message_id`` of the message the user just sent as ``after``.
        """

        def first_new() -> JSONDict | None:
            log = self._bot(token).log(chat_id)
            for message_id, stored in log.messages.items():
                if stored.from_bot and message_id > after:
                    return copy.deepcopy(stored.data)
            return None

        return await self.wait_for(first_new, timeout)

    # --- fault injection ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        Args:
            method: Method name (any case).
            error_code: HTTP status / ``error_code``: 400, 403, 409, 429, 500, 502...
            description: Description (default: Telegram's for the code; for 429
                ``Too Many Requests: retry after N``). 502 answers with nginx's HTML page, as
                Telegram's front end does.
            retry_after: Seconds for 429 (default 1), sent as ``parameters.retry_after``.
            times: How many consecutive calls fail.
        """
        if error_code == 429:
            retry_after = retry_after or 1
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _DEFAULT_DESCRIPTIONS.get(error_code, "Error")
        fault = _Fault(error_code, description, retry_after, times)
        self._faults.setdefault(method.lower(), []).append(fault)

    def refuse_chat(
        self,
        chat_id: int,
        error_code: int | None,
        description: str = "",
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Make every ``send*`` call to one chat fail with this answer, until called again with
        ``error_code`` None: a group that is gone (400 "chat not found"), where the bot may not
        write (400 "not enough rights..."), that the bot was removed from (403), or that became
        a supergroup (400 with ``parameters={"migrate_to_chat_id": ...}``).
        """
        if error_code is None:
            self._refusing_chats.pop(chat_id, None)
        else:
            self._refusing_chats[chat_id] = (error_code, description, parameters)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    # --- HTTP -----------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        status, body = 200, None
        try:
            bot = self._bots.get(token)
            if bot is None:
                raise ApiError(401, "Unauthorized")
            method_spec = self._spec.method(method_name)
            if method_spec is None or method_spec.name not in self._handlers:
                raise ApiError(404, "Not Found")
            method_name = method_spec.name
            params, files = await self._read_params(request)
            fault = self._take_fault(method_name)
            if fault is not None:
                if fault.error_code == 502:
                    self._log_call(token, method_name, params, files, 502, fault.description)
                    return web.Response(
                        status=502, text=_BAD_GATEWAY_PAGE, content_type="text/html"
                    )
                parameters = {"retry_after": fault.retry_after} if fault.retry_after else None
                raise ApiError(fault.error_code, fault.description, parameters)
            target = _chat_id_of(params)
            refusal = self._refusing_chats.get(target) if target is not None else None
            if refusal is not None and method_name.startswith("send"):
                raise ApiError(*refusal)
            call = validate_call(method_name, params, files, spec=self._spec)
            result = await self._handlers[method_name](bot, call)
            body = {"ok": True, "result": result}
        except ApiError as error:
            status, body = error.error_code, error.payload()
        self._log_call(token, method_name, params, files, status, body.get("description"))
        return web.json_response(body, status=status)

    def _log_call(
        self,
        token: str,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile],
        status: int,
        description: str | None,
    ) -> None:
        recorded = {**params, **files}
        self._calls.append(ApiCall(token, method, recorded, status, description, self._clock()))

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if not request.body_exists:
            return params, files
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError.bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise ApiError.bad_request("can't parse JSON object")
            params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    with value.file as handle:
                        content = handle.read()
                    files[key] = UploadedFile(
                        part=key,
                        filename=value.filename,
                        content_type=value.content_type,
                        content=content,
                    )
                elif isinstance(value, (bytes, bytearray)):
                    params[key] = bytes(value).decode("utf-8", errors="replace")
                else:
                    params[key] = value
        return params, files

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] not in self._bots:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["file_path"]
        stored = next((f for f in self._files.values() if f.file_path == path), None)
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.content, content_type=stored.mime_type)

    # --- method handlers ------------------------------------------------------------------

    async def _true(self, bot: _BotState, call: ValidatedCall) -> bool:
        return True

    async def _get_me(self, bot: _BotState, call: ValidatedCall) -> JSONDict:
        return dict(bot.user)

    async def _get_updates(self, bot: _BotState, call: ValidatedCall) -> list[JSONDict]:
        if bot.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        args = call.args
        bot.poll_generation += 1
        generation = bot.poll_generation
        self._notify()  # an older long poll of this bot now answers 409
        offset = args.get("offset", 0)
        if offset > 0:
            bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
        elif offset < 0:
            bot.updates = bot.updates[offset:]
        if "allowed_updates" in args:
            bot.allowed_updates = [str(kind) for kind in args["allowed_updates"]]
        limit = min(max(args.get("limit", 100), 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(args.get("timeout", 0), 0)
        while True:
            changed = self._changed
            if bot.poll_generation != generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            ready = bot.updates[:limit]
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing:
                return copy.deepcopy(ready)
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def _set_webhook(self, bot: _BotState, call: ValidatedCall) -> bool:
        url = call.args["url"]
        if not url:
            return await self._delete_webhook(bot, call)
        if not url.startswith("https://"):
            raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = call.args.get("secret_token") or ""
        if secret and not _SECRET_TOKEN.fullmatch(secret):
            raise ApiError.bad_request("secret token contains unallowed characters")
        bot.webhook_url, bot.webhook_secret, bot.webhook_error = url, secret, None
        if call.args.get("drop_pending_updates"):
            bot.updates.clear()
        if "allowed_updates" in call.args:
            bot.allowed_updates = list(call.args["allowed_updates"])
        sender = self._webhook_senders.get(bot.token)
        if sender is None or sender.done():
            self._webhook_senders[bot.token] = asyncio.create_task(self._send_to_webhook(bot))
        self._notify()
        return True

    async def _delete_webhook(self, bot: _BotState, call: ValidatedCall) -> bool:
        bot.webhook_url, bot.webhook_secret, bot.webhook_error = "", "", None
        if call.args.get("drop_pending_updates"):
            bot.updates.clear()
        self._notify()  # the webhook sender sees the URL gone and ends
        return True

    async def _send_to_webhook(self, bot: _BotState) -> None:
        """Post the bot's updates to its webhook one at a time, in order, until it is deleted.

        An update leaves the queue when the bot answers 2xx; otherwise the failure is kept for
        ``getWebhookInfo`` and the same update is posted again after ``webhook_retry_delay``.
        """
        while bot.webhook_url and not self._closing:
            changed = self._changed
            if not bot.updates:
                with suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), 5.0)
                continue
            if self._local_url(bot.webhook_url).startswith("https://"):
                # Telegram would resolve the host; the stand-in waits for route_webhook.
                bot.webhook_error = (int(self._wall_clock()), _NO_ROUTE)
                with suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), 5.0)
                continue
            update = bot.updates[0]
            status, error = await self._post_update(bot, update, bot.webhook_secret)
            if 200 <= status < 300:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.pop(0)
                self._notify()
                continue
            bot.webhook_error = (int(self._wall_clock()), error)
            self._notify()
            await asyncio.sleep(self.webhook_retry_delay)

    def _local_url(self, url: str) -> str:
        """Where a webhook URL is served, through the routes of :meth:`route_webhook`."""
        for prefix, local in sorted(self._webhook_routes.items(), key=lambda r: -len(r[0])):
            if url == prefix or url.startswith(prefix + "/"):
                return local + url[len(prefix):]
        return url

    async def _post_update(self, bot: _BotState, update: JSONDict,
                           secret: str) -> tuple[int, str]:
        """POST one update to the webhook as Telegram does; (status, Telegram's error words)."""
        url = self._local_url(bot.webhook_url)
        headers = {SECRET_HEADER: secret} if secret else {}
        status, error = 0, ""
        if url.startswith("https://"):
            error = _NO_ROUTE
        else:
            if self._client is None:
                self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            try:
                async with self._client.post(url, json=update, headers=headers) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error = f"Connection failed: {exc}"
            else:
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        bot.webhook_deliveries.append(
            WebhookDelivery(int(update.get("update_id", 0)), url, status, error))
        return status, error

    async def _get_webhook_info(self, bot: _BotState, call: ValidatedCall) -> JSONDict:
        info: JSONDict = {
            "url": bot.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if bot.webhook_url:
            info["max_connections"] = 40
            if bot.allowed_updates:
                info["allowed_updates"] = list(bot.allowed_updates)
            if bot.webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = bot.webhook_error
        return info

    async def _send_message(self, bot: _BotState, call: ValidatedCall) -> JSONDict:
        chat = self._target_chat(call.args["chat_id"])
        formatted = call.texts["text"]
        content: JSONDict = {"text": formatted.text}
        if formatted.entities:
            content["entities"] = list(formatted.entities)
        return self._bot_message(bot, chat, call, content, formatted, kind="message")

    async def _send_document(self, bot: _BotState, call: ValidatedCall) -> JSONDict:
        chat = self._target_chat(call.args["chat_id"])
        document = call.args["document"]
        if isinstance(document, UploadedFile):
            name = document.filename or "document"
            mime = (
                mimetypes.guess_type(name)[0]
                or (document.content_type if document.content_type != "text/plain" else None)
                or "application/octet-stream"
            )
            stored = self._store_file(document.content, name, mime, kind="documents")
        else:
            stored = self._existing_file(document)
        content: JSONDict = {"document": self._document_json(stored)}
        return self._bot_message(
            bot, chat, call, content, call.texts.get("caption"), kind="document"
        )

    async def _send_photo(self, bot: _BotState, call: ValidatedCall) -> JSONDict:
        chat = self._target_chat(call.args["chat_id"])
        photo = call.args["photo"]
        if isinstance(photo, UploadedFile):
            size = _image_size(photo.content)
            if size is None:
                raise ApiError.bad_request("IMAGE_PROCESS_FAILED")
            stored = self._store_file(photo.content, None, "image/jpeg", kind="photos")
        else:
            stored = self._existing_file(photo)
            size = _image_size(stored.content) or (0, 0)
        content: JSONDict = {"photo": [self._photo_size_json(stored, *size)]}
        return self._bot_message(bot, chat, call, content, call.texts.get("caption"), kind="photo")

    async def _send_chat_action(self, bot: _BotState, call: ValidatedCall) -> bool:
        if call.args["action"] not in _CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        self._target_chat(call.args["chat_id"])
        return True

    async def _edit_message_text(self, bot: _BotState, call: ValidatedCall) -> JSONDict | bool:
        chat, stored = self._message_to_edit(bot, call)
        if "text" not in stored.data:
            raise ApiError.bad_request("there is no text in the message to edit")
        formatted = call.texts["text"]
        markup = call.args.get("reply_markup")
        old = (
            stored.data.get("text"),
            stored.data.get("entities"),
            stored.data.get("reply_markup"),
        )
        new = (formatted.text, list(formatted.entities) or None, markup)
        if old == new:
            raise ApiError.bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        stored.data["text"] = formatted.text
        stored.data.pop("entities", None)
        if formatted.entities:
            stored.data["entities"] = list(formatted.entities)
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        self._set_inline_markup(stored, markup)
        stored.parse_mode, stored.source_text = formatted.parse_mode, formatted.source
        stored.data["edit_date"] = int(self._wall_clock())
        self._record(
            chat,
            bot.first_name,
            True,
            "edit",
            formatted.text,
            stored.data["message_id"],
            _button_labels(markup),
        )
        return copy.deepcopy(stored.data)

    async def _edit_message_reply_markup(
        self, bot: _BotState, call: ValidatedCall
    ) -> JSONDict | bool:
        chat, stored = self._message_to_edit(bot, call)
        markup = call.args.get("reply_markup")
        if stored.data.get("reply_markup") == markup:
            raise ApiError.bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        self._set_inline_markup(stored, markup)
        stored.data["edit_date"] = int(self._wall_clock())
        labels = _button_labels(markup)
        text = str(stored.data.get("text") or stored.data.get("caption") or "")
        self._record(chat, bot.first_name, True, "markup", text, stored.data["message_id"], labels)
        return copy.deepcopy(stored.data)

    async def _delete_message(self, bot: _BotState, call: ValidatedCall) -> bool:
        chat = self._resolve_chat(call.args["chat_id"])
        log = bot.log(chat.id)
        if log.messages.pop(call.args["message_id"], None) is None:
            raise ApiError.bad_request("message to delete not found")
        self._record(chat, bot.first_name, True, "delete", "", call.args["message_id"])
        return True

    async def _answer_callback_query(self, bot: _BotState, call: ValidatedCall) -> bool:
        callback = bot.callbacks.get(call.args["callback_query_id"])
        if callback is None or callback.answered:
            raise ApiError.bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        callback.answered = True
        callback.answer = dict(call.args)
        text = call.args.get("text")
        if text:
            message = callback.query["message"]
            chat = self._chats.get(message["chat"]["id"])
            if chat is not None:
                alert = "⚠ " if call.args.get("show_alert") else ""
                self._record(
                    chat, bot.first_name, True, "answer", alert + text, message["message_id"]
                )
        self._notify()
        return True

    async def _set_my_commands(self, bot: _BotState, call: ValidatedCall) -> bool:
        key = (self._scope_key(call.args.get("scope")), call.args.get("language_code", ""))
        if call.args["commands"]:
            bot.commands[key] = [
                {"command": c["command"], "description": c["description"]}
                for c in call.args["commands"]
            ]
        else:
            bot.commands.pop(key, None)
        return True

    async def _get_my_commands(self, bot: _BotState, call: ValidatedCall) -> list[JSONDict]:
        key = (self._scope_key(call.args.get("scope")), call.args.get("language_code", ""))
        return copy.deepcopy(bot.commands.get(key, []))

    async def _delete_my_commands(self, bot: _BotState, call: ValidatedCall) -> bool:
        key = (self._scope_key(call.args.get("scope")), call.args.get("language_code", ""))
        bot.commands.pop(key, None)
        return True

    async def _get_file(self, bot: _BotState, call: ValidatedCall) -> JSONDict:
        stored = self._files.get(call.args["file_id"])
        if stored is None:
            raise ApiError.bad_request("invalid file_id")
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise ApiError.bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    async def _get_chat(self, bot: _BotState, call: ValidatedCall) -> JSONDict:
        chat = self._resolve_chat(call.args["chat_id"])
        info = chat.as_chat()
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    async def _set_chat_menu_button(self, bot: _BotState, call: ValidatedCall) -> bool:
        chat_id = call.args.get("chat_id")
        if chat_id is not None:
            chat_id = self._resolve_chat(chat_id).id
        bot.menu_buttons[chat_id] = call.args.get("menu_button") or {"type": "default"}
        return True

    async def _get_chat_menu_button(self, bot: _BotState, call: ValidatedCall) -> JSONDict:
        chat_id = call.args.get("chat_id")
        button = bot.menu_buttons.get(chat_id) or bot.menu_buttons.get(None)
        return copy.deepcopy(button) if button else {"type": "default"}

    # --- internals ------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake everything waiting for a change (long polls, :meth:`wait_for`)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _bot(self, token: str | None) -> _BotState:
        if token is not None:
            return self._bots[token]
        if len(self._bots) != 1:
            raise ValueError(
                f"{len(self._bots)} bots are registered; pass token= to choose one"
                if self._bots
                else "no bot registered; call add_bot() first"
            )
        return next(iter(self._bots.values()))

    def _user(self, user_id: int) -> _User:
        if user_id not in self._users:
            raise ValueError(f"unknown user {user_id}; call add_user() first")
        return self._users[user_id]

    def _chat(self, chat_id: int) -> _Chat:
        if chat_id not in self._chats:
            raise ValueError(f"unknown chat {chat_id}; call add_group() or add_user() first")
        return self._chats[chat_id]

    def _resolve_chat(self, chat_id: int | str) -> _Chat:
        if isinstance(chat_id, str):
            wanted = chat_id.removeprefix("@").lower()
            for chat in self._chats.values():
                if chat.user is None and chat.username and chat.username.lower() == wanted:
                    return chat
            raise ApiError.bad_request("chat not found")
        known = self._chats.get(chat_id)
        if known is None:
            raise ApiError.bad_request("chat not found")
        return known

    def _target_chat(self, chat_id: int | str) -> _Chat:
        """Resolve a chat the bot writes to; refuse users who blocked or never started it."""
        chat = self._resolve_chat(chat_id)
        if chat.user is not None:
            if chat.user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    def _check_limits(self, bot: _BotState, chat: _Chat) -> None:
        now = self._clock()
        limits = self.limits
        overall = bot.recent_overall
        while overall and now - overall[0] >= 1.0:
            overall.popleft()
        if len(overall) >= limits.overall_per_second:
            self._too_many(overall[0] + 1.0 - now)
        if chat.type == "private":
            tokens, last = bot.private_buckets.get(chat.id, (float(limits.private_burst), now))
            tokens = min(
                float(limits.private_burst), tokens + (now - last) * limits.private_per_second
            )
            if tokens < 1.0:
                self._too_many((1.0 - tokens) / limits.private_per_second)
            bot.private_buckets[chat.id] = (tokens - 1.0, now)
        else:
            recent = bot.recent_group.setdefault(chat.id, deque())
            while recent and now - recent[0] >= 60.0:
                recent.popleft()
            if len(recent) >= limits.group_per_minute:
                self._too_many(recent[0] + 60.0 - now)
            recent.append(now)
        overall.append(now)

    @staticmethod
    def _too_many(wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    def _message_to_edit(
        self, bot: _BotState, call: ValidatedCall
    ) -> tuple[_Chat, _StoredMessage]:
        if "inline_message_id" in call.args and "chat_id" not in call.args:
            raise ApiError.bad_request("message to edit not found")
        chat = self._resolve_chat(call.args["chat_id"])
        stored = bot.log(chat.id).messages.get(call.args["message_id"])
        if stored is None:
            raise ApiError.bad_request("message to edit not found")
        if not stored.from_bot:
            raise ApiError.bad_request("message can't be edited")
        return chat, stored

    @staticmethod
    def _set_inline_markup(stored: _StoredMessage, markup: JSONDict | None) -> None:
        if markup and "inline_keyboard" in markup:
            stored.data["reply_markup"] = markup
        else:
            stored.data.pop("reply_markup", None)

    def _reply_target(
        self, bot: _BotState, chat: _Chat, parameters: JSONDict | None
    ) -> JSONDict | None:
        if not parameters:
            return None
        target_chat = chat
        if "chat_id" in parameters:
            target_chat = self._resolve_chat(parameters["chat_id"])
        stored = bot.log(target_chat.id).messages.get(parameters["message_id"])
        if stored is None:
            if parameters.get("allow_sending_without_reply"):
                return None
            raise ApiError.bad_request("message to be replied not found")
        replied = copy.deepcopy(stored.data)
        replied.pop("reply_to_message", None)
        return replied

    def _bot_message(
        self,
        bot: _BotState,
        chat: _Chat,
        call: ValidatedCall,
        content: JSONDict,
        formatted: FormattedText | None,
        *,
        kind: str,
    ) -> JSONDict:
        """Store a message the bot sent and return its ``Message`` JSON."""
        replied = self._reply_target(bot, chat, call.args.get("reply_parameters"))
        if self.enforce_limits:
            self._check_limits(bot, chat)
        log = bot.log(chat.id)
        message: JSONDict = {
            "message_id": log.next_message_id,
            "from": dict(bot.user),
            "chat": chat.as_chat(),
            "date": int(self._wall_clock()),
        }
        log.next_message_id += 1
        if replied is not None:
            message["reply_to_message"] = replied
        message.update(content)
        if formatted is not None and kind != "message" and formatted.text:
            message["caption"] = formatted.text
            if formatted.entities:
                message["caption_entities"] = list(formatted.entities)
        markup = call.args.get("reply_markup")
        stored = _StoredMessage(
            data=message,
            from_bot=True,
            parse_mode=formatted.parse_mode if formatted else None,
            source_text=formatted.source if formatted else None,
        )
        self._set_inline_markup(stored, markup)
        if markup and "keyboard" in markup:
            bot.reply_keyboards[chat.id] = markup
        elif markup and markup.get("remove_keyboard"):
            bot.reply_keyboards.pop(chat.id, None)
        log.messages[message["message_id"]] = stored
        bot.sends.append((self._clock(), chat.id))
        if kind == "message":
            label = message["text"]
        elif kind == "document":
            label = str(message["document"].get("file_name", ""))
            label += f" — {message['caption']}" if "caption" in message else ""
        else:
            label = message.get("caption", "")
        self._record(
            chat, bot.first_name, True, kind, label, message["message_id"], _button_labels(markup)
        )
        return copy.deepcopy(message)

    def _user_message(
        self,
        user_id: int,
        chat_id: int | None,
        reply_to_message_id: int | None,
        content: JSONDict,
        *,
        kind: str,
        label: str,
        token: str | None,
    ) -> JSONDict:
        """Store a message a user sent and deliver it as an update when the bot would see it."""
        bot = self._bot(token)
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        user.started = True
        log = bot.log(chat.id)
        message: JSONDict = {
            "message_id": log.next_message_id,
            "from": user.as_user(),
            "chat": chat.as_chat(),
            "date": int(self._wall_clock()),
        }
        log.next_message_id += 1
        replied_stored: _StoredMessage | None = None
        if reply_to_message_id is not None:
            replied_stored = log.messages.get(reply_to_message_id)
            if replied_stored is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat.id}")
            replied = copy.deepcopy(replied_stored.data)
            replied.pop("reply_to_message", None)
            message["reply_to_message"] = replied
        message.update(content)
        log.messages[message["message_id"]] = _StoredMessage(data=message, from_bot=False)
        self._record(chat, user.first_name, False, kind, label, message["message_id"])
        if self._bot_sees(bot, chat, message, replied_stored):
            self._enqueue(bot, "message", message)
        else:
            self._notify()
        return copy.deepcopy(message)

    @staticmethod
    def _bot_sees(
        bot: _BotState, chat: _Chat, message: JSONDict, replied: _StoredMessage | None
    ) -> bool:
        """Apply privacy mode: which group messages reach the bot."""
        if chat.type == "private" or not bot.privacy_mode:
            return True
        if replied is not None and replied.from_bot:
            return True
        text = message.get("text") or message.get("caption") or ""
        username = str(bot.user["username"]).lower()
        command = _BOT_COMMAND.match(text)
        if command:
            _, _, addressee = command.group(0).partition("@")
            return not addressee or addressee.lower() == username
        return f"@{username}" in text.lower()

    def _enqueue(self, bot: _BotState, kind: str, payload: JSONDict) -> None:
        allowed = bot.allowed_updates
        if (allowed and kind not in allowed) or (not allowed and kind in _OPT_IN_UPDATES):
            return
        update = {"update_id": bot.next_update_id, kind: copy.deepcopy(payload)}
        bot.next_update_id += 1
        bot.updates.append(update)
        self._notify()

    def _record(
        self,
        chat: _Chat,
        sender: str,
        from_bot: bool,
        kind: str,
        text: str,
        message_id: int | None,
        buttons: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        event = TranscriptEvent(
            seq=len(self._transcript),
            chat_id=chat.id,
            chat_title=chat.display,
            sender=sender,
            from_bot=from_bot,
            kind=kind,
            text=text,
            buttons=buttons,
            message_id=message_id,
        )
        self._transcript.append(event)
        self._notify()

    def _store_file(
        self, content: bytes, file_name: str | None, mime_type: str, *, kind: str
    ) -> StoredFile:
        self._file_seq += 1
        seq = self._file_seq
        prefix = "AgAC" if kind == "photos" else "BQAC"
        if kind == "photos":
            extension = "jpg"
        elif file_name and "." in file_name:
            extension = file_name.rpartition(".")[2]
        else:
            extension = "bin"
        stored = StoredFile(
            file_id=f"{prefix}AgADstandin{seq:06d}",
            file_unique_id=f"AQADstandin{seq:06d}",
            file_name=file_name,
            mime_type=mime_type,
            content=content,
            file_path=f"{kind}/file_{seq}.{extension}",
        )
        self._files[stored.file_id] = stored
        return stored

    def _existing_file(self, reference: str) -> StoredFile:
        if reference.startswith(("http://", "https://")):
            # The stand-in has no network; Telegram would fetch the URL.
            raise ApiError.bad_request("failed to get HTTP URL content")
        stored = self._files.get(reference)
        if stored is None:
            raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
        return stored

    @staticmethod
    def _document_json(stored: StoredFile) -> JSONDict:
        document: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "mime_type": stored.mime_type,
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        return document

    @staticmethod
    def _photo_size_json(stored: StoredFile, width: int, height: int) -> JSONDict:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "width": width,
            "height": height,
        }

    def _scope_key(self, scope: Mapping[str, Any] | None) -> str:
        """Normalise a command scope (chat ids resolved) to a dictionary key."""
        if not scope:
            return "default"
        parts = [str(scope.get("type", "default"))]
        if "chat_id" in scope:
            chat_id = scope["chat_id"]
            if isinstance(chat_id, str) and chat_id.startswith("@"):
                chat_id = self._resolve_chat(chat_id).id
            parts.append(str(chat_id))
        if "user_id" in scope:
            parts.append(str(scope["user_id"]))
        return ":".join(parts)


def _chat_id_of(params: Mapping[str, Any]) -> int | None:
    """The ``chat_id`` a call names, as a number (None without one, or for an ``@username``)."""
    try:
        return int(params["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None
