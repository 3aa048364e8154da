"""Summaries at scale: 1,000 units x 26 tasks x 10 cycles x 5 reports = 1.3 million reports.

What a leader's command costs when the plan is a hundred times the shipped one: the database
calls its handler makes, the rendering and the paging, for ``/summary``, ``/task N``,
``/overdue`` and ``/unit``, and the year's Excel export and chart. Run from the repository
root::

    python -m bench.bench_scale                     # both backends, 1.3M reports
    python -m bench.bench_scale --backend sqlite    # SQLite only
    python -m bench.bench_scale --quick             # 20 units x 26 x 1 cycle x 5 (2,600)

The timetable is the shipped one with its units replaced by ``--units`` towns, every one of them
a lead (or joint) unit of every task, so that each unit reports on each of the 26 tasks. The
reports are bulk-loaded: SQLite with ``executemany`` on the DB-API connection, into a file cached
under ``bench/.cache/`` (keyed on the fixture's size and the schema's head revision; delete it to
rebuild), PostgreSQL with ``COPY`` into a fresh database, then ``ANALYZE`` (as autovacuum would
have). Statuses are drawn from every status; the clock is 2026-12-10, after the cutoff, so that
``/overdue`` has hundreds of late units to list.

Each command is timed as its handler runs it, minus the Telegram round trip: the same ``Store``
calls, the same renderer, ``paginate`` (a summary of 1,000 units goes out in pages), and the
keyboard where the handler builds one. One warm-up, then the median of ``--runs`` (default 5;
the export and the chart, which take seconds: the median of 3 without a warm-up), wall-clock
and CPU time. The store keeps the cycle's facts until they change, so the warm figures are
those of unchanged facts; every command is also timed right after a new report (on the task
``/task`` shows, by the unit ``/unit`` shows), when the store reads what changed since its copy.
The fixture has one ``report.added`` audit entry per report, as the bot writes them (the
ledger's audit sheet reads the log).
The SQL each command ran is captured, and its plan (``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL) goes into the JSON record and is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import json
import random
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from bench.common import (
    BACKENDS,
    ROOT,
    SHANGHAI,
    TASKS_PATH,
    Figure,
    Record,
    add_common_options,
    bench_database,
    finish,
    info,
    median_figure,
    print_environment,
)
from bot.i18n import translator
from bot.render import (
    People,
    overdue_units,
    paginate,
    render_overdue,
    render_summary,
    render_task,
    render_unit,
    states,
)
from schedules.loader import load_timetable
from schedules.model import Timetable
from schedules.workflow import task_view
from storage import REPORT_STATUSES, Store
from storage.store import head_revision

CACHE = ROOT / "bench" / ".cache"
TODAY = dt.date(2026, 12, 10)
CYCLE = 2026
COMMAND_TARGET_MS = 100.0
EXPORT_TARGET_S = 5.0
CHART_TARGET_S = 2.0
TASK_SHOWN = 15
"""The task of ``/task N`` (an annual task with a cutoff)."""
COLUMNS = ("task_id", "unit_id", "cycle", "status", "progress", "note",
           "reporter_telegram_id", "reported_at", "source", "source_message_id")
AUDIT_COLUMNS = ("at", "actor_telegram_id", "action", "subject", "details")


# -- the fixture -------------------------------------------------------------------------------
def scale_timetable(base: Timetable, units: int) -> Timetable:
    """The shipped timetable with ``units`` towns instead of its units, each responsible for
    every task (lead units where the task has a lead, joint units otherwise)."""
    towns = [{"id": f"town-{index:04d}", "name": f"第{index}镇", "name_en": f"Town {index}",
              "kind": "town"} for index in range(1, units + 1)]
    ids = tuple(town["id"] for town in towns)
    tasks = []
    for task in base.tasks:
        data = task.model_dump(mode="json", exclude_none=True)
        data.update(cooperating_units=(), lead_units=ids if task.lead_units else (),
                    joint_units=() if task.lead_units else ids)
        data.pop("reminders", None)
        tasks.append(data)
    data = base.model_dump(mode="json", exclude_none=True)
    data.update(units=towns, tasks=tasks, measures=())
    return Timetable.model_validate(data)


def cycles_of(count: int) -> tuple[int, ...]:
    """The ``count`` cycles ending with the current one."""
    return tuple(range(CYCLE - count + 1, CYCLE + 1))


def report_rows(timetable: Timetable, cycles: tuple[int, ...], per_pair: int,
                seed: int = 2026) -> Iterator[tuple[Any, ...]]:
    """Every report, as a tuple of :data:`COLUMNS` values (datetimes aware, in UTC)."""
    rng = random.Random(seed)
    units = [u.id for u in timetable.units]
    for cycle in cycles:
        start = dt.datetime(cycle, 1, 5, 9, 0, tzinfo=SHANGHAI)
        for task in timetable.tasks:
            for unit_id in units:
                for index in range(per_pair):
                    at = start + dt.timedelta(days=60 * index, minutes=rng.randrange(0, 600))
                    status = rng.choice(REPORT_STATUSES)
                    yield (task.id, unit_id, cycle, status,
                           rng.randrange(5, 100, 5) if status == "in_progress" else None,
                           "" if index % 3 else "按计划推进，已完成阶段性工作",
                           100_000 + rng.randrange(2000), at.astimezone(dt.UTC), "button", None)


def audit_rows(reports: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The ``report.added`` audit entry of each report, as ``Store.add_report`` writes it (the
    reports get ids 1, 2, ... in load order), as a tuple of :data:`AUDIT_COLUMNS` values."""
    for report_id, row in enumerate(reports, start=1):
        values = dict(zip(COLUMNS, row, strict=True))
        details = {name: values[name]
                   for name in ("task_id", "unit_id", "cycle", "status", "progress", "source")}
        yield (values["reported_at"], values["reporter_telegram_id"], "report.added",
               f"report:{report_id}", json.dumps(details, ensure_ascii=False, sort_keys=True))


def prepare(store: Store, timetable: Timetable) -> None:
    """Schema, units and 2,000 contacts (named in /task), as a live database would have."""
    store.upgrade()
    now = dt.datetime(CYCLE, 1, 1, tzinfo=SHANGHAI)
    store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], now)
    units = [u.id for u in timetable.units]
    for index in range(2000):
        store.add_person(100_000 + index, f"联络员{index}", "contact", units[index % len(units)],
                         "zh_Hans", now)


def load_sqlite(path: Path, timetable: Timetable, cycles: tuple[int, ...],
                per_pair: int) -> float:
    """Build the SQLite fixture at ``path``; seconds the report load took."""
    store = Store(f"sqlite:///{path}")
    try:
        prepare(store, timetable)
    finally:
        store.close()
    start = time.perf_counter()
    connection = sqlite3.connect(path)
    try:
        rows = ((*row[:7], row[7].replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
                 *row[8:]) for row in report_rows(timetable, cycles, per_pair))
        with connection:
            connection.executemany(
                f"INSERT INTO status_report ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        entries = ((row[0].replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"), *row[1:])
                   for row in audit_rows(report_rows(timetable, cycles, per_pair)))
        with connection:
            connection.executemany(
                f"INSERT INTO audit_entry ({', '.join(AUDIT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})", entries)
        connection.execute("ANALYZE")
        connection.commit()
    finally:
        connection.close()
    return time.perf_counter() - start


def load_postgres(url: str, timetable: Timetable, cycles: tuple[int, ...],
                  per_pair: int) -> float:
    """Build the PostgreSQL fixture on ``url`` with COPY; seconds the report load took."""
    store = Store(url)
    try:
        prepare(store, timetable)
        start = time.perf_counter()
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            # the store's connections stop a statement after 30 s; loading 1.3M rows takes longer
            cursor.execute("SET statement_timeout = 0")
            with cursor.copy(f"COPY status_report ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in report_rows(timetable, cycles, per_pair):
                    copy.write_row(row)
            with cursor.copy(f"COPY audit_entry ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as copy:
                for row in audit_rows(report_rows(timetable, cycles, per_pair)):
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET statement_timeout = 0"))
            conn.execute(text("VACUUM ANALYZE"))
        return time.perf_counter() - start
    finally:
        store.close()


@contextmanager
def fixture(backend: str, timetable: Timetable, cycles: tuple[int, ...],
            per_pair: int) -> Iterator[tuple[Store, float | None, int]]:
    """An open store on the fixture; the load's seconds (None when cached) and its rows."""
    count = len(timetable.units) * len(timetable.tasks) * len(cycles) * per_pair
    if backend == "sqlite":
        key = hashlib.sha1(f"{len(timetable.units)}x{cycles}x{per_pair}x{head_revision()}"
                           .encode()).hexdigest()[:10]
        cached = CACHE / f"scale-{len(timetable.units)}u-{len(cycles)}c-{per_pair}r-{key}.sqlite3"
        load = None
        if not cached.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            building = cached.with_suffix(".building")
            building.unlink(missing_ok=True)
            load = load_sqlite(building, timetable, cycles, per_pair)
            building.rename(cached)
        with bench_database("sqlite") as url:
            # A copy, so that a run never changes the cache (the store writes on open).
            target = Path(url.removeprefix("sqlite:///"))
            shutil.copyfile(cached, target)
            store = Store(url)
            try:
                yield store, load, count
            finally:
                store.close()
        return
    with bench_database(backend) as url:
        load = load_postgres(url, timetable, cycles, per_pair)
        store = Store(url)
        try:
            yield store, load, count
        finally:
            store.close()


# -- the commands ------------------------------------------------------------------------------
class Statements:
    """The SQL statements run while active (for their plans)."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        self.seen: list[tuple[str, Any]] = []
        self.active = False
        event.listen(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                context: Any, executemany: bool) -> None:
        if self.active and statement.lstrip().upper().startswith("SELECT"):
            self.seen.append((statement, parameters))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[str, Any]]]:
        """Record the SELECTs run inside the block."""
        self.seen = []
        self.active = True
        try:
            yield self.seen
        finally:
            self.active = False

    def plans(self, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Each distinct statement with its plan on this backend."""
        found: list[dict[str, Any]] = []
        done: set[str] = set()
        sqlite = self.engine.dialect.name == "sqlite"
        prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
        for statement, parameters in statements:
            if statement in done:
                continue
            done.add(statement)
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(prefix + statement, parameters)
                rows = cursor.fetchall()
            finally:
                raw.close()
            plan = ([f"{'  ' * _depth(rows, r)}{r[3]}" for r in rows] if sqlite
                    else [r[0] for r in rows])
            found.append({"sql": " ".join(statement.split()), "parameters": repr(parameters),
                          "plan": plan})
        return found


def _depth(rows: list[Any], row: Any) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth += 1
        parent = parents[parent]
    return depth


def charts_module() -> Any | None:
    """``bot.reports.charts`` when this commit has it."""
    try:
        return importlib.import_module("bot.reports.charts")
    except ImportError:
        return None


def export_function(store: Store, timetable: Timetable, t: Any) -> Callable[[], bytes] | None:
    """The year's ledger as ``/export`` builds it: ``bot.reports.ledger`` (with
    ``bot.reports.record.collect``) when this commit has it, else the older ``bot.export``."""
    try:
        ledger = importlib.import_module("bot.reports.ledger")
        record = importlib.import_module("bot.reports.record")
    except ImportError:
        pass
    else:
        return lambda: ledger.build_workbook(t, timetable, record.collect(store, CYCLE), TODAY)
    try:
        old = importlib.import_module("bot.export")
    except ImportError:
        return None

    def export() -> bytes:
        facts = store.cycle_facts(CYCLE)
        history = store.reports_for_cycle(CYCLE)
        names = {p.telegram_user_id: p.display_name for p in store.list_people(None, None, False)}
        return bytes(old.build_workbook(t, timetable, CYCLE, facts, history, TODAY, names))
    return export


def commands(store: Store, timetable: Timetable) -> dict[str, Callable[[], Any]]:
    """Each command as its handler runs it, minus Telegram: store calls, render, pages."""
    from bot.handlers.leader import task_keyboard  # the keyboard /task sends

    t = translator("zh_Hans", SHANGHAI)
    task = timetable.task(TASK_SHOWN)
    unit = timetable.units[len(timetable.units) // 2]

    def summary() -> list[str]:
        facts = store.cycle_facts(CYCLE)
        return paginate(render_summary(t, timetable, CYCLE, facts, TODAY))

    def task_command() -> list[str]:
        facts = store.cycle_facts(CYCLE, task.id)
        urges = {u.unit_id: (u.urged_by, u.urged_at) for u in store.urges(CYCLE, task.id)}
        people = People(store.people_names())
        view = task_view(timetable, task, facts, TODAY)
        task_keyboard(t, timetable, view)
        return paginate(render_task(t, timetable, task, CYCLE, facts, TODAY,
                                    people=people, urges=urges, view=view))

    def overdue() -> list[str]:
        facts = store.cycle_facts(CYCLE)
        late = overdue_units(states(timetable, CYCLE, facts, TODAY))
        text_ = render_overdue(t, timetable, CYCLE, facts, TODAY)
        assert late, "the fixture should have late units"
        return paginate(text_)

    def unit_command() -> list[str]:
        facts = store.cycle_facts(CYCLE, None, unit.id)  # a town, not a group
        return paginate(render_unit(t, timetable, unit, CYCLE, facts, TODAY))

    found: dict[str, Callable[[], Any]] = {
        "/summary": summary, f"/task {TASK_SHOWN}": task_command, "/overdue": overdue,
        f"/unit {unit.name}": unit_command}
    exporter = export_function(store, timetable, t)
    if exporter is not None:
        found["export"] = exporter
    charts = charts_module()
    if charts is not None and hasattr(charts, "tasks_chart"):
        def chart() -> Any:  # /chart sends both: per task and per unit
            facts = store.cycle_facts(CYCLE)
            return [charts.tasks_chart(t, timetable, CYCLE, facts, TODAY),
                    charts.units_chart(t, timetable, CYCLE, facts, TODAY)]
        found["chart"] = chart
    return found


def measure(backend: str, timetable: Timetable, cycles: tuple[int, ...], per_pair: int,
            runs: int, record: Record) -> list[Figure]:
    """Build (or reuse) the fixture on ``backend`` and time every command."""
    figures: list[Figure] = []
    with fixture(backend, timetable, cycles, per_pair) as (store, load, count):
        figures.append(info(f"{backend}: reports in the database",
                            f"{count:,} ({len(timetable.units):,} units x "
                            f"{len(timetable.tasks)} tasks x {len(cycles)} cycles x {per_pair})"))
        figures.append(info(f"{backend}: bulk load (not timed as a target)",
                            "cached file" if load is None else f"{load:.1f} s"))
        watcher = Statements(store)
        plans: dict[str, Any] = {}
        found = commands(store, timetable)
        for name, command in found.items():
            heavy = name in ("export", "chart")  # seconds each: no warm-up, 3 runs
            seconds, cpu = [], []
            with watcher.capture() as statements:
                start, used = time.perf_counter(), time.process_time()
                result = command()  # the warm-up (timed for a heavy one), and its statements
                if heavy:
                    seconds.append(time.perf_counter() - start)
                    cpu.append(time.process_time() - used)
            for _ in range(3 - 1 if heavy else runs):
                with watcher.capture() as warm:  # what a timed (warm) call runs
                    start, used = time.perf_counter(), time.process_time()
                    command()
                    seconds.append(time.perf_counter() - start)
                    cpu.append(time.process_time() - used)
            plans[name] = watcher.plans(statements)
            if name == "export":
                figures.append(median_figure(f"{backend}: the year's export (.xlsx, "
                                             f"{len(result) / 1e6:.1f} MB)", seconds, "s",
                                             below=EXPORT_TARGET_S, digits=2))
                figures.append(median_figure(f"{backend}: the year's export, CPU time", cpu,
                                             "s", digits=2))
            elif name == "chart":
                figures.append(median_figure(f"{backend}: the year's charts (/chart: per task "
                                             "and per unit)", seconds, "s",
                                             below=CHART_TARGET_S, digits=2))
                figures.append(median_figure(f"{backend}: the year's charts, CPU time", cpu,
                                             "s", digits=2))
            else:
                pages = len(result)
                figures.append(median_figure(
                    f"{backend}: {name} ({pages} page{'s' if pages > 1 else ''}; "
                    f"queries: {len(statements)} first, {len(warm)} warm)",
                    [s * 1000 for s in seconds], "ms",
                    below=COMMAND_TARGET_MS))
                figures.append(median_figure(f"{backend}: {name}, CPU time",
                                             [c * 1000 for c in cpu], "ms"))
        figures += after_a_report(backend, store, timetable, found, runs)
        for name in ("export", "chart"):
            if name not in plans:
                figures.append(info(f"{backend}: {name}", "not in this commit"))
        record.extra.setdefault("plans", {})[backend] = plans
    return figures


def after_a_report(backend: str, store: Store, timetable: Timetable,
                   found: dict[str, Callable[[], Any]], runs: int) -> list[Figure]:
    """Each command right after a new report on the task ``/task`` shows (by the unit
    ``/unit`` shows, for ``/unit``; by one unit after another otherwise): the store's copy of
    the cycle's facts is no longer current, and what changed is read (before the copy was
    brought up to date row by row, the whole cycle's facts were read again, and the views
    computed again)."""
    figures = []
    units = [u.id for u in timetable.units]
    shown = timetable.units[len(timetable.units) // 2].id
    for name in [n for n in found if n.startswith("/")]:
        seconds, cpu = [], []
        for index in range(runs):
            unit = shown if name.startswith("/unit") else units[index % len(units)]
            store.add_report(TASK_SHOWN, unit, CYCLE, "in_progress", 50 + index, "", None,
                             dt.datetime(CYCLE, 12, 10, 10, tzinfo=SHANGHAI), "cli")
            start, used = time.perf_counter(), time.process_time()
            found[name]()
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - used)
        figures.append(median_figure(f"{backend}: {name} right after a new report",
                                     [s * 1000 for s in seconds], "ms", below=COMMAND_TARGET_MS))
        figures.append(median_figure(f"{backend}: {name} right after a new report, CPU time",
                                     [c * 1000 for c in cpu], "ms"))
    return figures


def print_plans(plans: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    """The query plans, per backend and command."""
    for backend, by_command in plans.items():
        for name, statements in by_command.items():
            for entry in statements:
                print(f"\n### {backend} {name}: {entry['sql'][:160]}"
                      f"{'...' if len(entry['sql']) > 160 else ''}")
                for line in entry["plan"]:
                    print(f"    {line}")


def main() -> None:
    """Parse the options, measure each backend, print the plans then the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument("--units", type=int, help="units (default 1,000; 20 with --quick)")
    parser.add_argument("--cycles", type=int, help="cycles (default 10; 1 with --quick)")
    parser.add_argument("--per-pair", type=int, default=5, help="reports per task, unit and cycle")
    add_common_options(parser, runs=5)
    options = parser.parse_args()
    if options.quick and options.runs == 5:
        options.runs = 3
    print_environment()
    record = Record("bench_scale", options)
    units = options.units or (20 if options.quick else 1000)
    cycles = cycles_of(options.cycles or (1 if options.quick else 10))
    timetable = scale_timetable(load_timetable(TASKS_PATH), units)
    record.extra["fixture"] = {"units": units, "tasks": len(timetable.tasks),
                               "cycles": list(cycles), "per_pair": options.per_pair,
                               "today": TODAY.isoformat()}
    figures: list[Figure] = []
    for backend in BACKENDS if options.backend == "both" else (options.backend,):
        figures += measure(backend, timetable, cycles, options.per_pair, max(options.runs, 3),
                           record)
    print_plans(record.extra["plans"])
    finish(record, "bench_scale — summaries at scale", figures)


if __name__ == "__main__":
    main()
