"""Text for Telegram: pure functions from domain and stored data to HTML-escaped strings.

Nothing here sends anything; handlers and the reminder dispatcher call these and send the
result. Every user-supplied or data-file string is escaped with :func:`html.escape` because the
bot's default parse mode is HTML.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Protocol

from bot.i18n import N_, Translator
from schedules.model import Role, Task, Timetable, Unit
from schedules.progress import ReportLike, TaskPhase, TaskState, task_state

# Telegram's limit is 4,096 characters after entity parsing; keep a margin for the page footer.
MESSAGE_LIMIT = 3800

STATUS_LABELS = {
    "done": N_("done"),
    "in_progress": N_("in progress"),
    "blocked": N_("blocked"),
    "not_applicable": N_("not applicable"),
}
STATUS_ICONS = {"done": "🟢", "in_progress": "🟡", "blocked": "🔴", "not_applicable": "⚪"}
ROLE_LABELS = {
    Role.LEAD: N_("lead"),
    Role.JOINT: N_("joint"),
    Role.COOPERATING: N_("cooperating"),
}
PHASE_LABELS = {
    TaskPhase.CLOSED: N_("closed"),
    TaskPhase.DONE: N_("done"),
    TaskPhase.BLOCKED: N_("blocked"),
    TaskPhase.IN_PROGRESS: N_("in progress"),
    TaskPhase.NO_REPLY: N_("no reply"),
}

Latest = Mapping[tuple[int, str], ReportLike]


def unit_name(t: Translator, unit: Unit) -> str:
    """The unit's name in the reader's language, escaped."""
    return escape(unit.name_en if t.language == "en" else unit.name)


def status_label(t: Translator, status: str) -> str:
    """A stored status in the reader's language."""
    return t.gettext(STATUS_LABELS[status])


def role_label(t: Translator, role: Role) -> str:
    """A role in the reader's language."""
    return t.gettext(ROLE_LABELS[role])


def report_line(t: Translator, report: ReportLike | None) -> str:
    """One report as "🟡 in progress 60% · note (date)", or "no report yet"."""
    if report is None:
        return "⚪ " + t.gettext("no report yet")
    parts = [STATUS_ICONS[report.status], status_label(t, report.status)]
    if report.progress is not None:
        parts.append(t.percent(report.progress))
    text = " ".join(parts)
    note = getattr(report, "note", "") or ""
    if note:
        text += " · " + escape(note)
    return text + " (" + t.date(report.reported_at.date(), "short") + ")"


def deadline_line(t: Translator, state: TaskState, task: Task) -> str:
    """The cutoff and days left, or why there is none."""
    if state.phase is TaskPhase.CLOSED:
        return t.gettext("closed: once-only deadline of {year}").format(year=task.deadline.year)
    if state.cutoff is None or state.days_left is None:
        return t.gettext("annual, judged on statistics bureau data")
    due = t.date(state.cutoff - dt.timedelta(days=1))
    if state.phase is TaskPhase.DONE:
        return t.gettext("due {date}").format(date=due)
    if state.days_left >= 0:
        return t.ngettext("due {date}, {n} day left", "due {date}, {n} days left",
                          state.days_left).format(date=due, n=state.days_left)
    late = -state.days_left
    return t.ngettext("was due {date}, {n} day late", "was due {date}, {n} days late",
                      late).format(date=due, n=late)


def _unit_latest(latest: Latest, task_id: int) -> dict[str, ReportLike]:
    return {unit: report for (tid, unit), report in latest.items() if tid == task_id}


def states(timetable: Timetable, cycle: int, latest: Latest, today: dt.date) -> list[TaskState]:
    """The state of every task in ``cycle``."""
    return [task_state(timetable, task, cycle, _unit_latest(latest, task.id), today)
            for task in timetable.tasks]


def render_summary(t: Translator, timetable: Timetable, cycle: int, latest: Latest,
                   today: dt.date) -> str:
    """The leadership summary: how many tasks carry each mark, then one line per task.

    The counts partition the tasks by the mark their line shows, so they add up to the number
    of tasks and the legend reads as the rows do (🔴 is blocked or overdue, ⚫ closed).
    """
    all_states = states(timetable, cycle, latest, today)
    marks = Counter(state.light for state in all_states)
    lines = [
        "<b>" + t.gettext("Summary of cycle {year}").format(year=cycle) + "</b>",
        t.gettext("as of {date}").format(date=t.date(today)),
        t.gettext("🟢 done {done} · 🟡 in progress {progress} · 🔴 blocked or overdue {late} · "
                  "⚪ no reply yet {silent} · ⚫ closed {closed}").format(
            done=marks["🟢"], progress=marks["🟡"], late=marks["🔴"], silent=marks["⚪"],
            closed=marks["⚫"]),
        "",
    ]
    for state in all_states:
        task = timetable.task(state.task_id)
        lines.append(f"{state.light} {task.id}. {escape(task.title)} — "
                     + deadline_line(t, state, task))
    return "\n".join(lines)


def render_task(t: Translator, timetable: Timetable, task: Task, cycle: int, latest: Latest,
                today: dt.date) -> str:
    """One task for the leadership: items, deadline, and every unit with its latest report."""
    state = task_state(timetable, task, cycle, _unit_latest(latest, task.id), today)
    lines = [f"{state.light} <b>{task.id}. {escape(task.title)}</b>",
             deadline_line(t, state, task)]
    lines += [f"• {escape(item)}" for item in task.items]
    if task.remark:
        lines.append(t.gettext("Remark: {remark}").format(remark=escape(task.remark)))
    lines.append("")
    for assignment in timetable.responsible_units(task):
        unit = timetable.unit(assignment.unit_id)
        report = latest.get((task.id, unit.id))
        lines.append(f"{unit_name(t, unit)} ({role_label(t, assignment.role)}): "
                     + report_line(t, report))
    return "\n".join(lines)


def render_unit(t: Translator, timetable: Timetable, unit: Unit, cycle: int, latest: Latest,
                today: dt.date) -> str:
    """One unit's tasks in ``cycle`` with its latest report on each."""
    duties = timetable.tasks_for_unit(unit.id)
    lines = ["<b>" + unit_name(t, unit) + "</b>",
             t.gettext("Tasks of cycle {year}: {count}").format(year=cycle, count=len(duties)),
             ""]
    for task, assignment in duties:
        state = task_state(timetable, task, cycle, _unit_latest(latest, task.id), today)
        lines.append(f"{state.light} {task.id}. {escape(task.title)} "
                     f"({role_label(t, assignment.role)}) — {deadline_line(t, state, task)}")
        if state.phase is not TaskPhase.CLOSED:
            lines.append("    " + report_line(t, latest.get((task.id, unit.id))))
    if not duties:
        lines.append(t.gettext("This unit has no task in the timetable."))
    return "\n".join(lines)


def render_my_tasks(t: Translator, timetable: Timetable, unit: Unit, cycle: int,
                    latest: Latest, today: dt.date) -> str:
    """A contact's own list: role, cutoff, days left and their unit's current status."""
    return render_unit(t, timetable, unit, cycle, latest, today)


def render_overdue(t: Translator, timetable: Timetable, cycle: int, latest: Latest,
                   today: dt.date, soon_days: int = 14) -> str:
    """Who missed the cutoff, and who has not reported as it approaches."""
    missed: list[str] = []
    approaching: list[str] = []
    for state in states(timetable, cycle, latest, today):
        if state.phase in (TaskPhase.CLOSED, TaskPhase.DONE) or state.days_left is None:
            continue
        task = timetable.task(state.task_id)
        silent = [u for u in state.deliverers if u not in state.reported_units]
        names = ", ".join(unit_name(t, timetable.unit(u)) for u in silent)
        if state.overdue:
            line = f"🔴 {task.id}. {escape(task.title)} — {deadline_line(t, state, task)}"
            if names:
                line += "\n    " + t.gettext("no report from: {units}").format(units=names)
            missed.append(line)
        elif state.days_left <= soon_days and silent:
            approaching.append(f"⚪ {task.id}. {escape(task.title)} — "
                               f"{deadline_line(t, state, task)}\n    "
                               + t.gettext("no report from: {units}").format(units=names))
    lines = ["<b>" + t.gettext("Overdue and silent, cycle {year}").format(year=cycle) + "</b>"]
    lines.append("<b>" + t.gettext("Missed the cutoff") + "</b>")
    lines += missed or [t.gettext("none")]
    lines.append("<b>" + t.gettext("Cutoff within {n} days, no report yet").format(
        n=soon_days) + "</b>")
    lines += approaching or [t.gettext("none")]
    return "\n".join(lines)


def paginate(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` at line breaks into pages no longer than ``limit`` characters.

    A single line longer than the limit is cut at the limit, never at an HTML tag: callers only
    put tags inside short lines.
    """
    pages: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        while len(line) > limit:
            head, line = line[:limit], line[limit:]
            if current:
                pages.append("\n".join(current))
                current, size = [], 0
            pages.append(head)
        if size + len(line) + 1 > limit and current:
            pages.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        pages.append("\n".join(current))
    return pages or [""]


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
    unit_id: str | None
    active: bool


def render_people(t: Translator, timetable: Timetable, people: Sequence[PersonLike]) -> str:
    """The enrolled people with role and unit, for admins."""
    if not people:
        return t.gettext("Nobody is enrolled yet. Use /invite to create an enrolment link.")
    lines = ["<b>" + t.gettext("Enrolled people") + "</b>"]
    for person in people:
        found = timetable.find_unit(person.unit_id) if person.unit_id else None
        unit = unit_name(t, found) if found else escape(person.unit_id or "—")
        state = "" if person.active else " " + t.gettext("(inactive)")
        role = t.gettext(ROLE_NAMES[person.role])
        lines.append(f"{escape(person.display_name)} <code>{person.telegram_user_id}</code> · "
                     f"{role} · {unit}{state}")
    return "\n".join(lines)


ROLE_NAMES = {"contact": N_("contact"), "leader": N_("leader"), "admin": N_("admin")}
