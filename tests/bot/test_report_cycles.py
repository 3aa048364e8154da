"""Reports on a cycle nobody was followed in (before duban was in use, or not begun yet) are
refused with a clear note instead of every unit being thousands of days overdue."""

from __future__ import annotations

import pytest

from tests.bot.conftest import ECOLOGY, LEADER, Harness


@pytest.mark.parametrize(("command", "year"), [
    ("bulletin", "2020"), ("export", "2019"), ("chart", "2027"), ("scores", "2020年")])
async def test_a_cycle_without_records_is_refused(harness: Harness, command: str,
                                                  year: str) -> None:
    await harness.enrol(LEADER, None, "leader")
    [answer] = await harness.command(LEADER, command, year)
    assert answer["text"].startswith(f"No records for {year.removesuffix('年')}:")
    assert "The current cycle is 2026." in answer["text"] and "document" not in answer


async def test_the_current_and_a_followed_cycle_are_reported_on(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    [bulletin] = await harness.command(LEADER, "bulletin")  # nothing recorded yet: still shown
    assert "No records" not in bulletin["text"]
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 done")
    [export] = await harness.command(LEADER, "export", "2026")
    assert export["document"]["file_name"].startswith("duban-2026-")


async def test_scores_end_with_the_rules_not_a_repository_path(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    pages = await harness.command(LEADER, "scores")
    text = "\n".join(p["text"] for p in pages)
    assert "docs/" not in text and ".md" not in text
    assert "How it is counted:" in text and "approved extension" in text
