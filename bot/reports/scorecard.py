"""The unit scorecard (考评) rendered: a table for the ledger's sheet and text for ``/scores``.

The rules are :mod:`schedules.scorecard`'s (docs/scorecard.md); this module only words them in
the reader's language. Nothing here sends anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from bot.i18n import Translator
from schedules.model import Timetable
from schedules.scorecard import UnitScore

DOT = " · "


@dataclass(frozen=True)
class Header:
    """A scorecard column: its title and how its numbers are shown (``count``, ``decimal``
    or ``percent``)."""

    text: str
    kind: str = "count"


ScoreRow = tuple[str, int, int, int, int, int, int, int, float | None, int, int, float | None,
                 int]


def score_table(t: Translator, timetable: Timetable, scores: Sequence[UnitScore]
                ) -> tuple[list[Header], list[ScoreRow]]:
    """The scorecard as a table: one row per unit, in the order given.

    Returns:
        The headers, and per unit: name, duties, on time, late, missing, blocked, open,
        extended, average days early (negative: late; None without a finished duty), tasks
        reminded, acknowledged, the acknowledgement rate (0.0-1.0, None without reminders),
        urges received.
    """
    headers = [Header(t.gettext("Unit")), Header(t.gettext("Tasks to deliver")),
               Header(t.gettext("On time")), Header(t.gettext("Finished late")),
               Header(t.gettext("Missing (overdue)")), Header(t.gettext("Blocked")),
               Header(t.gettext("Not due yet")), Header(t.gettext("Extended")),
               Header(t.gettext("Average days early (negative: late)"), "decimal"),
               Header(t.gettext("Tasks reminded")), Header(t.gettext("Acknowledged")),
               Header(t.gettext("Acknowledgement rate"), "percent"),
               Header(t.gettext("Urges received"))]
    rows: list[ScoreRow] = []
    for score in scores:
        average = score.average_days_early
        rows.append((_name(t, timetable, score.unit_id), len(score.duties), score.on_time,
                     score.late, score.missing, score.blocked, score.open, score.extended,
                     None if average is None else round(average, 1) + 0.0, score.reminded,
                     score.acknowledged, score.acknowledgement_rate, score.urges))
    return headers, rows


def render_scores(t: Translator, timetable: Timetable, cycle: int,
                  scores: Sequence[UnitScore], today: dt.date) -> str:
    """``/scores``: one short paragraph per unit that had something to do (HTML-escaped).

    Units with no task to deliver, no reminder and no urge are counted, not listed; the message
    ends with the rules in brief (in full: docs/scorecard.md).
    """
    lines = ["<b>" + escape(t.gettext("Scorecard of cycle {year}, as of {date}").format(
        year=cycle, date=t.date(today))) + "</b>"]
    quiet = 0
    for score in scores:
        if not score.duties and not score.reminded and not score.urges:
            quiet += 1
            continue
        lines.append("")
        lines.append("<b>" + escape(_name(t, timetable, score.unit_id)) + "</b>")
        lines.append(escape(_duties_line(t, score)))
        lines.append(escape(_contact_line(t, score)))
    if len(lines) == 1:
        lines.append(t.gettext("No unit has a task to deliver in this cycle."))
    if quiet:
        lines.append("")
        lines.append(escape(t.ngettext(
            "{n} unit had nothing to deliver and was not reminded: not listed.",
            "{n} units had nothing to deliver and were not reminded: not listed.",
            quiet).format(n=quiet)))
    lines.append("")
    lines.append(escape(t.gettext(
        "How it is counted: a unit is scored on the tasks it leads (or shares with no lead) "
        "that have a due date this cycle; a task is on time when the unit reported it done "
        "by the due date (an approved extension moves it), late when after it, missing when "
        "not done and the cutoff has passed; a report counts as acknowledgement. The "
        "Scorecard sheet of /export has the numbers as a table.")))
    return "\n".join(lines)


def _duties_line(t: Translator, score: UnitScore) -> str:
    parts = [t.ngettext("{n} task to deliver", "{n} tasks to deliver",
                        len(score.duties)).format(n=len(score.duties)),
             t.gettext("on time {n}").format(n=score.on_time),
             t.gettext("finished late {n}").format(n=score.late),
             t.gettext("missing {n}").format(n=score.missing),
             t.gettext("blocked {n}").format(n=score.blocked),
             t.gettext("not due yet {n}").format(n=score.open),
             t.gettext("extended {n}").format(n=score.extended)]
    average = score.average_days_early
    if average is not None:
        value = round(abs(average), 1)
        days, n = t.number(value), plural_count(value)
        parts.append(t.ngettext("on average {days} day early", "on average {days} days early",
                                n).format(days=days) if average >= 0 else
                     t.ngettext("on average {days} day late", "on average {days} days late",
                                n).format(days=days))
    return DOT.join(parts)


def _contact_line(t: Translator, score: UnitScore) -> str:
    rate = score.acknowledgement_rate
    parts = [t.ngettext("acknowledged {done} of {reminded} task reminded ({rate})",
                        "acknowledged {done} of {reminded} tasks reminded ({rate})",
                        score.reminded).format(
        done=score.acknowledged, reminded=score.reminded,
        rate=t.percent(round(rate * 100))) if rate is not None
        else t.gettext("not reminded yet"),
        t.ngettext("urged {n} time", "urged {n} times", score.urges).format(n=score.urges)]
    return DOT.join(parts)


def plural_count(value: float) -> int:
    """The number that picks a plural form for ``value`` as shown: 1 for exactly one (1 day),
    a whole number as it is, 2 for a fraction (1.5 days: plural in English)."""
    return int(value) if float(value).is_integer() else 2


def _name(t: Translator, timetable: Timetable, unit_id: str) -> str:
    try:
        unit = timetable.unit(unit_id)
    except KeyError:
        return unit_id
    return unit.name_en if t.language == "en" else unit.name
