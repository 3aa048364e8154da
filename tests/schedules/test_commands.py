"""The words of chat commands: ``/extend``'s task, date and reason."""

from __future__ import annotations

import datetime as dt

import pytest

from schedules.commands import (
    ExtendArgs,
    ExtendError,
    ExtendProblem,
    parse_date,
    parse_extend_args,
)

D = dt.date


@pytest.mark.parametrize(("word", "day"), [
    ("2026-12-20", D(2026, 12, 20)), ("2026/12/20", D(2026, 12, 20)),
    ("2026.12.5", D(2026, 12, 5)), ("2026年12月20日", D(2026, 12, 20)),
    ("12-20", D(2026, 12, 20)), ("12月20日", D(2026, 12, 20)), ("12月20号", D(2026, 12, 20)),
    ("１２月２０日", D(2026, 12, 20)),  # full-width digits, as a Chinese input method types
    ("2026-02-30", None), ("13-01", None), ("tomorrow", None), ("20", None), ("", None),
])
def test_dates_as_offices_write_them(word: str, day: dt.date | None) -> None:
    assert parse_date(word, 2026) == day


NOV_16 = D(2026, 11, 16)


def test_a_date_without_a_year_is_the_nearest_such_day() -> None:
    january, december = D(2027, 1, 5), D(2026, 12, 10)
    assert parse_date("01-20", 2027, near=january) == D(2027, 1, 20)
    assert parse_date("12-20", 2027, near=january) == D(2026, 12, 20)
    assert parse_date("01-20", 2026, near=december) == D(2027, 1, 20)
    assert parse_date("12-03", 2026, near=december) == D(2026, 12, 3)  # past: refused later
    assert parse_date("2027-01-02", 2027, near=january) == D(2027, 1, 2)  # as written


def test_extend_arguments() -> None:
    assert parse_extend_args(["7", "12-20", "设备", "未到货"], 26, NOV_16) == ExtendArgs(
        7, D(2026, 12, 20), "设备 未到货")
    assert parse_extend_args(["7"], 26, NOV_16) == ExtendError(ExtendProblem.USAGE)
    assert parse_extend_args(["seven", "12-20", "x"], 26, NOV_16) == ExtendError(
        ExtendProblem.USAGE, "seven")
    assert parse_extend_args(["27", "12-20", "x"], 26, NOV_16) == ExtendError(
        ExtendProblem.UNKNOWN_TASK, "27")
    assert parse_extend_args(["7", "soon", "x"], 26, NOV_16) == ExtendError(
        ExtendProblem.BAD_DATE, "soon")
    assert parse_extend_args(["7", "12-20"], 26, NOV_16) == ExtendError(ExtendProblem.NO_REASON)
