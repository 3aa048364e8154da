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
* **Standard output by name.** ``/dev/stdout``, ``/dev/fd/1`` and ``/proc/self/fd/1`` are
  ``-``, whatever they resolve to (a terminal, a pipe, the file the shell redirected into).
* **A device or a pipe** that exists (``/dev/null``, ``/dev/stderr``, a named pipe) is
  written to directly, never a file made beside it; ``/dev/null`` takes the data and discards
  them. No file is ever made under ``/dev`` or ``/proc`` (a usage error).
* **A name is needed**: an empty ``-o ""`` (an unset ``$OUT``), one of blanks only, and a bare
  extension (``-o .xlsx``) are refused rather than replaced by a default name.
* **Whole or not at all.** The data are made first, then written to a temporary file beside
  the target and renamed onto it: a full disk or a refusal leaves no half file, and a replaced
  file stays as it was until the new one is complete.

A refusal, found beforehand or met while writing, is worded by
:func:`bot.oserrors.os_error_text` (which path, which user lacks which right, a read-only disk,
how to fix it), like every other file error of the commands.

Exit status (README, "Exit status"): a ``-o`` value that is wrong in itself (no name, another
extension, binary data to a terminal) is a usage error, 2; a file or folder the system refuses,
or a file there already without ``--force``, is a problem with files, 1.
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

from bot.configuration import FAILED, USAGE, CliError
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
    stream: bool = False
    """Whether ``path`` is a device or a pipe (written to directly, never replaced)."""

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
        return sys.stderr if self.path is None or self.stream else sys.stdout


def _refusal(t: Translator, number: int, path: Path, suffix: str = "") -> CliError:
    """A file problem (status 1) for a target that cannot be written, in
    :func:`os_error_text`'s words."""
    error = OSError(number, os.strerror(number), str(path))
    return CliError(os_error_text(t, error, path, "write", suffix), status=FAILED)


def read_only(folder: Path) -> bool:
    """Whether ``folder`` is on a file system mounted read-only (a refusal there is no
    matter of permissions: chmod would not help)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _is_stream(path: Path) -> bool:
    """Whether ``path`` (its link followed) is a character device, a pipe or a socket."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


_STANDARD_OUTPUT_NAMES = frozenset({"/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"})
_DEVICE_FOLDERS = ("/dev", "/proc")


def names_standard_output(given: str) -> bool:
    """Whether ``-o given`` names standard output (``/dev/stdout``, ``/dev/fd/1``,
    ``/proc/self/fd/1``, however spelt): it means ``-`` whatever it resolves to — a terminal,
    a pipe, or the file the shell redirected it into (``-o /dev/stdout > o.xlsx``)."""
    return os.path.normpath(given.strip()).replace("//", "/") in _STANDARD_OUTPUT_NAMES


def _device_folder(path: Path) -> str:
    """/dev or /proc when ``path`` lies under it (as written, or its folder resolved), else "":
    a file is never made there."""
    absolute = Path(os.path.normpath(path.absolute()))
    try:
        folder = absolute.parent.resolve()
    except (OSError, RuntimeError):
        folder = absolute.parent
    for root in _DEVICE_FOLDERS:
        if any(place == Path(root) or Path(root) in place.parents
               for place in (absolute, folder)):
            return root
    return ""


def _is_terminal(path: Path) -> bool:
    """Whether the device ``path`` is a terminal (opened without waiting, never adopted as
    the controlling terminal)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.isatty(descriptor)
    finally:
        os.close(descriptor)


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
        # access() says no for a read-only disk too: tell that apart, chmod would not help
        raise _refusal(t, errno.EROFS if read_only(folder) else errno.EACCES, path, suffix)
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
        CliError: a usage error (2) for no name, another extension or binary data to a
            terminal; a file problem (1) for an existing file without ``force``, a folder that
            does not exist, may not be written or is on a read-only disk.
    """
    if given == STDOUT or names_standard_output(given):
        if stdout_is_terminal is None:
            stdout_is_terminal = sys.stdout.isatty()
        _refuse_terminal(kind, t, stdout_is_terminal, given)
        return Output(None, kind)
    if not given.strip():
        raise CliError(t.gettext(
            "-o needs a file name, and {given!r} has none (an empty variable?): give -o "
            "FILE{suffix}, or -o - for standard output.").format(given=given,
                                                                 suffix=kind.suffix),
            status=USAGE)
    path = Path(given)
    if _is_stream(path):  # /dev/null, /dev/stderr, a named pipe: written to, never beside
        _refuse_terminal(kind, t, _is_terminal(path), given)
        return Output(path, kind, stream=True)
    devices = _device_folder(path)
    if devices:  # /dev/nothing: no file is ever made under /dev or /proc
        raise CliError(t.gettext(
            "Cannot write {path}: {folder} holds devices, not files. Give -o FILE{suffix}, "
            "or -o - for standard output.").format(path=given, folder=devices,
                                                  suffix=kind.suffix), status=USAGE)
    if path.name.lower() in (kind.suffix, kind.suffix.lstrip(".")) and not path.is_dir():
        raise CliError(t.gettext(
            "Cannot write {path}: the name is only the extension. Give a name before it, "
            "e.g. {example}.").format(path=given,
                                      example=path.with_name(f"duban{kind.suffix}")),
            status=USAGE)
    if given.endswith(("/", os.sep)) and not path.is_dir():  # a folder meant, not there
        raise _refusal(t, errno.ENOENT, path / f"duban{kind.suffix}", kind.suffix)
    if not path.is_dir():
        if not path.suffix:
            path = path.with_name(path.name + kind.suffix)
        elif path.suffix.lower() != kind.suffix:
            stem = Path(path.stem)  # a.xlsx.pdf: a.xlsx, not a.xlsx.xlsx
            example = (path.with_name(stem.name) if stem.suffix.lower() == kind.suffix
                       else path.with_suffix(kind.suffix))
            raise CliError(t.gettext(
                "Cannot write {path}: {what}; its name must end in {suffix}, e.g. {example}."
            ).format(path=given, what=t.gettext(kind.what), suffix=kind.suffix,
                     example=example), status=USAGE)
    check_writable(path, t, kind.suffix)
    exists = path.exists()
    if exists and not force:
        raise _refusal(t, errno.EEXIST, path, kind.suffix)
    return Output(path, kind, force, replaces=exists)


def _refuse_terminal(kind: OutputKind, t: Translator, terminal: bool, given: str) -> None:
    """A usage error when binary data would go to a terminal (``-o -`` or ``/dev/stdout``)."""
    if terminal and not kind.text:
        raise CliError(t.gettext(
            "-o {given} writes to standard output, which is a terminal here, and {what}: "
            "redirect it into a file (-o - > FILE{suffix}) or give -o FILE{suffix}.").format(
            given=given, what=t.gettext(kind.what), suffix=kind.suffix), status=USAGE)


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
    if output.stream:  # a device or a pipe: no temporary file, nothing to rename
        try:
            sys.stdout.flush()
            with open(path, "wb") as device:
                device.write(data)
        except OSError as exc:
            raise CliError(os_error_text(t, exc, path)) from None
        return
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
