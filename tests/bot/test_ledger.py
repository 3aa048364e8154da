"""The ledger (台账): open the produced workbook with openpyxl and check it, cell by cell,
against what the database holds (the seeded cycle of ``tests/bot/reports_world.py``).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from bot.i18n import Translator, translator
from bot.render import ROLE_LABELS, STATUS_LABELS
from bot.reports.ledger import (
    build_workbook,
    default_ledger_path,
    ledger_filename,
)
from bot.reports.record import LOGGED_ACTIONS, CycleRecord, collect, unit_scores
from schedules.model import Timetable
from schedules.workflow import PHASE_LABELS, CycleFacts, Light, cycle_views
from storage import Store
from storage.tables import StatusReport
from tests.bot.reports_world import (
    AGRI,
    CYCLE,
    ECOLOGY,
    LEADER,
    NAMES,
    STRANGER,
    at,
    seed,
)

Books = dict[str, Workbook]
ZH = translator("zh_Hans")
EN = translator("en")
TODAY = dt.date(2026, 12, 3)
LEDGER, SUMMARY, REPORTS, REMINDERS, EXTENSIONS, REVIEWS, URGES, AUDIT, SCORES = range(9)
ZH_SHEETS = ["台账", "汇总", "报送记录", "提醒签收", "延期情况", "审结", "催办", "操作记录",
             "考评"]
EN_SHEETS = ["Ledger", "Summary", "Reports", "Reminders", "Extensions", "Reviews", "Urges",
             "Audit", "Scorecard"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, timetable: Timetable) -> Iterator[Store]:
    """The seeded cycle on SQLite, once for the module (the tests only read it); the test that
    checks every cell runs on each backend with a store of its own."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'duban.sqlite3'}")
    store.upgrade()
    seed(store, timetable)
    yield store
    store.close()


@pytest.fixture(scope="module")
def books(seeded: Store, timetable: Timetable) -> Books:
    """The seeded cycle's ledger in Chinese and in English, built once (tests only read)."""
    record = collect(seeded, CYCLE)
    return {"zh": _book(ZH, timetable, record), "en": _book(EN, timetable, record)}


def _with_report(record: CycleRecord, note: str) -> CycleRecord:
    """The record with one more report of task 7 (written to no database)."""
    report = StatusReport(id=10**6, task_id=7, unit_id="agriculture-rural", cycle=CYCLE,
                          status="in_progress", progress=60, note=note,
                          reporter_telegram_id=AGRI, reported_at=at(11, 30), source="button")
    return replace(record, history=[*record.history, report])


def _book(t: Translator, timetable: Timetable, record: CycleRecord,
          today: dt.date = TODAY) -> Workbook:
    return load_workbook(BytesIO(build_workbook(t, timetable, record, today)))


def _rows(sheet: Worksheet) -> list[tuple[Any, ...]]:
    """The rows below the header, a merged cell's value on every row it spans."""
    rows = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]
    for merged in sheet.merged_cells.ranges:
        value = sheet.cell(row=merged.min_row, column=merged.min_col).value
        for row in range(merged.min_row, merged.max_row + 1):
            for column in range(merged.min_col, merged.max_col + 1):
                rows[row - 2][column - 1] = value
    return [tuple(row) for row in rows]


def _header(sheet: Worksheet) -> list[Any]:
    return [cell.value for cell in sheet[1]]


def _cells(book: Workbook) -> Iterator[Any]:
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            yield from row


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)


# -- shape --------------------------------------------------------------------------------------
def test_sheets_and_the_ledgers_columns_are_attachment_2s_in_the_readers_language(
        books: Books) -> None:
    chinese, english = books["zh"], books["en"]
    assert chinese.sheetnames == ZH_SHEETS
    assert english.sheetnames == EN_SHEETS
    assert _header(chinese.worksheets[LEDGER]) == [
        "序号", "目标任务", "考核内容", "牵头及配合部门", "完成时间", "备注", "责任单位", "职责",
        "办理状态", "进度", "最新情况", "报送日期", "报送人", "截止日期", "延期", "审核", "签收",
        "灯号"]
    assert _header(english.worksheets[LEDGER])[:7] == [
        "No.", "Target task", "Assessment content", "Lead and cooperating units",
        "Completion time", "Remarks", "Responsible unit"]
    for book in (chinese, english):
        for sheet in book.worksheets:  # every header is in the reader's language
            words = " ".join(str(h) for h in _header(sheet))
            has_chinese = any("\u4e00" <= c <= "\u9fff" for c in words)
            assert has_chinese == (book is chinese), (sheet.title, words)


def test_every_sheet_prints_well_and_filters(books: Books) -> None:
    book = books["zh"]
    for sheet in book.worksheets:
        assert all(cell.font.bold for cell in sheet[1]), sheet.title
        assert sheet.freeze_panes is not None and sheet.freeze_panes.endswith("2")
        if sheet.title != "台账":
            assert sheet.auto_filter.ref == sheet.dimensions, sheet.title
        assert sheet.print_title_rows == "$1:$1"
        assert sheet.page_setup.orientation == "landscape"
        # the print header names the plan and the cycle, and the sheet: not "汇总 · 汇总"
        assert sheet.oddHeader.center.text == "岑溪市2019-2020年降碳工作实施方案 2026年度工作台账"
        assert sheet.oddHeader.right.text == sheet.title
        assert sheet.oddFooter.left.text == "截至2026年12月3日"
        assert sheet.oddFooter.right.text == "第&P页，共&N页"
    assert book.worksheets[LEDGER].freeze_panes == "C2"  # number and task stay in view
    # attachment 2's shape: merged plan columns, so no filter (Excel cannot sort merges)
    assert book.worksheets[LEDGER].auto_filter.ref is None
    # eighteen columns print on A3, one page wide; the long texts wrap in narrow columns
    ledger = book.worksheets[LEDGER]
    assert str(ledger.page_setup.paperSize) == ledger.PAPERSIZE_A3
    assert sum(ledger.column_dimensions[c.column_letter].width for c in ledger[1]) < 300
    assert str(book.worksheets[SUMMARY].page_setup.paperSize) == ledger.PAPERSIZE_A4


def test_an_empty_cycle_still_has_readable_columns(store: Store, timetable: Timetable) -> None:
    book = _book(ZH, timetable, collect(store, 2027), dt.date(2027, 1, 5))
    for sheet in book.worksheets:
        widths = {cell.column_letter: sheet.column_dimensions[cell.column_letter].width
                  for cell in sheet[1]}
        assert all(8 <= width <= 60 for width in widths.values()), (sheet.title, widths)
        for cell in sheet[1]:
            if cell.value and ("时间" in cell.value or "日期" in cell.value):
                assert widths[cell.column_letter] >= 12, (sheet.title, cell.value)
    assert _rows(book.worksheets[REPORTS]) == []
    assert book.worksheets[REPORTS].auto_filter.ref == "A1:I1"


def test_the_ledger_uses_words_not_emoji_and_colours_the_lights(books: Books) -> None:
    book = books["zh"]
    emoji = {light.value for light in Light}
    assert not [c for c in _cells(book) if isinstance(c, str) and set(c) & emoji]
    sheet = book.worksheets[LEDGER]
    light_column = _header(sheet).index("灯号")
    fills = {row[light_column].value: row[light_column].fill.fgColor.rgb
             for row in sheet.iter_rows(min_row=2)}
    assert fills["绿灯"].endswith("C6EFCE") and fills["红灯"].endswith("FFC7CE")
    legend = sheet.cell(row=1, column=light_column + 1).comment
    assert legend is not None and "绿灯: 已审结" in legend.text


# -- sheet 1, cell by cell against the database --------------------------------------------------
def test_every_ledger_row_is_what_the_database_says(store: Store, timetable: Timetable) -> None:
    seed(store, timetable)
    seeded = store
    record = collect(seeded, CYCLE)
    rows = _rows(_book(ZH, timetable, record).worksheets[LEDGER])
    facts = seeded.cycle_facts(CYCLE)
    history = seeded.reports_for_cycle(CYCLE)
    names = {p.telegram_user_id: p.display_name for p in seeded.list_people(None, None, False)}
    expected_rows = []
    for view in cycle_views(timetable, facts, TODAY):
        task = timetable.task(view.task_id)
        for state in view.units:
            report = facts.reports.get((task.id, state.unit_id))
            noted = [r for r in history if (r.task_id, r.unit_id) == (task.id, state.unit_id)
                     and r.note]
            phase = ZH.gettext(PHASE_LABELS[state.phase])
            expected_rows.append((
                task.id, task.title, "\n".join(task.items), task.responsibility_text,
                task.deadline.text or None, task.remark or None,
                timetable.unit(state.unit_id).name,
                "共同负责（无牵头单位）" if not task.lead_units
                else ZH.gettext(ROLE_LABELS[state.role]),
                phase + ("，已逾期" if state.overdue else ""),
                None if report is None or report.progress is None else report.progress / 100,
                None if not noted else noted[-1].note if noted[-1].id == report.id
                else f"{noted[-1].note}（{ZH.date(_local(noted[-1].reported_at).date())}报送）",
                None if report is None else dt.datetime.combine(
                    _local(report.reported_at).date(), dt.time()),
                None if report is None else "命令行" if getattr(report, "source", None) == "cli"
                and report.reporter_telegram_id is None
                else None if report.reporter_telegram_id is None
                else names.get(report.reporter_telegram_id, "未登记人员"),
                None if state.cutoff is None else dt.datetime.combine(
                    state.cutoff - dt.timedelta(days=1), dt.time())))
    assert [row[:14] for row in rows] == expected_rows
    assert len(rows) == sum(len(timetable.responsible_units(t)) for t in timetable.tasks)


def test_a_tasks_plan_columns_are_merged_over_its_units_rows(books: Books,
                                                              timetable: Timetable) -> None:
    sheet = books["zh"].worksheets[LEDGER]
    merged = {str(r) for r in sheet.merged_cells.ranges}
    expected, row = set(), 2
    for task in timetable.tasks:
        count = len(timetable.responsible_units(task))
        if count > 1:  # 目标任务, 考核内容, 牵头及配合部门, 完成时间, 备注
            expected |= {f"{letter}{row}:{letter}{row + count - 1}" for letter in "BCDEF"}
        assert sheet.cell(row=row, column=1).value == task.id
        assert sheet.cell(row=row, column=2).value == task.title
        for below in range(row + 1, row + count):
            assert sheet.cell(row=below, column=1).value == task.id  # 序号 on every row
            assert sheet.cell(row=below, column=2).value is None  # under the merge
            assert sheet.cell(row=below, column=6).value is None  # 备注 too, not repeated
            assert sheet.cell(row=below, column=7).value is not None  # the unit's own
        row += count
    assert any(len(timetable.responsible_units(t)) > 1 for t in timetable.tasks)
    assert merged == expected
    for other in books["zh"].worksheets[1:]:
        assert not other.merged_cells.ranges, other.title


def test_the_workflow_columns_of_the_seeded_units(seeded: Store, timetable: Timetable) -> None:
    rows = {(r[0], r[6]): r for r in _rows(_book(ZH, timetable,
                                                 collect(seeded, CYCLE)).worksheets[LEDGER])}
    agri = rows[(7, "农业农村局")]
    # the 100% report said nothing: the older 30% report's note carries its date
    assert agri[8:] == ("已审结", 1.0, "开始种植（2026年11月2日报送）", dt.datetime(2026, 11, 20),
                        "王芳",
                        dt.datetime(2026, 11, 30), None, "李组长于2026-11-21 09:00审结",
                        "王芳于2026-11-16 09:30签收", "绿灯")
    forest = rows[(8, "林业局")]
    assert forest[8] == "尚未报送" and forest[13] == dt.datetime(2026, 12, 20)
    assert forest[14] == "已延期至2026-12-20" and forest[17] == "白灯"  # 16 days left
    returned = rows[(16, "生态环境局")]
    assert returned[8] == "已退回，已逾期" and returned[17] == "红灯"
    assert returned[15] == "李组长于2026-11-11 10:00退回：缺少监测报告"
    assert rows[(15, "生态环境局")][8] == "已报完成，待审核"
    assert rows[(9, "岑城镇")][8:11] == ("受阻，已逾期", None, "缺少资金")


def test_task_26_has_no_lead_its_units_show_as_joint(seeded: Store, timetable: Timetable) -> None:
    record = collect(seeded, CYCLE)
    for t, joint, responsible in (
            (ZH, "共同负责（无牵头单位）", "按职责分工负责"),
            (EN, "joint (no lead)", "jointly: Development and Reform Bureau")):
        book = _book(t, timetable, record)
        task_26 = [r for r in _rows(book.worksheets[LEDGER]) if r[0] == 26]
        assert len(task_26) == 6
        assert {r[7] for r in task_26} == {joint}
        assert responsible in task_26[0][3]
        [summary] = [r for r in _rows(book.worksheets[SUMMARY]) if r[0] == 26]
        assert summary[7].startswith("共同负责：" if t is ZH else "jointly: ")
    [lead_7] = [r for r in _rows(_book(EN, timetable, record).worksheets[SUMMARY]) if r[0] == 7]
    assert lead_7[7] == "Agriculture and Rural Affairs Bureau"


def test_people_are_named_never_shown_as_telegram_numbers(books: Books) -> None:
    book = books["zh"]
    numbers = {AGRI, ECOLOGY, LEADER, STRANGER}
    assert not [c for c in _cells(book) if c in numbers or c in {str(n) for n in numbers}]
    reports = _rows(book.worksheets[REPORTS])
    assert [r[7] for r in reports] == [
        "王芳", "命令行", "未登记人员", "陈静", "陈静", "王芳", "命令行"]  # no Telegram user
    assert [r[8] for r in reports][:2] == ["按钮", "命令行"]


# -- the other sheets against the database --------------------------------------------------------
def test_reports_sheet_is_every_report_of_the_cycle_in_order(
        seeded: Store, timetable: Timetable, books: Books) -> None:
    rows = _rows(books["zh"].worksheets[REPORTS])
    stored = seeded.reports_for_cycle(CYCLE)
    assert [(r[0], r[1], r[3], r[4], r[5], r[6]) for r in rows] == [
        (_local(s.reported_at), s.task_id, timetable.unit(s.unit_id).name,
         ZH.gettext(STATUS_LABELS[s.status]),
         None if s.progress is None else s.progress / 100, s.note or None) for s in stored]


def test_reminders_sheet_shows_what_was_sent_and_who_acknowledged(seeded: Store,
                                                                  books: Books) -> None:
    rows = _rows(books["zh"].worksheets[REMINDERS])
    sent = [r for r in seeded.reminders_for_cycle(CYCLE) if r.state == "sent"]
    assert len(rows) == len(sent) == 3  # the pending one of 30 November is not listed
    by_task = {r[1]: r for r in rows}
    assert by_task[7] == (dt.datetime(2026, 11, 16, 9, 1), 7, "发展低碳农业", "农业农村局",
                          "到期前提醒", dt.datetime(2026, 11, 30), "王芳", "已发送", None,
                          "王芳", dt.datetime(2026, 11, 16, 9, 30))
    assert by_task[8][6:] == ("李明", "已发送", None, None, None)  # not acknowledged


def test_a_skipped_reminder_says_why_in_the_readers_language(seeded: Store,
                                                             timetable: Timetable) -> None:
    record = collect(seeded, CYCLE)
    pending = next(r for r in record.reminders if r.state == "pending")
    skipped = pending.model_copy(update={"state": "skipped",
                                         "reason": "unit acknowledged the task"})
    record = replace(record, reminders=[*record.reminders, skipped])
    rows = _rows(_book(ZH, timetable, record).worksheets[REMINDERS])
    assert rows[-1][7:9] == ("已跳过", "单位已签收该任务")


def test_extension_review_urge_and_audit_sheets(seeded: Store, timetable: Timetable,
                                                books: Books) -> None:
    book = books["zh"]
    assert _rows(book.worksheets[EXTENSIONS]) == [
        (dt.datetime(2026, 11, 12, 9, 0), 8, timetable.task(8).title, "林业局",
         dt.datetime(2026, 12, 20), "苗木未到", "李明", "已批准", "李组长",
         dt.datetime(2026, 11, 12, 10, 0), "同意")]
    assert [r[:7] for r in _rows(book.worksheets[REVIEWS])] == [
        (dt.datetime(2026, 11, 11, 10, 0), 16, timetable.task(16).title, "生态环境局", "已退回",
         "缺少监测报告", "李组长"),
        (dt.datetime(2026, 11, 21, 9, 0), 7, "发展低碳农业", "农业农村局", "已审结", None,
         "李组长")]
    assert _rows(book.worksheets[URGES]) == [
        (dt.datetime(2026, 11, 25, 9, 0), 16, timetable.task(16).title, "生态环境局", "李组长")]
    audit = _rows(book.worksheets[AUDIT])
    assert len(audit) == len(seeded.cycle_log(CYCLE, LOGGED_ACTIONS)) > 5
    assert ("李组长", "催办", 16, "生态环境局") in [r[1:5] for r in audit]
    assert [r[0] for r in audit] == sorted(r[0] for r in audit)
    # the reports are on their own sheet, once (the audit sheet's header says so)
    assert "报送" not in [r[2] for r in audit]
    reports = seeded.cycle_log(CYCLE, ["report.added"])
    assert len(reports) == len(_rows(book.worksheets[REPORTS])) > 5
    assert "“报送记录”" in str(book.worksheets[AUDIT].cell(row=1, column=3).comment.text)


def test_scorecard_sheet_is_the_scorecard_rules(seeded: Store, timetable: Timetable) -> None:
    record = collect(seeded, CYCLE)
    rows = _rows(_book(ZH, timetable, record).worksheets[SCORES])
    scores = unit_scores(timetable, record, TODAY, ZH.zone)
    assert [r[0] for r in rows] == [timetable.unit(s.unit_id).name for s in scores]
    ecology = rows[[s.unit_id for s in scores].index("ecology-environment")]
    score = next(s for s in scores if s.unit_id == "ecology-environment")
    assert ecology[1:8] == (len(score.duties), score.on_time, score.late, score.missing,
                            score.blocked, score.open, score.extended)
    assert (score.on_time, score.late) == (1, 1)  # task 15 on 12 Nov; task 22 on the cutoff
    assert ecology[8] == 8.5  # (18 days early - 1 day late) / 2
    assert ecology[12] == 1  # urged once


# -- text stays text ----------------------------------------------------------------------------
@pytest.mark.parametrize("note", ['=HYPERLINK("http://evil.example","点此")', "=1+1",
                                  "+86 138 0000 0000", "-5%", "@SUM(A1)", "#N/A"])
def test_a_note_that_looks_like_a_formula_is_written_as_text(
        seeded: Store, timetable: Timetable, note: str) -> None:
    data = build_workbook(ZH, timetable, _with_report(collect(seeded, CYCLE), note), TODAY)
    book = load_workbook(BytesIO(data))
    for sheet, column in ((book.worksheets[LEDGER], 10), (book.worksheets[REPORTS], 6)):
        [cell] = [row[column] for row in sheet.iter_rows(min_row=2) if row[column].value == note]
        assert cell.data_type == "s", sheet.title
        assert cell.quotePrefix == note.startswith(("=", "+", "-", "@"))
    with zipfile.ZipFile(BytesIO(data)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == 9
        assert not any("<f>" in archive.read(name).decode() for name in sheets)


def test_control_characters_are_dropped_not_fatal(seeded: Store, timetable: Timetable) -> None:
    record = _with_report(collect(seeded, CYCLE), "第一行\x07\n第二行\x00")
    rows = _rows(_book(ZH, timetable, record).worksheets[REPORTS])
    assert rows[-1][6] == "第一行\n第二行"


def test_a_naive_time_is_refused(timetable: Timetable) -> None:
    naive = StatusReport(id=1, task_id=7, unit_id="agriculture-rural", cycle=CYCLE,
                         status="done", progress=100, note="", source="cli",
                         reported_at=dt.datetime(2026, 11, 5, 8, 0))
    record = CycleRecord(CycleFacts(CYCLE), history=[naive])
    with pytest.raises(ValueError, match="naive"):
        build_workbook(ZH, timetable, record, TODAY)


# -- file names ---------------------------------------------------------------------------------
def test_file_name_and_default_place() -> None:
    assert ledger_filename(2026, dt.date(2026, 11, 26)) == "duban-2026-20261126.xlsx"
    assert default_ledger_path(Path("/srv/duban/var"), 2027, dt.date(2027, 1, 5)) == Path(
        "/srv/duban/var/exports/duban-2027-20270105.xlsx")


def test_names_map_is_the_seeded_people(seeded: Store) -> None:
    assert {k: v for k, v in collect(seeded, CYCLE).names.items() if k in NAMES} == NAMES


def test_a_report_counts_as_acknowledgement_and_a_finished_task_has_no_days_left(
        books: Books) -> None:
    ledger = _rows(books["zh"].worksheets[LEDGER])
    reported = [r for r in ledger if r[11] is not None]
    assert reported and all(r[16] for r in reported)  # the scorecard's receipt, shown
    by_report = [r for r in reported if str(r[16]).startswith("报送视为签收（")]
    assert by_report and all(r[11].strftime("%Y-%m-%d") in r[16] for r in by_report)
    assert all(r[16] is None for r in ledger if r[11] is None and "签收" not in str(r[16]))
    summary = _rows(books["zh"].worksheets[SUMMARY])
    confirmed = [r for r in summary if str(r[2]).startswith("已审结")]
    assert confirmed and all(r[5] is None for r in confirmed)
    # reported done, awaiting review (blue) is finished too: no negative days left
    awaiting = [r for r in summary if str(r[2]).startswith("已报完成")]
    assert awaiting and all(r[5] is None for r in awaiting), awaiting
    assert any(r[5] is not None for r in summary
               if not str(r[2]).startswith(("已审结", "已报完成")))


# -- the tester's findings on issue 11 -----------------------------------------------------------
@pytest.mark.parametrize(("reason", "zh", "en"), [
    ("forbidden: Forbidden: bot was blocked by the user", "对方已屏蔽机器人",
     "the person blocked the bot"),
    ("forbidden: Forbidden: user is deactivated", "对方的 Telegram 账号已注销",
     "the person's Telegram account was deleted"),
    ("forbidden: Forbidden: bot was kicked from the supergroup chat", "机器人已被移出群组",
     "the bot was removed from the group"),
    ("bad request: Chat not found", "聊天不存在（或已删除）",
     "the chat does not exist (any more)"),
    ("bad request: Not enough rights to send text messages to the chat", "无发送权限",
     "the bot may not send messages there"),
    ("gave up after 5 attempts: Timed out", "网络错误：多次重试后放弃",
     "network errors: the bot gave up after several attempts"),
    ("Telegram did not answer twice; it may have arrived: Timed out",
     "Telegram 两次未响应；消息可能已送达",
     "Telegram did not answer twice; the message may have arrived"),
    ("internal error: KeyError: 'x'", "机器人内部错误（详见其日志）",
     "an error in the bot (its log has the details)"),
    ("forbidden: Forbidden: something new", "对方拒绝接收机器人的消息",
     "the chat refuses the bot"),
    ("bad request: Wrong file identifier",
     "Telegram 拒绝了该消息：bad request: Wrong file identifier",
     "Telegram refused the message: bad request: Wrong file identifier"),
])
def test_a_failed_delivery_says_why_in_the_readers_language(
        seeded: Store, timetable: Timetable, reason: str, zh: str, en: str) -> None:
    """The tester's case: 理由 read `forbidden: Forbidden: bot was blocked by the user` in the
    Chinese ledger, where skip reasons were translated."""
    record = collect(seeded, CYCLE)
    pending = next(r for r in record.reminders if r.state == "pending")
    failed = pending.model_copy(update={"state": "failed", "reason": reason})
    record = replace(record, reminders=[*record.reminders, failed])
    assert _rows(_book(ZH, timetable, record).worksheets[REMINDERS])[-1][7:9] == ("失败", zh)
    assert _rows(_book(EN, timetable, record).worksheets[REMINDERS])[-1][8] == en


def test_a_command_line_report_is_by_the_command_line_on_every_sheet(
        seeded: Store, timetable: Timetable, books: Books) -> None:
    """The audit sheet left 操作人 blank for a report made with duban's commands (the audit
    sheet lists no report now, but a record with their entries still says so)."""
    record = collect(seeded, CYCLE)
    record = replace(record, log=sorted([*record.log, *seeded.cycle_log(CYCLE, ["report.added"])],
                                        key=lambda e: (e.at, e.id)))
    for language, words in (("zh", "命令行"), ("en", "command line")):
        reports = [r for r in _rows(books[language].worksheets[REPORTS]) if r[1] in (9, 22)]
        assert reports and all(r[7] == words for r in reports)
        book = _book(ZH if language == "zh" else EN, timetable, record)
        audit = [r for r in _rows(book.worksheets[AUDIT]) if r[3] in (9, 22)]
        assert audit and all(r[1] == words for r in audit), audit
    people = [r for r in _rows(_book(ZH, timetable, record).worksheets[AUDIT]) if r[3] == 7]
    assert people and all(r[1] == "王芳" for r in people if r[2] == "报送")


def test_english_completion_time_says_the_month_as_the_plan_does(books: Books,
                                                                 timetable: Timetable) -> None:
    """English read `every year` where Chinese read 每年12月前."""
    english = {r[0]: r[4] for r in _rows(books["en"].worksheets[LEDGER])}
    chinese = {r[0]: r[4] for r in _rows(books["zh"].worksheets[LEDGER])}
    assert chinese[7] == "每年12月前" and english[7] == "before December every year"
    assert english[12] == "before December 2020" and chinese[12] == "2020年12月前"
    assert english[1] is None and chinese[1] is None  # statistics: blank, as in the plan


def test_every_time_follows_the_office_zone(seeded: Store, timetable: Timetable) -> None:
    """DUBAN_TZ=America/New_York: the ledger said 报送时间（Asia/Shanghai） with Shanghai times."""
    from zoneinfo import ZoneInfo

    york = ZoneInfo("America/New_York")
    book = _book(translator("zh_Hans", york), timetable, collect(seeded, CYCLE))
    for sheet in book.worksheets:
        headers = " ".join(str(h) for h in _header(sheet))
        assert "Asia/Shanghai" not in headers, sheet.title
    assert _header(book.worksheets[REPORTS])[0] == "报送时间（America/New_York）"
    sent = {r[1]: r for r in _rows(book.worksheets[REMINDERS])}[7]
    # sent 16 November 09:01 in Shanghai: 15 November 20:01 in New York
    assert sent[0] == dt.datetime(2026, 11, 15, 20, 1)
    assert sent[10] == dt.datetime(2026, 11, 15, 20, 30)  # acknowledged 09:30 Shanghai
    first = _rows(book.worksheets[REPORTS])[0]
    stored = seeded.reports_for_cycle(CYCLE)[0]
    assert first[0] == stored.reported_at.astimezone(york).replace(tzinfo=None)


@pytest.mark.parametrize("values", [(0.0, -0.0, 1.5), (-0.0, 0.0, 1.5), (-0.0, -0.0, 1.5)])
def test_a_rounded_negative_zero_is_written_as_zero_whatever_comes_first(
        values: tuple[float, ...]) -> None:
    """A unit averaging -0.04 days early rounds to -0.0, equal to 0.0 as a key of the cells'
    XML made once (review L1): both are written as 0.0, in any order."""
    from bot.reports.ledger import _Body, _cell_pieces, _Columns
    from bot.reports.wallclock import WallClock

    columns = _Columns()
    columns.headers = ["average"]
    body = _Body(path="xl/worksheets/sheet1.xml", columns=columns,
                 rows=[[value] for value in values], styles=[3], quoted=[4], fills={},
                 merged={}, clock=WallClock(dt.UTC))
    pieces = _cell_pieces(body, 1, values, 0)
    zero = b'" s="3" t="n"><v>0.0</v></c></row>'
    assert pieces == [zero, zero, b'" s="3" t="n"><v>1.5</v></c></row>']
