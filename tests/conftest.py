"""Suite-wide guards: no test may reach Telegram (or anything else) on the internet."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_real_telegram(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the default Bot API endpoint at a closed local port unless a test sets its own."""
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("TELEGRAM_FILE_BASE_URL", "http://127.0.0.1:9/file/bot")
