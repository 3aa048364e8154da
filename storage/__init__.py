"""duban's database: SQLModel tables, Alembic migrations and :class:`Store`, the only door to them.

Imports from :mod:`schedules` only, never from ``bot`` or ``telegram``; it takes and returns plain
values (str, int, aware datetimes), so the bot converts domain enums and ``PlannedReminder`` s.
"""

from storage.store import (
    INVITE_CODE_PATTERN,
    MIGRATIONS_DIR,
    Enrolment,
    InviteError,
    InviteErrorReason,
    ReminderSpec,
    Store,
    alembic_config,
    head_revision,
)
from storage.tables import (
    DIGEST_TASK_ID,
    DIGEST_UNIT_ID,
    REMINDER_KINDS,
    REPORT_STATUSES,
    AuditEntry,
    Evidence,
    EvidenceKind,
    Invite,
    LeadershipChat,
    Membership,
    Person,
    PersonRole,
    Reminder,
    ReminderState,
    ReportSource,
    StatusReport,
    Unit,
    UTCDateTime,
)

__all__ = [
    "DIGEST_TASK_ID",
    "DIGEST_UNIT_ID",
    "INVITE_CODE_PATTERN",
    "MIGRATIONS_DIR",
    "REMINDER_KINDS",
    "REPORT_STATUSES",
    "AuditEntry",
    "Enrolment",
    "Evidence",
    "EvidenceKind",
    "Invite",
    "InviteError",
    "InviteErrorReason",
    "LeadershipChat",
    "Membership",
    "Person",
    "PersonRole",
    "Reminder",
    "ReminderSpec",
    "ReminderState",
    "ReportSource",
    "StatusReport",
    "Store",
    "UTCDateTime",
    "Unit",
    "alembic_config",
    "head_revision",
]
