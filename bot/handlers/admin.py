"""Admins: /invite, /invites, /cancel, /people, /revoke, /unbind, /reload, /audit — in a
private chat only.

An admin enrols people with one-time deep links (sent only in a private chat: a link posted in
a group is a link anyone there can use), lists the links still open and cancels one, is told of
every enrolment and every group bound, lists people and the bound leadership groups, removes a
person or one of a person's units, unbinds a group, reloads the timetable file (a bad file
changes nothing), and reads the workflow's audit trail (who did what, when).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Coroutine
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

from telegram import Message, Update
from telegram.ext import ContextTypes
from telegram.helpers import create_deep_linked_url

from bot.handlers.common import (
    ATTEMPT_WINDOW,
    ROLE_TITLES,
    ROLES,
    Caller,
    echo,
    in_group,
    known_caller,
    next_attempt,
    people_named,
)
from bot.i18n import Translator
from bot.menus import set_person_commands
from bot.messages import reply
from bot.render import render_audit, render_people, similar_units_text
from bot.services import Services, request_replan, services_of
from schedules.loader import TimetableError, load_timetable
from schedules.numbers import parse_number

log = logging.getLogger(__name__)

INVITES_ALLOWED = 30
"""Enrolment links an admin may make per hour in chat (``duban invite`` on the server has no
limit): enough to enrol a bureau's people in one sitting, few enough that a stolen admin
account cannot flood the office with valid links."""
TELEGRAM_ID_MAX = 2**53
"""Telegram user and chat ids fit in 52 bits (Bot API: "at most 52 significant bits")."""


async def admin_caller(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    """The caller if they are an admin in a private chat; otherwise answer and None."""
    caller = await known_caller(update, context)
    message = update.effective_message
    if caller is None or message is None:
        return None
    t = caller.t
    if not caller.is_admin:
        if not in_group(update):
            await reply(message, t.gettext("This command is for admins."), t)
        return None
    if in_group(update):
        await reply(message, t.gettext(
            "Admin commands work only in a private chat with me: enrolment links and people's "
            "ids are not for a group."), t)
        return None
    return caller


class AdminCall(NamedTuple):
    """What an admin command works with: the admin, their message, the services, their
    language's translator."""

    caller: Caller
    message: Message
    services: Services
    t: Translator


def admin_command(body: Callable[[AdminCall, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
                  ) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """A PTB callback ``(update, context)`` that runs ``body`` for an admin in a private chat
    (:func:`admin_caller`); anyone else gets :func:`admin_caller`'s answer."""

    @functools.wraps(body)
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        caller = await admin_caller(update, context)
        message = update.effective_message
        if caller is None or message is None:
            return
        await body(AdminCall(caller, message, services_of(context), caller.t), context)

    return callback


@admin_command
async def invite(call: AdminCall, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/invite <unit> [contact|leader|admin]: a one-time deep link."""
    caller, message, services, t = call
    args = list(context.args or [])
    role = "contact"
    if args and args[-1].casefold() in ROLE_WORDS:
        role = ROLE_WORDS[args.pop().casefold()]
    reference = " ".join(args)
    now = services.now()
    made = await services.db(services.store.invites_created, caller.telegram_user_id,
                             now - ATTEMPT_WINDOW)
    retry_at = next_attempt(made, INVITES_ALLOWED, now)
    if retry_at is not None:
        await reply(message, escape(t.gettext(
            "You have made {count} enrolment links in the last hour, the most allowed; the next "
            "one can be made at {time}. For many at once, use 'duban invite' on the server.")
            .format(count=len(made), time=t.moment(retry_at))), t)
        return
    unit_id = None
    if role == "contact":
        unit = services.timetable.find_unit(reference) if reference else None
        if unit is None or unit.kind.value == "group":
            await reply(message, escape(t.gettext(
                "Usage: /invite <unit> [contact|leader|admin], e.g. /invite "
                "ecology-environment or /invite leader.")) + "\n" + t.gettext(
                "{ref} is not a unit: give a department or town (not a group) by its id, name "
                "or alias; /people shows who is enrolled.").format(
                ref="“" + echo(reference) + "”"), t)
            return
        unit_id = unit.id
    elif args:
        await reply(message, escape(t.gettext(
            "A leader or admin belongs to no unit: send /invite leader or /invite admin.")), t)
        return
    created = await services.db(services.store.create_invite, unit_id, role,
                                caller.telegram_user_id, now, invite_ttl(services))
    link = create_deep_linked_url(context.bot.username, created.code)
    await reply(message, t.gettext(
        "One-time enrolment link ({role}), valid until {date}:\n{link}\nSend it to the person "
        "privately; whoever opens it first is enrolled.").format(
        role=t.gettext(ROLE_TITLES[role]), date=t.moment(created.expires_at),
        link=escape(link)), t)


INVITE_ID_LENGTH = 8
"""The first characters of an invitation's code that name it in /invites and /cancel."""


def invite_label(t: Translator, services: Services, role: str, unit_id: str | None) -> str:
    """What an invitation enrols as: a role, or a unit's contact."""
    if unit_id is None:
        return t.gettext(ROLE_TITLES[role])
    unit = services.timetable.find_unit(unit_id)
    name = unit_id if unit is None else (unit.name_en if t.language == "en" else unit.name)
    return t.gettext("a contact of {unit}").format(unit=escape(name))


@admin_command
async def open_invites(call: AdminCall, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/invites: the enrolment links that can still be used, and who made them."""
    _, message, services, t = call
    found = await services.db(services.store.open_invites, services.now())
    if not found:
        await reply(message, t.gettext("No enrolment link is open: every one was used, expired "
                                       "or cancelled."), t)
        return
    names = await people_named(services)
    lines = [escape(t.gettext("Open enrolment links ({count}); /cancel <id> cancels one:")
                    .format(count=len(found)))]
    for invite in found:
        lines.append(t.gettext("{id} · {what} · made by {who} on {made} · valid until "
                               "{until}").format(
            id=f"<code>{escape(invite.code[:INVITE_ID_LENGTH])}</code>",
            what=invite_label(t, services, invite.role, invite.unit_id),
            who=names.name(invite.created_by) if invite.created_by is not None
            else t.gettext("the server (duban invite)"),
            made=t.moment(invite.created_at, "short"), until=t.moment(invite.expires_at,
                                                                     "short")))
    await reply(message, "\n".join(lines), t)


_LINK_CODE = re.compile(r"[?&]start=([A-Za-z0-9_-]+)")


def invite_id(words: str) -> str:
    """The id or code /cancel is given: the id /invites shows, the code, or the whole link
    /invite printed, pasted as it comes (``https://t.me/<bot>?start=<code>``, ``t.me/…``
    without https, ``@t.me/…``, broken by spaces); "" for none."""
    joined = "".join(words.split()).lstrip("@")
    link = _LINK_CODE.search(joined)
    return link.group(1) if link else joined


@admin_command
async def cancel_invite(call: AdminCall, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel <id>: an open enrolment link can no longer be used."""
    caller, message, services, t = call
    args = list(context.args or [])
    wanted = invite_id(" ".join(args))
    if not wanted:
        await reply(message, escape(t.gettext(
            "Usage: /cancel <id>, with the id /invites shows or the link /invite printed, "
            "e.g. /cancel Ab3dE6gH.")), t)
        return
    args = [wanted]
    found = await services.db(services.store.cancel_invite, wanted, services.now(),
                              caller.telegram_user_id)
    if len(found) == 1:
        await reply(message, t.gettext(
            "Enrolment link {id} ({what}) is cancelled: opening it now says it has "
            "expired.").format(id=escape(found[0].code[:INVITE_ID_LENGTH]),
                               what=invite_label(t, services, found[0].role,
                                                 found[0].unit_id)), t)
    elif found:
        await reply(message, t.gettext(
            "{id} begins {count} open links: give more of the id.").format(
            id="“" + echo(args[0]) + "”", count=len(found)), t)
    else:
        await reply(message, t.gettext(
            "No open enrolment link has the id {id}; /invites lists them.").format(
            id="“" + echo(args[0]) + "”"), t)


ROLE_WORDS = {**{role: role for role in ROLES}, "联络员": "contact", "联系人": "contact",
              "领导": "leader", "管理员": "admin"}
"""The role words ``/invite`` takes, English or Chinese."""


def invite_ttl(services: Services) -> dt.timedelta:
    """How long an invitation stays valid (``DUBAN_INVITE_TTL_DAYS``)."""
    return dt.timedelta(days=services.settings.invite_ttl_days)


@admin_command
async def people(call: AdminCall, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/people [unit]: the enrolled people with their units, and the bound groups."""
    _, message, services, t = call
    unit = None
    if context.args:
        reference = " ".join(context.args)
        unit = services.timetable.find_unit(reference)
        if unit is None:
            await reply(message, t.gettext("Unknown unit {ref}.").format(
                ref="“" + echo(reference) + "”") + similar_units_text(
                t, services.timetable, reference), t)
            return
    if unit is None:
        found = await services.db(services.store.list_people, None, None, False)
    else:  # a unit's contacts, or those of a group's member units
        found = []
        for member in unit.members or (unit.id,):
            found += [p for p in await services.db(services.store.list_people, member)
                      if p not in found]
        if not found:
            await reply(message, t.gettext(
                "Nobody serves {unit} yet; /invite makes an enrolment link.").format(
                unit=escape(unit.name_en if t.language == "en" else unit.name)), t)
            return
    memberships = await services.db(services.store.memberships)
    units: dict[int, list[str]] = {}
    for membership in memberships:
        units.setdefault(membership.telegram_user_id, []).append(membership.unit_id)
    chats = await services.db(services.store.leadership_chats) if unit is None else []
    everyone = await services.db(services.store.list_people, None, None, False)
    names = {p.telegram_user_id: p.display_name for p in everyone}
    await reply(message, render_people(t, services.timetable, found, units, chats, names), t)


@admin_command
async def revoke(call: AdminCall, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/revoke <telegram id> [unit]: remove a person (reports stay), or one unit of theirs."""
    caller, message, services, t = call
    args = list(context.args or [])
    target = parse_number(args[0], 1, TELEGRAM_ID_MAX) if args else None
    if target is None:
        await reply(message, escape(t.gettext(
            "Usage: /revoke <telegram id> [unit]; /people shows the ids.")), t)
        return
    now = services.now()
    if len(args) > 1:
        unit = services.timetable.find_unit(" ".join(args[1:]))
        if unit is None:
            await reply(message, t.gettext("Unknown unit {ref}.").format(
                ref="“" + echo(" ".join(args[1:])) + "”") + similar_units_text(
                t, services.timetable, " ".join(args[1:])), t)
            return
        if not await services.db(services.store.end_membership, target, unit.id,
                                 "revoked by admin", now, caller.telegram_user_id):
            await reply(message, t.gettext("{id} is not a contact of {unit}.").format(
                id=target, unit=escape(unit.name)), t)
            return
        request_replan(context.application)
        await _refresh_menu(context, services, target)
        await reply(message, t.gettext("{id} no longer serves {unit}; their reports are kept.")
                    .format(id=target, unit=escape(unit.name)), t)
        return
    unbound = await services.db(services.store.revoke_person, target, "revoked by admin", now,
                                caller.telegram_user_id)
    if unbound is None:
        await reply(message, t.gettext("No active person has the id {id}.").format(id=target), t)
        return
    request_replan(context.application)
    await set_person_commands(context.application, target, None, t.language)
    text = t.gettext("Person {id} is no longer enrolled; their reports are kept.").format(
        id=target)
    if unbound:
        text += "\n" + t.gettext(
            "The groups they had bound are unbound too: {groups}. A leader can /bind them "
            "again.").format(groups=", ".join(escape(c.title or str(c.chat_id))
                                              for c in unbound))
    await reply(message, text, t)


async def _refresh_menu(context: ContextTypes.DEFAULT_TYPE, services: Services,
                        telegram_user_id: int) -> None:
    """Set a person's menu again after their role or units changed."""
    person = await services.db(services.store.get_person, telegram_user_id)
    if person is None or not person.active:
        return
    units = await services.db(services.store.units_of, telegram_user_id)
    language = services.translator(person.language).language
    await set_person_commands(context.application, telegram_user_id, person.role, language,
                              bool(units))


@admin_command
async def unbind(call: AdminCall, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unbind <chat id>: a group is no longer a leadership group."""
    caller, message, services, t = call
    args = list(context.args or [])
    chat_id = None
    if len(args) == 1 and args[0].startswith("-"):
        number = parse_number(args[0][1:], 1, TELEGRAM_ID_MAX * 1000)
        chat_id = -number if number is not None else None
    if chat_id is None:
        await reply(message, escape(t.gettext(
            "Usage: /unbind <chat id>, e.g. /unbind -1001234567890; /people lists the bound "
            "groups.")), t)
        return
    if not await services.db(services.store.unbind_chat, chat_id, services.now(),
                             caller.telegram_user_id):
        await reply(message, t.gettext("No bound group has the id {id}.").format(id=chat_id), t)
        return
    request_replan(context.application)
    await reply(message, t.gettext(
        "Group {id} is no longer a leadership group; it gets no more digests.").format(
        id=chat_id), t)


@admin_command
async def reload_timetable(call: AdminCall, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reload: read the timetable file again; a bad file changes nothing."""
    _, message, services, t = call
    path = Path(services.settings.tasks_path)
    try:
        timetable = await asyncio.to_thread(load_timetable, path)
    except (OSError, TimetableError) as exc:
        problems = ([p.translate(t.gettext) for p in exc.problems]
                    if isinstance(exc, TimetableError) else [str(exc)])
        await reply(message, escape(t.gettext(
            "The timetable {path} was not reloaded; the bot keeps the one it had. Problems:")
            .format(path=path) + "\n" + "\n".join(problems)), t)
        return
    known = {u.id for u in timetable.units}
    memberships = await services.db(services.store.memberships)
    orphans = sorted({m.unit_id for m in memberships if m.unit_id not in known})
    if orphans:
        await reply(message, escape(t.gettext(
            "The timetable {path} was not reloaded: it drops units that still have enrolled "
            "contacts ({units}). Keep those units, or /revoke their contacts first.").format(
            path=path, units=", ".join(orphans))), t)
        return
    await services.db(services.store.sync_units,
                      [(u.id, u.name, u.kind.value) for u in timetable.units], services.now())
    services.timetable = timetable
    request_replan(context.application)
    await reply(message, t.gettext(
        "Timetable reloaded: {tasks} tasks, {units} units. Reminders are re-planned at the next "
        "run.").format(tasks=len(timetable.tasks), units=len(timetable.units)), t)


AUDIT_LINES = 30
"""Entries /audit shows."""


@admin_command
async def audit(call: AdminCall, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/audit [task]: the newest workflow actions (reports, 收到, reviews, extensions, urges)."""
    _, message, services, t = call
    args = context.args or []
    task_id = parse_number(args[0], 1, 10**6) if len(args) == 1 else None
    if len(args) > 1 or (args and task_id is None):
        await reply(message, t.gettext("Usage: /audit [task number], e.g. /audit 7."), t)
        return
    entries = await services.db(services.store.workflow_log, AUDIT_LINES, task_id)
    await reply(message, render_audit(t, services.timetable, entries,
                                      await people_named(services), task_id), t)
