"""The supervision workflow as a skeptical tester used it: old buttons, late returns and
extensions, remarks after a return, clerks of many units, 收到 in words, restarts.

Each test states what docs/workflow.md, docs/chat.md and docs/reminders.md promise.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from openpyxl import load_workbook

from schedules.model import Timetable
from schedules.progress import is_closed
from tests.bot.conftest import (
    ADMIN,
    ECOLOGY,
    LEADER,
    SHANGHAI,
    Harness,
    button,
    button_data,
)
from tests.bot.test_workflow import (
    AGRI,
    GROUP,
    STATS,
    at,
    enrol_all,
    last_id,
    newest,
    reminders_in,
    review_request,
    run_at,
    summary,
    tasks_of,
)

AGRI_UNIT = "agriculture-rural"
CLERK = 3100


async def forged(harness: Harness, user: int, message_id: int, data: str,
                 chat_id: int | None = None) -> list[dict[str, Any]]:
    """A press with data no button carries (a modified client)."""
    before = harness.last_message_id(chat_id or user)
    harness.api.press_forged_button(user, message_id, data, chat_id=chat_id)
    await harness.pump()
    return harness.bot_messages_after(chat_id or user, before)


async def return_report(harness: Harness, task: int, unit: str, comment: str) -> None:
    """A leader returns the unit's report of done from the group's review request."""
    request = review_request(harness, 0, task, unit)
    prompt = await harness.press(LEADER, request["message_id"],
                                 button(request, f"v|{task}|{unit}|2026|r"),
                                 chat_id=GROUP)
    await harness.say(LEADER, comment, reply_to=prompt[0]["message_id"], chat_id=GROUP)


def buttons(message: dict[str, Any]) -> int:
    markup = message.get("reply_markup") or {}
    return sum(len(row) for row in markup.get("inline_keyboard", []))


# 1 ------------------------------------------------------------------------------------------
async def test_an_old_review_button_does_not_confirm_a_newer_report(harness: Harness) -> None:
    await enrol_all(harness)
    await harness.command(AGRI, "report", "7 已完成 第一版报告")
    first = review_request(harness, 0, 7, AGRI_UNIT)
    harness.clock.set(at(11, 16, 11))
    await harness.command(AGRI, "report", "7 进行中 50% 发现问题")
    harness.clock.set(at(11, 16, 12))
    mark = last_id(harness, GROUP)
    await harness.command(AGRI, "report", "7 已完成 第二版")
    review_request(harness, mark, 7, AGRI_UNIT)  # the newer report has its own request
    await harness.press(LEADER, first["message_id"], button(first, "v|7|agriculture-rural|2026|c"),
                        chat_id=GROUP)
    assert harness.store.reviews(2026) == {}  # "第二版" was never shown on this button


# 2 ------------------------------------------------------------------------------------------
async def test_overdue_in_november_is_about_this_cycle_only(harness: Harness) -> None:
    await enrol_all(harness)
    shown = await harness.command(LEADER, "overdue")
    assert "2025" not in shown[0]["text"]
    assert not any(d.endswith("|2025") for d in button_data(shown[-1]))


# 3 ------------------------------------------------------------------------------------------
async def test_a_remark_after_a_return_does_not_report_done_again(harness: Harness) -> None:
    await enrol_all(harness)
    await run_at(harness, at(11, 17))
    [daily] = reminders_in(harness, AGRI)
    card = await harness.press(AGRI, daily["message_id"], "t|7|agriculture-rural")
    stored = await harness.press(AGRI, card[-1]["message_id"], "r|7|d|2026|agriculture-rural")
    await return_report(harness, 7, AGRI_UNIT, "请补充照片")
    harness.clock.set(at(11, 18, 9))
    mark = last_id(harness, GROUP)
    await harness.say(AGRI, "收到意见，下周补充照片", reply_to=stored[0]["message_id"])
    assert newest(harness, GROUP, mark) == []
    assert next(line for line in (await summary(harness)).split("\n")
                if " 7. " in line).startswith("🟡")


# 6 ------------------------------------------------------------------------------------------
async def test_an_extension_to_a_past_day_is_refused(harness: Harness) -> None:
    await enrol_all(harness)
    harness.clock.set(at(12, 10, 10))
    mark = last_id(harness, GROUP)
    await harness.command(AGRI, "extend", "7 12-03 种子未到货")
    assert harness.store.extensions(2026, 7) == {}
    assert newest(harness, GROUP, mark) == []


# 7 ------------------------------------------------------------------------------------------
async def test_a_forged_button_cannot_report_for_a_year_not_begun(harness: Harness) -> None:
    await enrol_all(harness)
    card = await harness.command(AGRI, "mytasks")
    await forged(harness, AGRI, card[-1]["message_id"], "r|7|d|2027|agriculture-rural")
    assert harness.store.latest_reports(2027) == {}


# 8 ------------------------------------------------------------------------------------------
async def test_an_extended_task_is_not_shown_late(harness: Harness) -> None:
    await enrol_all(harness)
    mark = last_id(harness, GROUP)
    await harness.command(AGRI, "extend", "7 12-20 种子未到货")
    request = newest(harness, GROUP, mark)[-1]
    await harness.press(LEADER, request["message_id"], button_data(request)[0], chat_id=GROUP)
    harness.clock.set(at(12, 5, 10))
    line = next(line for line in (await summary(harness)).split("\n") if " 7. " in line)
    assert "late" not in line
    sent = await harness.command(LEADER, "export")
    book = load_workbook(io.BytesIO(harness.api.file(sent[0]["document"]["file_id"]).content))
    [row] = [r for r in book["Summary"].iter_rows(min_row=2, values_only=True) if r[0] == 7]
    assert row[5] == 15  # Days left, as /unit and /mytasks say


# 9 ------------------------------------------------------------------------------------------
async def test_an_input_is_not_awaiting_review(harness: Harness) -> None:
    await enrol_all(harness)
    await harness.command(STATS, "report", "7 已完成 数据已提供")
    listing = await harness.command(LEADER, "review")
    assert button_data(listing[-1]) == []
    assert "awaits a leader's review" not in await summary(harness)


# 10 -----------------------------------------------------------------------------------------
async def test_no_message_carries_more_than_100_buttons(harness: Harness,
                                                        timetable: Timetable) -> None:
    harness.api.add_user(CLERK, "多单位", "zh-hans")
    await harness.enrol(LEADER, None, "leader")
    units = [u for u in timetable.units if u.id not in ("towns", "leading-group")]
    for index, unit in enumerate(units):  # at most 30 invitations an hour
        harness.clock.set(dt.datetime(2026, 10, 1, 8, tzinfo=SHANGHAI)
                          + dt.timedelta(hours=index))
        await harness.enrol(CLERK, unit.name)
    await run_at(harness, at(10, 30))
    assert all(buttons(m) <= 100 for m in newest(harness, CLERK, 0))
    assert all(buttons(m) <= 100 for m in await harness.command(CLERK, "mytasks"))
    towns_and_reform = [u.id for u in units if u.id.startswith("town-")] + ["development-reform"]
    assert sum(1 for u in towns_and_reform for task, _ in timetable.tasks_for_unit(u)
               if not is_closed(task, 2026)) == 102  # a realistic clerk already exceeds it


# 11 -----------------------------------------------------------------------------------------
async def test_a_two_unit_clerk_can_tell_the_choices_apart(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(ECOLOGY, "林业局")
    await run_at(harness, at(10, 30))
    [daily] = reminders_in(harness, ECOLOGY)
    asked = await harness.say(ECOLOGY, "已完成", reply_to=daily["message_id"])
    labels = [b["text"] for row in asked[0]["reply_markup"]["inline_keyboard"] for b in row]
    assert len(labels) == len(set(labels))
    done = await harness.press(ECOLOGY, daily["message_id"], next(
        d for d in button_data(daily) if d.startswith("b|") and d.endswith("|d")))
    assert "23, 23" not in done[0]["text"]


# 12 -----------------------------------------------------------------------------------------
async def test_replying_shoudao_to_a_reminder_acknowledges_it(harness: Harness) -> None:
    await enrol_all(harness)
    await run_at(harness, at(10, 30))
    [daily] = reminders_in(harness, AGRI)
    await harness.say(AGRI, "收到", reply_to=daily["message_id"])
    assert (7, AGRI_UNIT) in harness.store.acknowledgements(2026)


# 13 -----------------------------------------------------------------------------------------
async def test_a_unit_view_shows_the_units_own_light(harness: Harness) -> None:
    """workflow.md: /unit and /mytasks are a unit's own view; /summary the task's."""
    await enrol_all(harness)
    await harness.command(STATS, "report", "7 受阻 数据未出")
    in_summary = next(line for line in (await summary(harness)).split("\n") if " 7. " in line)
    unit_view = (await harness.command(LEADER, "unit", "统计局"))[0]["text"]
    in_unit = next(line for line in unit_view.split("\n") if " 7. " in line)
    assert in_unit.startswith("🔴") and not in_summary.startswith("🔴")


# 14 -----------------------------------------------------------------------------------------
async def test_an_urge_that_reached_nobody_does_not_use_up_the_day(harness: Harness) -> None:
    await enrol_all(harness)
    view = await harness.command(LEADER, "task", "9")
    await harness.press(LEADER, view[-1]["message_id"], "u|9|housing-urban-rural|2026")
    harness.api.add_user(3200, "住建", "zh-hans")
    await harness.enrol(3200, "住房城乡建设局")
    mark = last_id(harness, 3200)
    await harness.press(LEADER, view[-1]["message_id"], "u|9|housing-urban-rural|2026")
    assert any(m["text"].startswith("📣") for m in newest(harness, 3200, mark))


# 15 -----------------------------------------------------------------------------------------
async def test_audit_shows_the_evidence(harness: Harness) -> None:
    await enrol_all(harness)
    card = await harness.command(AGRI, "mytasks")
    opened = await harness.press(AGRI, card[-1]["message_id"], "t|7|agriculture-rural")
    stored = await harness.press(AGRI, opened[-1]["message_id"], "r|7|d|2026|agriculture-rural")
    harness.api.send_document(AGRI, "绿肥种植验收报告.pdf", b"%PDF-1.4",
                              reply_to_message_id=stored[0]["message_id"])
    await harness.pump()
    assert len([e for e in harness.store.audit_log(50) if e.action == "evidence.added"]) == 1
    log = (await harness.command(ADMIN, "audit", "7"))[0]["text"]
    assert "绿肥种植验收报告.pdf" in log


# 16 -----------------------------------------------------------------------------------------
async def test_a_late_unit_can_ask_an_extension_in_january(harness: Harness) -> None:
    await enrol_all(harness)
    await run_at(harness, at(11, 16))
    await run_at(harness, at(12, 1))
    harness.clock.set(dt.datetime(2027, 1, 5, 10, tzinfo=SHANGHAI))
    answer = await harness.command(AGRI, "extend", "7 01-20 种子未到货")
    assert "2027年11月30日" not in answer[0]["text"]



# -- more of the same kind ------------------------------------------------------------------
async def test_a_leaders_prompt_survives_a_restart(harness: Harness, tmp_path: Any) -> None:
    """docs/chat.md: open questions are kept across a restart of `duban run` (PTB's
    persistence in the data folder)."""
    from bot.app import build_application, conversation_store
    from bot.demo import ScriptedChat
    from tests.bot.conftest import make_settings

    settings = make_settings(harness.api, harness.store).model_copy(
        update={"data_dir": tmp_path})

    def restartable() -> Any:
        app = build_application(
            settings, timetable=harness.app.bot_data["services"].timetable, store=harness.store,
            clock=harness.clock, auto_dispatch=False, persistence=conversation_store(settings))
        app.bot_data["per_chat_interval"] = 0.0
        return app

    await enrol_all(harness)
    await harness.command(AGRI, "report", "7 已完成")
    request = review_request(harness, 0, 7, AGRI_UNIT)
    first = restartable()
    await first.initialize()
    chat = ScriptedChat(first, harness.api, ADMIN)
    chat.offset = harness.offset
    prompt = await chat.press(LEADER, request["message_id"],
                              button(request, "v|7|agriculture-rural|2026|r"), chat_id=GROUP)
    await first.shutdown()  # the bot stops (persistence is flushed)
    second = restartable()
    await second.initialize()  # and starts again, reading what it kept
    again = ScriptedChat(second, harness.api, ADMIN)
    again.offset = chat.offset
    try:
        await again.say(LEADER, "请补充照片", reply_to=prompt[0]["message_id"], chat_id=GROUP)
    finally:
        await second.shutdown()
    assert [r.decision for r in harness.store.reviews(2026).values()] == ["returned"]


async def test_a_number_before_a_status_names_the_task(harness: Harness) -> None:
    await enrol_all(harness)
    listing = await harness.command(ECOLOGY, "mytasks")
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], "t|15|ecology-environment")
    await harness.press(ECOLOGY, card[-1]["message_id"], "r|15|p|2026|ecology-environment")
    await harness.say(ECOLOGY, "16 已完成")  # within the note window, but about task 16
    assert harness.store.latest_reports(2026, 16)[(16, "ecology-environment")].status == "done"
    assert harness.store.latest_reports(2026, 15)[(15, "ecology-environment")].note == ""


async def test_in_january_overdue_lists_last_cycles_followed_units(harness: Harness) -> None:
    await enrol_all(harness)
    await run_at(harness, at(12, 1))  # the overdue notices of 2026 go out
    harness.clock.set(dt.datetime(2027, 1, 5, 10, tzinfo=SHANGHAI))
    shown = "\n".join(m["text"] for m in await harness.command(LEADER, "overdue"))
    assert "2026" in shown and "2027" in shown
    assert "Agriculture" in shown.split("2027")[0]  # a unit still late on 2026
    harness.clock.set(dt.datetime(2027, 4, 1, 10, tzinfo=SHANGHAI))
    later = "\n".join(m["text"] for m in await harness.command(LEADER, "overdue"))
    assert "cycle 2026" not in later  # from April on, this cycle only


async def test_the_last_day_says_so(harness: Harness) -> None:
    await enrol_all(harness)
    harness.clock.set(at(11, 30, 10))
    mine = "\n".join(m["text"] for m in await harness.command(ECOLOGY, "mytasks"))
    assert "今天截止" in mine or "今天是最后一天" in mine
    assert "剩余0天" not in mine


# 4 and 5: a unit followed up after its cutoff -----------------------------------------------
async def chased_days(harness: Harness, first: int, last: int) -> dict[int, str]:
    """Run the dispatcher each December day; the days a reminder about task 7 reached AGRI."""
    found: dict[int, str] = {}
    for day in range(first, last + 1):
        mark = last_id(harness, AGRI)
        await run_at(harness, at(12, day))
        for message in reminders_in(harness, AGRI, mark):
            if 7 in tasks_of(message):
                found[day] = message["text"]
    return found


async def test_an_extension_approved_after_the_overdue_notice_brings_reminders_again(
        harness: Harness) -> None:
    """docs/workflow.md: an approved extension moves the unit's reminders to the new cutoff,
    even when the old one has passed and its overdue notice went out."""
    await enrol_all(harness)
    await run_at(harness, at(12, 1))
    assert any(m["text"].startswith("🔴") and 7 in tasks_of(m)
               for m in reminders_in(harness, AGRI))
    harness.clock.set(at(12, 2, 10))
    group_mark = last_id(harness, GROUP)
    await harness.command(AGRI, "extend", "7 12月20日 绿肥种子未到货")
    [request] = newest(harness, GROUP, group_mark)
    approve, _ = button_data(request)
    await harness.press(LEADER, request["message_id"], approve, chat_id=GROUP)
    days = await chased_days(harness, 3, 29)
    # New cutoff Monday 21 December: 14 days before (Monday 7th), 7 (14th), 3 and 1 (the 18th
    # and Sunday 20th make one on Friday 18th), then overdue on the 21st and a week later.
    assert sorted(days) == [7, 14, 18, 21, 28]
    assert days[7].startswith("⏰ 提醒：第7项任务")
    assert days[21].startswith("🔴 逾期：第7项任务") and "已逾期1天" in days[21]
    assert "已逾期8天" in days[28]
    rows = [r for r in harness.store.reminders_for_cycle(2026)
            if r.chat_id == AGRI and r.task_id == 7 and r.kind == "overdue"]
    # the notice about the old cutoff stays on record as sent
    assert {(r.cutoff, r.offset_days, r.state) for r in rows if r.state == "sent"} == {
        (dt.date(2026, 12, 1), 0, "sent"), (dt.date(2026, 12, 21), 0, "sent"),
        (dt.date(2026, 12, 21), 7, "sent")}


async def test_a_report_returned_after_the_cutoff_is_chased_again(harness: Harness) -> None:
    await enrol_all(harness)
    await run_at(harness, at(12, 1))
    harness.clock.set(at(12, 2, 10))
    await harness.command(AGRI, "report", "7 已完成")
    assert await chased_days(harness, 3, 8) == {}  # reported done: the repeat is not sent
    harness.clock.set(at(12, 9, 10))
    unit_mark = last_id(harness, AGRI)
    await return_report(harness, 7, AGRI_UNIT, "缺少验收材料")
    [told] = newest(harness, AGRI, unit_mark)
    assert "缺少验收材料" in told["text"]
    assert "下次提醒：2026年12月15日" in told["text"]  # what follows is true
    days = await chased_days(harness, 10, 16)
    assert sorted(days) == [15]
    assert days[15].startswith("🔴 逾期：第7项任务") and "已逾期15天" in days[15]


async def test_a_return_after_the_last_follow_up_says_none_is_planned(harness: Harness) -> None:
    await enrol_all(harness)
    harness.clock.set(at(12, 30, 10))
    await harness.command(AGRI, "report", "7 已完成")
    unit_mark = last_id(harness, AGRI)
    await return_report(harness, 7, AGRI_UNIT, "缺少验收材料")
    [told] = newest(harness, AGRI, unit_mark)
    assert "本周期不再安排提醒" in told["text"] and "下次提醒" not in told["text"]
