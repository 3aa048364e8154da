"""Settings and timetable loading shared by ``duban run``, the other CLI commands and the demo.

Each function prints what is wrong (in the CLI's language, to stderr) and returns None, so that
every command reports a bad configuration the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.i18n import Translator
from bot.settings import Settings
from schedules.loader import TimetableError, load_timetable
from schedules.model import Timetable
from storage import Store


def shipped_tasks_path() -> Path:
    """The project's timetable, ``data/tasks.yaml`` beside the ``bot`` package."""
    return Path(__file__).resolve().parents[1] / "data" / "tasks.yaml"


def default_tasks_path() -> Path:
    """``DUBAN_TASKS`` or ``data/tasks.yaml``."""
    return Path(os.environ.get("DUBAN_TASKS", "data/tasks.yaml"))


def read_settings(t: Translator) -> Settings | None:
    """The settings from the environment and ``.env``, or None after printing the problems."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        print(t.gettext("Invalid configuration:"), file=sys.stderr)
        for error in exc.errors():
            print(f"  {'.'.join(str(p) for p in error['loc'])}: {error['msg']}", file=sys.stderr)
        return None


def print_timetable_problems(exc: TimetableError, t: Translator) -> None:
    """Print every problem of a refused timetable, one ``file:line: field: message`` each."""
    print(t.gettext("The timetable has {count} problem(s); nothing was started:").format(
        count=len(exc.problems)), file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def read_timetable(path: Path, t: Translator) -> Timetable | None:
    """The validated timetable at ``path``, or None after printing why it cannot be used."""
    try:
        return load_timetable(path)
    except FileNotFoundError:
        print(t.gettext("Timetable file not found: {path}. Give the path as an argument or set "
                        "DUBAN_TASKS.").format(path=path), file=sys.stderr)
    except TimetableError as exc:
        print_timetable_problems(exc, t)
    return None


def open_store(settings: Settings) -> Store:
    """A store on the configured database (``DATABASE_URL`` or the default SQLite file)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return Store(url)
