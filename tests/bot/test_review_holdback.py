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
