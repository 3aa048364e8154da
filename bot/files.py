"""The files the commands write, and what to say when the system refuses one.

``duban export``, ``duban chart`` and ``duban ics`` follow the same rules for ``-o FILE``
(README, "Command line"; their ``--help`` says so too)::

    target = output_target(args.output, LEDGER, t, force=args.force)   # before any work
    ...
    write_output(target, data, t)                                       # whole or not at all

* **Extension.** The file name ends in the kind's extension (``.xlsx``, ``.png``, ``.ics``, in
  any case). A name without one gets it added (``-o 台账`` writes ``台账.xlsx``); a name with
  another one (``-o ledger.pdf``) is refused, naming the extension expected.
* **An existing file** is never replaced silently: the command refuses, naming it, unless
  ``--force`` (``-f``) is given; then it says it replaced it.
* **Standard output.** ``-o -`` writes to standard output: the calendar (text) always; the
  workbook and the image only when standard output is a file or a pipe, never a terminal.
  The line saying what was written then goes to standard error.
* **Whole or not at all.** The data are made first, then written to a temporary file beside
  the target and renamed onto it: a full disk or a refusal leaves no half file, and a replaced
  file stays as it was until the new one is complete.

A refusal, found beforehand or met while writing, is worded by
:func:`bot.oserrors.os_error_text` (which path, which user lacks which right, how to fix it),
like every other file error of the commands.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.configuration import USAGE, CliError
from bot.i18n import N_, Translator
from bot.oserrors import file_in_the_way, os_error_text

__all__ = ["CALENDAR", "CHART", "LEDGER", "STDOUT", "Output", "OutputKind", "check_writable",
           "output_target", "write_output"]

STDOUT = "-"
"""The ``-o`` value that means standard output."""


@dataclass(frozen=True)
class OutputKind:
    """What a command writes.

    Attributes:
        suffix: the file name's extension, lower case with its dot.
        what: what the file is (a msgid), e.g. "an Excel workbook".
        text: whether it is text, fit to show on a terminal.
    """

    suffix: str
    what: str
    text: bool


LEDGER = OutputKind(".xlsx", N_("the ledger is an Excel workbook"), text=False)
CHART = OutputKind(".png", N_("the chart is a PNG image"), text=False)
CALENDAR = OutputKind(".ics", N_("the calendar is an iCalendar file"), text=True)


@dataclass(frozen=True)
class Output:
    """Where a command writes: a checked file, or standard output (``path`` None)."""

    path: Path | None
    kind: OutputKind
    force: bool = False
    replaces: bool = False
    """Whether a file is there already (and ``force`` was given)."""

    def shown(self, t: Translator) -> str:
        """The target for messages: its path, or "standard output"."""
        return str(self.path) if self.path is not None else t.gettext("standard output")

    def replaced_note(self, t: Translator) -> str:
        """" It replaced the file that was there." when it did (``--force``), else ""."""
        return (" " + t.gettext("It replaced the file that was there.")) if self.replaces \
            else ""

    @property
    def report_stream(self) -> TextIO:
        """Where the line saying what was written goes: standard error when the data go to
        standard output, so that it does not mix with them."""
        return sys.stderr if self.path is None else sys.stdout


def _refusal(t: Translator, number: int, path: Path, suffix: str = "") -> CliError:
    """A usage error for a target that cannot be written, in :func:`os_error_text`'s words."""
    error = OSError(number, os.strerror(number), str(path))
    return CliError(os_error_text(t, error, path, "write", suffix), status=USAGE)


def check_writable(path: Path, t: Translator, suffix: str = "") -> Path:
    """``path`` if a file can be made or replaced there; otherwise a usage error saying why
    (the same words as the system's refusal would get from :func:`os_error_text`).

    ``suffix``: the extension of the file meant, for the example a folder's refusal gives.
    """
    absolute = path.absolute()
    folder = absolute.parent
    if path.is_dir():
        raise _refusal(t, errno.EISDIR, path, suffix)
    if file_in_the_way(absolute) is not None:
        raise _refusal(t, errno.ENOTDIR, path, suffix)
    if not folder.is_dir():
        raise _refusal(t, errno.ENOENT, path, suffix)
    if not os.access(folder, os.W_OK | os.X_OK) or (absolute.exists()
                                                     and not os.access(absolute, os.W_OK)):
        raise _refusal(t, errno.EACCES, path, suffix)
    return path


def output_target(given: str, kind: OutputKind, t: Translator, *, force: bool = False,
                  stdout_is_terminal: bool | None = None) -> Output:
    """Where ``-o given`` writes, checked before any work (the module docstring's rules).

    Args:
        given: the ``-o`` value: a path, or ``-`` for standard output.
        kind: what is written.
        t: the reader's translator.
        force: ``--force``: replace an existing file.
        stdout_is_terminal: whether standard output is a terminal (default: ask it).

    Raises:
        CliError: (usage) binary data to a terminal, another extension, an existing file
            without ``force``, a folder that does not exist or may not be written.
    """
    if given == STDOUT:
        if stdout_is_terminal is None:
            stdout_is_terminal = sys.stdout.isatty()
        if stdout_is_terminal and not kind.text:
            raise CliError(t.gettext(
                "-o - writes to standard output, which is a terminal here, and {what}: "
                "redirect it into a file (-o - > FILE{suffix}) or give -o FILE{suffix}.").format(
                what=t.gettext(kind.what), suffix=kind.suffix), status=USAGE)
        return Output(None, kind)
    path = Path(given)
    if given.endswith(("/", os.sep)) and not path.is_dir():  # a folder meant, not there
        raise _refusal(t, errno.ENOENT, path / f"duban{kind.suffix}", kind.suffix)
    if not path.is_dir():
        if not path.suffix:
            path = path.with_name(path.name + kind.suffix)
        elif path.suffix.lower() != kind.suffix:
            raise CliError(t.gettext(
                "Cannot write {path}: {what}; its name must end in {suffix}, e.g. {example}."
            ).format(path=given, what=t.gettext(kind.what), suffix=kind.suffix,
                     example=path.with_suffix(kind.suffix)), status=USAGE)
    check_writable(path, t, kind.suffix)
    exists = path.exists()
    if exists and not force:
        raise _refusal(t, errno.EEXIST, path, kind.suffix)
    return Output(path, kind, force, replaces=exists)


def write_output(output: Output, data: bytes, t: Translator) -> None:
    """Write ``data`` to the output, whole or not at all.

    A file is written to a temporary file beside it (made with the usual permissions, the
    umask applied, or those of the file it replaces), then renamed onto it; a symbolic link is
    followed (the file it points to is replaced). Without ``force`` a file that appeared
    meanwhile is not replaced.

    Raises:
        CliError: the system refused (:func:`os_error_text`); no file is left half written.
    """
    if output.path is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = output.path
    if path.is_symlink():  # replace the file the link points to, not the link
        path = path.resolve()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        if path.exists():  # a replaced file keeps its permissions (a shared folder's group)
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        if not output.force and path.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise CliError(os_error_text(t, exc, path)) from None
