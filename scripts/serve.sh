#!/usr/bin/env bash
# Install the service into .venv and serve the committed reference models.
# Usage: scripts/serve.sh [--host H] [--port P] [--repository PATH]   (or ORTSERVE_* env vars)
# Also installs the heatmap label fonts (Debian packages) when run as root on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# The versions the images ship and the tests run (deploy/constraints.txt, made by deploy/lock.sh).
.venv/bin/python -m pip install -q --disable-pip-version-check -c deploy/constraints.txt -e .
fonts=()
[ -e /usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf ] || fonts+=(fonts-noto-core)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || fonts+=(fonts-wqy-microhei)
bash scripts/system-packages.sh "so attention heatmaps draw CJK, Arabic, Hebrew, Devanagari and Thai labels" ${fonts[@]+"${fonts[@]}"}
exec .venv/bin/python -m service "$@"
