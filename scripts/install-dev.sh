#!/usr/bin/env bash
# Install everything the tests need into .venv: the service, dev tools, the training
# stack, the Japanese Vowels data wheel, and the system tools the
# deployment tests run (docker-compose, nginx and promtool validate configs without an engine)
# plus the fonts the attention heatmaps draw non-Latin labels with.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Every version comes from the one lock the images install from (deploy/constraints.txt,
# made by deploy/lock.sh), so the suite tests exactly what ships; torch (2.13.0, CPU) included.
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check -c deploy/constraints.txt)
"${PIP[@]}" torch
"${PIP[@]}" -e ".[dev,train,loadtest]"
# aeon is only a carrier of the UCI .ts files: --no-deps keeps numba and its numpy pin out.
"${PIP[@]}" --no-deps "aeon==1.6.0"
# Sphinx is only a carrier of its translators' .po files (language-id training messages,
# models/data_corpora.py): --no-deps, it is never imported.
"${PIP[@]}" --no-deps "sphinx==9.0.4"

need=()
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)   # promtool checks the Prometheus config and dashboard queries
# Heatmap label fonts (service/friendly/heatmap.py): CJK/Hangul, Arabic, Hebrew, Devanagari, Thai.
[ -e /usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf ] || need+=(fonts-noto-core)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
# Estonian training words for language id (wordfreq has no Estonian list): the spelling dictionary.
[ -e /usr/share/hunspell/et_EE.dic ] || need+=(myspell-et)
# A real browser for the playground's tests (tests/service/api/test_playground_browser.py): Selenium drives it.
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || need+=(chromium chromium-driver)
# perf_analyzer (scripts/install-perf-analyzer.sh, below) links Debian's libb64.
ldconfig -p 2>/dev/null | grep -q 'libb64\.so\.0d' || need+=(libb64-0d)
bash scripts/system-packages.sh "for the deployment validation tests, heatmap fonts, Estonian training words and perf_analyzer" ${need[@]+"${need[@]}"}
# Triton's perf_analyzer (tests/service/test_perf_analyzer.py): into .tools/, beside the locked venv.
bash scripts/install-perf-analyzer.sh
# Firefox's language packs (language-id training messages, models/data_firefox.py): optional
# for the tests, so a machine without apt-get or the Debian mirror gets a note, not a failure.
bash scripts/fetch-firefox-l10n.sh >/dev/null || echo "note: language-id training needs Firefox's language packs: bash scripts/fetch-firefox-l10n.sh" >&2
