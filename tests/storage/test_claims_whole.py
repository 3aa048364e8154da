"""Hostile tests of ``Store.claim_messages``: a message's rows are claimed whole or not at all.

Written as a hostile review of 8a02979 ("a PostgreSQL claim takes a message whole or not at
all"). The two tests under "faults" failed on that commit, on both backends: a message given
back or retried row by row was claimed in part. A claim now counts every unfinished row of a
message (``storage.store._whole``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from storage import Store
from tests.storage.test_store import NOW, _actions, _chat_messages


def _ids(claimed: list[list[Any]]) -> list[list[int]]:
    return [[row.id for row in message] for message in claimed]


def _states(store: Store, ids: list[int], cycle: int = 2025) -> dict[int, tuple[str, Any]]:
    rows = {r.id: r for r in store.reminders_for_cycle(cycle)}
    return {i: (rows[i].state, rows[i].claimed_by) for i in ids}


@contextmanager
def _paused_after_hold(store: Store) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Pause ``store``'s next claim right after its ``FOR UPDATE SKIP LOCKED`` statement (its
    row locks taken, its claim not yet written): ``(held, go)``: ``held`` is set when it got
    there, it goes on when ``go`` is set."""
    held, go = threading.Event(), threading.Event()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "SKIP LOCKED" in statement and not held.is_set():
            held.set()
            assert go.wait(20)

    event.listen(store.engine, "after_cursor_execute", after)
    try:
        yield held, go
    finally:
        go.set()
        event.remove(store.engine, "after_cursor_execute", after)


def _postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer: a claim cannot see another one half done")


# -- faults -------------------------------------------------------------------------------------
def test_a_message_given_back_row_by_row_is_not_claimed_in_part(store: Store) -> None:
    """Was a fault (before a claim counted every unfinished row). Instance A holds a chat's
    message (3 rows) and gives it back the way the dispatcher does (``bot/reminders.py:
    _give_back``: ``retry_later(attempted=False)`` one row per transaction). Between two of
    those transactions instance B claims the same message: it took the one row already back
    (the other two A's, ``sending``, lease alive, did not count), so the chat got that
    reminder alone and the other two in a second message, on SQLite and PostgreSQL."""
    (message,) = _chat_messages(store, 1, 3)
    assert _ids(store.claim_messages([message], "host:1:a", 30, NOW)) == [message]
    first = message[0]
    assert store.retry_later(first, "database error: OperationalError", NOW,
                             instance="host:1:a", attempted=False)
    claimed = store.claim_messages([message], "host:2:b", 30, NOW)
    assert _ids(claimed) == [[]], (
        f"B claimed {_ids(claimed)} of message {message} while A still holds "
        f"{_states(store, message)}")


def test_a_message_retried_row_by_row_is_not_claimed_in_part_when_its_back_off_ends(
        store: Store) -> None:
    """Was a fault (as above). A 429 / network error puts a message's rows back with a
    back-off, one ``retry_later`` per row (``bot/reminders.py: _retry``); each computes its
    ``not_before`` from the database's clock at its own call, so the rows' back-offs end apart
    (by the time between the calls: here 0.6 s, a few ms to more on a busy executor). A claim
    whose database clock fell between them took the rows whose back-off had ended and left
    the rest: the chat's message was split. Now it takes none until all have ended."""
    (message,) = _chat_messages(store, 1, 3)
    store.claim_messages([message], "host:1:a", 30, NOW)
    back_off = dt.timedelta(seconds=1)
    assert store.retry_later(message[0], "RetryAfter: 1", NOW, instance="host:1:a",
                             back_off=back_off)
    time.sleep(0.6)
    for reminder_id in message[1:]:
        assert store.retry_later(reminder_id, "RetryAfter: 1", NOW, instance="host:1:a",
                                 back_off=back_off)
    ends = sorted(r.not_before for r in store.reminders_for_cycle(2025) if r.not_before)
    deadline = time.monotonic() + 5
    while store.database_now() <= ends[0] + dt.timedelta(seconds=0.1):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    claimed = store.claim_messages([message], "host:2:b", 30, NOW)
    assert store.database_now() < ends[-1], "too slow a machine to land between the back-offs"
    assert _ids(claimed) in ([[]], [message]), (
        f"claimed {_ids(claimed)} of message {message}; back-offs end at {ends}")


# -- what held ----------------------------------------------------------------------------------
@pytest.mark.parametrize("instances", [3, 4])
def test_racing_instances_claim_each_row_once_and_each_message_whole(
        store: Store, backend: str, instances: int) -> None:
    """3 or 4 instances (engines) send their ``FOR UPDATE SKIP LOCKED`` at the same instant
    (a barrier right before it), 28 messages of 1 to 40 rows, a few rounds over what is left:
    no row twice, no message in part, and what all let go is claimed whole later."""
    _postgres_only(backend)
    stores = [store] + [Store(store.url) for _ in range(instances - 1)]
    try:
        for cycle in (2030, 2031, 2032):
            messages = _chat_messages(store, 28, 1 + (cycle - 2030) * 20, cycle)
            taken: dict[int, str] = {}
            left = messages
            for _ in range(4):
                barrier = threading.Barrier(instances)

                def before(conn: Any, cursor: Any, statement: str, *args: Any,
                           barrier: threading.Barrier = barrier) -> None:
                    if "SKIP LOCKED" in statement:
                        barrier.wait(10)

                for each in stores:
                    event.listen(each.engine, "before_cursor_execute", before)
                try:
                    with ThreadPoolExecutor(instances) as pool:
                        results = list(pool.map(
                            lambda n, left=left: stores[n].claim_messages(  # type: ignore[misc]
                                left, f"host:{n}:x", 30, NOW), range(instances)))
                finally:
                    for each in stores:
                        event.remove(each.engine, "before_cursor_execute", before)
                still = []
                for m, message in enumerate(left):
                    takes = [[r.id for r in result[m]] for result in results]
                    holders = [n for n, take in enumerate(takes) if take]
                    assert len(holders) <= 1, (message, takes)
                    if holders:
                        assert takes[holders[0]] == message, (message, takes)
                        for i in message:
                            assert i not in taken
                            taken[i] = f"host:{holders[0]}:x"
                    else:
                        still.append(message)
                left = still
            assert left == [], left
            rows = {r.id: r for r in store.reminders_for_cycle(cycle)}
            assert {i: rows[i].claimed_by for i in taken} == taken
            assert {rows[i].state for i in taken} == {"sending"}
    finally:
        for each in stores[1:]:
            each.close()


def test_each_holding_part_both_let_go_and_the_next_claim_takes_it_whole(
        store: Store, backend: str) -> None:
    """A third transaction holds the middle row; A's claim, paused after its hold, holds the
    others; B claims meanwhile: neither A nor B takes any of it (nor of a free message B
    wants: B takes that one whole), nothing stays locked, the next claim takes it whole."""
    _postgres_only(backend)
    contested, free = _chat_messages(store, 2, 3)
    a, b, third = Store(store.url), Store(store.url), Store(store.url)
    try:
        with ThreadPoolExecutor(1) as pool, _paused_after_hold(a) as (held, go):
            with third.engine.connect() as lock, lock.begin():
                lock.exec_driver_sql("SELECT id FROM reminder WHERE id = %s FOR UPDATE",
                                     (contested[1],))
                future = pool.submit(a.claim_messages, [contested], "host:1:a", 30, NOW)
                assert held.wait(10)
            by_b = b.claim_messages([contested, free], "host:2:b", 30, NOW)
            go.set()
            by_a = future.result(10)
        assert _ids(by_a) == [[]] and _ids(by_b) == [[], free]
        assert _ids(store.claim_messages([contested], "host:3:c", 30, NOW)) == [contested]
    finally:
        for each in (a, b, third):
            each.close()


def test_a_claim_holding_a_message_keeps_it_from_another_until_it_commits(
        store: Store, backend: str) -> None:
    """A is paused between its hold and its claim (all the message's rows locked, nothing
    written): B's claim takes none of it and does not wait; A then claims it whole."""
    _postgres_only(backend)
    (message,) = _chat_messages(store, 1, 5)
    a = Store(store.url)
    try:
        with ThreadPoolExecutor(1) as pool, _paused_after_hold(a) as (held, go):
            future = pool.submit(a.claim_messages, [message], "host:1:a", 30, NOW)
            assert held.wait(10)
            started = time.monotonic()
            assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [[]]
            assert time.monotonic() - started < 2
            go.set()
            assert _ids(future.result(10)) == [message]
    finally:
        a.close()


def test_a_connection_dropped_between_hold_and_claim_leaves_the_message_to_the_next(
        store: Store, backend: str) -> None:
    """A's connection is terminated right after its hold (a crash, a fail-over): A's claim
    fails, nothing of the message is written or audited, no lock stays, B takes it whole."""
    _postgres_only(backend)
    (message,) = _chat_messages(store, 1, 4)
    a = Store(store.url)
    killer = Store(store.url)
    before = _actions(store).count("reminder.claimed")

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "SKIP LOCKED" in statement:
            pid = cursor.connection.info.backend_pid
            with killer.engine.connect() as other:
                other.exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,))

    event.listen(a.engine, "after_cursor_execute", after)
    try:
        with pytest.raises(DBAPIError):
            a.claim_messages([message], "host:1:a", 30, NOW)
    finally:
        event.remove(a.engine, "after_cursor_execute", after)
        a.close()
        killer.close()
    assert set(_states(store, message).values()) == {("pending", None)}
    assert _actions(store).count("reminder.claimed") == before
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [message]


def test_rows_under_an_expired_lease_are_taken_only_after_their_release(store: Store) -> None:
    """A dead instance's whole message (lease run out, not yet released) is nobody's to claim;
    once released it is claimed whole."""
    (message,) = _chat_messages(store, 1, 3)
    store.claim_messages([message], "host:9:dead", -1, NOW)
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [[]]
    assert [r.id for r in store.release_expired_leases(NOW)] == message
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [message]


@pytest.mark.parametrize("size", [1, 3000])
def test_a_message_of_one_or_thousands_of_rows_is_claimed_whole_or_not_at_all(
        store: Store, backend: str, size: int) -> None:
    """One row, or 3000 rows in one message: another transaction holding its last row keeps
    all of it; once that lets go it is claimed whole (and quickly)."""
    _postgres_only(backend)
    (message,) = _chat_messages(store, 1, size)
    other = Store(store.url)
    try:
        with other.engine.connect() as lock, lock.begin():
            lock.exec_driver_sql("SELECT id FROM reminder WHERE id = %s FOR UPDATE",
                                 (message[-1],))
            assert _ids(store.claim_messages([message], "host:1:a", 30, NOW)) == [[]]
        started = time.monotonic()
        assert _ids(store.claim_messages([message], "host:1:a", 30, NOW)) == [message]
        assert time.monotonic() - started < 5
    finally:
        other.close()


def test_a_row_another_instance_still_sends_holds_back_the_rest_until_it_is_sent(
        store: Store) -> None:
    """A row of the message still ``sending`` under another instance's live lease keeps the
    rest back (both backends); once it is sent (finished) the rest is claimed."""
    (message,) = _chat_messages(store, 1, 3)
    store.claim_messages([message[:1]], "host:1:a", 30, NOW)
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [[]]
    assert store.mark_sent_many(message[:1], 7, NOW) == message[:1]
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [message[1:]]


def test_a_sqlite_claim_raced_between_its_look_and_its_write_leaves_that_message_whole(
        store: Store, backend: str) -> None:
    """SQLite looks at the rows without the writer's lock: another writer (a second process on
    the same file) claiming a row of a message in between would leave the claim the rest of it.
    The claim notices, writes nothing of that message, and still claims the other messages."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks the rows when it looks")
    first, second = _chat_messages(store, 2, 3)
    other = Store(store.url)
    raced: list[int] = []

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not raced and statement.lstrip().upper().startswith("SELECT") and "ready" in statement:
            raced.append(first[1])
            assert _ids(other.claim_messages([[first[1]]], "host:9:other", 30, NOW)) == [
                [first[1]]]

    event.listen(store.engine, "after_cursor_execute", after)
    try:
        claimed = store.claim_messages([first, second], "host:1:a", 30, NOW)
    finally:
        event.remove(store.engine, "after_cursor_execute", after)
        other.close()
    assert raced == [first[1]]
    assert _ids(claimed) == [[], second]
    states = _states(store, first + second)
    assert [states[i] for i in first] == [("pending", None), ("sending", "host:9:other"),
                                         ("pending", None)]
    assert {states[i] for i in second} == {("sending", "host:1:a")}
    assert _actions(store).count("reminder.claimed") == 1 + len(second)


def test_a_message_retried_in_one_call_comes_back_whole_at_one_instant(store: Store) -> None:
    """``retry_message_later`` (what the dispatcher's retry and give-back call): one
    transaction, one back-off end for the message's rows, only the rows the caller holds."""
    (message,) = _chat_messages(store, 1, 4)
    assert _ids(store.claim_messages([message[:3]], "host:1:a", 30, NOW)) == [message[:3]]
    assert _ids(store.claim_messages([message[3:]], "host:2:b", 30, NOW)) == [message[3:]]
    moved = store.retry_message_later(message, "RetryAfter: 1", NOW, instance="host:1:a",
                                      back_off=dt.timedelta(seconds=0.4))
    assert moved == message[:3]  # the fourth is host:2:b's
    rows = {r.id: r for r in store.reminders_for_cycle(2025)}
    assert len({rows[i].not_before for i in moved}) == 1
    assert {rows[i].attempts for i in moved} == {1} and rows[message[3]].attempts == 0
    assert _actions(store).count("reminder.retried") == 3
    assert _ids(store.claim_messages([message[:3]], "host:2:b", 30, NOW)) == [[]]
    time.sleep(0.5)
    assert _ids(store.claim_messages([message[:3]], "host:2:b", 30, NOW)) == [message[:3]]
    assert store.retry_message_later([], "nothing", NOW, instance="host:2:b") == []


def test_giving_a_message_back_without_an_attempt_counts_none(store: Store) -> None:
    (message,) = _chat_messages(store, 1, 2)
    store.claim_messages([message], "host:1:a", 30, NOW)
    assert store.retry_message_later(message, "database error: OperationalError", NOW,
                                     instance="host:1:a", attempted=False) == message
    rows = {r.id: r for r in store.reminders_for_cycle(2025)}
    assert {(rows[i].state, rows[i].attempts, rows[i].not_before) for i in message} == {
        ("pending", 0, None)}
    assert _ids(store.claim_messages([message], "host:2:b", 30, NOW)) == [message]
