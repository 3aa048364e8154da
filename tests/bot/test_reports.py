"""/export, /scores and /bulletin end to end: the real bot, the Bot API stand-in, the store."""

from __future__ import annotations

import datetime as dt
import io
import re

from openpyxl import load_workbook

from bot.i18n import translator
from bot.reports.record import collect, unit_scores
from schedules.model import Timetable
from tests.bot.conftest import ECOLOGY, LEADER, REFORM, SHANGHAI, Harness


async def _cycle(harness: Harness) -> None:
    """生态环境局 finishes task 15 early and leaves 16 in progress; 发展改革局 is silent."""
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(REFORM, "发展改革局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "report", "15 已完成 监测报告已报送")
    await harness.command(ECOLOGY, "report", "16 进行中 50%")
    harness.clock.set(dt.datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI))


async def test_export_sends_the_ledger_naming_the_reporter(harness: Harness) -> None:
    await _cycle(harness)
    [sent] = await harness.command(LEADER, "export")
    assert sent["document"]["file_name"] == "duban-2026-20261203.xlsx"
    book = load_workbook(io.BytesIO(harness.api.file(sent["document"]["file_id"]).content))
    assert book.sheetnames[0] == "Ledger"  # the leader reads English
    rows = {(r[0], r[6]): r for r in book["Ledger"].iter_rows(min_row=2, values_only=True)}
    fifteen = rows[(15, "Ecology and Environment Bureau")]
    assert fifteen[8] == "reported done, awaiting review"
    assert fifteen[10] == "监测报告已报送" and fifteen[12] == "王芳"  # a name, not 3001
    assert rows[(16, "Ecology and Environment Bureau")][8] == "in progress, overdue"


async def test_scores_match_the_rules_on_the_database(harness: Harness,
                                                      timetable: Timetable) -> None:
    await _cycle(harness)
    pages = await harness.command(LEADER, "scores")
    text = "\n".join(p["text"] for p in pages)
    assert text.startswith("Scorecard of cycle 2026, as of December 3, 2026")
    t = translator("en")
    scores = {s.unit_id: s for s in unit_scores(
        timetable, collect(harness.store, 2026), dt.date(2026, 12, 3), t.zone)}
    ecology = scores["ecology-environment"]
    assert (ecology.on_time, ecology.missing) == (1, len(ecology.duties) - 1)
    block = text.split("Ecology and Environment Bureau\n", 1)[1].split("\n\n", 1)[0]
    assert f"{len(ecology.duties)} tasks to deliver · on time 1 · finished late 0 · " \
           f"missing {ecology.missing}" in block
    assert "on average 14 days early" in block  # done on 16 November, due 30 November
    reform = text.split("Development and Reform Bureau\n", 1)[1].split("\n\n", 1)[0]
    assert "on time 0" in reform and "not reminded yet" in reform


async def test_scores_are_for_leaders_and_take_a_year(harness: Harness) -> None:
    await _cycle(harness)
    refused = await harness.command(ECOLOGY, "scores")
    assert "/scores" not in refused[0]["text"] and len(refused) == 1
    bad = await harness.command(LEADER, "scores", "20x6")
    assert re.search(r"Usage: /scores \[year\]", bad[-1]["text"])
    older = await harness.command(LEADER, "scores", "2025")  # nothing recorded in 2025
    assert older[0]["text"].startswith("No records for 2025:")


async def test_bulletin_is_a_notice_for_leaders_to_forward(harness: Harness) -> None:
    await _cycle(harness)
    await harness.command(LEADER, "lang", "zh")
    pages = await harness.command(LEADER, "bulletin")
    text = "\n".join(p["text"] for p in pages)
    assert text.startswith("关于2026年度目标任务进展情况的通报")
    assert "生态环境局：第15项提前14天（待审核）。" in text  # reported on 16 November
    overdue = text.split("二、逾期未完成任务的单位", 1)[1].split("三、", 1)[0]
    assert re.search(r"\n\u3000\u3000发展改革局(（\d+项）)?：第\d", overdue), overdue
    assert all(line.count("逾期") == 1 for line in overdue.split("\n") if "：第" in line)
    assert [p.get("reply_markup") for p in pages] == [None] * len(pages)  # nothing to press
    refused = await harness.command(ECOLOGY, "bulletin")
    assert "通报" not in refused[0]["text"]


async def test_the_report_commands_are_in_the_leaders_and_the_groups_menus(
        harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    wanted = {"export", "scores", "bulletin"}
    leader = {c["command"]: c["description"]
              for c in harness.api.commands_for({"type": "chat", "chat_id": LEADER}, "")}
    assert wanted <= set(leader)
    assert leader["bulletin"] == "a draft bulletin (通报) to forward"  # the leader reads English
    groups = harness.api.commands_for({"type": "all_group_chats"}, "")
    assert {"scores", "bulletin"} <= {c["command"] for c in groups}
    contact = harness.api.commands_for({"type": "chat", "chat_id": ECOLOGY}, "")
    assert not wanted & {c["command"] for c in contact}
    help_text = (await harness.command(LEADER, "help"))[0]["text"]
    assert "/scores [year]" in help_text and "/bulletin [year]" in help_text
