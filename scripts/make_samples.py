"""Render the sample reports in docs/samples/ from the demo's data.

    .venv/bin/python scripts/make_samples.py [--out docs/samples]

Plays ``duban demo`` (bot/demo.py: the 2026 cycle from 25 October to 8 December, offline) into
a temporary SQLite database, then renders from that database, as of the demo's last day:

* ``chart-tasks.png`` and ``chart-units.png``: the progress charts (``/chart``);
* ``calendar-agriculture-rural.ics``: 农业农村局's calendar feed (``/calendar``);
* the ledger workbook and the bulletin text, when ``bot/reports/ledger.py`` and
  ``bot/reports/bulletin.py`` are there (they are called through their public functions).

Everything is in Chinese, the bot's default. The outputs depend only on the demo's script and
the timetable (the calendar's DTSTAMP is the demo's last morning), so running it again changes
nothing unless the bot's output changed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import io
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.configuration import shipped_tasks_path  # noqa: E402
from bot.demo import run_demo  # noqa: E402
from bot.i18n import translator  # noqa: E402
from bot.reports.calendar import build_calendar  # noqa: E402
from bot.reports.charts import tasks_chart, units_chart  # noqa: E402
from schedules.calendar import WorkingDayCalendar  # noqa: E402
from schedules.feeds import feed_events  # noqa: E402
from schedules.loader import load_timetable  # noqa: E402
from storage import Store  # noqa: E402

YEAR = 2026
ZONE = ZoneInfo("Asia/Shanghai")
AS_OF = dt.datetime(YEAR, 12, 8, 10, 30, tzinfo=ZONE)  # the demo's last scene
CALENDAR_UNIT = "agriculture-rural"


def play_demo(url: str) -> None:
    """The demo's cycle into the database at ``url`` (its transcript is not kept)."""
    status = asyncio.run(run_demo(io.StringIO(), language="zh_Hans", database_url=url,
                                  year=YEAR))
    if status != 0:
        raise SystemExit(f"make_samples: the demo failed (exit status {status})")


def render(store: Store, out: Path) -> list[Path]:
    """Every sample from the demo's database into ``out``; the files written."""
    t = translator("zh_Hans", ZONE)
    timetable = load_timetable(shipped_tasks_path())
    facts = store.cycle_facts(YEAR)
    today = AS_OF.date()
    written = []
    for name, draw in (("chart-tasks.png", tasks_chart), ("chart-units.png", units_chart)):
        chart = draw(t, timetable, YEAR, facts, today)
        if chart.problem:
            raise SystemExit(f"make_samples: {chart.problem}")
        written.append(_write(out / name, chart.png))
    events = feed_events(timetable, YEAR, [CALENDAR_UNIT], WorkingDayCalendar(), ZONE,
                         facts.extensions)
    unit = timetable.unit(CALENDAR_UNIT)
    written.append(_write(out / f"calendar-{CALENDAR_UNIT}.ics",
                          build_calendar(t, timetable, events, YEAR, AS_OF, unit.name)))
    written += _others(store, t, timetable, facts, today, out)
    return written


def _others(store: Store, t: Any, timetable: Any, facts: Any, today: dt.date,
            out: Path) -> list[Path]:
    """The ledger and the bulletin, when their modules are there."""
    written = []
    ledger = _module("bot.reports.ledger")
    if ledger is not None and hasattr(ledger, "build_workbook"):
        history = store.reports_for_cycle(YEAR)
        names = {p.telegram_user_id: p.display_name
                 for p in store.list_people(None, None, False)}
        content = ledger.build_workbook(t, timetable, YEAR, facts, history, today, names)
        written.append(_write(out / "ledger.xlsx", content))
    bulletin = _module("bot.reports.bulletin")
    if bulletin is not None and hasattr(bulletin, "render_bulletin"):
        text = bulletin.render_bulletin(t, timetable, YEAR, facts, today)
        written.append(_write(out / "bulletin.txt", text.encode("utf-8")))
    return written


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description="Render docs/samples/ from the demo's data.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "samples",
                        help="the folder to write (default: docs/samples)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the demo's people blocking the bot are no news
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="duban-samples-") as folder:
        url = f"sqlite:///{Path(folder) / 'demo.sqlite3'}"
        play_demo(url)
        store = Store(url)
        try:
            for path in render(store, args.out):
                print(f"wrote {path} ({path.stat().st_size:,} bytes)")
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
