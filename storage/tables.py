"""SQLModel table models: who may talk to the bot, what they reported, what the bot will send.

Everything a user did is appended: status reports and evidence are never updated, people are
deactivated rather than deleted, and every change writes an :class:`AuditEntry`. Vocabularies
(roles, states, sources) are plain strings in the database, checked by CHECK constraints; the
``StrEnum`` classes here name them for Python code, and any ``str`` with the same value works.

The schema is created by the Alembic migrations in :mod:`storage.migrations`, never by
``create_all`` in production; ``tests/storage/test_migrations.py`` checks that both agree.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel, col

from schedules.delivery import DIGEST_TASK_ID, DIGEST_UNIT_ID, DeliveryKey

__all__ = [
    "DIGEST_TASK_ID",
    "DIGEST_UNIT_ID",
    "EXTENSION_STATES",
    "REMINDER_KINDS",
    "REPORT_STATUSES",
    "REVIEW_DECISIONS",
    "AuditEntry",
    "Evidence",
    "EvidenceKind",
    "Extension",
    "FactsRevision",
    "Invite",
    "LeadershipChat",
    "Membership",
    "Person",
    "PersonRole",
    "Reminder",
    "ReminderState",
    "ReportSource",
    "Review",
    "StatusReport",
    "UTCDateTime",
    "Unit",
    "Urge",
    "metadata",
]

metadata = SQLModel.metadata
# Named constraints, so that later migrations (batch mode on SQLite) can refer to them. Set before
# any table is defined: names are given when a constraint joins its table.
metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The domain owns these vocabularies (schedules.status.Status, schedules.planning.ReminderKind);
# storage repeats the values instead of importing them so that it stays usable on its own.
REPORT_STATUSES: tuple[str, ...] = ("done", "in_progress", "blocked", "not_applicable")
REMINDER_KINDS: tuple[str, ...] = ("before", "overdue", "digest", "ack")
# schedules.workflow.ReviewDecision and ExtensionState
REVIEW_DECISIONS: tuple[str, ...] = ("confirmed", "returned")
EXTENSION_STATES: tuple[str, ...] = ("pending", "approved", "rejected")



class PersonRole(StrEnum):
    """What a person (or an invite) may do."""

    CONTACT = "contact"  # reports for the units of their memberships
    LEADER = "leader"  # reads summaries
    ADMIN = "admin"  # a leader who also manages people and invites


class ReminderState(StrEnum):
    """Where a planned delivery is: pending -> sending -> sent | failed | skipped."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by a dispatcher; left here only by a crash
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class ReportSource(StrEnum):
    """How a status report reached the bot."""

    BUTTON = "button"
    REPLY = "reply"
    COMMAND = "command"
    CLI = "cli"


class EvidenceKind(StrEnum):
    """What sort of Telegram file a piece of evidence is."""

    DOCUMENT = "document"
    PHOTO = "photo"


def _one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK expression that keeps ``column`` inside a vocabulary."""
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime, stored in UTC, read back aware in UTC on every backend.

    PostgreSQL keeps the instant in ``timestamp with time zone``; SQLite keeps text without an
    offset, so the value is written as naive UTC and given ``UTC`` again on the way out. Naive
    datetimes are refused: they would be read back as UTC whatever they meant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None,
                           dialect: Dialect) -> dt.datetime | None:
        """Convert to UTC (naive UTC for SQLite); refuse naive datetimes."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give a time-zone-aware datetime")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None,
                             dialect: Dialect) -> dt.datetime | None:
        """Give back an aware datetime in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite's: naive UTC
            # the same as value.replace(tzinfo=dt.UTC), ten times as fast (a year's export
            # reads 130,000 report times at 1,000 units)
            return _UTC_EPOCH + (value - _NAIVE_EPOCH)
        return value.astimezone(dt.UTC)


_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)


class Unit(SQLModel, table=True):
    """A responsible unit, mirrored from the timetable so that rows can refer to it."""

    __tablename__ = "unit"

    id: str = Field(primary_key=True, max_length=48)
    name: str
    kind: str


class Person(SQLModel, table=True):
    """Someone who enrolled with an invite: a contact, a leader or an admin.

    A contact reports for the units of their active :class:`Membership` rows (a clerk may serve
    two bureaus); a leader or admin may hold memberships too. ``digests`` is a leader's wish to
    get the leadership digests in their private chat as well as in the bound groups.
    ``facts_revision``: the facts' revision raised when the person was enrolled or renamed (the
    names the views show; :class:`FactsRevision`).
    """

    __tablename__ = "person"
    __table_args__ = (
        CheckConstraint(_one_of("role", PersonRole), name="ck_person_role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, unique=True)
    display_name: str
    language: str | None = Field(default=None, max_length=16)
    role: str = Field(max_length=16)
    active: bool = True
    digests: bool = False
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    deactivated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    deactivation_reason: str | None = Field(default=None, sa_type=Text)
    facts_revision: int = Field(default=0, sa_type=BigInteger, index=True,
                                sa_column_kwargs={"server_default": "0"})


class Membership(SQLModel, table=True):
    """A person serving a unit as its contact; ended, never deleted.

    One row per (person, unit): re-enrolling for a unit reactivates its row.
    """

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("telegram_user_id", "unit_id", name="uq_membership_person_unit"),
    )

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, foreign_key="person.telegram_user_id")
    unit_id: str = Field(foreign_key="unit.id", index=True, max_length=48)
    active: bool = True
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_reason: str | None = Field(default=None, sa_type=Text)


class Invite(SQLModel, table=True):
    """A one-time code for a Telegram deep link (``/start CODE``): enrols a person or binds a chat.

    ``used_in_chat_id`` is set when the invite bound a leadership group chat.
    """

    __tablename__ = "invite"
    __table_args__ = (
        CheckConstraint(_one_of("role", PersonRole), name="ck_invite_role"),
        CheckConstraint("(role = 'contact') = (unit_id IS NOT NULL)",
                        name="ck_invite_unit_for_contacts"),
        Index("ix_invite_created_by_at", "created_by", "created_at"),  # an admin's recent ones
    )

    code: str = Field(primary_key=True, max_length=64)
    unit_id: str | None = Field(default=None, foreign_key="unit.id", max_length=48)
    role: str = Field(max_length=16)
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    used_in_chat_id: int | None = Field(default=None, sa_type=BigInteger)


class LeadershipChat(SQLModel, table=True):
    """A Telegram group where the leadership receives digests and may ask for summaries.

    Bound by an enrolled, active leader acting in the group (``bound_by``); ``language`` is the
    group's language for digests (None: the default, Simplified Chinese).
    """

    __tablename__ = "leadership_chat"

    chat_id: int = Field(sa_type=BigInteger, primary_key=True,
                         sa_column_kwargs={"autoincrement": False})
    title: str
    bound_at: dt.datetime = Field(sa_type=UTCDateTime)
    bound_by: int | None = Field(default=None, sa_type=BigInteger)
    active: bool = True
    language: str | None = Field(default=None, max_length=16)


class StatusReport(SQLModel, table=True):
    """One status report of a unit on a task for a cycle (year). Never updated.

    ``facts_revision``: the facts' revision its transaction raised (:class:`FactsRevision`).
    """

    __tablename__ = "status_report"
    __table_args__ = (
        CheckConstraint(_one_of("status", REPORT_STATUSES), name="ck_status_report_status"),
        CheckConstraint("progress IS NULL OR (progress >= 0 AND progress <= 100)",
                        name="ck_status_report_progress"),
        CheckConstraint(_one_of("source", ReportSource), name="ck_status_report_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int
    unit_id: str = Field(foreign_key="unit.id", max_length=48)
    cycle: int
    status: str = Field(max_length=16)
    progress: int | None = None
    note: str = Field(default="", sa_type=Text)
    reporter_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    reported_at: dt.datetime = Field(sa_type=UTCDateTime)
    source: str = Field(max_length=16)
    source_message_id: int | None = Field(default=None, sa_type=BigInteger)
    facts_revision: int = Field(default=0, sa_type=BigInteger, index=True,
                                sa_column_kwargs={"server_default": "0"})


# The summary ranks each (task, unit)'s reports of a cycle newest first: read in index order.
Index("ix_status_report_latest", col(StatusReport.cycle), col(StatusReport.task_id),
      col(StatusReport.unit_id), col(StatusReport.reported_at).desc(), col(StatusReport.id).desc())


class Evidence(SQLModel, table=True):
    """A Telegram file attached to a status report (kept by Telegram; we keep its ids)."""

    __tablename__ = "evidence"
    __table_args__ = (
        CheckConstraint(_one_of("kind", EvidenceKind), name="ck_evidence_kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="status_report.id", index=True)
    file_id: str
    file_unique_id: str
    kind: str = Field(max_length=16)
    file_name: str | None = None
    added_by_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    added_at: dt.datetime = Field(sa_type=UTCDateTime)


class Reminder(SQLModel, table=True):
    """One planned delivery of a reminder to one chat; durable, so nothing is sent twice.

    A digest has ``task_id`` :data:`DIGEST_TASK_ID` and ``unit_id`` :data:`DIGEST_UNIT_ID` (which
    is why ``unit_id`` has no foreign key). ``claimed_at`` is when a dispatcher moved the row to
    ``sending``; ``claimed_by`` is that dispatcher instance and ``lease_until`` the end of its
    lease, by the database's clock (renewed while it sends; an expired lease returns the row to
    ``pending``). After a transient error ``not_before`` is the end of its back-off,
    ``pages_sent`` how many pages of its message Telegram accepted (of the text whose hash is
    ``pages_digest``) and ``unanswered`` how many
    sends Telegram did not answer in time (docs/reminders.md). ``facts_revision``: the facts'
    revision raised by the transaction that recorded its acknowledgement, written once (0 while
    unacknowledged; :class:`FactsRevision`).
    """

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("task_id", "unit_id", "cycle", "kind", "offset_days", "cutoff",
                         "chat_id", name="uq_reminder_delivery"),
        CheckConstraint(_one_of("kind", REMINDER_KINDS), name="ck_reminder_kind"),
        CheckConstraint(_one_of("state", ReminderState), name="ck_reminder_state"),
        Index("ix_reminder_state_due_at", "state", "due_at"),
        Index("ix_reminder_chat_message", "chat_id", "message_id"),
        Index("ix_reminder_cycle", "cycle"),
        Index("ix_reminder_state_lease", "state", "lease_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int
    unit_id: str = Field(max_length=48)
    cycle: int
    kind: str = Field(max_length=16)
    offset_days: int
    chat_id: int = Field(sa_type=BigInteger)
    due_at: dt.datetime = Field(sa_type=UTCDateTime)
    cutoff: dt.date
    state: str = Field(default=ReminderState.PENDING.value, max_length=16)
    reason: str = Field(default="", sa_type=Text)
    attempts: int = 0
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    claimed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=96)
    lease_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    not_before: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    pages_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    pages_digest: str | None = Field(default=None, max_length=64)
    unanswered: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    facts_revision: int = Field(default=0, sa_type=BigInteger, index=True,
                                sa_column_kwargs={"server_default": "0"})

    @property
    def key(self) -> DeliveryKey:
        """What makes the delivery unique: (task, unit, cycle, kind, offset_days, cutoff, chat)
        (``schedules.delivery.ReminderSpec.key``)."""
        return (self.task_id, self.unit_id, self.cycle, self.kind, self.offset_days,
                self.cutoff, self.chat_id)

    @property
    def is_digest(self) -> bool:
        """Whether this delivery is a digest rather than a reminder about one task and unit."""
        return self.kind == "digest"


class Review(SQLModel, table=True):
    """A leader's review of one report of done (审结 / 退回). Never updated.

    One per report: a unit's new report is reviewed afresh. ``returned`` carries the comment
    that goes back to the unit. ``facts_revision``: the facts' revision its transaction raised
    (:class:`FactsRevision`).
    """

    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("report_id", name="uq_review_report_id"),
        CheckConstraint(_one_of("decision", REVIEW_DECISIONS), name="ck_review_decision"),
        Index("ix_review_cycle_task_unit", "cycle", "task_id", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="status_report.id")
    task_id: int
    unit_id: str = Field(foreign_key="unit.id", max_length=48)
    cycle: int
    decision: str = Field(max_length=16)
    comment: str = Field(default="", sa_type=Text)
    reviewer_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    reviewed_at: dt.datetime = Field(sa_type=UTCDateTime)
    facts_revision: int = Field(default=0, sa_type=BigInteger, index=True,
                                sa_column_kwargs={"server_default": "0"})


class Extension(SQLModel, table=True):
    """A unit's request to move its due date on a task in a cycle (延期), and its decision.

    The request is never changed; the decision (``approved`` or ``rejected``, who, when, the
    comment) is written once, from ``pending``. ``facts_revision``: the facts' revision raised by
    the transaction that made the request, then by the one that decided it
    (:class:`FactsRevision`).
    """

    __tablename__ = "extension"
    __table_args__ = (
        CheckConstraint(_one_of("state", EXTENSION_STATES), name="ck_extension_state"),
        Index("ix_extension_cycle_task_unit", "cycle", "task_id", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int
    unit_id: str = Field(foreign_key="unit.id", max_length=48)
    cycle: int
    due_date: dt.date
    reason: str = Field(default="", sa_type=Text)
    requested_by: int | None = Field(default=None, sa_type=BigInteger)
    requested_at: dt.datetime = Field(sa_type=UTCDateTime)
    state: str = Field(default="pending", max_length=16)
    decided_by: int | None = Field(default=None, sa_type=BigInteger)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_comment: str = Field(default="", sa_type=Text)
    facts_revision: int = Field(default=0, sa_type=BigInteger, index=True,
                                sa_column_kwargs={"server_default": "0"})


class Urge(SQLModel, table=True):
    """A leader urged a unit on a task (催办): at most one per unit, task and office day."""

    __tablename__ = "urge"
    __table_args__ = (
        UniqueConstraint("task_id", "unit_id", "cycle", "day", name="uq_urge_once_a_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int
    unit_id: str = Field(foreign_key="unit.id", max_length=48)
    cycle: int
    day: dt.date
    urged_by: int | None = Field(default=None, sa_type=BigInteger)
    urged_at: dt.datetime = Field(sa_type=UTCDateTime)


class NoticeMessage(SQLModel, table=True):
    """A message the bot sent about one task (or every task) of a unit in one cycle, other than
    a reminder (whose rows say it already): a return (退回), an urge (催办), an extension
    decision, a /mytasks listing. A reply to it, or a task button under it, is about that task
    and cycle, however much later it comes.

    ``task_id`` 0: about every task of the unit (a listing). ``kind``: what the message was
    (``returned``, ``urged``, ``extension``, ``listing``...), for the reader of the table.
    """

    __tablename__ = "notice_message"
    __table_args__ = (Index("ix_notice_message_chat_message", "chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    message_id: int = Field(sa_type=BigInteger)
    task_id: int
    unit_id: str = Field(foreign_key="unit.id", max_length=48)
    cycle: int
    kind: str = Field(max_length=16)
    sent_at: dt.datetime = Field(sa_type=UTCDateTime)


class FactsRevision(SQLModel, table=True):
    """A counter of the changes to what the workflow's states are read from: one row, id 1,
    made by the first change (none yet: revision 0).

    Every transaction that appends a report, a review or an extension request, decides an
    extension, acknowledges a delivery or enrols (or renames) a person raises it by one, first
    (taking the row's lock until it commits), and stamps the rows it writes with the new number
    (their ``facts_revision``, migration 0011). A kept copy of a cycle's facts
    (``Store.cycle_facts``) is then known to be current with one lookup, from any process, and
    brought up to date by reading only the rows stamped above its revision: the numbers are
    given in commit order. It is a marker, not history: the history is in the tables it counts.
    """

    __tablename__ = "facts_revision"

    id: int = Field(default=1, primary_key=True)
    revision: int = Field(default=0, sa_type=BigInteger)


class AuditEntry(SQLModel, table=True):
    """One change to the database: who, when, what, to what, with details as JSON text."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_actor_at", "actor_telegram_id", "at"),  # a person's recent acts
    )

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    actor_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    action: str = Field(max_length=64, index=True)
    subject: str
    details: str = Field(default="{}", sa_type=Text)

    def details_dict(self) -> dict[str, Any]:
        """The details decoded from JSON."""
        decoded: dict[str, Any] = json.loads(self.details)
        return decoded
