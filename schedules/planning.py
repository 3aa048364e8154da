"""Reminder planning: which reminder goes to whom, and when, in one yearly cycle.

Pure functions of the timetable, a cycle year and a working-day calendar.
Storage records the :attr:`PlannedReminder.key` of each reminder it has sent, so planning the same
cycle twice is harmless. Usage::

    reminders = plan_reminders(timetable, current_cycle(timetable, today), WorkingDayCalendar())

Conventions (see ``docs/design.md``): the cutoff is the first late day (每年12月前 = 12-01), the
work is due the day before (:func:`due_date`), and :func:`days_left` is 0 on that last day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from schedules.calendar import WorkingDayCalendar
from schedules.model import Assignment, DeadlineKind, ReminderPolicy, Role, Task, Timetable


class ReminderKind(StrEnum):
    """What a planned reminder is for."""

    BEFORE = "before"  # to every responsible unit, some days before the cutoff
    OVERDUE = "overdue"  # to the lead (or joint) units from the cutoff on, weekly for 4 weeks
    DIGEST = "digest"  # to the admins: a summary of the whole cycle
    ACKNOWLEDGE = "ack"  # to every responsible unit not yet acknowledged (签收), once


_KIND_ORDER = {kind: index for index, kind in enumerate(ReminderKind)}
ACK_WORKING_DAYS = 2
"""A unit that has not acknowledged (签收) a task this many working days after its first
reminder is reminded once more."""
OVERDUE_REPEAT_DAYS = (7, 14, 21, 28)
"""A late unit's overdue notice comes again this many days after the cutoff (moved forward to a
working day): weekly for four weeks, so that a unit whose report was returned (退回) after the
cutoff, or that is simply late, is still followed up."""


@dataclass(frozen=True)
class PlannedReminder:
    """One reminder to send at one instant.

    Attributes:
        task_id: The task, or None for a digest.
        unit_id: The concrete unit (groups expanded), or None for a digest.
        cycle: The cycle year.
        kind: Before, overdue or digest.
        offset_days: Days from the nominal day (before moving it to a working day, so that the
            key does not change when the calendar is corrected) to the cutoff; for an overdue
            notice, days from the cutoff to the nominal day (0, then 7, 14...);
            for an acknowledgement reminder, the offset of the first reminder it follows.
            For a digest it counts to the cycle's last cutoff: the same thing when every task
            shares one cutoff (the after-cutoff digest is then 0), and still a unique key when
            per-task cutoffs differ (the after-cutoff digest of an earlier cutoff is > 0).
        at: When to send, aware, in the policy's time zone.
        cutoff: The first late day this reminder is about.
        role: The unit's role on the task, or None for a digest.
    """

    task_id: int | None
    unit_id: str | None
    cycle: int
    kind: ReminderKind
    offset_days: int
    at: dt.datetime
    cutoff: dt.date
    role: Role | None

    @property
    def key(self) -> tuple[int, str, int, str, int]:
        """Identity for idempotent sending: (task_id or 0, unit_id or "", cycle, kind, offset)."""
        return (self.task_id or 0, self.unit_id or "", self.cycle, self.kind.value,
                self.offset_days)


def current_cycle(timetable: Timetable, today: dt.date) -> int:
    """The cycle year that ``today`` belongs to: simply ``today.year``.

    The plan recurs yearly; after the cutoff (1 December) the year's cycle stays current, and
    overdue, until 31 December. ``timetable`` is taken so that the rule can later depend on the
    policy (e.g. a cutoff early in the year) without changing callers; today it is unused.

    Args:
        timetable: The timetable (unused for now).
        today: Today's date in the policy's time zone (a ``datetime`` is reduced to its date).

    Returns:
        The cycle year.
    """
    return today.year


def cycle_cutoff(timetable: Timetable, task: Task, cycle: int) -> dt.date | None:
    """The task's cutoff in ``cycle``, or None when the task has no deadline in that cycle.

    Statistics tasks (deadline ``none-statistics``, tasks 1-6) have no cutoff: they are judged on
    the statistics bureau's data and get no reminders. A ``once`` deadline has a cutoff only in
    its own year.

    Args:
        timetable: The timetable, for the task's reminder policy (a per-task cutoff wins).
        task: The task.
        cycle: The cycle year.

    Returns:
        The first late day, or None.
    """
    if task.deadline.kind is DeadlineKind.STATISTICS or not task.deadline.applies_to(cycle):
        return None
    return timetable.policy_for(task).cutoff.in_year(cycle)


def due_date(cutoff: dt.date) -> dt.date:
    """The last day to finish in time: the day before the cutoff (30 November for 12-01)."""
    return cutoff - dt.timedelta(days=1)


def days_left(cutoff: dt.date, today: dt.date) -> int:
    """Whole days left after today: 0 on the due date, negative = days late.

    Args:
        cutoff: The first late day.
        today: Today's date in the policy's time zone.

    Returns:
        ``(cutoff - today).days - 1``: 1 on 29 November, 0 on 30 November, -1 on 1 December.
    """
    return (cutoff - today).days - 1


def plan_reminders(
    timetable: Timetable, cycle: int, calendar: WorkingDayCalendar,
    cutoffs: Mapping[tuple[int, str], dt.date] | None = None,
    kinds: Collection[ReminderKind] | None = None,
) -> list[PlannedReminder]:
    """Every reminder of ``cycle`` (or of ``kinds`` only), sorted by (at, task, unit, kind,
    larger offset first).

    - ``before``: to every concrete responsible unit (groups expanded, cooperating units too), on
      the cutoff minus each of the policy's offsets, moved back to the previous working day.
      Two offsets that land on the same working day make one reminder, keyed by the smaller
      offset (the dispatcher would send only that one anyway).
    - ``ack``: to every concrete responsible unit, :data:`ACK_WORKING_DAYS` working days after
      the task's first ``before`` reminder (its assignment, 交办), before the cutoff; the
      dispatcher sends it only to a unit that has not acknowledged the task by then.
    - ``overdue``: when the policy says so, to each lead unit (the joint units when the task has
      no lead), on the first working day on or after the cutoff (``offset_days`` 0), and again
      :data:`OVERDUE_REPEAT_DAYS` days after the cutoff (``offset_days`` 7, 14...: days *after*
      the cutoff); the dispatcher sends them only while the unit has not reported done.
    - ``digest``: when the global policy's ``weekly_digest`` is on, for each distinct cutoff of the
      cycle: on every ``digest_weekday`` in the ``digest_days_before`` days before the cutoff
      (moved back to a working day, or forward when moving back would leave the window), and one
      more on the first working day on or after the cutoff (``offset_days`` 0). Digests use the
      global policy's time and zone.

    The timetable's ``calendar:`` corrections apply on top of ``calendar``. ``cutoffs`` moves
    one unit's cutoff of a task (an approved extension, ``schedules.workflow``): its ``before``
    and ``overdue`` reminders follow the new cutoff with the same keys, so that rows not sent
    yet are moved; its ``ack`` reminder and the digests stay with the timetable's cutoff.

    Keys are unique. A digest summarises the whole cycle, so when per-task cutoffs make two
    windows share a nominal day only one digest goes out that day, and a digest's
    ``offset_days`` counts to the cycle's *last* cutoff (see :class:`PlannedReminder`).

    Args:
        timetable: The validated timetable.
        cycle: The cycle year.
        calendar: Working days.
        cutoffs: (task, unit) -> that unit's own cutoff, when an extension moved it.
        kinds: only these kinds (default: all). The calendar is asked only about the days
            these need: a calendar feed of the ``before`` reminders does not look up the
            holidays of next January, where the overdue notices and digests of a cycle whose
            cutoff was extended into December can fall.

    Returns:
        The planned reminders, sorted.
    """
    corrections = timetable.calendar
    if corrections.holidays or corrections.workdays:
        calendar = calendar.corrected(corrections.holidays, corrections.workdays)
    moved = cutoffs or {}
    wanted = frozenset(ReminderKind) if kinds is None else frozenset(kinds)
    planned: list[PlannedReminder] = []
    task_cutoffs: set[dt.date] = set()
    for task in timetable.tasks:
        cutoff = cycle_cutoff(timetable, task, cycle)
        if cutoff is None:
            continue
        task_cutoffs.add(cutoff)
        policy = timetable.policy_for(task)
        assignments = timetable.responsible_units(task)
        if ReminderKind.ACKNOWLEDGE in wanted:
            planned.extend(_ack_reminders(task, assignments, cycle, cutoff, policy, calendar))
        for cutoff_of_unit in sorted({moved.get((task.id, a.unit_id), cutoff)
                                      for a in assignments}):
            units = [a for a in assignments
                     if moved.get((task.id, a.unit_id), cutoff) == cutoff_of_unit]
            if ReminderKind.BEFORE in wanted:
                planned.extend(_before_reminders(task, units, cycle, cutoff_of_unit, policy,
                                                 calendar))
            if policy.overdue and ReminderKind.OVERDUE in wanted:
                planned.extend(_overdue_reminders(task, units, cycle, cutoff_of_unit, policy,
                                                  calendar))
    if timetable.reminders.weekly_digest and ReminderKind.DIGEST in wanted:
        planned.extend(_digests(sorted(task_cutoffs), cycle, timetable.reminders, calendar))
    return sorted(_unique(planned), key=_sort_key)


def next_reminder(plan: Iterable[PlannedReminder], task_id: int, unit_id: str,
                  after: dt.datetime) -> PlannedReminder | None:
    """The first ``before`` or ``overdue`` reminder of one task and unit due after ``after``.

    What a unit can be told it will next hear about a task, e.g. when a leader returns (退回) its
    report. Acknowledgement reminders are left out: they go only to units that have not
    acknowledged, and a returned unit has reported.

    Args:
        plan: the cycle's plan (:func:`plan_reminders`, with the unit's extension applied).
        task_id: the task.
        unit_id: the concrete unit.
        after: an aware instant.

    Returns:
        The earliest such reminder, or None when the plan has none left.
    """
    ahead = [r for r in plan
             if r.task_id == task_id and r.unit_id == unit_id and r.at > after
             and r.kind in (ReminderKind.BEFORE, ReminderKind.OVERDUE)]
    return min(ahead, key=lambda r: r.at, default=None)


def _reminder_days(cutoff: dt.date, policy: ReminderPolicy,
                   calendar: WorkingDayCalendar) -> list[tuple[int, dt.date]]:
    """(offset, working day) of each ``before`` reminder, earliest first."""
    # offset per day sent: two offsets moved to one working day are one reminder, the one
    # closer to the cutoff (offsets_days is sorted from the largest down)
    by_day: dict[dt.date, int] = {}
    for offset in policy.offsets_days:
        day = calendar.previous_working_day(cutoff - dt.timedelta(days=offset))
        if day < cutoff:  # offsets are >= 1 and we only move back, but never remind too late
            by_day[day] = offset
    return sorted(((offset, day) for day, offset in by_day.items()), key=lambda d: d[1])


def acknowledgement_day(cutoff: dt.date, policy: ReminderPolicy,
                        calendar: WorkingDayCalendar) -> tuple[int, dt.date] | None:
    """The first reminder's offset, and the day a unit that has not acknowledged it is told.

    That is :data:`ACK_WORKING_DAYS` working days after the first ``before`` reminder; None
    when there is no reminder or that day is not before the cutoff.
    """
    days = _reminder_days(cutoff, policy, calendar)
    if not days:
        return None
    offset, day = days[0]
    for _ in range(ACK_WORKING_DAYS):
        day = calendar.next_working_day(day + dt.timedelta(days=1))
    return (offset, day) if day < cutoff else None


def _ack_reminders(
    task: Task,
    assignments: Iterable[Assignment],
    cycle: int,
    cutoff: dt.date,
    policy: ReminderPolicy,
    calendar: WorkingDayCalendar,
) -> list[PlannedReminder]:
    found = acknowledgement_day(cutoff, policy, calendar)
    if found is None:
        return []
    offset, day = found
    return [
        PlannedReminder(task_id=task.id, unit_id=a.unit_id, cycle=cycle,
                        kind=ReminderKind.ACKNOWLEDGE, offset_days=offset,
                        at=_instant(day, policy), cutoff=cutoff, role=a.role)
        for a in assignments
    ]


def _before_reminders(
    task: Task,
    assignments: Iterable[Assignment],
    cycle: int,
    cutoff: dt.date,
    policy: ReminderPolicy,
    calendar: WorkingDayCalendar,
) -> list[PlannedReminder]:
    days = _reminder_days(cutoff, policy, calendar)
    return [
        PlannedReminder(task_id=task.id, unit_id=a.unit_id, cycle=cycle, kind=ReminderKind.BEFORE,
                        offset_days=offset, at=_instant(day, policy), cutoff=cutoff, role=a.role)
        for a in assignments
        for offset, day in days
    ]


def _overdue_reminders(
    task: Task,
    assignments: Iterable[Assignment],
    cycle: int,
    cutoff: dt.date,
    policy: ReminderPolicy,
    calendar: WorkingDayCalendar,
) -> list[PlannedReminder]:
    assignments = tuple(assignments)
    leads = [a for a in assignments if a.role is Role.LEAD]
    chased = leads or [a for a in assignments if a.role is Role.JOINT]
    days: dict[dt.date, int] = {}  # two repeats moved onto one working day make one
    for after in (0, *OVERDUE_REPEAT_DAYS):
        days.setdefault(calendar.next_working_day(cutoff + dt.timedelta(days=after)), after)
    return [
        PlannedReminder(task_id=task.id, unit_id=a.unit_id, cycle=cycle, kind=ReminderKind.OVERDUE,
                        offset_days=after, at=_instant(day, policy), cutoff=cutoff, role=a.role)
        for day, after in days.items()
        for a in chased
    ]


def _digests(
    cutoffs: Iterable[dt.date], cycle: int, policy: ReminderPolicy, calendar: WorkingDayCalendar
) -> list[PlannedReminder]:
    cutoffs = sorted(cutoffs)
    if not cutoffs:
        return []
    reference = cutoffs[-1]
    # nominal day -> (day sent, cutoff it is about); one digest per nominal day, the earliest
    chosen: dict[dt.date, tuple[dt.date, dt.date]] = {}

    def add(nominal: dt.date, day: dt.date, cutoff: dt.date) -> None:
        if nominal not in chosen or day < chosen[nominal][0]:
            chosen[nominal] = (day, cutoff)

    for cutoff in cutoffs:
        window_start = cutoff - dt.timedelta(days=policy.digest_days_before)
        nominal = window_start
        while nominal < cutoff:
            if nominal.weekday() == policy.digest_weekday:
                day = calendar.previous_working_day(nominal)
                if day < window_start:
                    day = calendar.next_working_day(nominal)
                if day < cutoff:
                    add(nominal, day, cutoff)
            nominal += dt.timedelta(days=1)
        add(cutoff, calendar.next_working_day(cutoff), cutoff)
    return [
        PlannedReminder(task_id=None, unit_id=None, cycle=cycle, kind=ReminderKind.DIGEST,
                        offset_days=(reference - nominal).days, at=_instant(day, policy),
                        cutoff=cutoff, role=None)
        for nominal, (day, cutoff) in chosen.items()
    ]


def _instant(day: dt.date, policy: ReminderPolicy) -> dt.datetime:
    tz = ZoneInfo(policy.timezone)
    wall = dt.datetime.combine(day, dt.time(policy.hour, policy.minute), tzinfo=tz)
    # a round trip through UTC turns a wall time skipped by a DST change into a real instant
    return wall.astimezone(dt.UTC).astimezone(tz)


def _unique(planned: Iterable[PlannedReminder]) -> list[PlannedReminder]:
    # keys are unique by construction; this keeps the promise should a future rule break it
    kept: dict[tuple[int, str, int, str, int], PlannedReminder] = {}
    for reminder in planned:
        other = kept.get(reminder.key)
        if other is None or reminder.at < other.at:
            kept[reminder.key] = reminder
    return list(kept.values())


def _sort_key(reminder: PlannedReminder) -> tuple[dt.datetime, int, str, int, int]:
    return (reminder.at, reminder.task_id or 0, reminder.unit_id or "",
            _KIND_ORDER[reminder.kind], -reminder.offset_days)
