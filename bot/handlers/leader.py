"""The leadership group: /summary, /task, /unit, /overdue, /export, /digest.

Leaders and admins ask in their private chat, or in a bound leadership group; in a group that is
not bound, and for anyone else, nothing is shown (strangers get no answer in a group at all).
Each handler parses its argument with one strict rule for numbers, reads the latest reports and
sends rendered pages.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.export import build_workbook, export_filename
from bot.handlers.common import (
    Caller,
    caller_of,
    echo,
    in_group,
    in_leadership_chat,
    refuse_unknown,
)
from bot.i18n import Translator
from bot.messages import reply, reply_file
from bot.render import (
    render_overdue,
    render_summary,
    render_task,
    render_unit,
    states,
)
from bot.services import Services, request_replan, services_of
from schedules.commands import FIRST_CYCLE, LAST_CYCLE, parse_number

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaderAsk:
    """A question from someone allowed to read summaries, with what the handler needs."""

    caller: Caller
    t: Translator
    message: Message
    services: Services


async def leader_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> LeaderAsk | None:
    """The ask if a leader or admin asks privately or in a bound leadership group; otherwise
    answer (never a stranger in a group) and None."""
    services = services_of(context)
    caller = await caller_of(update, services)
    message = update.effective_message
    if caller is None or message is None:
        return None
    t = caller.t
    if caller.role is None:
        await refuse_unknown(update, t)
        return None
    if not caller.is_leader:
        await reply(message, t.gettext(
            "Summaries are for the leadership group; /mytasks shows your units' tasks."), t)
        return None
    if in_group(update) and not await in_leadership_chat(update, services):
        await reply(message, t.gettext(
            "This group is not a leadership group: ask me in a private chat, or send /bind "
            "here to make it one."), t)
        return None
    return LeaderAsk(caller, t, message, services)


def cycle_argument(args: list[str] | None, services: Services) -> int | None:
    """The cycle year given as the only argument (``2026``, ``2026年``), the current one
    without argument, None if bad."""
    if not args:
        return services.cycle()
    return year_of(args[0]) if len(args) == 1 else None


def year_of(word: str) -> int | None:
    """A cycle year written ``2026``, ``２０２６`` or ``2026年``/``2026年度``; None otherwise."""
    return parse_number(word.removesuffix("度").removesuffix("年"), FIRST_CYCLE, LAST_CYCLE)


def split_year(args: list[str] | None, services: Services) -> tuple[list[str], int]:
    """The arguments without a trailing year, and that year (the current one without)."""
    words = list(args or [])
    if len(words) > 1:
        year = year_of(words[-1])
        if year is not None:
            return words[:-1], year
    return words, services.cycle()


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary [year]: counts and one line per task with its light."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await reply(message, t.gettext("Usage: /summary [year], e.g. /summary 2026."), t)
        return
    latest = await services.db(services.store.latest_reports, cycle)
    await reply(message, render_summary(t, services.timetable, cycle, latest,
                                        services.today()), t)


async def task_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/task N: every responsible unit with its latest report and latest note."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    last = len(services.timetable.tasks)
    args, cycle = split_year(context.args, services)
    number = parse_number(args[0], 1, 10**6) if len(args) == 1 else None
    if number is None:
        await reply(message, t.gettext("Usage: /task &lt;number&gt; [year], e.g. /task 7 or "
                                       "/task 7 2026; tasks are numbered 1 to {last}.").format(
            last=last), t)
        return
    if number > last:
        await reply(message, t.gettext("There is no task {number}; tasks are numbered 1 to "
                                       "{last}.").format(number=number, last=last), t)
        return
    task = services.timetable.task(number)
    latest = await services.db(services.store.latest_reports, cycle, task.id)
    notes = await services.db(services.store.latest_notes, cycle, task.id)
    await reply(message, render_task(t, services.timetable, task, cycle, latest,
                                     services.today(), notes), t)


async def unit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unit <id, name or alias>: that unit's tasks and reports."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    args, cycle = split_year(context.args, services)
    reference = " ".join(args)
    unit = services.timetable.find_unit(reference) if reference else None
    if unit is None:
        await reply(message, t.gettext(
            "Unknown unit {ref}. Give an id, a name or an alias, e.g. /unit "
            "ecology-environment.").format(
            ref="“" + echo(reference) + "”"), t)
        return
    latest = await services.db(services.store.latest_reports, cycle, None, unit.id)
    await reply(message, render_unit(t, services.timetable, unit, cycle, latest,
                                     services.today()), t)


async def overdue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/overdue [year]: who missed the cutoff and who is silent as it approaches.

    Without a year: the current cycle, and before it the previous cycle while anything in it is
    still overdue (in January, December's late units are still late).
    """
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await reply(message, t.gettext("Usage: /overdue [year], e.g. /overdue 2026."), t)
        return
    cycles = [cycle]
    if not context.args and cycle - 1 >= FIRST_CYCLE:
        previous = await services.db(services.store.latest_reports, cycle - 1)
        if any(state.overdue for state in states(services.timetable, cycle - 1, previous,
                                                 services.today())):
            cycles.insert(0, cycle - 1)
    parts = []
    for year in cycles:
        latest = await services.db(services.store.latest_reports, year)
        parts.append(render_overdue(t, services.timetable, year, latest, services.today()))
    await reply(message, "\n\n".join(parts), t)


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export [year]: the cycle's status as an Excel workbook."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await reply(message, t.gettext("Usage: /export [year], e.g. /export 2026."), t)
        return
    latest = await services.db(services.store.latest_reports, cycle)
    history = await services.db(services.store.reports_for_cycle, cycle)
    today = services.today()
    content = await asyncio.to_thread(build_workbook, t, services.timetable, cycle, latest,
                                      history, today)
    await reply_file(message, content, export_filename(cycle, today),
                     t.gettext("Status of cycle {year}, as of {date}.").format(
                         year=cycle, date=t.date(today)))


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/digest on|off: a leader's wish to get the leadership digests privately too."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    choice = (context.args or [""])[0].casefold()
    if in_group(update) or len(context.args or []) != 1 or choice not in ("on", "off"):
        await reply(message, t.gettext(
            "Usage, in a private chat: /digest on (the leadership digests come to you here too) "
            "or /digest off."), t)
        return
    wanted = choice == "on"
    if not await services.db(services.store.set_digests, ask.caller.telegram_user_id, wanted,
                             services.now()):
        await reply(message, t.gettext("Only enrolled leaders can ask for digests; you are an "
                                       "admin by configuration only."), t)
        return
    request_replan(context.application)
    await reply(message, t.gettext("Digests will come to you here too.") if wanted else
                t.gettext("Digests will no longer come here (the bound groups still get "
                          "them)."), t)
