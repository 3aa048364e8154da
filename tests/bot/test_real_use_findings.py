"""A fresh tester's findings on issue 8, as kinds of fault: years in words, small talk and
questions, percentages, counts that are not task numbers, a task named in reply to a day's
reminder, a file with its caption's report, one report however it is sent twice, a second press
on an answered question, and the latest note in every view.

Each test drives the real bot through the Bot API stand-in on SQLite and PostgreSQL; the rules
are written down in docs/chat.md.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bot.reminders import dispatch_due
from tests.bot.conftest import ECOLOGY, LEADER, SHANGHAI, Harness, button_data, texts

ECO = "ecology-environment"


def hist(h: Harness, task: int, unit: str = ECO, cycle: int = 2026) -> list[tuple]:
    return [(r.status, r.progress, r.note) for r in h.store.report_history(task, unit, cycle)]


async def card(h: Harness, task: int = 15) -> dict:
    """/mytasks, then the task's button: the task card with its status buttons."""
    listing = await h.command(ECOLOGY, "mytasks")
    msg = next(m for m in listing if f"t|{task}|{ECO}" in button_data(m))
    return (await h.press(ECOLOGY, msg["message_id"], f"t|{task}|{ECO}"))[0]


async def pressed_in_progress(h: Harness) -> dict:
    """The acknowledgement of ⏳ pressed on task 15's card (it invites a note or a percentage)."""
    ack = await h.press(ECOLOGY, (await card(h))["message_id"], f"r|15|p|2026|{ECO}")
    return ack[-1]


async def in_january_with_2026_followed(h: Harness) -> None:
    """4 January 2027, after the 2026 overdue notice reached the unit (2026 is still open)."""
    await h.enrol(ECOLOGY, "生态环境局")
    h.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(h.app)
    h.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))


async def days_reminder(h: Harness) -> dict:
    """The 17 November reminder listing every task due (several tasks, one message)."""
    h.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(h.app)
    daily = next(m for m in reversed(h.api.bot_messages(ECOLOGY))
                 if f"t|15|{ECO}" in button_data(m))
    assert len([d for d in button_data(daily) if d.startswith("t|")]) > 1
    return daily


# -- 3. years in words, and digits of other scripts ------------------------------------------
@pytest.mark.parametrize(("args", "year"), [
    ("15 去年已完成", 2026), ("15 去年 已完成", 2026), ("15 二〇二六年 已完成", 2026),
    ("15 二零二六年度 已完成", 2026), ("15 上年度，已完成", 2026), ("15 今年 已完成", 2027),
    ("15 2026年已完成 材料已报送", 2026), ("15 前年 已完成", 2025),
])
async def test_a_year_in_words_is_that_year(harness: Harness, args: str, year: int) -> None:
    await in_january_with_2026_followed(harness)
    answer = await harness.command(ECOLOGY, "report", args)
    assert set(harness.store.latest_reports(year, 15)) == {(15, ECO)}, texts(answer)
    assert [c for c in (2025, 2026, 2027) if harness.store.latest_reports(c, 15)] == [year]
    assert "哪一年度" not in texts(answer)
    note = harness.store.latest_reports(year, 15)[(15, ECO)].note
    assert "年" not in note  # the year words are not the note


@pytest.mark.parametrize("args", ["15 明年 已完成", "15 二〇二八年 已完成",
                                  "15 二〇一八年 已完成"])
async def test_a_year_in_words_not_begun_or_before_the_plan_is_refused(harness: Harness,
                                                                     args: str) -> None:
    await in_january_with_2026_followed(harness)
    answer = await harness.command(ECOLOGY, "report", args)
    assert "不是可以报送的年度" in texts(answer), texts(answer)
    assert all(harness.store.latest_reports(c, 15) == {} for c in (2018, 2026, 2027, 2028))


async def test_a_status_glued_to_this_year_is_no_year(harness: Harness) -> None:
    """今年完成不了 (cannot finish this year) is a status, not 今年 + a note."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 今年完成不了")
    assert hist(harness, 15) == [("blocked", None, "今年完成不了")]


@pytest.mark.parametrize("args", ["15 ٢٠٢٦ 已完成", "15 完成٦٠%", "15 进行中 ६० 核查", "١٥ 已完成",
                                  "15 已完成 ٢٠٢٦年材料"])
async def test_digits_of_other_scripts_are_never_numbers(harness: Harness, args: str) -> None:
    await in_january_with_2026_followed(harness)
    answer = await harness.command(ECOLOGY, "report", args)
    assert "用法" in texts(answer), texts(answer)
    assert all(harness.store.latest_reports(c) == {} for c in (2026, 2027))


async def test_digits_of_other_scripts_in_words_are_asked_again(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    answer = await harness.say(ECOLOGY, "٦٠", reply_to=ack["message_id"])
    assert "不是有效的百分比" in texts(answer)
    assert hist(harness, 15) == [("in_progress", None, "")]


# -- 5. small talk and questions ----------------------------------------------------------
@pytest.mark.parametrize("words", [
    "好的，谢谢", "好的好的", "收到，谢谢！", "谢谢领导", "嗯，知道了", "[强]", "[强][抱拳]",
    "ok thanks", "OK, thank you very much!", "辛苦了🙏", "好的👌好的", "谢谢您，辛苦了。",
])
async def test_courtesy_in_any_combination_is_no_note(harness: Harness, words: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 进行中 60% 正在核查")
    harness.clock.advance(dt.timedelta(minutes=2))
    await pressed_in_progress(harness)
    answer = await harness.say(ECOLOGY, words)
    assert answer == []  # neither stored nor answered
    assert hist(harness, 15)[-1] == ("in_progress", 60, "")
    assert harness.store.latest_notes(2026, 15)[(15, ECO)].note == "正在核查"


@pytest.mark.parametrize("words", ["需要上传附件吗？", "请问材料报给谁", "是否需要盖章",
                                   "已完成，还要报纸质版吗?", "完成了吗"])
async def test_a_question_is_answered_never_stored(harness: Harness, words: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    for reply_to in (None, ack["message_id"]):
        answer = await harness.say(ECOLOGY, words, reply_to=reply_to)
        assert len(answer) == 1 and "不记录提问" in answer[0]["text"], texts(answer)
        assert button_data(answer[0]) == []
    assert hist(harness, 15) == [("in_progress", None, "")]


async def test_words_after_small_talk_are_still_the_note(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await pressed_in_progress(harness)
    await harness.say(ECOLOGY, "好的，谢谢")
    await harness.say(ECOLOGY, "好的，材料已报送")  # courtesy and words: a note
    assert hist(harness, 15)[-1] == ("in_progress", None, "好的，材料已报送")


# -- 6. percentages: one rule -------------------------------------------------------------
@pytest.mark.parametrize(("words", "progress"), [("60", 60), ("６０", 60), ("60%", 60),
                                                  ("６０％", 60), ("0", 0), ("60 %", 60)])
async def test_a_bare_number_replying_to_the_acknowledgement_is_the_percentage(
        harness: Harness, words: str, progress: int) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    await harness.say(ECOLOGY, words, reply_to=ack["message_id"])
    assert hist(harness, 15)[-1] == ("in_progress", progress, "")


async def test_every_reply_to_the_acknowledgement_annotates_the_report(harness: Harness) -> None:
    """A note, then a percentage, then another note, each replying to the same ⏳
    acknowledgement; a message that is no reply after the first note is not a note."""
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    await harness.say(ECOLOGY, "正在核查", reply_to=ack["message_id"])
    answer = await harness.say(ECOLOGY, "明天开会")  # no reply: not a note any more
    assert "/report" in texts(answer)
    await harness.say(ECOLOGY, "60", reply_to=ack["message_id"])
    await harness.say(ECOLOGY, "材料已报送", reply_to=ack["message_id"])
    assert hist(harness, 15) == [("in_progress", None, ""), ("in_progress", None, "正在核查"),
                                 ("in_progress", 60, ""), ("in_progress", 60, "材料已报送")]


@pytest.mark.parametrize("words", ["0.5%", "-5%", "150%", "150", "100", "0.5", "1,5"])
async def test_a_percentage_that_is_not_a_whole_0_to_99_is_asked_again(harness: Harness,
                                                                       words: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    answer = await harness.say(ECOLOGY, words, reply_to=ack["message_id"])
    assert "百分比" in texts(answer) and button_data(answer[0]) == [], texts(answer)
    assert hist(harness, 15) == [("in_progress", None, "")]
    # asked again: the next reply is still read as the percentage
    await harness.say(ECOLOGY, "60", reply_to=ack["message_id"])
    assert hist(harness, 15)[-1] == ("in_progress", 60, "")


async def test_a_percentage_replying_to_done_is_asked_again(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await harness.press(ECOLOGY, (await card(harness))["message_id"], f"r|15|d|2026|{ECO}")
    answer = await harness.say(ECOLOGY, "60", reply_to=ack[0]["message_id"])
    assert "不一致" in texts(answer) or "百分比" in texts(answer), texts(answer)
    assert hist(harness, 15) == [("done", None, "")]


@pytest.mark.parametrize("words", ["进展0.5%", "完成150%", "进度-5%，正在核查", "完成率85.5%"])
async def test_a_bad_percentage_in_words_is_asked_again(harness: Harness, words: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    answer = await harness.command(ECOLOGY, "report", "15 " + words)
    assert "不是有效的百分比" in texts(answer), texts(answer)
    ack = await pressed_in_progress(harness)
    answer = await harness.say(ECOLOGY, words, reply_to=ack["message_id"])
    assert "不是有效的百分比" in texts(answer), texts(answer)
    assert hist(harness, 15) == [("in_progress", None, "")]


async def test_over_fulfilment_is_done(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 超额完成120%")
    assert hist(harness, 15) == [("done", None, "超额完成120%")]


# -- 7. a count is not a task ---------------------------------------------------------------
@pytest.mark.parametrize(("words", "status"), [
    ("2项已完成", "in_progress"), ("6项已完成，剩余的正在推进中", "in_progress"),
    ("3个已完成", "in_progress"), ("15号已完成整改", "in_progress"),
])
async def test_a_count_before_a_status_is_a_note_on_this_task(harness: Harness, words: str,
                                                              status: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    answer = await harness.say(ECOLOGY, words, reply_to=ack["message_id"])
    assert set(harness.store.latest_reports(2026)) == {(15, ECO)}, texts(answer)
    assert button_data(answer[0]) == []
    assert hist(harness, 15)[-1] == (status, None, words)


@pytest.mark.parametrize("words", ["16 已完成", "16已完成", "第16项已完成", "任务16 已完成",
                                   "16号任务已完成"])
async def test_words_naming_a_task_are_about_that_task(harness: Harness, words: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    await harness.say(ECOLOGY, words, reply_to=ack["message_id"])
    assert harness.store.latest_reports(2026, 16)[(16, ECO)].status == "done"
    assert hist(harness, 15) == [("in_progress", None, "")]


# -- 8. a task named in reply to a day's reminder ------------------------------------------
@pytest.mark.parametrize("words", ["第15项已完成", "任务15：已完成，材料已报送", "15 已完成"])
async def test_a_task_named_in_reply_to_a_days_reminder_is_that_task(harness: Harness,
                                                                     words: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    daily = await days_reminder(harness)
    answer = await harness.say(ECOLOGY, words, reply_to=daily["message_id"])
    assert set(harness.store.latest_reports(2026)) == {(15, ECO)}, texts(answer)
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"


async def test_a_task_of_two_units_named_in_reply_asks_only_which_unit(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(ECOLOGY, "林业局")
    daily = await days_reminder(harness)
    assert {f"t|23|{ECO}", "t|23|forestry"} <= set(button_data(daily))
    answer = await harness.say(ECOLOGY, "第23项已完成", reply_to=daily["message_id"])
    choices = button_data(answer[-1])
    assert len(choices) == 2 and all("|23." in c for c in choices), choices
    assert harness.store.latest_reports(2026, 23) == {}
    await harness.press(ECOLOGY, answer[-1]["message_id"],
                        next(c for c in choices if ".forestry." in c))
    assert set(harness.store.latest_reports(2026, 23)) == {(23, "forestry")}


# -- 9. a file goes with the report its caption makes ----------------------------------------
async def test_a_file_goes_with_the_task_its_caption_names(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    c = await card(harness)
    await harness.press(ECOLOGY, c["message_id"], f"r|15|p|2026|{ECO}")
    harness.api.send_document(ECOLOGY, "第16项验收报告.pdf", b"x",
                              reply_to_message_id=c["message_id"], caption="第16项已完成，见附件")
    await harness.pump()
    r16 = harness.store.latest_reports(2026, 16)[(16, ECO)]
    assert [e.file_name for e in harness.store.evidence_for(r16.id)] == ["第16项验收报告.pdf"]
    harness.clock.advance(dt.timedelta(days=3))
    await harness.command(ECOLOGY, "report", "15 已完成 整改完毕")
    r15 = harness.store.latest_reports(2026, 15)[(15, ECO)]
    assert harness.store.evidence_for(r15.id) == []


async def test_a_captioned_file_replying_to_a_days_reminder_goes_with_its_task(
        harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    daily = await days_reminder(harness)
    harness.api.send_document(ECOLOGY, "验收.pdf", b"x", reply_to_message_id=daily["message_id"],
                              caption="第15项已完成")
    await harness.pump()
    r15 = harness.store.latest_reports(2026, 15)[(15, ECO)]
    assert [e.file_name for e in harness.store.evidence_for(r15.id)] == ["验收.pdf"]


async def test_a_file_whose_report_waits_for_an_answer_goes_with_it(harness: Harness) -> None:
    """The caption's report asks which year: the file waits with it, and goes with it."""
    await in_january_with_2026_followed(harness)
    harness.api.send_document(ECOLOGY, "材料.pdf", b"x", caption="第15项已完成")
    await harness.pump()
    question = harness.api.bot_messages(ECOLOGY)[-1]
    years = button_data(question)
    assert [d.split("|")[-1] for d in years] == ["2026", "2027"], question["text"]
    await harness.press(ECOLOGY, question["message_id"], years[0])
    r15 = harness.store.latest_reports(2026, 15)[(15, ECO)]
    assert [e.file_name for e in harness.store.evidence_for(r15.id)] == ["材料.pdf"]


# -- 10. the same report twice is one report, whatever the channel -------------------------
async def test_the_same_report_command_twice_is_one_report(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 已完成 材料已报送")
    harness.clock.advance(dt.timedelta(seconds=3))
    again = await harness.command(ECOLOGY, "report", "15 已完成 材料已报送")
    assert len(hist(harness, 15)) == 1
    assert "重复的报送未重复记录" in texts(again)
    # a plain repeat without the note says nothing new either
    harness.clock.advance(dt.timedelta(seconds=3))
    await harness.command(ECOLOGY, "report", "15 已完成")
    assert len(hist(harness, 15)) == 1
    # another note, another percentage or a minute later is a new report
    harness.clock.advance(dt.timedelta(seconds=3))
    await harness.command(ECOLOGY, "report", "15 已完成 另附照片")
    harness.clock.advance(dt.timedelta(minutes=2))
    await harness.command(ECOLOGY, "report", "15 已完成 另附照片")
    assert [note for _, _, note in hist(harness, 15)] == ["材料已报送", "另附照片", "另附照片"]


async def test_the_same_reply_twice_is_one_report(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    c = await card(harness)
    await harness.say(ECOLOGY, "已完成", reply_to=c["message_id"])
    harness.clock.advance(dt.timedelta(seconds=5))
    again = await harness.say(ECOLOGY, "已完成", reply_to=c["message_id"])
    assert hist(harness, 15) == [("done", None, "")]  # words that restate it are no note
    assert "重复的报送未重复记录" in texts(again)
    # the same words by /report a moment later: still one report
    await harness.command(ECOLOGY, "report", "15 已完成")
    assert len(hist(harness, 15)) == 1


# -- 11. a second press on an answered question ---------------------------------------------
async def test_a_second_press_on_the_year_question_says_already_answered(
        harness: Harness) -> None:
    await in_january_with_2026_followed(harness)
    q = await harness.command(ECOLOGY, "report", "15 已完成")
    data = button_data(q[0])[0]
    await harness.press(ECOLOGY, q[0]["message_id"], data)
    for pressed in (data, button_data(q[0])[1]):  # the same button, or the other year
        second = harness.api.press_button(ECOLOGY, q[0]["message_id"], pressed)
        await harness.pump()
        popup = harness.api.callback_answer(second["id"]).get("text", "")
        assert "已回答过" in popup and "重新报送" not in popup, popup
    assert len(hist(harness, 15)) == 1 and harness.store.latest_reports(2027, 15) == {}


async def test_a_second_press_on_the_unit_question_says_already_answered(
        harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(ECOLOGY, "林业局")
    q = await harness.command(ECOLOGY, "report", "23 已完成")
    choices = button_data(q[0])
    await harness.press(ECOLOGY, q[0]["message_id"], choices[0])
    second = harness.api.press_button(ECOLOGY, q[0]["message_id"], choices[0])
    await harness.pump()
    assert "已回答过" in harness.api.callback_answer(second["id"]).get("text", "")
    assert sum(len(harness.store.report_history(23, u, 2026)) for u in (ECO, "forestry")) == 1


# -- 12. the latest note in every view ------------------------------------------------------
async def test_every_view_shows_the_latest_note_with_its_date(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "report", "15 进行中 60% 正在联系企业")
    harness.clock.advance(dt.timedelta(days=1))
    await pressed_in_progress(harness)
    views = {
        "/unit": texts(await harness.command(LEADER, "unit", "生态环境局")),
        "/mytasks": texts(await harness.command(ECOLOGY, "mytasks")),
        "card": (await card(harness))["text"],
        "/task": texts(await harness.command(LEADER, "task", "15")),
        "/task (contact)": texts(await harness.command(ECOLOGY, "task", "15")),
    }
    for name, text in views.items():
        assert "正在联系企业" in text and "11/16" in text, (name, text)
        assert "60%" in text, (name, text)
