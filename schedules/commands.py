"""The words of chat commands: one strict rule for numbers, and ``/report``'s arguments.

Numbers are written with ASCII digits or full-width digits (０-９, what a Chinese input method
types); nothing else counts: not ``²`` (Python's ``isdigit`` says yes), not ``-5``, not
``0.5``, not 30 digits. A percentage is a whole number 0-100, with or without ``%``/``％``.

``/report <task> [year] <status> [percent] [note]`` (examples:
``/report 7 进行中 60% 已完成选址``, ``/report 15 2026 已完成 材料已报送``, ``/report 7 done``).
When the third word is not a status word the whole text after the task (and year) is read by
:func:`schedules.status.parse_status_text` and must name one status clearly; it is then kept
whole as the note.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from schedules.status import Status, parse_status_text

_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_DIGITS = re.compile(r"[0-9]{1,18}")
_PERCENT_SIGNS = "%％"
FIRST_CYCLE = 2019
"""The plan's first year (岑政办发〔2020〕48号 covers 2019-2020); earlier years are refused."""
LAST_CYCLE = 2100

#: The status words ``/report`` takes as its first word (its usage text lists them).
STATUS_WORDS: dict[str, Status] = {
    "已完成": Status.DONE, "完成": Status.DONE, "done": Status.DONE,
    "进行中": Status.IN_PROGRESS, "推进中": Status.IN_PROGRESS,
    "in_progress": Status.IN_PROGRESS, "ongoing": Status.IN_PROGRESS,
    "progress": Status.IN_PROGRESS,
    "受阻": Status.BLOCKED, "困难": Status.BLOCKED, "blocked": Status.BLOCKED,
    "不适用": Status.NOT_APPLICABLE, "n/a": Status.NOT_APPLICABLE, "na": Status.NOT_APPLICABLE,
}


def parse_number(text: str, low: int, high: int) -> int | None:
    """A whole number written in ASCII or full-width digits, within ``low``..``high``.

    Args:
        text: one word, e.g. ``"15"``, ``"１５"``.
        low: the smallest value accepted.
        high: the largest value accepted.

    Returns:
        The number, or None for anything else (signs, fractions, other digit forms, out of
        range).
    """
    written = text.strip().translate(_FULL_WIDTH_DIGITS)
    if not _DIGITS.fullmatch(written):
        return None
    value = int(written)
    return value if low <= value <= high else None


def looks_like_percent(word: str) -> bool:
    """Whether a word is meant as a percentage: a number, or anything ending in ``%``/``％``."""
    written = word.strip().translate(_FULL_WIDTH_DIGITS)
    return written[-1:] in _PERCENT_SIGNS or re.fullmatch(r"[-+−]?[0-9.,]+", written) is not None


def parse_percent(word: str) -> int | None:
    """A percentage 0-100 from ``60%``, ``６０％`` or ``60``; None when it is not one."""
    written = word.strip()
    if written[-1:] in _PERCENT_SIGNS:
        written = written[:-1]
    return parse_number(written, 0, 100)


class ReportProblem(StrEnum):
    """Why ``/report``'s words cannot be stored."""

    USAGE = "usage"  # no task number, no status word, or a task number that is not a number
    UNKNOWN_TASK = "unknown_task"  # a number, but no such task
    BAD_YEAR = "bad_year"  # a four-digit year out of range
    BAD_PERCENT = "bad_percent"  # a percentage that is not a whole number 0-100
    NO_STATUS = "no_status"  # the text names no status, or several


@dataclass(frozen=True)
class ReportArgs:
    """``/report``'s words, understood.

    Attributes:
        task_id: the task number.
        cycle: the year written, or None (the bot decides, see docs/chat.md).
        status: the status.
        percent: 0-100 or None.
        note: the rest, as written ("" for none).
    """

    task_id: int
    cycle: int | None
    status: Status
    percent: int | None
    note: str


@dataclass(frozen=True)
class ReportError:
    """``/report``'s words could not be understood: the problem and the word at fault."""

    problem: ReportProblem
    word: str = ""


def parse_report_args(words: list[str], task_count: int) -> ReportArgs | ReportError:
    """Read ``/report <task> [year] <status> [percent] [note]``.

    Args:
        words: the command's arguments, split on white space.
        task_count: tasks are numbered 1 to this.

    Returns:
        The arguments, or the first problem found.
    """
    if len(words) < 2:
        return ReportError(ReportProblem.USAGE)
    task_id = parse_number(words[0], 1, 10**6)
    if task_id is None:
        return ReportError(ReportProblem.USAGE, words[0])
    if task_id > task_count:
        return ReportError(ReportProblem.UNKNOWN_TASK, words[0])
    rest = words[1:]
    cycle = None
    year_written = rest[0].translate(_FULL_WIDTH_DIGITS)
    if re.fullmatch(r"[0-9]{4}", year_written):
        cycle = parse_number(year_written, FIRST_CYCLE, LAST_CYCLE)
        if cycle is None:
            return ReportError(ReportProblem.BAD_YEAR, rest[0])
        rest = rest[1:]
        if not rest:
            return ReportError(ReportProblem.USAGE)
    status = STATUS_WORDS.get(rest[0].casefold())
    if status is not None:
        rest = rest[1:]
        percent = None
        if rest and looks_like_percent(rest[0]):
            percent = parse_percent(rest[0])
            if percent is None:
                return ReportError(ReportProblem.BAD_PERCENT, rest[0])
            rest = rest[1:]
        return ReportArgs(task_id, cycle, status, percent, " ".join(rest))
    text = " ".join(rest)
    whole = parse_status_text(text)
    if whole.status is None:
        return ReportError(ReportProblem.NO_STATUS, text)
    return ReportArgs(task_id, cycle, whole.status, whole.percent, whole.note)


# -- /extend ---------------------------------------------------------------------------------
_DATE_FORMS = (
    re.compile(r"(?P<y>[0-9]{4})[-/.](?P<m>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<y>[0-9]{4})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})[日号]?"),
    re.compile(r"(?P<m>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})[日号]?"),
)


def parse_date(word: str, year: int) -> dt.date | None:
    """A date as offices write it: ``2026-12-20``, ``2026/12/20``, ``2026年12月20日``, or
    without the year (``12-20``, ``12月20日``: in ``year``); full-width digits too.

    Returns:
        The date, or None when the word is not one (or names no real day).
    """
    written = word.strip().translate(_FULL_WIDTH_DIGITS)
    for form in _DATE_FORMS:
        match = form.fullmatch(written)
        if match is None:
            continue
        parts = match.groupdict()
        try:
            return dt.date(int(parts.get("y") or year), int(parts["m"]), int(parts["d"]))
        except ValueError:
            return None
    return None


class ExtendProblem(StrEnum):
    """Why ``/extend``'s words cannot be a request."""

    USAGE = "usage"  # no task number, or nothing after it
    UNKNOWN_TASK = "unknown_task"
    BAD_DATE = "bad_date"
    NO_REASON = "no_reason"


@dataclass(frozen=True)
class ExtendArgs:
    """``/extend``'s words, understood: the task, the new due date (the last day), why."""

    task_id: int
    due_date: dt.date
    reason: str


@dataclass(frozen=True)
class ExtendError:
    """``/extend``'s words could not be understood: the problem and the word at fault."""

    problem: ExtendProblem
    word: str = ""


def parse_extend_args(words: list[str], task_count: int, year: int) -> ExtendArgs | ExtendError:
    """Read ``/extend <task> <new due date> <reason>`` (a date without a year is in ``year``).

    Args:
        words: the command's arguments, split on white space.
        task_count: tasks are numbered 1 to this.
        year: the cycle year, for a date written without one.
    """
    if len(words) < 2:
        return ExtendError(ExtendProblem.USAGE)
    task_id = parse_number(words[0], 1, 10**6)
    if task_id is None:
        return ExtendError(ExtendProblem.USAGE, words[0])
    if task_id > task_count:
        return ExtendError(ExtendProblem.UNKNOWN_TASK, words[0])
    due_date = parse_date(words[1], year)
    if due_date is None:
        return ExtendError(ExtendProblem.BAD_DATE, words[1])
    reason = " ".join(words[2:]).strip()
    if not reason:
        return ExtendError(ExtendProblem.NO_REASON)
    return ExtendArgs(task_id, due_date, reason)
