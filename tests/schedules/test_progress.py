"""The status rules: from each unit's latest report to a task's phase and light."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from schedules.progress import TaskPhase, deliverers, is_closed, task_state
from tests.schedules.factories import (
    ANNUAL_TASK,
    JOINT_TASK,
    ONCE_2020_TASK,
    SHANGHAI,
    STATISTICS_TASK,
    TOWNS_TASK,
    small_timetable,
)

NOV_20 = dt.date(2026, 11, 20)
DEC_02 = dt.date(2026, 12, 2)


@dataclass
class Report:
    status: str
    progress: int | None = None
    reported_at: dt.datetime = dt.datetime(2026, 11, 1, 10, tzinfo=SHANGHAI)


def state(task_id: int, latest: dict[str, Report], today: dt.date = NOV_20, cycle: int = 2026):
    timetable = small_timetable()
    return task_state(timetable, timetable.task(task_id), cycle, latest, today)


def test_no_reply_before_cutoff_is_white_with_days_left() -> None:
    s = state(ANNUAL_TASK, {})
    assert (s.phase, s.overdue, s.light) == (TaskPhase.NO_REPLY, False, "⚪")
    assert s.cutoff == dt.date(2026, 12, 1)
    assert s.days_left == 10  # 20 Nov -> due 30 Nov
    assert s.silent_units == ("fgw", "sthj", "gxj")


def test_done_needs_every_lead_and_cooperating_reports_do_not_count() -> None:
    s = state(ANNUAL_TASK, {"sthj": Report("done"), "gxj": Report("done")})
    assert s.phase is TaskPhase.IN_PROGRESS and s.light == "🟡"
    s = state(ANNUAL_TASK, {"fgw": Report("done")})
    assert s.phase is TaskPhase.DONE and s.light == "🟢"


def test_a_blocked_unit_turns_the_task_red() -> None:
    s = state(ANNUAL_TASK, {"fgw": Report("in_progress", 50), "gxj": Report("blocked")})
    assert s.phase is TaskPhase.BLOCKED and s.light == "🔴"
    assert s.blocked_units == ("gxj",)


def test_after_the_cutoff_not_done_is_overdue_and_done_is_not() -> None:
    late = state(ANNUAL_TASK, {"fgw": Report("in_progress")}, today=DEC_02)
    assert late.overdue and late.light == "🔴" and late.days_left == -2
    done = state(ANNUAL_TASK, {"fgw": Report("done")}, today=DEC_02)
    assert not done.overdue and done.light == "🟢"


def test_group_lead_needs_every_town() -> None:
    timetable = small_timetable()
    assert deliverers(timetable, timetable.task(TOWNS_TASK)) == ("town-a", "town-b")
    assert state(TOWNS_TASK, {"town-a": Report("done")}).phase is TaskPhase.IN_PROGRESS
    both = {"town-a": Report("done"), "town-b": Report("not_applicable")}
    assert state(TOWNS_TASK, both).phase is TaskPhase.DONE


def test_joint_units_deliver_when_there_is_no_lead() -> None:
    timetable = small_timetable()
    assert deliverers(timetable, timetable.task(JOINT_TASK)) == ("sthj", "zjj")
    assert state(JOINT_TASK, {"sthj": Report("done")}).phase is TaskPhase.IN_PROGRESS


def test_once_2020_task_is_closed_in_2026_and_open_in_2020() -> None:
    timetable = small_timetable()
    task = timetable.task(ONCE_2020_TASK)
    assert is_closed(task, 2026) and not is_closed(task, 2020)
    closed = state(ONCE_2020_TASK, {}, today=DEC_02)
    assert closed.phase is TaskPhase.CLOSED and closed.light == "⚫" and not closed.overdue
    open_2020 = state(ONCE_2020_TASK, {}, today=dt.date(2020, 12, 5), cycle=2020)
    assert open_2020.overdue and open_2020.cutoff == dt.date(2020, 12, 1)


@pytest.mark.parametrize("today", [NOV_20, DEC_02])
def test_statistics_task_has_no_cutoff_and_is_never_overdue(today: dt.date) -> None:
    s = state(STATISTICS_TASK, {}, today=today)
    assert s.cutoff is None and s.days_left is None and not s.overdue
