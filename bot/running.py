"""``duban run``: start the bot, with logs that never show the token and a patient start-up.

- Updates come by long polling, or, with a webhook URL (``--webhook-url`` /
  ``DUBAN_WEBHOOK_URL``), Telegram posts them to PTB's webhook server on ``--listen`` /
  ``DUBAN_WEBHOOK_LISTEN`` behind a TLS reverse proxy (docs/deploy.md). Each post must carry
  the secret token (``X-Telegram-Bot-Api-Secret-Token``; PTB answers 403 otherwise): the one in
  ``DUBAN_WEBHOOK_SECRET``, or a new random one at every start, which duban hands to Telegram
  with ``setWebhook``. Like the token, it never appears in a log line.

- Logging goes to stderr at INFO, one line per record with an ISO timestamp and its offset
  (:mod:`bot.logs`, which also quiets APScheduler's per-run lines); :class:`RedactToken` on
  every handler replaces the token in messages, arguments, exception texts and tracebacks (PTB
  and httpx put it in URLs and in ``InvalidToken``), and :func:`logging.captureWarnings` sends
  library warnings through it too.
- Start-up waits for the network: PTB's ``run_polling(bootstrap_retries=DUBAN_STARTUP_RETRIES)``
  retries ``getMe`` and ``deleteWebhook`` with back-off (1 s, 1.5 s, ... up to 30 s; 20 retries
  take about 7 minutes); :class:`RetryLog` makes each retry one plain warning line.
- Whatever stops it (no token, a refused token, no network, a bad timetable, the database) is
  one line on stderr (:class:`bot.configuration.CliError`) and exit status 1.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from urllib.parse import urlsplit

from bot.configuration import CliError, database, read_timetable
from bot.i18n import Translator
from bot.logs import IsoFormatter
from bot.settings import Settings, parse_listen

log = logging.getLogger("duban")
RETRY_LOGGER = "telegram.ext"  # PTB names the retry loop's logger after its package


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
        raise CliError(t.gettext(
            "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather in Telegram (send "
            "/newbot), then put TELEGRAM_BOT_TOKEN=<the token it gives you> in the .env file "
            "(or the environment)."))
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


def run_bot(settings: Settings, t: Translator) -> int:
    """Check everything, then take updates until stopped; returns the exit status.

    Long polling, or a webhook when ``settings.webhook_url`` is set.

    Raises:
        CliError: what keeps the bot from starting, in one line.
    """
    from telegram import Update
    from telegram.error import TelegramError

    from bot.app import build_application, conversation_store

    token = _token(settings, t)
    secret = webhook_secret(settings) if settings.webhook_url else ""
    setup_logging(token, secret)
    timetable = read_timetable(settings.tasks_path, t)
    with database(settings, t) as store:
        application = build_application(settings, timetable=timetable, store=store,
                                        persistence=conversation_store(settings))
        log.info("duban starting: timetable %s, database %s", settings.tasks_path,
                 store.engine.url.render_as_string(hide_password=True))
        try:
            if settings.webhook_url:
                host, port = parse_listen(settings.webhook_listen)
                log.info("updates by webhook: Telegram posts to %s, the proxy forwards to "
                         "http://%s:%s/%s", settings.webhook_url, host, port,
                         webhook_path(settings.webhook_url))
                application.run_webhook(
                    listen=host, port=port, url_path=webhook_path(settings.webhook_url),
                    webhook_url=settings.webhook_url, secret_token=secret,
                    allowed_updates=Update.ALL_TYPES,
                    bootstrap_retries=settings.startup_retries)
            else:
                application.run_polling(allowed_updates=Update.ALL_TYPES,
                                        bootstrap_retries=settings.startup_retries)
        except TelegramError as exc:
            raise telegram_error(exc, settings, t, token) from None
        except OSError as exc:  # the webhook server could not listen
            raise CliError(t.gettext(
                "Cannot listen on {listen} for the webhook: {error}. Choose another --listen "
                "(DUBAN_WEBHOOK_LISTEN).").format(listen=settings.webhook_listen,
                                                  error=exc.strerror or exc)) from None
    return 0


def webhook_secret(settings: Settings) -> str:
    """The webhook's secret token: ``DUBAN_WEBHOOK_SECRET``, else a new random one.

    A new one at every start is enough: duban gives it to Telegram with ``setWebhook`` each
    time it starts. Set it only if something else (the proxy) must check it too.
    """
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    return secrets.token_urlsafe(32)


def webhook_path(url: str) -> str:
    """The path PTB's webhook server answers on: the webhook URL's own path (the reverse proxy
    forwards it unchanged)."""
    return urlsplit(url).path.strip("/")
