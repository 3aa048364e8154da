"""A reviewer's attempts to break the reply path's group commit (bot/grouping.py Batches,
Services.add_report / Services.caller, Store.add_reports_once) end to end: many updates
handled at once, as in production (the application's PerChatUpdates processor, up to 64 at a
time, one at a time per chat), through the real PTB HTTP stack and the Bot API stand-in, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

import storage.store as store_module
from bot.reminders import dispatch_due
from tests.bot.conftest import (
    ADMIN,
    ECOLOGY,
    LEADER,
    REFORM,
    SHANGHAI,
    STRANGER,
    Harness,
    button,
    error_notices,
    texts,
)

ECO = "ecology-environment"
GROUP = -100555


async def burst(harness: Harness, sends: list[Callable[[], Any]]) -> None:
    """The people send everything first; then the updates are fetched in one getUpdates and
    handled at once by the application's own update processor, as its polling loop does."""
    for send in sends:
        send()
    updates = await harness.app.bot.get_updates(offset=harness.offset, timeout=0, limit=100)
    assert len(updates) == len(sends)
    harness.offset = updates[-1].update_id + 1
    processor = harness.app.update_processor
    await asyncio.wait_for(asyncio.gather(*(
        processor.process_update(u, harness.app.process_update(u)) for u in updates)), 60)


def after(harness: Harness, chat: int, mark: int) -> list[dict]:
    return harness.bot_messages_after(chat, mark)


def report_audits(harness: Harness) -> list[dict]:
    return [json.loads(e.details) for e in harness.store.audit_log(1000, "report.added")]


def unit_tasks(harness: Harness) -> list[tuple[str, str, int]]:
    """(unit id, unit name, a task of the unit) for the units one can be invited to."""
    found = []
    for unit in harness.app.bot_data["services"].timetable.units_by_id.values():
        if unit.id in ("towns", "leading-group"):
            continue
        tasks = harness.app.bot_data["services"].timetable.tasks_for_unit(unit.id)
        found.append((unit.id, unit.name, tasks[0][0].id))
    return found


def write_batches_after(store: Any, monkeypatch: pytest.MonkeyPatch,
                        ready: Callable[[], bool]) -> None:
    """The store's report batches are written only once ``ready()`` holds (at most 5 s), as
    when a batch waits behind an earlier one: the other write commits first,
    deterministically."""
    real = store.add_reports_once

    def late(requests: Any, **again: bool) -> Any:
        deadline = time.monotonic() + 5
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        return real(requests, **again)

    monkeypatch.setattr(store, "add_reports_once", late)


# -- 1. forty-two people at once ---------------------------------------------------------------
async def test_forty_two_people_reporting_at_once_are_each_stored_once_and_answered(
        harness: Harness) -> None:
    units = unit_tasks(harness)
    people = []
    for k in range(42):
        user = 50_000 + k
        unit_id, name, task = units[k % len(units)]
        english = k % 2 == 0
        harness.api.add_user(user, f"P{k}", "en" if english else "zh-hans")
        if k and k % 25 == 0:  # the admin may make 30 invitations an hour
            harness.clock.set(harness.clock.now() + dt.timedelta(minutes=61))
        await harness.enrol(user, name)
        people.append((user, unit_id, task, english, 10 + k))
    marks = {user: harness.last_message_id(user) for user, *_ in people}
    before = len(report_audits(harness))
    await burst(harness, [
        (lambda u=user, t=task, p=pct: harness.api.send_command(u, "report", f"{t} 进行中 {p}%"))
        for user, _, task, _, pct in people])
    for user, unit_id, task, english, pct in people:
        got = after(harness, user, marks[user])
        assert len(got) >= 1, (user, got)
        head = got[0]["text"]
        if english:
            assert head.startswith(f"Stored for task {task},"), head
        else:
            assert f"已记录第{task}项任务" in head, head
        assert f"{pct}%" in head, head
        assert "Already" not in head and "不再重复" not in head
        mine = [r for r in harness.store.report_history(task, unit_id, 2026)
                if r.reporter_telegram_id == user]
        assert [(r.status, r.progress) for r in mine] == [("in_progress", pct)], mine
    audits = report_audits(harness)[: len(report_audits(harness)) - before]
    assert len(audits) == 42
    assert Counter((a["task_id"], a["unit_id"], a["progress"]) for a in audits) == Counter(
        (task, unit_id, pct) for _, unit_id, task, _, pct in people)
    assert error_notices(harness) == []


# -- 2. the same report twice at once ----------------------------------------------------------
async def test_one_person_sending_the_same_report_twice_at_once_is_stored_once(
        harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    mark = harness.last_message_id(ECOLOGY)
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%")] * 2)
    assert [r.progress for r in harness.store.report_history(15, ECO, 2026)] == [40]
    acks = [m["text"] for m in after(harness, ECOLOGY, mark)]
    assert len(acks) == 2 and "已记录第15项任务" in acks[0], acks
    assert len(report_audits(harness)) == 1


async def test_the_same_report_from_two_chats_at_once_is_stored_once(harness: Harness) -> None:
    """The same person sends the same /report privately and in a group at the same moment:
    different chats, so handled at once, in one batch; stored once."""
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.add_group(GROUP, "工作群")
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%"),
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%", chat_id=GROUP)])
    history = harness.store.report_history(15, ECO, 2026)
    assert [r.progress for r in history] == [40], history
    assert len(report_audits(harness)) == 1
    said = texts(after(harness, ECOLOGY, 0)) + texts(after(harness, GROUP, 0))
    assert said.count("已记录第15项任务") == 1, said


# -- 3. one clerk, two units; two people of one unit -------------------------------------------
async def test_a_clerk_of_two_units_and_a_colleague_reporting_at_once(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(ECOLOGY, "林业局")
    await harness.enrol(REFORM, "林业局")
    harness.api.add_group(GROUP, "工作群")
    m1, m2 = harness.last_message_id(ECOLOGY), harness.last_message_id(REFORM)
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "8 进行中 30%"),
        lambda: harness.api.send_command(REFORM, "report", "8 进行中 35%"),
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 20%", chat_id=GROUP)])
    assert sorted(r.progress for r in harness.store.report_history(8, "forestry", 2026)) == [
        30, 35]
    assert "已记录第8项任务" in after(harness, ECOLOGY, m1)[0]["text"]
    assert after(harness, REFORM, m2)[0]["text"].startswith("Stored for task 8,")
    assert error_notices(harness) == []


async def test_two_of_one_unit_reporting_done_at_once_ask_the_leadership_once(
        harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.add_user(3101, "李明", "zh-hans")
    await harness.enrol(3101, "生态环境局")
    mark = harness.last_message_id(LEADER)
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 已完成 报告已报送"),
        lambda: harness.api.send_command(3101, "report", "15 已完成 已报送")])
    history = harness.store.report_history(15, ECO, 2026)
    assert sorted(r.reporter_telegram_id for r in history) == [ECOLOGY, 3101]
    asked = [m for m in after(harness, LEADER, mark) if "done" in m.get("text", "")]
    assert len(asked) == 1, texts(asked)
    assert error_notices(harness) == []


# -- 4. last year still owed --------------------------------------------------------------------
async def test_reports_without_a_year_in_a_burst_are_asked_not_stored(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.add_user(3101, "李明", "zh-hans")
    await harness.enrol(3101, "生态环境局")
    await harness.enrol(REFORM, "发展改革局")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    marks = {u: harness.last_message_id(u) for u in (ECOLOGY, 3101, REFORM)}
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 已完成"),
        lambda: harness.api.send_command(3101, "report", "15 已完成"),
        lambda: harness.api.send_command(REFORM, "report", "1 2027 进行中 20%")])
    for user in (ECOLOGY, 3101):
        assert "哪一年度" in after(harness, user, marks[user])[0]["text"]
    assert harness.store.latest_reports(2026, 15) == {}
    assert harness.store.latest_reports(2027, 15) == {}
    assert harness.store.latest_reports(2027, 1)[(1, "development-reform")].progress == 20
    assert after(harness, REFORM, marks[REFORM])[0]["text"].startswith("Stored for task 1,")


async def test_last_year_reported_in_the_same_batch_is_seen(harness: Harness) -> None:
    """One colleague reports 2026 done explicitly while another sends a report without a year
    at the same moment: whichever goes first, the second is consistent (asked, or stored for
    2027 because 2026 is now done) — never stored for 2027 while 2026 is still owed."""
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.add_user(3101, "李明", "zh-hans")
    await harness.enrol(3101, "生态环境局")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    mark = harness.last_message_id(3101)
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 2026 已完成 已报送"),
        lambda: harness.api.send_command(3101, "report", "15 进行中 10%")])
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    answer = after(harness, 3101, mark)[0]["text"]
    stored_2027 = harness.store.latest_reports(2027, 15)
    if stored_2027:
        assert "2027" in answer and "哪一年度" not in answer
    else:
        assert "哪一年度" in answer


# -- 5. a database outage in the middle of a burst ---------------------------------------------
async def test_an_outage_after_part_of_a_batch_was_written_stores_each_report_once(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database fails after the first reports of a group were inserted (a later request
    read a pair they are for): the group's transaction is rolled back and retried whole."""
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.add_user(3101, "李明", "zh-hans")
    await harness.enrol(3101, "生态环境局")
    await harness.enrol(REFORM, "发展改革局")
    real = store_module._insert_reports
    failures = [1]

    def flaky(connection: Any, checked: Any, outcomes: Any) -> None:
        real(connection, checked, outcomes)
        if checked and failures:
            failures.pop()
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(store_module, "_insert_reports", flaky)
    marks = {u: harness.last_message_id(u) for u in (ECOLOGY, 3101, REFORM)}
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%"),
        lambda: harness.api.send_command(3101, "report", "15 进行中 45%"),
        lambda: harness.api.send_command(REFORM, "report", "1 进行中 20%")])
    assert not failures, "the fault was injected"
    assert sorted(r.progress for r in harness.store.report_history(15, ECO, 2026)) == [40, 45]
    assert [r.progress for r in harness.store.report_history(1, "development-reform", 2026)] \
        == [20]
    assert len(report_audits(harness)) == 3
    assert "已记录第15项任务" in after(harness, ECOLOGY, marks[ECOLOGY])[0]["text"]
    assert "已记录第15项任务" in after(harness, 3101, marks[3101])[0]["text"]
    assert after(harness, REFORM, marks[REFORM])[0]["text"].startswith("Stored for task 1,")


async def test_a_lasting_outage_acknowledges_nothing_and_stores_nothing(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "发展改革局")
    monkeypatch.setattr("bot.services.REPLY_DB_RETRIES", (0.05, 0.05))

    def down(connection: Any, checked: Any, outcomes: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(store_module, "_insert_reports", down)
    marks = {u: harness.last_message_id(u) for u in (ECOLOGY, REFORM)}
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%"),
        lambda: harness.api.send_command(REFORM, "report", "1 进行中 20%")])
    assert harness.store.latest_reports(2026) == {}
    for user in (ECOLOGY, REFORM):
        said = texts(after(harness, user, marks[user]))
        assert "Stored for task" not in said and "已记录第" not in said, said
        assert "连不上数据库" in said or "database" in said, said


# -- 6. odd input mixed into a burst -----------------------------------------------------------
async def test_odd_inputs_in_a_burst_fail_alone(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "发展改革局")
    harness.api.add_user(3101, "李明", "zh-hans")
    await harness.enrol(3101, "生态环境局")
    marks = {u: harness.last_message_id(u) for u in (ECOLOGY, REFORM, 3101, STRANGER)}
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%"),
        lambda: harness.api.send_command(REFORM, "report", "999 进行中"),
        lambda: harness.api.send_command(STRANGER, "report", "15 已完成"),
        lambda: harness.api.send_command(3101, "report", "15 进行中 250%"),
        lambda: harness.api.send_command(REFORM, "report", "1 进行中 20%")])
    assert [r.progress for r in harness.store.report_history(15, ECO, 2026)] == [40]
    assert [r.progress for r in harness.store.report_history(1, "development-reform", 2026)] \
        == [20]
    assert "已记录第15项任务" in after(harness, ECOLOGY, marks[ECOLOGY])[0]["text"]
    assert after(harness, STRANGER, marks[STRANGER])
    assert "已记录" not in texts(after(harness, STRANGER, marks[STRANGER]))
    assert "已记录" not in texts(after(harness, 3101, marks[3101]))
    reform = [m["text"] for m in after(harness, REFORM, marks[REFORM])]
    assert sum(t.startswith("Stored for task 1,") for t in reform) == 1, reform
    assert error_notices(harness) == []


# -- 7. a report racing a revocation, a review -------------------------------------------------
async def test_a_report_racing_its_reporters_revocation(harness: Harness) -> None:
    """The admin revokes a contact while the contact reports: the contact is told the truth
    (acknowledged if and only if the report is stored)."""
    await harness.enrol(ECOLOGY, "生态环境局")
    mark = harness.last_message_id(ECOLOGY)
    await burst(harness, [
        lambda: harness.api.send_command(ADMIN, "revoke", f"{ECOLOGY} 生态环境局"),
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%")])
    assert harness.store.units_of(ECOLOGY) == []
    stored = harness.store.report_history(15, ECO, 2026)
    said = texts(after(harness, ECOLOGY, mark))
    assert ("已记录第15项任务" in said) == bool(stored), said
    # In this order the report is stored after the revocation on both backends (audit:
    # membership.ended, then report.added): the fault kept below, made deterministic.


@pytest.mark.parametrize("press_first", [True, False])
@pytest.mark.parametrize("decision", ["c", "r"])
async def test_a_report_racing_the_leaders_review(harness: Harness, press_first: bool,
                                                  decision: str) -> None:
    """A leader confirms (审结) or returns (退回) a done report while the unit sends a new one:
    exactly one wins. Confirmed first: the new report is refused (销号 is final); the report
    first: the review is refused (a newer report came in). Never both, never neither."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 已完成 报告已报送")
    request = [m for m in harness.api.bot_messages(LEADER) if "done" in m.get("text", "")][-1]
    data = button(request, f"v|15|{ECO}|2026|{decision}")
    done_id = harness.store.latest_reports(2026, 15)[(15, ECO)].id
    mark = harness.last_message_id(ECOLOGY)
    press = lambda: harness.api.press_button(LEADER, request["message_id"], data)  # noqa: E731
    new = lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 60% 返工")  # noqa: E731
    await burst(harness, [press, new] if press_first else [new, press])
    if decision == "r":  # a return asks the leader for a comment first
        asked = harness.bot_messages_after(LEADER, request["message_id"])
        if asked and not harness.store.reviews(2026, 15):
            await harness.say(LEADER, "请补充材料", reply_to=asked[-1]["message_id"])
    stored = [r for r in harness.store.report_history(15, ECO, 2026) if r.progress == 60]
    reviews = harness.store.reviews(2026, 15)
    said = texts(after(harness, ECOLOGY, mark))
    assert len(stored) <= 1 and set(reviews) <= {done_id}, (stored, reviews)
    if decision == "c":
        assert bool(stored) != bool(reviews), (stored, reviews, said)
    else:  # returned, then reported again: both may stand
        assert stored or reviews, (stored, reviews, said)
    assert ("已记录第15项任务" in said) == bool(stored), said
    assert error_notices(harness) == []


async def test_a_report_whose_batch_is_written_after_a_confirmation_is_refused(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race above in the other order, made deterministic: the report's batch is written
    only once the leader's confirmation has committed. The check in the batch's transaction
    sees the review: the report is refused (销号 is final), nothing stored, the unit told."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 已完成 报告已报送")
    request = [m for m in harness.api.bot_messages(LEADER) if "done" in m.get("text", "")][-1]
    data = button(request, f"v|15|{ECO}|2026|c")
    store = harness.store
    write_batches_after(store, monkeypatch, lambda: bool(store.reviews(2026, 15)))
    mark = harness.last_message_id(ECOLOGY)
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 60% 返工"),
        lambda: harness.api.press_button(LEADER, request["message_id"], data)])
    assert len(store.reviews(2026, 15)) == 1
    assert [r.progress for r in store.report_history(15, ECO, 2026)] == [None] or all(
        r.progress != 60 for r in store.report_history(15, ECO, 2026))
    said = texts(after(harness, ECOLOGY, mark))
    assert "已记录第15项任务" not in said and said, said
    assert len(report_audits(harness)) == 1
    assert error_notices(harness) == []


async def test_a_report_whose_batch_is_written_after_the_revocation_is_not_stored(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """As above, made deterministic: the report's batch is written only after the revocation
    has committed (as when it waits behind an earlier batch of 32 reports)."""
    await harness.enrol(ECOLOGY, "生态环境局")
    mark = harness.last_message_id(ECOLOGY)
    store = harness.store
    write_batches_after(store, monkeypatch, lambda: not store.units_of(ECOLOGY))
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%"),
        lambda: harness.api.send_command(ADMIN, "revoke", f"{ECOLOGY} 生态环境局")])
    assert harness.store.units_of(ECOLOGY) == []
    said = texts(after(harness, ECOLOGY, mark))
    assert harness.store.report_history(15, ECO, 2026) == [], said
    assert "已记录第15项任务" not in said
    assert "第15项任务未记录：您已不再担任" in said, said
    assert report_audits(harness) == [] and error_notices(harness) == []


async def test_a_clerk_losing_one_of_two_units_mid_batch_keeps_reporting_for_the_other(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clerk serving two units reports for both while an admin ends their service for one;
    the batch is written after the revocation: the report for the unit kept is stored, the
    other refused with the reason, in the clerk's language."""
    await harness.enrol(REFORM, "发展改革局")
    await harness.enrol(REFORM, "生态环境局")
    assert set(harness.store.units_of(REFORM)) == {"development-reform", ECO}
    mark = harness.last_message_id(REFORM)
    store = harness.store
    write_batches_after(store, monkeypatch, lambda: ECO not in store.units_of(REFORM))
    await burst(harness, [
        lambda: harness.api.send_command(REFORM, "report", "25 ongoing 40%"),
        lambda: harness.api.send_command(ADMIN, "revoke", f"{REFORM} 生态环境局"),
        lambda: harness.api.send_command(REFORM, "report", "3 ongoing 20%")])
    said = texts(after(harness, REFORM, mark))
    assert [r.progress for r in store.report_history(3, "development-reform", 2026)] == [20], said
    assert store.report_history(25, ECO, 2026) == [], said
    assert "Nothing was stored for task 25: you no longer serve" in said, said


async def test_a_note_the_database_cannot_hold_fails_only_its_own_report(
        harness: Harness, request: pytest.FixtureRequest) -> None:
    """A note with a NUL character (PostgreSQL's text cannot hold it) in a burst: the other
    people's reports in the same group are stored and acknowledged."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "发展改革局")
    harness.api.add_user(3101, "李明", "zh-hans")
    await harness.enrol(3101, "统计局")
    marks = {u: harness.last_message_id(u) for u in (ECOLOGY, REFORM, 3101)}
    await burst(harness, [
        lambda: harness.api.send_command(REFORM, "report", "1 进行中 20%"),
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40% 已核查\x00完毕"),
        lambda: harness.api.send_command(3101, "report", "1 进行中 30%")])
    assert after(harness, REFORM, marks[REFORM])[0]["text"].startswith("Stored for task 1,")
    assert "已记录第1项任务" in after(harness, 3101, marks[3101])[0]["text"]
    assert sorted(r.progress for r in harness.store.report_history(1, "development-reform",
                                                                   2026)) == [20]
    assert [r.progress for r in harness.store.report_history(1, "statistics", 2026)] == [30]
    # the NUL, which shows nothing, is dropped: the words around it are kept
    assert [(r.progress, r.note) for r in harness.store.report_history(15, ECO, 2026)] == [
        (40, "已核查完毕")]
    assert "已记录第15项任务" in after(harness, ECOLOGY, marks[ECOLOGY])[0]["text"]
    assert error_notices(harness) == []


@pytest.mark.parametrize(("odd", "kept", "spaced"), [
    ("\x00", "", ""), ("\x07", "", ""), ("\x1b[31m", "[31m", "[31m"), ("\x7f", "", ""),
    ("\x85", "", " "), ("\t", "\t", " ")])
async def test_control_characters_in_notes_reasons_and_comments_are_dropped(
        harness: Harness, odd: str, kept: str, spaced: str) -> None:
    """A note, an extension request's reason and a leader's return comment with a control
    character (NUL, bell, an escape sequence's ESC, DEL, a C1 control; a tab stays): each is
    stored without it, on both backends, and nobody is told something went wrong. (The
    reason's words are read apart, so a tab or a next-line control between them is a space.)"""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "发展改革局")
    told = await harness.command(ECOLOGY, "extend", f"15 12-20 设备{odd}未到")
    [extension] = harness.store.extensions(2026, 15).get((15, ECO), [None])
    assert extension is not None, texts(told)
    assert extension.reason == f"设备{spaced}未到"
    await harness.command(ECOLOGY, "report", f"15 已完成 报告{odd}已报送")
    [done] = harness.store.report_history(15, ECO, 2026)
    assert done.note == f"报告{kept}已报送"
    request = [m for m in harness.api.bot_messages(LEADER) if "done" in m.get("text", "")][-1]
    await harness.press(LEADER, request["message_id"], button(request, f"v|15|{ECO}|2026|r"))
    asked = harness.bot_messages_after(LEADER, request["message_id"])
    await harness.say(LEADER, f"请补充{odd}材料", reply_to=asked[-1]["message_id"])
    [review] = harness.store.reviews(2026, 15).values()
    assert review.comment == f"请补充{kept}材料"
    assert error_notices(harness) == []


async def test_a_group_whose_commit_answer_was_lost_is_not_stored_twice(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.add_user(3101, "李明", "zh-hans")
    await harness.enrol(3101, "生态环境局")
    await harness.enrol(REFORM, "发展改革局")
    store = harness.store
    real = store.add_reports_once
    lost = [1]

    def committed_then_lost(requests: Any, **again: bool) -> Any:
        outcomes = real(requests, **again)
        if lost and len(requests) == 3:
            lost.pop()
            raise OperationalError("COMMIT", {}, Exception("server closed the connection "
                                                          "unexpectedly"))
        return outcomes

    monkeypatch.setattr(store, "add_reports_once", committed_then_lost)
    marks = {u: harness.last_message_id(u) for u in (ECOLOGY, 3101, REFORM)}
    await burst(harness, [
        lambda: harness.api.send_command(ECOLOGY, "report", "15 进行中 40%"),
        lambda: harness.api.send_command(3101, "report", "15 进行中 45%"),
        lambda: harness.api.send_command(REFORM, "report", "1 进行中 20%")])
    assert not lost, "the lost answer was injected"
    assert sorted(r.progress for r in store.report_history(15, ECO, 2026)) == [40, 45]
    assert [r.progress for r in store.report_history(1, "development-reform", 2026)] == [20]
    assert len(report_audits(harness)) == 3
    assert "已记录第15项任务" in after(harness, ECOLOGY, marks[ECOLOGY])[0]["text"]
    assert "已记录第15项任务" in after(harness, 3101, marks[3101])[0]["text"]
    assert after(harness, REFORM, marks[REFORM])[0]["text"].startswith("Stored for task 1,")


async def test_colleagues_on_one_pair_in_one_group_see_each_others_reports(
        harness: Harness) -> None:
    """Ten contacts of one unit report one task at once (one group, the same pair): each is
    stored once; one without a percentage carries the percentage of the colleague's report
    stored just before it, as it would one after the other; a repeat within the group by one
    of them is recognised."""
    users = [3200 + k for k in range(10)]
    for user in users:
        harness.api.add_user(user, f"同事{user}", "zh-hans")
        await harness.enrol(user, "生态环境局")
    harness.api.add_group(GROUP, "工作群")
    marks = {u: harness.last_message_id(u) for u in users}
    await burst(harness, [
        (lambda u=user, k=k: harness.api.send_command(u, "report", f"15 进行中 {10 + k}%"))
        for k, user in enumerate(users[:9])] + [
        lambda: harness.api.send_command(users[9], "report", "15 进行中"),
        lambda: harness.api.send_command(users[0], "report", "15 进行中 10%",
                                         chat_id=GROUP)])
    history = harness.store.report_history(15, ECO, 2026)
    assert len(history) in (10, 11), [(r.reporter_telegram_id, r.progress) for r in history]
    by = Counter(r.reporter_telegram_id for r in history)
    assert all(by[u] == 1 for u in users[1:]), by
    ordered = sorted(history, key=lambda r: r.id)
    last = next(i for i, r in enumerate(ordered) if r.reporter_telegram_id == users[9])
    assert (last == 0 and ordered[0].progress is None) or \
        ordered[last].progress == ordered[last - 1].progress, [
            (r.reporter_telegram_id, r.progress) for r in ordered]
    for k, user in enumerate(users[:9]):
        assert f"{10 + k}%" in after(harness, user, marks[user])[0]["text"]
    assert len(report_audits(harness)) == len(history)
    assert error_notices(harness) == []


@pytest.mark.parametrize("report_first", [True, False])
async def test_a_report_of_done_racing_a_colleagues_extension_request(
        harness: Harness, report_first: bool) -> None:
    """One contact reports done while a colleague asks an extension: an extension may be asked
    only while the unit has not reported done (docs/workflow.md), so no request is recorded
    after the report of done."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.add_user(3101, "李明", "zh-hans")
    await harness.enrol(3101, "生态环境局")
    report = lambda: harness.api.send_command(ECOLOGY, "report", "15 已完成 已报送")  # noqa: E731
    extend = lambda: harness.api.send_command(3101, "extend", "15 12-20 设备未到")  # noqa: E731
    await burst(harness, [report, extend] if report_first else [extend, report])
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    order = [e.action for e in reversed(harness.store.audit_log(1000))
             if e.action in ("report.added", "extension.requested")]
    assert order in (["report.added"], ["extension.requested", "report.added"]), order
    assert error_notices(harness) == []
