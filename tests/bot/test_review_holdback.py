"""Hostile review of 35ce02a/dc6f659 (whole-or-nothing claims count every unfinished row),
end to end through ``dispatch_due``.

The claim's hold-back only sees the ids the dispatcher passes it, and the dispatcher passes
only rows that ``Store.due_rows`` returned *pending* and ``decide`` found not backing off.
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
async def test_a_message_retried_row_by_row_is_not_split_by_the_dispatcher(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """AGRI's one message (tasks 7, 11, 23) meets a 5xx beyond the quick retries; ``_retry``
    writes each row's back-off in its own ``retry_later`` call, each on the database clock at
    that call: here 1 ms apart (a few ms in production). The next run lands between the first
    row's back-off end and the others'. Expected: one message with all three (or nothing yet).
    """
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    store = harness.store
    retry = store.retry_later

    def retry_a_ms_later(*args: Any, **kwargs: Any) -> Any:
        result = retry(*args, **kwargs)
        harness.clock.set(harness.clock.now() + dt.timedelta(milliseconds=1))
        return result

    monkeypatch.setattr(store, "retry_later", retry_a_ms_later)
    harness.api.fail_next("sendMessage", 500, times=3)
    first = await run_at(harness, at(11, 17))
    monkeypatch.setattr(store, "retry_later", retry)
    assert len(first.retried) == 3
    ends = sorted(r.not_before for r in rows_of(store, AGRI) if r.id in first.retried)
    assert ends[0] < ends[-1]
    await run_at(harness, ends[0].astimezone(at(1, 1).tzinfo))  # between the back-off ends
    await run_at(harness, at(11, 17, 9, 5))
    got = [tasks_of(m) for m in reminders_in(harness, AGRI)]
    assert got == [[7, 11, 23]], f"the chat got {got}"


async def test_a_message_given_back_row_by_row_by_another_instance_is_not_split(
        harness: Harness) -> None:
    """Instance X claimed AGRI's message and is giving it back row by row (``_give_back``:
    one ``retry_later(attempted=False)`` per row; or its database failed after the first and
    the rest are stranded ``sending`` under X's renewed lease). This instance runs in between.
    Expected (docs/reminders.md "a row still sending under a live lease ... holds back"):
    nothing sent until X gives the rest back, then one message with all three."""
    await enrol_agri(harness)
    store = harness.store
    await run_at(harness, at(11, 16, 10))  # plans; nothing due yet
    ids = sorted(r.id for r in rows_of(store, AGRI) if r.due_at == at(11, 17))
    assert len(ids) == 3
    assert len(store.claim_leased(ids, "host:x:other", 300, at(11, 17))) == 3
    assert store.retry_later(ids[0], "database error: OperationalError", at(11, 17),
                             instance="host:x:other", attempted=False)
    during = await run_at(harness, at(11, 17, 9, 0, ))
    for i in ids[1:]:  # X gives back the rest
        assert store.retry_later(i, "database error: OperationalError", at(11, 17),
                                 instance="host:x:other", attempted=False)
    after = await run_at(harness, at(11, 17, 9, 1))
    got = [tasks_of(m) for m in reminders_in(harness, AGRI)]
    assert got == [[7, 11, 23]], (
        f"the chat got {got}; sent during X's give-back: {during.sent}, after: {after.sent}")


async def test_a_give_back_that_fails_half_way_goes_whole_at_the_next_run(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """This instance claims the message, the database fails before the send, and fails again
    after the first row was given back (one pending, two stranded ``sending``). The next run
    gives the stranded back first: one message, all three, no attempt counted."""
    from sqlalchemy.exc import OperationalError
    await enrol_agri(harness)
    store = harness.store
    await run_at(harness, at(11, 16, 10))
    claim, read, retry = store.claim_messages, store.reports_after, store.retry_later
    down = {"on": False, "given": 0}

    def claim_messages(*args: Any) -> Any:
        claimed = claim(*args)
        down["on"] = True
        return claimed

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    def retry_once(*args: Any, **kwargs: Any) -> Any:
        if down["on"] and down["given"] >= 1:
            fail()
        down["given"] += 1
        return retry(*args, **kwargs)

    monkeypatch.setattr(store, "claim_messages", claim_messages)
    monkeypatch.setattr(store, "reports_after", lambda *a: fail() if down["on"] else read(*a))
    monkeypatch.setattr(store, "retry_later", retry_once)
    first = await run_at(harness, at(11, 17))
    monkeypatch.undo()
    states = sorted(r.state for r in rows_of(store, AGRI) if r.due_at == at(11, 17))
    assert first.sent == [] and states == ["pending", "sending", "sending"]
    again = await run_at(harness, at(11, 17, 9, 1))
    assert len(again.sent) == 3
    assert [tasks_of(m) for m in reminders_in(harness, AGRI)] == [[7, 11, 23]]


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
