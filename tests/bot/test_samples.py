"""The samples committed in docs/samples/ (scripts/make_samples.py) are real files."""

from __future__ import annotations

from pathlib import Path

from icalendar import Calendar
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def test_the_sample_charts_are_png_images_of_sensible_size() -> None:
    for name in ("chart-tasks.png", "chart-units.png"):
        with Image.open(SAMPLES / name) as image:
            image.load()
            assert image.format == "PNG", name
            assert 800 <= image.width <= 2000 and 800 <= image.height <= 4000, image.size


def test_the_sample_calendar_reads_back() -> None:
    calendar = Calendar.from_ical((SAMPLES / "calendar-agriculture-rural.ics").read_bytes())
    events = calendar.walk("VEVENT")
    assert events and all(str(e["UID"]).startswith("2026-task") for e in events)
    assert "2026-task7-agriculture-rural-due@duban" in {str(e["UID"]) for e in events}
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]


def test_the_readme_shows_the_sample_chart() -> None:
    readme = (SAMPLES.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "](docs/samples/chart-tasks.png)" in readme
