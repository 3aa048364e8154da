"""Marking domain strings for translation without translating them here.

The domain names things people read (skip reasons, timetable problems) but has no language: it
marks them with :func:`N_` so that ``pybabel extract -k N_`` finds them (``babel.cfg`` reads
``schedules/``), and ``bot/`` translates them with the reader's catalog. A message with values
is a :class:`Text`: the marked English template and its values, formatted after translation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Characters that show nothing or turn the text around: the control characters but tab and line
# breaks (C0, DEL, C1: NUL, which PostgreSQL's text cannot hold, among them), zero-width spaces
# and joiners' kin, the byte-order mark, soft hyphen, and the bidirectional controls (U+202A-E,
# U+2066-9) that let a name reverse the rest of a line. The zero-width joiner (U+200D) stays:
# emoji need it.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
                        "\u00ad\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064"
                        "\u2066-\u2069\ufeff]")


def visible_text(text: str) -> str:
    """``text`` without invisible and direction-changing characters, stripped.

    Notes and names are stored and shown through this, so that a zero-width space is no note
    and a right-to-left override cannot turn a line around.
    """
    return _INVISIBLE.sub("", text).strip()


def N_(message: str) -> str:
    """Mark ``message`` for extraction; return it unchanged (English, the message id)."""
    return message


@dataclass(frozen=True, eq=False)
class Text:
    """A message to translate later: an ``N_``-marked template and the values it names.

    ``str(text)`` is the English message; :meth:`translate` gives it in a reader's language.
    Two texts are equal when they read the same.
    """

    template: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.template.format(**self.params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.template, str(self)) == (other.template,
                                                                          str(other))

    def __hash__(self) -> int:
        return hash((self.template, str(self)))

    def translate(self, gettext: Callable[[str], str]) -> str:
        """The message in the language of ``gettext`` (translate first, then format).

        Values that are texts themselves (a noun such as "task") are translated too.
        """
        params = {name: value.translate(gettext) if isinstance(value, Text) else value
                  for name, value in self.params.items()}
        return gettext(self.template).format(**params)


class TextError(ValueError):
    """A ValueError whose message is a :class:`Text` (``text``), e.g. from a validator."""

    def __init__(self, template: str, **params: object) -> None:
        self.text = Text(template, params)
        super().__init__(str(self.text))
