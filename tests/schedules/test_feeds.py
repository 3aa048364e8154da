"""Which events a unit's calendar feed holds (schedules/feeds.py): pure, on the shipped plan."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from schedules.calendar import WorkingDayCalendar
from schedules.feeds import REMINDER_MINUTES, Cancelled, EventKind, FeedEvent, feed_events
from schedules.model import Role, Timetable
from schedules.planning import ReminderKind, cycle_cutoff, plan_reminders
from schedules.workflow import CycleFacts

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
AGRICULTURE = "agriculture-rural"
CALENDAR = WorkingDayCalendar()


@dataclass(frozen=True)
class Extension:
    id: int
    due_date: dt.date
    state: str
    requested_at: dt.datetime = dt.datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)
    decided_at: dt.datetime | None = dt.datetime(2026, 11, 21, 10, tzinfo=SHANGHAI)


def _events(timetable: Timetable, units: list[str], cycle: int = 2026,
            zone: ZoneInfo = SHANGHAI, extensions: dict | None = None) -> list[FeedEvent]:
    return feed_events(timetable, cycle, units, CALENDAR, zone, extensions)


def _due(events: list[FeedEvent]) -> dict[int, FeedEvent]:
    return {e.task_id: e for e in events if e.kind is EventKind.DUE}


def test_one_due_day_per_task_with_a_cutoff_and_none_for_statistics(
        timetable: Timetable) -> None:
    events = _events(timetable, ["ecology-environment"])
    with_cutoff = {task.id for task, _ in timetable.tasks_for_unit("ecology-environment")
                   if cycle_cutoff(timetable, task, 2026) is not None}
    assert set(_due(events)) == with_cutoff
    assert not {1, 2} & {e.task_id for e in events}  # statistics tasks: no cutoff, no event
    assert not {12, 13, 14} & {e.task_id for e in events}  # once-only tasks of 2020
    assert {1, 2} <= {task.id for task, _ in timetable.tasks_for_unit("ecology-environment")}


def test_the_due_day_is_the_whole_last_day_in_the_office_zone(timetable: Timetable) -> None:
    due = _due(_events(timetable, [AGRICULTURE]))[7]
    assert due.start == dt.datetime(2026, 11, 30, tzinfo=SHANGHAI)
    assert due.end == dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
    assert due.role is Role.LEAD and not due.extended and due.sequence == 0
    assert due.uid == "2026-task7-agriculture-rural-due@duban"


def test_reminder_days_are_the_plans_working_days_at_nine(timetable: Timetable) -> None:
    reminders = [e for e in _events(timetable, [AGRICULTURE])
                 if e.kind is EventKind.REMINDER and e.task_id == 7]
    # 30 days before 1 December is Sunday 1 November: moved back to Friday 30 October
    assert [e.start for e in reminders] == [
        dt.datetime(2026, month, day, 9, tzinfo=SHANGHAI)
        for month, day in ((10, 30), (11, 17), (11, 24), (11, 27), (11, 30))]
    assert [e.offset_days for e in reminders] == [30, 14, 7, 3, 1]
    assert all(e.end - e.start == dt.timedelta(minutes=REMINDER_MINUTES) for e in reminders)
    assert reminders[1].uid == "2026-task7-agriculture-rural-reminder-14@duban"


def test_uids_are_unique_and_events_sorted(timetable: Timetable) -> None:
    events = _events(timetable, ["ecology-environment", AGRICULTURE, "towns"])
    assert len({e.uid for e in events}) == len(events)
    assert [e.start for e in events] == sorted(e.start for e in events)


def test_a_group_stands_for_its_members(timetable: Timetable) -> None:
    towns = timetable.unit("towns").members
    events = _events(timetable, ["towns"])
    assert {e.unit_id for e in events} == set(towns)
    assert events == _events(timetable, list(towns))
    assert _events(timetable, ["towns", towns[0]]) == events  # no repeats


def test_an_unknown_unit_is_a_key_error(timetable: Timetable) -> None:
    with pytest.raises(KeyError):
        _events(timetable, ["no-such-unit"])


def test_an_approved_extension_moves_the_due_day_and_reminders_under_the_same_uids(
        timetable: Timetable) -> None:
    before = _events(timetable, [AGRICULTURE])
    moved = _events(timetable, [AGRICULTURE], extensions={
        (7, AGRICULTURE): [Extension(1, dt.date(2026, 12, 20), "approved")]})
    due = _due(moved)[7]
    assert due.start == dt.datetime(2026, 12, 20, tzinfo=SHANGHAI)
    assert due.extended and due.sequence == 1 and due.planned_due == dt.date(2026, 11, 30)
    # the same UIDs, so a re-import updates the events (the 3-day and the 1-day reminders
    # before 21 December fall on one working day, 18 December: one reminder, the plan's; the
    # 3-day one is there cancelled, a revision later, so that the re-import removes it)
    assert {e.uid for e in moved} == {e.uid for e in before}
    by_uid = {e.uid: e for e in moved}
    stale = by_uid["2026-task7-agriculture-rural-reminder-3@duban"]
    assert stale.cancelled is Cancelled.MERGED and stale.sequence == 1
    assert stale.start == dt.datetime(2026, 12, 18, 9, tzinfo=SHANGHAI)
    last = max((e for e in moved if e.task_id == 7 and e.kind is EventKind.REMINDER
                and not e.cancelled), key=lambda e: e.start)
    assert last.start == dt.datetime(2026, 12, 18, 9, tzinfo=SHANGHAI)  # 20 Dec is a Sunday
    assert last.offset_days == 1 and last.sequence == 1
    others = [(e.uid, e.start) for e in moved if e.task_id != 7]
    assert others == [(e.uid, e.start) for e in before if e.task_id != 7]


def test_pending_and_rejected_extensions_move_nothing(timetable: Timetable) -> None:
    before = _events(timetable, [AGRICULTURE])
    for state in ("pending", "rejected"):
        assert _events(timetable, [AGRICULTURE], extensions={
            (7, AGRICULTURE): [Extension(1, dt.date(2026, 12, 20), state, decided_at=None)]}
        ) == before


def test_a_second_extension_is_a_second_revision(timetable: Timetable) -> None:
    due = _due(_events(timetable, [AGRICULTURE], extensions={(7, AGRICULTURE): [
        Extension(1, dt.date(2026, 12, 10), "approved"),
        Extension(2, dt.date(2026, 12, 24), "approved",
                  decided_at=dt.datetime(2026, 12, 8, 10, tzinfo=SHANGHAI))]}))[7]
    assert due.sequence == 2 and due.start.date() == dt.date(2026, 12, 24)


def test_events_are_in_the_office_zone(timetable: Timetable) -> None:
    events = _events(timetable, [AGRICULTURE], zone=BERLIN)
    assert all(e.start.tzinfo is BERLIN for e in events)
    due = _due(events)[7]
    assert due.start == dt.datetime(2026, 11, 30, tzinfo=BERLIN)
    first = min(e.start for e in events if e.kind is EventKind.REMINDER)
    # the reminder goes at 09:00 in the timetable's zone (Shanghai): 02:00 in Berlin
    assert first == dt.datetime(2026, 10, 30, 9, tzinfo=SHANGHAI)
    assert first.astimezone(BERLIN).hour == 2


def test_a_once_only_task_has_events_only_in_its_year(timetable: Timetable) -> None:
    in_2020 = Counter(e.task_id for e in _events(timetable, ["ecology-environment"], 2020)
                      if e.kind is EventKind.DUE)
    assert {12, 13, 14} <= set(in_2020)
    assert not {1, 2} & set(in_2020)


class RecordingCalendar(WorkingDayCalendar):
    """A working-day calendar that notes every year it is asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.years: set[int] = set()

    def is_working_day(self, day: dt.date) -> bool:
        self.years.add(day.year)
        return super().is_working_day(day)


@pytest.mark.parametrize("extended_to", [dt.date(2026, 12, 10), dt.date(2026, 12, 28)])
def test_a_feed_asks_the_calendar_only_about_its_own_days(
        timetable: Timetable, extended_to: dt.date) -> None:
    """A 2026 feed warned about 2027's holidays: the whole plan was made for it, and the
    overdue notices of a cutoff extended into December fall in January."""
    calendar = RecordingCalendar()
    extensions = {(7, AGRICULTURE): [Extension(1, extended_to, "approved")]}
    events = feed_events(timetable, 2026, [AGRICULTURE, "ecology-environment"], calendar,
                         SHANGHAI, extensions)
    assert calendar.years == {2026} and {e.day.year for e in events} == {2026}
    whole_plan = RecordingCalendar()
    plan_reminders(timetable, 2026, whole_plan, {(7, AGRICULTURE): extended_to})
    assert 2027 in whole_plan.years  # what the feed no longer asks


def test_a_feed_extended_into_next_year_asks_about_that_year(timetable: Timetable) -> None:
    calendar = RecordingCalendar()
    extensions = {(7, AGRICULTURE): [Extension(1, dt.date(2027, 1, 20), "approved")]}
    feed_events(timetable, 2026, [AGRICULTURE], calendar, SHANGHAI, extensions)
    assert calendar.years == {2026, 2027}  # its reminders are in January


def test_only_the_kinds_asked_for_are_planned(timetable: Timetable) -> None:
    everything = plan_reminders(timetable, 2026, CALENDAR)
    before = plan_reminders(timetable, 2026, CALENDAR, kinds=(ReminderKind.BEFORE,))
    assert before == [r for r in everything if r.kind is ReminderKind.BEFORE]
    assert {r.kind for r in plan_reminders(timetable, 2026, CALENDAR, kinds=(
        ReminderKind.DIGEST, ReminderKind.ACKNOWLEDGE))} == {ReminderKind.DIGEST,
                                                              ReminderKind.ACKNOWLEDGE}


def test_the_due_day_is_an_all_day_event_on_the_last_day(timetable: Timetable) -> None:
    events = _events(timetable, [AGRICULTURE])
    assert all(e.all_day for e in events if e.kind is EventKind.DUE)
    assert not any(e.all_day for e in events if e.kind is EventKind.REMINDER)
    due = _due(events)[7]
    assert due.day == dt.date(2026, 11, 30) == due.due


# -- what the bot will send: finished tasks and merged days are cancelled, never dropped --------
@dataclass(frozen=True)
class Report:
    id: int | None
    status: str
    reported_at: dt.datetime = dt.datetime(2026, 11, 17, 10, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Review:
    report_id: int
    decision: str
    comment: str = ""
    reviewer_telegram_id: int | None = None
    reviewed_at: dt.datetime = dt.datetime(2026, 11, 18, 10, tzinfo=SHANGHAI)


def _facts(report: Report | None, review: Review | None = None,
           pair: tuple[int, str] = (7, AGRICULTURE)) -> CycleFacts:
    reviews = {review.report_id: review} if review is not None else {}
    return CycleFacts(2026, reports={pair: report} if report else {}, reviews=reviews)


def _task_reminders(timetable: Timetable, facts: CycleFacts, task: int = 7,
                    unit: str = AGRICULTURE, cycle: int = 2026) -> dict[int, FeedEvent]:
    return {e.offset_days: e for e in feed_events(timetable, cycle, [unit], CALENDAR,
                                                  SHANGHAI, facts=facts)
            if e.kind is EventKind.REMINDER and e.task_id == task}


@pytest.mark.parametrize(("status", "decision"), [
    ("done", None), ("done", "confirmed"), ("not_applicable", None)])
def test_a_finished_tasks_reminders_are_cancelled_and_its_due_day_kept(
        timetable: Timetable, status: str, decision: str | None) -> None:
    """The tester's case: task 7 reported done 17 Nov and confirmed, the file still had 督办提醒
    on 24, 27 and 30 November, which the dispatcher skips ('unit reported done')."""
    review = Review(40, decision) if decision else None
    events = feed_events(timetable, 2026, [AGRICULTURE], CALENDAR, SHANGHAI,
                         facts=_facts(Report(40, status), review))
    mine = [e for e in events if e.task_id == 7]
    reminders = [e for e in mine if e.kind is EventKind.REMINDER]
    assert [e.offset_days for e in reminders] == [30, 14, 7, 3, 1]  # every UID still there
    assert all(e.cancelled is Cancelled.FINISHED for e in reminders)
    assert all(e.sequence == 3 * 40 + 1 for e in reminders)
    [due] = [e for e in mine if e.kind is EventKind.DUE]
    assert not due.cancelled and due.sequence == 0  # the deadline stays
    others = [e for e in events if e.task_id != 7]
    assert others and not any(e.cancelled for e in others)  # other tasks untouched


def test_sequence_grows_with_every_change_of_state(timetable: Timetable) -> None:
    in_progress = _task_reminders(timetable, _facts(Report(10, "in_progress")))
    done = _task_reminders(timetable, _facts(Report(15, "done")))
    returned = _task_reminders(timetable, _facts(Report(15, "done"), Review(15, "returned")))
    again = _task_reminders(timetable, _facts(Report(16, "done")))
    confirmed = _task_reminders(timetable, _facts(Report(16, "done"), Review(16, "confirmed")))
    states = [in_progress, done, returned, again, confirmed]
    assert [bool(s[14].cancelled) for s in states] == [False, True, False, True, True]
    sequences = [s[14].sequence for s in states]
    assert sequences == sorted(sequences) and len(set(sequences[:4])) == 4
    assert not any(e.cancelled for e in returned.values())  # a return brings them back


def test_a_day_shared_by_two_offsets_is_one_reminder_and_one_cancelled_slot(
        timetable: Timetable) -> None:
    """Cycle 2025: task 8's 3-day and 1-day reminders fall on one working day: the file has
    reminder-3 cancelled from the first export, so that a later file never drops a UID."""
    reminders = _task_reminders(timetable, CycleFacts(2025), task=8, unit="forestry", cycle=2025)
    sent = plan_reminders(timetable, 2025, CALENDAR, kinds=(ReminderKind.BEFORE,))
    planned = {r.offset_days for r in sent if r.task_id == 8
               and r.unit_id == "forestry"}
    assert set(reminders) == {30, 14, 7, 3, 1} and 3 not in planned
    assert {o for o, e in reminders.items() if not e.cancelled} == planned
    assert reminders[3].cancelled is Cancelled.MERGED
    assert reminders[3].start == reminders[1].start


def test_every_export_has_the_same_uids_whatever_happened(timetable: Timetable) -> None:
    plain = {e.uid for e in _events(timetable, [AGRICULTURE, "towns"])}
    for facts in (_facts(Report(3, "done")), _facts(Report(3, "done"), Review(3, "returned"))):
        assert {e.uid for e in feed_events(timetable, 2026, [AGRICULTURE, "towns"], CALENDAR,
                                           SHANGHAI, facts=facts)} == plain
    moved = feed_events(timetable, 2026, [AGRICULTURE, "towns"], CALENDAR, SHANGHAI, {
        (7, AGRICULTURE): [Extension(1, dt.date(2026, 12, 20), "approved")]})
    assert {e.uid for e in moved} == plain
