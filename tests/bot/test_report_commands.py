"""The report commands (``duban export``, ``chart``, ``ics``) as an operator meets them: they
never make a database, and say where they looked for one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.cli_process import clean_env, duban


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
