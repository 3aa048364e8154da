"""An Excel workbook of a cycle's status for the leadership group: summary, detail, history.

Offices hand these tables around, so dates are real date cells, progress is a number shown as a
percentage, and every sheet has a bold, frozen header row with an autofilter. Nothing here talks
to Telegram or the database: the caller passes the reports in and sends the bytes::

    data = build_workbook(t, timetable, cycle, store.latest_reports(cycle),
                          store.reports_for_cycle(cycle), today)
    await bot.send_document(chat_id, data, filename=export_filename(cycle, today))

Sheets, in the reader's language: 汇总 / Summary (one row per task), 明细 / Detail (one row per
task and responsible unit, groups expanded) and 报送记录 / History (every report of the cycle, in
the order given). Text the users typed is always written as text, never as a formula.
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
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.i18n import N_, Translator
from bot.render import PHASE_LABELS, ROLE_LABELS, STATUS_LABELS, deadline_line, states
from schedules.model import Role, Task, Timetable, Unit
from schedules.progress import ReportLike, TaskPhase

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


def build_workbook(t: Translator, timetable: Timetable, cycle: int,
                   latest: Mapping[tuple[int, str], ReportLike],
                   history: Sequence[LoggedReport], today: dt.date) -> bytes:
    """The cycle's status as an xlsx workbook with a summary, a detail and a history sheet.

    Excel has no time zones: report times are converted to the plan's time zone
    (``timetable.reminders.timezone``, Asia/Shanghai by default) and written as naive local
    times; the column header names the zone.

    Args:
        t: the reader's translator (sheet names, headers, labels, unit names).
        timetable: the validated timetable.
        cycle: the cycle year.
        latest: ``(task_id, unit_id) -> report``, the newest report of each pair in ``cycle``
            (``Store.latest_reports(cycle)``).
        history: every report of ``cycle``, oldest first (``Store.reports_for_cycle(cycle)``);
            written in the order given.
        today: the current day in the plan's time zone, for states and days left.

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

    summary = workbook.active  # a new workbook has one sheet
    summary.title = t.gettext(SHEET_SUMMARY)
    _fill(summary, *_summary(t, timetable, cycle, latest, today))
    detail = workbook.create_sheet(t.gettext(SHEET_DETAIL))
    _fill(detail, *_detail(t, timetable, cycle, latest, today, zone))
    log = workbook.create_sheet(t.gettext(SHEET_HISTORY))
    _fill(log, *_history(t, timetable, history, zone))
    for sheet in (summary, detail, log):
        sheet.oddHeader.center.text = f"{title} · {sheet.title}"
        sheet.oddFooter.right.text = as_of

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


def _summary(t: Translator, timetable: Timetable, cycle: int,
             latest: Mapping[tuple[int, str], ReportLike],
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
    rows: list[list[Value]] = []
    for state in states(timetable, cycle, latest, today):
        task = timetable.task(state.task_id)
        status = f"{state.light} {t.gettext(PHASE_LABELS[state.phase])}"
        if state.overdue:
            status += " · " + t.gettext("overdue")
        # the due date (the last day on time), as the bot says it: the cutoff is the day after
        due = state.cutoff - dt.timedelta(days=1) if state.cutoff else None
        responsible = timetable.responsible_units(task)
        reported = sum(1 for a in responsible if (task.id, a.unit_id) in latest)
        rows.append([task.id, task.title, status, due, state.days_left,
                     deadline_line(t, state, task), _leads(t, timetable, task),
                     reported, len(responsible)])
    return columns, rows


def _detail(t: Translator, timetable: Timetable, cycle: int,
            latest: Mapping[tuple[int, str], ReportLike], today: dt.date,
            zone: ZoneInfo) -> tuple[_Columns, list[list[Value]]]:
    columns = _Columns()
    columns.add(t.gettext("No."))
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("Role"))
    columns.add(t.gettext("Status"))
    columns.add(t.gettext("Progress"), PERCENT_FORMAT)
    columns.add(t.gettext("Note"), wrap=True)
    columns.add(t.gettext("Reported at ({zone})").format(zone=zone.key), DATETIME_FORMAT)
    rows: list[list[Value]] = []
    for state in states(timetable, cycle, latest, today):
        task = timetable.task(state.task_id)
        for assignment in timetable.responsible_units(task):
            report = latest.get((task.id, assignment.unit_id))
            unit = _unit_name(t, timetable, assignment.unit_id)
            role = t.gettext(ROLE_LABELS[assignment.role])
            if report is None:
                if state.phase is TaskPhase.CLOSED:
                    status = t.gettext(PHASE_LABELS[TaskPhase.CLOSED])
                else:
                    status = t.gettext("no report yet")
                rows.append([task.id, task.title, unit, role, status, None, None, None])
                continue
            rows.append([task.id, task.title, unit, role, _status(t, report.status),
                         _fraction(report.progress), getattr(report, "note", "") or None,
                         _local(report.reported_at, zone)])
    return columns, rows


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
