"""Load ``data/tasks.yaml`` into a :class:`~schedules.model.Timetable`, reporting every problem.

Usage::

    from schedules.loader import TimetableError, load_timetable

    try:
        timetable = load_timetable("data/tasks.yaml")
    except TimetableError as exc:
        for problem in exc.problems:
            print(problem)  # data/tasks.yaml:212: tasks[17].lead_units[1]: unknown unit ...

The file is read in three passes, and the problems of all three are reported together:

1. PyYAML composes the document. A syntax error stops here (nothing else can be trusted); a
   duplicate key, which PyYAML would silently resolve by keeping the last one, is a problem. The
   composed nodes give every field path (``("tasks", 3, "lead_units", 0)``) its line number.
2. pydantic validates the data against the model; its errors are translated into plain messages
   at the line of the field (or of the nearest enclosing field when the field itself is missing).
3. Cross-references are checked on the raw data: duplicate ids, unknown units, groups, spellings
   that name two units, a unit listed twice in one task or measure.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from schedules.model import UNIT_ID_PATTERN, Timetable, UnitKind, normalise_name
from schedules.text import N_, Text, TextError

Message = str | Text | tuple[Text, ...]
"""A problem's message: English text, or marked :class:`Text` parts that ``bot/`` translates."""

FieldPath = tuple[str | int, ...]
"""Where a value sits in the document, e.g. ``("tasks", 3, "lead_units", 0)``."""

_ROLE_FIELDS = ("lead_units", "joint_units", "cooperating_units")
_TOP_LEVEL_KEYS = ", ".join(Timetable.model_fields)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the timetable file, located as precisely as possible.

    Attributes:
        file: The file name as given to the loader, e.g. ``data/tasks.yaml``.
        line: The 1-based line number, or None when the problem has no place in the file.
        field: The field path, e.g. ``tasks[17].lead_units[1]``; empty for the whole file.
        message: What is wrong and, where possible, how to fix it.
    """

    file: str
    line: int | None
    field: str
    message: Message

    def __str__(self) -> str:
        return self.translate(lambda message: message)

    def translate(self, gettext: Callable[[str], str]) -> str:
        """The problem as one ``file:line: field: message`` line, the message via ``gettext``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        message = "".join(part.translate(gettext) if isinstance(part, Text) else gettext(part)
                          for part in _parts(self.message))
        if self.field:
            return f"{where}: {self.field}: {message}"
        return f"{where}: {message}"


def _parts(message: Message) -> tuple[str | Text, ...]:
    return message if isinstance(message, tuple) else (message,)


def _m(template: str, **params: object) -> Text:
    """A message to translate later: an ``N_``-marked template and its values."""
    return Text(template, params)


class TimetableError(Exception):
    """The timetable file cannot be used; ``problems`` lists everything found wrong with it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def load_timetable(path: str | Path) -> Timetable:
    """Read and validate a timetable file.

    Args:
        path: The YAML file, normally ``data/tasks.yaml``; problems name it as given here.

    Returns:
        The validated timetable.

    Raises:
        TimetableError: The file cannot be read or is not a valid timetable; every problem
            found is listed, each with its line.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        problem = Problem(source, None, "", _m(N_("cannot read the file: {error}"),
                                               error=exc.strerror or exc))
        raise TimetableError([problem]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = Problem(source, line, "", _m(N_("the file is not UTF-8 text: save it as "
                                                  "UTF-8")))
        raise TimetableError([problem]) from exc
    return parse_timetable(text, source)


def parse_timetable(text: str, source: str) -> Timetable:
    """Validate the text of a timetable file.

    Args:
        text: The YAML text.
        source: The file name to put in problems, e.g. ``data/tasks.yaml``.

    Returns:
        The validated timetable.

    Raises:
        TimetableError: The text is not a valid timetable; every problem found is listed.
    """
    document = _read_yaml(text, source)
    problems = list(document.problems)
    data = document.data
    if not isinstance(data, dict):
        found = (_m(N_("the file is empty")) if data is None else
                 _m(N_("found a {kind}"), kind=_yaml_type_name(data)))
        problems.append(Problem(source, document.line_of(()), "", (found, _m(
            N_("; a timetable is a mapping with the keys {keys}"), keys=_TOP_LEVEL_KEYS))))
        raise TimetableError(_in_file_order(problems))

    timetable: Timetable | None = None
    try:
        timetable = Timetable.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = tuple(error["loc"])
            problems.append(Problem(source, document.line_of(path), _format_path(path),
                                    _describe_error(error, path)))

    checks = _CrossChecks(source, document)
    checks.run(data)
    problems.extend(checks.problems)

    if problems or timetable is None:
        raise TimetableError(_in_file_order(problems))
    return timetable


# -- pass 1: YAML ---------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """A SafeLoader that leaves an impossible date (2020-02-30) as text.

    PyYAML raises a bare ValueError for such a date, without a line; as text it reaches pydantic,
    whose error is then reported at the field's line.
    """


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


@dataclass
class _Document:
    """The constructed data, the line of every field path, and problems found while composing."""

    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: FieldPath) -> int | None:
        """The line of ``path``, else of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _read_yaml(text: str, source: str) -> _Document:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise TimetableError([_reader_problem(exc, text, source)]) from exc
    document = _Document(data=None)
    try:
        node = loader.get_single_node()
        if node is not None:
            # index first: constructing flattens merge keys ('<<') into the nodes in place
            _index_nodes(node, (), document, source, active=set())
            document.data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        raise TimetableError([_reader_problem(exc, text, source)]) from exc
    except yaml.MarkedYAMLError as exc:
        raise TimetableError([_syntax_problem(exc, text, source)]) from exc
    finally:
        loader.dispose()
    return document


def _index_nodes(node: yaml.Node, path: FieldPath, document: _Document, source: str,
                 active: set[int]) -> None:
    """Record the line of every field path under ``node`` and report duplicate keys."""
    if id(node) in active:  # an alias pointing back into its own anchor
        return
    document.lines.setdefault(path, node.start_mark.line + 1)
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first_seen:
                document.problems.append(Problem(
                    source, line, _format_path((*path, key)), _m(
                        N_("duplicate key '{key}' (first at line {first}); YAML would "
                           "silently keep only the last one, so remove or rename one of them"),
                        key=key, first=first_seen[key])))
            else:
                first_seen[key] = line
            document.lines[(*path, key)] = line  # the last one wins, as in the data
            _index_nodes(value_node, (*path, key), document, source, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            document.lines[(*path, index)] = item.start_mark.line + 1
            _index_nodes(item, (*path, index), document, source, active)
    active.discard(id(node))


_SYNTAX_HINTS = (
    ("found character '\\t'", N_("; indent with spaces, not tabs")),
    ("mapping values are not allowed here",
     N_("; check the indentation, and put a text containing ': ' in double quotes")),
    ("expected <block end>", N_("; check this line's indentation against the lines above it")),
    ("could not find expected ':'", N_("; a 'key: value' line may be missing its ':' or be "
                                       "indented wrongly")),
    ("found undefined alias", N_("; '*' starts an alias: put a text starting with '*' in "
                                 "quotes")),
    ("found unexpected end of stream", N_("; a quote or bracket is not closed")),
)


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, source: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    what = exc.problem or exc.context or "not valid YAML"
    # PyYAML's own words stay English; what duban adds is translated
    parts = [_m(N_("YAML syntax error: {what}"), what=what)]
    if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        parts.append(_m(N_(" ({context} at line {line})"), context=exc.context,
                        line=exc.context_mark.line + 1))
    hints = [hint for needle, hint in _SYNTAX_HINTS if needle in what]
    lines = text.splitlines()
    if line is not None and 0 < line <= len(lines) and "\t" in lines[line - 1] and not hints:
        hints.append(N_("; this line contains a tab: indent with spaces, not tabs"))
    if hints:
        parts.append(_m(hints[0]))
    return Problem(source, line, "", tuple(parts))


def _reader_problem(exc: yaml.reader.ReaderError, text: str, source: str) -> Problem:
    line = text[: exc.position].count("\n") + 1
    character = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return Problem(source, line, "", _m(N_("the file contains the unprintable character "
                                           "{character!r}: delete it"), character=character))


def _yaml_type_name(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "text" if isinstance(value, str) else type(value).__name__


# -- pass 2: pydantic's errors in plain words --------------------------------------------------


def _format_path(path: FieldPath) -> str:
    """``("tasks", 17, "lead_units", 1)`` -> ``tasks[17].lead_units[1]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _describe_error(error: ErrorDetails, path: FieldPath) -> Message:
    """A plain message for one pydantic error at ``path``."""
    kind = error["type"]
    value = error.get("input")
    context = error.get("ctx") or {}
    name = path[-1] if path else ""
    got = _m(N_(", got {value}"), value=_show(value))

    if kind == "missing":
        return _m(N_("missing required field '{name}'"), name=name)
    if kind == "extra_forbidden":
        return _unknown_field(path)
    message: tuple[Text, ...]
    if kind in ("int_parsing", "int_type", "int_from_float"):
        message = (_m(N_("expected a whole number")), got)
    elif kind in ("bool_parsing", "bool_type"):
        message = (_m(N_("expected true or false")), got)
    elif kind == "string_type":
        message = (_m(N_("expected text")), got)
        if isinstance(value, int | float) and not isinstance(value, bool):
            message += (_m(N_(' (put it in double quotes: "{value}")'), value=value),)
    elif kind in ("tuple_type", "list_type", "iterable_type", "dict_type") and name in (
            "holidays", "workdays"):
        message = (_m(N_("expected 'YYYY-MM-DD: reason' lines")), got)
    elif kind in ("tuple_type", "list_type", "iterable_type"):
        message = (_m(N_("expected a list such as [a, b]")), got)
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = (_m(N_("expected a mapping of 'field: value' lines")), got)
    elif kind.startswith("date_"):
        reason = context.get("error")
        because = f" ({reason})" if reason else ""  # pydantic's words
        message = (_m(N_("{value} is not a valid date{because}; write it as YYYY-MM-DD, e.g. "
                         "2020-05-11"), value=_show(value), because=because),)
    elif kind in ("value_error", "assertion_error"):
        cause = context.get("error")
        if isinstance(cause, TextError):
            message = (cause.text,)
        else:
            message = (_m(N_("{message}"), message=error["msg"].removeprefix(
                "Value error, ").removeprefix("Assertion failed, ")),)
    elif kind == "string_pattern_mismatch":
        message = (_pattern_message(context.get("pattern"), value, path),)
    elif kind == "too_short":
        message = (_m(N_("needs at least {count} entry"), count=context.get("min_length", 1)),)
    elif kind == "string_too_short":
        message = (_m(N_("must not be empty")),)
    elif kind in ("greater_than_equal", "less_than_equal"):
        bound = context.get("ge", context.get("le"))
        template = (N_("must be greater than or equal to {bound}")
                    if kind == "greater_than_equal" else N_("must be less than or equal to "
                                                            "{bound}"))
        message = (_m(template, bound=bound), got)
    elif kind in ("enum", "literal_error"):
        message = (_m(N_("must be {expected}"), expected=context.get("expected", "")), got)
    else:  # pydantic's own words
        message = (_m(N_("{message}"), message=error["msg"].replace(
            "Input should be", "must be")), got)
    hint = _extra_hint(kind, name, value)
    return (*message, hint) if hint is not None else message


def _extra_hint(kind: str, name: str | int, value: object) -> Text | None:
    if name == "hour" and _looks_like_clock_time(value):
        return _m(N_(" (write the time as two fields: hour: 9 and minute: 0)"))
    if name in ("timezone",) and kind == "value_error" and isinstance(value, str):
        from zoneinfo import available_timezones

        close = difflib.get_close_matches(value, sorted(available_timezones()), n=1, cutoff=0.8)
        if close:
            return _m(N_("; did you mean '{close}'?"), close=close[0])
    return None


def _looks_like_clock_time(value: object) -> bool:
    """Whether ``value`` is what YAML 1.1 makes of a time such as 9:00 or 09:00."""
    if isinstance(value, str):
        return re.fullmatch(r"\d{1,2}:\d{2}", value) is not None
    # 9:00 is read as a base-60 number: 540
    return isinstance(value, int) and not isinstance(value, bool) and value > 59


def _pattern_message(pattern: object, value: object, path: FieldPath) -> Text:
    if pattern == UNIT_ID_PATTERN:
        return _m(N_("{value} is not a valid unit id: use lower-case ASCII letters, digits and "
                     "'-', starting with a letter (e.g. ecology-environment)"), value=_show(value))
    if path[:1] == ("measures",):
        return _m(N_('{value} is not a valid measure id: write it like "3.1"'),
                  value=_show(value))
    return _m(N_("{value} does not match the pattern {pattern}"), value=_show(value),
              pattern=pattern)


def _unknown_field(path: FieldPath) -> Text:
    name = str(path[-1]) if path else ""
    model = _model_at(path[:-1])
    allowed = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.75)
    if close:
        return _m(N_("unknown field '{name}' (did you mean '{close}'?)"), name=name,
                  close=close[0])
    if allowed:
        return _m(N_("unknown field '{name}' (allowed here: {allowed})"), name=name,
                  allowed=", ".join(allowed))
    return _m(N_("unknown field '{name}'"), name=name)


def _model_at(path: FieldPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path``, if the path leads to one."""
    annotation: Any = Timetable
    for part in path:
        if isinstance(part, int):
            annotation = _item_type(annotation)
        else:
            model = _as_model(annotation)
            if model is None or part not in model.model_fields:
                return None
            annotation = model.model_fields[part].annotation
    return _as_model(annotation)


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``X | None`` down to ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _as_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _item_type(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (tuple, list):
        args = typing.get_args(annotation)
        return args[0] if args else None
    return None


def _show(value: object) -> str:
    """A short repr of a value for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- pass 3: cross-references -----------------------------------------------------------------


_SPELLING_WORDS = {"id": N_("id"), "name": N_("name"), "alias": N_("alias")}
_NOUNS = {"task": N_("task"), "measure": N_("measure")}


@dataclass
class _Spelling:
    unit_id: str
    what: str  # "id", "name" or "alias"
    text: str
    path: FieldPath


class _CrossChecks:
    """Checks that need the whole file: ids, unit references, groups and spellings.

    They run on the raw YAML data so that they report even when pydantic found problems
    elsewhere; anything of the wrong shape is skipped here because pydantic reports it.
    """

    def __init__(self, source: str, document: _Document) -> None:
        self.source = source
        self.document = document
        self.problems: list[Problem] = []
        self.unit_ids: set[str] = set()
        self.group_ids: set[str] = set()
        self.owner_of_spelling: dict[str, str] = {}

    def run(self, data: dict[str, Any]) -> None:
        """Run every check on the document's data."""
        units = data.get("units")
        if isinstance(units, list):
            self._check_units(units)
            self._check_members(units)
        for section, noun in (("tasks", "task"), ("measures", "measure")):
            entries = data.get(section)
            if not isinstance(entries, list):
                continue
            self._check_unique_ids(section, noun, entries)
            if isinstance(units, list):
                for index, entry in enumerate(entries):
                    if isinstance(entry, dict):
                        self._check_duties(section, noun, index, entry)

    def _report(self, path: FieldPath, message: Message) -> None:
        self.problems.append(Problem(self.source, self.document.line_of(path),
                                     _format_path(path), message))

    def _check_units(self, units: list[Any]) -> None:
        first_index: dict[str, int] = {}
        spellings: list[_Spelling] = []
        for index, unit in enumerate(units):
            if not isinstance(unit, dict) or not isinstance(unit.get("id"), str):
                continue
            unit_id = unit["id"]
            if unit_id in first_index:
                first_line = self.document.line_of(("units", first_index[unit_id], "id"))
                self._report(("units", index, "id"),
                             _m(N_("duplicate unit id '{id}' (first at line {line})"),
                                id=unit_id, line=first_line))
                continue
            first_index[unit_id] = index
            self.unit_ids.add(unit_id)
            if unit.get("kind") == UnitKind.GROUP.value:
                self.group_ids.add(unit_id)
            spellings.append(_Spelling(unit_id, "id", unit_id, ("units", index, "id")))
            if isinstance(unit.get("name"), str):
                spellings.append(_Spelling(unit_id, "name", unit["name"],
                                           ("units", index, "name")))
            aliases = unit.get("aliases")
            if isinstance(aliases, list):
                spellings.extend(_Spelling(unit_id, "alias", alias, ("units", index, "aliases", n))
                                 for n, alias in enumerate(aliases) if isinstance(alias, str))
        self._check_spellings(spellings)

    def _check_spellings(self, spellings: Iterable[_Spelling]) -> None:
        """Each spelling, compared as :meth:`Timetable.find_unit` compares, names one unit."""
        first: dict[str, _Spelling] = {}
        for spelling in spellings:
            key = normalise_name(spelling.text)
            earlier = first.get(key)
            if earlier is None:
                first[key] = spelling
                self.owner_of_spelling[key] = spelling.unit_id
            elif earlier.unit_id != spelling.unit_id:
                line = self.document.line_of(earlier.path)
                self._report(spelling.path, _m(
                    N_("{what} '{text}' of unit '{unit}' is already the {earlier} of unit "
                       "'{other}' (line {line}); a name or alias must name one unit only"),
                    what=_m(_SPELLING_WORDS[spelling.what]), text=spelling.text,
                    unit=spelling.unit_id, earlier=_m(_SPELLING_WORDS[earlier.what]),
                    other=earlier.unit_id, line=line))

    def _check_members(self, units: list[Any]) -> None:
        for index, unit in enumerate(units):
            if not isinstance(unit, dict) or not isinstance(unit.get("members"), list):
                continue
            seen: set[str] = set()
            for n, member in enumerate(unit["members"]):
                if not isinstance(member, str):
                    continue
                path: FieldPath = ("units", index, "members", n)
                if member in seen:
                    self._report(path, _m(N_("member '{member}' is listed twice"),
                                          member=member))
                elif member not in self.unit_ids:
                    self._report(path, self._unknown_unit(member))
                elif member in self.group_ids:
                    self._report(path, _m(N_("'{member}' is a group and a group cannot be a "
                                             "member of another group: list its members "
                                             "instead"), member=member))
                seen.add(member)

    def _check_unique_ids(self, section: str, noun: str, entries: list[Any]) -> None:
        first_index: dict[object, int] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or "id" not in entry:
                continue
            entry_id = entry["id"]
            if not isinstance(entry_id, str | int) or isinstance(entry_id, bool):
                continue
            if entry_id in first_index:
                first_line = self.document.line_of((section, first_index[entry_id], "id"))
                self._report((section, index, "id"),
                             _m(N_("duplicate {noun} id {id!r} (first at line {line})"),
                                noun=_m(_NOUNS[noun]), id=entry_id, line=first_line))
            else:
                first_index[entry_id] = index

    def _check_duties(self, section: str, noun: str, index: int, entry: dict[str, Any]) -> None:
        listed_in: dict[str, str] = {}
        for role in _ROLE_FIELDS:
            references = entry.get(role)
            if not isinstance(references, list):
                continue
            for n, reference in enumerate(references):
                if not isinstance(reference, str):
                    continue
                path: FieldPath = (section, index, role, n)
                if reference not in self.unit_ids:
                    self._report(path, self._unknown_unit(reference))
                elif reference in listed_in:
                    self._report(path, _m(N_("unit '{unit}' is listed twice in this {noun} "
                                             "(already in {role})"), unit=reference,
                                          noun=_m(_NOUNS[noun]), role=listed_in[reference]))
                else:
                    listed_in[reference] = role

    def _unknown_unit(self, reference: str) -> Text:
        owner = self.owner_of_spelling.get(normalise_name(reference))
        if owner is not None:
            if normalise_name(reference) == normalise_name(owner):
                return _m(N_("unit ids are written in lower case: write '{owner}'"), owner=owner)
            return _m(N_("write the id '{owner}' instead of its name '{reference}'"),
                      owner=owner, reference=reference)
        close = difflib.get_close_matches(reference, sorted(self.unit_ids), n=1, cutoff=0.6)
        if close:
            return _m(N_("unknown unit '{reference}'; did you mean '{close}'? Known units are "
                         "listed under 'units:'"), reference=reference, close=close[0])
        return _m(N_("unknown unit '{reference}'. Known units are listed under 'units:'"),
                  reference=reference)


def _in_file_order(problems: Iterable[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0))
