"""The supervision workflow (督办) of a task in a cycle: states, lights, and who may do what.

Pure rules, no Telegram and no SQL; docs/workflow.md says them for people. The state of one
(task, unit, cycle) is never stored: it is read from what was appended (:class:`CycleFacts`):

* the unit's latest report (``done`` or ``not_applicable`` make it *reported done*);
* the review of that very report, if a leader made one: ``confirmed`` (审结/销号) or
  ``returned`` (with a comment: the unit is open again);
* the unit's approved extensions (延期): the newest one moves the unit's cutoff;
* the first acknowledgement (签收) of the task by anyone serving the unit.

A task's consolidated state (:func:`task_view`) is that of the units that deliver it: its lead
units, or, for a task without a lead (按职责分工负责, task 26), every joint unit. Cooperating
units give inputs; their reports never make a task done.

One legend of lights (:data:`LEGEND`) is used in every view and in the export::

    🟢 confirmed done   🔵 reported done, awaiting review   🟡 not done: due within 7 days,
    in progress or returned   🔴 overdue or blocked   ⚪ no report yet   ⚫ closed
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from schedules.model import Role, Task, Timetable
from schedules.planning import cycle_cutoff, days_left
from schedules.progress import FINISHED, ReportLike, deliverers, is_closed
from schedules.text import N_

Pair = tuple[int, str]
"""(task id, unit id)."""

DUE_SOON_DAYS = 7
"""A unit not done is 🟡 from this many days before its cutoff (the 7-day reminder)."""


class Phase(StrEnum):
    """Where a (task, unit, cycle) is in the workflow; a task's consolidated phase likewise."""

    CLOSED = "closed"  # a once-only task of another year: no duty this cycle
    NO_REPORT = "no_report"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    RETURNED = "returned"  # reported done, sent back by a leader: open again
    REPORTED_DONE = "reported_done"  # done or not applicable, awaiting a leader's review
    CONFIRMED = "confirmed"  # a leader confirmed it: closed (销号)


FINISHED_PHASES = frozenset({Phase.REPORTED_DONE, Phase.CONFIRMED})
"""No more reminders for a unit in these phases (a returned one is reminded again)."""


class Light(StrEnum):
    """The one legend of lights, as government supervision systems use them."""

    CONFIRMED = "🟢"
    AWAITING_REVIEW = "🔵"
    DUE_SOON = "🟡"
    LATE = "🔴"
    NO_REPORT = "⚪"
    CLOSED = "⚫"


LEGEND: tuple[tuple[Light, str], ...] = (
    (Light.CONFIRMED, N_("confirmed done")),
    (Light.AWAITING_REVIEW, N_("reported done, awaiting review")),
    (Light.DUE_SOON, N_("not done: due within 7 days, in progress or returned")),
    (Light.LATE, N_("overdue or blocked")),
    (Light.NO_REPORT, N_("no report yet")),
    (Light.CLOSED, N_("closed")),
)
"""Each light and what it means, in the order views list them."""

PHASE_LABELS: dict[Phase, str] = {
    Phase.CLOSED: N_("closed"),
    Phase.NO_REPORT: N_("no report yet"),
    Phase.IN_PROGRESS: N_("in progress"),
    Phase.BLOCKED: N_("blocked"),
    Phase.RETURNED: N_("returned"),
    Phase.REPORTED_DONE: N_("reported done, awaiting review"),
    Phase.CONFIRMED: N_("confirmed done"),
}


# -- what was appended ----------------------------------------------------------------------
class ReportFact(ReportLike, Protocol):
    """A stored status report, as the workflow reads it: what the status rules read, and its
    id (a review belongs to one report)."""

    @property
    def id(self) -> int | None: ...


class ReviewFact(Protocol):
    """A leader's review of one report: ``confirmed`` or ``returned`` (with a comment)."""

    @property
    def report_id(self) -> int: ...
    @property
    def decision(self) -> str: ...
    @property
    def comment(self) -> str: ...
    @property
    def reviewer_telegram_id(self) -> int | None: ...
    @property
    def reviewed_at(self) -> dt.datetime: ...


class ExtensionFact(Protocol):
    """A unit's request to move its due date, and the leader's decision on it."""

    @property
    def id(self) -> int | None: ...
    @property
    def due_date(self) -> dt.date: ...
    @property
    def state(self) -> str: ...
    @property
    def requested_at(self) -> dt.datetime: ...
    @property
    def decided_at(self) -> dt.datetime | None: ...


@dataclass(frozen=True)
class Acknowledgement:
    """Who acknowledged (签收) a task for a unit first, and when."""

    telegram_user_id: int
    at: dt.datetime


class ReviewDecision(StrEnum):
    """What a leader decides on a unit's report of done."""

    CONFIRMED = "confirmed"
    RETURNED = "returned"


class ExtensionState(StrEnum):
    """Where an extension request is: pending -> approved | rejected (decided once)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class CycleFacts:
    """Everything appended about a cycle that the states are read from.

    Attributes:
        cycle: the cycle year.
        reports: (task, unit) -> the unit's latest report on the task.
        reviews: report id -> the review of that report (at most one per report).
        extensions: (task, unit) -> the unit's extension requests, oldest first.
        acknowledgements: (task, unit) -> the first acknowledgement.
        notes: (task, unit) -> the unit's latest report *with a note* (a later report without
            one does not hide what the unit last wrote; the views of one task or one unit show
            it, with its date). Storage reads it with one task's or one unit's facts only.

    The facts are not changed once made: :func:`cycle_views` keeps the views it computed from
    them on the object (``views``), so that a summary, the overdue list and the charts asked of
    the same facts (storage keeps the whole cycle's until something changes) compute the 26,000
    unit states of 1,000 units once.
    """

    cycle: int
    reports: Mapping[Pair, ReportFact] = field(default_factory=dict)
    reviews: Mapping[int, ReviewFact] = field(default_factory=dict)
    extensions: Mapping[Pair, Sequence[ExtensionFact]] = field(default_factory=dict)
    acknowledgements: Mapping[Pair, Acknowledgement] = field(default_factory=dict)
    notes: Mapping[Pair, ReportFact] = field(default_factory=dict)
    views: dict[dt.date, tuple[Timetable, tuple[TaskView, ...]]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def review_of(self, report: ReportFact | None) -> ReviewFact | None:
        """The review of ``report``, if any."""
        report_id = getattr(report, "id", None)  # a bare report (a test's) has no id
        return None if report_id is None else self.reviews.get(report_id)


def approved_extension(extensions: Iterable[ExtensionFact]) -> ExtensionFact | None:
    """The extension in force: the one approved last, or None."""
    approved = [e for e in extensions if e.state == ExtensionState.APPROVED]
    if not approved:
        return None
    return max(approved, key=lambda e: (e.decided_at or e.requested_at, e.id or 0))


def pending_extension(extensions: Iterable[ExtensionFact]) -> ExtensionFact | None:
    """The request still waiting for a leader, or None (there is at most one)."""
    return next((e for e in extensions if e.state == ExtensionState.PENDING), None)


def extended_cutoff(extension: ExtensionFact) -> dt.date:
    """The cutoff an approved extension gives: the day after its new due date."""
    return extension.due_date + dt.timedelta(days=1)


def cutoff_overrides(extensions: Mapping[Pair, Sequence[ExtensionFact]]) -> dict[Pair, dt.date]:
    """(task, unit) -> the cutoff moved by an approved extension (for ``plan_reminders``)."""
    moved: dict[Pair, dt.date] = {}
    for pair, requests in extensions.items():
        extension = approved_extension(requests)
        if extension is not None:
            moved[pair] = extended_cutoff(extension)
    return moved


# -- the state of one unit on one task ---------------------------------------------------------
@dataclass(frozen=True)
class UnitState:
    """One unit's part of a task in a cycle, computed by :func:`unit_state`.

    Attributes:
        task_id: the task.
        unit_id: the concrete unit.
        cycle: the cycle year.
        role: the unit's duty on the task.
        delivers: whether its status is the task's consolidated status (a lead unit, or a joint
            unit of a task without a lead).
        phase: where it is in the workflow.
        report: its latest report, or None.
        review: the review of that report, or None.
        cutoff: its cutoff, moved by an approved extension (None: no cutoff this cycle).
        planned_cutoff: the timetable's cutoff.
        extension: the approved extension in force, or None.
        pending: an extension request waiting for a leader, or None.
        acknowledged: the first acknowledgement, or None.
        days_left: whole days left after today before its cutoff (negative: days late).
        overdue: the cutoff has passed and it is not reported done.
        light: its light.
        note: its latest report with a note (the latest report itself, or an earlier one when
            the latest has none), or None.
    """

    task_id: int
    unit_id: str
    cycle: int
    role: Role
    delivers: bool
    phase: Phase
    report: ReportFact | None
    review: ReviewFact | None
    cutoff: dt.date | None
    planned_cutoff: dt.date | None
    extension: ExtensionFact | None
    pending: ExtensionFact | None
    acknowledged: Acknowledgement | None
    days_left: int | None
    overdue: bool
    light: Light
    note: ReportFact | None = None

    @property
    def finished(self) -> bool:
        """Reported done (or n/a) and not returned: no more reminders."""
        return self.phase in FINISHED_PHASES


def light_of(phase: Phase, overdue: bool, left: int | None) -> Light:
    """The light of a unit: see :data:`LEGEND`.

    Args:
        phase: its phase.
        overdue: whether its cutoff has passed (and it is not reported done).
        left: days left after today (None: no cutoff).
    """
    if phase is Phase.CLOSED:
        return Light.CLOSED
    if phase is Phase.CONFIRMED:
        return Light.CONFIRMED
    if phase is Phase.REPORTED_DONE:
        return Light.AWAITING_REVIEW
    if phase is Phase.BLOCKED or overdue:
        return Light.LATE
    if phase in (Phase.IN_PROGRESS, Phase.RETURNED):
        return Light.DUE_SOON
    if left is not None and left < DUE_SOON_DAYS:
        return Light.DUE_SOON
    return Light.NO_REPORT


def _phase_of(report: ReportFact | None, review: ReviewFact | None) -> Phase:
    if report is None:
        return Phase.NO_REPORT
    if report.status in FINISHED:
        if review is None:
            return Phase.REPORTED_DONE
        return (Phase.CONFIRMED if review.decision == ReviewDecision.CONFIRMED
                else Phase.RETURNED)
    return Phase.BLOCKED if report.status == "blocked" else Phase.IN_PROGRESS


def unit_state(timetable: Timetable, task: Task, unit_id: str, facts: CycleFacts,
               today: dt.date) -> UnitState:
    """The state of one unit on ``task`` in ``facts.cycle``.

    Args:
        timetable: the timetable.
        task: the task.
        unit_id: a concrete unit with a duty on the task.
        facts: what was appended about the cycle.
        today: the current day in the office's time zone.

    Raises:
        KeyError: the unit has no duty on the task.
    """
    duty = next((a for a in timetable.responsible_units(task) if a.unit_id == unit_id), None)
    if duty is None:
        raise KeyError(f"unit {unit_id!r} has no duty on task {task.id}")
    return _unit_state(task, unit_id, duty.role, unit_id in deliverers(timetable, task), facts,
                       today, cycle_cutoff(timetable, task, facts.cycle),
                       is_closed(task, facts.cycle))


def _unit_state(task: Task, unit_id: str, role: Role, delivers: bool, facts: CycleFacts,
                today: dt.date, planned: dt.date | None, closed: bool) -> UnitState:
    """``planned``: the task's cutoff in the cycle; ``closed``: whether the task is closed in it
    (the same for all of a task's units: computed once per task)."""
    pair = (task.id, unit_id)
    report = facts.reports.get(pair)
    review = facts.review_of(report)
    requests = facts.extensions.get(pair, ())
    extension = approved_extension(requests)
    cutoff = extended_cutoff(extension) if extension is not None and planned else planned
    phase = Phase.CLOSED if closed else _phase_of(report, review)
    left = days_left(cutoff, today) if cutoff is not None else None
    overdue = (cutoff is not None and today >= cutoff
               and phase not in (*FINISHED_PHASES, Phase.CLOSED))
    return UnitState(task.id, unit_id, facts.cycle, role, delivers, phase, report, review,
                     cutoff, planned, extension, pending_extension(requests),
                     facts.acknowledgements.get(pair), left, overdue,
                     light_of(phase, overdue, left), facts.notes.get(pair))


# -- the consolidated state of a task ----------------------------------------------------------
@dataclass(frozen=True)
class TaskView:
    """A task in a cycle: its consolidated state and every unit's part (:func:`task_view`).

    Attributes:
        task_id: the task.
        cycle: the cycle year.
        phase: the consolidated phase, from the delivering units.
        light: the consolidated light.
        cutoff: the timetable's cutoff (a unit's own may be later: :attr:`UnitState.cutoff`).
        days_left: days left before that cutoff.
        units: every responsible unit's state, in the timetable's order.
    """

    task_id: int
    cycle: int
    phase: Phase
    light: Light
    cutoff: dt.date | None
    days_left: int | None
    units: tuple[UnitState, ...]

    @property
    def consolidated(self) -> tuple[UnitState, ...]:
        """The delivering units: the lead units, or the joint units of a task without a lead."""
        return tuple(u for u in self.units if u.delivers)

    @property
    def inputs(self) -> tuple[UnitState, ...]:
        """The other units' parts (cooperating units)."""
        return tuple(u for u in self.units if not u.delivers)

    @property
    def overdue(self) -> bool:
        """Some delivering unit is past its cutoff and not reported done."""
        return any(u.overdue for u in self.consolidated)

    @property
    def extended(self) -> tuple[UnitState, ...]:
        """The delivering units whose cutoff an approved extension moved."""
        return tuple(u for u in self.consolidated if u.extension is not None)

    @property
    def awaiting_review(self) -> tuple[UnitState, ...]:
        """The delivering units whose report of done waits for a leader (a cooperating
        unit's input is passed to the lead unit, not reviewed: it is not the task's status)."""
        return tuple(u for u in self.consolidated if u.phase is Phase.REPORTED_DONE)

    def unit(self, unit_id: str) -> UnitState:
        """One unit's state; KeyError if it has no duty on the task."""
        for state in self.units:
            if state.unit_id == unit_id:
                return state
        raise KeyError(unit_id)


def consolidated_phase(parts: Sequence[UnitState]) -> Phase:
    """A task's phase from its delivering units' phases.

    Confirmed when every one is confirmed; reported done when every one is reported done or
    confirmed; otherwise blocked, returned, in progress (someone reported) or no report, in
    that order.
    """
    phases = [p.phase for p in parts]
    if not phases:
        return Phase.NO_REPORT
    if Phase.CLOSED in phases:
        return Phase.CLOSED
    if all(p is Phase.CONFIRMED for p in phases):
        return Phase.CONFIRMED
    if all(p in FINISHED_PHASES for p in phases):
        return Phase.REPORTED_DONE
    for phase in (Phase.BLOCKED, Phase.RETURNED):
        if phase in phases:
            return phase
    if any(p is not Phase.NO_REPORT for p in phases):
        return Phase.IN_PROGRESS
    return Phase.NO_REPORT


def consolidated_light(lights: Collection[Light]) -> Light:
    """A task's light from its delivering units' lights.

    🟢 when all are 🟢; 🔵 when all are 🟢 or 🔵; 🔴 when any is 🔴; ⚪ when all are ⚪;
    otherwise 🟡 (work under way, not done). ⚫ when the task is closed.
    """
    if not lights:
        return Light.NO_REPORT
    if Light.CLOSED in lights:
        return Light.CLOSED
    if all(light is Light.CONFIRMED for light in lights):
        return Light.CONFIRMED
    if all(light in (Light.CONFIRMED, Light.AWAITING_REVIEW) for light in lights):
        return Light.AWAITING_REVIEW
    if Light.LATE in lights:
        return Light.LATE
    if all(light is Light.NO_REPORT for light in lights):
        return Light.NO_REPORT
    return Light.DUE_SOON


def task_view(timetable: Timetable, task: Task, facts: CycleFacts, today: dt.date) -> TaskView:
    """The consolidated state of ``task`` in ``facts.cycle`` and each unit's part.

    Args:
        timetable: the timetable.
        task: the task.
        facts: what was appended about the cycle.
        today: the current day in the office's time zone.
    """
    delivering = set(deliverers(timetable, task))
    planned, closed = cycle_cutoff(timetable, task, facts.cycle), is_closed(task, facts.cycle)
    units = tuple(_unit_state(task, a.unit_id, a.role, a.unit_id in delivering, facts, today,
                              planned, closed)
                  for a in timetable.responsible_units(task))
    return _consolidated(task, facts.cycle, units, planned, today)


def _consolidated(task: Task, cycle: int, units: tuple[UnitState, ...], planned: dt.date | None,
                  today: dt.date) -> TaskView:
    """The task's view from its units' states (``planned``: the task's cutoff in the cycle)."""
    parts = [u for u in units if u.delivers] or list(units)
    cutoff = task_cutoff(parts) or planned
    return TaskView(task.id, cycle, consolidated_phase(parts),
                    consolidated_light([u.light for u in parts]), cutoff,
                    days_left(cutoff, today) if cutoff is not None else None, units)


def updated_view(timetable: Timetable, view: TaskView, facts: CycleFacts, today: dt.date,
                 units: Collection[str]) -> TaskView:
    """``view`` (of the same task, cycle and day, computed from older facts) with the states of
    ``units`` computed again from ``facts``, and the task's consolidated state: equal to
    :func:`task_view` of ``facts`` when only those units' facts changed. A unit without a duty
    on the task is ignored.

    Costs the changed units' states, not the task's 1,000 (a cycle's kept views after one new
    report: storage's ``Store.cycle_facts``).
    """
    task = timetable.task(view.task_id)
    planned, closed = cycle_cutoff(timetable, task, facts.cycle), is_closed(task, facts.cycle)
    wanted = set(units)
    states = tuple(_unit_state(task, s.unit_id, s.role, s.delivers, facts, today, planned, closed)
                   if s.unit_id in wanted else s for s in view.units)
    return _consolidated(task, facts.cycle, states, planned, today)


def task_cutoff(parts: Sequence[UnitState]) -> dt.date | None:
    """The cutoff a task is shown with: that of a delivering unit already late, else the
    nearest one still ahead of an unfinished delivering unit (an approved extension moves it),
    else None (then the timetable's)."""
    late = [u.cutoff for u in parts if u.overdue and u.cutoff is not None]
    if late:
        return min(late)
    ahead = [u.cutoff for u in parts if not u.finished and u.cutoff is not None]
    return min(ahead) if ahead else None


def cycle_views(timetable: Timetable, facts: CycleFacts, today: dt.date) -> list[TaskView]:
    """Every task's view in ``facts.cycle``, in the timetable's order.

    Computed once per facts, timetable and day: kept on ``facts`` (:class:`CycleFacts`).
    """
    kept = facts.views.get(today)
    if kept is not None and kept[0] is timetable:
        return list(kept[1])
    views = tuple(task_view(timetable, task, facts, today) for task in timetable.tasks)
    if len(facts.views) >= _KEPT_VIEWS:
        facts.views.clear()
    facts.views[today] = (timetable, views)
    return list(views)


_KEPT_VIEWS = 3
"""Days of views kept on one facts object (a day's views are all a process needs)."""


def carry_views(older: CycleFacts, newer: CycleFacts, changed: Collection[Pair]) -> None:
    """Keep on ``newer`` the views :func:`cycle_views` kept on ``older`` (each day's, of the
    timetable they were computed with), with the states of the ``changed`` pairs computed again
    (:func:`updated_view`).

    ``newer`` must differ from ``older`` only in the facts of ``changed`` pairs (storage reads
    what changed since its kept copy and says which pairs): the views are then equal to those
    computed afresh, at the cost of the changed pairs' states, not the cycle's 26,000.
    """
    by_task: dict[int, set[str]] = {}
    for task_id, unit_id in changed:
        by_task.setdefault(task_id, set()).add(unit_id)
    for today, (timetable, views) in list(older.views.items()):
        newer.views[today] = (timetable, tuple(
            updated_view(timetable, view, newer, today, by_task[view.task_id])
            if view.task_id in by_task else view for view in views))


def finished_pairs(timetable: Timetable, facts: CycleFacts) -> set[Pair]:
    """(task, unit) whose unit is reported done or confirmed: their reminders stop.

    A report of done that a leader returned does not count: the unit is reminded again.
    """
    finished: set[Pair] = set()
    for pair, report in facts.reports.items():
        if report.status in FINISHED:
            review = facts.review_of(report)
            if review is None or review.decision == ReviewDecision.CONFIRMED:
                finished.add(pair)
    return finished


def acknowledged_pairs(facts: CycleFacts) -> set[Pair]:
    """(task, unit) that need no acknowledgement reminder: someone serving the unit pressed 收到,
    or the unit has reported on the task (a report is a receipt too)."""
    return set(facts.acknowledgements) | set(facts.reports)


# -- who may do what -----------------------------------------------------------------------
class Actor(StrEnum):
    """Who acts, as the rules see them (a person may be several)."""

    CONTACT = "contact"  # serves a unit with a duty on the task
    LEAD_CONTACT = "lead_contact"  # serves a delivering unit: files the consolidated status
    LEADER = "leader"
    ADMIN = "admin"


class Action(StrEnum):
    """The workflow's actions."""

    REPORT = "report"  # a contact's status; a lead contact's is the consolidated status
    FILE_CONSOLIDATED = "file_consolidated"
    ACKNOWLEDGE = "acknowledge"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    REVIEW = "review"
    URGE = "urge"


PERMITTED: dict[Action, frozenset[Actor]] = {
    Action.REPORT: frozenset({Actor.CONTACT, Actor.LEAD_CONTACT}),
    Action.FILE_CONSOLIDATED: frozenset({Actor.LEAD_CONTACT}),
    Action.ACKNOWLEDGE: frozenset({Actor.CONTACT, Actor.LEAD_CONTACT}),
    Action.REQUEST_EXTENSION: frozenset({Actor.CONTACT, Actor.LEAD_CONTACT}),
    Action.DECIDE_EXTENSION: frozenset({Actor.LEADER, Actor.ADMIN}),
    Action.REVIEW: frozenset({Actor.LEADER, Actor.ADMIN}),
    Action.URGE: frozenset({Actor.LEADER, Actor.ADMIN}),
}
"""Who may do each action (the state checks below come on top)."""


def actors(role: str | None, duties: Iterable[UnitState | Role] = (),
           delivers: bool = False) -> frozenset[Actor]:
    """What a person is for the rules: from their enrolled role and their units' duties.

    Args:
        role: ``contact``, ``leader``, ``admin`` or None.
        duties: the duties on the task of the units they serve (states or roles).
        delivers: whether one of those units delivers the task (lead, or joint without lead).
    """
    found: set[Actor] = set()
    if role in ("leader", "admin"):
        found.add(Actor.LEADER)
    if role == "admin":
        found.add(Actor.ADMIN)
    duties = list(duties)
    if duties:
        found.add(Actor.CONTACT)
        if delivers or any(isinstance(d, UnitState) and d.delivers for d in duties):
            found.add(Actor.LEAD_CONTACT)
    return frozenset(found)


def may(action: Action, who: Collection[Actor]) -> bool:
    """Whether someone who is ``who`` may do ``action`` at all."""
    return bool(PERMITTED[action] & set(who))


# Why an action is refused in the state the unit is in (message ids; format with ``number``,
# ``unit``, ``date``, ``year``).
CLOSED_TASK = N_("Task {number} had a once-only deadline and is closed.")
ALREADY_CONFIRMED = N_("Task {number} was confirmed done for {unit}: it is closed for {year}.")
NO_CUTOFF = N_("Task {number} has no cutoff: it is judged on statistics bureau data.")
ALREADY_DONE = N_("Task {number} is already reported done for {unit}.")
EXTENSION_PENDING = N_("An extension of task {number} for {unit} is already waiting for a "
                       "decision.")
NOT_LATER = N_("The new due date must be after the current one, {date}.")
NOT_THIS_CYCLE = N_("The new due date must be no later than the end of {year}.")
PAST_DATE = N_("The new due date {date} has already passed.")
NOTHING_TO_REVIEW = N_("There is nothing to review on task {number} for {unit}: its latest "
                       "report is not a report of done awaiting review.")
STALE_REVIEW = N_("A newer report on task {number} from {unit} has come in: review that one.")
NOTHING_TO_URGE = N_("Task {number} is already finished for {unit}: there is nothing to urge.")
NOT_PENDING = N_("This extension request has already been decided.")


def report_refusal(state: UnitState) -> str | None:
    """Why a unit may not report on the task now (closed or confirmed), or None."""
    if state.phase is Phase.CLOSED:
        return CLOSED_TASK
    if state.phase is Phase.CONFIRMED:
        return ALREADY_CONFIRMED
    return None


def extension_refusal(state: UnitState, due_date: dt.date, today: dt.date) -> str | None:
    """Why a unit may not ask to move its due date to ``due_date``, or None.

    There must be a cutoff, the unit must not be reported done, no other request may be
    waiting, and the date must be today or later, later than the current due date, and no later
    than the end of the year after the cycle's (a December cutoff may move into January).
    """
    if state.phase is Phase.CLOSED:
        return CLOSED_TASK
    if state.cutoff is None:
        return NO_CUTOFF
    if state.finished:
        return ALREADY_DONE
    if state.pending is not None:
        return EXTENSION_PENDING
    if due_date < today:
        return PAST_DATE
    if due_date < state.cutoff:  # the current due date is the day before the cutoff
        return NOT_LATER
    if due_date.year > state.cycle + 1:
        return NOT_THIS_CYCLE
    return None


def finished_run(history: Sequence[ReportFact]) -> list[ReportFact]:
    """The reports since the unit last reported done: the trailing run of done (or n/a)
    reports, oldest first (empty when the latest report is not done).

    A note after a report of done is a new report of done in the same run: a leader shown the
    first may still review; a report that is not done ends the run, and a report of done after
    it starts a new one that must be reviewed from its own request.
    """
    run: list[ReportFact] = []
    for report in reversed(history):
        if report.status not in FINISHED:
            break
        run.insert(0, report)
    return run


def review_refusal(state: UnitState, report_id: int) -> str | None:
    """Why a leader may not review report ``report_id`` of the unit now, or None."""
    if state.report is None or state.report.id != report_id:
        return STALE_REVIEW if state.report is not None else NOTHING_TO_REVIEW
    if state.phase is not Phase.REPORTED_DONE:
        return NOTHING_TO_REVIEW
    return None


def urge_refusal(state: UnitState) -> str | None:
    """Why a leader may not urge the unit on the task, or None (once a day is storage's)."""
    if state.phase is Phase.CLOSED:
        return CLOSED_TASK
    if state.finished:
        return NOTHING_TO_URGE
    return None


def extension_decision_refusal(extension: ExtensionFact) -> str | None:
    """Why a leader may not decide this extension request now (it was decided), or None."""
    return None if extension.state == ExtensionState.PENDING else NOT_PENDING
