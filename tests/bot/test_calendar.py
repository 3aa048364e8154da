"""The calendar feed: the .ics read back with icalendar (events, times, time zone, UIDs stable
across exports, titles in the reader's language), /calendar end to end, and ``duban ics``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bot.i18n import Translator, translator
from bot.reports.calendar import build_calendar, calendar_filename
from schedules.calendar import WorkingDayCalendar
from schedules.feeds import feed_events
from schedules.model import Timetable
from tests.bot.cli_process import clean_env, duban
from tests.bot.conftest import ECOLOGY, LEADER, Harness

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZH = translator("zh_Hans")
EN = translator("en")
AGRICULTURE = "agriculture-rural"
NOW = dt.datetime(2026, 11, 16, 10, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Extension:
    id: int
    due_date: dt.date
    state: str = "approved"
    requested_at: dt.datetime = NOW
    decided_at: dt.datetime | None = NOW


def _ics(timetable: Timetable, t: Translator = ZH, now: dt.datetime = NOW,
         units: tuple[str, ...] = (AGRICULTURE,), extensions: dict | None = None) -> Calendar:
    events = feed_events(timetable, 2026, units, WorkingDayCalendar(), SHANGHAI, extensions)
    return Calendar.from_ical(build_calendar(t, timetable, events, 2026, now, "农业农村局"))


def _events(calendar: Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def test_the_file_reads_back_with_every_event_in_the_office_zone(timetable: Timetable) -> None:
    calendar = _ics(timetable)
    expected = feed_events(timetable, 2026, [AGRICULTURE], WorkingDayCalendar(), SHANGHAI)
    events = _events(calendar)
    assert set(events) == {e.uid for e in expected}
    [zone] = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Asia/Shanghai"
    for event in expected:
        read = events[event.uid]
        if event.all_day:
            continue
        assert read["DTSTART"].params["TZID"] == "Asia/Shanghai"
        assert read.decoded("DTSTART") == event.start
        assert read.decoded("DTEND") == event.end
        assert read.decoded("DTSTART").utcoffset() == dt.timedelta(hours=8)
    due = events["2026-task7-agriculture-rural-due@duban"]
    assert due.decoded("DTSTART") == dt.date(2026, 11, 30)
    assert due.decoded("DTEND") == dt.date(2026, 12, 1)
    assert str(calendar["VERSION"]) == "2.0" and "duban" in str(calendar["PRODID"])


def test_due_days_are_all_day_events_and_reminders_timed(timetable: Timetable) -> None:
    """Not 00:00-24:00 meetings: a calendar shows a due day on that day, in every zone."""
    text = build_calendar(ZH, timetable, feed_events(
        timetable, 2026, ["ecology-environment", AGRICULTURE], WorkingDayCalendar(), SHANGHAI),
        2026, NOW).decode()
    events = _events(Calendar.from_ical(text))
    dues = {uid: e for uid, e in events.items() if uid.endswith("-due@duban")}
    assert len(dues) > 5
    for event in dues.values():
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert type(start) is dt.date and type(end) is dt.date, event.to_ical()
        assert end - start == dt.timedelta(days=1)
        assert event["DTSTART"].params["VALUE"] == "DATE"
    assert "DTSTART;VALUE=DATE:20261130\r\nDTEND;VALUE=DATE:20261201" in text
    assert "T000000" not in "".join(line for line in text.splitlines()
                                    if line.startswith(("DTSTART;", "DTEND;")))
    reminders = [e for uid, e in events.items() if "-reminder-" in uid]
    assert reminders and all(
        e["DTSTART"].params["TZID"] == "Asia/Shanghai"
        and isinstance(e.decoded("DTSTART"), dt.datetime) for e in reminders)


def test_titles_and_descriptions_are_in_the_readers_language(timetable: Timetable) -> None:
    zh = _events(_ics(timetable, ZH))["2026-task7-agriculture-rural-due@duban"]
    en = _events(_ics(timetable, EN))["2026-task7-agriculture-rural-due@duban"]
    assert str(zh["SUMMARY"]) == "第7项任务截止：农业农村局"
    assert str(en["SUMMARY"]) == "Task 7 due: Agriculture and Rural Affairs Bureau"
    assert "发展低碳农业" in str(zh["DESCRIPTION"]) and "牵头" in str(zh["DESCRIPTION"])
    assert "2026年11月30日" in str(zh["DESCRIPTION"])
    assert "November 30, 2026" in str(en["DESCRIPTION"])
    reminder = _events(_ics(timetable, ZH))["2026-task7-agriculture-rural-reminder-14@duban"]
    assert str(reminder["SUMMARY"]) == "督办提醒：第7项任务（农业农村局）"


def test_uids_are_stable_across_exports_and_an_extension_updates_in_place(
        timetable: Timetable) -> None:
    first = _events(_ics(timetable, now=NOW))
    later = _events(_ics(timetable, now=NOW + dt.timedelta(days=3)))
    assert set(first) == set(later)
    assert all(later[uid].decoded("DTSTART") == first[uid].decoded("DTSTART") for uid in first)
    assert all(later[uid].decoded("DTSTAMP") > first[uid].decoded("DTSTAMP") for uid in first)

    moved = _events(_ics(timetable, now=NOW + dt.timedelta(days=5), extensions={
        (7, AGRICULTURE): [Extension(1, dt.date(2026, 12, 20))]}))
    due = moved["2026-task7-agriculture-rural-due@duban"]
    assert due.decoded("DTSTART") == dt.date(2026, 12, 20)
    assert due.decoded("SEQUENCE") == 1 > first["2026-task7-agriculture-rural-due@duban"].decoded(
        "SEQUENCE")
    assert str(due["SUMMARY"]) == "第7项任务截止（已延期）：农业农村局"
    assert "2026年11月30日" in str(due["DESCRIPTION"])  # the timetable's due date


def test_no_events_no_time_zone_and_naive_times_refused(timetable: Timetable) -> None:
    empty = Calendar.from_ical(build_calendar(ZH, timetable, [], 2026, NOW))
    assert not empty.walk("VEVENT") and not empty.walk("VTIMEZONE")
    with pytest.raises(ValueError):
        build_calendar(ZH, timetable, [], 2026, NOW.replace(tzinfo=None))


def test_calendar_filename() -> None:
    assert calendar_filename(2026, AGRICULTURE) == "duban-calendar-2026-agriculture-rural.ics"


# -- /calendar --------------------------------------------------------------------------------
async def test_a_contact_gets_their_units_calendar(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    [sent] = await harness.command(ECOLOGY, "calendar")
    assert sent["document"]["file_name"] == "duban-calendar-2026-ecology-environment.ics"
    assert sent["caption"].startswith("生态环境局2026年度的截止日和提醒日")
    calendar = Calendar.from_ical(harness.api.file(sent["document"]["file_id"]).content)
    events = calendar.walk("VEVENT")
    assert events and all("-ecology-environment-" in str(e["UID"]) for e in events)
    tasks = {int(str(e["UID"]).split("-task")[1].split("-")[0]) for e in events}
    assert not {1, 2} & tasks  # statistics tasks have no cutoff
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    [again] = await harness.command(ECOLOGY, "calendar", "2026年")
    second = Calendar.from_ical(harness.api.file(again["document"]["file_id"]).content)
    assert {str(e["UID"]) for e in second.walk("VEVENT")} == {str(e["UID"]) for e in events}


async def test_a_task_reported_done_has_its_reminders_cancelled_in_the_next_file(
        harness: Harness) -> None:
    """The tester's case: after /report 15 已完成, /calendar still carried task 15's later
    reminders; now the same UIDs come cancelled (a re-import removes them), other tasks not."""
    await harness.enrol(ECOLOGY, "生态环境局")
    [before] = await harness.command(ECOLOGY, "calendar")
    first = _events(Calendar.from_ical(harness.api.file(before["document"]["file_id"]).content))
    mine = {uid for uid in first if uid.startswith("2026-task15-") and "-reminder-" in uid}
    assert mine and all(str(first[uid]["STATUS"]) == "CONFIRMED" for uid in mine)
    await harness.command(ECOLOGY, "report", "15 已完成")
    [after] = await harness.command(ECOLOGY, "calendar")
    second = _events(Calendar.from_ical(harness.api.file(after["document"]["file_id"]).content))
    assert set(second) == set(first)
    for uid in mine:
        assert str(second[uid]["STATUS"]) == "CANCELLED"
        assert second[uid].decoded("SEQUENCE") > first[uid].decoded("SEQUENCE")
        assert "已取消：单位已报告完成本任务" in str(second[uid]["DESCRIPTION"])
    due = "2026-task15-ecology-environment-due@duban"
    assert str(second[due]["STATUS"]) == "CONFIRMED"  # the deadline stays
    others = [uid for uid in second if not uid.startswith("2026-task15-")]
    assert others and all(str(second[uid]["STATUS"]) == "CONFIRMED" for uid in others
                          if "-reminder-" in uid and str(first[uid]["STATUS"]) == "CONFIRMED")


def test_a_merged_reminder_is_written_cancelled_in_the_readers_language(
        timetable: Timetable) -> None:
    """After an extension to 20 December the 3-day and 1-day reminders share 18 December: the
    3-day one stays in the file, cancelled, so that the earlier 27 November event goes."""
    moved = _events(_ics(timetable, EN, extensions={
        (7, AGRICULTURE): [Extension(1, dt.date(2026, 12, 20))]}))
    stale = moved["2026-task7-agriculture-rural-reminder-3@duban"]
    assert str(stale["STATUS"]) == "CANCELLED" and stale.decoded("SEQUENCE") == 1
    assert "Cancelled: another reminder of the task falls on this day" in str(
        stale["DESCRIPTION"])
    kept = moved["2026-task7-agriculture-rural-reminder-1@duban"]
    assert str(kept["STATUS"]) == "CONFIRMED" and kept.decoded("SEQUENCE") == 1
    assert kept.decoded("DTSTART") == stale.decoded("DTSTART")


async def test_calendar_refusals_say_what_to_do(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    [no_unit] = await harness.command(LEADER, "calendar")
    assert "you serve no unit" in no_unit["text"]
    [bad_year] = await harness.command(ECOLOGY, "calendar", "next")
    assert bad_year["text"] == ("用法：/calendar [年份]，例如 /calendar 2026。"
                                "年份须在 2019–2100 之间。")
    [too_early] = await harness.command(ECOLOGY, "calendar", "1999年")
    assert too_early["text"] == ("“1999年”：年份须在 2019–2100 之间。\n"
                                 "用法：/calendar [年份]，例如 /calendar 2026。")
    assert "document" not in too_early


# -- duban ics --------------------------------------------------------------------------------
def test_duban_ics_writes_a_units_calendar(tmp_path: Path) -> None:
    result = duban("ics", "--unit", "农业农村局", "-o", "farm.ics", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "var").exists()  # no database is made for it
    calendar = Calendar.from_ical((tmp_path / "farm.ics").read_bytes())
    events = calendar.walk("VEVENT")
    live = [e for e in events if str(e["STATUS"]) != "CANCELLED"]
    assert f"{len(live)} " in result.stdout and "farm.ics" in result.stdout
    assert {str(e["UID"]) for e in events} >= {"2026-task7-agriculture-rural-due@duban"}
    assert "第7项任务截止：农业农村局" in {str(e["SUMMARY"]) for e in events}
    unknown = duban("ics", "--unit", "no-such-unit", "-o", "x.ics", cwd=tmp_path,
                    env=clean_env(LANG="en_US.UTF-8"))
    assert unknown.returncode == 2 and "no-such-unit" in unknown.stderr
    assert not (tmp_path / "x.ics").exists()
