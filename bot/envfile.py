"""The settings file as written: lines python-dotenv cannot read and names duban does not know.

python-dotenv skips a line it cannot parse with an English log line, and pydantic-settings
ignores a name it does not know: a misspelt ``DUBAN_ADMIN`` would be lost without a word.
:func:`env_file_findings` names both, translatable; ``duban check`` reports them as problems and
every other command as warnings (:func:`bot.configuration.read_settings`).
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass
from pathlib import Path

from bot.i18n import Translator
from bot.settings import ENV_FILE_VARIABLE, VARIABLES
from schedules.text import N_, Text

__all__ = ["Finding", "env_file_findings", "note", "problem"]


@dataclass(frozen=True)
class Finding:
    """One thing ``duban check`` says: ``problem`` (exit 1) or a note; ``text`` translatable."""

    text: Text | str  # a str is already translated (a line made by bot.configuration)
    problem: bool

    def line(self, t: Translator) -> str:
        return self.text if isinstance(self.text, str) else self.text.translate(t.gettext)


def problem(template: str, **params: object) -> Finding:
    return Finding(Text(template, params), True)


def note(template: str, **params: object) -> Finding:
    return Finding(Text(template, params), False)


def env_file_findings(path: Path) -> list[Finding]:
    """Lines of the settings file that duban cannot read, and names it does not know.

    A line python-dotenv cannot parse is ignored by it with an English log line; an unknown
    name (``DUBAN_ADMIN`` for ``DUBAN_ADMINS``) is ignored silently. Both are problems here,
    with the closest known name (difflib) when there is one.
    """
    from dotenv.parser import parse_stream

    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [problem(N_("{file}: not UTF-8 text; save it as UTF-8"), file=path)]
    except OSError:
        return []  # unreadable: find_env_file already said so
    known = set(VARIABLES.values())
    findings: list[Finding] = []
    for binding in parse_stream(io.StringIO(content)):
        original = binding.original.string
        line = binding.original.line + len(original) - len(original.lstrip("\n"))
        if binding.error:
            findings.append(problem(
                N_("{file}:{line}: cannot read {text!r}; write NAME=value, one per line (quote "
                   "a value that has spaces or #, e.g. NAME=\"a b\")"),
                file=path, line=line, text=original.strip()[:60]))
            continue
        key = binding.key
        if key is None or key.upper() in known:
            continue
        if key == ENV_FILE_VARIABLE:
            findings.append(problem(
                N_("{file}:{line}: {key} is read from the environment only (it names this "
                   "file); remove the line"), file=path, line=line, key=key))
            continue
        close = difflib.get_close_matches(key.upper(), sorted(known), n=1, cutoff=0.6)
        if close:
            findings.append(problem(
                N_("{file}:{line}: unknown setting {key}; did you mean {suggestion}? As "
                   "written it is ignored"), file=path, line=line, key=key,
                suggestion=close[0]))
        else:
            findings.append(problem(
                N_("{file}:{line}: unknown setting {key}, ignored; the settings are listed in "
                   "the README (Configuration) and in .env.example"),
                file=path, line=line, key=key))
    return findings


