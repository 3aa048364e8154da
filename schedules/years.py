"""Whole numbers and cycle years as people write them: one rule for every command.

Numbers are written with ASCII digits or full-width digits (０-９, what a Chinese input method
types); nothing else counts: not ``²`` (Python's ``isdigit`` says yes), not ``-5``, not
``0.5``, not 30 digits. A cycle year is such a number from :data:`FIRST_CYCLE` to
:data:`LAST_CYCLE`, with or without 年 / 年度; every command that takes one (the chat's and
``--year``) says :data:`YEAR_RULE` when it is out of range. Kept light: ``duban --help``
imports it.
"""

from __future__ import annotations

import re

from schedules.text import N_

FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_DIGITS = re.compile(r"[0-9]{1,18}")
FIRST_CYCLE = 2019
"""The plan's first year (岑政办发〔2020〕48号 covers 2019-2020); earlier years are refused."""
LAST_CYCLE = 2100
"""The last cycle year any command takes (the chat's and the command line's alike)."""
YEAR_RULE = N_("The year must be from {first} to {last}.")
"""How every command that takes a cycle year states :data:`FIRST_CYCLE`-:data:`LAST_CYCLE`
(format it with ``first`` and ``last``)."""


def parse_cycle_year(word: str, last: int = LAST_CYCLE) -> int | None:
    """A cycle year written ``2026``, ``２０２６``, ``2026年`` or ``2026年度``, from
    :data:`FIRST_CYCLE` to ``last`` (:data:`LAST_CYCLE`); None otherwise."""
    return parse_number(word.strip().removesuffix("度").removesuffix("年"), FIRST_CYCLE, last)


def glue_year_suffix(words: list[str] | tuple[str, ...] | None) -> list[str]:
    """A command's words with a lone 年 / 年度 joined to the word before it: ``2026 年`` is
    ``2026年`` (words may be separated by spaces), whatever command takes the year."""
    glued: list[str] = []
    for word in words or ():
        if glued and word.strip() in ("年", "年度"):
            glued[-1] += word.strip()
        else:
            glued.append(word)
    return glued


def looks_like_a_year(word: str) -> bool:
    """Whether ``word`` is a whole number, with or without 年/年度 (so that a year out of
    range is told apart from a word that is no year at all); a sign counts too: ``-1`` is a
    year out of range, like ``1999``."""
    digits = word.strip().removesuffix("度").removesuffix("年").lstrip("+-−－＋")
    return parse_number(digits, 0, 10**9) is not None


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
    written = text.strip().translate(FULL_WIDTH_DIGITS)
    if not _DIGITS.fullmatch(written):
        return None
    value = int(written)
    return value if low <= value <= high else None
