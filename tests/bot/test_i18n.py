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
