"""The one strict rule for numbers, percentages and years people write in chat (with
:mod:`schedules.years`, whose whole-number rule this module uses and re-exports).

A number is written with ASCII digits or full-width digits (０-９, what a Chinese input method
types) and nothing else: not ``²`` (Python's ``isdigit`` says yes), not Arabic-Indic ``٦٠`` or
Devanagari digits (``\\d``, ``int()`` and ``float()`` take them), not ``-5``, not ``0.5``, not
30 digits. A percentage is a whole number 0-100, with or without ``%``/``％``. A year is four
digits (``2026``, ``2026年``, ``2026年度``), four Chinese numerals (``二〇二六年``,
``二零二六年``) or a word relative to the office's current year (今年, 去年, 前年, 明年).

Every command and every reply in words reads numbers through this module (``schedules/`` and
``bot/`` alike); nothing else turns chat text into a number.
"""

from __future__ import annotations

import re
import unicodedata

from schedules.years import FULL_WIDTH_DIGITS
from schedules.years import parse_number as parse_number  # the one whole-number rule

PERCENT_SIGNS = "%％"


def ascii_digits(text: str) -> str:
    """``text`` with full-width digits written as ASCII ones (nothing else changes)."""
    return text.translate(FULL_WIDTH_DIGITS)


def looks_like_percent(word: str) -> bool:
    """Whether a word is meant as a percentage: a number (signed, fractional, of any script),
    or anything ending in ``%``/``％``."""
    written = ascii_digits(word.strip())
    if written and written[-1] in PERCENT_SIGNS:
        return True
    body = written.lstrip("-+−")
    return bool(body) and all(ch in ".," or unicodedata.category(ch) == "Nd" for ch in body)


_BARE_NUMBER = re.compile(r"[-+−]?[0-9]+(?:[.,][0-9]*)?\s*[%％]?")


def is_bare_number(text: str) -> bool:
    """Whether a whole message is only a number, maybe with ``%`` (``60``, ``６０％``,
    ``0.5%``, ``-5``): after a status button it is meant as the percentage."""
    return _BARE_NUMBER.fullmatch(ascii_digits(text.strip())) is not None


def parse_percent(word: str) -> int | None:
    """A percentage 0-100 from ``60%``, ``６０％`` or ``60``; None when it is not one."""
    written = word.strip()
    if written and written[-1] in PERCENT_SIGNS:
        written = written[:-1].rstrip()
    return parse_number(written, 0, 100)


def foreign_digits(text: str) -> str:
    """The first run of decimal digits that are neither ASCII nor full-width (``٦٠``, ``२०``),
    or "" when there is none: such digits are never read as a number."""
    run = ""
    for ch in text:
        if unicodedata.category(ch) == "Nd" and not ("0" <= ch <= "9" or "０" <= ch <= "９"):
            run += ch
        elif run:
            break
    return run


# -- years -----------------------------------------------------------------------------------
_RELATIVE_YEARS = {
    "今年": 0, "今年度": 0, "本年": 0, "本年度": 0, "当年": 0,
    "去年": -1, "去年度": -1, "上年": -1, "上年度": -1, "上一年": -1, "上一年度": -1,
    "前年": -2, "前年度": -2,
    "明年": 1, "明年度": 1, "下年": 1, "下年度": 1, "下一年": 1, "下一年度": 1,
}
_CN_DIGITS = str.maketrans("〇零○Ｏ一二三四五六七八九", "0000123456789")
YEAR_WORD = re.compile(
    "(?:" + "|".join(sorted(_RELATIVE_YEARS, key=len, reverse=True)) + ")"
    r"|[0-9０-９]{4}(?:年度|年)?|[〇零○Ｏ一二三四五六七八九]{4}(?:年度|年)?")
"""A word naming a year; :func:`parse_year` gives its value."""


def parse_year(word: str, current: int) -> int | None:
    """The year a word names: ``2026``, ``2026年``, ``2026年度``, ``二〇二六年``, ``二零二六``,
    or 今年/去年/前年/明年 (and 本年度, 上年度…) counted from ``current``.

    Returns:
        The year (not checked against any range), or None when the word is not a year.
    """
    word = word.strip()
    if YEAR_WORD.fullmatch(word) is None:
        return None
    if word in _RELATIVE_YEARS:
        return current + _RELATIVE_YEARS[word]
    digits = ascii_digits(word.removesuffix("度").removesuffix("年")).translate(_CN_DIGITS)
    return int(digits)
