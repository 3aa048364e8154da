"""The leadership group: /summary, /task, /unit, /overdue, /review, /export, /scores,
/bulletin, /chart, /digest, and the workflow's buttons: review (审结 / 退回), extension
decisions, urging (催办).

Leaders and admins ask in their private chat, or in a bound leadership group; in a group that is
not bound, and for anyone else, nothing is shown (strangers get no answer in a group at all).
Each handler parses its argument with one strict rule for numbers, reads what was appended about
the cycle and sends rendered pages. A button checks the presser's role first, then reads its data
strictly, and is always answered; its data names what it is about but gives no authority.

Callback data (at most 64 bytes):

* ``v|<task>|<unit>|<cycle>|<c or r>``  confirm or return the unit's report of done
* ``x|<extension id>|<a or r>``          approve or reject an extension request
* ``u|<task>|<unit>|<cycle>``            urge the unit on the task

Returning a report and rejecting a request need a reason: the bot asks for it with a message
the leader replies to (:func:`comment_reply`, which runs before every other text handler).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html import escape
from typing import Any

from telegram import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.handlers.common import (
    Caller,
    answer_query,
    caller_of,
    confirm_press,
    echo,
    in_group,
    in_leadership_chat,
    known_caller,
    people_named,
    refuse_unknown,
    year_refusal,
    year_usage,
)
from bot.handlers.contact import contact_task
from bot.i18n import N_, Translator
from bot.messages import (
    reply,
    reply_file,
    report_keyboard,
    review_data,
    send_pages,
    urge_data,
)
from bot.notices import notify_admins, notify_unit, remember_notices
from bot.reminders import cycle_plan
from bot.render import (
    deadline_line,
    overdue_units,
    plain_unit_name,
    render_overdue,
    render_review_list,
    render_summary,
    render_task,
    render_unit,
    report_line,
    similar_units_text,
    states,
    unit_name,
)
from bot.reports.bulletin import render_bulletin
from bot.reports.charts import chart_filename, tasks_chart, units_chart
from bot.reports.packages import missing_package_text, missing_packages
from bot.reports.record import (
    CycleRecord,
    collect,
    unfollowed_cycle,
    unfollowed_cycle_text,
    unit_scores,
)
from bot.reports.scorecard import render_scores
from bot.services import Services, request_replan, services_of
from schedules.bulletin import select_bulletin
from schedules.commands import FIRST_CYCLE, looks_like_a_year, parse_cycle_year
from schedules.model import Timetable, UnitKind
from schedules.numbers import parse_number
from schedules.planning import next_reminder
from schedules.text import visible_text
from schedules.workflow import (
    STALE_REVIEW,
    ExtensionState,
    ReviewDecision,
    TaskView,
    UnitState,
    extension_decision_refusal,
    finished_run,
    review_refusal,
    task_view,
    unit_state,
    urge_refusal,
)
from schedules.years import glue_year_suffix

LATE_LAST_CYCLE_UNTIL = 3
"""/overdue without a year also lists last cycle's late units until the end of this month
(March): December's late units are still late in January."""
MAX_BUTTONS = 90
"""Buttons under one answer (Telegram allows 100)."""
PROMPTS_KEPT = 20
"""Open questions for a reason remembered per leader; older ones expire."""

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
            "Summaries are for the leadership group; /mytasks shows your units' tasks."
            ) if not in_group(update) else t.gettext(
            "Summaries are for the leadership group; ask me in a private chat for your units' "
            "tasks (/mytasks)."), t)
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
    args = glue_year_suffix(args)
    if not args:
        return services.cycle()
    return year_of(args[0]) if len(args) == 1 else None


def year_of(word: str) -> int | None:
    """A cycle year written ``2026``, ``２０２６`` or ``2026年``/``2026年度``; None otherwise."""
    return parse_cycle_year(word)


def split_year(args: list[str] | None, services: Services) -> tuple[list[str], int]:
    """The arguments without a trailing year, and that year (the current one without)."""
    words = glue_year_suffix(args)
    if len(words) > 1:
        year = year_of(words[-1])
        if year is not None:
            return words[:-1], year
    return words, services.cycle()


async def bind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/bind in a group: an enrolled, active leader makes it a leadership group."""
    services = services_of(context)
    message = update.effective_message
    chat = update.effective_chat
    caller = await known_caller(update, context)  # a stranger: one sentence privately
    if message is None or chat is None or caller is None:
        return
    t = caller.t
    if not in_group(update):
        await reply(message, t.gettext(
            "Send /bind in the group you want to make a leadership group."), t)
        return
    if not caller.is_leader:
        await reply(message, t.gettext("Only an enrolled leader can bind a group."), t)
        return
    await services.db(services.store.bind_chat, chat.id, visible_text(chat.title or ""),
                      caller.telegram_user_id, services.now())
    request_replan(context.application)
    await reply(message, t.gettext(
        "This chat is now a leadership group: the leadership digests come here, and leaders "
        "can ask /summary here. An admin can /unbind it."), t)
    who = escape(caller.display_name)
    await notify_admins(context.bot, services, lambda r: "🔗 " + r.gettext(
        "{who} ({id}) bound the group {title} ({chat}) as a leadership group: everyone in it "
        "reads the digests and what leaders ask there. To undo it: /unbind {chat}").format(
        who=who, id=caller.telegram_user_id, title=escape(visible_text(chat.title or "") or "—"),
        chat=chat.id),
        skip=caller.telegram_user_id)


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary [year]: counts and one line per task with its light."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await reply(message, year_usage(
            t, N_("Usage: /summary [year], e.g. /summary 2026."), context.args), t)
        return
    facts = await services.db(services.store.cycle_facts, cycle)
    await reply(message, render_summary(t, services.timetable, cycle, facts,
                                        services.today()), t)


async def task_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/task N: the consolidated status, every unit's input, review and urge buttons.

    A contact (not a leader) of a unit with a duty on the task sees it as their unit does.
    """
    services = services_of(context)
    caller = await caller_of(update, services)
    message = update.effective_message
    args, cycle = split_year(context.args, services)
    if (caller is not None and message is not None and caller.units and not caller.is_leader
            and not in_group(update)):
        number = await _task_number(args, services, message, caller.t)
        if number is not None:
            await contact_task(update, context, caller, message, number)
        return
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    number = await _task_number(args, services, message, t)
    if number is None:
        return
    task = services.timetable.task(number)
    facts = await services.db(services.store.cycle_facts, cycle, task.id)
    urges = {u.unit_id: (u.urged_by, u.urged_at)
             for u in await services.db(services.store.urges, cycle, task.id)}
    today = services.today()
    view = task_view(services.timetable, task, facts, today)
    await reply(message, render_task(t, services.timetable, task, cycle, facts, today,
                                     people=await people_named(services), urges=urges,
                                     view=view), t,
                task_keyboard(t, services.timetable, view))


async def _task_number(args: list[str] | None, services: Services, message: Message,
                       t: Translator) -> int | None:
    """/task's one argument, a task number; None after telling why it is not one."""
    args = args or []
    last = len(services.timetable.tasks)
    if len(args) == 2 and looks_like_a_year(args[1]):  # a year out of range (split_year)
        await reply(message, year_refusal(t, args[1]), t)
        return None
    number = parse_number(args[0], 1, 10**6) if len(args) == 1 else None
    if number is None:
        await reply(message, t.gettext("Usage: /task &lt;number&gt; [year], e.g. /task 7 or "
                                       "/task 7 2026; tasks are numbered 1 to {last}.").format(
            last=last), t)
        return None
    if number > last:
        await reply(message, t.gettext("There is no task {number}; tasks are numbered 1 to "
                                       "{last}.").format(number=number, last=last), t)
        return None
    return number


def task_keyboard(t: Translator, timetable: Timetable,
                  view: TaskView) -> InlineKeyboardMarkup | None:
    """A leader's buttons under /task N: review each report of done, urge each unit not done."""
    def review_rows() -> Iterator[list[InlineKeyboardButton]]:
        for state in view.awaiting_review:
            name = plain_unit_name(t, timetable.unit(state.unit_id))
            yield [InlineKeyboardButton(t.gettext("✅ confirm {unit}").format(unit=name),
                                        callback_data=review_data(view.task_id, state.unit_id,
                                                                  view.cycle, "c",
                                                                  _shown(state))),
                   InlineKeyboardButton(t.gettext("↩️ return {unit}").format(unit=name),
                                        callback_data=review_data(view.task_id, state.unit_id,
                                                                  view.cycle, "r",
                                                                  _shown(state)))]

    def urge_rows() -> Iterator[list[InlineKeyboardButton]]:
        urgeable = [s for s in view.units if urge_refusal(s) is None]
        for i in range(0, len(urgeable), 2):
            yield [InlineKeyboardButton(
                t.gettext("📣 urge {unit}").format(
                    unit=plain_unit_name(t, timetable.unit(s.unit_id))),
                callback_data=urge_data(view.task_id, s.unit_id, view.cycle))
                for s in urgeable[i:i + 2]]

    # made only up to the cap (a task of 1,000 units would make 1,500 buttons for 90 shown)
    rows = _capped(itertools.chain(review_rows(), urge_rows()))
    return InlineKeyboardMarkup(rows) if rows else None


def _shown(state: UnitState) -> int | None:
    """The id of the report a review button is about (the one the leader sees)."""
    return state.report.id if state.report is not None else None


def _capped(rows: Iterable[list[InlineKeyboardButton]]) -> list[list[InlineKeyboardButton]]:
    kept: list[list[InlineKeyboardButton]] = []
    count = 0
    for row in rows:
        if count + len(row) > MAX_BUTTONS:
            break
        kept.append(row)
        count += len(row)
    return kept


async def unit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unit <id, name or alias>: that unit's tasks and reports."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    args, cycle = split_year(context.args, services)
    reference = " ".join(args)
    unit = services.timetable.find_unit(reference) if reference else None
    if unit is None and len(args) > 1 and looks_like_a_year(args[-1]):
        unit = services.timetable.find_unit(" ".join(args[:-1]))
        if unit is not None:  # the unit followed by a year out of range
            await reply(message, year_refusal(t, args[-1]), t)
            return
    if unit is None:
        await reply(message, t.gettext(
            "Unknown unit {ref}. Give an id, a name or an alias, e.g. /unit "
            "ecology-environment.").format(
            ref="“" + echo(reference) + "”") + similar_units_text(
            t, services.timetable, reference), t)
        return
    # A unit's own reports are enough, except for a group's own tasks (their consolidated state).
    facts = await services.db(services.store.cycle_facts, cycle, None,
                              None if unit.kind is UnitKind.GROUP else unit.id)
    await reply(message, render_unit(t, services.timetable, unit, cycle, facts,
                                     services.today()), t)


async def overdue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/overdue [year]: who missed the cutoff (a 催办 button each) and who is silent as it
    approaches.

    Without a year: the current cycle, and before it the previous cycle while anything in it is
    still overdue (in January, December's late units are still late).
    """
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await reply(message, year_usage(
            t, N_("Usage: /overdue [year], e.g. /overdue 2026."), context.args), t)
        return
    today = services.today()
    timetable = services.timetable
    previous = cycle - 1
    cycles = [previous, cycle] if (not context.args and today.month <= LATE_LAST_CYCLE_UNTIL
                                   and previous >= FIRST_CYCLE) else [cycle]
    parts: list[str] = []
    buttons: list[InlineKeyboardButton] = []
    for year in cycles:
        facts = await services.db(services.store.cycle_facts, year)
        late = overdue_units(states(timetable, year, facts, today))
        if year != cycle:
            # Last cycle's units still late, among those the bot followed (reminded or
            # reported): a cycle from before the bot was deployed is not listed.
            followed = (await services.db(services.store.reminded_pairs, year)
                        | set(facts.reports))
            late = [s for s in late if (s.task_id, s.unit_id) in followed]
            if not late:
                continue
            parts.append(render_overdue(t, timetable, year, facts, today,
                                        only={(s.task_id, s.unit_id) for s in late}))
            buttons += [InlineKeyboardButton(
                t.gettext("📣 urge {unit} ({number}, {year})").format(
                    unit=plain_unit_name(t, timetable.unit(s.unit_id)), number=s.task_id,
                    year=year),
                callback_data=urge_data(s.task_id, s.unit_id, year)) for s in late]
            continue
        parts.append(render_overdue(t, timetable, year, facts, today))
        buttons += [InlineKeyboardButton(
            t.gettext("📣 urge {unit} ({number})").format(
                unit=plain_unit_name(t, timetable.unit(s.unit_id)), number=s.task_id),
            callback_data=urge_data(s.task_id, s.unit_id, year)) for s in late]
    rows = _capped([buttons[i:i + 2] for i in range(0, len(buttons), 2)])
    await reply(message, "\n\n".join(parts), t, InlineKeyboardMarkup(rows) if rows else None)


async def review_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/review: every report of done awaiting review, with confirm and return buttons."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(context.args, services)
    if cycle is None:
        await reply(message, year_usage(
            t, N_("Usage: /review [year], e.g. /review 2026."), context.args), t)
        return
    facts = await services.db(services.store.cycle_facts, cycle)
    text, waiting = render_review_list(t, services.timetable, cycle, facts, services.today())
    rows = _capped([[
        InlineKeyboardButton(t.gettext("✅ {n}").format(n=number),
                             callback_data=review_data(s.task_id, s.unit_id, cycle, "c",
                                                       _shown(s))),
        InlineKeyboardButton(t.gettext("↩️ {n}").format(n=number),
                             callback_data=review_data(s.task_id, s.unit_id, cycle, "r",
                                                       _shown(s)))]
        for number, s in enumerate(waiting, start=1)])
    await reply(message, text, t, InlineKeyboardMarkup(rows) if rows else None)


async def cycle_record(ask: LeaderAsk, args: list[str] | None, usage: str
                       ) -> tuple[int, CycleRecord] | None:
    """The cycle a report command (/export, /scores, /bulletin, /chart) names and what was
    recorded about it; otherwise the answer is given (``usage``, an ``N_``-marked text, for
    arguments that are no year; the refusal of a cycle nothing was recorded in) and None."""
    t, message, services = ask.t, ask.message, ask.services
    cycle = cycle_argument(args, services)
    if cycle is None:
        await reply(message, year_usage(t, usage, args), t)
        return None
    record = await services.db(collect, services.store, cycle)
    if unfollowed_cycle(record, services.cycle()):
        await reply(message, unfollowed_cycle_text(t, cycle, services.cycle()), t)
        return None
    return cycle, record


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export [year]: the cycle's ledger (台账) as an Excel workbook."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    found = await cycle_record(ask, context.args,
                               N_("Usage: /export [year], e.g. /export 2026."))
    if found is None:
        return
    cycle, data = found
    today = services.today()
    # imported here: openpyxl (and numpy, which it loads) is ~25 MiB a bot that never
    # exports would keep resident (docs/performance.md, section 4)
    from bot.reports.ledger import build_workbook, ledger_filename

    content = await asyncio.to_thread(build_workbook, t, services.timetable, data, today)
    await reply_file(message, content, ledger_filename(cycle, today),
                     t.gettext("Ledger (台账) of cycle {year}, as of {date}.").format(
                         year=cycle, date=t.date(today)))


async def scores(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/scores [year]: each unit's scorecard (考评) of the cycle, paged."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    asked = await cycle_record(ask, context.args,
                               N_("Usage: /scores [year], e.g. /scores 2026."))
    if asked is None:
        return
    cycle, record = asked
    today = services.today()
    found = unit_scores(services.timetable, record, today, t.zone)
    await reply(message, render_scores(t, services.timetable, cycle, found, today), t)


async def bulletin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/bulletin [year]: a draft bulletin (通报) on the cycle, worded to be forwarded."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    asked = await cycle_record(ask, context.args,
                               N_("Usage: /bulletin [year], e.g. /bulletin 2026."))
    if asked is None:
        return
    _, record = asked
    today = services.today()
    found = unit_scores(services.timetable, record, today, t.zone)
    chosen = select_bulletin(services.timetable, record.facts, found,
                             [(u.task_id, u.unit_id) for u in record.urges], today)
    await reply(message, render_bulletin(t, services.timetable, chosen), t)


async def chart(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/chart [year]: the cycle's progress charts (PNG), per task and per unit."""
    ask = await leader_ask(update, context)
    if ask is None:
        return
    t, message, services = ask.t, ask.message, ask.services
    if missing_packages("matplotlib"):
        log.error("/chart: matplotlib is not installed (pip install -e .)")
        await reply(message, missing_package_text(t, "matplotlib"), t)
        return
    found = await cycle_record(ask, context.args,
                               N_("Usage: /chart [year], e.g. /chart 2026."))
    if found is None:
        return
    cycle, record = found
    facts, today = record.facts, services.today()
    for kind, draw, caption in (
            ("tasks", tasks_chart, t.gettext("Cycle {year} per task, as of {date}.")),
            ("units", units_chart, t.gettext("Cycle {year} per unit, as of {date}."))):
        drawn = await asyncio.to_thread(draw, t, services.timetable, cycle, facts, today)
        text = caption.format(year=cycle, date=t.date(today))
        if drawn.problem:
            text += "\n" + drawn.problem
        if not await reply_file(message, drawn.png, chart_filename(cycle, kind, today), text):
            return


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


# -- the workflow's buttons --------------------------------------------------------------------
@dataclass(frozen=True)
class LeaderPress:
    """A leader's button press where leaders act, with what the handler needs.

    The query is *not* answered yet: the handler answers it.
    """

    caller: Caller
    query: CallbackQuery
    message: Message
    fields: list[str]
    services: Services
    t: Translator


async def leader_press(update: Update, context: ContextTypes.DEFAULT_TYPE
                       ) -> LeaderPress | None:
    """The role first: a leader or admin, privately or in a bound leadership group; anyone
    else's press is answered "this button is not for you" and goes no further."""
    query = update.callback_query
    assert query is not None and query.data is not None
    services = services_of(context)
    caller = await caller_of(update, services)
    message = query.message if isinstance(query.message, Message) else None
    allowed = (caller is not None and caller.is_leader and message is not None
               and (not in_group(update) or await in_leadership_chat(update, services)))
    if not allowed or caller is None or message is None:
        await answer_query(query, caller.t.gettext("This button is not for you.")
                           if caller is not None else None)
        return None
    return LeaderPress(caller, query, message, query.data.split("|")[1:], services, caller.t)


async def _unit_part(press: LeaderPress) -> UnitState | None:
    """The (task, unit, cycle) a button names, read strictly, as it stands now; None if the
    data do not fit (the query is then answered)."""
    fields, services = press.fields, press.services
    task_id = parse_number(fields[0], 1, 10**6) if len(fields) >= 3 else None
    cycle = (parse_number(fields[2], FIRST_CYCLE, services.cycle())
             if task_id is not None else None)
    timetable = services.timetable
    if task_id is None or cycle is None or task_id > len(timetable.tasks):
        await answer_query(press.query, press.t.gettext("This button has expired."))
        return None
    task = timetable.task(task_id)
    if fields[1] not in {a.unit_id for a in timetable.responsible_units(task)}:
        await answer_query(press.query, press.t.gettext("This button has expired."))
        return None
    facts = await services.db(services.store.cycle_facts, cycle, task_id, fields[1])
    return unit_state(timetable, task, fields[1], facts, services.today())


def _refusal_text(t: Translator, timetable: Timetable, refusal: str, state: UnitState) -> str:
    return t.gettext(refusal).format(number=state.task_id, year=state.cycle,
                                     unit=unit_name(t, timetable.unit(state.unit_id)))


async def review_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm (审结) or return (退回) a unit's report of done (``v|task|unit|cycle|c or r``)."""
    press = await leader_press(update, context)
    if press is None:
        return
    if len(press.fields) not in (4, 5) or press.fields[3] not in ("c", "r"):
        await answer_query(press.query, press.t.gettext("This button has expired."))
        return
    state = await _unit_part(press)
    if state is None:
        return
    t, services = press.t, press.services
    timetable = services.timetable
    if state.unit_id in press.caller.units:  # nobody reviews their own unit's report
        await answer_query(press.query)
        await reply(press.message, t.gettext(
            "You are a contact of {unit} yourself, so you cannot confirm or return its report "
            "on task {number}: another leader must review it.").format(
            unit=unit_name(t, timetable.unit(state.unit_id)), number=state.task_id), t)
        return
    refusal = review_refusal(state, getattr(state.report, "id", None) or 0)
    if refusal is None and len(press.fields) == 5:
        shown = parse_number(press.fields[4], 1, 2**62)
        history = await services.db(services.store.report_history, state.task_id,
                                    state.unit_id, state.cycle)
        if shown not in {r.id for r in finished_run(history)}:
            refusal = STALE_REVIEW  # another report came in since this one was shown
    if refusal is not None or state.report is None or state.report.id is None:
        await answer_query(press.query)
        await reply(press.message, _refusal_text(t, timetable, refusal or "", state), t)
        return
    if press.fields[3] == "r":
        await answer_query(press.query)
        await ask_reason(context, press, "return", {
            "task": state.task_id, "unit": state.unit_id, "cycle": state.cycle,
            "report": state.report.id},
            t.gettext("Reply to this message with what {unit} must add or correct on task "
                      "{number}: it goes back to the unit and the task is open again.").format(
                unit=unit_name(t, timetable.unit(state.unit_id)), number=state.task_id))
        return
    review = await services.db(services.store.add_review, state.report.id,
                               ReviewDecision.CONFIRMED.value, "",
                               press.caller.telegram_user_id, services.now())
    await answer_query(press.query, t.gettext("Confirmed.") if review else None)
    if review is None:
        await reply(press.message, t.gettext(
            "This report was reviewed already, or a newer one came in: /task {number} shows "
            "where it stands.").format(number=state.task_id), t)
        return
    await _confirmed(context, press.caller, press.message, state)


async def _confirmed(context: ContextTypes.DEFAULT_TYPE, caller: Caller, message: Message,
                     state: UnitState) -> None:
    t, services = caller.t, services_of(context)
    timetable = services.timetable
    unit = timetable.unit(state.unit_id)
    who = escape(caller.display_name)
    now = services.now()
    await notify_unit(context.bot, services, state.unit_id, lambda r: "🟢 " + r.gettext(
        "{who} confirmed task {number} ({year}) done for {unit} on {when}: it is closed "
        "(销号).").format(who=who, number=state.task_id, year=state.cycle,
                        unit=unit_name(r, unit), when=r.moment(now, "short")),
        sent=remember_notices(services, state.task_id, state.unit_id, state.cycle,
                              "confirmed"))
    await reply(message, "🟢 " + t.gettext(
        "Task {number} confirmed done for {unit} by {who}.").format(
        number=state.task_id, unit=unit_name(t, unit), who=who), t)


async def extension_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Approve or reject an extension request (``x|<extension id>|<a or r>``)."""
    press = await leader_press(update, context)
    if press is None:
        return
    t, services = press.t, press.services
    fields = press.fields
    extension_id = parse_number(fields[0], 1, 2**62) if len(fields) == 2 else None
    extension = (await services.db(services.store.get_extension, extension_id)
                 if extension_id is not None and fields[1] in ("a", "r") else None)
    if extension is None or extension_id is None:
        await answer_query(press.query, t.gettext("This button has expired."))
        return
    refusal = extension_decision_refusal(extension)
    if refusal is not None:
        await answer_query(press.query, t.gettext(refusal))
        return
    if fields[1] == "r":
        await answer_query(press.query)
        await ask_reason(context, press, "reject", {"extension": extension_id},
                         t.gettext("Reply to this message with the reason for rejecting the "
                                   "extension of task {number} for {unit}: the unit is told "
                                   "why.").format(number=extension.task_id, unit=unit_name(
                                       t, services.timetable.unit(extension.unit_id))))
        return
    decided = await services.db(services.store.decide_extension, extension_id, True,
                                press.caller.telegram_user_id, "", services.now())
    if decided is None:
        await confirm_press(press.query, t.gettext(
            "This extension request has already been decided."), t)
        return
    await answer_query(press.query, t.gettext("Approved."))
    request_replan(context.application)  # the unit's reminders move to the new cutoff
    await _extension_decided(context, press.caller, press.message, decided)


async def _extension_decided(context: ContextTypes.DEFAULT_TYPE, caller: Caller,
                             message: Message, extension: Any) -> None:
    t, services = caller.t, services_of(context)
    unit = services.timetable.unit(extension.unit_id)
    who = escape(caller.display_name)
    approved = extension.state == ExtensionState.APPROVED
    if approved:
        def notice(r: Translator) -> str:
            return "📅 " + r.gettext(
                "{who} approved the extension of task {number} ({year}) for {unit}: the new "
                "due date is {date}.").format(who=who, number=extension.task_id,
                                             year=extension.cycle, unit=unit_name(r, unit),
                                             date=r.date(extension.due_date))
        mine = "📅 " + t.gettext("Extension of task {number} for {unit} to {date} approved.")
    else:
        def notice(r: Translator) -> str:
            return "❌ " + r.gettext(
                "{who} rejected the extension of task {number} ({year}) for {unit}: "
                "{reason}. The due date stays.").format(
                who=who, number=extension.task_id, year=extension.cycle,
                unit=unit_name(r, unit), reason=escape(extension.decision_comment))
        mine = "❌ " + t.gettext("Extension of task {number} for {unit} to {date} rejected.")
    await notify_unit(context.bot, services, extension.unit_id, notice,
                      sent=remember_notices(services, extension.task_id, extension.unit_id,
                                            extension.cycle, "extension"))
    await reply(message, mine.format(number=extension.task_id, unit=unit_name(t, unit),
                                           date=t.date(extension.due_date)), t)


async def urge_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """催办: the unit's contacts get an urgent message (``u|<task>|<unit>|<cycle>``)."""
    press = await leader_press(update, context)
    if press is None:
        return
    if len(press.fields) != 3:
        await answer_query(press.query, press.t.gettext("This button has expired."))
        return
    state = await _unit_part(press)
    if state is None:
        return
    t, services = press.t, press.services
    timetable = services.timetable
    unit = timetable.unit(state.unit_id)
    refusal = urge_refusal(state)
    if refusal is not None:
        await answer_query(press.query)
        await reply(press.message, _refusal_text(t, timetable, refusal, state), t)
        return
    if not await services.db(services.store.contacts_for_unit, state.unit_id):
        # nobody to urge: record nothing, so the day's one urge stays for when someone enrols
        await answer_query(press.query)
        await reply(press.message, t.gettext(
            "{unit} has no enrolled contact, so nobody can be urged: /invite a contact "
            "first.").format(unit=unit_name(t, unit)), t)
        return
    now = services.now()
    urge = await services.db(services.store.urge, state.task_id, state.unit_id, state.cycle,
                             services.today(), press.caller.telegram_user_id, now)
    if urge is None:
        await confirm_press(press.query, t.gettext(
            "{unit} was urged on this task today already.").format(
            unit=plain_unit_name(t, unit)), t)
        return
    await answer_query(press.query)
    task = timetable.task(state.task_id)
    who = escape(press.caller.display_name)
    reached = await notify_unit(
        context.bot, services, state.unit_id, lambda r: "📣 <b>" + r.gettext(
            "Urgent (催办): task {number}").format(number=task.id) + "</b>\n" + r.gettext(
            "{who} urges {unit} on task {number}, {title}, on {when}.").format(
            who=who, unit=unit_name(r, unit), number=task.id, title=escape(task.title),
            when=r.moment(now, "short")) + "\n" + deadline_line(r, state, task) + "\n"
            + r.gettext("Latest report: {report}").format(
                report=report_line(r, state.report, state=state)) + "\n"
            + r.gettext("Please report now: press a status, or /extend if you need more "
                        "time."),
        lambda r: report_keyboard(r, task.id, state.cycle, state.unit_id),
        sent=remember_notices(services, task.id, state.unit_id, state.cycle, "urged"))
    text = "📣 " + t.gettext("{unit} urged on task {number}.").format(
        unit=unit_name(t, unit), number=task.id)
    if not reached:
        text += " " + t.gettext("Nobody serving it could be reached: /invite a contact.")
    await reply(press.message, text, t)


# -- reasons, asked for with a message to reply to ------------------------------------------
async def ask_reason(context: ContextTypes.DEFAULT_TYPE, press: LeaderPress, kind: str,
                     about: dict[str, Any], question: str) -> None:
    """Ask the leader for a reason; their reply to the question finishes the action.

    In a group the question names the leader, so that only their client opens the reply box
    (``selective``); only their reply is read.
    """
    t = press.t
    if press.message.chat.type != "private":
        caller = press.caller
        question = (f'<a href="tg://user?id={caller.telegram_user_id}">'
                    f"{escape(caller.display_name)}</a> " + question)
    sent = await send_pages(press.message.get_bot(), press.message.chat_id, question, t,
                            ForceReply(selective=True))
    prompts: dict[str, dict[str, Any]] = context.user_data.setdefault(  # type: ignore[union-attr]
        "reason_prompts", {})
    while len(prompts) >= PROMPTS_KEPT:
        prompts.pop(next(iter(prompts)))
    prompts[f"{press.message.chat_id}:{sent}"] = {"kind": kind, **about}


async def comment_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A leader's reply to a question for a reason: return the report, or reject the request.

    Runs before every other handler; anything that is not such a reply goes on to them.
    """
    message = update.message
    if message is None or message.reply_to_message is None or not message.text:
        return
    prompts: dict[str, dict[str, Any]] = (context.user_data or {}).get("reason_prompts", {})
    key = f"{message.chat_id}:{message.reply_to_message.message_id}"
    if key not in prompts:
        return
    services = services_of(context)
    caller = await caller_of(update, services)
    if caller is None or not caller.is_leader or (
            in_group(update) and not await in_leadership_chat(update, services)):
        return
    about = prompts.pop(key)
    comment = visible_text(message.text)
    if about["kind"] == "return":
        await _return(context, caller, message, about, comment)
    else:
        await _reject(context, caller, message, about, comment)
    raise ApplicationHandlerStop


async def _return(context: ContextTypes.DEFAULT_TYPE, caller: Caller, message: Message,
                  about: dict[str, Any], comment: str) -> None:
    t, services = caller.t, services_of(context)
    timetable = services.timetable
    review = await services.db(services.store.add_review, about["report"],
                               ReviewDecision.RETURNED.value, comment,
                               caller.telegram_user_id, services.now())
    if review is None:
        await reply(message, t.gettext(
            "This report was reviewed already, or a newer one came in: /task {number} shows "
            "where it stands.").format(number=about["task"]), t)
        return
    task = timetable.task(about["task"])
    unit = timetable.unit(about["unit"])
    who = escape(caller.display_name)
    upcoming = next_reminder(await cycle_plan(services, about["cycle"]), task.id, unit.id,
                             services.now())

    def next_step(r: Translator) -> str:
        if upcoming is None:
            return r.gettext("The task is open again: report when it is done. No further "
                             "reminder is planned for it this cycle.")
        return r.gettext("The task is open again: report when it is done. Next reminder: "
                         "{date}.").format(date=r.day(upcoming.at))

    await notify_unit(
        context.bot, services, unit.id, lambda r: "↩️ " + r.gettext(
            "{who} returned task {number} ({year}) to {unit}: {comment}").format(
            who=who, number=task.id, year=about["cycle"], unit=unit_name(r, unit),
            comment=escape(comment)) + "\n" + next_step(r),
        lambda r: report_keyboard(r, task.id, about["cycle"], unit.id),
        sent=remember_notices(services, task.id, unit.id, about["cycle"], "returned"))
    await reply(message, "↩️ " + t.gettext(
        "Task {number} returned to {unit}; they have your comment.").format(
        number=task.id, unit=unit_name(t, unit)), t)


async def _reject(context: ContextTypes.DEFAULT_TYPE, caller: Caller, message: Message,
                  about: dict[str, Any], comment: str) -> None:
    t, services = caller.t, services_of(context)
    decided = await services.db(services.store.decide_extension, about["extension"], False,
                                caller.telegram_user_id, comment, services.now())
    if decided is None:
        await reply(message, t.gettext(
            "This extension request has already been decided."), t)
        return
    await _extension_decided(context, caller, message, decided)

