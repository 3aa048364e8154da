"""What the benchmarks share: the figure table, timers, throw-away databases and the fixture.

Not a benchmark itself. The benchmarks are run from the repository root as modules, e.g.
``python -m bench.bench_domain``; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

from schedules.loader import load_timetable
from schedules.model import Timetable, UnitKind
from storage import REPORT_STATUSES, AuditEntry, Membership, Person, StatusReport, Store

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
TASKS_PATH = ROOT / "data" / "tasks.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BACKENDS = ("sqlite", "postgres")


# -- the table ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """One measured figure, with its target if it has one.

    Attributes:
        name: What was measured, e.g. ``load_timetable (median)``.
        value: The value as printed, with its unit.
        target: The target as printed (``< 200 ms``), or ``—`` when there is none.
        ok: Whether the target was met; None for a figure without a target.
        number: The value as a number (in ``unit``), for the JSON record; None for text.
        unit: The unit of ``number`` (``ms``, ``msgs/s``), "" for a count or a ratio.
        runs: The value of each run when ``number`` is their median; empty otherwise.
    """

    name: str
    value: str
    target: str = "—"
    ok: bool | None = None
    number: float | None = None
    unit: str = ""
    runs: tuple[float, ...] = ()


def figure(name: str, value: float, unit: str, *, below: float | None = None,
           at_most: float | None = None, at_least: float | None = None, digits: int = 1,
           runs: Sequence[float] = ()) -> Figure:
    """A figure and its target, if any: an upper bound (``below``: strict, ``at_most``: not)
    or a lower one (``at_least``). ``runs``: the values of each run ``value`` is the median of."""
    shown = f"{value:,.{digits}f} {unit}".strip()
    if runs:
        shown += f" (median of {len(runs)})"
    numbers = {"number": float(value), "unit": unit, "runs": tuple(float(r) for r in runs)}
    if below is not None:
        return Figure(name, shown, f"< {below:g} {unit}".strip(), value < below, **numbers)
    if at_most is not None:
        return Figure(name, shown, f"<= {at_most:g} {unit}".strip(), value <= at_most,
                      **numbers)
    if at_least is not None:
        return Figure(name, shown, f">= {at_least:g} {unit}".strip(), value >= at_least,
                      **numbers)
    return Figure(name, shown, **numbers)


def median_figure(name: str, values: Sequence[float], unit: str, **target: Any) -> Figure:
    """:func:`figure` of the median of ``values`` (one per run), keeping every run's value."""
    return figure(name, statistics.median(values), unit, runs=values, **target)


def info(name: str, value: object) -> Figure:
    """A figure without a target (a count, a size, the setting of a run)."""
    return Figure(name, str(value))


def print_table(title: str, figures: Sequence[Figure]) -> int:
    """Print ``figures`` as a Markdown table under ``title``; return how many targets missed."""
    rows = [("figure", "value", "target", "ok?")]
    for f in figures:
        verdict = "—" if f.ok is None else ("ok" if f.ok else "MISSED")
        rows.append((f.name, f.value, f.target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(f"\n## {title}\n")
    for index, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    missed = sum(1 for f in figures if f.ok is False)
    checked = sum(1 for f in figures if f.ok is not None)
    print(f"\n{checked - missed}/{checked} targets met" + (f", {missed} MISSED" if missed else ""))
    return missed


def print_environment() -> None:
    """One line naming the machine and the interpreter, for the record."""
    print(f"# {platform.node()} · {os.cpu_count()} cpus · Python {platform.python_version()} · "
          f"{sys.platform} · {dt.datetime.now(SHANGHAI):%Y-%m-%d %H:%M %Z}")


# -- the record --------------------------------------------------------------------------------
RESULTS_ENV = "DUBAN_BENCH_RESULTS"
"""Environment variable naming the folder the JSON records go to (``bench/run_all --quick``
sets it to a temporary folder, so that CI leaves the checkout clean)."""
DEFAULT_RESULTS = ROOT / "bench" / "results"


def add_common_options(parser: argparse.ArgumentParser, *, runs: int = 3) -> None:
    """``--quick``, ``--runs N`` (default ``runs``, at least 3 for a median) and
    ``--results DIR`` (default ``$DUBAN_BENCH_RESULTS``, else ``bench/results``)."""
    parser.add_argument("--quick", action="store_true",
                        help="a smaller load, for CI and a first look (figures are indicative)")
    parser.add_argument("--runs", type=int, default=runs,
                        help=f"repetitions whose median is reported (default {runs})")
    parser.add_argument("--results", type=Path, default=None,
                        help="folder for the JSON record (default: $DUBAN_BENCH_RESULTS, else "
                             "bench/results)")


def git_commit() -> dict[str, Any]:
    """The commit measured (``git rev-parse HEAD``) and whether the work tree had changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD") or None,
            "branch": git("rev-parse", "--abbrev-ref", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def machine() -> dict[str, Any]:
    """The machine: CPU model and cores, RAM, OS, Python and the key library versions."""
    model = platform.processor() or platform.machine()
    memory = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    from importlib import metadata
    for package in ("python-telegram-bot", "sqlalchemy", "sqlmodel", "psycopg", "aiohttp",
                    "openpyxl", "matplotlib"):
        with suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    import sqlite3
    versions["sqlite"] = sqlite3.sqlite_version
    return {"node": platform.node(), "cpu_model": model, "cores": os.cpu_count(),
            "ram_gib": memory, "os": platform.platform(),
            "python": platform.python_version(), "versions": versions}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (``os.getloadavg``)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class Record:
    """The JSON record of one benchmark run: started when made, written by :meth:`write`.

    Holds the commit, the machine, the load average at the start and at the end, the command
    line, the mode, every figure (with the values of each run where it is a median) and the
    ratios measured in the same run.
    """

    def __init__(self, name: str, options: argparse.Namespace) -> None:
        self.name = name
        self.options = options
        self.started = dt.datetime.now(dt.UTC)
        self.load_at_start = load_average()
        self.commit = git_commit()  # the code measured: as it was when the run started
        self.ratios: dict[str, float] = {}
        self.extra: dict[str, Any] = {}

    def ratio(self, name: str, value: float) -> float:
        """Keep a ratio measured in this run (e.g. duban's rate over the bare bot's)."""
        self.ratios[name] = round(value, 4)
        return value

    def write(self, figures: Sequence[Figure]) -> Path:
        """Write the record as ``<results>/<name>-<timestamp>.json`` (``-2``, ``-3``… when a run
        that started in the same second wrote one already: records are never overwritten);
        returns the path."""
        folder = (getattr(self.options, "results", None)
                  or Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS))
        folder.mkdir(parents=True, exist_ok=True)
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        path = folder / f"{self.name}-{stamp}.json"
        for number in itertools.count(2):
            try:  # created exclusively: two runs started in the same second keep both records
                with path.open("x", encoding="utf-8"):
                    break
            except FileExistsError:
                path = folder / f"{self.name}-{stamp}-{number}.json"
        record = {
            "benchmark": self.name,
            "started": self.started.isoformat(timespec="seconds"),
            "seconds": round((dt.datetime.now(dt.UTC) - self.started).total_seconds(), 1),
            "mode": "quick" if getattr(self.options, "quick", False) else "full",
            "command": shlex.join([Path(sys.executable).name, "-m", f"bench.{self.name}",
                                   *sys.argv[1:]]),
            **self.commit,
            "machine": machine(),
            "load_average": {"start": self.load_at_start, "end": load_average()},
            "figures": [{"name": f.name, "value": f.number, "unit": f.unit, "shown": f.value,
                         "target": None if f.target == "—" else f.target, "ok": f.ok,
                         **({"runs": list(f.runs)} if f.runs else {})} for f in figures],
            "ratios": self.ratios,
            **self.extra,
        }
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n",
                        encoding="utf-8")
        return path


def finish(record: Record, title: str, figures: Sequence[Figure]) -> int:
    """Write the JSON record, then print the figures (last); returns how many targets missed."""
    path = record.write(figures)
    try:
        shown = path.relative_to(ROOT)
    except ValueError:
        shown = path
    print(f"\nrecord: {shown} (load average {' '.join(map(str, load_average()))})")
    return print_table(title, figures)


# -- measuring ---------------------------------------------------------------------------------
def timed(function: Callable[[], T], times: int) -> tuple[list[float], T]:
    """Call ``function`` ``times`` (>= 1) times: the seconds each call took, the last result."""
    seconds: list[float] = []
    while True:
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
        if len(seconds) >= times:
            return seconds, result


def median_ms(seconds: Sequence[float]) -> float:
    """The median of ``seconds``, in milliseconds."""
    return statistics.median(seconds) * 1000


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile (p50 of 50 values is the 25th smallest, p95 the 48th)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def peak_allocated(function: Callable[[], T]) -> tuple[T, int]:
    """Run ``function`` once under tracemalloc; its result and the peak bytes it allocated."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def mib(size: int) -> float:
    """Bytes in MiB."""
    return size / (1024 * 1024)


def max_rss_mib() -> float:
    """The process's peak resident set so far (``getrusage`` ``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- throw-away databases ----------------------------------------------------------------------
@contextmanager
def bench_database(backend: str) -> Iterator[str]:
    """An empty database on ``backend``, removed on the way out whatever happened.

    The same mechanism as the test-suite's (``tests.dbs.database_url``): a temporary SQLite file,
    or a fresh PostgreSQL database on ``DUBAN_TEST_PG_URL`` (default 127.0.0.1:5432 as postgres).
    """
    from tests.dbs import database_url  # dev-only helper; the benchmarks run from the repo root

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    with tempfile.TemporaryDirectory(prefix="duban_bench_") as folder, \
            database_url(backend, Path(folder)) as url:
        yield url


@contextmanager
def migrated_store(backend: str) -> Iterator[Store]:
    """A :class:`Store` on a fresh database of ``backend``, upgraded to the newest schema."""
    with bench_database(backend) as url:
        store = Store(url)
        try:
            store.upgrade()
            yield store
        finally:
            store.close()


# -- the fixture -------------------------------------------------------------------------------
def concrete_units(timetable: Timetable) -> list[str]:
    """The ids of the units that report (a group such as 各镇政府 is not a unit of its own)."""
    return [u.id for u in timetable.units if u.kind is not UnitKind.GROUP]


def sync_units(store: Store, timetable: Timetable, now: dt.datetime) -> None:
    """Mirror the timetable's units into the store, as the bot does on start."""
    store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], now)


def load_reports(store: Store, timetable: Timetable, cycles: Sequence[int], per_pair: int, *,
                 statuses: Sequence[str] = REPORT_STATUSES, seed: int = 2026) -> int:
    """Bulk-load status reports (and their audit entries) for every task x unit x cycle.

    Setup only: a Core ``INSERT`` of many rows at once, not :meth:`Store.add_report`. Each pair
    reports ``per_pair`` times, about fortnightly from early January, so that the reports of a
    cycle all lie before mid-November of that year. Statuses are drawn from ``statuses``.

    Returns:
        How many reports were inserted.
    """
    rng = random.Random(seed)
    units = concrete_units(timetable)
    tasks = [task.id for task in timetable.tasks]
    reports: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for cycle in cycles:
        start = dt.datetime(cycle, 1, 5, 9, 0, tzinfo=SHANGHAI)
        for task_id in tasks:
            for unit_id in units:
                for index in range(per_pair):
                    at = start + dt.timedelta(days=14 * index, minutes=rng.randrange(0, 600))
                    status = rng.choice(statuses)
                    progress = rng.randrange(5, 100, 5) if status == "in_progress" else None
                    reports.append({
                        "task_id": task_id, "unit_id": unit_id, "cycle": cycle,
                        "status": status, "progress": progress,
                        "note": "" if index % 3 else "按计划推进，已完成阶段性工作",
                        "reporter_telegram_id": 100_000 + rng.randrange(300),
                        "reported_at": at, "source": "button", "source_message_id": None,
                    })
                    audits.append({"at": at, "actor_telegram_id": None, "action": "report.added",
                                   "subject": "report", "details": "{}"})
    with store.engine.begin() as connection:
        for table, rows in ((StatusReport, reports), (AuditEntry, audits)):
            for first in range(0, len(rows), 5000):
                connection.execute(insert(table), rows[first:first + 5000])
        if connection.dialect.name == "postgresql":
            # A database that grew over five years has planner statistics (autovacuum's
            # ANALYZE); a bulk load that just happened would not have them yet.
            connection.execute(text("ANALYZE"))
    return len(reports)


def contacts_by_unit(timetable: Timetable, count: int, first_id: int) -> dict[str, list[int]]:
    """``count`` contacts (Telegram ids from ``first_id``) dealt round-robin over the units."""
    units = concrete_units(timetable)
    contacts: dict[str, list[int]] = {unit: [] for unit in units}
    for index in range(count):
        contacts[units[index % len(units)]].append(first_id + index)
    return contacts


def load_fixture_elsewhere(url: str, cycles: Sequence[int], per_pair: int,
                           statuses: Sequence[str] = REPORT_STATUSES) -> int:
    """:func:`load_reports` (after syncing the units) in a separate, spawned process.

    For the benchmarks that measure their own process's memory: the fixture's rows never pass
    through it. Returns how many reports were inserted.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_load_fixture, url, tuple(cycles), per_pair, tuple(statuses)).result()


def _load_fixture(url: str, cycles: tuple[int, ...], per_pair: int,
                  statuses: tuple[str, ...]) -> int:
    timetable = load_timetable(TASKS_PATH)
    store = Store(url)
    try:
        sync_units(store, timetable, dt.datetime(cycles[0], 1, 1, tzinfo=SHANGHAI))
        return load_reports(store, timetable, cycles, per_pair, statuses=statuses)
    finally:
        store.close()


def enrol_contacts(store: Store, contacts: dict[str, list[int]], now: dt.datetime,
                   language: str = "zh_Hans") -> int:
    """Enrol every contact of ``contacts`` (unit -> Telegram ids) at once: setup, a Core
    ``INSERT`` of the person and membership rows (``Store.add_person`` makes one transaction,
    and one audit entry, each). Returns how many."""
    people = [{"telegram_user_id": telegram_id, "display_name": f"联络员{telegram_id}",
               "language": language, "role": "contact", "active": True, "digests": False,
               "created_at": now} for ids in contacts.values() for telegram_id in ids]
    members = [{"telegram_user_id": telegram_id, "unit_id": unit_id, "active": True,
                "created_at": now} for unit_id, ids in contacts.items() for telegram_id in ids]
    with store.engine.begin() as connection:
        for table, rows in ((Person, people), (Membership, members)):
            for first in range(0, len(rows), 5000):
                connection.execute(insert(table), rows[first:first + 5000])
    return len(people)


def reset_peak_rss() -> bool:
    """Reset this process's peak resident set (Linux ``/proc/self/clear_refs``); False if the
    kernel does not allow it (then :func:`peak_rss_mib` is the peak since start)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """This process's peak resident set (``VmHWM``) in MiB, since start or the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return max_rss_mib()
