"""The Excel export: open the produced bytes with openpyxl and read what an office would see.

Sheets and columns are found by position; one test checks their names in both languages.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from bot.export import LoggedReport, build_workbook, export_filename
from bot.i18n import Translator, translator
from schedules.model import Timetable
from schedules.progress import ReportLike
from storage import Store

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TODAY = dt.date(2026, 11, 16)  # a Monday, two weeks before the due date
ZH = translator("zh_Hans")
EN = translator("en")
SUMMARY, DETAIL, HISTORY = range(3)
# summary columns
NO, TITLE, STATUS, DUE, DAYS_LEFT, DEADLINE, LEADS, REPORTED, RESPONSIBLE = range(9)
NOTE = 6  # the note column of the detail and the history sheets
CLOSED_TASKS = (12, 13, 14, 17, 21)  # once-only deadlines of 2020
STATISTICS_TASKS = (1, 2, 3, 4, 5, 6)


@dataclass
class Report:
    """A stored report as the export sees it (mutable, like a table row)."""

    task_id: int
    unit_id: str
    status: str
    progress: int | None
    note: str
    reported_at: dt.datetime
    reporter_telegram_id: int | None = 3001
    source: str = "button"


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


HISTORY_REPORTS = (
    Report(7, "agriculture-rural", "in_progress", 30, "开始种植", _at(2, 9, 15)),
    Report(9, "town-cencheng", "blocked", None, "缺少资金", _at(3, 16, 40), 3003, "reply"),
    # given in UTC: 02:30 UTC is 10:30 in Shanghai
    Report(7, "agriculture-rural", "in_progress", 60, "绿肥种植面积已增加",
           dt.datetime(2026, 11, 10, 2, 30, tzinfo=dt.UTC), 3005, "command"),
    Report(15, "ecology-environment", "done", 100, "", _at(12, 11), None, "cli"),
)


def _latest(history: Sequence[Report]) -> dict[tuple[int, str], ReportLike]:
    latest: dict[tuple[int, str], ReportLike] = {}
    for report in sorted(history, key=lambda r: r.reported_at):
        latest[(report.task_id, report.unit_id)] = report
    return latest


def _open(t: Translator, timetable: Timetable,
          history: Sequence[LoggedReport] = HISTORY_REPORTS,
          latest: Mapping[tuple[int, str], ReportLike] | None = None,
          today: dt.date = TODAY) -> Workbook:
    if latest is None:
        latest = _latest(HISTORY_REPORTS)
    return load_workbook(BytesIO(build_workbook(t, timetable, 2026, latest, history, today)))


def _rows(sheet: Worksheet) -> list[tuple[Any, ...]]:
    return list(sheet.iter_rows(min_row=2, values_only=True))


def _header(sheet: Worksheet) -> list[Any]:
    return [cell.value for cell in sheet[1]]


def _summary_row(workbook: Workbook, task_id: int) -> tuple[Cell, ...]:
    [row] = [r for r in workbook.worksheets[SUMMARY].iter_rows(min_row=2)
             if r[NO].value == task_id]
    return row


# -- sheets and layout --------------------------------------------------------------------------
def test_sheet_names_and_headers_are_in_the_readers_language(timetable: Timetable) -> None:
    chinese = _open(ZH, timetable)
    english = _open(EN, timetable)
    assert chinese.sheetnames == ["汇总", "明细", "报送记录"]
    assert english.sheetnames == ["Summary", "Detail", "History"]
    assert _header(chinese["汇总"]) == ["序号", "任务", "状态", "截止日期", "剩余天数",
                                        "时限要求", "牵头单位", "已报送单位数", "责任单位数",
                                        "延期情况", "待审核"]
    assert _header(chinese["明细"]) == ["序号", "任务", "单位", "职责", "状态", "进度", "说明",
                                        "报送时间（Asia/Shanghai）", "灯号", "办理状态", "审核",
                                        "延期", "签收"]
    assert _header(chinese["报送记录"]) == [
        "报送时间（Asia/Shanghai）", "序号", "任务", "单位", "状态", "进度", "说明",
        "报送人（Telegram ID）", "来源"]
    assert _header(english["Summary"]) == [
        "No.", "Task", "Status", "Due date", "Days left", "Deadline", "Lead units",
        "Units reported", "Responsible units", "Extensions", "Awaiting review"]
    assert _header(english["Detail"]) == ["No.", "Task", "Unit", "Role", "Status", "Progress",
                                          "Note", "Reported at (Asia/Shanghai)", "Light",
                                          "State", "Review", "Extension", "Acknowledged"]
    assert _header(english["History"]) == [
        "Reported at (Asia/Shanghai)", "No.", "Task", "Unit", "Status", "Progress", "Note",
        "Reporter (Telegram ID)", "Source"]


def test_every_sheet_has_a_bold_frozen_filtered_header_and_fitted_columns(
        timetable: Timetable) -> None:
    workbook = _open(ZH, timetable)
    for sheet in workbook.worksheets:
        assert all(cell.font.bold for cell in sheet[1]), sheet.title
        assert not any(cell.font.bold for cell in sheet[2]), sheet.title
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == sheet.dimensions  # the header and every row
        widths = [sheet.column_dimensions[cell.column_letter].width for cell in sheet[1]]
        assert all(6 <= width <= 60 for width in widths), (sheet.title, widths)
    summary = workbook.worksheets[SUMMARY]
    assert summary.max_row == len(timetable.tasks) + 1
    # the title column is wide and wraps; the number column is narrow
    assert summary.column_dimensions["B"].width > 30 > summary.column_dimensions["A"].width
    assert summary["B2"].alignment.wrap_text


def test_export_filename() -> None:
    assert export_filename(2026, dt.date(2026, 11, 26)) == "duban-2026-20261126.xlsx"
    assert export_filename(2027, dt.date(2027, 1, 5)) == "duban-2027-20270105.xlsx"


# -- summary ------------------------------------------------------------------------------------
def test_task_7_has_its_due_date_days_left_and_lead_unit(timetable: Timetable) -> None:
    row = _summary_row(_open(ZH, timetable), 7)
    assert row[TITLE].value == "发展低碳农业"
    assert row[STATUS].value == "🟡 进行中"
    due = row[DUE]
    assert due.is_date and due.value == dt.datetime(2026, 11, 30)  # a real date, not text
    assert due.number_format == "yyyy-mm-dd"
    assert row[DAYS_LEFT].value == 14
    assert row[DEADLINE].value == "截止日期2026年11月30日，剩余14天"
    assert row[LEADS].value == "农业农村局"
    assert (row[REPORTED].value, row[RESPONSIBLE].value) == (1, 2)  # 统计局 cooperates

    english = _summary_row(_open(EN, timetable), 7)
    assert english[LEADS].value == "Agriculture and Rural Affairs Bureau"
    assert english[STATUS].value == "🟡 in progress"


def test_statistics_tasks_have_no_cutoff(timetable: Timetable) -> None:
    workbook = _open(ZH, timetable)
    for task_id in STATISTICS_TASKS:
        row = _summary_row(workbook, task_id)
        assert row[DUE].value is None and row[DAYS_LEFT].value is None, task_id
        assert row[DEADLINE].value == "按年度考核，以统计局数据为准"
        assert row[STATUS].value == "⚪ 尚未报送"


def test_closed_2020_tasks_are_marked_closed(timetable: Timetable) -> None:
    workbook = _open(ZH, timetable)
    for task_id in CLOSED_TASKS:
        row = _summary_row(workbook, task_id)
        assert row[STATUS].value == "⚫ 已关闭", task_id
        assert row[DUE].value is None and row[DAYS_LEFT].value is None
        assert row[DEADLINE].value == "已关闭：2020年一次性时限"
    detail = _rows(workbook.worksheets[DETAIL])
    assert {row[4] for row in detail if row[0] in CLOSED_TASKS} == {"已关闭"}
    assert {row[4] for row in detail if row[0] == 8} == {"尚未报送"}


def test_a_late_task_is_red_and_says_overdue(timetable: Timetable) -> None:
    workbook = _open(ZH, timetable, today=dt.date(2026, 12, 3))
    row = _summary_row(workbook, 7)
    assert row[STATUS].value == "🔴 进行中 · 已逾期"
    assert row[DAYS_LEFT].value == -3  # three days late
    assert _summary_row(workbook, 15)[STATUS].value == "🔵 已报完成，待审核"


# -- detail -------------------------------------------------------------------------------------
def test_detail_shows_the_latest_report_with_progress_as_a_percentage(
        timetable: Timetable) -> None:
    detail = _open(ZH, timetable).worksheets[DETAIL]
    [row] = [r for r in detail.iter_rows(min_row=2)
             if r[0].value == 7 and r[2].value == "农业农村局"]
    _, title, _, role, status, progress, note, reported_at, light, state, *_ = row
    assert (title.value, role.value, status.value) == ("发展低碳农业", "牵头", "进行中")
    assert (light.value, state.value) == ("🟡", "进行中")
    assert progress.value == 0.6 and progress.number_format == "0%"
    assert note.value == "绿肥种植面积已增加"  # the latest note, not the first
    assert reported_at.is_date and reported_at.value == dt.datetime(2026, 11, 10, 10, 30)
    assert reported_at.number_format == "yyyy-mm-dd hh:mm"
    [statistics] = [r for r in _rows(detail) if r[0] == 7 and r[2] == "统计局"]
    assert statistics[3:] == ("配合", "尚未报送", None, None, None, "⚪", "尚未报送", None, None,
                              None)


def test_detail_expands_groups_task_9_lists_the_14_towns(timetable: Timetable) -> None:
    detail = _rows(_open(ZH, timetable).worksheets[DETAIL])
    towns = [timetable.unit(member).name for member in timetable.unit("towns").members]
    assert len(towns) == 14
    task_9 = {row[2]: row for row in detail if row[0] == 9}
    assert set(towns) <= set(task_9)
    assert "各镇政府" not in task_9  # the group itself is not a row
    assert {task_9[town][3] for town in towns} == {"配合"}
    assert task_9["岑城镇"][4:7] == ("受阻", None, "缺少资金")
    assert task_9["住房城乡建设局"][3] == "牵头"
    pairs = [(row[0], row[2]) for row in detail]
    assert len(pairs) == len(set(pairs))  # one row per task and unit
    assert len(pairs) == sum(len(timetable.responsible_units(t)) for t in timetable.tasks)


# -- history ------------------------------------------------------------------------------------
def test_history_has_every_report_in_order(timetable: Timetable) -> None:
    history = _open(ZH, timetable).worksheets[HISTORY]
    assert _rows(history) == [
        (dt.datetime(2026, 11, 2, 9, 15), 7, "发展低碳农业", "农业农村局", "进行中", 0.3,
         "开始种植", 3001, "按钮"),
        (dt.datetime(2026, 11, 3, 16, 40), 9, "城乡低碳化建设和管理", "岑城镇", "受阻", None,
         "缺少资金", 3003, "回复"),
        (dt.datetime(2026, 11, 10, 10, 30), 7, "发展低碳农业", "农业农村局", "进行中", 0.6,
         "绿肥种植面积已增加", 3005, "命令"),
        (dt.datetime(2026, 11, 12, 11, 0), 15, timetable.task(15).title, "生态环境局", "已完成",
         1.0, None, None, "命令行"),
    ]
    assert history["A2"].number_format == "yyyy-mm-dd hh:mm"
    assert history["F2"].number_format == "0%"
    assert history["H2"].number_format == "0"  # an id, not 3,001
    english = _rows(_open(EN, timetable).worksheets[HISTORY])
    assert [row[-1] for row in english] == ["button", "reply", "command", "command line"]
    assert [row[3] for row in english][:2] == ["Agriculture and Rural Affairs Bureau",
                                               "Cencheng Town"]


def test_history_keeps_reports_of_units_and_tasks_no_longer_in_the_timetable(
        timetable: Timetable) -> None:
    gone = Report(99, "dissolved-office", "done", 100, "", _at(5, 8))
    history = _rows(_open(ZH, timetable, history=[gone], latest={}).worksheets[HISTORY])
    assert history == [(dt.datetime(2026, 11, 5, 8, 0), 99, None, "dissolved-office", "已完成",
                        1.0, None, 3001, "按钮")]


def test_a_naive_report_time_is_refused(timetable: Timetable) -> None:
    naive = Report(7, "agriculture-rural", "done", 100, "", dt.datetime(2026, 11, 5, 8, 0))
    with pytest.raises(ValueError, match="naive"):
        build_workbook(ZH, timetable, 2026, {}, [naive], TODAY)


# -- text stays text ----------------------------------------------------------------------------
@pytest.mark.parametrize("note", ['=HYPERLINK("http://evil.example","点此")', "=1+1",
                                  "+86 138 0000 0000", "-5%", "@SUM(A1)", "#N/A"])
def test_a_note_that_looks_like_a_formula_is_written_as_text(timetable: Timetable,
                                                             note: str) -> None:
    report = Report(7, "agriculture-rural", "in_progress", 60, note, _at(10, 9))
    data = build_workbook(ZH, timetable, 2026, _latest([report]), [report], TODAY)
    workbook = load_workbook(BytesIO(data))
    for sheet in (workbook.worksheets[DETAIL], workbook.worksheets[HISTORY]):
        [cell] = [row[NOTE] for row in sheet.iter_rows(min_row=2) if row[NOTE].value]
        assert cell.value == note and cell.data_type == "s", sheet.title
        # Excel's leading apostrophe: the cell stays text when someone edits it
        assert cell.quotePrefix == note.startswith(("=", "+", "-", "@"))
    with zipfile.ZipFile(BytesIO(data)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == 3
        assert not any("<f>" in archive.read(name).decode() for name in sheets)


def test_control_characters_are_dropped_not_fatal(timetable: Timetable) -> None:
    report = Report(7, "agriculture-rural", "in_progress", 60, "第一行\x07\n第二行\x00",
                    _at(10, 9))
    history = _rows(_open(ZH, timetable, history=[report], latest={}).worksheets[HISTORY])
    assert history[0][NOTE] == "第一行\n第二行"


# -- from the store -----------------------------------------------------------------------------
def test_workbook_from_the_store_matches_the_one_from_plain_reports(
        store: Store, timetable: Timetable) -> None:
    store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], _at(1, 8))
    for report in HISTORY_REPORTS:
        store.add_report(report.task_id, report.unit_id, 2026, report.status, report.progress,
                         report.note, report.reporter_telegram_id, report.reported_at,
                         report.source)
    store.add_report(7, "agriculture-rural", 2025, "done", 100, "去年", 3001, _at(1, 9), "button")

    data = build_workbook(ZH, timetable, 2026, store.latest_reports(2026),
                          store.reports_for_cycle(2026), TODAY)

    from_store = load_workbook(BytesIO(data))
    expected = _open(ZH, timetable)
    for index in (SUMMARY, DETAIL, HISTORY):
        assert _rows(from_store.worksheets[index]) == _rows(expected.worksheets[index])


# -- the workflow -------------------------------------------------------------------------------
def test_the_workflow_shows_reported_confirmed_returned_extended_and_acknowledged(
        store: Store, timetable: Timetable) -> None:
    store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], _at(1, 8))
    done_7 = store.add_report(7, "agriculture-rural", 2026, "done", None, "", 3004, _at(10, 9),
                              "button")
    done_15 = store.add_report(15, "ecology-environment", 2026, "done", None, "", 3001,
                               _at(10, 9), "button")
    done_16 = store.add_report(16, "ecology-environment", 2026, "done", None, "", 3001,
                               _at(10, 9), "button")
    assert done_7.id and done_15.id and done_16.id
    store.add_review(done_7.id, "confirmed", "", 2000, _at(11, 9))
    store.add_review(done_16.id, "returned", "缺少监测报告", 2000, _at(11, 10))
    extension = store.request_extension(8, "forestry", 2026, dt.date(2026, 12, 20), "苗木未到",
                                        3005, _at(12, 9))
    assert extension is not None and extension.id is not None
    store.decide_extension(extension.id, True, 2000, "", _at(12, 10))
    names = {2000: "李组长"}
    workbook = load_workbook(BytesIO(build_workbook(
        ZH, timetable, 2026, store.cycle_facts(2026), store.reports_for_cycle(2026),
        dt.date(2026, 12, 3), names)))
    assert _summary_row(workbook, 7)[STATUS].value == "🟢 已审结"
    assert _summary_row(workbook, 15)[STATUS].value == "🔵 已报完成，待审核"
    assert _summary_row(workbook, 15)[10].value == "生态环境局"  # awaiting review
    assert _summary_row(workbook, 16)[STATUS].value == "🔴 已退回 · 已逾期"
    eight = _summary_row(workbook, 8)
    assert eight[STATUS].value == "⚪ 尚未报送"  # not late: its cutoff moved
    assert eight[9].value == "林业局：已延期至2026-12-20"
    detail = {(row[0], row[2]): row for row in _rows(workbook.worksheets[DETAIL])}
    assert detail[(7, "农业农村局")][8:11] == ("🟢", "已审结", "李组长于2026-11-11 09:00审结")
    assert detail[(16, "生态环境局")][8:11] == (
        "🔴", "已退回", "李组长于2026-11-11 10:00退回：缺少监测报告")
    assert detail[(8, "林业局")][11] == "已延期至2026-12-20"
    assert detail[(15, "生态环境局")][8:10] == ("🔵", "已报完成，待审核")
    status_header = workbook.worksheets[SUMMARY].cell(row=1, column=3)
    assert status_header.comment is not None and "🔵 已报完成，待审核" in \
        status_header.comment.text
