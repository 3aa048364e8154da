"""Which events a unit's calendar feed holds: its due days and the days duban reminds it.

Pure: no Telegram, no SQL, no iCalendar (``bot/reports/calendar.py`` writes the ``.ics``)::

    events = feed_events(timetable, 2026, ["agriculture-rural"], WorkingDayCalendar(),
                         ZoneInfo("Asia/Shanghai"), facts.extensions)

For each task a unit has a duty on (groups expanded, cooperating units too) with a cutoff in
the cycle:

* one ``due`` event, an all-day event on the last day (the day before the cutoff; the
  ``.ics`` writes it as ``DTSTART;VALUE=DATE`` and ``DTEND`` the next day, so that a calendar
  shows it on that day in every time zone, not as a 24-hour meeting), moved by an approved
  extension (延期);
* one ``reminder`` event at each of the unit's ``before`` reminders (``plan_reminders``: 30, 14,
  7, 3 and 1 days before the cutoff, moved back to a working day), which follow an extension
  too.

A task without a cutoff in the cycle (statistics tasks 1-6, a once-only task of another year)
has no event. The acknowledgement and overdue notices are left out: they go only to a unit that
has not acknowledged, or is late.

The feed shows what the bot will send. A ``.ics`` file is stateless (the calendar that
imports it keeps the events of the last import, and nothing tells it which ones went away), so
the feed never drops an event: each of the unit's reminder *slots* is always in it, and a slot
the bot will not send is there as **cancelled** (``STATUS:CANCELLED``) under the same UID, so
that a re-import removes the event the earlier file added:

* every reminder of a task the unit reported done (or not applicable) and no leader returned,
  confirmed or not (``schedules.workflow.finished_pairs``: the dispatcher skips them, "unit
  reported done"); a return brings them back;
* a slot whose day is another slot's (two offsets moved onto one working day, before or after
  an extension: only the one closer to the cutoff is sent, ``plan_reminders``).

The due day stays: it is the deadline, finished or not.

Each event has a :attr:`FeedEvent.uid` made of (cycle, task, unit, kind and the reminder's
offset in the policy) only, never of its date or state: importing a newer feed updates the
events instead of adding copies. :attr:`FeedEvent.sequence` (RFC 5545's SEQUENCE, which a
calendar compares to take the newer version) only grows: the approved extensions of the unit's
due date, plus for a reminder its state's revision, read from the stored facts (no state is
kept between exports): ``3 × id`` of the unit's latest report on the task, ``+ 1`` while that
report is a standing report of done (the reminders cancelled), ``+ 2`` when a leader returned it
(the reminders back). A new report has a larger id, so every change of state is a larger
number than the one before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from schedules.calendar import WorkingDayCalendar
from schedules.model import Role, Timetable, UnitKind
from schedules.planning import ReminderKind, cycle_cutoff, due_date, plan_reminders
from schedules.progress import FINISHED
from schedules.workflow import (
    CycleFacts,
    ExtensionFact,
    ExtensionState,
    Pair,
    ReviewDecision,
    cutoff_overrides,
    finished_pairs,
)

REMINDER_MINUTES = 30
"""How long a reminder's event lasts in the calendar."""
UID_DOMAIN = "duban"
"""The right-hand side of every event's UID (RFC 5545 suggests a domain-like part)."""


class Cancelled(StrEnum):
    """Why the bot will not send a reminder the feed holds (``""``: it will)."""

    NO = ""
    FINISHED = "finished"  # the unit reported the task done (not returned)
    MERGED = "merged"  # another reminder falls on the same day: only that one is sent


class EventKind(StrEnum):
    """What an event of the feed marks."""

    DUE = "due"  # the last day to finish the task
    REMINDER = "reminder"  # a day duban reminds the unit of the task


@dataclass(frozen=True)
class FeedEvent:
    """One event of a unit's calendar.

    Attributes:
        task_id: the task.
        unit_id: the concrete unit.
        cycle: the cycle year.
        kind: due day or reminder.
        start: when it begins, aware, in the office's time zone.
        end: when it ends, aware, in the office's time zone.
        due: the unit's due date (the day before its cutoff, moved by an extension).
        planned_due: the timetable's due date.
        role: the unit's duty on the task.
        offset_days: for a reminder, its days before the cutoff in the plan (its key); 0 for
            the due day.
        sequence: RFC 5545's SEQUENCE, only growing: the approved extensions of the unit's
            due date, plus a reminder's state revision (the module docstring).
        cancelled: why the bot will not send this reminder (written ``STATUS:CANCELLED``, so
            that a re-import removes it); empty when it will.
    """

    task_id: int
    unit_id: str
    cycle: int
    kind: EventKind
    start: dt.datetime
    end: dt.datetime
    due: dt.date
    planned_due: dt.date
    role: Role
    offset_days: int = 0
    sequence: int = 0
    cancelled: Cancelled = Cancelled.NO

    @property
    def all_day(self) -> bool:
        """Whether the event is a whole day (the due day): :attr:`day` to the day after, with
        no time; ``start`` and ``end`` are then that day's midnight and the next."""
        return self.kind is EventKind.DUE

    @property
    def day(self) -> dt.date:
        """The day the event is on, in the office's time zone."""
        return self.start.date()

    @property
    def extended(self) -> bool:
        """Whether an approved extension moved the unit's due date."""
        return self.due != self.planned_due

    @property
    def uid(self) -> str:
        """The event's stable identity, e.g. ``2026-task7-agriculture-rural-reminder-14@duban``."""
        tail = f"-{self.offset_days}" if self.kind is EventKind.REMINDER else ""
        return (f"{self.cycle}-task{self.task_id}-{self.unit_id}-{self.kind.value}{tail}"
                f"@{UID_DOMAIN}")


def concrete_units(timetable: Timetable, unit_ids: Iterable[str]) -> list[str]:
    """The units, each group replaced by its members, without repeats, in the order given.

    Raises:
        KeyError: a unit the timetable does not have.
    """
    found: dict[str, None] = {}
    for unit_id in unit_ids:
        unit = timetable.unit(unit_id)
        for member in unit.members if unit.kind is UnitKind.GROUP else (unit.id,):
            found.setdefault(member)
    return list(found)


def state_revision(facts: CycleFacts, pair: Pair, finished: Collection[Pair]) -> int:
    """A reminder's state revision (the module docstring): ``3 × id`` of the unit's latest
    report, ``+ 1`` while it is a standing report of done, ``+ 2`` once a leader returned it;
    0 without a report (1 for a finished report without an id, as a test's facts have)."""
    report = facts.reports.get(pair)
    if report is None:
        return 0
    review = facts.review_of(report)
    step = (1 if pair in finished else
            2 if report.status in FINISHED and review is not None
            and review.decision == ReviewDecision.RETURNED else 0)
    report_id = getattr(report, "id", None)
    return step if report_id is None else 3 * report_id + step


def feed_events(timetable: Timetable, cycle: int, unit_ids: Iterable[str],
                calendar: WorkingDayCalendar, zone: dt.tzinfo,
                extensions: Mapping[Pair, Sequence[ExtensionFact]] | None = None,
                facts: CycleFacts | None = None) -> list[FeedEvent]:
    """The events of the units' calendar in ``cycle``, sorted by start, task and unit: every
    due day, and every reminder slot, cancelled when the bot will not send it.

    Args:
        timetable: the validated timetable.
        cycle: the cycle year.
        unit_ids: the units (a group stands for its members).
        calendar: working days, for the reminder days.
        zone: the office's time zone: the due day is a whole day there, and every event is
            given in it.
        extensions: (task, unit) -> the unit's extension requests (``CycleFacts.extensions``);
            approved ones move the due day and the reminders. Default: ``facts``'.
        facts: the cycle's stored facts: a finished task's reminders are cancelled, and the
            reports give the reminders' revisions. None: nobody has reported.

    Raises:
        KeyError: a unit the timetable does not have.
    """
    if extensions is None and facts is not None:
        extensions = facts.extensions
    extensions = extensions or {}
    facts = facts or CycleFacts(cycle)
    finished = finished_pairs(timetable, facts)
    units = concrete_units(timetable, unit_ids)
    wanted = set(units)
    moved = cutoff_overrides(extensions)
    events: list[FeedEvent] = []
    duties: dict[Pair, tuple[Role, dt.date, dt.date, int]] = {}
    for unit_id in units:
        for task, assignment in timetable.tasks_for_unit(unit_id):
            planned = cycle_cutoff(timetable, task, cycle)
            if planned is None:
                continue  # statistics tasks, once-only tasks of other years: no cutoff
            pair = (task.id, unit_id)
            cutoff = moved.get(pair, planned)
            approved = sum(1 for e in extensions.get(pair, ())
                           if e.state == ExtensionState.APPROVED)
            duties[pair] = (assignment.role, due_date(cutoff), due_date(planned), approved)
            start = dt.datetime.combine(due_date(cutoff), dt.time(), tzinfo=zone)
            events.append(FeedEvent(task.id, unit_id, cycle, EventKind.DUE, start,
                                    dt.datetime.combine(cutoff, dt.time(), tzinfo=zone),
                                    due_date(cutoff), due_date(planned), assignment.role,
                                    sequence=approved))
    # only the ``before`` reminders: the calendar is not asked about the days of the others
    # (next January's holidays, for the overdue notices of a cutoff extended into December)
    sent: dict[Pair, dict[int, dt.datetime]] = {}
    for planned_reminder in plan_reminders(timetable, cycle, calendar, moved,
                                           kinds=(ReminderKind.BEFORE,)):
        if planned_reminder.unit_id not in wanted or planned_reminder.task_id is None:
            continue
        pair = (planned_reminder.task_id, planned_reminder.unit_id)
        if pair in duties:
            sent.setdefault(pair, {})[planned_reminder.offset_days] = planned_reminder.at
    for pair, (role, due, planned_due, approved) in duties.items():
        sequence = approved + state_revision(facts, pair, finished)
        days = sent.get(pair, {})
        at_day = {at.date(): at for at in days.values()}
        cutoff = due + dt.timedelta(days=1)
        for offset in timetable.policy_for(timetable.task(pair[0])).offsets_days:
            at = days.get(offset)
            why = Cancelled.FINISHED if pair in finished else Cancelled.NO
            if at is None:  # merged into the slot of the same day (the plan's rule)
                at = at_day.get(_slot_day(cutoff, offset, timetable, calendar))
                why = why or Cancelled.MERGED
            if at is None:
                continue  # no day before the cutoff (never, with offsets of 1 and up)
            start = at.astimezone(zone)
            events.append(FeedEvent(pair[0], pair[1], cycle, EventKind.REMINDER, start,
                                    start + dt.timedelta(minutes=REMINDER_MINUTES), due,
                                    planned_due, role, offset, sequence, why))
    order = {unit_id: index for index, unit_id in enumerate(units)}
    return sorted(events, key=lambda e: (e.start, e.task_id, order[e.unit_id], e.kind.value))


def _slot_day(cutoff: dt.date, offset: int, timetable: Timetable,
              calendar: WorkingDayCalendar) -> dt.date:
    """The working day a reminder ``offset`` days before ``cutoff`` falls on (the plan's rule,
    with the timetable's calendar corrections)."""
    corrections = timetable.calendar
    if corrections.holidays or corrections.workdays:
        calendar = calendar.corrected(corrections.holidays, corrections.workdays)
    return calendar.previous_working_day(cutoff - dt.timedelta(days=offset))
