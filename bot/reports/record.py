"""What was appended about a cycle, read once for the reports (ledger, scorecard, bulletin).

:func:`collect` reads it from the database in a few short queries; the reports are pure
functions of it, of the timetable and of the day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.i18n import Translator
from bot.reports.gc_pause import cyclic_gc_paused
from schedules.model import Timetable
from schedules.scorecard import UnitScore, score_units
from schedules.workflow import CycleFacts
from storage import Store
from storage.store import WORKFLOW_ACTIONS, LogRow
from storage.tables import Reminder, Urge

UNIT_REMINDER_KINDS = frozenset({"before", "overdue", "ack"})
"""Deliveries about one unit's task (a leadership digest is about none)."""

LOGGED_ACTIONS = tuple(action for action in WORKFLOW_ACTIONS if action != "report.added")
"""The workflow's audit entries the reports show (the ledger's audit sheet): all but
``report.added``.

Every report is on the ledger's reports sheet (报送记录) already, one row each, with what its
audit entry says (time, reporter, status, progress, source) and its note, which the entry lacks.
An auditor of the city office checks the reports there and, on the audit sheet, the acts of the
other people of the workflow: who acknowledged, confirmed or returned, asked for or decided an
extension, attached evidence, urged. Repeating every report on the audit sheet would add no
fact and bury those acts: at 1,000 units a cycle has 130,000 reports, ten times the rest of the
trail (and reading them from a log of 1.3 million entries took seconds of the export). The log
itself keeps every entry (an admin's ``/audit``)."""


class LoggedReport(Protocol):
    """What the reports read of a stored report (:class:`storage.StatusReport` fits)."""

    @property
    def id(self) -> int | None: ...
    @property
    def task_id(self) -> int: ...
    @property
    def unit_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> int | None: ...
    @property
    def note(self) -> str: ...
    @property
    def reporter_telegram_id(self) -> int | None: ...
    @property
    def reported_at(self) -> dt.datetime: ...
    @property
    def source(self) -> str: ...


@dataclass(frozen=True)
class CycleRecord:
    """Everything appended about a cycle that the reports show (:func:`collect` reads it).

    Attributes:
        facts: the workflow's facts (latest reports, every review and extension request,
            first acknowledgements).
        history: every report of the cycle, oldest first.
        reminders: every delivery of the cycle, in due order (the reports keep those sent,
            failed or skipped about a unit's task).
        urges: every urge of the cycle, oldest first.
        log: the workflow's audit entries about the cycle but the reports' (which are in
            ``history``: :data:`LOGGED_ACTIONS`), oldest first.
        names: Telegram user id -> name, and chat id -> title for groups.
    """

    facts: CycleFacts
    history: Sequence[LoggedReport] = ()
    reminders: Sequence[Reminder] = ()
    urges: Sequence[Urge] = ()
    log: Sequence[LogRow] = ()
    names: Mapping[int, str] = field(default_factory=dict)

    @property
    def cycle(self) -> int:
        """The cycle year."""
        return self.facts.cycle

    @property
    def is_empty(self) -> bool:
        """Nothing at all was appended about the cycle: no report, delivery, urge, review,
        extension request or acknowledgement; duban did not follow it (not yet in use, or the
        cycle has not begun)."""
        facts = self.facts
        return not (self.history or self.reminders or self.urges or self.log or facts.reports
                    or facts.reviews or facts.extensions or facts.acknowledgements)


def unfollowed_cycle(record: CycleRecord, current: int) -> bool:
    """Whether the reports of ``record``'s cycle would be empty words: it is not the current
    cycle (``current``) and nothing was recorded in it. Such a cycle's tasks were not followed
    by duban, so no unit can be called overdue in it; the current cycle is reported on even
    before anything was recorded (a new install)."""
    return record.cycle != current and record.is_empty


def unfollowed_cycle_text(t: Translator, cycle: int, current: int) -> str:
    """The refusal for an :func:`unfollowed_cycle`, naming the current cycle."""
    return t.gettext(
        "No records for {year}: nothing was reported, reminded, urged or reviewed in that "
        "cycle (duban was not in use then, or the cycle has not begun), so there is nothing "
        "to report on and nobody is overdue in it. The current cycle is {current}.").format(
        year=cycle, current=current)


def collect(store: Store, cycle: int) -> CycleRecord:
    """Read what the reports of ``cycle`` show from the database (a few short queries)."""
    with cyclic_gc_paused():  # a row per report of the year, no cycle among them
        names = store.people_names()
        names.update({c.chat_id: c.title for c in store.leadership_chats(active_only=False)})
        return CycleRecord(store.cycle_facts(cycle), store.reports_for_cycle(cycle),
                           store.reminders_for_cycle(cycle), store.urges(cycle),
                           store.cycle_log(cycle, LOGGED_ACTIONS), names)


def unit_scores(timetable: Timetable, record: CycleRecord, today: dt.date,
                zone: dt.tzinfo) -> list[UnitScore]:
    """Every unit's scorecard (:func:`schedules.scorecard.score_units`) from the record:
    a reminder counts when it was sent about a unit's task."""
    reminded = {(r.task_id, r.unit_id) for r in record.reminders
                if r.state == "sent" and r.kind in UNIT_REMINDER_KINDS}
    return score_units(timetable, record.facts, record.history, reminded,
                       [(u.task_id, u.unit_id) for u in record.urges], today, zone)
