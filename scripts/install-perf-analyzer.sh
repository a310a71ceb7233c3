#!/usr/bin/env bash
# Triton's load tool, perf_analyzer, into .tools/perf_analyzer (bin/ and lib/), for its tests and
# the commands in docs/load-testing.md (run it through scripts/perf_analyzer.sh). It ships inside the tritonclient
# 2.40.0 manylinux wheel; it needs libcudart.so.12 (NVIDIA's runtime wheel; no GPU is needed) and
# Debian's libb64-0d (install-dev.sh installs it). Only the two files are unpacked: the venv's own
# tritonclient (the Python client, pinned by the lock) is untouched. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.tools/perf_analyzer
[ -x "$DEST/bin/perf_analyzer" ] && [ -e "$DEST/lib/libcudart.so.12" ] && exit 0
PYTHON=${PYTHON:-.venv/bin/python}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: --dest "$scratch" \
  "tritonclient==2.40.0" "nvidia-cuda-runtime-cu12==12.3.101"
# The exact wheels this was tested with (PyPI's sha256 for the x86-64 manylinux files).
(cd "$scratch" && sha256sum -c --quiet) <<'SUMS'
f270fdb61560894c20b6e7fcd4fc1bf837e51022092692b63a38692042fa18b8  tritonclient-2.40.0-py3-none-manylinux1_x86_64.whl
04604679ddca6acb96c76a7a9306282cddc16981f92e148e2dfe227078883cda  nvidia_cuda_runtime_cu12-12.3.101-py3-none-manylinux1_x86_64.whl
SUMS
mkdir -p "$DEST/bin" "$DEST/lib"
"$PYTHON" - "$scratch" "$DEST" <<'PY'
import sys, zipfile
from pathlib import Path
scratch, dest = Path(sys.argv[1]), Path(sys.argv[2])
members = {"tritonclient-2.40.0.data/data/bin/perf_analyzer": dest / "bin" / "perf_analyzer",
           "nvidia/cuda_runtime/lib/libcudart.so.12": dest / "lib" / "libcudart.so.12"}
for wheel in scratch.glob("*.whl"):
    with zipfile.ZipFile(wheel) as archive:
        for name in set(archive.namelist()) & set(members):
            members[name].write_bytes(archive.read(name))
(dest / "bin" / "perf_analyzer").chmod(0o755)
PY
echo "perf_analyzer installed in $DEST (run it with scripts/perf_analyzer.sh)"
