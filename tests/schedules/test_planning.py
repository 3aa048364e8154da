"""Reminder planning against the real 2026 calendar, the 2027 fallback and per-task overrides."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from schedules.calendar import WorkingDayCalendar
from schedules.clock import FrozenClock
from schedules.model import ReminderPolicy, Role
from schedules.planning import (
    OVERDUE_REPEAT_DAYS,
    PlannedReminder,
    ReminderKind,
    current_cycle,
    cycle_cutoff,
    days_left,
    due_date,
    plan_reminders,
)
from tests.schedules.factories import (
    ANNUAL_TASK,
    JOINT_TASK,
    ONCE_2020_TASK,
    SHANGHAI,
    STATISTICS_TASK,
    TOWNS_TASK,
    at,
    make_task,
    make_timetable,
    small_timetable,
    statistics,
)

D = dt.date
BEFORE, OVERDUE, DIGEST = ReminderKind.BEFORE, ReminderKind.OVERDUE, ReminderKind.DIGEST
ACK = ReminderKind.ACKNOWLEDGE


@pytest.fixture
def calendar() -> WorkingDayCalendar:
    return WorkingDayCalendar()


def of(plan: list[PlannedReminder], kind: ReminderKind, task_id: int | None = None,
       unit_id: str | None = None) -> list[PlannedReminder]:
    return [r for r in plan if r.kind is kind and (task_id is None or r.task_id == task_id)
            and (unit_id is None or r.unit_id == unit_id)]


def first_overdue(plan: list[PlannedReminder], task_id: int | None = None,
                  unit_id: str | None = None) -> list[PlannedReminder]:
    """The overdue notices of the cutoff itself (offset 0), not their weekly repeats."""
    return [r for r in of(plan, OVERDUE, task_id, unit_id) if r.offset_days == 0]


def instants(reminders: list[PlannedReminder]) -> dict[int, dt.datetime]:
    return {r.offset_days: r.at for r in reminders}


# -- the default 2026 plan ------------------------------------------------------------------------
def test_default_2026_plan_exact_instants(calendar: WorkingDayCalendar) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    assert instants(of(plan, BEFORE, ANNUAL_TASK, "fgw")) == {
        30: at(2026, 10, 30),  # 11-01 is a Sunday: back to Friday
        14: at(2026, 11, 17),  # Tuesday
        7: at(2026, 11, 24),  # Tuesday
        3: at(2026, 11, 27),  # 11-28 is a Saturday: back to Friday
        1: at(2026, 11, 30),  # Monday, the due date
    }
    for reminder in plan:
        assert reminder.at.utcoffset() == dt.timedelta(hours=8)
        assert reminder.at.tzinfo == SHANGHAI
        assert reminder.cycle == 2026
        assert reminder.cutoff == D(2026, 12, 1)
    assert [(r.unit_id, r.at) for r in first_overdue(plan, ANNUAL_TASK)] == [
        ("fgw", at(2026, 12, 1))]


def test_before_reminders_land_on_the_previous_working_day_per_chinese_calendar(
    calendar: WorkingDayCalendar,
) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    befores = of(plan, BEFORE)
    assert befores
    for reminder in befores:
        nominal = reminder.cutoff - dt.timedelta(days=reminder.offset_days)
        sent = reminder.at.date()
        assert sent <= nominal
        assert chinese_calendar.is_workday(sent)
        skipped = [sent + dt.timedelta(days=n) for n in range(1, (nominal - sent).days + 1)]
        assert not any(chinese_calendar.is_workday(day) for day in skipped)
        assert reminder.at < dt.datetime.combine(reminder.cutoff, dt.time(), tzinfo=SHANGHAI)
        assert (reminder.at.hour, reminder.at.minute) == (9, 0)


def test_reminder_in_national_day_holiday_moves_to_september_30(
    calendar: WorkingDayCalendar,
) -> None:
    # 12-01 minus 61 days is 10-01 and minus 55 is 10-07, both in the National Day holiday
    task = make_task(20, lead=("fgw",), reminders={"offsets_days": [61, 55]})
    plan = plan_reminders(make_timetable([task]), 2026, calendar)
    befores = of(plan, BEFORE, 20)
    # collapsed onto one day: one reminder, keyed by the offset closer to the cutoff
    assert instants(befores) == {55: at(2026, 9, 30)}


def test_make_up_working_day_counts_as_working(calendar: WorkingDayCalendar) -> None:
    make_up = D(2026, 10, 10)
    assert make_up in chinese_calendar.constants.workdays and make_up.weekday() == 5
    offset = (D(2026, 12, 1) - make_up).days  # 52
    task = make_task(20, lead=("fgw",), reminders={"offsets_days": [offset]})
    plan = plan_reminders(make_timetable([task]), 2026, calendar)
    assert instants(of(plan, BEFORE, 20)) == {52: at(2026, 10, 10)}  # a Saturday, worked


def test_2027_without_holiday_data_falls_back_to_monday_to_friday(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="schedules.calendar")
    calendar = WorkingDayCalendar()
    plan = plan_reminders(small_timetable(), 2027, calendar)
    assert instants(of(plan, BEFORE, ANNUAL_TASK, "fgw")) == {
        30: at(2027, 11, 1),  # Monday
        14: at(2027, 11, 17),  # Wednesday
        7: at(2027, 11, 24),  # Wednesday
        3: at(2027, 11, 26),  # 11-28 is a Sunday: back to Friday
        1: at(2027, 11, 30),  # Tuesday
    }
    assert first_overdue(plan, ANNUAL_TASK)[0].at == at(2027, 12, 1)  # Wednesday
    plan_reminders(small_timetable(), 2027, calendar)  # planning again does not warn again
    warnings = [r for r in caplog.records if r.name == "schedules.calendar"]
    assert len(warnings) == 1
    assert "2027" in warnings[0].getMessage()
    assert calendar.fallback_years == frozenset({2027})


def test_the_timetables_calendar_corrections_move_reminders_and_quiet_the_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A year the package does not know: the admin's days off and make-up days in the file."""
    from schedules.model import CalendarCorrections

    caplog.set_level(logging.WARNING, logger="schedules.calendar")
    corrected = small_timetable().model_copy(update={"calendar": CalendarCorrections(
        holidays={D(2027, 11, 24): "local day off"},
        workdays={D(2027, 11, 28): "make-up Sunday"})})
    calendar = WorkingDayCalendar()
    befores = instants(of(plan_reminders(corrected, 2027, calendar), BEFORE, ANNUAL_TASK,
                          "fgw"))
    assert befores[7] == at(2027, 11, 23)  # the 24th is off: back to Tuesday
    assert befores[3] == at(2027, 11, 28)  # the Sunday is worked
    assert calendar.fallback_years == frozenset()
    assert not [r for r in caplog.records if r.name == "schedules.calendar"]


# -- which tasks ---------------------------------------------------------------------------------
def test_once_2020_task_only_in_2020(calendar: WorkingDayCalendar) -> None:
    timetable = small_timetable()
    for cycle in (2021, 2026):
        assert not [r for r in plan_reminders(timetable, cycle, calendar)
                    if r.task_id == ONCE_2020_TASK]
    plan_2020 = plan_reminders(timetable, 2020, calendar)
    befores = of(plan_2020, BEFORE, ONCE_2020_TASK, "gxj")
    assert instants(befores) == {
        30: at(2020, 10, 30),  # 11-01 is a Sunday
        14: at(2020, 11, 17),
        7: at(2020, 11, 24),
        3: at(2020, 11, 27),  # 11-28 is a Saturday
        1: at(2020, 11, 30),
    }
    assert [r.unit_id for r in first_overdue(plan_2020, ONCE_2020_TASK)] == ["gxj"]
    task = timetable.task(ONCE_2020_TASK)
    assert cycle_cutoff(timetable, task, 2020) == D(2020, 12, 1)
    assert cycle_cutoff(timetable, task, 2026) is None


def test_statistics_tasks_get_nothing(calendar: WorkingDayCalendar) -> None:
    timetable = small_timetable()
    task = timetable.task(STATISTICS_TASK)
    for cycle in (2020, 2026, 2027):
        assert cycle_cutoff(timetable, task, cycle) is None
        assert not [r for r in plan_reminders(timetable, cycle, calendar)
                    if r.task_id == STATISTICS_TASK]


def test_no_task_in_the_cycle_means_no_digest(calendar: WorkingDayCalendar) -> None:
    timetable = make_timetable([make_task(1, lead=("fgw",), deadline=statistics())])
    assert plan_reminders(timetable, 2026, calendar) == []


# -- overrides -----------------------------------------------------------------------------------
def test_per_task_overrides(calendar: WorkingDayCalendar) -> None:
    overridden = make_task(20, lead=("fgw",), cooperating=("sthj",), reminders={
        "offsets_days": [10, 2], "hour": 15, "minute": 30, "cutoff": {"month": 6, "day": 30},
        "overdue": False})
    timetable = make_timetable([overridden, make_task(21, lead=("gxj",))])
    assert cycle_cutoff(timetable, overridden, 2026) == D(2026, 6, 30)
    plan = plan_reminders(timetable, 2026, calendar)
    for unit_id in ("fgw", "sthj"):
        assert instants(of(plan, BEFORE, 20, unit_id)) == {
            10: at(2026, 6, 18, 15, 30),  # 06-20 is in the Dragon Boat holiday (06-19..21)
            2: at(2026, 6, 26, 15, 30),  # 06-28 is a Sunday
        }
    assert all(r.cutoff == D(2026, 6, 30) for r in plan if r.task_id == 20)
    assert first_overdue(plan, 20) == []
    # the other task keeps the global policy
    assert instants(of(plan, BEFORE, 21, "gxj"))[30] == at(2026, 10, 30)
    assert [r.unit_id for r in first_overdue(plan, 21)] == ["gxj"]


def test_time_zone_override(calendar: WorkingDayCalendar) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    task = make_task(20, lead=("fgw",), reminders={"timezone": "Europe/Berlin", "hour": 8})
    plan = plan_reminders(make_timetable([task]), 2026, calendar)
    for reminder in of(plan, BEFORE) + first_overdue(plan):
        assert reminder.at.tzinfo == berlin
        assert (reminder.at.hour, reminder.at.minute) == (8, 0)
    assert first_overdue(plan)[0].at == dt.datetime(2026, 12, 1, 8, tzinfo=berlin)
    assert all(r.at.tzinfo == SHANGHAI for r in of(plan, DIGEST))  # digests: global policy


def test_offsets_that_collapse_make_one_reminder_and_never_reach_the_cutoff(
    calendar: WorkingDayCalendar,
) -> None:
    # 11-28 (3) and 11-29 (2) are a weekend: one reminder on Friday 11-27, not two
    task = make_task(20, lead=("fgw",), reminders={"offsets_days": [3, 2, 1]})
    plan = plan_reminders(make_timetable([task]), 2026, calendar)
    assert instants(of(plan, BEFORE)) == {2: at(2026, 11, 27), 1: at(2026, 11, 30)}
    cutoff_start = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
    assert all(r.at < cutoff_start for r in of(plan, BEFORE))


# -- who ----------------------------------------------------------------------------------------
def test_group_is_expanded_into_each_town(calendar: WorkingDayCalendar) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    befores = of(plan, BEFORE, TOWNS_TASK)
    per_unit = Counter(r.unit_id for r in befores)
    assert per_unit == {"town-a": 5, "town-b": 5, "zjj": 5}
    assert "towns" not in {r.unit_id for r in plan}
    roles = {r.unit_id: r.role for r in befores}
    assert roles == {"town-a": Role.LEAD, "town-b": Role.LEAD, "zjj": Role.COOPERATING}
    assert sorted(r.unit_id or "" for r in first_overdue(plan, TOWNS_TASK)) == ["town-a", "town-b"]


def test_cooperating_units_are_reminded_but_overdue_goes_to_leads_only(
    calendar: WorkingDayCalendar,
) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    assert {r.unit_id for r in of(plan, BEFORE, ANNUAL_TASK)} == {"fgw", "sthj", "gxj"}
    overdue = first_overdue(plan, ANNUAL_TASK)
    assert [(r.unit_id, r.role, r.offset_days) for r in overdue] == [("fgw", Role.LEAD, 0)]


def test_overdue_goes_to_joint_units_when_there_is_no_lead(calendar: WorkingDayCalendar) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    overdue = first_overdue(plan, JOINT_TASK)
    assert [(r.unit_id, r.role) for r in overdue] == [("sthj", Role.JOINT), ("zjj", Role.JOINT)]
    assert all(r.at == at(2026, 12, 1) for r in overdue)


def test_overdue_moves_to_the_first_working_day_on_or_after_the_cutoff(
    calendar: WorkingDayCalendar,
) -> None:
    # cutoff 10-01 is in the National Day holiday: overdue on Thursday 10-08
    task = make_task(20, lead=("fgw",), reminders={"cutoff": {"month": 10, "day": 1}})
    plan = plan_reminders(make_timetable([task]), 2026, calendar)
    assert [(r.at, r.offset_days) for r in first_overdue(plan)] == [(at(2026, 10, 8), 0)]


# -- digests -------------------------------------------------------------------------------------
def test_digest_instants_in_2026(calendar: WorkingDayCalendar) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    digests = of(plan, DIGEST)
    assert [(r.at, r.offset_days) for r in digests] == [
        (at(2026, 11, 2), 29),  # the Mondays of the 30 days before 12-01
        (at(2026, 11, 9), 22),
        (at(2026, 11, 16), 15),
        (at(2026, 11, 23), 8),
        (at(2026, 11, 30), 1),
        (at(2026, 12, 1), 0),  # the day after the due date: who is overdue
    ]
    assert all(r.task_id is None and r.unit_id is None and r.role is None for r in digests)
    assert all(r.cutoff == D(2026, 12, 1) for r in digests)


def test_digest_on_a_holiday_moves_back_but_stays_in_its_window(
    calendar: WorkingDayCalendar,
) -> None:
    # cutoff 10-12, window from 10-05 (Monday, holiday): moving back would leave the window,
    # so that digest goes forward to 10-08; the after-cutoff digest is on Monday 10-12.
    timetable = make_timetable(
        [make_task(20, lead=("fgw",), reminders={"cutoff": {"month": 10, "day": 12}})],
        reminders={"digest_days_before": 7})
    digests = of(plan_reminders(timetable, 2026, calendar), DIGEST)
    assert [(r.at, r.offset_days) for r in digests] == [(at(2026, 10, 8), 7),
                                                        (at(2026, 10, 12), 0)]
    # with a wider window the same Monday moves back to 09-30, after Monday 09-28
    timetable = timetable.model_copy(
        update={"reminders": ReminderPolicy(digest_days_before=14)})
    digests = of(plan_reminders(timetable, 2026, calendar), DIGEST)
    assert [(r.at, r.offset_days) for r in digests] == [(at(2026, 9, 28), 14),
                                                        (at(2026, 9, 30), 7),
                                                        (at(2026, 10, 12), 0)]


def test_digest_weekday_hour_and_switch_off(calendar: WorkingDayCalendar) -> None:
    friday_afternoon = small_timetable(
        reminders={"digest_weekday": 4, "hour": 16, "minute": 45, "digest_days_before": 14})
    digests = of(plan_reminders(friday_afternoon, 2026, calendar), DIGEST)
    assert [(r.at, r.offset_days) for r in digests] == [
        (at(2026, 11, 20, 16, 45), 11),
        (at(2026, 11, 27, 16, 45), 4),
        (at(2026, 12, 1, 16, 45), 0),
    ]
    silent = small_timetable(reminders={"weekly_digest": False})
    assert of(plan_reminders(silent, 2026, calendar), DIGEST) == []


def test_digests_of_several_cutoffs_have_unique_keys(calendar: WorkingDayCalendar) -> None:
    timetable = make_timetable([
        make_task(20, lead=("fgw",)),
        make_task(21, lead=("gxj",), reminders={"cutoff": {"month": 11, "day": 24}}),
    ])
    digests = of(plan_reminders(timetable, 2026, calendar), DIGEST)
    # the Mondays of both windows coincide: one digest each; 11-24 has its own after-cutoff one
    assert [(r.at, r.offset_days, r.cutoff) for r in digests] == [
        (at(2026, 10, 26), 36, D(2026, 11, 24)),
        (at(2026, 11, 2), 29, D(2026, 11, 24)),
        (at(2026, 11, 9), 22, D(2026, 11, 24)),
        (at(2026, 11, 16), 15, D(2026, 11, 24)),
        (at(2026, 11, 23), 8, D(2026, 11, 24)),
        (at(2026, 11, 24), 7, D(2026, 11, 24)),
        (at(2026, 11, 30), 1, D(2026, 12, 1)),
        (at(2026, 12, 1), 0, D(2026, 12, 1)),
    ]
    assert len({r.key for r in digests}) == len(digests)


# -- order and identity --------------------------------------------------------------------------
def test_sorted_by_instant_task_unit_kind(calendar: WorkingDayCalendar) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    order = {kind: n for n, kind in enumerate(ReminderKind)}
    keys = [(r.at, r.task_id or 0, r.unit_id or "", order[r.kind]) for r in plan]
    assert keys == sorted(keys)
    same_instant = [(r.kind, r.task_id, r.unit_id) for r in plan if r.at == at(2026, 12, 1)]
    assert same_instant == [
        (DIGEST, None, None),
        (OVERDUE, ANNUAL_TASK, "fgw"),
        (OVERDUE, TOWNS_TASK, "town-a"),
        (OVERDUE, TOWNS_TASK, "town-b"),
        (OVERDUE, JOINT_TASK, "sthj"),
        (OVERDUE, JOINT_TASK, "zjj"),
    ]


def test_keys_are_unique_and_stable(calendar: WorkingDayCalendar) -> None:
    timetable = small_timetable()
    plan = plan_reminders(timetable, 2026, calendar)
    keys = [r.key for r in plan]
    assert len(keys) == len(set(keys))
    assert keys == [r.key for r in plan_reminders(timetable, 2026, WorkingDayCalendar())]
    before = of(plan, BEFORE, ANNUAL_TASK, "fgw")[0]
    assert before.key == (ANNUAL_TASK, "fgw", 2026, "before", 30)
    assert of(plan, DIGEST)[-1].key == (0, "", 2026, "digest", 0)
    # 5 befores x (3 + 3 + 2 units) + overdue (1 + 2 + 2, each with its repeats) + 6 digests
    # + one ack per unit
    assert Counter(r.kind for r in plan) == {
        BEFORE: 40, OVERDUE: 5 * (1 + len(OVERDUE_REPEAT_DAYS)), DIGEST: 6, ACK: 8}


def test_planned_reminder_is_frozen(calendar: WorkingDayCalendar) -> None:
    reminder = plan_reminders(small_timetable(), 2026, calendar)[0]
    with pytest.raises(AttributeError):
        reminder.offset_days = 5  # type: ignore[misc]


# -- days and cycles -----------------------------------------------------------------------------
def test_due_date_and_days_left_with_a_frozen_clock() -> None:
    cutoff = D(2026, 12, 1)
    assert due_date(cutoff) == D(2026, 11, 30)
    clock = FrozenClock(at(2026, 11, 29, 18))
    assert days_left(cutoff, clock.now().date()) == 1
    clock.advance(dt.timedelta(days=1))
    assert days_left(cutoff, clock.now().date()) == 0  # the last day
    clock.advance(dt.timedelta(days=1))
    assert days_left(cutoff, clock.now().date()) == -1  # one day late
    clock.set(at(2026, 11, 1))
    assert days_left(cutoff, clock.now().date()) == 29


@pytest.mark.parametrize(("today", "cycle"), [
    (D(2026, 1, 1), 2026), (D(2026, 11, 30), 2026), (D(2026, 12, 1), 2026),
    (D(2026, 12, 31), 2026), (D(2027, 1, 1), 2027),
])
def test_current_cycle_is_the_calendar_year(today: dt.date, cycle: int) -> None:
    clock = FrozenClock(dt.datetime.combine(today, dt.time(23, 59), tzinfo=SHANGHAI))
    assert current_cycle(small_timetable(), clock.now().date()) == cycle


# -- acknowledgement reminders and extended cutoffs -------------------------------------------
def test_an_unacknowledged_assignment_is_reminded_two_working_days_after_the_first(
        calendar: WorkingDayCalendar) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    acks = of(plan, ACK, ANNUAL_TASK)
    # the first reminder is Friday 30 October (1 November is a Sunday); two working days on
    assert [(r.unit_id, r.at, r.offset_days) for r in acks] == [
        ("fgw", at(2026, 11, 3), 30), ("gxj", at(2026, 11, 3), 30),
        ("sthj", at(2026, 11, 3), 30)]
    assert {r.cutoff for r in acks} == {D(2026, 12, 1)}
    assert of(plan, ACK, STATISTICS_TASK) == [] and of(plan, ACK, ONCE_2020_TASK) == []


def test_an_extended_cutoff_moves_one_units_reminders_and_overdue_notice(
        calendar: WorkingDayCalendar) -> None:
    timetable = small_timetable()
    moved = {(ANNUAL_TASK, "fgw"): D(2026, 12, 21)}
    plan = plan_reminders(timetable, 2026, calendar, moved)
    usual = plan_reminders(timetable, 2026, calendar)
    fgw = of(plan, BEFORE, ANNUAL_TASK, "fgw")
    # 21 December is a Monday: 3 and 1 days before both fall back to Friday the 18th
    assert [(r.offset_days, r.at) for r in fgw] == [
        (30, at(2026, 11, 20)), (14, at(2026, 12, 7)), (7, at(2026, 12, 14)),
        (1, at(2026, 12, 18))]
    assert {r.cutoff for r in fgw} == {D(2026, 12, 21)}
    # the same keys as before the extension: the rows not sent yet are moved, not duplicated
    assert {r.key for r in fgw} <= {r.key for r in of(usual, BEFORE, ANNUAL_TASK, "fgw")}
    [overdue] = first_overdue(plan, ANNUAL_TASK, "fgw")
    assert overdue.at == at(2026, 12, 21) and overdue.cutoff == D(2026, 12, 21)
    # the other units of the task, the acknowledgement reminder and the digests do not move
    assert of(plan, BEFORE, ANNUAL_TASK, "sthj") == of(usual, BEFORE, ANNUAL_TASK, "sthj")
    assert of(plan, ACK, ANNUAL_TASK, "fgw") == of(usual, ACK, ANNUAL_TASK, "fgw")
    assert of(plan, DIGEST) == of(usual, DIGEST)


def test_a_late_unit_is_chased_weekly_for_four_weeks_on_working_days(
        calendar: WorkingDayCalendar) -> None:
    plan = plan_reminders(small_timetable(), 2026, calendar)
    chased = of(plan, OVERDUE, ANNUAL_TASK, "fgw")
    # cutoff Tuesday 2026-12-01; 12-29 is a Tuesday too; every one about the same cutoff
    assert [(r.offset_days, r.at) for r in chased] == [
        (0, at(2026, 12, 1)), (7, at(2026, 12, 8)), (14, at(2026, 12, 15)),
        (21, at(2026, 12, 22)), (28, at(2026, 12, 29))]
    assert {r.cutoff for r in chased} == {D(2026, 12, 1)}
    assert len({r.key for r in plan}) == len(plan)


def test_a_repeat_falling_on_a_holiday_moves_forward(calendar: WorkingDayCalendar) -> None:
    # cutoff Thursday 2026-09-24: a week on is National Day (10-01 to 10-07), so the first
    # repeat moves to Thursday 10-08, where the second (14 days on) lands too: one notice there
    task = make_task(20, lead=("fgw",), reminders={"cutoff": {"month": 9, "day": 24}})
    chased = first_overdue(plan_reminders(make_timetable([task]), 2026, calendar))
    assert chased[0].at == at(2026, 9, 24)
    repeats = [r for r in of(plan_reminders(make_timetable([task]), 2026, calendar), OVERDUE)]
    assert [(r.offset_days, r.at) for r in repeats] == [
        (0, at(2026, 9, 24)), (7, at(2026, 10, 8)), (21, at(2026, 10, 15)),
        (28, at(2026, 10, 22))]
