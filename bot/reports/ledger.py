"""The ledger (台账): a cycle's supervision record as an Excel workbook in the plan's shape.

Offices keep their ledger in Excel and hand it on, so nobody should re-type anything: dates are
real date cells, progress is a number shown as a percentage, states and lights are words (the
light's cell is also filled with its colour), people are named, and every sheet has a bold,
frozen header row, an autofilter (but the ledger sheet, merged as attachment 2), its header
row repeated on every printed page, and a print header naming the plan, the cycle and the
sheet. The caller gathers what was appended (:func:`collect`) and sends the bytes::

    data = await services.db(collect, services.store, cycle)
    content = build_workbook(t, timetable, data, today)
    await bot.send_document(chat_id, content, filename=ledger_filename(cycle, today))

Sheets, in the reader's language:

1. 台账 / Ledger — attachment 2's columns (目标任务, 考核内容, 牵头及配合部门, 完成时间, 备注),
   then one row per responsible unit: its role, state (not reported, in progress, blocked,
   returned, reported done awaiting review, confirmed), progress, latest note, report date,
   reporter, due date, extension, review, acknowledgement (签收) and light;
2. 汇总 / Summary — one row per task, its consolidated state;
3. 报送记录 / Reports — every report of the cycle;
4. 提醒签收 / Reminders — every reminder and overdue notice sent (or that failed), and who
   acknowledged it;
5. 延期 / Extensions — every request and its decision;
6. 审结 / Reviews — every confirmation or return of a report of done;
7. 催办 / Urges;
8. 操作记录 / Audit — the workflow's audit trail of the cycle, but the reports, which sheet 3
   lists (``bot.reports.record.LOGGED_ACTIONS`` says why; its header says where they are);
9. 考评 / Scorecard — per unit, by the rules of docs/scorecard.md.

Text the users typed is always written as text, never as a formula.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from itertools import repeat
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from babel.dates import format_date
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.worksheet import Worksheet

from bot.i18n import N_, Translator
from bot.render import ACTION_LABELS, ROLE_LABELS, STATUS_LABELS, deadline_line, phase_label
from bot.reports.gc_pause import cyclic_gc_paused
from bot.reports.record import CycleRecord, LoggedReport, unit_scores
from bot.reports.scorecard import score_table
from bot.reports.wallclock import WallClock
from schedules.model import DeadlineKind, Role, Task, Timetable, Unit
from schedules.workflow import FINISHED_PHASES, LEGEND, Light, Phase, UnitState, cycle_views

SHEET_LEDGER = N_("Ledger")
SHEET_SUMMARY = N_("Summary")
SHEET_REPORTS = N_("Reports")
SHEET_REMINDERS = N_("Reminders")
SHEET_EXTENSIONS = N_("Extensions")
SHEET_REVIEWS = N_("Reviews")
SHEET_URGES = N_("Urges")
SHEET_AUDIT = N_("Audit")
SHEET_SCORECARD = N_("Scorecard")

SOURCE_LABELS = {
    "button": N_("button"),
    "reply": N_("reply"),
    "command": N_("command"),
    "cli": N_("command line"),
}
LIGHT_WORDS = {
    Light.CONFIRMED: N_("green"),
    Light.AWAITING_REVIEW: N_("blue"),
    Light.DUE_SOON: N_("yellow"),
    Light.LATE: N_("red"),
    Light.NO_REPORT: N_("white"),
    Light.CLOSED: N_("grey"),
}
"""Each light in words (a ledger is printed and filtered: words, not emoji)."""
LIGHT_MEANINGS = dict(LEGEND)
"""What each light means: the workflow's one legend."""
LIGHT_FILLS = {Light.CONFIRMED: "C6EFCE", Light.AWAITING_REVIEW: "BDD7EE",
               Light.DUE_SOON: "FFEB9C", Light.LATE: "FFC7CE", Light.NO_REPORT: "FFFFFF",
               Light.CLOSED: "D9D9D9"}
REMINDER_KINDS = {"before": N_("reminder before the due date"),
                  "overdue": N_("overdue notice"),
                  "ack": N_("reminder to acknowledge")}
DELIVERY_STATES = {"sent": N_("sent"), "failed": N_("failed"), "skipped": N_("skipped")}
EXTENSION_STATES = {"pending": N_("awaiting a decision"), "approved": N_("approved"),
                    "rejected": N_("rejected")}
REVIEW_DECISIONS = {"confirmed": N_("confirmed done"), "returned": N_("returned")}

_MERGED_COLUMNS = (2, 3, 4, 5, 6)
"""The ledger's columns merged over a task's rows: 目标任务, 考核内容, 牵头及配合部门, 完成时间,
备注 (as the plan's attachment 2 prints them). 序号 is repeated on every row, so that each row
still names its task.

The ledger sheet is attachment 2's shape, so it has no AutoFilter: Excel refuses to sort a range
with merged cells, and a filter shows a task's later rows with blank merged columns. Filtering
and sorting are done on the other sheets, which have no merges and one row per fact: 汇总 per
task, 报送记录 per report, 考评 per unit (README, "The ledger")."""

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
PERCENT_FORMAT = "0%"
DECIMAL_FORMAT = "0.0"

# Excel computes "=..." as a formula; "+", "-" and "@" start one when a reader edits the cell.
_FORMULA_STARTS = ("=", "+", "-", "@")
_MAX_WIDTH, _MAX_TEXT_WIDTH = 40, 60
# the least width of a column of each kind, so that even an empty sheet reads well
_NUMBER_WIDTH, _TEXT_WIDTH, _WRAPPED_WIDTH = 8, 14, 30

Value = str | int | float | dt.date | dt.datetime | None


def ledger_filename(cycle: int, today: dt.date) -> str:
    """The workbook's file name, e.g. ``duban-2026-20261126.xlsx``."""
    return f"duban-{cycle}-{today:%Y%m%d}.xlsx"


def default_ledger_path(data_dir: Path, cycle: int, today: dt.date) -> Path:
    """Where ``duban export`` writes without ``-o``: ``<data dir>/exports/<file name>``, never
    the working directory (which may be the checkout)."""
    return data_dir / "exports" / ledger_filename(cycle, today)


def build_workbook(t: Translator, timetable: Timetable, data: CycleRecord,
                   today: dt.date) -> bytes:
    """The cycle's ledger as the bytes of an ``.xlsx`` workbook (the sheets: module docstring).

    Excel has no time zones: times are converted to the office's time zone (``t.zone``,
    ``DUBAN_TZ``, Asia/Shanghai by default) and written as naive local times; the column
    headers name the zone. The sheets' rows hold the instants (aware datetimes) in their
    time columns; they are converted as the rows are written (:class:`WallClock`).

    Args:
        t: the reader's translator (sheet names, headers, words, unit names; its zone is the
            office's: every date and time of the workbook is shown in it).
        timetable: the validated timetable.
        data: what was appended about the cycle.
        today: the current day in the office's time zone, for states and days left.

    Raises:
        ValueError: a time is naive.
    """
    with cyclic_gc_paused():  # hundreds of thousands of rows, no cycle among them
        return _build(t, timetable, data, today)


def _build(t: Translator, timetable: Timetable, data: CycleRecord, today: dt.date) -> bytes:
    context = _Context(t, timetable, data, today, t.zone, WallClock(t.zone))
    workbook = Workbook()
    title = t.gettext("{plan}: ledger of cycle {year}").format(plan=timetable.plan.title,
                                                               year=data.cycle)
    workbook.properties.title = title
    workbook.properties.creator = "duban"
    sheets = (
        (SHEET_LEDGER, _ledger(context), "C2"),
        (SHEET_SUMMARY, _summary(context), "C2"),
        (SHEET_REPORTS, _reports(context), "A2"),
        (SHEET_REMINDERS, _reminders(context), "A2"),
        (SHEET_EXTENSIONS, _extensions(context), "A2"),
        (SHEET_REVIEWS, _reviews(context), "A2"),
        (SHEET_URGES, _urges(context), "A2"),
        (SHEET_AUDIT, _audit(context), "A2"),
        (SHEET_SCORECARD, _scorecard(context), "B2"),
    )
    as_of = t.gettext("as of {date}").format(date=t.date(today))
    page = t.gettext("page &P of &N")
    legend = "\n".join(f"{t.gettext(LIGHT_WORDS[light])}: {t.gettext(LIGHT_MEANINGS[light])}"
                       for light in Light)
    fills = {t.gettext(LIGHT_WORDS[light]): PatternFill("solid", fgColor=colour)
             for light, colour in LIGHT_FILLS.items()}
    bodies = []
    for index, (name, (columns, rows), freeze) in enumerate(sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        assert sheet is not None
        sheet.title = t.gettext(name)
        merged = name == SHEET_LEDGER
        body = _frame(sheet, columns, rows, freeze, fills, context.clock,
                      merge=_MERGED_COLUMNS if merged else (), filtered=not merged)
        body.path = f"xl/worksheets/sheet{index + 1}.xml"  # openpyxl's names, in sheet order
        bodies.append(body)
        sheet.oddHeader.center.text = _header_text(title)
        sheet.oddHeader.right.text = _header_text(sheet.title)
        sheet.oddFooter.left.text = _header_text(as_of)
        sheet.oddFooter.right.text = page
        if columns.light is not None:
            sheet.cell(row=1, column=columns.light).comment = Comment(legend, "duban")
        for column, note in columns.notes.items():
            sheet.cell(row=1, column=column).comment = Comment(note, "duban")
    buffer = BytesIO()
    workbook.save(buffer)
    return _package(buffer.getvalue(), bodies)


# -- the sheets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    t: Translator
    timetable: Timetable
    data: CycleRecord
    today: dt.date
    zone: dt.tzinfo
    clock: WallClock
    words: dict[str, str] = field(default_factory=dict)

    def text(self, message: str) -> str:
        """``t.gettext(message)``, translated once per workbook (the ledger says the same
        few words for each of 26,000 units and tasks at 1,000 units)."""
        found = self.words.get(message)
        if found is None:
            found = self.words[message] = self.t.gettext(message)
        return found

    def unit(self, unit_id: str) -> str:
        return _unit_name(self.t, self.timetable, unit_id)

    def who(self, telegram_user_id: int | None) -> str | None:
        """A person (or group) by name; one never enrolled is said so, not shown as a number."""
        if telegram_user_id is None:
            return None
        name = self.data.names.get(telegram_user_id)
        return name if name is not None else self.t.gettext("not enrolled")

    def reporter(self, telegram_user_id: int | None, source: str | None) -> str | None:
        """Who made a report: a person, or the command line (a report made with duban's
        commands has no Telegram user)."""
        if telegram_user_id is None and source == "cli":
            return self.t.gettext(SOURCE_LABELS["cli"])
        return self.who(telegram_user_id)

    def time_header(self, header: str) -> str:
        return self.t.gettext("{header} ({zone})").format(header=self.t.gettext(header),
                                                         zone=zone_name(self.zone))


class _Columns:
    """A sheet's headers with each column's number format, width kind and the light column."""

    def __init__(self) -> None:
        self.headers: list[str] = []
        self.formats: dict[int, str] = {}
        self.least: dict[int, int] = {}
        self.wrapped: set[int] = set()
        self.most: dict[int, int] = {}
        self.light: int | None = None
        self.wide = False  # printed on A3 (the ledger), else A4
        self.notes: dict[int, str] = {}  # column -> a comment on its header

    def add(self, header: str, number_format: str | None = None, wrap: bool = False,
            narrow: bool = False, light: bool = False, at_most: int | None = None) -> None:
        index = len(self.headers) + 1
        self.headers.append(header)
        if at_most is not None:
            self.most[index] = at_most
        if number_format:
            self.formats[index] = number_format
        if wrap:
            self.wrapped.add(index)
        if light:
            self.light = index
        if number_format == DATETIME_FORMAT:
            self.least[index] = len(DATETIME_FORMAT) + 2
        elif number_format == DATE_FORMAT:
            self.least[index] = len(DATE_FORMAT) + 2
        else:
            self.least[index] = (_NUMBER_WIDTH if narrow or number_format else
                                 _WRAPPED_WIDTH if wrap else _TEXT_WIDTH)


Sheet = tuple[_Columns, list[list[Value]]]


def _ledger(c: _Context) -> Sheet:
    t = c.t
    # Eighteen columns on one A3 page wide: the long texts wrap in narrow columns.
    columns = _Columns()
    columns.wide = True
    columns.add(t.gettext("No."), narrow=True)
    columns.add(t.gettext("Target task"), wrap=True, at_most=18)
    columns.add(t.gettext("Assessment content"), wrap=True, at_most=36)
    columns.add(t.gettext("Lead and cooperating units"), wrap=True, at_most=22)
    columns.add(t.gettext("Completion time"), wrap=True, at_most=12)
    columns.add(t.gettext("Remarks"), wrap=True, at_most=12)
    columns.add(t.gettext("Responsible unit"), wrap=True, at_most=16)
    columns.add(t.gettext("Role"), wrap=True, at_most=10)
    columns.add(t.gettext("State"), wrap=True, at_most=14)
    columns.add(t.gettext("Progress"), PERCENT_FORMAT)
    columns.add(t.gettext("Latest note"), wrap=True, at_most=24)
    columns.add(t.gettext("Report date"), DATE_FORMAT)
    columns.add(t.gettext("Reported by"), wrap=True, at_most=10)
    columns.add(t.gettext("Due date"), DATE_FORMAT)
    columns.add(t.gettext("Extension"), wrap=True, at_most=16)
    columns.add(t.gettext("Review"), wrap=True, at_most=18)
    columns.add(t.gettext("Acknowledged"), wrap=True, at_most=18)
    columns.add(t.gettext("Light"), narrow=True, light=True)
    notes = _latest_notes(c.data.history)
    rows: list[list[Value]] = []
    # each different role and state said once
    roles: dict[tuple[Role, bool], str] = {}
    states: dict[tuple[Phase, bool], str] = {}
    for view in cycle_views(c.timetable, c.data.facts, c.today):
        task = c.timetable.task(view.task_id)
        head: list[Value] = [task.id, task.title, "\n".join(task.items),
                             _responsibility(t, c.timetable, task),
                             _completion_time(t, c.timetable, task), task.remark or None]
        for state in view.units:
            report = state.report
            latest = notes.get((task.id, state.unit_id))
            role = (state.role, bool(task.lead_units))
            if role not in roles:
                roles[role] = _role(t, task, state.role)
            phase = (state.phase, state.overdue)
            if phase not in states:
                states[phase] = _state(t, state)
            progress = reported_on = reporter = None
            if report is not None:
                progress = _fraction(report.progress)
                reported_on = c.clock.date(report.reported_at)
                # a stored report names its reporter (ReportFact need not)
                reporter = c.reporter(getattr(report, "reporter_telegram_id", None),
                                      getattr(report, "source", None))
            rows.append([*head, c.unit(state.unit_id), roles[role], states[phase], progress,
                         _note(c, report, latest), reported_on,
                         reporter, state.cutoff - dt.timedelta(days=1) if state.cutoff else None,
                         _extension(t, state) or None, _review(c, state),
                         _acknowledged(c, state), c.text(LIGHT_WORDS[state.light])])
    return columns, rows


def _summary(c: _Context) -> Sheet:
    t = c.t
    columns = _Columns()
    columns.add(t.gettext("No."), narrow=True)
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("State"))
    columns.add(t.gettext("Light"), narrow=True, light=True)
    columns.add(t.gettext("Due date"), DATE_FORMAT)
    columns.add(t.gettext("Days left"), narrow=True)
    columns.add(t.gettext("Deadline"), wrap=True)
    columns.add(t.gettext("Lead units"), wrap=True)
    columns.add(t.gettext("Units reported"), narrow=True)
    columns.add(t.gettext("Responsible units"), narrow=True)
    columns.add(t.gettext("Extensions"), wrap=True)
    columns.add(t.gettext("Awaiting review"), wrap=True)
    rows: list[list[Value]] = []
    for view in cycle_views(c.timetable, c.data.facts, c.today):
        task = c.timetable.task(view.task_id)
        state = phase_label(t, view.phase)
        if view.overdue:
            state += t.gettext(", overdue")
        # the due date (the last day on time), as the bot says it: the cutoff is the day after
        due = view.cutoff - dt.timedelta(days=1) if view.cutoff else None
        reported = sum(1 for u in view.units if u.report is not None)
        extensions = [f"{c.unit(u.unit_id)}{_colon(t)}{_extension(t, u)}"
                      for u in view.units if _extension(t, u)]
        rows.append([task.id, task.title, state, t.gettext(LIGHT_WORDS[view.light]), due,
                     # finished (reported done or confirmed): nothing is left to count down
                     None if view.phase in FINISHED_PHASES else view.days_left,
                     deadline_line(t, view, task),
                     _leads(t, c.timetable, task), reported, len(view.units),
                     _joined(t, extensions),
                     _joined(t, [c.unit(u.unit_id) for u in view.awaiting_review])])
    return columns, rows


def _reports(c: _Context) -> Sheet:
    t = c.t
    columns = _Columns()
    columns.add(c.time_header(N_("Reported at")), DATETIME_FORMAT)
    columns.add(t.gettext("No."), narrow=True)
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("Status"))
    columns.add(t.gettext("Progress"), PERCENT_FORMAT)
    columns.add(t.gettext("Note"), wrap=True)
    columns.add(t.gettext("Reported by"))
    columns.add(t.gettext("Source"))
    rows: list[list[Value]] = []
    # A year at 1,000 units is 130,000 reports: each name, title and label is looked up once.
    titles: dict[int, str | None] = {}
    units: dict[str, str] = {}
    statuses: dict[str, str] = {}
    sources: dict[str, str] = {}
    reporters: dict[tuple[int | None, str], str | None] = {}
    for report in c.data.history:
        task_id, unit_id, status, source = (report.task_id, report.unit_id, report.status,
                                            report.source)
        if task_id not in titles:
            titles[task_id] = _task_title(c.timetable, task_id)
        if unit_id not in units:
            units[unit_id] = c.unit(unit_id)
        if status not in statuses:
            statuses[status] = _status(t, status)
        if source not in sources:
            label = SOURCE_LABELS.get(source)
            sources[source] = t.gettext(label) if label else source
        who = (report.reporter_telegram_id, source)
        if who not in reporters:
            reporters[who] = c.reporter(*who)
        progress = report.progress
        rows.append([report.reported_at, task_id, titles[task_id], units[unit_id],
                     statuses[status], None if progress is None else progress / 100,
                     report.note or None, reporters[who], sources[source]])
    return columns, rows


def _reminders(c: _Context) -> Sheet:
    t = c.t
    columns = _Columns()
    columns.add(c.time_header(N_("Sent at")), DATETIME_FORMAT)
    columns.add(t.gettext("No."), narrow=True)
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("Kind"))
    columns.add(t.gettext("Due date"), DATE_FORMAT)
    columns.add(t.gettext("Sent to"))
    columns.add(t.gettext("Delivery"))
    columns.add(t.gettext("Reason"), wrap=True)
    columns.add(t.gettext("Acknowledged by"))
    columns.add(c.time_header(N_("Acknowledged at")), DATETIME_FORMAT)
    rows: list[list[Value]] = []
    for reminder in c.data.reminders:
        if reminder.state not in DELIVERY_STATES or reminder.kind not in REMINDER_KINDS:
            continue  # not sent yet, or a leadership digest (about no task)
        rows.append([reminder.sent_at or reminder.due_at, reminder.task_id,
                     _task_title(c.timetable, reminder.task_id), c.unit(reminder.unit_id),
                     t.gettext(REMINDER_KINDS[reminder.kind]),
                     reminder.cutoff - dt.timedelta(days=1), c.who(reminder.chat_id),
                     t.gettext(DELIVERY_STATES[reminder.state]),
                     # a skip reason is one of the dispatcher's marked messages; a failure
                     # is Telegram's words, said in the reader's (delivery_reason)
                     delivery_reason(t, reminder.state, reminder.reason),
                     c.who(reminder.acknowledged_by_telegram_id),
                     reminder.acknowledged_at])
    return columns, rows


FAILURES = (  # (what the stored reason contains, lower case; what it means)
    ("blocked by the user", N_("the person blocked the bot")),
    ("user is deactivated", N_("the person's Telegram account was deleted")),
    ("bot can't initiate conversation", N_("the person never started the bot")),
    ("kicked from", N_("the bot was removed from the group")),
    ("bot is not a member", N_("the bot is not in the group")),
    ("chat not found", N_("the chat does not exist (any more)")),
    ("not enough rights", N_("the bot may not send messages there")),
    ("have no rights", N_("the bot may not send messages there")),
    ("need administrator rights", N_("the bot may not send messages there")),
    ("chat_write_forbidden", N_("the bot may not send messages there")),
    ("upgraded to a supergroup", N_("the group became a supergroup")),
    ("chat migrated", N_("the group became a supergroup")),
    ("message is too long", N_("the message was too long for Telegram")),
    ("did not answer", N_("Telegram did not answer twice; the message may have arrived")),
    ("gave up after", N_("network errors: the bot gave up after several attempts")),
    ("timed out", N_("network error: Telegram did not answer in time")),
    ("internal error", N_("an error in the bot (its log has the details)")),
)
"""How a failed delivery's stored reason (Telegram's English, ``bot/reminders.py``) reads in
the ledger: the first entry whose words it contains."""


def delivery_reason(t: Translator, state: str, reason: str | None) -> str | None:
    """A delivery's reason in the reader's language: a skip's is a marked message; a failure's
    is Telegram's words, said by :data:`FAILURES` (any other failure keeps Telegram's words
    after a translated lead)."""
    if not reason:
        return None
    if state != "failed":
        return t.gettext(reason)
    lowered = reason.lower()
    for words, meaning in FAILURES:
        if words in lowered:
            return t.gettext(meaning)
    if lowered.startswith("forbidden"):
        return t.gettext("the chat refuses the bot")
    return t.gettext("Telegram refused the message: {error}").format(error=reason)


def _extensions(c: _Context) -> Sheet:
    t = c.t
    columns = _Columns()
    columns.add(c.time_header(N_("Requested at")), DATETIME_FORMAT)
    columns.add(t.gettext("No."), narrow=True)
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("New due date"), DATE_FORMAT)
    columns.add(t.gettext("Reason"), wrap=True)
    columns.add(t.gettext("Requested by"))
    columns.add(t.gettext("Decision"))
    columns.add(t.gettext("Decided by"))
    columns.add(c.time_header(N_("Decided at")), DATETIME_FORMAT)
    columns.add(t.gettext("Comment"), wrap=True)
    requests = sorted(((pair, e) for pair, found in c.data.facts.extensions.items()
                       for e in found), key=lambda item: (item[1].requested_at, item[1].id or 0))
    rows: list[list[Value]] = []
    for (task_id, unit_id), e in requests:
        state = EXTENSION_STATES.get(e.state)
        rows.append([e.requested_at, task_id, _task_title(c.timetable, task_id),
                     c.unit(unit_id), e.due_date, getattr(e, "reason", "") or None,
                     c.who(getattr(e, "requested_by", None)),
                     t.gettext(state) if state else e.state,
                     c.who(getattr(e, "decided_by", None)), e.decided_at,
                     getattr(e, "decision_comment", "") or None])
    return columns, rows


def _reviews(c: _Context) -> Sheet:
    t = c.t
    columns = _Columns()
    columns.add(c.time_header(N_("Reviewed at")), DATETIME_FORMAT)
    columns.add(t.gettext("No."), narrow=True)
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("Decision"))
    columns.add(t.gettext("Comment"), wrap=True)
    columns.add(t.gettext("Reviewed by"))
    columns.add(c.time_header(N_("Report reviewed, made at")), DATETIME_FORMAT)
    reviewed = {r.id: r for r in c.data.history if r.id is not None}
    reviews = sorted(c.data.facts.reviews.values(), key=lambda r: (r.reviewed_at, r.report_id))
    rows: list[list[Value]] = []
    for review in reviews:
        report = reviewed.get(review.report_id)
        if report is None:  # a review of a report of another cycle: not this ledger's
            continue
        decision = REVIEW_DECISIONS.get(review.decision)
        rows.append([review.reviewed_at, report.task_id,
                     _task_title(c.timetable, report.task_id), c.unit(report.unit_id),
                     t.gettext(decision) if decision else review.decision,
                     review.comment or None, c.who(review.reviewer_telegram_id),
                     report.reported_at])
    return columns, rows


def _urges(c: _Context) -> Sheet:
    t = c.t
    columns = _Columns()
    columns.add(c.time_header(N_("Urged at")), DATETIME_FORMAT)
    columns.add(t.gettext("No."), narrow=True)
    columns.add(t.gettext("Task"), wrap=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("Urged by"))
    rows: list[list[Value]] = [
        [u.urged_at, u.task_id, _task_title(c.timetable, u.task_id), c.unit(u.unit_id),
         c.who(u.urged_by)] for u in c.data.urges]
    return columns, rows


def _audit(c: _Context) -> Sheet:
    t = c.t
    columns = _Columns()
    columns.add(c.time_header(N_("Time")), DATETIME_FORMAT)
    columns.add(t.gettext("Who"))
    columns.add(t.gettext("Action"))
    columns.notes[len(columns.headers)] = t.gettext(
        "The reports are on the sheet {sheet}, one row each with its note; this sheet lists "
        "the workflow's other acts.").format(sheet="“" + t.gettext(SHEET_REPORTS) + "”")
    columns.add(t.gettext("No."), narrow=True)
    columns.add(t.gettext("Unit"))
    columns.add(t.gettext("Details"), wrap=True)
    rows: list[list[Value]] = []
    for entry in c.data.log:
        details = entry.details_dict()
        label = ACTION_LABELS.get(entry.action)
        task_id = details.get("task_id")
        unit_id = details.get("unit_id")
        extra = []
        if entry.action == "report.added" and isinstance(details.get("status"), str):
            extra.append(_status(t, str(details["status"])))
        for key in ("due_date", "reason", "comment", "file_name"):
            if details.get(key):
                extra.append(str(details[key]))
        source = details.get("source")  # a report made on the command line has no person
        rows.append([entry.at,
                     c.reporter(entry.actor_telegram_id,
                                source if isinstance(source, str) else None),
                     t.gettext(label) if label else entry.action,
                     task_id if isinstance(task_id, int) else None,
                     c.unit(unit_id) if isinstance(unit_id, str) else None,
                     _joined(t, extra)])
    return columns, rows


def _scorecard(c: _Context) -> Sheet:
    scores = unit_scores(c.timetable, c.data, c.today, c.t.zone)
    headers, rows = score_table(c.t, c.timetable, scores)
    columns = _Columns()
    for index, header in enumerate(headers):
        if index == 0:
            columns.add(header.text)
        elif header.kind == "percent":
            columns.add(header.text, PERCENT_FORMAT)
        elif header.kind == "decimal":
            columns.add(header.text, DECIMAL_FORMAT)
        else:
            columns.add(header.text, narrow=True)
    return columns, [list(row) for row in rows]


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


def _separator(t: Translator) -> str:
    return ", " if t.language == "en" else "、"


def _colon(t: Translator) -> str:
    return ": " if t.language == "en" else "："


def _joined(t: Translator, parts: Sequence[str]) -> str | None:
    return ("; " if t.language == "en" else "；").join(parts) or None


def _leads(t: Translator, timetable: Timetable, task: Task) -> str:
    """The lead units as written (a group by its name); without a lead, the joint units,
    said to be jointly responsible."""
    if task.lead_units:
        return _separator(t).join(_unit_name(t, timetable, u) for u in task.lead_units)
    joint = _separator(t).join(_unit_name(t, timetable, u) for u in task.joint_units)
    return t.gettext("jointly: {units}").format(units=joint)


def _responsibility(t: Translator, timetable: Timetable, task: Task) -> str:
    """牵头及配合部门: the plan's own wording in Chinese; in English, the units by role."""
    if t.language != "en" and task.responsibility_text:
        return task.responsibility_text
    parts = []
    for role, label in ((Role.LEAD, N_("lead: {units}")), (Role.JOINT, N_("jointly: {units}")),
                        (Role.COOPERATING, N_("cooperating: {units}"))):
        units = dict(task.units_by_role())[role]
        if units:
            parts.append(t.gettext(label).format(
                units=_separator(t).join(_unit_name(t, timetable, u) for u in units)))
    return "; ".join(parts) if t.language == "en" else "；".join(parts)


def _completion_time(t: Translator, timetable: Timetable, task: Task) -> str | None:
    """完成时间 as the plan words it (blank for the statistics tasks, as in the plan)."""
    if task.deadline.kind is DeadlineKind.STATISTICS:
        return None
    if t.language != "en" and task.deadline.text:
        return task.deadline.text
    cutoff = timetable.policy_for(task).cutoff  # the first late day: 12-01 is "before December"
    first_of_month = cutoff.day == 1
    day = format_date(dt.date(2024, cutoff.month, cutoff.day),
                      "LLLL" if first_of_month else "MMMM d", locale=t.locale)
    if task.deadline.kind is DeadlineKind.ONCE:
        return t.gettext("before {day} {year}").format(day=day, year=task.deadline.year)
    return t.gettext("before {day} every year").format(day=day)


def _role(t: Translator, task: Task, role: Role) -> str:
    if role is Role.JOINT and not task.lead_units:
        return t.gettext("joint (no lead)")
    return t.gettext(ROLE_LABELS[role])


def _state(t: Translator, state: UnitState) -> str:
    text = phase_label(t, state.phase)
    if state.overdue:
        text += t.gettext(", overdue")
    return text


def _latest_notes(history: Iterable[LoggedReport]) -> dict[tuple[int, str], LoggedReport]:
    notes: dict[tuple[int, str], LoggedReport] = {}
    for report in history:  # oldest first: the newest with a note wins
        if report.note:
            notes[(report.task_id, report.unit_id)] = report
    return notes


def _note(c: _Context, report: object | None, latest: LoggedReport | None) -> str | None:
    """The latest report's own note; a note of an older report is marked with its date (the
    latest report said nothing new), so a 100% report never stands beside a 30% one's words."""
    if latest is None:
        return None
    reported_at = getattr(report, "reported_at", None)
    if report is None or getattr(report, "id", None) in (None, latest.id) or \
            reported_at is None or latest.reported_at >= reported_at:
        return latest.note
    return c.text(N_("{note} (reported on {date})")).format(
        note=latest.note, date=c.t.date(c.clock.date(latest.reported_at)))


def _extension(t: Translator, state: UnitState) -> str:
    """"extended to <due date>", or the request waiting for a decision, or ""."""
    if state.extension is not None and state.cutoff is not None:
        return t.gettext("extended to {date}").format(
            date=(state.cutoff - dt.timedelta(days=1)).isoformat())
    if state.pending is not None:
        return t.gettext("extension to {date} requested, awaiting a decision").format(
            date=state.pending.due_date.isoformat())
    return ""


def zone_name(zone: dt.tzinfo) -> str:
    """A time zone's name for a header: its IANA key (``America/New_York``), else its name."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or zone)


def _review(c: _Context, state: UnitState) -> str | None:
    review = state.review
    if review is None:
        return None
    who = c.who(review.reviewer_telegram_id) or "—"
    if state.phase is Phase.CONFIRMED:
        return c.text(N_("confirmed by {who} on {when}")).format(
            who=who, when=c.clock.minute_text(review.reviewed_at))
    return c.text(N_("returned by {who} on {when}: {comment}")).format(
        who=who, when=c.clock.minute_text(review.reviewed_at), comment=review.comment or "—")


def _acknowledged(c: _Context, state: UnitState) -> str | None:
    if state.acknowledged is None:
        if state.report is None:
            return None
        # the scorecard counts a report as receipt (schedules.scorecard): say so here too
        return c.text(N_("the report counts as acknowledgement ({date})")).format(
            date=c.clock.minute_text(state.report.reported_at))
    return c.text(N_("acknowledged by {who} on {when}")).format(
        who=c.who(state.acknowledged.telegram_user_id) or "—",
        when=c.clock.minute_text(state.acknowledged.at))


def _status(t: Translator, status: str) -> str:
    label = STATUS_LABELS.get(status)
    return t.gettext(label) if label else status


def _fraction(progress: int | None) -> float | None:
    """Progress 0-100 as the fraction Excel's percent format expects (60 -> 0.6)."""
    return None if progress is None else progress / 100


def _header_text(text: str) -> str:
    """Text for a print header or footer: "&" starts a code there, so it is doubled."""
    return text.replace("&", "&&")


# -- writing ------------------------------------------------------------------------------------
# openpyxl made a Cell object and looked up a style for each of the 1.6 million cells of a year
# at 1,000 units (about five minutes, docs/performance.md). Instead openpyxl writes each sheet's
# frame (header row, widths, merges, filter, printing, styles) and the rows are streamed into its
# XML as text: the same cells, values and styles, in a few seconds.
_ROWS_END = "</sheetData>"
_DIMENSION = re.compile(r'<dimension ref="[^"]*"\s*/>')


@dataclass
class _Body:
    """A sheet's rows to stream into the XML openpyxl wrote for its frame."""

    path: str  # the worksheet's part in the package, e.g. xl/worksheets/sheet1.xml
    columns: _Columns
    rows: list[list[Value]]
    styles: list[int]  # each column's style id
    quoted: list[int]  # each column's style id for text that looks like a formula
    fills: dict[str, int]  # a light's word -> the style id of its coloured cell
    merged: dict[int, list[int]]  # column -> its rows hidden under a merge above
    clock: WallClock  # the office's: the time columns' instants are shown in its zone


def _frame(sheet: Worksheet, columns: _Columns, rows: list[list[Value]], freeze: str,
           fills: Mapping[str, PatternFill], clock: WallClock, merge: Sequence[int] = (),
           filtered: bool = True) -> _Body:
    """Write a bold, frozen header row, with an AutoFilter when ``filtered``; fit the column
    widths; set up printing (landscape, one page wide, the header row on every page); merge
    the ``merge`` columns over runs of rows with the same first value (a task's rows); return
    the rows to stream."""
    bold = Font(bold=True)
    for index, header in enumerate(columns.headers, start=1):
        cell = _write(sheet, 1, index, header)
        cell.font = bold
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    top = Alignment(vertical="top")
    top_wrapped = Alignment(vertical="top", wrap_text=True)
    styles, quoted = [], []
    for index in range(1, len(columns.headers) + 1):
        alignment = top_wrapped if index in columns.wrapped else top
        number_format = columns.formats.get(index)
        styles.append(_style_id(sheet, alignment, number_format))
        quoted.append(_style_id(sheet, alignment, number_format, quote=True))
    light_styles: dict[str, int] = {}
    if columns.light is not None:
        alignment = top_wrapped if columns.light in columns.wrapped else top
        light_styles = {word: _style_id(sheet, alignment, columns.formats.get(columns.light),
                                        fill=fill) for word, fill in fills.items()}
    merged = _merge(sheet, rows, merge)
    sheet.freeze_panes = freeze
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A3 if columns.wide else sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    last = get_column_letter(len(columns.headers))
    if filtered:
        sheet.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns.headers]
    for index, header in enumerate(columns.headers, start=1):
        # each different value once: most repeat (units, titles, states); a date or a time
        # is as wide as its format, which the column's least width allows for already
        dated = columns.formats.get(index) in (DATE_FORMAT, DATETIME_FORMAT)
        widest = max([_width(header), *map(_width, () if dated else set(values[index - 1]))])
        limit = columns.most.get(
            index, _MAX_TEXT_WIDTH if index in columns.wrapped else _MAX_WIDTH)
        width = min(max(widest + 2, columns.least[index]), limit)
        sheet.column_dimensions[get_column_letter(index)].width = width
    return _Body("", columns, rows, styles, quoted, light_styles, merged, clock)


def _merge(sheet: Worksheet, rows: list[list[Value]], columns: Sequence[int]
           ) -> dict[int, list[int]]:
    """Merge each of ``columns`` (1-based) vertically over every run of two or more rows whose
    first value is the same (one task's rows); the rows of each column hidden under a merge."""
    hidden: dict[int, list[int]] = {}
    if not columns:
        return hidden
    start = 0
    for end in range(1, len(rows) + 1):
        if end < len(rows) and rows[end][0] == rows[start][0]:
            continue
        if end - start > 1:
            for column in columns:
                letter = get_column_letter(column)
                sheet.merged_cells.add(f"{letter}{start + 2}:{letter}{end + 1}")
                hidden.setdefault(column, []).extend(range(start + 3, end + 2))
        start = end
    return hidden


def _style_id(sheet: Worksheet, alignment: Alignment, number_format: str | None,
              fill: PatternFill | None = None, quote: bool = False) -> int:
    """The workbook's id of a cell style (registered through a scratch cell, then removed)."""
    cell = sheet.cell(row=1, column=_SCRATCH_COLUMN)
    cell.alignment = alignment
    if number_format:
        cell.number_format = number_format
    if fill is not None:
        cell.fill = fill
    if quote:
        cell.quotePrefix = True
    style = cell.style_id
    del sheet._cells[(1, _SCRATCH_COLUMN)]  # openpyxl has no public way to remove a cell
    return int(style)


_SCRATCH_COLUMN = 16384  # Excel's last column, never one of ours


def _package(saved: bytes, bodies: Sequence[_Body]) -> bytes:
    """The workbook openpyxl saved with each sheet's rows streamed in after its header row."""
    by_path = {body.path: body for body in bodies}
    output = BytesIO()
    with zipfile.ZipFile(BytesIO(saved)) as source, \
            zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=_LEVEL) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            body = by_path.get(item.filename)
            if body is not None:
                xml = data.decode("utf-8")
                cut = xml.index(_ROWS_END)
                last = get_column_letter(len(body.columns.headers))
                head = _DIMENSION.sub(f'<dimension ref="A1:{last}{len(body.rows) + 1}"/>',
                                      xml[:cut], count=1)
                data = b"".join((head.encode("utf-8"), _rows_xml(body),
                                 xml[cut:].encode("utf-8")))
            target.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED,
                            compresslevel=_LEVEL)
    return output.getvalue()


_LEVEL = 1
"""zlib's fastest level: the XML is very repetitive, the file hardly grows."""


def _rows_xml(body: _Body) -> bytes:
    """The rows as worksheet XML (UTF-8), cell by cell as openpyxl would write them.

    Built a column at a time: a column's cells share their reference letter and style, and
    most of its values repeat (units, titles, states), so each different value's XML is made
    once; a time column's instants are converted with the sheet's :class:`WallClock`. Each
    cell's piece of XML ends with the start of the next cell's reference, so that a row is
    its pieces joined by its number. Rows hiding cells under a merge (the ledger's) are
    written apart, with their own pieces.
    """
    if not body.rows:
        return b""
    values = list(zip(*body.rows, strict=True))
    hidden: dict[int, set[int]] = {}  # row number -> its columns hidden under a merge
    for column, numbers in body.merged.items():
        for number in numbers:
            hidden.setdefault(number, set()).add(column)
    kinds: dict[frozenset[int], list[int]] = {}  # hidden columns -> the rows hiding them
    for number in range(2, len(body.rows) + 2):
        kinds.setdefault(frozenset(hidden.get(number, ())), []).append(number)
    written: list[bytes] = [b""] * len(body.rows)
    for hides, numbers in kinds.items():
        shown = [c for c in range(1, len(body.columns.headers) + 1) if c not in hides]
        pieces = []
        for column, after in zip(shown, [*shown[1:], 0], strict=True):
            column_values = values[column - 1]
            if len(numbers) < len(body.rows):
                column_values = tuple(column_values[number - 2] for number in numbers)
            pieces.append(_cell_pieces(body, column, column_values, after))
        opening = (repeat(b'<row r="'), repeat(b'"><c r="' + _letter(shown[0])))
        for number, row in zip(numbers, zip(*opening, *pieces, strict=False), strict=True):
            written[number - 2] = (b"%d" % number).join(row)
    return b"".join(written)


def _letter(column: int) -> bytes:
    return get_column_letter(column).encode("ascii")


def _cell_pieces(body: _Body, column: int, values: Sequence[Value], after: int) -> list[bytes]:
    """Each value's cell XML after its row number, then the start of the reference of the
    cell in column ``after`` (0: the end of the row)."""
    then = b'<c r="' + _letter(after) if after else b"</row>"
    style = body.styles[column - 1]
    if body.columns.formats.get(column) == DATETIME_FORMAT:  # instants: nearly all differ
        empty = b'" s="%d"/>%s' % (style, then)
        number = b'" s="%d" t="n"><v>' % style
        ending = b"</v></c>" + then
        serial = body.clock.serial
        return [empty if value is None else
                b"%s%r%s" % (number, serial(value), ending)  # type: ignore[arg-type]
                for value in values]
    fills = body.fills if column == body.columns.light else {}
    known = _CellPieces(style, body.quoted[column - 1], fills, body.clock, then)
    # -0.0 == 0.0 as keys: written as 0.0 whichever comes first (a rounded -0.04 is no sign)
    return [known[value + 0.0] if type(value) is float else known[value] for value in values]


class _CellPieces(dict[Value, bytes]):
    """A column's values -> their cells' XML after the row number, then ``then`` (each made
    once). Values are keys: a column's numbers are all of one kind (1 and 1.0, equal keys,
    would share the XML of whichever came first; Excel reads the same number)."""

    def __init__(self, style: int, quoted: int, fills: Mapping[str, int], clock: WallClock,
                 then: bytes) -> None:
        super().__init__()
        self.style, self.quoted, self.fills, self.clock = style, quoted, fills, clock
        self.then = then

    def __missing__(self, value: Value) -> bytes:
        style = self.style
        if value is None:
            end = f'" s="{style}"/>'
        elif isinstance(value, str):
            end = _text_xml(value, self.fills.get(value, style), self.quoted)
        elif isinstance(value, dt.datetime) and value.tzinfo is not None:
            end = f'" s="{style}" t="n"><v>{self.clock.serial(value)}</v></c>'
        elif isinstance(value, dt.date):  # a datetime too: Excel's serial day number
            end = f'" s="{style}" t="n"><v>{to_excel(value)}</v></c>'
        else:
            end = f'" s="{style}" t="n"><v>{value}</v></c>'
        piece = self[value] = end.encode("utf-8") + self.then
        return piece


def _text_xml(value: str, style: int, quoted: int) -> str:
    """A text cell's XML after its reference; ``quoted`` is the style of text that looks like a
    formula (Excel's leading apostrophe keeps it text when edited)."""
    text = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters are not allowed in XML
    space = ' xml:space="preserve"' if text.strip() != text else ""
    if text.startswith(_FORMULA_STARTS):
        style = quoted
    return f'" s="{style}" t="inlineStr"><is><t{space}>{xml_escape(text)}</t></is></c>'


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
