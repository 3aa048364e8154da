"""Render the sample reports in docs/samples/ from the demo's data, in Chinese and English.

    .venv/bin/python scripts/make_samples.py [--out docs/samples]

Plays ``duban demo`` (bot/demo.py: the 2026 cycle from 25 October to 8 December, offline, in
Chinese) into a temporary SQLite database, then renders from it, as of the demo's last scene,
in each language, with the functions the bot uses:

* ``ledger-2026.LANG.xlsx``: the ledger (台账, ``/export``);
* ``scores-2026.LANG.md`` and ``bulletin-2026.LANG.md``: ``/scores`` and ``/bulletin`` as
  Markdown (bold for the bot's bold);
* ``chart-tasks-2026.LANG.png`` and ``chart-units-2026.LANG.png``: the charts (``/chart``);
* ``calendar-2026-agriculture-rural.LANG.ics``: 农业农村局's calendar feed (``/calendar``).

The outputs depend only on the demo's script and the timetable (the calendar's DTSTAMP is the
demo's last scene; a workbook whose cells did not change is left as it is, since a new one
differs in its creation time), so running it again changes nothing unless the bot's output
changed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import html
import io
import logging
import re
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.configuration import shipped_tasks_path  # noqa: E402
from bot.demo import run_demo  # noqa: E402
from bot.i18n import Translator, translator  # noqa: E402
from bot.reports.bulletin import render_bulletin  # noqa: E402
from bot.reports.calendar import build_calendar  # noqa: E402
from bot.reports.charts import tasks_chart, units_chart  # noqa: E402
from bot.reports.ledger import build_workbook  # noqa: E402
from bot.reports.record import collect, unit_scores  # noqa: E402
from bot.reports.scorecard import render_scores  # noqa: E402
from schedules.bulletin import select_bulletin  # noqa: E402
from schedules.calendar import WorkingDayCalendar  # noqa: E402
from schedules.feeds import feed_events  # noqa: E402
from schedules.loader import load_timetable  # noqa: E402
from schedules.model import Timetable  # noqa: E402
from storage import Store  # noqa: E402

YEAR = 2026
ZONE = ZoneInfo("Asia/Shanghai")
AS_OF = dt.datetime(YEAR, 12, 8, 10, 30, tzinfo=ZONE)  # the demo's last scene
CALENDAR_UNIT = "agriculture-rural"
LANGUAGES = {"zh": "zh_Hans", "en": "en"}


def play_demo(url: str) -> None:
    """The demo's cycle, in Chinese, into the database at ``url`` (its transcript is not
    kept)."""
    status = asyncio.run(run_demo(io.StringIO(), language="zh_Hans", database_url=url,
                                  year=YEAR))
    if status != 0:
        raise SystemExit(f"make_samples: the demo failed (exit status {status})")


def markdown(text: str) -> str:
    """The bot's HTML text as Markdown: bold stays bold, every other tag goes."""
    text = re.sub(r"</?b>", "**", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).rstrip("\n") + "\n"


def render(t: Translator, timetable: Timetable, store: Store, out: Path,
           suffix: str) -> list[Path]:
    """Every sample of one language from the demo's database into ``out``; the files written."""
    today = AS_OF.date()
    record = collect(store, YEAR)
    scores = unit_scores(timetable, record, today, t.zone)
    chosen = select_bulletin(timetable, record.facts, scores,
                             [(u.task_id, u.unit_id) for u in record.urges], today)
    written = [
        _write_workbook(out / f"ledger-{YEAR}.{suffix}.xlsx",
                        build_workbook(t, timetable, record, today)),
        _write(out / f"scores-{YEAR}.{suffix}.md",
               markdown(render_scores(t, timetable, YEAR, scores, today)).encode()),
        _write(out / f"bulletin-{YEAR}.{suffix}.md",
               markdown(render_bulletin(t, timetable, chosen)).encode()),
    ]
    for kind, draw in (("tasks", tasks_chart), ("units", units_chart)):
        chart = draw(t, timetable, YEAR, record.facts, today)
        if chart.problem:
            raise SystemExit(f"make_samples: {chart.problem}")
        written.append(_write(out / f"chart-{kind}-{YEAR}.{suffix}.png", chart.png))
    events = feed_events(timetable, YEAR, [CALENDAR_UNIT], WorkingDayCalendar(), ZONE,
                         facts=record.facts)  # as /calendar: a finished task's reminders go
    unit = timetable.unit(CALENDAR_UNIT)
    name = unit.name_en if t.language == "en" else unit.name
    written.append(_write(out / f"calendar-{YEAR}-{CALENDAR_UNIT}.{suffix}.ics",
                          build_calendar(t, timetable, events, YEAR, AS_OF, name)))
    return written


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _write_workbook(path: Path, content: bytes) -> Path:
    """Write the workbook unless the file there has the same sheets and cells."""
    from openpyxl import load_workbook

    def cells(data: bytes) -> list[object]:
        book = load_workbook(io.BytesIO(data))
        return [(sheet.title, list(sheet.iter_rows(values_only=True))) for sheet in book]

    if path.exists() and cells(path.read_bytes()) == cells(content):
        return path
    return _write(path, content)


def main() -> int:
    parser = argparse.ArgumentParser(description="Render docs/samples/ from the demo's data.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "samples",
                        help="the folder to write (default: docs/samples)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the demo's people blocking the bot are no news
    args.out.mkdir(parents=True, exist_ok=True)
    timetable = load_timetable(shipped_tasks_path())
    with tempfile.TemporaryDirectory(prefix="duban-samples-") as folder:
        url = f"sqlite:///{Path(folder) / 'demo.sqlite3'}"
        play_demo(url)
        store = Store(url)
        try:
            for suffix, language in LANGUAGES.items():
                for path in render(translator(language, ZONE), timetable, store, args.out,
                                   suffix):
                    print(f"{path} ({path.stat().st_size:,} bytes)")
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
