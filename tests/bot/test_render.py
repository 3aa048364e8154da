"""Rendering alone: pure functions from timetable and reports to escaped HTML text."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from bot.i18n import translator
from bot.render import (
    DueItem,
    People,
    legend,
    paginate,
    render_reminder,
    render_summary,
    render_task,
)
from schedules.loader import load_timetable
from schedules.workflow import Acknowledgement, CycleFacts, unit_state
from tests.bot.conftest import ROOT

TIMETABLE = load_timetable(ROOT / "data" / "tasks.yaml")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@dataclass
class Report:
    status: str
    progress: int | None = None
    note: str = ""
    reported_at: dt.datetime = dt.datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)


def line_of(text: str, number: int) -> str:
    return next(line for line in text.split("\n") if f" {number}. " in line)


def test_summary_lights_and_deadlines_after_the_cutoff() -> None:
    latest = {(7, "agriculture-rural"): Report("done"),
              (8, "forestry"): Report("in_progress", 40)}
    text = render_summary(translator("zh_Hans"), TIMETABLE, 2026, latest, dt.date(2026, 12, 3))
    # reported done, not reviewed: blue, never late
    assert line_of(text, 7).startswith("🔵") and "逾期" not in line_of(text, 7)
    assert "1项完成报送待领导审核" in text
    assert line_of(text, 8).startswith("🔴") and "逾期3天" in line_of(text, 8)
    assert line_of(text, 12).startswith("⚫")
    assert line_of(text, 1).startswith("⚪") and "统计局" in line_of(text, 1)


def test_summary_before_the_cutoff_in_english() -> None:
    latest = {(8, "forestry"): Report("blocked")}
    text = render_summary(translator("en"), TIMETABLE, 2026, latest, dt.date(2026, 11, 16))
    assert line_of(text, 8).startswith("🔴")
    assert "due November 30, 2026, 14 days left" in line_of(text, 8)
    assert line_of(text, 9).startswith("⚪")


def test_user_text_is_escaped() -> None:
    latest = {(8, "forestry"): Report("in_progress", None, "<b>urgent</b> & more")}
    text = render_task(translator("en"), TIMETABLE, TIMETABLE.task(8), 2026, latest,
                       dt.date(2026, 11, 16))
    assert "&lt;b&gt;urgent&lt;/b&gt; &amp; more" in text
    assert "<b>urgent</b>" not in text


def test_paginate_keeps_lines_whole_and_under_the_limit() -> None:
    lines = [f"line {i} " + "字" * 90 for i in range(200)]
    pages = paginate("\n".join(lines), limit=1000)
    assert all(len(p) <= 1000 for p in pages)
    assert "\n".join(pages).split("\n") == lines
    huge = paginate("x" * 2500, limit=1000)
    assert [len(p) for p in huge] == [1000, 1000, 500]


def test_summary_counts_partition_the_tasks_by_their_marks() -> None:
    """The header counts each mark the rows show: they add up to every task (issue 9, item 10)."""
    latest = {(7, "agriculture-rural"): Report("done"),
              (8, "forestry"): Report("in_progress", 40),
              (10, "transport"): Report("blocked")}
    for language in ("zh_Hans", "en"):
        t = translator(language)
        text = render_summary(t, TIMETABLE, 2026, latest, dt.date(2026, 12, 3))
        header = text.split("\n")[2]
        rows = [line for line in text.split("\n")[5:] if line]  # after the review count
        assert len(rows) == len(TIMETABLE.tasks)
        counted = {mark: int(number) for mark, number in
                   re.findall(r"(🟢|🔵|🟡|🔴|⚪|⚫) (\d+)", header)}
        assert set(counted) == {"🟢", "🔵", "🟡", "🔴", "⚪", "⚫"}
        for mark, number in counted.items():
            assert number == sum(1 for row in rows if row.startswith(mark)), (language, mark)
        assert sum(counted.values()) == len(TIMETABLE.tasks)
    chinese = render_summary(translator("zh_Hans"), TIMETABLE, 2026, latest,
                             dt.date(2026, 12, 3)).split("\n")[2]
    assert "逾期或受阻" in chinese and "已关闭" in chinese and "已审结" in chinese


# -- the workflow's marks ---------------------------------------------------------------------
@dataclass
class Stored(Report):
    id: int = 0


@dataclass
class Review:
    report_id: int
    decision: str
    comment: str = ""
    reviewer_telegram_id: int | None = 2000
    reviewed_at: dt.datetime = dt.datetime(2026, 11, 21, 15, 30, tzinfo=SHANGHAI)


@dataclass
class Extension:
    id: int
    due_date: dt.date
    state: str
    requested_at: dt.datetime = dt.datetime(2026, 11, 20, 9, tzinfo=SHANGHAI)
    decided_at: dt.datetime | None = dt.datetime(2026, 11, 20, 11, tzinfo=SHANGHAI)


def workflow_facts() -> CycleFacts:
    return CycleFacts(
        2026,
        {(7, "agriculture-rural"): Stored("done", None, "已完成", id=1),
         (7, "statistics"): Stored("in_progress", 50, "数据核对中", id=2),
         (8, "forestry"): Stored("done", id=3),
         (18, "development-reform"): Stored("in_progress", id=4)},
        {1: Review(1, "confirmed"), 3: Review(3, "returned", "缺少佐证<材料>")},
        {(18, "market-regulation"): [Extension(5, dt.date(2026, 12, 20), "approved")]},
        {(7, "agriculture-rural"): Acknowledgement(3004, dt.datetime(2026, 11, 17, 2, 5,
                                                                     tzinfo=dt.UTC))})


def test_task_shows_the_consolidated_status_first_then_the_inputs() -> None:
    people = People({2000: "李组长", 3004: "李农"})
    text = render_task(translator("zh_Hans"), TIMETABLE, TIMETABLE.task(7), 2026,
                       workflow_facts(), dt.date(2026, 11, 24), people=people,
                       urges={"statistics": (2000, dt.datetime(2026, 11, 23, 10,
                                                                tzinfo=SHANGHAI))})
    assert text.startswith("🟢 <b>7. 发展低碳农业</b>")
    head, inputs = text.split("<b>配合单位报送情况</b>")
    assert "<b>牵头单位汇总情况</b>" in head and "农业农村局 (牵头): 🟢 已完成" in head
    assert "✅ 李组长于2026/11/21 15:30审结" in head
    assert "👌 李农于2026/11/17 10:05签收" in head  # office time, not UTC
    assert "统计局 (配合): 🟡 进行中 50%" in inputs
    assert "👌 尚未签收" not in inputs  # its report is a receipt
    assert "📣 李组长于2026/11/23 10:00催办" in inputs
    assert text.endswith(legend(translator("zh_Hans")))


def test_returned_extended_and_joint_tasks() -> None:
    t = translator("en")
    facts = workflow_facts()
    returned = render_task(t, TIMETABLE, TIMETABLE.task(8), 2026, facts, dt.date(2026, 11, 24))
    assert returned.startswith("🟡")
    assert "returned by 2000 on" in returned and "缺少佐证&lt;材料&gt;" in returned
    summary = render_summary(t, TIMETABLE, 2026, facts, dt.date(2026, 12, 3))
    line_18 = line_of(summary, 18)
    assert "📅 extended to December 20, 2026 (Market Regulation" in line_18
    assert line_18.startswith("🔴")  # its other lead unit is late
    assert line_of(summary, 8).startswith("🔴") and "↩️ returned" in line_of(summary, 8)
    joint = render_task(t, TIMETABLE, TIMETABLE.task(26), 2026, facts, dt.date(2026, 11, 24))
    assert "<b>Each joint unit's part</b>" in joint and "cooperating units" not in joint


def test_a_cooperating_contact_sees_only_their_own_input() -> None:
    text = render_task(translator("en"), TIMETABLE, TIMETABLE.task(11), 2026, {},
                       dt.date(2026, 11, 24), only=["transport"])
    inputs = text.split("<b>Inputs of the cooperating units</b>")[1]
    assert "Transport Bureau" in inputs and "Public Security" not in inputs


def test_one_reminder_lists_every_task_grouped_by_cutoff() -> None:
    t = translator("zh_Hans")
    facts = workflow_facts()
    today = dt.date(2026, 12, 2)
    items = [DueItem(unit_state(TIMETABLE, TIMETABLE.task(task), unit, facts, today),
                     frozenset(kinds))
             for task, unit, kinds in ((18, "market-regulation", {"before"}),
                                       (18, "development-reform", {"overdue"}),
                                       (9, "development-reform", {"before"}))]
    text = render_reminder(t, TIMETABLE, items, several_units=True)
    lines = text.split("\n")
    assert lines[0] == "<b>🔴 提醒：3项任务，其中1项已逾期</b>"
    overdue = lines.index("<b>🔴 已逾期</b>")
    extended = lines.index("<b>截止日期2026年12月20日</b>")
    assert overdue < extended
    assert lines[overdue + 1].startswith(
        "🔴 9. 城乡低碳化建设和管理 (发展改革局, 配合) · 已逾期2天")
    assert lines[overdue + 2].startswith("🔴 18. 低碳技术和产品 (发展改革局, 牵头) · 已逾期2天")
    assert "📅 已延期至2026年12月20日" in lines[extended + 1]
    assert "剩余18天" in lines[extended + 1]
    assert text.endswith(legend(t))
