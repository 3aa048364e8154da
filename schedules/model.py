"""The timetable's domain model: units, tasks, measures and reminder policy.

Pure pydantic models, validated from ``data/tasks.yaml`` by :mod:`schedules.loader`. Nothing here
knows about Telegram or SQL. Unit references inside tasks and measures are unit ids; groups (the
towns of 各镇政府, the member units of the leading group) are units of kind ``group`` whose
``members`` are expanded by :meth:`Timetable.responsible_units`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schedules.text import N_, TextError

UNIT_ID_PATTERN = r"^[a-z][a-z0-9-]*$"
SIMILAR_UNITS = 5
"""How many units a failed unit look-up names (:meth:`Timetable.similar_units`); the answer
says how many more matched."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitKind(StrEnum):
    """What sort of body a unit is."""

    BUREAU = "bureau"
    CENTRE = "centre"
    COMPANY = "company"
    TOWN = "town"
    GROUP = "group"


class Role(StrEnum):
    """A unit's part in a task or measure; the order is the strength of the duty."""

    LEAD = "lead"
    JOINT = "joint"
    COOPERATING = "cooperating"


class Unit(_Strict):
    """A responsible department, town, company, or a group of them."""

    id: Annotated[str, Field(pattern=UNIT_ID_PATTERN, max_length=48)]
    name: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    aliases: tuple[str, ...] = ()
    kind: UnitKind
    members: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _members_only_for_groups(self) -> Unit:
        if self.kind is UnitKind.GROUP and not self.members:
            raise TextError(N_("a unit of kind 'group' needs at least one member"))
        if self.kind is not UnitKind.GROUP and self.members:
            raise TextError(N_("only a unit of kind 'group' may have members, not '{kind}'"),
                            kind=self.kind.value)
        return self

    def spellings(self) -> tuple[str, ...]:
        """The id, the Chinese and English names and every alias: each resolves to this unit."""
        return (self.id, self.name, self.name_en, *self.aliases)


class DeadlineKind(StrEnum):
    """How a task's completion time recurs."""

    ANNUAL = "annual"  # 每年12月前: before the cutoff day of every year
    ONCE = "once"  # 2020年12月前: before the cutoff day of one year only
    STATISTICS = "none-statistics"  # blank: annual, judged on statistics bureau data


class MonthDay(_Strict):
    """A day of the year without the year, e.g. the cutoff 12-01."""

    month: Annotated[int, Field(ge=1, le=12)]
    day: Annotated[int, Field(ge=1, le=31)]

    @model_validator(mode="after")
    def _real_day(self) -> MonthDay:
        try:
            dt.date(2024, self.month, self.day)  # a leap year admits 02-29
        except ValueError as exc:
            raise TextError(N_("{day} is not a day of the year"),
                            day=f"{self.month:02d}-{self.day:02d}") from exc
        return self

    def in_year(self, year: int) -> dt.date:
        """This day in ``year`` (29 February falls back to the 28th in common years)."""
        try:
            return dt.date(year, self.month, self.day)
        except ValueError:
            return dt.date(year, self.month, self.day - 1)

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"


class ReminderPolicy(_Strict):
    """When reminders go out. Set globally in the YAML and overridden field by field per task.

    ``cutoff`` is the first day that is late: 每年12月前 (before December) is cutoff 12-01, so the
    work is due by 30 November. Reminders go ``offsets_days`` days before the cutoff at
    ``hour:minute`` in ``timezone``, moved back to the previous working day when needed.
    """

    offsets_days: tuple[Annotated[int, Field(ge=1, le=366)], ...] = (30, 14, 7, 3, 1)
    hour: Annotated[int, Field(ge=0, le=23)] = 9
    minute: Annotated[int, Field(ge=0, le=59)] = 0
    timezone: str = "Asia/Shanghai"
    cutoff: MonthDay = MonthDay(month=12, day=1)
    overdue: bool = True
    weekly_digest: bool = True
    digest_weekday: Annotated[int, Field(ge=0, le=6)] = 0  # Monday
    digest_days_before: Annotated[int, Field(ge=0, le=366)] = 30

    @field_validator("offsets_days")
    @classmethod
    def _distinct_offsets(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise TextError(N_("offsets_days lists the same offset twice"))
        return tuple(sorted(value, reverse=True))

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise TextError(N_("unknown time zone {value!r} (use an IANA name such as "
                               "'Asia/Shanghai')"), value=value) from exc
        return value


class ReminderOverride(_Strict):
    """Per-task changes to the global :class:`ReminderPolicy`; unset fields inherit."""

    offsets_days: tuple[Annotated[int, Field(ge=1, le=366)], ...] | None = None
    hour: Annotated[int, Field(ge=0, le=23)] | None = None
    minute: Annotated[int, Field(ge=0, le=59)] | None = None
    timezone: str | None = None
    cutoff: MonthDay | None = None
    overdue: bool | None = None


class Deadline(_Strict):
    """A task's completion time as the seed gives it."""

    kind: DeadlineKind
    year: int | None = None  # only for kind 'once'
    text: str = ""  # the seed's wording, e.g. 每年12月前; empty for statistics tasks

    @model_validator(mode="after")
    def _year_only_for_once(self) -> Deadline:
        if self.kind is DeadlineKind.ONCE and self.year is None:
            raise TextError(N_("a deadline of kind 'once' needs a year"))
        if self.kind is not DeadlineKind.ONCE and self.year is not None:
            raise TextError(N_("a deadline of kind '{kind}' takes no year"),
                            kind=self.kind.value)
        return self

    def applies_to(self, cycle: int) -> bool:
        """Whether this deadline falls in the cycle year ``cycle``."""
        if self.kind is DeadlineKind.ONCE:
            return self.year == cycle
        return True


class Task(_Strict):
    """One row of attachment 2 (目标任务时间表)."""

    id: Annotated[int, Field(ge=1)]
    title: Annotated[str, Field(min_length=1)]
    items: tuple[str, ...] = Field(min_length=1)
    lead_units: tuple[str, ...] = ()
    cooperating_units: tuple[str, ...] = ()
    joint_units: tuple[str, ...] = ()  # 按职责分工负责: jointly responsible, no lead
    responsibility_text: str = ""  # the seed's 牵头及配合部门 wording
    deadline: Deadline
    remark: str = ""
    reminders: ReminderOverride | None = None

    @model_validator(mode="after")
    def _someone_responsible(self) -> Task:
        if not self.lead_units and not self.joint_units:
            raise TextError(N_("task {id} has no responsible unit (give lead_units or "
                               "joint_units)"), id=self.id)
        return self

    def role_of(self, unit_id: str) -> Role | None:
        """The unit's own role as written (groups not expanded)."""
        for role, units in self.units_by_role():
            if unit_id in units:
                return role
        return None

    def units_by_role(self) -> tuple[tuple[Role, tuple[str, ...]], ...]:
        """(role, unit ids) from the strongest role to the weakest."""
        return ((Role.LEAD, self.lead_units), (Role.JOINT, self.joint_units),
                (Role.COOPERATING, self.cooperating_units))


class Measure(_Strict):
    """A numbered measure of the plan's body (sections 三-十) with its 〔lead; cooperating〕."""

    id: Annotated[str, Field(pattern=r"^\d+(\.\d+)?$")]  # "3.1" = section 三, measure (一)
    section: Annotated[str, Field(min_length=1)]  # e.g. 三、大力推进产业结构优化升级
    title: Annotated[str, Field(min_length=1)]
    lead_units: tuple[str, ...] = ()
    cooperating_units: tuple[str, ...] = ()
    joint_units: tuple[str, ...] = ()
    responsibility_text: str = ""

    @model_validator(mode="after")
    def _someone_responsible(self) -> Measure:
        if not self.lead_units and not self.joint_units:
            raise TextError(N_("measure {id} has no responsible unit"), id=self.id)
        return self


class PlanInfo(_Strict):
    """The source document."""

    title: str
    document_no: str = ""
    issued: dt.date | None = None
    city: str = ""
    goal: str = ""


class Assignment(_Strict):
    """A concrete unit's duty on a task after groups are expanded."""

    unit_id: str
    role: Role
    via_group: str | None = None  # the group id it came from, if any


class CalendarCorrections(_Strict):
    """The admin's corrections to the working-day calendar, in the timetable's ``calendar:``.

    For a year the ``chinesecalendar`` package does not know yet (it then counts Monday to
    Friday), or for a local day off: ``holidays`` are extra days off, ``workdays`` extra working
    days (调休), each as ``YYYY-MM-DD: reason``. They win over the package.
    """

    holidays: dict[dt.date, str] = {}
    workdays: dict[dt.date, str] = {}

    @model_validator(mode="after")
    def _not_both(self) -> CalendarCorrections:
        both = sorted(self.holidays.keys() & self.workdays.keys())
        if both:
            raise TextError(N_("{dates} listed both as holiday and as working day"),
                            dates=", ".join(d.isoformat() for d in both))
        return self

    def years(self) -> frozenset[int]:
        """The years these corrections speak of."""
        return frozenset(d.year for d in (*self.holidays, *self.workdays))


class Timetable(_Strict):
    """The whole validated file: plan, units, tasks, measures, reminder policy and calendar."""

    version: Literal[1] = 1
    plan: PlanInfo
    reminders: ReminderPolicy = ReminderPolicy()
    units: tuple[Unit, ...] = Field(min_length=1)
    tasks: tuple[Task, ...] = Field(min_length=1)
    measures: tuple[Measure, ...] = ()
    calendar: CalendarCorrections = CalendarCorrections()

    # -- look-ups ---------------------------------------------------------------------------
    _CACHES: ClassVar[tuple[str, ...]] = ("units_by_id", "tasks_by_id", "duties_by_task")

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Timetable:
        """A copy (see pydantic), without the look-up caches of this one."""
        copied = super().model_copy(update=update, deep=deep)
        for name in self._CACHES:
            copied.__dict__.pop(name, None)
        return copied

    @cached_property
    def units_by_id(self) -> dict[str, Unit]:
        """unit id -> unit (built once: the timetable is immutable)."""
        return {unit.id: unit for unit in self.units}

    @cached_property
    def tasks_by_id(self) -> dict[int, Task]:
        """task id -> task (built once)."""
        return {task.id: task for task in self.tasks}

    def unit(self, unit_id: str) -> Unit:
        """The unit with this id; KeyError if there is none."""
        return self.units_by_id[unit_id]

    def task(self, task_id: int) -> Task:
        """The task with this id; KeyError if there is none."""
        return self.tasks_by_id[task_id]

    def find_unit(self, reference: str) -> Unit | None:
        """Resolve a unit by id, Chinese name or alias (case- and space-insensitive)."""
        wanted = normalise_name(reference)
        for unit in self.units:
            if any(normalise_name(s) == wanted for s in unit.spellings()):
                return unit
        return None

    def similar_units(self, reference: str, limit: int | None = None) -> tuple[Unit, ...]:
        """The units a reference that resolves to none may have meant, best first: all of
        them (the caller shows :data:`SIMILAR_UNITS` and says how many more), or ``limit``.

        Three tiers, the first that finds any wins (spellings: id, names, aliases; case and
        spaces ignored):

        1. a spelling contains the reference or is contained in it (``生态`` -> 生态环境局,
           ``林业`` -> 林业局, ``ecology`` -> ecology-environment, ``镇`` -> every town);
        2. the reference's characters appear in a spelling in order, an abbreviation
           (``发改`` -> 发展改革局, ``农农`` -> 农业农村局);
        3. the spellings closest to it (difflib: a typing slip such as ``生态环镜局``).

        Within a tier, a group all of whose members match comes first (``镇`` -> 各镇政府,
        then the towns), then the closest in length.

        Args:
            reference: what was typed.
            limit: at most this many units (None: every match).
        """
        wanted = normalise_name(reference)
        if not wanted:
            return ()
        spellings = [(unit, spelling) for unit in self.units
                     for spelling in map(normalise_name, unit.spellings()) if spelling]
        for matches in (lambda s: wanted in s or s in wanted,
                        lambda s: _in_order(wanted, s)):
            found: dict[str, tuple[int, Unit]] = {}
            for unit, spelling in spellings:
                if matches(spelling):
                    rank = abs(len(spelling) - len(wanted))
                    if unit.id not in found or rank < found[unit.id][0]:
                        found[unit.id] = (rank, unit)
            if found:
                for unit in self.units:  # a group that stands for the matches goes first
                    if unit.kind is UnitKind.GROUP and unit.id in found and \
                            all(m in found for m in unit.members):
                        found[unit.id] = (-1, unit)
                ranked = tuple(u for _, u in sorted(found.values(), key=lambda r: r[0]))
                return ranked[:limit]
        owners = {spelling: unit for unit, spelling in spellings}
        close = difflib.get_close_matches(wanted, list(owners), n=SIMILAR_UNITS * 3,
                                          cutoff=0.6)
        return tuple(dict.fromkeys(owners[c] for c in close))[:limit]

    def policy_for(self, task: Task) -> ReminderPolicy:
        """The global reminder policy with the task's overrides applied."""
        if task.reminders is None:
            return self.reminders
        changes = task.reminders.model_dump(exclude_none=True)
        # validated, not model_copy(update=...): that would leave a cutoff override a plain dict
        return ReminderPolicy.model_validate({**self.reminders.model_dump(), **changes})

    def groups_of(self, unit_id: str) -> tuple[Unit, ...]:
        """The groups this unit is a member of."""
        return tuple(u for u in self.units if unit_id in u.members)

    # -- duties -----------------------------------------------------------------------------
    def responsible_units(self, task: Task) -> tuple[Assignment, ...]:
        """Every concrete unit with a duty on ``task``, groups expanded.

        A unit appears once, with its strongest role: the members of 领导小组 cooperating on a
        task that one of them leads are therefore "the other member units" (task 23). Computed
        once per task of this timetable (every summary asks it for every task).
        """
        known = self.duties_by_task.get(task.id)
        if known is not None and self.tasks_by_id.get(task.id) is task:
            return known
        duties = self._responsible_units(task)
        if self.tasks_by_id.get(task.id) is task:
            self.duties_by_task[task.id] = duties
        return duties

    @cached_property
    def duties_by_task(self) -> dict[int, tuple[Assignment, ...]]:
        """task id -> :meth:`responsible_units` of that task, filled as they are asked."""
        return {}

    def _responsible_units(self, task: Task) -> tuple[Assignment, ...]:
        seen: dict[str, Assignment] = {}
        for role, unit_ids in task.units_by_role():
            for unit_id in unit_ids:
                unit = self.unit(unit_id)
                if unit.kind is UnitKind.GROUP:
                    for member in unit.members:
                        seen.setdefault(member, Assignment(unit_id=member, role=role,
                                                           via_group=unit.id))
                else:
                    seen.setdefault(unit_id, Assignment(unit_id=unit_id, role=role))
        return tuple(seen.values())

    def tasks_for_unit(self, unit_id: str) -> tuple[tuple[Task, Assignment], ...]:
        """The tasks ``unit_id`` has a duty on, with that duty.

        A concrete unit gets its own tasks and those of every group it belongs to (the duty then
        names the group in ``via_group``). A group gets the tasks that name the group itself,
        with the role written there: 各镇政府 (``towns``) cooperates on tasks 3, 4, 6, 9, ...
        """
        if self.unit(unit_id).kind is UnitKind.GROUP:
            return tuple((task, Assignment(unit_id=unit_id, role=role))
                         for task in self.tasks
                         if (role := task.role_of(unit_id)) is not None)
        found = []
        for task in self.tasks:
            for assignment in self.responsible_units(task):
                if assignment.unit_id == unit_id:
                    found.append((task, assignment))
                    break
        return tuple(found)

    def measures_for_unit(self, unit_id: str) -> tuple[tuple[Measure, Role], ...]:
        """The body's measures ``unit_id`` has a duty on, groups expanded."""
        groups = {g.id for g in self.groups_of(unit_id)}
        found = []
        for measure in self.measures:
            for role, unit_ids in ((Role.LEAD, measure.lead_units),
                                   (Role.JOINT, measure.joint_units),
                                   (Role.COOPERATING, measure.cooperating_units)):
                if unit_id in unit_ids or groups & set(unit_ids):
                    found.append((measure, role))
                    break
        return tuple(found)


def _in_order(wanted: str, spelling: str) -> bool:
    """Whether ``wanted``'s characters (two or more) appear in ``spelling`` in order."""
    if len(wanted) < 2:
        return False
    rest = iter(spelling)
    return all(character in rest for character in wanted)


def normalise_name(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()
