"""What happens around a report: which cycle a button or a reply under a notice acts on, when a
message was sent, Telegram's errors on answers and notices, groups that moved or closed, and
who may review or enrol whom.

Each test drives the real bot through the Bot API stand-in on SQLite and PostgreSQL; the rules
are written down in docs/chat.md and docs/access.md.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bot.reminders import dispatch_due
from tests.bot.conftest import (
    ADMIN,
    ECOLOGY,
    LEADER,
    SHANGHAI,
    Harness,
    button_data,
    error_notices,
    texts,
)

ECO = "ecology-environment"
GROUP = -100777


def closed_notices(harness: Harness) -> list[str]:
    """What the admins were told of a bound group that takes no message."""
    return [m["text"] for m in harness.api.bot_messages(ADMIN)
            if m["text"].startswith("🚫") and str(GROUP) in m["text"]]


def review_requests(harness: Harness, chat_id: int) -> list[dict]:
    return [m for m in harness.api.bot_messages(chat_id)
            if any(d.startswith("v|") for d in button_data(m))]


async def card(harness: Harness, task: int = 15) -> dict:
    listing = await harness.command(ECOLOGY, "mytasks")
    message = next(m for m in listing if any(d.startswith(f"t|{task}|{ECO}")
                                             for d in button_data(m)))
    data = next(d for d in button_data(message) if d.startswith(f"t|{task}|{ECO}"))
    return (await harness.press(ECOLOGY, message["message_id"], data))[0]


# -- answering a press is cosmetic ---------------------------------------------------------------
@pytest.mark.parametrize(("code", "description", "retry_after"), [
    (429, None, 3),
    (400, "Bad Request: query is too old and response timeout expired or query ID is invalid",
     None),
    (502, None, None),
])
async def test_a_failed_answer_to_a_press_never_loses_the_report(
        harness: Harness, code: int, description: str | None, retry_after: int | None) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    shown = await card(harness)
    harness.api.fail_next("answerCallbackQuery", code, description, retry_after=retry_after)
    ack = await harness.press(ECOLOGY, shown["message_id"], f"r|15|d|2026|{ECO}")
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    assert "已记录第15项任务" in texts(ack) and "出错" not in texts(ack)
    assert error_notices(harness) == []


async def test_a_late_received_press_is_confirmed_by_a_message(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)
    reminder = next(m for m in reversed(harness.api.bot_messages(ECOLOGY))
                    if any(d.startswith("a|") for d in button_data(m)))
    received = next(d for d in button_data(reminder) if d.startswith("a|"))
    harness.api.fail_next("answerCallbackQuery", 400, "Bad Request: query is too old and "
                          "response timeout expired or query ID is invalid")
    told = await harness.press(ECOLOGY, reminder["message_id"], received)
    assert "已记为收到" in texts(told)
    assert harness.store.acknowledgements(2026)
    # Answered in time, the pop-up says it and no message is added.
    again = await harness.press(ECOLOGY, reminder["message_id"], received)
    assert again == []


# -- notices to several chats -------------------------------------------------------------------
@pytest.mark.parametrize(("code", "description"), [
    (400, "Bad Request: chat not found"),
    (400, "Bad Request: not enough rights to send text messages to the chat"),
    (403, "Forbidden: bot was kicked from the supergroup chat"),
])
async def test_a_closed_group_stops_no_notice_and_is_told_once_a_day(
        harness: Harness, code: int, description: str) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, GROUP)
    await harness.command(LEADER, "digest", "on")
    harness.api.refuse_chat(GROUP, code, description)
    ack = await harness.command(ECOLOGY, "report", "15 已完成 材料已报送")
    assert "已记录" in texts(ack) and "无法确定" not in texts(ack)
    assert review_requests(harness, LEADER)  # the leader still gets the review request
    assert error_notices(harness) == []
    told = closed_notices(harness)
    assert len(told) == 1 and f"/unbind {GROUP}" in told[0]
    await harness.command(ECOLOGY, "report", "16 已完成 材料已报送")
    assert len(review_requests(harness, LEADER)) == 2
    assert len(closed_notices(harness)) == 1
    harness.clock.advance(dt.timedelta(days=1))
    await harness.command(ECOLOGY, "report", "11 已完成 材料已报送")
    assert len(closed_notices(harness)) == 2


@pytest.mark.parametrize("description", [
    "Bad Request: not enough rights to send text messages to the chat",
    "Bad Request: CHAT_WRITE_FORBIDDEN",
])
async def test_a_command_in_a_group_the_bot_may_not_write_to_pages_nobody(
        harness: Harness, description: str) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, GROUP)
    harness.api.refuse_chat(GROUP, 400, description)
    await harness.command(LEADER, "summary", chat_id=GROUP)
    await harness.command(LEADER, "task", "15", chat_id=GROUP)
    assert error_notices(harness) == []


async def test_a_bad_notice_is_still_the_bots_fault(harness: Harness) -> None:
    """Only the chat's own refusals are forgiven: a notice Telegram rejects for what it says
    is a bug the admins hear of."""
    from bot.notices import deliver

    await harness.enrol(ECOLOGY, "生态环境局")
    harness.api.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    services = harness.app.bot_data["services"]
    with pytest.raises(Exception, match="parse entities"):
        await deliver(harness.app.bot, services, ECOLOGY, "<b>x", services.translator(None))


# -- groups that became supergroups -----------------------------------------------------------
async def test_a_notice_follows_a_group_that_became_a_supergroup(harness: Harness) -> None:
    old, new = -4001, -1004001
    harness.api.add_group(old, "降碳领导小组", supergroup=False)
    harness.api.add_group(new, "降碳领导小组", supergroup=True)
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, old)
    harness.api.refuse_chat(old, 400, "Bad Request: group chat was upgraded to a supergroup "
                            "chat", {"migrate_to_chat_id": new})
    await harness.command(ECOLOGY, "report", "15 已完成 材料已报送")
    assert [c.chat_id for c in harness.store.leadership_chats()] == [new]
    assert review_requests(harness, new)
    assert error_notices(harness) == []


async def test_a_digest_follows_a_group_that_became_a_supergroup(harness: Harness) -> None:
    old, new = -4001, -1004001
    harness.api.add_group(old, "降碳领导小组", supergroup=False)
    harness.api.add_group(new, "降碳领导小组", supergroup=True)
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, old)
    harness.api.refuse_chat(old, 400, "Bad Request: group chat was upgraded to a supergroup "
                            "chat", {"migrate_to_chat_id": new})
    harness.clock.set(dt.datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI))
    before = len(harness.api.bot_messages(new))
    report = await dispatch_due(harness.app)
    assert [c.chat_id for c in harness.store.leadership_chats()] == [new]
    assert len(harness.api.bot_messages(new)) > before
    assert not report.failed


@pytest.mark.parametrize("side", ["old group", "new group"])
async def test_the_migrate_service_message_moves_the_binding(harness: Harness,
                                                             side: str) -> None:
    from telegram import Update

    old, new = -4001, -1004001
    harness.api.add_group(old, "降碳领导小组", supergroup=False)
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, old)
    if side == "old group":
        chat, moved = {"id": old, "type": "group", "title": "降碳领导小组"}, {
            "migrate_to_chat_id": new}
    else:
        chat, moved = {"id": new, "type": "supergroup", "title": "降碳领导小组"}, {
            "migrate_from_chat_id": old}
    for update_id in (10**6, 10**6 + 1):  # told twice: followed once
        update = Update.de_json({"update_id": update_id, "message": {
            "message_id": 10**5, "date": 1795000000, "chat": chat, **moved}}, harness.app.bot)
        await harness.app.process_update(update)
    assert [c.chat_id for c in harness.store.leadership_chats()] == [new]
    assert len(harness.store.audit_log(action="chat.migrated")) == 1


# -- kinds of message the bot does not keep -------------------------------------------------------
@pytest.mark.parametrize("kind", ["dice", "poll", "venue", "game", "story", "voice"])
async def test_any_kind_of_message_not_kept_gets_the_short_answer(harness: Harness,
                                                                   kind) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    sent = harness.api.send_media(ECOLOGY, kind)
    await harness.pump()
    answer = harness.bot_messages_after(ECOLOGY, sent["message_id"])
    assert len(answer) == 1 and "文件" in answer[0]["text"]
    assert harness.store.latest_reports(2026) == {}


async def test_a_dice_in_a_group_gets_no_answer(harness: Harness) -> None:
    harness.api.add_group(GROUP, "降碳领导小组")
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, GROUP)
    sent = harness.api.send_media(LEADER, "dice", chat_id=GROUP)
    await harness.pump()
    assert harness.bot_messages_after(GROUP, sent["message_id"]) == []


# -- the cycle of a button or a reply under a notice ---------------------------------------------
async def returned_in_november(harness: Harness) -> None:
    """Task 15 reported done for 2026 on 20 November, returned by the leader."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    harness.clock.set(dt.datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI))
    await harness.command(ECOLOGY, "report", "15 已完成 材料已报送")
    review = review_requests(harness, LEADER)[-1]
    prompt = await harness.press(LEADER, review["message_id"], next(
        d for d in button_data(review) if d.split("|")[4] == "r"))
    await harness.say(LEADER, "材料不全，请补充", reply_to=prompt[-1]["message_id"])


@pytest.mark.parametrize("under", ["overdue notice", "mytasks listing", "urge notice"])
async def test_a_task_button_acts_on_its_messages_cycle_whenever_pressed(
        harness: Harness, under: str) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)  # the 2026 overdue notice
    if under == "mytasks listing":
        messages = await harness.command(ECOLOGY, "mytasks")
    elif under == "urge notice":
        listed = await harness.command(LEADER, "overdue")
        message, data = next((m, d) for m in listed for d in button_data(m)
                             if d.startswith(f"u|15|{ECO}"))
        await harness.press(LEADER, message["message_id"], data)
        messages = [m for m in harness.api.bot_messages(ECOLOGY) if "催办" in m["text"]]
    else:
        messages = harness.api.bot_messages(ECOLOGY)
    holder = next(m for m in reversed(messages)
                  if any(d.startswith(("t|15|", "r|15|")) for d in button_data(m)))
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    if any(d.startswith("t|15|") for d in button_data(holder)):
        [shown] = await harness.press(ECOLOGY, holder["message_id"], f"t|15|{ECO}")
        assert "2026" in shown["text"]
        holder = shown
    done = next(d for d in button_data(holder) if d.startswith("r|15|d|"))
    assert done == f"r|15|d|2026|{ECO}"
    await harness.press(ECOLOGY, holder["message_id"], done)
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].status == "done"
    assert harness.store.latest_reports(2027, 15) == {}


async def test_a_returned_cycle_is_open_for_the_year_question(harness: Harness) -> None:
    await returned_in_november(harness)
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    question = await harness.command(ECOLOGY, "report", "15 已完成 已补充材料")
    assert "哪一年度" in question[0]["text"]
    assert [d.split("|")[-1] for d in button_data(question[0])] == ["2026", "2027"]
    assert harness.store.latest_reports(2027, 15) == {}
    await harness.press(ECOLOGY, question[0]["message_id"], button_data(question[0])[0])
    assert harness.store.latest_reports(2026, 15)[(15, ECO)].note == "已补充材料"


async def test_a_confirmed_cycle_is_not_asked_about(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    harness.clock.set(dt.datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI))
    await harness.command(ECOLOGY, "report", "15 已完成 材料已报送")
    review = review_requests(harness, LEADER)[-1]
    await harness.press(LEADER, review["message_id"], next(
        d for d in button_data(review) if d.split("|")[4] == "c"))
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    ack = await harness.command(ECOLOGY, "report", "15 进行中 10%")
    assert "哪一年度" not in texts(ack)
    assert harness.store.latest_reports(2027, 15)[(15, ECO)].progress == 10


@pytest.mark.parametrize(("notice", "when"), [
    ("退回", dt.datetime(2026, 11, 21, 10, 0, tzinfo=SHANGHAI)),
    ("退回", dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI)),
    ("催办", dt.datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)),
    ("催办", dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI)),
])
async def test_a_reply_in_words_to_a_notice_counts_for_its_task_and_cycle(
        harness: Harness, notice: str, when: dt.datetime) -> None:
    await returned_in_november(harness)
    if notice == "催办":
        harness.clock.set(dt.datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))
        listed = await harness.command(LEADER, "overdue")
        message, data = next((m, d) for m in listed for d in button_data(m)
                             if d.startswith(f"u|15|{ECO}"))
        await harness.press(LEADER, message["message_id"], data)
    sent = next(m for m in reversed(harness.api.bot_messages(ECOLOGY)) if notice in m["text"])
    harness.clock.set(when)
    answer = await harness.say(ECOLOGY, "已完成，已补充材料", reply_to=sent["message_id"])
    latest = harness.store.latest_reports(2026, 15)[(15, ECO)]
    assert latest.status == "done" and "已补充材料" in latest.note, texts(answer)
    assert harness.store.latest_reports(2027, 15) == {}
    assert "已记录" in texts(answer)


async def test_a_reply_to_an_extension_decision_counts_for_its_task(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "extend", "15 12-20 设备未到")
    request = next(m for m in reversed(harness.api.bot_messages(LEADER))
                   if any(d.startswith("x|") for d in button_data(m)))
    await harness.press(LEADER, request["message_id"], next(
        d for d in button_data(request) if d.endswith("|a")))
    decided = harness.api.bot_messages(ECOLOGY)[-1]
    assert "延期" in decided["text"]
    await harness.say(ECOLOGY, "进行中 70%，设备已到货", reply_to=decided["message_id"])
    latest = harness.store.latest_reports(2026, 15)[(15, ECO)]
    assert (latest.status, latest.progress) == ("in_progress", 70)


# -- the time of a message is when it was sent ----------------------------------------------------
async def test_a_report_counts_when_it_was_sent_not_when_it_was_handled(
        harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 30, 23, 50, tzinfo=SHANGHAI))
    harness.api.send_command(ECOLOGY, "report", "15 已完成 材料已报送")
    harness.api.send_text(ECOLOGY, "第16项已完成")
    harness.clock.set(dt.datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI))  # a restart overnight
    await harness.pump()
    for task in (15, 16):
        reported = harness.store.latest_reports(2026, task)[(task, ECO)].reported_at
        assert reported.astimezone(SHANGHAI) == dt.datetime(2026, 11, 30, 23, 50,
                                                            tzinfo=SHANGHAI)


async def test_a_report_sent_on_new_years_eve_is_for_the_old_year(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 12, 31, 23, 55, tzinfo=SHANGHAI))
    harness.api.send_command(ECOLOGY, "report", "16 进行中 40%")
    harness.clock.set(dt.datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI))
    await harness.pump()
    assert harness.store.latest_reports(2026, 16)[(16, ECO)].progress == 40
    assert harness.store.latest_reports(2027, 16) == {}


async def test_a_message_dated_in_the_future_counts_now(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI))
    harness.api.send_command(ECOLOGY, "report", "15 进行中 40%")
    harness.clock.set(dt.datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI))  # a clock behind
    await harness.pump()
    reported = harness.store.latest_reports(2026, 15)[(15, ECO)].reported_at
    assert reported.astimezone(SHANGHAI) == dt.datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)


# -- enrolments, links and bindings the admins see; nobody reviews their own unit --------------
def link_code(answer: list[dict]) -> str:
    return answer[-1]["text"].split("start=")[1].split()[0]


async def test_admins_are_told_of_every_enrolment_and_binding(harness: Harness) -> None:
    stranger, group = 9999, -100999
    harness.api.add_group(group, "外人的群")
    code = link_code(await harness.command(ADMIN, "invite", "leader"))
    seen = harness.last_message_id(ADMIN)
    await harness.command(stranger, "start", code)  # a leaked link, opened privately
    told = texts(harness.bot_messages_after(ADMIN, seen))
    assert "路人" in told and "9999" in told and code[:8] in told and "/revoke 9999" in told
    seen = harness.last_message_id(ADMIN)
    await harness.bind(stranger, group)
    told = texts(harness.bot_messages_after(ADMIN, seen))
    assert "外人的群" in told and f"/unbind {group}" in told and "9999" in told
    # A clerk's second unit: the undo takes only that unit away.
    await harness.enrol(ECOLOGY, "生态环境局")
    seen = harness.last_message_id(ADMIN)
    await harness.enrol(ECOLOGY, "林业局")
    told = texts(harness.bot_messages_after(ADMIN, seen))
    assert f"/revoke {ECOLOGY} forestry" in told and "林业局联络员" in told


async def test_an_admin_lists_open_links_and_cancels_one(harness: Harness) -> None:
    first = link_code(await harness.command(ADMIN, "invite", "leader"))
    second = link_code(await harness.command(ADMIN, "invite", "生态环境局"))
    listed = texts(await harness.command(ADMIN, "invites"))
    assert first[:8] in listed and second[:8] in listed and "生态环境局联络员" in listed
    cancelled = texts(await harness.command(ADMIN, "cancel", first[:8]))
    assert "已作废" in cancelled
    refused = texts(await harness.command(LEADER, "start", first))
    assert "expired" in refused and harness.store.get_person(LEADER) is None
    listed = texts(await harness.command(ADMIN, "invites"))
    assert first[:8] not in listed and second[:8] in listed
    assert "没有编号为" in texts(await harness.command(ADMIN, "cancel", first[:8]))
    assert harness.store.audit_log(action="invite.cancelled")
    await harness.command(ECOLOGY, "start", second)  # used: no longer open
    assert "没有尚可使用的登记链接" in texts(await harness.command(ADMIN, "invites"))


@pytest.mark.parametrize("decision", ["c", "r"])
async def test_nobody_reviews_their_own_units_report(harness: Harness, decision: str) -> None:
    other_leader = 2001
    harness.api.add_user(other_leader, "Leader Wu", "en")
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(LEADER, "生态环境局")
    await harness.enrol(other_leader, None, "leader")
    await harness.command(LEADER, "report", "15 已完成")
    mine = review_requests(harness, LEADER)[-1]
    refused = await harness.press(LEADER, mine["message_id"], next(
        d for d in button_data(mine) if d.split("|")[4] == decision))
    assert "another leader must review" in texts(refused)
    assert harness.store.reviews(2026, 15) == {}
    theirs = review_requests(harness, other_leader)[-1]
    await harness.press(other_leader, theirs["message_id"], next(
        d for d in button_data(theirs) if d.split("|")[4] == "c"))
    assert [r.decision for r in harness.store.reviews(2026, 15).values()] == ["confirmed"]


async def test_help_states_the_cycle_and_time_rules(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    shown = texts(await harness.command(ECOLOGY, "help"))
    assert "计入该消息所属年度" in shown and "以您发出消息的时间为准" in shown
    await harness.enrol(LEADER, None, "admin")
    assert "/invites" in texts(await harness.command(LEADER, "help"))


async def test_a_file_question_under_last_years_notice_opens_last_years_task(
        harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    await dispatch_due(harness.app)  # the overdue notice lists several tasks
    notice = next(m for m in reversed(harness.api.bot_messages(ECOLOGY))
                  if len([d for d in button_data(m) if d.startswith("t|")]) > 1)
    harness.clock.set(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
    harness.api.send_document(ECOLOGY, "验收报告.pdf", b"x",
                              reply_to_message_id=notice["message_id"])
    await harness.pump()
    question = harness.api.bot_messages(ECOLOGY)[-1]
    [shown] = await harness.press(ECOLOGY, question["message_id"], f"t|15|{ECO}")
    assert f"r|15|d|2026|{ECO}" in button_data(shown)
