"""The ``duban`` command line, run as the real console script in a subprocess.

Each test runs ``.venv/bin/duban`` in a temporary working directory with a clean environment
(:mod:`tests.bot.cli_process`). Exit status: 0 done, 1 could not do the work, 2 wrong command
line; every error is a few plain lines, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from storage import head_revision
from tests.bot.cli_process import DUBAN, TASKS, clean_env, duban


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def test_check_accepts_the_shipped_timetable(tmp_path: Path) -> None:
    result = duban("check", str(TASKS), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "26" in result.stdout


def test_check_rejects_a_bad_file_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "tasks.yaml"
    bad.write_text(TASKS.read_text(encoding="utf-8").replace(
        "lead_units: [ecology-environment]", "lead_units: [ecology-environmnt]", 1),
        encoding="utf-8")
    result = duban("check", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{bad}:" in result.stderr and "ecology-environmnt" in result.stderr
    no_traceback(result)


def test_a_missing_timetable_names_the_directory_the_variable_and_the_option(
        tmp_path: Path) -> None:
    for args in (("check", "nope.yaml"), ("tasks", "--tasks", "nope.yaml"),
                 ("plan", "--year", "2026", "--tasks", "nope.yaml")):
        result = duban(*args, cwd=tmp_path)
        assert result.returncode == 1, args
        assert "nope.yaml" in result.stderr and str(tmp_path) in result.stderr
        assert "DUBAN_TASKS" in result.stderr and "--tasks" in result.stderr
        no_traceback(result)


def test_the_shipped_timetable_is_found_from_any_directory(tmp_path: Path) -> None:
    result = duban("tasks", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 26
    assert duban("units", cwd=tmp_path).returncode == 0
    assert not (tmp_path / "var").exists()


def test_tasks_json_has_the_documented_fields(tmp_path: Path) -> None:
    result = duban("tasks", "--tasks", str(TASKS), "--json", cwd=tmp_path)
    assert result.returncode == 0
    tasks = json.loads(result.stdout)
    assert [t["id"] for t in tasks] == list(range(1, 27))
    by_id = {t["id"]: t for t in tasks}
    for field in ("id", "title", "items", "lead_units", "cooperating_units", "joint_units",
                  "deadline", "remark", "expanded_units"):
        assert field in by_id[1]
    assert by_id[1]["deadline"]["kind"] == "none-statistics"
    assert by_id[1]["remark"] == "以统计局数据为准"
    assert by_id[12]["deadline"] == {"kind": "once", "text": "2020年12月前",
                                     "cutoff": "2020-12-01"}
    assert by_id[7]["deadline"]["cutoff_month_day"] == "12-01"
    assert [u["name"] for u in by_id[18]["lead_units"]] == ["发展改革局", "市场监管局"]
    assert by_id[26]["lead_units"] == [] and len(by_id[26]["joint_units"]) == 6
    assert all(set(u) == {"id", "name", "name_en"} for u in by_id[9]["cooperating_units"])
    towns = [u for u in by_id[9]["expanded_units"] if u["via_group"] == "towns"]
    assert len(towns) == 14 and all(u["role"] == "cooperating" for u in towns)


def test_tasks_of_one_unit_by_alias(tmp_path: Path) -> None:
    result = duban("tasks", "--unit", "科学技术和大数据局", "--json", cwd=tmp_path)
    assert result.returncode == 0
    tasks = json.loads(result.stdout)
    assert {t["id"] for t in tasks} == {9, 18, 23, 26}
    assert {t["id"]: t["role"] for t in tasks}[26] == "joint"


@pytest.mark.parametrize(("group", "expected"), [
    ("各镇政府", [3, 4, 6, 9, 10, 13, 14, 18]), ("领导小组", [23])])
def test_a_group_lists_the_tasks_that_name_it(tmp_path: Path, group: str,
                                              expected: list[int]) -> None:
    result = duban("tasks", "--unit", group, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [t["id"] for t in json.loads(result.stdout)] == expected
    listing = duban("tasks", "--unit", group, cwd=tmp_path)
    assert f"{expected[0]:>2}. " in listing.stdout


def test_a_member_town_lists_the_groups_tasks_as_a_member(tmp_path: Path) -> None:
    result = duban("tasks", "--unit", "岑城镇", cwd=tmp_path)
    assert result.returncode == 0
    assert "各镇政府" in result.stdout


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        (("tasks", "--unit", "外星局"), "外星局"),
        (("plan", "--year", "twenty"), "twenty"),
        (("plan",), "--year"),
        (("invite", "--role", "leader", "--unit", "生态环境局"), "--unit"),
        (("invite", "--unit", "生态环境局", "--days", "0"), "--days"),
        (("invite", "--unit", "生态环境局", "--days", "x"), "--days"),
        (("invite", "--unit", "生态环境局", "--days", "٣"), "٣"),  # other scripts' digits
        (("invite", "--unit", "各镇政府", "--bot-username", "x"), "各镇政府"),
        (("invite", "--unit", "生态环境局"), "--bot-username"),
        (("invite", "--unit", "生态环境局", "--bot-username", "b"), "'b'"),
        (("remind", "--at", "2026-11-16T09:00"), "--dry-run"),
        (("remind", "--dry-run", "--at", "tomorrow"), "tomorrow"),
        (("nonsense",), "nonsense"),
    ]
    for args, named in cases:
        result = duban(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert named in result.stderr, (args, result.stderr)
        no_traceback(result)
    # a missing folder is a problem with files (README: 1), found before any database too
    folder = duban("export", "--year", "2026", "-o", "/no/such/dir/x.xlsx", cwd=tmp_path)
    assert folder.returncode == 1 and "/no/such/dir" in folder.stderr, folder.stderr
    no_traceback(folder)
    assert not (tmp_path / "var").exists()  # no database made for a wrong command line


def test_a_listing_piped_into_head_stops_quietly(tmp_path: Path) -> None:
    for command in ("tasks", "units", "plan --year 2026", "tasks --json"):
        shell = subprocess.run(["bash", "-o", "pipefail", "-c",
                                f"'{DUBAN}' {command} | head -n 1"], cwd=tmp_path,
                               env=clean_env(), capture_output=True, text=True, check=False,
                               timeout=60)
        assert len(shell.stdout.splitlines()) == 1, command
        assert shell.stderr == "", (command, shell.stderr)
        assert shell.returncode == 0, command  # duban's own status, under pipefail


def test_units_json_lists_groups_and_members(tmp_path: Path) -> None:
    result = duban("units", "--json", cwd=tmp_path)
    units = {u["id"]: u for u in json.loads(result.stdout)}
    assert units["towns"]["kind"] == "group" and len(units["towns"]["members"]) == 14
    assert units["towns"]["tasks"] == [3, 4, 6, 9, 10, 13, 14, 18]
    town = units[units["towns"]["members"][0]]
    assert "towns" in town["groups"] and town["kind"] == "town"


def test_plan_json_for_2026_has_no_2020_tasks(tmp_path: Path) -> None:
    result = duban("plan", "--year", "2026", "--json", cwd=tmp_path)
    assert result.returncode == 0
    plan = json.loads(result.stdout)
    tasks = {r["task_id"] for r in plan if r["task_id"]}
    assert tasks.isdisjoint({1, 2, 3, 4, 5, 6, 12, 13, 14, 17, 21})
    assert 7 in tasks and 26 in tasks
    first = [r for r in plan if r["task_id"] == 7 and r["offset_days"] == 30]
    assert {(r["kind"], r["at"]) for r in first} == {
        ("before", "2026-10-30T09:00:00+08:00"),
        ("ack", "2026-11-03T09:00:00+08:00")}  # two working days later, if not acknowledged
    overdue = [r for r in plan if r["kind"] == "overdue" and r["task_id"] == 7]
    assert [(r["unit_name"], r["offset_days"]) for r in overdue] == [
        ("农业农村局", days) for days in (0, 7, 14, 21, 28)]  # then weekly while late
    assert not (tmp_path / "var").exists()


def test_plan_lists_each_reminder_sent_once(tmp_path: Path) -> None:
    """2031: two offsets moved to 11-28 are one row; the fallback warning is translated."""
    result = duban("plan", "--year", "2031", "--unit", "林业局", cwd=tmp_path)
    assert result.returncode == 0
    rows = [line for line in result.stdout.splitlines() if line.startswith("2031-11-28")]
    tasks = [line.split()[4] for line in rows]
    assert len(tasks) == len(set(tasks)) > 0
    assert "chinesecalendar" in result.stderr and "calendar:" in result.stderr
    assert "chinese_calendar has no holiday data" not in result.stderr  # the English log line


def test_a_past_cycle_says_it_is_closed(tmp_path: Path) -> None:
    result = duban("plan", "--year", "2020", "--unit", "林业局", cwd=tmp_path)
    assert result.returncode == 0
    assert "2020" in result.stdout.splitlines()[0]
    assert "尚未排期" not in result.stdout  # "not planned yet" is for the future
    english = duban("plan", "--year", "2020", cwd=tmp_path, env=clean_env(LANG="en_US.UTF-8"))
    assert "closed" in english.stdout.splitlines()[0]
    assert json.loads(duban("plan", "--year", "2020", "--json", cwd=tmp_path).stdout)[0][
        "cycle_closed"] is True


def test_help_is_chinese_by_default_and_english_with_lang_en(tmp_path: Path) -> None:
    chinese = duban("--help", cwd=tmp_path)
    english = duban("--help", cwd=tmp_path, env=clean_env(LANG="en_US.UTF-8"))
    assert chinese.returncode == english.returncode == 0
    assert "validate the timetable" in english.stdout and "usage:" in english.stdout
    assert "validate the timetable" not in chinese.stdout
    assert "校验" in chinese.stdout
    for word in ("usage:", "options:", "positional arguments"):
        assert word not in chinese.stdout, word
    error = duban("plan", cwd=tmp_path)
    assert "error:" not in error.stderr and "usage:" not in error.stderr


def test_english_output_names_units_in_english(tmp_path: Path) -> None:
    env = clean_env(LANG="en_US.UTF-8")
    plan = duban("plan", "--year", "2026", "--unit", "林业局", cwd=tmp_path, env=env)
    assert "Forestry" in plan.stdout and "林业局" not in plan.stdout
    assert "before" in plan.stdout
    chinese = duban("plan", "--year", "2026", "--unit", "林业局", cwd=tmp_path)
    assert " before " not in chinese.stdout and "overdue" not in chinese.stdout


# -- one configuration for every command -----------------------------------------------------

def test_every_command_reads_the_env_file(tmp_path: Path) -> None:
    """`.env` says DUBAN_TASKS=custom-tasks.yaml, a broken file: every command uses it."""
    (tmp_path / "custom-tasks.yaml").write_text("plan: [\n", encoding="utf-8")
    (tmp_path / ".env").write_text("DUBAN_TASKS=custom-tasks.yaml\n", encoding="utf-8")
    for args in (("check",), ("tasks",), ("units",), ("plan", "--year", "2026"),
                 ("invite", "--unit", "生态环境局", "--bot-username", "b")):
        result = duban(*args, cwd=tmp_path)
        assert result.returncode == 1, (args, result.stderr)
        assert "custom-tasks.yaml" in result.stderr, args
        no_traceback(result)


def test_duban_env_file_is_found_from_any_directory_and_paths_resolve_beside_it(
        tmp_path: Path) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    (config / "tasks.yaml").write_text(TASKS.read_text(encoding="utf-8"), encoding="utf-8")
    (config / "duban.env").write_text("DUBAN_TASKS=tasks.yaml\nDUBAN_DATA_DIR=state\n",
                                      encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(DUBAN_ENV_FILE=str(config / "duban.env"))
    check = duban("check", cwd=elsewhere, env=env)
    assert check.returncode == 0, check.stderr
    assert str(config / "tasks.yaml") in check.stdout and str(config / "duban.env") in check.stdout
    upgrade = duban("db", "upgrade", cwd=elsewhere, env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    assert (config / "state" / "duban.sqlite3").exists()
    assert not (elsewhere / "var").exists() and not (elsewhere / "state").exists()
    missing = duban("check", cwd=elsewhere, env=clean_env(DUBAN_ENV_FILE="/no/such.env"))
    assert missing.returncode == 1 and "/no/such.env" in missing.stderr


def test_bad_settings_are_named_by_their_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DUBAN_ADMINS=<your telegram id>\nDUBAN_TZ=Mars/Base\n"
                                   "DUBAN_INVITE_TTL_DAYS=0\n", encoding="utf-8")
    result = duban("tasks", cwd=tmp_path)
    assert result.returncode == 1
    for variable in ("DUBAN_ADMINS", "DUBAN_TZ", "DUBAN_INVITE_TTL_DAYS", ".env"):
        assert variable in result.stderr, variable
    assert "Value error" not in result.stderr and "Input should" not in result.stderr
    no_traceback(result)


def test_invite_uses_the_env_file_username_and_ttl(tmp_path: Path) -> None:
    from storage import Store

    (tmp_path / ".env").write_text("TELEGRAM_BOT_USERNAME=@env_bot\nDUBAN_INVITE_TTL_DAYS=3\n",
                                   encoding="utf-8")
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    result = duban("invite", "--unit", "水利电业公司", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    link = result.stdout.splitlines()[0]
    assert link.startswith("https://t.me/env_bot?start=")
    store = Store(f"sqlite:///{tmp_path / 'var' / 'duban.sqlite3'}")
    try:
        now = dt.datetime.now(dt.UTC)
        [invite] = [i for i in _invites(store) if i.code == link.split("start=")[1]]
        assert dt.timedelta(days=2, hours=23) < invite.expires_at.replace(
            tzinfo=dt.UTC) - now <= dt.timedelta(days=3)
        enrolment = store.enrol_with_invite(invite.code, 42, "x", "zh_Hans", now)
    finally:
        store.close()
    assert enrolment.units == ("water-power",)


def _invites(store: object) -> list[object]:
    from sqlmodel import Session, select

    from storage.tables import Invite

    with Session(store.engine) as session:  # type: ignore[attr-defined]
        return list(session.exec(select(Invite)))


def test_invite_asks_telegram_for_the_username(tmp_path: Path) -> None:
    from tests.bot.standin_thread import running_standin

    with running_standin() as api:
        api.add_bot("4242:INVITE-token", "asked_bot", 4242)
        env = clean_env(TELEGRAM_BOT_TOKEN="4242:INVITE-token",
                        TELEGRAM_API_BASE_URL=api.base_url)
        assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
        result = duban("invite", "--unit", "生态环境局", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("https://t.me/asked_bot?start=")
    refused = duban("invite", "--unit", "生态环境局", cwd=tmp_path,
                    env=clean_env(TELEGRAM_BOT_TOKEN="4242:NOT-THE-TOKEN"))
    assert refused.returncode == 1
    assert "NOT-THE-TOKEN" not in refused.stderr + refused.stdout
    no_traceback(refused)


# -- the database ------------------------------------------------------------------------------

def test_db_upgrade_creates_the_sqlite_file_and_says_where(tmp_path: Path) -> None:
    result = duban("db", "upgrade", cwd=tmp_path)
    database = tmp_path / "var" / "duban.sqlite3"
    assert result.returncode == 0 and database.exists()
    assert str(database) in result.stdout and head_revision() in result.stdout
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0  # idempotent


def test_db_backup_of_a_database_and_restore_into_a_fresh_folder(tmp_path: Path) -> None:
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    made = duban("invite", "--unit", "林业局", "--bot-username", "some_bot", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    code = made.stdout.split("start=")[1].split()[0]
    backup = tmp_path / "backups" / "duban-1.sqlite3"
    backup.parent.mkdir()
    result = duban("db", "backup", str(backup), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(backup) in result.stdout and head_revision() in result.stdout
    fresh = tmp_path / "fresh"
    env = clean_env(DUBAN_DATA_DIR=str(fresh))
    restored = duban("db", "restore", str(backup), cwd=tmp_path, env=env)
    assert restored.returncode == 0, restored.stderr
    with sqlite3.connect(fresh / "duban.sqlite3") as connection:
        assert connection.execute("SELECT count(*) FROM invite WHERE code = ?",
                                  (code,)).fetchone() == (1,)
    again = duban("db", "restore", str(backup), cwd=tmp_path, env=env)
    assert again.returncode == 1 and "--replace" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    no_traceback(again)
    assert duban("db", "restore", "--replace", str(backup), cwd=tmp_path,
                 env=env).returncode == 0
    junk = duban("db", "restore", str(tmp_path / ".env-missing"), cwd=tmp_path, env=env)
    assert junk.returncode == 1  # a missing file is a problem with files (README), not usage


def test_db_backup_without_pg_dump_is_one_line_naming_the_tool(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL="postgresql+psycopg://duban:s3cret@127.0.0.1:1/duban",
                    PATH=str(tmp_path), LANG="en")
    result = duban("db", "backup", str(tmp_path / "x.pgdump"), cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "pg_dump" in result.stderr and "postgresql-client" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "s3cret" not in result.stderr
    no_traceback(result)


def test_db_backup_refuses_the_live_database_by_any_path(tmp_path: Path) -> None:
    """A backup onto the database (or its WAL) would be overwritten by the bot's next change,
    and replacing the WAL loses what it holds: refused, the database unchanged."""
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    database = tmp_path / "var" / "duban.sqlite3"
    with sqlite3.connect(database) as connection:  # a WAL file beside it, as under the bot
        connection.execute("PRAGMA journal_mode=WAL")
    before = database.read_bytes()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(database)
    twin = tmp_path / "twin.sqlite3"
    twin.hardlink_to(database)
    to_lock = tmp_path / "lock-link"  # the running bot's lock file, by another name
    to_lock.symlink_to(f"{database}.lock")
    env = clean_env(LANG="en")
    for target in (database, Path("var/duban.sqlite3"), Path("var/../var/duban.sqlite3"), link,
                   twin, Path(f"{database}-wal"), Path(f"{database}.lock"), to_lock):
        result = duban("db", "backup", str(target), cwd=tmp_path, env=env)
        assert result.returncode == 1, (target, result.stdout)
        assert "is the database itself" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        no_traceback(result)
    assert database.read_bytes() == before


def test_one_lock_per_database_file_whatever_the_path(tmp_path: Path) -> None:
    """A running bot holds its SQLite file by the file, not the path written: a restore
    through a symbolic link is refused as through the configured path."""
    from bot.instance import InstanceBusy, sqlite_instance_lock

    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    database = tmp_path / "var" / "duban.sqlite3"
    backup = tmp_path / "b.sqlite3"
    assert duban("db", "backup", str(backup), cwd=tmp_path).returncode == 0
    link = tmp_path / "srv-duban.sqlite3"
    link.symlink_to(database)
    with sqlite_instance_lock(database, "run"):
        with pytest.raises(InstanceBusy), sqlite_instance_lock(link, "run"):
            pass
        for url in (f"sqlite:///{database}", f"sqlite:///{link}"):
            refused = duban("db", "restore", "--replace", str(backup), cwd=tmp_path,
                            env=clean_env(DATABASE_URL=url))
            assert refused.returncode == 1, (url, refused.stdout)
            no_traceback(refused)


def test_a_database_file_with_hard_links_is_refused(tmp_path: Path) -> None:
    """A lock by name cannot cover another name of the same file: a restore through a hard
    link while the bot runs would write its own WAL beside the link and split the database.
    A file with several names is refused, by every name, the bot's lock left alone."""
    from bot.instance import SeveralNames, sqlite_instance_lock

    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    database = tmp_path / "var" / "duban.sqlite3"
    backup = tmp_path / "b.sqlite3"
    assert duban("db", "backup", str(backup), cwd=tmp_path).returncode == 0
    twin = tmp_path / "twin.sqlite3"
    twin.hardlink_to(database)
    for name in (database, twin):
        with pytest.raises(SeveralNames), sqlite_instance_lock(name, "run"):
            pass
        refused = duban("db", "restore", "--replace", str(backup), cwd=tmp_path,
                        env=clean_env(DATABASE_URL=f"sqlite:///{name}", LANG="en"))
        assert refused.returncode == 1, (name, refused.stdout)
        assert "hard links" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        no_traceback(refused)
    assert not Path(f"{twin}-wal").exists()
    twin.unlink()  # one name again: the lock is taken
    with sqlite_instance_lock(database, "run"):
        pass


def test_nothing_makes_a_database_before_the_configuration_is_good(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DUBAN_TZ=Nowhere\n", encoding="utf-8")
    for args in (("db", "upgrade"), ("invite", "--unit", "生态环境局", "--bot-username", "b"),
                 ("export", "--year", "2026"), ("run",)):
        result = duban(*args, cwd=tmp_path)
        assert result.returncode == 1, args
    assert not (tmp_path / "var").exists()


def test_remind_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = duban("remind", "--dry-run", "--at", "2026-11-17T09:00", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("2026-11-17 09:00")]
    assert lines and all("无已登记的联络员" in line for line in lines)
    assert not (tmp_path / "var").exists()
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    database = tmp_path / "var" / "duban.sqlite3"
    before = database.read_bytes()
    again = duban("remind", "--dry-run", "--at", "2026-11-17T09:00", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert database.read_bytes() == before


def test_plan_shows_delivery_states_from_the_database(tmp_path: Path) -> None:
    from storage import ReminderSpec, Store

    no_db = duban("plan", "--year", "2026", "--unit", "林业局", cwd=tmp_path)
    assert no_db.returncode == 0 and "[" in no_db.stdout
    store = Store(f"sqlite:///{tmp_path / 'var' / 'duban.sqlite3'}")
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
    result = duban("plan", "--year", "2026", "--unit", "林业局", "--json", cwd=tmp_path)
    entry = next(r for r in json.loads(result.stdout)
                 if r["task_id"] == 8 and r["offset_days"] == 30)
    assert entry["deliveries"] == [{"chat_id": 0, "state": "skipped",
                                    "reason": "no enrolled contact", "message_id": None,
                                    "sent_at": None}]
    text = duban("plan", "--year", "2026", "--unit", "林业局", cwd=tmp_path)
    assert text.stdout != no_db.stdout and "已跳过 (无已登记的联络员)" in text.stdout


def test_an_unwritable_data_directory_names_path_owner_and_user(tmp_path: Path) -> None:
    """The service-account failure of issue 9: the folder belongs to someone else."""
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere; tests/bot/test_deploy.py runs this as a user")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = duban("db", "upgrade", cwd=tmp_path,
                   env=clean_env(DUBAN_DATA_DIR=str(locked / "var")))
    assert result.returncode == 1 and str(locked) in result.stderr
    no_traceback(result)


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL="postgresql+psycopg://duban:s3cret@127.0.0.1:1/duban")
    for args in (("db", "upgrade"),
                 ("invite", "--unit", "生态环境局", "--bot-username", "some_bot"),
                 ("export", "--year", "2026", "-o", "x.xlsx")):
        result = duban(*args, cwd=tmp_path, env=env)
        assert result.returncode == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "127.0.0.1:1" in lines[0] and "Connection refused" in lines[0]
        assert "s3cret" not in result.stderr


def test_export_writes_a_workbook(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    result = duban("export", "--year", "2026", "-o", "out.xlsx", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "out.xlsx" in result.stdout
    assert load_workbook(tmp_path / "out.xlsx").sheetnames[:3] == ["台账", "汇总", "报送记录"]


def test_timetable_problems_are_in_the_readers_language(tmp_path: Path) -> None:
    bad = tmp_path / "tasks.yaml"
    bad.write_text(TASKS.read_text(encoding="utf-8").replace(
        "lead_units: [forestry]", "lead_units: [林业局]", 1).replace(
        "  hour: 9\n", "  hour: 9\n  houre: 9\n", 1), encoding="utf-8")
    chinese = duban("check", str(bad), cwd=tmp_path)
    english = duban("check", str(bad), cwd=tmp_path, env=clean_env(LANG="en_US.UTF-8"))
    assert chinese.returncode == english.returncode == 1
    assert "请写单位 id 'forestry'，而不是名称 '林业局'" in chinese.stderr
    assert "write the id 'forestry' instead of its name '林业局'" in english.stderr
    assert "unknown field" not in chinese.stderr and "未知字段 'houre'" in chinese.stderr
    assert "时间表有 2 处问题" in chinese.stderr


def test_check_warns_about_a_world_readable_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TELEGRAM_BOT_TOKEN=123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\n",
                        encoding="utf-8")
    env_file.chmod(0o644)
    loose = duban("check", cwd=tmp_path)
    assert loose.returncode == 0 and "chmod 600" in loose.stderr and "0644" in loose.stderr
    assert "AAHdqTcv" not in loose.stdout + loose.stderr
    env_file.chmod(0o600)
    assert "chmod 600" not in duban("check", cwd=tmp_path).stderr
