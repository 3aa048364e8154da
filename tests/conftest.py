"""Suite-wide fixtures: the shipped timetable, and the guard that no test reaches Telegram."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from schedules.loader import load_timetable
from schedules.model import Timetable

ROOT = Path(__file__).resolve().parents[1]

# Property tests (hypothesis): "ci", the default, is quick and the same on every run (no example
# database, derandomized), so a red CI is reproducible; HYPOTHESIS_PROFILE=explore searches much
# longer with fresh examples each run, and remembers failures in .hypothesis/.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def timetable() -> Timetable:
    """The shipped timetable, ``data/tasks.yaml``."""
    return load_timetable(ROOT / "data" / "tasks.yaml")


@pytest.fixture(autouse=True)
def _no_real_telegram(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the default Bot API endpoint at a closed local port unless a test sets its own."""
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("TELEGRAM_FILE_BASE_URL", "http://127.0.0.1:9/file/bot")


@pytest.fixture(autouse=True)
def _loggers_as_they_were() -> Iterator[None]:
    """Give back the loggers' propagation and handlers after each test: a command run in the
    test's process quiets a logger for its own output (``bot.cli.quiet_log``), which would
    leave a later test in the same worker unable to see its records."""
    loggers = [logger for logger in logging.Logger.manager.loggerDict.values()
               if isinstance(logger, logging.Logger)]  # not the root: pytest's own
    saved = [(logger, logger.propagate, list(logger.handlers)) for logger in loggers]
    yield
    for logger, propagate, handlers in saved:
        logger.propagate = propagate
        logger.handlers[:] = handlers
