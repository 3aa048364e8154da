#!/usr/bin/env bash
# The whole test suite from nothing: a virtualenv in .venv, the project with its dev extra, pytest.
# This is the README's test command and what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
