"""Reminders end to end: the real dispatcher, the store and the Bot API stand-in, clock injected.

Runs on SQLite and on PostgreSQL. Tests call ``dispatch_due(app, now)`` themselves (the harness
schedules no job). Each person gets one message per run: their due tasks, for all their units
(docs/workflow.md). Timing: the harness sets ``per_chat_interval`` to 0 because the stand-in does
not enforce Telegram's limits there; the fan-out test turns the limits on and uses the
production 1 s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.ext import Application, ExtBot

import bot.reminders as reminders
from bot.app import build_application
from bot.reminders import MAX_ATTEMPTS, DispatchReport, dispatch_due, unanswered
from bot_api_standin import BotApiStandIn
from schedules.calendar import WorkingDayCalendar
from schedules.clock import FrozenClock
from schedules.delivery import (
    ACKNOWLEDGED,
    CUTOFF_PASSED,
    DROPPED,
    PLANNED_LATE,
    REPORTED_DONE,
    STALE,
    SUPERSEDED,
)
from schedules.model import ReminderOverride, Timetable
from schedules.planning import PlannedReminder, ReminderKind, plan_reminders
from storage import Store
from tests.bot.conftest import (
    ADMIN,
    LEADER,
    REFORM,
    SHANGHAI,
    Harness,
    button_data,
    make_settings,
)

AGRI = 3004  # contact of 农业农村局: lead of task 7, cooperating on 11 and 23
STATS = 3005  # contact of 统计局: cooperating on task 7
EMERGENCY = 3006  # contact of 应急局: cooperating on task 23, its only task
GROUP = -100777  # the leadership group's chat
AGRI_UNIT = "agriculture-rural"
TITLE_7 = "发展低碳农业"

Restart = Callable[[], Awaitable[Application]]


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's timedelta periods: reading ``RetryAfter.retry_after`` otherwise warns."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def restart(harness: Harness, api: BotApiStandIn, store: Store, clock: FrozenClock,
                  timetable: Timetable) -> AsyncIterator[Restart]:
    """Stop the running bot and start a new one on the same database (a process restart)."""
    started: list[Application] = []

    async def again() -> Application:
        old = harness.app
        await old.shutdown()
        assert old.post_shutdown is not None
        await old.post_shutdown(old)
        app = build_application(make_settings(api, store), timetable=timetable, store=store,
                                clock=clock, auto_dispatch=False)
        app.bot_data["per_chat_interval"] = old.bot_data["per_chat_interval"]
        await app.initialize()
        started.append(app)
        assert app.post_init is not None
        await app.post_init(app)
        harness.app = app
        return app

    yield again
    for app in started:
        await app.shutdown()


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


async def run_at(harness: Harness, when: dt.datetime) -> DispatchReport:
    """Move the clock to ``when`` and run the dispatcher once."""
    harness.clock.set(when)
    return await dispatch_due(harness.app, when)


def reminders_in(harness: Harness, chat_id: int, after: int = 0) -> list[dict[str, Any]]:
    """The bot's reminders and overdue notices in a chat (the messages with a 收到 button)."""
    return [m for m in harness.api.bot_messages(chat_id) if m["message_id"] > after
            and any(d.startswith("a|") for d in button_data(m))]


def tasks_of(message: dict[str, Any]) -> list[int]:
    """The tasks a reminder lists (from its task or status buttons)."""
    return sorted({int(d.split("|")[1]) for d in button_data(message)
                   if d.startswith(("t|", "r|"))})


def kind_of(message: dict[str, Any]) -> str:
    text = message["text"]
    return "overdue" if text.startswith("🔴") else "ack" if text.startswith("👌") else "before"


def per_day(plan: list[PlannedReminder]) -> dict[dt.date, list[int]]:
    """Day -> the tasks the plan reminds a unit of that day (acknowledgement reminders too)."""
    days: dict[dt.date, set[int]] = {}
    for r in plan:
        if r.kind is not ReminderKind.DIGEST:
            days.setdefault(r.at.date(), set()).add(r.task_id or 0)
    return {day: sorted(tasks) for day, tasks in sorted(days.items())}


def sends_to(harness: Harness, chat_id: int) -> list[Any]:
    """Every sendMessage call to a chat, answered or refused."""
    return [c for c in harness.api.calls("sendMessage")
            if str(c.params.get("chat_id")) == str(chat_id)]


def last_id(harness: Harness, chat_id: int) -> int:
    return max([m["message_id"] for m in harness.api.messages(chat_id)] or [0])


def unit_plan(timetable: Timetable, unit_id: str, task_id: int | None = None
              ) -> list[PlannedReminder]:
    return [r for r in plan_reminders(timetable, 2026, WorkingDayCalendar())
            if r.unit_id == unit_id and (task_id is None or r.task_id == task_id)]


def rows_of(store: Store, chat_id: int, task_id: int | None = None) -> list[Any]:
    return [r for r in store.reminders_for_cycle(2026)
            if r.chat_id == chat_id and (task_id is None or r.task_id == task_id)]


async def enrol_agri(harness: Harness) -> None:
    harness.api.add_user(AGRI, "李农", "zh-hans")
    await harness.enrol(AGRI, "农业农村局")


async def bind_group(harness: Harness) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, GROUP)


# -- the season, day by day -----------------------------------------------------------------
LAST_DAY = dt.date(2026, 12, 8)


async def test_a_whole_season_day_by_day(harness: Harness, timetable: Timetable) -> None:
    await enrol_agri(harness)
    harness.api.add_user(STATS, "赵统", "zh-hans")
    await harness.enrol(STATS, "统计局")
    await bind_group(harness)
    received: dict[int, dict[dt.date, list[list[int]]]] = {AGRI: {}, STATS: {}}
    digests: list[dt.date] = []
    told_admin: list[dt.date] = []
    group_text: dict[dt.date, str] = {}
    for day in days(dt.date(2026, 10, 25), LAST_DAY):
        when = dt.datetime.combine(day, dt.time(9), tzinfo=SHANGHAI)
        marks = {chat: last_id(harness, chat) for chat in (AGRI, STATS, GROUP, ADMIN)}
        first = await run_at(harness, when)
        again = await dispatch_due(harness.app, when)
        assert (again.sent, again.failed, again.retried) == ([], [], []), day
        assert first.failed == [] and first.retried == []
        for chat, log in received.items():
            messages = reminders_in(harness, chat, marks[chat])
            if messages:
                log[day] = [tasks_of(m) for m in messages]
        new_in_group = [m for m in harness.api.bot_messages(GROUP)
                        if m["message_id"] > marks[GROUP]]
        if new_in_group:
            digests.append(day)
            group_text[day] = "\n".join(m["text"] for m in new_in_group)
        if last_id(harness, ADMIN) > marks[ADMIN]:
            told_admin.append(day)

    # One message a day, listing exactly the plan's tasks of the day; task 7's days fixed by
    # the working-day calendar, its acknowledgement reminder two working days after the first.
    for chat, unit in ((AGRI, AGRI_UNIT), (STATS, "statistics")):
        assert {day: tasks[0] for day, tasks in received[chat].items()} == per_day(
            [r for r in unit_plan(timetable, unit) if r.at.date() <= LAST_DAY])
        assert all(len(messages) == 1 for messages in received[chat].values())
    task_7 = [day for day, [tasks] in received[AGRI].items() if 7 in tasks]
    assert task_7 == [dt.date(2026, 10, 30),  # 30 days: 1 Nov is a Sunday
                      dt.date(2026, 11, 3),  # not acknowledged two working days later
                      dt.date(2026, 11, 17), dt.date(2026, 11, 24),
                      dt.date(2026, 11, 27),  # 3 days: 28 Nov is a Saturday
                      dt.date(2026, 11, 30), dt.date(2026, 12, 1),
                      dt.date(2026, 12, 8)]  # still late a week on: chased again
    assert received[AGRI][dt.date(2026, 10, 30)] == [[7, 11, 23]]
    assert received[AGRI][dt.date(2026, 12, 1)] == [[7]]  # the overdue notice is the lead's
    assert received[AGRI][dt.date(2026, 12, 8)] == [[7]]
    overdue = reminders_in(harness, AGRI)[-2]
    assert kind_of(overdue) == "overdue" and "已逾期1天" in overdue["text"]
    assert dt.date(2026, 12, 1) not in received[STATS]  # a cooperating unit is not chased

    # Weekly digests on the Mondays of the last month, and one after the cutoff.
    plan = plan_reminders(timetable, 2026, WorkingDayCalendar())
    assert digests == [r.at.date() for r in plan if r.kind is ReminderKind.DIGEST]
    assert digests == [dt.date(2026, 11, d) for d in (2, 9, 16, 23, 30)] + [dt.date(2026, 12, 1)]
    assert "2026年度汇总" in group_text[dt.date(2026, 11, 2)]
    overdue_part = group_text[dt.date(2026, 12, 1)].split("2026年度逾期及未报送情况")[1]
    assert f"🔴 7. {TITLE_7}" in overdue_part and "未报送：农业农村局" in overdue_part

    # Units nobody serves are listed to the admin at each run that has reminders for them.
    reminder_days = sorted({r.at.date() for r in plan
                            if r.kind is not ReminderKind.DIGEST and r.at.date() <= LAST_DAY})
    assert told_admin == reminder_days
    first_notice = next(m["text"] for m in harness.api.bot_messages(ADMIN)
                        if "尚无已登记的联络员" in m["text"])
    assert "林业局：任务 8, 23" in first_notice
    assert "农业农村局" not in first_notice and "统计局：" not in first_notice

    # Every row is recorded: sent, with the id of the one message that carried it.
    rows = [r for r in rows_of(harness.store, AGRI) if r.due_at.date() <= LAST_DAY]
    assert {r.state for r in rows} == {"sent"}
    later = [r for r in rows_of(harness.store, AGRI) if r.due_at.date() > LAST_DAY]
    assert {(r.kind, r.state) for r in later} == {("overdue", "pending")}  # the next weeks
    assert {r.message_id for r in rows} == {m["message_id"] for m in reminders_in(harness, AGRI)}
    by_message = Counter(r.message_id for r in rows)
    assert by_message[reminders_in(harness, AGRI)[0]["message_id"]] == 3


async def test_reminder_text_and_buttons(harness: Harness) -> None:
    await enrol_agri(harness)
    harness.api.add_user(EMERGENCY, "应急", "zh-hans")
    await harness.enrol(EMERGENCY, "应急局")  # one task: 23
    await harness.enrol(REFORM, "发展改革局")  # Zhang Wei reads English; 12 tasks
    await run_at(harness, at(11, 17))
    [message] = reminders_in(harness, AGRI)
    text = message["text"]
    lines = text.split("\n")
    assert lines[0] == "⏰ 提醒：3项任务"
    assert "截止日期2026年11月30日" in lines
    assert f"⚪ 7. {TITLE_7} (牵头) · 剩余13天 · 尚未报送" in lines
    assert "⚪ 11. 低碳生活方式倡导 (配合) · 剩余13天 · 尚未报送" in lines
    assert "“收到”签收所列全部任务" in text and "🟢 已审结" in text  # the legend
    rows = sorted((r for r in rows_of(harness.store, AGRI) if r.state == "sent"),
                  key=lambda r: r.id)
    assert {r.message_id for r in rows} == {message["message_id"]}
    first = rows[0].id
    assert button_data(message) == [
        "t|7|agriculture-rural", "t|11|agriculture-rural", "t|23|agriculture-rural",
        f"b|{first}|p", f"b|{first}|d", f"a|{first}"]
    # A message about one task is its whole card, with the status buttons.
    [single] = reminders_in(harness, EMERGENCY)
    assert single["text"].startswith("⏰ 提醒：第23项任务")
    assert "贵单位（应急局）为本任务配合单位" in single["text"]
    assert "截止日期2026年11月30日，剩余13天" in single["text"]
    assert "尚未报送" in single["text"]
    [row] = [r for r in rows_of(harness.store, EMERGENCY) if r.state == "sent"]
    unit = "|2026|emergency-management"
    assert button_data(single) == [f"r|23|d{unit}", f"r|23|p{unit}", f"r|23|b{unit}",
                                   f"r|23|n{unit}", f"a|{row.id}"]
    [english] = reminders_in(harness, REFORM)
    assert english["text"].startswith("⏰ Reminder: 12 tasks")
    assert "Due November 30, 2026" in english["text"] and "13 days left" in english["text"]
    # A task's button opens it with its status buttons; the next reminder shows the report.
    card = await harness.press(AGRI, message["message_id"], "t|7|agriculture-rural")
    assert "r|7|p|2026|agriculture-rural" in button_data(card[0])
    await harness.press(AGRI, card[0]["message_id"], "r|7|p|2026|agriculture-rural")
    await run_at(harness, at(11, 24))
    [newer] = reminders_in(harness, AGRI, message["message_id"])
    assert f"🟡 7. {TITLE_7} (牵头) · 剩余6天 · 进行中" in newer["text"].split("\n")


async def test_done_unit_stops_and_acknowledge_is_stored(harness: Harness) -> None:
    await enrol_agri(harness)
    await run_at(harness, at(10, 30))
    [first] = reminders_in(harness, AGRI)
    assert tasks_of(first) == [7, 11, 23]
    # 收到 acknowledges every task the message lists, once; the button is answered.
    ack = next(d for d in button_data(first) if d.startswith("a|"))
    before = len(harness.api.calls("answerCallbackQuery"))
    await harness.press(AGRI, first["message_id"], ack)
    await harness.press(AGRI, first["message_id"], ack)
    rows = [r for r in rows_of(harness.store, AGRI) if r.state == "sent"]
    assert len(rows) == 3
    assert {(r.acknowledged_by_telegram_id, r.acknowledged_at is not None) for r in rows} == {
        (AGRI, True)}
    answers = harness.api.calls("answerCallbackQuery")[before:]
    assert [a.params.get("text") for a in answers] == ["谢谢，已记为收到。", "此前已记为收到。"]
    assert harness.api.unanswered_callbacks() == []
    # Acknowledged: no reminder to acknowledge two working days later.
    report = await run_at(harness, at(11, 3))
    assert reminders_in(harness, AGRI, first["message_id"]) == []
    agri_rows = {r.id for r in rows_of(harness.store, AGRI)}
    assert [reason for row, reason in report.skipped if row in agri_rows] == [ACKNOWLEDGED] * 3
    # 已完成 on task 7: no more reminders for 7, the others go on.
    await run_at(harness, at(11, 17))
    [second] = reminders_in(harness, AGRI, first["message_id"])
    card = await harness.press(AGRI, second["message_id"], "t|7|agriculture-rural")
    done = await harness.press(AGRI, card[0]["message_id"], "r|7|d|2026|agriculture-rural")
    assert "已完成" in done[0]["text"]
    mark = last_id(harness, AGRI)
    for day in (at(11, 24), at(11, 27), at(11, 30), at(12, 1)):
        await run_at(harness, day)
    later = [tasks_of(m) for m in reminders_in(harness, AGRI, mark)]
    assert later == [[11, 23]] * 3  # 7, 3 and 1 days before; no overdue: they are not leads
    skipped = [r for r in rows_of(harness.store, AGRI, 7) if at(11, 17) < r.due_at <= at(12, 1)]
    assert [(r.kind, r.state, r.reason) for r in skipped] == [
        ("before", "skipped", REPORTED_DONE)] * 3 + [("overdue", "skipped", REPORTED_DONE)]


# -- durability -----------------------------------------------------------------------------
async def test_restart_never_resends_and_never_loses(harness: Harness, restart: Restart
                                                     ) -> None:
    await enrol_agri(harness)
    await run_at(harness, at(10, 30))
    await run_at(harness, at(11, 17))  # the acknowledgement reminder of 3 November is stale
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]] * 2
    await restart()
    again = await run_at(harness, at(11, 17, 9, 30))  # the same day, a new process
    assert again.sent == [] and len(reminders_in(harness, AGRI)) == 2
    # Down over the 09:00 run of 24 November, back at 09:40: what was due is sent, in one go.
    await restart()
    back = await run_at(harness, at(11, 24, 9, 40))
    assert len(back.sent) == 3
    await run_at(harness, at(11, 24, 10))
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]] * 3
    assert {r.state for r in rows_of(harness.store, AGRI)
            if r.due_at <= at(11, 24) and r.kind == "before"} == {"sent"}


async def test_restart_in_the_middle_of_a_run(harness: Harness, restart: Restart) -> None:
    people = {REFORM: "发展改革局", AGRI: "农业农村局", EMERGENCY: "应急局"}
    harness.api.add_user(AGRI, "李农", "zh-hans")
    harness.api.add_user(EMERGENCY, "应急", "zh-hans")
    for person, unit in people.items():
        await harness.enrol(person, unit)
    harness.app.bot_data["max_send_rate"] = 1  # one message a second overall: time to crash
    services = harness.app.bot_data["services"]
    services.settings = services.settings.model_copy(update={"lease_seconds": 1.0})
    harness.clock.set(at(11, 17))
    run = asyncio.create_task(dispatch_due(harness.app, at(11, 17)))

    def served() -> list[int]:
        rows = harness.store.reminders_for_cycle(2026)
        return [p for p in people if any(r.chat_id == p and r.state == "sent" for r in rows)]

    while not await asyncio.to_thread(served):
        await asyncio.sleep(0.02)
    run.cancel()  # the process dies while the others wait for their turn
    with pytest.raises(asyncio.CancelledError):
        await run
    [first] = await asyncio.to_thread(served)
    await asyncio.sleep(1.2)  # the lease of the message caught in flight runs out (real time)
    await restart()
    harness.app.bot_data["per_chat_interval"] = 0.0
    await run_at(harness, at(11, 17, 9, 1))
    for person, unit in people.items():
        [message] = reminders_in(harness, person)  # one message each, never two
        expected = sorted({r.task_id or 0 for r in unit_plan(
            harness.app.bot_data["services"].timetable, harness.store.units_of(person)[0])
            if r.at == at(11, 17)})
        assert tasks_of(message) == expected, (person, unit, first)
        assert {r.state for r in rows_of(harness.store, person) if r.due_at == at(11, 17)} == {
            "sent"}


@pytest.mark.parametrize("page", [reminders.DUE_PAGE, 1], ids=["one page", "a chat a page"])
async def test_downtime_sends_only_the_newest_before_the_cutoff(
        harness: Harness, page: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # the run reads and decides on the due rows a page of chats at a time: the same outcome
    monkeypatch.setattr(reminders, "DUE_PAGE", page)
    await enrol_agri(harness)
    await bind_group(harness)
    await run_at(harness, at(10, 30))
    mark = last_id(harness, AGRI)
    # Down from 1 to 25 November: the acknowledgement reminder, the 14- and 7-day reminders
    # and four digests were missed. One combined message catches up.
    back = await run_at(harness, at(11, 25))
    [caught_up] = reminders_in(harness, AGRI, mark)
    assert tasks_of(caught_up) == [7, 11, 23]
    assert caught_up["text"].count("剩余5天") == 3
    rows = {(r.task_id, r.kind, r.offset_days): r for r in rows_of(harness.store, AGRI)}
    for task in (7, 11, 23):
        assert (rows[(task, "before", 14)].state, rows[(task, "before", 14)].reason) == (
            "skipped", SUPERSEDED)
        assert rows[(task, "before", 7)].state == "sent"
        assert (rows[(task, "ack", 30)].state, rows[(task, "ack", 30)].reason) == (
            "skipped", STALE)
    digests = {r.due_at.astimezone(SHANGHAI).date(): r for r in rows_of(harness.store, GROUP)}
    assert digests[dt.date(2026, 11, 23)].state == "sent"
    assert [(digests[dt.date(2026, 11, d)].state, digests[dt.date(2026, 11, d)].reason)
            for d in (2, 9, 16)] == [("skipped", STALE)] * 3
    assert len(back.sent) == 4  # three rows in one message, and the digest
    group_mark = last_id(harness, GROUP)
    # Down again from 26 November to 2 December: the last before-reminders are too late now.
    mark = last_id(harness, AGRI)
    await run_at(harness, at(12, 2))
    late = reminders_in(harness, AGRI, mark)
    assert [(tasks_of(m), kind_of(m)) for m in late] == [([7], "overdue")]
    assert "已逾期2天" in late[0]["text"]
    rows = {(r.task_id, r.kind, r.offset_days): r for r in rows_of(harness.store, AGRI)}
    assert {(rows[(t, "before", o)].state, rows[(t, "before", o)].reason)
            for t in (7, 11, 23) for o in (3, 1)} == {("skipped", CUTOFF_PASSED)}
    assert last_id(harness, GROUP) > group_mark  # the after-cutoff digest
    digests = {r.due_at.astimezone(SHANGHAI).date(): r for r in rows_of(harness.store, GROUP)}
    assert digests[dt.date(2026, 12, 1)].state == "sent"
    assert (digests[dt.date(2026, 11, 30)].state, digests[dt.date(2026, 11, 30)].reason) == (
        "skipped", SUPERSEDED)


async def test_someone_enrolled_late_is_not_sent_old_reminders(harness: Harness) -> None:
    await run_at(harness, at(11, 17))  # planned and run without them
    await enrol_agri(harness)
    await run_at(harness, at(11, 20))
    assert reminders_in(harness, AGRI) == []
    assert {(r.state, r.reason) for r in rows_of(harness.store, AGRI)
            if r.due_at <= at(11, 20)} == {("skipped", PLANNED_LATE)}
    await run_at(harness, at(11, 24))
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]]


async def test_replanning_after_a_timetable_change_never_duplicates(
        harness: Harness, timetable: Timetable) -> None:
    await enrol_agri(harness)
    await run_at(harness, at(10, 30))
    services = harness.app.bot_data["services"]
    override = ReminderOverride(offsets_days=(21, 7, 1), hour=10)
    services.timetable = timetable.model_copy(update={"tasks": tuple(
        task.model_copy(update={"reminders": override}) if task.id == 7 else task
        for task in timetable.tasks)})
    got: list[tuple[dt.datetime, str]] = []
    for day in days(dt.date(2026, 11, 2), dt.date(2026, 12, 2)):
        when = dt.datetime.combine(day, dt.time(10), tzinfo=SHANGHAI)
        mark = last_id(harness, AGRI)
        await run_at(harness, when)
        assert (await dispatch_due(harness.app, when)).sent == []
        messages = reminders_in(harness, AGRI, mark)
        assert len(messages) <= 1  # one a day
        got += [(when, kind_of(m)) for m in messages if 7 in tasks_of(m)]
    new_plan = [r for r in unit_plan(services.timetable, AGRI_UNIT, 7) if r.at <= at(12, 2)]
    assert [(r.at, r.kind.value) for r in new_plan] == [
        (at(11, 10, 10), "before"), (at(11, 12, 10), "ack"), (at(11, 24, 10), "before"),
        (at(11, 30, 10), "before"), (at(12, 1, 10), "overdue")]
    assert got == [(r.at, r.kind.value) for r in new_plan]
    rows = rows_of(harness.store, AGRI, 7)
    assert len({(r.kind, r.offset_days) for r in rows}) == len(rows)  # one row per key
    states = {(r.kind, r.offset_days): (r.state, r.due_at) for r in rows}
    assert states[("before", 21)] == ("sent", at(11, 10, 10))
    assert states[("before", 7)] == ("sent", at(11, 24, 10))  # moved, not duplicated
    assert states[("before", 14)][0] == states[("before", 3)][0] == "skipped"
    assert states[("ack", 30)][0] == "skipped" and states[("ack", 21)][0] == "sent"
    assert {r.reason for r in rows if r.state == "skipped"} == {DROPPED}
    others = Counter(task for m in reminders_in(harness, AGRI) for task in tasks_of(m)
                     if task != 7)
    assert others == {11: 6, 23: 6}  # five reminders and the acknowledgement reminder


# -- Telegram's answers ---------------------------------------------------------------------
async def test_429_is_honoured_and_the_message_goes_once(harness: Harness) -> None:
    await enrol_agri(harness)
    welcome = len(sends_to(harness, AGRI))
    harness.api.fail_next("sendMessage", 429, retry_after=1)
    report = await run_at(harness, at(11, 17))
    assert len(report.sent) == 3 and report.retried == [] and report.failed == []
    calls = sends_to(harness, AGRI)[welcome:]
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0  # AIORateLimiter waited retry_after
    assert calls[0].params["text"] == calls[1].params["text"]
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]]


async def test_an_acknowledgement_during_the_run_stops_its_reminder(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """收到 pressed after the run read its facts, before it claims: the acknowledgement
    reminder is skipped, as one pressed before the run is."""
    harness.clock.set(at(10, 1))
    await enrol_agri(harness)
    store = harness.store
    await run_at(harness, at(10, 1, 8))  # plans
    ack = min((r for r in rows_of(store, AGRI) if r.kind == "ack"), key=lambda r: r.due_at)
    first_before = min((r for r in rows_of(store, AGRI, ack.task_id) if r.kind == "before"),
                       key=lambda r: r.due_at)
    await run_at(harness, first_before.due_at.astimezone(SHANGHAI))
    reminder = reminders_in(harness, AGRI)[-1]
    claim = store.claim_messages

    def press_then_claim(*args: Any) -> Any:
        store.acknowledge_message(AGRI, reminder["message_id"], AGRI, ack.due_at)
        return claim(*args)

    monkeypatch.setattr(store, "claim_messages", press_then_claim)
    await run_at(harness, ack.due_at.astimezone(SHANGHAI))
    row = store.get_reminder(ack.id or 0)
    assert row is not None and (row.state, row.reason) == ("skipped", ACKNOWLEDGED)


@pytest.mark.parametrize("error_code", [500, 502])
@pytest.mark.usefixtures("database_follows_clock")
async def test_server_errors_retry_with_back_off(harness: Harness, error_code: int) -> None:
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    harness.api.fail_next("sendMessage", error_code, times=3)  # beyond the quick retries
    report = await run_at(harness, at(11, 17))
    assert report.sent == [] and len(report.retried) == 3  # the one message carries three
    assert len(sends_to(harness, AGRI)) >= 3  # tried three times within the run
    rows = [r for r in rows_of(harness.store, AGRI) if r.id in report.retried]
    assert {(r.state, r.attempts) for r in rows} == {("pending", 1)}
    assert sorted(r.task_id for r in rows) == [7, 11, 23]
    assert all("NetworkError" in r.reason for r in rows)
    soon = await run_at(harness, at(11, 17, 9, 0) + dt.timedelta(seconds=30))
    assert soon.sent == [] and sorted(soon.waiting) == sorted(report.retried)  # backing off
    later = await run_at(harness, at(11, 17, 9, 1))
    assert sorted(later.sent) == sorted(report.retried)
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]]
    stored = [harness.store.get_reminder(r.id) for r in rows]
    assert {(r.state, r.message_id) for r in stored if r is not None} == {
        ("sent", reminders_in(harness, AGRI)[0]["message_id"])}


@pytest.mark.parametrize("skew_minutes", [11, -11])
async def test_the_back_off_is_judged_by_the_database_clock(
        harness: Harness, monkeypatch: pytest.MonkeyPatch, skew_minutes: int) -> None:
    """Two instances whose clocks differ by 11 minutes (no NTP): the one that did not send
    waits for the back-off the first one wrote, by the database's clock, neither sending at
    once (its clock ahead) nor waiting 11 minutes too long (its clock behind)."""
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    database = {"ahead": dt.timedelta(0)}  # the database's clock minus the instance's
    monkeypatch.setattr(harness.store, "_database_now", lambda session: (
        harness.clock.now() + database["ahead"]).astimezone(dt.UTC))
    harness.api.fail_next("sendMessage", 500, times=3)  # beyond the quick retries
    first = at(11, 17) + dt.timedelta(minutes=12)  # due since 09:00 by either clock
    report = await run_at(harness, first)
    assert len(report.retried) == 3
    skew = dt.timedelta(minutes=skew_minutes)
    database["ahead"] = -skew  # from here on, an instance whose clock is off by ``skew``
    within = await run_at(harness, first + dt.timedelta(seconds=30) + skew)  # backing off
    assert within.sent == [] and sorted(within.waiting) == sorted(report.retried)
    after = await run_at(harness, first + dt.timedelta(seconds=65) + skew)  # 5 s after it ended
    assert sorted(after.sent) == sorted(report.retried)
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]]


@pytest.mark.parametrize("error_code", [500, 502])
async def test_one_dropped_send_is_tried_again_within_the_run(
        harness: Harness, error_code: int, caplog: pytest.LogCaptureFixture) -> None:
    """A 5 % connection drop must not hold a fan-out's messages back for a minute."""
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    harness.api.fail_next("sendMessage", error_code)
    report = await run_at(harness, at(11, 17))
    assert len(report.sent) == 3 and report.retried == [] and report.failed == []
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]]
    trouble = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(trouble) == 1 and trouble[0].exc_info is None, trouble
    assert "1 transient errors" in trouble[0].getMessage()


LONG_REMINDER = "\n".join(f"第{n}行 " + "很长的提醒内容" * 10 for n in range(120))
"""A reminder of three pages (about 9,000 characters)."""


def fail_from_page(harness: Harness, monkeypatch: pytest.MonkeyPatch, page: int,
                   times: int) -> None:
    """Render every reminder as :data:`LONG_REMINDER`, and make the stand-in refuse (502) the
    ``times`` sends to AGRI from its ``page``-th on (counted from 1)."""
    monkeypatch.setattr(reminders, "render_reminder", lambda *a, **k: LONG_REMINDER)
    original, calls = ExtBot.send_message, [0]

    async def counting(self: ExtBot, chat_id: int, text: str, *args: Any,
                       **kwargs: Any) -> Any:
        if chat_id == AGRI:
            calls[0] += 1
            if calls[0] == page:
                harness.api.fail_next("sendMessage", 502, times=times)
        return await original(self, chat_id, text, *args, **kwargs)

    monkeypatch.setattr(ExtBot, "send_message", counting)


def pages_in(harness: Harness, chat_id: int) -> list[str]:
    """The first line of every page of :data:`LONG_REMINDER` the chat received."""
    return [m["text"].splitlines()[0].split()[0] for m in harness.api.bot_messages(chat_id)
            if m["text"].startswith("第")]


async def test_a_page_that_failed_is_sent_again_not_the_pages_before_it(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quick retry within the run resumes at the page that failed."""
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    fail_from_page(harness, monkeypatch, 2, times=1)
    report = await run_at(harness, at(11, 17))
    assert len(report.sent) == 3 and report.resent_soon
    firsts = pages_in(harness, AGRI)
    assert len(firsts) == 3 and firsts[0] == "第0行" and len(set(firsts)) == 3
    last = harness.api.bot_messages(AGRI)[-1]
    assert {r.message_id for r in rows_of(harness.store, AGRI) if r.state == "sent"} == {
        last["message_id"]}
    assert tasks_of(last) == [7, 11, 23]  # the keyboard on the last page


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_later_run_sends_the_pages_telegram_did_not_accept(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    fail_from_page(harness, monkeypatch, 2, times=3)  # beyond the quick retries
    report = await run_at(harness, at(11, 17))
    assert report.sent == [] and len(report.retried) == 3
    assert {(r.state, r.pages_sent) for r in rows_of(harness.store, AGRI)
            if r.id in report.retried} == {("pending", 1)}
    later = await run_at(harness, at(11, 17, 9, 1))
    assert sorted(later.sent) == sorted(report.retried)
    firsts = pages_in(harness, AGRI)
    assert len(firsts) == 3 and firsts.count("第0行") == 1


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_text_changed_since_is_sent_from_its_first_page(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages counted belong to the text of that try: when the text changed before the
    next one (a task edited, a report in), the new text goes from its first page."""
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    fail_from_page(harness, monkeypatch, 2, times=3)  # beyond the quick retries
    report = await run_at(harness, at(11, 17))
    assert len(report.retried) == 3
    assert [m["text"].split()[0] for m in harness.api.bot_messages(AGRI)
            if m["text"].startswith("第")] == ["第0行"]
    changed = LONG_REMINDER.replace("很长的提醒内容", "改过的提醒内容")
    monkeypatch.setattr(reminders, "render_reminder", lambda *a, **k: changed)
    later = await run_at(harness, at(11, 17, 9, 1))
    assert sorted(later.sent) == sorted(report.retried)
    pages = [m["text"] for m in harness.api.bot_messages(AGRI) if m["text"].startswith("第")]
    assert len(pages) == 4 and pages[1].startswith("第0行 改过的提醒内容")  # from its start
    assert all("改过的" in page and "很长的" not in page for page in pages[1:])
    assert "第119行 改过的" in pages[-1]


def lost_answer(kind: str) -> TelegramError:
    """What python-telegram-bot raises when the request went out and no answer came back:
    a read timeout, a connection reset while reading, the server closing the connection."""
    causes: dict[str, Exception] = {
        "read timeout": httpx.ReadTimeout("timed out"),
        "reset": httpx.ReadError("[Errno 104] Connection reset by peer"),
        "disconnected": httpx.RemoteProtocolError(
            "Server disconnected without sending a response.")}
    cause = causes[kind]
    error: TelegramError = (TimedOut() if isinstance(cause, httpx.TimeoutException)
                            else NetworkError(f"httpx.{type(cause).__name__}: {cause}"))
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("kind", ["read timeout", "reset", "disconnected"])
@pytest.mark.usefixtures("database_follows_clock")
async def test_a_send_telegram_did_not_answer_is_tried_again_once(
        harness: Harness, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Telegram delivered the message but its answer never came back (a read timeout, a
    connection reset or closed after the request was written): it may have arrived, so it is
    sent again once, at a later run, never within the run; when that is not answered either
    the rows fail and the admins are told."""
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    original = ExtBot.send_message

    async def answer_lost(self: ExtBot, chat_id: int, text: str, *args: Any,
                          **kwargs: Any) -> Any:
        result = await original(self, chat_id, text, *args, **kwargs)
        if chat_id == AGRI:
            raise lost_answer(kind)
        return result

    monkeypatch.setattr(ExtBot, "send_message", answer_lost)
    first = await run_at(harness, at(11, 17))
    assert first.sent == [] and len(first.retried) == 3
    assert len(reminders_in(harness, AGRI)) == 1  # not again within the run
    assert {r.unanswered for r in rows_of(harness.store, AGRI) if r.id in first.retried} == {1}
    mark = last_id(harness, ADMIN)
    second = await run_at(harness, at(11, 17, 9, 1))
    assert len(reminders_in(harness, AGRI)) == 2 and len(second.failed) == 3
    failed = [r for r in rows_of(harness.store, AGRI) if r.state == "failed"]
    assert sorted(r.task_id for r in failed) == [7, 11, 23]
    assert all("did not answer twice" in r.reason for r in failed)
    assert any(str(AGRI) in m["text"] for m in harness.api.bot_messages(ADMIN)
               if m["message_id"] > mark)
    await run_at(harness, at(11, 17, 9, 20))
    assert len(reminders_in(harness, AGRI)) == 2


@pytest.mark.usefixtures("database_follows_clock")
async def test_an_unanswered_send_stays_unanswered_when_the_database_fails_noting_it(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram did not answer the send and the database failed while that was noted: the
    next run gives the rows back as unanswered, after the back-off, so the message is sent
    once more at most (not twice at once, as untried rows would be)."""
    await enrol_agri(harness)
    store = harness.store
    harness.app.bot_data["quick_retry_scale"] = 0.01
    original = ExtBot.send_message

    async def answer_lost(self: ExtBot, chat_id: int, text: str, *args: Any,
                          **kwargs: Any) -> Any:
        result = await original(self, chat_id, text, *args, **kwargs)
        if chat_id == AGRI:
            raise lost_answer("reset")
        return result

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("UPDATE", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ExtBot, "send_message", answer_lost)
    monkeypatch.setattr(store, "retry_message_later", unreachable)
    first = await run_at(harness, at(11, 17))
    monkeypatch.undo()
    monkeypatch.setattr(ExtBot, "send_message", answer_lost)
    held = [r for r in rows_of(store, AGRI) if r.due_at == at(11, 17)]
    assert first.sent == [] and {r.state for r in held} == {"sending"}
    assert len(reminders_in(harness, AGRI)) == 1
    soon = await run_at(harness, at(11, 17) + dt.timedelta(seconds=20))  # back, not yet due
    assert soon.sent == [] and len(reminders_in(harness, AGRI)) == 1
    back = [r for r in rows_of(store, AGRI) if r.id in {h.id for h in held}]
    assert {(r.state, r.unanswered) for r in back} == {("pending", 1)}
    later = await run_at(harness, at(11, 17, 9, 5))  # one more try, unanswered again: failed
    assert len(reminders_in(harness, AGRI)) == 2 and len(later.failed) == 3


def test_only_errors_after_the_request_went_out_are_unanswered() -> None:
    """A connect error or a pool timeout sent nothing: an ordinary dropped connection."""
    for kind in ("read timeout", "reset", "disconnected"):
        assert unanswered(lost_answer(kind)), kind
    write_timeout = TimedOut()
    write_timeout.__cause__ = httpx.WriteTimeout("timed out")
    assert unanswered(write_timeout)
    for cause in (httpx.ConnectTimeout("timed out"), httpx.PoolTimeout("timed out"),
                  httpx.ConnectError("[Errno 111] Connection refused"),
                  httpx.WriteError("[Errno 32] Broken pipe")):
        error: TelegramError = (TimedOut() if isinstance(cause, httpx.TimeoutException)
                                else NetworkError(f"httpx.{type(cause).__name__}: {cause}"))
        error.__cause__ = cause
        assert not unanswered(error), cause
    assert not unanswered(NetworkError("Bad Gateway"))  # Telegram answered: a 502


@pytest.mark.usefixtures("database_follows_clock")
async def test_the_back_off_holds_after_a_restart(harness: Harness,
                                                  restart: Restart) -> None:
    """The back-off is kept in the rows: a restarted bot (or another instance) waits too."""
    await enrol_agri(harness)
    welcome = len(sends_to(harness, AGRI))
    harness.app.bot_data["quick_retry_scale"] = 0.01
    harness.api.fail_next("sendMessage", 502, times=3)
    report = await run_at(harness, at(11, 17))
    assert report.sent == [] and len(report.retried) == 3
    await restart()
    soon = await run_at(harness, at(11, 17) + dt.timedelta(seconds=30))
    assert soon.retried == [] and sorted(soon.waiting) == sorted(report.retried)
    assert len(sends_to(harness, AGRI)) == welcome + 3  # the first try, two quick retries
    later = await run_at(harness, at(11, 17, 9, 1))
    assert sorted(later.sent) == sorted(report.retried)


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_row_that_keeps_failing_is_given_up_and_admins_are_told(
        harness: Harness) -> None:
    await enrol_agri(harness)
    tries = [at(11, 17), at(11, 17, 9, 1), at(11, 17, 9, 3), at(11, 17, 9, 7),
             at(11, 17, 9, 15)]
    assert len(tries) == MAX_ATTEMPTS
    harness.app.bot_data["quick_retry_scale"] = 0.01
    for index, when in enumerate(tries):
        harness.api.fail_next("sendMessage", 500, times=3)  # the day's one message, each try
        mark = last_id(harness, ADMIN)
        report = await run_at(harness, when)
        if index:
            assert report.sent == [] and report.skipped == []
        waiting = await run_at(harness, when + dt.timedelta(seconds=50))
        assert waiting.sent == [] and waiting.retried == []
    failed = [r for r in rows_of(harness.store, AGRI) if r.state == "failed"]
    assert sorted(r.task_id for r in failed) == [7, 11, 23]
    assert {r.attempts for r in failed} == {MAX_ATTEMPTS}
    assert all(r.reason.startswith(f"gave up after {MAX_ATTEMPTS} attempts") for r in failed)
    notice = [m["text"] for m in harness.api.bot_messages(ADMIN) if m["message_id"] > mark]
    assert any("第7项任务" in text and str(AGRI) in text for text in notice)
    assert reminders_in(harness, AGRI) == []


@pytest.mark.usefixtures("database_follows_clock")
async def test_lease_expiries_and_give_backs_leave_every_telegram_try(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a request Telegram failed counts toward the give-up limit: a row that went
    through four lease expiries and four give-backs (database outages) still gets all
    :data:`MAX_ATTEMPTS` tries before it fails for good."""
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    store = harness.store
    await run_at(harness, at(11, 16, 10))  # plans; nothing due yet
    ids = [r.id for r in rows_of(store, AGRI) if r.due_at == at(11, 17)]
    assert len(ids) == 3
    read, claim = store.reports_after, store.claim_messages
    outage = {"on": False}

    def claim_messages(*args: Any) -> Any:
        claimed = claim(*args)
        outage["on"] = True  # the database goes away right after the claim
        return claimed

    def reports_after(*args: Any) -> Any:
        if outage["on"]:  # read after the claim, before the send: a give-back
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return read(*args)

    for crash in range(4):
        # an instance claimed the rows and died: its lease has run out
        assert len(store.claim_leased(ids, f"host:{crash}:dead", -1, at(11, 17))) == 3
        monkeypatch.setattr(store, "claim_messages", claim_messages)
        monkeypatch.setattr(store, "reports_after", reports_after)
        report = await run_at(harness, at(11, 17, 9, crash))
        monkeypatch.undo()
        outage["on"] = False
        assert report.sent == [] and report.failed == [] and sorted(report.waiting) == ids
    assert reminders_in(harness, AGRI) == []  # Telegram was never asked
    welcome = len(sends_to(harness, AGRI))
    assert {r.attempts for r in rows_of(store, AGRI) if r.id in ids} == {0}
    tries = [at(11, 17, 9, 10), at(11, 17, 9, 11), at(11, 17, 9, 13), at(11, 17, 9, 17),
             at(11, 17, 9, 25)]
    for index, when in enumerate(tries):
        harness.api.fail_next("sendMessage", 500, times=3)  # beyond the quick retries
        report = await run_at(harness, when)
        rows = [r for r in rows_of(store, AGRI) if r.id in ids]
        if index < len(tries) - 1:
            assert report.failed == [] and sorted(report.retried) == ids, index
            assert {(r.state, r.attempts) for r in rows} == {("pending", index + 1)}
    assert {(r.state, r.attempts) for r in rows} == {("failed", MAX_ATTEMPTS)}
    assert len(sends_to(harness, AGRI)) - welcome == 3 * MAX_ATTEMPTS  # every try was made


async def test_rows_the_database_kept_from_giving_back_go_at_the_next_run(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database fails after the claim and again while the rows are given back: they stay
    ``sending`` with this instance's lease, which its renewal would keep alive; the next run
    gives them back and sends them at once, not a lease later."""
    await enrol_agri(harness)
    store = harness.store
    await run_at(harness, at(11, 16, 10))  # plans; nothing due yet
    claim = store.claim_messages
    down = {"on": False}

    def claim_messages(*args: Any) -> Any:
        claimed = claim(*args)
        down["on"] = True
        return claimed

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    read, retry = store.reports_after, store.retry_message_later
    monkeypatch.setattr(store, "claim_messages", claim_messages)
    monkeypatch.setattr(store, "reports_after",
                        lambda *a: unreachable() if down["on"] else read(*a))
    monkeypatch.setattr(store, "retry_message_later",
                        lambda *a, **k: unreachable() if down["on"] else retry(*a, **k))
    first = await run_at(harness, at(11, 17))
    monkeypatch.undo()
    held = [r for r in rows_of(store, AGRI) if r.due_at == at(11, 17)]
    assert first.sent == [] and sorted(first.waiting) == sorted(r.id for r in held)
    assert {r.state for r in held} == {"sending"}  # a lease of 30 s from now
    again = await run_at(harness, at(11, 17, 9, 1))
    assert sorted(again.sent) == sorted(r.id for r in held)
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]]
    assert {r.attempts for r in rows_of(store, AGRI) if r.id in again.sent} == {0}


async def test_403_deactivates_the_person_and_tells_the_admins(harness: Harness) -> None:
    await enrol_agri(harness)
    welcome = len(sends_to(harness, AGRI))
    harness.api.block_bot(AGRI)
    report = await run_at(harness, at(11, 17))
    person = harness.store.get_person(AGRI)
    assert person is not None and not person.active
    assert person.deactivation_reason and "blocked" in person.deactivation_reason
    rows = [r for r in rows_of(harness.store, AGRI) if r.due_at == at(11, 17)]
    assert len(rows) == 3  # one message, refused
    assert all(r.state == "failed" and "blocked by the user" in r.reason for r in rows)
    assert report.deactivated == [AGRI]
    assert len(sends_to(harness, AGRI)) == welcome + 1  # no hammering
    told = "\n".join(m["text"] for m in harness.api.bot_messages(ADMIN))
    assert f"李农（{AGRI}）已屏蔽本机器人" in told and "农业农村局需另行指定联络员" in told
    # A week later the unit has nobody: its reminders are listed to the admin instead.
    mark = last_id(harness, ADMIN)
    await run_at(harness, at(11, 24))
    notice = "\n".join(m["text"] for m in harness.api.bot_messages(ADMIN)
                       if m["message_id"] > mark)
    assert "农业农村局：任务 7, 11, 23" in notice
    assert len(sends_to(harness, AGRI)) == welcome + 1


# -- within Telegram's limits ---------------------------------------------------------------
def _contacts_by_unit(timetable: Timetable, total: int) -> list[str]:
    """``total`` contacts: one for each concrete unit, the rest for units with one task."""
    plan = plan_reminders(timetable, 2026, WorkingDayCalendar())
    units = [u.id for u in timetable.units if u.kind.value != "group"]
    tasks = Counter(r.unit_id for r in plan if r.at == at(11, 17))
    single = [u for u in units if tasks[u] == 1]
    return units + [single[n % len(single)] for n in range(total - len(units))]


async def test_fan_out_of_several_hundred_messages_keeps_the_limits(
        harness: Harness, timetable: Timetable) -> None:
    api, store = harness.api, harness.store
    api.enforce_limits = True  # 30/s overall, 1/s (burst 3) per private chat, 20/min per group
    harness.app.bot_data["per_chat_interval"] = 1.0  # production pacing
    units = _contacts_by_unit(timetable, 300)
    assert len(set(units)) == 34
    now = harness.clock.now()
    contacts: dict[int, str] = {}
    for index, unit in enumerate(units):
        user_id = 100_000 + index
        api.add_user(user_id, f"联络员{index}", "zh-hans")
        store.add_person(user_id, f"联络员{index}", "contact", unit, "zh_Hans", now)
        contacts[user_id] = unit
    plan = [r for r in plan_reminders(timetable, 2026, WorkingDayCalendar())
            if r.at == at(11, 17)]
    wanted = {uid: sorted(r.task_id or 0 for r in plan if r.unit_id == unit)
              for uid, unit in contacts.items()}
    total = sum(len(tasks) for tasks in wanted.values())
    assert total >= 350

    report = await run_at(harness, at(11, 17))

    assert (len(report.sent), report.failed, report.retried) == (total, [], [])
    for user_id, tasks in wanted.items():
        assert [tasks_of(m) for m in reminders_in(harness, user_id)] == [tasks], user_id
    sends = api.calls("sendMessage")
    assert [c for c in sends if c.status == 429] == []
    assert len(sends) == len(contacts)  # one message a person, nothing retried
    assert api.max_rate_observed() <= 30
    per_chat = api.max_rate_observed_per_chat()
    assert max(per_chat[uid] for uid in contacts) == 1  # at most one a second in any chat
    assert (await dispatch_due(harness.app, at(11, 17))).sent == []


async def test_leadership_group_digest_keeps_the_group_limit(harness: Harness) -> None:
    await bind_group(harness)
    harness.api.enforce_limits = True
    harness.app.bot_data["per_chat_interval"] = 1.0
    await run_at(harness, at(11, 16))
    pages = harness.api.bot_messages(GROUP)[1:]  # after the binding's reply
    assert pages and "2026年度汇总" in pages[0]["text"]
    assert harness.api.max_rate_observed(GROUP, window=60.0) <= 20
    assert all(len(p["text"]) <= 4096 for p in pages)
    rows = rows_of(harness.store, GROUP)
    [sent] = [r for r in rows if r.state == "sent"]
    assert sent.kind == "digest" and sent.message_id == pages[-1]["message_id"]
    assert re.search(r"⚪ 7\. " + TITLE_7, "\n".join(p["text"] for p in pages))
