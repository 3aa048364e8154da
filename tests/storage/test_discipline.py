"""SQLite's settings, writers that wait for each other, and the indexes the hot queries read.

The query plans of docs/queries.md are checked here: the summary (``latest_reports``) and the
newest-report look-up read ``ix_status_report_latest`` in order, with no sort; the dispatch
(``due_deliveries``) and reply (``reminders_by_message``) look-ups search their indexes.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage import Store
from storage.store import SQLITE_BUSY_TIMEOUT_SECONDS
from tests.dbs import migrated_store, sqlite_url

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


def test_sqlite_connections_use_wal_a_busy_timeout_and_durable_commits(tmp_path: Path) -> None:
    with migrated_store(sqlite_url(tmp_path)) as store, store.engine.connect() as connection:
        def pragma(name: str) -> object:
            return connection.execute(text(f"PRAGMA {name}")).scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000) >= 10_000
        assert pragma("synchronous") == 2  # FULL: a committed report survives a power cut
        assert pragma("foreign_keys") == 1


def _hold_the_write_lock(path: str, ready: multiprocessing.synchronize.Event,
                         seconds: float) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO unit VALUES ('held', 'held', 'bureau')")
    ready.set()
    time.sleep(seconds)
    connection.execute("COMMIT")
    connection.close()


def _write_reports(url: str, reporter: int, count: int) -> int:
    store = Store(url)
    try:
        for number in range(count):
            store.add_report(1 + number % 26, "u", 2026, "in_progress", number % 101,
                             f"{reporter}-{number}", reporter, NOW, "command")
    finally:
        store.close()
    return count


def test_two_writers_on_one_sqlite_file_wait_instead_of_failing(tmp_path: Path) -> None:
    """Another process holds the write lock for a second; writers queue and all commit."""
    url = sqlite_url(tmp_path)
    with migrated_store(url) as store:
        store.sync_units([("u", "U", "bureau")])
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_the_write_lock,
                             args=(str(tmp_path / "duban.sqlite3"), ready, 1.0))
    holder.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        with context.Pool(2) as pool:
            written = pool.starmap(_write_reports, [(url, 1, 150), (url, 2, 150)])
        waited = time.monotonic() - started
    finally:
        holder.join(30)
    assert holder.exitcode == 0
    assert written == [150, 150] and waited >= 0.5
    with migrated_store(url) as store:
        assert len(store.reports_for_cycle(2026)) == 300
        assert store.get_unit("held") is not None


def _plan(store: Store, sql: str, parameters: tuple[object, ...] = ()) -> str:
    """SQLite's query plan of ``sql``, one line per step."""
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def _compiled(store: Store, statement: object) -> str:
    return str(statement.compile(store.engine,  # type: ignore[attr-defined]
                                 compile_kwargs={"literal_binds": True}))


def test_the_summary_and_dispatch_queries_read_their_indexes(tmp_path: Path) -> None:
    from sqlmodel import col, select

    from storage.tables import Reminder, StatusReport

    with migrated_store(sqlite_url(tmp_path)) as store:
        store.sync_units([("u", "U", "bureau")])
        for number in range(30):
            store.add_report(1 + number % 5, "u", 2026, "done", None, "", 1,
                             NOW + dt.timedelta(minutes=number), "cli")
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        summary = _plan(store, *_summary_sql(store))
        assert "ix_status_report_latest" in summary and "TEMP B-TREE" not in summary, summary
        newest = _plan(store, _compiled(store, select(StatusReport).where(
            StatusReport.task_id == 1, StatusReport.unit_id == "u", StatusReport.cycle == 2026)
            .order_by(col(StatusReport.reported_at).desc(), col(StatusReport.id).desc())
            .limit(1)))
        assert "ix_status_report_latest" in newest and "TEMP B-TREE" not in newest, newest
        due = _plan(store, _compiled(store, select(Reminder).where(
            Reminder.state == "pending", col(Reminder.due_at) <= NOW)
            .order_by(col(Reminder.due_at), col(Reminder.id))))
        assert "ix_reminder_state_due_at" in due and "TEMP B-TREE" not in due, due
        reply = _plan(store, _compiled(store, select(Reminder).where(
            Reminder.chat_id == 5, Reminder.message_id == 7).order_by(col(Reminder.id))))
        assert "ix_reminder_chat_message" in reply, reply


def _summary_sql(store: Store) -> tuple[str, tuple[object, ...]]:
    """The SQL and parameters ``Store.latest_reports(2026)`` runs."""
    from sqlalchemy import event

    statements: list[tuple[str, tuple[object, ...]]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: tuple[object, ...],
                context: object, executemany: bool) -> None:
        statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        store.latest_reports(2026)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    [found] = statements
    return found


@pytest.mark.parametrize("table,index", [
    ("status_report", "ix_status_report_latest"), ("reminder", "ix_reminder_state_due_at"),
    ("reminder", "ix_reminder_chat_message"), ("audit_entry", "ix_audit_entry_actor_at"),
    ("invite", "ix_invite_created_by_at")])
def test_the_indexes_exist_on_every_backend(store: Store, table: str, index: str) -> None:
    assert index in {i["name"] for i in inspect(store.engine).get_indexes(table)}
