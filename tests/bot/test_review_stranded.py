"""Hostile review of 55a800c: ``give_back_stranded`` judges rows left ``sending`` after an
unanswered send (the database failed while noting it) as ``_retry`` would have."""

from __future__ import annotations

from typing import Any

import pytest

import bot.reminders as reminders
from bot.reports.ledger import delivery_reason
from tests.bot.conftest import Harness
from tests.bot.test_reminders import ADMIN, AGRI, at, last_id, run_at
from tests.bot.test_review_retry import (
    _agri_rows,
    _down,
    _lose_answers,
    _reminder_sends,
    _set,
    _states,
)

GAVE_UP = "network errors: the bot gave up after several attempts"
TWICE = "Telegram did not answer twice; the message may have arrived"


async def _strand_unanswered(harness: Harness, monkeypatch: pytest.MonkeyPatch,
                             **counts: tuple[int, int]) -> dict[int, Any]:
    """Rows 7, 11, 23 (attempts, unanswered preset); their message is not answered and the
    database fails while noting it: all three are left stranded, unsure."""
    rows = await _agri_rows(harness)
    for task, (attempts, unanswered) in counts.items():
        _set(harness.store, rows[int(task[1:])].id, attempts=attempts, unanswered=unanswered)
    with monkeypatch.context() as patch:
        _lose_answers(patch)
        patch.setattr(harness.store, "mark_failed", _down)
        patch.setattr(harness.store, "retry_message_later", _down)
        await run_at(harness, at(11, 17))
    assert harness.app.bot_data[reminders.STRANDED_UNSURE] == {r.id for r in rows.values()}
    assert _reminder_sends(harness) == 1
    return rows


def _ledger(harness: Harness, row_id: int) -> str | None:
    t = harness.app.bot_data["services"].translator(None)
    stored = harness.store.get_reminder(row_id)
    return delivery_reason(t, stored.state, stored.reason)


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_stranded_spent_row_reads_gave_up_in_the_ledger(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = await _strand_unanswered(harness, monkeypatch, t7=(4, 0))
    await run_at(harness, at(11, 17, 9, 1))
    assert _states(harness, rows)[7] == ("failed", 5, 0)
    reason = harness.store.get_reminder(rows[7].id).reason
    assert reason.startswith("gave up after 5 attempts"), reason
    t = harness.app.bot_data["services"].translator(None)
    assert _ledger(harness, rows[7].id) == t.gettext(GAVE_UP), (reason, _ledger(
        harness, rows[7].id))


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_stranded_spent_row_is_in_the_runs_failed_list(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """_retry's path puts a given-up row in report.failed and the admins' notice; the
    stranded path should too (test_a_message_whose_every_row_is_spent_fails_whole_and_tells)."""
    rows = await _strand_unanswered(harness, monkeypatch, t7=(4, 0), t11=(1, 1))
    mark = last_id(harness, ADMIN)
    report = await run_at(harness, at(11, 17, 9, 1))
    assert _states(harness, rows)[7][0] == _states(harness, rows)[11][0] == "failed"
    assert sorted(i for i, _ in report.failed) == sorted([rows[7].id, rows[11].id]), (
        report.failed)
    notice = [m["text"] for m in harness.api.bot_messages(ADMIN) if m["message_id"] > mark]
    assert any("第7项任务" in text and "第11项任务" in text and str(AGRI) in text
               for text in notice), notice


@pytest.mark.usefixtures("database_follows_clock")
async def test_a_mix_is_judged_row_by_row_and_the_rest_sent_once_more(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = await _strand_unanswered(harness, monkeypatch, t7=(1, 1), t23=(4, 0))
    await run_at(harness, at(11, 17, 9, 1))
    states = _states(harness, rows)
    assert states == {7: ("failed", 2, 1), 11: ("pending", 1, 1), 23: ("failed", 5, 0)}, states
    t = harness.app.bot_data["services"].translator(None)
    assert _ledger(harness, rows[7].id) == t.gettext(TWICE)
    assert harness.store.get_reminder(rows[23].id).reason.startswith("gave up after 5 attempts")
    assert not harness.app.bot_data[reminders.STRANDED]
    assert not harness.app.bot_data[reminders.STRANDED_UNSURE]
    for minute in (2, 5, 10, 20):
        await run_at(harness, at(11, 17, 9, minute))
    assert _states(harness, rows)[11][0] == "sent"
    assert _reminder_sends(harness) == 2


@pytest.mark.usefixtures("database_follows_clock")
async def test_stranded_rows_claimed_sent_or_failed_meanwhile_are_left_alone(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = await _strand_unanswered(harness, monkeypatch, t7=(4, 0), t11=(1, 1))
    # another instance released row 7 (lease ran out) and holds it now; row 11 was recorded
    # sent (by whoever); row 23 was failed
    lease = harness.store.get_reminder(rows[7].id).lease_until
    _set(harness.store, rows[7].id, claimed_by="other:1:abc",
         lease_until=at(11, 18).astimezone(lease.tzinfo).replace(tzinfo=lease.tzinfo))
    _set(harness.store, rows[11].id, state="sent", message_id=999)
    _set(harness.store, rows[23].id, state="failed", reason="forbidden: x")
    report = await run_at(harness, at(11, 17, 9, 1))
    got = {t: harness.store.get_reminder(r.id) for t, r in rows.items()}
    assert (got[7].state, got[7].claimed_by, got[7].attempts) == ("sending", "other:1:abc", 4)
    assert (got[11].state, got[11].attempts) == ("sent", 1)
    assert (got[23].state, got[23].reason) == ("failed", "forbidden: x")
    assert not report.failed and not report.retried
    assert not harness.app.bot_data[reminders.STRANDED_UNSURE]
    assert _reminder_sends(harness) == 1


@pytest.mark.usefixtures("database_follows_clock")
@pytest.mark.parametrize("failing", ["get_reminder", "mark_failed", "retry_message_later"])
async def test_the_database_failing_again_while_giving_back(
        harness: Harness, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    """Run 2 meets the database down again inside give_back_stranded: nothing lost, nothing
    sent a third time, the rows judged at run 3."""
    rows = await _strand_unanswered(harness, monkeypatch, t7=(1, 1), t23=(4, 0))
    with monkeypatch.context() as patch:
        patch.setattr(harness.store, failing, _down)
        try:
            await run_at(harness, at(11, 17, 9, 1))
        except Exception as exc:  # the run may end; what matters is the next one
            print("run 2 raised", type(exc).__name__)
    assert harness.app.bot_data[reminders.STRANDED_UNSURE] or failing == "retry_message_later"
    await run_at(harness, at(11, 17, 9, 2))
    states = _states(harness, rows)
    assert states[7][0] == "failed" and states[23][0] == "failed", states
    assert states[11] in {("pending", 1, 1), ("sent", 1, 1), ("sent", 2, 1)}, states
    for minute in (5, 10, 20, 40):
        await run_at(harness, at(11, 17, 9, minute))
    states = _states(harness, rows)
    assert states[11][0] == "sent", states
    assert _reminder_sends(harness) == 2, (_reminder_sends(harness), states)
    assert not harness.app.bot_data[reminders.STRANDED]


@pytest.mark.usefixtures("database_follows_clock")
async def test_stranded_answered_and_unanswered_rows_of_two_runs(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 11 stranded as answered (a 5xx not noted: no attempt, given back at once), rows 7
    and 23 as unanswered (7 for the second time): 7 fails, 23 backs off, 11 is sent."""
    rows = await _agri_rows(harness)
    instance = reminders.instance_of(harness.app)
    for task, (attempts, unanswered) in {7: (1, 1), 11: (0, 0), 23: (0, 0)}.items():
        _set(harness.store, rows[task].id, state="sending", claimed_by=instance,
             attempts=attempts, unanswered=unanswered)
    harness.app.bot_data[reminders.STRANDED] = {r.id for r in rows.values()}
    harness.app.bot_data[reminders.STRANDED_UNSURE] = {rows[7].id, rows[23].id}
    await run_at(harness, at(11, 17))
    states = _states(harness, rows)
    assert states[7] == ("failed", 2, 1), states
    assert states[23] == ("pending", 1, 1), states
    assert states[11][0] == "sent", states
    t = harness.app.bot_data["services"].translator(None)
    assert _ledger(harness, rows[7].id) == t.gettext(TWICE)
    assert not harness.app.bot_data[reminders.STRANDED]
