"""The README's first command, ``scripts/run-bot``: it installs duban and runs the bot."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.bot.cli_process import ROOT, clean_env


def test_run_bot_installs_then_runs_the_same_from_anywhere(tmp_path: Path) -> None:
    token = "123456:NOT-A-REAL-TOKEN"
    settings = tmp_path / "settings" / "duban.env"
    settings.parent.mkdir()
    settings.write_text(f"TELEGRAM_BOT_TOKEN={token}\nDUBAN_STARTUP_RETRIES=0\n",
                        encoding="utf-8")
    settings.chmod(0o600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([str(ROOT / "scripts" / "run-bot")], cwd=elsewhere,
                            env=clean_env(DUBAN_ENV_FILE=str(settings)), capture_output=True,
                            text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    # The bot started with the .env of the working directory and could not reach Telegram
    # (the tests point it at a closed port): one clear failure, never the token.
    assert result.returncode == 1, output
    assert token not in output and "Traceback" not in output
    assert (ROOT / ".venv" / "bin" / "duban").exists()
    assert "Telegram" in output  # what could not be reached, in one line
    # the database beside the settings file, not in the directory it was started from
    assert (settings.parent / "var" / "duban.sqlite3").exists()
    assert not (elsewhere / "var").exists()
