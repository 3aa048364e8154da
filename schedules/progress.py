"""Status rules: from the latest report of each unit to the state of a task in a cycle.

A task's state in a cycle:

* ``closed``: a once-only deadline of another year (the 2020 tasks in 2026);
* ``done``: every unit that must deliver (the lead units, or the joint units when there is no
  lead) reported done (or not applicable);
* ``blocked``: some responsible unit's latest report is blocked;
* ``in_progress``: some unit reported, but not everything is done;
* ``no_reply``: nobody reported yet.

``overdue`` is set when the cutoff has passed and the task is not done. Statistics tasks (1-6)
have no cutoff: they are judged on statistics bureau data, so they are never overdue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from schedules.model import DeadlineKind, Role, Task, Timetable
from schedules.planning import cycle_cutoff, days_left
from schedules.status import Status, light


class ReportLike(Protocol):
    """What the status rules need of a stored report (read only)."""

    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> int | None: ...
    @property
    def reported_at(self) -> dt.datetime: ...


class TaskPhase(StrEnum):
    """The state of a whole task in a cycle, as the summary shows it."""

    CLOSED = "closed"
    DONE = "done"
    BLOCKED = "blocked"
    IN_PROGRESS = "in_progress"
    NO_REPLY = "no_reply"


FINISHED = frozenset({Status.DONE.value, Status.NOT_APPLICABLE.value})
_PHASE_STATUS = {TaskPhase.DONE: Status.DONE, TaskPhase.BLOCKED: Status.BLOCKED,
                 TaskPhase.IN_PROGRESS: Status.IN_PROGRESS}


@dataclass(frozen=True)
class TaskState:
    """A task's state in one cycle, computed by :func:`task_state`."""

    task_id: int
    phase: TaskPhase
    overdue: bool
    cutoff: dt.date | None
    days_left: int | None
    reported_units: tuple[str, ...] = ()
    silent_units: tuple[str, ...] = ()
    blocked_units: tuple[str, ...] = ()
    deliverers: tuple[str, ...] = field(default=())

    @property
    def light(self) -> str:
        """🟢 done, 🟡 in progress, 🔴 blocked or overdue, ⚪ no reply, ⚫ closed."""
        if self.phase is TaskPhase.CLOSED:
            return "⚫"
        return light(_PHASE_STATUS.get(self.phase), self.overdue)


def is_closed(task: Task, cycle: int) -> bool:
    """A once-only task whose year is not ``cycle``."""
    return task.deadline.kind is DeadlineKind.ONCE and task.deadline.year != cycle


def carried_progress(status: str, percent: int | None,
                     previous: ReportLike | None) -> int | None:
    """The percentage a new report stores: the one given, else the unit's last one.

    A button press or a note says nothing about the percentage, so it must not erase the one
    the unit gave before (docs/chat.md); a report of done or not applicable carries none over.
    """
    if percent is not None or previous is None or status in FINISHED:
        return percent
    return previous.progress


def cycle_is_open(timetable: Timetable, task: Task, cycle: int, latest_status: str | None,
                  reminded: bool, returned: bool = False) -> bool:
    """Whether the bot is still following a unit on ``task`` in ``cycle``.

    It is when the task had a cutoff that cycle and the unit's latest report then is neither
    done nor not applicable, or was returned (退回) by a leader: either way the unit still has
    to act; a unit that never reported counts only if it was reminded (a cycle from before the
    bot was deployed is not open). A ``/report`` without a year asks which year is meant while
    the previous cycle is open (docs/chat.md).

    Args:
        timetable: the timetable.
        task: the task.
        cycle: the cycle year.
        latest_status: the unit's latest status on the task in that cycle, or None.
        reminded: whether a reminder or overdue notice about it reached the unit that cycle.
        returned: whether a leader returned that latest report.
    """
    if cycle_cutoff(timetable, task, cycle) is None:
        return False
    if latest_status is None:
        return reminded
    return returned or latest_status not in FINISHED


def deliverers(timetable: Timetable, task: Task) -> tuple[str, ...]:
    """The concrete units whose "done" makes the task done: leads, or joint units."""
    assignments = timetable.responsible_units(task)
    leads = tuple(a.unit_id for a in assignments if a.role is Role.LEAD)
    if leads:
        return leads
    return tuple(a.unit_id for a in assignments if a.role is Role.JOINT)


def task_state(timetable: Timetable, task: Task, cycle: int,
               latest: Mapping[str, ReportLike], today: dt.date) -> TaskState:
    """The state of ``task`` in ``cycle`` given each unit's latest report.

    Args:
        timetable: the validated timetable.
        task: the task.
        cycle: the cycle year.
        latest: unit id -> that unit's latest report on this task in this cycle.
        today: the current day in the plan's time zone.

    Returns:
        The task's phase, whether it is overdue, its cutoff and days left, and who reported.
    """
    cutoff = cycle_cutoff(timetable, task, cycle)
    left = days_left(cutoff, today) if cutoff else None
    must = deliverers(timetable, task)
    if is_closed(task, cycle):
        return TaskState(task.id, TaskPhase.CLOSED, False, None, None, deliverers=must)
    units = [a.unit_id for a in timetable.responsible_units(task)]
    reported = tuple(u for u in units if u in latest)
    silent = tuple(u for u in units if u not in latest)
    blocked = tuple(u for u in reported if latest[u].status == "blocked")
    if must and all(u in latest and latest[u].status in FINISHED for u in must):
        phase = TaskPhase.DONE
    elif blocked:
        phase = TaskPhase.BLOCKED
    elif reported:
        phase = TaskPhase.IN_PROGRESS
    else:
        phase = TaskPhase.NO_REPLY
    overdue = cutoff is not None and today >= cutoff and phase is not TaskPhase.DONE
    return TaskState(task.id, phase, overdue, cutoff, left, reported, silent, blocked, must)
