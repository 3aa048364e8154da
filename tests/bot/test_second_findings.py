"""A second tester's findings on issues 8 and 11, as kinds of fault: words that only restate the
status are no note (so one report however it is sent twice), years written anywhere in the
words, percentages that are not a whole word, a file whose caption is a /report command, and a
pasted invitation link to /cancel.

Each test drives the real bot through the Bot API stand-in; the rules are in docs/chat.md.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.reminders import dispatch_due
from tests.bot.conftest import ADMIN, ECOLOGY, LEADER, REFORM, SHANGHAI, Harness, button_data
from tests.bot.test_real_use_findings import (
    ECO,
    card,
    hist,
    in_january_with_2026_followed,
    pressed_in_progress,
    texts,
)


# -- 3. words that only restate the status leave no note --------------------------------------
@pytest.mark.parametrize("second", ["已完成", "已完成。", "完成了", "第15项已完成", "15 已完成",
                                    "done", "Done.", "task 15 done"])
async def test_a_report_then_the_same_status_in_a_reply_to_the_card_is_one_report(
        harness: Harness, second: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    c = await card(harness)
    await harness.command(ECOLOGY, "report", "15 已完成")
    harness.clock.advance(dt.timedelta(seconds=3))
    again = await harness.say(ECOLOGY, second, reply_to=c["message_id"])
    assert hist(harness, 15) == [("done", None, "")], texts(again)
    assert "重复的报送未重复记录" in texts(again)


@pytest.mark.parametrize("second", ["第15项已完成", "第15项已完成。", "15 已完成", "任务15已完成"])
async def test_a_report_then_the_same_in_free_text_is_one_report(harness: Harness,
                                                                 second: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 已完成")
    harness.clock.advance(dt.timedelta(seconds=3))
    again = await harness.say(ECOLOGY, second)
    assert hist(harness, 15) == [("done", None, "")], texts(again)
    assert "重复的报送未重复记录" in texts(again)


@pytest.mark.parametrize(("words", "note"), [
    ("已完成", ""), ("第15项已完成！", ""), ("15 done.", ""), ("已经完成了", ""),
    ("已完成，材料已报送", "已完成，材料已报送"), ("2项已完成", "2项已完成"),
    ("15号已完成", "15号已完成"), ("done, report sent", "done, report sent"),
])
async def test_only_words_that_say_more_are_the_note(harness: Harness, words: str,
                                                    note: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    c = await card(harness)
    await harness.say(ECOLOGY, words, reply_to=c["message_id"])
    assert hist(harness, 15) == [("done", None, note)]


async def test_a_different_note_is_still_a_new_report(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    c = await card(harness)
    await harness.command(ECOLOGY, "report", "15 已完成")
    harness.clock.advance(dt.timedelta(seconds=3))
    await harness.say(ECOLOGY, "已完成，整改报告已报送", reply_to=c["message_id"])
    assert hist(harness, 15) == [("done", None, ""), ("done", None, "已完成，整改报告已报送")]


# -- 1. a year named anywhere in /report's words is the year ----------------------------------
@pytest.mark.parametrize("args", [
    "15 去年已经完成", "15 去年完成了", "15 去年的已完成", "15 已完成 去年", "15 已完成（去年）",
    "15 已完成 2026年的", "15 已完成 2026 年", "15 2026 年 已完成", "15 上一年，已完成",
    "15 已完成，上一年度", "15 已完成 (去年)",
])
async def test_a_year_anywhere_in_the_words_is_the_cycle(harness: Harness, args: str) -> None:
    await in_january_with_2026_followed(harness)
    answer = await harness.command(ECOLOGY, "report", args)
    assert harness.store.latest_reports(2027, 15) == {}, texts(answer)
    assert hist(harness, 15, cycle=2026) == [("done", None, "")], texts(answer)
    assert "哪一年度" not in texts(answer)


@pytest.mark.parametrize(("args", "year"), [("15 last year done", 2026),
                                           ("15 done, last year", 2026),
                                           ("15 done this year", 2027)])
async def test_a_year_in_english_words_is_the_cycle(harness: Harness, args: str,
                                                    year: int) -> None:
    await harness.enrol(REFORM, "发展改革局")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    answer = await harness.command(REFORM, "report", args.replace("15", "18", 1))
    assert hist(harness, 18, "development-reform", year) == [("done", None, "")], texts(answer)
    assert harness.store.latest_reports(4053 - year, 18) == {}


@pytest.mark.parametrize(("args", "said"), [
    ("15 去年 已完成 今年", "不同的年度"), ("15 2025年 已完成 去年", "不同的年度"),
    ("15 已完成 2028年", "2028年"), ("15 已完成（二〇一八年）", "二〇一八年"),
])
async def test_a_year_in_doubt_is_asked_never_a_note(harness: Harness, args: str,
                                                     said: str) -> None:
    await in_january_with_2026_followed(harness)
    answer = await harness.command(ECOLOGY, "report", args)
    assert said in texts(answer)
    assert all(harness.store.latest_reports(y, 15) == {} for y in (2025, 2026, 2027))


@pytest.mark.parametrize(("args", "note"), [
    ("15 今年完成不了", "今年完成不了"), ("15 已完成 去年遗留问题已整改", "去年遗留问题已整改")])
async def test_a_year_that_is_part_of_the_words_stays_in_the_note(harness: Harness, args: str,
                                                                  note: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", args)
    assert [n for _, _, n in hist(harness, 15)] == [note]


# -- 7. a year's 年 written apart, in every command that takes a year -------------------------
ZH_LEADER = 2100
ENGLISH_ADMIN = 1001


@pytest.mark.parametrize("command", ["export", "scores", "bulletin", "chart", "summary"])
@pytest.mark.parametrize("year", ["2026 年", "２０２６ 年", "2026 年度"])
async def test_a_year_with_its_word_apart_is_that_year(harness: Harness, command: str,
                                                       year: str) -> None:
    harness.api.add_user(ZH_LEADER, "李领导", "zh-hans")
    await harness.enrol(ZH_LEADER, None, "leader")
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 已完成")
    for who in (ZH_LEADER, LEADER):
        apart = await harness.command(who, command, year)
        together = await harness.command(who, command, year.replace(" ", ""))
        assert "用法" not in texts(apart) and "Usage" not in texts(apart)
        assert [sorted(m.keys() & {"document", "photo", "text"}) for m in apart] == \
            [sorted(m.keys() & {"document", "photo", "text"}) for m in together]
        assert texts(apart) == texts(together)


async def test_calendar_and_unit_take_a_year_with_its_word_apart(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    cal = await harness.command(ECOLOGY, "calendar", "2026 年")
    assert cal and "document" in cal[0], texts(cal)
    apart = await harness.command(LEADER, "unit", "生态环境局 2026 年")
    together = await harness.command(LEADER, "unit", "生态环境局 2026年")
    assert texts(apart) == texts(together) and "Usage" not in texts(apart)


# -- 2. a percentage is a whole word --------------------------------------------------------
@pytest.mark.parametrize("words", ["1/2%", "1e2%", "a60%", "60%-70%", "进度1/2%", "完成x60%"])
async def test_a_percentage_glued_to_other_signs_is_asked_again_after_a_button(
        harness: Harness, words: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    answer = await harness.say(ECOLOGY, words, reply_to=ack["message_id"])
    assert hist(harness, 15) == [("in_progress", None, "")], texts(answer)
    assert "不是有效的百分比" in texts(answer) and "““" not in texts(answer)


@pytest.mark.parametrize(("words", "percent"), [("60%", 60), ("６０％", 60), ("约60%左右", 60),
                                                ("进度 60 %", 60), ("完成60%", 60)])
async def test_a_percentage_on_its_own_is_read_after_a_button(harness: Harness, words: str,
                                                              percent: int) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await pressed_in_progress(harness)
    await harness.say(ECOLOGY, words, reply_to=ack["message_id"])
    assert hist(harness, 15)[-1][:2] == ("in_progress", percent)


@pytest.mark.parametrize("args", ["18 1/2%", "18 ongoing a60%", "18 progress 60%-70%"])
async def test_a_glued_percentage_in_english_is_refused(harness: Harness, args: str) -> None:
    await harness.enrol(REFORM, "发展改革局")
    answer = await harness.command(REFORM, "report", args)
    assert "is not a percentage" in texts(answer)
    assert harness.store.latest_reports(2026, 18) == {}


# -- 4. a file whose caption is a /report command ---------------------------------------------
@pytest.mark.parametrize(("caption", "status", "note"), [
    ("/report 16 已完成 见附件", "done", "见附件"), ("/report 16 进行中 60%", "in_progress", ""),
    ("/report 第16项，已完成", "done", ""), ("/report@duban_test_bot 16 已完成", "done", ""),
])
async def test_a_caption_that_is_a_report_command_is_that_report_with_its_file(
        harness: Harness, caption: str, status: str, note: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.send_document(ECOLOGY, "x.pdf", b"x", caption=caption)
    await harness.pump()
    assert [(s, n) for s, _, n in hist(harness, 16)] == [(status, note)]
    r16 = harness.store.latest_reports(2026, 16)[(16, ECO)]
    assert [e.file_name for e in harness.store.evidence_for(r16.id)] == ["x.pdf"]


async def test_a_report_caption_in_english_that_asks_the_year_keeps_the_file(
        harness: Harness) -> None:
    await harness.enrol(REFORM, "发展改革局")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    harness.api.send_document(REFORM, "catalogue.pdf", b"x", caption="/report 18 done")
    await harness.pump()
    question = harness.api.bot_messages(REFORM)[-1]
    years = button_data(question)
    assert [d.split("|")[-1] for d in years] == ["2026", "2027"], question["text"]
    await harness.press(REFORM, question["message_id"], years[0])
    r18 = harness.store.latest_reports(2026, 18)[(18, "development-reform")]
    assert [e.file_name for e in harness.store.evidence_for(r18.id)] == ["catalogue.pdf"]


async def test_a_bad_report_caption_stores_nothing_and_says_why(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.send_document(ECOLOGY, "x.pdf", b"x", caption="/report 99 已完成")
    await harness.pump()
    assert "没有第“99”项任务" in harness.api.bot_messages(ECOLOGY)[-1]["text"]
    assert harness.store.latest_reports(2026, 16) == {}


# -- 6. /cancel takes the link /invite printed, pasted as it comes ------------------------------
@pytest.mark.parametrize("pasted", [
    "https://t.me/duban_test_bot?start={code}", "t.me/duban_test_bot?start={code}",
    "@https://t.me/duban_test_bot?start={code}", "https://t.me/duban_test_bot?start= {code}",
    "https://t.me/ duban_test_bot?start={code} ", "{code}", "{id}", " {id} ",
])
async def test_cancel_takes_the_pasted_link(harness: Harness, pasted: str) -> None:
    answer = await harness.command(ADMIN, "invite", "生态环境局")
    link = re.search(r"\S*start=\S+", answer[-1]["text"])
    assert link is not None
    code = link.group(0).split("start=")[1]
    cancelled = await harness.command(ADMIN, "cancel", pasted.format(code=code, id=code[:8]))
    assert "已作废" in texts(cancelled), texts(cancelled)
    assert "expired" in texts(await harness.command(LEADER, "start", code))
    assert harness.store.get_person(LEADER) is None


async def test_cancel_in_english_takes_the_link_and_refuses_another(harness: Harness) -> None:
    harness.api.add_user(ENGLISH_ADMIN, "Admin Ma", "en")
    await harness.enrol(ENGLISH_ADMIN, None, "admin")
    answer = await harness.command(ENGLISH_ADMIN, "invite", "leader")
    code = answer[-1]["text"].split("start=")[1].split()[0]
    other = await harness.command(ENGLISH_ADMIN, "cancel", "t.me/duban_test_bot?start=NoSuchCode")
    assert "No open enrolment link has the id “NoSuchCode”" in texts(other)
    done = await harness.command(ENGLISH_ADMIN, "cancel", f"t.me/duban_test_bot?start={code}")
    assert "is cancelled" in texts(done)
    usage = await harness.command(ENGLISH_ADMIN, "cancel", "@")
    assert "Usage: /cancel" in texts(usage)


# -- 1 (in words). a year in a report in words that names its task ---------------------------
@pytest.mark.parametrize("words", ["第15项去年已完成", "第15项 已完成（去年）",
                                   "任务15 2026年的已完成", "15 去年已完成"])
async def test_a_year_in_words_naming_the_task_is_the_cycle(harness: Harness, words: str) -> None:
    await in_january_with_2026_followed(harness)
    answer = await harness.say(ECOLOGY, words)
    assert harness.store.latest_reports(2027, 15) == {}, texts(answer)
    assert hist(harness, 15, cycle=2026) == [("done", None, "")], texts(answer)
    assert "哪一年度" not in texts(answer)


async def test_two_years_in_words_are_asked_again(harness: Harness) -> None:
    await in_january_with_2026_followed(harness)
    answer = await harness.say(ECOLOGY, "第15项去年已完成，今年的也已完成")
    assert "不同的年度" in texts(answer)
    assert all(harness.store.latest_reports(y, 15) == {} for y in (2026, 2027))


async def test_a_year_in_english_words_naming_the_task_is_the_cycle(harness: Harness) -> None:
    await harness.enrol(REFORM, "发展改革局")
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    await harness.say(REFORM, "task 18 done last year")
    assert hist(harness, 18, "development-reform", 2026) == [("done", None, "")]
