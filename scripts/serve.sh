#!/usr/bin/env bash
# Install the service into .venv and serve the committed reference models.
# Usage: scripts/serve.sh [--host H] [--port P] [--repository PATH]   (or ORTSERVE_* env vars)
# Also installs the heatmap label fonts (Debian packages) when run as root on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
fonts=()
[ -e /usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf ] || fonts+=(fonts-noto-core)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || fonts+=(fonts-wqy-microhei)
if [ ${#fonts[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${fonts[@]}" >/dev/null
  else
    echo "note: install ${fonts[*]} (Debian packages) so attention heatmaps draw CJK, Arabic, Hebrew, Devanagari and Thai labels" >&2
  fi
fi
exec .venv/bin/python -m service "$@"
