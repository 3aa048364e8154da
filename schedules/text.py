"""Marking domain strings for translation without translating them here.

The domain names things people read (skip reasons, timetable problems) but has no language: it
marks them with :func:`N_` so that ``pybabel extract -k N_`` finds them (``babel.cfg`` reads
``schedules/``), and ``bot/`` translates them with the reader's catalog. A message with values
is a :class:`Text`: the marked English template and its values, formatted after translation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


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
