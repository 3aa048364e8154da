"""Outgoing message helpers shared by handlers and the reminder dispatcher."""

from __future__ import annotations

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, Translator
from bot.render import page_footer, paginate

BUTTON_LABELS = {
    "done": N_("✅ done"),
    "in_progress": N_("⏳ in progress"),
    "blocked": N_("⛔ blocked"),
    "not_applicable": N_("➖ not applicable"),
}


def report_keyboard(t: Translator, task_id: int, reminder_id: int | None = None
                    ) -> InlineKeyboardMarkup:
    """The four status buttons (and 收到 under a reminder)."""
    rows = [[InlineKeyboardButton(t.gettext(BUTTON_LABELS[s]), callback_data=f"r|{task_id}|{s}")
             for s in ("done", "in_progress")],
            [InlineKeyboardButton(t.gettext(BUTTON_LABELS[s]), callback_data=f"r|{task_id}|{s}")
             for s in ("blocked", "not_applicable")]]
    if reminder_id is not None:
        rows.append([InlineKeyboardButton(t.gettext("👌 received"),
                                          callback_data=f"a|{reminder_id}")])
    return InlineKeyboardMarkup(rows)


async def send_pages(bot: Bot, chat_id: int, text: str, t: Translator,
                     reply_markup: InlineKeyboardMarkup | None = None,
                     reply_to_message_id: int | None = None) -> int:
    """Send ``text`` as one or more messages under Telegram's limit; the last message's id.

    The keyboard goes under the last page; each page of several says "Page i/n".
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
