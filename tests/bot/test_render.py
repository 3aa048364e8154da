"""Rendering alone: pure functions from timetable and reports to escaped HTML text."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from bot.i18n import translator
from bot.render import paginate, render_summary, render_task
from schedules.loader import load_timetable
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
    assert line_of(text, 7).startswith("🟢") and "逾期" not in line_of(text, 7)
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
        rows = [line for line in text.split("\n")[4:] if line]
        assert len(rows) == len(TIMETABLE.tasks)
        counted = {mark: int(number) for mark, number in
                   re.findall(r"(🟢|🟡|🔴|⚪|⚫)\D*?(\d+)", header)}
        assert set(counted) == {"🟢", "🟡", "🔴", "⚪", "⚫"}
        for mark, number in counted.items():
            assert number == sum(1 for row in rows if row.startswith(mark)), (language, mark)
        assert sum(counted.values()) == len(TIMETABLE.tasks)
    chinese = render_summary(translator("zh_Hans"), TIMETABLE, 2026, latest,
                             dt.date(2026, 12, 3)).split("\n")[2]
    assert "受阻或逾期" in chinese and "已结束" in chinese
