"""Instants as wall-clock time in the office's zone, for reports that show many of them.

A year's ledger at 1,000 units shows some 160,000 instants; ``value.astimezone(zone)`` then
``replace(...)`` for each took most of a second. A zone's offset from UTC changes rarely (at a
daylight-saving or a legal change), so :class:`WallClock` looks it up once per UTC hour and adds
it: an hour during which the offset changes (its first and last second disagree) is
converted value by value with ``astimezone``. That is exact for tzdata's zones
(``zoneinfo``), which have no two changes less than an hour apart, so an hour whose ends agree
has one offset throughout, and for fixed offsets; a hand-written ``tzinfo`` that changes twice
within one hour would not be.

    clock = WallClock(ZoneInfo("Asia/Shanghai"))
    clock.local(report.reported_at)    # naive wall-clock time, to the second
    clock.serial(report.reported_at)   # the same as Excel's serial day number
"""

from __future__ import annotations

import datetime as dt

from openpyxl.utils.datetime import to_excel

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_SECOND = dt.timedelta(seconds=1)
_HOUR, _DAY = 3600, 86400
_EXCEL_DAYS = 25569
"""Excel's serial day number of 1970-01-01 (its days count from 1899-12-30)."""
_EXCEL_LEAP_BUG = 60
"""Excel's days up to 1900-02-28 are one off (its 1900 was a leap year): openpyxl's
``to_excel`` corrects them, and is used for them."""


class WallClock:
    """Aware datetimes as wall-clock time in one zone, to the second (microseconds dropped,
    as the ledger shows them); the zone's offset is looked up once per UTC hour.

    Raises:
        ValueError: (every method) the datetime is naive.
    """

    def __init__(self, zone: dt.tzinfo) -> None:
        self.zone = zone
        self._offsets: dict[int, int | None] = {}  # UTC hour -> seconds east, None: it changes
        self._minutes: dict[int, str] = {}  # local minute -> its text

    def seconds(self, value: dt.datetime) -> int:
        """Seconds from 1970-01-01 00:00 to ``value``'s wall-clock time in the zone."""
        try:
            instant = (value - _EPOCH) // _SECOND
        except TypeError:  # naive: only an aware datetime can be subtracted from the epoch
            raise ValueError(f"naive time {value!r}: give a time-zone-aware datetime") from None
        hour = instant // _HOUR
        offsets = self._offsets
        if hour in offsets:
            offset = offsets[hour]
        else:
            offset = offsets[hour] = self._offset_of(hour)
        if offset is None:  # the offset changes during this hour: as the zone says
            local = value.astimezone(self.zone).replace(tzinfo=None, microsecond=0)
            return (local - _NAIVE_EPOCH) // _SECOND
        return instant + offset

    def local(self, value: dt.datetime) -> dt.datetime:
        """``value`` as naive wall-clock time in the zone, to the second (what
        ``value.astimezone(zone).replace(tzinfo=None, microsecond=0)`` gives)."""
        return _NAIVE_EPOCH + dt.timedelta(seconds=self.seconds(value))

    def date(self, value: dt.datetime) -> dt.date:
        """The zone's date at ``value``."""
        return dt.date.fromordinal(_NAIVE_EPOCH.toordinal() + self.seconds(value) // _DAY)

    def minute_text(self, value: dt.datetime) -> str:
        """``value`` in the zone as ``2026-11-16 09:01`` (``%Y-%m-%d %H:%M``)."""
        minute = self.seconds(value) // 60
        text = self._minutes.get(minute)
        if text is None:
            local = _NAIVE_EPOCH + dt.timedelta(minutes=minute)
            text = self._minutes[minute] = local.strftime("%Y-%m-%d %H:%M")
        return text

    def serial(self, value: dt.datetime) -> float:
        """``value``'s wall-clock time in the zone as Excel's serial day number: exactly
        openpyxl's ``to_excel`` of :meth:`local`."""
        days, seconds = divmod(self.seconds(value), _DAY)
        days += _EXCEL_DAYS
        if days <= _EXCEL_LEAP_BUG:
            return float(to_excel(self.local(value)))
        return days + seconds / _DAY

    def _offset_of(self, hour: int) -> int | None:
        """The zone's offset in seconds throughout UTC hour ``hour``; None if it changes then
        (or is not a whole number of seconds)."""
        try:
            first = self._offset_at(hour * _HOUR)
            last = self._offset_at(hour * _HOUR + _HOUR - 1)
        except OverflowError:  # an hour at the ends of datetime's range: value by value
            return None
        if first != last or first % _SECOND:
            return None
        return first // _SECOND

    def _offset_at(self, instant: int) -> dt.timedelta:
        offset = (_EPOCH + dt.timedelta(seconds=instant)).astimezone(self.zone).utcoffset()
        assert offset is not None  # astimezone gives an aware datetime
        return offset
