"""How fast the front door opens: ``duban --help`` and friends as whole processes.

    python -m bench.bench_cli [--quick] [--runs N]

Runs the real console script (``duban`` beside this Python) in a fresh process each time, from
a temporary working directory with no ``.env``, and reports the minimum, median and maximum wall
time; measures ``import bot.cli`` alone in a fresh interpreter; and lists which heavy modules
(Telegram, SQLAlchemy, Alembic, openpyxl, the bot's handlers) that import pulls in: none should,
they belong to the subcommands that use them. Prints the figure table and writes the figures
as JSON to ``bench/results/bench_cli-<time>.json`` (``bench.common.Record``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    Figure,
    Record,
    add_common_options,
    figure,
    finish,
    info,
    print_environment,
)

ROOT = Path(__file__).resolve().parents[1]
DUBAN = Path(sys.executable).parent / "duban"
HEAVY = ("telegram", "sqlalchemy", "alembic", "openpyxl", "bot.app", "bot.handlers", "storage")
HELP_TARGET_MS = 500.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUBAN_", "TELEGRAM_"))}
    env.pop("DATABASE_URL", None)
    return env


def wall_times(command: list[str], runs: int, cwd: Path) -> list[float]:
    """Seconds each of ``runs`` fresh processes of ``command`` took, after one warm-up."""
    seconds = []
    for index in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        if index:  # the first run warms the disk cache and the .pyc files
            seconds.append(time.perf_counter() - start)
    return seconds


def import_probe(cwd: Path) -> tuple[float, list[str]]:
    """Seconds ``import bot.cli`` takes in a fresh interpreter, and the heavy modules it loads."""
    code = ("import sys, time, json; t = time.perf_counter(); import bot.cli; "
            "s = time.perf_counter() - t; "
            f"print(json.dumps([s, [m for m in {list(HEAVY)!r} if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=_env(), check=True,
                         capture_output=True, text=True).stdout
    seconds, heavy = json.loads(out)
    return float(seconds), list(heavy)


def run(runs: int) -> tuple[list[Figure], dict[str, object]]:
    """Measure; the figures for the table and the record for the JSON file."""
    with tempfile.TemporaryDirectory(prefix="duban-bench-cli-") as folder:
        cwd = Path(folder)
        help_s = wall_times([str(DUBAN), "--help"], runs, cwd)
        tasks_s = wall_times([str(DUBAN), "tasks", "--json"], runs, cwd)
        imports = [import_probe(cwd) for _ in range(runs)]
    import_s = [seconds for seconds, _ in imports]
    heavy = sorted({name for _, names in imports for name in names})
    help_median = statistics.median(help_s) * 1000
    figures = [
        figure("`duban --help` (median of fresh processes)", help_median, "ms",
               below=HELP_TARGET_MS, digits=0),
        info("`duban --help` min / max", f"{min(help_s) * 1000:.0f} / "
                                         f"{max(help_s) * 1000:.0f} ms"),
        figure("`import bot.cli` (median)", statistics.median(import_s) * 1000, "ms", digits=0),
        info("heavy modules loaded by `import bot.cli`", ", ".join(heavy) or "none"),
        figure("`duban tasks --json` (median)", statistics.median(tasks_s) * 1000, "ms",
               digits=0),
        info("runs per figure", runs),
    ]
    record: dict[str, object] = {
        "benchmark": "bench_cli",
        "command": f"{DUBAN} --help",
        "machine": {"node": platform.node(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": runs,
        "help_ms": {"min": min(help_s) * 1000, "median": help_median,
                    "max": max(help_s) * 1000, "target_below": HELP_TARGET_MS},
        "import_bot_cli_ms": {"median": statistics.median(import_s) * 1000},
        "tasks_json_ms": {"median": statistics.median(tasks_s) * 1000},
        "heavy_modules_on_import": heavy,
    }
    return figures, record


def main() -> None:
    """Parse the options, measure, print the table, write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_common_options(parser, runs=15)
    options = parser.parse_args()
    print_environment()
    record = Record("bench_cli", options)
    figures, details = run(3 if options.quick else max(options.runs, 3))
    record.extra["details"] = details
    finish(record, "bench_cli", figures)


if __name__ == "__main__":
    main()
