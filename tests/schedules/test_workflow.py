"""The supervision workflow's rules: states, lights, consolidated states, permissions, cutoffs.

Pure: small fake reports, reviews and extensions; no database, no Bot API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from schedules.delivery import ACKNOWLEDGED, REPORTED_DONE, decide
from schedules.model import Role
from schedules.workflow import (
    ALREADY_CONFIRMED,
    ALREADY_DONE,
    CLOSED_TASK,
    EXTENSION_PENDING,
    LEGEND,
    NO_CUTOFF,
    NOT_LATER,
    NOT_PENDING,
    NOT_THIS_CYCLE,
    NOTHING_TO_REVIEW,
    NOTHING_TO_URGE,
    PAST_DATE,
    STALE_REVIEW,
    Acknowledgement,
    Action,
    Actor,
    CycleFacts,
    Light,
    Phase,
    acknowledged_pairs,
    actors,
    consolidated_light,
    cutoff_overrides,
    cycle_views,
    extension_decision_refusal,
    extension_refusal,
    finished_pairs,
    light_of,
    may,
    report_refusal,
    review_refusal,
    task_view,
    unit_state,
    urge_refusal,
)
from tests.schedules.factories import (
    ANNUAL_TASK,
    JOINT_TASK,
    ONCE_2020_TASK,
    STATISTICS_TASK,
    TOWNS_TASK,
    at,
    small_timetable,
)

D = dt.date
CUTOFF = D(2026, 12, 1)
TODAY = D(2026, 11, 16)  # 14 days left
REPORTED = at(2026, 11, 10)
REVIEWED = at(2026, 11, 12)
REQUESTED = at(2026, 11, 20)
ACK_DAY = at(2026, 11, 3)
PLANNED = at(2026, 10, 1)


@dataclass(frozen=True)
class Report:
    id: int | None
    status: str
    progress: int | None = None
    reported_at: dt.datetime = REPORTED


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
    decided_at: dt.datetime | None = None


TIMETABLE = small_timetable()


def facts(reports: dict[tuple[int, str], Report] | None = None,
          reviews: list[Review] = (), extensions: dict | None = None,
          acks: dict | None = None) -> CycleFacts:
    return CycleFacts(2026, reports or {}, {r.report_id: r for r in reviews},
                      extensions or {}, acks or {})


def state_of(unit: str, known: CycleFacts, today: dt.date = TODAY, task: int = ANNUAL_TASK):
    return unit_state(TIMETABLE, TIMETABLE.task(task), unit, known, today)


# -- one unit's phase and light ---------------------------------------------------------------
def test_phases_from_the_latest_report_and_its_review() -> None:
    known = facts({(ANNUAL_TASK, "fgw"): Report(1, "done"),
                   (ANNUAL_TASK, "sthj"): Report(2, "done"),
                   (ANNUAL_TASK, "gxj"): Report(3, "not_applicable")},
                  [Review(2, "confirmed"), Review(3, "returned", "请补充材料")])
    fgw, sthj, gxj = (state_of(u, known) for u in ("fgw", "sthj", "gxj"))
    assert (fgw.phase, fgw.light) == (Phase.REPORTED_DONE, Light.AWAITING_REVIEW)
    assert (sthj.phase, sthj.light) == (Phase.CONFIRMED, Light.CONFIRMED)
    assert (gxj.phase, gxj.light) == (Phase.RETURNED, Light.DUE_SOON)
    assert gxj.review is not None and gxj.review.comment == "请补充材料"
    assert fgw.finished and sthj.finished and not gxj.finished
    assert fgw.role is Role.LEAD and fgw.delivers and not sthj.delivers


def test_a_review_of_an_older_report_does_not_count() -> None:
    known = facts({(ANNUAL_TASK, "fgw"): Report(5, "done")}, [Review(4, "confirmed")])
    assert state_of("fgw", known).phase is Phase.REPORTED_DONE


@pytest.mark.parametrize(("phase", "overdue", "left", "light"), [
    (Phase.CONFIRMED, True, -3, Light.CONFIRMED),  # done late is still done
    (Phase.REPORTED_DONE, True, -3, Light.AWAITING_REVIEW),
    (Phase.BLOCKED, False, 20, Light.LATE),
    (Phase.IN_PROGRESS, True, -1, Light.LATE),
    (Phase.NO_REPORT, True, -1, Light.LATE),
    (Phase.IN_PROGRESS, False, 20, Light.DUE_SOON),  # under way, not done
    (Phase.RETURNED, False, 20, Light.DUE_SOON),
    (Phase.NO_REPORT, False, 6, Light.DUE_SOON),  # due within 7 days
    (Phase.NO_REPORT, False, 7, Light.NO_REPORT),
    (Phase.NO_REPORT, False, None, Light.NO_REPORT),  # statistics task: no cutoff
    (Phase.CLOSED, False, None, Light.CLOSED),
])
def test_the_one_legend(phase: Phase, overdue: bool, left: int | None, light: Light) -> None:
    assert light_of(phase, overdue, left) is light


def test_the_legend_lists_every_light_once() -> None:
    assert [light for light, _ in LEGEND] == list(Light)


def test_due_within_seven_days_and_overdue_follow_the_calendar() -> None:
    known = facts()
    assert state_of("fgw", known, D(2026, 11, 23)).light is Light.NO_REPORT  # 7 days left
    on_24 = state_of("fgw", known, D(2026, 11, 24))
    assert (on_24.days_left, on_24.light) == (6, Light.DUE_SOON)
    last_day = state_of("fgw", known, D(2026, 11, 30))
    assert (last_day.days_left, last_day.overdue) == (0, False)
    late = state_of("fgw", known, CUTOFF)
    assert (late.days_left, late.overdue, late.light) == (-1, True, Light.LATE)


def test_statistics_and_closed_tasks() -> None:
    stats = state_of("fgw", facts(), D(2026, 12, 20), STATISTICS_TASK)
    assert (stats.cutoff, stats.overdue, stats.light) == (None, False, Light.NO_REPORT)
    closed = state_of("gxj", facts(), TODAY, ONCE_2020_TASK)
    assert (closed.phase, closed.light, closed.overdue) == (Phase.CLOSED, Light.CLOSED, False)


def test_an_approved_extension_moves_the_units_cutoff_only() -> None:
    extension = Extension(9, D(2026, 12, 20), "approved", decided_at=at(2026, 11, 21))
    known = facts(extensions={(ANNUAL_TASK, "fgw"): [
        Extension(8, D(2026, 12, 10), "rejected", decided_at=at(2026, 11, 20)), extension]})
    fgw = state_of("fgw", known, D(2026, 12, 2))
    assert (fgw.cutoff, fgw.planned_cutoff) == (D(2026, 12, 21), CUTOFF)
    assert fgw.extension == extension and not fgw.overdue and fgw.days_left == 18
    assert state_of("sthj", known, D(2026, 12, 2)).overdue  # the others keep the cutoff
    assert state_of("fgw", known, D(2026, 12, 21)).overdue
    assert cutoff_overrides(known.extensions) == {(ANNUAL_TASK, "fgw"): D(2026, 12, 21)}


def test_a_pending_or_rejected_extension_moves_nothing() -> None:
    known = facts(extensions={(ANNUAL_TASK, "fgw"): [
        Extension(8, D(2026, 12, 10), "rejected", decided_at=at(2026, 11, 20)),
        Extension(9, D(2026, 12, 15), "pending")]})
    fgw = state_of("fgw", known)
    assert fgw.cutoff == CUTOFF and fgw.extension is None
    assert fgw.pending is not None and fgw.pending.id == 9
    assert cutoff_overrides(known.extensions) == {}


def test_the_first_acknowledgement_is_kept() -> None:
    ack = Acknowledgement(3001, at(2026, 11, 17, 10))
    assert state_of("fgw", facts(acks={(ANNUAL_TASK, "fgw"): ack})).acknowledged == ack
    assert state_of("sthj", facts(acks={(ANNUAL_TASK, "fgw"): ack})).acknowledged is None
    # a report is a receipt too: no acknowledgement reminder after it
    known = facts({(ANNUAL_TASK, "gxj"): Report(1, "in_progress")},
                  acks={(ANNUAL_TASK, "fgw"): ack})
    assert acknowledged_pairs(known) == {(ANNUAL_TASK, "fgw"), (ANNUAL_TASK, "gxj")}


def test_a_unit_without_duty_has_no_state() -> None:
    with pytest.raises(KeyError):
        state_of("zjj", facts())


# -- the consolidated state of a task --------------------------------------------------------
def test_cooperating_inputs_never_make_a_task_done() -> None:
    known = facts({(ANNUAL_TASK, "sthj"): Report(1, "done"),
                   (ANNUAL_TASK, "gxj"): Report(2, "done")},
                  [Review(1, "confirmed"), Review(2, "confirmed")])
    view = task_view(TIMETABLE, TIMETABLE.task(ANNUAL_TASK), known, TODAY)
    assert (view.phase, view.light) == (Phase.NO_REPORT, Light.NO_REPORT)
    assert [u.unit_id for u in view.consolidated] == ["fgw"]
    assert [u.unit_id for u in view.inputs] == ["sthj", "gxj"]


def test_the_lead_files_the_consolidated_status() -> None:
    reported = facts({(ANNUAL_TASK, "fgw"): Report(1, "done")})
    view = task_view(TIMETABLE, TIMETABLE.task(ANNUAL_TASK), reported, TODAY)
    assert (view.phase, view.light) == (Phase.REPORTED_DONE, Light.AWAITING_REVIEW)
    assert [u.unit_id for u in view.awaiting_review] == ["fgw"]
    confirmed = facts({(ANNUAL_TASK, "fgw"): Report(1, "done")}, [Review(1, "confirmed")])
    view = task_view(TIMETABLE, TIMETABLE.task(ANNUAL_TASK), confirmed, TODAY)
    assert (view.phase, view.light) == (Phase.CONFIRMED, Light.CONFIRMED)


def test_a_joint_task_is_done_when_every_joint_unit_is() -> None:
    task = TIMETABLE.task(JOINT_TASK)
    one = facts({(JOINT_TASK, "sthj"): Report(1, "done")}, [Review(1, "confirmed")])
    view = task_view(TIMETABLE, task, one, TODAY)
    assert [u.unit_id for u in view.consolidated] == ["sthj", "zjj"]
    assert (view.phase, view.light) == (Phase.IN_PROGRESS, Light.DUE_SOON)
    both = facts({(JOINT_TASK, "sthj"): Report(1, "done"), (JOINT_TASK, "zjj"): Report(2, "done")},
                 [Review(1, "confirmed")])
    view = task_view(TIMETABLE, task, both, TODAY)
    assert (view.phase, view.light) == (Phase.REPORTED_DONE, Light.AWAITING_REVIEW)
    late = task_view(TIMETABLE, task, one, CUTOFF)
    assert (late.light, late.overdue) == (Light.LATE, True)


def test_a_group_lead_is_every_member() -> None:
    task = TIMETABLE.task(TOWNS_TASK)
    known = facts({(TOWNS_TASK, "town-a"): Report(1, "blocked")})
    view = task_view(TIMETABLE, task, known, TODAY)
    assert [u.unit_id for u in view.consolidated] == ["town-a", "town-b"]
    assert (view.phase, view.light) == (Phase.BLOCKED, Light.LATE)


@pytest.mark.parametrize(("lights", "task_light"), [
    ([Light.CONFIRMED, Light.CONFIRMED], Light.CONFIRMED),
    ([Light.CONFIRMED, Light.AWAITING_REVIEW], Light.AWAITING_REVIEW),
    ([Light.AWAITING_REVIEW, Light.LATE], Light.LATE),
    ([Light.NO_REPORT, Light.NO_REPORT], Light.NO_REPORT),
    ([Light.CONFIRMED, Light.NO_REPORT], Light.DUE_SOON),
    ([Light.DUE_SOON, Light.NO_REPORT], Light.DUE_SOON),
    ([Light.CLOSED], Light.CLOSED),
])
def test_consolidated_light(lights: list[Light], task_light: Light) -> None:
    assert consolidated_light(lights) is task_light


def test_an_extension_shows_on_the_task_and_keeps_it_from_being_overdue() -> None:
    known = facts(extensions={(ANNUAL_TASK, "fgw"): [
        Extension(1, D(2026, 12, 20), "approved", decided_at=at(2026, 11, 21))]})
    view = task_view(TIMETABLE, TIMETABLE.task(ANNUAL_TASK), known, D(2026, 12, 3))
    assert not view.overdue and [u.unit_id for u in view.extended] == ["fgw"]
    # shown with the cutoff that matters now: the extended one, 17 days ahead
    assert view.light is Light.NO_REPORT and view.cutoff == D(2026, 12, 21)


def test_finished_for_reminders_means_reported_done_and_not_returned() -> None:
    known = facts({(ANNUAL_TASK, "fgw"): Report(1, "done"),
                   (ANNUAL_TASK, "sthj"): Report(2, "not_applicable"),
                   (ANNUAL_TASK, "gxj"): Report(3, "done"),
                   (JOINT_TASK, "zjj"): Report(4, "in_progress")},
                  [Review(2, "confirmed"), Review(3, "returned", "不完整")])
    assert finished_pairs(TIMETABLE, known) == {(ANNUAL_TASK, "fgw"), (ANNUAL_TASK, "sthj")}


# -- who may do what -----------------------------------------------------------------------
def test_who_may_do_each_action() -> None:
    contact = actors("contact", [Role.COOPERATING])
    lead = actors("contact", [Role.LEAD], delivers=True)
    leader = actors("leader")
    admin = actors("admin")
    assert contact == {Actor.CONTACT} and lead == {Actor.CONTACT, Actor.LEAD_CONTACT}
    assert admin == {Actor.LEADER, Actor.ADMIN}
    for action in (Action.DECIDE_EXTENSION, Action.REVIEW, Action.URGE):
        assert not may(action, contact) and not may(action, lead)
        assert may(action, leader) and may(action, admin)
    assert may(Action.FILE_CONSOLIDATED, lead) and not may(Action.FILE_CONSOLIDATED, contact)
    for action in (Action.REPORT, Action.ACKNOWLEDGE, Action.REQUEST_EXTENSION):
        assert may(action, contact) and may(action, lead) and not may(action, leader)
    # a leader who also serves a unit is both
    assert actors("leader", [Role.LEAD], delivers=True) == {Actor.LEADER, Actor.CONTACT,
                                                            Actor.LEAD_CONTACT}
    assert actors(None) == frozenset()


def test_a_confirmed_or_closed_unit_reports_no_more() -> None:
    confirmed = state_of("fgw", facts({(ANNUAL_TASK, "fgw"): Report(1, "done")},
                                      [Review(1, "confirmed")]))
    assert report_refusal(confirmed) == ALREADY_CONFIRMED
    assert report_refusal(state_of("gxj", facts(), TODAY, ONCE_2020_TASK)) == CLOSED_TASK
    returned = state_of("fgw", facts({(ANNUAL_TASK, "fgw"): Report(1, "done")},
                                     [Review(1, "returned")]))
    assert report_refusal(returned) is None


def test_extension_requests() -> None:
    open_unit = state_of("fgw", facts())
    assert extension_refusal(open_unit, D(2026, 12, 20), TODAY) is None
    assert extension_refusal(open_unit, D(2026, 11, 30), TODAY) == NOT_LATER  # due date now
    assert extension_refusal(open_unit, D(2027, 1, 5), TODAY) is None  # into January
    assert extension_refusal(open_unit, D(2028, 1, 5), TODAY) == NOT_THIS_CYCLE
    assert extension_refusal(open_unit, D(2026, 12, 3), D(2026, 12, 10)) == PAST_DATE
    done = state_of("fgw", facts({(ANNUAL_TASK, "fgw"): Report(1, "done")}))
    assert extension_refusal(done, D(2026, 12, 20), TODAY) == ALREADY_DONE
    waiting = state_of("fgw", facts(extensions={(ANNUAL_TASK, "fgw"): [
        Extension(1, D(2026, 12, 10), "pending")]}))
    assert extension_refusal(waiting, D(2026, 12, 20), TODAY) == EXTENSION_PENDING
    extended = state_of("fgw", facts(extensions={(ANNUAL_TASK, "fgw"): [
        Extension(1, D(2026, 12, 10), "approved", decided_at=at(2026, 11, 20))]}))
    assert extension_refusal(extended, D(2026, 12, 10), TODAY) == NOT_LATER
    assert extension_refusal(extended, D(2026, 12, 11), TODAY) is None
    stats = state_of("fgw", facts(), TODAY, STATISTICS_TASK)
    assert extension_refusal(stats, D(2026, 12, 20), TODAY) == NO_CUTOFF
    assert extension_decision_refusal(Extension(1, D(2026, 12, 10), "pending")) is None
    assert extension_decision_refusal(Extension(1, D(2026, 12, 10), "approved")) == NOT_PENDING


def test_reviews_and_urges() -> None:
    reported = state_of("fgw", facts({(ANNUAL_TASK, "fgw"): Report(7, "done")}))
    assert review_refusal(reported, 7) is None
    assert review_refusal(reported, 6) == STALE_REVIEW
    working = state_of("fgw", facts({(ANNUAL_TASK, "fgw"): Report(7, "in_progress")}))
    assert review_refusal(working, 7) == NOTHING_TO_REVIEW
    assert review_refusal(state_of("fgw", facts()), 7) == NOTHING_TO_REVIEW
    assert urge_refusal(working) is None and urge_refusal(state_of("fgw", facts())) is None
    assert urge_refusal(reported) == NOTHING_TO_URGE


# -- the effect on reminders -----------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    id: int
    kind: str
    task_id: int = ANNUAL_TASK
    unit_id: str = "fgw"
    cycle: int = 2026
    offset_days: int = 30
    chat_id: int = 501
    due_at: dt.datetime = ACK_DAY
    cutoff: dt.date = CUTOFF
    attempts: int = 0
    created_at: dt.datetime | None = PLANNED


def test_an_acknowledged_or_finished_unit_gets_no_acknowledgement_reminder() -> None:
    rows = [Row(1, "ack"), Row(2, "ack", unit_id="sthj"), Row(3, "ack", unit_id="gxj")]
    decisions = decide(rows, at(2026, 11, 3), finished={(ANNUAL_TASK, "gxj", 2026)},
                       acknowledged={(ANNUAL_TASK, "fgw", 2026)})
    assert [(d.row.id, d.send, d.reason) for d in decisions] == [
        (1, False, ACKNOWLEDGED), (2, True, ""), (3, False, REPORTED_DONE)]


def test_cycle_views_are_computed_once_per_facts_day_and_timetable() -> None:
    timetable = small_timetable()
    facts = CycleFacts(2026, {(ANNUAL_TASK, "fgw"): Report(1, "in_progress", 40)})
    first = cycle_views(timetable, facts, TODAY)
    assert first == [task_view(timetable, t, facts, TODAY) for t in timetable.tasks]
    again = cycle_views(timetable, facts, TODAY)
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))
    later = cycle_views(timetable, facts, D(2026, 12, 5))  # another day: computed for it
    assert later != first and later[0] is not first[0]
    other = small_timetable()  # another timetable object (a reload): computed again
    assert cycle_views(other, facts, TODAY)[0] is not first[0]
    fresh = CycleFacts(2026, {(ANNUAL_TASK, "fgw"): Report(1, "done")})  # other facts
    assert cycle_views(timetable, fresh, TODAY) != first
