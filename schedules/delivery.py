"""Reminder delivery rules: who gets which planned reminder, and what a dispatch run sends.

Pure functions (no Telegram, no SQL). :func:`delivery_specs` turns the plan
(:func:`schedules.planning.plan_reminders`) and the people enrolled into one durable delivery per
recipient chat, keyed by (task, unit, cycle, kind, offset, cutoff, chat); :func:`decide` is the
catch-up rule applied to the deliveries due at a dispatch run: which to send, which to skip and
why. The bot's dispatcher (``bot/reminders.py``) stores and sends; the rules, in a table, are in
docs/reminders.md.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from schedules.planning import PlannedReminder, ReminderKind
from schedules.text import N_

DIGEST_TASK_ID = 0
"""``task_id`` of a digest, which is about no single task."""
DIGEST_UNIT_ID = ""
"""``unit_id`` of a digest, which is about no single unit."""
_KINDS = tuple(kind.value for kind in ReminderKind)
DeliveryKey = tuple[int, str, int, str, int, dt.date, int]
"""(task, unit, cycle, kind, offset_days, cutoff, chat): one delivery."""
_BEFORE_CUTOFF = (ReminderKind.BEFORE.value, ReminderKind.ACKNOWLEDGE.value)
"""Kinds of reminder that make sense only before the cutoff."""

NO_CONTACT_CHAT = 0
STALE_AFTER = dt.timedelta(days=3)
"""Overdue notices and digests missed by more than this are dropped, not sent late."""
PLANNED_LATE_AFTER = dt.timedelta(hours=2)
"""A row created this long after its due time was never missed: it is skipped, not sent."""
RETRY_BACKOFF = dt.timedelta(minutes=1)
"""Wait after the first transient failure; doubled after each further one."""

# Why a due row is not sent (``Decision.reason``; stored as the row's ``reason``).
DROPPED = N_("no longer in the timetable")
NOT_ENROLLED = N_("recipient no longer enrolled")
NOT_RECIPIENT = N_("no longer a recipient")
CONTACT_SINCE = N_("a contact has enrolled since")
REPORTED_DONE = N_("unit reported done")
ACKNOWLEDGED = N_("unit acknowledged the task")
PLANNED_LATE = N_("planned after its time")
CUTOFF_PASSED = N_("missed: the cutoff has passed")
STALE = N_("stale: missed while the bot was down")
SUPERSEDED = N_("superseded by a later reminder")
NO_CONTACT = N_("no enrolled contact")
NO_LEADERSHIP = N_("no leadership chat or leader")
BACKING_OFF = N_("waiting to retry")


@dataclass(frozen=True)
class ReminderSpec:
    """One delivery the planner wants: a reminder (or digest) to one chat.

    :func:`delivery_specs` builds these from the plan and the recipients; storage keeps one row
    per spec (``Store.plan_deliveries``). A digest has ``task_id`` :data:`DIGEST_TASK_ID` (0) and
    ``unit_id`` :data:`DIGEST_UNIT_ID` (``""``).

    Raises:
        ValueError: unknown kind, naive ``due_at``, negative offset, or a digest that names a task
            or unit (or a reminder that does not).
    """

    task_id: int
    unit_id: str
    cycle: int
    kind: str
    offset_days: int
    chat_id: int
    due_at: dt.datetime
    cutoff: dt.date

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown reminder kind {self.kind!r} (one of {_KINDS})")
        if self.due_at.tzinfo is None or self.due_at.utcoffset() is None:
            raise ValueError(f"due_at is naive ({self.due_at!r}): give an aware datetime")
        if self.offset_days < 0:
            raise ValueError(f"offset_days must not be negative, not {self.offset_days}")
        is_digest = self.kind == "digest"
        names_nothing = self.task_id == DIGEST_TASK_ID and self.unit_id == DIGEST_UNIT_ID
        if is_digest != names_nothing:
            raise ValueError("a digest has task_id 0 and unit_id '', and only a digest does")

    @property
    def key(self) -> DeliveryKey:
        """What makes the delivery unique: (task, unit, cycle, kind, offset_days, cutoff, chat).

        The cutoff is part of it: when an extension (延期) moves a unit's cutoff after some of
        its reminders went out, the reminders about the new cutoff are new deliveries.
        """
        return (self.task_id, self.unit_id, self.cycle, self.kind, self.offset_days,
                self.cutoff, self.chat_id)


class DeliveryRow(Protocol):
    """What the dispatcher needs of a stored reminder row."""

    id: int
    task_id: int
    unit_id: str
    cycle: int
    kind: str
    offset_days: int
    chat_id: int
    due_at: dt.datetime
    cutoff: dt.date
    attempts: int
    created_at: dt.datetime | None


@dataclass(frozen=True)
class Decision:
    """What to do with one due row: send it, skip it (and why), or leave it for a later run."""

    row: Any
    send: bool
    reason: str = ""
    wait: bool = False


def delivery_specs(plan: Iterable[PlannedReminder], contacts: Mapping[str, Sequence[int]],
                   leadership: Sequence[int]) -> list[ReminderSpec]:
    """One row per recipient chat for each planned reminder.

    Args:
        plan: the cycle's planned reminders.
        contacts: unit id -> Telegram ids of its active contacts.
        leadership: chat ids that receive digests (bound group chats, or leaders' own chats).

    Returns:
        The rows to plan; a reminder nobody can receive gets one row for chat 0.
    """
    specs: list[ReminderSpec] = []
    for r in plan:
        if r.kind is ReminderKind.DIGEST:
            chats: Sequence[int] = leadership or (NO_CONTACT_CHAT,)
        else:
            chats = contacts.get(r.unit_id or "", ()) or (NO_CONTACT_CHAT,)
        for chat in dict.fromkeys(chats):  # once per chat, in order
            specs.append(ReminderSpec(task_id=r.task_id or 0, unit_id=r.unit_id or "",
                                      cycle=r.cycle, kind=r.kind.value,
                                      offset_days=r.offset_days, chat_id=chat, due_at=r.at,
                                      cutoff=r.cutoff))
    return specs


PLAN_BATCH = 2000
"""About how many deliveries :func:`delivery_batches` puts in one batch."""


def delivery_batches(plan: Iterable[PlannedReminder], contacts: Mapping[str, Sequence[int]],
                     leadership: Sequence[int], limit: int = PLAN_BATCH
                     ) -> Iterator[list[ReminderSpec]]:
    """:func:`delivery_specs` in batches, so that a large cycle is planned in small pieces.

    A batch holds the deliveries of whole (task, unit) pairs, at most about ``limit`` of them
    (a pair with more is a batch of its own); digests first, then by task and unit. Within a
    pair the plan's order is kept: deliveries due at the same instant come in the same order
    as from :func:`delivery_specs` (the plan orders an instant's reminders by task and unit),
    so rows stored batch by batch get their ids in the same order among them.

    Args:
        plan: the cycle's planned reminders.
        contacts: unit id -> Telegram ids of its active contacts.
        leadership: chat ids that receive digests.
        limit: about how many deliveries a batch holds.

    Yields:
        Lists of specs; together, those :func:`delivery_specs` returns.
    """
    pairs: dict[tuple[int, str], list[PlannedReminder]] = defaultdict(list)
    for reminder in plan:
        pairs[(reminder.task_id or 0, reminder.unit_id or "")].append(reminder)
    batch: list[ReminderSpec] = []
    for pair in sorted(pairs):
        specs = delivery_specs(pairs[pair], contacts, leadership)
        if batch and len(batch) + len(specs) > limit:
            yield batch
            batch = []
        batch.extend(specs)
    if batch:
        yield batch


class PlannedDeliveries:
    """The deliveries plans ask for, given the recipients, as :func:`decide` takes them.

    Answers whether a delivery key (:func:`delivery_key`) is wanted without listing every key:
    a cycle of 2,000 contacts has some 45,000 deliveries, but only a few thousand planned
    reminders. The keys are exactly those of :func:`delivery_specs` (plan, contacts,
    leadership).

    Args:
        plan: planned reminders (of one or several cycles).
        contacts: unit id -> Telegram ids of its active contacts.
        leadership: chat ids that receive digests.
    """

    def __init__(self, plan: Iterable[PlannedReminder], contacts: Mapping[str, Sequence[int]],
                 leadership: Sequence[int]) -> None:
        nobody = frozenset((NO_CONTACT_CHAT,))
        digest_chats = frozenset(leadership) or nobody
        unit_chats = {unit: frozenset(chats) or nobody for unit, chats in contacts.items()}
        self._chats: dict[tuple[int, str, int, str, int, dt.date], frozenset[int]] = {}
        for r in plan:
            chats = (digest_chats if r.kind is ReminderKind.DIGEST
                     else unit_chats.get(r.unit_id or "", nobody))
            key = (r.task_id or 0, r.unit_id or "", r.cycle, r.kind.value, r.offset_days,
                   r.cutoff)
            self._chats[key] = self._chats.get(key, frozenset()) | chats

    @property
    def plan_keys(self) -> Collection[tuple[int, str, int, str, int, dt.date]]:
        """The :func:`plan_key` of every planned delivery."""
        return self._chats.keys()

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` (a :data:`DeliveryKey`) is one of the deliveries."""
        if not isinstance(key, tuple) or len(key) != 7:
            return False
        chats = self._chats.get(key[:6])
        return chats is not None and key[6] in chats


def plan_key(row: Any) -> tuple[int, str, int, str, int, dt.date]:
    """The part of a delivery's key that the timetable decides: ``PlannedReminder.key`` and the
    cutoff the reminder is about."""
    return (row.task_id, row.unit_id, row.cycle, row.kind, row.offset_days, row.cutoff)


def delivery_key(row: Any) -> DeliveryKey:
    """A delivery's whole key: the plan's part and the chat (``ReminderSpec.key``)."""
    return (*plan_key(row), row.chat_id)


def _catch_up_group(row: Any) -> tuple[object, ...]:
    """Rows of one group stand for each other: only the newest due one is sent."""
    if row.kind == ReminderKind.DIGEST.value:
        return (row.kind, row.cycle, row.chat_id)
    return (row.kind, row.task_id, row.unit_id, row.cycle, row.chat_id)


def decide(rows: Sequence[Any], now: dt.datetime, finished: Collection[tuple[int, str, int]],
           wanted: Collection[DeliveryKey] | PlannedDeliveries | None = None,
           inactive: Collection[int] = frozenset(),
           retry_at: Mapping[int, dt.datetime] | None = None,
           acknowledged: Collection[tuple[int, str, int]] = frozenset()) -> list[Decision]:
    """Decide for each due row whether to send it (pure; the rules of catch-up).

    A row is skipped when its reminder left the timetable, its recipient is no longer enrolled
    or no longer a recipient (a contact enrolled for a unit that had none), its unit reported
    done or not applicable (and no leader returned it), an acknowledgement reminder's unit has
    acknowledged the task, it was planned long after its time, a ``before`` or ``ack``
    reminder's cutoff has passed, or an overdue notice, acknowledgement reminder or digest is
    older than :data:`STALE_AFTER`. Of the rest
    only the newest of each group is sent (one per task, unit, kind and chat; one digest per
    chat); when that one is chat 0 it is skipped and reported instead, and when it is backing
    off after a transient error it waits.

    Args:
        rows: due rows, any order.
        now: the current instant, in the plan's time zone (its date is "today").
        finished: (task, unit, cycle) whose unit reported done or not applicable and was not
            returned (``schedules.workflow.finished_pairs``).
        wanted: the delivery keys (:func:`delivery_key`) the timetable and the enrolled people
            ask for now (a collection, or :class:`PlannedDeliveries`); None: all.
        inactive: chats of people who are no longer enrolled.
        retry_at: row id -> the earliest time to retry it after a transient error, for rows
            that do not carry it as ``not_before`` (the end of their back-off, kept in the
            row so that every instance waits for it).
        acknowledged: (task, unit, cycle) that someone serving the unit acknowledged (签收).

    Returns:
        One decision per row, in due order.
    """
    planned: Collection[tuple[object, ...]] | None
    if wanted is None:
        planned = None
    elif isinstance(wanted, PlannedDeliveries):
        planned = wanted.plan_keys
    else:
        planned = {key[:6] for key in wanted}
    retry_at = retry_at or {}
    verdicts: dict[int, Decision] = {}
    candidates: dict[tuple[object, ...], list[Any]] = defaultdict(list)
    for row in rows:
        reason = ""
        created = row.created_at
        if planned is not None and plan_key(row) not in planned:
            reason = DROPPED
        elif row.chat_id in inactive:
            reason = NOT_ENROLLED
        elif row.kind != ReminderKind.DIGEST.value and (
                row.task_id, row.unit_id, row.cycle) in finished:
            reason = REPORTED_DONE
        elif row.kind == ReminderKind.ACKNOWLEDGE.value and (
                row.task_id, row.unit_id, row.cycle) in acknowledged:
            reason = ACKNOWLEDGED
        elif wanted is not None and delivery_key(row) not in wanted:
            reason = CONTACT_SINCE if row.chat_id == NO_CONTACT_CHAT else NOT_RECIPIENT
        elif created is not None and created - row.due_at > PLANNED_LATE_AFTER:
            reason = PLANNED_LATE
        elif row.kind in _BEFORE_CUTOFF and now.date() >= row.cutoff:
            reason = CUTOFF_PASSED
        elif row.kind != ReminderKind.BEFORE.value and now - row.due_at > STALE_AFTER:
            reason = STALE
        if reason:
            verdicts[id(row)] = Decision(row, False, reason)
        else:
            candidates[_catch_up_group(row)].append(row)
    for group in candidates.values():
        # the newest; of two due at the same time, the one closer to the cutoff
        newest = max(group, key=lambda r: (r.due_at, -r.offset_days, r.id))
        for row in group:
            if row is not newest:
                verdicts[id(row)] = Decision(row, False, SUPERSEDED)
            elif row.chat_id == NO_CONTACT_CHAT:
                verdicts[id(row)] = Decision(
                    row, False, NO_LEADERSHIP if row.kind == ReminderKind.DIGEST.value
                    else NO_CONTACT)
            elif (until := retry_at.get(row.id, getattr(row, "not_before", None))) is not None \
                    and until > now:
                verdicts[id(row)] = Decision(row, False, BACKING_OFF, wait=True)
            else:
                verdicts[id(row)] = Decision(row, True)
    return [verdicts[id(row)] for row in sorted(rows, key=lambda r: (r.due_at, r.id))]


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait before the next try after ``attempts`` failed ones (1, 2, 4... min)."""
    return RETRY_BACKOFF * 2 ** max(attempts - 1, 0)


def recipients(people: Iterable[Any], memberships: Iterable[tuple[int, str]],
               leadership_chats: Sequence[int]) -> tuple[dict[str, list[int]], list[int]]:
    """Who receives what: unit id -> the people serving it, and the digest chats.

    Args:
        people: everyone enrolled (``telegram_user_id``, ``role``, ``active``, ``digests``).
        memberships: (Telegram user id, unit id) of every active membership; a person may serve
            several units.
        leadership_chats: the bound leadership group chats.

    Returns:
        The contacts of each unit (active people only, in membership order), and the chats that
        get the leadership digests: every bound group and every leader or admin who asked for
        them privately (``digests``); when that is nobody, every active leader and admin, so
        that a digest is never lost silently.
    """
    active = {p.telegram_user_id: p for p in people if p.active}
    contacts: dict[str, list[int]] = defaultdict(list)
    for telegram_user_id, unit_id in memberships:
        if telegram_user_id in active and telegram_user_id not in contacts[unit_id]:
            contacts[unit_id].append(telegram_user_id)
    leaders = [p for p in active.values() if p.role in ("leader", "admin")]
    leadership = list(leadership_chats) + [p.telegram_user_id for p in leaders if p.digests]
    if not leadership:
        leadership = [p.telegram_user_id for p in leaders]
    return dict(contacts), list(dict.fromkeys(leadership))
