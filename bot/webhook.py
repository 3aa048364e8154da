"""Webhook mode: refuse a malformed update in one line.

PTB's webhook handler (``telegram.ext._utils.webhookhandler.TelegramHandler``) answers a body
that is not JSON with a 500 and one that is JSON but not an update (``[]``, ``"x"``, an update
without ``update_id``, a message without its required fields) with a CRITICAL log entry holding
a traceback and the whole body. A post with the right secret is Telegram's, or someone's who
holds the secret; either way a malformed one is refused with 400 and one WARNING line that
shows at most :data:`SHOWN` characters of it. :func:`guard_webhook` installs the check in front
of PTB's handler (once per process); everything else stays PTB's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import tornado.web
from telegram import Update
from telegram.ext._utils.webhookhandler import TelegramHandler

log = logging.getLogger(__name__)
SHOWN = 120
"""Characters of a refused body written to the log."""


def malformed(body: bytes, bot: Any) -> str:
    """Why ``body`` is not an update Telegram would send ("" if it is one)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "not JSON"
    except RecursionError:  # nested deeper than the reader goes: no update Telegram sends
        return "JSON nested too deeply"
    if not isinstance(data, dict):
        return f"JSON {type(data).__name__}, not an object"
    if not isinstance(data.get("update_id"), int) or isinstance(data["update_id"], bool):
        return "no integer update_id"
    try:
        Update.de_json(data, bot)
    except Exception as exc:  # what PTB cannot read: a field missing or of the wrong type
        return f"unreadable: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return ""


def guard_webhook() -> None:
    """Check every webhook post before PTB's handler reads it (idempotent)."""
    original: Callable[[TelegramHandler], Awaitable[None]] = TelegramHandler.post
    if getattr(original, "duban_guard", False):
        return

    async def post(self: TelegramHandler) -> None:
        self._validate_post()  # content type and secret first, as PTB does
        reason = malformed(self.request.body, self.bot)
        if reason:
            body = self.request.body
            shown = body[:SHOWN].decode("utf-8", "replace")
            log.warning("webhook: refused a post that is not an update (%s, %s bytes): %r%s",
                        reason, len(body), shown, "…" if len(body) > SHOWN else "")
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST,
                                        reason="Update could not be processed")
        await original(self)

    post.duban_guard = True  # type: ignore[attr-defined]
    TelegramHandler.post = post  # type: ignore[method-assign]
