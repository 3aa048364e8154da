"""Backups of a live database, restored into a fresh one: the same rows come back.

SQLite is backed up while another thread keeps writing reports (the online backup API gives a
consistent snapshot); PostgreSQL with ``pg_dump`` into a fresh database with ``pg_restore``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import pytest

from storage import Store
from storage.backup import BackupError, backup_database, restore_database
from tests.dbs import migrated_store, postgres_database, sqlite_url

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


def fill(store: Store) -> None:
    store.sync_units([("ecology-environment", "生态环境局", "bureau"),
                      ("forestry", "林业局", "bureau")], NOW)
    store.add_person(3001, "王芳", "contact", "ecology-environment", "zh_Hans", NOW)
    store.add_person(2000, "Leader Li", "leader", None, "en", NOW)
    store.create_invite("forestry", "contact", 1000, NOW)
    store.bind_chat(-100123, "降碳领导小组", 2000, NOW)
    for number in range(40):
        report = store.add_report(1 + number % 26, "ecology-environment", 2026, "in_progress",
                                  number, f"第{number}次 <b>&</b>", 3001,
                                  NOW + dt.timedelta(minutes=number), "command")
    assert report.id is not None
    store.add_evidence(report.id, "BQACfile", "AQADu", "document", "报告.pdf", 3001, NOW)


def snapshot(store: Store) -> dict[str, object]:
    """Everything a restore must bring back, as comparable values."""
    return {
        "reports": [(r.id, r.task_id, r.unit_id, r.status, r.progress, r.note, r.reported_at)
                    for r in store.reports_for_cycle(2026)],
        "people": [(p.telegram_user_id, p.display_name, p.role, p.language)
                   for p in store.list_people()],
        "units": store.units_of(3001),
        "chats": [(c.chat_id, c.title) for c in store.leadership_chats()],
        "evidence": [(e.file_id, e.file_name) for e in store.evidence_for(40)],
        "audit": len(store.audit_log(10_000)),
    }


def test_a_live_sqlite_database_is_backed_up_and_restored_elsewhere(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "live")
    backup = tmp_path / "backups" / "duban.sqlite3"
    with migrated_store(url) as store:
        fill(store)
        stop = threading.Event()

        def keep_writing() -> None:  # the bot goes on while the backup is taken
            number = 0
            while not stop.is_set():
                store.add_report(2, "forestry", 2026, "blocked", None, f"w{number}", 3001, NOW,
                                 "command")
                number += 1

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            info = backup_database(url, backup)
        finally:
            stop.set()
            writer.join()
        assert info.revision == store.current_revision()
        assert oct(backup.stat().st_mode & 0o777) == "0o600"
        assert not backup.with_name(backup.name + "-wal").exists()
        kept = info.counts["status_report"]
        assert kept >= 40
        original = snapshot(store)

    fresh = sqlite_url(tmp_path / "fresh")
    restored = restore_database(fresh, backup)
    assert restored.counts == info.counts
    with migrated_store(fresh) as again:
        copy = snapshot(again)
    reports = copy["reports"]
    assert isinstance(reports, list)
    assert sorted(r[0] for r in reports) == list(range(1, kept + 1))  # a snapshot: no gaps
    assert set(reports) <= set(original["reports"])  # type: ignore[arg-type]
    assert {k: v for k, v in copy.items() if k not in ("reports", "audit")} == {
        k: v for k, v in original.items() if k not in ("reports", "audit")}


def test_a_restore_never_overwrites_data_unasked(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "a")
    with migrated_store(url) as store:
        fill(store)
    backup = tmp_path / "a.sqlite3"
    backup_database(url, backup)
    other = sqlite_url(tmp_path / "b")
    with migrated_store(other) as store:
        store.sync_units([("forestry", "林业局", "bureau")], NOW)
        store.add_person(5, "someone", "leader", None, None, NOW)
    with pytest.raises(BackupError) as refused:
        restore_database(other, backup)
    assert refused.value.reason == "not_empty"
    assert refused.value.details["counts"] == {"person": 1, "invite": 0, "leadership_chat": 0,
                                               "status_report": 0, "reminder": 0}
    restore_database(other, backup, replace=True)
    with migrated_store(other) as store:
        assert [p.telegram_user_id for p in store.list_people()] == [3001, 2000]


def test_what_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a database")
    dump = tmp_path / "duban.pgdump"
    dump.write_bytes(b"PGDMP\x01\x0e\x00")
    with pytest.raises(BackupError) as not_backup:
        restore_database(url, junk)
    assert not_backup.value.reason == "not_a_backup"
    with pytest.raises(BackupError) as wrong:
        restore_database(url, dump)
    assert wrong.value.reason == "wrong_kind" and wrong.value.details["kind"] == "pg_dump"
    with pytest.raises(BackupError) as missing:
        backup_database(sqlite_url(tmp_path / "nothing"), tmp_path / "b.sqlite3")
    assert missing.value.reason == "no_database"


def test_without_pg_dump_the_error_names_the_tool(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupError) as missing:
        backup_database("postgresql+psycopg://duban:pw@127.0.0.1:1/duban", tmp_path / "x")
    assert missing.value.reason == "tool_missing" and missing.value.details["tool"] == "pg_dump"
    assert not (tmp_path / "x").exists()


@pytest.mark.postgres
def test_a_postgresql_database_is_dumped_and_restored_into_a_fresh_one(tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.fail("the PostgreSQL client tools (pg_dump, pg_restore) are not installed")
    backup = tmp_path / "duban.pgdump"
    with postgres_database() as url, migrated_store(url) as store:
        fill(store)
        info = backup_database(url, backup)
        original = snapshot(store)
    assert backup.read_bytes().startswith(b"PGDMP") and info.counts["status_report"] == 40
    with postgres_database() as fresh:
        restored = restore_database(fresh, backup)
        assert restored.revision == info.revision and restored.counts == info.counts
        with migrated_store(fresh) as again:
            assert snapshot(again) == original
            # the sequences came back too: a new report gets the next id
            added = again.add_report(3, "forestry", 2026, "done", None, "", 3001, NOW, "cli")
            assert added.id == 41
        with pytest.raises(BackupError) as refused:
            restore_database(fresh, backup)
        assert refused.value.reason == "not_empty"
        restore_database(fresh, backup, replace=True)
        with migrated_store(fresh) as again:
            assert snapshot(again) == original
