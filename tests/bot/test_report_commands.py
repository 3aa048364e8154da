"""The report commands (``duban export``, ``chart``, ``ics``) as an operator meets them: they
never make a database, and say where they looked for one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.bot.cli_process import DUBAN, clean_env, duban


@pytest.mark.parametrize("args", [
    ("export", "--year", "2026", "-o", "out.xlsx"),
    ("chart", "--year", "2026", "-o", "out.png"),
])
def test_report_commands_make_no_database_at_a_missing_path(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "nowhere" / "duban.sqlite3"
    result = duban(*args, cwd=tmp_path, env=clean_env(LANG="en",
                                                      DATABASE_URL=f"sqlite:///{missing}"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(missing) in result.stderr and "DATABASE_URL" in result.stderr
    assert not (tmp_path / "nowhere").exists() and not list(tmp_path.glob("out.*"))


def test_ics_without_a_database_uses_the_timetable_and_makes_none(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "duban.sqlite3"
    result = duban("ics", "--unit", "生态环境局", "-o", "out.ics", cwd=tmp_path,
                   env=clean_env(LANG="en", DATABASE_URL=f"sqlite:///{missing}"))
    assert result.returncode == 0, result.stderr
    assert f"No database yet at {missing}" in result.stderr
    assert not (tmp_path / "nowhere").exists() and (tmp_path / "out.ics").exists()


def test_export_of_a_cycle_nobody_was_followed_in_is_refused(tmp_path: Path) -> None:
    env = clean_env(LANG="en")
    assert duban("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    for year in ("2020", "2027"):
        result = duban("export", "--year", year, "-o", "old.xlsx", cwd=tmp_path, env=env)
        assert result.returncode == 1, result.stderr
        assert f"No records for {year}" in result.stderr and "current cycle is 2026" in \
            result.stderr
    assert not (tmp_path / "old.xlsx").exists()
    assert duban("export", "--year", "2026", "-o", "now.xlsx", cwd=tmp_path,
                 env=env).returncode == 0  # the current cycle, even before any record


# -- -o: one set of rules for the three commands ----------------------------------------------
REPORTS = {  # command -> (its arguments, its extension, another extension a user might type)
    "export": (("export", "--year", "2026"), ".xlsx", "ledger.pdf"),
    "chart": (("chart", "--year", "2026"), ".png", "chart.jpg"),
    "ics": (("ics", "--unit", "农业农村局"), ".ics", "feed.txt"),
}


@pytest.mark.parametrize("command", sorted(REPORTS))
def test_extension_overwrite_and_force_are_the_same_for_every_report(
        tmp_path: Path, command: str) -> None:
    args, suffix, wrong = REPORTS[command]
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    refused = duban(*args, "-o", wrong, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert f"文件名须以 {suffix} 结尾" in refused.stderr and not (tmp_path / wrong).exists()

    first = duban(*args, "-o", "台账", cwd=tmp_path)  # no extension: it is added
    written = tmp_path / f"台账{suffix}"
    assert first.returncode == 0, first.stderr
    assert f"已写入 台账{suffix}" in first.stdout and written.stat().st_size > 0
    made = written.read_bytes()
    written.write_bytes(b"the office's own edits")
    again = duban(*args, "-o", f"台账{suffix}", cwd=tmp_path)
    assert again.returncode == 1  # a problem with files; the wrong extension above is usage
    assert again.stderr.strip() == (f"无法写入 台账{suffix}：文件已存在。如要替换，请加 --force"
                                    "（-f）；或换一个文件名。")
    assert written.read_bytes() == b"the office's own edits"
    forced = duban(*args, "-o", f"台账{suffix}", "-f", cwd=tmp_path,
                   env=clean_env(LANG="en"))
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.strip().endswith("It replaced the file that was there.")
    assert written.read_bytes()[:4] == made[:4]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["var", written.name])


def test_dash_writes_to_standard_output_and_reports_on_standard_error(tmp_path: Path) -> None:
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    ics = duban("ics", "--unit", "农业农村局", "-o", "-", cwd=tmp_path)
    assert ics.returncode == 0, ics.stderr
    assert ics.stdout.startswith("BEGIN:VCALENDAR") and "已写入 标准输出" in ics.stderr
    workbook = subprocess.run([str(DUBAN), "export", "--year", "2026", "-o", "-"],
                              cwd=tmp_path, env=clean_env(LANG="en"), capture_output=True,
                              check=False, timeout=60)
    assert workbook.returncode == 0, workbook.stderr
    assert workbook.stdout[:2] == b"PK" and b"Wrote standard output" in workbook.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]


def test_a_missing_folder_is_said_in_chinese_with_what_to_do(tmp_path: Path) -> None:
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    for args in (("export", "--year", "2026"), ("ics", "--unit", "林业局"),
                 ("db", "backup")):
        target = str(tmp_path / "归档" / "x")
        result = duban(*args, *(("-o",) if args[0] != "db" else ()), target, cwd=tmp_path)
        assert result.returncode == 1, (args, result.stderr)  # README: files are 1
        assert f"文件夹 {tmp_path / '归档'} 不存在。请先创建（mkdir -p" in result.stderr
        assert "No such file" not in result.stderr and "Errno" not in result.stderr


@pytest.mark.parametrize("command", sorted(REPORTS))
def test_an_empty_name_is_refused_and_dev_stdout_is_standard_output(
        tmp_path: Path, command: str) -> None:
    """-o "$OUT" with OUT unset wrote the default file; -o /dev/stdout made /dev/stdout.ics."""
    args, suffix, _ = REPORTS[command]
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    empty = duban(*args, "-o", "", cwd=tmp_path)
    assert empty.returncode == 2 and "-o 需要文件名" in empty.stderr, empty.stderr
    to_stdout = subprocess.run([str(DUBAN), *args, "-o", "/dev/stdout"], cwd=tmp_path,
                               env=clean_env(LANG="en"), capture_output=True, check=False,
                               timeout=60)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout[:4] in (b"PK\x03\x04", b"\x89PNG", b"BEGI")
    assert b"Wrote standard output" in to_stdout.stderr
    assert not Path(f"/dev/stdout{suffix}").exists()
    assert duban(*args, "-o", "/dev/null", cwd=tmp_path).returncode == 0
    assert not Path(f"/dev/null{suffix}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]  # no default file either


@pytest.mark.parametrize("command", sorted(REPORTS))
@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "//dev//stdout"])
def test_standard_output_by_any_name_redirected_into_a_file_is_that_file(
        tmp_path: Path, command: str, name: str) -> None:
    """``-o /dev/stdout > o.xlsx`` made /dev/stdout.xlsx and left o.xlsx with one line."""
    args, suffix, _ = REPORTS[command]
    env = clean_env(LANG="zh_CN.UTF-8")
    assert duban("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    before = set(os.listdir("/dev"))
    redirected = tmp_path / f"o{suffix}"
    with redirected.open("wb") as out:
        result = subprocess.run([str(DUBAN), *args, "-o", name], cwd=tmp_path, env=env,
                                stdout=out, stderr=subprocess.PIPE, check=False, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert redirected.read_bytes()[:4] in (b"PK\x03\x04", b"\x89PNG", b"BEGI")
    assert "已写入".encode() in result.stderr  # the line goes to standard error
    assert set(os.listdir("/dev")) - before == set()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["var", redirected.name])


@pytest.mark.parametrize("name", ["/dev/duban", "/dev/duban.xlsx", "/proc/duban.xlsx"])
def test_no_file_is_ever_made_under_dev_or_proc(tmp_path: Path, name: str) -> None:
    env = clean_env(LANG="en")
    assert duban("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    before = set(os.listdir("/dev"))
    result = duban("export", "--year", "2026", "-o", name, cwd=tmp_path, env=env)
    assert result.returncode == 2 and "holds devices, not files" in result.stderr, result.stderr
    assert set(os.listdir("/dev")) - before == set()


# -- years: one rule, said where a year is taken ------------------------------------------------
@pytest.mark.parametrize("args", [
    ("export", "--year", "1999"), ("chart", "--year", "2101", "-o", "c.png"),
    ("ics", "--unit", "林业局", "--year", "2018", "-o", "f.ics"), ("plan", "--year", "1999"),
    ("export", "--year", "twenty"),
])
def test_a_year_out_of_range_states_the_range(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = duban(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"'{args[args.index('--year') + 1]}'：年份须在 2019–2100 之间。" in result.stderr
    english = duban(*args, cwd=tmp_path, env=clean_env(LANG="en"))
    assert "The year must be from 2019 to 2100." in english.stderr
    assert "2019 to 2100" in duban(args[0], "--help", cwd=tmp_path,
                                   env=clean_env(LANG="en")).stdout


def test_the_first_cycle_is_a_year_the_command_line_takes(tmp_path: Path) -> None:
    assert duban("db", "upgrade", cwd=tmp_path).returncode == 0
    result = duban("export", "--year", "2019", "-o", "x.xlsx", cwd=tmp_path,
                   env=clean_env(LANG="en"))
    assert result.returncode == 1 and "No records for 2019" in result.stderr  # not a usage error


# -- a unit named in part ------------------------------------------------------------------------
@pytest.mark.parametrize(("given", "meant"), [
    ("生态", "生态环境局 (ecology-environment)"), ("林业", "林业局 (forestry)"),
    ("生态环镜局", "生态环境局 (ecology-environment)"), ("forest", "林业局 (forestry)"),
    ("发改", "发展改革局 (development-reform)"), ("发改局", "发展改革局 (development-reform)"),
])
def test_a_partial_unit_name_gets_a_suggestion(tmp_path: Path, given: str, meant: str) -> None:
    result = duban("ics", "--unit", given, "-o", "x.ics", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"未知单位 '{given}'；您是不是要找 {meant}？请用单位编号、"
                                     "名称或别名指定（'duban units' 可列出全部）。")
    assert not (tmp_path / "x.ics").exists()


def test_a_reference_matching_many_units_names_five_and_counts_the_rest(
        tmp_path: Path) -> None:
    """``--unit 镇`` suggested 5 of the 14 towns, not 各镇政府, and did not say there were more."""
    result = duban("ics", "--unit", "镇", "-o", "x.ics", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("未知单位 '镇'；您是不是要找 各镇政府 (towns)或岑城镇 ")
    assert "，或另外10个单位？" in result.stderr, result.stderr
    english = duban("ics", "--unit", "镇", "-o", "x.ics", cwd=tmp_path, env=clean_env(LANG="en"))
    assert ", or 10 more units?" in english.stderr


def test_a_unit_like_no_other_gets_the_list_command(tmp_path: Path) -> None:
    result = duban("tasks", "--unit", "外星局", cwd=tmp_path, env=clean_env(LANG="en"))
    assert result.returncode == 2
    assert "Unknown unit '外星局'. Run 'duban units'" in result.stderr
    english = duban("ics", "--unit", "林业", "-o", "x.ics", cwd=tmp_path,
                    env=clean_env(LANG="en"))
    assert "did you mean Forestry Bureau (forestry)?" in english.stderr
