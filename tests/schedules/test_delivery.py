"""The delivery rules: who gets a row (``delivery_specs``), what is sent (``decide``).

Small fake rows, no database, no Bot API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from types import SimpleNamespace

from schedules.calendar import WorkingDayCalendar
from schedules.delivery import (
    BACKING_OFF,
    CONTACT_SINCE,
    CUTOFF_PASSED,
    DROPPED,
    NO_CONTACT,
    NO_CONTACT_CHAT,
    NO_LEADERSHIP,
    NOT_ENROLLED,
    NOT_RECIPIENT,
    PLANNED_LATE,
    REPORTED_DONE,
    STALE,
    SUPERSEDED,
    Decision,
    PlannedDeliveries,
    decide,
    delivery_batches,
    delivery_key,
    delivery_specs,
    recipients,
    retry_delay,
)
from schedules.model import Role, Timetable
from schedules.planning import PlannedReminder, ReminderKind, plan_reminders

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CUTOFF = dt.date(2026, 12, 1)
AGRI = "agriculture-rural"
STATS = "statistics"


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


FOURTEEN_DAYS_BEFORE = at(11, 17)
PLANNED_AT = at(10, 1)


@dataclass(frozen=True)
class Row:
    """A stored delivery as ``decide`` sees it."""

    id: int
    kind: str = "before"
    task_id: int = 7
    unit_id: str = AGRI
    cycle: int = 2026
    offset_days: int = 14
    chat_id: int = 501
    due_at: dt.datetime = FOURTEEN_DAYS_BEFORE
    cutoff: dt.date = CUTOFF
    attempts: int = 0
    created_at: dt.datetime | None = PLANNED_AT
    not_before: dt.datetime | None = None


def digest(id: int, due_at: dt.datetime, chat_id: int = -100, offset: int = 0) -> Row:
    return Row(id, "digest", 0, "", offset_days=offset, chat_id=chat_id, due_at=due_at)


def verdicts(decisions: list[Decision]) -> dict[int, str]:
    """Row id -> "send", "wait: ..." or the reason it is skipped."""
    return {d.row.id: "send" if d.send else ("wait: " if d.wait else "") + d.reason
            for d in decisions}


def planned(kind: ReminderKind, task: int | None, unit: str | None, offset: int,
            when: dt.datetime, role: Role | None = Role.LEAD) -> PlannedReminder:
    return PlannedReminder(task_id=task, unit_id=unit, cycle=2026, kind=kind, offset_days=offset,
                           at=when, cutoff=CUTOFF, role=role)


# -- delivery_specs ------------------------------------------------------------------------------
def test_one_row_per_contact_and_chat_zero_for_a_unit_nobody_serves() -> None:
    plan = [planned(ReminderKind.BEFORE, 7, AGRI, 14, at(11, 17)),
            planned(ReminderKind.BEFORE, 7, STATS, 14, at(11, 17), Role.COOPERATING),
            planned(ReminderKind.OVERDUE, 7, AGRI, 0, at(12, 1))]
    specs = delivery_specs(plan, {AGRI: [501, 502, 501]}, [-100])
    assert [(s.kind, s.unit_id, s.chat_id) for s in specs] == [
        ("before", AGRI, 501), ("before", AGRI, 502), ("before", STATS, NO_CONTACT_CHAT),
        ("overdue", AGRI, 501), ("overdue", AGRI, 502)]
    first = specs[0]
    assert (first.task_id, first.cycle, first.offset_days, first.due_at, first.cutoff) == (
        7, 2026, 14, at(11, 17), CUTOFF)
    assert first.key == (7, AGRI, 2026, "before", 14, CUTOFF, 501)


def test_digests_go_to_every_leadership_chat_or_to_chat_zero() -> None:
    plan = [planned(ReminderKind.DIGEST, None, None, 15, at(11, 16), None)]
    to_group = delivery_specs(plan, {}, [-100, 2000])
    assert [(s.task_id, s.unit_id, s.chat_id, s.offset_days) for s in to_group] == [
        (0, "", -100, 15), (0, "", 2000, 15)]
    assert [s.chat_id for s in delivery_specs(plan, {AGRI: [501]}, [])] == [NO_CONTACT_CHAT]


def test_specs_of_the_shipped_plan_have_unique_keys(timetable: Timetable) -> None:
    plan = plan_reminders(timetable, 2026, WorkingDayCalendar())
    contacts = {AGRI: [501, 502], STATS: [601]}
    specs = delivery_specs(plan, contacts, [-100])
    assert len({s.key for s in specs}) == len(specs)
    per_reminder = {r.key: len(contacts.get(r.unit_id or "", [])) or 1 for r in plan
                    if r.kind is not ReminderKind.DIGEST}
    digests = sum(1 for r in plan if r.kind is ReminderKind.DIGEST)
    assert len(specs) == sum(per_reminder.values()) + digests


def test_batches_hold_the_same_deliveries_and_an_instants_rows_in_the_same_order(
        timetable: Timetable) -> None:
    plan = plan_reminders(timetable, 2026, WorkingDayCalendar())
    contacts = {AGRI: [501, 502], STATS: [601]} | {
        unit.id: [1000 + index] for index, unit in enumerate(timetable.units)
        if unit.id not in (AGRI, STATS)}
    whole = delivery_specs(plan, contacts, [-100, 2000])
    batches = list(delivery_batches(plan, contacts, [-100, 2000], limit=50))
    pieces = [spec for batch in batches for spec in batch]
    assert sorted(pieces, key=lambda s: s.key) == sorted(whole, key=lambda s: s.key)
    assert len(batches) > 10
    # a (task, unit) pair is never split; a batch is over the limit only by one pair
    pairs = [{(s.task_id, s.unit_id) for s in batch} for batch in batches]
    assert all(not a & b for i, a in enumerate(pairs) for b in pairs[i + 1:])
    assert all(len(batch) <= 50 or len(pairs[i]) == 1 for i, batch in enumerate(batches))
    # rows stored batch by batch get ids in the order delivery_specs gives an instant's rows
    for instant in {s.due_at for s in whole}:
        assert [s.key for s in pieces if s.due_at == instant] == [
            s.key for s in whole if s.due_at == instant]


def test_planned_deliveries_are_the_keys_of_delivery_specs(timetable: Timetable) -> None:
    plan = plan_reminders(timetable, 2026, WorkingDayCalendar())
    for contacts, leadership in (({AGRI: [501, 502], STATS: [601]}, [-100]), ({}, [])):
        keys = {spec.key for spec in delivery_specs(plan, contacts, leadership)}
        wanted = PlannedDeliveries(plan, contacts, leadership)
        assert set(wanted.plan_keys) == {key[:6] for key in keys}
        assert all(key in wanted for key in keys)
        for key in list(keys)[:200]:
            assert (*key[:6], 999) not in wanted
            assert (*key[:5], key[5] + dt.timedelta(days=1), key[6]) not in wanted
        rows = [Row(1), Row(2, chat_id=502), Row(3, chat_id=NO_CONTACT_CHAT, unit_id=STATS),
                Row(4, offset_days=21, due_at=at(11, 10)), Row(5, chat_id=503)]
        assert decide(rows, at(11, 17), set(), wanted) == decide(rows, at(11, 17), set(), keys)


def person(uid: int, role: str, active: bool = True, digests: bool = False) -> SimpleNamespace:
    return SimpleNamespace(telegram_user_id=uid, role=role, active=active, digests=digests)


def test_recipients_are_the_active_people_serving_each_unit() -> None:
    people = [person(501, "contact"), person(502, "contact", active=False),
              person(601, "contact"), person(2000, "leader")]
    memberships = [(501, AGRI), (502, AGRI), (601, STATS), (501, STATS), (2000, AGRI)]
    contacts, _ = recipients(people, memberships, [])
    # a clerk serving two units is a contact of both; a leader may serve a unit too
    assert contacts == {AGRI: [501, 2000], STATS: [601, 501]}


def test_digests_go_to_every_bound_group_and_every_leader_who_asked() -> None:
    people = [person(2000, "leader", digests=True), person(2001, "leader"),
              person(1000, "admin", digests=True), person(2002, "leader", False, True),
              person(501, "contact", digests=True)]
    assert recipients(people, [], [-100, -200])[1] == [-100, -200, 2000, 1000]
    assert recipients(people, [], [])[1] == [2000, 1000]


def test_without_group_or_subscriber_every_leader_gets_the_digest() -> None:
    people = [person(2000, "leader"), person(1000, "admin"), person(2001, "leader", False)]
    assert recipients(people, [], [])[1] == [2000, 1000]


# -- decide: on time, catch-up, cutoff ------------------------------------------------------
def test_a_reminder_due_now_is_sent() -> None:
    [decision] = decide([Row(1)], at(11, 17), set())
    assert decision.send and decision.reason == "" and not decision.wait


def test_after_downtime_only_the_newest_missed_reminder_of_a_task_and_chat_is_sent() -> None:
    rows = [Row(1, offset_days=30, due_at=at(10, 30)), Row(2, offset_days=14),
            Row(3, offset_days=7, due_at=at(11, 24)),
            Row(4, offset_days=14, chat_id=502),  # another contact of the same unit
            Row(5, task_id=11, offset_days=14)]  # another task for the same contact
    result = verdicts(decide(rows, at(11, 25), set()))
    assert result == {1: SUPERSEDED, 2: SUPERSEDED, 3: "send", 4: "send", 5: "send"}


def test_two_offsets_on_one_day_send_the_one_closer_to_the_cutoff() -> None:
    rows = [Row(1, offset_days=3, due_at=at(11, 27)), Row(2, offset_days=4, due_at=at(11, 27))]
    assert verdicts(decide(rows, at(11, 27), set())) == {1: "send", 2: SUPERSEDED}


def test_before_reminders_are_dropped_from_the_cutoff_in_the_plans_time_zone() -> None:
    rows = [Row(1, offset_days=3, due_at=at(11, 27)), Row(2, offset_days=1, due_at=at(11, 30))]
    late_evening = at(11, 30, 23, 30)
    assert verdicts(decide(rows, late_evening, set())) == {1: SUPERSEDED, 2: "send"}
    # 00:30 in Shanghai on the cutoff day is still 30 November in UTC: Shanghai decides.
    just_late = at(12, 1, 0, 30)
    assert just_late.astimezone(dt.UTC).date() == dt.date(2026, 11, 30)
    assert verdicts(decide(rows, just_late, set())) == {1: CUTOFF_PASSED, 2: CUTOFF_PASSED}


def test_overdue_notices_and_digests_go_late_only_within_three_days() -> None:
    overdue = Row(1, "overdue", offset_days=0, due_at=at(12, 1))
    assert verdicts(decide([overdue], at(12, 4, 8), set())) == {1: "send"}
    assert verdicts(decide([overdue], at(12, 4, 10), set())) == {1: STALE}
    digests = [digest(2, at(11, 9), offset=22), digest(3, at(11, 16), offset=15),
               digest(4, at(11, 23), offset=8), digest(5, at(11, 23), chat_id=2000, offset=8)]
    assert verdicts(decide(digests, at(11, 25), set())) == {
        2: STALE, 3: STALE, 4: "send", 5: "send"}
    two_recent = [digest(6, at(11, 30), offset=1), digest(7, at(12, 1))]
    assert verdicts(decide(two_recent, at(12, 2), set())) == {6: SUPERSEDED, 7: "send"}


# -- decide: who no longer gets it ---------------------------------------------------------
def test_a_unit_that_reported_done_gets_no_reminder_nor_overdue_notice() -> None:
    rows = [Row(1), Row(2, "overdue", offset_days=0, due_at=at(12, 1)),
            Row(3, task_id=11), Row(4, unit_id=STATS, chat_id=601), digest(5, at(12, 1))]
    result = verdicts(decide(rows, at(12, 1), {(7, AGRI, 2026)}))
    assert result[1] == REPORTED_DONE and result[2] == REPORTED_DONE
    assert result[3] == CUTOFF_PASSED  # task 11 is not done, but its reminder came too late
    assert result[4] == CUTOFF_PASSED  # the cooperating unit did not report done
    assert result[5] == "send"  # digests are about everyone
    other_cycle = verdicts(decide([Row(6)], at(11, 17), {(7, AGRI, 2025)}))
    assert other_cycle == {6: "send"}


def test_units_without_contact_and_digests_without_leadership_are_reported() -> None:
    rows = [Row(1, chat_id=NO_CONTACT_CHAT, offset_days=30, due_at=at(10, 30)),
            Row(2, chat_id=NO_CONTACT_CHAT), digest(3, at(11, 16), chat_id=NO_CONTACT_CHAT)]
    result = verdicts(decide(rows, at(11, 17), set()))
    # one report per unit and task, about the newest reminder; a digest has no unit
    assert result == {1: SUPERSEDED, 2: NO_CONTACT, 3: NO_LEADERSHIP}


def test_rows_the_timetable_or_the_people_no_longer_ask_for_are_skipped() -> None:
    rows = [Row(1), Row(2, chat_id=502), Row(3, chat_id=NO_CONTACT_CHAT, unit_id=STATS),
            Row(4, offset_days=21, due_at=at(11, 10)), Row(5, chat_id=503)]
    wanted = {delivery_key(Row(1)), delivery_key(Row(1, unit_id=STATS, chat_id=601)),
              delivery_key(Row(5, chat_id=503))}
    result = verdicts(decide(rows, at(11, 17), set(), wanted, inactive={503}))
    assert result == {1: "send",
                      2: NOT_RECIPIENT,  # e.g. now a leader, or moved to another unit
                      3: CONTACT_SINCE,  # the unit has a contact now: no report to the admins
                      4: DROPPED,  # the offset left the timetable
                      5: NOT_ENROLLED}


def test_a_row_planned_long_after_its_time_is_not_sent_late() -> None:
    enrolled_later = Row(1, created_at=at(11, 20, 15))
    replanned_soon = Row(2, task_id=11, created_at=at(11, 17, 10))
    result = verdicts(decide([enrolled_later, replanned_soon], at(11, 20, 15), set()))
    assert result == {1: PLANNED_LATE, 2: "send"}
    unknown_creation = replace(enrolled_later, created_at=None)
    assert verdicts(decide([unknown_creation], at(11, 20, 15), set())) == {1: "send"}


def test_a_row_backing_off_waits_and_still_supersedes_older_ones() -> None:
    rows = [Row(1, offset_days=30, due_at=at(10, 30)), Row(2)]
    result = verdicts(decide(rows, at(11, 17, 9, 1), set(), retry_at={2: at(11, 17, 9, 2)}))
    assert result == {1: SUPERSEDED, 2: "wait: " + BACKING_OFF}
    assert verdicts(decide([Row(2)], at(11, 17, 9, 2), set(),
                           retry_at={2: at(11, 17, 9, 2)})) == {2: "send"}
    # the back-off kept in the row (every instance reads it) holds the same way
    stored = [Row(1, offset_days=30, due_at=at(10, 30)), Row(2, not_before=at(11, 17, 9, 2))]
    assert verdicts(decide(stored, at(11, 17, 9, 1), set())) == {
        1: SUPERSEDED, 2: "wait: " + BACKING_OFF}
    assert verdicts(decide(stored[1:], at(11, 17, 9, 2), set())) == {2: "send"}


def test_one_decision_per_row_in_due_order() -> None:
    rows = [Row(3, due_at=at(11, 24), offset_days=7), Row(1, offset_days=30, due_at=at(10, 30)),
            digest(2, at(11, 2), offset=29)]
    decisions = decide(rows, at(11, 24), set())
    assert [d.row.id for d in decisions] == [1, 2, 3]


def test_retry_delays_double() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [
        dt.timedelta(minutes=m) for m in (1, 2, 4, 8)]
