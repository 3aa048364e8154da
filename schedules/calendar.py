"""Which days are working days in mainland China.

Backed by the maintained ``chinese_calendar`` library (package ``chinesecalendar``): Saturdays,
Sundays and public holidays are off, and the official make-up working days (调休, e.g. Saturday
2026-10-10) are working days. For a year the library has no data for, the calendar falls back to
Monday-Friday and logs one warning per year (see :attr:`WorkingDayCalendar.fallback_years`).

Usage::

    calendar = WorkingDayCalendar()
    calendar.previous_working_day(dt.date(2026, 11, 1))  # 2026-10-30, a Friday

An admin's own corrections (a local day off, an extra working Saturday) are injected as dicts of
date to reason; they win over the library and over the fallback. The timetable carries them in
its ``calendar:`` section (:class:`schedules.model.CalendarCorrections`), and
:func:`schedules.planning.plan_reminders` applies them with :meth:`WorkingDayCalendar.corrected`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

import chinese_calendar

logger = logging.getLogger("schedules.calendar")

_SEARCH_LIMIT_DAYS = 366  # a year without one working day is a data error, not a calendar


class WorkingDayCalendar:
    """Working days: Chinese public holidays and 调休 from ``chinese_calendar``, plus corrections.

    Args:
        extra_holidays: Days off beyond the library's, as date -> reason (e.g. a local holiday).
        extra_workdays: Working days beyond the library's, as date -> reason (e.g. a make-up
            Saturday announced after the library was released).

    Raises:
        ValueError: If a date is given both as an extra holiday and as an extra working day.
    """

    def __init__(
        self,
        extra_holidays: Mapping[dt.date, str] | None = None,
        extra_workdays: Mapping[dt.date, str] | None = None,
    ) -> None:
        self._extra_holidays: dict[dt.date, str] = dict(extra_holidays or {})
        self._extra_workdays: dict[dt.date, str] = dict(extra_workdays or {})
        both = sorted(self._extra_holidays.keys() & self._extra_workdays.keys())
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"dates given both as holiday and as working day: {listed}")
        self._fallback_years: set[int] = set()
        # years the corrections speak of: the admin has seen to them, no fallback warning
        self._corrected_years = {d.year for d in (*self._extra_holidays, *self._extra_workdays)}

    def corrected(self, holidays: Mapping[dt.date, str],
                  workdays: Mapping[dt.date, str]) -> WorkingDayCalendar:
        """This calendar with more corrections (they win over this calendar's own).

        The new calendar notes its fallback years in this one's :attr:`fallback_years` too, so
        that whoever holds this calendar learns which years had no holiday data.

        Raises:
            ValueError: If a date ends up both a holiday and a working day.
        """
        extra_holidays = {d: r for d, r in self._extra_holidays.items() if d not in workdays}
        extra_workdays = {d: r for d, r in self._extra_workdays.items() if d not in holidays}
        calendar = WorkingDayCalendar({**extra_holidays, **holidays},
                                      {**extra_workdays, **workdays})
        calendar._fallback_years = self._fallback_years
        return calendar

    @property
    def fallback_years(self) -> frozenset[int]:
        """The years this calendar has answered for with plain Monday-Friday (no holiday data)."""
        return frozenset(self._fallback_years)

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day.

        Args:
            day: The day to check (a ``datetime`` is reduced to its date).

        Returns:
            True on ordinary weekdays and make-up working days; False on weekends and holidays.
        """
        day = _as_date(day)
        if day in self._extra_workdays:
            return True
        if day in self._extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self._note_fallback(day.year)
            return day.weekday() < 5

    def previous_working_day(self, day: dt.date) -> dt.date:
        """The working day on or before ``day`` (``day`` itself if it is one).

        Raises:
            ValueError: If no working day is found within a year (an absurd correction).
        """
        return self._search(_as_date(day), -1)

    def next_working_day(self, day: dt.date) -> dt.date:
        """The working day on or after ``day`` (``day`` itself if it is one).

        Raises:
            ValueError: If no working day is found within a year (an absurd correction).
        """
        return self._search(_as_date(day), +1)

    def _search(self, day: dt.date, step: int) -> dt.date:
        candidate = day
        for _ in range(_SEARCH_LIMIT_DAYS):
            if self.is_working_day(candidate):
                return candidate
            candidate += dt.timedelta(days=step)
        direction = "before" if step < 0 else "after"
        raise ValueError(f"no working day within {_SEARCH_LIMIT_DAYS} days {direction} {day}")

    def _note_fallback(self, year: int) -> None:
        if year in self._fallback_years or year in self._corrected_years:
            return
        self._fallback_years.add(year)
        logger.warning(
            "chinese_calendar has no holiday data for %d; treating Monday-Friday as working days "
            "(upgrade the chinesecalendar package, or add the year's holidays and make-up working "
            "days under 'calendar:' in the timetable)",
            year,
        )


def _as_date(day: dt.date) -> dt.date:
    # datetime is a subclass of date: compare and hash as a date, not as an instant
    return day.date() if isinstance(day, dt.datetime) else day
