"""The cycle's facts kept in memory and brought up to date by reading only what changed.

``Store.cycle_facts`` keeps a cycle's facts as of a revision of the facts and, when the revision
moved, reads only the rows stamped with a higher one (migration 0011). Every test compares the
kept copy with a fresh read of the same database, on SQLite and PostgreSQL, with writes made
through a second store (another instance) between reads.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from schedules.delivery import ReminderSpec
from schedules.model import Timetable
from schedules.workflow import CycleFacts, Pair, cycle_views, task_view
from storage import Store
from storage.store import ReportRow

SHANGHAI = ZoneInfo("Asia/Shanghai")
CYCLE = 2026
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)
TODAY = dt.date(2026, 11, 25)


def pairs_of(timetable: Timetable) -> list[Pair]:
    """Some (task, unit) pairs: a statistics task, annual tasks with lead and cooperating
    units, a task of joint units."""
    found: list[Pair] = []
    for task_id, count in ((1, 2), (15, 2), (16, 2), (26, 3)):
        task = timetable.task(task_id)
        found += [(task_id, a.unit_id) for a in timetable.responsible_units(task)[:count]]
    return found


@pytest.fixture
def world(db_url: str, timetable: Timetable) -> Iterator[tuple[Store, Store]]:
    """Two stores on one migrated database with the timetable's units: the reader (which keeps
    the facts) and another instance."""
    reader = Store(db_url)
    reader.upgrade()
    reader.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], NOW)
    other = Store(db_url)
    try:
        yield reader, other
    finally:
        other.close()
        reader.close()


def fresh(store: Store, cycle: int, task_id: int | None = None,
          unit_id: str | None = None) -> CycleFacts:
    """The facts read from the database by the public readers, nothing kept."""
    notes = (store.latest_notes(cycle, task_id, unit_id)
             if task_id is not None or unit_id is not None else {})
    return CycleFacts(cycle, store.latest_reports(cycle, task_id, unit_id),
                      store.reviews(cycle, task_id), store.extensions(cycle, task_id),
                      store.acknowledgements(cycle, task_id), notes)


def plain(facts: CycleFacts, wanted: set[Pair] | None = None) -> dict[str, Any]:
    """The facts as plain values, for comparing (only ``wanted`` pairs' when given)."""
    def keep(pair: Pair) -> bool:
        return wanted is None or pair in wanted

    return {
        "reports": {p: row(r) for p, r in facts.reports.items() if keep(p)},
        "reviews": {i: (r.report_id, r.decision, r.comment, r.reviewer_telegram_id,
                        r.reviewed_at) for i, r in facts.reviews.items()
                    if keep((r.task_id, r.unit_id))},  # type: ignore[attr-defined]
        "extensions": {p: [(e.id, e.state, e.due_date, e.requested_at, e.decided_at)
                           for e in found] for p, found in facts.extensions.items() if keep(p)},
        "acknowledgements": {p: a for p, a in facts.acknowledgements.items() if keep(p)},
        "notes": {p: row(r) for p, r in facts.notes.items() if keep(p)},
    }


def row(report: Any) -> tuple[Any, ...]:
    """A report's columns (a ``ReportRow``'s)."""
    return tuple(getattr(report, name) for name in ReportRow._fields)


def assert_current(reader: Store, timetable: Timetable, cycle: int = CYCLE) -> CycleFacts:
    """The reader's kept facts, and their views, equal a fresh read's."""
    kept = reader.cycle_facts(cycle)
    again = fresh(reader, cycle)
    assert plain(kept) == plain(again)
    assert cycle_views(timetable, kept, TODAY) == cycle_views(timetable, again, TODAY)
    return kept


class Selects:
    """The SELECT statements a store runs while ``active``."""

    def __init__(self, store: Store) -> None:
        self.seen: list[str] = []
        self.active = False
        event.listen(store.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.active and statement.lstrip().upper().startswith("SELECT"):
            self.seen.append(" ".join(statement.split()))

    def during(self, call: Any) -> list[str]:
        self.seen, self.active = [], True
        try:
            call()
        finally:
            self.active = False
        return self.seen


def test_after_a_change_only_the_changed_rows_are_read(world: tuple[Store, Store],
                                                       timetable: Timetable) -> None:
    reader, other = world
    other.add_report(15, "ecology-environment", CYCLE, "in_progress", 30, "开始", 1001, NOW,
                     "button")
    first = assert_current(reader, timetable)
    selects = Selects(reader)
    assert len(selects.during(lambda: reader.cycle_facts(CYCLE))) == 1  # the revision only
    assert reader.cycle_facts(CYCLE) is first
    other.add_report(15, "ecology-environment", CYCLE, "done", None, "", 1001,
                     NOW + dt.timedelta(hours=1), "button")
    statements = selects.during(lambda: reader.cycle_facts(CYCLE))
    assert not any("row_number" in s.lower() for s in statements)  # no window over the cycle
    assert all("facts_revision" in s for s in statements)
    second = assert_current(reader, timetable)
    assert second is not first and second.reports[(15, "ecology-environment")].status == "done"
    assert first.reports[(15, "ecology-environment")].status == "in_progress"  # not changed


def test_a_newer_report_replaces_the_latest_and_an_older_one_does_not(
        world: tuple[Store, Store], timetable: Timetable) -> None:
    reader, other = world
    pair = (26, "development-reform")
    cycle_views(timetable, reader.cycle_facts(CYCLE), TODAY)  # views kept, then carried
    other.add_report(*pair, CYCLE, "in_progress", 20, "第一次", 1001, NOW, "button")
    assert assert_current(reader, timetable).reports[pair].progress == 20
    other.add_report(*pair, CYCLE, "blocked", None, "", 1001, NOW + dt.timedelta(days=1),
                     "button")
    kept = assert_current(reader, timetable)
    assert kept.reports[pair].status == "blocked"
    # stored later, dated earlier (a reply sent before, handled after): not the latest
    reader.add_report(*pair, CYCLE, "done", None, "补记", 1001, NOW - dt.timedelta(days=1),
                      "reply")
    assert assert_current(reader, timetable).reports[pair].status == "blocked"
    # the same time: the higher id is the newer
    other.add_report(*pair, CYCLE, "done", None, "", 1001, NOW + dt.timedelta(days=1), "button")
    assert assert_current(reader, timetable).reports[pair].status == "done"
    # another cycle's report changes nothing of this one's (the same object)
    kept = reader.cycle_facts(CYCLE)
    other.add_report(*pair, CYCLE - 1, "done", None, "", 1001, NOW, "cli")
    assert reader.cycle_facts(CYCLE) is kept


def test_reviews_and_extension_decisions_change_the_kept_states(
        world: tuple[Store, Store], timetable: Timetable) -> None:
    reader, other = world
    lead = (15, "ecology-environment")
    states = cycle_views(timetable, reader.cycle_facts(CYCLE), TODAY)
    done = other.add_report(*lead, CYCLE, "done", None, "", 1001, NOW, "button")
    assert done.id is not None
    assert task_view_of(reader, timetable, 15).unit(lead[1]).phase == "reported_done"
    assert other.add_review(done.id, "returned", "请补充", 2000, NOW) is not None
    assert task_view_of(reader, timetable, 15).unit(lead[1]).phase == "returned"
    asked = other.request_extension(*lead, CYCLE, dt.date(2026, 12, 20), "设备", 1001, NOW)
    assert asked is not None and asked.id is not None
    assert task_view_of(reader, timetable, 15).unit(lead[1]).pending is not None
    assert reader.decide_extension(asked.id, True, 2000, "", NOW) is not None
    state = task_view_of(reader, timetable, 15).unit(lead[1])
    assert state.pending is None and state.cutoff == dt.date(2026, 12, 21)
    again = other.add_report(*lead, CYCLE, "done", None, "补充了", 1001,
                             NOW + dt.timedelta(hours=2), "button")
    assert again.id is not None
    assert other.add_review(again.id, "confirmed", "", 2000, NOW) is not None
    assert task_view_of(reader, timetable, 15).light == "🟢"
    assert states != cycle_views(timetable, assert_current(reader, timetable), TODAY)


def task_view_of(reader: Store, timetable: Timetable, task_id: int) -> Any:
    """One task's view among the kept (carried) views, after checking them against fresh."""
    facts = assert_current(reader, timetable)
    return next(v for v in cycle_views(timetable, facts, TODAY) if v.task_id == task_id)


def test_acknowledgements_made_elsewhere_are_read_the_first_kept(
        world: tuple[Store, Store], timetable: Timetable) -> None:
    reader, other = world
    pair = (16, timetable.responsible_units(timetable.task(16))[0].unit_id)
    reminders = sent_reminders(other, pair, chats=(501, 502))
    assert_current(reader, timetable)
    later = NOW + dt.timedelta(hours=3)
    assert other.acknowledge(reminders[1], 5020, later)
    assert reader.cycle_facts(CYCLE).acknowledgements[pair].telegram_user_id == 5020
    # acknowledged afterwards, but earlier by its clock: it is the first
    assert [r.id for r in other.acknowledge_message(501, 9001, 5010, NOW)] == [reminders[0]]
    kept = assert_current(reader, timetable)
    assert kept.acknowledgements[pair].telegram_user_id == 5010
    # a second press acknowledges nothing: the facts are the same
    assert other.acknowledge_message(501, 9001, 5011, later) == []
    assert reader.cycle_facts(CYCLE) is kept


def sent_reminders(store: Store, pair: Pair, chats: tuple[int, ...], cycle: int = CYCLE,
                   message: int = 9001) -> list[int]:
    """Deliveries of a pair's reminder to ``chats``, sent as ``message``: their ids."""
    specs = [ReminderSpec(task_id=pair[0], unit_id=pair[1], cycle=cycle, kind="before",
                          offset_days=7, chat_id=chat, due_at=NOW,
                          cutoff=dt.date(cycle, 12, 1)) for chat in chats]
    store.plan_deliveries(specs, NOW)
    ids = [r.id for r in store.reminders_for_cycle(cycle)
           if (r.task_id, r.unit_id) == pair and r.chat_id in chats]
    for reminder_id in ids:
        assert reminder_id is not None
        store.mark_sent(reminder_id, message, NOW)
    return [i for i in ids if i is not None]


def test_one_tasks_and_one_units_facts_come_from_the_kept_copy(
        world: tuple[Store, Store], timetable: Timetable) -> None:
    reader, other = world
    lead, cooperating = (15, "ecology-environment"), (15, "development-reform")
    other.add_report(*lead, CYCLE, "in_progress", 40, "进展一", 1001, NOW, "button")
    other.add_report(*lead, CYCLE, "in_progress", 50, "", 1001, NOW + dt.timedelta(hours=1),
                     "button")
    other.add_report(*cooperating, CYCLE, "done", None, "配合完成", 1002, NOW, "button")
    # no copy kept: read from the database, and none is made
    narrow = reader.cycle_facts(CYCLE, 15)
    assert plain(narrow) == plain(fresh(reader, CYCLE, 15))
    selects = Selects(reader)
    assert len(selects.during(lambda: reader.cycle_facts(CYCLE, 15))) > 1
    reader.cycle_facts(CYCLE)  # now a copy is kept
    wanted = {lead, cooperating}
    for _ in range(2):  # the notes are read the first time only
        narrow = reader.cycle_facts(CYCLE, 15)
        assert plain(narrow, wanted) == plain(fresh(reader, CYCLE, 15), wanted)
        assert row(narrow.notes[lead])[6] == "进展一"  # the latest note, under a newer report
        assert task_view(timetable, timetable.task(15), narrow, TODAY) == task_view(
            timetable, timetable.task(15), fresh(reader, CYCLE, 15), TODAY)
    assert len(selects.during(lambda: reader.cycle_facts(CYCLE, 15))) == 1
    # a newer note from another instance: the kept notes follow
    other.add_report(*lead, CYCLE, "in_progress", 60, "进展二", 1001, NOW + dt.timedelta(hours=2),
                     "button")
    other.add_report(*lead, CYCLE, "in_progress", 70, "", 1001, NOW + dt.timedelta(hours=3),
                     "button")
    narrow = reader.cycle_facts(CYCLE, 15)
    assert row(narrow.notes[lead])[6] == "进展二"
    assert plain(narrow, wanted) == plain(fresh(reader, CYCLE, 15), wanted)
    # one unit's facts, and one pair's
    unit_pairs = {(task.id, lead[1]) for task, _ in timetable.tasks_for_unit(lead[1])}
    for task_id in (None, 15):
        mine = reader.cycle_facts(CYCLE, task_id, lead[1])
        expected = fresh(reader, CYCLE, task_id, lead[1])
        assert plain(mine, unit_pairs)["reports"] == plain(expected, unit_pairs)["reports"]
        assert plain(mine, unit_pairs)["notes"] == plain(expected, unit_pairs)["notes"]


def test_people_names_are_kept_and_follow_new_people_and_names(
        world: tuple[Store, Store]) -> None:
    reader, other = world
    other.add_person(3001, "王芳", "contact", "ecology-environment", "zh_Hans", NOW)
    assert reader.people_names() == {3001: "王芳"}
    selects = Selects(reader)
    assert len(selects.during(reader.people_names)) == 1  # the revision only
    other.add_person(3002, "李雷", "leader", None, None, NOW)
    other.add_person(3001, "王芳芳", "contact", "development-reform", "zh_Hans", NOW)
    names = reader.people_names()
    assert names == {3001: "王芳芳", 3002: "李雷"}
    names[1] = "changed by a caller"  # a new dict each time
    assert reader.people_names() == {3001: "王芳芳", 3002: "李雷"}
    assert other.deactivate_person(3002, "left", NOW)
    assert reader.people_names() == {3001: "王芳芳", 3002: "李雷"}  # everyone ever enrolled


def test_a_database_gone_back_is_read_again_whole(world: tuple[Store, Store], db_url: str,
                                                   timetable: Timetable) -> None:
    """A backup restored under a running store: the revision is lower than the kept one's."""
    reader, other = world
    for hours in range(3):
        other.add_report(15, "ecology-environment", CYCLE, "in_progress", 10 * hours, "", None,
                         NOW + dt.timedelta(hours=hours), "cli")
    reader.cycle_facts(CYCLE)
    with other.engine.begin() as connection:  # what the restored database has
        connection.execute(text("UPDATE facts_revision SET revision = 1"))
        connection.execute(text("UPDATE status_report SET facts_revision = 0"))
        connection.execute(text("DELETE FROM audit_entry"))
        connection.execute(text(
            "DELETE FROM status_report WHERE id <> (SELECT min(id) FROM status_report)"))
    assert reader.cycle_facts(CYCLE).reports[(15, "ecology-environment")].progress == 0
    assert_current(reader, timetable)


def test_a_writer_waits_for_the_one_before_it_so_numbers_follow_commits(
        world: tuple[Store, Store], timetable: Timetable) -> None:
    """A transaction holding the revision's lock (a report not committed yet): another writer
    waits, a reader reads the copy without it, and both appear once committed, the second
    with the higher number."""
    reader, other = world
    from storage.store import _facts_changed  # the writers' first step

    holding, release = threading.Event(), threading.Event()
    stamps: dict[str, int] = {}

    def slow_writer() -> None:
        with reader._session() as session, session.begin():
            stamps["slow"] = _facts_changed(session)
            holding.set()
            release.wait(10)

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert holding.wait(10)
    waiting = threading.Thread(target=lambda: stamps.setdefault("next", other.add_report(
        26, "development-reform", CYCLE, "done", None, "", None, NOW, "cli").facts_revision))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # it waits for the lock
    assert reader.cycle_facts(CYCLE).reports == {}
    release.set()
    slow.join(10)
    waiting.join(10)
    assert stamps["next"] == stamps["slow"] + 1
    assert (26, "development-reform") in assert_current(reader, timetable).reports


# -- any interleaving of writes by two instances ------------------------------------------------
@dataclass(frozen=True)
class Write:
    """One write: by which store (0 the reader, 1 the other), what, about which pair."""

    by: int
    kind: str
    pair: int
    value: int


WRITES = st.builds(Write, st.integers(0, 1),
                   st.sampled_from(["report", "report", "review", "request", "decide", "ack"]),
                   st.integers(0, 4), st.integers(0, 11))
STATUSES = ("done", "in_progress", "blocked", "not_applicable")


@dataclass
class Run:
    """Shared state of the property test: a new cycle per example (one database)."""

    cycle: int = 2030


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(st.one_of(WRITES, st.sampled_from(["read", "read task", "read unit"])),
                      min_size=1, max_size=16))
@example(steps=["read", Write(1, "report", 0, 3), "read", Write(0, "report", 0, 1)])  # older
def test_kept_facts_equal_a_fresh_read_after_any_interleaving_of_writes(
        world: tuple[Store, Store], timetable: Timetable, steps: list[Write | str]) -> None:
    reader, other = world
    cycle = _next_cycle()
    pairs = pairs_of(timetable)
    stores = (reader, other)
    reminders: dict[int, list[int]] = {}  # sent when first acknowledged
    for step in [*steps, "read"]:
        if isinstance(step, str):
            kept = assert_current(reader, timetable, cycle)
            if step != "read":
                task_id, unit_id = pairs[len(step) % len(pairs)]
                narrow = (reader.cycle_facts(cycle, task_id) if step == "read task"
                          else reader.cycle_facts(cycle, None, unit_id))
                expected = (fresh(reader, cycle, task_id) if step == "read task"
                            else fresh(reader, cycle, None, unit_id))
                wanted = set(expected.reports) | set(expected.notes)
                assert plain(narrow, wanted)["reports"] == plain(expected, wanted)["reports"]
                assert plain(narrow, wanted)["notes"] == plain(expected, wanted)["notes"]
                assert kept is reader.cycle_facts(cycle)
            continue
        if step.kind == "ack" and step.pair not in reminders:
            reminders[step.pair] = sent_reminders(other, pairs[step.pair], (
                700 + step.pair, 800 + step.pair), cycle, 9000 + step.pair)
        write(stores[step.by], cycle, pairs[step.pair], step, reminders.get(step.pair, []))


_CYCLES = Run()


def _next_cycle() -> int:
    _CYCLES.cycle += 1
    return _CYCLES.cycle


def write(store: Store, cycle: int, pair: Pair, step: Write, reminders: list[int]) -> None:
    """Carry out one write (one that finds nothing to do is a write that changed nothing)."""
    at = NOW + dt.timedelta(hours=step.value % 5)  # times repeat and go back
    if step.kind == "report":
        store.add_report(*pair, cycle, STATUSES[step.value % 4], None,
                         "" if step.value % 2 else f"note {step.value}", 1000 + step.by, at,
                         "button")
    elif step.kind == "review":
        latest = store.latest_reports(cycle, *pair).get(pair)
        if latest is not None:
            store.add_review(latest.id, ("confirmed", "returned")[step.value % 2], "", 2000, at)
    elif step.kind == "request":
        store.request_extension(*pair, cycle, dt.date(cycle, 12, 10 + step.value), "", 1000,
                                at)
    elif step.kind == "decide":
        pending = [e for e in store.extensions(cycle).get(pair, []) if e.state == "pending"]
        if pending and pending[0].id is not None:
            store.decide_extension(pending[0].id, step.value % 2 == 0, 2000, "", at)
    else:
        store.acknowledge(reminders[step.value % 2], 3000 + step.value, at)
