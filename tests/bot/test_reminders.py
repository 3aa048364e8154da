"""Reminders end to end: the real dispatcher, the store and the Bot API stand-in, clock injected.

Runs on SQLite and on PostgreSQL. Tests call ``dispatch_due(app, now)`` themselves (the harness
schedules no job). Timing: the harness sets ``per_chat_interval`` to 0 because the stand-in does
not enforce Telegram's limits there and a contact gets up to 12 reminders a day, which would cost
up to 11 s per dispatch at the production 1 s; the fan-out test turns the limits on and uses the
production 1 s, which costs nothing extra there: its longest chat (12 messages, 11 s) finishes
before the overall pace (25 messages/s) has sent everything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from telegram.ext import Application

from bot.app import build_application
from bot.reminders import MAX_ATTEMPTS, DispatchReport, dispatch_due
from bot_api_standin import BotApiStandIn
from schedules.calendar import WorkingDayCalendar
from schedules.clock import FrozenClock
from schedules.delivery import (
    CUTOFF_PASSED,
    DROPPED,
    NOT_ENROLLED,
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


def task_of(message: dict[str, Any]) -> int:
    return int(button_data(message)[0].split("|")[1])


def kind_of(message: dict[str, Any]) -> str:
    return "overdue" if message["text"].startswith("🔴") else "before"


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
async def test_a_whole_season_day_by_day(harness: Harness, timetable: Timetable) -> None:
    await enrol_agri(harness)
    harness.api.add_user(STATS, "赵统", "zh-hans")
    await harness.enrol(STATS, "统计局")
    await bind_group(harness)
    received: dict[int, list[tuple[dt.date, int, str]]] = {AGRI: [], STATS: []}
    digests: list[dt.date] = []
    told_admin: list[dt.date] = []
    group_text: dict[dt.date, str] = {}
    for day in days(dt.date(2026, 10, 25), dt.date(2026, 12, 8)):
        when = dt.datetime.combine(day, dt.time(9), tzinfo=SHANGHAI)
        marks = {chat: last_id(harness, chat) for chat in (AGRI, STATS, GROUP, ADMIN)}
        first = await run_at(harness, when)
        again = await dispatch_due(harness.app, when)
        assert (again.sent, again.failed, again.retried) == ([], [], []), day
        assert first.failed == [] and first.retried == []
        for chat, log in received.items():
            log += [(day, task_of(m), kind_of(m)) for m in reminders_in(harness, chat,
                                                                       marks[chat])]
        new_in_group = [m for m in harness.api.bot_messages(GROUP)
                        if m["message_id"] > marks[GROUP]]
        if new_in_group:
            digests.append(day)
            group_text[day] = "\n".join(m["text"] for m in new_in_group)
        if last_id(harness, ADMIN) > marks[ADMIN]:
            told_admin.append(day)

    # The lead's contact: exactly the plan, task 7's days fixed by the working-day calendar.
    expected = [(r.at.date(), r.task_id, r.kind.value) for r in unit_plan(timetable, AGRI_UNIT)]
    assert sorted(received[AGRI]) == sorted(expected)
    assert len(set(received[AGRI])) == len(received[AGRI])  # each once
    task_7 = [(d, k) for d, task, k in received[AGRI] if task == 7]
    assert task_7 == [(dt.date(2026, 10, 30), "before"),  # 30 days: 1 Nov is a Sunday
                      (dt.date(2026, 11, 17), "before"), (dt.date(2026, 11, 24), "before"),
                      (dt.date(2026, 11, 27), "before"),  # 3 days: 28 Nov is a Saturday
                      (dt.date(2026, 11, 30), "before"), (dt.date(2026, 12, 1), "overdue")]
    # The cooperating unit is reminded before the cutoff, but the overdue notice is the lead's.
    stats_7 = [(d, k) for d, task, k in received[STATS] if task == 7]
    assert stats_7 == [(d, "before") for d, k in task_7 if k == "before"]
    assert sorted(received[STATS]) == sorted(
        (r.at.date(), r.task_id, r.kind.value) for r in unit_plan(timetable, "statistics"))

    # Weekly digests on the Mondays of the last month, and one after the cutoff.
    plan = plan_reminders(timetable, 2026, WorkingDayCalendar())
    assert digests == [r.at.date() for r in plan if r.kind is ReminderKind.DIGEST]
    assert digests == [dt.date(2026, 11, d) for d in (2, 9, 16, 23, 30)] + [dt.date(2026, 12, 1)]
    assert "2026年度汇总" in group_text[dt.date(2026, 11, 2)]
    overdue_part = group_text[dt.date(2026, 12, 1)].split("2026年度逾期及未报送情况")[1]
    assert f"🔴 7. {TITLE_7}" in overdue_part and "未报送：农业农村局" in overdue_part

    # Units nobody serves are listed to the admin at each run that has reminders for them.
    reminder_days = sorted({r.at.date() for r in plan if r.kind is not ReminderKind.DIGEST})
    assert told_admin == reminder_days
    first_notice = next(m["text"] for m in harness.api.bot_messages(ADMIN)
                        if "尚无已登记的联络员" in m["text"])
    assert "林业局：任务 8" in first_notice
    assert "农业农村局" not in first_notice and "统计局：" not in first_notice

    # Every row is recorded: sent with its message id, or skipped with the reason.
    rows = rows_of(harness.store, AGRI)
    assert {r.state for r in rows} == {"sent"}
    sent_ids = {r.message_id for r in rows}
    assert sent_ids == {m["message_id"] for m in reminders_in(harness, AGRI)}


async def test_reminder_text_and_buttons(harness: Harness) -> None:
    await enrol_agri(harness)
    harness.api.add_user(STATS, "赵统", "zh-hans")
    await harness.enrol(STATS, "统计局")
    await harness.enrol(REFORM, "发展改革局")  # Zhang Wei reads English
    await run_at(harness, at(11, 17))
    message = next(m for m in reminders_in(harness, AGRI) if task_of(m) == 7)
    text = message["text"]
    assert text.startswith("⏰ 提醒：第7项任务")
    assert f"7. {TITLE_7}" in text
    assert "贵单位（农业农村局）为本任务牵头单位" in text  # what the unit must deliver: its role
    assert "本地区绿肥种植面积较上年增加" in text
    assert "截止日期2026年11月30日，剩余13天" in text
    assert "尚未报送" in text  # the unit's latest report
    [row] = [r for r in rows_of(harness.store, AGRI, 7) if r.state == "sent"]
    assert row.message_id == message["message_id"]
    unit = "|2026|agriculture-rural"
    assert button_data(message) == [f"r|7|d{unit}", f"r|7|p{unit}", f"r|7|b{unit}",
                                    f"r|7|n{unit}", f"a|{row.id}"]
    cooperating = next(m for m in reminders_in(harness, STATS) if task_of(m) == 7)
    assert "配合" in cooperating["text"]
    english = reminders_in(harness, REFORM)[0]["text"]
    assert english.startswith("⏰ Reminder: task")
    assert "due November 30, 2026, 13 days left" in english
    # The latest report shows in the next reminder.
    await harness.press(AGRI, message["message_id"], "r|7|p|2026|agriculture-rural")
    await run_at(harness, at(11, 24))
    newer = next(m for m in reminders_in(harness, AGRI, message["message_id"])
                 if task_of(m) == 7)
    assert "🟡 进行中" in newer["text"] and "剩余6天" in newer["text"]


async def test_done_unit_stops_and_acknowledge_is_stored(harness: Harness) -> None:
    await enrol_agri(harness)
    await run_at(harness, at(11, 17))
    first = {task_of(m): m for m in reminders_in(harness, AGRI)}
    assert sorted(first) == [7, 11, 23]
    # 收到 on task 11's reminder: stored, and the button is answered.
    row_11 = next(r for r in rows_of(harness.store, AGRI, 11) if r.state == "sent")
    before = len(harness.api.calls("answerCallbackQuery"))
    await harness.press(AGRI, first[11]["message_id"], f"a|{row_11.id}")
    stored = harness.store.get_reminder(row_11.id)
    assert stored is not None and stored.acknowledged_at is not None
    assert stored.acknowledged_by_telegram_id == AGRI
    answers = harness.api.calls("answerCallbackQuery")[before:]
    assert [a.params.get("text") for a in answers] == ["谢谢，已记为收到。"]
    assert harness.api.unanswered_callbacks() == []
    # 已完成 on task 7: no more reminders for 7, the others go on.
    ack = await harness.press(AGRI, first[7]["message_id"], "r|7|d|2026|agriculture-rural")
    assert "已完成" in ack[0]["text"]
    mark = last_id(harness, AGRI)
    for day in (at(11, 24), at(11, 27), at(11, 30), at(12, 1)):
        await run_at(harness, day)
    later = Counter(task_of(m) for m in reminders_in(harness, AGRI, mark))
    assert later == {11: 3, 23: 3}  # 7, 3 and 1 days before; no overdue: they are not leads
    skipped = [r for r in rows_of(harness.store, AGRI, 7) if r.due_at > at(11, 17)]
    assert [(r.kind, r.state, r.reason) for r in skipped] == [
        ("before", "skipped", REPORTED_DONE)] * 3 + [("overdue", "skipped", REPORTED_DONE)]


# -- durability -----------------------------------------------------------------------------
async def test_restart_never_resends_and_never_loses(harness: Harness, restart: Restart
                                                     ) -> None:
    await enrol_agri(harness)
    await run_at(harness, at(10, 30))
    await run_at(harness, at(11, 17))
    assert len(reminders_in(harness, AGRI)) == 6
    await restart()
    again = await run_at(harness, at(11, 17, 9, 30))  # the same day, a new process
    assert again.sent == [] and len(reminders_in(harness, AGRI)) == 6
    # Down over the 09:00 run of 24 November, back at 09:40: what was due is sent.
    await restart()
    back = await run_at(harness, at(11, 24, 9, 40))
    assert len(back.sent) == 3
    await run_at(harness, at(11, 24, 10))
    assert Counter(task_of(m) for m in reminders_in(harness, AGRI)) == {7: 3, 11: 3, 23: 3}
    assert {r.state for r in rows_of(harness.store, AGRI) if r.due_at <= at(11, 24)} == {"sent"}


async def test_restart_in_the_middle_of_a_run(harness: Harness, restart: Restart) -> None:
    await harness.enrol(REFORM, "发展改革局")  # 12 reminders on 17 November
    harness.app.bot_data["per_chat_interval"] = 0.4
    harness.clock.set(at(11, 17))
    run = asyncio.create_task(dispatch_due(harness.app, at(11, 17)))

    def sent_count() -> int:
        return sum(r.state == "sent" for r in rows_of(harness.store, REFORM))

    while await asyncio.to_thread(sent_count) < 3:
        await asyncio.sleep(0.02)
    run.cancel()  # the process dies while it waits to write to the chat again
    with pytest.raises(asyncio.CancelledError):
        await run
    assert len(reminders_in(harness, REFORM)) == 3
    await restart()
    harness.app.bot_data["per_chat_interval"] = 0.0
    # Later the same morning (a row caught while being claimed is retried after 10 minutes).
    await run_at(harness, at(11, 17, 9, 20))
    tasks = Counter(task_of(m) for m in reminders_in(harness, REFORM))
    expected = [r.task_id for r in unit_plan(harness.app.bot_data["services"].timetable,
                                            "development-reform")
                if r.at == at(11, 17)]
    assert len(expected) == 12 and tasks == Counter(expected)
    assert {r.state for r in rows_of(harness.store, REFORM) if r.due_at == at(11, 17)} == {
        "sent"}


async def test_downtime_sends_only_the_newest_before_the_cutoff(harness: Harness) -> None:
    await enrol_agri(harness)
    await bind_group(harness)
    await run_at(harness, at(10, 30))
    mark = last_id(harness, AGRI)
    # Down from 1 to 25 November: the 14- and 7-day reminders and four digests were missed.
    back = await run_at(harness, at(11, 25))
    caught_up = reminders_in(harness, AGRI, mark)
    assert sorted(task_of(m) for m in caught_up) == [7, 11, 23]
    assert all("剩余5天" in m["text"] for m in caught_up)
    rows = {(r.task_id, r.offset_days): r for r in rows_of(harness.store, AGRI)}
    for task in (7, 11, 23):
        assert (rows[(task, 14)].state, rows[(task, 14)].reason) == ("skipped", SUPERSEDED)
        assert rows[(task, 7)].state == "sent"
    digests = {r.due_at.astimezone(SHANGHAI).date(): r for r in rows_of(harness.store, GROUP)}
    assert digests[dt.date(2026, 11, 23)].state == "sent"
    assert [(digests[dt.date(2026, 11, d)].state, digests[dt.date(2026, 11, d)].reason)
            for d in (2, 9, 16)] == [("skipped", STALE)] * 3
    assert len(back.sent) == 4
    group_mark = last_id(harness, GROUP)
    # Down again from 26 November to 2 December: the last before-reminders are too late now.
    mark = last_id(harness, AGRI)
    await run_at(harness, at(12, 2))
    late = reminders_in(harness, AGRI, mark)
    assert [(task_of(m), kind_of(m)) for m in late] == [(7, "overdue")]
    assert "已逾期2天" in late[0]["text"]
    rows = {(r.task_id, r.offset_days): r for r in rows_of(harness.store, AGRI)}
    assert {(rows[(t, o)].state, rows[(t, o)].reason) for t in (7, 11, 23) for o in (3, 1)} == {
        ("skipped", CUTOFF_PASSED)}
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
    assert sorted(task_of(m) for m in reminders_in(harness, AGRI)) == [7, 11, 23]


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
        got += [(when, kind_of(m)) for m in reminders_in(harness, AGRI, mark) if task_of(m) == 7]
    new_plan = unit_plan(services.timetable, AGRI_UNIT, 7)
    assert [r.at for r in new_plan] == [at(11, 10, 10), at(11, 24, 10), at(11, 30, 10),
                                        at(12, 1, 10)]
    assert got == [(r.at, r.kind.value) for r in new_plan]
    rows = rows_of(harness.store, AGRI, 7)
    assert len({(r.kind, r.offset_days) for r in rows}) == len(rows)  # one row per key
    states = {(r.kind, r.offset_days): (r.state, r.due_at) for r in rows}
    assert states[("before", 21)] == ("sent", at(11, 10, 10))
    assert states[("before", 7)] == ("sent", at(11, 24, 10))  # moved, not duplicated
    assert states[("before", 14)][0] == states[("before", 3)][0] == "skipped"
    assert {r.reason for r in rows if r.state == "skipped"} == {DROPPED}
    others = Counter(task_of(m) for m in reminders_in(harness, AGRI) if task_of(m) != 7)
    assert others == {11: 5, 23: 5}


# -- Telegram's answers ---------------------------------------------------------------------
async def test_429_is_honoured_and_the_message_goes_once(harness: Harness) -> None:
    await enrol_agri(harness)
    welcome = len(sends_to(harness, AGRI))
    harness.api.fail_next("sendMessage", 429, retry_after=1)
    report = await run_at(harness, at(11, 17))
    assert len(report.sent) == 3 and report.retried == [] and report.failed == []
    calls = sends_to(harness, AGRI)[welcome:]
    assert [c.status for c in calls] == [429, 200, 200, 200]
    assert calls[1].at - calls[0].at >= 1.0  # AIORateLimiter waited retry_after
    assert calls[0].params["text"] == calls[1].params["text"]
    assert sorted(task_of(m) for m in reminders_in(harness, AGRI)) == [7, 11, 23]


@pytest.mark.parametrize("error_code", [500, 502])
async def test_server_errors_retry_with_back_off(harness: Harness, error_code: int) -> None:
    await enrol_agri(harness)
    harness.api.fail_next("sendMessage", error_code)
    report = await run_at(harness, at(11, 17))
    assert len(report.sent) == 2 and len(report.retried) == 1
    [row] = [r for r in rows_of(harness.store, AGRI) if r.id in report.retried]
    assert (row.state, row.attempts, row.task_id) == ("pending", 1, 7)
    assert "NetworkError" in row.reason
    soon = await run_at(harness, at(11, 17, 9, 0) + dt.timedelta(seconds=30))
    assert soon.sent == [] and soon.waiting == [row.id]  # backing off
    later = await run_at(harness, at(11, 17, 9, 1))
    assert later.sent == [row.id]
    assert Counter(task_of(m) for m in reminders_in(harness, AGRI)) == {7: 1, 11: 1, 23: 1}
    stored = harness.store.get_reminder(row.id)
    assert stored is not None and stored.state == "sent" and stored.message_id


async def test_a_row_that_keeps_failing_is_given_up_and_admins_are_told(
        harness: Harness) -> None:
    await enrol_agri(harness)
    tries = [at(11, 17), at(11, 17, 9, 1), at(11, 17, 9, 3), at(11, 17, 9, 7),
             at(11, 17, 9, 15)]
    assert len(tries) == MAX_ATTEMPTS
    for index, when in enumerate(tries):
        harness.api.fail_next("sendMessage", 500)  # the first send of each run: task 7's
        mark = last_id(harness, ADMIN)
        report = await run_at(harness, when)
        if index:
            assert report.sent == [] and report.skipped == []
        waiting = await run_at(harness, when + dt.timedelta(seconds=50))
        assert waiting.sent == [] and waiting.retried == []
    failed = [r for r in rows_of(harness.store, AGRI, 7) if r.state == "failed"]
    assert len(failed) == 1 and failed[0].attempts == MAX_ATTEMPTS
    assert failed[0].reason.startswith(f"gave up after {MAX_ATTEMPTS} attempts")
    notice = [m["text"] for m in harness.api.bot_messages(ADMIN) if m["message_id"] > mark]
    assert any("第7项任务" in text and str(AGRI) in text for text in notice)
    assert not any(task_of(m) == 7 for m in reminders_in(harness, AGRI))


async def test_403_deactivates_the_person_and_tells_the_admins(harness: Harness) -> None:
    await enrol_agri(harness)
    welcome = len(sends_to(harness, AGRI))
    harness.api.block_bot(AGRI)
    report = await run_at(harness, at(11, 17))
    person = harness.store.get_person(AGRI)
    assert person is not None and not person.active
    assert person.deactivation_reason and "blocked" in person.deactivation_reason
    rows = sorted((r for r in rows_of(harness.store, AGRI) if r.due_at == at(11, 17)),
                  key=lambda r: r.id)
    assert rows[0].state == "failed" and "blocked by the user" in rows[0].reason
    assert {(r.state, r.reason) for r in rows[1:]} == {("skipped", NOT_ENROLLED)}
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
        assert sorted(task_of(m) for m in reminders_in(harness, user_id)) == tasks, user_id
    sends = api.calls("sendMessage")
    assert [c for c in sends if c.status == 429] == []
    assert len(sends) == total  # every message once, nothing retried
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
