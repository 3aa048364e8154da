"""``duban run`` as a real process: long polling against the stand-in, token kept out of logs."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot_api_standin import BotApiStandIn
from tests.bot.conftest import ROOT, STRANGER, TOKEN


def test_run_without_token_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DUBAN_TASKS", str(ROOT / "data" / "tasks.yaml"))
    assert main(["run"]) == 1
    assert "@BotFather" in capsys.readouterr().err


def test_run_refuses_a_bad_timetable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "tasks.yaml"
    good = (ROOT / "data" / "tasks.yaml").read_text(encoding="utf-8")
    bad.write_text(good.replace("lead_units: [forestry]", "lead_units: [forestri]", 1),
                   encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DUBAN_TASKS", str(bad))
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert "tasks.yaml" in err and "forestri" in err


async def test_duban_run_polls_the_configured_api_and_answers(tmp_path: Path) -> None:
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.add_user(STRANGER, "路人", "zh-hans")
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN,
               "TELEGRAM_API_BASE_URL": api.base_url,
               "TELEGRAM_FILE_BASE_URL": api.base_file_url,
               "DUBAN_DATA_DIR": str(tmp_path / "var"),
               "DUBAN_TASKS": str(ROOT / "data" / "tasks.yaml"),
               "DATABASE_URL": ""}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            sent = api.send_command(STRANGER, "start")
            reply = await api.wait_for_bot_message(STRANGER, after=sent["message_id"],
                                                   timeout=30)
            assert "管理员" in reply["text"]
        finally:
            process.terminate()
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
        log = stderr.decode()
        assert TOKEN not in log
        assert TOKEN.split(":")[1] not in log
        assert (tmp_path / "var" / "duban.sqlite3").exists()


def test_run_with_an_unreachable_database_says_so_without_the_password(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DUBAN_TASKS", str(ROOT / "data" / "tasks.yaml"))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://duban:s3cret@127.0.0.1:1/duban")
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and "127.0.0.1:1" in err
    assert "s3cret" not in err
