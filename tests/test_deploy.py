"""docs/deploy.md followed literally: ``scripts/deploy.sh`` here, then duban as its user.

As far as a machine without systemd allows: the script runs as root into throw-away folders with
a throw-away service user; the package is installed from a root-owned copy of the checkout
(not editable, as on a server); duban then runs as that user, against SQLite in the state folder
and against a fresh PostgreSQL role and database made as the document says. Everything made is
removed afterwards. Skipped unless run as root with ``useradd`` and ``runuser`` (CI is root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bot.cli_process import clean_env
from tests.dbs import pg_base_url, require_postgres

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser")
        or not SYSTEM_PYTHON.exists(),
        reason="needs root, useradd, runuser and /usr/bin/python3 (as CI has)"),
    # One deployment for the module: with pytest-xdist (.ci/run) its tests share one worker
    # instead of each worker running deploy.sh again (two minutes each).
    pytest.mark.xdist_group("deploy"),
]


@dataclass
class Deployment:
    user: str
    base: Path
    checkout: Path
    state: Path
    config: Path
    bin: Path
    units: Path
    output: str

    @property
    def duban(self) -> Path:
        """The operators' command the script installs."""
        return self.bin / "duban"

    @property
    def venv_duban(self) -> Path:
        return self.checkout / ".venv" / "bin" / "duban"


def run(*args: str | Path, cwd: Path = Path("/"), env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def as_user(deployment: Deployment, *args: str | Path, cwd: Path = Path("/"),
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run("runuser", "-u", deployment.user, "--", *args, cwd=cwd, env=env)


def _copy_checkout(target: Path) -> None:
    shutil.copytree(ROOT, target, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", "var", ".env", "bench"))


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    """scripts/deploy.sh run once into throw-away folders, with a throw-away user. Session-scoped:
    a module-scoped one was made again each time pytest-xdist ran another module's test between
    two of these (four deployments of two minutes each in one CI run)."""
    base = Path(tempfile.mkdtemp(prefix="duban-deploy-", dir="/tmp"))
    base.chmod(0o755)
    user = f"dubt{uuid.uuid4().hex[:8]}"
    d = Deployment(user, base, base / "opt" / "duban", base / "var" / "lib" / "duban",
                   base / "etc" / "duban", base / "bin", base / "units", "")
    _copy_checkout(d.checkout)
    d.units.mkdir()
    try:
        result = run("bash", d.checkout / "scripts" / "deploy.sh", "--user", user,
                     "--python", SYSTEM_PYTHON, "--state-dir", d.state, "--config-dir", d.config,
                     "--bin-dir", d.bin, "--unit-dir", d.units, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        d.output = result.stdout
        yield d
    finally:
        subprocess.run(["userdel", user], capture_output=True, check=False)
        subprocess.run(["groupdel", user], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_script_makes_the_user_the_state_folder_and_a_private_env(
        deployment: Deployment) -> None:
    d = deployment
    account = pwd.getpwnam(d.user)
    assert account.pw_shell.endswith("nologin")
    assert d.state.stat().st_uid == account.pw_uid and mode(d.state) == 0o750
    env_file = d.config / "duban.env"
    assert mode(env_file) == 0o600 and env_file.stat().st_uid == account.pw_uid
    text = env_file.read_text(encoding="utf-8")
    assert f"DUBAN_DATA_DIR={d.state}" in text and f"DUBAN_TASKS={d.config}/tasks.yaml" in text
    assert (d.config / "tasks.yaml").read_bytes() == (ROOT / "data" / "tasks.yaml").read_bytes()
    database = d.state / "duban.sqlite3"
    assert database.exists() and database.stat().st_uid == account.pw_uid
    unit = (d.units / "duban.service").read_text(encoding="utf-8")
    for line in ("Wants=network-online.target", "After=network-online.target", "RestartSec=",
                 f"User={d.user}", f"Environment=DUBAN_ENV_FILE={d.config}/duban.env",
                 f"ReadWritePaths={d.state}", f"ExecStart={d.venv_duban} run"):
        assert line in unit, line
    assert not (d.checkout / "var").exists()


def test_operators_run_duban_from_any_folder_as_the_service_user(
        deployment: Deployment) -> None:
    d = deployment
    check = run(d.duban, "check", cwd=Path("/"))
    assert check.returncode == 0, check.stderr
    assert f"{d.config}/tasks.yaml" in check.stdout and f"{d.config}/duban.env" in check.stdout
    invite = run(d.duban, "invite", "--unit", "生态环境局", "--bot-username", "some_bot",
                 cwd=Path("/"))
    assert invite.returncode == 0, invite.stderr
    assert invite.stdout.startswith("https://t.me/some_bot?start=")
    owner = pwd.getpwuid((d.state / "duban.sqlite3").stat().st_uid).pw_name
    assert owner == d.user  # never a root-owned database the service cannot write


def test_the_installed_package_ships_the_timetable(deployment: Deployment) -> None:
    d = deployment
    where = as_user(d, d.checkout / ".venv" / "bin" / "python", "-c",
                    "import bot; print(bot.__file__)")
    assert "site-packages" in where.stdout, where.stdout + where.stderr  # not editable
    tasks = as_user(d, d.venv_duban, "tasks", "--json", env=clean_env())
    assert tasks.returncode == 0, tasks.stderr
    assert tasks.stdout.count('"id": ') >= 26
    demo = as_user(d, d.venv_duban, "demo", "--lang", "en", env=clean_env())
    assert demo.returncode == 0, demo.stderr
    assert "Summary of cycle 2026" in demo.stdout


def test_the_service_user_is_told_the_real_cause_of_an_unwritable_database(
        deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The blocker of issue 9: root made var/ (or var/duban.sqlite3), the service user runs."""
    d = deployment
    folder = d.base / "rootowned"
    folder.mkdir(mode=0o755)
    no_var = as_user(d, d.venv_duban, "db", "upgrade", cwd=folder, env=clean_env())
    assert no_var.returncode == 1
    assert "Traceback" not in no_var.stderr and "PermissionError" not in no_var.stderr
    for named in (str(folder), "root", d.user, "DUBAN_DATA_DIR"):
        assert named in no_var.stderr, named
    assert len(no_var.stderr.strip().splitlines()) == 1
    made_by_root = run(d.venv_duban, "db", "upgrade", cwd=folder)
    assert made_by_root.returncode == 0, made_by_root.stderr
    file_of_root = as_user(d, d.venv_duban, "invite", "--unit", "生态环境局", "--bot-username",
                           "some_bot", cwd=folder, env=clean_env())
    assert file_of_root.returncode == 1
    for named in (str(folder / "var"), "root", d.user):
        assert named in file_of_root.stderr, named
    assert "请检查 DATABASE_URL" not in file_of_root.stderr


def test_postgresql_as_the_document_says(deployment: Deployment) -> None:
    """A fresh role that owns its database upgrades; a role that does not gets one clear line."""
    require_postgres()
    d = deployment
    admin = pg_base_url()
    host, port = admin.host or "127.0.0.1", str(admin.port or 5432)
    psql = ["psql", "-h", host, "-p", port, "-U", admin.username or "postgres", "-d",
            admin.database or "postgres", "-v", "ON_ERROR_STOP=1", "-qc"]
    role = d.user
    try:
        # docs/deploy.md: createuser duban; createdb -O duban duban
        assert run(*psql, f'CREATE ROLE "{role}" LOGIN').returncode == 0
        assert run(*psql, f'CREATE DATABASE "{role}" OWNER "{role}"').returncode == 0
        assert run(*psql, f'CREATE DATABASE "{role}_notmine"').returncode == 0
        url = f"postgresql+psycopg://{role}@{host}:{port}/{role}"
        good = as_user(d, d.venv_duban, "db", "upgrade", env=clean_env(DATABASE_URL=url))
        assert good.returncode == 0, good.stderr
        not_owner = as_user(d, d.venv_duban, "db", "upgrade",
                            env=clean_env(DATABASE_URL=url + "_notmine"))
        assert not_owner.returncode == 1
        lines = not_owner.stderr.strip().splitlines()
        assert len(lines) == 1 and "permission denied for schema public" in lines[0]
        assert "OWNER" in lines[0] or "-O" in lines[0]
        no_role = as_user(d, d.venv_duban, "db", "upgrade", env=clean_env(
            DATABASE_URL=f"postgresql+psycopg://nobody{role}:pw@{host}:{port}/{role}"))
        assert no_role.returncode == 1
        lines = no_role.stderr.strip().splitlines()
        assert len(lines) == 1 and "does not exist" in lines[0] and "createuser" in lines[0]
        assert ":pw@" not in no_role.stderr
    finally:
        run(*psql, f'DROP DATABASE IF EXISTS "{role}"')
        run(*psql, f'DROP DATABASE IF EXISTS "{role}_notmine"')
        run(*psql, f'DROP ROLE IF EXISTS "{role}"')


def test_running_the_script_again_upgrades_and_keeps_the_settings(
        deployment: Deployment) -> None:
    d = deployment
    env_file = d.config / "duban.env"
    env_file.write_text(env_file.read_text(encoding="utf-8") + "DUBAN_ADMINS=42\n",
                        encoding="utf-8")
    backups = d.base / "pre"
    again = run("bash", d.checkout / "scripts" / "deploy.sh", "--user", d.user, "--python",
                SYSTEM_PYTHON, "--state-dir", d.state, "--config-dir", d.config, "--bin-dir",
                d.bin, "--unit-dir", d.units, "--backup-dir", backups, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "DUBAN_ADMINS=42" in env_file.read_text(encoding="utf-8")
    assert mode(env_file) == 0o600
    # The database was backed up before its schema was upgraded (docs/deploy.md, "Rollback").
    [copy] = list((backups / "pre-upgrade").iterdir())
    assert copy.suffix == ".sqlite3" and mode(copy) == 0o600
    assert copy.stat().st_uid == pwd.getpwnam(d.user).pw_uid
    # The closing words fit a re-run: upgraded, settings kept; only what is left to do.
    assert "duban is upgraded" in again.stdout and "were kept" in again.stdout
    assert "duban is installed" not in again.stdout
    assert "token" in again.stdout and "/start" not in again.stdout  # admins are set now
    assert "duban is installed" in d.output and "/start" in d.output
    own = [line for line in (again.stdout + d.output).splitlines()
           if line.startswith(("== ", "duban is", "Next:", "  1.", "  2.", "Operators"))]
    assert own and all(line.isascii() for line in own), own  # the script speaks English


def test_permission_problems_name_the_path_and_the_user(deployment: Deployment) -> None:
    d = deployment
    private = d.base / "private"
    private.mkdir(mode=0o755)
    env_file = private / "duban.env"
    env_file.write_text("DUBAN_ADMINS=1\n", encoding="utf-8")
    env_file.chmod(0o600)
    unreadable = as_user(d, d.venv_duban, "check",
                         env=clean_env(DUBAN_ENV_FILE=str(env_file), LANG="en"))
    assert unreadable.returncode == 1
    line = unreadable.stderr.strip().splitlines()[-1]
    for named in (str(env_file), "root", d.user):
        assert named in line, (named, line)
    assert "Traceback" not in unreadable.stderr
    folder = d.base / "rootdata"
    folder.mkdir(mode=0o755)
    no_write = as_user(d, d.venv_duban, "run", env=clean_env(
        DUBAN_DATA_DIR=str(folder), TELEGRAM_BOT_TOKEN="123:abc", LANG="en",
        DATABASE_URL=f"sqlite:///{d.state / 'duban.sqlite3'}"))
    assert no_write.returncode == 1
    lines = no_write.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in no_write.stderr
    for named in (str(folder), "root", d.user):
        assert named in lines[0], (named, lines[0])


def test_backup_and_restore_as_the_document_says(deployment: Deployment) -> None:
    """scripts/backup.sh makes one archive; restoring it brings the invitations back."""
    d = deployment
    made = run(d.duban, "invite", "--unit", "林业局", "--bot-username", "some_bot")
    assert made.returncode == 0, made.stderr
    code = made.stdout.split("start=")[1].split()[0]
    backups = d.base / "backups"
    # as cron runs it: a bare PATH, without the sbin folders (runuser lives there)
    result = run("env", "-i", "PATH=/usr/bin:/bin", "HOME=/root", "bash",
                 d.checkout / "scripts" / "backup.sh", "--config-dir", d.config, backups)
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.strip())
    assert archive.exists() and mode(archive) == 0o600
    listing = run("tar", "-tzf", archive).stdout
    for name in ("duban.sqlite3", "duban.env", "tasks.yaml"):
        assert name in listing, name
    # docs/deploy.md, "Restore": stop the bot, unpack, `duban db restore`, start the bot.
    database = d.state / "duban.sqlite3"
    database.unlink()
    unpacked = d.base / "restore"
    unpacked.mkdir()
    assert run("tar", "-xzf", archive, "-C", unpacked).returncode == 0
    [folder] = list(unpacked.iterdir())
    restored = run(d.duban, "db", "restore", "--replace", folder / "duban.sqlite3")
    assert restored.returncode == 0, restored.stderr
    assert database.stat().st_uid == pwd.getpwnam(d.user).pw_uid  # the service's, not root's
    again = as_user(d, d.checkout / ".venv" / "bin" / "python", "-c",
                    "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
                    "'select count(*) from invite where code = ?', (sys.argv[2],)).fetchone()[0])",
                    database, code)
    assert again.stdout.strip() == "1", again.stderr
