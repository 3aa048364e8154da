"""A database made by the first revision, full of a year's records, upgrades losing nothing.

0001 is built with Alembic and filled with realistic rows in every table (contacts with their
unit, a deactivated one, a leader, an admin, invitations used and unused, bound and unbound
groups, reports with Chinese notes and markup, evidence, reminders in every state, a digest,
the audit log). Upgraded to the newest revision, every row reads back the same, each contact's
``person.unit_id`` has become an active (or ended) membership, and the store's queries see the
data; downgraded to 0001 again, every original row is back as it was. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from alembic import command
from sqlalchemy import Connection, MetaData, select, text

from storage import Store, alembic_config, head_revision

UTC = dt.UTC
T0 = dt.datetime(2026, 10, 20, 1, 30, tzinfo=UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


UNITS = [("ecology-environment", "生态环境局", "bureau"), ("forestry", "林业局", "bureau"),
         ("cencheng", "岑城镇", "town"), ("towns", "各镇政府", "group")]
PEOPLE = [
    # id, telegram id, name, language, role, unit, active, created, deactivated, reason
    (1, 3001, "王芳", "zh_Hans", "contact", "ecology-environment", True, at(0), None, None),
    (2, 3002, "Zhang Wei <&>", "en", "contact", "forestry", True, at(1), None, None),
    (3, 3003, "陈镇", None, "contact", "cencheng", False, at(2), at(50), "left the office"),
    (4, 2000, "Leader Li", "en", "leader", None, True, at(3), None, None),
    (5, 1000, "管理员", "zh_Hans", "admin", None, True, at(0.5), None, None),
]
INVITES = [
    ("used-contact-code", "ecology-environment", "contact", 1000, at(-1), at(167), at(0), 3001,
     None),
    ("open-leader-code", None, "leader", 1000, at(5), at(173), None, None, None),
    ("expired-code", "forestry", "contact", None, at(-400), at(-232), None, None, None),
]
CHATS = [(-100123, "降碳领导小组", at(10), 2000, True), (-4001, "old group", at(11), 2000, False)]
REPORTS = [
    (1, 15, "ecology-environment", 2026, "in_progress", 50, "正在核查 <b>数据</b> & 材料", 3001,
     at(20), "command", 11),
    (2, 15, "ecology-environment", 2026, "done", None, "报告已报送", 3001, at(30), "button", 15),
    (3, 8, "forestry", 2026, "blocked", 20, "资金未到位😟", 3002, at(31), "reply", 3),
    (4, 23, "cencheng", 2025, "done", 100, "", 3003, at(-8000), "cli", None),
    (5, 18, "forestry", 2026, "not_applicable", None, "", None, at(40), "cli", None),
]
EVIDENCE = [(1, 2, "BQACfile1", "AQADu1", "document", "报告.pdf", 3001, at(30.5)),
            (2, 2, "AgACphoto1", "AQADu2", "photo", None, 3001, at(30.6))]
REMINDERS = [
    # id, task, unit, cycle, kind, offset, chat, due, cutoff, state, reason, attempts, message,
    # claimed, sent, acknowledged, acknowledged by, created
    (1, 15, "ecology-environment", 2026, "before", 14, 3001, at(100), dt.date(2026, 12, 1),
     "sent", "", 1, 41, at(100), at(100.01), at(101), 3001, at(0)),
    (2, 15, "ecology-environment", 2026, "before", 7, 3001, at(268), dt.date(2026, 12, 1),
     "pending", "", 0, None, None, None, None, None, at(0)),
    (3, 8, "forestry", 2026, "before", 14, 3002, at(100), dt.date(2026, 12, 1), "failed",
     "Forbidden: bot was blocked by the user", 1, None, at(100), None, None, None, at(0)),
    (4, 23, "cencheng", 2026, "before", 30, 3003, at(-200), dt.date(2026, 12, 1), "skipped",
     "too late", 0, None, None, None, None, None, at(0)),
    (5, 0, "", 2026, "digest", 7, -100123, at(268), dt.date(2026, 12, 1), "sending", "", 0,
     None, at(268), None, None, None, at(0)),
]
AUDIT = [(1, at(0), 1000, "invite.created", "invite:used-contact-code", '{"role": "contact"}'),
         (2, at(0), 3001, "person.enrolled", "person:3001", '{"unit_id": "ecology-environment"}'),
         (3, at(20), 3001, "report.added", "report:1", '{"note": "正在核查"}')]

COLUMNS = {
    "unit": ("id", "name", "kind"),
    "person": ("id", "telegram_user_id", "display_name", "language", "role", "unit_id", "active",
               "created_at", "deactivated_at", "deactivation_reason"),
    "invite": ("code", "unit_id", "role", "created_by", "created_at", "expires_at", "used_at",
               "used_by_telegram_id", "used_in_chat_id"),
    "leadership_chat": ("chat_id", "title", "bound_at", "bound_by", "active"),
    "status_report": ("id", "task_id", "unit_id", "cycle", "status", "progress", "note",
                      "reporter_telegram_id", "reported_at", "source", "source_message_id"),
    "evidence": ("id", "report_id", "file_id", "file_unique_id", "kind", "file_name",
                 "added_by_telegram_id", "added_at"),
    "reminder": ("id", "task_id", "unit_id", "cycle", "kind", "offset_days", "chat_id", "due_at",
                 "cutoff", "state", "reason", "attempts", "message_id", "claimed_at", "sent_at",
                 "acknowledged_at", "acknowledged_by_telegram_id", "created_at"),
    "audit_entry": ("id", "at", "actor_telegram_id", "action", "subject", "details"),
}
ROWS = {"unit": UNITS, "person": PEOPLE, "invite": INVITES, "leadership_chat": CHATS,
        "status_report": REPORTS, "evidence": EVIDENCE, "reminder": REMINDERS,
        "audit_entry": AUDIT}
PRIMARY = {"unit": "id", "invite": "code", "leadership_chat": "chat_id"}


def migrate(store: Store, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def stored(value: Any, sqlite: bool) -> Any:
    """A value as the application writes it: SQLite keeps naive UTC datetimes."""
    if isinstance(value, dt.datetime) and sqlite:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def read(value: Any) -> Any:
    """A value read back, comparable across backends (datetimes aware, in UTC)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def dump(connection: Connection, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    meta = MetaData()
    meta.reflect(connection, only=[table])
    reflected = meta.tables[table]
    order = reflected.c[PRIMARY.get(table, "id")]
    rows = connection.execute(select(*(reflected.c[c] for c in columns)).order_by(order))
    return [tuple(read(v) for v in row) for row in rows]


def expected(table: str) -> list[tuple[Any, ...]]:
    rows = sorted(ROWS[table], key=lambda r: r[COLUMNS[table].index(PRIMARY.get(table, "id"))])
    return [tuple(read(v) for v in row) for row in rows]


def fill_first_revision(store: Store) -> None:
    sqlite = store.engine.dialect.name == "sqlite"
    with store.engine.begin() as connection:
        meta = MetaData()
        meta.reflect(connection)
        for table, columns in COLUMNS.items():
            connection.execute(meta.tables[table].insert(), [
                {c: stored(v, sqlite) for c, v in zip(columns, row, strict=True)}
                for row in ROWS[table]])
        if not sqlite:  # rows were given their ids: move the sequences past them
            for table in ("person", "status_report", "evidence", "reminder", "audit_entry"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))


def test_a_first_revision_database_upgrades_and_downgrades_losing_nothing(db_url: str) -> None:
    store = Store(db_url)
    try:
        migrate(store, "0001")
        fill_first_revision(store)
        with store.engine.connect() as connection:
            before = {table: dump(connection, table, columns)
                      for table, columns in COLUMNS.items()}
        assert before == {table: expected(table) for table in COLUMNS}

        store.upgrade()
        assert store.current_revision() == head_revision()
        with store.engine.connect() as connection:
            for table, columns in COLUMNS.items():
                kept = tuple(c for c in columns if not (table == "person" and c == "unit_id"))
                indexes = [columns.index(c) for c in kept]
                assert dump(connection, table, kept) == [
                    tuple(row[i] for i in indexes) for row in before[table]], table
            memberships = dump(connection, "membership", (
                "telegram_user_id", "unit_id", "active", "created_at", "ended_at",
                "ended_reason"))
        assert memberships == [
            (3001, "ecology-environment", True, at(0), None, None),
            (3002, "forestry", True, at(1), None, None),
            (3003, "cencheng", False, at(2), at(50), "left the office"),
        ]
        # The store reads the upgraded data as its own.
        assert store.units_of(3001) == ["ecology-environment"]
        assert store.units_of(3003) == []  # deactivated
        assert not store.get_person(2000).digests  # type: ignore[union-attr]
        latest = store.latest_reports(2026)
        assert latest[(15, "ecology-environment")].status == "done"
        assert store.latest_notes(2026)[(15, "ecology-environment")].note == "报告已报送"
        assert latest[(8, "forestry")].note == "资金未到位😟"
        assert [e.kind for e in store.evidence_for(2)] == ["document", "photo"]
        assert [r.id for r in store.reminders_by_message(3001, 41)] == [1]
        assert [r.id for r in store.due_deliveries(at(300))] == [2]
        assert store.get_chat(-100123).language is None  # type: ignore[union-attr]
        assert [c.chat_id for c in store.leadership_chats()] == [-100123]
        # New rows still get fresh ids after the copied ones.
        added = store.add_report(15, "forestry", 2026, "in_progress", 10, "新", 3002, at(60),
                                 "command")
        assert added.id == 6

        migrate(store, "0001", down=True)
        with store.engine.connect() as connection:
            for table, columns in COLUMNS.items():  # the report added at head stays too
                original = {row[0] for row in before[table]}
                rows = [row for row in dump(connection, table, columns) if row[0] in original]
                assert rows == before[table], table
    finally:
        store.close()
