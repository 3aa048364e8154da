"""``duban db copy FROM_URL``: a SQLite database into PostgreSQL, every table, ids kept, in one
transaction, refusing a target that holds rows. The real console script against a fresh
PostgreSQL database (:func:`tests.dbs.postgres_database`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage import ReminderSpec, Store
from storage.tables import metadata
from tests.bot.cli_process import clean_env, duban
from tests.dbs import postgres_database

pytestmark = pytest.mark.postgres
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)


def fill(store: Store) -> None:
    """A few rows in the main tables, through the store as the bot writes them."""
    store.sync_units([("forestry", "林业局", "bureau"), ("finance", "财政局", "bureau")], NOW)
    for number, unit in ((1, "forestry"), (2, "finance")):
        invite = store.create_invite(unit, "contact", None, NOW, dt.timedelta(days=7))
        store.enrol_with_invite(invite.code, 5000 + number, f"联络员{number}", "zh_Hans", NOW)
    at = dt.datetime(2026, 11, 16, 9, tzinfo=SHANGHAI)
    store.plan_deliveries([ReminderSpec(8, "forestry", 2026, "before", 14, 0, at,
                                        dt.date(2026, 12, 1))], at)


def rows(url: str) -> dict[str, list[dict[str, object]]]:
    store = Store(url)
    try:
        with store.engine.connect() as connection:
            return {table.name: [dict(r._mapping) for r in connection.execute(
                select(table).order_by(*(list(table.primary_key.columns)
                                         or list(table.columns))))]
                    for table in metadata.sorted_tables}
    finally:
        store.close()


def test_a_sqlite_database_is_copied_into_postgresql_with_its_ids(tmp_path: Path) -> None:
    source_file = tmp_path / "old" / "duban.sqlite3"
    source_url = f"sqlite:///{source_file}"
    source_file.parent.mkdir()
    source = Store(source_url)
    try:
        source.upgrade()
        fill(source)
    finally:
        source.close()
    with postgres_database() as url:
        env = clean_env(DATABASE_URL=url, LANG="en")
        result = duban("db", "copy", source_url, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "person" in result.stdout and "Copied" in result.stdout
        before, after = rows(source_url), rows(url)
        assert before == after and before["person"] and before["audit_entry"]
        # New rows get ids after the copied ones (the sequences moved on).
        target = Store(url)
        try:
            invite = target.create_invite("forestry", "contact", None, NOW,
                                          dt.timedelta(days=7))
            target.enrol_with_invite(invite.code, 6001, "新人", "zh_Hans", NOW)
            from storage.tables import Person

            with target.engine.connect() as connection:
                ids = list(connection.execute(select(Person.id).order_by(Person.id))
                           .scalars())  # type: ignore[arg-type]
                audits = connection.execute(select(func.count()).select_from(
                    metadata.tables["audit_entry"])).scalar_one()
        finally:
            target.close()
        assert len(ids) == len(set(ids)) == len(before["person"]) + 1
        assert audits > len(before["audit_entry"])
        again = duban("db", "copy", source_url, cwd=tmp_path, env=env)
        assert again.returncode == 1
        line = again.stderr.strip().splitlines()[-1]
        assert "already holds" in line and "person" in line
        assert rows(url)["person"] == after["person"] + [rows(url)["person"][-1]]


def test_a_source_at_another_revision_is_refused_and_nothing_written(tmp_path: Path) -> None:
    source_file = tmp_path / "old.sqlite3"
    source = Store(f"sqlite:///{source_file}")
    try:
        source.upgrade("0003")
    finally:
        source.close()
    with postgres_database() as url:
        result = duban("db", "copy", f"sqlite:///{source_file}", cwd=tmp_path,
                       env=clean_env(DATABASE_URL=url, LANG="en"))
        assert result.returncode == 1
        line = result.stderr.strip().splitlines()[-1]
        assert "0003" in line and "duban db upgrade" in line
        assert all(not r for r in rows(url).values())
    missing = duban("db", "copy", f"sqlite:///{tmp_path / 'nothing.sqlite3'}", cwd=tmp_path,
                    env=clean_env(LANG="en"))
    assert missing.returncode == 1 and "nothing.sqlite3" in missing.stderr
    assert not (tmp_path / "nothing.sqlite3").exists()
