"""Hostile review of 0ecdaeb/fce4d95: ``_retry`` judges each row by its own tries, a message's
rows go back in one ``Store.retry_message_later``; driven end to end through ``dispatch_due``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from telegram.error import RetryAfter
from telegram.ext import ExtBot

import bot.reminders as reminders
from bot.reports.ledger import delivery_reason
from tests.bot.conftest import Harness
from tests.bot.test_reminders import (
    AGRI,
    LONG_REMINDER,
    at,
    enrol_agri,
    lost_answer,
    reminders_in,
    rows_of,
    run_at,
    sends_to,
)


def _set(store: Any, row_id: int, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with store.engine.begin() as connection:
        connection.execute(text(f"UPDATE reminder SET {sets} WHERE id = :id"),
                           {"id": row_id, **values})


async def _agri_rows(harness: Harness) -> dict[int, Any]:
    await enrol_agri(harness)
    harness.app.bot_data["quick_retry_scale"] = 0.01
    await run_at(harness, at(11, 16, 10))
    return {r.task_id: r for r in rows_of(harness.store, AGRI) if r.due_at == at(11, 17)}


def _states(harness: Harness, rows: dict[int, Any]) -> dict[int, tuple[str, int, int]]:
    got = {r.id: r for r in rows_of(harness.store, AGRI)}
    return {t: (got[r.id].state, got[r.id].attempts, got[r.id].unanswered)
            for t, r in rows.items()}


def _lose_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ExtBot.send_message

    async def answer_lost(self: ExtBot, chat_id: int, text: str, *a: Any, **k: Any) -> Any:
        result = await original(self, chat_id, text, *a, **k)
        if chat_id == AGRI:
            raise lost_answer("reset")
        return result

    monkeypatch.setattr(ExtBot, "send_message", answer_lost)


def _reminder_sends(harness: Harness) -> int:
    """sendMessage calls to AGRI carrying a reminder (its 收到 button), answered or not."""
    return sum('"a|' in str(c.params.get("reply_markup", "")) for c in sends_to(harness, AGRI))


def _down(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("UPDATE", {}, Exception("server closed the connection"))


@pytest.mark.parametrize("tries", [3, 4, 5])
async def test_the_give_up_boundary(harness: Harness, tries: int) -> None:
    """A row that failed ``tries`` times before meets a 5xx beyond the quick retries."""
    rows = await _agri_rows(harness)
    _set(harness.store, rows[7].id, attempts=tries)
    harness.api.fail_next("sendMessage", 500, times=3)
    report = await run_at(harness, at(11, 17))
    states = _states(harness, rows)
    if tries == 3:
        assert states[7] == ("pending", 4, 0) and not report.failed
    else:
        assert states[7] == ("failed", tries + 1, 0)
        reason = harness.store.get_reminder(rows[7].id).reason
        assert reason.startswith(f"gave up after {tries + 1} attempts"), reason
    assert states[11] == states[23] == ("pending", 1, 0)


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_message_whose_every_row_is_spent_fails_whole_and_tells(
        harness: Harness) -> None:
    rows = await _agri_rows(harness)
    for row in rows.values():
        _set(harness.store, row.id, attempts=4)
    harness.api.fail_next("sendMessage", 502, times=3)
    report = await run_at(harness, at(11, 17))
    assert {s for s in _states(harness, rows).values()} == {("failed", 5, 0)}
    assert report.retried == [] and len(report.failed) == 3
    t = harness.app.bot_data["services"].translator(None)
    for row in rows.values():
        stored = harness.store.get_reminder(row.id)
        assert delivery_reason(t, "failed", stored.reason) == t.gettext(
            "network errors: the bot gave up after several attempts")
    assert len(reminders_in(harness, AGRI)) == 0
    later = await run_at(harness, at(11, 17, 9, 30))
    assert later.sent == [] and _reminder_sends(harness) == 3


@pytest.mark.usefixtures("database_follows_clock")
async def test_mixed_unanswered_rows_one_fails_twice_the_others_go_back_together(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = await _agri_rows(harness)
    _set(harness.store, rows[7].id, unanswered=1, attempts=1)
    _lose_answers(monkeypatch)
    report = await run_at(harness, at(11, 17))
    states = _states(harness, rows)
    assert states == {7: ("failed", 2, 1), 11: ("pending", 1, 1), 23: ("pending", 1, 1)}
    reason = harness.store.get_reminder(rows[7].id).reason
    assert "did not answer twice" in reason
    back = [harness.store.get_reminder(rows[t].id) for t in (11, 23)]
    assert len({r.not_before for r in back}) == 1
    assert sorted(report.retried) == sorted(rows[t].id for t in (11, 23))


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_retry_after_on_a_later_page_keeps_the_count_and_its_wait(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 429 (retry_after 600 s) on page 2 of 3: the rows back off 600 s, pages_sent 1."""
    rows = await _agri_rows(harness)
    monkeypatch.setattr(reminders, "render_reminder", lambda *a, **k: LONG_REMINDER)
    original, calls = ExtBot.send_message, [0]

    async def counting(self: ExtBot, chat_id: int, text: str, *a: Any, **k: Any) -> Any:
        if chat_id == AGRI:
            calls[0] += 1
            if calls[0] == 2:  # what the rate limiter raises once its own retries ran out
                raise RetryAfter(600)
        return await original(self, chat_id, text, *a, **k)

    monkeypatch.setattr(ExtBot, "send_message", counting)
    report = await run_at(harness, at(11, 17))
    assert sorted(report.retried) == sorted(r.id for r in rows.values())
    back = [harness.store.get_reminder(r.id) for r in rows.values()]
    assert {(r.state, r.pages_sent, r.attempts) for r in back} == {("pending", 1, 1)}
    ends = {r.not_before for r in back}
    assert len(ends) == 1
    end = ends.pop()
    assert end.astimezone(dt.UTC) - at(11, 17).astimezone(dt.UTC) >= dt.timedelta(seconds=600)


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_spent_row_leaving_a_multi_page_message_restarts_the_rest_from_page_one(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Page 1 of 3 went out listing tasks 7, 11, 23; page 2 fails beyond the quick retries;
    task 7 (4 tries before) is given up. The text of 11 and 23 alone is another text: the next
    run sends it from its first page, not from page 2 of a text the chat never saw."""
    rows = await _agri_rows(harness)
    _set(harness.store, rows[7].id, attempts=4)

    def render(t: Any, timetable: Any, items: Any, several: bool) -> str:
        tasks = sorted(i.state.task_id for i in items)
        return f"任务{tasks}\n" + LONG_REMINDER

    monkeypatch.setattr(reminders, "render_reminder", render)
    original, calls = ExtBot.send_message, [0]

    async def counting(self: ExtBot, chat_id: int, text: str, *a: Any, **k: Any) -> Any:
        if chat_id == AGRI:
            calls[0] += 1
            if calls[0] == 2:
                harness.api.fail_next("sendMessage", 502, times=3)
        return await original(self, chat_id, text, *a, **k)

    monkeypatch.setattr(ExtBot, "send_message", counting)
    await run_at(harness, at(11, 17))
    assert _states(harness, rows)[7][0] == "failed"
    assert {harness.store.get_reminder(rows[t].id).pages_sent for t in (11, 23)} == {1}
    monkeypatch.setattr(ExtBot, "send_message", original)
    later = await run_at(harness, at(11, 17, 9, 5))
    assert sorted(later.sent) == sorted(rows[t].id for t in (11, 23))
    firsts = [m["text"].splitlines()[0] for m in harness.api.bot_messages(AGRI)]
    assert firsts.count("任务[11, 23]") == 1, firsts


@pytest.mark.usefixtures("database_follows_clock")
async def test_the_database_failing_after_a_spent_row_failed_leaves_no_row_pending(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 7 (4 tries) is failed, then ``retry_message_later`` for 11 and 23 fails: nothing of
    the message is pending while the rest is sending; the next run gives 11, 23 back."""
    rows = await _agri_rows(harness)
    _set(harness.store, rows[7].id, attempts=4)
    harness.api.fail_next("sendMessage", 502, times=3)
    monkeypatch.setattr(harness.store, "retry_message_later", _down)
    await run_at(harness, at(11, 17))
    monkeypatch.undo()
    states = _states(harness, rows)
    assert states[7][0] == "failed" and states[11][0] == states[23][0] == "sending"
    nxt = await run_at(harness, at(11, 17, 9, 5))
    assert sorted(nxt.sent) == sorted(rows[t].id for t in (11, 23))


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_send_unanswered_twice_is_not_sent_a_third_time_when_failing_it_fails(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram does not answer the message twice (the second time the rows are to fail, "it
    may have arrived"), and the database fails while they are failed. docs/reminders.md: "an
    unanswered send costs at most one duplicate ... the bound holds through an outage too".
    Expected: the message goes to the chat twice, never a third time."""
    rows = await _agri_rows(harness)
    _lose_answers(monkeypatch)
    await run_at(harness, at(11, 17))
    assert {s[2] for s in _states(harness, rows).values()} == {1}
    monkeypatch.setattr(harness.store, "mark_failed", _down)
    await run_at(harness, at(11, 17, 9, 2))
    monkeypatch.undo()
    assert _reminder_sends(harness) == 2
    for minute in (3, 10, 20, 40):
        await run_at(harness, at(11, 17, 9, minute))
    states = _states(harness, rows)
    assert _reminder_sends(harness) == 2, f"sent {_reminder_sends(harness)}x; {states}"


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_spent_row_is_not_tried_a_sixth_time_when_failing_it_fails(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 7 has failed 4 times; its 5th send is not answered; failing it hits a database
    error. Expected (MAX_ATTEMPTS = 5, "the fifth failure fails the rows"): row 7 is never
    sent again."""
    rows = await _agri_rows(harness)
    _set(harness.store, rows[7].id, attempts=4)
    _lose_answers(monkeypatch)
    monkeypatch.setattr(harness.store, "mark_failed", _down)
    await run_at(harness, at(11, 17))
    monkeypatch.undo()
    assert _reminder_sends(harness) == 1
    for minute in (2, 5, 10, 20):
        await run_at(harness, at(11, 17, 9, minute))
    got = harness.store.get_reminder(rows[7].id)
    assert got.state == "failed", (
        f"row 7: {got.state}, attempts {got.attempts}, unanswered {got.unanswered}; "
        f"sends to the chat: {_reminder_sends(harness)}")


@pytest.mark.parametrize(("counts", "unsure", "expected"), [
    # (attempts, unanswered) per row -> ids spent, twice, again
    ([(0, 0), (0, 0)], False, ([], [], [0, 1])),
    ([(4, 0), (0, 0), (3, 0)], False, ([0], [], [1, 2])),
    ([(5, 0), (4, 0), (0, 1)], False, ([1, 0], [], [2])),  # spent by tries, fewest first
    ([(4, 1), (1, 1), (0, 0)], True, ([0], [1], [2])),  # spent wins over twice
    ([(1, 1), (0, 0)], False, ([], [], [0, 1])),  # answered this time: no second silence
])
def test_a_failed_sends_rows_are_judged_each_by_its_own_counts(
        counts: list[tuple[int, int]], unsure: bool,
        expected: tuple[list[int], list[int], list[int]]) -> None:
    from types import SimpleNamespace
    rows = [SimpleNamespace(id=i, attempts=a, unanswered=u) for i, (a, u) in enumerate(counts)]
    judged = reminders.judge_failed_send(rows, unsure)
    assert tuple([row.id for row in part] for part in judged) == expected
