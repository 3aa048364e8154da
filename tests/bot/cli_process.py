"""Running the real ``duban`` console script in a subprocess, as an operator would.

``duban(...)`` runs ``.venv/bin/duban`` (the console script beside the test's Python) with a
clean environment: none of the caller's ``DUBAN_*``, ``DATABASE_URL`` or ``TELEGRAM_*``
variables, no ``LANG`` (Chinese), the Bot API pointed at a closed local port, and the working
directory a temporary folder, so that no ``.env`` is picked up unless the test writes one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "data" / "tasks.yaml"
DUBAN = Path(sys.executable).parent / "duban"
CLOSED_PORT_API = "http://127.0.0.1:9/bot"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of an operator who has set nothing (plus ``extra``)."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DUBAN_", "TELEGRAM_", "LC_", "PYTEST"))
           and name not in ("DATABASE_URL", "LANG", "LANGUAGE")}
    env["TELEGRAM_API_BASE_URL"] = CLOSED_PORT_API
    env["TELEGRAM_FILE_BASE_URL"] = "http://127.0.0.1:9/file/bot"
    env.update(extra)
    return env


def duban(*args: str, cwd: Path, env: dict[str, str] | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``duban args...`` in ``cwd``; stdout and stderr are captured as text."""
    return subprocess.run([str(DUBAN), *args], cwd=cwd, env=env if env is not None else
                          clean_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)
