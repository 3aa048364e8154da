"""The bulletin's selection (schedules/bulletin.py) on the small timetable with an injected day.

Annual tasks 7 (lead fgw), 9 (lead: the towns) and 10 (jointly sthj and zjj) are due
30 November 2026; task 1 has no due date and task 8 is closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import count

from schedules.bulletin import (
    AT_RISK_DAYS,
    Bulletin,
    LateItem,
    LatePart,
    Overdue,
    select_bulletin,
)
from schedules.scorecard import score_units
from schedules.workflow import CycleFacts, Phase
from tests.schedules.factories import SHANGHAI, at, small_timetable

TIMETABLE = small_timetable()
D = dt.date
REVIEWED = at(2026, 11, 28)
_ids = count(1)


@dataclass(frozen=True)
class Report:
    task_id: int
    unit_id: str
    status: str
    reported_at: dt.datetime
    progress: int | None = None
    note: str = ""
    id: int | None = None


@dataclass(frozen=True)
class Review:
    report_id: int
    decision: str
    comment: str = ""
    reviewer_telegram_id: int | None = 2000
    reviewed_at: dt.datetime = REVIEWED


def report(task: int, unit: str, status: str, when: dt.datetime, **extra: object) -> Report:
    return Report(task, unit, status, when, id=next(_ids), **extra)  # type: ignore[arg-type]


def bulletin(history: list[Report], today: dt.date, reviews: list[Review] = (),
             urged: list = ()) -> Bulletin:
    latest: dict = {}
    for r in history:
        latest[(r.task_id, r.unit_id)] = r
    facts = CycleFacts(2026, latest, {r.report_id: r for r in reviews})
    scores = score_units(TIMETABLE, facts, history, set(), urged, today, SHANGHAI)
    return select_bulletin(TIMETABLE, facts, scores, urged, today)


def test_counts_are_over_the_tasks_due_this_cycle() -> None:
    done = report(7, "fgw", "done", at(2026, 11, 20))
    found = bulletin([done, report(10, "sthj", "done", at(2026, 11, 21)),
                      report(10, "zjj", "done", at(2026, 11, 22))], D(2026, 12, 2),
                     reviews=[Review(done.id or 0, "confirmed")])
    c = found.counts
    assert (c.total, c.confirmed, c.awaiting_review, c.overdue, c.under_way) == (3, 1, 1, 1, 0)
    # 1 (statistics) and 8 (closed in 2026) are not counted; 9 (the towns) is overdue


def test_units_that_finished_early_most_tasks_first() -> None:
    found = bulletin([report(10, "sthj", "done", at(2026, 11, 21)),
                      report(7, "fgw", "done", at(2026, 11, 25)),
                      report(10, "zjj", "done", at(2026, 11, 30))], D(2026, 12, 2))
    # zjj finished on the due date itself: on time, but not early
    assert [(e.unit_id, [(i.task_id, i.days_early) for i in e.tasks]) for e in found.early] \
        == [("sthj", [(10, 9)]), ("fgw", [(7, 5)])]
    assert not found.early[0].tasks[0].confirmed  # reported done, not reviewed yet


def test_a_confirmed_early_finish_is_marked_confirmed() -> None:
    done = report(7, "fgw", "done", at(2026, 11, 25))
    found = bulletin([done], D(2026, 12, 2), reviews=[Review(done.id or 0, "confirmed")])
    [item] = found.early[0].tasks
    assert (item.task_id, item.days_early, item.confirmed) == (7, 5, True)


def test_overdue_units_with_days_late_state_and_urges() -> None:
    history = [report(7, "fgw", "in_progress", at(2026, 11, 10), progress=40),
               report(9, "town-a", "blocked", at(2026, 11, 12), note="缺少资金")]
    found = bulletin(history, D(2026, 12, 4), urged=[(7, "fgw"), (7, "fgw")])
    by_unit = {o.unit_id: o.items for o in found.overdue}
    [fgw] = by_unit["fgw"]
    assert (fgw.task_id, fgw.days_late, fgw.phase, fgw.urges) == (7, 4, Phase.IN_PROGRESS, 2)
    assert by_unit["town-a"][0].phase is Phase.BLOCKED  # blocked after the cutoff is overdue
    assert "town-b" in by_unit and by_unit["town-b"][0].phase is Phase.NO_REPORT
    assert {o.unit_id for o in found.overdue} == {"fgw", "town-a", "town-b", "sthj", "zjj"}
    assert found.at_risk == ()  # late is not "at risk": it is overdue


def test_a_units_overdue_tasks_are_grouped_by_days_then_state_and_urges() -> None:
    items = (LateItem(7, 9, Phase.NO_REPORT, 0), LateItem(3, 4, Phase.NO_REPORT, 0),
             LateItem(4, 4, Phase.BLOCKED, 1), LateItem(5, 4, Phase.NO_REPORT, 0),
             LateItem(6, 4, Phase.BLOCKED, 1), LateItem(8, 4, Phase.BLOCKED, 2))
    groups = Overdue("fgw", items).groups
    assert [g.days_late for g in groups] == [9, 4]  # each number of days once, longest first
    assert groups[0].parts == (LatePart((7,), Phase.NO_REPORT, 0),)
    assert groups[1].parts == (LatePart((3, 5), Phase.NO_REPORT, 0),
                               LatePart((4, 6), Phase.BLOCKED, 1),
                               LatePart((8,), Phase.BLOCKED, 2))
    assert Overdue("fgw", ()).groups == ()


def test_the_selected_overdue_units_group_their_tasks() -> None:
    found = bulletin([report(10, "sthj", "in_progress", at(2026, 11, 10), progress=20)],
                     D(2026, 12, 4), urged=[(10, "sthj")])
    by_unit = {o.unit_id: o.groups for o in found.overdue}
    [sthj] = by_unit["sthj"]
    assert sthj.days_late == 4 and sthj.parts == (LatePart((10,), Phase.IN_PROGRESS, 1),)


def test_nothing_is_overdue_on_the_due_date() -> None:
    found = bulletin([], D(2026, 11, 30))
    assert found.overdue == () and found.counts.overdue == 0


def test_at_risk_within_seven_days_or_blocked() -> None:
    blocked = report(9, "town-a", "blocked", at(2026, 11, 2), note="缺少资金")
    far = bulletin([blocked], D(2026, 11, 10))  # 20 days left: only the blocked task
    assert [(r.task_id, r.days_left) for r in far.at_risk] == [(9, 20)]
    assert [u.unit_id for u in far.at_risk[0].units] == ["town-a", "town-b"]
    near = bulletin([blocked, report(10, "sthj", "done", at(2026, 11, 20))],
                    D(2026, 11, 30 - AT_RISK_DAYS + 1))
    assert [r.task_id for r in near.at_risk] == [7, 9, 10]
    assert [u.unit_id for u in near.at_risk[2].units] == ["zjj"]  # sthj is done
    assert bulletin([], D(2026, 11, 30 - AT_RISK_DAYS)).at_risk == ()  # 7 days left: not yet
