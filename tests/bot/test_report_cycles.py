"""Reports on a cycle nobody was followed in (before duban was in use, or not begun yet) are
refused with a clear note instead of every unit being thousands of days overdue."""

from __future__ import annotations

import pytest

from tests.bot.conftest import ADMIN, ECOLOGY, LEADER, Harness


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


@pytest.mark.parametrize(("command", "year"), [
    ("export", "1999"), ("chart", "2101"), ("scores", "2018年"), ("bulletin", "1999"),
    ("summary", "1999"), ("overdue", "３０００"), ("review", "1"), ("export", "-1"),
    ("chart", "-2026"), ("scores", "－5")])
async def test_a_year_out_of_range_is_answered_with_the_range(
        harness: Harness, command: str, year: str) -> None:
    """/export 1999 printed only the usage; the command line took 2000 and the chat 2019."""
    await harness.enrol(LEADER, None, "leader")
    [answer] = await harness.command(LEADER, command, year)
    assert answer["text"] == (f"“{year}”: The year must be from 2019 to 2100.\n"
                              f"Usage: /{command} [year], e.g. /{command} 2026.")
    assert "document" not in answer and "photo" not in answer


@pytest.mark.parametrize("command", ["export", "bulletin", "summary"])
async def test_a_word_that_is_no_year_gets_the_usage_and_the_range(
        harness: Harness, command: str) -> None:
    await harness.enrol(LEADER, None, "leader")
    [answer] = await harness.command(LEADER, command, "next")
    assert answer["text"] == (f"Usage: /{command} [year], e.g. /{command} 2026. The year must "
                              "be from 2019 to 2100.")
    [chinese] = await harness.command(ADMIN, command, "明年")  # an admin reads Chinese
    assert chinese["text"].endswith("年份须在 2019–2100 之间。")


async def test_the_first_cycle_is_a_year_the_chat_takes(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    [answer] = await harness.command(LEADER, "export", "2019")
    assert answer["text"].startswith("No records for 2019:")  # a year, not a usage error


async def test_a_partial_unit_name_is_answered_with_the_unit_meant(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    [answer] = await harness.command(LEADER, "unit", "生态")
    assert answer["text"].endswith(
        "Did you mean Ecology and Environment Bureau (ecology-environment)?")
    [town] = await harness.command(LEADER, "unit", "林业")
    assert "Did you mean Forestry Bureau (forestry)?" in town["text"]
    [short] = await harness.command(LEADER, "unit", "发改")  # an abbreviation
    assert short["text"].endswith("Did you mean Development and Reform Bureau "
                                  "(development-reform)?")
    [towns] = await harness.command(LEADER, "unit", "镇")
    assert "(towns) or " in towns["text"] and "or 10 more units?" in towns["text"]
    [nothing] = await harness.command(LEADER, "unit", "外星局")
    assert "Did you mean" not in nothing["text"]


async def test_task_and_unit_with_a_year_out_of_range_state_the_range(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    [task] = await harness.command(LEADER, "task", "7 1999")
    assert task["text"] == "“1999”: The year must be from 2019 to 2100."
    [unit] = await harness.command(LEADER, "unit", "林业局 2101年")
    assert unit["text"] == "“2101年”: The year must be from 2019 to 2100."
    [chinese] = await harness.command(ADMIN, "task", "7 1999")
    assert chinese["text"] == "“1999”：年份须在 2019–2100 之间。"
    [fine] = await harness.command(LEADER, "task", "7 2025")
    assert "2025" in fine["text"] and "2019 to 2100" not in fine["text"]
