"""Hostile review of 35ce02a: the SQLite look-then-write claim (``_ClaimRaced``), finished
rows, and starvation at the store level."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from storage import Store
from tests.storage.test_store import NOW, _chat_messages


def _ids(claimed: list[list[Any]]) -> list[list[int]]:
    return [[row.id for row in message] for message in claimed]


def _after_look(store: Store, action: Callable[[int], None]) -> Callable[[], None]:
    """Run ``action(n)`` right after the n-th SQLite look (before the claim's UPDATE)."""
    count = [0]

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and " AS ready" in statement \
                and "SKIP LOCKED" not in statement:
            count[0] += 1
            action(count[0])

    event.listen(store.engine, "after_cursor_execute", after)
    return lambda: event.remove(store.engine, "after_cursor_execute", after)


def _sqlite_only(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the look-then-write path is SQLite's")


def test_a_writer_between_look_and_claim_leaves_that_message_whole(
        store: Store, backend: str) -> None:
    _sqlite_only(backend)
    first, second, third = _chat_messages(store, 3, 3)
    other = Store(store.url)
    try:
        stop = _after_look(store, lambda n: n == 1 and other.claim_leased(
            [second[1]], "host:2:b", 30, NOW) and None)
        claimed = store.claim_messages([first, second, third], "host:1:a", 30, NOW)
        stop()
    finally:
        other.engine.dispose()
    assert _ids(claimed) == [first, [], third]
    rows = {r.id: r for r in store.reminders_for_cycle(2025)}
    assert [rows[i].state for i in second] == ["pending", "sending", "pending"]


def test_a_writer_racing_every_look_cannot_loop_the_claim_forever(
        store: Store, backend: str) -> None:
    """Each look is followed by another writer taking one row of a different message: the
    claim must end (each raced message is skipped), raise nothing, claim nothing in part."""
    _sqlite_only(backend)
    messages = _chat_messages(store, 6, 2)
    other = Store(store.url)
    try:
        stop = _after_look(store, lambda n: n <= len(messages) and other.claim_leased(
            [messages[n - 1][0]], "host:2:b", 30, NOW) and None)
        claimed = store.claim_messages(messages, "host:1:a", 30, NOW)
        stop()
    finally:
        other.engine.dispose()
    for message, got in zip(messages, _ids(claimed), strict=True):
        assert got in ([], message)
    assert all(got == [] for got in _ids(claimed)[:-1])


def test_a_row_finished_between_look_and_claim_only_delays_the_rest(
        store: Store, backend: str) -> None:
    """A reminder marked sent/skipped by another writer between the look and the UPDATE: the
    message is left (raced); the next claim takes its other rows whole."""
    _sqlite_only(backend)
    (message,) = _chat_messages(store, 1, 3)
    other = Store(store.url)
    try:
        stop = _after_look(store, lambda n: n == 1 and other.mark_skipped(
            message[0], "reported_done", NOW, "host:2:b") and None)
        first = store.claim_messages([message], "host:1:a", 30, NOW)
        stop()
    finally:
        other.engine.dispose()
    again = store.claim_messages([message], "host:1:a", 30, NOW)
    assert _ids(first) in ([[]], [message[1:]])
    assert _ids(first) != [[]] or _ids(again) == [message[1:]]


@pytest.mark.parametrize("finish", ["sent", "failed", "skipped"])
def test_a_finished_row_never_holds_back_the_rest(store: Store, finish: str) -> None:
    (message,) = _chat_messages(store, 1, 3)
    if finish == "sent":
        assert store.mark_sent(message[1], 77, NOW)
    elif finish == "failed":
        store.claim_messages([[message[1]]], "host:1:a", 30, NOW)
        assert store.mark_failed(message[1], "gave up after 5 attempts", NOW, "host:1:a")
    else:
        assert store.mark_skipped(message[1], "reported_done", NOW, "host:1:a")
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [
        [message[0], message[2]]]


def test_a_lease_that_ran_out_holds_back_only_until_released(store: Store) -> None:
    """A sibling left ``sending`` by a dead instance (lease over, not yet released) holds the
    message back; once released (every run does that first) the message goes whole."""
    (message,) = _chat_messages(store, 1, 3)
    assert len(store.claim_leased([message[2]], "host:9:dead", -1, NOW)) == 1
    assert _ids(store.claim_messages([message], "host:1:a", 30, NOW)) == [[]]
    store.release_expired_leases(NOW)
    assert _ids(store.claim_messages([message], "host:1:a", 30, NOW)) == [message]


def test_one_row_in_two_messages_of_one_claim_is_refused(store: Store) -> None:
    """API misuse: an id passed in two messages of one claim was returned in both (the
    dispatcher never does this: a run's messages have disjoint rows). Now refused, nothing
    claimed."""
    a, b = _chat_messages(store, 2, 2)
    with pytest.raises(ValueError, match=rf"\[{a[1]}\] are in more than one message"):
        store.claim_messages([a, [a[1], *b]], "host:1:a", 30, NOW)
    assert _ids(store.claim_messages([a, b], "host:1:a", 30, NOW)) == [a, b]


def test_back_off_holds_only_until_the_last_sibling_ends(store: Store) -> None:
    """Back-offs 0.3 s apart: nothing before the last ends, the whole message after."""
    import time
    (message,) = _chat_messages(store, 1, 2)
    store.claim_messages([message], "host:1:a", 30, NOW)
    assert store.retry_later(message[0], "x", NOW, instance="host:1:a",
                             back_off=dt.timedelta(seconds=0.2))
    assert store.retry_later(message[1], "x", NOW, instance="host:1:a",
                             back_off=dt.timedelta(seconds=0.5))
    time.sleep(0.3)
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [[]]
    time.sleep(0.3)
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [message]
