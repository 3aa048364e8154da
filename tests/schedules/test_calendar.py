"""The working-day calendar: weekends, holidays, 调休, corrections, the Monday-Friday fallback."""

from __future__ import annotations

import datetime as dt
import logging

import chinese_calendar
import pytest

from schedules.calendar import WorkingDayCalendar
from tests.schedules.factories import at

D = dt.date


@pytest.fixture
def calendar() -> WorkingDayCalendar:
    return WorkingDayCalendar()


def test_weekdays_work_and_weekends_do_not(calendar: WorkingDayCalendar) -> None:
    assert calendar.is_working_day(D(2026, 11, 27))  # Friday
    assert not calendar.is_working_day(D(2026, 11, 28))  # Saturday
    assert not calendar.is_working_day(D(2026, 11, 29))  # Sunday
    assert calendar.is_working_day(D(2026, 11, 30))  # Monday


def test_national_day_holiday_is_off(calendar: WorkingDayCalendar) -> None:
    for day in range(1, 8):
        assert not calendar.is_working_day(D(2026, 10, day)), day
    assert calendar.is_working_day(D(2026, 10, 8))  # Thursday after the holiday
    assert calendar.previous_working_day(D(2026, 10, 5)) == D(2026, 9, 30)
    assert calendar.next_working_day(D(2026, 10, 1)) == D(2026, 10, 8)


def test_make_up_working_days_of_2026_are_working_days(calendar: WorkingDayCalendar) -> None:
    make_up = sorted(d for d in chinese_calendar.constants.workdays if d.year == 2026)
    assert D(2026, 10, 10) in make_up  # a Saturday worked for the National Day holiday
    for day in make_up:
        assert day.weekday() >= 5
        assert calendar.is_working_day(day)
        assert calendar.previous_working_day(day) == day
        assert calendar.next_working_day(day) == day
    assert calendar.previous_working_day(D(2026, 10, 11)) == D(2026, 10, 10)  # Sunday -> Sat


def test_agrees_with_chinese_calendar_over_2026(calendar: WorkingDayCalendar) -> None:
    day = D(2026, 1, 1)
    while day.year == 2026:
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)
    assert calendar.fallback_years == frozenset()


def test_previous_and_next_return_the_day_itself_when_working(
    calendar: WorkingDayCalendar,
) -> None:
    assert calendar.previous_working_day(D(2026, 12, 1)) == D(2026, 12, 1)
    assert calendar.next_working_day(D(2026, 12, 1)) == D(2026, 12, 1)
    assert calendar.previous_working_day(D(2026, 11, 1)) == D(2026, 10, 30)
    assert calendar.next_working_day(D(2026, 11, 28)) == D(2026, 11, 30)


def test_a_datetime_is_read_as_its_date(calendar: WorkingDayCalendar) -> None:
    assert calendar.previous_working_day(at(2026, 11, 1, 23, 30)) == D(2026, 10, 30)


def test_year_without_data_falls_back_to_monday_to_friday_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkingDayCalendar()
    caplog.set_level(logging.WARNING, logger="schedules.calendar")
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(2027, 1, 1))  # the premise: the library stops at 2026
    assert calendar.is_working_day(D(2027, 1, 1))  # a Friday; New Year unknown, so working
    assert not calendar.is_working_day(D(2027, 1, 2))  # Saturday
    assert calendar.previous_working_day(D(2027, 1, 3)) == D(2027, 1, 1)
    assert calendar.next_working_day(D(2027, 10, 2)) == D(2027, 10, 4)
    warnings = [r for r in caplog.records if r.name == "schedules.calendar"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "2027" in warnings[0].getMessage()
    assert calendar.fallback_years == frozenset({2027})


def test_fallback_warns_once_per_year_and_per_calendar(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="schedules.calendar")
    first, second = WorkingDayCalendar(), WorkingDayCalendar()
    for calendar in (first, second):
        calendar.is_working_day(D(2027, 3, 1))
        calendar.is_working_day(D(2027, 3, 2))
    first.is_working_day(D(2003, 5, 1))
    messages = [r.getMessage() for r in caplog.records if r.name == "schedules.calendar"]
    assert len(messages) == 3
    assert sum("2027" in m for m in messages) == 2
    assert first.fallback_years == frozenset({2003, 2027})
    assert second.fallback_years == frozenset({2027})


def test_injected_holidays_and_workdays_win(caplog: pytest.LogCaptureFixture) -> None:
    calendar = WorkingDayCalendar(
        extra_holidays={D(2026, 11, 30): "local holiday", D(2027, 1, 1): "New Year"},
        extra_workdays={D(2026, 11, 29): "make-up Sunday"},
    )
    assert not calendar.is_working_day(D(2026, 11, 30))
    assert calendar.is_working_day(D(2026, 11, 29))
    assert calendar.previous_working_day(D(2026, 11, 30)) == D(2026, 11, 29)
    caplog.set_level(logging.WARNING, logger="schedules.calendar")
    assert not calendar.is_working_day(D(2027, 1, 1))  # a correction needs no library data
    assert calendar.fallback_years == frozenset()
    assert caplog.records == []


def test_a_day_both_off_and_working_is_refused() -> None:
    with pytest.raises(ValueError, match="2026-11-30"):
        WorkingDayCalendar(extra_holidays={D(2026, 11, 30): "x"},
                           extra_workdays={D(2026, 11, 30): "y"})


def test_no_working_day_within_a_year_is_an_error() -> None:
    day = D(2026, 1, 1)
    every_day = {day + dt.timedelta(days=n): "off" for n in range(-400, 400)}
    calendar = WorkingDayCalendar(extra_holidays=every_day)
    with pytest.raises(ValueError, match="no working day"):
        calendar.previous_working_day(day)
    with pytest.raises(ValueError, match="no working day"):
        calendar.next_working_day(day)
