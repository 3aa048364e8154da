"""The dispatcher's second look at reports while it sends (``Store.reports_after``): by the
facts' stamps, so a report that commits after the mark is found even when its id is lower
than one already seen (ids are handed out before the commit: on PostgreSQL commits need not
follow them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from storage import Store

NOW = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)


def test_a_report_stored_after_the_mark_is_found(store: Store) -> None:
    store.sync_units([("ecology-environment", "生态环境局", "department")], NOW)
    store.add_report(15, "ecology-environment", 2026, "in_progress", 10, "", None, NOW, "cli")
    mark = store.facts_revision()
    assert store.reports_after(mark) == (mark, set())
    store.add_report(16, "ecology-environment", 2026, "done", 100, "", None, NOW, "cli")
    newest, touched = store.reports_after(mark)
    assert touched == {(16, "ecology-environment", 2026)}
    assert newest == store.facts_revision() > mark


def test_a_report_with_a_lower_id_committed_after_the_mark_is_found(store: Store) -> None:
    """What an out-of-order commit leaves: the report with the lower id carries the later
    stamp. A mark by id (the newest id at the mark) never saw it."""
    store.sync_units([("ecology-environment", "生态环境局", "department")], NOW)
    early = store.add_report(15, "ecology-environment", 2026, "in_progress", 10, "", None,
                             NOW, "cli")
    store.add_report(16, "ecology-environment", 2026, "in_progress", 20, "", None, NOW, "cli")
    mark = store.facts_revision()
    with store.engine.begin() as connection:  # the lower id commits last
        connection.execute(text("UPDATE facts_revision SET revision = :r WHERE id = 1"),
                           {"r": mark + 1})
        connection.execute(text("UPDATE status_report SET facts_revision = :r WHERE id = :id"),
                           {"r": mark + 1, "id": early.id})
    newest, touched = store.reports_after(mark)
    assert touched == {(15, "ecology-environment", 2026)}
    assert newest == mark + 1
