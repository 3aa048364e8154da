"""The leadership group: /summary, /task, /unit, /overdue, /export.

Leaders and admins may ask in their private chat; anyone in a bound leadership group chat may
ask there. Each handler parses its argument, reads the latest reports and sends rendered pages.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from html import escape

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.export import build_workbook, export_filename
from bot.handlers.common import (
    caller_of,
    in_leadership_chat,
    refuse_unknown,
    reply_pages,
)
from bot.i18n import Translator, translator
from bot.render import (
    render_overdue,
    render_summary,
    render_task,
    render_unit,
)
from bot.services import Services, services_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaderAsk:
    """A question from someone allowed to read summaries, with what the handler needs."""

    t: Translator
    message: Message
    services: Services


async def leader_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> LeaderAsk | None:
    """The ask if the caller may read summaries (a leader, an admin, or in the bound leadership
    chat); otherwise answer and None."""
    services = services_of(context)
    caller = await caller_of(update, services)
    message = update.effective_message
    if caller is None or message is None:
        return None
    t = translator(caller.language)
    if caller.is_leader or await in_leadership_chat(update, services):
        return LeaderAsk(t, message, services)
    if caller.role is None:
        await refuse_unknown(update, t)
    else:
        await message.reply_text(t.gettext(
            "Summaries are for the leadership group; /mytasks shows your unit's tasks."))
    return None


def cycle_argument(args: list[str] | None, services: Services) -> int | None:
    """The cycle year given as first argument, the current one without argument, None if bad."""
    if not args:
        return services.cycle()
    if args[0].isdigit() and 2019 <= int(args[0]) <= 2100:
        return int(args[0])
    return None


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary [year]: counts and one line per task with its light."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await message.reply_text(t.gettext("Usage: /summary [year], e.g. /summary 2026."))
        return
    latest = await services.db(services.store.latest_reports, cycle)
    await reply_pages(message, render_summary(t, services.timetable, cycle, latest,
                                              services.today()), t)


async def task_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/task N: every responsible unit with its latest report."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    if not context.args or not context.args[0].isdigit():
        await message.reply_text(escape(t.gettext("Usage: /task <number>, e.g. /task 7.")))
        return
    try:
        task = services.timetable.task(int(context.args[0]))
    except KeyError:
        await message.reply_text(t.gettext("There is no task {number}; tasks are numbered 1 to "
                                           "{last}.").format(number=context.args[0],
                                                             last=len(services.timetable.tasks)))
        return
    cycle = services.cycle()
    latest = await services.db(services.store.latest_reports, cycle, task.id)
    await reply_pages(message, render_task(t, services.timetable, task, cycle, latest,
                                           services.today()), t)


async def unit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unit <id, name or alias>: that unit's tasks and reports."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    reference = " ".join(context.args or [])
    unit = services.timetable.find_unit(reference) if reference else None
    if unit is None:
        await message.reply_text(t.gettext(
            "Unknown unit {ref!r}. Give an id, a name or an alias, e.g. /unit 生态环境局.").format(
            ref=escape(reference)))
        return
    cycle = services.cycle()
    latest = await services.db(services.store.latest_reports, cycle, None, unit.id)
    await reply_pages(message, render_unit(t, services.timetable, unit, cycle, latest,
                                           services.today()), t)


async def overdue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/overdue: who missed the cutoff and who is silent as it approaches."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = services.cycle()
    latest = await services.db(services.store.latest_reports, cycle)
    await reply_pages(message, render_overdue(t, services.timetable, cycle, latest,
                                              services.today()), t)


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export [year]: the cycle's status as an Excel workbook."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await message.reply_text(t.gettext("Usage: /export [year], e.g. /export 2026."))
        return
    latest = await services.db(services.store.latest_reports, cycle)
    history = await services.db(services.store.reports_for_cycle, cycle)
    today = services.today()
    content = await asyncio.to_thread(build_workbook, t, services.timetable, cycle, latest,
                                      history, today)
    await message.reply_document(content, filename=export_filename(cycle, today),
                                 caption=t.gettext("Status of cycle {year}, as of {date}.").format(
                                     year=cycle, date=t.date(today)))
