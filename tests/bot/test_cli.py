"""The ``duban`` command line on the real timetable: check, tasks, units, plan."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bot.cli import main
from storage import head_revision

ROOT = Path(__file__).resolve().parents[2]
TASKS = str(ROOT / "data" / "tasks.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)


def test_check_accepts_the_shipped_timetable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", TASKS)
    assert code == 0
    assert "26" in out


def test_check_rejects_a_bad_file_with_file_and_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    text = Path(TASKS).read_text(encoding="utf-8")
    bad = tmp_path / "tasks.yaml"
    bad.write_text(text.replace("lead_units: [ecology-environment]",
                                "lead_units: [ecology-environmnt]", 1), encoding="utf-8")
    code, _, err = run(capsys, "check", str(bad))
    assert code == 1
    assert f"{bad}:" in err and "ecology-environmnt" in err


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", str(tmp_path / "nope.yaml"))
    assert code == 1 and "nope.yaml" in err


def test_tasks_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tasks", "--tasks", TASKS, "--json")
    assert code == 0
    tasks = json.loads(out)
    assert [t["id"] for t in tasks] == list(range(1, 27))
    by_id = {t["id"]: t for t in tasks}
    for field in ("id", "title", "items", "lead_units", "cooperating_units", "joint_units",
                  "deadline", "remark", "expanded_units"):
        assert field in by_id[1]
    assert by_id[1]["deadline"]["kind"] == "none-statistics"
    assert by_id[1]["remark"] == "以统计局数据为准"
    assert by_id[12]["deadline"] == {"kind": "once", "text": "2020年12月前",
                                     "cutoff": "2020-12-01"}
    assert by_id[7]["deadline"]["kind"] == "annual"
    assert by_id[7]["deadline"]["cutoff_month_day"] == "12-01"
    assert [u["name"] for u in by_id[18]["lead_units"]] == ["发展改革局", "市场监管局"]
    assert by_id[26]["lead_units"] == [] and len(by_id[26]["joint_units"]) == 6
    assert all(set(u) == {"id", "name"} for u in by_id[9]["cooperating_units"])
    # Groups are not expanded silently: 各镇政府 stays one entry, its towns are listed apart.
    towns = [u for u in by_id[9]["expanded_units"] if u["via_group"] == "towns"]
    assert len(towns) == 14 and all(u["role"] == "cooperating" for u in towns)
    assert any(u["id"] == "towns" for u in by_id[9]["cooperating_units"])


def test_tasks_of_one_unit_by_alias(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tasks", "--tasks", TASKS, "--unit", "科学技术和大数据局",
                       "--json")
    assert code == 0
    tasks = json.loads(out)
    assert {t["id"] for t in tasks} == {9, 18, 23, 26}
    assert {t["id"]: t["role"] for t in tasks}[26] == "joint"


def test_tasks_unknown_unit_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tasks", "--tasks", TASKS, "--unit", "外星局")
    assert code == 2 and "外星局" in err


def test_units_json_lists_groups_and_members(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "units", "--tasks", TASKS, "--json")
    assert code == 0
    units = {u["id"]: u for u in json.loads(out)}
    assert units["towns"]["kind"] == "group" and len(units["towns"]["members"]) == 14
    town = units[units["towns"]["members"][0]]
    assert "towns" in town["groups"] and town["kind"] == "town"


def test_plan_json_for_2026_has_no_2020_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "--tasks", TASKS, "--year", "2026", "--json")
    assert code == 0
    plan = json.loads(out)
    tasks = {r["task_id"] for r in plan if r["task_id"]}
    assert tasks.isdisjoint({1, 2, 3, 4, 5, 6, 12, 13, 14, 17, 21})
    assert 7 in tasks and 26 in tasks
    first = [r for r in plan if r["task_id"] == 7 and r["offset_days"] == 30]
    # 1 November 2026 is a Sunday: the 30-day reminder moves to Friday 30 October, 09:00.
    assert {r["at"] for r in first} == {"2026-10-30T09:00:00+08:00"}
    overdue = [r for r in plan if r["kind"] == "overdue" and r["task_id"] == 7]
    assert [r["unit_name"] for r in overdue] == ["农业农村局"]
    assert overdue[0]["at"] == "2026-12-01T09:00:00+08:00"


def test_plan_2020_has_the_once_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "--tasks", TASKS, "--year", "2020", "--json")
    assert code == 0
    assert {12, 13, 14, 17, 21} <= {r["task_id"] for r in json.loads(out)}


def test_help_is_chinese_by_default_and_english_with_lang_en(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    chinese = capsys.readouterr().out
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    with pytest.raises(SystemExit):
        main(["--help"])
    english = capsys.readouterr().out
    assert "validate the timetable file" in english
    assert "validate the timetable file" not in chinese
    assert "校验" in chinese


@pytest.fixture
def sqlite_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data directory for the default SQLite database, and no .env to pick up."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DUBAN_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var" / "duban.sqlite3"


def test_db_upgrade_creates_the_sqlite_file(sqlite_env: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and sqlite_env.exists()
    assert head_revision() in out
    code, out, _ = run(capsys, "db", "upgrade")  # idempotent
    assert code == 0


def test_invite_prints_a_deep_link_stored_as_an_invitation(
        sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from storage import Store

    code, out, _ = run(capsys, "invite", "--tasks", TASKS, "--unit", "水利电业公司",
                       "--bot-username", "@duban_bot")
    assert code == 0
    link = out.splitlines()[0]
    assert link.startswith("https://t.me/duban_bot?start=")
    store = Store(f"sqlite:///{sqlite_env}")
    try:
        person = store.enrol_with_invite(link.split("start=")[1], 42, "x", "zh_Hans",
                                         dt.datetime.now().astimezone())
    finally:
        store.close()
    assert person.unit_id == "water-power"


def test_invite_refuses_a_group_and_a_missing_username(
        sqlite_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_USERNAME", raising=False)
    code, _, err = run(capsys, "invite", "--tasks", TASKS, "--unit", "各镇政府",
                       "--bot-username", "x")
    assert code == 2 and "各镇政府" in err
    code, _, err = run(capsys, "invite", "--tasks", TASKS, "--unit", "生态环境局")
    assert code == 2 and "--bot-username" in err


def test_plan_shows_delivery_states_from_the_database(
        sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from storage import ReminderSpec, Store

    code, out, _ = run(capsys, "plan", "--tasks", TASKS, "--year", "2026", "--unit", "林业局")
    assert code == 0 and "[" in out  # no database yet: "not planned yet"
    no_db = out
    store = Store(f"sqlite:///{sqlite_env}")
    try:
        store.upgrade()
        store.sync_units([("forestry", "林业局", "bureau")])
        at = dt.datetime(2026, 10, 30, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        store.plan_deliveries([ReminderSpec(8, "forestry", 2026, "before", 30, 0, at,
                                            dt.date(2026, 12, 1))], at)
        row = store.reminders_for_cycle(2026)[0]
        store.mark_skipped(row.id, "no enrolled contact", at)
    finally:
        store.close()
    code, out, _ = run(capsys, "plan", "--tasks", TASKS, "--year", "2026", "--unit", "林业局",
                       "--json")
    entry = next(r for r in json.loads(out) if r["task_id"] == 8 and r["offset_days"] == 30)
    assert entry["deliveries"] == [{"chat_id": 0, "state": "skipped",
                                    "reason": "no enrolled contact", "message_id": None,
                                    "sent_at": None}]
    code, out, _ = run(capsys, "plan", "--tasks", TASKS, "--year", "2026", "--unit", "林业局")
    assert out != no_db and "已跳过 (无已登记的联络员)" in out


def test_remind_dry_run_sends_nothing(sqlite_env: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "remind", "--tasks", TASKS, "--dry-run", "--at",
                       "2026-11-17T09:00")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("2026-11-17 09:00")]
    assert lines and all("无已登记的联络员" in line for line in lines)
    code, _, err = run(capsys, "remind", "--tasks", TASKS, "--dry-run", "--at", "tomorrow")
    assert code == 2 and "tomorrow" in err
