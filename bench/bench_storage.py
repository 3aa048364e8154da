"""Storage speed at five years' size: appending reports, latest reports, planning deliveries.

The fixture is 26 tasks x 34 units x 5 cycles (2022-2026) x 20 reports each (88,400 reports and
as many audit entries), bulk-loaded with a Core INSERT; everything timed goes through
:class:`storage.Store`'s public methods. Run from the repository root::

    python -m bench.bench_storage --backend both      # SQLite file and PostgreSQL (default)
    python -m bench.bench_storage --backend sqlite --quick

PostgreSQL is the server at 127.0.0.1:5432 as user ``postgres`` (``DUBAN_TEST_PG_URL``
overrides); the benchmark creates a fresh database and drops it afterwards. SQLite is a
file in a temporary folder, in WAL mode like the bot's.

Prints one table per backend (figure | value | target | ok?); a missed target prints MISSED
and the exit status is 0 all the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections import Counter
from functools import partial

from sqlalchemy import update
from sqlmodel import col

from bench.common import (
    BACKENDS,
    SHANGHAI,
    TASKS_PATH,
    Figure,
    Record,
    add_common_options,
    concrete_units,
    contacts_by_unit,
    figure,
    finish,
    info,
    load_reports,
    median_ms,
    migrated_store,
    print_environment,
    sync_units,
    timed,
)
from schedules.calendar import WorkingDayCalendar
from schedules.delivery import delivery_specs
from schedules.loader import load_timetable
from schedules.planning import plan_reminders
from storage import REPORT_STATUSES, Reminder, ReminderSpec, Store

CYCLES = (2022, 2023, 2024, 2025, 2026)
CYCLE = 2026
REPORTS_PER_PAIR = 20
CONTACTS = 300
LEADERSHIP_CHAT = -1001234567890
NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
LATEST_TARGET_MS = 150


def measure_reports(store: Store, units: list[str], tasks: list[int], runs: int,
                    inserts: int) -> list[Figure]:
    """latest_reports at full size (whole cycle, one unit, one pair), then add_report."""
    seconds, latest = timed(partial(store.latest_reports, CYCLE), runs)
    unit_seconds, _ = timed(partial(store.latest_reports, CYCLE, None, units[0]), runs)
    pair_seconds, _ = timed(partial(store.latest_reports, CYCLE, tasks[-1], units[0]), runs)
    figures = [
        figure(f"latest_reports({CYCLE}), whole cycle, median of {runs}", median_ms(seconds),
               "ms", below=LATEST_TARGET_MS),
        info("latest_reports, (task, unit) pairs returned", len(latest)),
        figure("latest_reports, one unit (/mytasks), median", median_ms(unit_seconds), "ms",
               digits=2),
        figure("latest_reports, one task and unit (a reminder), median",
               median_ms(pair_seconds), "ms", digits=2),
    ]
    rng = random.Random(7)
    start = time.perf_counter()
    for index in range(inserts):
        status = rng.choice(REPORT_STATUSES)
        store.add_report(rng.choice(tasks), rng.choice(units), CYCLE, status,
                         50 if status == "in_progress" else None, "", 100_000 + index % 300,
                         NOW + dt.timedelta(seconds=index), "button")
    elapsed = time.perf_counter() - start
    figures += [
        figure(f"add_report throughput ({inserts:,} sequential calls)", inserts / elapsed,
               "reports/s", digits=0),
        figure("add_report, mean per call", elapsed / inserts * 1000, "ms", digits=2),
    ]
    return figures


def measure_deliveries(store: Store, specs: list[ReminderSpec], runs: int) -> list[Figure]:
    """plan_deliveries (first and again), then due_deliveries at the busiest instant."""
    start = time.perf_counter()
    added = store.plan_deliveries(specs, NOW)
    first = time.perf_counter() - start
    again, readded = timed(partial(store.plan_deliveries, specs, NOW), max(3, runs // 4))
    assert readded == 0, readded
    per_instant = Counter(spec.due_at for spec in specs)
    busy, rows_at_busy = max(per_instant.items(), key=lambda item: (item[1], item[0]))
    figures = [
        info("delivery rows planned for the cycle", f"{added:,} (of {len(specs):,} specs)"),
        figure("plan_deliveries, first run (inserts)", first * 1000, "ms"),
        figure("plan_deliveries, re-run (idempotent), median", median_ms(again), "ms"),
        info("busiest instant, rows due then", f"{busy:%Y-%m-%d %H:%M} · {rows_at_busy:,}"),
    ]
    # Down all season: everything up to the busiest instant is still pending.
    backlog_seconds, backlog = timed(partial(store.due_deliveries, busy), runs)
    # The usual case: what was due earlier has been sent (setup: one UPDATE, not the API).
    with store.engine.begin() as connection:
        connection.execute(update(Reminder)
                           .where(col(Reminder.due_at) < busy)
                           .values(state="sent", sent_at=busy))
    busy_seconds, due = timed(partial(store.due_deliveries, busy), runs)
    figures += [
        figure(f"due_deliveries at the busiest instant ({len(due):,} rows), median",
               median_ms(busy_seconds), "ms"),
        figure(f"due_deliveries, nothing sent all season ({len(backlog):,} rows), median",
               median_ms(backlog_seconds), "ms"),
    ]
    return figures


def run(backend: str, quick: bool, runs: int) -> list[Figure]:
    """Build the fixture on a fresh database of ``backend`` and measure, each timing the
    median of ``runs`` calls (at least 3)."""
    runs = max(runs, 3)
    inserts = 500 if quick else 3000
    timetable = load_timetable(TASKS_PATH)
    units = concrete_units(timetable)
    tasks = [task.id for task in timetable.tasks]
    plan = plan_reminders(timetable, CYCLE, WorkingDayCalendar())
    specs = delivery_specs(plan, contacts_by_unit(timetable, CONTACTS, 100_000),
                           [LEADERSHIP_CHAT])
    with migrated_store(backend) as store:
        sync_units(store, timetable, NOW)
        start = time.perf_counter()
        loaded = load_reports(store, timetable, CYCLES, REPORTS_PER_PAIR)
        setup = time.perf_counter() - start
        figures = [
            info("fixture: reports (tasks x units x cycles x per pair)",
                 f"{loaded:,} ({len(tasks)} x {len(units)} x {len(CYCLES)} x "
                 f"{REPORTS_PER_PAIR})"),
            figure("fixture: bulk load (not a target)", setup, "s"),
        ]
        figures += measure_reports(store, units, tasks, runs, inserts)
        figures += measure_deliveries(store, specs, runs)
    return figures


def main() -> None:
    """Parse the options, measure each backend, print one table each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both",
                        help="the database to measure (default: both)")
    add_common_options(parser, runs=20)
    options = parser.parse_args()
    if options.quick and options.runs == 20:
        options.runs = 5
    print_environment()
    record = Record("bench_storage", options)
    figures = []
    for backend in BACKENDS if options.backend == "both" else (options.backend,):
        figures += [Figure(f"{backend}: {f.name}", f.value, f.target, f.ok, f.number, f.unit,
                           f.runs) for f in run(backend, options.quick, options.runs)]
    finish(record, "bench_storage", figures)


if __name__ == "__main__":
    main()
