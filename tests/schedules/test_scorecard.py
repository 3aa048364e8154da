"""The scorecard rules (docs/scorecard.md), on the small timetable with an injected day.

Annual tasks are due 30 November 2026 (cutoff 1 December). Task 7 is led by fgw (sthj and gxj
cooperate); task 10 is jointly sthj's and zjj's (no lead); task 9 is led by the towns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import count

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules.scorecard import Outcome, UnitScore, finish_day, score_units
from schedules.workflow import Acknowledgement, CycleFacts
from tests.schedules.factories import ANNUAL_TASK, JOINT_TASK, SHANGHAI, at, small_timetable

TIMETABLE = small_timetable()
D = dt.date
REVIEWED, REQUESTED, DECIDED = at(2026, 11, 28), at(2026, 11, 20), at(2026, 11, 21)
BEFORE_DUE = D(2026, 11, 20)
AFTER_CUTOFF = D(2026, 12, 5)
_ids = count(1)


@dataclass(frozen=True)
class Report:
    task_id: int
    unit_id: str
    status: str
    reported_at: dt.datetime
    progress: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class Review:
    report_id: int
    decision: str
    comment: str = ""
    reviewer_telegram_id: int | None = 2000
    reviewed_at: dt.datetime = REVIEWED


@dataclass(frozen=True)
class Extension:
    id: int | None
    due_date: dt.date
    state: str
    requested_at: dt.datetime = REQUESTED
    decided_at: dt.datetime | None = DECIDED


def report(task: int, unit: str, status: str, when: dt.datetime) -> Report:
    return Report(task, unit, status, when, id=next(_ids))


def scores(history: list[Report], today: dt.date, reviews: list[Review] = (),
           extensions: dict | None = None, reminded: set | frozenset = frozenset(),
           urged: list = (), acks: dict | None = None) -> dict[str, UnitScore]:
    latest: dict = {}
    for r in sorted(history, key=lambda r: (r.reported_at, r.id)):
        latest[(r.task_id, r.unit_id)] = r
    facts = CycleFacts(2026, latest, {r.report_id: r for r in reviews}, extensions or {},
                       acks or {})
    found = score_units(TIMETABLE, facts, history, reminded, urged, today, SHANGHAI)
    return {s.unit_id: s for s in found}


def duty(found: dict[str, UnitScore], unit: str, task: int = ANNUAL_TASK):
    [d] = [d for d in found[unit].duties if d.task_id == task]
    return d


# -- outcomes -------------------------------------------------------------------------------------
def test_done_before_the_due_date_is_on_time_with_days_early() -> None:
    found = scores([report(7, "fgw", "done", at(2026, 11, 25))], AFTER_CUTOFF)
    d = duty(found, "fgw")
    assert (d.outcome, d.finished_on, d.days_early) == (Outcome.ON_TIME, D(2026, 11, 25), 5)
    assert found["fgw"].average_days_early == 5


def test_done_on_the_due_date_is_on_time_with_zero_days() -> None:
    d = duty(scores([report(7, "fgw", "done", at(2026, 11, 30, 23, 59))], AFTER_CUTOFF), "fgw")
    assert (d.outcome, d.days_early) == (Outcome.ON_TIME, 0)


def test_a_report_on_the_cutoff_day_is_one_day_late() -> None:
    # the cutoff (1 December) is the first late day: due by 30 November
    d = duty(scores([report(7, "fgw", "done", at(2026, 12, 1, 0, 5))], AFTER_CUTOFF), "fgw")
    assert (d.outcome, d.finished_on, d.days_early) == (Outcome.LATE, D(2026, 12, 1), -1)


def test_the_day_is_the_offices_not_utc() -> None:
    # 16:30 UTC on 30 November is 00:30 on 1 December in Shanghai: late
    late = report(7, "fgw", "done", dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC))
    assert duty(scores([late], AFTER_CUTOFF), "fgw").outcome is Outcome.LATE
    assert finish_day([late], SHANGHAI) == D(2026, 12, 1)


def test_no_report_is_open_before_the_cutoff_and_missing_from_it() -> None:
    assert duty(scores([], BEFORE_DUE), "fgw").outcome is Outcome.OPEN
    assert duty(scores([], D(2026, 11, 30)), "fgw").outcome is Outcome.OPEN  # the last day
    missing = duty(scores([], D(2026, 12, 1)), "fgw")
    assert (missing.outcome, missing.days_early) == (Outcome.MISSING, -1)
    assert duty(scores([], AFTER_CUTOFF), "fgw").days_early == -5
    assert scores([], AFTER_CUTOFF)["fgw"].average_days_early is None  # only finished count


def test_in_progress_after_the_cutoff_is_missing_blocked_is_blocked() -> None:
    ongoing = [report(7, "fgw", "in_progress", at(2026, 11, 10))]
    assert duty(scores(ongoing, AFTER_CUTOFF), "fgw").outcome is Outcome.MISSING
    blocked = [report(7, "fgw", "blocked", at(2026, 11, 10))]
    assert duty(scores(blocked, BEFORE_DUE), "fgw").outcome is Outcome.BLOCKED
    assert duty(scores(blocked, AFTER_CUTOFF), "fgw").outcome is Outcome.BLOCKED


def test_an_approved_extension_moves_the_due_date() -> None:
    moved = {(7, "fgw"): [Extension(1, D(2026, 12, 20), "approved")]}
    done = [report(7, "fgw", "done", at(2026, 12, 10))]
    d = duty(scores(done, D(2026, 12, 15), extensions=moved), "fgw")
    assert (d.due, d.extended, d.outcome, d.days_early) == (
        D(2026, 12, 20), True, Outcome.ON_TIME, 10)
    assert scores(done, D(2026, 12, 15), extensions=moved)["fgw"].extended == 1
    # silent, after the old cutoff but before the new one: not missing
    assert duty(scores([], D(2026, 12, 15), extensions=moved), "fgw").outcome is Outcome.OPEN
    assert duty(scores([], D(2026, 12, 21), extensions=moved), "fgw").outcome is Outcome.MISSING
    # a rejected request moves nothing
    refused = {(7, "fgw"): [Extension(2, D(2026, 12, 20), "rejected")]}
    d = duty(scores(done, D(2026, 12, 15), extensions=refused), "fgw")
    assert (d.due, d.extended, d.outcome) == (D(2026, 11, 30), False, Outcome.LATE)


def test_a_returned_report_does_not_finish_the_duty() -> None:
    done = report(7, "fgw", "done", at(2026, 11, 20))
    found = scores([done], AFTER_CUTOFF, reviews=[Review(done.id or 0, "returned")])
    assert duty(found, "fgw").outcome is Outcome.MISSING
    # done again after the return: finished on the new report's day
    again = report(7, "fgw", "done", at(2026, 12, 3))
    found = scores([done, again], AFTER_CUTOFF, reviews=[Review(done.id or 0, "returned")])
    assert (duty(found, "fgw").finished_on, duty(found, "fgw").outcome) == (
        D(2026, 12, 3), Outcome.LATE)


def test_a_note_after_done_keeps_the_first_day_of_done() -> None:
    history = [report(7, "fgw", "done", at(2026, 11, 20)),
               report(7, "fgw", "done", at(2026, 12, 2))]
    assert duty(scores(history, AFTER_CUTOFF), "fgw").finished_on == D(2026, 11, 20)


def test_only_delivering_units_are_scored_cooperating_and_joint() -> None:
    found = scores([report(7, "sthj", "done", at(2026, 11, 5))], AFTER_CUTOFF)
    assert ANNUAL_TASK not in {d.task_id for d in found["sthj"].duties}  # cooperates on 7
    assert JOINT_TASK in {d.task_id for d in found["sthj"].duties}  # joint, no lead: scored
    assert {d.task_id for d in found["zjj"].duties} == {JOINT_TASK}  # cooperates on 9
    # tasks without a cutoff this cycle are not scored (statistics, once-only 2020)
    assert {d.task_id for d in found["fgw"].duties} == {ANNUAL_TASK}


def test_acknowledgement_rate_and_urges() -> None:
    reminded = {(7, "fgw"), (7, "sthj"), (10, "sthj")}
    acks = {(7, "sthj"): Acknowledgement(3001, at(2026, 11, 16))}
    history = [report(10, "sthj", "in_progress", at(2026, 11, 18))]  # a report is a receipt
    found = scores(history, AFTER_CUTOFF, reminded=reminded, acks=acks,
                   urged=[(7, "fgw"), (7, "fgw"), (10, "sthj")])
    assert (found["fgw"].reminded, found["fgw"].acknowledged) == (1, 0)
    assert found["fgw"].acknowledgement_rate == 0
    assert (found["sthj"].reminded, found["sthj"].acknowledged) == (2, 2)
    assert found["sthj"].acknowledgement_rate == 1
    assert found["zjj"].acknowledgement_rate is None  # never reminded
    assert (found["fgw"].urges, found["sthj"].urges, found["zjj"].urges) == (2, 1, 0)


def test_averages_over_finished_duties_and_counts() -> None:
    history = [report(10, "sthj", "done", at(2026, 11, 27)),  # 3 days early
               report(10, "zjj", "done", at(2026, 12, 3))]  # 3 days late
    found = scores(history, AFTER_CUTOFF)
    assert found["sthj"].average_days_early == 3 and found["zjj"].average_days_early == -3
    assert (found["sthj"].on_time, found["zjj"].late) == (1, 1)


def test_a_naive_report_time_is_refused() -> None:
    naive = Report(7, "fgw", "done", dt.datetime(2026, 11, 20, 9), id=1)
    with pytest.raises(ValueError, match="naive"):
        scores([naive], AFTER_CUTOFF)


# -- for any history ----------------------------------------------------------------------------
UNITS = ("fgw", "sthj", "zjj", "gxj", "town-a", "town-b")
STATUSES = ("done", "in_progress", "blocked", "not_applicable")


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Report], dt.date]:
    minutes = st.integers(min_value=0, max_value=60 * 24 * 75)  # 1 Oct to mid December
    start = at(2026, 10, 1, 0, 0)
    reports = [report(draw(st.sampled_from((7, 9, 10))), draw(st.sampled_from(UNITS)),
                      draw(st.sampled_from(STATUSES)),
                      start + dt.timedelta(minutes=draw(minutes)))
               for _ in range(draw(st.integers(min_value=0, max_value=12)))]
    today = D(2026, 11, 1) + dt.timedelta(days=draw(st.integers(min_value=0, max_value=60)))
    return [r for r in reports if r.reported_at.date() <= today], today


@given(histories())
def test_every_duty_has_one_outcome_that_fits_its_days(case: tuple[list[Report], dt.date]
                                                       ) -> None:
    history, today = case
    for score in scores(history, today).values():
        counted = (score.on_time + score.late + score.missing + score.blocked + score.open)
        assert counted == len(score.duties)
        for d in score.duties:
            if d.outcome in (Outcome.ON_TIME, Outcome.LATE):
                assert d.finished_on is not None and d.finished_on <= today
                assert d.days_early == (d.due - d.finished_on).days
                assert (d.outcome is Outcome.ON_TIME) == (d.finished_on <= d.due)
            else:
                assert d.finished_on is None
            if d.outcome is Outcome.MISSING:
                assert today > d.due
            if d.outcome is Outcome.OPEN:
                assert today <= d.due
        average = score.average_days_early
        finished = [d for d in score.duties if d.outcome in (Outcome.ON_TIME, Outcome.LATE)]
        assert (average is None) == (not finished)
