"""Text for Telegram: pure functions from domain and stored data to HTML-escaped strings.

Nothing here sends anything; handlers and the reminder dispatcher call these and send the
result. Every user-supplied or data-file string is escaped with :func:`html.escape` because the
bot's default parse mode is HTML. Every view shows the workflow's lights with the one legend of
:data:`schedules.workflow.LEGEND` (docs/workflow.md).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape, unescape
from typing import Protocol

from bot.i18n import N_, Translator
from schedules.model import SIMILAR_UNITS, Role, Task, Timetable, Unit, UnitKind
from schedules.progress import ReportLike
from schedules.text import visible_text
from schedules.workflow import (
    LEGEND,
    PHASE_LABELS,
    CycleFacts,
    Light,
    Phase,
    TaskView,
    UnitState,
    cycle_views,
    task_view,
    unit_state,
)

MESSAGE_LIMIT = 4000
"""Visible characters per page (UTF-16 code units, as Telegram counts): Telegram's limit is
4,096 after entity parsing; the rest is room for the page footer."""
NOTE_PREVIEW = 200
"""Characters of a note shown in acknowledgements and lists; the full note is in /task and the
export."""
ECHO_PREVIEW = 40
"""Characters of a user's argument repeated in an error message."""

STATUS_LABELS = {
    "done": N_("done"),
    "in_progress": N_("in progress"),
    "blocked": N_("blocked"),
    "not_applicable": N_("not applicable"),
}
STATUS_ICONS = {"done": Light.AWAITING_REVIEW.value, "in_progress": Light.DUE_SOON.value,
                "blocked": Light.LATE.value, "not_applicable": Light.AWAITING_REVIEW.value}
"""A report's light before its unit's state is known: done and n/a await a leader's review."""
ROLE_LABELS = {
    Role.LEAD: N_("lead"),
    Role.JOINT: N_("joint"),
    Role.COOPERATING: N_("cooperating"),
}

Latest = Mapping[tuple[int, str], ReportLike]
Facts = CycleFacts | Latest
"""What a view is rendered from: everything appended about the cycle, or just the latest
reports (then nothing was reviewed, extended or acknowledged)."""


class DeadlineLike(Protocol):
    """What :func:`deadline_line` reads: a unit's state or a task's view."""

    @property
    def phase(self) -> Phase: ...
    @property
    def cutoff(self) -> dt.date | None: ...
    @property
    def days_left(self) -> int | None: ...


def facts_of(cycle: int, facts: Facts) -> CycleFacts:
    """``facts`` as :class:`CycleFacts` (a mapping of latest reports is wrapped)."""
    if isinstance(facts, CycleFacts):
        return facts
    return CycleFacts(cycle, facts)  # type: ignore[arg-type]


def plain_unit_name(t: Translator, unit: Unit) -> str:
    """The unit's name in the reader's language, not escaped (for button labels)."""
    return unit.name_en if t.language == "en" else unit.name


def unit_name(t: Translator, unit: Unit) -> str:
    """The unit's name in the reader's language, escaped."""
    return escape(plain_unit_name(t, unit))


def similar_units_text(t: Translator, timetable: Timetable, reference: str) -> str:
    """" Did you mean …?" naming the units ``reference`` may have meant
    (:meth:`schedules.model.Timetable.similar_units`), escaped; "" when there are none."""
    similar = timetable.similar_units(reference)
    if not similar:
        return ""
    return " " + t.gettext("Did you mean {units}?").format(units=units_meant(
        t, [f"{unit_name(t, u)} ({escape(u.id)})" for u in similar]))


def units_meant(t: Translator, labels: Sequence[str]) -> str:
    """The first :data:`SIMILAR_UNITS` of ``labels`` joined with "or", and how many more
    matched (``镇`` matches the 14 towns and 各镇政府)."""
    shown = t.gettext(" or ").join(labels[:SIMILAR_UNITS])
    more = len(labels) - SIMILAR_UNITS
    if more <= 0:
        return shown
    return t.ngettext("{units}, or {n} more unit", "{units}, or {n} more units", more).format(
        units=shown, n=more)


def status_label(t: Translator, status: str) -> str:
    """A stored status in the reader's language."""
    return t.gettext(STATUS_LABELS[status])


def role_label(t: Translator, role: Role) -> str:
    """A role in the reader's language."""
    return t.gettext(ROLE_LABELS[role])


def phase_label(t: Translator, phase: Phase) -> str:
    """A workflow phase in the reader's language."""
    return t.gettext(PHASE_LABELS[phase])


def legend(t: Translator) -> str:
    """The one legend of lights, in the reader's language."""
    return " · ".join(f"{light.value} {t.gettext(label)}" for light, label in LEGEND)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with "…", *before* it is escaped for HTML."""
    text = " ".join(text.split()) if len(text) > limit else text
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def report_line(t: Translator, report: ReportLike | None,
                note_limit: int | None = NOTE_PREVIEW, note: ReportLike | None = None,
                state: UnitState | None = None) -> str:
    """One report as "🟡 in progress 60% · note (date)", or "no report yet".

    Args:
        t: the reader's translator (dates in the office's time zone).
        report: the unit's latest report, or None.
        note_limit: show at most this many characters of the note ("…" after), None: all.
        note: the unit's latest report *with a note*, when newer reports have none: its note
            is shown with its own date (default: the state's, see ``CycleFacts.notes``).
        state: the unit's state, when known: its light is shown (🟢 once confirmed).
    """
    if note is None and state is not None:
        note = state.note
    if report is None:
        light = state.light.value if state is not None else Light.NO_REPORT.value
        return light + " " + t.gettext("no report yet")
    icon = state.light.value if state is not None else STATUS_ICONS[report.status]
    parts = [icon, status_label(t, report.status)]
    if report.progress is not None:
        parts.append(t.percent(report.progress))
    text = " ".join(parts)
    own_note = _note_of(report)
    if own_note:
        text += " · " + escape(_clip(own_note, note_limit))
    text += " (" + t.day(report.reported_at, "short") + ")"
    if not own_note and note is not None and _note_of(note):
        text += "\n    " + t.gettext("last note ({date}): {note}").format(
            date=t.day(note.reported_at, "short"), note=escape(_clip(_note_of(note), note_limit)))
    return text


def _note_of(report: ReportLike) -> str:
    """A report's note as shown: without invisible or control characters (notes stored by an
    older version may hold them)."""
    note: str = getattr(report, "note", "") or ""
    return visible_text(note) if note else note


def _clip(text: str, limit: int | None) -> str:
    return text if limit is None else shorten(text, limit)


def deadline_line(t: Translator, state: DeadlineLike, task: Task) -> str:
    """The cutoff and days left, or why there is none."""
    if state.phase is Phase.CLOSED:
        return t.gettext("closed: once-only deadline of {year}").format(year=task.deadline.year)
    if state.cutoff is None or state.days_left is None:
        return t.gettext("annual, judged on statistics bureau data")
    due = t.date(state.cutoff - dt.timedelta(days=1))
    if state.phase in (Phase.REPORTED_DONE, Phase.CONFIRMED):
        return t.gettext("due {date}").format(date=due)
    if state.days_left == 0:
        return t.gettext("due {date}: today is the last day").format(date=due)
    if state.days_left > 0:
        return t.ngettext("due {date}, {n} day left", "due {date}, {n} days left",
                          state.days_left).format(date=due, n=state.days_left)
    late = -state.days_left
    return t.ngettext("was due {date}, {n} day late", "was due {date}, {n} days late",
                      late).format(date=due, n=late)


def days_text(t: Translator, state: UnitState) -> str:
    """Days left (or late) alone, for a line of a list; "" without a cutoff."""
    if state.days_left is None or state.phase in (Phase.REPORTED_DONE, Phase.CONFIRMED,
                                                  Phase.CLOSED):
        return ""
    if state.days_left == 0:
        return t.gettext("last day today")
    if state.days_left > 0:
        return t.ngettext("{n} day left", "{n} days left", state.days_left).format(
            n=state.days_left)
    return t.ngettext("{n} day late", "{n} days late", -state.days_left).format(
        n=-state.days_left)


def states(timetable: Timetable, cycle: int, facts: Facts, today: dt.date) -> list[TaskView]:
    """The view of every task in ``cycle``."""
    return cycle_views(timetable, facts_of(cycle, facts), today)


def extension_mark(t: Translator, state: UnitState) -> str:
    """"extended to <date>" for a unit whose cutoff an approved extension moved, else ""."""
    if state.extension is None or state.cutoff is None:
        return ""
    return "📅 " + t.gettext("extended to {date}").format(
        date=t.date(state.cutoff - dt.timedelta(days=1)))


def _task_marks(t: Translator, timetable: Timetable, view: TaskView) -> str:
    marks = []
    for state in view.extended:
        mark = extension_mark(t, state)
        if len(view.consolidated) > 1:
            mark += f" ({unit_name(t, timetable.unit(state.unit_id))})"
        marks.append(mark)
    if view.phase is Phase.RETURNED:
        marks.append("↩️ " + t.gettext("returned"))
    return "".join(" · " + mark for mark in marks)


def render_summary(t: Translator, timetable: Timetable, cycle: int, facts: Facts,
                   today: dt.date) -> str:
    """The leadership summary: how many tasks carry each light, then one line per task.

    The counts partition the tasks by the light their line shows, so they add up to the number
    of tasks and the legend reads as the rows do. Reports awaiting review are counted below.
    """
    views = states(timetable, cycle, facts, today)
    marks = Counter(view.light for view in views)
    lines = [
        "<b>" + t.gettext("Summary of cycle {year}").format(year=cycle) + "</b>",
        t.gettext("as of {date}").format(date=t.date(today)),
        " · ".join(f"{light.value} {marks[light]} {t.gettext(label)}" for light, label in LEGEND),
    ]
    waiting = sum(len(view.awaiting_review) for view in views)
    if waiting:
        lines.append(t.ngettext("{n} report of done awaits a leader's review: /review",
                                "{n} reports of done await a leader's review: /review",
                                waiting).format(n=waiting))
    lines.append("")
    for view in views:
        task = timetable.task(view.task_id)
        lines.append(f"{view.light.value} {task.id}. {escape(task.title)} — "
                     + deadline_line(t, view, task) + _task_marks(t, timetable, view))
    return "\n".join(lines)


@dataclass(frozen=True)
class People:
    """Who is who, to name them in the workflow's marks: Telegram id -> display name."""

    names: Mapping[int, str]

    def name(self, telegram_user_id: int | None) -> str:
        """The escaped name, or the id."""
        if telegram_user_id is None:
            return "—"
        return escape(self.names.get(telegram_user_id, str(telegram_user_id)))


NOBODY = People({})


def workflow_lines(t: Translator, state: UnitState, people: People = NOBODY,
                   last_urge: tuple[int | None, dt.datetime] | None = None) -> list[str]:
    """What the workflow adds to a unit's line: review, extension, acknowledgement, urge."""
    lines = []
    review = state.review
    if state.phase is Phase.REPORTED_DONE:
        lines.append(Light.AWAITING_REVIEW.value + " " + t.gettext("awaiting a leader's review"))
    elif review is not None and state.phase is Phase.CONFIRMED:
        lines.append("✅ " + t.gettext("confirmed by {who} on {when}").format(
            who=people.name(review.reviewer_telegram_id),
            when=t.moment(review.reviewed_at, "short")))
    elif review is not None and state.phase is Phase.RETURNED:
        lines.append("↩️ " + t.gettext("returned by {who} on {when}: {comment}").format(
            who=people.name(review.reviewer_telegram_id),
            when=t.moment(review.reviewed_at, "short"), comment=escape(review.comment or "—")))
    if state.extension is not None:
        lines.append(extension_mark(t, state))
    if state.pending is not None:
        lines.append("📅 " + t.gettext("extension to {date} requested, awaiting a decision")
                     .format(date=t.date(state.pending.due_date)))
    if state.acknowledged is not None:
        lines.append("👌 " + t.gettext("acknowledged by {who} on {when}").format(
            who=people.name(state.acknowledged.telegram_user_id),
            when=t.moment(state.acknowledged.at, "short")))
    elif state.phase is not Phase.CLOSED and state.cutoff is not None and state.report is None:
        lines.append("👌 " + t.gettext("not acknowledged yet"))
    if last_urge is not None:
        lines.append("📣 " + t.gettext("urged by {who} on {when}").format(
            who=people.name(last_urge[0]), when=t.moment(last_urge[1], "short")))
    return lines


def render_task(t: Translator, timetable: Timetable, task: Task, cycle: int, facts: Facts,
                today: dt.date, notes: Latest | None = None, *, people: People = NOBODY,
                urges: Mapping[str, tuple[int | None, dt.datetime]] | None = None,
                only: Iterable[str] | None = None, view: TaskView | None = None) -> str:
    """One task: the consolidated status first, then every unit's input.

    Each unit shows its light, its latest report (notes whole; a unit whose latest report has
    no note shows its latest note, from ``notes`` or else the facts'), the review, extension,
    acknowledgement and last urge.

    Args:
        only: the cooperating units to show (a cooperating contact sees only their own input);
            None: every unit.
        view: the task's view of these facts, if the caller has it already (it is computed
            otherwise: 1,000 units' states).
    """
    if view is None:
        view = task_view(timetable, task, facts_of(cycle, facts), today)
    lines = [f"{view.light.value} <b>{task.id}. {escape(task.title)}</b>",
             deadline_line(t, view, task) + _task_marks(t, timetable, view)]
    lines += [f"• {escape(item)}" for item in task.items]
    if task.remark:
        lines.append(t.gettext("Remark: {remark}").format(remark=escape(task.remark)))
    joint = not task.lead_units
    shown = None if only is None else set(only)
    parts = [("<b>" + (t.gettext("Each joint unit's part") if joint else
                       t.gettext("Consolidated status (lead units)")) + "</b>",
              view.consolidated),
             ("<b>" + t.gettext("Inputs of the cooperating units") + "</b>",
              tuple(u for u in view.inputs if shown is None or u.unit_id in shown))]
    for heading, units in parts:
        if not units:
            continue
        lines += ["", heading]
        for state in units:
            unit = timetable.unit(state.unit_id)
            report = state.report
            lines.append(f"{unit_name(t, unit)} ({role_label(t, state.role)}): " + report_line(
                t, report, None, (notes or {}).get((task.id, unit.id)), state))
            lines += ["    " + line for line in workflow_lines(
                t, state, people, (urges or {}).get(unit.id))]
    lines += ["", legend(t)]
    return "\n".join(lines)


def render_unit(t: Translator, timetable: Timetable, unit: Unit, cycle: int, facts: Facts,
                today: dt.date) -> str:
    """One unit's tasks in ``cycle``: the unit's own light, cutoff and latest report on each."""
    duties = timetable.tasks_for_unit(unit.id)
    known = facts_of(cycle, facts)
    lines = ["<b>" + unit_name(t, unit) + "</b>",
             t.gettext("Tasks of cycle {year}: {count}").format(year=cycle, count=len(duties)),
             ""]
    for task, assignment in duties:
        if unit.kind is UnitKind.GROUP:  # a group's own task: the task's consolidated state
            view = task_view(timetable, task, known, today)
            lines.append(f"{view.light.value} {task.id}. {escape(task.title)} "
                         f"({role_label(t, assignment.role)}) — {deadline_line(t, view, task)}")
            continue
        # Only this unit's state (not every unit's, as task_view would): /unit reads only this
        # unit's reports (docs/performance.md).
        state = unit_state(timetable, task, unit.id, known, today)
        lines.append(f"{state.light.value} {task.id}. {escape(task.title)} "
                     f"({role_label(t, assignment.role)}) — {deadline_line(t, state, task)}")
        if state.phase is not Phase.CLOSED:
            marks = [line for line in (extension_mark(t, state),) if line]
            if state.phase is Phase.RETURNED and state.review is not None:
                marks.append("↩️ " + t.gettext("returned: {comment}").format(
                    comment=escape(shorten(state.review.comment or "—", NOTE_PREVIEW))))
            lines.append("    " + report_line(t, state.report, state=state)
                         + "".join(" · " + mark for mark in marks))
    if not duties:
        lines.append(t.gettext("This unit has no task in the timetable."))
    else:
        lines += ["", legend(t)]
    return "\n".join(lines)


def render_my_tasks(t: Translator, timetable: Timetable, unit: Unit, cycle: int,
                    facts: Facts, today: dt.date) -> str:
    """A contact's own list: role, cutoff, days left and their unit's current status."""
    return render_unit(t, timetable, unit, cycle, facts, today)


def overdue_units(views: Iterable[TaskView]) -> list[UnitState]:
    """The delivering units past their cutoff and not reported done, task by task."""
    return [state for view in views if view.phase is not Phase.CLOSED
            for state in view.consolidated if state.overdue]


def render_overdue(t: Translator, timetable: Timetable, cycle: int, facts: Facts,
                   today: dt.date, soon_days: int = 14,
                   only: Collection[tuple[int, str]] | None = None) -> str:
    """Who missed their cutoff, and who has not reported as it approaches.

    ``only``: list only these (task, unit) pairs (last cycle's units the bot followed).
    """
    missed: list[str] = []
    approaching: list[str] = []
    for view in states(timetable, cycle, facts, today):
        if view.phase in (Phase.CLOSED, Phase.CONFIRMED, Phase.REPORTED_DONE):
            continue
        task = timetable.task(view.task_id)
        late = [u for u in view.consolidated if u.overdue
                and (only is None or (u.task_id, u.unit_id) in only)]
        if late:
            line = f"{Light.LATE.value} {task.id}. {escape(task.title)} — " + deadline_line(
                t, late[0], task)
            silent = [u for u in late if u.report is None]
            behind = [u for u in late if u.report is not None]
            if silent:
                line += "\n    " + t.gettext("no report from: {units}").format(
                    units=unit_names(t, timetable, (u.unit_id for u in silent)))
            if behind:
                line += "\n    " + t.gettext("not done: {units}").format(units=", ".join(
                    f"{unit_name(t, timetable.unit(u.unit_id))} ({phase_label(t, u.phase)})"
                    for u in behind))
            missed.append(line)
            continue
        silent = [u for u in view.consolidated if u.report is None and not u.overdue
                  and u.days_left is not None and u.days_left <= soon_days
                  and (only is None or (u.task_id, u.unit_id) in only)]
        if silent:
            approaching.append(f"{view.light.value} {task.id}. {escape(task.title)} — "
                               f"{deadline_line(t, view, task)}\n    "
                               + t.gettext("no report from: {units}").format(
                                   units=unit_names(t, timetable, (u.unit_id for u in silent))))
    lines = ["<b>" + t.gettext("Overdue and silent, cycle {year}").format(year=cycle) + "</b>"]
    lines.append("<b>" + t.gettext("Missed the cutoff") + "</b>")
    lines += missed or [t.gettext("none")]
    lines.append("<b>" + t.ngettext("Cutoff within {n} day, no report yet",
                                    "Cutoff within {n} days, no report yet",
                                    soon_days).format(n=soon_days) + "</b>")
    lines += approaching or [t.gettext("none")]
    return "\n".join(lines)


def render_review_list(t: Translator, timetable: Timetable, cycle: int, facts: Facts,
                       today: dt.date) -> tuple[str, list[UnitState]]:
    """Every report of done awaiting a leader's review (the consolidated statuses first).

    Returns:
        The text, and the units listed, in order (for their confirm / return buttons).
    """
    waiting = [state for view in states(timetable, cycle, facts, today)
               for state in view.awaiting_review]
    waiting.sort(key=lambda s: not s.delivers)
    lines = ["<b>" + t.gettext("Awaiting review, cycle {year}").format(year=cycle) + "</b>"]
    if not waiting:
        lines.append(t.gettext("No report of done is waiting for a review."))
    for number, state in enumerate(waiting, start=1):
        task = timetable.task(state.task_id)
        lines.append(f"{number}. {Light.AWAITING_REVIEW.value} {task.id}. {escape(task.title)} · "
                     f"{unit_name(t, timetable.unit(state.unit_id))} "
                     f"({role_label(t, state.role)}): "
                     f"{report_line(t, state.report, note=state.note)}")
    return "\n".join(lines), waiting


@dataclass(frozen=True)
class DueItem:
    """One task of a person's daily reminder: the unit's state and why it is listed.

    ``kinds``: the reminder kinds due for it (``before``, ``overdue``, ``ack``).
    """

    state: UnitState
    kinds: frozenset[str]


def _reminder_head(t: Translator, items: Sequence[DueItem]) -> str:
    if len(items) == 1:
        item = items[0]
        number = item.state.task_id
        if "overdue" in item.kinds:
            return "🔴 " + t.gettext("Overdue: task {number} has passed its cutoff").format(
                number=number)
        if item.kinds == {"ack"}:
            return "👌 " + t.gettext("Please acknowledge: task {number}").format(number=number)
        return "⏰ " + t.gettext("Reminder: task {number}").format(number=number)
    if all(item.kinds == {"ack"} for item in items):
        return "👌 " + t.ngettext("Please acknowledge: {n} task", "Please acknowledge: {n} tasks",
                                 len(items)).format(n=len(items))
    overdue = sum(1 for item in items if "overdue" in item.kinds)
    head = t.ngettext("Reminder: {n} task", "Reminder: {n} tasks", len(items)).format(
        n=len(items))
    if overdue:
        return "🔴 " + head + t.ngettext(", {n} overdue", ", {n} overdue", overdue).format(
            n=overdue)
    return "⏰ " + head


def render_reminder(t: Translator, timetable: Timetable, items: Sequence[DueItem],
                    several_units: bool = False) -> str:
    """A person's one reminder message of the day.

    One task: its whole card (role, items, cutoff, latest report) for the status buttons.
    Several: one line each (light, number, title, unit and role, days left, latest status),
    grouped by cutoff with the overdue ones first.

    Args:
        t: the reader's translator.
        timetable: the timetable.
        items: the tasks due, in any order.
        several_units: the person serves several units: name the unit on each line.
    """
    lines = [f"<b>{_reminder_head(t, items)}</b>"]
    if len(items) == 1:
        state = items[0].state
        task = timetable.task(state.task_id)
        unit = timetable.unit(state.unit_id)
        lines.append(f"{state.light.value} <b>{task.id}. {escape(task.title)}</b>")
        lines.append(t.gettext("Your unit ({unit}) is {role}.").format(
            unit=unit_name(t, unit), role=role_label(t, state.role)))
        lines += [f"• {escape(item)}" for item in task.items]
        lines.append(deadline_line(t, state, task))
        lines.append(t.gettext("Latest report: {report}").format(
            report=report_line(t, state.report, state=state)))
        mark = extension_mark(t, state)
        if mark:
            lines.append(mark)
        if state.phase is Phase.RETURNED and state.review is not None:
            lines.append("↩️ " + t.gettext("returned: {comment}").format(
                comment=escape(state.review.comment or "—")))
        if items[0].kinds == {"ack"}:
            lines.append(t.gettext("Press 收到 to acknowledge this task, or report its status."))
        else:
            lines.append(t.gettext("Press a status, or reply to this message in words "
                                   "(e.g. 进行中 60%)."))
        return "\n".join(lines)
    groups: dict[tuple[bool, dt.date | None], list[DueItem]] = {}
    for item in items:
        key = (not item.state.overdue, item.state.cutoff)
        groups.setdefault(key, []).append(item)
    for (on_time, cutoff), group in sorted(groups.items(), key=_group_order):
        if not on_time:
            heading = "🔴 " + t.gettext("Overdue")
        elif cutoff is not None:
            heading = t.gettext("Due {date}").format(date=t.date(cutoff - dt.timedelta(days=1)))
        else:
            heading = t.gettext("No cutoff")
        lines += ["", f"<b>{heading}</b>"]
        for item in sorted(group, key=lambda i: (i.state.task_id, i.state.unit_id)):
            lines.append(_due_line(t, timetable, item, several_units))
    lines += ["", t.gettext("Press a task number to open it and report, press “all in "
                            "progress” or “all done” to report every task listed, or reply to "
                            "this message in words. 收到 acknowledges every task listed."),
              legend(t)]
    return "\n".join(lines)


def _group_order(entry: tuple[tuple[bool, dt.date | None], list[DueItem]]
                 ) -> tuple[bool, dt.date]:
    (on_time, cutoff), _ = entry
    return (on_time, cutoff or dt.date.max)


def _due_line(t: Translator, timetable: Timetable, item: DueItem, several_units: bool) -> str:
    state = item.state
    task = timetable.task(state.task_id)
    who = role_label(t, state.role)
    if several_units:
        who = unit_name(t, timetable.unit(state.unit_id)) + ", " + who
    parts = [f"{state.light.value} {task.id}. {escape(task.title)} ({who})"]
    days = days_text(t, state)
    if days:
        parts.append(days)
    if state.report is not None:
        status = status_label(t, state.report.status)
        if state.report.progress is not None:
            status += " " + t.percent(state.report.progress)
        parts.append(status)
    else:
        parts.append(t.gettext("no report yet"))
    if state.phase is Phase.RETURNED:
        parts.append("↩️ " + t.gettext("returned"))
    mark = extension_mark(t, state)
    if mark:
        parts.append(mark)
    if "ack" in item.kinds:
        parts.append("👌 " + t.gettext("not acknowledged yet"))
    return " · ".join(parts)


_TOKEN = re.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>"""  # a tag (a quoted ">" is inside)
                    r"|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);"  # a character reference
                    r"|[^<&\n]{2,}|.", re.DOTALL)  # a run of plain text, or one character
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z-]+)")


_NAMED = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}


def _shown(token: str) -> str:
    """What a token shows once Telegram has parsed the HTML ("" for a tag).

    Character references are decoded as Telegram decodes them: every code point by number
    (``html.unescape`` would turn ``&#31;`` into nothing), and the four named ones.
    """
    if token.startswith("<") and len(token) > 1:
        return ""
    if token.startswith("&#") and len(token) > 3:
        hexadecimal = token[2] in "xX"
        code = int(token[3:-1], 16) if hexadecimal else int(token[2:-1])
        return chr(code) if 0 < code <= 0x10FFFF else ""
    if token.startswith("&") and len(token) > 1:
        return _NAMED.get(token, unescape(token))
    return token


def _visible(token: str) -> int:
    """UTF-16 code units a token shows once Telegram has parsed the HTML."""
    return len(_shown(token).encode("utf-16-le", "surrogatepass")) // 2


def _fitting(run: str, room: int) -> int:
    """How many characters of ``run`` fit in ``room`` UTF-16 code units."""
    used = 0
    for count, character in enumerate(run):
        used += 2 if character >= "\U00010000" else 1
        if used > room:
            return count
    return len(run)


def _shows_something(tokens: list[str]) -> bool:
    """Whether tokens show more than white space: Telegram strips a message's white space and
    refuses one left empty ("message text is empty")."""
    return any(not _shown(token).isspace() and _shown(token) for token in tokens)


def paginate(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split Telegram HTML into pages of at most ``limit`` visible characters.

    Pages break at line ends where possible; a line longer than a page is cut between whole
    characters, never inside an entity (``&amp;``) or a tag, and tags open at a cut are closed
    at the end of the page and opened again at the start of the next, so every page parses on
    its own. Lengths are counted as Telegram counts them (visible UTF-16 code units after
    parsing), not in escaped characters. A page that would show only white space or empty tags
    is left out: Telegram strips it to nothing and refuses it. ``tests/bot/
    test_render_properties.py`` checks these promises for any text.

    Returns:
        At least one page (``[""]`` for empty text).
    """
    if len(text) * 2 <= limit or len(text.encode("utf-16-le", "surrogatepass")) // 2 <= limit:
        return [text]  # fits whatever it shows (a tag or an entity shows less than it takes)
    pages: list[str] = []
    page: list[str] = []  # tokens of the page being built
    size = 0
    opened: list[str] = []  # open tags (their opening text), outermost first
    line_end: tuple[int, int, list[str]] | None = None  # last "\n" in page: index, size, tags

    def close(tags: list[str]) -> str:
        return "".join(f"</{_TAG_NAME.match(tag).group(1)}>"  # type: ignore[union-attr]
                       for tag in reversed(tags))

    def flush(cut: int, tags: list[str]) -> None:
        nonlocal page, size, line_end
        head, rest = page[:cut], page[cut:]
        while head and head[-1] == "\n":
            head = head[:-1]
        while rest and rest[0] == "\n":
            rest = rest[1:]
        if _shows_something(head):  # a page of blanks or empty tags is dropped, not sent
            pages.append("".join(head) + close(tags))
        page = list(tags) + rest
        size = sum(_visible(tok) for tok in rest)
        line_end = None

    for token in _TOKEN.findall(text):
        width = _visible(token)
        if len(token) > 1 and token[0] not in "<&":
            # A run of plain text (no tag, reference or line end) goes in whole if it fits;
            # else what fits, then the page breaks as it would have at that character: a
            # 100,000-character overdue list counted one character at a time was most of its
            # cost.
            while token and size + width > limit:
                room = limit - size
                fits = (min(room, len(token)) if max(token) < "\U00010000"
                        else _fitting(token, room))
                if not fits and not size:
                    fits = 1  # a page takes at least one character
                if fits:
                    page.append(token[:fits])
                    size += _visible(token[:fits])
                    token = token[fits:]
                    width = _visible(token)
                    if not token:
                        break
                if line_end is not None:
                    flush(line_end[0], line_end[2])
                elif size:  # this line is longer than a page: cut it here
                    flush(len(page), opened)
            if token:
                page.append(token)
                size += width
            continue
        if size + width > limit and size:
            if line_end is not None:
                flush(line_end[0], line_end[2])
            if size + width > limit and size:  # still too long: cut this line here
                flush(len(page), opened)
        if token == "\n" and not size and pages:
            continue  # a page never starts with an empty line
        page.append(token)
        size += width
        if token == "\n":
            line_end = (len(page), size, list(opened))
        elif token.startswith("</"):
            if opened:
                opened.pop()
        elif token.startswith("<") and len(token) > 1 and not token.endswith("/>"):
            opened.append(token)
    if _shows_something(page) or not pages:
        pages.append("".join(page))
    return pages


def page_footer(t: Translator, index: int, total: int) -> str:
    """"Page 2/5" in the reader's language."""
    return t.gettext("Page {page}/{total}").format(page=index + 1, total=total)


def unit_names(t: Translator, timetable: Timetable, unit_ids: Iterable[str]) -> str:
    """Comma-separated unit names."""
    return ", ".join(unit_name(t, timetable.unit(u)) for u in unit_ids)


class PersonLike(Protocol):
    """What the people list shows of an enrolled person."""

    telegram_user_id: int
    display_name: str
    role: str
    active: bool


class ChatLike(Protocol):
    """What the people list shows of a bound leadership group."""

    chat_id: int
    title: str
    bound_by: int | None
    bound_at: dt.datetime


def render_people(t: Translator, timetable: Timetable, people: Sequence[PersonLike],
                  units: Mapping[int, Sequence[str]] | None = None,
                  chats: Sequence[ChatLike] = (), names: Mapping[int, str] | None = None) -> str:
    """The enrolled people with role and units, then the bound groups and who bound them.

    Args:
        t: the reader's translator.
        timetable: for unit names.
        people: the people to list.
        units: Telegram user id -> the unit ids they serve (active memberships).
        chats: the bound leadership groups.
        names: Telegram user id -> display name, for who bound each group.
    """
    units = units or {}
    names = names or {}
    lines: list[str] = []
    if not people:
        lines.append(t.gettext("Nobody is enrolled yet. Use /invite to create an enrolment "
                               "link."))
    else:
        lines.append("<b>" + t.gettext("Enrolled people") + "</b>")
    for person in people:
        served = [timetable.find_unit(u) for u in units.get(person.telegram_user_id, ())]
        unit_text = ", ".join(unit_name(t, u) for u in served if u is not None) or "—"
        state = "" if person.active else " " + t.gettext("(inactive)")
        role = t.gettext(ROLE_NAMES[person.role])
        lines.append(f"{escape(visible_text(person.display_name))} "
                     f"<code>{person.telegram_user_id}</code> · "
                     f"{role} · {unit_text}{state}")
    if chats:
        lines += ["", "<b>" + t.gettext("Leadership groups") + "</b>"]
        for chat in chats:
            who = names.get(chat.bound_by or 0, str(chat.bound_by or "—"))
            lines.append(t.gettext("{title} <code>{id}</code> · bound by {who} on {date}").format(
                title=escape(visible_text(chat.title) or "—"), id=chat.chat_id,
                who=escape(visible_text(who)),
                date=t.day(chat.bound_at)))
    return "\n".join(lines)


ROLE_NAMES = {"contact": N_("contact"), "leader": N_("leader"), "admin": N_("admin")}

ACTION_LABELS = {
    "report.added": N_("reported"),
    "evidence.added": N_("kept a file as evidence"),
    "reminder.acknowledged": N_("acknowledged"),
    "review.confirmed": N_("confirmed"),
    "review.returned": N_("returned"),
    "extension.requested": N_("asked for an extension"),
    "extension.approved": N_("approved an extension"),
    "extension.rejected": N_("rejected an extension"),
    "task.urged": N_("urged"),
}


class EntryLike(Protocol):
    """What the workflow log shows of an audit entry."""

    at: dt.datetime
    actor_telegram_id: int | None
    action: str

    def details_dict(self) -> dict[str, object]: ...


def render_audit(t: Translator, timetable: Timetable, entries: Sequence[EntryLike],
                 people: People, task_id: int | None = None) -> str:
    """The workflow's audit trail, newest first: when, who, what, task, unit, details."""
    heading = (t.gettext("Workflow log of task {number}").format(number=task_id)
               if task_id is not None else t.gettext("Workflow log"))
    lines = ["<b>" + heading + "</b>"]
    if not entries:
        lines.append(t.gettext("Nothing yet."))
    for entry in entries:
        details = entry.details_dict()
        parts = [t.moment(entry.at, "short"), people.name(entry.actor_telegram_id),
                 t.gettext(ACTION_LABELS.get(entry.action, entry.action))]
        if details.get("task_id"):
            parts.append(t.gettext("task {number}").format(number=details["task_id"]))
        if details.get("cycle"):
            parts.append(str(details["cycle"]))
        unit = timetable.find_unit(str(details.get("unit_id") or ""))
        if unit is not None:
            parts.append(unit_name(t, unit))
        if entry.action == "report.added" and isinstance(details.get("status"), str):
            parts.append(status_label(t, str(details["status"])))
        for key in ("due_date", "reason", "comment", "file_name"):
            if details.get(key):
                parts.append(escape(shorten(str(details[key]), NOTE_PREVIEW)))
        lines.append(" · ".join(parts))
    return "\n".join(lines)
