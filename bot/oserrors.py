"""An operating system's refusal (``errno``) in the reader's language, with what to do.

Every file error of the commands goes through :func:`os_error_text`: ``duban export``,
``chart`` and ``ics`` (:mod:`bot.files`), ``duban db backup``, the database's file and folder
(:mod:`bot.configuration`) and the command line's last resort (:func:`bot.cli.main`). It names
the path, the user that lacks a right and who owns the place, and how to fix it; a rare error
it does not know keeps the system's own words after a translated lead::

    except OSError as exc:
        raise CliError(os_error_text(t, exc, target)) from None
    # 无法写入 /srv/out.xlsx：用户 duban 无权写入文件夹 /srv（所有者 root，权限 0755）。……
"""

from __future__ import annotations

import errno
import os
import pwd
import socket
from pathlib import Path

from bot.i18n import N_, Translator
from schedules.text import Text

__all__ = ["file_in_the_way", "file_mode", "file_owner", "listen_error", "os_error_text",
           "user_name"]


def user_name() -> str:
    """The name of the user this process runs as (its uid when it has none)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def file_owner(path: Path) -> str:
    """The owner's name of ``path`` (its uid when it has none)."""
    try:
        return path.owner()
    except (KeyError, OSError):
        return str(path.stat().st_uid)


def file_mode(path: Path) -> str:
    """``path``'s permission bits in octal, e.g. ``0755``."""
    return oct(path.stat().st_mode & 0o777)[2:].rjust(4, "0")


LEADS = {
    "write": N_("Cannot write {path}: {reason}"),
    "read": N_("Cannot read {path}: {reason}"),
    "use": N_("Cannot use {path}: {reason}"),
}
"""The first half of every file error, by what the command was doing."""


def os_error_text(t: Translator, exc: OSError, path: Path | str | None = None,
                  action: str = "write", suffix: str = "") -> str:
    """One line for an operating-system error, in the reader's language, saying what to do.

    Args:
        t: the reader's translator.
        exc: the error (its ``errno``, ``filename`` and ``strerror`` are read).
        path: the file the command was using (default: the error's own file name).
        action: ``"write"``, ``"read"`` or ``"use"``: the lead, "Cannot write {path}: ...".
        suffix: the extension of the file meant (for the example of a file name).

    Returns:
        "Cannot write PATH: REASON", the reason translated for the common errors (permission,
        missing folder, full disk, read-only file system, a folder where a file was meant, a
        file where a folder was meant, a file there already, a name too long, a file in use);
        for any other error the system's words and its code.
    """
    given = path if path is not None else exc.filename
    where = Path(given or "")
    shown = str(where) if given not in (None, "") else "?"  # "." is the working folder
    reason = _reason(t, exc.errno, where, action, suffix)
    if reason is None:
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        reason = t.gettext("the system refused: {error} ({code}).").format(
            error=exc.strerror or exc, code=code)
    return t.gettext(LEADS[action]).format(path=shown, reason=reason)


def _reason(t: Translator, number: int | None, path: Path, action: str,
            suffix: str) -> str | None:
    """The translated reason for ``errno`` ``number`` about ``path``; None when unknown."""
    absolute = path.absolute()
    if number in (errno.EACCES, errno.EPERM):
        denied = absolute if absolute.exists() else _existing_ancestor(absolute)
        try:
            owner, mode = file_owner(denied), file_mode(denied)
        except OSError:
            owner, mode = "?", "?"
        right = (t.gettext("read") if action == "read" else t.gettext("write in") if
                 denied.is_dir() else t.gettext("write"))
        return t.gettext(
            "user {user} may not {right} {denied} (it belongs to {owner}, mode {mode}). Use "
            "another place (e.g. the home folder), or ask the owner or an administrator to "
            "give {user} the right (chown or chmod).").format(
            user=user_name(), right=right, denied=denied, owner=owner, mode=mode)
    if number == errno.ENOENT:
        missing = _missing_folder(absolute)
        if missing is None:
            return t.gettext("there is no such file; check the name and the folder.")
        return t.gettext("the folder {folder} does not exist. Create it first (mkdir -p "
                         "{folder}), or give a file in an existing folder.").format(
            folder=missing)
    if number in (errno.ENOSPC, errno.EDQUOT):
        folder = _existing_ancestor(absolute)
        return t.gettext("the disk holding {folder} is full, or the user's quota is used up. "
                         "Free some space (df -h {folder} shows what is left), or write to "
                         "another disk.").format(folder=folder)
    if number == errno.EROFS:
        return t.gettext("{folder} is on a read-only file system (a write-protected disk, or "
                         "one mounted read-only). Write to another folder.").format(
            folder=_existing_ancestor(absolute))
    if number == errno.EISDIR:
        return t.gettext("it is a folder. Give a file name, e.g. {example}.").format(
            example=path / f"duban{suffix}")
    if number == errno.ENOTDIR:
        blocker = file_in_the_way(absolute)
        return t.gettext("{file} is a file, not a folder. Give a path made of folders, or "
                         "move that file away.").format(file=blocker or absolute.parent)
    if number == errno.EEXIST:
        return t.gettext("it exists already. Add --force (-f) to replace it, or give another "
                         "file name.")
    if number == errno.ENAMETOOLONG:
        return t.gettext("the name is too long for the file system. Give a shorter one.")
    if number in (errno.EBUSY, errno.ETXTBSY):
        return t.gettext("it is in use by another program. Close it there and try again.")
    return None


def _existing_ancestor(path: Path) -> Path:
    """The nearest of ``path``'s folders that exists (``path``'s own folder if it does)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _missing_folder(path: Path) -> Path | None:
    """``path``'s folder if it does not exist; None when it does (the file itself is
    missing)."""
    return None if path.parent.exists() else path.parent


def file_in_the_way(path: Path) -> Path | None:
    """The first of ``path``'s ancestors that is a file rather than a folder, if any."""
    for ancestor in reversed(path.parents):
        if ancestor.exists() and not ancestor.is_dir():
            return ancestor
    return None


LISTEN_REASONS = {
    errno.EADDRINUSE: N_("another program listens there already"),
    errno.EACCES: N_("a port below 1024 needs root: listen on a port from 1024 up, behind the "
                     "proxy, e.g. 127.0.0.1:8443"),
    errno.EADDRNOTAVAIL: N_("this machine has no such address: use 127.0.0.1 behind the proxy, "
                            "or one of the machine's own addresses"),
}
"""Why a webhook cannot listen, by errno (a translatable reason each)."""


def listen_error(exc: OSError) -> Text:
    """Why the webhook's socket could not be opened, as a text to translate: a port in use, a
    port below 1024 without root, an address the machine does not have, a host name that
    cannot be resolved; otherwise the system's own words and code."""
    if isinstance(exc, socket.gaierror):
        return Text(N_("the host name cannot be resolved: give an IP address such as "
                       "127.0.0.1"))
    reason = LISTEN_REASONS.get(exc.errno or 0)
    if reason is not None:
        return Text(reason)
    return Text(N_("the system refused: {error} ({code})"), {
        "error": exc.strerror or exc, "code": errno.errorcode.get(exc.errno or 0, exc.errno)})
