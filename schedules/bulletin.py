"""What a bulletin (通报) on a cycle says: pure selection, no Telegram and no SQL.

The leadership group's office publishes a short notice on how the target tasks stand: the
units that finished early (commended), the units overdue (named, with how late and how often
they were urged), and the tasks at risk of being late. This module picks them; ``bot/``
words them as a government notice in the reader's language. The rules, in short:

* **counts** are over the tasks with a due date this cycle, by their consolidated state
  (``schedules.workflow.task_view``): confirmed, reported done awaiting review, overdue, and
  the rest (under way or not reported yet, not late);
* **finished early**: a unit's scored duty (:mod:`schedules.scorecard`) finished at least one
  day before its due date (marked when a leader has not confirmed it yet); units with the most
  such tasks first, then the most days early;
* **overdue**: a scored duty past its cutoff and not finished (missing, or blocked after the
  cutoff), with the days past due and the urges the unit received on that task; the longest
  overdue first; one line per unit, its tasks that stand alike named together
  (:attr:`Overdue.groups`);
* **at risk**: a task not finished and not yet late whose cutoff is within
  :data:`AT_RISK_DAYS` days, or that a delivering unit reported blocked; with each delivering
  unit not finished and where it stands.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schedules.model import Timetable
from schedules.scorecard import Outcome, UnitScore
from schedules.workflow import (
    DUE_SOON_DAYS,
    CycleFacts,
    Pair,
    Phase,
    UnitState,
    cycle_views,
)

AT_RISK_DAYS = DUE_SOON_DAYS
"""A task not finished is at risk this many days before its cutoff (the 7-day reminder)."""


@dataclass(frozen=True)
class Counts:
    """The tasks with a due date this cycle, by consolidated state (they add up to ``total``)."""

    total: int
    confirmed: int
    awaiting_review: int
    overdue: int
    under_way: int


@dataclass(frozen=True)
class EarlyItem:
    """A task a unit finished early: how many days, and whether a leader confirmed it yet
    (a report of done not reviewed yet is said so)."""

    task_id: int
    days_early: int
    confirmed: bool


@dataclass(frozen=True)
class EarlyFinish:
    """A unit that finished tasks early, in task order."""

    unit_id: str
    tasks: tuple[EarlyItem, ...]


@dataclass(frozen=True)
class LateItem:
    """One overdue duty of a unit.

    Attributes:
        task_id: the task.
        days_late: days past the due date as of today (at least 1).
        phase: where the unit stands (no report, in progress, blocked, returned).
        urges: how many times a leader urged the unit on this task.
    """

    task_id: int
    days_late: int
    phase: Phase
    urges: int


@dataclass(frozen=True)
class LatePart:
    """A unit's overdue tasks in the same state and urged as often (of one :class:`LateGroup`).

    Attributes:
        task_ids: the tasks, in the order of :attr:`Overdue.items`.
        phase: where the unit stands on each.
        urges: how many times the unit was urged on each.
    """

    task_ids: tuple[int, ...]
    phase: Phase
    urges: int


@dataclass(frozen=True)
class LateGroup:
    """A unit's overdue tasks that are as many days late, named once in the bulletin
    (第11、19项（尚未报送）、第16项（已退回，已催办1次）逾期3天), not each with its own "逾期3天".

    Attributes:
        days_late: days past the due date, the same for each task.
        parts: the tasks by state and urges, in the order of their first task.
    """

    days_late: int
    parts: tuple[LatePart, ...]


@dataclass(frozen=True)
class Overdue:
    """A unit with overdue tasks, the longest overdue first."""

    unit_id: str
    items: tuple[LateItem, ...]

    @property
    def groups(self) -> tuple[LateGroup, ...]:
        """The items by days late (longest first), each by state and urges: one line per unit
        that says each number of days once."""
        by_days: dict[int, dict[tuple[Phase, int], list[int]]] = {}
        for item in self.items:
            by_days.setdefault(item.days_late, {}).setdefault(
                (item.phase, item.urges), []).append(item.task_id)
        return tuple(LateGroup(days, tuple(LatePart(tuple(tasks), phase, urges)
                                           for (phase, urges), tasks in parts.items()))
                     for days, parts in by_days.items())


@dataclass(frozen=True)
class Risk:
    """A task at risk: days left before its cutoff and the delivering units not finished."""

    task_id: int
    days_left: int
    units: tuple[UnitState, ...]


@dataclass(frozen=True)
class Bulletin:
    """What the bulletin of ``cycle`` as of ``today`` says (see the module docstring)."""

    cycle: int
    today: dt.date
    counts: Counts
    early: tuple[EarlyFinish, ...]
    overdue: tuple[Overdue, ...]
    at_risk: tuple[Risk, ...]


def select_bulletin(timetable: Timetable, facts: CycleFacts, scores: Sequence[UnitScore],
                    urged: Iterable[Pair], today: dt.date) -> Bulletin:
    """Pick what the bulletin of ``facts.cycle`` says as of ``today``.

    Args:
        timetable: the timetable.
        facts: what was appended about the cycle.
        scores: the units' scorecards for the same day (:func:`schedules.scorecard.score_units`).
        urged: one (task, unit) per urge of the cycle.
        today: the current day in the office's time zone.
    """
    views = [v for v in cycle_views(timetable, facts, today)
             if v.phase is not Phase.CLOSED and v.cutoff is not None]
    confirmed = sum(1 for v in views if v.phase is Phase.CONFIRMED)
    awaiting = sum(1 for v in views if v.phase is Phase.REPORTED_DONE)
    overdue_tasks = sum(1 for v in views if v.overdue)
    counts = Counts(len(views), confirmed, awaiting, overdue_tasks,
                    len(views) - confirmed - awaiting - overdue_tasks)
    urges = Counter(urged)
    states = {(u.task_id, u.unit_id): u for v in views for u in v.units}

    early: list[EarlyFinish] = []
    late: list[Overdue] = []
    for score in scores:
        ahead = tuple(EarlyItem(d.task_id, d.days_early,
                                states[(d.task_id, d.unit_id)].phase is Phase.CONFIRMED)
                      for d in score.duties
                      if d.outcome is Outcome.ON_TIME and d.days_early is not None
                      and d.days_early >= 1 and (d.task_id, d.unit_id) in states)
        if ahead:
            early.append(EarlyFinish(score.unit_id, ahead))
        items = [LateItem(d.task_id, (today - d.due).days,
                          states[(d.task_id, d.unit_id)].phase, urges[(d.task_id, d.unit_id)])
                 for d in score.duties
                 if d.outcome in (Outcome.MISSING, Outcome.BLOCKED) and today > d.due
                 and (d.task_id, d.unit_id) in states]
        if items:
            late.append(Overdue(score.unit_id, tuple(sorted(
                items, key=lambda i: (-i.days_late, i.task_id)))))
    early.sort(key=lambda e: (-len(e.tasks), -sum(i.days_early for i in e.tasks)))
    late.sort(key=lambda o: (-o.items[0].days_late, -len(o.items)))

    at_risk = []
    for view in views:
        if view.overdue or view.phase in (Phase.CONFIRMED, Phase.REPORTED_DONE):
            continue
        open_units = tuple(u for u in view.consolidated if not u.finished)
        blocked = any(u.phase is Phase.BLOCKED for u in open_units)
        if view.days_left is not None and open_units and (
                view.days_left < AT_RISK_DAYS or blocked):
            at_risk.append(Risk(view.task_id, view.days_left, open_units))
    at_risk.sort(key=lambda r: (r.days_left, r.task_id))
    return Bulletin(facts.cycle, today, counts, tuple(early), tuple(late), tuple(at_risk))
