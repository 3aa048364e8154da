"""Suite-wide fixtures: the shipped timetable, and the guard that no test reaches Telegram."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedules.loader import load_timetable
from schedules.model import Timetable

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def timetable() -> Timetable:
    """The shipped timetable, ``data/tasks.yaml``."""
    return load_timetable(ROOT / "data" / "tasks.yaml")


@pytest.fixture(autouse=True)
def _no_real_telegram(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the default Bot API endpoint at a closed local port unless a test sets its own."""
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("TELEGRAM_FILE_BASE_URL", "http://127.0.0.1:9/file/bot")
