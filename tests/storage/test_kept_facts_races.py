"""The kept facts (Store.cycle_facts) under threads: the bot reads them from several worker
threads at once, and a copy one thread kept must not replace a newer one another kept (found by
a review: an acknowledgement vanished until the process restarted). Each test compares the kept
copy with a fresh read (a new Store reading from scratch)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event

from schedules.model import Timetable
from schedules.workflow import cycle_views
from storage import Store
from tests.storage.test_kept_facts import TODAY, fresh, plain, sent_reminders, world

__all__ = ["world"]  # the two stores of test_kept_facts, a fixture used here too

SHANGHAI = ZoneInfo("Asia/Shanghai")
CYCLE = 2026
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)


def assert_same_as_fresh(reader: Store, db_url: str, timetable: Timetable) -> None:
    """The reader's kept copy (and its views) equal what a brand-new Store reads."""
    kept = reader.cycle_facts(CYCLE)
    newcomer = Store(db_url)
    try:
        again = fresh(newcomer, CYCLE)
        assert plain(kept) == plain(again)
        assert cycle_views(timetable, kept, TODAY) == cycle_views(timetable, again, TODAY)
    finally:
        newcomer.close()


# -- 1. a stale copy put back by the fast path loses an acknowledgement for good --------------
def test_stale_keep_race_loses_an_acknowledgement(world: tuple[Store, Store], db_url: str,
                                                  timetable: Timetable) -> None:
    """Thread A finds the kept copy K_R current and, before it calls ``_keep(cycle, K_R)``,
    thread B catches up to K_R+1 (an acknowledgement): B's catch-up merged the
    acknowledgement into ``first_acknowledgements``, a dict K_R shares with K_R+1. A then puts
    K_R back. The next catch-up from K_R reads the acknowledgement again, finds it already
    'first' in the shared dict, and never puts it in the facts: /task and the views show
    the unit as not acknowledged until the process restarts."""
    reader, other = world
    pair = (16, timetable.responsible_units(timetable.task(16))[0].unit_id)
    reminders = sent_reminders(other, pair, chats=(501,))
    reader.cycle_facts(CYCLE)  # K_R kept

    original_keep = reader._keep
    at_keep, b_done = threading.Event(), threading.Event()

    def slow_keep(cycle: int, kept: object) -> None:
        if threading.current_thread().name == "A" and not at_keep.is_set():
            at_keep.set()
            b_done.wait(10)
        original_keep(cycle, kept)  # type: ignore[arg-type]

    reader._keep = slow_keep  # type: ignore[method-assign]
    a = threading.Thread(target=reader.cycle_facts, args=(CYCLE,), name="A")
    a.start()
    assert at_keep.wait(10)
    assert other.acknowledge(reminders[0], 5020, NOW)  # revision R+1
    assert pair in reader.cycle_facts(CYCLE).acknowledgements  # B: caught up to R+1
    b_done.set()
    a.join(10)
    reader._keep = original_keep  # type: ignore[method-assign]

    assert pair in reader.cycle_facts(CYCLE).acknowledgements, (
        "the acknowledgement vanished from the kept copy")
    other.add_report(15, "ecology-environment", CYCLE, "in_progress", 10, "", None, NOW, "cli")
    assert_same_as_fresh(reader, db_url, timetable)


def test_a_double_press_answered_by_two_instances_is_stored_once(
        world: tuple[Store, Store], timetable: Timetable) -> None:
    """Two instances (or two worker threads) answer the same press: the second takes the
    facts' lock after the first committed, and only then reads the pair's newest report, so it
    finds the repeat (the check was once made before the lock, and both stored it)."""
    one, two = world
    lead = timetable.responsible_units(timetable.task(16))[0].unit_id
    checked, go = threading.Event(), threading.Event()

    def pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (threading.current_thread().name == "A" and "facts_revision" in statement
                and statement.lstrip().upper().startswith("INSERT")):
            checked.set()
            go.wait(10)

    event.listen(two.engine, "before_cursor_execute", pause)
    outcome: list[Any] = []

    def press() -> None:
        try:
            outcome.append(two.add_report_once(16, lead, CYCLE, "done", None, "", 7001, NOW,
                                               "button", None, dt.timedelta(minutes=1)))
        except Exception as exc:  # SQLite: the stale read snapshot cannot write
            outcome.append(exc)

    a = threading.Thread(target=press, name="A")
    a.start()
    assert checked.wait(10)  # A found no repeat and is about to take the lock
    _, new = one.add_report_once(16, lead, CYCLE, "done", None, "", 7001,
                                 NOW + dt.timedelta(seconds=1), "button", None,
                                 dt.timedelta(minutes=1))
    assert new
    go.set()
    a.join(10)
    assert len(one.report_history(16, lead, CYCLE)) == 1, (
        f"a repeat was stored twice ({outcome})")
