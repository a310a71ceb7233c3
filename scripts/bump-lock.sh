#!/usr/bin/env bash
# The scheduled dependency bump: move every pin in deploy/constraints.txt to the newest version
# pyproject.toml allows (its ceilings keep pre-1.0 packages within one minor release), reinstall
# .venv from the new lock, and run the whole suite. Green: commit deploy/constraints.txt.
# Red: the diff of deploy/constraints.txt says which release to look at.
# .ci/bump runs this; schedule it (cron, a CI schedule) weekly or monthly.
set -euo pipefail
cd "$(dirname "$0")/.."
cp deploy/constraints.txt "${TMPDIR:-/tmp}/constraints.before.txt"
bash deploy/lock.sh --upgrade
echo "pins moved:" >&2
diff <(grep -E '^[A-Za-z0-9]' "${TMPDIR:-/tmp}/constraints.before.txt") <(grep -E '^[A-Za-z0-9]' deploy/constraints.txt) >&2 || true
exec bash scripts/test.sh "$@"
