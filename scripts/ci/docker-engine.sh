#!/usr/bin/env bash
# A Docker engine for CI and the deployment check (tests/deploy/test_engine.py).
#   start: install Debian's docker.io and docker-compose when missing (root + apt-get), start
#          dockerd only when no engine runs, and record the PID it started;
#   stop:  stop that PID (and nothing else), if this script started one.
# Usage: scripts/ci/docker-engine.sh start|stop
# The PID file (ORTSERVE_DOCKERD_PIDFILE) marks an engine this script owns; its log sits beside it.
set -euo pipefail
PIDFILE=${ORTSERVE_DOCKERD_PIDFILE:-/run/ortserve-dockerd.pid}
LOG=${PIDFILE%.pid}.log
# Debian's client first: another docker on PATH may be newer and lack the buildx plugin BuildKit needs.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=docker

answers() { "$DOCKER" info >/dev/null 2>&1; }

wait_for_engine() {
  for _ in $(seq 1 "$1"); do
    answers && return 0
    sleep 1
  done
  return 1
}

start() {
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "docker engine: dockerd or docker-compose is missing; install docker.io and docker-compose" >&2
      return 1
    fi
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io docker-compose >/dev/null
    DOCKER=/usr/bin/docker
  fi
  if answers; then
    echo "docker engine: one is running already; left alone"
    return 0
  fi
  if pgrep -x dockerd >/dev/null; then  # someone else's, still starting: never start a second
    wait_for_engine 60 && { echo "docker engine: one was starting; left alone"; return 0; }
    echo "docker engine: a dockerd runs but does not answer" >&2
    return 1
  fi
  [ "$(id -u)" = 0 ] || { echo "docker engine: starting dockerd needs root" >&2; return 1; }
  dockerd >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  if ! wait_for_engine 60; then
    echo "docker engine: dockerd did not answer within 60 s; its log:" >&2
    tail -n 20 "$LOG" >&2
    stop
    return 1
  fi
  echo "docker engine: started dockerd (pid $(cat "$PIDFILE"), log $LOG)"
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  pid=$(cat "$PIDFILE")
  # Only the dockerd this script started: the PID must still be a dockerd.
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill -0 "$pid" 2>/dev/null && echo "docker engine: dockerd $pid still runs after 30 s" >&2
  fi
  rm -f "$PIDFILE"
  echo "docker engine: stopped dockerd (pid $pid)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
