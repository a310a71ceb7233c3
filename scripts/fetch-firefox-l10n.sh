#!/usr/bin/env bash
# Firefox ESR's language packs for language-id training (models/data_firefox.py): the
# Debian packages firefox-esr-l10n-<locale> are downloaded without Firefox itself and only
# their .xpi files are kept, in ${ORTSERVE_FIREFOX_L10N:-~/.cache/ortserve/firefox-l10n}
# (about 20 MB; kept between runs, --refresh fetches again). Needs apt-get (Debian or Ubuntu); no root: apt-get download writes here.
# Only `python -m models.train langid_transformer` reads them; serving and the tests do not.
set -euo pipefail
dest=${ORTSERVE_FIREFOX_L10N:-${XDG_CACHE_HOME:-$HOME/.cache}/ortserve/firefox-l10n}
locales="ar bg ca cs da de el en-ca en-gb es-es et fa fi fr he hi-in hr hu id is it ja ko lt lv ms nl nb-no
         pl pt-pt pt-br ro ru sk sl sr sv-se th tr uk vi zh-cn zh-tw"
if [ "${1:-}" != "--refresh" ] && [ "$(ls "$dest"/langpack-*.xpi 2>/dev/null | wc -l)" -ge 43 ]; then
  echo "fetch-firefox-l10n: already in $dest (--refresh fetches the current packs)"; exit 0
fi
command -v apt-get >/dev/null 2>&1 || { echo "fetch-firefox-l10n: needs apt-get (Debian packages firefox-esr-l10n-*)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages=()
for locale in $locales; do packages+=("firefox-esr-l10n-$locale"); done
download() { (cd "$work" && apt-get download -qq "${packages[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2) || true; }
download
# A fresh machine has no package lists yet: refresh them (root only) and try once more.
if ! ls "$work"/*.deb >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null && download
fi
ls "$work"/*.deb >/dev/null 2>&1 || { echo "fetch-firefox-l10n: apt-get download firefox-esr-l10n-* failed" >&2; exit 1; }
mkdir -p "$dest"
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$work/x"
done
cp "$work"/x/usr/lib/firefox-esr/browser/extensions/langpack-*.xpi "$dest"/
count=$(ls "$dest"/langpack-*.xpi | wc -l)
[ "$count" -ge 43 ] || { echo "fetch-firefox-l10n: only $count of 43 language packs in $dest" >&2; exit 1; }
echo "fetch-firefox-l10n: $count language packs in $dest"
