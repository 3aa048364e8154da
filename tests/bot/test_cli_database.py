"""The database as operators meet it, through the real ``duban`` console script.

- only ``duban run``, ``duban db upgrade`` (and ``demo``, on its own) create a database; the
  other commands say there is none and how to make it;
- a database upgraded by a newer duban is named with both revisions, and ``db restore``
  refuses a backup of a newer duban before it overwrites anything;
- an interrupted first creation leaves no half-made database (one transaction), and a
  half-made one of an older duban is recognised;
- ``db restore`` refuses while a bot runs on the database;
- a ``postgres://`` URL gets the spelling to use.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot_api_standin import BotApiStandIn
from storage import Store, head_revision
from tests.bot.cli_process import clean_env, duban
from tests.bot.conftest import STRANGER, TOKEN
from tests.bot.test_run_instances import answers, bot_env, duban_run
from tests.dbs import postgres_database

FUTURE = "9f9f9f9f9f9f"


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_only_run_and_db_upgrade_create_the_database(tmp_path: Path) -> None:
    env = clean_env(LANG="en")
    for args in (("invite", "--unit", "生态环境局", "--bot-username", "some_bot"),
                 ("export", "--year", "2026", "-o", "x.xlsx")):
        result = duban(*args, cwd=tmp_path, env=env)
        assert result.returncode == 1, args
        line = one_line(result)
        assert str(tmp_path / "var" / "duban.sqlite3") in line and "duban db upgrade" in line
        no_traceback(result)
    for args in (("plan", "--year", "2026"), ("remind", "--dry-run", "--at", "2026-11-17")):
        assert duban(*args, cwd=tmp_path, env=env).returncode == 0, args
    assert not (tmp_path / "var").exists() and not (tmp_path / "x.xlsx").exists()
    chinese = duban("invite", "--unit", "生态环境局", "--bot-username", "some_bot", cwd=tmp_path)
    assert "duban db upgrade" in chinese.stderr and "还没有" in chinese.stderr


@pytest.mark.postgres
def test_an_empty_postgresql_database_gets_no_tables_from_invite(tmp_path: Path) -> None:
    with postgres_database() as url:
        result = duban("invite", "--unit", "生态环境局", "--bot-username", "some_bot",
                       cwd=tmp_path, env=clean_env(DATABASE_URL=url, LANG="en"))
        assert result.returncode == 1 and "duban db upgrade" in one_line(result)
        store = Store(url)
        try:
            assert store.current_revision() is None
        finally:
            store.close()


def test_a_database_of_a_newer_duban_is_named_with_both_revisions(tmp_path: Path) -> None:
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    database = tmp_path / "var" / "duban.sqlite3"
    backup = tmp_path / "backup.sqlite3"
    assert duban("db", "backup", str(backup), cwd=tmp_path).returncode == 0
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (FUTURE,))
    env = clean_env(LANG="en", TELEGRAM_BOT_TOKEN=TOKEN)
    for args in (("db", "upgrade"), ("run",), ("export", "--year", "2026"),
                 ("invite", "--unit", "林业局", "--bot-username", "some_bot")):
        result = duban(*args, cwd=tmp_path, env=env)
        assert result.returncode == 1, args
        line = result.stderr.strip().splitlines()[-1]
        assert FUTURE in line and head_revision() in line and "Rollback" in line, line
        no_traceback(result)
    # The newer database back as a backup: restore reads its revision and overwrites nothing.
    newer_backup = tmp_path / "newer.sqlite3"
    assert duban("db", "backup", str(newer_backup), cwd=tmp_path).returncode == 0
    fresh = clean_env(LANG="en", DUBAN_DATA_DIR=str(tmp_path / "fresh"))
    assert duban("db", "restore", str(backup), cwd=tmp_path, env=fresh).returncode == 0
    before = (tmp_path / "fresh" / "duban.sqlite3").read_bytes()
    refused = duban("db", "restore", "--replace", str(newer_backup), cwd=tmp_path, env=fresh)
    assert refused.returncode == 1
    line = one_line(refused)
    assert FUTURE in line and head_revision() in line and "newer" in line
    assert (tmp_path / "fresh" / "duban.sqlite3").read_bytes() == before


INTERRUPT = """
import os, signal, sys
from alembic.operations import Operations
from bot.cli import main

# an operator's terminal, where Ctrl-C interrupts: a suite started in the background (nohup,
# `&`) hands its processes SIGINT ignored, and Python then keeps it ignored
signal.signal(signal.SIGINT, signal.default_int_handler)

original = Operations.create_index
made = []

def create_index(self, *args, **kwargs):
    made.append(args)
    if len(made) == 3:  # tables exist by now: the operator presses Ctrl-C
        os.kill(os.getpid(), signal.SIGINT)
    return original(self, *args, **kwargs)

Operations.create_index = create_index
sys.exit(main(["db", "upgrade"]))
"""


def test_ctrl_c_during_the_first_creation_leaves_no_half_made_database(
        tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", INTERRUPT], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 130, result.stderr
    database = tmp_path / "var" / "duban.sqlite3"
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                  ).fetchone() == (0,)
    again = duban("db", "upgrade", cwd=tmp_path)
    assert again.returncode == 0 and head_revision() in again.stdout


def test_a_half_made_database_of_an_older_duban_says_how_to_fix_it(tmp_path: Path) -> None:
    database = tmp_path / "var" / "duban.sqlite3"
    database.parent.mkdir()
    with sqlite3.connect(database) as connection:  # what pysqlite's autocommit DDL left
        connection.execute("CREATE TABLE unit (id VARCHAR(48) PRIMARY KEY, name TEXT, "
                           "kind TEXT)")
    for args in (("db", "upgrade"), ("export", "--year", "2026")):
        result = duban(*args, cwd=tmp_path, env=clean_env(LANG="en"))
        assert result.returncode == 1, args
        line = one_line(result)
        assert "interrupted" in line and "duban db upgrade" in line and str(database) in line


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_a_postgres_url_without_the_driver_gets_the_spelling_to_use(
        tmp_path: Path, scheme: str) -> None:
    result = duban("db", "upgrade", cwd=tmp_path, env=clean_env(
        DATABASE_URL=f"{scheme}://duban:s3cret@db-host/duban", LANG="en"))
    assert result.returncode == 1
    line = one_line(result)
    assert "postgresql+psycopg://duban:***@db-host/duban" in line and "s3cret" not in line


async def test_restore_refuses_while_the_bot_runs_on_the_sqlite_database(
        tmp_path: Path) -> None:
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    backup = tmp_path / "backup.sqlite3"
    assert duban("db", "backup", str(backup), cwd=tmp_path).returncode == 0
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.add_user(STRANGER, "路人", "zh-hans")
        async with duban_run(cwd=tmp_path, env=bot_env(api)) as bot:
            await answers(api)
            refused = await asyncio.to_thread(
                duban, "db", "restore", "--replace", str(backup), cwd=tmp_path,
                env=clean_env(LANG="en"))
            assert refused.returncode == 1
            line = one_line(refused)
            assert str(bot.process.pid) in line and "stop it first" in line
            await answers(api)  # the bot goes on, its database untouched
    restored = duban("db", "restore", "--replace", str(backup), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr


@pytest.mark.postgres
async def test_restore_refuses_while_the_bot_runs_on_the_postgresql_database(
        tmp_path: Path) -> None:
    with postgres_database() as url:
        env = clean_env(DATABASE_URL=url, LANG="en")
        assert duban("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
        backup = tmp_path / "backup.pgdump"
        assert duban("db", "backup", str(backup), cwd=tmp_path, env=env).returncode == 0
        async with BotApiStandIn() as api:
            api.add_bot(TOKEN, "duban_test_bot", 123456)
            api.add_user(STRANGER, "路人", "zh-hans")
            async with duban_run(cwd=tmp_path, env=bot_env(api, DATABASE_URL=url)):
                await answers(api)
                refused = await asyncio.to_thread(
                    duban, "db", "restore", "--replace", str(backup), cwd=tmp_path, env=env)
                assert refused.returncode == 1
                assert "duban run" in one_line(refused)
                await answers(api)
        restored = duban("db", "restore", "--replace", str(backup), cwd=tmp_path, env=env)
        assert restored.returncode == 0, restored.stderr


def test_restore_of_a_newer_pg_dump_is_refused_before_pg_restore_runs(tmp_path: Path) -> None:
    """The revision is read from the dump itself (pg_restore prints its alembic_version)."""
    pytest.importorskip("psycopg")
    with postgres_database() as url:
        env = clean_env(DATABASE_URL=url, LANG="en")
        assert duban("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
        store = Store(url)
        try:
            with store.engine.begin() as connection:
                connection.exec_driver_sql(
                    f"UPDATE alembic_version SET version_num = '{FUTURE}'")
        finally:
            store.close()
        dump = tmp_path / "newer.pgdump"
        assert duban("db", "backup", str(dump), cwd=tmp_path, env=env).returncode == 0
        refused = duban("db", "restore", "--replace", str(dump), cwd=tmp_path, env=env)
        assert refused.returncode == 1 and FUTURE in one_line(refused)


