"""The bulletin (通报) worded as a government notice, ready to forward (``/bulletin [year]``).

:func:`schedules.bulletin.select_bulletin` picks what it says; this module only words it in the
reader's language, HTML-escaped for Telegram. Its shape is the office's usual one: a title
(关于……工作进展情况的通报), the addressees, one paragraph with the plan and the counts, then
一、units that finished early (commended), 二、units overdue (one line per unit, its tasks
as many days late named together: 生态环境局（9项）：第15、16……项（尚未报送）逾期8天。), 三、tasks
at risk, a closing request, and the issuing office and date.
"""

from __future__ import annotations

from html import escape

from babel.lists import format_list

from bot.i18n import Translator
from bot.render import phase_label, shorten
from schedules.bulletin import Bulletin, LateGroup, LatePart, Risk
from schedules.model import Timetable
from schedules.workflow import Phase, UnitState

LEADERSHIP_GROUP = "leading-group"
"""The timetable's unit id of the leadership group, whose office issues the bulletin."""
NOTE_LIMIT = 60
"""Characters of a blocked unit's note quoted in the bulletin."""


def render_bulletin(t: Translator, timetable: Timetable, bulletin: Bulletin) -> str:
    """The bulletin as one text (HTML-escaped; the caller pages it if it is long)."""
    zh = t.language != "en"
    indent = "\u3000\u3000" if zh else ""
    plan = timetable.plan
    c = bulletin.counts
    lines = ["<b>" + escape(t.gettext(
        "Notice on the progress of the target tasks of {year}").format(year=bulletin.cycle))
        + "</b>", "", escape(t.gettext("To all units concerned:"))]
    lines.append(indent + escape(t.gettext(
        "Under the timetable of the target tasks of “{plan}” ({number}), as of {date}, of the "
        "{total} target tasks due this year: confirmed done {confirmed}, reported done and "
        "awaiting review {awaiting}, overdue {overdue}, under way {under_way}. The progress is "
        "notified as follows:").format(
            plan=plan.title, number=plan.document_no, date=t.date(bulletin.today),
            total=c.total, confirmed=c.confirmed, awaiting=c.awaiting_review,
            overdue=c.overdue, under_way=c.under_way)))

    lines += ["", escape(t.gettext("1. Units that finished early"))]
    for finish in bulletin.early:
        items = [t.ngettext("task {number}, {days} day early", "task {number}, {days} days early",
                            item.days_early).format(number=item.task_id, days=item.days_early)
                 + ("" if item.confirmed else t.gettext(" (awaiting review)"))
                 for item in finish.tasks]
        lines.append(indent + escape(_sentence(t, _unit(t, timetable, finish.unit_id), items)))
    if bulletin.early:
        lines.append(indent + escape(t.gettext("The units above are commended.")))
    else:
        lines.append(indent + escape(t.gettext("None so far.")))

    lines += ["", escape(t.gettext("2. Units with overdue tasks"))]
    for unit in bulletin.overdue:  # one line per unit, its tasks that stand alike together
        head = _unit(t, timetable, unit.unit_id)
        if len(unit.items) > 1:
            head = t.ngettext("{unit} ({count} task)", "{unit} ({count} tasks)",
                              len(unit.items)).format(unit=head, count=len(unit.items))
        items = [_late(t, group) for group in unit.groups]
        lines.append(indent + escape(_sentence(t, head, items)))
    if bulletin.overdue:
        lines.append(indent + escape(t.gettext(
            "The units above are asked to complete these tasks without delay and to report "
            "their progress through the supervision system.")))
    else:
        lines.append(indent + escape(t.gettext("None.")))

    lines += ["", escape(t.gettext("3. Tasks at risk of being late"))]
    for risk in bulletin.at_risk:
        lines.append(indent + escape(_risk(t, timetable, risk)))
    if not bulletin.at_risk:
        lines.append(indent + escape(t.gettext("None.")))

    lines += ["", indent + escape(t.gettext(
        "All units are asked to complete their tasks on time against the timetable and to "
        "report their progress promptly.")), ""]
    lines.append(escape(_issuer(t, timetable)))
    lines.append(escape(t.date(bulletin.today)))
    return "\n".join(lines)


def _sentence(t: Translator, unit: str, items: list[str]) -> str:
    if t.language == "en":
        return f"{unit}: {'; '.join(items)}."
    return f"{unit}：{'；'.join(items)}。"


def _late(t: Translator, group: LateGroup) -> str:
    """Tasks as many days late, e.g. 第11、19项（尚未报送）、第16项（已退回，已催办1次）逾期3天."""
    parts = [_late_part(t, part) for part in group.parts]
    listed = "、".join(parts) if t.language != "en" else format_list(parts, locale="en")
    return t.ngettext("{tasks}, {days} day overdue", "{tasks}, {days} days overdue",
                      group.days_late).format(tasks=listed, days=group.days_late)


def _late_part(t: Translator, part: LatePart) -> str:
    """Tasks in one state, e.g. 第11、19项（尚未报送） or task 16 (returned, urged 1 time)."""
    state = phase_label(t, part.phase)
    many = len(part.task_ids) > 1
    if part.urges and many:
        state = t.ngettext("{state}, each urged {n} time", "{state}, each urged {n} times",
                           part.urges).format(state=state, n=part.urges)
    elif part.urges:
        state = t.ngettext("{state}, urged {n} time", "{state}, urged {n} times",
                           part.urges).format(state=state, n=part.urges)
    numbers = [str(task_id) for task_id in part.task_ids]
    listed = "、".join(numbers) if t.language != "en" else format_list(numbers, locale="en")
    return t.ngettext("task {numbers} ({state})", "tasks {numbers} ({state})",
                      len(numbers)).format(numbers=listed, state=state)


def _risk(t: Translator, timetable: Timetable, risk: Risk) -> str:
    title = timetable.task(risk.task_id).title
    if risk.days_left <= 0:
        head = t.gettext("Task {number} ({title}), today is the last day").format(
            number=risk.task_id, title=title)
    else:
        head = t.ngettext("Task {number} ({title}), {days} day left",
                          "Task {number} ({title}), {days} days left", risk.days_left).format(
            number=risk.task_id, title=title, days=risk.days_left)
    units = [_where(t, timetable, state) for state in risk.units]
    return _sentence(t, head, units)


def _where(t: Translator, timetable: Timetable, state: UnitState) -> str:
    """A unit and where it stands, e.g. 岑城镇：受阻（缺少资金）."""
    unit = _unit(t, timetable, state.unit_id)
    stand = phase_label(t, state.phase)
    report = state.report
    if state.phase is Phase.IN_PROGRESS and report is not None and report.progress is not None:
        stand += t.gettext(" ({detail})").format(detail=t.percent(report.progress))
    note = getattr(report, "note", "") if report is not None else ""
    if state.phase is Phase.BLOCKED and note:
        stand += t.gettext(" ({detail})").format(detail=shorten(note, NOTE_LIMIT))
    return t.gettext("{unit}, {state}").format(unit=unit, state=stand)


def _issuer(t: Translator, timetable: Timetable) -> str:
    group = timetable.find_unit(LEADERSHIP_GROUP)
    if group is None:
        return t.gettext("Office of the leadership group")
    if t.language == "en":
        return t.gettext("Office of the {group}").format(group=group.name_en)
    return t.gettext("Office of the {group}").format(group=timetable.plan.city + group.name)


def _unit(t: Translator, timetable: Timetable, unit_id: str) -> str:
    try:
        unit = timetable.unit(unit_id)
    except KeyError:
        return unit_id
    return unit.name_en if t.language == "en" else unit.name
