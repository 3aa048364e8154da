"""The samples committed in docs/samples/ (scripts/make_samples.py) are real files."""

from __future__ import annotations

from pathlib import Path

from icalendar import Calendar
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def test_the_sample_charts_are_png_images_of_sensible_size() -> None:
    for name in (f"chart-{kind}-2026.{lang}.png" for kind in ("tasks", "units")
                 for lang in ("zh", "en")):
        with Image.open(SAMPLES / name) as image:
            image.load()
            assert image.format == "PNG", name
            assert 800 <= image.width <= 2000 and 800 <= image.height <= 4000, image.size


def test_the_sample_calendars_read_back() -> None:
    uids = []
    for lang in ("zh", "en"):
        calendar = Calendar.from_ical(
            (SAMPLES / f"calendar-2026-agriculture-rural.{lang}.ics").read_bytes())
        events = calendar.walk("VEVENT")
        assert events and all(str(e["UID"]).startswith("2026-task") for e in events)
        assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]
        uids.append({str(e["UID"]) for e in events})
    assert uids[0] == uids[1] and "2026-task7-agriculture-rural-due@duban" in uids[0]


def test_the_readme_shows_the_sample_chart() -> None:
    readme = (SAMPLES.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "](docs/samples/chart-tasks-2026.zh.png)" in readme
