#!/usr/bin/env bash
# Sets up (or reuses) .venv, lints, and runs the test suite; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check --quiet src tests bench
.venv/bin/python -m pytest -q "$@"
