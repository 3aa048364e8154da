"""A fresh reviewer's attempts to break the report fixes of 7df2da3/8432dab end to end (the
reporter's membership checked in the report's transaction, the retry after a lost commit
answer, control characters, /extend's check in its transaction), through the real PTB stack
and the Bot API stand-in, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.bot.conftest import ADMIN, ECOLOGY, LEADER, REFORM, Harness
from tests.bot.test_review_group_commit import (
    after,
    burst,
    error_notices,
    texts,
    write_batches_after,
)
from tests.bot.test_workflow import at, button_data, reminders_in, run_at

ECO = "ecology-environment"
GROUP = -100777


# -- control characters in the free text the bot stores -------------------------------------
async def test_a_display_name_with_a_nul_enrols(harness: Harness, backend: str,
                                                request: pytest.FixtureRequest) -> None:
    """A person whose Telegram name holds a NUL (PostgreSQL's text cannot) opens an
    invitation: enrolled, the name kept without it."""
    harness.api.add_user(3300, "王\x00芳", "zh-hans")
    said = texts(await harness.enrol(3300, "生态环境局"))
    assert harness.store.units_of(3300) == [ECO], said
    assert harness.store.get_person(3300).display_name == "王芳"
    assert error_notices(harness) == []


async def test_a_file_name_with_a_nul_is_kept_as_evidence(
        harness: Harness, backend: str, request: pytest.FixtureRequest) -> None:
    """A document whose file name holds a NUL, sent with /report in its caption: the report
    and the file are kept; nobody is told something went wrong."""
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.send_document(ECOLOGY, "报告\x00.pdf", b"%PDF-1.4", caption="/report 15 已完成")
    await harness.pump()
    [done] = harness.store.report_history(15, ECO, 2026)
    assert done.status == "done"
    [kept] = harness.store.evidence_for(done.id)
    assert kept.file_name == "报告.pdf"
    assert error_notices(harness) == []


async def test_a_leadership_group_whose_title_holds_a_nul_is_bound(
        harness: Harness, backend: str, request: pytest.FixtureRequest) -> None:
    await harness.enrol(LEADER, None, "leader")
    harness.api.add_group(GROUP, "领导\x00小组")
    said = texts(await harness.bind(LEADER, GROUP))
    assert [c.title for c in harness.store.leadership_chats() if c.chat_id == GROUP] == [
        "领导小组"], said
    assert error_notices(harness) == []


# -- 1. the reporter's membership, checked in the report's transaction ------------------------
def writes_after_revocation(harness: Harness, monkeypatch: pytest.MonkeyPatch, person: int,
                            unit_id: str) -> None:
    """The reports' group is written only once ``person`` no longer serves ``unit_id`` (as when
    it waits behind an earlier group): the revocation commits first, deterministically."""
    store = harness.store
    write_batches_after(store, monkeypatch, lambda: unit_id not in store.units_of(person))


async def todays_status_view(harness: Harness) -> tuple[dict, dict, str]:
    """Today's reminder to ECOLOGY (17 November), task 15's status view opened under it, and
    the view's "done" button's data."""
    await run_at(harness, at(11, 17))
    [daily] = reminders_in(harness, ECOLOGY)
    view = (await harness.press(ECOLOGY, daily["message_id"], f"t|15|{ECO}"))[-1]
    done = next(d for d in button_data(view) if d.startswith("r|15|d|"))
    return daily, view, done


def drop_first_write(store: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The store's next ``add_reports_once`` fails before writing anything (the connection
    drops); the returned list is emptied once it has."""
    real = store.add_reports_once
    fail = [1]

    def flaky(requests: Any, **again: bool) -> Any:
        if fail:
            fail.pop()
            raise OperationalError("SELECT", {}, Exception("server closed the connection "
                                                          "unexpectedly"))
        return real(requests, **again)

    monkeypatch.setattr(store, "add_reports_once", flaky)
    return fail


async def test_all_done_under_a_reminder_racing_the_revocation_says_why(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await run_at(harness, at(11, 17))
    [daily] = reminders_in(harness, ECOLOGY)
    bulk = next(d for d in button_data(daily) if d.startswith("b|") and d.endswith("|d"))
    mark = harness.last_message_id(ECOLOGY)
    writes_after_revocation(harness, monkeypatch, ECOLOGY, ECO)
    await burst(harness, [
        lambda: harness.api.press_button(ECOLOGY, daily["message_id"], bulk),
        lambda: harness.api.send_command(ADMIN, "revoke", f"{ECOLOGY} 生态环境局")])
    assert harness.store.latest_reports(2026, None, ECO) == {}
    said = texts(after(harness, ECOLOGY, mark))
    assert "已报完成、已审结或已关闭" not in said, said
    assert "您已不再担任" in said, said
    assert error_notices(harness) == []


# -- 4. /extend's check in the transaction that records the request ---------------------------
async def test_an_extension_request_written_after_a_colleagues_report_of_done_is_refused(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made deterministic: the request's transaction starts only once the colleague's report
    of done has committed (the handler read the facts before it): refused, nothing recorded,
    the person told the unit reported done."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "生态环境局")
    store = harness.store
    real = store.request_extension

    def late(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + 5
        while not store.report_history(15, ECO, 2026) and time.monotonic() < deadline:
            time.sleep(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "request_extension", late)
    mark = harness.last_message_id(REFORM)
    await burst(harness, [
        lambda: harness.api.send_command(REFORM, "extend", "15 12-20 equipment late"),
        lambda: harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")])
    assert store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    assert store.extensions(2026, 15).get((15, ECO), []) == []
    said = texts(after(harness, REFORM, mark))
    assert "done" in said and "Extension" not in said.split("\n")[0], said
    assert error_notices(harness) == []


@pytest.mark.parametrize(("person", "language"), [(ECOLOGY, "zh"), (REFORM, "en")])
async def test_an_extension_request_racing_the_revocation_is_not_recorded(
        harness: Harness, backend: str, monkeypatch: pytest.MonkeyPatch, person: int,
        language: str) -> None:
    """/extend from a contact whose service an admin ends at the same moment, the request
    written after the revocation: nothing recorded, no leader asked, and the contact told why
    in their language."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(person, "生态环境局")
    store = harness.store
    real = store.request_extension

    def late(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + 5
        while ECO in store.units_of(person) and time.monotonic() < deadline:
            time.sleep(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "request_extension", late)
    mark, leader_mark = harness.last_message_id(person), harness.last_message_id(LEADER)
    await burst(harness, [
        lambda: harness.api.send_command(person, "extend", "15 12-20 equipment late"),
        lambda: harness.api.send_command(ADMIN, "revoke", f"{person} 生态环境局")])
    assert store.units_of(person) == []
    assert store.extensions(2026, 15).get((15, ECO), []) == []
    said = texts(after(harness, person, mark))
    expected = ("第15项任务未记录：您已不再担任" if language == "zh"
                else "Nothing was stored for task 15: you no longer serve")
    assert expected in said, said
    assert after(harness, LEADER, leader_mark) == []
    assert error_notices(harness) == []


async def test_a_report_of_done_after_a_recorded_extension_request_is_stored(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other order: the report's group waits for the request: both stand."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "生态环境局")
    store = harness.store
    write_batches_after(store, monkeypatch, lambda: bool(store.extensions(2026, 15)))
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送"),
        lambda: harness.api.send_command(REFORM, "extend", "15 12-20 equipment late")])
    assert store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    assert len(store.extensions(2026, 15)[(15, ECO)]) == 1
    assert error_notices(harness) == []


@pytest.mark.parametrize("odd", ["\x00", "\x07", "\x1b", "\x7f", "\x9b"])
async def test_control_characters_in_an_extensions_rejection_reason_are_dropped(
        harness: Harness, odd: str) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "extend", "15 12-20 设备未到")
    asked = [m for m in harness.api.bot_messages(LEADER)
             if any(d.startswith("x|") for d in button_data(m))][-1]
    await harness.press(LEADER, asked["message_id"],
                        next(d for d in button_data(asked) if d.endswith("|r")))
    prompt = harness.bot_messages_after(LEADER, asked["message_id"])[-1]
    await harness.say(LEADER, f"理由{odd}不足", reply_to=prompt["message_id"])
    [extension] = harness.store.extensions(2026, 15)[(15, ECO)]
    assert (extension.state, extension.decision_comment) == ("rejected", "理由不足")
    assert error_notices(harness) == []


@pytest.mark.parametrize("reason", ["\x00", "\x07\x1b", "\u200b\x7f"])
async def test_an_extension_reason_of_control_characters_only_is_no_reason(
        harness: Harness, reason: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    said = texts(await harness.command(ECOLOGY, "extend", f"15 12-20 {reason}"))
    assert harness.store.extensions(2026, 15) == {}, said
    assert error_notices(harness) == []


# -- 1 again: old buttons and replies, races with the revocation ------------------------------
async def test_old_reminders_buttons_and_replies_after_a_revocation_store_nothing(
        harness: Harness) -> None:
    """A contact revoked for one of their two units presses the old reminder's buttons and
    replies to it: nothing is stored for the unit they left; their other unit still works."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(ECOLOGY, "林业局")
    await run_at(harness, at(11, 17))
    daily = reminders_in(harness, ECOLOGY)
    views = [(await harness.press(ECOLOGY, m["message_id"], d))[-1]
             for m in daily for d in button_data(m) if d.startswith(f"t|15|{ECO}")]
    assert views
    await harness.command(ADMIN, "revoke", f"{ECOLOGY} 生态环境局")
    assert harness.store.units_of(ECOLOGY) == ["forestry"]
    for message in daily + views:
        for data in button_data(message):
            if data.startswith(("b|", "r|")):
                await harness.press(ECOLOGY, message["message_id"], data)
        await harness.say(ECOLOGY, "已完成", reply_to=message["message_id"])
    assert harness.store.latest_reports(2026, None, ECO) == {}
    assert error_notices(harness) == []


@pytest.mark.parametrize("how", ["reply", "button"])
async def test_a_reminders_reply_or_status_button_racing_the_revocation_says_why(
        harness: Harness, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    daily, view, done = await todays_status_view(harness)
    mark = harness.last_message_id(ECOLOGY)
    writes_after_revocation(harness, monkeypatch, ECOLOGY, ECO)
    if how == "reply":
        act = lambda: harness.api.send_text(  # noqa: E731
            ECOLOGY, "第15项已完成", reply_to_message_id=daily["message_id"])
    else:
        act = lambda: harness.api.press_button(  # noqa: E731
            ECOLOGY, view["message_id"], done)
    await burst(harness, [
        act, lambda: harness.api.send_command(ADMIN, "revoke", f"{ECOLOGY} 生态环境局")])
    said = texts(after(harness, ECOLOGY, mark))
    assert harness.store.latest_reports(2026, None, ECO) == {}, said
    assert "已记录" not in said, said
    assert "第15项任务未记录：您已不再担任" in said, said
    assert error_notices(harness) == []


# -- 2. the retry after a lost answer ----------------------------------------------------------
async def test_a_repeated_press_whose_first_try_failed_is_told_already_stored(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    _daily, view, done = await todays_status_view(harness)
    first = await harness.press(ECOLOGY, view["message_id"], done)
    assert "已记录第15项任务" in texts(first), texts(first)
    store = harness.store
    fail = drop_first_write(store, monkeypatch)
    second = texts(await harness.press(ECOLOGY, view["message_id"], done))
    assert not fail
    assert len(store.report_history(15, ECO, 2026)) == 1
    assert error_notices(harness) == [], second
    assert "不再重复" in second or "已记录" in second, second


async def test_a_redelivered_backlog_report_whose_first_try_failed_is_answered(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    harness.clock.set(harness.clock.now() + dt.timedelta(minutes=10))  # handled late
    [update] = await harness.app.bot.get_updates(offset=harness.offset, timeout=0)
    harness.offset = update.update_id + 1
    await harness.app.process_update(update)
    [stored] = harness.store.report_history(15, ECO, 2026)
    store = harness.store
    fail = drop_first_write(store, monkeypatch)
    mark = harness.last_message_id(ECOLOGY)
    await harness.app.process_update(update)  # redelivered after a restart
    assert not fail
    assert [r.id for r in store.report_history(15, ECO, 2026)] == [stored.id]
    said = texts(after(harness, ECOLOGY, mark))
    assert error_notices(harness) == [], said


async def _handle_next(harness: Harness) -> Any:
    """Take the next update from the stand-in and handle it; returns it (to deliver again)."""
    [update] = await harness.app.bot.get_updates(offset=harness.offset, timeout=0)
    harness.offset = update.update_id + 1
    await harness.app.process_update(update)
    return update


@pytest.mark.parametrize("between", ["进行中 80%", "已完成 已报送 (同事)"])
async def test_a_redelivered_report_with_a_colleagues_report_in_between_is_stored_once(
        harness: Harness, backend: str, between: str) -> None:
    """A backlog report handled, then a colleague's report of the same task and unit, then
    the first update delivered again (the bot crashed before confirming it): the report is
    not stored a second time (which would also hide the colleague's newer one), the reporter
    is told it is already stored, and nobody is told again."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "生态环境局")
    harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")
    harness.clock.set(harness.clock.now() + dt.timedelta(minutes=10))  # handled late
    update = await _handle_next(harness)
    harness.clock.set(harness.clock.now() + dt.timedelta(minutes=2))
    harness.api.send_command(REFORM, "report", f"15 {between}")
    await _handle_next(harness)
    history = harness.store.report_history(15, ECO, 2026)
    assert len(history) == 2, [r.note for r in history]
    leader_mark = harness.last_message_id(LEADER)
    mark = harness.last_message_id(ECOLOGY)
    await harness.app.process_update(update)  # delivered again after a restart
    assert [r.id for r in harness.store.report_history(15, ECO, 2026)] == [
        r.id for r in history]
    said = texts(after(harness, ECOLOGY, mark))
    assert "已记录第15项任务" not in said and said, said
    assert after(harness, LEADER, leader_mark) == []
    assert error_notices(harness) == []


async def test_the_same_words_in_a_new_message_after_a_colleague_are_a_new_report(
        harness: Harness) -> None:
    """Not a redelivery: the same person sends the same report again in a new message, late,
    after a colleague's: it is stored (it is newer than the colleague's)."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "生态环境局")
    harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")
    harness.clock.set(harness.clock.now() + dt.timedelta(minutes=10))
    await _handle_next(harness)
    harness.api.send_command(REFORM, "report", "15 进行中 60%")
    await _handle_next(harness)
    harness.clock.set(harness.clock.now() + dt.timedelta(minutes=5))
    harness.api.send_command(ECOLOGY, "report", "15 进行中 50% 施工")
    harness.clock.set(harness.clock.now() + dt.timedelta(minutes=10))
    await _handle_next(harness)
    history = harness.store.report_history(15, ECO, 2026)
    assert [r.reporter_telegram_id for r in history] == [ECOLOGY, REFORM, ECOLOGY]


async def test_a_status_buttons_lost_commit_answer_is_stored_once_and_acknowledged(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A button press (its time the clock's) whose commit succeeded but whose answer was lost:
    the retry finds its report, stores nothing more, and says stored."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    _daily, view, done = await todays_status_view(harness)
    store = harness.store
    real = store.add_reports_once
    lost = [1]

    def committed_then_lost(requests: Any, **again: bool) -> Any:
        outcomes = real(requests, **again)
        if lost:
            lost.pop()
            raise OperationalError("COMMIT", {}, Exception("server closed the connection "
                                                          "unexpectedly"))
        return outcomes

    monkeypatch.setattr(store, "add_reports_once", committed_then_lost)
    leader_mark = harness.last_message_id(LEADER)
    said = texts(await harness.press(ECOLOGY, view["message_id"], done))
    assert not lost
    assert len(store.report_history(15, ECO, 2026)) == 1
    assert "已记录第15项任务" in said, said
    asked = [m for m in after(harness, LEADER, leader_mark) if "done" in m.get("text", "")]
    assert len(asked) == 1
    assert error_notices(harness) == []
