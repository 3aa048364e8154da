"""An Excel workbook of a cycle's status for the leadership group: summary, detail, history.

Offices hand these tables around, so dates are real date cells, progress is a number shown as a
percentage, and every sheet has a bold, frozen header row with an autofilter. Nothing here talks
to Telegram or the database: the caller passes the reports in and sends the bytes::

    data = build_workbook(t, timetable, cycle, store.cycle_facts(cycle),
                          store.reports_for_cycle(cycle), today)
    await bot.send_document(chat_id, data, filename=export_filename(cycle, today))

Sheets, in the reader's language: 汇总 / Summary (one row per task), 明细 / Detail (one row per
task and responsible unit, groups expanded) and 报送记录 / History (every report of the cycle, in
the order given). Text the users typed is always written as text, never as a formula.

The supervision workflow shows with the one legend of lights (docs/workflow.md, the comment on
each sheet's status header): a task's status is its consolidated light and state (reported done
awaiting review is 🔵, confirmed 🟢), with its extensions and the units awaiting review; each
unit's row has its light, state, review, extension and acknowledgement.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from typing import Protocol
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.i18n import N_, Translator
from bot.render import (
    ROLE_LABELS,
    STATUS_LABELS,
    Facts,
    deadline_line,
    facts_of,
    phase_label,
    states,
)
from schedules.model import Role, Task, Timetable, Unit
from schedules.workflow import LEGEND, Phase, UnitState

SHEET_SUMMARY = N_("Summary")
SHEET_DETAIL = N_("Detail")
SHEET_HISTORY = N_("History")

SOURCE_LABELS = {
    "button": N_("button"),
    "reply": N_("reply"),
    "command": N_("command"),
    "cli": N_("command line"),
}

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
PERCENT_FORMAT = "0%"
ID_FORMAT = "0"  # a Telegram id is an identifier: no thousands separator, no exponent

# Excel computes "=..." as a formula; "+", "-" and "@" start one when a reader edits the cell.
_FORMULA_STARTS = ("=", "+", "-", "@")
_MIN_WIDTH, _MAX_WIDTH, _MAX_TEXT_WIDTH = 6, 40, 60

Value = str | int | float | dt.date | dt.datetime | None


class LoggedReport(Protocol):
    """What the history sheet needs of a stored report (:class:`storage.StatusReport` fits)."""

    @property
    def task_id(self) -> int: ...
    @property
    def unit_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> int | None: ...
    @property
    def note(self) -> str: ...
    @property
    def reporter_telegram_id(self) -> int | None: ...
    @property
    def reported_at(self) -> dt.datetime: ...
    @property
    def source(self) -> str: ...


def export_filename(cycle: int, today: dt.date) -> str:
    """The workbook's file name, e.g. ``duban-2026-20261126.xlsx``."""
    return f"duban-{cycle}-{today:%Y%m%d}.xlsx"


def build_workbook(t: Translator, timetable: Timetable, cycle: int, facts: Facts,
                   history: Sequence[LoggedReport], today: dt.date,
                   names: Mapping[int, str] | None = None) -> bytes:
    """The cycle's status as an xlsx workbook with a summary, a detail and a history sheet.

    Excel has no time zones: report times are converted to the plan's time zone
    (``timetable.reminders.timezone``, Asia/Shanghai by default) and written as naive local
    times; the column header names the zone.

    Args:
        t: the reader's translator (sheet names, headers, labels, unit names).
        timetable: the validated timetable.
        cycle: the cycle year.
        facts: what was appended about the cycle (``Store.cycle_facts(cycle)``), or just
            ``(task_id, unit_id) -> report``, the newest report of each pair.
        history: every report of ``cycle``, oldest first (``Store.reports_for_cycle(cycle)``);
            written in the order given.
        today: the current day in the plan's time zone, for states and days left.
        names: Telegram id -> name, for who reviewed and acknowledged.

    Returns:
        The workbook as the bytes of an ``.xlsx`` file.

    Raises:
        ValueError: a report time is naive.
    """
    zone = ZoneInfo(timetable.reminders.timezone)
    workbook = Workbook()
    title = t.gettext("Summary of cycle {year}").format(year=cycle)
    workbook.properties.title = title
    workbook.properties.creator = "duban"
    as_of = t.gettext("as of {date}").format(date=t.date(today))

    known = facts_of(cycle, facts)
    summary = workbook.active  # a new workbook has one sheet
    summary.title = t.gettext(SHEET_SUMMARY)
    _fill(summary, *_summary(t, timetable, cycle, known, today))
    detail = workbook.create_sheet(t.gettext(SHEET_DETAIL))
    _fill(detail, *_detail(t, timetable, cycle, known, today, zone, names or {}))
    log = workbook.create_sheet(t.gettext(SHEET_HISTORY))
    _fill(log, *_history(t, timetable, history, zone))
    legend = "\n".join(f"{light.value} {t.gettext(label)}" for light, label in LEGEND)
    for sheet in (summary, detail, log):
        sheet.oddHeader.center.text = f"{title} · {sheet.title}"
        sheet.oddFooter.right.text = as_of
    for sheet, column in ((summary, 3), (detail, 5)):  # the status columns
        sheet.cell(row=1, column=column).comment = Comment(legend, "duban")

    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# -- the three sheets ---------------------------------------------------------------------------
class _Columns:
    """A sheet's headers with each column's number format and whether its text wraps."""

    def __init__(self) -> None:
        self.headers: list[str] = []
        self.formats: dict[int, str] = {}
        self.wrapped: set[int] = set()

    def add(self, header: str, number_format: str | None = None, wrap: bool = False) -> None:
        index = len(self.headers) + 1
        self.headers.append(header)
        if number_format:
            self.formats[index] = number_format
        if wrap:
            self.wrapped.add(index)


def _summary(t: Translator, timetable: Timetable, cycle: int, facts: Facts,
             today: dt.date) -> tuple[_Columns, list[list[Value]]]:
    columns = _Columns()
    columns.add(t.gettext("No."))
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Status"))
    columns.add(t.gettext("Due date"), DATE_FORMAT)
    columns.add(t.gettext("Days left"))
    columns.add(t.gettext("Deadline"), wrap=True)
    columns.add(t.gettext("Lead units"), wrap=True)
    columns.add(t.gettext("Units reported"))
    columns.add(t.gettext("Responsible units"))
    columns.add(t.gettext("Extensions"), wrap=True)
    columns.add(t.gettext("Awaiting review"), wrap=True)
    rows: list[list[Value]] = []
    for view in states(timetable, cycle, facts, today):
        task = timetable.task(view.task_id)
        status = f"{view.light.value} {phase_label(t, view.phase)}"
        if view.overdue:
            status += " · " + t.gettext("overdue")
        # the due date (the last day on time), as the bot says it: the cutoff is the day after
        due = view.cutoff - dt.timedelta(days=1) if view.cutoff else None
        reported = sum(1 for u in view.units if u.report is not None)
        rows.append([task.id, task.title, status, due, view.days_left,
                     deadline_line(t, view, task), _leads(t, timetable, task),
                     reported, len(view.units),
                     _joined(t, [_extension(t, timetable, u) for u in view.units
                                 if u.extension is not None]),
                     _joined(t, [_unit_name(t, timetable, u.unit_id)
                                 for u in view.awaiting_review])])
    return columns, rows


def _detail(t: Translator, timetable: Timetable, cycle: int, facts: Facts, today: dt.date,
            zone: ZoneInfo, names: Mapping[int, str]) -> tuple[_Columns, list[list[Value]]]:
    columns = _Columns()
    columns.add(t.gettext("No."))
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("Role"))
    columns.add(t.gettext("Status"))
    columns.add(t.gettext("Progress"), PERCENT_FORMAT)
    columns.add(t.gettext("Note"), wrap=True)
    columns.add(t.gettext("Reported at ({zone})").format(zone=zone.key), DATETIME_FORMAT)
    columns.add(t.gettext("Light"))
    columns.add(t.gettext("State"))
    columns.add(t.gettext("Review"), wrap=True)
    columns.add(t.gettext("Extension"), wrap=True)
    columns.add(t.gettext("Acknowledged"), wrap=True)
    rows: list[list[Value]] = []
    for view in states(timetable, cycle, facts, today):
        task = timetable.task(view.task_id)
        for state in view.units:
            report = state.report
            unit = _unit_name(t, timetable, state.unit_id)
            role = t.gettext(ROLE_LABELS[state.role])
            workflow: list[Value] = [
                state.light.value, phase_label(t, state.phase), _review(t, state, names, zone),
                _extension(t, timetable, state, with_unit=False) or None,
                _acknowledged(t, state, names, zone)]
            if report is None:
                if state.phase is Phase.CLOSED:
                    status = phase_label(t, Phase.CLOSED)
                else:
                    status = t.gettext("no report yet")
                rows.append([task.id, task.title, unit, role, status, None, None, None,
                             *workflow])
                continue
            rows.append([task.id, task.title, unit, role, _status(t, report.status),
                         _fraction(report.progress), getattr(report, "note", "") or None,
                         _local(report.reported_at, zone), *workflow])
    return columns, rows


def _joined(t: Translator, parts: Sequence[str]) -> str | None:
    return ("; " if t.language == "en" else "；").join(parts) or None


def _extension(t: Translator, timetable: Timetable, state: UnitState,
               with_unit: bool = True) -> str:
    """"extended to <due date>" (with the unit), or the request waiting for a decision."""
    text = ""
    if state.extension is not None and state.cutoff is not None:
        text = t.gettext("extended to {date}").format(
            date=(state.cutoff - dt.timedelta(days=1)).isoformat())
    elif state.pending is not None:
        text = t.gettext("extension to {date} requested, awaiting a decision").format(
            date=state.pending.due_date.isoformat())
    if text and with_unit:
        colon = ": " if t.language == "en" else "："
        text = f"{_unit_name(t, timetable, state.unit_id)}{colon}{text}"
    return text


def _who(names: Mapping[int, str], telegram_user_id: int | None) -> str:
    if telegram_user_id is None:
        return "—"
    return names.get(telegram_user_id, str(telegram_user_id))


def _when(value: dt.datetime, zone: ZoneInfo) -> str:
    return _local(value, zone).strftime("%Y-%m-%d %H:%M")


def _review(t: Translator, state: UnitState, names: Mapping[int, str],
            zone: ZoneInfo) -> str | None:
    review = state.review
    if review is None:
        return None
    who = _who(names, review.reviewer_telegram_id)
    if state.phase is Phase.CONFIRMED:
        return t.gettext("confirmed by {who} on {when}").format(
            who=who, when=_when(review.reviewed_at, zone))
    return t.gettext("returned by {who} on {when}: {comment}").format(
        who=who, when=_when(review.reviewed_at, zone), comment=review.comment or "—")


def _acknowledged(t: Translator, state: UnitState, names: Mapping[int, str],
                  zone: ZoneInfo) -> str | None:
    if state.acknowledged is None:
        return None
    return t.gettext("acknowledged by {who} on {when}").format(
        who=_who(names, state.acknowledged.telegram_user_id),
        when=_when(state.acknowledged.at, zone))


def _history(t: Translator, timetable: Timetable, history: Iterable[LoggedReport],
             zone: ZoneInfo) -> tuple[_Columns, list[list[Value]]]:
    columns = _Columns()
    columns.add(t.gettext("Reported at ({zone})").format(zone=zone.key), DATETIME_FORMAT)
    columns.add(t.gettext("No."))
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("Status"))
    columns.add(t.gettext("Progress"), PERCENT_FORMAT)
    columns.add(t.gettext("Note"), wrap=True)
    columns.add(t.gettext("Reporter (Telegram ID)"), ID_FORMAT)
    columns.add(t.gettext("Source"))
    rows: list[list[Value]] = []
    for report in history:
        source = SOURCE_LABELS.get(report.source)
        rows.append([_local(report.reported_at, zone), report.task_id,
                     _task_title(timetable, report.task_id),
                     _unit_name(t, timetable, report.unit_id), _status(t, report.status),
                     _fraction(report.progress), report.note or None,
                     report.reporter_telegram_id,
                     t.gettext(source) if source else report.source])
    return columns, rows


# -- values -------------------------------------------------------------------------------------
def _unit_name(t: Translator, timetable: Timetable, unit_id: str) -> str:
    """The unit's name in the reader's language, not HTML-escaped (unlike render.unit_name).

    A unit since removed from the timetable keeps its id, so old reports still show.
    """
    try:
        unit: Unit = timetable.unit(unit_id)
    except KeyError:
        return unit_id
    return unit.name_en if t.language == "en" else unit.name


def _task_title(timetable: Timetable, task_id: int) -> str | None:
    try:
        return timetable.task(task_id).title
    except KeyError:
        return None


def _leads(t: Translator, timetable: Timetable, task: Task) -> str:
    """The lead units as written (a group by its name); without a lead, the joint units."""
    separator = ", " if t.language == "en" else "、"
    if task.lead_units:
        return separator.join(_unit_name(t, timetable, u) for u in task.lead_units)
    joint = separator.join(_unit_name(t, timetable, u) for u in task.joint_units)
    return f"{joint} ({t.gettext(ROLE_LABELS[Role.JOINT])})"


def _status(t: Translator, status: str) -> str:
    label = STATUS_LABELS.get(status)
    return t.gettext(label) if label else status


def _fraction(progress: int | None) -> float | None:
    """Progress 0-100 as the fraction Excel's percent format expects (60 -> 0.6)."""
    return None if progress is None else progress / 100


def _local(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """An aware datetime as naive wall-clock time in ``zone``, to the second."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive report time {value!r}: give a time-zone-aware datetime")
    return value.astimezone(zone).replace(tzinfo=None, microsecond=0)


# -- writing ------------------------------------------------------------------------------------
def _fill(sheet: Worksheet, columns: _Columns, rows: list[list[Value]]) -> None:
    """Write a bold, frozen, filterable header row, the rows, and fit the column widths."""
    bold = Font(bold=True)
    for index, header in enumerate(columns.headers, start=1):
        cell = _write(sheet, 1, index, header)
        cell.font = bold
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    top = Alignment(vertical="top")
    top_wrapped = Alignment(vertical="top", wrap_text=True)
    for row_index, row in enumerate(rows, start=2):
        for index, value in enumerate(row, start=1):
            cell = _write(sheet, row_index, index, value)
            if index in columns.formats:
                cell.number_format = columns.formats[index]
            cell.alignment = top_wrapped if index in columns.wrapped else top
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    last = get_column_letter(len(columns.headers))
    sheet.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
    for index, header in enumerate(columns.headers, start=1):
        widest = max([_width(header), *(_width(row[index - 1]) for row in rows)])
        limit = _MAX_TEXT_WIDTH if index in columns.wrapped else _MAX_WIDTH
        width = min(max(widest + 2, _MIN_WIDTH), limit)
        sheet.column_dimensions[get_column_letter(index)].width = width


def _write(sheet: Worksheet, row: int, column: int, value: Value) -> XlCell:
    """Write one value; text stays text, whatever it starts with (no formula injection)."""
    if not isinstance(value, str):
        return sheet.cell(row=row, column=column, value=value)
    text = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters make openpyxl raise
    cell = sheet.cell(row=row, column=column, value=text)
    cell.data_type = "s"  # openpyxl makes "=..." a formula and "#N/A" an error
    if text.startswith(_FORMULA_STARTS):
        cell.quotePrefix = True  # Excel's leading apostrophe: stays text when edited
    return cell


def _width(value: Value) -> int:
    """About how many character widths Excel needs to show ``value`` (CJK counts two)."""
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return len(DATETIME_FORMAT)
    if isinstance(value, dt.date):
        return len(DATE_FORMAT)
    if isinstance(value, float):
        return 5  # a percentage: "100%"
    text = str(value)
    return max((sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
                for line in text.splitlines() or [""]), default=0)
