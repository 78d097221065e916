#!/usr/bin/env bash
# Creates .venv (or reuses it) and installs deepgen with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
stamp=.venv/.deepgen-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]" 2> >(grep -v "^WARNING: Location" >&2)
    touch "$stamp"
fi
