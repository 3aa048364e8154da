"""``duban run``: start the bot, with logs that never show the token and a patient start-up.

- Updates come by long polling, or, with a webhook URL (``--webhook-url`` /
  ``DUBAN_WEBHOOK_URL``), Telegram posts them to PTB's webhook server on ``--listen`` /
  ``DUBAN_WEBHOOK_LISTEN`` behind a TLS reverse proxy (docs/deploy.md). Each post must carry
  the secret token (``X-Telegram-Bot-Api-Secret-Token``; PTB answers 403 otherwise): the one in
  ``DUBAN_WEBHOOK_SECRET``, else one derived from the bot token (:func:`webhook_secret`), the
  same at every start and in every instance. Like the token, it never appears in a log line.
- Webhook mode binds its port before it calls ``setWebhook``: a second instance on a taken port
  stops before it touches the webhook. A URL Telegram refuses (``setWebhook`` answers 400) stops
  the start at once, in one line, without the retry loop.
- Polling refuses to start while a webhook is set for the bot (that is another instance in
  webhook mode, or a half-finished move): one line, exit 1, unless ``--drop-webhook`` says to
  delete it. Telegram's ``Conflict`` while polling (another program polls with the same token)
  stops the bot with one line.
- One ``duban run`` per SQLite database (:mod:`bot.instance`); on PostgreSQL the bot's
  connections are named ``duban run`` in ``pg_stat_activity``.
- Logging goes to stderr at INFO, one line per record with an ISO timestamp and its offset
  (:mod:`bot.logs`, which also quiets APScheduler's per-run lines); :class:`RedactToken` on
  every handler replaces the token in messages, arguments, exception texts and tracebacks (PTB
  and httpx put it in URLs and in ``InvalidToken``), and :func:`logging.captureWarnings` sends
  library warnings through it too.
  One line says ``polling as @name`` (or ``webhook as @name``) once Telegram has answered.
- Start-up waits for the network: PTB's ``run_polling(bootstrap_retries=DUBAN_STARTUP_RETRIES)``
  retries ``getMe`` and ``deleteWebhook`` with back-off (1 s, 1.5 s, ... up to 30 s; 20 retries
  take about 7 minutes); :class:`RetryLog` makes each retry one plain warning line.
- Whatever stops it (no token, a refused token, no network, a bad timetable, the database) is
  one line on stderr (:class:`bot.configuration.CliError`) and exit status 1.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import hmac
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.configuration import (
    CliError,
    check_sqlite_location,
    database,
    permission_error,
    read_timetable,
    several_names_error,
)
from bot.i18n import Translator
from bot.instance import RUN_APPLICATION_NAME, InstanceBusy, SeveralNames, sqlite_instance_lock
from bot.logs import IsoFormatter
from bot.oserrors import listen_error
from bot.settings import Settings, env_file_of, parse_listen

if TYPE_CHECKING:
    from telegram.ext import Application

log = logging.getLogger("duban")
RETRY_LOGGER = "telegram.ext"  # PTB names the retry loop's logger after its package
WEBHOOK_SECRET_LABEL = b"duban webhook secret token v1"
"""What the bot token signs (HMAC-SHA256) to make the webhook's secret token."""


class RedactToken(logging.Filter):
    """Replace the bot token in every part of a log record that is printed.

    Covers the message with its arguments, the exception text and traceback (formatted here,
    once, and cached in ``exc_text`` where the formatter looks first) and the stack.
    """

    def __init__(self, token: str, *others: str) -> None:
        super().__init__()
        self.token = token
        self.secrets = tuple(s for s in others if s)
        self._formatter = logging.Formatter()

    def redact(self, text: str) -> str:
        """``text`` without the token (nor its secret half, which some messages show alone),
        nor the other secrets (the webhook's secret token)."""
        for secret in self.secrets:
            text = text.replace(secret, "<secret>")
        if not self.token:
            return text
        text = text.replace(self.token, "<token>")
        half = self.token.split(":", 1)[-1]
        return text.replace(half, "<token>") if len(half) >= 4 else text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record without the token; never drops a record."""
        message = record.getMessage()
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class RetryLog(logging.Filter):
    """PTB's network retry loop in plain words: one warning per retry, no tracebacks.

    Sits on the handlers, with the ``telegram.ext`` logger set to DEBUG for it: the loop logs
    each retry at DEBUG and the final failure with a traceback. Other DEBUG records of
    ``telegram`` are dropped as before; ``duban run`` prints its own line for the final failure.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the retries, reworded as warnings, and whatever else is INFO or above."""
        if record.name == "telegram.ext.Updater" and record.levelno >= logging.WARNING and \
                "one more time" in str(record.msg):
            # Updater.stop's last getUpdates failed (e.g. Conflict: another instance polls):
            # nothing is lost, the updates come again; one plain line, not a traceback.
            error = record.exc_info[1] if record.exc_info else None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "at shutdown Telegram did not confirm the last updates read (%s)"
            record.args = (type(error).__name__ if error is not None else "error",)
            record.exc_info = None
            record.exc_text = None
            return True
        if record.module != "networkloop" or not record.name.startswith("telegram"):
            return record.levelno >= logging.INFO or not record.name.startswith("telegram")
        message = record.getMessage()
        if "Failed run number" not in message or "Aborting" in message:
            return False
        error = sys.exc_info()[1]
        reason = f"{type(error).__name__}: {error}" if error is not None else "network error"
        args = record.args if isinstance(record.args, tuple) else ()
        attempt = int(args[1]) if len(args) > 1 else 0  # type: ignore[call-overload]
        limit = int(args[2]) if len(args) > 2 else 0  # type: ignore[call-overload]
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "Telegram is not reachable yet (%s); retry %s of %s, with back-off"
        record.args = (reason, attempt + 1, "unlimited" if limit < 0 else limit)
        record.exc_info = None
        record.exc_text = None
        return True


def setup_logging(token: str, *others: str) -> None:
    """Log to stderr at INFO, the token and ``others`` (secrets) redacted, and the per-request
    lines of httpx and of the webhook server quiet."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(IsoFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.captureWarnings(True)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RetryLog) for f in handler.filters):
            handler.addFilter(RetryLog())  # first: it rewrites the record the next one redacts
        if not any(isinstance(f, RedactToken) for f in handler.filters):
            handler.addFilter(RedactToken(token, *others))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)  # refused posts still show
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger(RETRY_LOGGER).setLevel(logging.DEBUG)


def _token(settings: Settings, t: Translator) -> str:
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if not token.strip():
        env_file = env_file_of(settings)
        where = (t.gettext("not in {file}, nor in the environment").format(file=env_file)
                 if env_file is not None else
                 t.gettext("not in the environment, and there is no .env file in {cwd} (nor "
                           "DUBAN_ENV_FILE naming one)").format(cwd=Path.cwd()))
        raise CliError(t.gettext(
            "TELEGRAM_BOT_TOKEN is not set ({where}). Create a bot with @BotFather in Telegram "
            "(send /newbot), then put TELEGRAM_BOT_TOKEN=<the token it gives you> in the "
            "settings file (or the environment).").format(where=where))
    return token


def telegram_error(exc: Exception, settings: Settings, t: Translator, token: str) -> CliError:
    """One line for a failure to talk to Telegram; never with the token."""
    from telegram.error import InvalidToken

    if isinstance(exc, InvalidToken):
        return CliError(t.gettext(
            "Telegram refused the bot token (TELEGRAM_BOT_TOKEN). Copy it again from "
            "@BotFather (/mybots → API Token); it looks like 123456789:AA… ."))
    detail = RedactToken(token).redact(f"{type(exc).__name__}: {exc}")
    return CliError(t.gettext(
        "Cannot reach Telegram at {url} ({error}). Check the network, a proxy (HTTPS_PROXY) or "
        "TELEGRAM_API_BASE_URL.").format(
        url=settings.telegram_api_base_url.removesuffix("/bot"), error=detail))


def ask_bot_username(settings: Settings, t: Translator) -> str:
    """The bot's @username from Telegram (getMe), with the configured token and endpoint.

    Raises:
        CliError: no token, a refused token, or Telegram cannot be reached.
    """
    from telegram import Bot
    from telegram.error import TelegramError

    token = _token(settings, t)

    async def get_me() -> str:
        bot = Bot(token, base_url=settings.telegram_api_base_url,
                  base_file_url=settings.resolved_file_base_url)
        async with bot:
            return bot.username

    try:
        return asyncio.run(get_me())
    except TelegramError as exc:
        raise telegram_error(exc, settings, t, token) from None


def run_bot(settings: Settings, t: Translator, *, drop_webhook: bool = False) -> int:
    """Check everything, then take updates until stopped; returns the exit status.

    Long polling, or a webhook when ``settings.webhook_url`` is set.

    Args:
        settings: the settings.
        t: the language of the messages.
        drop_webhook: polling only: delete a webhook that is set instead of refusing to start.

    Raises:
        CliError: what keeps the bot from starting, or what stopped it (another instance), in
            one line.
    """
    from telegram import Update
    from telegram.error import TelegramError

    from bot.app import build_application, conversation_store

    token = _token(settings, t)
    secret = webhook_secret(settings) if settings.webhook_url else ""
    setup_logging(token, secret)
    timetable = read_timetable(settings.tasks_path, t)
    writable_folder(settings.data_dir, t)  # open questions are kept there (conversations)
    with ExitStack() as stack:
        listener = stack.enter_context(bind_webhook_port(settings, t)) if \
            settings.webhook_url else None
        if settings.sqlite_path is not None:
            stack.enter_context(run_lock(settings, t))
        store = stack.enter_context(database(settings, t, create=True, upgrade=True,
                                             application_name=RUN_APPLICATION_NAME))
        application = build_application(settings, timetable=timetable, store=store,
                                        persistence=conversation_store(settings))
        stop_on_conflict(application)
        preflight(application, settings, t, secret=secret, drop_webhook=drop_webhook)
        log.info("duban starting: timetable %s, database %s", settings.tasks_path,
                 store.engine.url.render_as_string(hide_password=True))
        try:
            if settings.webhook_url:
                assert listener is not None
                host, port = parse_listen(settings.webhook_listen)
                log.info("updates by webhook: Telegram posts to %s, the proxy forwards to "
                         "http://%s:%s/%s", settings.webhook_url, host, port,
                         webhook_path(settings.webhook_url))
                from bot.webhook import guard_webhook

                guard_webhook()
                application.run_webhook(
                    unix=listener, url_path=webhook_path(settings.webhook_url),
                    webhook_url=settings.webhook_url, secret_token=secret,
                    allowed_updates=Update.ALL_TYPES,
                    bootstrap_retries=settings.startup_retries, close_loop=False)
            else:
                application.run_polling(allowed_updates=Update.ALL_TYPES,
                                        bootstrap_retries=settings.startup_retries,
                                        drop_pending_updates=False, close_loop=False)
        except TelegramError as exc:
            raise telegram_error(exc, settings, t, token) from None
        finally:
            close_sends(application)
        conflict = application.bot_data.get(CONFLICT_KEY)
        if conflict:
            raise CliError(t.gettext(
                "Stopped: Telegram says another program takes this bot's updates ({error}). "
                "Run one duban per bot token: stop the other one (another machine or a "
                "forgotten terminal), then start this one again.").format(error=conflict))
    return 0


def close_sends(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Close the sends' request (``bot.transport.AiohttpRequest``'s session) and the event loop
    that ``run_polling`` or ``run_webhook`` ran on (they are told to leave it open).

    When the start fails (a refused token, no network) PTB never shuts the bot down, and an
    aiohttp session left open is reported on stderr when it is collected; after a normal stop
    it is closed already and this only closes the loop.
    """
    import asyncio
    import warnings

    with warnings.catch_warnings():  # PTB's own way to find the loop it ran on
        warnings.simplefilter("ignore", DeprecationWarning)
        loop = asyncio.get_event_loop()
    if loop.is_closed():
        return
    try:
        loop.run_until_complete(application.bot.request.shutdown())
    finally:
        loop.close()


CONFLICT_KEY = "stopped_by_conflict"


def stop_on_conflict(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Make Telegram's ``Conflict`` (409) while polling stop the bot instead of retrying.

    Telegram answers 409 to a ``getUpdates`` when another program polls with the same token,
    or when a webhook was set meanwhile; PTB would retry for ever, the two instances taking
    updates from each other. The handler goes first among the error handlers.
    """
    from telegram.error import Conflict
    from telegram.ext import ApplicationHandlerStop, ContextTypes

    async def on_conflict(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(context.error, Conflict):
            if not context.application.bot_data.get(CONFLICT_KEY):
                context.application.bot_data[CONFLICT_KEY] = context.error.message
                log.error("stopping: %s", context.error.message)
                _skip_last_get_updates(context.application)
                context.application.stop_running()
            raise ApplicationHandlerStop

    others = dict(application.error_handlers)
    application.error_handlers.clear()
    application.add_error_handler(on_conflict)
    application.error_handlers.update(others)


def _skip_last_get_updates(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Leave out the ``getUpdates`` PTB's ``Updater.stop`` makes to confirm the last updates:
    after a Conflict it would cut the other instance's long poll in turn, and both would stop.
    PTB keeps that call in a private attribute; a no-op replaces it (tests/bot/
    test_run_instances.py checks that the other instance goes on)."""

    async def nothing() -> None:
        return None

    updater = application.updater
    name = "_Updater__polling_cleanup_cb"
    if updater is not None and getattr(updater, name, None) is not None:
        setattr(updater, name, nothing)


def preflight(application: Application[Any, Any, Any, Any, Any, Any], settings: Settings,
              t: Translator, *, secret: str, drop_webhook: bool) -> None:
    """Checks made once Telegram has answered ``getMe`` (with the start-up retries), before
    updates flow: they run first in ``post_init``.

    Polling: a webhook that is set stops the start (one line, exit 1) unless ``drop_webhook``.
    Webhook: ``setWebhook`` is tried once here; a 400 (a URL Telegram will not post to) stops
    the start at once, where PTB's bootstrap would retry it for minutes.
    """
    from telegram import Update
    from telegram.error import BadRequest, TelegramError

    later: Callable[[Any], Awaitable[None]] | None = application.post_init

    async def check(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        name = app.bot.username
        if settings.webhook_url:
            try:
                await app.bot.set_webhook(settings.webhook_url, secret_token=secret,
                                          allowed_updates=Update.ALL_TYPES)
            except BadRequest as exc:
                raise CliError(t.gettext(
                    "Telegram refused the webhook URL {url}: {error}. Check DUBAN_WEBHOOK_URL "
                    "(--webhook-url): a public https:// address on port 443, 80, 88 or 8443 "
                    "that resolves and has a certificate Telegram trusts.").format(
                    url=settings.webhook_url, error=exc.message)) from None
            except TelegramError:
                pass  # a passing network failure: PTB's bootstrap retries it
            log.info("webhook as @%s", name)
        else:
            info = await app.bot.get_webhook_info()
            if info.url and not drop_webhook:
                raise CliError(t.gettext(
                    "A webhook is set for this bot ({url}): another duban in webhook mode may "
                    "be taking its updates. Stop that one, or start this one with "
                    "--drop-webhook to delete the webhook and poll instead.").format(
                    url=info.url))
            if info.url:
                log.warning("deleting the webhook %s (--drop-webhook)", info.url)
            log.info("polling as @%s", name)
        if later is not None:
            await later(app)

    application.post_init = check


def bind_webhook_port(settings: Settings, t: Translator) -> Any:
    """The webhook's listening socket, bound before ``setWebhook`` is called (a context manager
    that closes it).

    Raises:
        CliError: the address cannot be bound (taken, or not this machine's).
    """
    from contextlib import closing

    host, port = parse_listen(settings.webhook_listen)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise CliError(t.gettext(
            "Cannot listen on {listen} for the webhook: {error}. Choose another --listen "
            "(DUBAN_WEBHOOK_LISTEN), or stop the program that uses it (another duban?)."
        ).format(listen=settings.webhook_listen,
                 error=listen_error(exc).translate(t.gettext))) from None
    listener.setblocking(False)
    return closing(listener)


def run_lock(settings: Settings, t: Translator) -> Any:
    """The SQLite database's instance lock for ``duban run`` (a context manager).

    Raises:
        CliError: another ``duban run`` (or a restore) holds it, or the lock file cannot be
            made (the message names the path and the user).
    """
    from collections.abc import Iterator
    from contextlib import contextmanager

    assert settings.sqlite_path is not None
    database_file = settings.sqlite_path.absolute()
    check_sqlite_location(database_file, t, create=True)

    @contextmanager
    def held() -> Iterator[None]:
        try:
            with sqlite_instance_lock(database_file, "run"):
                yield
        except InstanceBusy as busy:
            raise busy_error(busy, database_file, t) from None
        except SeveralNames as linked:
            raise several_names_error(linked.path, linked.links, t) from None
        except PermissionError as exc:
            raise permission_error(exc, t) from None

    return held()


def writable_folder(folder: Path, t: Translator) -> None:
    """Make ``folder`` if needed and make sure this user may write in it.

    Raises:
        CliError: it cannot be made or written: the path, its owner and mode, and the user.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
    except PermissionError as exc:
        raise permission_error(exc, t) from None


def busy_error(busy: InstanceBusy, database_file: Path, t: Translator) -> CliError:
    """One line: another process (a running bot or a restore) holds the database's lock."""
    pid = str(busy.pid) if busy.pid is not None else "?"
    if busy.purpose == "restore":
        return CliError(t.gettext(
            "The database {path} is being restored ('duban db restore', pid {pid}); wait for "
            "it to finish.").format(path=database_file, pid=pid))
    return CliError(t.gettext(
        "Another duban run (pid {pid}) is using the database {path} (its lock file is {lock}). "
        "Stop it first (systemctl stop duban); two bots on one SQLite database would answer "
        "every message twice.").format(pid=pid, path=database_file, lock=busy.path))


def webhook_secret(settings: Settings) -> str:
    """The webhook's secret token: ``DUBAN_WEBHOOK_SECRET``, else one derived from the token.

    The derived one is HMAC-SHA256 of :data:`WEBHOOK_SECRET_LABEL` keyed with the bot token,
    in URL-safe base64 without padding: 43 characters of ``A-Z a-z 0-9 _ -`` (Telegram takes
    1-256 of them). It is the same at every start and in every instance of the bot, so a second
    instance calling ``setWebhook`` does not lock out the first, and a new bot token makes a
    new one. It reveals nothing of the token.
    """
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    digest = hmac.new(token.encode("utf-8"), WEBHOOK_SECRET_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def webhook_path(url: str) -> str:
    """The path PTB's webhook server answers on: the webhook URL's own path (the reverse proxy
    forwards it unchanged)."""
    return urlsplit(url).path.strip("/")
