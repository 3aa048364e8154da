"""A fresh reviewer's attempts to break b7947e1 (a report message handled more than
``REDELIVERY_AGE`` after it was sent is looked up by its message first, so that Telegram's
second delivery of an unconfirmed update is not stored again), end to end through the real PTB
stack and the Bot API stand-in.

A redelivery is simulated as the existing tests do: the update fetched with ``getUpdates`` is
handed to ``process_update`` a second time (the bot crashed or restarted before confirming it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from telegram import Update

from bot.handlers import contact
from tests.bot.conftest import ADMIN, ECOLOGY, LEADER, REFORM, Harness
from tests.bot.test_review_group_commit import after, error_notices, texts
from tests.bot.test_workflow import at, button_data, reminders_in, run_at

ECO = "ecology-environment"
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
"""The tests that do not ask for ``backend`` run on SQLite only (the file's time)."""
ALREADY_ZH = "已记录（重复的报送未重复记录）"
STORED_ZH = "已记录第15项任务"


async def _take(harness: Harness) -> Update:
    """The next update from the stand-in, confirmed (offset moved on) but not yet handled."""
    [update] = await harness.app.bot.get_updates(offset=harness.offset, limit=1, timeout=0)
    harness.offset = update.update_id + 1
    return update


async def _handle_next(harness: Harness) -> Update:
    """Take the next update and handle it; returns it (to deliver again)."""
    update = await _take(harness)
    await harness.app.process_update(update)
    return update


def _later(harness: Harness, **delta: float) -> dt.datetime:
    return harness.clock.advance(dt.timedelta(**delta))


def _ids(harness: Harness, task: int = 15, unit: str = ECO, cycle: int = 2026) -> list[int]:
    return [r.id for r in harness.store.report_history(task, unit, cycle)]


async def _unit_of_three(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "生态环境局")


# -- the /report command ---------------------------------------------------------------------
async def test_a_backlog_report_redelivered_after_a_colleagues_is_stored_once_on_both(
        harness: Harness, backend: str) -> None:
    """Baseline of the change (first handling late, redelivery late): stored once, the
    reporter told it was already stored, the leadership not asked twice."""
    await _unit_of_three(harness)
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    _later(harness, minutes=3)
    update = await _handle_next(harness)
    _later(harness, seconds=30)
    harness.api.send_command(REFORM, "report", "15 进行中 80%")
    await _handle_next(harness)
    before = _ids(harness)
    assert len(before) == 2
    leader_mark = harness.last_message_id(LEADER)
    mark = harness.last_message_id(ECOLOGY)
    reform_mark = harness.last_message_id(REFORM)
    _later(harness, minutes=1)
    await harness.app.process_update(update)
    assert _ids(harness) == before
    said = texts(after(harness, ECOLOGY, mark))
    assert ALREADY_ZH in said and STORED_ZH not in said, said
    assert after(harness, LEADER, leader_mark) == []
    assert after(harness, REFORM, reform_mark) == []
    assert error_notices(harness) == []


@pytest.mark.parametrize("sent_ms,handled_ms", [(400, 900), (5000, 500)],
                         ids=["sub-second", "bot-clock-4.5s-behind"])
async def test_a_report_handled_at_once_then_redelivered_after_a_colleagues_is_stored_once(
        harness: Harness, backend: str, sent_ms: int, handled_ms: int) -> None:
    """The usual crash: the bot handles a report at once (well under a second after it was
    sent; real clocks are not on whole seconds), commits, and dies before confirming the
    update. A colleague reports on the same task meanwhile; the restarted bot gets the update
    again 40 s later. The report is stored a second time (dated its message's whole second, a
    fraction before the first), the reporter is told "stored" and the leadership is asked again
    to review. The same when the bot's clock is a few seconds behind Telegram's (a message
    dated "in the future" is stored at the clock's time)."""
    await _unit_of_three(harness)
    start = harness.clock.now()
    harness.clock.set(start + dt.timedelta(milliseconds=sent_ms))  # Telegram dates it
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    harness.clock.set(start + dt.timedelta(milliseconds=handled_ms))  # handled at once
    update = await _handle_next(harness)
    harness.clock.set(start + dt.timedelta(seconds=20))
    harness.api.send_command(REFORM, "report", "15 进行中 80%")
    await _handle_next(harness)
    before = _ids(harness)
    assert len(before) == 2
    leader_mark = harness.last_message_id(LEADER)
    mark = harness.last_message_id(ECOLOGY)
    harness.clock.set(start + dt.timedelta(seconds=40))  # the restarted bot gets it again
    await harness.app.process_update(update)
    said = texts(after(harness, ECOLOGY, mark))
    assert _ids(harness) == before, said
    assert after(harness, LEADER, leader_mark) == []
    assert error_notices(harness) == []


@SQLITE_ONLY
async def test_a_report_handled_at_once_and_redelivered_alone_is_a_repeat(
        harness: Harness) -> None:
    """The same without a colleague in between: the one-minute repeat rule still catches it."""
    await _unit_of_three(harness)
    start = harness.clock.now()
    harness.clock.set(start + dt.timedelta(milliseconds=400))
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    harness.clock.set(start + dt.timedelta(milliseconds=900))
    update = await _handle_next(harness)
    leader_mark = harness.last_message_id(LEADER)
    harness.clock.set(start + dt.timedelta(seconds=40))
    await harness.app.process_update(update)
    assert len(_ids(harness)) == 1
    assert after(harness, LEADER, leader_mark) == []


# -- the 10 s edge ---------------------------------------------------------------------------
async def _late_then_colleague_then_again(harness: Harness, again_after: float) -> str:
    """ECOLOGY's report handled 2 s late (its time is its date), REFORM's at 5 s, ECOLOGY's
    update delivered again ``again_after`` seconds after it was sent; ECOLOGY's answers."""
    await _unit_of_three(harness)
    start = harness.clock.now()
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    harness.clock.set(start + dt.timedelta(seconds=2))
    update = await _handle_next(harness)
    harness.clock.set(start + dt.timedelta(seconds=5))
    harness.api.send_command(REFORM, "report", "15 进行中 80%")
    await _handle_next(harness)
    assert len(_ids(harness)) == 2
    mark = harness.last_message_id(ECOLOGY)
    harness.clock.set(start + dt.timedelta(seconds=again_after))
    await harness.app.process_update(update)
    return texts(after(harness, ECOLOGY, mark))


@SQLITE_ONLY
@pytest.mark.parametrize("again_after", [10.001, 11, 600])
async def test_a_redelivery_just_past_ten_seconds_is_found(harness: Harness,
                                                           again_after: float) -> None:
    said = await _late_then_colleague_then_again(harness, again_after)
    assert len(_ids(harness)) == 2, said
    assert ALREADY_ZH in said, said


@SQLITE_ONLY
@pytest.mark.parametrize("again_after", [8, 10])
async def test_a_quick_restarts_redelivery_after_a_colleagues_is_stored_once(
        harness: Harness, again_after: float) -> None:
    said = await _late_then_colleague_then_again(harness, again_after)
    assert len(_ids(harness)) == 2, said


# -- other channels ---------------------------------------------------------------------------
async def test_a_reminders_reply_redelivered_after_a_colleagues_is_stored_once(
        harness: Harness, backend: str) -> None:
    await _unit_of_three(harness)
    await run_at(harness, at(11, 17))
    [daily] = reminders_in(harness, ECOLOGY)
    harness.api.send_text(ECOLOGY, "第15项已完成", reply_to_message_id=daily["message_id"])
    _later(harness, minutes=2)
    update = await _handle_next(harness)
    assert len(_ids(harness)) == 1, texts(harness.api.bot_messages(ECOLOGY))
    harness.api.send_command(REFORM, "report", "15 进行中 80%")
    await _handle_next(harness)
    before = _ids(harness)
    leader_mark = harness.last_message_id(LEADER)
    mark = harness.last_message_id(ECOLOGY)
    _later(harness, minutes=2)
    await harness.app.process_update(update)
    assert _ids(harness) == before
    assert ALREADY_ZH in texts(after(harness, ECOLOGY, mark))
    assert after(harness, LEADER, leader_mark) == []
    assert error_notices(harness) == []


@SQLITE_ONLY
async def test_a_document_with_a_report_caption_redelivered_is_kept_once(
        harness: Harness) -> None:
    """The file sent with /report in its caption, delivered again: the report is found, and its
    file must not be kept as evidence a second time."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "生态环境局")
    harness.api.send_document(ECOLOGY, "报告.pdf", b"%PDF-1.4", caption="/report 15 已完成 见附件")
    _later(harness, minutes=2)
    update = await _handle_next(harness)
    [report] = harness.store.report_history(15, ECO, 2026)
    assert len(harness.store.evidence_for(report.id)) == 1
    harness.api.send_command(REFORM, "report", "15 进行中 80%")
    await _handle_next(harness)
    _later(harness, minutes=2)
    await harness.app.process_update(update)
    assert len(harness.store.report_history(15, ECO, 2026)) == 2
    files = harness.store.evidence_for(report.id)
    assert [f.file_name for f in files] == ["报告.pdf"], files


async def _status_view(harness: Harness) -> tuple[dict, str]:
    await run_at(harness, at(11, 17))
    [daily] = reminders_in(harness, ECOLOGY)
    view = (await harness.press(ECOLOGY, daily["message_id"], f"t|15|{ECO}"))[-1]
    return view, next(d for d in button_data(view) if d.startswith("r|15|d|"))


@SQLITE_ONLY
@pytest.mark.xfail(strict=True, reason=(
    "a status button's press redelivered after a colleague's report is stored again: a press "
    "is dated now and keyed by the bot's message, so it is never looked up as maybe_again"))
async def test_a_status_button_press_redelivered_after_a_colleagues_is_stored_once(
        harness: Harness) -> None:
    """Callback queries are redelivered too (same update). Their message is the bot's (the
    status view), their time the handling's: the redelivery a minute later, after a
    colleague's report, is a new "done" report, and the leadership is asked again."""
    await _unit_of_three(harness)
    view, done = await _status_view(harness)
    harness.api.press_button(ECOLOGY, view["message_id"], done)
    update = await _handle_next(harness)
    assert len(_ids(harness)) == 1
    _later(harness, seconds=30)
    harness.api.send_command(REFORM, "report", "15 进行中 80%")
    await _handle_next(harness)
    before = _ids(harness)
    leader_mark = harness.last_message_id(LEADER)
    _later(harness, seconds=60)
    await harness.app.process_update(update)
    assert _ids(harness) == before
    assert after(harness, LEADER, leader_mark) == []


@SQLITE_ONLY
@pytest.mark.xfail(strict=True, reason=(
    "an all-done press under a reminder redelivered after a colleague's report stores "
    "every task again (no message of the person's, no lookup)"))
async def test_an_all_done_press_redelivered_after_a_colleagues_is_stored_once(
        harness: Harness) -> None:
    await _unit_of_three(harness)
    await run_at(harness, at(11, 17))
    [daily] = reminders_in(harness, ECOLOGY)
    bulk = next(d for d in button_data(daily) if d.startswith("b|") and d.endswith("|d"))
    harness.api.press_button(ECOLOGY, daily["message_id"], bulk)
    update = await _handle_next(harness)
    first = harness.store.latest_reports(2026, None, ECO)
    assert (15, ECO) in first
    _later(harness, seconds=30)
    harness.api.send_command(REFORM, "report", "15 进行中 80%")
    await _handle_next(harness)
    count = {pair: len(harness.store.report_history(pair[0], ECO, 2026)) for pair in first}
    _later(harness, seconds=60)
    await harness.app.process_update(update)
    assert {pair: len(harness.store.report_history(pair[0], ECO, 2026))
            for pair in first} == count


@SQLITE_ONLY
async def test_a_redelivered_edit_is_never_a_report_and_said_once(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    sent = harness.api.send_command(ECOLOGY, "report", "15 进行中 50%")
    _later(harness, minutes=1)
    await _handle_next(harness)
    assert len(_ids(harness)) == 1
    harness.api.edit_text(ECOLOGY, sent["message_id"], "/report 15 已完成")
    _later(harness, minutes=1)
    mark = harness.last_message_id(ECOLOGY)
    update = await _handle_next(harness)
    assert update.edited_message is not None
    _later(harness, minutes=1)
    await harness.app.process_update(update)
    assert len(_ids(harness)) == 1
    said = [m["text"] for m in after(harness, ECOLOGY, mark)]
    assert len(said) == 1 and "修改消息不会被记录" in said[0], said


# -- the state changed before the redelivery ---------------------------------------------------
@SQLITE_ONLY
async def test_a_redelivery_after_the_reporter_was_revoked_stores_nothing_more(
        harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    _later(harness, minutes=2)
    update = await _handle_next(harness)
    await harness.command(ADMIN, "revoke", f"{ECOLOGY} 生态环境局")
    assert harness.store.units_of(ECOLOGY) == []
    before = _ids(harness)
    mark = harness.last_message_id(ECOLOGY)
    _later(harness, minutes=1)
    await harness.app.process_update(update)
    assert _ids(harness) == before
    said = texts(after(harness, ECOLOGY, mark))
    assert STORED_ZH not in said, said
    assert error_notices(harness) == []


@SQLITE_ONLY
async def test_a_redelivery_after_the_leader_confirmed_it_changes_nothing(
        harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    leader_mark = harness.last_message_id(LEADER)
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    _later(harness, minutes=2)
    update = await _handle_next(harness)
    request = next(m for m in after(harness, LEADER, leader_mark)
                   if any(d.startswith(f"v|15|{ECO}|2026|c") for d in button_data(m)))
    confirm = next(d for d in button_data(request) if d.startswith(f"v|15|{ECO}|2026|c"))
    await harness.press(LEADER, request["message_id"], confirm)
    assert harness.store.reviews(2026), "confirmed"
    before = _ids(harness)
    leader_mark = harness.last_message_id(LEADER)
    mark = harness.last_message_id(ECOLOGY)
    _later(harness, minutes=1)
    await harness.app.process_update(update)
    assert _ids(harness) == before
    said = texts(after(harness, ECOLOGY, mark))
    assert ALREADY_ZH in said, said
    assert after(harness, LEADER, leader_mark) == []
    assert error_notices(harness) == []


async def test_a_redelivery_across_new_year_stays_in_its_year_and_is_stored_once(
        harness: Harness, backend: str) -> None:
    """Sent 23:59:50 on 31 December, handled after midnight, a colleague's report, delivered
    again: one report, in 2026, nothing in 2027."""
    await _unit_of_three(harness)
    harness.clock.set(dt.datetime(2026, 12, 31, 23, 59, 50, tzinfo=harness.clock.now().tzinfo))
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    _later(harness, seconds=40)
    update = await _handle_next(harness)
    said = texts(harness.api.bot_messages(ECOLOGY)[-3:])
    first = _ids(harness)
    assert len(first) == 1, said
    harness.api.send_command(REFORM, "report", "15 2026 进行中 80%")
    await _handle_next(harness)
    before = _ids(harness)
    _later(harness, minutes=5)
    await harness.app.process_update(update)
    assert _ids(harness) == before
    assert _ids(harness, cycle=2027) == []


@SQLITE_ONLY
async def test_a_note_after_a_button_redelivered_is_stored_once(harness: Harness) -> None:
    """A status button, its note in a reply to the acknowledgement handled late, a colleague's
    report, the note delivered again: one note report."""
    await _unit_of_three(harness)
    view, done = await _status_view(harness)
    acknowledged = await harness.press(ECOLOGY, view["message_id"], done)
    ack = next(m for m in acknowledged if STORED_ZH in m.get("text", ""))
    harness.api.send_text(ECOLOGY, "材料已报送", reply_to_message_id=ack["message_id"])
    _later(harness, minutes=2)
    update = await _handle_next(harness)
    history = harness.store.report_history(15, ECO, 2026)
    assert [r.note for r in history] == ["", "材料已报送"]
    harness.api.send_command(REFORM, "report", "15 进行中 80%")
    await _handle_next(harness)
    before = _ids(harness)
    _later(harness, minutes=2)
    await harness.app.process_update(update)
    assert _ids(harness) == before


@SQLITE_ONLY
async def test_an_old_report_redelivered_after_the_same_persons_newer_one_is_not_stored(
        harness: Harness) -> None:
    """50% handled late, then the same person's "done", then the 50% message again: it must
    not come back as the newest report."""
    await _unit_of_three(harness)
    harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")
    _later(harness, minutes=2)
    update = await _handle_next(harness)
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    _later(harness, seconds=20)
    await _handle_next(harness)
    before = _ids(harness)
    leader_mark = harness.last_message_id(LEADER)
    _later(harness, minutes=3)
    await harness.app.process_update(update)
    assert _ids(harness) == before
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    assert after(harness, LEADER, leader_mark) == []


# -- not redeliveries ----------------------------------------------------------------------------
async def test_two_peoples_messages_with_the_same_id_and_words_are_both_stored(
        harness: Harness, backend: str) -> None:
    """Private chats number their messages apart: two colleagues' messages can share an id,
    a second and the words. Both handled late: both stored, each told stored."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "生态环境局")
    # line the two chats' numbering up
    while harness.last_message_id(ECOLOGY) < harness.last_message_id(REFORM):
        harness.api.send_text(ECOLOGY, "好的")
        await harness.pump()
    while harness.last_message_id(REFORM) < harness.last_message_id(ECOLOGY):
        harness.api.send_text(REFORM, "好的")
        await harness.pump()
    a = harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")
    b = harness.api.send_command(REFORM, "report", "15 进行中 50% 施工")
    assert a["message_id"] == b["message_id"] and a["date"] == b["date"]
    _later(harness, minutes=3)
    await _handle_next(harness)
    await _handle_next(harness)
    history = harness.store.report_history(15, ECO, 2026)
    assert sorted(r.reporter_telegram_id for r in history) == sorted([ECOLOGY, REFORM])
    assert "Stored for task 15" in texts(after(harness, REFORM, b["message_id"]))


@SQLITE_ONLY
async def test_the_same_words_twice_late_from_one_person_follow_the_repeat_rule(
        harness: Harness) -> None:
    """Two messages 20 s apart, the same words, handled late: the second is the one-minute
    repeat (told so), as before the change; 2 minutes apart: both stored."""
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")
    _later(harness, seconds=20)
    second = harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")
    _later(harness, minutes=5)
    await _handle_next(harness)
    await _handle_next(harness)
    assert len(_ids(harness)) == 1
    assert ALREADY_ZH in texts(after(harness, ECOLOGY, second["message_id"]))
    _later(harness, minutes=2)
    harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")
    _later(harness, minutes=5)
    await _handle_next(harness)
    assert len(_ids(harness)) == 2


@SQLITE_ONLY
async def test_an_english_reporter_is_told_in_english_on_a_redelivery(
        harness: Harness) -> None:
    await _unit_of_three(harness)
    harness.api.send_command(REFORM, "report", "15 done sent")
    _later(harness, minutes=2)
    update = await _handle_next(harness)
    harness.api.send_command(ECOLOGY, "report", "15 进行中 80%")
    await _handle_next(harness)
    mark = harness.last_message_id(REFORM)
    leader_mark = harness.last_message_id(LEADER)
    eco_mark = harness.last_message_id(ECOLOGY)
    _later(harness, minutes=1)
    await harness.app.process_update(update)
    assert len(_ids(harness)) == 2
    said = texts(after(harness, REFORM, mark))
    assert "Already stored for task 15" in said and "已" not in said, said
    assert after(harness, LEADER, leader_mark) == []
    assert after(harness, ECOLOGY, eco_mark) == []


# -- the crash that causes the redelivery -----------------------------------------------------
@SQLITE_ONLY
@pytest.mark.xfail(strict=True, reason=(
    "a crash after the commit and before the leadership was asked: the redelivery finds the "
    "report, takes it as announced (new=False) and the leadership is never asked to review"))
async def test_a_crash_before_the_announcement_is_made_good_by_the_redelivery(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    real = contact.announce_patiently
    crashed = [1]

    async def crash_once(*args: Any, **kwargs: Any) -> str:
        if crashed:
            crashed.pop()
            raise RuntimeError("the process died here")
        return await real(*args, **kwargs)

    monkeypatch.setattr(contact, "announce_patiently", crash_once)
    leader_mark = harness.last_message_id(LEADER)
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    _later(harness, minutes=2)
    update = await _handle_next(harness)
    assert not crashed and len(_ids(harness)) == 1
    assert not any("v|15|" in d for m in after(harness, LEADER, leader_mark)
                   for d in button_data(m))
    _later(harness, minutes=1)
    await harness.app.process_update(update)  # the restarted bot gets it again
    assert len(_ids(harness)) == 1
    assert any(d.startswith(f"v|15|{ECO}|2026|c") for m in after(harness, LEADER, leader_mark)
               for d in button_data(m))


# -- a backlog during a restart ---------------------------------------------------------------
async def test_a_backlog_half_handled_before_a_restart_is_stored_once_each(
        harness: Harness, backend: str) -> None:
    """Four reports wait while the bot is down; it handles two, dies before confirming, and
    after the restart gets all four: each message is one report."""
    await _unit_of_three(harness)
    harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")
    harness.api.send_command(REFORM, "report", "15 进行中 60%")
    harness.api.send_command(ECOLOGY, "report", "16 已完成")
    _later(harness, seconds=30)
    harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")  # a new message: a repeat
    _later(harness, minutes=10)
    updates = await harness.app.bot.get_updates(offset=harness.offset, timeout=0)
    assert len(updates) == 4
    harness.offset = updates[-1].update_id + 1
    for update in updates[:2]:
        await harness.app.process_update(update)
    _later(harness, minutes=1)
    for update in updates:
        await harness.app.process_update(update)
    history = harness.store.report_history(15, ECO, 2026)
    assert [r.reporter_telegram_id for r in history] == [ECOLOGY, REFORM, ECOLOGY], [
        (r.reporter_telegram_id, r.progress) for r in history]
    assert len(harness.store.report_history(16, ECO, 2026)) <= 1
