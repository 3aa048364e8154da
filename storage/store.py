"""The only door to duban's database: :class:`Store`.

Use::

    store = Store("sqlite:///var/duban.sqlite3")  # or "postgresql+psycopg://user@host/db"
    store.upgrade()  # Alembic "upgrade head"
    person = store.enrol_with_invite(code, telegram_user_id, "Wang Fang", "zh_Hans", clock.now())
    store.close()

Every method is synchronous and opens one short session (one transaction), so the bot calls it
through ``asyncio.to_thread``. Every change also writes an :class:`~storage.tables.AuditEntry` in
the same transaction. Datetimes must be time-zone aware (``ValueError`` otherwise) and come back
aware in UTC: convert them to the user's zone for display. Rows come back detached but loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal, NamedTuple

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    and_,
    bindparam,
    case,
    cast,
    event,
    exists,
    func,
    update,
)
from sqlalchemy import insert as insert_rows
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, create_engine, select

from schedules.delivery import DeliveryKey, ReminderSpec
from schedules.workflow import Acknowledgement, CycleFacts, Pair, ReviewDecision, carry_views
from storage.tables import (
    REPORT_STATUSES,
    REVIEW_DECISIONS,
    AuditEntry,
    Evidence,
    EvidenceKind,
    Extension,
    FactsRevision,
    Invite,
    LeadershipChat,
    Membership,
    NoticeMessage,
    Person,
    PersonRole,
    Reminder,
    ReminderState,
    ReportSource,
    Review,
    StatusReport,
    Unit,
    Urge,
    metadata,
)

__all__ = [
    "INVITE_CODE_PATTERN",
    "MIGRATIONS_DIR",
    "DueRow",
    "Enrolment",
    "InviteError",
    "InviteErrorReason",
    "LogRow",
    "PairFacts",
    "PairStanding",
    "PersonRow",
    "ReminderSpec",
    "ReportRequest",
    "ReportRow",
    "StillOwed",
    "Store",
    "alembic_config",
    "head_revision",
    "is_transient_database_error",
    "known_revision",
]

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

INVITE_CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What an invite code looks like: it must fit a Telegram deep link's ``/start`` payload."""

InviteErrorReason = Literal["unknown", "used", "expired", "wrong_kind"]

_INVITE_MESSAGES: dict[str, str] = {
    "unknown": "This invite code is not known.",
    "used": "This invite has already been used.",
    "expired": "This invite has expired.",
    "wrong_kind": "This invite cannot be used here: a group chat needs a leader invite.",
}

_UNFINISHED = (ReminderState.PENDING.value, ReminderState.SENDING.value)
WORKFLOW_ACTIONS = ("report.added", "evidence.added", "reminder.acknowledged",
                    "review.confirmed", "review.returned", "extension.requested",
                    "extension.approved", "extension.rejected", "task.urged")
"""The audit actions of the supervision workflow (``Store.workflow_log``)."""
_REMINDER_KEY = ("task_id", "unit_id", "cycle", "kind", "offset_days", "cutoff", "chat_id")
_REMINDERS: Table = metadata.tables["reminder"]
"""The reminder table, for statements on plain rows (no ORM objects)."""


def _row_state(table: Any = _REMINDERS) -> ColumnElement[str]:
    """A reminder's state (of ``table``: the reminder table or an alias of it), for a statement
    that finds its rows by id.

    ``state || ''`` is the same value, but no index answers it: SQLite's planner, which has no
    statistics, otherwise took the state index for ``id IN (...) AND state = ...`` and walked
    every row in that state (every pending delivery of the year) for each claim and record of a
    fan-out, which made the fan-out quadratic in its size (20,000 contacts: 18 ms of CPU a send,
    docs/performance.md section 1; tests/storage/test_query_plans.py). PostgreSQL's planner,
    with statistics, takes the primary key either way.
    """
    return table.c.state + ""


_INSERT_BATCH = 500  # rows per INSERT; keeps far below both backends' bound-parameter limits
SQLITE_BUSY_TIMEOUT_SECONDS = 15.0
"""How long an SQLite writer waits for another writer before "database is locked"."""
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 3,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    "options": "-c statement_timeout=30000 -c idle_in_transaction_session_timeout=60000",
}
"""libpq settings of every PostgreSQL connection, so that a database that accepts connections
but never answers (a paused machine, a firewall that drops packets, a hung fail-over) makes a
call fail within seconds (a transient error: retried with back-off, the person told) instead of
blocking it for ever: 3 s to connect (handshake included), TCP keepalives and a 10 s limit on
unacknowledged data for a connection that went silent, and on the server 30 s for a statement
and 60 s for a transaction left idle (its locks freed). Read by docs/deploy.md."""
_CACHED_CYCLES = 2
"""How many cycles' facts a store keeps in memory (those asked for last)."""
DEFAULT_LEASE_SECONDS = 30.0
"""How long a claim holds unless renewed (the bot's ``DUBAN_LEASE_SECONDS``)."""


class InviteError(Exception):
    """An invite could not be used; ``reason`` says why, the message says it in English.

    Attributes:
        reason: one of ``"unknown"``, ``"used"``, ``"expired"``, ``"wrong_kind"``.
    """

    def __init__(self, reason: InviteErrorReason) -> None:
        super().__init__(_INVITE_MESSAGES[reason])
        self.reason: InviteErrorReason = reason


@dataclass(frozen=True)
class Enrolment:
    """What an invite did: the person now, the invite's role and unit, and all their units."""

    person: Person
    role: str
    unit_id: str | None
    units: tuple[str, ...]
    invite_code: str = ""
    invite_created_by: int | None = None  # the admin who made the link (None: the CLI)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for this package's migrations, with no ``alembic.ini``.

    Args:
        url: the database, for Alembic commands run without a connection (e.g. offline SQL);
            :meth:`Store.upgrade` passes its own connection instead.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return head


def known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this code's migrations (False: a newer duban made it)."""
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


class ReportRow(NamedTuple):
    """A stored status report as a plain row (:meth:`Store.reports_for_cycle`): the columns of
    :class:`~storage.tables.StatusReport`, ``reported_at`` aware in UTC."""

    id: int
    task_id: int
    unit_id: str
    cycle: int
    status: str
    progress: int | None
    note: str
    reporter_telegram_id: int | None
    reported_at: dt.datetime
    source: str
    source_message_id: int | None


class LogRow(NamedTuple):
    """An audit entry as a plain row (:meth:`Store.cycle_log`): the columns of
    :class:`~storage.tables.AuditEntry`, ``at`` aware in UTC."""

    id: int
    at: dt.datetime
    actor_telegram_id: int | None
    action: str
    subject: str
    details: str

    def details_dict(self) -> dict[str, Any]:
        """The details decoded from JSON."""
        decoded: dict[str, Any] = json.loads(self.details)
        return decoded


class ReviewRow(NamedTuple):
    """A leader's review as a plain row: the columns of :class:`~storage.tables.Review` the
    workflow reads (:class:`schedules.workflow.ReviewFact`)."""

    id: int
    report_id: int
    task_id: int
    unit_id: str
    cycle: int
    decision: str
    comment: str
    reviewer_telegram_id: int | None
    reviewed_at: dt.datetime


class ExtensionRow(NamedTuple):
    """An extension request as a plain row: the columns of :class:`~storage.tables.Extension`
    (:class:`schedules.workflow.ExtensionFact`)."""

    id: int
    task_id: int
    unit_id: str
    cycle: int
    due_date: dt.date
    reason: str
    requested_by: int | None
    requested_at: dt.datetime
    state: str
    decided_by: int | None
    decided_at: dt.datetime | None
    decision_comment: str


class PairFacts(NamedTuple):
    """One unit's facts on one task in one cycle (:meth:`Store.pair_facts`).

    Attributes:
        facts: the pair's latest report, its review, the pair's extension requests, its first
            acknowledgement and its latest report with a note (the other pairs are absent).
        reminded: whether a reminder or overdue notice about the task reached the unit in the
            cycle (:meth:`Store.was_reminded`).
    """

    facts: CycleFacts
    reminded: bool


class PairStanding(NamedTuple):
    """What :meth:`Store.pair_standing` reads of one unit's task in one cycle: what decides
    whether the unit still owes it (``schedules.progress.cycle_is_open``).

    Attributes:
        status: the pair's latest report's status (newest by time, then id); None: no report.
        returned: whether a leader returned (退回) that latest report.
        reminded: whether a reminder or overdue notice about the task reached the unit in the
            cycle (:meth:`Store.was_reminded`).
    """

    status: str | None
    returned: bool
    reminded: bool


class PersonRow(NamedTuple):
    """Who sent an update, as :meth:`Store.caller` reads them: the person's columns a handler
    needs."""

    telegram_user_id: int
    display_name: str
    language: str | None
    role: str
    active: bool


# -- the report path's statements, built once (Core, not ORM: a report costs a few of each) ----
# Every person's /report reads its pair's facts and appends in one short transaction; the
# statements are plain Core on the tables with bound parameters, so that each execution is a
# lookup in SQLAlchemy's compiled cache, not a new ORM statement (docs/performance.md, 2).
_R = metadata.tables["status_report"].c
_PAIR = (_R.cycle == bindparam("cycle"), _R.task_id == bindparam("task_id"),
         _R.unit_id == bindparam("unit_id"))
_PAIR_LATEST = (sa_select(*(_R[name] for name in ReportRow._fields)).where(*_PAIR)
                .order_by(_R.reported_at.desc(), _R.id.desc()).limit(1))
_PAIR_NOTE = _PAIR_LATEST.where(_R.note != "")
_V = metadata.tables["review"].c
_X = metadata.tables["extension"].c
_PAIR_EXTENSIONS = (sa_select(*(_X[name] for name in ExtensionRow._fields))
                    .where(_X.cycle == bindparam("cycle"), _X.task_id == bindparam("task_id"),
                           _X.unit_id == bindparam("unit_id"))
                    .order_by(_X.requested_at, _X.id))
_M = metadata.tables["reminder"].c
_PAIR_REMINDERS = (_M.task_id == bindparam("task_id"), _M.unit_id == bindparam("unit_id"),
                   _M.cycle == bindparam("cycle"))
_PAIR_ACKNOWLEDGED = (sa_select(_M.acknowledged_by_telegram_id, _M.acknowledged_at)
                      .where(*_PAIR_REMINDERS, _M.acknowledged_at.is_not(None),
                             _M.acknowledged_by_telegram_id.is_not(None),
                             _M.acknowledged_by_telegram_id != 0)
                      .order_by(_M.acknowledged_at, _M.id).limit(1))
# the latest report, its review (one per report; NULL columns when it has none) and the pair's
# first acknowledgement (NULL when none) in one statement
_PAIR_LATEST_REVIEWED = (
    sa_select(*(_R[name] for name in ReportRow._fields), *(_V[name] for name in ReviewRow._fields),
              _PAIR_ACKNOWLEDGED.with_only_columns(_M.acknowledged_by_telegram_id)
              .scalar_subquery(),
              _PAIR_ACKNOWLEDGED.with_only_columns(_M.acknowledged_at).scalar_subquery())
    .select_from(metadata.tables["status_report"].outerjoin(
        metadata.tables["review"], _V.report_id == _R.id))
    .where(*_PAIR).order_by(_R.reported_at.desc(), _R.id.desc()).limit(1))
_PAIR_REMINDED = (sa_select(_M.id).where(*_PAIR_REMINDERS, _M.state == ReminderState.SENT.value)
                  .limit(1))
_LATEST_ID = (sa_select(_R.id).where(*_PAIR).order_by(_R.reported_at.desc(), _R.id.desc())
              .limit(1).scalar_subquery())
_PAIR_STANDING = sa_select(
    sa_select(_R.status).where(_R.id == _LATEST_ID).scalar_subquery(),
    sa_select(_V.decision).where(_V.report_id == _LATEST_ID).scalar_subquery(),
    exists(_PAIR_REMINDED))
_INSERT_REPORTS = insert_rows(metadata.tables["status_report"]).returning(
    _R.id, sort_by_parameter_order=True)
_INSERT_AUDIT = insert_rows(metadata.tables["audit_entry"])


def _claimable(table: Any) -> tuple[Any, ...]:
    """The conditions on ``table`` (the reminder table or an alias of it) of a row the claim
    of :meth:`Store.claim_messages` may take: its id among ``ids``, pending, and its back-off
    (``not_before``) ended by ``database_now``."""
    ids: Any = bindparam("ids", expanding=True)
    ready = table.c.not_before.is_(None) | (
        table.c.not_before <= bindparam("database_now", type_=table.c.not_before.type))
    return table.c.id.in_(ids), _row_state(table) == ReminderState.PENDING.value, ready


_CLAIM = (update(_REMINDERS).where(*_claimable(_REMINDERS))
          .values(state=ReminderState.SENDING.value,
                  claimed_at=bindparam("now", type_=_REMINDERS.c.claimed_at.type),
                  claimed_by=bindparam("instance", type_=_REMINDERS.c.claimed_by.type),
                  lease_until=bindparam("until", type_=_REMINDERS.c.lease_until.type))
          .returning(*_REMINDERS.c))
"""The claim of :meth:`Store.claim_messages`, built once: claimable rows (:func:`_claimable`)
become ``sending``, leased to ``instance`` since ``now`` until ``until``; returns them with
every column."""
_HELD = _REMINDERS.alias("held")
_UNFINISHED_OF = (_REMINDERS.c.id.in_(bindparam("ids", expanding=True)),
                  _row_state().in_(_UNFINISHED))
_READY = and_(*_claimable(_REMINDERS)[1:])
_LOOK = sa_select(_REMINDERS.c.id, _READY.label("ready"), _READY.label("mine")
                  ).where(*_UNFINISHED_OF)
"""SQLite's first step of a claim: the unfinished rows among ``ids``, each with ``ready``
(claimable now: pending, its back-off ended by ``database_now``); ``mine`` is ``ready`` (the
claim's ``UPDATE`` takes the single writer's lock)."""
_HOLD = sa_select(
    _REMINDERS.c.id, _READY.label("ready"),
    _REMINDERS.c.id.in_(sa_select(_HELD.c.id).where(*_claimable(_HELD))
                        .with_for_update(skip_locked=True).scalar_subquery()).label("mine"),
).where(*_UNFINISHED_OF)
"""PostgreSQL's first step of a claim: the unfinished rows among ``ids``, each with ``ready``
(claimable now) and ``mine``, true when this transaction now holds the row lock of a ready row
(``FOR UPDATE SKIP LOCKED``: never waits), false when another transaction holds it (another
instance claiming it at this very moment) or the row is not ready."""


class _ClaimRaced(Exception):
    """A claim on SQLite found rows of ``messages`` (indexes) changed since it looked."""

    def __init__(self, messages: set[int]) -> None:
        super().__init__(sorted(messages))
        self.messages = messages


def _whole(messages: Sequence[Sequence[int]], rows: Sequence[Row[Any]]) -> dict[int, list[int]]:
    """The rows a claim may take, by message (its index in ``messages``): every unfinished row
    of a message whose unfinished rows are all ``mine`` (:data:`_LOOK`, :data:`_HOLD`); none of
    the others.

    A message is claimed whole or not at all. A row of it that is not claimable now holds the
    rest back: another instance claiming the same chat at this instant, a row still ``sending``
    under a live lease (given back row by row, or stranded by a failed database), a back-off
    that ends later than its siblings' (written row by row, a few milliseconds apart). Taking
    the rest would send the chat its reminders in two messages; the wait is at most a lease, a
    back-off or a dispatch interval, after which the message is claimed whole. Rows already
    finished (sent, failed, skipped) do not count.
    """
    unfinished = {row.id: bool(row.mine) for row in rows}
    taken: dict[int, list[int]] = {}
    for index, message in enumerate(messages):
        mine = [i for i in message if i in unfinished]
        if mine and all(unfinished[i] for i in mine):
            taken[index] = mine
    return taken


_REPORTS_AFTER = (sa_select(_R.facts_revision, _R.task_id, _R.unit_id, _R.cycle)
                  .where(_R.facts_revision > bindparam("revision")))


@lru_cache(maxsize=256)
def _mark_sent_statement(rows: int) -> Any:
    """The record of :meth:`Store.mark_sent_messages` for ``rows`` deliveries, built once per
    count: ``i<k>`` sent as message ``m<k>``, each still pending or sending, at ``now``;
    returns the ids it marked."""
    table = _REMINDERS
    ids = [bindparam(f"i{k}", type_=table.c.id.type) for k in range(rows)]
    message_id = case(*((table.c.id == ids[k],
                         bindparam(f"m{k}", type_=table.c.message_id.type))
                        for k in range(rows)), else_=None)
    return (update(table)
            .where(table.c.id.in_(ids), _row_state().in_(_UNFINISHED))
            .values(state=ReminderState.SENT.value,
                    sent_at=bindparam("now", type_=table.c.sent_at.type), reason="",
                    lease_until=None, message_id=cast(message_id, table.c.message_id.type))
            .returning(table.c.id))
_UNIT_KNOWN = sa_select(metadata.tables["unit"].c.id).where(
    metadata.tables["unit"].c.id == bindparam("unit_id"))
_P = metadata.tables["person"].c
_S = metadata.tables["membership"].c
_SERVING = (sa_select(_S.telegram_user_id, _S.unit_id)
            .select_from(metadata.tables["membership"].join(
                metadata.tables["person"], _P.telegram_user_id == _S.telegram_user_id))
            .where(_S.telegram_user_id.in_(bindparam("people", expanding=True)),
                   _S.active.is_(True), _P.active.is_(True))
            .with_for_update(read=True, of=metadata.tables["membership"]))
"""The units these people serve now, as (person, unit), their membership rows share-locked
(PostgreSQL: ``FOR SHARE OF membership``, so that a revocation, which ends the membership,
waits for the reports' commit or the reports see it; SQLite: the transaction already holds the
database's write lock)."""
_SAME_REPORT = (sa_select(*(_R[name] for name in ReportRow._fields))
                .where(_R.cycle == bindparam("cycle"), _R.task_id == bindparam("task_id"),
                       _R.unit_id == bindparam("unit_id"), _R.status == bindparam("status"),
                       _R.note == bindparam("note"), _R.source == bindparam("source"),
                       _R.reported_at == bindparam("reported_at", type_=_R.reported_at.type))
                .order_by(_R.id))
"""The reports of a pair identical to a request (the reporter and message compared in Python,
as either may be NULL): a retry's own report, stored by the try whose answer was lost."""
_SAME_MESSAGE = (sa_select(*(_R[name] for name in ReportRow._fields))
                 .where(_R.cycle == bindparam("cycle"), _R.task_id == bindparam("task_id"),
                        _R.unit_id == bindparam("unit_id"),
                        _R.reported_at.between(
                            bindparam("since", type_=_R.reported_at.type),
                            bindparam("until", type_=_R.reported_at.type)),
                        _R.reporter_telegram_id == bindparam("reporter"),
                        _R.source_message_id == bindparam("message"),
                        _R.source == bindparam("source"))
                 .order_by(_R.id).limit(1))
"""The pair's report from the same person's same message, stored near the request's time
(``ix_status_report_latest``'s range): a message delivered again (``ReportRequest.maybe_again``).
The time is a range, not the request's own: a message handled at once is stored at the bot's
clock, a late one at its date (``bot.handlers.common.SENT_AT_GRAIN``), the clocks a few
seconds apart."""
SAME_MESSAGE_SLACK = dt.timedelta(minutes=10)
"""How far from a message's date its report stored on an earlier delivery may be dated."""
_CALLERS = (sa_select(_P.telegram_user_id, _P.display_name, _P.language, _P.role, _P.active,
                      _S.unit_id)
            .select_from(metadata.tables["person"].outerjoin(
                metadata.tables["membership"],
                (_S.telegram_user_id == _P.telegram_user_id) & _S.active.is_(True)))
            .where(_P.telegram_user_id.in_(bindparam("ids", expanding=True)))
            .order_by(_P.telegram_user_id, _S.id))


def _revision_raiser(dialect: str) -> Any:
    """The facts revision's upsert for ``dialect`` (:func:`_facts_changed`), returning the new
    revision."""
    table = metadata.tables["facts_revision"]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (insert(table).values(id=1, revision=1)
            .on_conflict_do_update(index_elements=["id"],
                                   set_={"revision": table.c.revision + 1})
            .returning(table.c.revision))


_REPORT_WIDTH = len(ReportRow._fields)
_REVIEW_END = _REPORT_WIDTH + len(ReviewRow._fields)


def _read_pair_facts(connection: Connection, cycle: int, task_id: int,
                     unit_id: str) -> tuple[CycleFacts, ReportRow | None]:
    """:meth:`Store.pair_facts`'s facts on ``connection`` (three statements at most: the
    latest report with its review and the pair's first acknowledgement, the latest with a note
    if that one has none, the extension requests; the acknowledgement alone when there is no
    report), and the pair's latest report."""
    pair = {"cycle": cycle, "task_id": task_id, "unit_id": unit_id}
    key = (task_id, unit_id)
    latest = connection.execute(_PAIR_LATEST_REVIEWED, pair).first()
    report = ReportRow._make(latest[:_REPORT_WIDTH]) if latest is not None else None
    reviews: dict[int, ReviewRow] = {}
    notes: dict[tuple[int, str], ReportRow] = {}
    acknowledged: Any = None
    if report is not None:
        assert latest is not None
        if latest[_REPORT_WIDTH] is not None:  # the review's id: it has one
            reviews[report.id] = ReviewRow._make(latest[_REPORT_WIDTH:_REVIEW_END])
        if latest[_REVIEW_END] is not None:
            acknowledged = latest[_REVIEW_END:]
        if report.note:
            notes[key] = report
        else:
            noted = connection.execute(_PAIR_NOTE, pair).first()
            if noted is not None:
                notes[key] = ReportRow._make(noted)
    extensions = [ExtensionRow._make(row) for row in connection.execute(_PAIR_EXTENSIONS, pair)]
    if report is None:
        acknowledged = connection.execute(_PAIR_ACKNOWLEDGED, pair).first()
    return CycleFacts(
        cycle, {key: report} if report is not None else {}, reviews,
        {key: extensions} if extensions else {},
        {key: Acknowledgement(acknowledged[0], acknowledged[1])} if acknowledged else {},
        notes), report


def _valid_request(request: ReportRequest) -> ReportRequest:
    """``request`` with its time in UTC; ``ValueError`` for a bad status, source, progress (when
    no check gives it), a note with a NUL character, an id beyond 64 bits or a naive time."""
    now = _utc(request.now, "now")
    if request.status not in REPORT_STATUSES:
        raise ValueError(f"unknown status {request.status!r} (one of {REPORT_STATUSES})")
    _check_vocabulary("source", request.source, ReportSource)
    if "\x00" in request.note:  # PostgreSQL's text cannot hold it; the bot drops it first
        raise ValueError("a note cannot hold the NUL character (U+0000)")
    for name in ("reporter_telegram_id", "source_message_id"):
        number = getattr(request, name)
        if number is not None and not -2**63 <= number < 2**63:  # a BIGINT column
            raise ValueError(f"{name} {number} does not fit in 64 bits")
    if request.check is None:
        _check_progress(request.progress)
    return dataclasses.replace(request, now=now)


def _check_report(connection: Connection, request: ReportRequest, revision: int,
                  serving: set[tuple[int, str]], again: bool = False
                  ) -> StatusReport | tuple[StatusReport] | dict[str, Any]:
    """One request of :meth:`Store.add_reports_once` on ``connection``, whose transaction holds
    the facts' lock at ``revision``: its checks. The pair's newest report when the request only
    repeats it; ``(report,)`` when ``again`` (or the request's ``maybe_again``) and an earlier
    try or handling of this very request stored it;
    else the new report's values (to insert: :func:`_insert_reports`). Raises what its checks
    raise (:class:`NotServing` first, when the reporter and unit are not among ``serving``, the
    (person, unit) pairs served, read in the transaction: :func:`_read_serving`); nothing is
    written here."""
    r = request
    progress = r.progress
    if again:
        for row in connection.execute(_SAME_REPORT, {
                "cycle": r.cycle, "task_id": r.task_id, "unit_id": r.unit_id, "status": r.status,
                "note": r.note, "source": r.source, "reported_at": r.now}):
            if (row.reporter_telegram_id, row.source_message_id) == (
                    r.reporter_telegram_id, r.source_message_id):
                return (_report_of(row),)
    if r.maybe_again and r.source_message_id is not None and r.reporter_telegram_id is not None:
        same = connection.execute(_SAME_MESSAGE, {
            "cycle": r.cycle, "task_id": r.task_id, "unit_id": r.unit_id,
            "since": r.now - SAME_MESSAGE_SLACK, "until": r.now + SAME_MESSAGE_SLACK,
            "reporter": r.reporter_telegram_id, "message": r.source_message_id,
            "source": r.source}).first()
        if same is not None:
            return (_report_of(same),)
    if r.serving and (r.reporter_telegram_id, r.unit_id) not in serving:
        raise NotServing(r.unit_id)
    if r.standing_of is not None and r.owed is not None and r.owed(
            _read_pair_standing(connection, r.standing_of, r.task_id, r.unit_id)):
        raise StillOwed(r.standing_of)
    if r.check is not None or r.repeat_window is not None:
        facts, newest = _read_pair_facts(connection, r.cycle, r.task_id, r.unit_id)
        if r.check is not None:
            progress = r.check(facts)
            _check_progress(progress)
        if (r.repeat_window is not None and newest is not None
                and newest.reporter_telegram_id == r.reporter_telegram_id
                and newest.status == r.status and r.note in ("", newest.note)
                and progress in (None, newest.progress)
                and r.now - newest.reported_at < r.repeat_window):
            return _report_of(newest)
    return {"task_id": r.task_id, "unit_id": r.unit_id, "cycle": r.cycle, "status": r.status,
            "progress": progress, "note": r.note, "reporter_telegram_id": r.reporter_telegram_id,
            "reported_at": r.now, "source": r.source, "source_message_id": r.source_message_id,
            "facts_revision": revision}


def _read_serving(connection: Connection, requests: Sequence[ReportRequest]
                  ) -> set[tuple[int, str]]:
    """The (person, unit) pairs served now by the reporters of the requests that ask
    (``serving``): one statement, their membership rows share-locked (:data:`_SERVING`)."""
    people = sorted({r.reporter_telegram_id for r in requests
                     if r.serving and r.reporter_telegram_id is not None})
    if not people:
        return set()
    return {(person, unit) for person, unit in connection.execute(_SERVING, {"people": people})}


def _insert_reports(connection: Connection, checked: Sequence[tuple[int, dict[str, Any]]],
                    outcomes: list[Any]) -> None:
    """Insert the checked reports (``(index, values)``) and their audit entries, one statement
    each; ``outcomes[index]`` becomes ``(report, True)``."""
    if not checked:
        return
    ids = connection.execute(_INSERT_REPORTS, [values for _, values in checked]).scalars().all()
    connection.execute(_INSERT_AUDIT, [{
        "at": values["reported_at"], "actor_telegram_id": values["reporter_telegram_id"],
        "action": "report.added", "subject": f"report:{report_id}",
        "details": _details(task_id=values["task_id"], unit_id=values["unit_id"],
                            cycle=values["cycle"], status=values["status"],
                            progress=values["progress"], source=values["source"])}
        for (_, values), report_id in zip(checked, ids, strict=True)])
    for (index, values), report_id in zip(checked, ids, strict=True):
        outcomes[index] = (StatusReport(id=report_id, **values), True)


def _read_pair_standing(connection: Connection, cycle: int, task_id: int,
                        unit_id: str) -> PairStanding:
    """:meth:`Store.pair_standing` on ``connection``: one statement."""
    status, decision, reminded = connection.execute(_PAIR_STANDING, {
        "cycle": cycle, "task_id": task_id, "unit_id": unit_id}).one()
    return PairStanding(status, decision == ReviewDecision.RETURNED.value, bool(reminded))


class NotServing(Exception):
    """A report was not stored: its reporter no longer serves the unit (revoked, or their
    service for it ended, before its transaction; :attr:`ReportRequest.serving`)."""

    def __init__(self, unit_id: str) -> None:
        super().__init__(f"the reporter no longer serves {unit_id}")
        self.unit_id = unit_id


class StillOwed(Exception):
    """A report sent without a year was not stored: the unit still owes the year before
    (:meth:`Store.add_report_once`'s ``owed``), so the person is asked which year it is for."""

    def __init__(self, cycle: int) -> None:
        super().__init__(f"the unit still owes cycle {cycle}")
        self.cycle = cycle


@dataclass(frozen=True)
class ReportRequest:
    """One report to append (:meth:`Store.add_reports_once`): the arguments of
    :meth:`Store.add_report_once`.

    ``now`` is when it was sent (time-zone aware; stored in UTC). ``repeat_window``: a repeat
    of the same person's newest report on the pair within this long is not stored again.
    ``check``: the workflow's check, called in the transaction with the pair's facts; it
    returns the progress to store (instead of ``progress``: e.g. carried from the unit's
    previous report), or raises to store nothing (that exception is the request's outcome).
    ``standing_of``, ``owed``: another cycle of the pair (the year before, for a report sent
    without a year) whose standing (:meth:`Store.pair_standing`) is read first in the
    transaction; when ``owed`` says the unit still owes it, nothing is stored and the outcome
    is :class:`StillOwed` (the bot asks which year is meant). ``serving``: the reporter must
    be an active person serving the unit when the transaction appends (read there, the row
    share-locked against a revocation), else nothing is stored and the outcome is
    :class:`NotServing`. ``maybe_again``: the message may have been handled before (Telegram
    delivers an update again when its handling was not confirmed: a crash, a restart): the
    pair's report from the same person's same message (``source_message_id``) and source,
    dated within :data:`SAME_MESSAGE_SLACK` of ``now``, is its outcome (as for a retry's
    ``again``), even when a colleague's report came in between.
    """

    task_id: int
    unit_id: str
    cycle: int
    status: str
    progress: int | None
    note: str
    reporter_telegram_id: int | None
    now: dt.datetime
    source: str
    source_message_id: int | None = None
    repeat_window: dt.timedelta | None = None
    check: Callable[[CycleFacts], int | None] | None = None
    standing_of: int | None = None
    owed: Callable[[PairStanding], bool] | None = None
    serving: bool = False
    maybe_again: bool = False


class DueRow(NamedTuple):
    """A pending delivery as the dispatcher decides on it (:meth:`Store.due_rows`)."""

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
    not_before: dt.datetime | None


class Store:
    """duban's database: people, invites, leadership chats, reports, reminders and the audit log.

    One engine per store; each method is one short transaction. Safe to call from several
    threads at once.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///var/duban.sqlite3`` (the parent folder is created),
            ``sqlite://`` (in memory, one shared connection) or
            ``postgresql+psycopg://postgres@127.0.0.1:5432/duban``.
        echo: log every SQL statement.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: Engine = _create_engine(url, echo=echo)
        # every DBAPI connection open, for abandon_connections (held until closed, so that
        # one dropped by an abandoned pool is closed, not left to the garbage collector)
        self._connections: set[Any] = set()
        if self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect",
                         lambda connection, record: self._connections.add(connection))
            for closing in ("close", "close_detached"):
                event.listen(self.engine, closing,
                             lambda connection, *rest: self._connections.discard(connection))
        # cycle -> the whole cycle's facts kept, as of a revision: see cycle_facts
        self._facts: dict[int, _KeptFacts] = {}
        self._facts_lock = threading.Lock()  # guards self._facts (held for a moment)
        # held while a kept copy is read or brought up to date (one reader does it, the others
        # then use its copy), and while its notes are read
        self._catching_up = threading.Lock()
        self._names: tuple[int, dict[int, str]] | None = None  # people_names, as of a revision
        self._raise_revision = _revision_raiser(self.engine.dialect.name)

    # -- lifecycle -------------------------------------------------------------------------
    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` with Alembic (``upgrade head`` by default).

        All of it is one transaction, on SQLite too: pysqlite would run each ``CREATE`` outside
        any transaction, so an interrupted first creation (Ctrl-C) left tables without a
        version. Here the driver's own transaction handling is switched off for the upgrade and
        SQLAlchemy's ``BEGIN`` is emitted instead (SQLAlchemy's "pysqlite serializable" recipe),
        so SQLite's transactional DDL takes all of it or none.
        """
        config = alembic_config()
        with self.engine.connect() as connection:
            sqlite_driver = (connection.connection.dbapi_connection
                             if connection.dialect.name == "sqlite" else None)
            saved = sqlite_driver.isolation_level if sqlite_driver is not None else None
            if sqlite_driver is not None:
                sqlite_driver.isolation_level = None  # autocommit: no implicit BEGIN/COMMIT
            try:
                with connection.begin():
                    if sqlite_driver is not None:
                        connection.exec_driver_sql("BEGIN IMMEDIATE")
                    else:  # an index on a large table may take longer than a statement may
                        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
            finally:
                if sqlite_driver is not None:
                    sqlite_driver.isolation_level = saved

    def current_revision(self) -> str | None:
        """The schema's Alembic revision, or None for a database never upgraded."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def close(self) -> None:
        """Close every pooled connection. The store can still be used (it reconnects)."""
        self.engine.dispose()
        for connection in list(self._connections):  # dropped by a pool abandoned earlier
            if connection.closed:
                self._connections.discard(connection)
        for connection in [c for c in self._connections if c.info.transaction_status == 0]:
            with contextlib.suppress(Exception):  # idle (0: no transaction, no call under way)
                connection.close()
            self._connections.discard(connection)

    @property
    def can_stall(self) -> bool:
        """Whether a call may block without end on a server that stopped answering (a
        paused PostgreSQL: the kernel still acknowledges, no timeout of libpq or the server
        fires); callers then set their own limit and :meth:`abandon_connections`. SQLite's
        waits end with its busy timeout."""
        return self.engine.dialect.name == "postgresql"

    def abandon_connections(self) -> int:
        """The server stopped answering: shut down the socket of every connection (a call
        blocked on one fails at once with a transient error, its thread freed) and empty the
        pool, so that the next call connects afresh (and fails within the connect timeout
        while the server stays silent). Calls in flight on a server that still answers fail
        too, transiently, and are tried again by their callers.

        Returns:
            How many connections were shut down.
        """
        count = 0
        for connection in list(self._connections):
            with contextlib.suppress(Exception):
                descriptor = connection.pgconn.socket
                sock = socket.socket(fileno=os.dup(descriptor))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    count += 1
                finally:
                    sock.close()
        self.engine.dispose()  # a new pool: the next call connects afresh
        for connection in list(self._connections):
            with contextlib.suppress(Exception):
                connection.close()  # at once: its socket is shut (libpq's Terminate is lost)
            self._connections.discard(connection)
        return count

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _connection(self) -> Connection:
        """A pooled connection for Core statements (the report path's: no ORM session, whose
        making and closing cost more than the statements); nothing is committed unless the
        caller commits. The other seam, beside :meth:`_session`, through which the store reaches
        the database."""
        return self.engine.connect()

    # -- units -----------------------------------------------------------------------------
    def sync_units(self, units: Iterable[tuple[str, str, str]],
                   now: dt.datetime | None = None) -> int:
        """Insert the timetable's units that are new and update the name and kind of the others.

        Units are never deleted: reports and people refer to them.

        Args:
            units: (id, name, kind) triples, e.g. from ``timetable.units``.
            now: when, for the audit log; defaults to the wall clock.

        Returns:
            How many units were added or changed.
        """
        now = _now_or_wall_clock(now)
        wanted = {unit_id: (name, kind) for unit_id, name, kind in units}
        added: list[str] = []
        changed: list[str] = []
        with self._session() as session, session.begin():
            existing = {u.id: u for u in session.exec(select(Unit))}
            for unit_id, (name, kind) in wanted.items():
                unit = existing.get(unit_id)
                if unit is None:
                    session.add(Unit(id=unit_id, name=name, kind=kind))
                    added.append(unit_id)
                elif (unit.name, unit.kind) != (name, kind):
                    unit.name, unit.kind = name, kind
                    changed.append(unit_id)
            if added or changed:
                _audit(session, now, "units.synced", "units", added=added, changed=changed)
        return len(added) + len(changed)

    def get_unit(self, unit_id: str) -> Unit | None:
        """The unit with this id, if it was synced."""
        with self._session() as session:
            return session.get(Unit, unit_id)

    # -- people and their units ------------------------------------------------------------
    def get_person(self, telegram_user_id: int) -> Person | None:
        """The person with this Telegram user id, active or not."""
        with self._session() as session:
            return _person(session, telegram_user_id)

    def add_person(self, telegram_user_id: int, display_name: str, role: str,
                   unit_id: str | None, language: str | None, now: dt.datetime,
                   actor: int | None = None) -> Person:
        """Enrol a person, or re-enrol one already known (see :meth:`enrol_with_invite`).

        Args:
            telegram_user_id: their Telegram user id.
            display_name: the name to show.
            role: ``contact`` (needs ``unit_id``), ``leader`` or ``admin`` (no unit).
            unit_id: a synced unit's id for a contact, None otherwise.
            language: a locale such as ``zh_Hans``; None keeps a re-enrolled person's choice.
            now: when.
            actor: who did it (Telegram user id), None for the CLI.

        Raises:
            ValueError: unknown role or unit, a contact without a unit or another role with one,
                naive ``now``.
        """
        now = _utc(now, "now")
        _check_role(role, unit_id)
        with self._session() as session, session.begin():
            return _enrol(session, telegram_user_id, display_name, role, unit_id, language, now,
                          actor=actor, invite_code=None)

    def set_language(self, telegram_user_id: int, language: str, now: dt.datetime) -> bool:
        """Remember a person's language; False if there is no such person."""
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            person = _person(session, telegram_user_id)
            if person is None:
                return False
            if person.language != language:
                _audit(session, now, "person.language", f"person:{telegram_user_id}",
                       actor=telegram_user_id, old=person.language, new=language)
                person.language = language
            return True

    def set_digests(self, telegram_user_id: int, wanted: bool, now: dt.datetime) -> bool:
        """Remember whether a person wants the leadership digests privately; False if unknown."""
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            person = _person(session, telegram_user_id)
            if person is None:
                return False
            if person.digests != wanted:
                _audit(session, now, "person.digests", f"person:{telegram_user_id}",
                       actor=telegram_user_id, wanted=wanted)
                person.digests = wanted
            return True

    def deactivate_person(self, telegram_user_id: int, reason: str, now: dt.datetime,
                          actor: int | None = None) -> bool:
        """Deactivate a person and end their memberships (kept, with the reason).

        Returns:
            False if the person is unknown or already inactive.
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            return _deactivate(session, telegram_user_id, reason, now, actor)

    def revoke_person(self, telegram_user_id: int, reason: str, now: dt.datetime,
                      actor: int | None = None) -> list[LeadershipChat] | None:
        """An admin removes a person: deactivate them and unbind the groups they bound.

        Returns:
            The leadership chats unbound (possibly none), or None if there was no active person
            with this id (nothing changed).
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            if not _deactivate(session, telegram_user_id, reason, now, actor):
                return None
            chats = list(session.exec(select(LeadershipChat).where(
                LeadershipChat.bound_by == telegram_user_id,
                col(LeadershipChat.active).is_(True))))
            for chat in chats:
                chat.active = False
                _audit(session, now, "chat.unbound", f"chat:{chat.chat_id}", actor=actor,
                       reason=f"bound by person {telegram_user_id}, who was revoked")
            return chats

    def end_membership(self, telegram_user_id: int, unit_id: str, reason: str,
                       now: dt.datetime, actor: int | None = None) -> bool:
        """End a person's service for one unit; False if they had no active membership there.

        The person stays enrolled (with their other units, or none).
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            membership = session.exec(select(Membership).where(
                Membership.telegram_user_id == telegram_user_id, Membership.unit_id == unit_id,
                col(Membership.active).is_(True))).first()
            if membership is None:
                return False
            membership.active = False
            membership.ended_at, membership.ended_reason = now, reason
            _audit(session, now, "membership.ended", f"person:{telegram_user_id}", actor=actor,
                   unit_id=unit_id, reason=reason)
            return True

    def caller(self, telegram_user_id: int) -> tuple[PersonRow | None, list[str]]:
        """Who sent an update (every update asks): the person, active or not (None: not
        enrolled), and the units an active person serves, in the order they joined them; one
        Core statement. :meth:`callers` for one person."""
        return self.callers([telegram_user_id])[0]

    def callers(self, telegram_user_ids: Sequence[int]
                ) -> list[tuple[PersonRow | None, list[str]]]:
        """:meth:`caller` for each of ``telegram_user_ids``, in order, in one Core statement
        (the bot gathers the updates arriving together: ``bot.grouping``)."""
        if not telegram_user_ids:
            return []
        with self._connection() as connection:
            rows = connection.execute(_CALLERS, {"ids": sorted(set(telegram_user_ids))}).all()
        found: dict[int, tuple[PersonRow, list[str]]] = {}
        for row in rows:
            person, units = found.setdefault(row[0], (PersonRow._make(row[:5]), []))
            if person.active and row[5] is not None:
                units.append(row[5])
        return [(found[i][0], list(found[i][1])) if i in found else (None, [])
                for i in telegram_user_ids]

    def units_of(self, telegram_user_id: int) -> list[str]:
        """The unit ids an active person serves now, in the order they joined them."""
        statement = (select(Membership.unit_id)
                     .join(Person, col(Person.telegram_user_id) == Membership.telegram_user_id)
                     .where(Membership.telegram_user_id == telegram_user_id,
                            col(Membership.active).is_(True), col(Person.active).is_(True))
                     .order_by(col(Membership.id)))
        with self._session() as session:
            return list(session.exec(statement))

    def memberships(self, active_only: bool = True) -> list[Membership]:
        """Every membership (of active people only, and only active ones, by default)."""
        statement = select(Membership)
        if active_only:
            statement = (statement
                         .join(Person, col(Person.telegram_user_id) == Membership.telegram_user_id)
                         .where(col(Membership.active).is_(True), col(Person.active).is_(True)))
        with self._session() as session:
            return list(session.exec(statement.order_by(col(Membership.id))))

    def list_people(self, unit_id: str | None = None, role: str | None = None,
                    active_only: bool = True) -> list[Person]:
        """People, optionally serving one unit and/or of one role, in enrolment order."""
        statement = select(Person)
        if unit_id is not None:
            serving = select(Membership.telegram_user_id).where(Membership.unit_id == unit_id)
            if active_only:
                serving = serving.where(col(Membership.active).is_(True))
            statement = statement.where(col(Person.telegram_user_id).in_(serving))
        if role is not None:
            statement = statement.where(Person.role == role)
        if active_only:
            statement = statement.where(col(Person.active).is_(True))
        with self._session() as session:
            return list(session.exec(statement.order_by(col(Person.id))))

    def people_names(self) -> dict[int, str]:
        """Everyone ever enrolled (active or not): Telegram id -> display name (views name who
        acknowledged, reviewed or urged: 2,000 people at scale); a new dict.

        Kept in memory and brought up to date like :meth:`cycle_facts`: a new person or a new
        name raises the facts' revision and stamps the person's row, so only the rows stamped
        above the kept map's revision are read (none while it has not moved).
        """
        revision = self.facts_revision()  # first: see cycle_facts
        with self._facts_lock:
            kept = self._names
        if kept is None or kept[0] != revision:
            since = -1 if kept is None or kept[0] > revision else kept[0]
            names = {} if since < 0 or kept is None else dict(kept[1])
            statement = (sa_select(col(Person.telegram_user_id), col(Person.display_name))
                         .where(col(Person.facts_revision) > since))
            with self.engine.connect() as connection:
                names.update((row[0], row[1]) for row in connection.execute(statement))
            kept = (revision, names)
            with self._facts_lock:  # whichever thread is last: a map holds every change up
                self._names = kept  # to its number (read before its rows), maybe more
        return dict(kept[1])

    def contacts_for_unit(self, unit_id: str) -> list[Person]:
        """The active people serving a unit (contacts, and leaders who serve one too)."""
        return self.list_people(unit_id=unit_id)

    def leaders(self) -> list[Person]:
        """Active leaders and admins (admins are leaders too)."""
        statement = (select(Person)
                     .where(col(Person.role).in_([PersonRole.LEADER, PersonRole.ADMIN]),
                            col(Person.active).is_(True))
                     .order_by(col(Person.id)))
        with self._session() as session:
            return list(session.exec(statement))

    def admins(self) -> list[Person]:
        """Active admins."""
        return self.list_people(role=PersonRole.ADMIN)

    # -- invites and leadership chats ------------------------------------------------------
    def create_invite(self, unit_id: str | None, role: str, created_by: int | None,
                      now: dt.datetime, ttl: dt.timedelta = dt.timedelta(days=7)) -> Invite:
        """Create a one-time invite; its ``code`` goes into ``t.me/<bot>?start=<code>``.

        Args:
            unit_id: the unit for a ``contact`` invite, None for ``leader``/``admin``.
            role: ``contact``, ``leader`` or ``admin``.
            created_by: the admin's Telegram user id, None for the CLI.
            now: when.
            ttl: how long it stays usable.

        Raises:
            ValueError: bad role/unit combination, unknown unit, ``ttl`` not positive.
        """
        now = _utc(now, "now")
        _check_role(role, unit_id)
        if ttl <= dt.timedelta(0):
            raise ValueError(f"ttl must be positive, not {ttl}")
        invite = Invite(code=secrets.token_urlsafe(18), unit_id=unit_id, role=role,
                        created_by=created_by, created_at=now, expires_at=now + ttl)
        with self._session() as session, session.begin():
            _require_unit(session, unit_id)
            session.add(invite)
            _audit(session, now, "invite.created", f"invite:{invite.code}", actor=created_by,
                   role=role, unit_id=unit_id, expires_at=invite.expires_at)
        return invite

    def enrol_with_invite(self, code: str, telegram_user_id: int, display_name: str,
                          language: str | None, now: dt.datetime) -> Enrolment:
        """Use an invite to enrol (or re-enrol) the Telegram user, both in one transaction.

        A contact invite adds its unit to the person's units (a clerk may serve two bureaus);
        a leader or admin invite raises the person's role (never lowers it). A person who was
        deactivated starts afresh with the invite's role and unit.

        Raises:
            InviteError: ``unknown``, ``used`` or ``expired``; nothing is changed.
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            invite = _use_invite(session, code, now, telegram_user_id, chat_id=None,
                                 roles=None)
            person = _enrol(session, telegram_user_id, display_name, invite.role,
                            invite.unit_id, language, now, actor=telegram_user_id,
                            invite_code=code)
            units = list(session.exec(
                select(Membership.unit_id)
                .where(Membership.telegram_user_id == telegram_user_id,
                       col(Membership.active).is_(True))
                .order_by(col(Membership.id))))
            return Enrolment(person=person, role=invite.role, unit_id=invite.unit_id,
                             units=tuple(units), invite_code=invite.code,
                             invite_created_by=invite.created_by)

    def open_invites(self, now: dt.datetime) -> list[Invite]:
        """Invites that can still be used (not used, not expired), newest first."""
        now = _utc(now, "now")
        statement = (select(Invite)
                     .where(col(Invite.used_at).is_(None), col(Invite.expires_at) > now)
                     .order_by(col(Invite.created_at).desc(), col(Invite.code)))
        with self._session() as session:
            return list(session.exec(statement))

    def cancel_invite(self, code_start: str, now: dt.datetime,
                      actor: int | None = None) -> list[Invite]:
        """Cancel the one open invite whose code begins with ``code_start``: it expires now
        (audit ``invite.cancelled``), and opening its link says it has expired.

        Returns:
            The open invites the start matches: one (cancelled now), none, or several (nothing
            is cancelled: a longer start is needed).
        """
        now = _utc(now, "now")
        if not code_start or not INVITE_CODE_PATTERN.fullmatch(code_start):
            return []
        with self._session() as session, session.begin():
            found = list(session.exec(
                select(Invite)
                .where(col(Invite.code).startswith(code_start, autoescape=True),
                       col(Invite.used_at).is_(None), col(Invite.expires_at) > now)))
            if len(found) == 1:
                found[0].expires_at = now
                _audit(session, now, "invite.cancelled", f"invite:{found[0].code}",
                       actor=actor, role=found[0].role, unit_id=found[0].unit_id)
            return found

    def record_failed_enrolment(self, telegram_user_id: int, reason: str,
                                now: dt.datetime) -> None:
        """Append that someone's enrolment code did not work (audit ``enrolment.failed``).

        Args:
            telegram_user_id: who tried.
            reason: why it failed: ``unknown``, ``used``, ``expired``.
            now: when.
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            _audit(session, now, "enrolment.failed", f"person:{telegram_user_id}",
                   actor=telegram_user_id, reason=reason)

    def failed_enrolments(self, telegram_user_id: int, since: dt.datetime) -> list[dt.datetime]:
        """When this person's enrolment codes failed since ``since``, oldest first."""
        since = _utc(since, "since")
        statement = (select(AuditEntry.at)
                     .where(AuditEntry.actor_telegram_id == telegram_user_id,
                            col(AuditEntry.at) >= since,
                            AuditEntry.action == "enrolment.failed")
                     .order_by(col(AuditEntry.at)))
        with self._session() as session:
            return list(session.exec(statement))

    def invites_created(self, created_by: int, since: dt.datetime) -> list[dt.datetime]:
        """When this admin made invitations since ``since``, oldest first."""
        since = _utc(since, "since")
        statement = (select(Invite.created_at)
                     .where(Invite.created_by == created_by, col(Invite.created_at) >= since)
                     .order_by(col(Invite.created_at)))
        with self._session() as session:
            return list(session.exec(statement))

    def bind_chat(self, chat_id: int, title: str, by_telegram_id: int,
                  now: dt.datetime) -> LeadershipChat:
        """Make a group chat a leadership chat (again); the bot checks that a leader asked."""
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            chat = session.get(LeadershipChat, chat_id)
            if chat is None:
                chat = LeadershipChat(chat_id=chat_id, title=title, bound_at=now,
                                      bound_by=by_telegram_id)
                session.add(chat)
            else:
                chat.title, chat.bound_at, chat.bound_by = title, now, by_telegram_id
                chat.active = True
            _audit(session, now, "chat.bound", f"chat:{chat_id}", actor=by_telegram_id,
                   title=title)
            return chat

    def leadership_chats(self, active_only: bool = True) -> list[LeadershipChat]:
        """The leadership chats (active ones by default), oldest binding first."""
        statement = select(LeadershipChat)
        if active_only:
            statement = statement.where(col(LeadershipChat.active).is_(True))
        statement = statement.order_by(col(LeadershipChat.bound_at), col(LeadershipChat.chat_id))
        with self._session() as session:
            return list(session.exec(statement))

    def get_chat(self, chat_id: int) -> LeadershipChat | None:
        """The leadership chat with this id, bound or not."""
        with self._session() as session:
            return session.get(LeadershipChat, chat_id)

    def set_chat_language(self, chat_id: int, language: str, now: dt.datetime,
                          actor: int | None = None) -> bool:
        """Set a leadership chat's language for digests; False if it is not a bound chat."""
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            chat = session.get(LeadershipChat, chat_id)
            if chat is None or not chat.active:
                return False
            if chat.language != language:
                _audit(session, now, "chat.language", f"chat:{chat_id}", actor=actor,
                       old=chat.language, new=language)
                chat.language = language
            return True

    def unbind_chat(self, chat_id: int, now: dt.datetime, actor: int | None = None) -> bool:
        """Stop sending to a leadership chat (e.g. the bot was removed); False if not bound."""
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            chat = session.get(LeadershipChat, chat_id)
            if chat is None or not chat.active:
                return False
            chat.active = False
            _audit(session, now, "chat.unbound", f"chat:{chat_id}", actor=actor)
            return True

    def migrate_chat(self, old_chat_id: int, new_chat_id: int, now: dt.datetime) -> bool:
        """Follow a group that Telegram turned into a supergroup (``migrate_to_chat_id``).

        Moves the leadership chat and its unfinished deliveries to the new id; a delivery the
        new id already has is skipped instead. False if ``old_chat_id`` is not a bound chat (or
        was followed already: Telegram tells the move in the old group and in the new one).
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            old = session.get(LeadershipChat, old_chat_id)
            if old is None or not old.active:
                return False
            new = session.get(LeadershipChat, new_chat_id)
            if new is None:
                session.add(LeadershipChat(chat_id=new_chat_id, title=old.title,
                                           bound_at=old.bound_at, bound_by=old.bound_by,
                                           active=old.active, language=old.language))
            old.active = False
            taken = {r.key for r in session.exec(
                select(Reminder).where(Reminder.chat_id == new_chat_id))}
            moved = skipped = 0
            for reminder in session.exec(select(Reminder).where(
                    Reminder.chat_id == old_chat_id, col(Reminder.state).in_(_UNFINISHED))):
                if (*reminder.key[:-1], new_chat_id) in taken:
                    reminder.state = ReminderState.SKIPPED
                    reminder.reason = f"chat migrated to {new_chat_id}"
                    skipped += 1
                else:
                    reminder.chat_id = new_chat_id
                    moved += 1
            _audit(session, now, "chat.migrated", f"chat:{old_chat_id}", new_chat_id=new_chat_id,
                   moved=moved, skipped=skipped)
            return True

    # -- reports and evidence --------------------------------------------------------------
    def add_report(self, task_id: int, unit_id: str, cycle: int, status: str,
                   progress: int | None, note: str, reporter_telegram_id: int | None,
                   now: dt.datetime, source: str,
                   source_message_id: int | None = None) -> StatusReport:
        """Append a status report (reports are never changed: a new one supersedes).

        Args:
            task_id: the timetable task.
            unit_id: the reporting unit (synced).
            cycle: the year the report is for.
            status: ``done``, ``in_progress``, ``blocked`` or ``not_applicable``.
            progress: percent done, 0-100, or None.
            note: free text ("" for none).
            reporter_telegram_id: who reported; None for the CLI.
            now: when.
            source: ``button``, ``reply``, ``command`` or ``cli``.
            source_message_id: the Telegram message it came from.

        Raises:
            ValueError: unknown status, source or unit, progress out of range, naive ``now``;
                nothing is stored.
        """
        report, _ = self.add_report_once(task_id, unit_id, cycle, status, progress, note,
                                         reporter_telegram_id, now, source, source_message_id)
        return report

    def add_report_once(self, task_id: int, unit_id: str, cycle: int, status: str,
                        progress: int | None, note: str, reporter_telegram_id: int | None,
                        now: dt.datetime, source: str, source_message_id: int | None = None,
                        repeat_window: dt.timedelta | None = None, *,
                        check: Callable[[CycleFacts], int | None] | None = None,
                        standing_of: int | None = None,
                        owed: Callable[[PairStanding], bool] | None = None
                        ) -> tuple[StatusReport, bool]:
        """Append a report unless it only repeats the same person's report of a moment ago.

        A double press, or the same /report or reply sent twice, is one report: when
        ``repeat_window`` is given and the unit's newest report on the task in the cycle came
        from the same reporter less than that long ago with the same status, and the new one
        adds no other note and no other percentage, nothing is stored. Arguments and errors as
        :meth:`add_report`; the fields of :class:`ReportRequest`. :meth:`add_reports_once` with
        this one report.

        Returns:
            ``(report, True)`` for a new report, ``(the earlier report, False)`` for a repeat.
        """
        outcome = self.add_reports_once([ReportRequest(
            task_id, unit_id, cycle, status, progress, note, reporter_telegram_id, now, source,
            source_message_id, repeat_window, check, standing_of, owed)])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def add_reports_once(self, requests: Sequence[ReportRequest], *, again: bool = False
                         ) -> list[tuple[StatusReport, bool] | Exception]:
        """Append reports in one transaction (a group commit), each as
        :meth:`add_report_once` would alone: the outcome of each, in order.

        One short transaction of Core statements (a person's every report comes here): the
        facts' revision is raised first, which takes its row's lock (SQLite: the database's
        write lock) until the commit, so that what is read next — each pair's facts
        (:meth:`pair_facts`) — cannot change before its report is appended; then, request by
        request, the pair's facts, the workflow's ``check``, the report and its audit entry;
        then one commit. A request reads the reports appended before it in the same
        transaction (a repeat sent twice in one group is stored once). Every report appended
        carries the transaction's one revision. When nothing is appended (repeats, refusals)
        the transaction rolls back and the revision is unchanged.

        Each outcome is ``(report, new)`` or the exception that request alone raised, with
        nothing stored for it: its ``check`` or ``owed`` refusing (:class:`StillOwed`), a
        ``ValueError`` for a bad status, source, progress, naive time or unknown unit,
        :class:`NotServing` for a reporter who no longer serves the unit (when the request
        asks). A database error is raised for the whole group (nothing of it is stored), except
        an integrity or data error (a value the database cannot hold), after which each request
        is tried again alone so that only its own fails (as a ``ValueError``).

        ``again``: these requests were sent before and that call's answer was lost (a
        connection dropped during its commit), so it may have stored them: a request whose
        report is already there, identical in pair, cycle, reporter, time, source, message,
        status and note, has that report as its outcome, ``(report, True)``, and is not stored
        twice. A request's own ``maybe_again`` (a message that may have been handled before)
        does the same for that request alone, with ``(report, False)``: it was announced then.
        Gathering concurrent reports into one call: ``bot.grouping``.
        """
        outcomes: list[tuple[StatusReport, bool] | Exception | None] = [None] * len(requests)
        valid: list[tuple[int, ReportRequest]] = []
        for index, request in enumerate(requests):
            try:
                valid.append((index, _valid_request(request)))
            except ValueError as exc:
                outcomes[index] = exc
        if valid:
            try:
                done = self._append_reports([request for _, request in valid], again=again)
            except (IntegrityError, DataError):  # whose? each in a savepoint: only it fails
                done = self._append_reports([request for _, request in valid], alone=True,
                                            again=again)
            for (index, _), outcome in zip(valid, done, strict=True):
                outcomes[index] = outcome
        finished = [outcome for outcome in outcomes if outcome is not None]
        assert len(finished) == len(outcomes), "every request has its outcome"
        return finished

    def _append_reports(self, requests: Sequence[ReportRequest], *, alone: bool = False,
                        again: bool = False) -> list[tuple[StatusReport, bool] | Exception]:
        """:meth:`add_reports_once`'s transaction for validated requests: each request's
        checks in order; the new reports and their audit entries inserted together (one
        statement each, so that a group costs a few round trips to PostgreSQL, not a few per
        report), early when a later request reads a pair that one of them is for.

        ``alone``: each report inserted at once in a savepoint of its own, whose integrity
        error (an unknown unit) or data error is that request's outcome and rolls back only its
        own rows; after a group's integrity or data error, to find whose it was. Any other
        database error is the group's: nothing of it is stored. ``again``: as in
        :meth:`add_reports_once`."""
        outcomes: list[tuple[StatusReport, bool] | Exception | None] = [None] * len(requests)
        checked: list[tuple[int, dict[str, Any]]] = []  # new reports, not yet inserted
        pairs: set[tuple[int, int, str]] = set()  # their (cycle, task, unit)
        stored_before: set[int] = set()  # found stored by a lost try (``again``)
        with self._connection() as connection:
            revision = connection.execute(self._raise_revision).scalar_one()  # the lock
            serving = _read_serving(connection, requests)
            for index, request in enumerate(requests):
                reads = {(request.cycle, request.task_id, request.unit_id)}
                if request.standing_of is not None:
                    reads.add((request.standing_of, request.task_id, request.unit_id))
                if reads & pairs:  # it must see those reports: in they go first
                    _insert_reports(connection, checked, outcomes)
                    checked, pairs = [], set()
                try:
                    found = _check_report(connection, request, revision, serving, again)
                except SQLAlchemyError:
                    raise  # the transaction is the group's: all of it fails
                except Exception as exc:  # this request's refusal: nothing of it written
                    outcomes[index] = exc
                    continue
                if isinstance(found, StatusReport):  # a repeat of the pair's newest
                    outcomes[index] = (found, False)
                elif isinstance(found, tuple):  # stored by the try whose answer was lost
                    outcomes[index] = (found[0], again)  # (or by an earlier handling)
                    stored_before.add(index)
                elif alone:
                    try:
                        with connection.begin_nested():
                            _insert_reports(connection, [(index, found)], outcomes)
                    except (IntegrityError, DataError) as exc:
                        outcomes[index] = self._database_refusal(
                            connection, request.unit_id, exc)
                else:
                    checked.append((index, found))
                    pairs.add((request.cycle, request.task_id, request.unit_id))
            _insert_reports(connection, checked, outcomes)
            if any(isinstance(o, tuple) and o[1] and i not in stored_before
                   for i, o in enumerate(outcomes)):
                connection.commit()
            else:
                connection.rollback()
        done = [outcome for outcome in outcomes if outcome is not None]
        assert len(done) == len(outcomes), "every request has its outcome"
        return done

    @staticmethod
    def _database_refusal(connection: Connection, unit_id: str,
                          error: IntegrityError | DataError) -> Exception:
        """What a report refused by the database raises: a ``ValueError`` for an unknown unit
        or a value the database cannot hold (a data error), else the integrity error itself."""
        if isinstance(error, DataError):
            return ValueError(f"the database cannot hold this report: {error.orig}")
        if connection.execute(_UNIT_KNOWN, {"unit_id": unit_id}).first() is None:
            return ValueError(f"unknown unit {unit_id!r} (sync the timetable's units first)")
        return error

    def pair_facts(self, cycle: int, task_id: int, unit_id: str) -> PairFacts:
        """One unit's facts on one task in one cycle, and whether it was reminded of it: what
        a report's checks read (the year it is for, the workflow's refusal), in one connection
        of a few indexed lookups — not the task's or the cycle's facts
        (:meth:`cycle_facts`)."""
        with self._connection() as connection:
            facts, _ = _read_pair_facts(connection, cycle, task_id, unit_id)
            reminded = connection.execute(_PAIR_REMINDED, {
                "cycle": cycle, "task_id": task_id, "unit_id": unit_id}).first() is not None
        return PairFacts(facts, reminded)

    def pair_standing(self, cycle: int, task_id: int, unit_id: str) -> PairStanding:
        """Whether a unit still owes a cycle of a task, as far as the database tells: the
        latest report's status, whether a leader returned it, whether the unit was reminded
        (what a report without a year asks of the year before: one statement, not the
        pair's facts of :meth:`pair_facts`)."""
        with self._connection() as connection:
            return _read_pair_standing(connection, cycle, task_id, unit_id)

    def add_evidence(self, report_id: int, file_id: str, file_unique_id: str, kind: str,
                     file_name: str | None, added_by: int | None,
                     now: dt.datetime) -> Evidence:
        """Attach a Telegram file (``document`` or ``photo``) to a report, once: the same file
        (Telegram's ``file_unique_id``, the same for every copy of one file) attached to the same
        report again, as when Telegram delivers the message a second time, is the evidence
        already there.

        Raises:
            ValueError: unknown kind or report, naive ``now``.
        """
        now = _utc(now, "now")
        _check_vocabulary("kind", kind, EvidenceKind)
        evidence = Evidence(report_id=report_id, file_id=file_id, file_unique_id=file_unique_id,
                            kind=kind, file_name=file_name, added_by_telegram_id=added_by,
                            added_at=now)
        with self._session() as session, session.begin():
            report = session.get(StatusReport, report_id)
            if report is None:
                raise ValueError(f"no report {report_id}")
            there = session.exec(select(Evidence).where(
                Evidence.report_id == report_id,
                Evidence.file_unique_id == file_unique_id)).first()
            if there is not None:
                return there
            session.add(evidence)
            session.flush()
            _audit(session, now, "evidence.added", f"evidence:{evidence.id}", actor=added_by,
                   report_id=report_id, kind=kind, file_unique_id=file_unique_id,
                   file_name=file_name, task_id=report.task_id, unit_id=report.unit_id,
                   cycle=report.cycle)
        return evidence

    def latest_reports(self, cycle: int, task_id: int | None = None,
                       unit_id: str | None = None) -> dict[tuple[int, str], ReportRow]:
        """The newest report per (task, unit) of a cycle, in one query.

        Newest is the latest ``reported_at``, then the highest id.

        Returns:
            ``{(task_id, unit_id): report}``, only for pairs that reported.
        """
        return self._newest_reports(cycle, task_id, unit_id, with_note=False)

    def latest_notes(self, cycle: int, task_id: int | None = None,
                     unit_id: str | None = None) -> dict[tuple[int, str], ReportRow]:
        """The newest report *with a note* per (task, unit) of a cycle, in one query.

        A later report without a note does not hide the last thing the unit wrote.
        """
        return self._newest_reports(cycle, task_id, unit_id, with_note=True)

    def _newest_reports(self, cycle: int, task_id: int | None, unit_id: str | None, *,
                        with_note: bool) -> dict[tuple[int, str], ReportRow]:
        # Plain rows, not ORM objects: a cycle at 1,000 units has 26,000 pairs.
        rank = func.row_number().over(
            partition_by=(col(StatusReport.task_id), col(StatusReport.unit_id)),
            order_by=(col(StatusReport.reported_at).desc(), col(StatusReport.id).desc()),
        ).label("rank")
        columns = [getattr(StatusReport, name) for name in ReportRow._fields]
        ranked = sa_select(*columns, rank).where(col(StatusReport.cycle) == cycle)
        if with_note:
            ranked = ranked.where(col(StatusReport.note) != "")
        if task_id is not None:
            ranked = ranked.where(col(StatusReport.task_id) == task_id)
        if unit_id is not None:
            ranked = ranked.where(col(StatusReport.unit_id) == unit_id)
        subquery = ranked.subquery()
        statement = (sa_select(*(subquery.c[name] for name in ReportRow._fields))
                     .where(subquery.c.rank == 1))
        with self.engine.connect() as connection:
            return {(row.task_id, row.unit_id): row for row in
                    map(ReportRow._make, connection.execute(statement))}

    def report_history(self, task_id: int, unit_id: str, cycle: int) -> list[StatusReport]:
        """Every report of a unit on a task for a cycle, oldest first."""
        statement = (select(StatusReport)
                     .where(StatusReport.task_id == task_id, StatusReport.unit_id == unit_id,
                            StatusReport.cycle == cycle)
                     .order_by(col(StatusReport.reported_at), col(StatusReport.id)))
        with self._session() as session:
            return list(session.exec(statement))

    def evidence_for(self, report_id: int) -> list[Evidence]:
        """The files attached to a report, in the order they came."""
        statement = (select(Evidence).where(Evidence.report_id == report_id)
                     .order_by(col(Evidence.id)))
        with self._session() as session:
            return list(session.exec(statement))

    # -- reminders -------------------------------------------------------------------------
    def plan_deliveries(self, rows: Iterable[ReminderSpec],
                        now: dt.datetime | None = None) -> int:
        """Record planned deliveries; idempotent, so it can run at every start and every day.

        A delivery already recorded (same task, unit, cycle, kind, offset, cutoff and chat) is
        not added again; if it is still pending and its ``due_at`` changed (the calendar was
        corrected), it is moved. When a unit's cutoff moves (an approved extension, 延期), a
        pending delivery about the old cutoff moves to the new one; one already sent, skipped or
        failed stays as the record of what happened, and the reminders about the new cutoff are
        new deliveries. Deliveries no longer planned are left alone: the dispatcher skips them
        (``mark_skipped``) when it finds they no longer apply.

        Args:
            rows: the wanted deliveries (duplicates count once, the last wins).
            now: the ``created_at`` of new rows; defaults to the wall clock.

        Returns:
            How many deliveries were new.
        """
        now = _now_or_wall_clock(now)
        wanted = {spec.key: spec for spec in rows}
        if not wanted:
            return 0
        cycles = sorted({spec.cycle for spec in wanted.values()})
        tasks = sorted({spec.task_id for spec in wanted.values()})
        units = sorted({spec.unit_id for spec in wanted.values()})
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        added = 0
        moved: list[int] = []
        with self._session() as session, session.begin():
            # plain rows, not ORM objects, and only the rows of the tasks and units asked
            # about (the unique key's first columns: an index search), so that the dispatcher
            # can plan a large cycle in small pieces
            table = _REMINDERS
            known = {tuple(r[:7]): r for r in session.execute(
                sa_select(table.c.task_id, table.c.unit_id, table.c.cycle, table.c.kind,
                          table.c.offset_days, table.c.cutoff, table.c.chat_id, table.c.id,
                          table.c.state, table.c.due_at)
                .where(table.c.task_id.in_(tasks), table.c.unit_id.in_(units),
                       table.c.cycle.in_(cycles)))}
            # pending rows by their key without the cutoff: the ones a moved cutoff takes along
            movable = {_without_cutoff(key): row for key, row in known.items()
                       if row.state == ReminderState.PENDING and key not in wanted}
            new = []
            for key, spec in wanted.items():
                row = known.get(key) or movable.pop(_without_cutoff(key), None)
                if row is None:
                    new.append(_reminder_values(spec, now))
                    continue
                if (row.state != ReminderState.PENDING
                        or (row.due_at, row.cutoff) == (spec.due_at, spec.cutoff)):
                    continue
                result = session.exec(
                    update(Reminder)
                    .where(col(Reminder.id) == row.id,
                           col(Reminder.state) == ReminderState.PENDING)
                    .values(due_at=spec.due_at, cutoff=spec.cutoff)
                    .execution_options(synchronize_session=False))
                if result.rowcount == 1 and row.id is not None:
                    moved.append(row.id)
            # one statement executed for many rows (compiled once, then cached), not a
            # statement of 500 rows' values compiled anew for every batch
            statement = (insert(_REMINDERS)
                         .on_conflict_do_nothing(index_elements=list(_REMINDER_KEY))
                         .returning(_REMINDERS.c.id))
            for batch in _batches(new, _INSERT_BATCH):
                added += len(session.execute(statement, list(batch)).all())
            if added or moved:
                _audit(session, now, "reminders.planned", "reminders", cycles=cycles, added=added,
                       moved=moved)
        return added

    def due_deliveries(self, now: dt.datetime,
                       not_before: dt.datetime | None = None) -> list[Reminder]:
        """Pending deliveries due by ``now`` (and not before ``not_before``), oldest first.

        Args:
            now: the present.
            not_before: leave out deliveries due before this (e.g. long missed while down);
                the dispatcher decides what to do with those (``mark_skipped``).
        """
        now = _utc(now, "now")
        statement = select(Reminder).where(Reminder.state == ReminderState.PENDING,
                                           col(Reminder.due_at) <= now)
        if not_before is not None:
            not_before = _utc(not_before, "not_before")
            statement = statement.where(col(Reminder.due_at) >= not_before)
        with self._session() as session:
            return list(session.exec(statement.order_by(col(Reminder.due_at),
                                                        col(Reminder.id))))

    def due_chats(self, now: dt.datetime) -> list[tuple[int, int]]:
        """(chat, cycle) of every pending delivery due by ``now``, each pair once, in order:
        what the dispatcher then reads page by page (:meth:`due_rows`)."""
        now = _utc(now, "now")
        statement = (sa_select(col(Reminder.chat_id), col(Reminder.cycle))
                     .where(col(Reminder.state) == ReminderState.PENDING,
                            col(Reminder.due_at) <= now)
                     .distinct().order_by(col(Reminder.chat_id), col(Reminder.cycle)))
        with self._session() as session:
            return [(chat_id, cycle) for chat_id, cycle in session.execute(statement)]

    def due_rows(self, now: dt.datetime, chats: Iterable[int]) -> list[DueRow]:
        """The pending deliveries to ``chats`` due by ``now``, oldest first, as plain rows
        (:class:`DueRow`, what the dispatcher decides on; not ORM objects, of which a first
        start's catch-up reads tens of thousands)."""
        now = _utc(now, "now")
        table = _REMINDERS
        statement = (sa_select(*(table.c[name] for name in DueRow._fields))
                     .where(table.c.state == ReminderState.PENDING.value,
                            table.c.due_at <= now, table.c.chat_id.in_(sorted(set(chats))))
                     .order_by(table.c.due_at, table.c.id))
        with self._session() as session:
            return [DueRow(*row) for row in session.execute(statement)]

    def reports_after(self, revision: int) -> tuple[int, set[tuple[int, str, int]]]:
        """The newest stamp, and the (task, unit, cycle) of every report stamped above
        ``revision`` (a :meth:`facts_revision` read earlier): what the dispatcher reads again
        while it sends (one indexed query, usually answering that nothing came in).

        By the facts' stamps, not by id: ids are handed out before the commit, so on
        PostgreSQL a report with a lower id can commit after one with a higher id, and a mark
        by id missed it (a unit reminded just after it reported). Stamps are given under the
        revision row's lock in commit order: every report committed after ``revision`` was
        read has a higher stamp (docs/design.md, "Facts kept in memory").
        """
        with self._connection() as connection:
            rows = connection.execute(_REPORTS_AFTER, {"revision": revision}).all()
        newest = max((row[0] or 0 for row in rows), default=revision)
        return newest, {(task_id, unit_id, cycle) for _, task_id, unit_id, cycle in rows}

    def claim(self, reminder_id: int, now: dt.datetime, instance: str = "",
              lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Take one pending delivery for sending (:meth:`claim_leased` of one row).

        Safe against racing dispatchers: exactly one caller gets True; send only then.
        """
        return len(self.claim_leased([reminder_id], instance, lease_seconds, now)) == 1

    def claim_leased(self, reminder_ids: Iterable[int], instance: str, lease_seconds: float,
                     now: dt.datetime) -> list[Row[Any]]:
        """Lease those of ``reminder_ids`` that are pending (pending -> sending), at once.

        One transaction: the rows of one message are taken together or, those another
        dispatcher holds, not at all (:meth:`claim_messages` of one message).

        Args:
            reminder_ids: the deliveries wanted.
            instance: who claims (``claimed_by``), e.g. ``host:pid:random``.
            lease_seconds: how long the claim holds unless renewed (:meth:`renew_leases`).
            now: the caller's clock, for ``claimed_at`` and the audit entries.

        Returns:
            The rows this call claimed, as they are now, in id order.
        """
        return self.claim_messages([list(reminder_ids)], instance, lease_seconds, now)[0]

    def claim_messages(self, messages: Sequence[Iterable[int]], instance: str,
                       lease_seconds: float, now: dt.datetime) -> list[list[Row[Any]]]:
        """Lease the pending rows of several messages in one transaction (a look, then a write).

        The dispatcher claims the messages its senders are about to send together (a few, at
        most its in-flight limit), instead of one transaction per message. On PostgreSQL the
        candidates are locked with ``SELECT ... FOR UPDATE SKIP LOCKED``, so racing instances
        never wait for one another; on SQLite the ``UPDATE`` takes the single writer's lock. A
        message is claimed whole or not at all: none of its rows while any of its unfinished
        rows cannot be taken now (:func:`_whole`: another instance claiming it, a live lease,
        a back-off not yet ended).
        The lease ends ``lease_seconds`` after the database's clock (:meth:`database_now`),
        never the caller's, so that instances whose clocks differ agree on it; a row whose
        back-off (``not_before``, :meth:`retry_later`) has not ended by that clock is not taken.

        Args:
            messages: each message's deliveries (a row belongs to one message).
            instance: who claims (``claimed_by``), e.g. ``host:pid:random``.
            lease_seconds: how long the claims hold unless renewed (:meth:`renew_leases`).
            now: the caller's clock, for ``claimed_at`` and the audit entries.

        Returns:
            For each message, the rows this call claimed, as they are now, in id order (plain
            rows with every column of :class:`Reminder`, not ORM objects).

        Raises:
            ValueError: a row is in more than one of ``messages`` (nothing is claimed).
        """
        wanted = [sorted(set(ids)) for ids in messages]
        ids = sorted({i for message in wanted for i in message})
        if len(ids) != sum(len(message) for message in wanted):
            twice = sorted({i for i in ids if sum(i in message for message in wanted) > 1})
            raise ValueError(f"reminders {twice} are in more than one message of one claim; "
                             "a row belongs to one message")
        if not ids:
            return [[] for _ in wanted]
        now = _utc(now, "now")
        skip: set[int] = set()
        while True:
            try:
                return self._claim_whole(wanted, ids, skip, instance, lease_seconds, now)
            except _ClaimRaced as raced:  # SQLite: leave the raced messages to the next run
                skip |= raced.messages

    def _claim_whole(self, wanted: list[list[int]], ids: list[int], skip: set[int],
                     instance: str, lease_seconds: float, now: dt.datetime
                     ) -> list[list[Row[Any]]]:
        """One try of :meth:`claim_messages`: look at the rows (PostgreSQL: lock the ready
        ones), claim the messages that can be taken whole (:func:`_whole`) and are not in
        ``skip`` (indexes in ``wanted``).

        Raises:
            _ClaimRaced: SQLite only: another writer changed rows between the look and the
                claim (the look reads without the writer's lock), so these messages would be
                taken in part; nothing is written (the transaction is rolled back).
        """
        postgres = self.engine.dialect.name == "postgresql"
        # prebuilt Core statements on a bare connection: a fan-out claims a few messages at a
        # time, and building the statement and the ORM objects cost more than running it
        with self._connection() as connection, connection.begin():
            database_now = self._database_now(connection)
            until = database_now + dt.timedelta(seconds=lease_seconds)
            # a row backing off (``not_before``, written on the database's clock) is not
            # claimable before its time, whatever the caller's clock or due list says
            taken = {index: message for index, message in _whole(wanted, connection.execute(
                _HOLD if postgres else _LOOK, {"ids": ids, "database_now": database_now}
            ).all()).items() if index not in skip}
            chosen = sorted(i for message in taken.values() for i in message)
            claimed = {row.id: row for row in connection.execute(
                _CLAIM, {"ids": chosen, "database_now": database_now, "now": now,
                         "instance": instance, "until": until})} if chosen else {}
            raced = {index for index, message in taken.items()
                     if any(i not in claimed for i in message)}
            if raced:  # SQLite only: on PostgreSQL the rows are locked since the look
                raise _ClaimRaced(raced)
            _audit_many(connection, now, "reminder.claimed",
                        [(f"reminder:{i}", {"instance": instance}) for i in sorted(claimed)])
            return [[claimed[i] for i in message if i in claimed] for message in wanted]

    def renew_leases(self, instance: str, lease_seconds: float) -> int:
        """Extend every lease ``instance`` holds to ``lease_seconds`` from the database's now.

        Returns:
            How many ``sending`` rows it holds.
        """
        with self._session() as session, session.begin():
            until = self._database_now(session) + dt.timedelta(seconds=lease_seconds)
            result = session.exec(
                update(Reminder)
                .where(col(Reminder.state) == ReminderState.SENDING,
                       col(Reminder.claimed_by) == instance)
                .values(lease_until=until)
                .execution_options(synchronize_session=False))
            return int(result.rowcount)

    def release_expired_leases(self, now: dt.datetime) -> list[Reminder]:
        """Return to pending every ``sending`` row whose lease ran out by the database's clock.

        Its dispatcher died (kill -9, a power cut) or lost the database for longer than the
        lease: whether its message reached Telegram is unknown (Telegram cannot be asked), so it
        is sent again — the at-most-in-flight duplicates of docs/reminders.md. A row without a
        lease (left by a version before leases) counts as expired. Counts no attempt: only a
        request Telegram failed counts toward the give-up limit (:meth:`retry_later`), so a row
        that lived through database outages and restarts still gets all its tries.

        Args:
            now: the caller's clock, for the audit entries.

        Returns:
            The rows released, as they were (``claimed_by`` still set), in id order.
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            database_now = self._database_now(session)
            expired = (col(Reminder.state) == ReminderState.SENDING) & (
                col(Reminder.lease_until).is_(None)
                | (col(Reminder.lease_until) < database_now))
            rows = list(session.exec(select(Reminder).where(expired)
                                     .order_by(col(Reminder.id))))
            if not rows:
                return []
            # The update checks the lease and its holder again: on PostgreSQL (READ COMMITTED)
            # another instance may have released and claimed a row since the select, and that
            # fresh claim is in flight.
            holders: dict[str | None, list[int]] = {}
            for row in rows:
                holders.setdefault(row.claimed_by, []).append(row.id or 0)
            released: set[int] = set()
            for holder, ids in holders.items():
                held = (col(Reminder.claimed_by).is_(None) if holder is None
                        else col(Reminder.claimed_by) == holder)
                released.update(session.execute(
                    update(Reminder)
                    .where(col(Reminder.id).in_(ids), expired, held)
                    .values(state=ReminderState.PENDING, claimed_at=None, claimed_by=None,
                            lease_until=None, reason="lease expired while sending")
                    .returning(col(Reminder.id))
                    .execution_options(synchronize_session=False)).scalars())
            rows = [row for row in rows if row.id in released]
            for row in rows:
                _audit(session, now, "reminder.lease_expired", f"reminder:{row.id}",
                       instance=row.claimed_by)
            return rows

    def database_now(self) -> dt.datetime:
        """The database's clock, aware in UTC: what leases are judged by.

        PostgreSQL: the server's ``now()``. SQLite: the database is a file on this machine, so
        its clock is this machine's system clock (``CURRENT_TIMESTAMP``), never an application
        clock that was moved.
        """
        with self._session() as session:
            return self._database_now(session)

    def _database_now(self, session: Session | Connection) -> dt.datetime:
        if self.engine.dialect.name == "postgresql":
            value = session.execute(select(func.now())).scalar_one()
            return _utc(value, "now()")
        # SQLite's CURRENT_TIMESTAMP is this machine's clock, in whole seconds; the same clock
        # with its microseconds, read without touching the file (a read would take a snapshot
        # before the write that follows).
        return dt.datetime.now(dt.UTC)

    def mark_sent(self, reminder_id: int, message_id: int | None, now: dt.datetime) -> bool:
        """Record a delivery as sent (from sending or pending); False if it was not unfinished.

        Args:
            reminder_id: the delivery.
            message_id: the Telegram message id, so that replies can be matched to it.
            now: when.
        """
        return self.mark_sent_many([reminder_id], message_id, now) == [reminder_id]

    def mark_sent_many(self, reminder_ids: Iterable[int], message_id: int | None,
                       now: dt.datetime) -> list[int]:
        """Record the deliveries one message carried as sent, in one transaction
        (:meth:`mark_sent_messages` of one message).

        Returns:
            The ids this call marked (those still pending or sending), in id order.
        """
        return self.mark_sent_messages([(list(reminder_ids), message_id)], now)[0]

    def mark_sent_messages(self, sent: Sequence[tuple[Iterable[int], int | None]],
                           now: dt.datetime) -> list[list[int]]:
        """Record several messages' deliveries as sent, each with its message id, in one
        transaction.

        The dispatcher records the messages Telegram accepted together as soon as it answered
        (the records that wait for one transaction are of messages in flight, so what a crash
        can leave unrecorded stays bounded by them; docs/reminders.md).

        Args:
            sent: (the deliveries one message carried, its Telegram message id), per message.
            now: when.

        Returns:
            Per message, the ids this call marked (those still pending or sending), in id order.
        """
        wanted = [(sorted(set(ids)), message_id) for ids, message_id in sent]
        owner: dict[int, int] = {}  # row -> its message (a row is one message's: the first)
        for index, (ids, _) in enumerate(wanted):
            for i in ids:
                owner.setdefault(i, index)
        message_of = {i: wanted[index][1] for i, index in owner.items()}
        if not message_of:
            return [[] for _ in wanted]
        now = _utc(now, "now")
        rows = sorted(message_of)
        parameters: dict[str, Any] = {"now": now}
        for k, i in enumerate(rows):
            parameters[f"i{k}"], parameters[f"m{k}"] = i, message_of[i]
        with self._connection() as connection, connection.begin():
            # one statement for every message (each row gets its message's id), not one each
            marked = set(connection.execute(_mark_sent_statement(len(rows)),
                                            parameters).scalars())
            marked_all = [[i for i in ids if i in marked and owner[i] == index]
                          for index, (ids, _) in enumerate(wanted)]
            _audit_many(connection, now, "reminder.sent",
                        [(f"reminder:{i}", {"message_id": message_id})
                         for done, (_, message_id) in zip(marked_all, wanted, strict=True)
                         for i in done])
        return marked_all

    def mark_failed(self, reminder_id: int, reason: str, now: dt.datetime,
                    instance: str = "") -> bool:
        """Give up on a delivery (e.g. the user blocked the bot); counts an attempt.

        Only a pending row or one ``instance`` holds (:func:`_held_by`).
        """
        return self._transition(reminder_id, now, "reminder.failed",
                                _held_by(instance, or_pending=True),
                                state=ReminderState.FAILED, reason=reason, lease_until=None,
                                attempts=col(Reminder.attempts) + 1, details={"reason": reason})

    def mark_skipped(self, reminder_id: int, reason: str, now: dt.datetime,
                     instance: str = "") -> bool:
        """Decide not to send a delivery (e.g. the unit already reported done, or too late).

        Only a pending row or one ``instance`` holds (:func:`_held_by`): a skip decided from a
        read made before another instance claimed the row must not undo its send.
        """
        return self._transition(reminder_id, now, "reminder.skipped",
                                _held_by(instance, or_pending=True),
                                state=ReminderState.SKIPPED, reason=reason, lease_until=None,
                                details={"reason": reason})

    def mark_skipped_many(self, skips: Iterable[tuple[int, str]], now: dt.datetime,
                          instance: str = "") -> int:
        """:meth:`mark_skipped` for many deliveries (id, reason) in one transaction (the catch-up
        after a first start skips thousands); only pending rows and those ``instance`` holds.

        Returns:
            How many were still unfinished and are skipped now.
        """
        by_reason: dict[str, list[int]] = {}
        for reminder_id, reason in skips:
            by_reason.setdefault(reason, []).append(reminder_id)
        if not by_reason:
            return 0
        now = _utc(now, "now")
        done = 0
        with self._session() as session, session.begin():
            for reason, ids in by_reason.items():
                for batch in _batches(sorted(set(ids)), _INSERT_BATCH):
                    marked = list(session.execute(
                        update(Reminder)
                        .where(col(Reminder.id).in_(batch),
                               _held_by(instance, or_pending=True))
                        .values(state=ReminderState.SKIPPED, reason=reason, lease_until=None)
                        .returning(col(Reminder.id))
                        .execution_options(synchronize_session=False)).scalars())
                    _audit_many(session, now, "reminder.skipped",
                                [(f"reminder:{reminder_id}", {"reason": reason})
                                 for reminder_id in marked])
                    done += len(marked)
        return done

    def give_back(self, reminder_ids: Iterable[int], instance: str, reason: str,
                  now: dt.datetime) -> list[int]:
        """Put back to pending those of ``reminder_ids`` that ``instance`` still holds
        (``sending``, claimed by it), in one transaction; no attempt counted.

        For rows an instance was kept from giving back (the database failed): a row whose
        lease ran out meanwhile may be another instance's now, in flight, and is left to it.

        Returns:
            The ids given back, in id order.
        """
        return self.retry_message_later(reminder_ids, reason, now, instance=instance,
                                        attempted=False)

    def retry_later(self, reminder_id: int, reason: str, now: dt.datetime, *,
                    instance: str = "", attempted: bool = True,
                    back_off: dt.timedelta | None = None, pages_sent: int | None = None,
                    pages_digest: str | None = None, unanswered: bool = False) -> bool:
        """Put a delivery ``instance`` holds back to pending (a transient error):
        :meth:`retry_message_later` of one row; True if it was moved.
        """
        return self.retry_message_later(
            [reminder_id], reason, now, instance=instance, attempted=attempted,
            back_off=back_off, pages_sent=pages_sent, pages_digest=pages_digest,
            unanswered=unanswered) == [reminder_id]

    def retry_message_later(self, reminder_ids: Iterable[int], reason: str, now: dt.datetime,
                            *, instance: str = "", attempted: bool = True,
                            back_off: dt.timedelta | None = None,
                            pages_sent: int | None = None, pages_digest: str | None = None,
                            unanswered: bool = False) -> list[int]:
        """Put the deliveries of one message that ``instance`` holds back to pending (a
        transient error), in one transaction with one back-off end: the message's rows become
        claimable at the same instant, and :meth:`claim_messages` takes them whole.

        Args:
            reminder_ids: the message's deliveries.
            reason: why, kept in ``reason`` and the audit entry.
            now: when.
            instance: who claimed it: a row whose lease ran out and that another instance
                claimed since is left to that instance (:func:`_held_by`).
            attempted: Telegram was asked and failed: counts an attempt toward the give-up
                limit. False for a give-back before any request (the database failed).
            back_off: how long to wait before the next try. Its end is kept in the row
                (``not_before``) on the database's clock (:meth:`database_now`), like leases,
                so that every instance (and this one after a restart), whatever its own clock,
                waits for it; :meth:`claim_messages` refuses the row until then. None leaves
                the row's as it is.
            pages_sent: how many pages of its message Telegram accepted (a later try sends
                from the next one); None leaves the row's as it is.
            pages_digest: the hash of the text those pages belong to (a later try resumes
                only while its text has it); kept with ``pages_sent``.
            unanswered: Telegram did not answer the send in time (it may have delivered it):
                counted in ``unanswered``.

        Returns:
            The ids moved back to pending, in id order.
        """
        ids = sorted(set(reminder_ids))
        if not ids:
            return []
        now = _utc(now, "now")
        counted: dict[str, Any] = {"attempts": col(Reminder.attempts) + 1} if attempted else {}
        if pages_sent is not None:
            counted["pages_sent"] = pages_sent
            counted["pages_digest"] = pages_digest
        if unanswered:
            counted["unanswered"] = col(Reminder.unanswered) + 1
        with self._session() as session, session.begin():
            if back_off is not None:
                counted["not_before"] = self._database_now(session) + back_off
            moved = sorted(session.execute(
                update(Reminder)
                .where(col(Reminder.id).in_(ids), _held_by(instance))
                .values(state=ReminderState.PENDING, reason=reason, claimed_at=None,
                        claimed_by=None, lease_until=None, **counted)
                .returning(col(Reminder.id))
                .execution_options(synchronize_session=False)).scalars())
            for reminder_id in moved:
                _audit(session, now, "reminder.retried", f"reminder:{reminder_id}",
                       reason=reason)
            return moved

    def acknowledge(self, reminder_id: int, telegram_user_id: int, now: dt.datetime) -> bool:
        """Record that a recipient acknowledged a sent reminder; False if not sent or already."""
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            revision = _facts_changed(session)
            result = session.exec(
                update(Reminder)
                .where(col(Reminder.id) == reminder_id, col(Reminder.state) == ReminderState.SENT,
                       col(Reminder.acknowledged_at).is_(None))
                .values(acknowledged_at=now, acknowledged_by_telegram_id=telegram_user_id,
                        facts_revision=revision)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return False
            _audit(session, now, "reminder.acknowledged", f"reminder:{reminder_id}",
                   actor=telegram_user_id)
            return True

    def get_reminder(self, reminder_id: int) -> Reminder | None:
        """The delivery with this id."""
        with self._session() as session:
            return session.get(Reminder, reminder_id)

    def reminders_for_cycle(self, cycle: int) -> list[Reminder]:
        """Every delivery of a cycle, in due order."""
        statement = (select(Reminder).where(Reminder.cycle == cycle)
                     .order_by(col(Reminder.due_at), col(Reminder.id)))
        with self._session() as session:
            return list(session.exec(statement))

    def reminded_pairs(self, cycle: int) -> set[tuple[int, str]]:
        """(task, unit) that a reminder or overdue notice reached in a cycle (one query)."""
        statement = (select(Reminder.task_id, Reminder.unit_id).distinct()
                     .where(Reminder.cycle == cycle, Reminder.state == ReminderState.SENT,
                            Reminder.task_id != 0))
        with self._session() as session:
            return {(task_id, unit_id) for task_id, unit_id in session.exec(statement)}

    def was_reminded(self, task_id: int, unit_id: str, cycle: int) -> bool:
        """Whether any reminder or overdue notice about a task reached the unit in a cycle."""
        with self._connection() as connection:
            return connection.execute(_PAIR_REMINDED, {
                "cycle": cycle, "task_id": task_id, "unit_id": unit_id}).first() is not None

    def reminders_by_message(self, chat_id: int, message_id: int) -> list[Reminder]:
        """The deliveries that became this Telegram message (to understand a reply to it).

        One message may carry several deliveries (a person's reminders of one day), in id
        order; none for a message that is not a reminder.
        """
        statement = (select(Reminder)
                     .where(Reminder.chat_id == chat_id, Reminder.message_id == message_id)
                     .order_by(col(Reminder.id)))
        with self._session() as session:
            return list(session.exec(statement))

    def record_notice_messages(self, chat_id: int, message_id: int,
                               about: Iterable[tuple[int, str, int]], kind: str,
                               now: dt.datetime) -> None:
        """Remember what a message the bot sent (not a reminder) is about, so that a reply to
        it, or a task button under it, belongs to the same task, unit and cycle.

        Args:
            chat_id: the chat it went to.
            message_id: its Telegram message id (the last page's, which carries the buttons).
            about: (task, unit, cycle) it is about; task 0 for every task of the unit.
            kind: what it was: ``returned``, ``urged``, ``extension``, ``listing``...
            now: when it was sent.
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            for task_id, unit_id, cycle in dict.fromkeys(about):
                session.add(NoticeMessage(chat_id=chat_id, message_id=message_id,
                                          task_id=task_id, unit_id=unit_id, cycle=cycle,
                                          kind=kind, sent_at=now))

    def notice_messages(self, chat_id: int, message_id: int) -> list[NoticeMessage]:
        """What a message the bot sent is about (:meth:`record_notice_messages`), in the order
        recorded; none for a message not recorded."""
        statement = (select(NoticeMessage)
                     .where(NoticeMessage.chat_id == chat_id,
                            NoticeMessage.message_id == message_id)
                     .order_by(col(NoticeMessage.id)))
        with self._session() as session:
            return list(session.exec(statement))

    def _transition(self, reminder_id: int, now: dt.datetime, action: str,
                    allowed: ColumnElement[bool], *, details: dict[str, Any] | None = None,
                    **values: Any) -> bool:
        """Change a delivery only if ``allowed`` holds for it; True if this call did."""
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            result = session.exec(
                update(Reminder)
                .where(col(Reminder.id) == reminder_id, allowed)
                .values(**values)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return False
            _audit(session, now, action, f"reminder:{reminder_id}", **(details or {}))
            return True

    def acknowledge_message(self, chat_id: int, message_id: int, telegram_user_id: int,
                            now: dt.datetime) -> list[Reminder]:
        """收到 under a message: acknowledge every delivery it carried (every task it lists).

        Only sent deliveries not acknowledged yet are marked; each gets an audit entry.

        Returns:
            The deliveries acknowledged by this call (none when all were already).
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            # the lock first: two presses at once cannot both find the rows unacknowledged (an
            # acknowledgement is written once, which Store.cycle_facts relies on)
            revision = _facts_changed(session)
            rows = list(session.exec(
                select(Reminder)
                .where(Reminder.chat_id == chat_id, Reminder.message_id == message_id,
                       Reminder.state == ReminderState.SENT,
                       col(Reminder.acknowledged_at).is_(None))
                .order_by(col(Reminder.id))))
            for row in rows:
                row.acknowledged_at, row.acknowledged_by_telegram_id = now, telegram_user_id
                row.facts_revision = revision
                _audit(session, now, "reminder.acknowledged", f"reminder:{row.id}",
                       actor=telegram_user_id, task_id=row.task_id, unit_id=row.unit_id,
                       cycle=row.cycle)
            return rows

    def acknowledgements(self, cycle: int, task_id: int | None = None
                         ) -> dict[tuple[int, str], Acknowledgement]:
        """The first acknowledgement of each (task, unit) in a cycle: who and when (the
        earliest, then the lowest reminder id)."""
        statement = _acknowledgement_rows(cycle)
        if task_id is not None:
            statement = statement.where(col(Reminder.task_id) == task_id)
        found: dict[tuple[int, str], Acknowledgement] = {}
        with self._session() as session:
            _merge_acknowledgements(session.execute(statement), {}, found)
        return found

    def acknowledged_among(self, pairs: Iterable[tuple[int, str, int]]
                           ) -> dict[tuple[int, str, int], Acknowledgement]:
        """The first acknowledgement of those of ``pairs`` (task, unit, cycle) acknowledged so
        far: what the dispatcher reads again just before it sends acknowledgement reminders
        (one indexed query per cycle).
        """
        by_cycle: dict[int, set[tuple[int, str]]] = {}
        for task_id, unit_id, cycle in pairs:
            by_cycle.setdefault(cycle, set()).add((task_id, unit_id))
        found: dict[tuple[int, str, int], Acknowledgement] = {}
        with self._session() as session:
            for cycle, wanted in sorted(by_cycle.items()):
                statement = (select(Reminder.task_id, Reminder.unit_id, Reminder.acknowledged_at,
                                    Reminder.acknowledged_by_telegram_id)
                             .where(col(Reminder.task_id).in_({t for t, _ in wanted}),
                                    col(Reminder.unit_id).in_({u for _, u in wanted}),
                                    Reminder.cycle == cycle,
                                    col(Reminder.acknowledged_at).is_not(None))
                             .order_by(col(Reminder.acknowledged_at), col(Reminder.id)))
                for task_id, unit_id, at, by in session.exec(statement):
                    if (task_id, unit_id) in wanted and at is not None and by:
                        found.setdefault((task_id, unit_id, cycle), Acknowledgement(by, at))
        return found

    # -- reviews, extensions, urges ----------------------------------------------------------
    def get_report(self, report_id: int) -> StatusReport | None:
        """The report with this id."""
        with self._session() as session:
            return session.get(StatusReport, report_id)

    def add_review(self, report_id: int, decision: str, comment: str,
                   reviewer_telegram_id: int | None, now: dt.datetime) -> Review | None:
        """A leader confirms or returns a report of done; one review per report.

        Args:
            report_id: the report reviewed; it must still be its unit's latest on the task.
            decision: ``confirmed`` or ``returned``.
            comment: why it is returned ("" for none).
            reviewer_telegram_id: the leader.
            now: when.

        Returns:
            The review, or None when the report was reviewed already or is no longer the
            unit's latest (nothing stored).

        Raises:
            ValueError: unknown decision or report, naive ``now``.
        """
        now = _utc(now, "now")
        _check_vocabulary("decision", decision, REVIEW_DECISIONS)
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        with self._session() as session, session.begin():
            # the lock first: no report can come in between the check below and the review
            revision = _facts_changed(session)
            report = session.get(StatusReport, report_id)
            if report is None:
                raise ValueError(f"no report {report_id}")
            newest = session.exec(
                select(StatusReport.id)
                .where(StatusReport.task_id == report.task_id,
                       StatusReport.unit_id == report.unit_id,
                       StatusReport.cycle == report.cycle)
                .order_by(col(StatusReport.reported_at).desc(), col(StatusReport.id).desc())
                .limit(1)).first()
            if newest != report_id:
                return None
            values = {"report_id": report_id, "task_id": report.task_id,
                      "unit_id": report.unit_id, "cycle": report.cycle, "decision": decision,
                      "comment": comment, "reviewer_telegram_id": reviewer_telegram_id,
                      "reviewed_at": now, "facts_revision": revision}
            added = session.exec(insert(Review).values(**values)
                                 .on_conflict_do_nothing(index_elements=["report_id"])
                                 .returning(col(Review.id))).first()
            if added is None:
                return None
            _audit(session, now, f"review.{decision}", f"report:{report_id}",
                   actor=reviewer_telegram_id, task_id=report.task_id, unit_id=report.unit_id,
                   cycle=report.cycle, comment=comment)
            return session.get(Review, added[0])

    def reviews(self, cycle: int, task_id: int | None = None) -> dict[int, Review]:
        """The reviews of a cycle (of one task), by the id of the report reviewed."""
        statement = select(Review).where(Review.cycle == cycle)
        if task_id is not None:
            statement = statement.where(Review.task_id == task_id)
        with self._session() as session:
            return {r.report_id: r for r in session.exec(statement)}

    def request_extension(self, task_id: int, unit_id: str, cycle: int, due_date: dt.date,
                          reason: str, requested_by: int | None,
                          now: dt.datetime, *,
                          check: Callable[[CycleFacts], None] | None = None,
                          serving: bool = False) -> Extension | None:
        """A unit asks to move its due date; None when one of its requests is still pending.

        ``check``: the workflow's check, called in the transaction, after the facts' lock, with
        the pair's facts (:meth:`pair_facts`); it raises to record nothing (that exception
        propagates), so that no report of done can come between the check and the request.
        ``serving``: ``requested_by`` must be an active person serving the unit then (read
        after the lock, the membership row share-locked against a revocation, as for a
        report's ``ReportRequest.serving``).

        Raises:
            ValueError: unknown unit, naive ``now``; what ``check`` raises.
            NotServing: ``serving`` and the requester no longer serves the unit.
        """
        now = _utc(now, "now")
        with self._session() as session, session.begin():
            _require_unit(session, unit_id)
            revision = _facts_changed(session)  # first: two requests at once are one at a time
            if serving and requested_by is not None and (requested_by, unit_id) not in {
                    (person, unit) for person, unit in session.connection().execute(
                        _SERVING, {"people": [requested_by]})}:
                raise NotServing(unit_id)
            if check is not None:
                check(_read_pair_facts(session.connection(), cycle, task_id, unit_id)[0])
            waiting = session.exec(select(Extension.id).where(
                Extension.task_id == task_id, Extension.unit_id == unit_id,
                Extension.cycle == cycle, Extension.state == "pending")).first()
            if waiting is not None:
                return None
            extension = Extension(task_id=task_id, unit_id=unit_id, cycle=cycle,
                                  due_date=due_date, reason=reason, requested_by=requested_by,
                                  requested_at=now, state="pending", facts_revision=revision)
            session.add(extension)
            session.flush()
            _audit(session, now, "extension.requested", f"extension:{extension.id}",
                   actor=requested_by, task_id=task_id, unit_id=unit_id, cycle=cycle,
                   due_date=due_date, reason=reason)
            return extension

    def decide_extension(self, extension_id: int, approve: bool, decided_by: int | None,
                         comment: str, now: dt.datetime) -> Extension | None:
        """Approve or reject a pending request, once; None if it is not pending (or unknown)."""
        now = _utc(now, "now")
        state = "approved" if approve else "rejected"
        with self._session() as session, session.begin():
            revision = _facts_changed(session)
            result = session.exec(
                update(Extension)
                .where(col(Extension.id) == extension_id, col(Extension.state) == "pending")
                .values(state=state, decided_by=decided_by, decided_at=now,
                        decision_comment=comment, facts_revision=revision)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return None
            extension = session.get(Extension, extension_id)
            assert extension is not None
            session.refresh(extension)
            _audit(session, now, f"extension.{state}", f"extension:{extension_id}",
                   actor=decided_by, task_id=extension.task_id, unit_id=extension.unit_id,
                   cycle=extension.cycle, due_date=extension.due_date, comment=comment)
            return extension

    def get_extension(self, extension_id: int) -> Extension | None:
        """The extension request with this id."""
        with self._session() as session:
            return session.get(Extension, extension_id)

    def extensions(self, cycle: int, task_id: int | None = None
                   ) -> dict[tuple[int, str], list[Extension]]:
        """Every extension request of a cycle (of one task) per (task, unit), oldest first."""
        statement = (select(Extension).where(Extension.cycle == cycle)
                     .order_by(col(Extension.requested_at), col(Extension.id)))
        if task_id is not None:
            statement = statement.where(Extension.task_id == task_id)
        found: dict[tuple[int, str], list[Extension]] = {}
        with self._session() as session:
            for extension in session.exec(statement):
                found.setdefault((extension.task_id, extension.unit_id), []).append(extension)
        return found

    def urge(self, task_id: int, unit_id: str, cycle: int, day: dt.date,
             urged_by: int | None, now: dt.datetime) -> Urge | None:
        """A leader urges a unit on a task; None if the unit was urged on it that day already.

        Args:
            task_id: the task.
            unit_id: the unit urged.
            cycle: the cycle.
            day: the office's day (at most one urge per unit, task and day).
            urged_by: the leader.
            now: when.
        """
        now = _utc(now, "now")
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        with self._session() as session, session.begin():
            _require_unit(session, unit_id)
            added = session.exec(
                insert(Urge).values(task_id=task_id, unit_id=unit_id, cycle=cycle, day=day,
                                    urged_by=urged_by, urged_at=now)
                .on_conflict_do_nothing(index_elements=["task_id", "unit_id", "cycle", "day"])
                .returning(col(Urge.id))).first()
            if added is None:
                return None
            _audit(session, now, "task.urged", f"task:{task_id}", actor=urged_by,
                   task_id=task_id, unit_id=unit_id, cycle=cycle, day=day)
            return session.get(Urge, added[0])

    def urges(self, cycle: int, task_id: int | None = None) -> list[Urge]:
        """Every urge of a cycle (of one task), oldest first."""
        statement = (select(Urge).where(Urge.cycle == cycle)
                     .order_by(col(Urge.urged_at), col(Urge.id)))
        if task_id is not None:
            statement = statement.where(Urge.task_id == task_id)
        with self._session() as session:
            return list(session.exec(statement))

    def cycle_facts(self, cycle: int, task_id: int | None = None,
                    unit_id: str | None = None) -> CycleFacts:
        """What the workflow's states are read from: latest reports, reviews, extensions and
        acknowledgements of a cycle (of one task, of one unit's reports).

        The whole cycle's facts (no ``task_id``, no ``unit_id``) are kept in memory, for the
        :data:`_CACHED_CYCLES` cycles asked for last: a summary at 1,000 units would otherwise
        read 130,000 reports each time. They are known to be current with one lookup (the
        revision, :meth:`facts_revision`, has not moved: the same object is returned, with the
        views the domain kept on it); when it moved, only the rows changed since are read
        (those stamped with a higher revision, whoever wrote them: another instance, the
        command line) and a new object is made from the kept one, with the kept views carried
        over and only the changed (task, unit) pairs' states computed again
        (:func:`schedules.workflow.carry_views`). The objects returned must not be changed.

        Why that is exact, with writers in other processes: every transaction that changes a
        fact takes the counter row's lock before it writes, raises the counter and stamps the
        rows it writes (or changes) with the new number, and holds the lock until it commits
        (:func:`_facts_changed`). So the numbers are given in commit order: once revision R is
        seen committed, every transaction numbered R or lower has committed, and a later one
        gets a higher number. Reading R *first*, then the rows stamped above the kept copy's
        revision K, finds every change up to R (and maybe a few later ones, which the next read
        reads again: applying a row twice changes nothing). A row changed again later gets a
        higher stamp and is read again, whole. What the copy keeps is a function of the rows
        read, merged row by row: the latest report of a pair is the newest by (time, id) —
        reports are never changed; a review by its report; an extension request by its id (its
        decision, written once, replaces it); the first acknowledgement by (time, reminder id)
        — written once per reminder, under the lock. So the copy at R equals a fresh read at
        R (tested against one, with writes through a second store between reads, on SQLite and
        PostgreSQL). A counter lower than the copy's (a database restored from a backup) makes
        the copy be read again whole.

        With ``task_id`` and/or ``unit_id``, the facts come from the kept copy when there is
        one for the cycle (brought up to date as above): its mappings, which hold the other
        pairs too (exact for the pairs asked about), and the latest notes of that task or that
        unit, read once per task or unit and kept up to date with the copy. Without a kept
        copy they are read from the database (a few queries on that task's or unit's rows),
        and no copy is made for them.
        """
        narrow = task_id is not None or unit_id is not None
        kept = self._current_facts(cycle, start=not narrow)
        if kept is None:
            return self._read_facts(cycle, task_id, unit_id)
        if not narrow:
            return kept.facts
        facts = kept.facts
        return CycleFacts(cycle, facts.reports, facts.reviews, facts.extensions,
                          facts.acknowledgements, self._kept_notes(kept, task_id, unit_id))

    def facts_revision(self) -> int:
        """How many changes the facts of every cycle have had (reports, reviews, extensions,
        acknowledgements, people's names): equal numbers mean equal facts. A transaction that
        took the lock and then changed nothing (a review of a report reviewed already) counts
        too."""
        with self._session() as session:
            found = session.exec(select(FactsRevision.revision)
                                 .where(FactsRevision.id == 1)).first()
        return found or 0

    def _current_facts(self, cycle: int, *, start: bool) -> _KeptFacts | None:
        """The kept copy of ``cycle``'s facts, brought up to date; None when there is none and
        ``start`` is False (else one is read whole)."""
        revision = self.facts_revision()  # first: see cycle_facts
        with self._facts_lock:
            kept = self._facts.get(cycle)
        if kept is not None and kept.revision == revision:
            self._keep(cycle, kept)
            return kept
        with self._catching_up:
            with self._facts_lock:
                kept = self._facts.get(cycle)
            if kept is not None and kept.revision > revision:
                # another thread read a newer number since, or the database went back (a
                # backup restored): read it again to tell
                revision = self.facts_revision()
            if kept is not None and kept.revision == revision:
                pass
            elif kept is not None and kept.revision < revision:
                kept = self._caught_up(kept, revision)
            elif start:
                kept = self._read_kept(cycle, revision)
            else:
                with self._facts_lock:
                    self._facts.pop(cycle, None)
                return None
            self._keep(cycle, kept)
            return kept

    def _keep(self, cycle: int, kept: _KeptFacts) -> None:
        """Keep ``kept`` as the cycle's copy, the cycle as the one asked for last."""
        with self._facts_lock:
            current = self._facts.pop(cycle, None)
            if current is not None and current.revision > kept.revision:
                kept = current  # a newer copy was kept meanwhile (another thread)
            self._facts[cycle] = kept
            while len(self._facts) > _CACHED_CYCLES:  # the cycles asked for last are kept
                del self._facts[next(iter(self._facts))]

    def _read_kept(self, cycle: int, revision: int) -> _KeptFacts:
        """The whole cycle's facts read afresh, as of ``revision`` (read before)."""
        first: dict[Pair, tuple[dt.datetime, int]] = {}
        acknowledgements: dict[Pair, Acknowledgement] = {}
        with self._session() as session:
            _merge_acknowledgements(session.execute(_acknowledgement_rows(cycle)),
                                    first, acknowledgements)
        facts = CycleFacts(cycle, self.latest_reports(cycle), self.reviews(cycle),
                           self.extensions(cycle), acknowledgements)
        return _KeptFacts(revision, facts, first)

    def _caught_up(self, kept: _KeptFacts, revision: int) -> _KeptFacts:
        """``kept`` with the rows stamped above its revision read and merged (see
        :meth:`cycle_facts`); the same facts object when none was about this cycle."""
        cycle, since, old = kept.facts.cycle, kept.revision, kept.facts
        columns = [getattr(StatusReport, name) for name in ReportRow._fields]
        # Only the stamp in SQL (the rows changed since, of every cycle: a few), the cycle in
        # Python: with the cycle in the query SQLite's planner takes the cycle's index (all the
        # rows stamped 0 before migration 0011 look alike to ANALYZE) and reads 130,000 entries.
        with self._session() as session:
            reports = [report for report in map(ReportRow._make, session.execute(
                sa_select(*columns).where(col(StatusReport.facts_revision) > since)))
                if report.cycle == cycle]
            reviews = [review for review in session.exec(
                select(Review).where(col(Review.facts_revision) > since))
                if review.cycle == cycle]
            extensions = [extension for extension in session.exec(
                select(Extension).where(col(Extension.facts_revision) > since))
                if extension.cycle == cycle]
            acknowledged = [row[:5] for row in session.execute(
                sa_select(col(Reminder.task_id), col(Reminder.unit_id),
                          col(Reminder.acknowledged_at),
                          col(Reminder.acknowledged_by_telegram_id), col(Reminder.id),
                          col(Reminder.cycle))
                .where(col(Reminder.facts_revision) > since,
                       col(Reminder.acknowledged_at).is_not(None))) if row[5] == cycle]
        if not (reports or reviews or extensions or acknowledged):
            return _KeptFacts(revision, old, kept.first_acknowledgements, kept.notes,
                              kept.noted_tasks, kept.noted_units)
        changed: set[Pair] = set()
        latest: dict[Pair, Any] = dict(old.reports) if reports else {}
        for report in reports:
            pair = (report.task_id, report.unit_id)
            changed.add(pair)
            _keep_newest(latest, pair, report)
            if report.note:
                _keep_newest(kept.notes.setdefault(report.task_id, {}), pair, report)
        by_report: dict[int, Any] = dict(old.reviews) if reviews else {}
        for review in reviews:
            changed.add((review.task_id, review.unit_id))
            by_report[review.report_id] = review
        requests: dict[Pair, Any] = dict(old.extensions) if extensions else {}
        for extension in extensions:
            pair = (extension.task_id, extension.unit_id)
            changed.add(pair)
            others = [e for e in requests.get(pair, ()) if e.id != extension.id]
            requests[pair] = sorted([*others, extension],
                                    key=lambda e: (e.requested_at, e.id or 0))
        acknowledgements = dict(old.acknowledgements) if acknowledged else {}
        first = dict(kept.first_acknowledgements) if acknowledged else kept.first_acknowledgements
        changed |= _merge_acknowledgements(acknowledged, first, acknowledgements)
        facts = CycleFacts(cycle, latest if reports else old.reports,
                           by_report if reviews else old.reviews,
                           requests if extensions else old.extensions,
                           acknowledgements if acknowledged else old.acknowledgements)
        carry_views(old, facts, changed)
        return _KeptFacts(revision, facts, first, kept.notes,
                          kept.noted_tasks, kept.noted_units)

    def _kept_notes(self, kept: _KeptFacts, task_id: int | None,
                    unit_id: str | None) -> dict[Pair, ReportRow]:
        """The latest notes of one task's or one unit's pairs (of one pair: its unit's are read),
        read once into ``kept`` (then kept up to date by :meth:`_caught_up`): a copy."""
        with self._catching_up:
            if not (task_id in kept.noted_tasks or unit_id in kept.noted_units):
                # the copy's revision was read before: a note stored since is in both this
                # read and the next catching up (the newest is kept either way)
                whole_task = unit_id is None
                for pair, report in self.latest_notes(
                        kept.facts.cycle, task_id if whole_task else None, unit_id).items():
                    _keep_newest(kept.notes.setdefault(pair[0], {}), pair, report)
                if whole_task:
                    kept.noted_tasks.add(task_id)  # type: ignore[arg-type]
                else:
                    kept.noted_units.add(unit_id)  # type: ignore[arg-type]
            if task_id is not None:
                return {pair: report for pair, report in kept.notes.get(task_id, {}).items()
                        if unit_id is None or pair[1] == unit_id}
            found: dict[Pair, ReportRow] = {}
            for task, notes in kept.notes.items():
                note = notes.get((task, str(unit_id)))
                if note is not None:
                    found[(task, str(unit_id))] = note
            return found

    def _read_facts(self, cycle: int, task_id: int | None, unit_id: str | None) -> CycleFacts:
        # The latest notes only for one task's or one unit's facts (the views that show notes):
        # the whole cycle's summaries show none, and at 1,000 units a second pass over the
        # cycle's reports would double the cost of reading its facts.
        narrow = task_id is not None or unit_id is not None
        return CycleFacts(cycle, self.latest_reports(cycle, task_id, unit_id),
                          self.reviews(cycle, task_id), self.extensions(cycle, task_id),
                          self.acknowledgements(cycle, task_id),
                          self.latest_notes(cycle, task_id, unit_id) if narrow else {})

    # -- audit -----------------------------------------------------------------------------
    def audit_log(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        """The newest audit entries first, optionally of one action (e.g. ``report.added``)."""
        statement = select(AuditEntry)
        if action is not None:
            statement = statement.where(AuditEntry.action == action)
        statement = statement.order_by(col(AuditEntry.id).desc()).limit(limit)
        with self._session() as session:
            return list(session.exec(statement))

    def workflow_log(self, limit: int = 30, task_id: int | None = None) -> list[AuditEntry]:
        """The newest entries of the supervision workflow first: reports, acknowledgements,
        reviews, extensions and urges (of one task)."""
        statement = (select(AuditEntry)
                     .where(col(AuditEntry.action).in_(WORKFLOW_ACTIONS))
                     .order_by(col(AuditEntry.id).desc()))
        if task_id is None:
            statement = statement.limit(limit)
        found: list[AuditEntry] = []
        with self._session() as session:
            for entry in session.exec(statement):
                if task_id is None or entry.details_dict().get("task_id") == task_id:
                    found.append(entry)
                    if len(found) >= limit:
                        break
        return found

    def cycle_log(self, cycle: int, actions: Sequence[str] = WORKFLOW_ACTIONS) -> list[LogRow]:
        """The supervision workflow's audit entries about one cycle, oldest first: reports,
        evidence, acknowledgements, reviews, extensions, urges (of ``actions`` only).

        Plain rows, not ORM objects: a cycle at 1,000 units has 130,000 ``report.added``
        entries, and as many acknowledgements may come.
        """
        # The details are JSON text: entries that do not even contain the year's digits are
        # left in the database (other cycles' reports: nine in ten at ten years), the rest is
        # decoded and checked. One action at a time, sorted here: with ``IN`` and ``ORDER BY``
        # SQLite's planner walked the whole log in time order (1.3 million entries at 1,000
        # units, where ANALYZE sees mostly report.added) instead of the action's index.
        columns = [getattr(AuditEntry, name) for name in LogRow._fields]
        found: list[LogRow] = []
        with self.engine.connect() as connection:
            for action in dict.fromkeys(actions):
                statement = sa_select(*columns).where(
                    col(AuditEntry.action) == action,
                    col(AuditEntry.details).contains(str(cycle)))
                found += [entry for entry in map(LogRow._make, connection.execute(statement))
                          if entry.details_dict().get("cycle") == cycle]
        found.sort(key=lambda entry: (entry.at, entry.id))
        return found

    def reports_for_cycle(self, cycle: int) -> list[ReportRow]:
        """Every report of a cycle, every task and unit, oldest first, in one query.

        Oldest is the earliest ``reported_at``, then the lowest id (the order they were added).
        Plain rows, not ORM objects: a year at 1,000 units is 130,000 reports, and making an
        ORM object of each took most of the export's reading.
        """
        columns = [getattr(StatusReport, name) for name in ReportRow._fields]
        statement = (sa_select(*columns).where(col(StatusReport.cycle) == cycle)
                     .order_by(col(StatusReport.reported_at), col(StatusReport.id)))
        with self.engine.connect() as connection:
            return [ReportRow._make(row) for row in connection.execute(statement)]


# -- helpers -------------------------------------------------------------------------------
class DatabaseStalled(Exception):
    """A database call did not finish within its caller's limit (the server stopped
    answering); transient (:func:`is_transient_database_error`)."""


def is_transient_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached or dropped the connection (a
    restart, a fail-over, a network cut), so that the same work may simply be tried again.

    ``OperationalError`` (connection refused or lost, "database is locked", the server shutting
    down) and any DB-API error that invalidated its connection are; an integrity or
    programming error is not.
    """
    if isinstance(exc, DatabaseStalled) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return True
    return isinstance(exc, (OperationalError, InterfaceError))


def _option_settings(options: str) -> list[tuple[str, str]]:
    """The ``-c name=value`` (``-cname=value``, ``--name=value``) settings of a libpq
    ``options`` string, as (name, the words that set it); names as PostgreSQL reads them."""
    words = options.split()
    found: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        setting = ""
        if word == "-c" and index + 1 < len(words):
            index += 1
            setting = words[index]
            word = f"-c {setting}"
        elif word.startswith("-c") or word.startswith("--"):
            setting = word[2:]
        if "=" in setting:
            found.append((setting.split("=", 1)[0].strip().lower().replace("-", "_"), word))
        index += 1
    return found


def merge_postgres_options(defaults: str, url_options: str | Sequence[str]) -> str:
    """The libpq ``options`` of a connection: the URL's own, plus every default setting
    (:data:`POSTGRES_CONNECT_ARGS`) the URL does not set — so ``?options=-csearch_path%3Dx``
    keeps the statement and idle-transaction limits; a URL setting of the same name wins."""
    given = " ".join([url_options] if isinstance(url_options, str) else url_options)
    named = {name for name, _ in _option_settings(given)}
    kept = [words for name, words in _option_settings(defaults) if name not in named]
    return " ".join([*kept, given]).strip()


def _create_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # Settings in the URL's query win over these defaults; ``options`` are merged.
        connect_args = {k: v for k, v in POSTGRES_CONNECT_ARGS.items() if k not in parsed.query}
        if "options" in parsed.query:
            connect_args["options"] = merge_postgres_options(
                POSTGRES_CONNECT_ARGS["options"], parsed.query["options"])
        return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    kwargs: dict[str, Any] = {
        # The bot calls the store from worker threads (asyncio.to_thread). ``timeout`` is
        # SQLite's busy timeout: a writer waits this long for another one instead of failing
        # with "database is locked".
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
    }
    if in_memory:
        # One shared connection: otherwise every pooled connection is a new, empty database.
        kwargs["poolclass"] = StaticPool
    elif not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, **kwargs)
    event.listen(engine, "connect", partial(_prepare_sqlite, wal=not in_memory))
    return engine


def _prepare_sqlite(dbapi_connection: Any, connection_record: Any, *, wal: bool) -> None:
    """Every SQLite connection: foreign keys, write-ahead log, busy timeout, durable commits."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # The same wait as the driver's ``timeout``, said again so that it holds whoever opened
        # the connection (and shows in ``PRAGMA busy_timeout``).
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        if wal:  # readers do not block the writer, nor the writer the readers
            cursor.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits to a power cut, and
        # the bot tells a person their report is stored as soon as it is committed. The cost
        # is one fsync per commit, a few milliseconds at duban's pace.
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    """``value`` in UTC, so that rows built here equal rows read back; refuse naive ones."""
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a datetime, not {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is naive ({value!r}): give a time-zone-aware datetime")
    return value.astimezone(dt.UTC)


def _now_or_wall_clock(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    return _utc(now, "now")


def _check_vocabulary(name: str, value: str, allowed: Iterable[str]) -> None:
    values = [str(v) for v in allowed]
    if value not in values:
        raise ValueError(f"unknown {name} {value!r} (one of {', '.join(values)})")


def _check_role(role: str, unit_id: str | None) -> None:
    _check_vocabulary("role", role, PersonRole)
    if role == PersonRole.CONTACT and unit_id is None:
        raise ValueError("a contact needs a unit")
    if role != PersonRole.CONTACT and unit_id is not None:
        raise ValueError(f"a {role} belongs to no unit (got unit {unit_id!r})")


def _require_unit(session: Session, unit_id: str | None) -> None:
    if unit_id is not None and session.get(Unit, unit_id) is None:
        raise ValueError(f"unknown unit {unit_id!r} (sync the timetable's units first)")


def _person(session: Session, telegram_user_id: int) -> Person | None:
    statement = select(Person).where(Person.telegram_user_id == telegram_user_id)
    return session.exec(statement).first()


_RANK = {PersonRole.CONTACT.value: 0, PersonRole.LEADER.value: 1, PersonRole.ADMIN.value: 2}


def _enrol(session: Session, telegram_user_id: int, display_name: str, role: str,
           unit_id: str | None, language: str | None, now: dt.datetime, *, actor: int | None,
           invite_code: str | None) -> Person:
    """Enrol or re-enrol: an active person keeps their units and their higher role."""
    _require_unit(session, unit_id)
    person = _person(session, telegram_user_id)
    subject = f"person:{telegram_user_id}"
    if person is None:
        person = Person(telegram_user_id=telegram_user_id, display_name=display_name,
                        language=language, role=role, active=True, created_at=now,
                        facts_revision=_facts_changed(session))  # a new name (people_names)
        session.add(person)
        _audit(session, now, "person.enrolled", subject, actor=actor, role=role,
               unit_id=unit_id, invite=invite_code)
    else:
        new_role = role
        if person.active and _RANK[person.role] > _RANK[role]:
            new_role = person.role
        _audit(session, now, "person.reenrolled", subject, actor=actor, invite=invite_code,
               old_role=person.role, was_active=person.active, role=new_role, unit_id=unit_id)
        if person.display_name != display_name:  # a new name (people_names)
            person.facts_revision = _facts_changed(session)
        person.display_name, person.role = display_name, new_role
        if language is not None:
            person.language = language
        person.active = True
        person.deactivated_at = None
        person.deactivation_reason = None
    session.flush()
    if unit_id is not None:
        _join(session, telegram_user_id, unit_id, now, actor)
    return person


def _join(session: Session, telegram_user_id: int, unit_id: str, now: dt.datetime,
          actor: int | None) -> None:
    membership = session.exec(select(Membership).where(
        Membership.telegram_user_id == telegram_user_id,
        Membership.unit_id == unit_id)).first()
    if membership is None:
        session.add(Membership(telegram_user_id=telegram_user_id, unit_id=unit_id, active=True,
                               created_at=now))
    elif membership.active:
        return
    else:
        membership.active, membership.ended_at, membership.ended_reason = True, None, None
    _audit(session, now, "membership.started", f"person:{telegram_user_id}", actor=actor,
           unit_id=unit_id)


def _deactivate(session: Session, telegram_user_id: int, reason: str, now: dt.datetime,
                actor: int | None) -> bool:
    person = _person(session, telegram_user_id)
    if person is None or not person.active:
        return False
    person.active = False
    person.deactivated_at = now
    person.deactivation_reason = reason
    for membership in session.exec(select(Membership).where(
            Membership.telegram_user_id == telegram_user_id,
            col(Membership.active).is_(True))):
        membership.active, membership.ended_at, membership.ended_reason = False, now, reason
    _audit(session, now, "person.deactivated", f"person:{telegram_user_id}", actor=actor,
           reason=reason)
    return True


def _use_invite(session: Session, code: str, now: dt.datetime, telegram_user_id: int, *,
                chat_id: int | None, roles: set[str] | None) -> Invite:
    """Mark an invite used, or raise InviteError; two racing users cannot both use it."""
    invite = session.get(Invite, code) if INVITE_CODE_PATTERN.fullmatch(code) else None
    if invite is None:
        raise InviteError("unknown")
    if invite.used_at is not None:
        raise InviteError("used")
    if invite.expires_at <= now:
        raise InviteError("expired")
    if roles is not None and invite.role not in roles:
        raise InviteError("wrong_kind")
    result = session.exec(
        update(Invite)
        .where(col(Invite.code) == code, col(Invite.used_at).is_(None))
        .values(used_at=now, used_by_telegram_id=telegram_user_id, used_in_chat_id=chat_id)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise InviteError("used")
    session.refresh(invite)
    _audit(session, now, "invite.used", f"invite:{code}", actor=telegram_user_id,
           chat_id=chat_id)
    return invite


def _held_by(instance: str, *, or_pending: bool = False) -> ColumnElement[bool]:
    """The one rule for leaving ``sending``: only the instance that holds the row (its
    ``claimed_by``) moves it on (back to pending, failed, skipped). Once its lease ran out,
    another instance may have released and claimed it and be sending it now; the old holder's
    late verdict must not undo that. ``or_pending``: pending rows too (a skip or a failure
    decided before any claim). Recording a row sent is not bound by it: that a message went out
    is a fact whoever sent it (:meth:`Store.mark_sent_messages`).
    """
    held = (_row_state() == ReminderState.SENDING) & (col(Reminder.claimed_by) == instance)
    return (held | (_row_state() == ReminderState.PENDING)) if or_pending else held


def _without_cutoff(key: DeliveryKey) -> tuple[object, ...]:
    """A delivery's key without its cutoff (index 5): the same reminder about another cutoff."""
    return (*key[:5], key[6])


def _reminder_values(spec: ReminderSpec, now: dt.datetime) -> dict[str, Any]:
    return {"task_id": spec.task_id, "unit_id": spec.unit_id, "cycle": spec.cycle,
            "kind": spec.kind, "offset_days": spec.offset_days, "chat_id": spec.chat_id,
            "due_at": spec.due_at, "cutoff": spec.cutoff, "state": ReminderState.PENDING.value,
            "reason": "", "attempts": 0, "created_at": now}


@dataclass
class _KeptFacts:
    """A cycle's facts kept in memory (:meth:`Store.cycle_facts`), current as of ``revision``.

    ``first_acknowledgements``: (task, unit) -> (time, reminder id) of the first
    acknowledgement (ties broken as a fresh read breaks them). ``notes``: task -> (task, unit)
    -> the latest report with a note, complete for the tasks of ``noted_tasks`` and the units of
    ``noted_units`` (read when first asked about), the newer notes of any pair otherwise. The
    last three are shared by the copies that follow from one another, and changed only while
    ``Store._catching_up`` is held.
    """

    revision: int
    facts: CycleFacts
    first_acknowledgements: dict[Pair, tuple[dt.datetime, int]]
    notes: dict[int, dict[Pair, ReportRow]] = field(default_factory=dict)
    noted_tasks: set[int] = field(default_factory=set)
    noted_units: set[str] = field(default_factory=set)


def _keep_newest(found: dict[Pair, Any], pair: Pair, report: ReportRow) -> None:
    """Put ``report`` in ``found`` unless a newer report (time, then id) of the pair is."""
    known = found.get(pair)
    if known is None or (report.reported_at, report.id) > (known.reported_at, known.id):
        found[pair] = report


def _acknowledgement_rows(cycle: int) -> Any:
    """The acknowledged deliveries of a cycle: task, unit, time, who, reminder id; earliest
    first."""
    return (sa_select(col(Reminder.task_id), col(Reminder.unit_id),
                      col(Reminder.acknowledged_at),
                      col(Reminder.acknowledged_by_telegram_id), col(Reminder.id))
            .where(col(Reminder.cycle) == cycle, col(Reminder.acknowledged_at).is_not(None))
            .order_by(col(Reminder.acknowledged_at), col(Reminder.id)))


def _merge_acknowledgements(rows: Iterable[Any], first: dict[Pair, tuple[dt.datetime, int]],
                            found: dict[Pair, Acknowledgement]) -> set[Pair]:
    """Merge acknowledged deliveries (:func:`_acknowledgement_rows`) into the first
    acknowledgement of each pair: the earliest, then the lowest reminder id. Returns the pairs
    whose rows were merged."""
    merged: set[Pair] = set()
    for task_id, unit_id, at, by, reminder_id in rows:
        if at is None or not by:
            continue
        pair = (task_id, unit_id)
        merged.add(pair)
        known = first.get(pair)
        if known is None or (at, reminder_id) < known:
            first[pair] = (at, reminder_id)
            found[pair] = Acknowledgement(by, at)
    return merged


def _facts_changed(session: Session) -> int:
    """Raise the facts' revision in this transaction (the row is made if it is missing), and
    return the new number: the stamp (``facts_revision``) of every row this transaction writes
    or changes in ``status_report``, ``review``, ``extension``, ``reminder`` (an
    acknowledgement) and ``person`` (a name).

    The upsert takes the counter row's lock (PostgreSQL: the row's lock; SQLite: the database's
    write lock) and holds it until the transaction ends: call it before writing a row that you
    stamp (and before the checks the write depends on, where two writers could race). Writers of
    facts are then one at a time, each number is given to one transaction, and a transaction
    with a lower number has committed before one with a higher number can get it: numbers are
    in commit order, which the ids of a sequence are not. ``Store.cycle_facts`` relies on it.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(FactsRevision).values(id=1, revision=1)
    return int(session.execute(statement.on_conflict_do_update(
        index_elements=["id"], set_={"revision": col(FactsRevision.revision) + 1})
        .returning(col(FactsRevision.revision))).scalar_one())


def _audit(session: Session, now: dt.datetime, action: str, subject: str, *,
           actor: int | None = None, **details: Any) -> None:
    session.add(AuditEntry(at=now, actor_telegram_id=actor, action=action, subject=subject,
                           details=json.dumps(details, ensure_ascii=False, sort_keys=True,
                                              default=_json_default)))


def _audit_many(session: Session | Connection, now: dt.datetime, action: str,
                entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """:func:`_audit` for many subjects of one action, in one ``INSERT`` (a fan-out's claims
    and records would otherwise cost an ORM object and a flush each)."""
    for batch in _batches(entries, _INSERT_BATCH):
        # the table, not the ORM class: no ORM bulk-insert machinery for plain rows
        session.execute(_INSERT_AUDIT, [
            {"at": now, "actor_telegram_id": None, "action": action, "subject": subject,
             "details": json.dumps(details, ensure_ascii=False, sort_keys=True,
                                   default=_json_default)}
            for subject, details in batch])


def _details(**details: Any) -> str:
    """An audit entry's details as :func:`_audit` writes them."""
    return json.dumps(details, ensure_ascii=False, sort_keys=True, default=_json_default)


def _check_progress(progress: int | None) -> None:
    if progress is not None and (type(progress) is not int or not 0 <= progress <= 100):
        raise ValueError(f"progress must be a whole number 0-100 or None, not {progress!r}")


def _report_of(row: Any) -> StatusReport:
    """A report read as a row (:class:`ReportRow`), as the detached table object callers get."""
    return StatusReport(**{name: getattr(row, name) for name in ReportRow._fields})


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

