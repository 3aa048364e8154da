"""Domain speed and memory: load the timetable, plan a cycle's reminders, render the summary.

Run from the repository root::

    python -m bench.bench_domain            # 20 timed runs of each
    python -m bench.bench_domain --quick    # 5 runs

Prints a table of figure | value | target | ok?; a missed target prints MISSED, and the exit
status is 0 all the same (benchmarks report, tests decide).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from functools import partial

from bench.common import (
    SHANGHAI,
    TASKS_PATH,
    Figure,
    Record,
    add_common_options,
    concrete_units,
    figure,
    finish,
    info,
    median_ms,
    mib,
    peak_allocated,
    print_environment,
    timed,
)
from bot.i18n import translator
from bot.render import paginate, render_summary
from schedules.calendar import WorkingDayCalendar
from schedules.loader import load_timetable
from schedules.model import Timetable
from schedules.planning import plan_reminders
from storage import REPORT_STATUSES, StatusReport

CYCLE = 2026
TODAY = dt.date(2026, 11, 26)
LOAD_TARGET_MS = 200
PLAN_TARGET_MS = 100
SUMMARY_TARGET_MS = 20


def full_reports(timetable: Timetable, cycle: int) -> dict[tuple[int, str], StatusReport]:
    """A latest report for every task x unit: what ``Store.latest_reports`` gives when all did.

    The rows are the storage model itself, so attribute access costs what it costs in the bot.
    """
    rng = random.Random(cycle)
    latest: dict[tuple[int, str], StatusReport] = {}
    for task in timetable.tasks:
        for unit_id in concrete_units(timetable):
            status = rng.choice(REPORT_STATUSES)
            latest[(task.id, unit_id)] = StatusReport(
                id=len(latest) + 1, task_id=task.id, unit_id=unit_id, cycle=cycle, status=status,
                progress=rng.randrange(5, 100, 5) if status == "in_progress" else None,
                note="按计划推进" if rng.random() < 0.3 else "",
                reported_at=dt.datetime(cycle, 11, 2, 9, 30, tzinfo=SHANGHAI),
                source="button")
    return latest


def run(runs: int) -> list[Figure]:
    """Measure everything; ``runs`` timed calls of each function."""
    figures: list[Figure] = [info("timed runs per figure", runs)]

    load = partial(load_timetable, TASKS_PATH)
    first, timetable = timed(load, 1)
    seconds, timetable = timed(load, runs)
    _, load_peak = peak_allocated(load)
    figures += [
        figure("load_timetable, first call", first[0] * 1000, "ms", below=LOAD_TARGET_MS),
        figure("load_timetable, median", median_ms(seconds), "ms", below=LOAD_TARGET_MS),
        figure("load_timetable, tracemalloc peak", mib(load_peak), "MiB", digits=2),
        info("tasks / units / measures",
             f"{len(timetable.tasks)} / {len(timetable.units)} / {len(timetable.measures)}"),
    ]

    first, plan = timed(lambda: plan_reminders(timetable, CYCLE, WorkingDayCalendar()), 1)
    calendar = WorkingDayCalendar()  # one per application, as in bot.app.Services
    plan_cycle = partial(plan_reminders, timetable, CYCLE, calendar)
    seconds, plan = timed(plan_cycle, runs)
    _, plan_peak = peak_allocated(plan_cycle)
    kinds = {kind: sum(1 for r in plan if r.kind.value == kind)
             for kind in ("before", "overdue", "digest")}
    figures += [
        figure(f"plan_reminders {CYCLE}, fresh calendar", first[0] * 1000, "ms",
               below=PLAN_TARGET_MS),
        figure(f"plan_reminders {CYCLE}, median", median_ms(seconds), "ms",
               below=PLAN_TARGET_MS),
        figure("plan_reminders, tracemalloc peak", mib(plan_peak), "MiB", digits=2),
        info("reminders planned (before / overdue / digest)",
             f"{len(plan)} ({kinds['before']} / {kinds['overdue']} / {kinds['digest']})"),
    ]

    latest = full_reports(timetable, CYCLE)
    for language in ("zh_Hans", "en"):
        t = translator(language)
        summary = partial(render_summary, t, timetable, CYCLE, latest, TODAY)
        seconds, text = timed(summary, runs)
        _, summary_peak = peak_allocated(summary)
        figures += [
            figure(f"render_summary {language}, {len(latest)} reports, median",
                   median_ms(seconds), "ms", below=SUMMARY_TARGET_MS, digits=2),
            figure(f"render_summary {language}, tracemalloc peak", mib(summary_peak), "MiB",
                   digits=2),
            info(f"render_summary {language}, text",
                 f"{len(text):,} chars, {len(paginate(text))} page(s)"),
        ]
    return figures


def main() -> None:
    """Parse the options, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_common_options(parser, runs=20)
    options = parser.parse_args()
    print_environment()
    record = Record("bench_domain", options)
    finish(record, "bench_domain", run(5 if options.quick else max(options.runs, 3)))


if __name__ == "__main__":
    main()
