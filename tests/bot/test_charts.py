"""The progress charts: real PNG images of sensible size, in the lights' colours, drawn with the
CJK font (no missing glyph), a clear fallback without it, and /chart end to end."""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from bot.i18n import translator
from bot.reports.charts import (
    CJK_FONT_FILES,
    DPI,
    LIGHT_COLOURS,
    MAX_UNIT_ROWS,
    ROW_INCHES,
    Chart,
    Row,
    chart_filename,
    find_cjk_font,
    neediest,
    task_rows,
    tasks_chart,
    unit_rows,
    units_chart,
)
from schedules.model import Timetable, UnitKind
from schedules.workflow import CycleFacts, Light
from tests.bot.cli_process import duban
from tests.bot.conftest import ECOLOGY, LEADER, SHANGHAI, Harness

ZH = translator("zh_Hans")
EN = translator("en")
TODAY = dt.date(2026, 11, 30)  # the last day before the cutoff
AFTER_CUTOFF = dt.date(2026, 12, 5)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CJK_FONT = find_cjk_font()

needs_cjk_font = pytest.mark.skipif(
    CJK_FONT is None and not os.environ.get("CI"),
    reason="fonts-noto-cjk is not installed (.ci/run installs it; CI fails without it)")


@dataclass(frozen=True)
class Report:
    status: str
    progress: int | None = None
    reported_at: dt.datetime = dt.datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)


FACTS = CycleFacts(2026, {
    (7, "agriculture-rural"): Report("done", 100),  # the lead: reported done, awaiting review
    (15, "ecology-environment"): Report("blocked"),
    (11, "ecology-environment"): Report("in_progress", 40),
})


def _image(chart: Chart) -> Image.Image:
    assert chart.png.startswith(PNG_SIGNATURE)
    image = Image.open(BytesIO(chart.png))
    image.load()  # the whole image decodes
    assert image.format == "PNG"
    assert image.size == (chart.width, chart.height)
    return image


def _colours(image: Image.Image) -> set[str]:
    """The colours of at least a bar of one unit (the legend's swatches are smaller)."""
    rgb = image.convert("RGB")
    found = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
    return {"#{:02x}{:02x}{:02x}".format(*colour) for count, colour in found if count > 400}


# -- what is counted ------------------------------------------------------------------------------
def test_each_task_row_counts_its_responsible_units_by_light(timetable: Timetable) -> None:
    rows = task_rows(ZH, timetable, 2026, FACTS, TODAY)
    assert len(rows) == len(timetable.tasks) == 26
    for row, task in zip(rows, timetable.tasks, strict=True):
        assert row.label.startswith(f"{task.id}. ")
        assert sum(row.counts.values()) == len(timetable.responsible_units(task))
    by_id = {task.id: row for task, row in zip(timetable.tasks, rows, strict=True)}
    assert by_id[7].counts[Light.AWAITING_REVIEW] == 1
    assert by_id[15].counts[Light.LATE] == 1  # blocked
    assert by_id[12].counts == Counter({Light.CLOSED: 2})  # once-only task of 2020
    assert "生态系统碳汇" in by_id[8].label


def test_each_unit_row_counts_its_tasks_by_its_own_light(timetable: Timetable) -> None:
    rows = {row.label: row.counts for row in unit_rows(EN, timetable, 2026, FACTS, TODAY)}
    concrete = [u for u in timetable.units if u.kind is not UnitKind.GROUP]
    assert len(rows) == len(concrete)  # every concrete unit of the shipped plan has a duty
    ecology = rows["Ecology and Environment Bureau"]
    assert sum(ecology.values()) == len(timetable.tasks_for_unit("ecology-environment"))
    assert ecology[Light.LATE] == 1 and ecology[Light.DUE_SOON] >= 1
    assert rows["Agriculture and Rural Affairs Bureau"][Light.AWAITING_REVIEW] == 1
    late = unit_rows(EN, timetable, 2026, CycleFacts(2026), AFTER_CUTOFF)
    assert all(Light.DUE_SOON not in row.counts for row in late)  # after the cutoff: red


def test_beyond_forty_units_the_neediest_are_drawn_and_the_others_added_up() -> None:
    rows = [Row(f"town {n}", Counter({Light.LATE: n % 7, Light.NO_REPORT: n % 3,
                                      Light.CONFIRMED: 5})) for n in range(100)]
    shown, rest = neediest(rows)
    assert len(shown) == MAX_UNIT_ROWS == 40
    order = [(-r.counts[Light.LATE], -r.counts[Light.DUE_SOON], -r.counts[Light.NO_REPORT])
             for r in shown]
    assert order == sorted(order)
    assert shown[0].label == "town 20"  # 6 late and 2 not reported: first of the most late
    others = [r for r in rows if r not in shown]
    assert min(r.counts[Light.LATE] for r in shown) >= max(r.counts[Light.LATE] for r in others)
    assert rest == sum((r.counts for r in others), Counter())
    assert neediest(rows[:40]) == (rows[:40], Counter())  # all drawn, as they come


def test_a_chart_of_many_units_draws_forty_rows(timetable: Timetable) -> None:
    data = timetable.model_dump(mode="json", exclude_none=True)
    towns = [f"town-{n}" for n in range(60)]
    data["units"] = [{"id": u, "name": f"第{n}镇", "name_en": f"Town {n}", "kind": "town"}
                     for n, u in enumerate(towns)]
    data["measures"] = ()
    for task in data["tasks"]:
        task.update(cooperating_units=(), lead_units=towns if task.get("lead_units") else (),
                    joint_units=() if task.get("lead_units") else towns)
        task.pop("reminders", None)
    many = Timetable.model_validate(data)
    tasks = _image(tasks_chart(EN, many, 2026, CycleFacts(2026), AFTER_CUTOFF))
    units = _image(units_chart(EN, many, 2026, CycleFacts(2026), AFTER_CUTOFF))
    assert len(unit_rows(EN, many, 2026, CycleFacts(2026), AFTER_CUTOFF)) == 60
    # 40 rows (and a line below saying what the other 20 add up to), not 60
    assert 14 * ROW_INCHES * DPI <= units.height - tasks.height < 20 * ROW_INCHES * DPI


@pytest.fixture(scope="module")
def english(timetable: Timetable) -> tuple[Chart, Chart]:
    """The charts per task and per unit of :data:`FACTS`, in English."""
    return (tasks_chart(EN, timetable, 2026, FACTS, TODAY),
            units_chart(EN, timetable, 2026, FACTS, TODAY))


# -- the images -----------------------------------------------------------------------------------
def test_the_task_chart_is_a_png_that_grows_with_its_rows(
        timetable: Timetable, english: tuple[Chart, Chart]) -> None:
    image, units = (_image(chart) for chart in english)
    assert 800 <= image.width <= 2000
    # every one of the 26 rows gets its height: legible, not squeezed
    assert image.height >= 26 * ROW_INCHES * DPI
    assert units.height - image.height == pytest.approx(
        (len(unit_rows(EN, timetable, 2026, FACTS, TODAY)) - 26) * ROW_INCHES * DPI, abs=2)


def test_the_bars_are_drawn_in_the_lights_colours(
        timetable: Timetable, english: tuple[Chart, Chart]) -> None:
    before = _colours(_image(english[0]))
    for light in (Light.AWAITING_REVIEW, Light.LATE, Light.DUE_SOON, Light.NO_REPORT,
                  Light.CLOSED):
        assert LIGHT_COLOURS[light] in before, light
    quiet = _colours(_image(tasks_chart(EN, timetable, 2026, CycleFacts(2026), TODAY)))
    # nothing reported, nothing late yet: no blue bar and no red bar
    assert LIGHT_COLOURS[Light.AWAITING_REVIEW] not in quiet
    assert LIGHT_COLOURS[Light.LATE] not in quiet
    late = _colours(_image(tasks_chart(EN, timetable, 2026, CycleFacts(2026), AFTER_CUTOFF)))
    assert LIGHT_COLOURS[Light.LATE] in late


def test_chart_filename() -> None:
    assert chart_filename(2026, "tasks", TODAY) == "duban-chart-2026-tasks-20261130.png"


# -- the Chinese font -----------------------------------------------------------------------------
@needs_cjk_font
def test_chinese_is_drawn_with_the_cjk_font_and_no_glyph_is_missing(
        timetable: Timetable) -> None:
    assert CJK_FONT in CJK_FONT_FILES
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts = [tasks_chart(ZH, timetable, 2026, FACTS, TODAY),
                  units_chart(ZH, timetable, 2026, FACTS, TODAY)]
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    for chart in charts:
        _image(chart)
        assert chart.problem is None
        assert chart.font_files == {CJK_FONT}  # every text, Chinese and digits alike


def test_without_the_font_matplotlib_warns_of_missing_chinese_glyphs() -> None:
    """The control of the test above: drawing Chinese with matplotlib's own font does warn."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 1))
    figure.text(0.1, 0.5, "督办 第7项任务", fontfamily="DejaVu Sans")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(BytesIO(), format="png")
    assert any("missing from font" in str(w.message) for w in caught)


def test_without_the_font_the_chart_is_english_and_says_so(
        timetable: Timetable, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = (tmp_path / "NotoSansCJK-Regular.ttc",)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chart = tasks_chart(ZH, timetable, 2026, FACTS, TODAY, fonts=nowhere)
    assert not [w for w in caught if "missing from font" in str(w.message)]
    _image(chart)
    assert chart.problem is not None and "fonts-noto-cjk" in chart.problem
    assert "中文字体" in chart.problem  # told in the reader's language
    assert all(path.name.startswith("DejaVu") for path in chart.font_files)
    assert "fonts-noto-cjk" in caplog.text and str(nowhere[0]) in caplog.text


def test_an_unreadable_font_file_falls_back_too(timetable: Timetable, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "NotoSansCJK-Regular.ttc"
    broken.write_bytes(b"not a font at all")
    chart = units_chart(ZH, timetable, 2026, FACTS, TODAY, fonts=(broken,))
    _image(chart)
    assert chart.problem is not None and "fonts-noto-cjk" in chart.problem
    assert all(path.name.startswith("DejaVu") for path in chart.font_files)
    assert f"cannot read the CJK font {broken}" in caplog.text


# -- /chart ---------------------------------------------------------------------------------------
async def test_a_leader_gets_two_charts(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 done")
    sent = await harness.command(LEADER, "chart")
    assert [m["document"]["file_name"] for m in sent] == [
        "duban-chart-2026-tasks-20261116.png", "duban-chart-2026-units-20261116.png"]
    assert sent[0]["caption"].startswith("Cycle 2026 per task, as of November 16, 2026")
    tasks = Image.open(BytesIO(harness.api.file(sent[0]["document"]["file_id"]).content))
    units = Image.open(BytesIO(harness.api.file(sent[1]["document"]["file_id"]).content))
    assert tasks.format == units.format == "PNG" and units.height > tasks.height
    assert LIGHT_COLOURS[Light.AWAITING_REVIEW] in _colours(tasks)  # task 15, reported done
    assert [m["text"] for m in await harness.command(LEADER, "chart", "20x")] == [
        "Usage: /chart [year], e.g. /chart 2026. The year must be from 2019 to 2100."]


# -- duban chart ---------------------------------------------------------------------------------
def test_duban_chart_writes_the_png_it_names(tmp_path: Path) -> None:
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0  # no command but these makes one
    result = duban("chart", "--year", "2026", "--by", "units", "-o", "units.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "units.png") as image:
        assert image.format == "PNG"
        assert f"{image.width}×{image.height}" in result.stdout and "units.png" in result.stdout
        assert image.height > 26 * ROW_INCHES * DPI  # 34 units
    nowhere = duban("chart", "--year", "2026", "-o", "no/such/folder/x.png", cwd=tmp_path)
    assert nowhere.returncode == 1 and "no/such/folder" in nowhere.stderr  # a file problem
    assert "Traceback" not in nowhere.stderr
    missing = duban("chart", "--year", "2026", cwd=tmp_path)  # -o is required
    assert missing.returncode == 2 and "-o" in missing.stderr


def test_duban_chart_without_the_font_says_it_once_in_the_readers_language(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    """The tester's case: the CLI printed the English log line (no CJK font (looked for …))
    besides the translated 缺少中文字体… line."""
    import logging

    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'duban.sqlite3'}")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.setattr("bot.reports.charts.find_cjk_font", lambda fonts=(): None)
    charts_log = logging.getLogger("bot.reports.charts")
    monkeypatch.setattr(charts_log, "propagate", True)  # restored for the other tests
    monkeypatch.setattr(charts_log, "handlers", [])
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["chart", "--year", "2026", "-o", "c.png"]) == 0
    err = capsys.readouterr().err
    assert err.count("中文字体") == 1, err
    assert "no CJK font" not in err and "looked for" not in err
    assert not [r for r in caplog.records if r.name == "bot.reports.charts"]
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_SIGNATURE
