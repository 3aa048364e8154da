"""The unit scorecard (考评) of a cycle: pure rules, no Telegram and no SQL.

docs/scorecard.md says these rules for people, with a worked example, so that a unit can check
its own score. In short, for every concrete unit and every task it *delivers* in the cycle (it
leads the task, or is jointly responsible for a task without a lead; cooperating units give
inputs and are not scored on the task) that has a cutoff this cycle:

* the **due date** is the day before the unit's cutoff, moved by the unit's approved extension
  (延期) if it has one (``schedules.workflow.approved_extension``);
* the **finish day** is the office-zone day of the first report of done (or not applicable) of
  the unit's latest unbroken run of such reports made after any report a leader returned, if
  the unit stands finished now (its latest report is done and not returned; confirmed or not
  yet reviewed);
* the duty is exactly one of: **on time** (finished on or before the due date), **late**
  (finished after it), **blocked** (not finished, latest report "blocked"), **missing** (not
  finished, not blocked, and the cutoff has passed) or **open** (none of these yet);
* **days early or late**: due date minus finish day for every finished duty (positive: early,
  negative: late); the unit's average is over its finished duties;
* **extended**: duties whose due date an approved extension moved (counted whatever their
  outcome);

and, over every task it has a duty on (cooperating too):

* **acknowledgement rate**: of the tasks on which a reminder or an overdue notice reached the
  unit's contacts, the share acknowledged: someone serving the unit pressed 收到, or the unit
  reported on the task (a report is a receipt too, as for the reminders:
  ``schedules.workflow.acknowledged_pairs``);
* **urges received**: how many times a leader urged (催办) the unit, on any task.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from schedules.model import Timetable
from schedules.workflow import (
    CycleFacts,
    Pair,
    Phase,
    ReportFact,
    ReviewDecision,
    acknowledged_pairs,
    cycle_views,
    finished_run,
)


class ScoredReport(ReportFact, Protocol):
    """A stored report as the scorecard reads it: the workflow's, and whose it is."""

    @property
    def task_id(self) -> int: ...
    @property
    def unit_id(self) -> str: ...


class Outcome(StrEnum):
    """What became of one unit's duty on one task in the cycle (exactly one per duty)."""

    ON_TIME = "on_time"
    LATE = "late"
    BLOCKED = "blocked"
    MISSING = "missing"
    OPEN = "open"


@dataclass(frozen=True)
class Duty:
    """One scored duty: a unit delivering a task with a cutoff in the cycle.

    Attributes:
        task_id: the task.
        unit_id: the concrete unit.
        due: the last day on time (the day before the cutoff, an approved extension applied).
        extended: whether an approved extension moved ``due``.
        finished_on: the office-zone day the unit reported done, if that report stands.
        outcome: what became of it as of ``today``.
        days_early: ``due - finished_on`` in days for a finished duty (negative: late);
            for a missing one, minus the days past due so far; else None.
    """

    task_id: int
    unit_id: str
    due: dt.date
    extended: bool
    finished_on: dt.date | None
    outcome: Outcome
    days_early: int | None


@dataclass(frozen=True)
class UnitScore:
    """One unit's scorecard line; see the module docstring for each rule.

    Attributes:
        unit_id: the concrete unit.
        duties: its scored duties, in the timetable's task order.
        reminded: tasks on which a reminder or overdue notice reached the unit.
        acknowledged: of those, the tasks acknowledged (收到 or a report).
        urges: urges received in the cycle.
    """

    unit_id: str
    duties: tuple[Duty, ...]
    reminded: int
    acknowledged: int
    urges: int

    def count(self, outcome: Outcome) -> int:
        """How many of its duties have ``outcome``."""
        return sum(1 for d in self.duties if d.outcome is outcome)

    @property
    def on_time(self) -> int:
        """Duties finished on or before their due date."""
        return self.count(Outcome.ON_TIME)

    @property
    def late(self) -> int:
        """Duties finished after their due date."""
        return self.count(Outcome.LATE)

    @property
    def missing(self) -> int:
        """Duties past their cutoff, not finished and not reported blocked."""
        return self.count(Outcome.MISSING)

    @property
    def blocked(self) -> int:
        """Duties not finished whose latest report is "blocked"."""
        return self.count(Outcome.BLOCKED)

    @property
    def open(self) -> int:
        """Duties neither finished nor late yet."""
        return self.count(Outcome.OPEN)

    @property
    def extended(self) -> int:
        """Duties whose due date an approved extension moved."""
        return sum(1 for d in self.duties if d.extended)

    @property
    def average_days_early(self) -> float | None:
        """Mean days early over finished duties (negative: late on average); None if none."""
        finished = [d.days_early for d in self.duties
                    if d.outcome in (Outcome.ON_TIME, Outcome.LATE) and d.days_early is not None]
        return sum(finished) / len(finished) if finished else None

    @property
    def acknowledgement_rate(self) -> float | None:
        """``acknowledged / reminded`` (0.0-1.0); None when no reminder reached the unit."""
        return self.acknowledged / self.reminded if self.reminded else None


def finish_day(history: Sequence[ReportFact], zone: dt.tzinfo,
               returned: Collection[int] = ()) -> dt.date | None:
    """The office-zone day a unit finished a task: the first report of its latest run of
    done (or n/a) reports made after the last report a leader returned; None when its latest
    report is not done.

    Args:
        history: the unit's reports on the task in the cycle, oldest first.
        zone: the office's time zone.
        returned: ids of reports a leader returned (a return ends a run).
    """
    run = finished_run(history)
    returned_at = [i for i, r in enumerate(run) if r.id is not None and r.id in returned]
    if returned_at:
        run = run[returned_at[-1] + 1:]
    return run[0].reported_at.astimezone(zone).date() if run else None


def score_units(timetable: Timetable, facts: CycleFacts,
                history: Iterable[ScoredReport], reminded: Collection[Pair],
                urged: Iterable[Pair], today: dt.date, zone: dt.tzinfo) -> list[UnitScore]:
    """Every concrete unit's scorecard for ``facts.cycle``, in the timetable's unit order.

    Units with no duty in the cycle are left out.

    Args:
        timetable: the timetable.
        facts: what was appended about the cycle (latest reports, reviews, extensions,
            acknowledgements).
        history: every report of the cycle (any order; sorted here by time, then id).
        reminded: (task, unit) pairs a reminder or an overdue notice reached (sent).
        urged: one (task, unit) per urge received.
        today: the current day in the office's time zone.
        zone: the office's time zone, for the day a report was made.

    Raises:
        ValueError: a report time is naive.
    """
    by_pair: dict[Pair, list[ScoredReport]] = {}
    for report in sorted(history, key=_report_order):
        by_pair.setdefault((report.task_id, report.unit_id), []).append(report)
    received = acknowledged_pairs(facts)
    returned = {report_id for report_id, review in facts.reviews.items()
                if review.decision == ReviewDecision.RETURNED}
    urges = Counter(unit for _, unit in urged)
    duties: dict[str, list[Duty]] = {}
    pairs: dict[str, set[int]] = {}
    # the views kept on the facts (cycle_views): the ledger's and summary's, not made again
    for task, view in zip(timetable.tasks, cycle_views(timetable, facts, today), strict=True):
        for state in view.units:
            pairs.setdefault(state.unit_id, set()).add(task.id)
            if not state.delivers or state.cutoff is None or state.phase is Phase.CLOSED:
                continue
            day = (finish_day(by_pair.get((task.id, state.unit_id), []), zone, returned)
                   if state.finished else None)
            duties.setdefault(state.unit_id, []).append(
                _duty(task.id, state.unit_id, state.cutoff, state.extension is not None,
                      day, state.phase, today))
    scores = []
    for unit in timetable.units:
        if unit.id not in pairs:
            continue
        mine = pairs[unit.id]
        reached = {task for task, unit_id in reminded if unit_id == unit.id and task in mine}
        scores.append(UnitScore(
            unit.id, tuple(duties.get(unit.id, ())), len(reached),
            sum(1 for task in reached if (task, unit.id) in received), urges[unit.id]))
    return scores


def _duty(task_id: int, unit_id: str, cutoff: dt.date, extended: bool,
          finished_on: dt.date | None, phase: Phase, today: dt.date) -> Duty:
    due = cutoff - dt.timedelta(days=1)
    if finished_on is not None:
        early = (due - finished_on).days
        outcome = Outcome.ON_TIME if early >= 0 else Outcome.LATE
        return Duty(task_id, unit_id, due, extended, finished_on, outcome, early)
    if phase is Phase.BLOCKED:
        return Duty(task_id, unit_id, due, extended, None, Outcome.BLOCKED, None)
    if today >= cutoff:
        return Duty(task_id, unit_id, due, extended, None, Outcome.MISSING,
                    (due - today).days)
    return Duty(task_id, unit_id, due, extended, None, Outcome.OPEN, None)


def _report_order(report: ReportFact) -> tuple[dt.datetime, int]:
    if report.reported_at.tzinfo is None:
        raise ValueError(f"naive report time {report.reported_at!r}")
    return report.reported_at, report.id or 0


__all__ = ["Duty", "Outcome", "ScoredReport", "UnitScore", "finish_day", "score_units"]
