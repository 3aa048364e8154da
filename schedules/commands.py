"""The words of chat commands: ``/report``'s and ``/extend``'s arguments.

Numbers, percentages and years follow one strict rule: :mod:`schedules.years` (whole numbers
and cycle years, re-exported here: ``parse_number``, ``parse_cycle_year``, ``FIRST_CYCLE``...)
and :mod:`schedules.numbers` (percentages, years in words, other scripts' digits).

``/report <task> [year] <status> [percent] [note]`` (examples:
``/report 7 进行中 60% 已完成选址``, ``/report 15 2026年 已完成 材料已报送``, ``/report 7 done``),
read by :func:`parse_report_text`. When the word after the task (and year) is not a status word
the whole rest is read by :func:`schedules.status.parse_status_text` and must name one status
clearly; it is then kept whole as the note.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from schedules.numbers import (
    PERCENT_SIGNS,
    YEAR_WORD,
    ascii_digits,
    foreign_digits,
    parse_percent,
    parse_year,
)
from schedules.numbers import looks_like_percent as looks_like_percent
from schedules.numbers import parse_number as parse_number
from schedules.status import NAMED_TASK, Status, parse_status_text, says_nothing_more
from schedules.text import visible_text
from schedules.years import FIRST_CYCLE
from schedules.years import LAST_CYCLE as LAST_CYCLE  # re-exported with the rule's other names
from schedules.years import YEAR_RULE as YEAR_RULE
from schedules.years import looks_like_a_year as looks_like_a_year
from schedules.years import parse_cycle_year as parse_cycle_year

#: The status words ``/report`` takes as its first word (its usage text lists them).
STATUS_WORDS: dict[str, Status] = {
    "已完成": Status.DONE, "完成": Status.DONE, "done": Status.DONE,
    "进行中": Status.IN_PROGRESS, "推进中": Status.IN_PROGRESS,
    "in_progress": Status.IN_PROGRESS, "ongoing": Status.IN_PROGRESS,
    "progress": Status.IN_PROGRESS,
    "受阻": Status.BLOCKED, "困难": Status.BLOCKED, "blocked": Status.BLOCKED,
    "不适用": Status.NOT_APPLICABLE, "n/a": Status.NOT_APPLICABLE, "na": Status.NOT_APPLICABLE,
}


class ReportProblem(StrEnum):
    """Why ``/report``'s words cannot be stored."""

    USAGE = "usage"  # no task number, no status word, or a task number that is not a number
    UNKNOWN_TASK = "unknown_task"  # a number, but no such task
    BAD_YEAR = "bad_year"  # a year before the plan, or one that has not begun
    TWO_YEARS = "two_years"  # the words name two different years
    BAD_PERCENT = "bad_percent"  # a percentage that is not a whole number 0-100
    NO_STATUS = "no_status"  # the text names no status, or several
    CONTRADICTION = "contradiction"  # done with 50%, in progress with 100%, n/a with any


@dataclass(frozen=True)
class ReportArgs:
    """``/report``'s words, understood.

    Attributes:
        task_id: the task number.
        cycle: the year written, or None (the bot decides, see docs/chat.md).
        status: the status.
        percent: 0-100 or None.
        note: the rest, as written, line breaks kept ("" for none).
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


# Separators between /report's leading words: white space (ideographic too) and commas.
_WORD = re.compile(r"[\s,，、;；:：]*([^\s,，、;；:：]+)")
_TRAILING_PUNCTUATION = "。.，,；;！!"
_SEPARATORS = ",，、;；:："
_TASK = re.compile(r"第?([0-9]{1,7})项?")
# A bare number is a percentage unless the next word makes it a date, a count or a unit:
# "12 月底完成" is the 12th month, not 12%.
_MEASURE_WORD = re.compile(r"[月日号年天周项个次家所台吨万亿元千百]")


def _next_word(text: str) -> tuple[str, str]:
    """The first word of ``text`` and what follows it (untouched)."""
    match = _WORD.match(text)
    if match is None:
        return "", ""
    return match.group(1), text[match.end():]


def _leading_year(word: str) -> tuple[str, str]:
    """The year a word names or begins with, and what follows it glued on.

    ``2026年`` -> ("2026年", ""); ``去年已完成`` -> ("去年", "已完成"): a year glued to a word
    counts only when that word is a status word (今年完成不了 is no year, it is a status).
    """
    if YEAR_WORD.fullmatch(word):
        return word, ""
    match = YEAR_WORD.match(word)
    glued = word[match.end():] if match else ""
    if match and STATUS_WORDS.get(glued.rstrip(_TRAILING_PUNCTUATION).casefold()) is not None:
        return match.group(0), glued
    return "", ""


_PAST_YEAR_WORDS = ("今年度", "今年", "本年度", "本年", "当年", "去年度", "去年", "上一年度",
                    "上一年", "上年度", "上年", "前年度", "前年")
# A year named anywhere in /report's words (not only after the task): 去年已经完成, 已完成（去年）,
# 已完成 2026年的, last year done. It counts when what follows cannot make it a time within the
# task (今年完成不了 is a status, 去年遗留问题 a note): the end, a separator, 的, or done said
# in the past.
_YEAR_ANYWHERE = re.compile(
    r"(?:(?P<rel>" + "|".join(_PAST_YEAR_WORDS) + r")"
    r"|(?P<num>[0-9]{4}|[〇零○Ｏ一二三四五六七八九]{4})\s*(?P<suffix>年度|年)"
    r"|(?<![a-z])(?P<en>last|previous|this|current)\s+year(?![a-z])"
    r"|(?<![a-z])(?P<before>the\s+year\s+before\s+last)(?![a-z]))"
    r"(?=\s|$|[的,，。.;；:：、!！)）\]】]|已|(?:完成|完工|办结|竣工)(?:了|$|[\s,，。.;；!！])"
    r"|(?:done|finished|completed?)(?![a-z]))",
    re.IGNORECASE)
_ENGLISH_YEARS = {"last": -1, "previous": -1, "this": 0, "current": 0}


def _years_named(text: str, current_cycle: int) -> tuple[list[tuple[str, int | None]], str]:
    """Every year the words name anywhere (the word as written and its year, None for no
    year), and the words without them (nor a 的 after them, nor brackets left empty)."""
    found: list[tuple[str, int | None]] = []

    def take(match: re.Match[str]) -> str:
        if match.group("rel"):
            year = parse_year(match.group("rel"), current_cycle)
        elif match.group("num"):
            year = parse_year(match.group("num") + match.group("suffix"), current_cycle)
        elif match.group("en"):
            year = current_cycle + _ENGLISH_YEARS[match.group("en").casefold()]
        else:
            year = current_cycle - 2
        found.append((match.group(0), year))
        return " "

    rest = _YEAR_ANYWHERE.sub(take, text)
    if found:
        rest = re.sub(r"^(\s*)的", r"\1", re.sub(r"(\s)的", r"\1", rest))
        rest = re.sub(r"[（(]\s*[）)]|[【\[]\s*[】\]]", " ", rest)
    return found, rest


def year_in_words(text: str, current_cycle: int) -> tuple[int | None, str] | ReportError:
    """The one year a report in words names anywhere, by the rule ``/report`` follows (第15项
    去年已完成 is a 2026 report on 4 January 2027), and the words without it.

    Returns:
        (the year, or None for none; the rest), or the problem: two different years, or a year
        that cannot be reported for.
    """
    named, rest = _years_named(ascii_digits(text), current_cycle)
    for written, year in named:
        if year is None or not FIRST_CYCLE <= year <= current_cycle:
            return ReportError(ReportProblem.BAD_YEAR, written)
    if len({year for _, year in named}) > 1:
        return ReportError(ReportProblem.TWO_YEARS, " ".join(w for w, _ in named))
    return (named[0][1] if named else None), (rest if named else text)


def parse_report_text(text: str, task_count: int, current_cycle: int
                      ) -> ReportArgs | ReportError:
    """Read ``/report <task> [year] <status> [percent] [note]`` from the text after the command.

    Words are separated by white space (ideographic spaces too) or commas (``15，已完成``); the
    task may be written ``第15项``, the year ``2026``, ``2026年`` or ``2026年度``; the note is the
    rest exactly as written, line breaks kept. A status word followed by a percentage must agree
    with it: done or not applicable with a percentage below 100, or in progress at 100%, is a
    contradiction the person is asked to resolve.

    Args:
        text: what follows ``/report`` in the message.
        task_count: tasks are numbered 1 to this.
        current_cycle: the current year; later years have not begun and are refused.

    Returns:
        The arguments, or the first problem found.
    """
    if foreign_digits(text):  # ٢٠٢٦, ६०: never a number, so never a year or a percentage
        return ReportError(ReportProblem.USAGE, foreign_digits(text))
    text = ascii_digits(text)
    first, rest = _next_word(text)
    task_match = _TASK.fullmatch(first)
    if not first or not rest.strip():
        return ReportError(ReportProblem.USAGE, first)
    if task_match is None:
        return ReportError(ReportProblem.USAGE, first)
    task_id = int(task_match.group(1))
    if not 1 <= task_id <= task_count:
        return ReportError(ReportProblem.UNKNOWN_TASK, first)
    cycle = None
    named, rest = _years_named(rest, current_cycle)
    for written, year in named:
        if year is None or not FIRST_CYCLE <= year <= current_cycle:
            return ReportError(ReportProblem.BAD_YEAR, written)
    if len({year for _, year in named}) > 1:
        return ReportError(ReportProblem.TWO_YEARS, " ".join(w for w, _ in named))
    if named:
        cycle = named[0][1]
        if not rest.strip(" \t\n\u3000" + _SEPARATORS + _TRAILING_PUNCTUATION):
            return ReportError(ReportProblem.USAGE, named[0][0])
    word, after = _next_word(rest)
    year_word, glued = _leading_year(word)
    if year_word:
        year = parse_year(year_word, current_cycle)
        if year is None or not FIRST_CYCLE <= year <= current_cycle:
            return ReportError(ReportProblem.BAD_YEAR, year_word)
        if cycle not in (None, year):
            return ReportError(ReportProblem.TWO_YEARS, " ".join([year_word, named[0][0]]))
        cycle = year
        if glued:  # 去年已完成: the year, then the status word
            rest = glued + after
            word, after = glued, after
        else:
            rest = after
            word, after = _next_word(rest)
        if not word:
            return ReportError(ReportProblem.USAGE)
    status = STATUS_WORDS.get(word.rstrip(_TRAILING_PUNCTUATION).casefold())
    if status is None:
        whole = parse_status_text(visible_text(rest))
        if whole.bad_percent:
            return ReportError(ReportProblem.BAD_PERCENT, whole.bad_percent)
        if whole.status is None:
            return ReportError(ReportProblem.NO_STATUS, " ".join(rest.split()))
        return ReportArgs(task_id, cycle, whole.status, whole.percent, whole.own_note)
    rest = after
    percent = None
    word, after = _next_word(rest)
    following, after_following = _next_word(after)
    if following in ("%", "％"):  # "60 %"
        word, after = word + "%", after_following
        following, _ = _next_word(after)
    written = word.rstrip(_TRAILING_PUNCTUATION)
    is_bare = written[-1:] not in PERCENT_SIGNS
    if written and looks_like_percent(written) and not (
            is_bare and _MEASURE_WORD.match(following or "")):
        percent = parse_percent(written)
        if percent is None:
            return ReportError(ReportProblem.BAD_PERCENT, word)
        rest = after
    if percent is not None and (
            (status is Status.DONE and percent != 100)
            or status is Status.NOT_APPLICABLE
            or (status in (Status.IN_PROGRESS, Status.BLOCKED) and percent == 100)):
        return ReportError(ReportProblem.CONTRADICTION, f"{word}")
    return ReportArgs(task_id, cycle, status, percent, _note(rest))


def _note(rest: str) -> str:
    """The note after the status (and percentage): the separators before it are not part of it
    (``已完成，材料已报送`` -> ``材料已报送``); words that say nothing more (``了。``) are none."""
    note = visible_text(visible_text(rest).lstrip(_SEPARATORS))
    return "" if says_nothing_more(note) else note


_NAMED_TASK = NAMED_TASK


# A bare number before a status word (maybe after a year: 16 去年已完成) names a task, as in
# /report (16 已完成, 16、已完成); with a measure word it is a count (2项已完成: two items
# are done) or a date (15号已完成: done on the 15th), never a task.
_LEADING_TASK = re.compile(
    r"\s*([0-9]{1,3})(?![0-9])\s*[.、，,:：]?\s*"
    r"(?=(?:(?:" + "|".join(_PAST_YEAR_WORDS) + r"|[0-9]{4}\s*年度?)的?\s*)?(?:" + "|".join(
        re.escape(word) for word in sorted(STATUS_WORDS, key=len, reverse=True)) + "))",
    re.IGNORECASE)


def named_task(text: str) -> int | None:
    """The one task number a message names, or None (none, several).

    第16项, 任务16, 16号任务, task 16, or a bare number before a status word as in /report
    (``16 已完成``). ``2项已完成`` is a count (two items done) and ``15号已完成`` a date: neither
    names a task. A message that names another task is about that task, not a note on the one
    before.
    """
    if foreign_digits(text):
        return None
    written = ascii_digits(text)
    found = {int(next(g for g in m.groups() if g)) for m in _NAMED_TASK.finditer(written)}
    leading = _LEADING_TASK.match(written)
    if leading is not None:
        found.add(int(leading.group(1)))
    return found.pop() if len(found) == 1 else None


# -- /extend ---------------------------------------------------------------------------------
_DATE_FORMS = (
    re.compile(r"(?P<y>[0-9]{4})[-/.](?P<m>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<y>[0-9]{4})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})[日号]?"),
    re.compile(r"(?P<m>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})[日号]?"),
)


def parse_date(word: str, year: int, near: dt.date | None = None) -> dt.date | None:
    """A date as offices write it: ``2026-12-20``, ``2026/12/20``, ``2026年12月20日``, or
    without the year (``12-20``, ``12月20日``: in ``year``, or, given ``near``, the such day
    nearest to it: on 10 December ``01-20`` is next January and ``12-03`` a week ago);
    full-width digits too.

    Returns:
        The date, or None when the word is not one (or names no real day).
    """
    written = ascii_digits(word.strip())
    for form in _DATE_FORMS:
        match = form.fullmatch(written)
        if match is None:
            continue
        parts = match.groupdict()
        try:
            found = dt.date(int(parts.get("y") or year), int(parts["m"]), int(parts["d"]))
        except ValueError:
            return None
        if parts.get("y") or near is None:
            return found
        candidates = []
        for other in (near.year - 1, near.year, near.year + 1):
            try:
                candidates.append(found.replace(year=other))
            except ValueError:  # 29 February
                continue
        return min(candidates, key=lambda day: abs((day - near).days))
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


def parse_extend_args(words: list[str], task_count: int, today: dt.date
                      ) -> ExtendArgs | ExtendError:
    """Read ``/extend <task> <new due date> <reason>``.

    Args:
        words: the command's arguments, split on white space.
        task_count: tasks are numbered 1 to this.
        today: a date without a year is the next such day from today on.
    """
    if len(words) < 2:
        return ExtendError(ExtendProblem.USAGE)
    task_id = parse_number(words[0], 1, 10**6)
    if task_id is None:
        return ExtendError(ExtendProblem.USAGE, words[0])
    if task_id > task_count:
        return ExtendError(ExtendProblem.UNKNOWN_TASK, words[0])
    due_date = parse_date(words[1], today.year, near=today)
    if due_date is None:
        return ExtendError(ExtendProblem.BAD_DATE, words[1])
    reason = visible_text(" ".join(words[2:]))
    if not reason:
        return ExtendError(ExtendProblem.NO_REASON)
    return ExtendArgs(task_id, due_date, reason)
