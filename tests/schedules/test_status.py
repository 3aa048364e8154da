"""Reading free-text status replies, sorting statuses and the traffic light."""

from __future__ import annotations

import pytest

from schedules.status import Status, light, parse_status_text, worst_first

DONE, PROG, BLOCK, NA = Status.DONE, Status.IN_PROGRESS, Status.BLOCKED, Status.NOT_APPLICABLE

# text, status, candidates, percent
CASES: list[tuple[str, Status | None, set[Status], int | None]] = [
    # Chinese status words
    ("已完成", DONE, {DONE}, None),
    ("完成", DONE, {DONE}, None),
    ("工程已完工", DONE, {DONE}, None),
    ("已办结", DONE, {DONE}, None),
    ("已按计划完成", DONE, {DONE}, None),
    ("进行中", PROG, {PROG}, None),
    ("推进中", PROG, {PROG}, None),
    ("正在组织实施", PROG, {PROG}, None),
    ("资金不到位，项目受阻", BLOCK, {BLOCK}, None),
    ("用地存在困难", BLOCK, {BLOCK}, None),
    ("遇到阻碍", BLOCK, {BLOCK}, None),
    ("不适用", NA, {NA}, None),
    ("本镇无此项", NA, {NA}, None),
    # negations are never done
    ("未完成", PROG, {PROG}, None),
    ("没有完成", PROG, {PROG}, None),
    ("尚未完成", PROG, {PROG}, None),
    ("没完成", PROG, {PROG}, None),
    ("还没完成，下周继续", PROG, {PROG}, None),
    ("还未全部完成", PROG, {PROG}, None),
    ("无法按期完成", BLOCK, {BLOCK}, None),
    ("预计11月底完成", PROG, {PROG}, None),
    ("进展顺利，无困难", None, set(), None),
    # English, any case
    ("done", DONE, {DONE}, None),
    ("Completed.", DONE, {DONE}, None),
    ("FINISHED", DONE, {DONE}, None),
    ("In Progress", PROG, {PROG}, None),
    ("ongoing", PROG, {PROG}, None),
    ("Blocked by funding", BLOCK, {BLOCK}, None),
    ("stuck", BLOCK, {BLOCK}, None),
    ("N/A", NA, {NA}, None),
    ("not applicable", NA, {NA}, None),
    ("not done", PROG, {PROG}, None),
    ("not finished yet", PROG, {PROG}, None),
    ("It isn't done", PROG, {PROG}, None),
    ("will be completed next week", PROG, {PROG}, None),
    # percentages
    ("80%", PROG, {PROG}, 80),
    ("８０％", PROG, {PROG}, 80),
    ("完成80%", PROG, {PROG}, 80),
    ("已完成 85.5%", None, set(), None),  # not a whole number: bad_percent, asked again
    ("完成百分之八十", PROG, {PROG}, 80),
    ("百分之百", DONE, {DONE}, 100),
    ("100%", DONE, {DONE}, 100),
    ("完成100%", DONE, {DONE}, 100),
    ("0%", PROG, {PROG}, 0),
    ("60% done", PROG, {PROG}, 60),
    ("受阻，目前完成60%", BLOCK, {BLOCK}, 60),
    ("超额完成120%", DONE, {DONE}, None),
    # ambiguity
    ("部分完成，部分受阻", None, {PROG, BLOCK}, None),
    ("已完成，进度80%", None, {DONE, PROG}, 80),
    ("进行中，但遇到困难", None, {PROG, BLOCK}, None),
    ("done? not applicable", None, {DONE, NA}, None),
    ("未完成，部分已完成", PROG, {PROG}, None),
    ("一期已完成，二期未完成", None, {DONE, PROG}, None),
    # work still to come, in part, or impossible is never done
    ("今年完成不了", BLOCK, {BLOCK}, None),
    ("完不成", BLOCK, {BLOCK}, None),
    ("下周完成", PROG, {PROG}, None),
    ("明天完成", PROG, {PROG}, None),
    ("月底前完成", PROG, {PROG}, None),
    ("12月底前完成", PROG, {PROG}, None),
    ("待完成", PROG, {PROG}, None),
    ("还需完成验收", PROG, {PROG}, None),
    ("即将完成", PROG, {PROG}, None),
    ("快完成了", PROG, {PROG}, None),
    ("完成一半", PROG, {PROG}, None),
    ("完成八成", PROG, {PROG}, None),
    ("已完成部分工作", PROG, {PROG}, None),
    # ...while completion in the past stays done, a date or not
    ("今天完成了", DONE, {DONE}, None),
    ("材料已于12月完成报送", DONE, {DONE}, None),
    ("已完成全部工作", DONE, {DONE}, None),
    # a question reports nothing
    ("完成了吗？", None, set(), None),
    ("done?", None, set(), None),
    ("完成了没有", None, set(), None),
    # nothing recognised
    ("收到", None, set(), None),
    ("", None, set(), None),
    ("2026年11月", None, set(), None),
]


@pytest.mark.parametrize(("text", "status", "candidates", "percent"), CASES,
                         ids=[case[0] or "<empty>" for case in CASES])
def test_parse_status_text(text: str, status: Status | None, candidates: set[Status],
                           percent: int | None) -> None:
    parsed = parse_status_text(text)
    assert parsed.status is status
    assert parsed.candidates == frozenset(candidates)
    assert parsed.percent == percent
    assert parsed.ambiguous is (len(candidates) > 1)
    assert parsed.note == text.strip()


def test_note_is_the_original_text_stripped() -> None:
    parsed = parse_status_text("  已完成８０％  \n")
    assert parsed.note == "已完成８０％"
    assert parsed.percent == 80


def test_ambiguous_text_has_no_status() -> None:
    parsed = parse_status_text("部分完成，部分受阻")
    assert parsed.ambiguous
    assert parsed.status is None
    assert len(parsed.candidates) == 2


@pytest.mark.parametrize("text", ["未完成", "没有完成", "尚未完成", "没完成", "还没完成",
                                  "not done", "not finished", "Not Completed", "unfinished"])
def test_negations_are_never_done(text: str) -> None:
    parsed = parse_status_text(text)
    assert Status.DONE not in parsed.candidates
    assert parsed.status is Status.IN_PROGRESS


def test_percent_out_of_range_is_not_a_percent() -> None:
    assert parse_status_text("1000%").percent is None
    assert parse_status_text("2026年完成").percent is None


def test_parsed_status_is_frozen() -> None:
    parsed = parse_status_text("done")
    with pytest.raises(AttributeError):
        parsed.status = None  # type: ignore[misc]


@pytest.mark.parametrize(("status", "overdue", "expected"), [
    (Status.DONE, False, "🟢"),
    (Status.DONE, True, "🟢"),
    (Status.IN_PROGRESS, False, "🟡"),
    (Status.IN_PROGRESS, True, "🔴"),
    (Status.BLOCKED, False, "🔴"),
    (Status.BLOCKED, True, "🔴"),
    (None, False, "⚪"),
    (None, True, "🔴"),
    (Status.NOT_APPLICABLE, False, "⚪"),
    (Status.NOT_APPLICABLE, True, "⚪"),
])
def test_light(status: Status | None, overdue: bool, expected: str) -> None:
    assert light(status, overdue) == expected


def test_worst_first_order() -> None:
    statuses: list[Status | None] = [Status.DONE, None, Status.NOT_APPLICABLE, Status.BLOCKED,
                                     Status.IN_PROGRESS]
    assert sorted(statuses, key=worst_first) == [Status.BLOCKED, None, Status.IN_PROGRESS,
                                                 Status.DONE, Status.NOT_APPLICABLE]


def test_status_values_are_what_storage_keeps() -> None:
    assert [s.value for s in Status] == ["done", "in_progress", "blocked", "not_applicable"]
