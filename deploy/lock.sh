#!/usr/bin/env bash
# Regenerate deploy/constraints.txt: the ONE lock of every install. The images (cpu, gpu,
# loadtest), scripts/serve.sh, and scripts/install-dev.sh (so CI and the tests) all install
# with `--constraint deploy/constraints.txt`, so the suite tests exactly what ships.
#
#   deploy/lock.sh              # keep existing pins that still satisfy pyproject.toml
#   deploy/lock.sh --upgrade    # move every pin to the newest version pyproject allows
#   scripts/bump-lock.sh        # --upgrade, reinstall, run the whole suite (the scheduled job)
#
# It resolves, in a clean throw-away Python 3.11 venv (the version of the CPU image):
#   pyproject.toml [project.dependencies]  -> the server (onnxruntime, CPU)
#   pyproject.toml [gpu] extra             -> onnxruntime-gpu, pinned to resolve together with the rest
#   pyproject.toml [dev], [train] extras   -> the test and training tools (never in an image)
#   deploy/torch.in                        -> torch 2.13.0 (CPU build here; no local label in the lock)
#   deploy/build.in                        -> setuptools, wheel: pyproject's [build-system] requires
#                                             (the images build the project without build isolation)
#   deploy/loadtest.in                     -> extras of the loadtest image
# pip-compile --strip-extras makes the output valid as a pip constraints file.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"need Python 3.11 (the image), got {sys.version}"'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet "pip-tools==7.6.2"
compile() {
    CUSTOM_COMPILE_COMMAND="deploy/lock.sh" "$tmp/venv/bin/pip-compile" --quiet --strip-extras --allow-unsafe \
        --extra gpu --extra dev --extra train --no-emit-index-url --no-emit-find-links \
        --output-file deploy/constraints.txt "$@" pyproject.toml deploy/torch.in deploy/build.in deploy/loadtest.in
}
compile "$@"
# onnxruntime and onnxruntime-gpu are one release built twice: the CPU image and the GPU image must
# run the same one, and onnxruntime-gpu's newest can lag onnxruntime's. Hold the CPU build to it.
pin() { grep -E "^$1==" deploy/constraints.txt | cut -d= -f3; }
if [ "$(pin onnxruntime)" != "$(pin onnxruntime-gpu)" ]; then
    compile --upgrade-package "onnxruntime==$(pin onnxruntime-gpu)"
fi
# A local version label (torch's +cpu) names one build; the pin must install on any machine.
sed -i -E 's/^(torch==[0-9.]+)\+[A-Za-z0-9.]+$/\1/' deploy/constraints.txt
