"""Admins: /invite, /people, /revoke, /reload.

An admin enrols people with one-time deep links, lists and removes them, and reloads the
timetable file (a bad file changes nothing).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from html import escape
from pathlib import Path

from telegram import Update
from telegram.ext import ContextTypes
from telegram.helpers import create_deep_linked_url

from bot.handlers.common import (
    ROLE_TITLES,
    ROLES,
    Caller,
    known_caller,
    reply_pages,
)
from bot.i18n import translator
from bot.render import (
    render_people,
)
from bot.services import Services, request_replan, services_of
from schedules.loader import TimetableError, load_timetable

log = logging.getLogger(__name__)


async def admin_caller(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    """The caller if they are an admin; otherwise answer and None."""
    known = await known_caller(update, context)
    if known is None:
        return None
    caller, t = known
    if caller.role == "admin":
        return caller
    if update.effective_message is not None:
        await update.effective_message.reply_text(t.gettext("This command is for admins."))
    return None


async def invite(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/invite <unit> [contact|leader|admin]: a one-time deep link."""
    caller = await admin_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    args = list(context.args or [])
    role = "contact"
    if args and args[-1] in ROLES:
        role = args.pop()
    reference = " ".join(args)
    unit_id = None
    if role == "contact":
        unit = services.timetable.find_unit(reference) if reference else None
        if unit is None or unit.kind.value == "group":
            await message.reply_text(escape(t.gettext(
                "Usage: /invite <unit> [contact|leader|admin], e.g. /invite 生态环境局. The unit "
                "{ref!r} is unknown or a group; a contact belongs to one unit.").format(
                ref=reference)))
            return
        unit_id = unit.id
    created = await services.db(services.store.create_invite, unit_id, role,
                                caller.telegram_user_id, services.clock.now(),
                                invite_ttl(services))
    link = create_deep_linked_url(context.bot.username, created.code)
    await message.reply_text(t.gettext(
        "One-time enrolment link ({role}), valid until {date}:\n{link}\nA leader invitation "
        "opened in a group chat binds that chat to the leadership group.").format(
        role=t.gettext(ROLE_TITLES[role]), date=t.datetime(created.expires_at.astimezone(
            services.settings.zone)), link=escape(link)))


def invite_ttl(services: Services) -> dt.timedelta:
    """How long an invitation stays valid."""
    return dt.timedelta(days=services.settings.invite_ttl_days)


async def people(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/people [unit]: the enrolled people."""
    caller = await admin_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    unit_id = None
    if context.args:
        unit = services.timetable.find_unit(" ".join(context.args))
        if unit is None:
            await message.reply_text(t.gettext("Unknown unit {ref!r}.").format(
                ref=escape(" ".join(context.args))))
            return
        unit_id = unit.id
    found = await services.db(services.store.list_people, unit_id, None, False)
    await reply_pages(message, render_people(t, services.timetable, found), t)


async def revoke(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/revoke <telegram id>: deactivate a person (their reports stay)."""
    caller = await admin_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    if not context.args or not context.args[0].lstrip("-").isdigit():
        await message.reply_text(escape(t.gettext(
            "Usage: /revoke <telegram id>; /people shows the ids.")))
        return
    target = int(context.args[0])
    done = await services.db(services.store.deactivate_person, target, "revoked by admin",
                             services.clock.now(), caller.telegram_user_id)
    if done:
        request_replan(context.application)
        await message.reply_text(t.gettext(
            "Person {id} is no longer enrolled; their reports are kept.").format(id=target))
    else:
        await message.reply_text(t.gettext("No active person has the id {id}.").format(id=target))


async def reload_timetable(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reload: read the timetable file again; a bad file changes nothing."""
    caller = await admin_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return
    services = services_of(context)
    t = translator(caller.language)
    path = Path(services.settings.tasks_path)
    try:
        timetable = await asyncio.to_thread(load_timetable, path)
    except (OSError, TimetableError) as exc:
        problems = exc.problems if isinstance(exc, TimetableError) else [exc]
        await reply_pages(message, escape(t.gettext(
            "The timetable {path} was not reloaded; the bot keeps the one it had. Problems:")
            .format(path=path) + "\n" + "\n".join(str(p) for p in problems)), t)
        return
    known = {u.id for u in timetable.units}
    people = await services.db(services.store.list_people)
    orphans = sorted({p.unit_id for p in people if p.unit_id and p.unit_id not in known})
    if orphans:
        await message.reply_text(escape(t.gettext(
            "The timetable {path} was not reloaded: it drops units that still have enrolled "
            "contacts ({units}). Keep those units, or /revoke their contacts first.").format(
            path=path, units=", ".join(orphans))))
        return
    await services.db(services.store.sync_units,
                      [(u.id, u.name, u.kind.value) for u in timetable.units],
                      services.clock.now())
    services.timetable = timetable
    request_replan(context.application)
    await message.reply_text(t.gettext(
        "Timetable reloaded: {tasks} tasks, {units} units. Reminders are re-planned at the next "
        "run.").format(tasks=len(timetable.tasks), units=len(timetable.units)))
