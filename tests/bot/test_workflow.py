"""The supervision workflow (docs/workflow.md) end to end, through the Bot API stand-in.

Runs on SQLite and on PostgreSQL: cooperating inputs and the lead's consolidated status, joint
tasks, acknowledgements, extensions, review and close, urging, the permissions of each, their
effect on reminders, the summaries and the export, and the audit trail.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from openpyxl import load_workbook

from bot.reminders import DispatchReport, dispatch_due
from tests.bot.conftest import (
    ADMIN,
    ECOLOGY,
    LEADER,
    REFORM,
    SHANGHAI,
    Harness,
    button,
    button_data,
)

AGRI = 3004  # contact of 农业农村局: lead of task 7, cooperating on 11 and 23
STATS = 3005  # contact of 统计局: cooperating on task 7
GROUP = -100777  # the leadership group: the leader and two contacts are members
ECOLOGY_UNIT = "ecology-environment"
AGRI_UNIT = "agriculture-rural"


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


async def run_at(harness: Harness, when: dt.datetime) -> DispatchReport:
    harness.clock.set(when)
    return await dispatch_due(harness.app, when)


def newest(harness: Harness, chat_id: int, after: int = 0) -> list[dict[str, Any]]:
    return [m for m in harness.api.bot_messages(chat_id) if m["message_id"] > after]


def last_id(harness: Harness, chat_id: int) -> int:
    return max([m["message_id"] for m in harness.api.messages(chat_id)] or [0])


def reminders_in(harness: Harness, chat_id: int, after: int = 0) -> list[dict[str, Any]]:
    return [m for m in newest(harness, chat_id, after)
            if any(d.startswith("a|") for d in button_data(m))]


def tasks_of(message: dict[str, Any]) -> list[int]:
    return sorted({int(d.split("|")[1]) for d in button_data(message)
                   if d.startswith(("t|", "r|"))})


def line_of(text: str, number: int) -> str:
    return next(line for line in text.split("\n") if f" {number}. " in line)


def plain(text: str) -> str:
    """Babel writes a narrow no-break space before AM/PM."""
    return text.replace("\u202f", " ")


async def summary(harness: Harness) -> str:
    return "\n".join(p["text"] for p in await harness.command(LEADER, "summary"))


async def enrol_all(harness: Harness) -> None:
    harness.api.add_user(AGRI, "李农", "zh-hans")
    harness.api.add_user(STATS, "赵统", "zh-hans")
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(AGRI, "农业农村局")
    await harness.enrol(STATS, "统计局")
    await harness.enrol(REFORM, "发展改革局")
    harness.api.add_group(GROUP, "降碳领导小组")
    await harness.bind(LEADER, GROUP)


def review_request(harness: Harness, after: int, task: int, unit: str) -> dict[str, Any]:
    """The leadership group's message asking to review a unit's report of done."""
    wanted = f"v|{task}|{unit}|2026|c"
    return next(m for m in newest(harness, GROUP, after)
                if any(d == wanted or d.startswith(wanted + "|") for d in button_data(m)))


def last_answer(harness: Harness) -> str | None:
    text: str | None = harness.api.calls("answerCallbackQuery")[-1].params.get("text")
    return text


# -- cooperating inputs and the consolidated status --------------------------------------------
async def test_a_cooperating_input_goes_to_the_lead_and_only_the_lead_files_the_status(
        harness: Harness) -> None:
    await enrol_all(harness)
    lead_mark, leader_mark = last_id(harness, ECOLOGY), last_id(harness, GROUP)
    # 发展改革局 cooperates on task 11 (生态环境局 leads): its report is an input.
    told = await harness.command(REFORM, "report", "11 done the plan has been drafted")
    assert "passed to the lead unit (Ecology and Environment Bureau)" in told[-1]["text"]
    [forwarded] = newest(harness, ECOLOGY, lead_mark)
    assert forwarded["text"].startswith("📥 配合单位发展改革局报送第11项任务（2026年）：🔵 已完成")
    assert "the plan has been drafted" in forwarded["text"]
    assert newest(harness, GROUP, leader_mark) == []  # an input is not for review
    assert line_of(await summary(harness), 11).startswith("⚪")  # nor the task's status
    await harness.command(AGRI, "report", "11 进行中 30% 宣传册印刷中")
    # The lead unit's /task shows every input; a cooperating unit sees the consolidated status
    # and its own input.
    lead_view = (await harness.command(ECOLOGY, "task", "11"))[0]["text"]
    assert "牵头单位汇总情况" in lead_view and "配合单位报送情况" in lead_view
    assert "the plan has been drafted" in lead_view and "宣传册印刷中" in lead_view
    assert "r|11|d|2026|ecology-environment" in button_data(
        (await harness.command(ECOLOGY, "task", "11"))[-1])
    own_view = (await harness.command(AGRI, "task", "11"))[0]["text"]
    assert "生态环境局 (牵头)" in own_view and "宣传册印刷中" in own_view
    assert "the plan has been drafted" not in own_view
    refused = await harness.command(AGRI, "task", "8")  # not one of their units' tasks
    assert "不是贵单位的任务" in refused[0]["text"] or "不属于" in refused[0]["text"]
    # The lead files the consolidated status: done is reported for review.
    leader_mark = last_id(harness, GROUP)
    stored = await harness.command(ECOLOGY, "report", "11 已完成 活动已全部开展")
    assert "已提请领导审核" in stored[-1]["text"]
    request = review_request(harness, leader_mark, 11, ECOLOGY_UNIT)
    assert request["text"].startswith("🔵 生态环境局报送第11项任务（2026年）已完成")
    assert line_of(await summary(harness), 11).startswith("🔵")
    assert harness.api.unanswered_callbacks() == []


async def test_a_joint_task_is_done_when_every_joint_unit_is(harness: Harness) -> None:
    await enrol_all(harness)
    await harness.command(ECOLOGY, "report", "26 已完成")
    view = (await harness.command(LEADER, "task", "26"))[0]["text"]
    assert "Each joint unit's part" in view and "Consolidated status" not in view
    assert view.count("(joint)") == 6
    assert line_of(await summary(harness), 26).startswith("🟡")  # one of six
    now = harness.clock.now()
    others = ["development-reform", "market-regulation", "government-logistics",
              "industry-it", "science-technology-big-data"]
    for unit in others:
        harness.store.add_report(26, unit, 2026, "done", None, "", ADMIN, now, "cli")
    assert line_of(await summary(harness), 26).startswith("🔵")
    facts = harness.store.cycle_facts(2026, 26)
    for unit in [ECOLOGY_UNIT, *others]:
        report = facts.reports[(26, unit)]
        assert report.id is not None
        harness.store.add_review(report.id, "confirmed", "", LEADER, now)
    assert line_of(await summary(harness), 26).startswith("🟢")


# -- acknowledgement -------------------------------------------------------------------------
async def test_acknowledgements_show_in_the_task(harness: Harness) -> None:
    await enrol_all(harness)
    await run_at(harness, at(10, 30))
    [daily] = reminders_in(harness, AGRI)
    assert tasks_of(daily) == [7, 11, 23]
    await harness.press(AGRI, daily["message_id"], next(
        d for d in button_data(daily) if d.startswith("a|")))
    harness.clock.set(at(10, 30, 11))
    view = (await harness.command(LEADER, "task", "7"))[0]["text"]
    lead_part = view.split("Inputs of the cooperating units")[0]
    assert "👌 acknowledged by 李农 on 10/30/26, 9:00 AM" in plain(lead_part)
    assert "👌 not acknowledged yet" in view.split("Inputs of the cooperating units")[1]
    # 统计局 did not press 收到: two working days later it is reminded once more.
    await run_at(harness, at(11, 3))
    [again] = reminders_in(harness, STATS, reminders_in(harness, STATS)[0]["message_id"])
    assert again["text"].startswith("👌 请签收：4项任务")
    assert "⚪ 7. 发展低碳农业 (配合) · 剩余27天 · 尚未报送 · 👌 尚未签收" in again["text"]
    assert reminders_in(harness, AGRI, daily["message_id"]) == []
    await run_at(harness, at(11, 4))
    assert len(reminders_in(harness, STATS)) == 2  # once only


# -- review and close ------------------------------------------------------------------------
async def test_review_return_and_confirm(harness: Harness) -> None:
    await enrol_all(harness)
    group_mark = last_id(harness, GROUP)
    await harness.command(ECOLOGY, "report", "11 已完成")
    request = review_request(harness, group_mark, 11, ECOLOGY_UNIT)
    # A contact in the leadership group cannot review.
    await harness.press(ECOLOGY, request["message_id"],
                        button(request, "v|11|ecology-environment|2026|c"),
                        chat_id=GROUP)
    assert last_answer(harness) == "该按钮不是给您的。"
    assert harness.store.reviews(2026) == {}
    # The leader returns it with a comment: it goes back to the unit, which is reminded again.
    prompt = await harness.press(LEADER, request["message_id"],
                                 button(request, "v|11|ecology-environment|2026|r"), chat_id=GROUP)
    assert "Reply to this message" in prompt[0]["text"]
    sent = harness.api.calls("sendMessage")[-1].params
    assert "force_reply" in str(sent.get("reply_markup"))
    unit_mark = last_id(harness, ECOLOGY)
    done = await harness.say(LEADER, "请补充活动照片", reply_to=prompt[0]["message_id"],
                             chat_id=GROUP)
    assert "returned to Ecology and Environment Bureau" in done[0]["text"]
    [returned] = newest(harness, ECOLOGY, unit_mark)
    assert returned["text"].startswith(
        "↩️ Leader Li将第11项任务（2026年）退回生态环境局：请补充活动照片")
    assert "r|11|d|2026|ecology-environment" in button_data(returned)
    assert line_of(await summary(harness), 11).startswith("🟡")
    view = (await harness.command(LEADER, "task", "11"))[0]["text"]
    assert "↩️ returned by Leader Li on" in view and "请补充活动照片" in view
    await run_at(harness, at(11, 17))
    [daily] = reminders_in(harness, ECOLOGY, unit_mark)
    assert 11 in tasks_of(daily) and "↩️ 已退回" in line_of(daily["text"], 11)
    # Reported done again, then confirmed: closed, no more reminders, no more reports.
    group_mark = last_id(harness, GROUP)
    harness.clock.set(at(11, 17, 10))
    await harness.press(ECOLOGY, returned["message_id"], "r|11|d|2026|ecology-environment")
    request = review_request(harness, group_mark, 11, ECOLOGY_UNIT)
    unit_mark = last_id(harness, ECOLOGY)
    confirmed = await harness.press(LEADER, request["message_id"],
                                    button(request, "v|11|ecology-environment|2026|c"),
                                    chat_id=GROUP)
    assert "Task 11 confirmed done for Ecology and Environment Bureau" in confirmed[-1]["text"]
    [closed] = newest(harness, ECOLOGY, unit_mark)
    assert closed["text"].startswith("🟢 Leader Li于") and "予以销号" in closed["text"]
    assert line_of(await summary(harness), 11).startswith("🟢")
    again = await harness.command(ECOLOGY, "report", "11 进行中")
    assert "已审结销号" in again[0]["text"]
    assert harness.store.latest_reports(2026, 11)[(11, ECOLOGY_UNIT)].status == "done"
    stale = await harness.press(LEADER, request["message_id"],
                                button(request, "v|11|ecology-environment|2026|r"), chat_id=GROUP)
    assert "nothing to review" in stale[-1]["text"]
    await run_at(harness, at(11, 24))
    [later] = reminders_in(harness, ECOLOGY, unit_mark)
    assert 11 not in tasks_of(later)
    assert "No report of done is waiting" in (await harness.command(LEADER, "review"))[0]["text"]
    actions = [e.action for e in harness.store.workflow_log(50, 11)]
    assert actions.count("review.returned") == 1 and actions.count("review.confirmed") == 1
    assert harness.api.unanswered_callbacks() == []


async def test_review_list_offers_every_report_awaiting_review(harness: Harness) -> None:
    await enrol_all(harness)
    await harness.command(AGRI, "report", "7 已完成")
    await harness.command(ECOLOGY, "report", "15 已完成")
    listing = await harness.command(LEADER, "review")
    text = listing[0]["text"]
    assert "1. 🔵 7." in text and "2. 🔵 15." in text
    assert [d.rsplit("|", 1)[0] for d in button_data(listing[0])] == [
        "v|7|agriculture-rural|2026|c", "v|7|agriculture-rural|2026|r",
        "v|15|ecology-environment|2026|c", "v|15|ecology-environment|2026|r"]


# -- extension -------------------------------------------------------------------------------
async def test_an_approved_extension_moves_the_overdue_notice(harness: Harness) -> None:
    await enrol_all(harness)
    group_mark = last_id(harness, GROUP)
    asked = await harness.command(AGRI, "extend", "7 12月20日 绿肥种子未到货")
    assert "延期至2026年12月20日的申请已提交，待领导审批" in asked[0]["text"]
    [request] = newest(harness, GROUP, group_mark)
    assert "农业农村局申请将第7项任务（2026年）截止日期由2026年11月30日延至2026年12月20日" in \
        request["text"] and "绿肥种子未到货" in request["text"] and "李农" in request["text"]
    [approve, reject] = button_data(request)
    assert approve.startswith("x|") and approve.endswith("|a") and reject.endswith("|r")
    # A contact in the leadership group cannot decide it.
    await harness.press(AGRI, request["message_id"], approve, chat_id=GROUP)
    assert last_answer(harness) == "该按钮不是给您的。"
    [(_, [pending])] = harness.store.extensions(2026, 7).items()
    assert pending.state == "pending"
    again = await harness.command(AGRI, "extend", "7 12-25 再等等")
    assert "已有一份延期申请待审批" in again[0]["text"]
    unit_mark = last_id(harness, AGRI)
    await harness.press(LEADER, request["message_id"], approve, chat_id=GROUP)
    [told] = newest(harness, AGRI, unit_mark)
    assert ("Leader Li已同意农业农村局第7项任务（2026年）延期：新的截止日期为2026年12月20日"
            in told["text"])
    assert "📅 extended to December 20, 2026" in line_of(await summary(harness), 7)
    # Reminders follow the new cutoff: no overdue notice on 1 December, one on 21 December.
    for day in (at(11, 17), at(11, 24), at(11, 27), at(11, 30), at(12, 1)):
        mark = last_id(harness, AGRI)
        await run_at(harness, day)
        for message in reminders_in(harness, AGRI, mark):
            assert 7 not in tasks_of(message) or day == at(11, 17) or day == at(11, 24), day
    assert not any(m["text"].startswith("🔴") for m in reminders_in(harness, AGRI))
    mark = last_id(harness, AGRI)
    await run_at(harness, at(12, 18))
    [late_reminder] = reminders_in(harness, AGRI, mark)
    assert late_reminder["text"].startswith("⏰ 提醒：第7项任务") and "剩余2天" in \
        late_reminder["text"]
    mark = last_id(harness, AGRI)
    await run_at(harness, at(12, 21))
    [overdue] = reminders_in(harness, AGRI, mark)
    assert overdue["text"].startswith("🔴 逾期：第7项任务已过截止日期")
    assert "已逾期1天" in overdue["text"]
    # The export marks it.
    sent = await harness.command(LEADER, "export")
    workbook = load_workbook(io.BytesIO(harness.api.file(sent[0]["document"]["file_id"]).content))
    [row] = [r for r in workbook["Summary"].iter_rows(min_row=2, values_only=True) if r[0] == 7]
    assert row[10] == "Agriculture and Rural Affairs Bureau: extended to 2026-12-20"
    assert row[3] == "red"  # overdue against the new cutoff too
    assert row[2].endswith(", overdue")


async def test_a_rejected_extension_tells_the_unit_why(harness: Harness) -> None:
    await enrol_all(harness)
    group_mark = last_id(harness, GROUP)
    bad = await harness.command(AGRI, "extend", "7 11-20 太早")
    assert "须晚于当前截止日期（2026年11月30日）" in bad[0]["text"]
    no_reason = await harness.command(AGRI, "extend", "7 12-20")
    assert no_reason[0]["text"].startswith("请在日期后写明理由")
    await harness.command(AGRI, "extend", "11 2026-12-10 人手不足")  # a cooperating unit may ask
    [request] = newest(harness, GROUP, group_mark)
    reject = button_data(request)[1]
    prompt = await harness.press(LEADER, request["message_id"], reject, chat_id=GROUP)
    unit_mark = last_id(harness, AGRI)
    await harness.say(LEADER, "理由不充分，请按期完成", reply_to=prompt[0]["message_id"],
                      chat_id=GROUP)
    [told] = newest(harness, AGRI, unit_mark)
    assert told["text"].startswith(
        "❌ Leader Li驳回了农业农村局第11项任务（2026年）的延期申请：理由不充分")
    assert "截止日期不变" in told["text"]
    [(_, [decided])] = harness.store.extensions(2026, 11).items()
    assert (decided.state, decided.decision_comment) == ("rejected", "理由不充分，请按期完成")
    late = await harness.press(LEADER, request["message_id"], button_data(request)[0],
                               chat_id=GROUP)
    assert late == []  # decided already: only the button's answer says so
    assert last_answer(harness) == "This extension request has already been decided."


# -- urging ----------------------------------------------------------------------------------
async def test_a_leader_urges_a_unit_once_a_day(harness: Harness) -> None:
    await enrol_all(harness)
    view = await harness.command(LEADER, "task", "7", chat_id=GROUP)
    urge = "u|7|agriculture-rural|2026"
    assert urge in button_data(view[-1]) and "u|7|statistics|2026" in button_data(view[-1])
    # A contact in the leadership group cannot urge.
    await harness.press(ECOLOGY, view[-1]["message_id"], urge, chat_id=GROUP)
    assert last_answer(harness) == "该按钮不是给您的。"
    assert harness.store.urges(2026) == []
    unit_mark = last_id(harness, AGRI)
    done = await harness.press(LEADER, view[-1]["message_id"], urge, chat_id=GROUP)
    assert "Agriculture and Rural Affairs Bureau urged on task 7" in done[-1]["text"]
    [urgent] = newest(harness, AGRI, unit_mark)
    assert urgent["text"].startswith("📣 催办：第7项任务")
    assert "Leader Li于2026/11/16 10:00催办农业农村局第7项任务“发展低碳农业”" in urgent["text"]
    assert "r|7|d|2026|agriculture-rural" in button_data(urgent)
    await harness.press(LEADER, view[-1]["message_id"], urge, chat_id=GROUP)  # the same day
    assert last_answer(harness) == (
        "Agriculture and Rural Affairs Bureau was urged on this task today already.")
    assert len(newest(harness, AGRI, unit_mark)) == 1 and len(harness.store.urges(2026)) == 1
    shown = (await harness.command(LEADER, "task", "7"))[0]["text"]
    assert "📣 urged by Leader Li on 11/16/26, 10:00 AM" in plain(shown)
    # After the cutoff /overdue offers 催办 for each late unit; a new day allows a new urge.
    harness.clock.set(at(12, 2, 10))
    late = await harness.command(LEADER, "overdue")
    assert urge in button_data(late[-1])
    await harness.press(LEADER, late[-1]["message_id"], urge)
    assert len(harness.store.urges(2026)) == 2


# -- bulk reports, and the audit trail ---------------------------------------------------------
async def test_all_in_progress_reports_every_task_listed(harness: Harness) -> None:
    await enrol_all(harness)
    await run_at(harness, at(11, 17))
    [daily] = reminders_in(harness, AGRI)
    bulk = next(d for d in button_data(daily) if d.startswith("b|") and d.endswith("|p"))
    lead_mark = last_id(harness, ECOLOGY)
    stored = await harness.press(AGRI, daily["message_id"], bulk)
    assert stored[0]["text"].startswith("已将第7, 11, 23项任务记录为“进行中”。")
    latest = harness.store.latest_reports(2026, None, AGRI_UNIT)
    assert {task: r.status for (task, _), r in latest.items()} == {
        7: "in_progress", 11: "in_progress", 23: "in_progress"}
    assert len(newest(harness, ECOLOGY, lead_mark)) == 2  # inputs on 11 and 23 to their lead
    await harness.command(AGRI, "report", "7 已完成")
    again = await harness.press(AGRI, daily["message_id"], bulk)
    assert "未变更（已报完成、已审结或已关闭）：第7项任务" in again[0]["text"]
    assert harness.store.latest_reports(2026, 7, AGRI_UNIT)[(7, AGRI_UNIT)].status == "done"


async def test_admins_read_the_workflow_log(harness: Harness) -> None:
    await enrol_all(harness)
    await harness.command(AGRI, "report", "7 已完成")
    await harness.command(AGRI, "extend", "11 12-10 人手不足")
    view = await harness.command(LEADER, "task", "7")
    await harness.press(LEADER, view[-1]["message_id"], "u|7|statistics|2026")
    await harness.press(LEADER, view[-1]["message_id"],
                        button(view[-1], "v|7|agriculture-rural|2026|c"))
    assert last_answer(harness) == "Confirmed."
    log = (await harness.command(ADMIN, "audit"))[0]["text"]
    lines = log.split("\n")
    assert lines[0] == "工作流程记录"
    assert "Leader Li · 审结 · 第7项任务 · 2026 · 农业农村局" in lines[1]
    assert "Leader Li · 催办 · 第7项任务 · 2026 · 统计局" in lines[2]
    assert "李农 · 申请延期 · 第11项任务 · 2026 · 农业农村局 · 2026-12-10 · 人手不足" in lines[3]
    assert "李农 · 报送 · 第7项任务 · 2026 · 农业农村局 · 已完成" in lines[4]
    only_11 = (await harness.command(ADMIN, "audit", "11"))[0]["text"]
    assert "第11项任务" in only_11 and "第7项任务" not in only_11
    refused = await harness.command(LEADER, "audit")
    assert "admins" in refused[0]["text"]
