#!/usr/bin/env bash
# Install the Debian packages named on the command line that are missing, when run as root
# with apt-get; otherwise print one note saying what to install and why (never fail:
# everything they add is optional for serving).
# Usage: scripts/system-packages.sh "why they are needed" PACKAGE...
# serve.sh and install-dev.sh share it, so the two set-up commands install fonts the same way.
set -euo pipefail
why=$1
shift
[ $# -gt 0 ] || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
else
  echo "note: install $* (Debian packages) $why" >&2
fi
