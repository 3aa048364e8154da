"""A message's rows go together end to end through ``dispatch_due`` (written as a hostile
review of 35ce02a/dc6f659).

The claim's hold-back only sees the ids the dispatcher passes it, and the dispatcher passes
only rows that ``Store.due_rows`` returned *pending* and ``decide`` found not backing off; so
what keeps a message whole end to end is that its rows change state together: retried and
given back in one transaction with one back-off end (``Store.retry_message_later``), leased
and released together. The review's failing cases (rows retried or given back one by one,
split into ``[[7], [11, 23]]``) are rewritten here against that; a fresh row failed for its
sibling's attempts was a fault of its own (``_retry`` judged the message by its most tried
row).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.bot.conftest import Harness
from tests.bot.test_reminders import (
    AGRI,
    at,
    enrol_agri,
    reminders_in,
    rows_of,
    run_at,
    tasks_of,
)


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_retried_message_comes_back_whole_at_one_instant(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """AGRI's one message (tasks 7, 11, 23) meets a 5xx beyond the quick retries. Its rows'
    back-off end is written once for all of them (``Store.retry_message_later``), even when the
    database clock moves between writes (here 1 ms after each store call): the rows one
    ``retry_later`` each, as before, ended theirs apart, and a run between the ends sent
    ``[[7], [11, 23]]``. The next run at that end sends one message with all three."""
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    store = harness.store
    calls = {name: getattr(store, name) for name in ("retry_later", "retry_message_later")}

    def a_ms_later(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = calls[name](*args, **kwargs)
            harness.clock.set(harness.clock.now() + dt.timedelta(milliseconds=1))
            return result
        return call

    for name in calls:
        monkeypatch.setattr(store, name, a_ms_later(name))
    harness.api.fail_next("sendMessage", 500, times=3)
    first = await run_at(harness, at(11, 17))
    monkeypatch.undo()
    assert len(first.retried) == 3
    ends = sorted(r.not_before for r in rows_of(store, AGRI) if r.id in first.retried)
    assert ends[0] == ends[-1], f"back-offs end apart: {ends}"
    await run_at(harness, ends[0].astimezone(at(1, 1).tzinfo))
    await run_at(harness, at(11, 17, 9, 5))
    got = [tasks_of(m) for m in reminders_in(harness, AGRI)]
    assert got == [[7, 11, 23]], f"the chat got {got}"


async def test_a_message_another_instance_holds_goes_whole_once_it_is_given_back(
        harness: Harness) -> None:
    """Instance X claimed AGRI's message and gives it back (the database failed before its
    send): this instance's run meanwhile sends nothing of it; once X gives it back (one
    transaction, ``retry_message_later``) the next run sends it as one message."""
    await enrol_agri(harness)
    store = harness.store
    await run_at(harness, at(11, 16, 10))  # plans; nothing due yet
    ids = sorted(r.id for r in rows_of(store, AGRI) if r.due_at == at(11, 17))
    assert len(ids) == 3
    assert len(store.claim_leased(ids, "host:x:other", 300, at(11, 17))) == 3
    during = await run_at(harness, at(11, 17, 9, 0))
    assert during.sent == []
    assert store.retry_message_later(ids, "database error: OperationalError", at(11, 17),
                                     instance="host:x:other", attempted=False) == ids
    after = await run_at(harness, at(11, 17, 9, 1))
    assert sorted(after.sent) == ids
    got = [tasks_of(m) for m in reminders_in(harness, AGRI)]
    assert got == [[7, 11, 23]], f"the chat got {got}"


async def test_a_give_back_the_database_refuses_leaves_the_message_whole(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """This instance claims the message, the database fails before the send and again while
    the message is given back: the give-back is one transaction, so no row of it went back
    (before, one row per transaction: one pending, two stranded ``sending``). The next run
    gives the stranded back first: one message, all three, no attempt counted."""
    from sqlalchemy.exc import OperationalError
    await enrol_agri(harness)
    store = harness.store
    await run_at(harness, at(11, 16, 10))
    claim, read = store.claim_messages, store.reports_after
    down = {"on": False}

    def claim_messages(*args: Any) -> Any:
        claimed = claim(*args)
        down["on"] = True
        return claimed

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(store, "claim_messages", claim_messages)
    monkeypatch.setattr(store, "reports_after", lambda *a: fail() if down["on"] else read(*a))
    monkeypatch.setattr(store, "retry_message_later", fail)
    first = await run_at(harness, at(11, 17))
    monkeypatch.undo()
    states = sorted(r.state for r in rows_of(store, AGRI) if r.due_at == at(11, 17))
    assert first.sent == [] and states == ["sending", "sending", "sending"]
    again = await run_at(harness, at(11, 17, 9, 1))
    assert len(again.sent) == 3
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]]
    assert {r.attempts for r in rows_of(store, AGRI) if r.id in again.sent} == {0}


@pytest.mark.usefixtures("database_follows_clock")
async def test_one_reminder_backing_off_and_its_siblings_due_each_go_once_soon(
        harness: Harness) -> None:
    """Task 7's row backs off (a 429 before 09:00, 60 s); 11 and 23 become due at 09:00.
    Everything arrives once, within the back-off plus one run (in two messages: the one
    backing off is not in the 09:00 run's message, by ``decide``)."""
    await enrol_agri(harness)
    store = harness.store
    await run_at(harness, at(11, 16, 10))
    rows = {r.task_id: r for r in rows_of(store, AGRI) if r.due_at == at(11, 17)}
    harness.clock.set(at(11, 17))
    assert len(store.claim_leased([rows[7].id], "host:x:other", 30, at(11, 17))) == 1
    assert store.retry_later(rows[7].id, "RetryAfter: 60", at(11, 17), instance="host:x:other",
                             back_off=dt.timedelta(seconds=60))
    first = await run_at(harness, at(11, 17))
    later = await run_at(harness, at(11, 17, 9, 1))
    got = [tasks_of(m) for m in reminders_in(harness, AGRI)]
    assert sorted(t for m in got for t in m) == [7, 11, 23], got
    assert got == [[11, 23], [7]], got
    assert len(first.sent) == 2 and len(later.sent) == 1


async def test_a_fresh_reminder_is_not_given_up_for_a_siblings_attempts(
        harness: Harness) -> None:
    """Task 7's row has had 4 failed tries (its back-off over); 11 and 23 are due for the
    first time at the same run and go in its message. That message meets a 5xx: the rows of
    11 and 23, tried once, should back off and be tried again, not fail for good."""
    from sqlalchemy import text
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    store = harness.store
    await run_at(harness, at(11, 16, 10))
    rows = {r.task_id: r for r in rows_of(store, AGRI) if r.due_at == at(11, 17)}
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE reminder SET attempts = 4 WHERE id = :id"),
                           {"id": rows[7].id})
    harness.api.fail_next("sendMessage", 500, times=3)
    report = await run_at(harness, at(11, 17))
    states = {t: (store.get_reminder(r.id).state, store.get_reminder(r.id).attempts)
              for t, r in rows.items()}
    assert states[11][0] == "pending" and states[23][0] == "pending", (
        f"{states}; failed: {report.failed}")
    assert states == {7: ("failed", 5), 11: ("pending", 1), 23: ("pending", 1)}
    assert [row_id for row_id, _ in report.failed] == [rows[7].id]
    assert report.failed[0][1].startswith("gave up after 5 attempts")
