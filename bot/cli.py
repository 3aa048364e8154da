"""The ``duban`` command line.

    duban check [PATH]                       validate the timetable and the configuration
    duban tasks [--unit UNIT] [--json]       list the tasks (of one unit or group)
    duban units [--json]                     list the units and groups
    duban plan --year 2026 [--unit U] [--json]   the reminder calendar (with delivery states)
    duban run [--webhook-url URL --listen HOST:PORT]   start the bot (polling, or a webhook)
    duban db upgrade                         create or upgrade the database schema
    duban db backup FILE                     copy the database into FILE (safe while running)
    duban db restore FILE [--replace]        put a backup back (stop the bot first)
    duban db copy FROM_URL                   copy another database (SQLite) into this one
    duban invite --unit 生态环境局 [--role contact|leader|admin]   a one-time enrolment link
    duban remind --dry-run [--at ISO-TIME]   what would be sent at that time, to whom
    duban export --year 2026 [-o FILE]       the ledger (台账) as an Excel workbook
    duban chart --year 2026 -o FILE.png [--by units]   a progress chart, per task or per unit
    duban ics --unit 农业农村局 -o FILE.ics [--year 2026]   a unit's due days as a calendar file
    duban demo                               the bot through one December cycle, offline

Every command reads the same settings (:func:`bot.settings.load_settings`: the environment over
the ``.env`` file). Exit status: 0 done; 1 the command could not do its work (configuration,
timetable, database, network, files), with one line per thing to fix; 2 the command line is
wrong (usage). Help and messages are in Simplified Chinese by default and in English when
``LANG`` (or ``LC_ALL`` / ``LC_MESSAGES``) starts with ``en``.

Heavy modules (the bot, the database layer, Excel) are imported inside the commands that use
them, so that ``duban --help`` starts quickly (``bench/bench_cli.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.configuration import (
    FAILED,
    USAGE,
    CliError,
    database,
    read_settings,
    read_timetable,
    settings_source,
    warn_if_env_file_is_readable,
)
from bot.i18n import N_, Translator, translator
from bot.oserrors import os_error_text
from schedules.years import FIRST_CYCLE, LAST_CYCLE, parse_number

if TYPE_CHECKING:  # imported where used: `duban --help` loads no pydantic (bench_cli)
    from bot.settings import Settings
    from schedules.calendar import WorkingDayCalendar
    from schedules.model import Assignment, Task, Timetable, Unit

Command = Callable[[argparse.Namespace, Translator], int]


def cli_translator() -> Translator:
    """The CLI's language, from ``LC_ALL`` / ``LC_MESSAGES`` / ``LANG`` (Chinese by default)."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return translator(value.split(".")[0])
    return translator(None)


def unit_label(t: Translator, unit: Unit) -> str:
    """A unit's name in the reader's language (English names for English output)."""
    return unit.name_en if t.language == "en" else unit.name


def _unit_ref(unit: Unit) -> dict[str, str]:
    return {"id": unit.id, "name": unit.name, "name_en": unit.name_en}


def _resolve_unit(timetable: Timetable, reference: str, t: Translator) -> Unit:
    unit = timetable.find_unit(reference)
    if unit is None:
        from bot.render import units_meant  # here: the renderer is not needed for --help

        similar = timetable.similar_units(reference)
        if similar:
            raise CliError(t.gettext("Unknown unit {ref!r}; did you mean {units}? Give one by "
                                     "its id, name or alias ('duban units' lists them).").format(
                ref=reference, units=units_meant(
                    t, [f"{unit_label(t, u)} ({u.id})" for u in similar])), status=USAGE)
        raise CliError(t.gettext("Unknown unit {ref!r}. Run 'duban units' to see ids, names and "
                                 "aliases.").format(ref=reference), status=USAGE)
    return unit


def task_json(timetable: Timetable, task: Task, duty: Assignment | None = None) -> dict[str, Any]:
    """One task as the JSON object of ``duban tasks --json``."""
    deadline: dict[str, Any] = {"kind": task.deadline.kind.value, "text": task.deadline.text}
    policy = timetable.policy_for(task)
    if task.deadline.year is not None:
        deadline["cutoff"] = policy.cutoff.in_year(task.deadline.year).isoformat()
    elif task.deadline.kind.value == "annual":
        deadline["cutoff_month_day"] = str(policy.cutoff)
    data: dict[str, Any] = {
        "id": task.id,
        "title": task.title,
        "items": list(task.items),
        "lead_units": [_unit_ref(timetable.unit(u)) for u in task.lead_units],
        "cooperating_units": [_unit_ref(timetable.unit(u)) for u in task.cooperating_units],
        "joint_units": [_unit_ref(timetable.unit(u)) for u in task.joint_units],
        "responsibility_text": task.responsibility_text,
        "deadline": deadline,
        "remark": task.remark,
        "expanded_units": [
            {**_unit_ref(timetable.unit(a.unit_id)), "role": a.role.value,
             "via_group": a.via_group}
            for a in timetable.responsible_units(task)
        ],
    }
    if duty is not None:
        data["role"] = duty.role.value
        data["via_group"] = duty.via_group
    return data


def _timetable(args: argparse.Namespace, t: Translator) -> tuple[Settings, Timetable]:
    """The settings, and the timetable of ``--tasks`` or ``DUBAN_TASKS`` (or the shipped one)."""
    settings = read_settings(t)
    path = Path(args.tasks) if getattr(args, "tasks", None) else settings.tasks_path
    return settings, read_timetable(path, t)


def cmd_check(args: argparse.Namespace, t: Translator) -> int:
    """Validate the timetable file and the configuration: the settings file, the token (never
    shown), the database (reached, never made) and the webhook's port."""
    from bot.checkup import (
        check_database,
        check_token,
        check_webhook_port,
        env_file_findings,
    )
    from bot.envfile import Finding
    from bot.reports.packages import missing_package_text, missing_packages
    from bot.settings import env_file_of

    settings = read_settings(t, warn=False)
    path = Path(args.path) if args.path else settings.tasks_path
    timetable = read_timetable(path, t)
    print(t.gettext("{path}: OK: {tasks} tasks, {units} units, {measures} measures.").format(
        path=path, tasks=len(timetable.tasks), units=len(timetable.units),
        measures=len(timetable.measures)))
    env_file = env_file_of(settings)
    findings = env_file_findings(env_file) if env_file is not None else []
    findings += [check_token(settings), check_database(settings, t)]
    findings += [Finding(missing_package_text(t, module), True)
                 for module in missing_packages()]
    webhook = check_webhook_port(settings, _bot_seems_running(settings)) \
        if settings.webhook_url else None
    if webhook is not None:
        findings.append(webhook)
    for finding in findings:
        print(("  " if not finding.problem else "") + finding.line(t),
              file=sys.stderr if finding.problem else sys.stdout)
    warn_if_env_file_is_readable(t, settings)
    problems = sum(finding.problem for finding in findings)
    if problems:
        print(t.ngettext("Configuration: {count} problem, from {source}.",
                         "Configuration: {count} problems, from {source}.", problems).format(
            count=problems, source=settings_source(t, settings)), file=sys.stderr)
        return FAILED
    print(t.gettext("Configuration: OK, from {source}.").format(
        source=settings_source(t, settings)))
    return 0


def _bot_seems_running(settings: Settings) -> bool:
    """Whether a ``duban run`` uses the configured database now (SQLite: its lock file;
    PostgreSQL: sessions named ``duban run``); False when that cannot be told."""
    from bot.instance import RUN_APPLICATION_NAME, is_locked

    if settings.sqlite_path is not None:
        return is_locked(settings.sqlite_path.absolute())
    from storage.backup import sessions_named

    try:
        return bool(sessions_named(settings.resolved_database_url, RUN_APPLICATION_NAME))
    except Exception:  # unreachable: check_database says so on its own line
        return False


def cmd_tasks(args: argparse.Namespace, t: Translator) -> int:
    """List the tasks, optionally of one unit or group."""
    _, timetable = _timetable(args, t)
    rows: list[tuple[Task, Assignment | None]]
    unit: Unit | None = None
    if args.unit:
        unit = _resolve_unit(timetable, args.unit, t)
        rows = list(timetable.tasks_for_unit(unit.id))
    else:
        rows = [(task, None) for task in timetable.tasks]
    if args.json:
        print(json.dumps([task_json(timetable, task, duty) for task, duty in rows],
                         ensure_ascii=False, indent=2))
        return 0
    for task, duty in rows:
        deadline = task.deadline.text or t.gettext("annual, judged on statistics data")
        line = f"{task.id:>2}. {task.title}  [{deadline}]"
        if duty is not None:
            line += "  " + t.gettext(role_label(duty.role.value))
            if duty.via_group:
                line += " " + t.gettext("(as a member of {group})").format(
                    group=unit_label(t, timetable.unit(duty.via_group)))
        print(line)
        for item in task.items:
            print(f"      {item}")
        print("      " + t.gettext("Responsible: {text}").format(text=task.responsibility_text))
    if unit is not None:
        if not rows:
            print(t.gettext("{unit} has no task in the timetable.").format(
                unit=unit_label(t, unit)))
        measures = timetable.measures_for_unit(unit.id)
        print()
        print(t.gettext("Measures of the plan's body ({count}):").format(count=len(measures)))
        for measure, role in measures:
            print(f"  {measure.id:<5} {measure.title}  {t.gettext(role_label(role.value))}")
    return 0


ROLE_LABELS = {"lead": N_("lead"), "joint": N_("joint"), "cooperating": N_("cooperating")}


def role_label(role: str) -> str:
    """The English message id of a role's label (translate it with gettext)."""
    return ROLE_LABELS[role]


def cmd_units(args: argparse.Namespace, t: Translator) -> int:
    """List the units and groups."""
    _, timetable = _timetable(args, t)
    if args.json:
        print(json.dumps([
            {"id": u.id, "name": u.name, "name_en": u.name_en, "aliases": list(u.aliases),
             "kind": u.kind.value, "members": list(u.members),
             "groups": [g.id for g in timetable.groups_of(u.id)],
             "tasks": [task.id for task, _ in timetable.tasks_for_unit(u.id)],
             "measures": [m.id for m, _ in timetable.measures_for_unit(u.id)]}
            for u in timetable.units], ensure_ascii=False, indent=2))
        return 0
    for u in timetable.units:
        name = u.name if t.language != "en" else f"{u.name_en} ({u.name})"
        extra = ""
        if u.aliases:
            extra = "  " + t.gettext("aliases: {aliases}").format(aliases=", ".join(u.aliases))
        if u.members:
            extra += "  " + t.gettext("members: {count}").format(count=len(u.members))
        print(f"{u.id:<28} {name}{extra}")
    return 0


# -- the reminder calendar -----------------------------------------------------------------

KIND_LABELS = {"before": N_("before"), "overdue": N_("overdue"), "digest": N_("digest"),
               "ack": N_("not acknowledged")}
DELIVERY_STATES = {"pending": N_("pending"), "sending": N_("sending"), "sent": N_("sent"),
                   "failed": N_("failed"), "skipped": N_("skipped")}


def quiet_calendar_log() -> None:
    """Keep the calendar's English log warning out of the CLI: it prints its own, translated."""
    quiet_log("schedules.calendar")


def quiet_log(name: str) -> None:
    """Keep logger ``name``'s English lines (meant for the bot's log) off a command's standard
    error, where the command says the same in the reader's language."""
    logger = logging.getLogger(name)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def warn_calendar_fallback(calendar: WorkingDayCalendar, t: Translator) -> None:
    """Say which years were planned without holiday data, and how to correct them."""
    for year in sorted(calendar.fallback_years):
        print(t.gettext(
            "Warning: the chinesecalendar package has no holidays for {year} yet, so Monday to "
            "Friday count as working days. Upgrade it (pip install -U chinesecalendar), or add "
            "the year's holidays and make-up working days under 'calendar:' in the timetable "
            "(see the README).").format(year=year), file=sys.stderr)


def _stored_deliveries(settings: Settings, t: Translator, year: int
                       ) -> dict[tuple[Any, ...], list[Any]]:
    """The database's delivery rows of ``year`` by plan key; empty when there is no database.

    Reads only: no database is created, no schema upgraded.
    """
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        return {}
    try:
        with database(settings, t) as store:
            rows = store.reminders_for_cycle(year)
    except CliError as exc:  # an unreachable server must not hide the plan itself
        print(t.gettext("Delivery states unavailable: {error}").format(error=exc.lines[0]),
              file=sys.stderr)
        return {}
    found: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        found.setdefault((row.task_id, row.unit_id, row.cycle, row.kind, row.offset_days),
                         []).append(row)
    return found


def _state_text(t: Translator, rows: list[Any] | None, closed: bool) -> str:
    if rows is None:
        return t.gettext("not sent: the cycle is closed") if closed else t.gettext(
            "not planned yet")
    parts = []
    for row in rows:
        state = t.gettext(DELIVERY_STATES.get(row.state, row.state))
        reason = t.gettext(row.reason) if row.reason else ""
        parts.append(f"{state} ({reason})" if reason and row.state != "sent" else state)
    return "; ".join(parts)


def cmd_plan(args: argparse.Namespace, t: Translator) -> int:
    """Print the reminder calendar of a cycle year with each delivery's state."""
    from schedules.calendar import WorkingDayCalendar
    from schedules.clock import SystemClock
    from schedules.model import UnitKind
    from schedules.planning import current_cycle, plan_reminders

    settings, timetable = _timetable(args, t)
    unit_ids: set[str] | None = None
    if args.unit:
        unit = _resolve_unit(timetable, args.unit, t)
        unit_ids = set(unit.members) if unit.kind is UnitKind.GROUP else {unit.id}
    calendar = WorkingDayCalendar()
    plan = [r for r in plan_reminders(timetable, args.year, calendar)
            if unit_ids is None or r.unit_id in unit_ids]
    warn_calendar_fallback(calendar, t)
    stored = _stored_deliveries(settings, t, args.year)
    closed = args.year < current_cycle(timetable, SystemClock(settings.zone).now().date())
    if args.json:
        print(json.dumps([
            {"at": r.at.isoformat(), "task_id": r.task_id, "unit_id": r.unit_id,
             "unit_name": timetable.unit(r.unit_id).name if r.unit_id else None,
             "kind": r.kind.value, "offset_days": r.offset_days,
             "role": r.role.value if r.role else None, "cutoff": r.cutoff.isoformat(),
             "cycle_closed": closed,
             "deliveries": [
                 {"chat_id": d.chat_id, "state": d.state, "reason": d.reason,
                  "message_id": d.message_id,
                  "sent_at": d.sent_at.isoformat() if d.sent_at else None}
                 for d in stored.get(r.key, [])]}
            for r in plan], ensure_ascii=False, indent=2))
        return 0
    if closed:
        print(t.gettext("The {year} cycle is closed: nothing of it will be sent any more. Its "
                        "calendar, with what was sent:").format(year=args.year))
    if not plan:
        print(t.gettext("No reminders in {year}.").format(year=args.year))
    for r in plan:
        who = (unit_label(t, timetable.unit(r.unit_id)) if r.unit_id
               else t.gettext("leadership group"))
        task = t.gettext("task {number}").format(number=r.task_id) if r.task_id else "-"
        kind = t.gettext(KIND_LABELS[r.kind.value])
        print(f"{r.at:%Y-%m-%d %H:%M %Z}  {_pad(kind, 8)} {_pad(task, 10)} {who}  "
              f"[{_state_text(t, stored.get(r.key), closed)}]")
    return 0


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (CJK characters take two)."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - used, 0)


# -- running the bot -------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace, t: Translator) -> int:
    """Start the bot: long polling, or a webhook with ``--webhook-url``."""
    from bot.running import run_bot

    settings = read_settings(t)
    changes: dict[str, object] = {}
    if args.webhook_url:
        changes["webhook_url"] = args.webhook_url
    if args.listen:
        changes["webhook_listen"] = args.listen
    if changes:
        settings = settings.model_copy(update=changes)
    if args.listen and not settings.webhook_url:
        raise CliError(t.gettext("--listen is the webhook's address: give --webhook-url (or "
                                 "DUBAN_WEBHOOK_URL) too."), status=USAGE)
    if args.drop_webhook and settings.webhook_url:
        raise CliError(t.gettext("--drop-webhook is for long polling; a webhook run sets its "
                                 "own webhook."), status=USAGE)
    warn_if_env_file_is_readable(t, settings)
    return run_bot(settings, t, drop_webhook=args.drop_webhook)


def cmd_db(args: argparse.Namespace, t: Translator) -> int:
    """The database: upgrade its schema, back it up, restore a backup."""
    settings = read_settings(t)
    if args.action == "backup":
        return _db_backup(args, settings, t)
    if args.action == "restore":
        return _db_restore(args, settings, t)
    if args.action == "copy":
        return _db_copy(args, settings, t)
    existed = settings.sqlite_path.exists() if settings.sqlite_path is not None else True
    with database(settings, t, create=True, upgrade=True) as store:
        revision = store.current_revision()
    where = _where(settings)
    if not existed:
        print(t.gettext("Created the database {where}.").format(where=where))
    print(t.gettext("Database {where}: schema at revision {rev}.").format(where=where,
                                                                          rev=revision))
    return 0


def _where(settings: Settings) -> str:
    """The configured database for messages: the SQLite file, or the URL without password."""
    from bot.configuration import safe_url

    if settings.sqlite_path is not None:
        return str(settings.sqlite_path.absolute())
    return safe_url(settings.resolved_database_url)


def _counts_text(t: Translator, counts: dict[str, int]) -> str:
    """What a database holds, each count with its word in the right plural form."""
    people, invites, groups, reports, reminders = (counts.get(table, 0) for table in (
        "person", "invite", "leadership_chat", "status_report", "reminder"))
    return t.gettext("{people}, {invites}, {groups}, {reports}, {reminders}").format(
        people=t.ngettext("{n} person", "{n} people", people).format(n=people),
        invites=t.ngettext("{n} invitation", "{n} invitations", invites).format(n=invites),
        groups=t.ngettext("{n} group", "{n} groups", groups).format(n=groups),
        reports=t.ngettext("{n} report", "{n} reports", reports).format(n=reports),
        reminders=t.ngettext("{n} reminder", "{n} reminders", reminders).format(n=reminders))


def _backup_error(exc: Exception, settings: Settings, t: Translator) -> CliError:
    """One line for a failed backup or restore (:class:`storage.backup.BackupError`)."""
    from storage.backup import BackupError

    assert isinstance(exc, BackupError)
    details = exc.details
    if exc.reason == "no_database":
        return CliError(t.gettext("There is no database at {path} to back up (DUBAN_DATA_DIR, "
                                  "DATABASE_URL).").format(path=details["path"]))
    if exc.reason == "tool_missing":
        return CliError(t.gettext(
            "{tool} is not installed; a PostgreSQL database is backed up and restored with the "
            "PostgreSQL client tools (apt-get install postgresql-client, the server's major "
            "version or newer).").format(tool=details["tool"]))
    if exc.reason == "tool_failed":
        return CliError(t.gettext("{tool} failed: {error}").format(tool=details["tool"],
                                                                   error=details["error"]))
    if exc.reason == "wrong_kind":
        template = (N_("{path} is a PostgreSQL dump, but the database is SQLite ({where}).")
                    if details["kind"] == "pg_dump" else
                    N_("{path} is a SQLite backup, but the database is PostgreSQL ({where})."))
        return CliError(t.gettext(template).format(path=details["path"],
                                                   where=_where(settings)))
    if exc.reason == "not_empty":
        counts = details["counts"]
        assert isinstance(counts, dict)
        return CliError(t.gettext(
            "The database {where} already holds {counts}. Stop the bot, then add --replace to "
            "overwrite it with the backup.").format(where=_where(settings),
                                                    counts=_counts_text(t, counts)))
    if exc.reason == "too_new":
        from storage import head_revision

        return CliError(t.gettext(
            "{path} holds schema revision {revision}, which this duban does not know (its "
            "newest is {head}): it was made by a newer duban. Nothing was changed. Restore it "
            "with that version of duban.").format(path=details["path"],
                                                  revision=details["revision"],
                                                  head=head_revision()))
    if exc.reason == "is_database":
        return CliError(t.gettext(
            "{path} is the database itself (or its journal); a backup there would be lost with "
            "the next change. Name another file.").format(path=details["path"]))
    if exc.reason == "damaged":
        return CliError(t.gettext(
            "The copy failed SQLite's check ({error}): the database may be damaged; keep the "
            "last good backup.").format(error=details["error"]))
    return CliError(t.gettext("{path} is not a backup of duban's database (made by 'duban db "
                              "backup').").format(path=details.get("path", "?")))


def _db_backup(args: argparse.Namespace, settings: Settings, t: Translator) -> int:
    from bot.files import check_writable
    from storage.backup import BackupError, backup_database

    target = check_writable(Path(args.file), t)
    try:
        info = backup_database(settings.resolved_database_url, target)
    except BackupError as exc:
        raise _backup_error(exc, settings, t) from None
    except OSError as exc:
        raise CliError(os_error_text(t, exc, exc.filename or target)) from None
    print(t.gettext("Backed up {where} to {file} ({size} bytes): schema revision {rev}, "
                    "{counts}.").format(where=_where(settings), file=target, size=info.size,
                                        rev=info.revision or "?",
                                        counts=_counts_text(t, info.counts)))
    return 0


def _db_restore(args: argparse.Namespace, settings: Settings, t: Translator) -> int:
    from storage.backup import BackupError, restore_database

    source = Path(args.file)
    if not source.is_file():
        raise CliError(t.gettext("Cannot read {path}: there is no such file.").format(
            path=source))  # a problem with files: 1, as README says
    with _no_bot_running(settings, t):
        try:
            info = restore_database(settings.resolved_database_url, source,
                                    replace=args.replace)
        except BackupError as exc:
            raise _backup_error(exc, settings, t) from None
        with database(settings, t, create=True, upgrade=True) as store:  # an older backup
            revision = store.current_revision()
    print(t.gettext("Restored {file} into {where}: {counts}; schema at revision {rev} (was "
                    "{old} in the backup).").format(
        file=source, where=_where(settings), counts=_counts_text(t, info.counts),
        rev=revision, old=info.revision or "?"))
    return 0


def _db_copy(args: argparse.Namespace, settings: Settings, t: Translator) -> int:
    """Copy another duban database (FROM_URL) into the configured, empty one."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.configuration import database_error, safe_url, url_hint
    from bot.instance import is_locked
    from storage import head_revision
    from storage.copy import CopyError, copy_database

    source = args.source
    url_hint(source, t)
    if source.startswith("sqlite:///"):
        source_file = Path(source[len("sqlite:///"):].split("?", 1)[0])
        if not source_file.is_file():
            raise CliError(t.gettext("There is no database at {path} to copy from.").format(
                path=source_file))
        if is_locked(source_file.absolute()):
            raise CliError(t.gettext(
                "The bot is running on {path}: stop it first (systemctl stop duban), so that "
                "the copy is whole.").format(path=source_file))
    with _no_bot_running(settings, t):
        with database(settings, t, create=True, upgrade=True):
            pass  # the target's tables, at the newest revision
        try:
            counts = copy_database(source, settings.resolved_database_url)
        except CopyError as exc:
            if exc.reason == "same":
                raise CliError(t.gettext("{source} is the configured database itself.").format(
                    source=safe_url(source)), status=USAGE) from None
            if exc.reason == "not_empty":
                rows = ", ".join(f"{name} {count}" for name, count in exc.counts.items())
                raise CliError(t.gettext(
                    "The database {where} already holds rows ({rows}): the copy goes into an "
                    "empty database only. Nothing was copied.").format(
                    where=_where(settings), rows=rows)) from None
            which = source if exc.reason == "source_revision" else \
                settings.resolved_database_url
            raise CliError(t.gettext(
                "{url} is at schema revision {revision}, not {head}: bring it up to date first "
                "(DATABASE_URL={url} duban db upgrade). Nothing was copied.").format(
                url=safe_url(which), revision=exc.revision or "-",
                head=head_revision())) from None
        except SQLAlchemyError as exc:
            raise database_error(exc, settings.resolved_database_url, t) from None
    print(t.gettext("Copied {source} into {where}: {rows}.").format(
        source=safe_url(source), where=_where(settings),
        rows=", ".join(f"{name} {count}" for name, count in counts.items())))
    return 0


@contextlib.contextmanager
def _no_bot_running(settings: Settings, t: Translator) -> Iterator[None]:
    """Refuse while ``duban run`` uses the database; hold it off for the block.

    SQLite: the lock file of :mod:`bot.instance`, held for the block (a bot that starts
    meanwhile waits for nothing: it is refused). PostgreSQL: sessions named ``duban run`` in
    ``pg_stat_activity``.
    """
    from bot.configuration import (
        check_sqlite_location,
        database_error,
        permission_error,
        several_names_error,
    )
    from bot.instance import (
        RUN_APPLICATION_NAME,
        InstanceBusy,
        SeveralNames,
        sqlite_instance_lock,
    )
    from storage.backup import sessions_named

    if settings.sqlite_path is None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            pids = sessions_named(settings.resolved_database_url, RUN_APPLICATION_NAME)
        except SQLAlchemyError as exc:
            raise database_error(exc, settings.resolved_database_url, t) from None
        if pids:
            raise CliError(t.gettext(
                "The bot is running on {where} (PostgreSQL sessions of 'duban run', server "
                "pids {pids}): stop every instance first (systemctl stop duban), then restore."
            ).format(where=_where(settings), pids=", ".join(map(str, pids))))
        yield
        return
    database_file = settings.sqlite_path.absolute()
    check_sqlite_location(database_file, t, create=True)
    try:
        with sqlite_instance_lock(database_file, "restore"):
            yield
    except InstanceBusy as busy:
        raise CliError(t.gettext(
            "The bot is running on {path} (duban run, pid {pid}; lock file {lock}): stop it "
            "first (systemctl stop duban), then restore.").format(
            path=database_file, pid=busy.pid if busy.pid is not None else "?",
            lock=busy.path)) from None
    except SeveralNames as linked:
        raise several_names_error(linked.path, linked.links, t) from None
    except PermissionError as exc:
        raise permission_error(exc, t) from None


# -- invitations -------------------------------------------------------------------------------

BOT_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")


def _bot_username(args: argparse.Namespace, settings: Settings, t: Translator) -> str:
    """``--bot-username``, ``TELEGRAM_BOT_USERNAME``, or the bot's own answer to getMe."""
    given = args.bot_username or settings.telegram_bot_username
    if given:
        username = str(given).strip().lstrip("@")
        if not BOT_USERNAME.fullmatch(username):
            raise CliError(t.gettext(
                "{name!r} is not a bot username: 5-32 letters, digits and '_', e.g. "
                "duban_bot (from --bot-username or TELEGRAM_BOT_USERNAME).").format(
                name=username), status=USAGE)
        return username
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        raise CliError(t.gettext(
            "The link needs the bot's username: give --bot-username, or set "
            "TELEGRAM_BOT_USERNAME or TELEGRAM_BOT_TOKEN (duban then asks Telegram)."),
            status=USAGE)
    from bot.running import ask_bot_username

    return ask_bot_username(settings, t)


def cmd_invite(args: argparse.Namespace, t: Translator) -> int:
    """Create a one-time enrolment link."""
    from schedules.model import UnitKind

    settings, timetable = _timetable(args, t)
    days = args.days if args.days is not None else settings.invite_ttl_days
    if not 1 <= days <= 365:
        raise CliError(t.gettext("--days takes a number of days from 1 to 365 (got {days}).")
                       .format(days=days), status=USAGE)
    unit_id = None
    if args.role != "contact" and args.unit:
        raise CliError(t.gettext("A {role} belongs to no unit: leave out --unit.").format(
            role=t.gettext(PERSON_ROLES[args.role])), status=USAGE)
    if args.role == "contact":
        if not args.unit:
            raise CliError(t.gettext("A contact belongs to a unit: give --unit."), status=USAGE)
        unit = _resolve_unit(timetable, args.unit, t)
        if unit.kind is UnitKind.GROUP:
            raise CliError(t.gettext("{name} is a group; invite a contact of one of its member "
                                     "units instead.").format(name=unit_label(t, unit)),
                           status=USAGE)
        unit_id = unit.id
    username = _bot_username(args, settings, t)
    from telegram.helpers import create_deep_linked_url

    from schedules.clock import SystemClock

    with database(settings, t) as store:
        now = SystemClock(settings.zone).now()
        store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], now)
        invite = store.create_invite(unit_id, args.role, None, now, dt.timedelta(days=days))
    print(create_deep_linked_url(username, invite.code))
    print(t.gettext("valid until {date}").format(
        date=t.datetime(invite.expires_at.astimezone(settings.zone))))
    return 0


PERSON_ROLES = {"contact": N_("contact"), "leader": N_("leader"), "admin": N_("admin")}


# -- a dry run of the dispatcher -------------------------------------------------------------

def _parse_at(value: str, zone: dt.tzinfo) -> dt.datetime:
    """An ISO time; without an offset it is in the office's time zone."""
    at = dt.datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=zone)


def cmd_remind(args: argparse.Namespace, t: Translator) -> int:
    """Show what would be sent at a time, to whom (``--dry-run``; nothing is written)."""
    import asyncio

    from bot.reminders import DryRow, dry_run
    from bot.services import Services
    from schedules.clock import FrozenClock, SystemClock
    from storage import Store

    if not args.dry_run:
        raise CliError(t.gettext("Only --dry-run is supported here: the running bot sends "
                                 "reminders itself."), status=USAGE)
    settings, timetable = _timetable(args, t)
    try:
        at = _parse_at(args.at, settings.zone) if args.at else SystemClock(settings.zone).now()
    except ValueError:
        raise CliError(t.gettext("--at takes an ISO time such as 2026-11-16T09:00 (got "
                                 "{value!r}).").format(value=args.at), status=USAGE) from None
    with contextlib.ExitStack() as stack:
        if settings.sqlite_path is not None and not settings.sqlite_path.exists():
            # No database yet: answer from an empty one in memory; nothing is made on disk.
            print(t.gettext("No database yet at {path}: nobody is enrolled, nothing was sent.")
                  .format(path=settings.sqlite_path), file=sys.stderr)
            store = Store("sqlite://")
            stack.callback(store.close)
            store.upgrade()
        else:
            store = stack.enter_context(database(settings, t))
        services = Services(settings=settings, timetable=timetable, store=store,
                            clock=FrozenClock(at))
        decisions = asyncio.run(dry_run(services, at))
    warn_calendar_fallback(services.calendar, t)
    if not decisions:
        print(t.gettext("Nothing is due at {at}.").format(at=at.isoformat()))
    for decision in decisions:
        row: DryRow = decision.row
        who = (unit_label(t, timetable.unit(row.unit_id)) if row.unit_id else
               t.gettext("leadership group"))
        chat = str(row.chat_id) if row.chat_id else "-"
        task = t.gettext("task {number}").format(number=row.task_id) if row.task_id else "-"
        kind = t.gettext(KIND_LABELS.get(row.kind, row.kind))
        verdict = t.gettext("send") if decision.send else t.gettext("skip: {reason}").format(
            reason=t.gettext(decision.reason))
        print(f"{row.due_at.astimezone(settings.zone):%Y-%m-%d %H:%M}  {_pad(kind, 8)} "
              f"{_pad(task, 10)} {who}  " + t.gettext("chat {chat}").format(chat=chat)
              + f"  {verdict}")
    return 0


# -- export ------------------------------------------------------------------------------------

def _require(module: str, t: Translator) -> None:
    """Stop with one line naming ``module`` and how to install it when it cannot be imported."""
    from bot.reports.packages import missing_package_text, missing_packages

    if missing_packages(module):
        raise CliError(missing_package_text(t, module))


def cmd_export(args: argparse.Namespace, t: Translator) -> int:
    """Write the ledger (台账) of a cycle as an Excel workbook."""
    _require("openpyxl", t)
    from bot.files import LEDGER, check_writable, output_target, write_output
    from bot.reports.ledger import build_workbook, default_ledger_path
    from bot.reports.record import collect, unfollowed_cycle, unfollowed_cycle_text
    from schedules.clock import SystemClock

    settings, timetable = _timetable(args, t)
    today = SystemClock(settings.zone).now().date()
    target = (output_target(args.output, LEDGER, t, force=args.force)
              if args.output is not None else None)  # -o "" is refused, not the default
    with database(settings, t) as store:  # before the default folder: no database, no folder
        data = collect(store, args.year)
    current = SystemClock(settings.zone).now().year
    if unfollowed_cycle(data, current):
        raise CliError(unfollowed_cycle_text(t, args.year, current))
    if target is None:  # never into the working directory (the checkout) unasked
        path = default_ledger_path(settings.data_dir, args.year, today)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(os_error_text(t, exc, path)) from None
        path = _free_name(check_writable(path, t, LEDGER.suffix))
        target = output_target(str(path), LEDGER, t)
    write_output(target, build_workbook(translator(t.language, settings.zone), timetable,
                                        data, today), t)
    print(t.ngettext("Wrote {path}: {count} report of cycle {year}.",
                     "Wrote {path}: {count} reports of cycle {year}.",
                     len(data.history)).format(
        path=target.shown(t), count=len(data.history), year=args.year)
        + target.replaced_note(t), file=target.report_stream)
    return 0


def _free_name(path: Path) -> Path:
    """``path``, or ``NAME-2.EXT``, ``NAME-3.EXT``...: the first that does not exist (a second
    export on the same day keeps the first)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def cmd_chart(args: argparse.Namespace, t: Translator) -> int:
    """Draw the cycle's progress chart, per task or per unit, as a PNG file."""
    _require("matplotlib", t)
    from bot.files import CHART, output_target, write_output
    from bot.reports.charts import tasks_chart, units_chart
    from bot.reports.record import collect, unfollowed_cycle, unfollowed_cycle_text
    from schedules.clock import SystemClock

    settings, timetable = _timetable(args, t)
    t = translator(t.language, settings.zone)
    today = SystemClock(settings.zone).now().date()
    target = output_target(args.output, CHART, t, force=args.force)
    quiet_log("bot.reports.charts")  # a missing font: drawn.problem says it, translated
    with database(settings, t) as store:
        record = collect(store, args.year)
    if unfollowed_cycle(record, today.year):
        raise CliError(unfollowed_cycle_text(t, args.year, today.year))
    facts = record.facts
    draw = units_chart if args.by == "units" else tasks_chart
    drawn = draw(t, timetable, args.year, facts, today)
    if drawn.problem:
        print(drawn.problem, file=sys.stderr)
    write_output(target, drawn.png, t)
    print(t.gettext("Wrote {path}: the chart of cycle {year}, {width}×{height} pixels.").format(
        path=target.shown(t), year=args.year, width=drawn.width, height=drawn.height)
        + target.replaced_note(t), file=target.report_stream)
    return 0


def cmd_ics(args: argparse.Namespace, t: Translator) -> int:
    """Write a unit's (or group's) due days and reminder days as an iCalendar file."""
    _require("icalendar", t)
    from bot.files import CALENDAR, output_target, write_output
    from bot.reports.calendar import build_calendar, live_events
    from schedules.calendar import WorkingDayCalendar
    from schedules.clock import SystemClock
    from schedules.feeds import feed_events

    settings, timetable = _timetable(args, t)
    t = translator(t.language, settings.zone)
    unit = _resolve_unit(timetable, args.unit, t)
    now = SystemClock(settings.zone).now()
    year = args.year or now.year
    target = output_target(args.output, CALENDAR, t, force=args.force)
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        from schedules.workflow import CycleFacts

        # No database yet (none is made here): the timetable's dates, no extensions.
        print(t.gettext("No database yet at {path}: the calendar has the timetable's dates, "
                        "without extensions.").format(path=settings.sqlite_path),
              file=sys.stderr)
        facts = CycleFacts(year)
    else:
        with database(settings, t) as store:
            facts = store.cycle_facts(year)
    calendar = WorkingDayCalendar()
    events = feed_events(timetable, year, [unit.id], calendar, settings.zone, facts=facts)
    warn_calendar_fallback(calendar, t)
    write_output(target, build_calendar(t, timetable, events, year, now, unit_label(t, unit)), t)
    count = len(live_events(events))
    print(t.ngettext("Wrote {path}: {count} event of {unit} in cycle {year}.",
                     "Wrote {path}: {count} events of {unit} in cycle {year}.", count).format(
        path=target.shown(t), count=count, unit=unit_label(t, unit), year=year)
        + target.replaced_note(t), file=target.report_stream)
    return 0


# -- the demo ----------------------------------------------------------------------------------

DEMO_LANGUAGES = {"zh": "zh_Hans", "en": "en"}


def cmd_demo(args: argparse.Namespace, t: Translator) -> int:
    """Play the bot through one December cycle offline and print it to standard output."""
    import asyncio

    from bot.demo import run_demo  # here, not at the top: it loads the whole bot

    _, timetable = _timetable(args, t)
    language = DEMO_LANGUAGES[args.lang] if args.lang else t.language
    return asyncio.run(run_demo(sys.stdout, language=language, database_url=args.database_url,
                                year=args.year, timetable=timetable))


# -- the parser --------------------------------------------------------------------------------

# argparse's own words, for the catalogs (argparse looks them up through `argparse._`).
ARGPARSE_MESSAGES = (
    N_("usage: "), N_("options"), N_("positional arguments"),
    N_("show this help message and exit"), N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"), N_("expected one argument"),
    N_("expected at most one argument"), N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"), N_("ignored explicit argument %r"),
    N_("one of the arguments %s is required"), N_("unexpected option string: %s"),
    N_("can't open '%(filename)s': %(error)s"),
)


def translate_argparse(t: Translator) -> None:
    """Make argparse's own words (``usage:``, ``options:``, ``error:``) speak ``t``'s language."""

    def gettext(message: str) -> str:
        return t.gettext(message) if message else message

    def ngettext(singular: str, plural: str, n: int) -> str:
        return t.ngettext(singular, plural, n)

    argparse._ = gettext  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose type errors name the option in the reader's language."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser(t: Translator) -> argparse.ArgumentParser:
    """The argument parser, with help in the CLI's language."""
    translate_argparse(t)
    parser = _Parser(
        prog="duban",
        description=t.gettext("duban: follow up the work plan's task timetable on Telegram."),
        epilog=t.gettext("Settings come from the environment and the .env file (DUBAN_ENV_FILE, "
                         "else ./.env); see the README. Exit status: 0 done, 1 failed (the "
                         "message says why), 2 wrong command line."))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=_Parser, title=t.gettext("commands"))
    tasks_help = t.gettext("timetable file (default: DUBAN_TASKS, else the shipped timetable)")

    def tasks_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tasks", metavar=t.gettext("PATH"), help=tasks_help)

    def output_rules(p: argparse.ArgumentParser) -> None:
        p.add_argument("-f", "--force", action="store_true", help=t.gettext(
            "replace the file if it exists (without it, an existing file is never replaced)"))
        p.epilog = t.gettext(
            "The file name must end in the extension shown; a name without one gets it added. "
            "-o - writes to standard output (a workbook or an image only into a file or a "
            "pipe, not onto a terminal). The file is written whole or not at all.")

    def year_option(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument("--year", type=_year(t), required=required, metavar=t.gettext("YEAR"),
                       help=t.gettext("cycle year, {first} to {last}, e.g. 2026").format(
                           first=FIRST_CYCLE, last=LAST_CYCLE))

    p = commands.add_parser("check", help=t.gettext("validate the timetable and the settings"),
                            description=t.gettext("Validate the timetable file and the settings."))
    p.add_argument("path", nargs="?", metavar=t.gettext("PATH"), help=tasks_help)
    p.set_defaults(handler=cmd_check)

    p = commands.add_parser("tasks", help=t.gettext("list the tasks"))
    tasks_option(p)
    p.add_argument("--unit", metavar=t.gettext("UNIT"),
                   help=t.gettext("only this unit's or group's tasks (id, name or alias)"))
    p.add_argument("--json", action="store_true", help=t.gettext("print JSON"))
    p.set_defaults(handler=cmd_tasks)

    p = commands.add_parser("units", help=t.gettext("list the units and groups"))
    tasks_option(p)
    p.add_argument("--json", action="store_true", help=t.gettext("print JSON"))
    p.set_defaults(handler=cmd_units)

    p = commands.add_parser("plan", help=t.gettext("show the reminder calendar of a year"))
    tasks_option(p)
    year_option(p, required=True)
    p.add_argument("--unit", metavar=t.gettext("UNIT"),
                   help=t.gettext("only this unit (id, name or alias)"))
    p.add_argument("--json", action="store_true", help=t.gettext("print JSON"))
    p.set_defaults(handler=cmd_plan)

    p = commands.add_parser("run", help=t.gettext("start the bot (long polling, or a webhook)"),
                            description=t.gettext(
        "Start the bot. Without --webhook-url it fetches updates by long polling; with it, "
        "Telegram posts them to that HTTPS URL, which a reverse proxy with TLS forwards to "
        "--listen (see docs/deploy.md). Every post must carry the webhook's secret token "
        "(DUBAN_WEBHOOK_SECRET, else one derived from the bot token). Long polling refuses to "
        "start while a webhook is set, unless --drop-webhook."))
    p.add_argument("--webhook-url", metavar="URL", type=_checked(t, "check_webhook_url"),
                   help=t.gettext("the public https:// URL Telegram posts updates to (default: "
                                  "DUBAN_WEBHOOK_URL; none: long polling)"))
    p.add_argument("--listen", metavar=t.gettext("HOST:PORT"), type=_checked(t, "parse_listen"),
                   help=t.gettext("where the webhook server listens, behind the proxy "
                                  "(default: DUBAN_WEBHOOK_LISTEN, else 127.0.0.1:8443)"))
    p.add_argument("--drop-webhook", action="store_true", help=t.gettext(
        "long polling: delete the bot's webhook if one is set (by default duban refuses to "
        "start: another instance may be taking updates by webhook)"))
    p.set_defaults(handler=cmd_run)

    p = commands.add_parser("db", help=t.gettext(
        "the database: schema, backup, restore, copy"))
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True,
                               parser_class=_Parser, title=t.gettext("actions"))
    db = actions.add_parser("upgrade", help=t.gettext("create or upgrade the schema"))
    db.set_defaults(handler=cmd_db)
    db = actions.add_parser("backup", help=t.gettext(
        "copy the database into FILE, safe while the bot runs"), description=t.gettext(
        "Copy the database into FILE while the bot runs: SQLite with its online backup, "
        "PostgreSQL with pg_dump (custom format). FILE is replaced if it exists."))
    db.add_argument("file", metavar=t.gettext("FILE"), help=t.gettext("the backup file"))
    db.set_defaults(handler=cmd_db)
    db = actions.add_parser("copy", help=t.gettext(
        "copy another duban database (e.g. the SQLite file) into the configured one"),
        description=t.gettext(
        "Copy every table of the duban database at FROM_URL (e.g. sqlite:////var/lib/duban/"
        "duban.sqlite3) into the configured database (DATABASE_URL, e.g. PostgreSQL), ids "
        "kept, in one transaction. The configured database must be empty; its tables are "
        "made first. Stop the bot first."))
    db.add_argument("source", metavar="FROM_URL", help=t.gettext(
        "SQLAlchemy URL of the database to copy from"))
    db.set_defaults(handler=cmd_db)
    db = actions.add_parser("restore", help=t.gettext(
        "put a backup made by 'duban db backup' back (stop the bot first)"),
        description=t.gettext(
        "Put a backup made by 'duban db backup' into the configured database, then upgrade its "
        "schema. Stop the bot first. A database that holds data is replaced only with "
        "--replace."))
    db.add_argument("file", metavar=t.gettext("FILE"), help=t.gettext("the backup file"))
    db.add_argument("--replace", action="store_true", help=t.gettext(
        "overwrite a database that already holds people, invitations, groups, reports or "
        "reminders"))
    db.set_defaults(handler=cmd_db)

    p = commands.add_parser("invite", help=t.gettext("make a one-time enrolment link"))
    tasks_option(p)
    p.add_argument("--unit", metavar=t.gettext("UNIT"),
                   help=t.gettext("the contact's unit (id, name or alias)"))
    p.add_argument("--role", choices=["contact", "leader", "admin"], default="contact",
                   help=t.gettext("role of the person (default: contact)"))
    p.add_argument("--days", type=_whole_number(t), metavar=t.gettext("DAYS"),
                   help=t.gettext("days the link stays valid, 1-365 (default: "
                                  "DUBAN_INVITE_TTL_DAYS, else 7)"))
    p.add_argument("--bot-username", metavar=t.gettext("NAME"),
                   help=t.gettext("the bot's @username (default: TELEGRAM_BOT_USERNAME, else "
                                  "asked from Telegram with the token)"))
    p.set_defaults(handler=cmd_invite)

    p = commands.add_parser("remind", help=t.gettext("show what would be sent at a time"))
    tasks_option(p)
    p.add_argument("--dry-run", action="store_true",
                   help=t.gettext("only show, send and write nothing (required)"))
    p.add_argument("--at", metavar=t.gettext("TIME"),
                   help=t.gettext("ISO time, e.g. 2026-11-16T09:00 (default: now)"))
    p.set_defaults(handler=cmd_remind)

    p = commands.add_parser("export", help=t.gettext(
        "write the ledger (台账) of a cycle as an Excel workbook"))
    tasks_option(p)
    year_option(p, required=True)
    p.add_argument("-o", "--output", metavar=t.gettext("FILE"), help=t.gettext(
        "the .xlsx file to write, or - for standard output (default: exports/duban-<year>-"
        "<date>.xlsx in the data folder, DUBAN_DATA_DIR, numbered -2, -3... when it exists)"))
    output_rules(p)
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser("chart", help=t.gettext(
        "draw a progress chart as a PNG file"), description=t.gettext(
        "Draw the cycle's progress chart as a PNG image: per task, its responsible units by "
        "state in the lights' colours, or with --by units, per unit, its tasks by state."))
    tasks_option(p)
    year_option(p, required=True)
    p.add_argument("-o", "--output", metavar=t.gettext("FILE"), required=True,
                   help=t.gettext("the .png file to write, or - for standard output"))
    output_rules(p)
    p.add_argument("--by", choices=["tasks", "units"], default="tasks",
                   help=t.gettext("one bar per task (default) or per unit"))
    p.set_defaults(handler=cmd_chart)

    p = commands.add_parser("ics", help=t.gettext(
        "write a unit's due days as a calendar file (.ics)"), description=t.gettext(
        "Write a unit's due days and reminder days (moved by approved extensions) as an "
        "iCalendar file to import into a calendar; importing a newer file updates the events. "
        "A group's file holds its members' events."))
    tasks_option(p)
    p.add_argument("--unit", metavar=t.gettext("UNIT"), required=True,
                   help=t.gettext("the unit or group (id, name or alias)"))
    year_option(p, required=False)
    p.add_argument("-o", "--output", metavar=t.gettext("FILE"), required=True,
                   help=t.gettext("the .ics file to write, or - for standard output"))
    output_rules(p)
    p.set_defaults(handler=cmd_ics)

    p = commands.add_parser("demo", help=t.gettext(
        "play the bot through one December cycle offline and print the chats"))
    p.add_argument("--lang", choices=sorted(DEMO_LANGUAGES), help=t.gettext(
        "language of the demo: zh or en (default: the command line's language)"))
    p.add_argument("--database-url", metavar="URL", help=t.gettext(
        "SQLAlchemy URL of an empty database (default: a temporary SQLite file)"))
    year_option(p, required=False)
    p.set_defaults(year=2026)
    tasks_option(p)
    p.set_defaults(handler=cmd_demo)
    return parser


def _checked(t: Translator, check: str) -> Callable[[str], str]:
    """An argparse type: the text as given, once ``bot.settings``' function ``check`` accepts
    it (its words translated); bot.settings is imported only when the option is given."""
    from schedules.text import TextError

    def parse(text: str) -> str:
        from bot import settings

        try:
            getattr(settings, check)(text)
        except TextError as exc:
            raise argparse.ArgumentTypeError(exc.text.translate(t.gettext)) from None
        return text
    return parse


def _whole_number(t: Translator) -> Callable[[str], int]:
    def parse(text: str) -> int:
        number = parse_number(text, 0, 10**9)  # the chat's rule: int() takes "٣" and "-5"
        if number is None:
            raise argparse.ArgumentTypeError(t.gettext("expected a whole number, got {value!r}")
                                             .format(value=text))
        return number
    return parse


def _year(t: Translator) -> Callable[[str], int]:
    """An argparse type: a cycle year by the chat's rule (:func:`parse_cycle_year`)."""
    from schedules.years import YEAR_RULE, parse_cycle_year

    def parse(text: str) -> int:
        year = parse_cycle_year(text)
        if year is None:
            raise argparse.ArgumentTypeError(t.gettext("{value!r}: {rule}").format(
                value=text, rule=t.gettext(YEAR_RULE).format(first=FIRST_CYCLE,
                                                             last=LAST_CYCLE)))
        return year
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``duban`` console script; returns the exit status."""
    t = cli_translator()
    parser = build_parser(t)
    args = parser.parse_args(argv)  # usage errors exit 2 here, in the reader's language
    if args.command != "run":
        quiet_calendar_log()
    handler: Command = args.handler
    try:
        status = handler(args, t)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return status
    except CliError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.status
    except BrokenPipeError:
        # The reader stopped reading (`duban tasks | head`): it has what it wanted; stop
        # quietly and successfully, as `cat` and `ls` do under `set -o pipefail`.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a file or folder the command needs: say which, why, what to do
        print(os_error_text(t, exc, action="use"), file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
