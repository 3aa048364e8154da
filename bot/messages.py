"""Outgoing messages shared by handlers and the reminder dispatcher: keyboards and paged sends.

A reply that cannot be delivered for a reason that is not the bot's fault (the person blocked
the bot, Telegram is busy or unreachable) is handled here, where it happens: logged as one
warning and given up, never passed to the error handler, which would page the admins and tell
the person that something failed after their report was already stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from telegram import Bot, ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
)

from bot.i18n import N_, Translator
from bot.render import page_footer, paginate

log = logging.getLogger(__name__)

BUTTON_LABELS = {
    "done": N_("✅ done"),
    "in_progress": N_("⏳ in progress"),
    "blocked": N_("⛔ blocked"),
    "not_applicable": N_("➖ not applicable"),
}
MAX_TASK_BUTTONS = 90
"""Task buttons under one message at most: Telegram refuses more than 100 buttons in all."""
STATUS_CODES = {"done": "d", "in_progress": "p", "blocked": "b", "not_applicable": "n"}
"""One letter per status in callback data (Telegram allows 64 bytes)."""
CODE_STATUSES = {code: status for status, code in STATUS_CODES.items()}


def report_data(task_id: int, status: str, cycle: int, unit_id: str) -> str:
    """Callback data of a status button: ``r|<task>|<status code>|<cycle>|<unit>``."""
    return f"r|{task_id}|{STATUS_CODES[status]}|{cycle}|{unit_id}"


def report_keyboard(t: Translator, task_id: int, cycle: int, unit_id: str,
                    reminder_id: int | None = None) -> InlineKeyboardMarkup:
    """The four status buttons for one task, unit and cycle (and 收到 under a reminder)."""
    rows = [[InlineKeyboardButton(t.gettext(BUTTON_LABELS[s]),
                                  callback_data=report_data(task_id, s, cycle, unit_id))
             for s in pair] for pair in (("done", "in_progress"), ("blocked", "not_applicable"))]
    if reminder_id is not None:
        rows.append([InlineKeyboardButton(t.gettext("👌 received"),
                                          callback_data=f"a|{reminder_id}")])
    return InlineKeyboardMarkup(rows)


def daily_keyboard(t: Translator, tasks: list[tuple[int, str, str]],
                   reminder_id: int) -> InlineKeyboardMarkup:
    """Under a reminder listing several tasks: a button per task, "all" buttons and 收到.

    A task's button (``t|<task>|<unit>``) opens it with its status buttons; "all in progress"
    and "all done" (``b|<reminder id>|<status code>``) report every task the message lists;
    收到 (``a|<reminder id>``) acknowledges them all.

    Args:
        t: the reader's translator.
        tasks: (task, unit id, unit label) of each task listed; the label ("" for none) names
            the unit when the person serves several.
        reminder_id: one delivery of the message (the others share its message id).
    """
    width = 3 if any(label for _, _, label in tasks) else 6
    # Telegram takes at most 100 buttons under a message; /mytasks lists any others.
    buttons = [InlineKeyboardButton(f"{task_id} · {label}" if label else str(task_id),
                                    callback_data=f"t|{task_id}|{unit_id}")
               for task_id, unit_id, label in tasks[:MAX_TASK_BUTTONS]]
    rows = [buttons[i:i + width] for i in range(0, len(buttons), width)]
    rows.append([InlineKeyboardButton(t.gettext("⏳ all in progress"),
                                      callback_data=f"b|{reminder_id}|{STATUS_CODES['in_progress']}"),
                 InlineKeyboardButton(t.gettext("✅ all done"),
                                      callback_data=f"b|{reminder_id}|{STATUS_CODES['done']}")])
    rows.append([InlineKeyboardButton(t.gettext("👌 received"),
                                      callback_data=f"a|{reminder_id}")])
    return InlineKeyboardMarkup(rows)


def review_data(task_id: int, unit_id: str, cycle: int, decision: str,
                report_id: int | None = None) -> str:
    """Callback data of a review button: ``v|<task>|<unit>|<cycle>|<c or r>[|<report id>]``.

    The leader reviews the unit's latest report, which must still be a report of done awaiting
    review when the button is pressed; the report id, when it fits in Telegram's 64 bytes, is
    the one the leader was shown: a review applies only while no other report (other than a
    note on the same report of done) has come in since.
    """
    data = f"v|{task_id}|{unit_id}|{cycle}|{decision}"
    anchored = f"{data}|{report_id}"
    return anchored if report_id is not None and len(anchored.encode()) <= 64 else data


def review_keyboard(t: Translator, task_id: int, unit_id: str, cycle: int,
                    report_id: int | None = None) -> InlineKeyboardMarkup:
    """Confirm (审结) or return (退回) a unit's report of done."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(t.gettext("✅ confirm"),
                             callback_data=review_data(task_id, unit_id, cycle, "c",
                                                       report_id)),
        InlineKeyboardButton(t.gettext("↩️ return"),
                             callback_data=review_data(task_id, unit_id, cycle, "r",
                                                       report_id))]])


def extension_keyboard(t: Translator, extension_id: int) -> InlineKeyboardMarkup:
    """Approve or reject an extension request: ``x|<extension id>|<a or r>``."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(t.gettext("✅ approve"), callback_data=f"x|{extension_id}|a"),
        InlineKeyboardButton(t.gettext("❌ reject"), callback_data=f"x|{extension_id}|r")]])


def urge_data(task_id: int, unit_id: str, cycle: int) -> str:
    """Callback data of an urge button: ``u|<task>|<unit>|<cycle>``."""
    return f"u|{task_id}|{unit_id}|{cycle}"


async def send_pages(bot: Bot, chat_id: int, text: str, t: Translator,
                     reply_markup: InlineKeyboardMarkup | ForceReply | None = None,
                     reply_to_message_id: int | None = None) -> int:
    """Send ``text`` as one or more messages under Telegram's limit; the last message's id.

    The keyboard goes under the last page; each page of several says "Page i/n". Telegram's
    errors are raised (the dispatcher handles them per delivery).
    """
    pages = paginate(text)
    message_id = 0
    for index, page in enumerate(pages):
        if len(pages) > 1:
            page = page + "\n\n" + page_footer(t, index, len(pages))
        markup = reply_markup if index == len(pages) - 1 else None
        sent = await bot.send_message(
            chat_id, page, reply_markup=markup,
            reply_to_message_id=reply_to_message_id if index == 0 else None)
        message_id = sent.message_id
    return message_id


def is_transient_telegram_error(error: BaseException | None) -> bool:
    """Whether Telegram's answer (or its absence) is a passing trouble, not a bug: a dropped
    connection or timeout, a 5xx (Telegram's front end answers 502 with an HTML page, which PTB
    raises as ``NetworkError``), a 429 after the pacer's retries, or 409 (another instance
    polled: the updater retries on its own)."""
    if isinstance(error, BadRequest):  # a NetworkError subclass, but the bot's own fault
        return False
    return isinstance(error, (NetworkError, RetryAfter, Conflict))


CHAT_CLOSED = ("chat not found", "not enough rights", "have no rights", "chat_write_forbidden",
               "group chat was deactivated", "bot is not a member", "need administrator rights",
               "peer_id_invalid", "chat_restricted", "topic_closed")
"""What Telegram says (400) when the chat itself does not take the bot's messages: the group
is gone, the bot was removed or muted there. Not the bot's fault, and no retry helps."""


def chat_closed(error: BaseException) -> bool:
    """Whether a send failed because the chat takes no message from the bot (gone, the bot
    removed, blocked or muted: :data:`CHAT_CLOSED`), not because of what was sent."""
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(
        words in error.message.casefold() for words in CHAT_CLOSED)


@contextlib.contextmanager
def not_our_fault(chat_id: int, what: str) -> Iterator[None]:
    """Swallow (and log) the errors of one send that are the person's or the network's: the
    person blocked the bot, the group is gone or the bot may not write there
    (:func:`chat_closed`), Telegram keeps the chat busy (429 after the pacer's retries), the
    network failed. Any other ``BadRequest`` is the bot's own fault (bad HTML, too long) and is
    raised.
    """
    try:
        yield
    except BadRequest as exc:
        if not chat_closed(exc):
            raise
        log.warning("chat %s does not take messages from the bot (%s dropped): %s", chat_id,
                    what, exc.message)
    except Forbidden as exc:
        log.info("chat %s does not take messages from the bot (%s dropped): %s", chat_id,
                 what, exc)
    except RetryAfter as exc:
        log.warning("chat %s is rate limited; %s was dropped: %s", chat_id, what, exc)
    except NetworkError as exc:
        log.warning("%s to chat %s was not delivered: %s", what, chat_id, exc)


async def reply(message: Message, text: str, t: Translator,
                reply_markup: InlineKeyboardMarkup | None = None) -> int | None:
    """Answer ``message`` in its chat, paged; the last page's id, None when Telegram would not
    take it (see :func:`not_our_fault`: what the person sent is already handled)."""
    with not_our_fault(message.chat_id, "a reply"):
        try:
            return await send_pages(message.get_bot(), message.chat_id, text, t, reply_markup,
                                    reply_to_message_id=message.message_id)
        except ChatMigrated as exc:  # the group became a supergroup: answer there
            log.info("chat %s moved to %s; the reply follows it", message.chat_id,
                     exc.new_chat_id)
            return await send_pages(message.get_bot(), exc.new_chat_id, text, t, reply_markup)
    return None


async def reply_file(message: Message, content: bytes, filename: str, caption: str) -> bool:
    """Answer ``message`` with a document; False when Telegram would not take it."""
    with not_our_fault(message.chat_id, "a file"):
        await message.reply_document(content, filename=filename, caption=caption)
        return True
    return False
