"""The translation catalogs are complete, consistent and compiled."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, LOCALES_DIR, negotiate, translator
from schedules.model import Timetable

PLACEHOLDER = re.compile(r"\{[a-z_]+(?:![rs])?\}")
ROOT = Path(__file__).resolve().parents[2]


def catalog(language: str):
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    for message in catalog(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert any(strings), f"{language}: untranslated {ids[0]!r}"
        assert "fuzzy" not in message.flags, f"{language}: fuzzy {ids[0]!r}"
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            if string:
                assert set(PLACEHOLDER.findall(string)) == wanted, (language, ids[0], string)


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalog_matches_the_po_file(language: str) -> None:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
    source = {_key(m.id): _key(m.string) for m in catalog(language) if m.id}
    assert compiled == source, "run scripts/i18n.sh compile"


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_every_marked_string_in_the_code_is_in_the_template(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-k", "N_", "--no-location", "-o", str(pot),
                    str(ROOT)], check=True, capture_output=True, cwd=ROOT)
    with pot.open("rb") as handle:
        extracted = {m.id for m in read_po(handle) if m.id}
    known = {m.id for m in catalog("zh_Hans") if m.id}
    assert extracted - known == set(), "run scripts/i18n.sh"


def test_negotiation_defaults_to_chinese() -> None:
    assert negotiate(None) == "zh_Hans"
    assert negotiate("zh-hans") == "zh_Hans"
    assert negotiate("ru") == "zh_Hans"
    assert negotiate("en-US") == "en"


def test_dates_and_percentages_follow_the_locale() -> None:
    day = dt.date(2026, 11, 30)
    assert translator("zh-hans").date(day) == "2026年11月30日"
    assert translator("en").date(day) == "November 30, 2026"
    assert translator("en").percent(60) == "60%"
    assert translator("zh-hans").gettext("done") == "已完成"


# -- counts have plural forms ------------------------------------------------------------------
COUNTED = re.compile(r"\{(n|count|days|done|reminded|others)\} (\w+ )?(days?|tasks?|times?|units?"
                     r"|reports?|events?|reminders?|urges?)\b")
MANY_COUNTS = {  # several counts in one line, each always many: no single plural form fits
    "Timetable reloaded: {tasks} tasks, {units} units. Reminders are re-planned at the next run.",
    "{path}: OK: {tasks} tasks, {units} units, {measures} measures.",
}


def test_every_count_of_things_has_plural_forms() -> None:
    """'on average 1 days early', 'acknowledged 1 of 1 tasks reminded': a count shown before a
    counted word goes through ngettext (English has two forms; Chinese one, nplurals=1)."""
    singular_only = [m.id for m in catalog("en") if isinstance(m.id, str)
                     and COUNTED.search(m.id) and m.id not in MANY_COUNTS]
    assert singular_only == []
    chinese = catalog("zh_Hans")
    assert chinese.plural_forms == "nplurals=1; plural=0;"
    plurals = [m for m in chinese if isinstance(m.id, tuple)]
    assert plurals and all(len(m.string) == 1 and m.string[0] for m in plurals)


def test_the_scorecard_counts_one_day_and_one_task_in_the_singular(timetable: Timetable) -> None:
    from bot.reports.scorecard import render_scores
    from schedules.scorecard import Duty, Outcome, UnitScore

    def score(days_early: int, reminded: int, acknowledged: int) -> UnitScore:
        duty = Duty(7, "agriculture-rural", dt.date(2026, 11, 30), False,
                    dt.date(2026, 11, 30) - dt.timedelta(days=days_early), Outcome.ON_TIME,
                    days_early)
        return UnitScore("agriculture-rural", (duty,), reminded, acknowledged, 1)

    english = translator("en")
    one = render_scores(english, timetable, 2026, [score(1, 1, 1)], dt.date(2026, 12, 3))
    assert "on average 1 day early" in one and "acknowledged 1 of 1 task reminded" in one
    assert "urged 1 time" in one and "1 task to deliver" in one
    two = render_scores(english, timetable, 2026, [score(2, 2, 1)], dt.date(2026, 12, 3))
    assert "on average 2 days early" in two and "acknowledged 1 of 2 tasks reminded" in two
    chinese = render_scores(translator("zh_Hans"), timetable, 2026, [score(1, 1, 1)],
                            dt.date(2026, 12, 3))
    assert "平均提前1天" in chinese and "提醒1项、签收1项" in chinese


def test_an_empty_cycle_is_nothing_to_report_on_in_chinese_too() -> None:
    """The refusal of a cycle nobody was followed in (/export, /chart, /scores, /bulletin) said
    因此无可通报 ("nothing to bulletin") where English says "nothing to report on"."""
    from bot.reports.record import unfollowed_cycle_text

    chinese = unfollowed_cycle_text(translator("zh_Hans"), 2020, 2026)
    assert "因此无可报告" in chinese and "通报" not in chinese
    assert "nothing to report on" in unfollowed_cycle_text(translator("en"), 2020, 2026)


def test_a_databases_counts_take_the_singular_for_one() -> None:
    """duban db backup/restore said '1 groups'."""
    from bot.cli import _counts_text

    counts = {"person": 1, "invite": 0, "leadership_chat": 1, "status_report": 2, "reminder": 1}
    assert _counts_text(translator("en"), counts) == (
        "1 person, 0 invitations, 1 group, 2 reports, 1 reminder")
    assert _counts_text(translator("zh_Hans"), counts) == (
        "1 人、0 个邀请、1 个群组、2 条报告、1 条提醒")
