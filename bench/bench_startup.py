"""Start-up and footprint: ``duban run`` to its first getUpdates, idle memory, ``duban --help``.

Each figure is a fresh process of the real console script, next to a fresh
``python -c "import telegram"`` measured in the same run::

    python -m bench.bench_startup            # 5 starts each with 20 and 2,000 people
    python -m bench.bench_startup --quick    # 1 start each with 20 and 100, 1 s idle

Start-up: ``duban run`` (long polling) on a SQLite database with the shipped timetable and 20,
then 2,000 enrolled contacts, against the Bot API stand-in (on a thread of this process). One
``/start`` is waiting in the stand-in, so the bot's first ``getUpdates`` is answered at once and
the stand-in logs it as it arrives: start-up is from just before the process is spawned to that
call (one monotonic clock, the machine's). The bot's first dispatch (a second after start) then
plans the cycle for everyone: the process counts as idle once that dispatch logged its summary
line and its CPU time has not moved for ``--idle`` seconds since (2; 1 with ``--quick``), at
most 300 s after start. (The CPU time alone also stands still while the dispatch waits for the
disk or, on a loaded machine, for a core.) Its resident set
(``VmRSS``) is read then, and its peak (``VmHWM``: the first dispatch's planning included),
from ``/proc``, before it is killed; how long the first dispatch kept it busy is recorded too.
The start-up target is < 3 s and independent of the number of people: the ratio of the medians
(2,000 over 20) is recorded. Idle RSS target: < 150 MB (MiB here, the stricter reading).

``duban --help``: wall time of fresh processes after one warm-up (target < 0.5 s), beside
``python -c "import telegram"`` and ``python -c pass``. Their peak RSS is each child's own
``VmHWM``, which it prints as it exits: ``ru_maxrss`` of a child started by vfork and exec also
counts the parent's memory at the exec, so it said more about this benchmark than the child.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

from bench.bench_cli import DUBAN
from bench.common import (
    SHANGHAI,
    TASKS_PATH,
    Figure,
    Record,
    add_common_options,
    concrete_units,
    finish,
    info,
    median_figure,
    print_environment,
)
from schedules.loader import load_timetable
from storage import Store
from tests.bot.standin_thread import running_standin

TOKEN = "123456:BENCH-startup-token"
ADMIN = 1000
FIRST_CONTACT = 100_000
STARTUP_TARGET_S = 3.0
IDLE_RSS_TARGET_MIB = 150.0
HELP_TARGET_S = 0.5


def enrolled_database(folder: Path, people: int) -> str:
    """A migrated SQLite database in ``folder`` with ``people`` contacts over the units."""
    url = f"sqlite:///{folder / 'duban.sqlite3'}"
    timetable = load_timetable(TASKS_PATH)
    now = dt.datetime(2026, 11, 1, tzinfo=SHANGHAI)
    units = concrete_units(timetable)
    with Store(url) as store:
        store.upgrade()
        store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], now)
        for index in range(people):
            store.add_person(FIRST_CONTACT + index, f"联络员{index}", "contact",
                             units[index % len(units)], "zh_Hans", now)
    return url


def fresh_copy(url: str, folder: Path) -> str:
    """A copy of the SQLite database at ``url`` in ``folder`` (SQLite's backup: the write-ahead
    log included); its URL."""
    folder.mkdir()
    copy = folder / "duban.sqlite3"
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as source, \
            closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return f"sqlite:///{copy}"


def proc_status(pid: int) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of ``pid`` in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


IDLE_LIMIT_S = 300.0
"""Seconds after start by which the bot must have gone quiet (its first dispatch done)."""


class Start(NamedTuple):
    """One ``duban run``: seconds to the first getUpdates and to the reply to the waiting
    /start; RSS (MiB) once idle and the peak (VmHWM) by then; CPU seconds used by the first
    getUpdates and its RSS (MiB) then; seconds from start until it went quiet (the first
    dispatch's planning) and the CPU seconds used by then."""

    first: float
    replied: float
    idle_rss: float
    peak_rss: float
    cpu_at_first: float
    rss_at_first: float
    quiet_after: float
    cpu_when_quiet: float


def wait_until_quiet(pid: int, quiet: float, start: float) -> tuple[float, float]:
    """Wait until ``pid``'s CPU time has not moved for ``quiet`` seconds; the seconds from
    ``start`` (monotonic) to the beginning of that quiet spell, and the CPU seconds used.

    Raises:
        RuntimeError: still busy :data:`IDLE_LIMIT_S` after ``start``.
    """
    used, since = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() - start > IDLE_LIMIT_S:
            raise RuntimeError(f"duban run still busy {IDLE_LIMIT_S:.0f} s after start")
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now - used > 0.02:  # a clock tick or two: the bot is working
            used, since = now, time.monotonic()
    return since - start, used


DISPATCH_LINE = "bot.reminders: dispatch at "
"""The start of the log line a dispatch run that did anything ends with (its summary)."""


def read_lines(process: subprocess.Popen[bytes]) -> list[str]:
    """The lines ``process`` writes to its stderr, collected by a thread as they come (the
    pipe never fills up)."""
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines: list[str], part: str, pid: int, start: float) -> None:
    """Wait until a line containing ``part`` was logged; or, when none comes (a first dispatch
    with nothing due logs none), until the CPU time has not moved for 10 s.

    Raises:
        RuntimeError: neither :data:`IDLE_LIMIT_S` after ``start``.
    """
    used, since = cpu_seconds(pid), time.monotonic()
    while not any(part in line for line in lines):
        if time.monotonic() - start > IDLE_LIMIT_S:
            raise RuntimeError(f"duban run still busy {IDLE_LIMIT_S:.0f} s after start")
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now - used > 0.02:
            used, since = now, time.monotonic()
        elif time.monotonic() - since > 10:
            return


def start_once(url: str, folder: Path, quiet: float) -> Start:
    """One ``duban run``, measured as the module's docstring says."""
    with running_standin() as api:
        api.add_bot(TOKEN, "duban_startup_bot", 123456)
        api.add_user(ADMIN, "管理员", "zh-hans")
        waiting = api.send_command(ADMIN, "start")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DUBAN_", "TELEGRAM_")) and k != "DATABASE_URL"}
        env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
                   TELEGRAM_FILE_BASE_URL=api.base_file_url, DATABASE_URL=url,
                   DUBAN_DATA_DIR=str(folder / "var"), DUBAN_ADMINS=str(ADMIN))
        start = time.monotonic()
        process = subprocess.Popen([str(DUBAN), "run"], cwd=folder, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lines = read_lines(process)
        try:
            first = replied = None
            cpu = at_first = 0.0
            deadline = start + 60
            while (first is None or replied is None) and time.monotonic() < deadline:
                if process.poll() is not None:
                    time.sleep(0.2)  # the reader's last lines
                    raise RuntimeError("duban run stopped: " + "".join(lines)[-2000:])
                polls = api.calls("getUpdates")
                if polls and first is None:
                    first = polls[0].at - start
                    cpu = cpu_seconds(process.pid)
                    at_first = proc_status(process.pid)["VmRSS"]
                answers = [m for m in api.bot_messages(ADMIN)
                           if m["message_id"] > waiting["message_id"]]
                if answers and replied is None:
                    replied = time.monotonic() - start
                time.sleep(0.002)
            if first is None or replied is None:
                raise RuntimeError("duban run did not poll and answer within 60 s")
            time.sleep(1.5)  # the first dispatch starts a second after start
            # its summary line first: the CPU time alone also stands still while the run
            # waits for the disk (a commit's fsync) or for a core on a loaded machine
            wait_for_line(lines, DISPATCH_LINE, process.pid, start)
            quiet_after, used = wait_until_quiet(process.pid, quiet, start)
            memory = proc_status(process.pid)
        finally:
            # Killed, not stopped: a graceful stop waits out the long poll, which is not what
            # is measured here, and the database is thrown away.
            process.kill()
            process.wait()
    return Start(first, replied, memory["VmRSS"], memory["VmHWM"], cpu, at_first, quiet_after,
                 used)


OWN_PEAK = ("import atexit, sys\n"
            "def _peak():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM:'):\n"
            "            sys.__stderr__.write('VMHWM ' + line.split()[1] + '\\n')\n"
            "atexit.register(_peak)\n")
"""Python run first by a probe's child (``-c``): at exit it writes its own peak RSS in KiB."""


def process_probe(command: list[str], runs: int, cwd: Path | None = None
                  ) -> tuple[list[float], list[float], list[float]]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB, the child's own VmHWM) of
    fresh processes of ``command`` — a Python program given as ``[python, file-or-script,
    args...]`` — after one warm-up. CPU seconds are ``os.wait4``'s resource usage of each
    child; the peak RSS is printed by the child itself at exit (see :data:`OWN_PEAK`)."""
    python, *rest = command
    if rest and rest[0] == "-c":
        code = OWN_PEAK + rest[1]
    else:  # a console script: run its file as __main__ with its arguments
        code = (OWN_PEAK + "import runpy, sys\nsys.argv = " + repr(rest)
                + "\nrunpy.run_path(sys.argv[0], run_name='__main__')\n")
    wall: list[float] = []
    cpu: list[float] = []
    rss: list[float] = []
    for index in range(runs + 1):
        start = time.perf_counter()
        process = subprocess.Popen([python, "-c", code], cwd=cwd, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        assert process.stderr is not None
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        errors = process.stderr.read().decode()
        process.stderr.close()
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise RuntimeError(f"{command} failed with {process.returncode}: {errors[-2000:]}")
        peak = [line.split()[1] for line in errors.splitlines() if line.startswith("VMHWM ")]
        if index:
            wall.append(elapsed)
            cpu.append(usage.ru_utime + usage.ru_stime)
            rss.append(int(peak[-1]) / 1024)
    return wall, cpu, rss


def run(options: argparse.Namespace, record: Record) -> list[Figure]:
    """Measure everything; the figures."""
    runs = 1 if options.quick else max(options.runs, 3)  # quick: that it runs (CI)
    quiet = options.idle if options.idle is not None else (1.0 if options.quick else 2.0)
    figures: list[Figure] = []
    telegram_s, telegram_cpu, telegram_rss = process_probe(
        [sys.executable, "-c", "import telegram"], runs)
    bare_s, _, bare_rss = process_probe([sys.executable, "-c", "pass"], runs)
    medians: dict[int, float] = {}
    few, many = 20, (100 if options.quick else 2000)
    for people in (few, many):
        with tempfile.TemporaryDirectory(prefix="duban-bench-startup-") as name:
            folder = Path(name)
            url = enrolled_database(folder, people)
            # each start on a fresh copy: a first start plans the cycle and skips what is past,
            # a later one on the same database finds it all done
            results = [start_once(fresh_copy(url, folder / f"run-{index}"), folder, quiet)
                       for index in range(runs)]
        first = [r.first for r in results]
        medians[people] = statistics.median(first)
        figures += [
            median_figure(f"`duban run` to first getUpdates, {people:,} people", first, "s",
                          below=STARTUP_TARGET_S, digits=2),
            median_figure(f"`duban run`: CPU used by its first getUpdates, {people:,} people",
                          [r.cpu_at_first for r in results], "s", digits=2),
            median_figure(f"`duban run` to the reply to a waiting /start, {people:,} people",
                          [r.replied for r in results], "s", digits=2),
            median_figure(f"RSS at the first getUpdates, {people:,} people",
                          [r.rss_at_first for r in results], "MiB"),
            median_figure(f"first dispatch done (quiet from), seconds after start, "
                          f"{people:,} people", [r.quiet_after for r in results], "s", digits=1),
            median_figure(f"CPU used by then, {people:,} people",
                          [r.cpu_when_quiet for r in results], "s", digits=2),
            median_figure(f"idle RSS (after the first dispatch), {people:,} people",
                          [r.idle_rss for r in results], "MiB", below=IDLE_RSS_TARGET_MIB),
            median_figure(f"peak RSS by then (VmHWM, the first dispatch included), "
                          f"{people:,} people", [r.peak_rss for r in results], "MiB"),
        ]
        record.extra.setdefault("starts", {})[people] = [r._asdict() for r in results]
    ratio = record.ratio(f"startup {many:,} people / {few} people", medians[many] / medians[few])
    figures.append(info(f"start-up, {many:,} people over {few} people (ratio of medians)",
                        f"{ratio:.2f}"))
    figures += [
        median_figure('`python -c "import telegram"` wall time', telegram_s, "s", digits=3),
        median_figure('`python -c "import telegram"` CPU time', telegram_cpu, "s", digits=3),
        median_figure('`python -c "import telegram"` peak RSS', telegram_rss, "MiB"),
        median_figure('`python -c "pass"` wall time', bare_s, "s", digits=3),
        median_figure('`python -c "pass"` peak RSS', bare_rss, "MiB"),
    ]
    with tempfile.TemporaryDirectory(prefix="duban-bench-help-") as name:
        help_s, help_cpu, help_rss = process_probe([sys.executable, str(DUBAN), "--help"],
                                                   max(runs, 5), Path(name))
    figures += [
        median_figure("`duban --help` wall time", help_s, "s", below=HELP_TARGET_S, digits=3),
        median_figure("`duban --help` CPU time", help_cpu, "s", digits=3),
        median_figure("`duban --help` peak RSS", help_rss, "MiB"),
    ]
    record.ratio(f"start-up ({many:,} people) / import telegram",
                 medians[many] / statistics.median(telegram_s))
    record.ratio("duban --help / import telegram",
                 statistics.median(help_s) / statistics.median(telegram_s))
    figures.append(info(f"ratios to `import telegram`: start-up ({many:,} people), --help",
                        f"{record.ratios[f'start-up ({many:,} people) / import telegram']:.2f}, "
                        f"{record.ratios['duban --help / import telegram']:.2f}"))
    return figures


def main() -> None:
    """Parse the options, measure, write the record, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_common_options(parser, runs=5)
    parser.add_argument("--idle", type=float, default=None,
                        help="seconds without CPU use that count as idle, after the first "
                             "dispatch (2; 1 with --quick)")
    options = parser.parse_args()
    if options.quick and options.runs == 5:
        options.runs = 3
    print_environment()
    record = Record("bench_startup", options)
    finish(record, "bench_startup — start-up and footprint", run(options, record))


if __name__ == "__main__":
    main()
