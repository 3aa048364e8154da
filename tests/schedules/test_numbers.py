"""The one strict rule for numbers, percentages and years written in chat, and the words
around it: small talk, questions, counts that are not task numbers."""

from __future__ import annotations

import pytest

from schedules.commands import (
    ReportArgs,
    ReportError,
    ReportProblem,
    named_task,
    parse_report_text,
    year_in_words,
)
from schedules.numbers import (
    foreign_digits,
    is_bare_number,
    looks_like_percent,
    parse_number,
    parse_percent,
    parse_year,
)
from schedules.status import Status, is_question, is_small_talk, parse_status_text


@pytest.mark.parametrize(("word", "value"), [
    ("15", 15), ("１５", 15), (" 7 ", 7), ("0", 0), ("²", None), ("٢", None), ("२", None),
    ("-5", None), ("0.5", None), ("1" * 30, None), ("", None), ("15项", None), ("一五", None),
])
def test_parse_number_takes_ascii_and_full_width_digits_only(word: str,
                                                             value: int | None) -> None:
    assert parse_number(word, 0, 10**6) == value


@pytest.mark.parametrize(("word", "value"), [
    ("60%", 60), ("６０％", 60), ("60", 60), ("0", 0), ("100%", 100), ("60 %", 60),
    ("101", None), ("150%", None), ("-5%", None), ("0.5%", None), ("٦٠%", None), ("%", None),
])
def test_a_percentage_is_a_whole_number_0_to_100(word: str, value: int | None) -> None:
    assert parse_percent(word) == value


def test_what_looks_like_a_percentage_or_a_bare_number() -> None:
    assert all(looks_like_percent(w) for w in ("60", "-5", "0.5", "٦٠", "60%", "x%"))
    assert not any(looks_like_percent(w) for w in ("进行中", "60项", ""))
    assert all(is_bare_number(w) for w in ("60", "６０", "0.5%", "-5%", "60 %", "1,5"))
    assert not any(is_bare_number(w) for w in ("资料 80%", "60项", "٦٠", "进行中"))


def test_digits_of_other_scripts_are_found() -> None:
    assert foreign_digits("完成٦٠%") == "٦٠"
    assert foreign_digits("१५ 已完成") == "१५"
    assert foreign_digits("完成６０％ 2026 面积500m²") == ""


@pytest.mark.parametrize(("word", "year"), [
    ("2026", 2026), ("2026年", 2026), ("2026年度", 2026), ("２０２６年", 2026),
    ("二〇二六年", 2026), ("二零二六年", 2026), ("二〇二六", 2026), ("二〇二六年度", 2026),
    ("今年", 2027), ("本年度", 2027), ("去年", 2026), ("上年度", 2026), ("前年", 2025),
    ("明年", 2028), ("٢٠٢٦", None), ("26年", None), ("年底", None), ("二六年", None),
])
def test_years_in_digits_numerals_and_words(word: str, year: int | None) -> None:
    assert parse_year(word, 2027) == year


@pytest.mark.parametrize(("text", "expected"), [
    ("15 去年已完成", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 去年已完成 材料已报送", ReportArgs(15, 2026, Status.DONE, None, "材料已报送")),
    ("15 二〇二六年 已完成", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 今年 进行中 60%", ReportArgs(15, 2027, Status.IN_PROGRESS, 60, "")),
    ("15 今年完成不了", ReportArgs(15, None, Status.BLOCKED, None, "今年完成不了")),
    ("15 明年 已完成", ReportError(ReportProblem.BAD_YEAR, "明年")),
    ("15 二〇一八年 已完成", ReportError(ReportProblem.BAD_YEAR, "二〇一八年")),
    ("15 ٢٠٢٦ 已完成", ReportError(ReportProblem.USAGE, "٢٠٢٦")),
    ("15 完成٦٠%", ReportError(ReportProblem.USAGE, "٦٠")),
    ("15 进展0.5%", ReportError(ReportProblem.BAD_PERCENT, "0.5%")),
    ("15 完成150%", ReportError(ReportProblem.BAD_PERCENT, "150%")),
    ("15 超额完成120%", ReportArgs(15, None, Status.DONE, None, "超额完成120%")),
    # a year anywhere in the words is the cycle, never the note
    ("15 去年已经完成", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 去年完成了", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 去年的已完成", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 已完成 去年", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 已完成（去年）", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 已完成 2026年的", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 已完成 ２０２６ 年度", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 2026 年 已完成 材料已报送", ReportArgs(15, 2026, Status.DONE, None, "材料已报送")),
    ("15 last year done", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 done (last year)", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 done this year", ReportArgs(15, 2027, Status.DONE, None, "")),
    ("15 the year before last done", ReportArgs(15, 2025, Status.DONE, None, "")),
    ("15 2026 已完成 去年", ReportArgs(15, 2026, Status.DONE, None, "")),
    ("15 去年 已完成 今年", ReportError(ReportProblem.TWO_YEARS, "去年 今年")),
    ("15 2025 已完成 去年", ReportError(ReportProblem.TWO_YEARS, "2025 去年")),
    ("15 已完成 2028年", ReportError(ReportProblem.BAD_YEAR, "2028年")),
    ("15 去年", ReportError(ReportProblem.USAGE, "去年")),
    # ...unless it is a time within the words
    ("15 已完成 去年遗留问题已整改", ReportArgs(15, None, Status.DONE, None,
                                          "去年遗留问题已整改")),
    ("15 进行中 预计2027年6月完成", ReportArgs(15, None, Status.IN_PROGRESS, None,
                                         "预计2027年6月完成")),
    # a percentage is a whole word
    ("15 1/2%", ReportError(ReportProblem.BAD_PERCENT, "1/2%")),
    ("15 完成a60%", ReportError(ReportProblem.BAD_PERCENT, "a60%")),
    ("15 进度60%-70%", ReportError(ReportProblem.BAD_PERCENT, "60%-70%")),
    ("15 进行中 1e2%", ReportError(ReportProblem.BAD_PERCENT, "1e2%")),
    ("15 进度约60%左右", ReportArgs(15, None, Status.IN_PROGRESS, 60, "进度约60%左右")),
])
def test_report_words_with_years_and_percentages(text: str,
                                                 expected: ReportArgs | ReportError) -> None:
    assert parse_report_text(text, 26, 2027) == expected


@pytest.mark.parametrize(("text", "note"), [
    ("15 已完成，材料已报送", "材料已报送"),
    ("15 已完成：材料已报送", "材料已报送"),
    ("15 进行中 60%，正在核查", "正在核查"),
    ("15 进行中、 正在核查，下周完成", "正在核查，下周完成"),
    ("15 已完成 材料：见附件", "材料：见附件"),
])
def test_the_separator_before_a_note_is_not_part_of_it(text: str, note: str) -> None:
    args = parse_report_text(text, 26, 2026)
    assert isinstance(args, ReportArgs) and args.note == note


def test_status_text_flags_a_percentage_that_is_not_whole_0_to_100() -> None:
    for text, bad in (("完成0.5%", "0.5%"), ("进度-5%，正在核查", "-5%"), ("完成150%", "150%"),
                      ("完成率85.5%", "85.5%"), ("完成80%", ""), ("超额完成120%", ""),
                      ("1/2%", "1/2%"), ("1e2%", "1e2%"), ("a60%", "a60%"), ("x_60%", "x_60%"),
                      ("60%-70%", "60%-70%"), ("６０％", ""), ("约60%左右", ""),
                      ("进度 60 %。", "")):
        assert parse_status_text(text).bad_percent == bad, text
    assert parse_status_text("完成٦٠%").percent is None  # never read as 60


@pytest.mark.parametrize(("text", "task"), [
    ("第16项已完成", 16), ("任务16 已完成", 16), ("16号任务已完成", 16), ("task 16 done", 16),
    ("16 已完成", 16), ("16已完成", 16), ("16、已完成", 16), ("１６ 已完成", 16),
    ("2项已完成", None), ("6项已完成，剩余的正在推进中", None), ("3个已完成", None),
    ("15号已完成", None), ("第15项和第16项已完成", None), ("١٦ 已完成", None), ("已完成", None),
])
def test_a_task_is_named_but_a_count_or_a_date_is_not(text: str, task: int | None) -> None:
    assert named_task(text) == task


@pytest.mark.parametrize("text", [
    "好的，谢谢", "好的好的", "收到，谢谢！", "谢谢领导", "嗯，知道了", "[强]", "[强][抱拳]",
    "【握手】", "ok thanks", "OK, thank you very much!", "👍👍", "\u200b", "辛苦了🙏",
    "谢谢您，辛苦了。", "",
])
def test_courtesy_in_any_combination_is_small_talk(text: str) -> None:
    assert is_small_talk(text)


@pytest.mark.parametrize("text", [
    "已完成", "正在核查", "60", "好的，材料已报送", "[已完成]", "done thanks", "你好", "2项已完成",
    "谢谢，已完成",
])
def test_words_with_content_are_not_small_talk(text: str) -> None:
    assert not is_small_talk(text)


@pytest.mark.parametrize(("text", "question"), [
    ("需要上传附件吗？", True), ("请问材料报给谁", True), ("是否需要盖章", True),
    ("完成了吗", True), ("what should I upload?", True), ("已完成，材料已报送", False),
    ("正在核查。", False), ("已完成!", False),
])
def test_questions(text: str, question: bool) -> None:
    assert is_question(text) is question


@pytest.mark.parametrize(("text", "restates"), [
    ("已完成", True), ("已完成。", True), ("完成了", True), ("已经全部完成了！", True),
    ("第15项已完成", True), ("15 已完成", True), ("任务15已完成", True), ("done", True),
    ("Done.", True), ("task 15 done", True), ("进行中 60%", True), ("已完成，谢谢", True),
    ("已完成，材料已报送", False), ("2项已完成", False), ("15号已完成", False),
    ("超额完成120%", False), ("预计11月底完成", False), ("资金不足受阻", False),
    ("done, report sent", False), ("今年完成不了", False),
])
def test_words_that_only_restate_the_status_are_no_note(text: str, restates: bool) -> None:
    parsed = parse_status_text(text)
    assert parsed.restates is restates
    assert parsed.own_note == ("" if restates else text)


@pytest.mark.parametrize(("text", "found"), [
    ("第15项去年已完成", (2026, "第15项 已完成")), ("第15项已完成", (None, "第15项已完成")),
    ("task 18 done last year", (2026, "task 18 done  ")),
    ("第15项去年遗留问题已整改", (None, "第15项去年遗留问题已整改")),
    ("去年的已完成，今年的进行中", ReportError(ReportProblem.TWO_YEARS, "去年 今年")),
    ("２０２８年 已完成", ReportError(ReportProblem.BAD_YEAR, "2028年")),
])
def test_the_year_in_words(text: str, found: object) -> None:
    assert year_in_words(text, 2027) == found
