"""``duban demo``: the real bot through one December cycle against the stand-in, offline."""

from __future__ import annotations

import datetime as dt
import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.demo import (
    display_width,
    fit,
    plain_text,
    run_demo,
    transcript_line,
)
from bot.i18n import translator
from bot_api_standin import TranscriptEvent
from storage import Store

LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any connection to a host other than this machine (the demo must stay local)."""
    refused: list[Any] = []
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def local_only(address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in LOCAL_HOSTS:
            refused.append(address)
            raise OSError(f"the demo tried to reach {address}")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        local_only(address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        local_only(address)
        return connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield refused
    assert refused == []


def sections(output: str, language: str) -> tuple[str, str]:
    """The transcript and the final summary of a demo's output."""
    t = translator(language)
    _, transcript_heading, rest = output.partition("== " + t.gettext("Transcript") + " ==")
    assert transcript_heading, output[:500]
    transcript, summary_heading, summary = rest.partition(
        "== " + t.gettext("Final summary") + " ==")
    assert summary_heading, rest[-500:]
    return transcript, summary


def lines_with(text: str, *parts: str) -> list[str]:
    return [line for line in text.splitlines() if all(p in line for p in parts)]


async def test_demo_in_chinese_walks_the_cycle(db_url: str, offline: list[Any]) -> None:
    out = io.StringIO()
    started = time.perf_counter()
    code = await run_demo(out, database_url=db_url)
    elapsed = time.perf_counter() - started
    assert code == 0
    assert elapsed < 45, f"the demo took {elapsed:.1f} s"
    transcript, summary = sections(out.getvalue(), "zh_Hans")
    assert "临时数据库" not in summary  # the database given is kept: nothing to say

    # Enrolment through the admin's deep links; the leader binds the group chat.
    assert lines_with(transcript, "王芳", "→ duban", "/start ")
    assert lines_with(transcript, "duban", "→ 王芳", "生态环境局联络员")
    assert lines_with(transcript, "李组长", "→ 降碳领导小组", "/bind")
    # One reminder a day per person, listing their tasks, buttons in brackets, at 09:00.
    forestry = lines_with(transcript, "→ 刘洋", "⏰ 提醒：2项任务")
    assert len(forestry) == 5, forestry
    assert forestry[0].startswith("10-30 09:00")
    assert "[8] [23]" in forestry[0] and "[⏳ 全部进行中]" in forestry[0]
    assert "[👌 收到]" in forestry[0]
    for name in ("王芳", "张伟", "刘洋"):
        days = [line[:5] for line in lines_with(transcript, "09:00  duban", f"→ {name} ")]
        assert days and len(days) == len(set(days)), name  # never two in a day
    assert len(lines_with(transcript, "→ 王芳", "⏰ 提醒：11项任务")) == 2  # 10-30, 11-17
    # 生态环境局: 进行中 by button on the first reminder, later 已完成 in words.
    assert lines_with(transcript, "10-30 10:00", "王芳 ", "→ duban", "▶ ⏳ 进行中")
    assert lines_with(transcript, "王芳 ", "→ duban", "已完成，报告已报送")
    assert lines_with(transcript, "→ 王芳", "已记录第11项任务", "🔵 已完成")
    # 农业农村局: 收到, so no reminder to acknowledge; then 已完成, which the leader confirms.
    assert lines_with(transcript, "张伟 ", "▶ 👌 收到")
    assert lines_with(transcript, "→ 张伟", "💬 谢谢，已记为收到")
    assert not lines_with(transcript, "→ 张伟", "请签收")
    assert lines_with(transcript, "11-03 09:00", "→ 刘洋", "👌 请签收：2项任务")
    assert lines_with(transcript, "→ 张伟", "已记录第7项任务", "🔵 已完成")
    assert lines_with(transcript, "→ 降碳领导小组", "🔵 农业农村局报送第7项任务（2026年）已完成")
    assert lines_with(transcript, "李组长", "→ 降碳领导小组", "▶ ✅ 审结")
    assert lines_with(transcript, "→ 张伟", "🟢 李组长于", "审结农业农村局第7项任务")
    # 林业局 stays silent, gets the overdue notice on the cutoff day and a week on, and is
    # urged the day after the cutoff.
    overdue = lines_with(transcript, "→ 刘洋", "🔴 逾期：第8项任务已过截止日期")
    assert [line[:11] for line in overdue] == ["12-01 09:00", "12-08 09:00"]
    assert lines_with(transcript, "12-02 10:30", "李组长", "▶ 📣 催办林业局（8）")
    urged = lines_with(transcript, "→ 刘洋", "📣 催办：第8项任务")
    assert len(urged) == 1 and urged[0].startswith("12-02 10:30")
    # 岑城镇's contact blocks the bot; the next reminder run tells the admin.
    blocks = translator("zh_Hans").gettext("{name} blocks the bot.").format(name="陈静")
    assert lines_with(transcript, "⛔ " + blocks)
    told = lines_with(transcript, "→ 周主任", "陈静（2004）已屏蔽本机器人")
    assert told and told[0].startswith("11-17 09:00")
    assert not lines_with(transcript, "→ 陈静", "11-27")
    # The leader asks in the group at the end; weekly digests reached the group before.
    assert lines_with(transcript, "12-08 10:30", "李组长", "/summary")
    assert lines_with(transcript, "12-08 10:30", "李组长", "/overdue")
    assert lines_with(transcript, "12-08 10:30", "→ 降碳领导小组", "2026年度汇总")
    assert lines_with(transcript, "11-02 09:00", "→ 降碳领导小组", "2026年度汇总")
    assert "Summary of cycle" not in transcript  # the Chinese demo's leader reads Chinese
    # Every message whole: a digest shows every task under its heading, nothing is cut.
    digest = transcript.split("11-02 09:00  duban")[1]
    assert "🟡" in digest or "⚪" in digest
    assert all(f" {n}. " in out.getvalue() for n in range(1, 27))
    assert "…" not in transcript.replace("……", "")
    # Terminal text: no HTML left anywhere.
    assert "<b>" not in out.getvalue() and "&lt;" not in out.getvalue()

    # The final summary: 🟢 confirmed, 🔵 reported and awaiting review, 🔴 overdue.
    assert "2026年度汇总" in summary and "截至2026年12月8日" in summary
    assert "🟢 7. 发展低碳农业" in summary
    assert "🔵 11. 低碳生活方式倡导" in summary
    assert "🔴 8. 生态系统碳汇增加情况" in summary
    assert "🟢 1 已审结" in summary and "🔵 1 已报完成，待审核" in summary


async def test_demo_in_english(offline: list[Any]) -> None:
    out = io.StringIO()
    assert await run_demo(out, language="en") == 0
    transcript, summary = sections(out.getvalue(), "en")
    # a temporary database: the demo says how to keep its data for the reports
    assert "temporary database, now removed" in summary
    assert "duban demo --database-url sqlite:///demo.sqlite3" in summary
    assert lines_with(transcript, "→ Liu Yang", "⏰ Reminder: 2 tasks", "[⏳ all in progress]")
    assert lines_with(transcript, "Wang Fang ", "▶ ⏳ in progress")
    assert lines_with(transcript, "Wang Fang ", "→ duban", "done, the report has been filed")
    assert lines_with(transcript, "→ Liu Yang", "🔴 Overdue: task 8 has passed its cutoff")
    assert lines_with(transcript, "→ Director Zhou", "Chen Jing (2004) has blocked the bot")
    assert lines_with(transcript, "10-30 09:00", "→ Director Zhou",
                      "These units have no enrolled contact")
    assert "Summary of cycle 2026" in summary and "as of December 8, 2026" in summary
    assert "🟢 7. " in summary and "🔴 8. " in summary and "🔵 11. " in summary
    assert "was due November 30, 2026, 8 days late" in summary
    assert "已审结" not in summary


def test_duban_demo_through_the_cli(capsys: pytest.CaptureFixture[str],
                                    offline: list[Any]) -> None:
    assert main(["demo", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "🔴 Overdue: task 8" in out and "🔴 8. " in out


def test_the_demo_command_reports_a_missing_timetable(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    assert main(["demo", "--tasks", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().err


async def test_demo_refuses_a_database_in_use(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'in-use.sqlite3'}"
    with Store(url) as store:
        store.upgrade()
        store.add_person(42, "真实管理员", "admin", None, "zh_Hans",
                         dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC))
    out = io.StringIO()
    assert await run_demo(out, database_url=url) == 2
    assert out.getvalue() == ""
    assert "in-use.sqlite3" in capsys.readouterr().err
    with Store(url) as store:
        assert [p.telegram_user_id for p in store.list_people(None, None, False)] == [42]


def test_transcript_shows_each_message_whole() -> None:
    reminder = TranscriptEvent(seq=0, chat_id=7, chat_title="王芳", sender="duban",
                               from_bot=True, kind="message",
                               text="⏰ 提醒：第11项任务\n11. 低碳生活方式倡导\n• 详细事项",
                               buttons=(("✅ 已完成", "⏳ 进行中"), ("👌 收到",)), message_id=3)
    at = dt.datetime(2026, 10, 30, 9, 0)
    first, second, third = transcript_line(reminder, at, set()).split("\n")
    assert first.startswith("10-30 09:00  duban")
    assert "→ 王芳" in first
    assert first.endswith("⏰ 提醒：第11项任务  [✅ 已完成] [⏳ 进行中] [👌 收到]")
    assert second.endswith("  11. 低碳生活方式倡导") and third.endswith("  • 详细事项")
    assert display_width(second) - display_width(second.lstrip()) == display_width(
        first.split("⏰")[0])
    notice = TranscriptEvent(seq=1, chat_id=8, chat_title="周主任", sender="duban",
                             from_bot=True, kind="message", text="用 /invite <单位> & 登记")
    assert transcript_line(notice, at, set()).endswith("用 /invite <单位> & 登记")
    press = TranscriptEvent(seq=1, chat_id=-5, chat_title="降碳领导小组", sender="Leader Li",
                            from_bot=False, kind="message", text="/summary")
    assert "Leader Li      → 降碳领导小组    /summary" in transcript_line(press, at, {-5})


def test_terminal_text_helpers() -> None:
    assert plain_text("<b>2026年度汇总</b>\nA &amp; B &lt;x&gt;") == "2026年度汇总\nA & B <x>"
    assert display_width("降碳ab") == 6
    assert fit("降碳领导小组会议", 9) == "降碳领导…"
    assert display_width(fit("降碳领导小组会议", 9)) == 9
    assert fit("ab", 4) == "ab  "
