"""A package of the reports missing from an older virtual environment (matplotlib, icalendar):
``duban check`` names it, ``duban chart``/``duban ics`` and the bot's /chart and /calendar say
which one and how to install it instead of a traceback; and a failure's apology fits what was
sent and who sent it (a leader has no /mytasks to look at)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.handlers import leader as leader_handlers
from bot.handlers.common import error_apology
from bot.i18n import translator
from tests.bot.cli_process import clean_env, duban
from tests.bot.conftest import ECOLOGY, LEADER, Harness

ZH = translator("zh_Hans")


def without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment in which ``modules`` cannot be imported, as in a venv that lacks them."""
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules))
    return clean_env(PYTHONPATH=str(folder), LANG="en")


@pytest.mark.parametrize(("args", "module"), [
    (("chart", "--year", "2026", "-o", "c.png"), "matplotlib"),
    (("ics", "--unit", "生态环境局", "-o", "c.ics"), "icalendar"),
])
def test_a_missing_package_is_named_with_how_to_install_it(
        tmp_path: Path, args: tuple[str, ...], module: str) -> None:
    result = duban(*args, cwd=tmp_path, env=without(tmp_path, module))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"package {module} is not installed" in result.stderr
    assert "pip install -e ." in result.stderr
    assert not list(tmp_path.glob("c.*"))


def test_duban_check_names_every_missing_package(tmp_path: Path) -> None:
    env = without(tmp_path, "matplotlib", "icalendar")
    result = duban("check", cwd=tmp_path, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "package matplotlib is not installed" in result.stderr
    assert "package icalendar is not installed" in result.stderr
    assert "package openpyxl" not in result.stderr
    assert "package" not in duban("check", cwd=tmp_path, env=clean_env(LANG="en")).stderr


async def test_chart_and_calendar_in_the_bot_name_the_missing_package(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "icalendar", None)
    [chart] = await harness.command(LEADER, "chart")
    assert "matplotlib is not installed" in chart["text"] and "pip install -e ." in chart["text"]
    [calendar] = await harness.command(ECOLOGY, "calendar")
    assert "icalendar" in calendar["text"] and "pip install -e ." in calendar["text"]


async def test_a_leaders_failed_command_is_not_pointed_to_mytasks(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.enrol(LEADER, None, "leader")

    def broken(*args: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(leader_handlers, "render_scores", broken)
    sent = await harness.command(LEADER, "scores")
    [apology] = [m["text"] for m in sent if m["chat"]["id"] == LEADER]
    assert "/scores" in apology and "nothing was changed" in apology
    assert "/mytasks" not in apology and "recorded" not in apology


class _Message:
    def __init__(self, text: str | None) -> None:
        self.text = text


class _Update:
    def __init__(self, text: str | None) -> None:
        self.effective_message = _Message(text)


@pytest.mark.parametrize(("text", "contact", "expected", "absent"), [
    ("/chart@duban_bot 2026", False, "/chart", "/mytasks"),
    ("/export", True, "/export", "/mytasks"),
    ("15 完成", True, "/mytasks", "请稍后"),
    ("15 完成", False, "请稍后", "/mytasks"),
    ("/review 7", False, "请稍后", "/mytasks"),
])
def test_the_apology_fits_the_update_and_the_caller(
        text: str, contact: bool, expected: str, absent: str) -> None:
    from bot.handlers.common import Caller

    caller = Caller(1, "contact" if contact else "leader", ("ecology-environment",) if contact
                    else (), "zh_Hans", "x", ZH)
    apology = error_apology(ZH, _Update(text), caller)  # type: ignore[arg-type]
    assert expected in apology and absent not in apology
