"""Properties of the reply parser and of ``/report``'s arguments, for any input (hypothesis).

The examples are drawn from two sources: any text at all, and text built from the words the
parsers know (status phrases, percentages in every notation, years, numbers in full-width
digits) joined at random, so that the rules meet each other as they do in real replies.
"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from schedules.commands import (
    FIRST_CYCLE,
    STATUS_WORDS,
    ReportArgs,
    ReportError,
    ReportProblem,
    looks_like_percent,
    parse_report_text,
)
from schedules.status import ParsedStatus, Status, parse_status_text
from schedules.text import visible_text

PHRASES = (
    "已完成", "完成", "未完成", "没有完成", "部分完成", "基本完成", "完成情况", "预计11月底完成",
    "正在抓紧完成", "无法完成", "受阻", "困难", "无困难", "进行中", "推进中", "不适用", "不涉及",
    "done", "not done", "finished", "incomplete", "partly done", "will be done", "blocked",
    "not blocked", "stuck", "in progress", "ongoing", "n/a", "not applicable", "Completed",
    "DONE", "百分之八十", "百分之百", "百分之十五", "百分之二百", "完成80%", "80%已完成",
    "80% done", "done 100%", "完成率100%", "60%", "６０％", "100%", "150%", "-5%", "0.5%",
    "99.9%", "进度",
    "谢谢", "👍", "🟢", "<b>", "&amp;", "&", "<", "\u200b", "，", "。", ";", "\n", " ",
)
WORDS = (*STATUS_WORDS, "7", "１５", "2026", "２０２６", "2019", "2101", "1999", "0", "27", "²",
         "60%", "６０％", "60", "150%", "-5%", "0.5%", "1.5", "1,000", "%", "进行中", "部分完成",
         "已于12月报送", "note", "<i>", "&", "🟡")


def phrase_text() -> st.SearchStrategy[str]:
    """Replies made of the parser's own phrases, percentages and noise, in any order."""
    return st.lists(st.one_of(st.sampled_from(PHRASES), st.text(max_size=6)),
                    max_size=8).map("".join)


def report_texts() -> st.SearchStrategy[str]:
    """What follows ``/report``: words the parser knows and any others, with any separators."""
    word = st.one_of(st.sampled_from(WORDS), st.sampled_from(sorted(STATUS_WORDS)),
                     st.integers(0, 3000).map(str), st.text(min_size=1, max_size=8))
    separator = st.sampled_from((" ", "  ", "，", "、", "\n", "\u3000", ",", " ; "))
    return st.one_of(
        st.text(),
        st.lists(st.tuples(word, separator), max_size=7).map(
            lambda pairs: "".join(w + sep for w, sep in pairs)))


@given(st.one_of(st.text(), phrase_text()))
@example("已完成，进度80%")
@example("百分之一百")
@example("完成100.5%")
@example("１００％")
def test_the_reply_parser_reads_anything_and_keeps_the_words(text: str) -> None:
    parsed = parse_status_text(text)
    assert isinstance(parsed, ParsedStatus)
    assert parsed.percent is None or 0 <= parsed.percent <= 100
    assert parsed.note == text.strip()
    assert parsed.ambiguous == (len(parsed.candidates) > 1)
    if len(parsed.candidates) == 1:
        assert parsed.status in parsed.candidates
    else:
        assert parsed.status is None
    assert parsed.candidates <= set(Status)


# The status word written for each status in the canonical form of a report.
CANONICAL_WORD = {Status.DONE: "done", Status.IN_PROGRESS: "ongoing",
                  Status.BLOCKED: "blocked", Status.NOT_APPLICABLE: "n/a"}
CURRENT_CYCLE = 2026


def canonical(args: ReportArgs) -> str:
    """The text after ``/report`` that says exactly ``args``.

    ``<task> [year] <status word> [percent%] [note]``; a note that starts like a percentage
    cannot follow a status word without being read as one, so without a percentage it is written
    alone, as the free text it was.
    """
    head = f"{args.task_id}" + (f" {args.cycle}" if args.cycle is not None else "")
    words = re.findall(r"[^\s,，、;；:：]+", args.note)  # /report's words: see its docstring
    first = words[0].rstrip("。.，,；;！!") if words else ""
    if args.percent is not None:
        return f"{head} {CANONICAL_WORD[args.status]} {args.percent}% {args.note}"
    if first and looks_like_percent(first):
        return f"{head} {args.note}"
    return f"{head} {CANONICAL_WORD[args.status]} {args.note}"


@given(report_texts(), st.integers(1, 40))
@example("7 进行中 60% 已完成选址", 26)
@example("15 2026年 已完成 材料已报送", 26)
@example("第15项，已完成", 26)
@example("7 1.5 done", 26)
@example("7 2026 2027 done", 26)
@example("7 60% 进行中", 26)
@example("7 进行中 12 月底完成", 26)
@example("7 done 60 %", 26)
@example("² done", 26)
@example("1 完成,", 1)
@example("1 0,完成", 1)
def test_report_arguments_never_raise_and_round_trip(text: str, tasks: int) -> None:
    parsed = parse_report_text(text, tasks, CURRENT_CYCLE)
    assert isinstance(parsed, ReportArgs | ReportError)
    if isinstance(parsed, ReportError):
        assert parsed.problem in set(ReportProblem)
        return
    assert 1 <= parsed.task_id <= tasks
    assert parsed.cycle is None or FIRST_CYCLE <= parsed.cycle <= CURRENT_CYCLE
    assert parsed.percent is None or 0 <= parsed.percent <= 100
    assert parsed.note == visible_text(parsed.note)
    # what is accepted never contradicts itself: done is 100%, n/a has none, the rest less
    if parsed.status is Status.DONE:
        assert parsed.percent in (None, 100), parsed
    elif parsed.status is Status.NOT_APPLICABLE:
        assert parsed.percent is None, parsed
    else:
        assert parsed.percent != 100, parsed
    assert parse_report_text(canonical(parsed), tasks, CURRENT_CYCLE) == parsed


@given(st.text())
@example("已核查\x00完毕")
@example("\x1b[31m红字\x1b[0m")
@example("设备\t未到\n下周到")
def test_visible_text_has_no_control_characters_but_tabs_and_line_breaks(text: str) -> None:
    """What notes, reasons and comments are stored through holds no control character that
    shows nothing (NUL, which PostgreSQL's text refuses, among them), keeps tabs and line
    breaks inside, and cleaning twice changes nothing."""
    shown = visible_text(text)
    assert all(unicodedata.category(ch) != "Cc" or ch in "\t\n\r" for ch in shown), repr(shown)
    assert visible_text(shown) == shown
    assert visible_text("设备\t未到\n下周到") == "设备\t未到\n下周到"
