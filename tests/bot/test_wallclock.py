"""The ledger's wall clock (``bot.reports.wallclock``) against plain ``astimezone``: for any
instant and zone, daylight-saving changes included, it says what ``astimezone`` says."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openpyxl.utils.datetime import to_excel

from bot.reports.wallclock import WallClock

ZONES = [ZoneInfo(key) for key in ("Asia/Shanghai", "America/New_York", "Europe/London",
                                   "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns")]
YORK = ZoneInfo("America/New_York")
# one clock per zone for the whole module, so that later examples hit its cached hours
CLOCKS = {zone.key: WallClock(zone) for zone in ZONES}

instants = st.datetimes(min_value=dt.datetime(1890, 1, 1), max_value=dt.datetime(2100, 1, 1),
                        timezones=st.sampled_from([dt.UTC, *ZONES]))


def _plain(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    return value.astimezone(zone).replace(tzinfo=None, microsecond=0)


@settings(max_examples=400)
@given(instants, st.sampled_from(ZONES))
@example(dt.datetime(2026, 3, 8, 6, 59, 59, 999999, tzinfo=dt.UTC), YORK)  # 01:59:59 EST
@example(dt.datetime(2026, 3, 8, 7, tzinfo=dt.UTC), YORK)  # 03:00 EDT
@example(dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC), YORK)  # 01:30 EDT
@example(dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC), YORK)  # 01:30 EST, again
def test_the_clock_says_what_astimezone_says(value: dt.datetime, zone: ZoneInfo) -> None:
    clock = CLOCKS[zone.key]
    local = _plain(value, zone)
    assert clock.local(value) == local
    assert clock.date(value) == local.date()
    assert clock.minute_text(value) == local.strftime("%Y-%m-%d %H:%M")
    assert clock.serial(value) == to_excel(local)


@pytest.mark.parametrize("start", [dt.datetime(2026, 3, 8, tzinfo=YORK),
                                   dt.datetime(2026, 11, 1, tzinfo=YORK)])
def test_every_minute_across_new_yorks_changes(start: dt.datetime) -> None:
    """Minute by minute (and a second before each) through the night of a change, on a
    fresh clock and on one that has seen the hours already."""
    fresh, warm = WallClock(YORK), WallClock(YORK)
    instants = [start.astimezone(dt.UTC) + dt.timedelta(minutes=m, seconds=s)
                for m in range(8 * 60) for s in (0, 59)]
    for value in instants:
        warm.local(value)
    for value in instants:
        assert fresh.local(value) == warm.local(value) == _plain(value, YORK), value


def test_an_offset_in_seconds_and_a_fixed_zone() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")  # local mean time +08:05:43 until 1901
    old = dt.datetime(1900, 6, 1, 3, 4, 5, 678, tzinfo=dt.UTC)
    assert WallClock(shanghai).local(old) == _plain(old, shanghai)
    odd = dt.timezone(dt.timedelta(hours=5, minutes=30, microseconds=500_000))
    value = dt.datetime(2026, 1, 1, 12, 0, 0, 600_000, tzinfo=dt.UTC)
    assert WallClock(odd).local(value) == _plain(value, odd)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        WallClock(YORK).local(dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(("offset", "value"), [
    (dt.timedelta(hours=8, minutes=30), dt.datetime(9999, 12, 31, 15, 20, tzinfo=dt.UTC)),
    (dt.timedelta(hours=-5, minutes=-30), dt.datetime(1, 1, 1, 5, 40, tzinfo=dt.UTC)),
    (dt.timedelta(hours=14), dt.datetime(9999, 12, 31, 9, 59, 59, tzinfo=dt.UTC)),
])
def test_an_hour_at_the_ends_of_datetimes_range(offset: dt.timedelta,
                                               value: dt.datetime) -> None:
    """The hour's other end lies beyond datetime's range in the zone (review L2): the clock
    converts the value itself, as ``astimezone`` does, instead of raising OverflowError."""
    zone = dt.timezone(offset)
    assert WallClock(zone).local(value) == _plain(value, zone)
