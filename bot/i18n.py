"""Translations (Babel gettext catalogs) and locale-aware formatting.

Catalogs live in ``bot/locales/<lang>/LC_MESSAGES/messages.po``; message ids are English.
Simplified Chinese (``zh_Hans``) is the default language; English (``en``) is complete too.
``scripts/i18n.sh`` runs ``pybabel extract / update / compile``.

Usage::

    t = translator("zh-hans")
    t.gettext("Report stored.")
    t.gettext("Task {number}").format(number=7)   # translate first, then format
    t.date(some_date)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from schedules.text import N_

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "zh_Hans"
LANGUAGES = ("zh_Hans", "en")
_BABEL_LOCALES = {"zh_Hans": "zh_Hans_CN", "en": "en"}
OFFICE_ZONE = ZoneInfo("Asia/Shanghai")
"""The default office time zone (``DUBAN_TZ``); every instant shown is converted to it."""

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "N_", "OFFICE_ZONE", "Translator", "negotiate",
           "translator"]


def negotiate(language_code: str | None) -> str:
    """Map a Telegram ``language_code`` (``zh-hans``, ``en-US``, ...) to a supported language.

    Anything not English falls back to Simplified Chinese, the office's language.
    """
    if not language_code:
        return DEFAULT_LANGUAGE
    code = language_code.replace("-", "_").lower()
    if code == "en" or code.startswith("en_"):
        return "en"
    return DEFAULT_LANGUAGE


@cache
def _catalog(language: str) -> NullTranslations:
    translations = Translations.load(str(LOCALES_DIR), locales=[language], domain=DOMAIN)
    return translations


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(_BABEL_LOCALES[language])


@lru_cache(maxsize=8192)
def _date_text(value: dt.date, fmt: str, language: str) -> str:
    # Babel takes tens of microseconds a date; a list of 1,000 units shows a few days over and
    # over.
    return format_date(value, format=fmt, locale=_locale(language))


@lru_cache(maxsize=512)
def _percent_text(value: int, language: str) -> str:
    return format_percent(value / 100, locale=_locale(language))


@dataclass(frozen=True)
class Translator:
    """Gettext plus Babel formatting for one language, showing instants in the office's zone.

    Attributes:
        language: ``zh_Hans`` or ``en``.
        zone: the office's time zone (``DUBAN_TZ``): :meth:`day` and :meth:`moment` convert
            every instant to it, so a report at 07:30 on 1 December in Shanghai shows as
            1 December whatever zone it was stored in.
    """

    language: str
    zone: dt.tzinfo = field(default=OFFICE_ZONE)

    @property
    def locale(self) -> Locale:
        """The Babel locale used for dates and numbers."""
        return _locale(self.language)

    def gettext(self, message: str) -> str:
        """Translate ``message``."""
        return _catalog(self.language).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Translate with a plural form chosen by ``n``."""
        return _catalog(self.language).ngettext(singular, plural, n)

    def date(self, value: dt.date, fmt: str = "long") -> str:
        """A date in this language (2026年11月30日 / November 30, 2026)."""
        if isinstance(value, dt.datetime):  # Babel shows a datetime's date as it is
            value = value.date()
        return _date_text(value, fmt, self.language)

    def day(self, value: dt.date | dt.datetime, fmt: str = "long") -> str:
        """The office-zone date of an instant (or a calendar date as it is), in this language.

        Raises:
            ValueError: a naive datetime.
        """
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueError("refusing to format a naive datetime")
            value = value.astimezone(self.zone).date()
        return _date_text(value, fmt, self.language)

    def moment(self, value: dt.datetime, fmt: str = "medium") -> str:
        """An instant as the office's wall-clock date and time, in this language."""
        if value.tzinfo is None:
            raise ValueError("refusing to format a naive datetime")
        return self.datetime(value.astimezone(self.zone), fmt)

    def datetime(self, value: dt.datetime, fmt: str = "medium") -> str:
        """An aware datetime in its own time zone, in this language."""
        if value.tzinfo is None:
            raise ValueError("refusing to format a naive datetime")
        return format_datetime(value, format=fmt, tzinfo=value.tzinfo, locale=self.locale)

    def number(self, value: float) -> str:
        """A number in this language."""
        return format_decimal(value, locale=self.locale)

    def percent(self, value: int) -> str:
        """A whole percentage 0-100 as this language writes it."""
        return _percent_text(value, self.language)


def translator(language_code: str | None, zone: dt.tzinfo | None = None) -> Translator:
    """The translator for a Telegram language code or a supported language name.

    Args:
        language_code: ``zh-hans``, ``en-US``, ``zh_Hans``, ``en``... (None: Chinese).
        zone: the office's time zone (default Asia/Shanghai).
    """
    language = language_code if language_code in LANGUAGES else negotiate(language_code)
    assert language is not None
    return Translator(language, zone or OFFICE_ZONE)
