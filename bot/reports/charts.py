"""Progress charts of a cycle as PNG images: per task, and per unit (matplotlib, Agg).

Each row is a stacked horizontal bar of the workflow's lights (:data:`schedules.workflow.LEGEND`,
docs/workflow.md) in their colours: per task, how many of its responsible units (groups
expanded, cooperating units too) are in each state; per unit, how many of its tasks are. The
title names the cycle and the as-of date (the office's time zone); the figure grows with the
rows, so that 26 tasks and 35 units stay legible; beyond 40 units the chart per unit shows the
40 with the most overdue or blocked tasks and adds the others up below it (:func:`neediest`).
Nothing here talks to Telegram or the database::

    chart = tasks_chart(t, timetable, cycle, store.cycle_facts(cycle), today)
    await bot.send_document(chat_id, chart.png, filename=chart_filename(cycle, "tasks", today))

Chinese needs a CJK font: Debian's ``fonts-noto-cjk`` (installed by ``.ci/run`` and
``scripts/deploy.sh``), registered with matplotlib by its file path (:data:`CJK_FONT_FILES`).
Without it the chart is drawn in English with task numbers only (no empty boxes), and
:attr:`Chart.problem` says why and how to fix it.

matplotlib is imported inside the functions that draw, so that ``duban --help`` stays quick.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from bot.i18n import N_, Translator, translator
from bot.render import Facts, facts_of, plain_unit_name, shorten
from schedules.model import Timetable, UnitKind
from schedules.workflow import LEGEND, Light, cycle_views

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

CJK_FONT_FILES: tuple[Path, ...] = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian, Ubuntu
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),  # Arch
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),  # Fedora
)
"""Where the Noto Sans CJK font is looked for, first found wins."""
CJK_FACE_SUFFIX = " SC"
"""Of the faces a Noto CJK collection holds (JP, KR, SC, TC, HK), Simplified Chinese's."""

LIGHT_COLOURS: dict[Light, str] = {
    Light.CONFIRMED: "#2e7d32",
    Light.AWAITING_REVIEW: "#1e88e5",
    Light.DUE_SOON: "#fbc02d",
    Light.LATE: "#d32f2f",
    Light.NO_REPORT: "#e0e0e0",
    Light.CLOSED: "#424242",
}
"""The lights' colours: 🟢 🔵 🟡 🔴 ⚪ ⚫."""
_DARK = frozenset({Light.CONFIRMED, Light.AWAITING_REVIEW, Light.LATE, Light.CLOSED})

WIDTH_INCHES = 10.0
ROW_INCHES = 0.34
FRAME_INCHES = 1.9  # title, legend and axis below the rows
DPI = 110
LEGEND_POINTS = 46  # the legend's three rows between the title and the bars
LABEL_CHARACTERS = 20
"""Characters of a task's title shown beside its bar."""

NO_CJK_FONT = N_("The chart is drawn in English with task numbers only: the Chinese font is "
                 "missing. Install it with: apt-get install fonts-noto-cjk")
TASKS_TITLE = N_("Cycle {year}: each task's responsible units by state, as of {date}")
UNITS_TITLE = N_("Cycle {year}: each unit's tasks by state, as of {date}")
UNITS_TOP_TITLE = N_("Cycle {year}: the {shown} of {total} units with the most overdue or "
                     "blocked tasks, their tasks by state, as of {date}")
MAX_UNIT_ROWS = 40
"""Units drawn in the chart per unit: beyond this, the neediest (most 🔴, then 🟡, then ⚪), and
the others added up below the chart (1,000 bars cannot be read, and took a minute to draw)."""

_lock = threading.Lock()  # matplotlib's font manager and rcParams are global
_registered: dict[Path, str] = {}


@dataclass(frozen=True)
class Chart:
    """A drawn chart.

    Attributes:
        png: the image, PNG bytes.
        width: its width in pixels.
        height: its height in pixels.
        font_files: the font files matplotlib drew its text with.
        problem: a translated sentence when the CJK font was missing (the chart is then in
            English), else None.
    """

    png: bytes
    width: int
    height: int
    font_files: frozenset[Path]
    problem: str | None = None


@dataclass(frozen=True)
class Row:
    """One bar: its label and how many units (or tasks) show each light."""

    label: str
    counts: Counter[Light]


def chart_filename(cycle: int, kind: str, today: dt.date) -> str:
    """A chart's file name, e.g. ``duban-chart-2026-tasks-20261130.png``."""
    return f"duban-chart-{cycle}-{kind}-{today:%Y%m%d}.png"


def find_cjk_font(candidates: Sequence[Path] = CJK_FONT_FILES) -> Path | None:
    """The first CJK font file of ``candidates`` that exists, or None."""
    return next((path for path in candidates if path.is_file()), None)


def task_rows(t: Translator, timetable: Timetable, cycle: int, facts: Facts, today: dt.date,
              titles: bool = True) -> list[Row]:
    """Per task, in the timetable's order: its responsible units counted by light.

    Args:
        t: the reader's translator.
        timetable: the timetable.
        cycle: the cycle year.
        facts: what was appended about the cycle (or just the latest reports).
        today: the current day in the office's time zone.
        titles: label a row with the task's (Chinese) title, not just its number.
    """
    rows = []
    for view in cycle_views(timetable, facts_of(cycle, facts), today):
        if titles:
            title = timetable.task(view.task_id).title
            label = f"{view.task_id}. {shorten(title, LABEL_CHARACTERS)}"
        else:
            label = t.gettext("task {number}").format(number=view.task_id)
        rows.append(Row(label, Counter(u.light for u in view.units)))
    return rows


def unit_rows(t: Translator, timetable: Timetable, cycle: int, facts: Facts,
              today: dt.date) -> list[Row]:
    """Per concrete unit with a duty, in the timetable's order: its tasks counted by light.

    Read from the tasks' views (each unit's state on each task it has a duty on), computed
    once for both charts: asking each unit's state task by task was quadratic in the units.
    """
    counts: dict[str, Counter[Light]] = {}
    for view in cycle_views(timetable, facts_of(cycle, facts), today):
        for state in view.units:
            counts.setdefault(state.unit_id, Counter())[state.light] += 1
    rows = []
    for unit in timetable.units:
        if unit.kind is UnitKind.GROUP:
            continue  # its members have rows of their own
        found = counts.get(unit.id)
        if found:
            rows.append(Row(plain_unit_name(t, unit), found))
    return rows


def neediest(rows: Sequence[Row], most: int = MAX_UNIT_ROWS) -> tuple[list[Row], Counter[Light]]:
    """At most ``most`` rows: those with the most 🔴, then 🟡, then ⚪ (in their order when
    equal), worst first, and the others' counts added up (empty when all are shown)."""
    if len(rows) <= most:
        return list(rows), Counter()
    ranked = sorted(rows, key=lambda row: (-row.counts[Light.LATE], -row.counts[Light.DUE_SOON],
                                           -row.counts[Light.NO_REPORT]))
    rest: Counter[Light] = Counter()
    for row in ranked[most:]:
        rest.update(row.counts)
    return ranked[:most], rest


def tasks_chart(t: Translator, timetable: Timetable, cycle: int, facts: Facts, today: dt.date,
                fonts: Sequence[Path] = CJK_FONT_FILES) -> Chart:
    """The chart per task: each task's responsible units, stacked by light.

    Args:
        t: the reader's translator (title, legend, labels).
        timetable: the timetable.
        cycle: the cycle year.
        facts: what was appended about the cycle (``Store.cycle_facts(cycle)``).
        today: the as-of day, in the office's time zone.
        fonts: where to look for the CJK font, first found wins (none found: the chart is in
            English, with :attr:`Chart.problem` set).
    """
    family = cjk_family(fonts)
    reader = t if family is not None else translator("en", t.zone)
    rows = task_rows(reader, timetable, cycle, facts, today, titles=family is not None)
    title = reader.gettext(TASKS_TITLE).format(year=cycle, date=reader.date(today))
    return _chart(reader, rows, title, reader.gettext("responsible units"), family, t)


def units_chart(t: Translator, timetable: Timetable, cycle: int, facts: Facts, today: dt.date,
                fonts: Sequence[Path] = CJK_FONT_FILES) -> Chart:
    """The chart per unit: each unit's tasks, stacked by the unit's light on each.

    Arguments as for :func:`tasks_chart`.
    """
    family = cjk_family(fonts)
    reader = t if family is not None else translator("en", t.zone)
    every = unit_rows(reader, timetable, cycle, facts, today)
    rows, rest = neediest(every)
    title = reader.gettext(UNITS_TITLE).format(year=cycle, date=reader.date(today))
    label = reader.gettext("tasks")
    if len(rows) < len(every):  # say what is shown, and what the others add up to
        title = reader.gettext(UNITS_TOP_TITLE).format(
            year=cycle, date=reader.date(today), shown=reader.number(len(rows)),
            total=reader.number(len(every)))
        others = len(every) - len(rows)
        label += "\n" + reader.ngettext("The other {n} unit's tasks: {counts}",
                                        "The other {n} units' tasks: {counts}", others).format(
            n=reader.number(others), counts="; ".join(
                f"{reader.gettext(meaning)} {reader.number(rest[light])}"
                for light, meaning in LEGEND))
    return _chart(reader, rows, title, label, family, t)


def cjk_family(fonts: Sequence[Path] = CJK_FONT_FILES) -> str | None:
    """The font family to draw Chinese with: the first of ``fonts`` that exists, registered
    with matplotlib by its path (once); None, logged with how to fix it, when there is none or
    it cannot be read."""
    font = find_cjk_font(fonts)
    if font is None:
        log.warning("no CJK font (looked for %s): charts are drawn in English; install it "
                    "with: apt-get install fonts-noto-cjk",
                    ", ".join(str(p) for p in fonts) or "none")
        return None
    with _lock:
        if font not in _registered:
            from matplotlib import font_manager

            try:
                font_manager.fontManager.addfont(str(font))
            except (OSError, RuntimeError, ValueError) as exc:
                log.warning("cannot read the CJK font %s (%s): charts are drawn in English; "
                            "reinstall it with: apt-get install --reinstall fonts-noto-cjk",
                            font, exc)
                return None
            names = [entry.name for entry in font_manager.fontManager.ttflist
                     if Path(entry.fname) == font]
            _registered[font] = next((n for n in names if n.endswith(CJK_FACE_SUFFIX)),
                                     names[0])
        return _registered[font]


def _chart(t: Translator, rows: Sequence[Row], title: str, xlabel: str, family: str | None,
           asker: Translator) -> Chart:
    """Draw ``rows`` with the CJK ``family`` (None: English only); ``asker`` is the translator
    of whoever reads :attr:`Chart.problem`."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    problem = asker.gettext(NO_CJK_FONT) if family is None else None
    with _lock, matplotlib.rc_context({
            "font.family": [family, "DejaVu Sans"] if family else ["DejaVu Sans"],
            "font.size": 10, "axes.titlesize": 12}):
        figure = _draw(t, rows, title, xlabel)
        FigureCanvasAgg(figure)  # Agg, whatever backend matplotlib would pick
        buffer = BytesIO()
        with warnings.catch_warnings():
            if family is None:  # English only; nothing should be missing, but never crash
                warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            # no "Software" stamp: the same chart gives the same bytes on every version
            figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        used = _font_files(figure)
    png = buffer.getvalue()
    # the PNG's own header (IHDR) holds its size: width and height, 4 bytes each, at byte 16
    return Chart(png, int.from_bytes(png[16:20]), int.from_bytes(png[20:24]), used, problem)


def _draw(t: Translator, rows: Sequence[Row], title: str, xlabel: str) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    height = FRAME_INCHES + ROW_INCHES * max(len(rows), 1)
    figure = Figure(figsize=(WIDTH_INCHES, height), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(rows)))
    left = [0] * len(rows)
    for light, _ in LEGEND:
        widths = [row.counts.get(light, 0) for row in rows]
        axes.barh(positions, widths, left=left, height=0.7, color=LIGHT_COLOURS[light],
                  edgecolor="#9e9e9e" if light is Light.NO_REPORT else "none", linewidth=0.6)
        for y, (start, width) in enumerate(zip(left, widths, strict=True)):
            if width:
                axes.text(start + width / 2, y, str(width), ha="center", va="center",
                          fontsize=8, color="white" if light in _DARK else "black")
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set_yticks(positions, [row.label for row in rows])
    axes.set_ylim(len(rows) - 0.5, -0.5)  # the first row on top
    axes.set_xlim(0, max(left, default=0) + 0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", color="#eeeeee")
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_title(title, loc="left", pad=LEGEND_POINTS)
    handles = [Patch(facecolor=LIGHT_COLOURS[light], edgecolor="#9e9e9e",
                     label=t.gettext(label)) for light, label in LEGEND]
    axes.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2,
                frameon=False, fontsize=8, borderaxespad=0.2)
    return figure


def _font_files(figure: Figure) -> frozenset[Path]:
    """The font files the figure's texts were drawn with."""
    from matplotlib import font_manager
    from matplotlib.text import Text

    return frozenset(Path(font_manager.findfont(text.get_fontproperties()))
                     for text in figure.findobj(Text) if text.get_text())
