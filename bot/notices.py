"""Notices the workflow sends on its own: to a unit's contacts, and to the leadership.

A cooperating unit's input goes to the lead unit's contacts; a delivering unit's report of done,
and an extension request, go to the leadership (with their buttons); a review, a decision and an
urge go to the unit's contacts. Each person reads the notice in their language; the leadership
is who gets the digests (``schedules.delivery.recipients``: bound groups and leaders who asked,
else every leader). A notice that cannot be delivered is logged and given up: what the sender
did is stored already.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, TelegramError

from bot.i18n import Translator
from bot.messages import send_pages
from bot.services import Services
from schedules.delivery import recipients

log = logging.getLogger(__name__)

TextFor = Callable[[Translator], str]
KeyboardFor = Callable[[Translator], InlineKeyboardMarkup | None]


async def notify_unit(bot: Bot, services: Services, unit_id: str, text_for: TextFor,
                      keyboard_for: KeyboardFor | None = None,
                      skip: int | None = None) -> list[int]:
    """Send a notice to every active person serving ``unit_id``; the chats it reached.

    Args:
        bot: the bot.
        services: the services.
        unit_id: the unit.
        text_for: the notice in a given language.
        keyboard_for: its buttons in a given language, if any.
        skip: a person not to notify (the one who caused it).
    """
    people = await services.db(services.store.contacts_for_unit, unit_id)
    targets = {p.telegram_user_id: p.language for p in people if p.telegram_user_id != skip}
    return await _send_all(bot, services, targets, text_for, keyboard_for)


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


async def _send_all(bot: Bot, services: Services, targets: dict[int, str | None],
                    text_for: TextFor, keyboard_for: KeyboardFor | None) -> list[int]:
    reached = []
    for chat_id, language in targets.items():
        t = services.translator(language)
        try:
            await send_pages(bot, chat_id, text_for(t), t,
                             keyboard_for(t) if keyboard_for is not None else None)
        except BadRequest:
            raise  # the bot's own fault (bad HTML, too long): a bug to see
        except TelegramError as exc:
            log.warning("a workflow notice to chat %s was not delivered: %s", chat_id, exc)
            continue
        reached.append(chat_id)
    return reached
