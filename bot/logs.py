"""Log lines worth reading: one line per incident, ISO timestamps, the libraries' noise quiet.

- :class:`IsoFormatter`: ``2026-11-24T09:00:00.123+08:00 WARNING name: message``: the instant
  with its offset from UTC, so that lines from two servers (or a server and Telegram's answers)
  can be put side by side.
- :func:`quiet_library_noise` (called by :func:`bot.app.build_application`, so tests get it
  too): APScheduler's two INFO lines per job run, and its warning that a run was skipped
  because the previous one still works (the dispatcher logs its own summary line per run, with
  how long it took), are dropped; PTB's ERROR with a traceback for a response that is not JSON
  (Telegram's front end answers 502 with an HTML page) is dropped, since PTB raises a
  ``NetworkError`` for it that the caller logs in one line.
"""

from __future__ import annotations

import datetime as dt
import logging

LIBRARY_NOISE = {
    "apscheduler.executors.default": ("Running job", "Job ", "Run time of job"),
    "apscheduler.scheduler": ("maximum number of running instances reached",),
    "telegram.request.BaseRequest": ("Can not load invalid JSON data",),
}
"""Logger -> the beginnings (or parts) of the messages of it that are dropped."""


class IsoFormatter(logging.Formatter):
    """Timestamps in ISO 8601 with milliseconds and the local offset from UTC."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's instant, e.g. ``2026-11-24T09:00:00.123+08:00``."""
        instant = dt.datetime.fromtimestamp(record.created).astimezone()
        return instant.isoformat(timespec="milliseconds")


class DropNoise(logging.Filter):
    """Drop the records whose message contains one of ``parts``."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        super().__init__()
        self.parts = parts

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep everything else."""
        message = str(record.msg)
        return not any(part in message for part in self.parts)


def quiet_library_noise() -> None:
    """Put :class:`DropNoise` on the noisy libraries' loggers (once)."""
    for name, parts in LIBRARY_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropNoise) for f in logger.filters):
            logger.addFilter(DropNoise(parts))
