"""Notices the workflow sends on its own: to a unit's contacts, and to the leadership.

A cooperating unit's input goes to the lead unit's contacts; a delivering unit's report of done,
and an extension request, go to the leadership (with their buttons); a review, a decision and an
urge go to the unit's contacts. Each person reads the notice in their language; the leadership
is who gets the digests (``schedules.delivery.recipients``: bound groups and leaders who asked,
else every leader).

A notice that cannot be delivered is logged and given up: what the sender did is stored
already, and one recipient's trouble never stops the others. A bound group that became a
supergroup is followed to its new id (the binding moves, the notice is sent again there); a
bound group that takes no message (gone, the bot removed or muted) is logged and the admins are
told once a day per group, with the command to unbind it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from html import escape

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, TelegramError

from bot.i18n import Translator
from bot.messages import chat_closed, send_pages
from bot.services import Services
from schedules.delivery import recipients

log = logging.getLogger(__name__)

TextFor = Callable[[Translator], str]
KeyboardFor = Callable[[Translator], InlineKeyboardMarkup | None]
Sent = Callable[[int, int], Awaitable[None]]
"""Called with (chat id, message id) of each notice that went out."""


async def notify_unit(bot: Bot, services: Services, unit_id: str, text_for: TextFor,
                      keyboard_for: KeyboardFor | None = None,
                      skip: int | None = None, sent: Sent | None = None) -> list[int]:
    """Send a notice to every active person serving ``unit_id``; the chats it reached.

    Args:
        bot: the bot.
        services: the services.
        unit_id: the unit.
        text_for: the notice in a given language.
        keyboard_for: its buttons in a given language, if any.
        skip: a person not to notify (the one who caused it).
        sent: called for each message that went out (to remember what it is about).
    """
    people = await services.db(services.store.contacts_for_unit, unit_id)
    targets = {p.telegram_user_id: p.language for p in people if p.telegram_user_id != skip}
    return await _send_all(bot, services, targets, text_for, keyboard_for, sent)


async def notify_leadership(bot: Bot, services: Services, text_for: TextFor,
                            keyboard_for: KeyboardFor | None = None) -> list[int]:
    """Send a notice to the leadership chats (as the digests go); the chats it reached."""
    store = services.store
    people = await services.db(store.list_people, None, None, False)
    chats = await services.db(store.leadership_chats)
    _, leadership = recipients(people, [], [c.chat_id for c in chats])
    languages = {p.telegram_user_id: p.language for p in people}
    languages |= {c.chat_id: c.language for c in chats}
    targets = {chat_id: languages.get(chat_id) for chat_id in leadership}
    return await _send_all(bot, services, targets, text_for, keyboard_for)


def remember_notices(services: Services, task_id: int, unit_id: str, cycle: int,
                     kind: str) -> Sent:
    """A :data:`Sent` that records each message of a notice to a unit as being about this task
    and cycle, so that a reply to it, or a button under it, is too (``notice_message``)."""
    async def record(chat_id: int, message_id: int) -> None:
        await services.db(services.store.record_notice_messages, chat_id, message_id,
                          [(task_id, unit_id, cycle)], kind, services.now())
    return record


async def notify_admins(bot: Bot, services: Services, text_for: TextFor,
                        skip: int | None = None) -> None:
    """Send a notice to every admin (``DUBAN_ADMINS`` and enrolled admins) privately, but
    ``skip`` (the admin who caused it)."""
    people = await services.db(services.store.list_people, None, "admin")
    targets: dict[int, str | None] = {p.telegram_user_id: p.language for p in people}
    for admin_id in services.settings.admins:
        targets.setdefault(admin_id, None)
    if skip is not None:
        targets.pop(skip, None)
    await _send_all(bot, services, targets, text_for, None)


async def _send_all(bot: Bot, services: Services, targets: dict[int, str | None],
                    text_for: TextFor, keyboard_for: KeyboardFor | None,
                    sent: Sent | None = None) -> list[int]:
    reached = []
    for chat_id, language in targets.items():
        t = services.translator(language)
        message_id = await deliver(bot, services, chat_id, text_for(t), t,
                                   keyboard_for(t) if keyboard_for is not None else None)
        if message_id is None:
            continue
        reached.append(chat_id)
        if sent is not None:
            await sent(chat_id, message_id)
    return reached


async def deliver(bot: Bot, services: Services, chat_id: int, text: str, t: Translator,
                  keyboard: InlineKeyboardMarkup | None = None) -> int | None:
    """Send one notice to one chat; its (last) message id, or None when it did not go out.

    Raises:
        BadRequest: when the notice itself is at fault (bad HTML, too long): a bug to see.
    """
    try:
        try:
            return await send_pages(bot, chat_id, text, t, keyboard)
        except ChatMigrated as exc:  # a group became a supergroup: follow it
            if await services.db(services.store.migrate_chat, chat_id, exc.new_chat_id,
                                 services.now()):
                log.info("leadership chat %s moved to %s", chat_id, exc.new_chat_id)
            chat_id = exc.new_chat_id
            return await send_pages(bot, chat_id, text, t, keyboard)
    except TelegramError as exc:
        if isinstance(exc, BadRequest) and not chat_closed(exc):
            raise
        if chat_closed(exc):
            await _chat_closed(bot, services, chat_id, exc)
        else:
            log.warning("a workflow notice to chat %s was not delivered: %s", chat_id, exc)
        return None


async def _chat_closed(bot: Bot, services: Services, chat_id: int, exc: TelegramError) -> None:
    """A chat took no notice: a person is logged; a bound group is logged and the admins told,
    once a day per group."""
    if chat_id > 0:
        log.info("person %s does not take messages from the bot: %s", chat_id, exc)
        return
    today = services.today()
    if services.closed_chats_told.get(chat_id) == today:
        return
    services.closed_chats_told[chat_id] = today
    bound = await services.db(services.store.get_chat, chat_id)
    log.warning("group %s takes no message from the bot: %s", chat_id, exc)
    if bound is None or not bound.active:
        return
    await notify_admins(bot, services, lambda r: "🚫 " + r.gettext(
        "The bot cannot write to the leadership group {title} ({chat}): Telegram says "
        "“{reason}”. Its notices and digests are not getting through. Add the bot back (with "
        "the right to send messages), or stop sending there with /unbind {chat}.").format(
        title=escape(bound.title or "—"), chat=chat_id, reason=escape(str(exc))))
