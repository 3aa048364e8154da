"""SQLite's plans for the dispatcher's hot statements: by primary key (or the delivery key, or
the due index), never a walk over every pending row (which made a fan-out's claims quadratic
in its size: docs/performance.md, 1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from schedules.delivery import ReminderSpec
from storage import Store

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'plans.sqlite3'}") as store:
        store.upgrade()
        yield store


def plans_of(store: Store, call: Any, keyword: str) -> list[str]:
    """The EXPLAIN QUERY PLAN lines of every statement ``call`` runs that starts with
    ``keyword``."""
    seen: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        if statement.lstrip().upper().startswith(keyword):
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        call()
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)
    assert seen, f"no {keyword} statement ran"
    lines: list[str] = []
    with store.engine.connect() as connection:
        for statement, parameters in seen:
            cursor = connection.connection.cursor()
            lines += [row[3] for row in cursor.execute("EXPLAIN QUERY PLAN " + statement,
                                                       parameters)]
    return lines


@pytest.mark.parametrize("ids", [[1], [5, 6, 7], list(range(1, 29))])
def test_a_claim_finds_its_rows_by_primary_key(sqlite_store: Store, ids: list[int]) -> None:
    """The claim's look at the rows (``SELECT``) and its write (``UPDATE``)."""
    sqlite_store.plan_deliveries(
        [ReminderSpec(task, "fgw", 2026, "before", 14, chat, NOW, dt.date(2026, 12, 1))
         for task in range(1, 8) for chat in (1, 2, 3, 4)], NOW)
    for keyword in ("SELECT", "UPDATE"):
        with sqlite_store.engine.begin() as connection:  # pending again, for the next look
            connection.exec_driver_sql("UPDATE reminder SET state = 'pending'")
        lines = plans_of(sqlite_store, lambda: sqlite_store.claim_messages(
            [ids], "host:1:x", 60.0, NOW), keyword)
        assert any("PRIMARY KEY" in line for line in lines), lines
        assert not any("USING INDEX ix_reminder_state" in line for line in lines), lines


@pytest.mark.parametrize("messages", [[([1, 2], 10), ([3], 11)], [(list(range(1, 29)), 12)]])
def test_recording_sends_finds_its_rows_by_primary_key(
        sqlite_store: Store, messages: list[tuple[list[int], int]]) -> None:
    lines = plans_of(sqlite_store, lambda: sqlite_store.mark_sent_messages(messages, NOW),
                     "UPDATE")
    assert any("PRIMARY KEY" in line for line in lines), lines
    assert not any("USING INDEX ix_reminder_state" in line for line in lines), lines


@pytest.mark.parametrize("ids", [[4], list(range(1, 29))])
def test_giving_back_and_skipping_find_their_rows_by_primary_key(
        sqlite_store: Store, ids: list[int]) -> None:
    for call in (lambda: sqlite_store.give_back(ids, "host:1:x", "stopped", NOW),
                 lambda: sqlite_store.mark_skipped_many([(i, "done") for i in ids], NOW,
                                                        "host:1:x")):
        lines = plans_of(sqlite_store, call, "UPDATE")
        assert any("PRIMARY KEY" in line for line in lines), lines
        assert not any("USING INDEX ix_reminder_state" in line for line in lines), lines


def test_planning_reads_the_rows_of_its_tasks_and_units_by_the_delivery_key(
        sqlite_store: Store) -> None:
    specs = [ReminderSpec(task, unit, 2026, "before", 14, chat, NOW, dt.date(2026, 12, 1))
             for task in (7, 8) for unit in ("fgw", "jxj") for chat in (1, 2)]
    lines = plans_of(sqlite_store, lambda: sqlite_store.plan_deliveries(specs, NOW), "SELECT")
    # the unique key's index (SQLite names it sqlite_autoindex_reminder_1), not the cycle's
    assert any("(task_id=? AND unit_id=? AND cycle=?)" in line for line in lines), lines
    assert not any("ix_reminder_cycle" in line for line in lines), lines


def test_the_due_rows_of_a_page_of_chats_come_from_the_due_index(sqlite_store: Store) -> None:
    lines = plans_of(sqlite_store, lambda: sqlite_store.due_rows(NOW, [1, 2, 3]), "SELECT")
    assert any("ix_reminder_state_due_at" in line for line in lines), lines
    lines = plans_of(sqlite_store, lambda: sqlite_store.due_chats(NOW), "SELECT")
    assert any("ix_reminder_state_due_at" in line for line in lines), lines


def test_the_report_paths_reads_go_by_index(sqlite_store: Store) -> None:
    """A report's reads of its pair (the year before's standing, the latest report with its
    review in the append) use the pair's indexes, never a walk over every report."""
    sqlite_store.sync_units([("fgw", "市发展改革委", "bureau")], NOW)
    for day in range(3):
        sqlite_store.add_report(7, "fgw", 2025, "in_progress", 10 * day, "",
                                1001, NOW + dt.timedelta(days=day), "command")
    for call in (lambda: sqlite_store.pair_standing(2025, 7, "fgw"),
                 lambda: sqlite_store.add_report_once(
                     7, "fgw", 2025, "done", None, "", 1001, NOW + dt.timedelta(days=5),
                     "command", None, dt.timedelta(minutes=1), check=lambda facts: None)):
        lines = plans_of(sqlite_store, call, "SELECT")
        assert not any(line.startswith("SCAN") and table in line for line in lines
                       for table in ("status_report", "review", "reminder")), lines
