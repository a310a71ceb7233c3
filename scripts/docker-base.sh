#!/usr/bin/env bash
# Base images from Debian's packages, for sites where no image registry can be reached
# (air-gapped, or python:3.11-slim / nginx / prom/prometheus cannot be pulled):
#
#   python      Debian 12's Python 3.11 (python3, python3-venv, python-is-python3): PYTHON_IMAGE
#   nginx       Debian's nginx-light, plus wget for compose's healthcheck:        NGINX_IMAGE
#   prometheus  Debian's prometheus:                                              PROMETHEUS_IMAGE
#
# Usage: scripts/docker-base.sh [--ca-bundle FILE] [--force] [python|nginx|prometheus ...]
#   --ca-bundle FILE  also trust the CA certificates in FILE inside every image (e.g. the build
#                     machine's /etc/ssl/certs/ca-certificates.crt behind a TLS-inspecting proxy,
#                     where pip in the build otherwise fails with CERTIFICATE_VERIFY_FAILED).
#                     Off unless given (or ORTSERVE_BASE_CA_BUNDLE is set): it is a trust decision.
#   --force           rebuild even when an image with the same inputs exists.
# Prints PYTHON_IMAGE=..., NGINX_IMAGE=..., PROMETHEUS_IMAGE=... (the names to pass on; an env
# file for `docker compose --env-file`); progress goes to stderr. Needs root, mmdebstrap and a
# Debian mirror (DEBIAN_MIRROR, default deb.debian.org); installs mmdebstrap when missing.
#
# Each image is tagged twice: ortserve-base/<name>:<tag>-<hash of its inputs> (this script,
# its packages, the mirror and the CA bundle) and ortserve-base/<name>:<tag>. An image whose
# hash tag exists already is not rebuilt, so CI pays for mmdebstrap (about 1-2 min) once per engine.
set -euo pipefail
SELF=$(readlink -f "$0")
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DOCKER=/usr/bin/docker  # Debian's client; another docker on PATH may lack what this engine needs
[ -x "$DOCKER" ] || DOCKER=docker
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# Internal: mmdebstrap's customize hook. Adds the bundle's certificates that Debian's own bundle
# lacks as local CAs (one file each) and lets update-ca-certificates put them in the bundle,
# so the trust survives any later ca-certificates update inside the image.
if [ "${1:-}" = _add-ca ]; then
  root=$2 bundle=$3
  dir="$root/usr/local/share/ca-certificates/ortserve-build-host"
  mkdir -p "$dir"
  awk -v dir="$dir" '
    /-----BEGIN CERTIFICATE-----/ { cert = ""; inside = 1 }
    inside { cert = cert $0 "\n" }
    /-----END CERTIFICATE-----/ {
      inside = 0
      if (FNR == NR) { seen[cert] = 1 }
      else if (!(cert in seen)) { n++; f = sprintf("%s/%03d.crt", dir, n); printf "%s", cert > f; close(f) }
    }' "$root/etc/ssl/certs/ca-certificates.crt" "$bundle"
  echo "docker-base: $(find "$dir" -name '*.crt' | wc -l) CA certificate(s) from $bundle added" >&2
  # Its only stderr line on success is a warning that the bundle itself holds many certificates.
  out=$(chroot "$root" update-ca-certificates 2>&1) || { echo "$out" >&2; exit 1; }
  exit 0
fi

ca_bundle=${ORTSERVE_BASE_CA_BUNDLE:-}
force=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ca-bundle) ca_bundle=$2; shift 2 ;;
    --force) force=1; shift ;;
    python|nginx|prometheus) names+=("$1"); shift ;;
    *) echo "usage: $0 [--ca-bundle FILE] [--force] [python|nginx|prometheus ...]" >&2; exit 2 ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(python nginx prometheus)
if [ -n "$ca_bundle" ] && [ ! -r "$ca_bundle" ]; then
  echo "docker-base: --ca-bundle $ca_bundle is not a readable file" >&2
  exit 2
fi

# name -> repository:tag, packages, the image's configuration (docker import --change lines)
spec() {
  case "$1" in
    python)
      repo=ortserve-base/python:3.11-$SUITE variable=PYTHON_IMAGE
      packages=python3,python3-venv,python-is-python3,ca-certificates
      changes=("ENV $PATH_ENV" "ENV LANG=C.UTF-8" 'CMD ["python3"]')
      hooks=() ;;
    nginx)
      repo=ortserve-base/nginx:$SUITE variable=NGINX_IMAGE
      packages=nginx-light,wget,ca-certificates
      # As the official image: the master in the foreground. (docker import cannot set STOPSIGNAL:
      # compose gives lb `stop_signal: SIGQUIT`, nginx's graceful stop.)
      changes=("ENV $PATH_ENV" 'EXPOSE 80' 'CMD ["nginx", "-g", "daemon off;"]')
      hooks=() ;;
    prometheus)
      repo=ortserve-base/prometheus:$SUITE variable=PROMETHEUS_IMAGE
      packages=prometheus,ca-certificates
      # As prom/prometheus: user nobody, data in /prometheus (a volume), prometheus as ENTRYPOINT.
      changes=("ENV $PATH_ENV" 'USER 65534:65534' 'WORKDIR /prometheus' 'EXPOSE 9090' 'VOLUME ["/prometheus"]'
               'ENTRYPOINT ["/usr/bin/prometheus"]'
               'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]')
      hooks=(--customize-hook='mkdir -p "$1/prometheus" && chown 65534:65534 "$1/prometheus"') ;;
  esac
}

inputs_hash() {
  {
    cat "$SELF"
    printf '%s\n' "$1" "$SUITE" "$MIRROR" "$SECURITY_MIRROR" "$packages" "${changes[@]}" "${hooks[@]+"${hooks[@]}"}"
    if [ -n "$ca_bundle" ]; then cat "$ca_bundle"; else echo no-ca-bundle; fi
  } | sha256sum | cut -c1-12
}

build() {
  local name=$1 hash tagged started
  spec "$name"
  hash=$(inputs_hash "$name")
  tagged="$repo-$hash"
  if [ "$force" = 0 ] && "$DOCKER" image inspect "$tagged" >/dev/null 2>&1; then
    echo "docker-base: $tagged exists (same inputs), kept" >&2
  else
    [ "$(id -u)" = 0 ] || { echo "docker-base: run as root (mmdebstrap's root mode)" >&2; exit 1; }
    command -v mmdebstrap >/dev/null || bash "$(dirname "$SELF")/system-packages.sh" "to build base images" mmdebstrap
    command -v mmdebstrap >/dev/null || { echo "docker-base: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
    local ca_hooks=() change_args=() c
    [ -z "$ca_bundle" ] || ca_hooks=(--customize-hook="bash '$SELF' _add-ca \"\$1\" '$(readlink -f "$ca_bundle")'")
    for c in "${changes[@]}"; do change_args+=(--change "$c"); done
    started=$(date +%s)
    echo "docker-base: building $tagged from Debian $SUITE ($packages)" >&2
    mmdebstrap --quiet --variant=minbase --include="$packages" \
      ${hooks[@]+"${hooks[@]}"} ${ca_hooks[@]+"${ca_hooks[@]}"} \
      "$SUITE" - \
      "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main" \
      | "$DOCKER" import "${change_args[@]}" - "$tagged" >/dev/null
    echo "docker-base: $tagged built in $(( $(date +%s) - started )) s" >&2
    # Older builds of the same image (other inputs) are dropped, so they do not pile up.
    "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' "${repo%%:*}" | grep -F "$repo-" | grep -vxF "$tagged" \
      | xargs -r "$DOCKER" image rm >/dev/null 2>&1 || true
  fi
  "$DOCKER" tag "$tagged" "$repo"
  echo "$variable=$tagged"
}

for name in "${names[@]}"; do
  build "$name"
done
