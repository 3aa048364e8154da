"""Text for Telegram: pure functions from domain and stored data to HTML-escaped strings.

Nothing here sends anything; handlers and the reminder dispatcher call these and send the
result. Every user-supplied or data-file string is escaped with :func:`html.escape` because the
bot's default parse mode is HTML.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape, unescape
from typing import Protocol

from bot.i18n import N_, Translator
from schedules.model import Role, Task, Timetable, Unit
from schedules.progress import ReportLike, TaskPhase, TaskState, task_state
from schedules.text import visible_text

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


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with "…", *before* it is escaped for HTML."""
    text = " ".join(text.split()) if len(text) > limit else text
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def report_line(t: Translator, report: ReportLike | None, note_limit: int | None = NOTE_PREVIEW,
                note: ReportLike | None = None) -> str:
    """One report as "🟡 in progress 60% · note (date)", or "no report yet".

    Args:
        t: the reader's translator (dates in the office's time zone).
        report: the unit's latest report, or None.
        note_limit: show at most this many characters of the note ("…" after), None: all.
        note: the unit's latest report *with a note*, when newer reports have none: its note
            is shown with its own date.
    """
    if report is None:
        return "⚪ " + t.gettext("no report yet")
    parts = [STATUS_ICONS[report.status], status_label(t, report.status)]
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
    note: str = getattr(report, "note", "") or ""
    return note


def _clip(text: str, limit: int | None) -> str:
    return text if limit is None else shorten(text, limit)


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
                today: dt.date, notes: Latest | None = None) -> str:
    """One task for the leadership: items, deadline, and every unit with its latest report.

    Notes are shown whole; a unit whose latest report has no note shows its latest note (with
    that note's date) from ``notes``.
    """
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
                     + report_line(t, report, None, (notes or {}).get((task.id, unit.id))))
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


_TOKEN = re.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>"""  # a tag (a quoted ">" is inside)
                    r"|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);|.", re.DOTALL)
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
