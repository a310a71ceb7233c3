#!/usr/bin/env bash
# Run the perf_analyzer that scripts/install-perf-analyzer.sh unpacked, with the libcudart it brought.
# Arguments go to perf_analyzer unchanged, e.g. scripts/perf_analyzer.sh -m digits_lenet -u localhost:8000
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)/.tools/perf_analyzer
[ -x "$here/bin/perf_analyzer" ] || { echo "perf_analyzer is not installed: bash scripts/install-perf-analyzer.sh" >&2; exit 2; }
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/perf_analyzer" "$@"
