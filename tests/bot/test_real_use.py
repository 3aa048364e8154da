"""What people really do in chat: edits, forwards, early-morning dates, late answers, a clerk
in two units, double presses, small talk, odd numbers, forged buttons, long notes, groups.

Each test drives the real bot through the Bot API stand-in on SQLite and PostgreSQL; the rules
are written down in docs/chat.md.
"""

from __future__ import annotations

import datetime as dt
from html import unescape

import pytest

from bot.reminders import dispatch_due
from schedules.planning import ReminderKind, plan_reminders
from tests.bot.conftest import (
    ADMIN,
    ECOLOGY,
    LEADER,
    REFORM,
    SHANGHAI,
    STRANGER,
    Harness,
    button_data,
    error_notices,
    texts,
)

ECO = "ecology-environment"
FORESTRY_CONTACT = 3005
GROUP = -100777


def history(harness: Harness, task: int, unit: str = ECO, cycle: int = 2026) -> list:
    return harness.store.report_history(task, unit, cycle)


# -- 1. edits ---------------------------------------------------------------------------------
async def test_an_edited_report_is_never_stored_again(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    first = harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 正在核查")
    await harness.pump()
    await harness.command(ECOLOGY, "report", "15 已完成 报告已报送")
    harness.clock.advance(dt.timedelta(hours=16))  # next morning, a typo fixed
    harness.api.edit_text(ECOLOGY, first["message_id"], "/report 15 进行中 55% 正在核查")
    await harness.pump()
    assert [r.status for r in history(harness, 15)] == ["in_progress", "done"]
    notice = harness.api.bot_messages(ECOLOGY)[-1]["text"]
    assert "修改消息不会被记录" in notice and "/report" in notice
    # Told once a day, not at every edit.
    before = len(harness.api.bot_messages(ECOLOGY))
    harness.api.edit_text(ECOLOGY, first["message_id"], "/report 15 受阻")
    await harness.pump()
    assert len(harness.api.bot_messages(ECOLOGY)) == before
    assert [r.status for r in history(harness, 15)] == ["in_progress", "done"]


async def test_an_edited_reply_to_a_reminder_changes_nothing(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    reminder = next(m for m in reversed(harness.api.bot_messages(ECOLOGY))
                    if any(d.startswith("a|") for d in button_data(m)))
    task = next(d for d in button_data(reminder) if d.startswith("t|"))
    [card] = await harness.press(ECOLOGY, reminder["message_id"], task)
    sent = harness.api.send_text(ECOLOGY, "已完成", reply_to_message_id=card["message_id"])
    await harness.pump()
    stored = {key: len(history(harness, key[0])) for key in harness.store.latest_reports(2026)}
    assert stored
    harness.api.edit_text(ECOLOGY, sent["message_id"], "进行中 30%")
    await harness.pump()
    assert {key: len(history(harness, key[0])) for key in
            harness.store.latest_reports(2026)} == stored


async def test_an_edited_invite_command_makes_no_second_link(harness: Harness) -> None:
    sent = harness.api.send_command(ADMIN, "invite", "生态环境局")
    await harness.pump()
    links = [m for m in harness.api.bot_messages(ADMIN) if "start=" in m.get("text", "")]
    harness.api.edit_text(ADMIN, sent["message_id"], "/invite 林业局")
    await harness.pump()
    assert [m for m in harness.api.bot_messages(ADMIN) if "start=" in m.get("text", "")] == links
    assert len(harness.store.audit_log(action="invite.created")) == 1


# -- 2. forwards ------------------------------------------------------------------------------
async def test_a_forwarded_report_is_not_the_forwarders(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.forward_text(ECOLOGY, "/report 11 已完成 材料已报送", original_sender_id=REFORM)
    await harness.pump()
    harness.api.forward_text(ECOLOGY, "已完成", original_sender_id=REFORM)
    await harness.pump()
    assert harness.store.latest_reports(2026) == {}
    answers = harness.api.bot_messages(ECOLOGY)[-2:]
    assert all("转发的消息不会被当作报送" in m["text"] for m in answers)


# -- 3. local dates -------------------------------------------------------------------------
@pytest.mark.parametrize(("hour", "minute"), [(0, 5), (7, 30), (7, 59)])
async def test_an_early_morning_report_shows_the_office_date(harness: Harness, hour: int,
                                                              minute: int) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    harness.clock.set(dt.datetime(2026, 12, 1, hour, minute, tzinfo=SHANGHAI))
    ack = await harness.command(ECOLOGY, "report", "15 已完成")
    assert "2026/12/1" in ack[0]["text"] and "2026/11/30" not in ack[0]["text"]
    task = texts(await harness.command(LEADER, "task", "15"))
    unit = texts(await harness.command(LEADER, "unit", "生态环境局"))
    mine = texts(await harness.command(ECOLOGY, "mytasks"))
    assert "12/1/26" in task and "11/30/26" not in task  # the leader reads English
    assert "12/1/26" in unit
    assert "2026/12/1" in mine


# -- 4. the right cycle ---------------------------------------------------------------------
async def test_a_reply_to_last_years_overdue_notice_counts_for_last_year(
        harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    notice = next(m for m in reversed(harness.api.bot_messages(ECOLOGY))
                  if "15" in " ".join(button_data(m)) and "逾期" in m["text"])
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    replies = await harness.say(ECOLOGY, "已完成，材料已于12月报送",
                                reply_to=notice["message_id"])
    targets = [key for key in harness.store.reminders_by_message(ECOLOGY, notice["message_id"])]
    if len({(r.task_id, r.unit_id) for r in targets}) > 1:  # a notice listing several tasks
        data = next(d for d in button_data(replies[-1]) if d.split("|")[3].startswith("15."))
        await harness.press(ECOLOGY, replies[-1]["message_id"], data)
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    assert harness.store.latest_reports(2027, 15) == {}
    # The 2027 reminders for task 15 are not silenced by the 2026 report.
    harness.clock.set(dt.datetime(2027, 11, 1, 9, 0, tzinfo=SHANGHAI))
    report = await dispatch_due(harness.app)
    rows = {r.id: r for year in (2026, 2027) for r in harness.store.reminders_for_cycle(year)}
    skipped_done = [rows[i] for i, reason in report.skipped
                    if reason == "unit reported done" and rows[i].task_id == 15
                    and rows[i].cycle == 2027]
    assert skipped_done == []
    assert any(rows[i].task_id == 15 and rows[i].unit_id == ECO and rows[i].cycle == 2027
               for i in report.sent)


async def test_report_takes_a_year_and_asks_while_last_year_is_open(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)  # the 2026 overdue notice reaches the unit
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    explicit = await harness.command(ECOLOGY, "report", "16 2026 已完成 已报送")
    assert "2026" in explicit[0]["text"]
    assert harness.store.latest_reports(2026, 16)[(16, ECO)].status == "done"
    question = await harness.command(ECOLOGY, "report", "15 已完成")
    assert "哪一年度" in question[0]["text"]
    assert harness.store.latest_reports(2026, 15) == {}  # nothing stored before the answer
    assert harness.store.latest_reports(2027, 15) == {}  # nor for this year, checked as stored
    years = [d for d in button_data(question[0])]
    assert [d.split("|")[-1] for d in years] == ["2026", "2027"]
    await harness.press(ECOLOGY, question[0]["message_id"], years[0])
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    # Once 2026 is done, a /report without a year is for 2027 without asking.
    ack = await harness.command(ECOLOGY, "report", "15 进行中 10%")
    assert "2027" in ack[0]["text"]
    assert harness.store.latest_reports(2027, 15)[(15, ECO)].progress == 10


async def test_no_question_about_a_year_the_bot_never_followed(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await harness.command(ECOLOGY, "report", "15 进行中")  # nothing of 2025 is known
    assert "2026" in ack[0]["text"] and "哪一年度" not in ack[0]["text"]


# -- 5. a clerk in two units ------------------------------------------------------------------
async def test_a_clerk_serves_two_units(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    welcome = await harness.enrol(ECOLOGY, "林业局")
    assert "林业局" in welcome[0]["text"] and "生态环境局" in welcome[0]["text"]
    assert harness.store.units_of(ECOLOGY) == [ECO, "forestry"]
    mine = await harness.command(ECOLOGY, "mytasks")
    assert "林业局" in texts(mine) and "生态环境局" in texts(mine)
    assert "t|8|forestry" in button_data(mine[-1])
    ok = await harness.command(ECOLOGY, "report", "8 进行中 30%")
    assert harness.store.latest_reports(2026, 8)[(8, "forestry")].progress == 30, ok
    # Task 23 is both units': the bot asks which.
    question = await harness.command(ECOLOGY, "report", "23 已完成")
    choices = button_data(question[0])
    assert sorted(c.split("|")[-1] for c in choices) == sorted([ECO, "forestry"])
    await harness.press(ECOLOGY, question[0]["message_id"],
                        next(c for c in choices if c.endswith("forestry")))
    assert set(harness.store.latest_reports(2026, 23)) == {(23, "forestry")}
    # Reminders reach her for both units.
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    report = await dispatch_due(harness.app)
    rows = {r.id: r for r in harness.store.reminders_for_cycle(2026)}
    assert {rows[i].unit_id for i in report.sent if rows[i].chat_id == ECOLOGY} == {
        ECO, "forestry"}
    # /people shows both; /revoke can take one unit away.
    people = texts(await harness.command(ADMIN, "people"))
    line = next(x for x in people.split("\n") if str(ECOLOGY) in x)
    assert "生态环境局" in line and "林业局" in line
    await harness.command(ADMIN, "revoke", f"{ECOLOGY} 林业局")
    assert harness.store.units_of(ECOLOGY) == [ECO]
    refused = await harness.command(ECOLOGY, "report", "8 已完成")
    assert "不属于您所在的单位" in refused[0]["text"]


# -- 6. late button presses -----------------------------------------------------------------
async def test_a_press_answered_too_late_is_still_stored_and_acknowledged(
        harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    listing = await harness.command(ECOLOGY, "mytasks")
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], f"t|15|{ECO}")
    harness.api.fail_next("answerCallbackQuery", 400,
                          "Bad Request: query is too old and response timeout expired or "
                          "query ID is invalid")
    ack = await harness.press(ECOLOGY, card[0]["message_id"], f"r|15|d|2026|{ECO}")
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    assert "已记录第15项任务" in ack[0]["text"]
    assert "出错" not in texts(ack)
    assert error_notices(harness) == []


# -- 7. honest errors -------------------------------------------------------------------------
async def test_errors_are_told_truthfully_and_paged_once_an_hour(harness: Harness,
                                                                 monkeypatch) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(harness.store, "add_reports_once", broken)
    first = await harness.command(ECOLOGY, "report", "15 已完成")
    assert "无法确定" in first[0]["text"] and "未丢失" not in first[0]["text"]
    await harness.command(ECOLOGY, "report", "16 已完成")
    assert len(error_notices(harness)) == 1  # the same kind of error: paged once
    harness.clock.advance(dt.timedelta(minutes=61))
    await harness.command(ECOLOGY, "report", "16 已完成")
    assert len(error_notices(harness)) == 2


# -- 8. double presses and small talk ---------------------------------------------------------
async def test_a_double_press_is_one_report(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    listing = await harness.command(ECOLOGY, "mytasks")
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], f"t|15|{ECO}")
    await harness.press(ECOLOGY, card[0]["message_id"], f"r|15|d|2026|{ECO}")
    harness.clock.advance(dt.timedelta(seconds=5))
    again = await harness.press(ECOLOGY, card[0]["message_id"], f"r|15|d|2026|{ECO}")
    assert len(history(harness, 15)) == 1
    assert "重复的报送未重复记录" in again[0]["text"]


@pytest.mark.parametrize("small_talk", ["谢谢", "好的", "👍", "\u200b", "Thanks!", "收到 🙏"])
async def test_small_talk_after_a_button_is_no_note(harness: Harness, small_talk: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 进行中 60% 正在核查")
    listing = await harness.command(ECOLOGY, "mytasks")
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], f"t|15|{ECO}")
    harness.clock.advance(dt.timedelta(minutes=2))
    await harness.press(ECOLOGY, card[0]["message_id"], f"r|15|p|2026|{ECO}")
    answer = await harness.say(ECOLOGY, small_talk)
    assert answer == []
    reports = history(harness, 15)
    assert [(r.status, r.note) for r in reports] == [("in_progress", "正在核查"),
                                                     ("in_progress", "")]
    notes = harness.store.latest_notes(2026, 15)
    assert notes[(15, ECO)].note == "正在核查"


async def test_a_note_never_erases_the_percentage(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    listing = await harness.command(ECOLOGY, "mytasks")
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], f"t|15|{ECO}")
    ack = await harness.press(ECOLOGY, card[0]["message_id"], f"r|15|p|2026|{ECO}")
    await harness.say(ECOLOGY, "60%", reply_to=ack[-1]["message_id"])
    harness.clock.advance(dt.timedelta(minutes=1))
    second = await harness.press(ECOLOGY, card[0]["message_id"], f"r|15|p|2026|{ECO}")
    await harness.say(ECOLOGY, "正在联系企业", reply_to=second[-1]["message_id"])
    newest = harness.store.latest_reports(2026, 15)[(15, ECO)]
    assert (newest.progress, newest.note) == (60, "正在联系企业")
    # The leader sees the latest status and the most recent note even when the latest report
    # has none.
    harness.clock.advance(dt.timedelta(days=1))
    await harness.command(ECOLOGY, "report", "15 已完成")
    task = texts(await harness.command(LEADER, "task", "15"))
    line = task[task.index("Ecology and Environment Bureau"):]
    assert "done" in line and "正在联系企业" in line and "last note (11/16/26)" in line


# -- 9. numbers -------------------------------------------------------------------------------
@pytest.mark.parametrize(("user", "command", "args"), [
    (ECOLOGY, "report", "² 已完成"), (LEADER, "task", "²"), (LEADER, "summary", "²"),
    (LEADER, "export", "³"), (ADMIN, "revoke", "²"),
    (ADMIN, "revoke", "99999999999999999999999999"), (LEADER, "task", "-3"),
    (LEADER, "summary", "2026.5"), (ECOLOGY, "report", "15.0 已完成"),
])
async def test_odd_numbers_get_the_usage_text(harness: Harness, user: int, command: str,
                                              args: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    answer = await harness.command(user, command, args)
    assert len(answer) == 1 and ("Usage" in answer[0]["text"] or "用法" in answer[0]["text"])
    assert error_notices(harness) == []
    assert harness.store.latest_reports(2026) == {}


@pytest.mark.parametrize("percent", ["-5%", "150%", "0.5%", "²%", "101"])
async def test_a_percentage_out_of_range_is_asked_again(harness: Harness, percent: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    answer = await harness.command(ECOLOGY, "report", f"15 进行中 {percent} 核查")
    assert "不是有效的百分比" in answer[0]["text"]
    assert harness.store.latest_reports(2026) == {}


async def test_a_bare_number_and_full_width_digits_are_percentages(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 进行中 60 核查中")
    stored = harness.store.latest_reports(2026, 15)[(15, ECO)]
    assert (stored.progress, stored.note) == (60, "核查中")
    await harness.command(ECOLOGY, "report", "１６ 进行中 ７０％")
    assert harness.store.latest_reports(2026, 16)[(16, ECO)].progress == 70


# -- 10. forged buttons -----------------------------------------------------------------------
@pytest.mark.parametrize("data", ["r|abc|done", "r|11", "t|", "a|", "c|zz", "r|15|x|2026|" + ECO,
                                  "r|15|d|2026|forestry", "l|fr", "q" * 64])
async def test_forged_button_data_expires_quietly(harness: Harness, data: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    listing = await harness.command(ECOLOGY, "mytasks")
    for user in (ECOLOGY, STRANGER):
        chat_message = listing[-1] if user == ECOLOGY else None
        if chat_message is None:
            await harness.command(STRANGER, "start")
            chat_message = harness.api.bot_messages(STRANGER)[-1]
        query = harness.api.press_forged_button(user, chat_message["message_id"], data)
        await harness.pump()
        answer = harness.api.callback_answer(query["id"])
        assert answer is not None  # the spinner always stops
        if user == ECOLOGY:
            assert "已失效" in answer.get("text", "")  # this button, or this question, expired
    assert harness.api.unanswered_callbacks() == []
    assert error_notices(harness) == []
    assert harness.store.latest_reports(2026) == {}


# -- 11. long text ----------------------------------------------------------------------------
async def test_a_long_note_is_stored_whole_and_shown_short(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    note = "核查进展" * 1015  # with "/report 15 进行中 " the message is 4,076 characters
    ack = await harness.command(ECOLOGY, "report", f"15 进行中 {note}")
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].note == note
    assert len(ack) == 1 and "…" in ack[0]["text"] and len(ack[0]["text"]) < 400
    task = await harness.command(LEADER, "task", "15")
    shown = "".join(unescape(m["text"]) for m in task)
    assert shown.count("核查进展") == 1015  # the full note, over pages


async def test_a_note_of_markup_characters_is_split_by_what_it_shows(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    note = "<&" * 2000
    await harness.command(ECOLOGY, "report", f"15 进行中 {note}")
    task = await harness.command(LEADER, "task", "15")
    assert 2 <= len(task) <= 3  # by visible length, not by its escaped length
    assert "".join(m["text"] for m in task).count("<&") == 2000  # every page parsed


async def test_echoed_arguments_stay_short(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    answer = await harness.command(LEADER, "unit", "x" * 4000)
    assert len(answer) == 1 and len(answer[0]["text"]) < 300 and "…" in answer[0]["text"]


# -- 12. other bots' commands and strangers in groups -----------------------------------------
async def test_a_group_hears_nothing_about_other_bots_commands(harness: Harness) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, GROUP)
    before = len(harness.api.bot_messages(GROUP))
    for user, text in ((LEADER, "/poll 周五开会?"), (LEADER, "/weather"),
                       (LEADER, "/summary@PollBot"), (STRANGER, "/summary"),
                       (STRANGER, "/start"), (STRANGER, "/help")):
        harness.api.send_text(user, text, GROUP)
        await harness.pump()
    assert len(harness.api.bot_messages(GROUP)) == before
    assert str(STRANGER) not in texts(harness.api.bot_messages(GROUP))


# -- 13. the bound leadership group -----------------------------------------------------------
async def test_a_link_opened_in_a_group_binds_nothing(harness: Harness) -> None:
    harness.api.add_group(GROUP, "外人的群")
    harness.api.add_group(GROUP - 1, "另一个群")
    await harness.enrol(LEADER, None, "leader")
    reply = await harness.command(ADMIN, "invite", "leader")
    code = reply[-1]["text"].split("start=")[1].split()[0]
    answer = await harness.command(LEADER, "start", code, chat_id=GROUP)
    assert "private chat" in answer[0]["text"] and "/bind" in answer[0]["text"]
    assert harness.store.leadership_chats() == []
    assert await harness.command(STRANGER, "start", code, chat_id=GROUP - 1) == []
    assert await harness.command(STRANGER, "bind", chat_id=GROUP - 1) == []
    assert harness.store.leadership_chats() == []


async def test_invite_links_are_only_sent_privately(harness: Harness) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    sent = harness.api.send_command(ADMIN, "invite", "admin", GROUP, with_username=True)
    await harness.pump()
    answers = [m for m in harness.api.bot_messages(GROUP) if m["message_id"] > sent["message_id"]]
    assert answers and all("start=" not in m["text"] for m in answers)
    assert harness.store.audit_log(action="invite.created") == []


async def test_revoking_a_leader_unbinds_their_group_and_admins_list_and_unbind(
        harness: Harness) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    harness.api.add_group(GROUP - 1, "第二个群")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, GROUP)
    await harness.bind(ADMIN, GROUP - 1)
    people = texts(await harness.command(ADMIN, "people"))
    assert "降碳领导小组" in people and str(GROUP) in people and "Leader Li" in people
    done = await harness.command(ADMIN, "revoke", str(LEADER))
    assert "降碳领导小组" in done[0]["text"]  # the admin is told which group was unbound
    assert [c.chat_id for c in harness.store.leadership_chats()] == [GROUP - 1]
    assert await harness.command(LEADER, "summary", chat_id=GROUP) == []  # a stranger now
    unbound = await harness.command(ADMIN, "unbind", str(GROUP - 1))
    assert str(GROUP - 1) in unbound[0]["text"]
    assert harness.store.leadership_chats() == []
    bad = await harness.command(ADMIN, "unbind", "abc")
    assert "用法" in bad[0]["text"]


async def test_digests_reach_every_bound_group_and_leaders_who_asked(harness: Harness) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    harness.api.add_group(GROUP - 1, "第二个群")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, GROUP)
    await harness.bind(LEADER, GROUP - 1)
    await harness.command(LEADER, "digest", "on")
    await harness.command(LEADER, "lang", "en", chat_id=GROUP - 1)
    services = harness.app.bot_data["services"]
    first_digest = min(r.at for r in plan_reminders(services.timetable, 2026, services.calendar)
                       if r.kind is ReminderKind.DIGEST)
    harness.clock.set(first_digest)
    await dispatch_due(harness.app)
    titles = ("Summary of cycle", "年度汇总")
    digests = {chat: [m["text"] for m in harness.api.bot_messages(chat)
                      if any(title in m.get("text", "") for title in titles)]
               for chat in (GROUP, GROUP - 1, LEADER)}
    assert all(digests.values()), digests
    assert "Summary of cycle" in digests[GROUP - 1][0]  # the group's own language
    assert "年度汇总" in digests[GROUP][0]  # the default, Chinese


# -- 14. menus follow roles ---------------------------------------------------------------------
async def test_menus_follow_roles(harness: Harness) -> None:
    admin_menu = harness.api.commands_for({"type": "chat", "chat_id": ADMIN}, "")
    assert {"invite", "people", "revoke", "summary"} <= {c["command"] for c in admin_menu}
    await harness.enrol(ECOLOGY, "生态环境局")
    assert "report" in {c["command"] for c in harness.api.commands_for(
        {"type": "chat", "chat_id": ECOLOGY}, "")}
    await harness.command(ADMIN, "revoke", str(ECOLOGY))
    assert not harness.api.commands_for({"type": "chat", "chat_id": ECOLOGY}, "")


# -- 16. errors that are not the bot's fault ----------------------------------------------------
async def test_a_reply_to_someone_who_blocked_the_bot_pages_nobody(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.send_command(ECOLOGY, "report", "15 已完成")
    harness.block(ECOLOGY)
    await harness.pump()
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    assert error_notices(harness) == []


@pytest.mark.parametrize("kind", ["voice", "video", "sticker", "video_note"])
async def test_media_the_bot_does_not_keep_gets_a_short_answer(harness: Harness,
                                                               kind: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    sent = harness.api.send_media(ECOLOGY, kind)  # type: ignore[arg-type]
    await harness.pump()
    answer = harness.bot_messages_after(ECOLOGY, sent["message_id"])
    assert len(answer) == 1 and "不会保存" in answer[0]["text"]
    assert harness.store.latest_reports(2026) == {}


# -- found by a fresh tester -------------------------------------------------------------------
def report_tuples(h: Harness, task: int, unit: str = ECO, cycle: int = 2026) -> list:
    return [(r.status, r.progress, r.note) for r in h.store.report_history(task, unit, cycle)]


async def reminder_for(h: Harness, task: int) -> dict:
    """The task's card, opened from the day's reminder that lists it (replies go to it)."""
    daily = next(m for m in reversed(h.api.bot_messages(ECOLOGY))
                 if f"t|{task}|{ECO}" in button_data(m))
    [card] = await h.press(ECOLOGY, daily["message_id"], f"t|{task}|{ECO}")
    return card


# F1 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("words", ["今年完成不了", "下周完成", "完成了吗？", "完成一半", "待完成"])
async def test_f1_words_that_are_not_done_are_not_stored_as_done(harness: Harness, words) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    rem = await reminder_for(harness, 15)
    await harness.say(ECOLOGY, words, reply_to=rem["message_id"])
    latest = harness.store.latest_reports(2026, 15).get((15, ECO))
    assert latest is None or latest.status != "done"


async def test_f1b_cannot_finish_silences_all_later_reminders(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    reminder = await reminder_for(harness, 15)
    await harness.say(ECOLOGY, "今年完成不了", reply_to=reminder["message_id"])
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    report = await dispatch_due(harness.app)
    rows = {r.id: r for r in harness.store.reminders_for_cycle(2026)}
    assert not [why for i, why in report.skipped
                if (rows[i].task_id, rows[i].unit_id, why) == (15, ECO, "unit reported done")]


# F2 --------------------------------------------------------------------------------------------
async def test_f2_a_note_after_done_keeps_the_status(harness: Harness) -> None:
    """docs/chat.md: the note 'is stored as a new report with the same status'."""
    await harness.enrol(ECOLOGY, "生态环境局")
    listing = await harness.command(ECOLOGY, "mytasks")
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], f"t|15|{ECO}")
    ack = await harness.press(ECOLOGY, card[0]["message_id"], f"r|15|d|2026|{ECO}")
    await harness.say(ECOLOGY, "过程中遇到一些困难，已协调解决", reply_to=ack[-1]["message_id"])
    assert [s for s, _, _ in report_tuples(harness, 15)] == ["done", "done"]


# F3 --------------------------------------------------------------------------------------------
async def test_f3_a_message_naming_another_task_is_not_this_tasks_note(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    listing = await harness.command(ECOLOGY, "mytasks")
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], f"t|15|{ECO}")
    await harness.press(ECOLOGY, card[0]["message_id"], f"r|15|p|2026|{ECO}")
    harness.clock.advance(dt.timedelta(minutes=3))
    await harness.say(ECOLOGY, "第16项已完成")
    assert [s for s, _, _ in report_tuples(harness, 15)] == ["in_progress"]
    assert harness.store.latest_reports(2026, 16)[(16, ECO)].status == "done"  # task 16's


# F4 --------------------------------------------------------------------------------------------
async def test_f4_a_future_year_is_refused_and_does_not_silence_it(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 2027 已完成")  # typo for 2026, on 16 Nov 2026
    assert harness.store.latest_reports(2027, 15) == {}
    harness.clock.set(dt.datetime(2027, 11, 1, 9, 0, tzinfo=SHANGHAI))
    report = await dispatch_due(harness.app)
    rows = {r.id: r for year in (2026, 2027) for r in harness.store.reminders_for_cycle(year)}
    assert any(rows[i].task_id == 15 and rows[i].unit_id == ECO and rows[i].cycle == 2027
               for i in report.sent)


# F5 --------------------------------------------------------------------------------------------
async def test_f5_a_year_written_2026nian_is_that_year(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    await harness.command(ECOLOGY, "report", "15 2026年 已完成")
    assert harness.store.latest_reports(2027, 15) == {}  # actually stored for 2027


# F6 --------------------------------------------------------------------------------------------
async def test_f6_overdue_after_new_year_still_shows_last_cycle(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    answer = texts(await harness.command(LEADER, "overdue", "2026"))
    assert "2026" in answer  # actually "Overdue and silent, cycle 2027 ... none", arg ignored


# F7 --------------------------------------------------------------------------------------------
async def test_f7_two_files_before_the_report_are_both_kept(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    rem = await reminder_for(harness, 15)
    for name in ("一.pdf", "二.pdf"):
        harness.api.send_document(ECOLOGY, name, name.encode(),
                                  reply_to_message_id=rem["message_id"])
        await harness.pump()
    ack = await harness.press(ECOLOGY, rem["message_id"], f"r|15|d|2026|{ECO}")
    assert "一.pdf" in texts(ack) and "二.pdf" in texts(ack)  # only 二.pdf is kept


# F8 --------------------------------------------------------------------------------------------
async def test_f8_a_caption_is_not_silently_dropped(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    rem = await reminder_for(harness, 15)
    await harness.command(ECOLOGY, "report", "15 已完成")
    sent = harness.api.send_document(ECOLOGY, "更正.pdf", b"x",
                                     reply_to_message_id=rem["message_id"],
                                     caption="更正：仍在进行中，60%")
    await harness.pump()
    answer = texts(harness.bot_messages_after(ECOLOGY, sent["message_id"]))
    stored = report_tuples(harness, 15)
    assert len(stored) == 2 or "说明" in answer or "caption" in answer.lower(), (stored, answer)


# F9 --------------------------------------------------------------------------------------------
async def test_f9_reports_are_made_privately_never_half_in_a_group(harness: Harness) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(ECOLOGY, "林业局")
    q = await harness.command(ECOLOGY, "report", "23 已完成", chat_id=GROUP)
    assert len(q) == 1 and "私聊" in q[0]["text"] and button_data(q[0]) == []
    assert harness.store.latest_reports(2026, 23) == {}
    private = await harness.command(ECOLOGY, "report", "23 已完成")
    await harness.press(ECOLOGY, private[0]["message_id"], button_data(private[0])[0])
    assert harness.store.latest_reports(2026, 23) != {}


# F10 -------------------------------------------------------------------------------------------
async def test_f10_env_admin_language_is_kept_or_not_claimed(harness: Harness) -> None:
    said = texts(await harness.command(ADMIN, "lang", "en"))
    assert "Language set: English" not in said and "/invite admin" in said


async def test_f10b_lang_english_is_not_chinese(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    said = texts(await harness.command(ECOLOGY, "lang", "English"))
    assert said == "Language set: English."
    offered = await harness.command(ECOLOGY, "lang", "fr")
    assert button_data(offered[0]) == ["l|zh_Hans", "l|en"]  # asked again, nothing set
    assert harness.store.get_person(ECOLOGY).language == "en"  # type: ignore[union-attr]


# F11 -------------------------------------------------------------------------------------------
async def test_f11_an_invisible_note_does_not_hide_the_last_real_note(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "report", "15 进行中 正在联系企业")
    harness.clock.advance(dt.timedelta(hours=1))
    await harness.command(ECOLOGY, "report", "15 进行中 \u200b")
    assert "正在联系企业" in texts(await harness.command(LEADER, "task", "15"))


# F12 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "percent"), [("15 进行中 60%。", 60),
                                               ("15 进行中 12 月底完成", None),
                                               ("15 进行中 60 %", 60)])
async def test_f12_percentages(harness: Harness, args, percent) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", args)
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].progress == percent


@pytest.mark.parametrize("args", ["15 已完成 50%", "15 不适用 80%", "15 进行中 100%"])
async def test_f12_a_status_and_percentage_that_disagree_are_asked_again(harness: Harness,
                                                                        args) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    answer = await harness.command(ECOLOGY, "report", args)
    assert "不一致" in answer[0]["text"]
    assert harness.store.latest_reports(2026) == {}


async def test_f13_a_multi_line_note_keeps_its_lines(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 进行中 一、已核查\n二、待整改")
    assert "\n" in harness.store.latest_reports(2026, 15)[(15, ECO)].note


async def test_f14_people_of_a_group_or_an_empty_unit(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    answer = texts(await harness.command(ADMIN, "people", "林业局"))
    assert "尚无人员登记" not in answer and "林业局" in answer
    await harness.enrol(3003, "岑城镇")
    towns = texts(await harness.command(ADMIN, "people", "各镇政府"))
    assert "3003" in towns and str(ECOLOGY) not in towns


# F15 -------------------------------------------------------------------------------------------
async def test_f15_a_forged_year_answer_is_refused(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    q = await harness.command(ECOLOGY, "report", "15 已完成")
    token = button_data(q[0])[0].split("|")[1]
    harness.api.press_forged_button(ECOLOGY, q[0]["message_id"], f"c|{token}|y|2099")
    await harness.pump()
    assert harness.store.latest_reports(2099, 15) == {}


# F16 -------------------------------------------------------------------------------------------
async def test_f16_unit_status_is_not_shown_in_an_unbound_group(harness: Harness) -> None:
    harness.api.add_group(GROUP + 1, "外人的群")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "report", "15 受阻 资金未到位，企业拒不配合")
    refused = texts(await harness.command(LEADER, "unit", "生态环境局", chat_id=GROUP + 1))
    assert "资金未到位" not in refused  # leaders are refused here...
    shown = texts(await harness.command(ECOLOGY, "mytasks", chat_id=GROUP + 1))
    assert "资金未到位" not in shown  # ...but the contact's /mytasks posts it to strangers


async def test_a_file_replying_to_a_days_reminder_asks_which_task(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    daily = next(m for m in reversed(harness.api.bot_messages(ECOLOGY))
                 if f"t|15|{ECO}" in button_data(m))
    sent = harness.api.send_document(ECOLOGY, "核查.pdf", b"x",
                                     reply_to_message_id=daily["message_id"])
    await harness.pump()
    [answer] = harness.bot_messages_after(ECOLOGY, sent["message_id"])
    assert f"t|15|{ECO}" in button_data(answer) and "多项任务" in answer["text"]


async def test_the_help_examples_work_as_written(harness: Harness) -> None:
    import re

    await harness.enrol(ECOLOGY, "生态环境局")
    help_text = (await harness.command(ECOLOGY, "help"))[0]["text"]
    example = re.search(r"/report (\d+) (进行中 60%)", help_text)
    assert example is not None, help_text
    answer = await harness.command(ECOLOGY, "report", f"{example.group(1)} {example.group(2)}")
    assert "已记录" in answer[0]["text"], answer
