"""Small builders of :class:`~schedules.model.Timetable` objects for the domain tests.

Built in code, not read from ``data/tasks.yaml``, so the tests do not depend on the loader or on
the seed. :func:`small_timetable` is a miniature of the real plan; the ``make_*`` helpers build
one-off variations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from schedules.model import (
    Deadline,
    DeadlineKind,
    PlanInfo,
    ReminderOverride,
    ReminderPolicy,
    Task,
    Timetable,
    Unit,
    UnitKind,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")

# task ids of small_timetable()
STATISTICS_TASK = 1  # none-statistics: judged on statistics bureau data, no reminders
ANNUAL_TASK = 7  # every year, lead fgw, cooperating sthj and gxj
ONCE_2020_TASK = 8  # only in 2020, lead gxj
TOWNS_TASK = 9  # every year, lead: the group of towns
JOINT_TASK = 10  # every year, jointly sthj and zjj, no lead


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """An aware instant in Asia/Shanghai."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def make_unit(unit_id: str, kind: UnitKind = UnitKind.BUREAU,
              members: Iterable[str] = (), name: str | None = None) -> Unit:
    """A unit; the names default to the id."""
    return Unit(id=unit_id, name=name or unit_id, name_en=unit_id, kind=kind,
                members=tuple(members))


def annual() -> Deadline:
    """每年12月前."""
    return Deadline(kind=DeadlineKind.ANNUAL, text="每年12月前")


def once(year: int) -> Deadline:
    """{year}年12月前."""
    return Deadline(kind=DeadlineKind.ONCE, year=year, text=f"{year}年12月前")


def statistics() -> Deadline:
    """No completion time: judged on statistics bureau data."""
    return Deadline(kind=DeadlineKind.STATISTICS)


def make_task(task_id: int, *, lead: Iterable[str] = (), joint: Iterable[str] = (),
              cooperating: Iterable[str] = (), deadline: Deadline | None = None,
              reminders: ReminderOverride | dict[str, Any] | None = None) -> Task:
    """A task with one item; ``reminders`` may be a dict of override fields."""
    if isinstance(reminders, dict):
        reminders = ReminderOverride.model_validate(reminders)
    return Task(id=task_id, title=f"task {task_id}", items=(f"item of task {task_id}",),
                lead_units=tuple(lead), joint_units=tuple(joint),
                cooperating_units=tuple(cooperating), deadline=deadline or annual(),
                reminders=reminders)


def default_units() -> tuple[Unit, ...]:
    """Four bureaus, two towns and the group 各镇政府 of those towns."""
    return (
        make_unit("fgw", name="市发改委"),
        make_unit("sthj", name="市生态环境局"),
        make_unit("gxj", name="市工信局"),
        make_unit("zjj", name="市住建局"),
        make_unit("town-a", UnitKind.TOWN, name="甲镇"),
        make_unit("town-b", UnitKind.TOWN, name="乙镇"),
        make_unit("towns", UnitKind.GROUP, members=("town-a", "town-b"), name="各镇政府"),
    )


def make_timetable(tasks: Iterable[Task], *, units: Iterable[Unit] | None = None,
                   reminders: ReminderPolicy | dict[str, Any] | None = None) -> Timetable:
    """A timetable of ``tasks`` over :func:`default_units` unless ``units`` is given."""
    if isinstance(reminders, dict):
        reminders = ReminderPolicy.model_validate(reminders)
    return Timetable(plan=PlanInfo(title="碳达峰实施方案 (test)"),
                     reminders=reminders or ReminderPolicy(),
                     units=tuple(units) if units is not None else default_units(),
                     tasks=tuple(tasks))


def small_timetable(reminders: ReminderPolicy | dict[str, Any] | None = None) -> Timetable:
    """One task of each sort the real plan has (ids in the module constants)."""
    return make_timetable(
        [
            make_task(STATISTICS_TASK, lead=("fgw",), deadline=statistics()),
            make_task(ANNUAL_TASK, lead=("fgw",), cooperating=("sthj", "gxj")),
            make_task(ONCE_2020_TASK, lead=("gxj",), deadline=once(2020)),
            make_task(TOWNS_TASK, lead=("towns",), cooperating=("zjj",)),
            make_task(JOINT_TASK, joint=("sthj", "zjj")),
        ],
        reminders=reminders,
    )
