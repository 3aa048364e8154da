"""Second fresh review of the report fixes (7df2da3, 8432dab, 3bbe854) end to end through the
real PTB stack and the Bot API stand-in, on SQLite and PostgreSQL: the wording and language of
the new messages, races of /extend with a leader's decision, a clerk of two units, a
revocation between a lost commit and its retry, control-only text, rows stored before today
with control characters."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.bot.conftest import ADMIN, ECOLOGY, LEADER, REFORM, Harness
from tests.bot.test_review_group_commit import after, burst, error_notices, texts
from tests.bot.test_review_report_fixes import todays_status_view, writes_after_revocation
from tests.bot.test_workflow import at, button_data, reminders_in, run_at

ECO = "ecology-environment"
GROUP = -100778
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u202e]")


# -- the new message in English ----------------------------------------------------------------
async def test_an_english_contacts_report_racing_the_revocation_is_told_in_english(
        harness: Harness, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(REFORM, "生态环境局")
    mark = harness.last_message_id(REFORM)
    writes_after_revocation(harness, monkeypatch, REFORM, ECO)
    await burst(harness, [
        lambda: harness.api.send_command(REFORM, "report", "15 done sent"),
        lambda: harness.api.send_command(ADMIN, "revoke", f"{REFORM} 生态环境局")])
    said = texts(after(harness, REFORM, mark))
    assert harness.store.latest_reports(2026, None, ECO) == {}, said
    assert "Nothing was stored for task 15: you no longer serve" in said, said
    assert not re.search("[\u4e00-\u9fff]{3}", said.replace("生态环境局", "")), said
    assert error_notices(harness) == []


async def all_done_button_for_two_units(harness: Harness) -> tuple[int, str]:
    """ECOLOGY enrolled for 生态环境局 and 林业局, today's reminders sent (17 November): the one
    "all done" button under them, as (message id, callback data)."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(ECOLOGY, "林业局")
    await run_at(harness, at(11, 17))
    daily = reminders_in(harness, ECOLOGY)
    bulk = [(m["message_id"], d) for m in daily for d in button_data(m)
            if d.startswith("b|") and d.endswith("|d")]
    assert len(bulk) == 1, [button_data(m) for m in daily]
    return bulk[0]


# -- a clerk of two units: one unit's report refused in the middle of "all done" ---------------
async def test_all_done_for_two_units_one_revoked_meanwhile_keeps_the_other(
        harness: Harness, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    message_id, data = await all_done_button_for_two_units(harness)
    forestry_before = harness.store.latest_reports(2026, None, "forestry")
    assert forestry_before == {}
    mark = harness.last_message_id(ECOLOGY)
    writes_after_revocation(harness, monkeypatch, ECOLOGY, ECO)
    await burst(harness, [
        lambda: harness.api.press_button(ECOLOGY, message_id, data),
        lambda: harness.api.send_command(ADMIN, "revoke", f"{ECOLOGY} 生态环境局")])
    said = texts(after(harness, ECOLOGY, mark))
    assert harness.store.latest_reports(2026, None, ECO) == {}, said
    forestry = harness.store.latest_reports(2026, None, "forestry")
    assert forestry and all(r.status == "done" for r in forestry.values()), said
    assert "您已不再担任" in said, said
    assert "已记录" in said or "完成" in said, said
    assert error_notices(harness) == []


async def test_all_done_for_a_revoked_unit_says_not_serving_once(
        harness: Harness, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    message_id, data = await all_done_button_for_two_units(harness)
    mark = harness.last_message_id(ECOLOGY)
    writes_after_revocation(harness, monkeypatch, ECOLOGY, ECO)
    await burst(harness, [
        lambda: harness.api.press_button(ECOLOGY, message_id, data),
        lambda: harness.api.send_command(ADMIN, "revoke", f"{ECOLOGY} 生态环境局")])
    said = texts(after(harness, ECOLOGY, mark))
    assert said.count("您已不再担任") == 1, said


# -- control-only text ---------------------------------------------------------------------------
async def test_a_group_titled_only_with_control_characters_is_bound_and_told_plainly(
        harness: Harness, backend: str) -> None:
    await harness.enrol(LEADER, None, "leader")
    harness.api.add_group(GROUP, "\x07\x1b\u200b\u202e")
    admin_mark = harness.last_message_id(ADMIN)
    said = texts(await harness.bind(LEADER, GROUP))
    assert [c.title for c in harness.store.leadership_chats() if c.chat_id == GROUP] == [""], said
    told = texts(after(harness, ADMIN, admin_mark))
    assert str(GROUP) in told, told
    assert not CONTROL.search(told), repr(told)
    assert error_notices(harness) == []


async def test_a_display_name_of_control_characters_only_enrols_under_the_id(
        harness: Harness, backend: str) -> None:
    harness.api.add_user(3400, "\x07\u200b\x1b", "en")
    said = texts(await harness.enrol(3400, "生态环境局"))
    assert harness.store.units_of(3400) == [ECO], said
    assert harness.store.get_person(3400).display_name == "3400"
    assert not CONTROL.search(said), repr(said)
    assert error_notices(harness) == []


@pytest.mark.parametrize("note", ["\u200b", "\x07\x1b", "\u200b\x7f\x9b"])
async def test_a_report_whose_note_is_control_characters_only_has_no_note(
        harness: Harness, backend: str, note: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    said = texts(await harness.command(ECOLOGY, "report", f"15 已完成 {note}"))
    [done] = harness.store.report_history(15, ECO, 2026)
    assert (done.status, done.note) == ("done", ""), said
    assert not CONTROL.search(said), repr(said)
    assert error_notices(harness) == []


# -- rows stored before today with control characters ---------------------------------------------
OLD_NAME = "王\x07芳\u202e\x1b[31m"
OLD_NOTE = "核查\x1b[2J中\x07\x0b"


async def old_rows(harness: Harness) -> None:
    """A contact's name and a report's note as an older version stored them (no NUL: the
    PostgreSQL text column never held one)."""
    from sqlalchemy import text

    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "report", "15 进行中 60% 核查中")
    with harness.store.engine.begin() as connection:
        connection.execute(text("UPDATE person SET display_name = :n WHERE telegram_user_id = :i"),
                           {"n": OLD_NAME, "i": ECOLOGY})
        connection.execute(text("UPDATE status_report SET note = :n"), {"n": OLD_NOTE})


async def test_an_export_with_old_control_characters_is_a_workbook(
        harness: Harness, backend: str) -> None:
    import io

    from openpyxl import load_workbook

    await old_rows(harness)
    sent = await harness.command(LEADER, "export")
    document = sent[0]["document"]
    workbook = load_workbook(io.BytesIO(harness.api.file(document["file_id"]).content))
    cells = [str(v) for sheet in workbook for row in sheet.iter_rows(values_only=True)
             for v in row if v is not None]
    assert any("核查" in v for v in cells), cells
    assert not any(CONTROL.search(v) for v in cells), cells
    assert error_notices(harness) == []


async def test_a_leaders_summary_with_old_control_characters_shows_none(
        harness: Harness, backend: str) -> None:
    await old_rows(harness)
    said = texts(await harness.command(LEADER, "summary"))
    assert said and not CONTROL.search(said), repr(said)
    assert error_notices(harness) == []


@pytest.mark.parametrize("command", ["task 15", "unit 生态环境局"])
async def test_a_leaders_views_of_old_control_characters_show_none(
        harness: Harness, backend: str, command: str) -> None:
    await old_rows(harness)
    name, _, args = command.partition(" ")
    said = texts(await harness.command(LEADER, name, args))
    assert said, command
    assert not CONTROL.search(said), repr(said)
    assert error_notices(harness) == []


# -- /extend racing a leader's decision on an earlier request ----------------------------------
@pytest.mark.parametrize("due", ["12-25", "12-18"])
async def test_an_extension_request_written_after_the_earlier_ones_approval(
        harness: Harness, backend: str, monkeypatch: pytest.MonkeyPatch, due: str) -> None:
    """A colleague (English) asks again while the leader approves the first request (to
    12-20); the request is written after the approval: a later date is a new pending request,
    an earlier one is refused; the colleague is told which, in English."""
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "生态环境局")
    await harness.command(ECOLOGY, "extend", "15 12-20 设备未到")
    asked = [m for m in harness.api.bot_messages(LEADER)
             if any(d.startswith("x|") for d in button_data(m))][-1]
    approve = next(d for d in button_data(asked) if d.endswith("|a"))
    store = harness.store
    real = store.request_extension

    def late(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + 5
        while (store.extensions(2026, 15)[(15, ECO)][0].state == "pending"
               and time.monotonic() < deadline):
            time.sleep(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "request_extension", late)
    mark = harness.last_message_id(REFORM)
    await burst(harness, [
        lambda: harness.api.send_command(REFORM, "extend", f"15 {due} more time"),
        lambda: harness.api.press_button(LEADER, asked["message_id"], approve)])
    states = [e.state for e in store.extensions(2026, 15)[(15, ECO)]]
    said = texts(after(harness, REFORM, mark))
    assert states[0] == "approved", said
    if due == "12-25":
        assert states == ["approved", "pending"], said
    else:
        assert states == ["approved"], said
        assert "December 20" in said or "12/20" in said, said
    assert not re.search("[\u4e00-\u9fff]{4}", said.replace("生态环境局", "")), said
    assert error_notices(harness) == []


# -- a revocation (and a re-enrolment) between a lost commit answer and its retry ---------------
@pytest.mark.parametrize("between", ["revoked", "revoked and enrolled again"])
@pytest.mark.parametrize("first", ["committed", "failed"])
async def test_a_revocation_between_a_lost_answer_and_its_retry(
        harness: Harness, backend: str, monkeypatch: pytest.MonkeyPatch, between: str,
        first: str) -> None:
    """The first try of a status button's report committed (its answer lost) or failed before
    writing; the admin revokes the contact (and enrols them again) before the retry. Stored at
    most once; the contact is told the truth: stored when it is, else not serving."""
    await harness.enrol(ECOLOGY, "生态环境局")
    _daily, view, done = await todays_status_view(harness)
    store = harness.store
    real = store.add_reports_once
    lost = [1]

    def revoke_between(requests: Any, **again: bool) -> Any:
        if not lost:
            return real(requests, **again)
        lost.pop()
        if first == "committed":
            real(requests, **again)
        now = harness.clock.now()
        store.revoke_person(ECOLOGY, "left", now, ADMIN)
        if between != "revoked":
            store.add_person(ECOLOGY, "王芳", "contact", ECO, "zh_Hans", now, ADMIN)
        raise OperationalError("COMMIT", {}, Exception("server closed the connection "
                                                      "unexpectedly"))

    monkeypatch.setattr(store, "add_reports_once", revoke_between)
    said = texts(await harness.press(ECOLOGY, view["message_id"], done))
    assert not lost
    history = store.report_history(15, ECO, 2026)
    if first == "committed" or between != "revoked":
        assert len(history) == 1, said
        assert "已记录第15项任务" in said, said
    else:
        assert history == [], said
        assert "第15项任务未记录：您已不再担任" in said, said
    assert error_notices(harness) == []


async def test_an_english_extension_reason_of_control_characters_is_asked_for_in_english(
        harness: Harness, backend: str) -> None:
    await harness.enrol(REFORM, "生态环境局")
    said = texts(await harness.command(REFORM, "extend", "15 12-20 \u200b\x07\x1b"))
    assert harness.store.extensions(2026, 15) == {}, said
    assert "reason" in said.lower(), said
    assert not CONTROL.search(said), repr(said)
    assert error_notices(harness) == []


async def test_a_nul_in_a_reports_note_is_dropped(harness: Harness, backend: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    said = texts(await harness.command(ECOLOGY, "report", "15 已完成 已\x00报送\x1b"))
    [done] = harness.store.report_history(15, ECO, 2026)
    assert done.note == "已报送", said
    assert error_notices(harness) == []
