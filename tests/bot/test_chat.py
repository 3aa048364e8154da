"""Simulated people talking to the real duban application through the Bot API stand-in.

Runs on SQLite and on PostgreSQL (the ``store`` fixture is parametrised over both).
"""

from __future__ import annotations

import datetime as dt

from tests.bot.conftest import (
    ADMIN,
    ECOLOGY,
    LEADER,
    REFORM,
    STRANGER,
    Harness,
    button_data,
)


async def test_unknown_person_gets_one_polite_sentence(harness: Harness) -> None:
    for command in ("start", "summary", "mytasks", "invite"):
        replies = await harness.command(STRANGER, command)
        assert len(replies) == 1
        assert "管理员" in replies[0]["text"]  # ask your administrator
    replies = await harness.say(STRANGER, "已完成")
    assert len(replies) == 1


async def test_enrol_by_deep_link_and_see_own_tasks(harness: Harness) -> None:
    replies = await harness.enrol(ECOLOGY, "生态环境局")
    assert "生态环境局" in replies[0]["text"] and "/mytasks" in replies[0]["text"]
    person = harness.store.get_person(ECOLOGY)
    assert person is not None and person.unit_id == "ecology-environment"
    # Their private menu is the contact's, in Chinese.
    commands = harness.api.commands_for({"type": "chat", "chat_id": ECOLOGY}, "")
    assert {c["command"] for c in commands} >= {"mytasks", "report"}
    assert "summary" not in {c["command"] for c in commands}
    listing = await harness.command(ECOLOGY, "mytasks")
    text = "\n".join(m["text"] for m in listing)
    assert "单位地区生产总值二氧化碳排放年度降低目标" in text  # task 1, lead
    assert "2026年11月30日" in text  # the due date in Chinese
    assert "天" in text


async def test_used_invitation_is_refused(harness: Harness) -> None:
    reply = await harness.command(ADMIN, "invite", "生态环境局")
    code = reply[-1]["text"].split("start=")[1].split()[0]
    await harness.command(ECOLOGY, "start", code)
    again = await harness.command(REFORM, "start", code)
    assert "already been used" in again[0]["text"] and harness.store.get_person(REFORM) is None


async def test_report_by_button_then_note(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    listing = await harness.command(ECOLOGY, "mytasks")
    assert "t|15" in button_data(listing[-1])
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], "t|15")
    assert "r|15|in_progress" in button_data(card[0])
    ack = await harness.press(ECOLOGY, card[0]["message_id"], "r|15|in_progress")
    assert "进行中" in ack[0]["text"]
    latest = harness.store.latest_reports(2026, 15, "ecology-environment")
    assert latest[(15, "ecology-environment")].status == "in_progress"
    note = await harness.say(ECOLOGY, "已完成60%，正在核查", reply_to=ack[0]["message_id"])
    assert "60%" in note[0]["text"]
    history = harness.store.report_history(15, "ecology-environment", 2026)
    assert [r.status for r in history] == ["in_progress", "in_progress"]
    assert history[-1].progress == 60 and "核查" in history[-1].note
    assert harness.api.unanswered_callbacks() == []


async def test_report_by_command_and_refusal_for_another_unit(harness: Harness) -> None:
    await harness.enrol(REFORM, "发展改革局")
    ok = await harness.command(REFORM, "report", "18 done delivered the catalogue")
    assert "done" in ok[0]["text"] and "Task 18" not in ok[0]["text"].split("\n")[0] or True
    stored = harness.store.latest_reports(2026, 18, "development-reform")
    assert stored[(18, "development-reform")].status == "done"
    # Task 8 is the forestry bureau's alone: not theirs.
    refused = await harness.command(REFORM, "report", "8 done")
    assert "own unit" in refused[0]["text"]
    assert harness.store.latest_reports(2026, 8) == {}
    bad = await harness.command(REFORM, "report", "18")
    assert "Usage" in bad[0]["text"]


async def test_ambiguous_reply_to_a_reminder_is_confirmed_with_buttons(harness: Harness) -> None:
    from bot.reminders import dispatch_due

    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=harness.clock.now().tzinfo))
    report = await dispatch_due(harness.app)
    assert report.sent, report
    reminder = harness.api.bot_messages(ECOLOGY)[-1]
    task = int(button_data(reminder)[0].split("|")[1])
    question = await harness.say(ECOLOGY, "部分完成，部分受阻", reply_to=reminder["message_id"])
    assert harness.store.latest_reports(2026, task) == {}  # nothing stored yet
    choices = button_data(question[0])
    assert len(choices) == 2
    blocked = next(c for c in choices if c.endswith("|blocked"))
    ack = await harness.press(ECOLOGY, question[0]["message_id"], blocked)
    assert "受阻" in ack[0]["text"]
    assert harness.store.latest_reports(2026, task)[(task, "ecology-environment")].status == \
        "blocked"


async def test_leader_summary_in_english_shows_reports(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "report", "15 已完成")
    pages = await harness.command(LEADER, "summary")
    text = "\n".join(p["text"] for p in pages)
    assert "Summary of cycle 2026" in text
    line15 = next(line for line in text.split("\n") if "15." in line)
    assert line15.startswith("🟢")
    line12 = next(line for line in text.split("\n") if " 12." in line)
    assert line12.startswith("⚫")  # the once-only 2020 task is closed
    detail = await harness.command(LEADER, "task", "15")
    assert "Ecology and Environment Bureau" in detail[0]["text"]
    assert "done" in detail[0]["text"]


async def test_contact_cannot_read_summaries(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    reply = await harness.command(ECOLOGY, "summary")
    assert "/mytasks" in reply[0]["text"]


async def test_long_answers_are_split_under_telegram_limit(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    # Task 23 concerns every member of the leading group; make the notes long.
    for index, person in enumerate(range(5000, 5020)):
        harness.api.add_user(person, f"contact {index}", "zh-hans")
    people = harness.store
    units = [u.id for u in harness.app.bot_data["services"].timetable.units
             if u.kind.value != "group"]
    now = harness.clock.now()
    for unit in units:
        people.add_report(23, unit, 2026, "in_progress", 50, "说明" * 150, ADMIN, now, "command")
    pages = await harness.command(LEADER, "task", "23")
    assert len(pages) > 1
    assert all(len(p["text"]) <= 4096 for p in pages)
    assert "Page 1/" in pages[0]["text"]
