"""``duban check`` looks at everything ``duban run`` will need, and says it in the reader's
language: the settings file (lines it cannot read, names it does not know, with the closest
known one), the token (never shown), the database (reachable, its revision; nothing made) and
the webhook's port. Real console script, clean environment (:mod:`tests.bot.cli_process`).
"""

from __future__ import annotations

import socket
from pathlib import Path

from bot.instance import sqlite_instance_lock
from tests.bot.cli_process import clean_env, duban
from tests.bot.conftest import TOKEN
from tests.bot.test_run import free_port

GOOD_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def write_env(folder: Path, text: str) -> Path:
    path = folder / ".env"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_misspelled_and_unreadable_lines_of_the_env_file_are_named(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, f"TELEGRAM_BOT_TOKEN={GOOD_TOKEN}\nDUBAN_ADMIN=42\n"
                                   "this line has no equals sign\n\nDUBAN_TZ=Asia/Shanghai\n"
                                   "DUBAN_TAKS=/etc/duban/tasks.yaml\nCOLOUR=blue\n")
    english = duban("check", cwd=tmp_path, env=clean_env(LANG="en"))
    assert english.returncode == 1
    err = english.stderr
    assert f"{env_file}:2: unknown setting DUBAN_ADMIN; did you mean DUBAN_ADMINS?" in err
    assert f"{env_file}:3: cannot read 'this line has no equals sign'" in err
    assert f"{env_file}:6: unknown setting DUBAN_TAKS; did you mean DUBAN_TASKS?" in err
    assert f"{env_file}:7: unknown setting COLOUR, ignored" in err
    assert "Configuration: OK" not in english.stdout
    assert GOOD_TOKEN not in english.stdout + err and GOOD_TOKEN.split(":")[1] not in err
    chinese = duban("check", cwd=tmp_path)
    assert chinese.returncode == 1
    assert "未知设置 DUBAN_ADMIN" in chinese.stderr and "DUBAN_ADMINS" in chinese.stderr
    assert "无法读取" in chinese.stderr
    # Every other command warns about the same lines, in the reader's language, and works.
    tasks = duban("tasks", cwd=tmp_path)
    assert tasks.returncode == 0 and "DUBAN_ADMINS" in tasks.stderr
    assert "python-dotenv" not in tasks.stderr.lower() and "could not parse" not in tasks.stderr


def test_the_token_is_checked_but_never_shown(tmp_path: Path) -> None:
    missing = duban("check", cwd=tmp_path, env=clean_env(LANG="en"))
    assert missing.returncode == 0, missing.stderr  # a fresh install fills it in later
    assert "TELEGRAM_BOT_TOKEN: not set yet" in missing.stdout
    mangled = duban("check", cwd=tmp_path, env=clean_env(
        LANG="en", TELEGRAM_BOT_TOKEN="123456789 AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"))
    assert mangled.returncode == 1 and "does not look like a bot token" in mangled.stderr
    assert "AAHdqTcv" not in mangled.stdout + mangled.stderr
    good = duban("check", cwd=tmp_path, env=clean_env(LANG="en",
                                                     TELEGRAM_BOT_TOKEN=GOOD_TOKEN))
    assert good.returncode == 0 and "TELEGRAM_BOT_TOKEN: set (not shown)" in good.stdout
    assert "AAHdqTcv" not in good.stdout + good.stderr


def test_the_database_is_reached_but_never_made(tmp_path: Path) -> None:
    fresh = duban("check", cwd=tmp_path, env=clean_env(LANG="en"))
    assert fresh.returncode == 0 and "not made yet" in fresh.stdout
    assert not (tmp_path / "var").exists()
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    made = duban("check", cwd=tmp_path, env=clean_env(LANG="en"))
    assert made.returncode == 0 and "(the newest)" in made.stdout
    unreachable = duban("check", cwd=tmp_path, env=clean_env(
        LANG="en", DATABASE_URL="postgresql+psycopg://duban:s3cret@127.0.0.1:1/duban"))
    assert unreachable.returncode == 1
    assert "127.0.0.1:1" in unreachable.stderr and "s3cret" not in unreachable.stderr
    heroku = duban("check", cwd=tmp_path, env=clean_env(
        LANG="en", DATABASE_URL="postgres://duban@db-host/duban"))
    assert heroku.returncode == 1 and "postgresql+psycopg://duban@db-host/duban" in \
        heroku.stderr


def test_the_webhook_port_must_be_free(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(LANG="en", DUBAN_WEBHOOK_URL="https://bot.example.org/duban",
                    DUBAN_WEBHOOK_LISTEN=f"127.0.0.1:{port}")
    free = duban("check", cwd=tmp_path, env=env)
    assert free.returncode == 0 and f"127.0.0.1:{port} (free now)" in free.stdout
    with socket.create_server(("127.0.0.1", port)):
        taken = duban("check", cwd=tmp_path, env=env)
        assert taken.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
        assert "another program listens there already" in taken.stderr
        chinese = duban("check", cwd=tmp_path, env={**env, "LANG": "zh_CN.UTF-8"})
        assert f"无法在 127.0.0.1:{port} 上监听：已有其他程序在此监听" in chinese.stderr
        assert "Address already in use" not in chinese.stderr
        # The bot itself holds the port (and the database's lock): that is no problem.
        assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
        with sqlite_instance_lock(tmp_path / "var" / "duban.sqlite3", "run"):
            ours = duban("check", cwd=tmp_path, env=env)
        assert ours.returncode == 0 and "by the running bot" in ours.stdout
    odd_port = duban("check", cwd=tmp_path, env=clean_env(
        LANG="en", DUBAN_WEBHOOK_URL="https://bot.example.org:8080/duban"))
    assert odd_port.returncode == 1 and "443, 80, 88 and 8443" in odd_port.stderr


def test_run_without_a_token_names_the_settings_file_it_read(tmp_path: Path) -> None:
    settings = tmp_path / "etc" / "duban.env"
    settings.parent.mkdir()
    settings.write_text("DUBAN_ADMINS=42\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    named = duban("run", cwd=elsewhere, env=clean_env(LANG="en",
                                                      DUBAN_ENV_FILE=str(settings)))
    assert named.returncode == 1 and str(settings) in named.stderr
    none = duban("run", cwd=elsewhere, env=clean_env(LANG="en"))
    assert none.returncode == 1 and str(elsewhere) in none.stderr
    assert "no .env file" in none.stderr
    assert TOKEN not in named.stderr + none.stderr
