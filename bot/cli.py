"""The ``duban`` command line.

    duban check [PATH]                       validate the timetable
    duban tasks [--unit UNIT] [--json]       list the tasks (of one unit)
    duban units [--json]                     list the units and groups
    duban plan --year 2026 [--unit U] [--json]   the reminder calendar (with delivery states)
    duban run                                start the bot (long polling)
    duban db upgrade                         create or upgrade the database schema
    duban invite --unit 生态环境局 [--role contact|leader|admin]   a one-time enrolment link
    duban remind --dry-run [--at ISO-TIME]   what would be sent at that time, to whom
    duban demo                               the bot through one December cycle, offline

Help is in Simplified Chinese by default and in English when ``LANG`` starts with ``en``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.configuration import (
    default_tasks_path,
    open_store,
    print_timetable_problems,
    read_settings,
    read_timetable,
    shipped_tasks_path,
)
from bot.i18n import N_, Translator, translator
from schedules.loader import TimetableError
from schedules.model import Assignment, Task, Timetable, Unit
from storage import Store

Command = Callable[[argparse.Namespace, Translator], int]


def cli_translator() -> Translator:
    """The CLI's language, from ``LANG`` / ``LC_ALL`` / ``LC_MESSAGES`` (Chinese by default)."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return translator(value.split(".")[0])
    return translator(None)


def _unit_ref(unit: Unit) -> dict[str, str]:
    return {"id": unit.id, "name": unit.name}


def _resolve_unit(timetable: Timetable, reference: str, t: Translator) -> Unit | None:
    unit = timetable.find_unit(reference)
    if unit is None:
        print(t.gettext("Unknown unit {ref!r}. Run 'duban units' to see ids, names and "
                        "aliases.").format(ref=reference), file=sys.stderr)
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


def cmd_check(args: argparse.Namespace, t: Translator) -> int:
    """Validate the timetable file."""
    path = Path(args.path) if args.path else default_tasks_path()
    timetable = read_timetable(path, t)
    if timetable is None:
        return 1
    print(t.gettext("{path}: OK: {tasks} tasks, {units} units, {measures} measures.").format(
        path=path, tasks=len(timetable.tasks), units=len(timetable.units),
        measures=len(timetable.measures)))
    return 0


def cmd_tasks(args: argparse.Namespace, t: Translator) -> int:
    """List the tasks, optionally of one unit."""
    timetable = read_timetable(Path(args.tasks), t)
    if timetable is None:
        return 1
    rows: list[tuple[Task, Assignment | None]]
    unit: Unit | None = None
    if args.unit:
        unit = _resolve_unit(timetable, args.unit, t)
        if unit is None:
            return 2
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
        print(line)
        for item in task.items:
            print(f"      {item}")
        print("      " + t.gettext("Responsible: {text}").format(text=task.responsibility_text))
    if unit is not None:
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
    timetable = read_timetable(Path(args.tasks), t)
    if timetable is None:
        return 1
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
        name = u.name if t.language != "en" else f"{u.name} ({u.name_en})"
        extra = ""
        if u.aliases:
            extra = "  " + t.gettext("aliases: {aliases}").format(aliases=", ".join(u.aliases))
        if u.members:
            extra += "  " + t.gettext("members: {count}").format(count=len(u.members))
        print(f"{u.id:<28} {name}{extra}")
    return 0


def _stored_deliveries(t: Translator, year: int) -> dict[tuple[Any, ...], list[Any]] | None:
    """The database's delivery rows of ``year`` by plan key, or None when there is no database."""
    settings = read_settings(t)
    if settings is None:
        return None
    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None
    store = Store(url)
    try:
        if store.current_revision() is None:
            return None
        rows = store.reminders_for_cycle(year)
    except Exception as exc:  # an unreachable server must not hide the plan itself
        print(t.gettext("Delivery states unavailable: {error}").format(error=exc),
              file=sys.stderr)
        return None
    finally:
        store.close()
    found: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        found.setdefault((row.task_id, row.unit_id, row.cycle, row.kind, row.offset_days),
                         []).append(row)
    return found


def _state_text(t: Translator, rows: list[Any] | None) -> str:
    if rows is None:
        return t.gettext("not planned yet")
    parts = []
    for row in rows:
        state = t.gettext(DELIVERY_STATES.get(row.state, row.state))
        reason = t.gettext(row.reason) if row.reason else ""
        parts.append(f"{state} ({reason})" if reason and row.state != "sent" else state)
    return "; ".join(parts)


DELIVERY_STATES = {"pending": N_("pending"), "sending": N_("sending"), "sent": N_("sent"),
                   "failed": N_("failed"), "skipped": N_("skipped")}


def cmd_plan(args: argparse.Namespace, t: Translator) -> int:
    """Print the reminder calendar of a cycle year with each delivery's state."""
    from schedules.calendar import WorkingDayCalendar
    from schedules.planning import plan_reminders

    timetable = read_timetable(Path(args.tasks), t)
    if timetable is None:
        return 1
    unit_id = None
    if args.unit:
        unit = _resolve_unit(timetable, args.unit, t)
        if unit is None:
            return 2
        unit_id = unit.id
    plan = [r for r in plan_reminders(timetable, args.year, WorkingDayCalendar())
            if unit_id is None or r.unit_id == unit_id]
    stored = _stored_deliveries(t, args.year) or {}
    if args.json:
        print(json.dumps([
            {"at": r.at.isoformat(), "task_id": r.task_id, "unit_id": r.unit_id,
             "unit_name": timetable.unit(r.unit_id).name if r.unit_id else None,
             "kind": r.kind.value, "offset_days": r.offset_days,
             "role": r.role.value if r.role else None, "cutoff": r.cutoff.isoformat(),
             "deliveries": [
                 {"chat_id": d.chat_id, "state": d.state, "reason": d.reason,
                  "message_id": d.message_id,
                  "sent_at": d.sent_at.isoformat() if d.sent_at else None}
                 for d in stored.get(r.key, [])]}
            for r in plan], ensure_ascii=False, indent=2))
        return 0
    if not plan:
        print(t.gettext("No reminders in {year}.").format(year=args.year))
    for r in plan:
        who = timetable.unit(r.unit_id).name if r.unit_id else t.gettext("leadership group")
        task = t.gettext("task {number}").format(number=r.task_id) if r.task_id else "-"
        print(f"{r.at:%Y-%m-%d %H:%M %Z}  {r.kind.value:<8} {task:<10} {who}  "
              f"[{_state_text(t, stored.get(r.key))}]")
    return 0


class RedactToken(logging.Filter):
    """Replace the bot token in every log record (httpx logs request URLs that contain it)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without the token."""
        if self.token:
            message = record.getMessage()
            if self.token in message:
                record.msg = message.replace(self.token, "<token>")
                record.args = None
        return True


def setup_logging(token: str) -> None:
    """Log to stderr at INFO, with the token redacted and httpx's per-request lines quiet."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactToken(token))
    logging.getLogger("httpx").setLevel(logging.WARNING)


def cmd_run(args: argparse.Namespace, t: Translator) -> int:
    """Start the bot with long polling."""
    from telegram import Update

    from bot.app import ConfigError, build_application

    settings = read_settings(t)
    if settings is None:
        return 1
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    setup_logging(token)
    store = open_store(settings)
    try:
        store.upgrade()
    except SQLAlchemyError as exc:
        store.close()
        print(t.gettext("Cannot open the database {url}: {error}. Check DATABASE_URL (and that "
                        "the server is running).").format(url=_safe_url(store.url),
                                                          error=exc.__class__.__name__),
              file=sys.stderr)
        return 1
    try:
        application = build_application(settings, store=store)
    except ConfigError as exc:
        print(t.gettext("Cannot start: {error}").format(error=exc), file=sys.stderr)
        return 1
    except TimetableError as exc:
        print_timetable_problems(exc, t)
        return 1
    application.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


def _safe_url(url: str) -> str:
    """A database URL with its password masked, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_db(args: argparse.Namespace, t: Translator) -> int:
    """Create or upgrade the database schema (Alembic)."""
    settings = read_settings(t)
    if settings is None:
        return 1
    store = open_store(settings)
    try:
        store.upgrade()
        print(t.gettext("Database schema is at revision {rev}.").format(
            rev=store.current_revision()))
    finally:
        store.close()
    return 0


def cmd_invite(args: argparse.Namespace, t: Translator) -> int:
    """Create a one-time enrolment link."""
    from telegram.helpers import create_deep_linked_url

    settings = read_settings(t)
    timetable = read_timetable(Path(args.tasks), t)
    if settings is None or timetable is None:
        return 1
    unit_id = None
    if args.role == "contact" or args.unit:
        if not args.unit:
            print(t.gettext("A contact belongs to a unit: give --unit."), file=sys.stderr)
            return 2
        unit = _resolve_unit(timetable, args.unit, t)
        if unit is None:
            return 2
        if unit.kind.value == "group":
            print(t.gettext("{name} is a group; invite a contact of one of its member units "
                            "instead.").format(name=unit.name), file=sys.stderr)
            return 2
        unit_id = unit.id
    username = args.bot_username or os.environ.get("TELEGRAM_BOT_USERNAME")
    if not username:
        print(t.gettext("Give --bot-username (or set TELEGRAM_BOT_USERNAME) so the link can be "
                        "made."), file=sys.stderr)
        return 2
    store = open_store(settings)
    try:
        store.upgrade()
        from schedules.clock import SystemClock

        now = SystemClock(settings.zone).now()
        store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], now)
        invite = store.create_invite(unit_id, args.role, None, now, dt.timedelta(days=args.days))
    finally:
        store.close()
    print(create_deep_linked_url(username.lstrip("@"), invite.code))
    print(t.gettext("valid until {date}").format(
        date=t.datetime(invite.expires_at.astimezone(settings.zone))))
    return 0


def _parse_at(value: str, zone: dt.tzinfo) -> dt.datetime:
    at = dt.datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=zone)


def cmd_remind(args: argparse.Namespace, t: Translator) -> int:
    """Show what would be sent at a time, to whom (``--dry-run``; nothing is written)."""
    import asyncio

    from bot.reminders import DryRow, dry_run
    from bot.services import Services
    from schedules.clock import FrozenClock, SystemClock

    settings = read_settings(t)
    timetable = read_timetable(Path(args.tasks), t)
    if settings is None or timetable is None:
        return 1
    if not args.dry_run:
        print(t.gettext("Only --dry-run is supported here: the running bot sends reminders "
                        "itself."), file=sys.stderr)
        return 2
    try:
        at = _parse_at(args.at, settings.zone) if args.at else SystemClock(settings.zone).now()
    except ValueError:
        print(t.gettext("--at takes an ISO time such as 2026-11-16T09:00 (got {value!r}).")
              .format(value=args.at), file=sys.stderr)
        return 2
    store = open_store(settings)
    try:
        store.upgrade()
        services = Services(settings=settings, timetable=timetable, store=store,
                            clock=FrozenClock(at))
        decisions = asyncio.run(dry_run(services, at))
    finally:
        store.close()
    if not decisions:
        print(t.gettext("Nothing is due at {at}.").format(at=at.isoformat()))
    for decision in decisions:
        row: DryRow = decision.row
        who = (timetable.unit(row.unit_id).name if row.unit_id else
               t.gettext("leadership group"))
        chat = str(row.chat_id) if row.chat_id else "-"
        task = t.gettext("task {number}").format(number=row.task_id) if row.task_id else "-"
        verdict = t.gettext("send") if decision.send else t.gettext("skip: {reason}").format(
            reason=t.gettext(decision.reason))
        print(f"{row.due_at.astimezone(settings.zone):%Y-%m-%d %H:%M}  {row.kind:<8} {task:<10} "
              f"{who}  chat {chat}  {verdict}")
    return 0


def cmd_export(args: argparse.Namespace, t: Translator) -> int:
    """Write the cycle's status as an Excel workbook."""
    from bot.export import build_workbook, export_filename
    from schedules.clock import SystemClock

    settings = read_settings(t)
    timetable = read_timetable(Path(args.tasks), t)
    if settings is None or timetable is None:
        return 1
    store = open_store(settings)
    try:
        store.upgrade()
        latest = store.latest_reports(args.year)
        history = store.reports_for_cycle(args.year)
    finally:
        store.close()
    today = SystemClock(settings.zone).now().date()
    target = Path(args.output or export_filename(args.year, today))
    target.write_bytes(build_workbook(t, timetable, args.year, latest, history, today))
    print(t.gettext("Wrote {path}: {count} reports of cycle {year}.").format(
        path=target, count=len(history), year=args.year))
    return 0


def build_parser(t: Translator) -> argparse.ArgumentParser:
    """The argument parser, with help in the CLI's language."""
    parser = argparse.ArgumentParser(
        prog="duban",
        description=t.gettext("duban: follow up the work plan's task timetable on Telegram."))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def tasks_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tasks", default=str(default_tasks_path()),
                       help=t.gettext("timetable file (default: DUBAN_TASKS or "
                                      "data/tasks.yaml)"))

    p = commands.add_parser("check", help=t.gettext("validate the timetable file"))
    p.add_argument("path", nargs="?", help=t.gettext("timetable file (default: data/tasks.yaml)"))
    p.set_defaults(handler=cmd_check)

    p = commands.add_parser("tasks", help=t.gettext("list the tasks"))
    tasks_option(p)
    p.add_argument("--unit", help=t.gettext("only this unit's tasks (id, name or alias)"))
    p.add_argument("--json", action="store_true", help=t.gettext("print JSON"))
    p.set_defaults(handler=cmd_tasks)

    p = commands.add_parser("units", help=t.gettext("list the units and groups"))
    tasks_option(p)
    p.add_argument("--json", action="store_true", help=t.gettext("print JSON"))
    p.set_defaults(handler=cmd_units)

    p = commands.add_parser("plan", help=t.gettext("show the reminder calendar of a year"))
    tasks_option(p)
    p.add_argument("--year", type=int, required=True, help=t.gettext("cycle year, e.g. 2026"))
    p.add_argument("--unit", help=t.gettext("only this unit (id, name or alias)"))
    p.add_argument("--json", action="store_true", help=t.gettext("print JSON"))
    p.set_defaults(handler=cmd_plan)

    p = commands.add_parser("run", help=t.gettext("start the bot (long polling)"))
    p.set_defaults(handler=cmd_run)

    p = commands.add_parser("db", help=t.gettext("database schema"))
    p.add_argument("action", choices=["upgrade"], help=t.gettext("create or upgrade the schema"))
    p.set_defaults(handler=cmd_db)

    p = commands.add_parser("invite", help=t.gettext("make a one-time enrolment link"))
    tasks_option(p)
    p.add_argument("--unit", help=t.gettext("the contact's unit (id, name or alias)"))
    p.add_argument("--role", choices=["contact", "leader", "admin"], default="contact",
                   help=t.gettext("role of the person (default: contact)"))
    p.add_argument("--days", type=int, default=7, help=t.gettext("days the link stays valid"))
    p.add_argument("--bot-username", help=t.gettext("the bot's @username (default: "
                                                     "TELEGRAM_BOT_USERNAME)"))
    p.set_defaults(handler=cmd_invite)

    p = commands.add_parser("remind", help=t.gettext("show what would be sent at a time"))
    tasks_option(p)
    p.add_argument("--dry-run", action="store_true",
                   help=t.gettext("only show, send nothing (required)"))
    p.add_argument("--at", help=t.gettext("ISO time, e.g. 2026-11-16T09:00 (default: now)"))
    p.set_defaults(handler=cmd_remind)

    p = commands.add_parser("export", help=t.gettext("write the status as an Excel workbook"))
    tasks_option(p)
    p.add_argument("--year", type=int, required=True, help=t.gettext("cycle year, e.g. 2026"))
    p.add_argument("-o", "--output", help=t.gettext("file to write (default: "
                                                    "duban-<year>-<date>.xlsx)"))
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser("demo", help=t.gettext(
        "play the bot through one December cycle offline and print the chats"))
    p.add_argument("--lang", choices=sorted(DEMO_LANGUAGES), help=t.gettext(
        "language of the demo: zh or en (default: the command line's language)"))
    p.add_argument("--database-url", help=t.gettext(
        "SQLAlchemy URL of an empty database (default: a temporary SQLite file)"))
    p.add_argument("--year", type=int, default=2026, help=t.gettext(
        "cycle year, e.g. 2026"))
    p.add_argument("--tasks", default=os.environ.get("DUBAN_TASKS") or str(shipped_tasks_path()),
                   help=t.gettext("timetable file (default: DUBAN_TASKS or data/tasks.yaml)"))
    p.set_defaults(handler=cmd_demo)
    return parser


DEMO_LANGUAGES = {"zh": "zh_Hans", "en": "en"}


def cmd_demo(args: argparse.Namespace, t: Translator) -> int:
    """Play the bot through one December cycle offline and print it to standard output."""
    import asyncio

    from bot.demo import run_demo  # here, not at the top: it loads the whole bot

    timetable = read_timetable(Path(args.tasks), t)
    if timetable is None:
        return 1
    language = DEMO_LANGUAGES[args.lang] if args.lang else t.language
    return asyncio.run(run_demo(sys.stdout, language=language, database_url=args.database_url,
                                year=args.year, timetable=timetable))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``duban`` console script."""
    t = cli_translator()
    parser = build_parser(t)
    args = parser.parse_args(argv)
    handler: Command = args.handler
    return handler(args, t)


if __name__ == "__main__":
    sys.exit(main())
