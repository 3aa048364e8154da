"""Injected clocks: every piece of time-dependent logic asks one of these for "now"."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Something that tells the current, time-zone-aware time."""

    def now(self) -> dt.datetime:
        """The current instant, aware."""
        ...


class SystemClock:
    """The real wall clock in a given time zone."""

    def __init__(self, tz: dt.tzinfo = DEFAULT_TZ) -> None:
        self.tz = tz

    def now(self) -> dt.datetime:
        """The current instant in ``self.tz``."""
        return dt.datetime.now(self.tz)


class OffsetClock:
    """Another clock moved by a fixed offset: a server whose clock is wrong (no NTP).

    Only the application's idea of "now" moves; what the database judges by its own clock
    (reminder leases) does not.
    """

    def __init__(self, clock: Clock, offset: dt.timedelta) -> None:
        self.clock = clock
        self.offset = offset

    def now(self) -> dt.datetime:
        """The underlying clock's instant plus the offset."""
        return self.clock.now() + self.offset


class FrozenClock:
    """A clock that stands still until moved; for tests and the demo's virtual time."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start

    def now(self) -> dt.datetime:
        """The instant the clock was last set to."""
        return self._now

    def set(self, instant: dt.datetime) -> None:
        """Jump to ``instant`` (aware)."""
        if instant.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = instant

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move forward by ``delta`` and return the new instant."""
        self._now = self._now + delta
        return self._now
