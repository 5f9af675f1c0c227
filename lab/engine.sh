#!/usr/bin/env bash
# Make sure a Docker engine and the Compose v2 CLI plugin are available.
# Uses a reachable engine when there is one; otherwise installs docker.io from Debian,
# the Compose v2 plugin from Debian trixie's docker-compose package, and starts dockerd.
# Idempotent. On failure: one sentence on stderr, exit 1.
set -uo pipefail

CACHE="${AGENTA_LAB_CACHE:-$(cd "$(dirname "$0")" && pwd)/.cache}"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
LOG=/var/log/agenta-lab-dockerd.log

die() { echo "engine: $*" >&2; exit 1; }
say() { [ -n "${QUIET:-}" ] || echo "engine: $*"; }

engine_up() { timeout 10 docker info >/dev/null 2>&1; }
compose_ok() { docker compose version >/dev/null 2>&1; }

apt_quiet() { DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0 "$@" >/dev/null 2>&1; }

ensure_apt_lists() {
  [ -n "${_APT_UPDATED:-}" ] && return 0
  apt_quiet update || return 1
  _APT_UPDATED=1
}

install_engine() {
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and installing one needs root; start dockerd or run as root."
  command -v apt-get >/dev/null || die "no Docker engine answers and this is not a Debian-like system; install and start Docker yourself."
  if ! command -v dockerd >/dev/null; then
    say "installing docker.io from Debian"
    ensure_apt_lists || die "apt-get update failed, so docker.io cannot be installed; check the package mirrors."
    apt_quiet install -y --no-install-recommends docker.io iptables ca-certificates \
      || die "installing docker.io with apt-get failed; run 'apt-get install docker.io' to see why."
  fi
}

start_engine() {
  if [ -S /var/run/docker.sock ] && ! engine_up; then rm -f /var/run/docker.sock; fi
  say "starting dockerd (log: $LOG)"
  # containerd is started by dockerd itself when no system containerd runs.
  nohup dockerd --storage-driver=overlay2 >"$LOG" 2>&1 &
  for _ in $(seq 1 60); do engine_up && return 0; sleep 1; done
  die "dockerd did not answer within 60 s; see $LOG."
}

install_compose() {
  compose_ok && return 0
  mkdir -p "$CACHE/compose" "$PLUGIN_DIR"
  local bin="$CACHE/compose/docker-compose"
  if [ ! -x "$bin" ]; then
    say "fetching docker-compose 2.x from Debian trixie"
    local d="$CACHE/compose/apt"
    mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/etc"
    printf 'deb http://deb.debian.org/debian trixie main\n' >"$d/etc/trixie.list"
    local opts=(-o "Dir::Etc::SourceList=$d/etc/trixie.list" -o "Dir::Etc::SourceParts=/nonexistent"
                -o "Dir::State::Lists=$d/lists" -o "Dir::Cache::Archives=$d/archives"
                -o "Acquire::Languages=none" -o "APT::Get::List-Cleanup=0")
    apt-get -qq "${opts[@]}" update >/dev/null 2>&1 || die "could not read Debian trixie's package list, so the Compose v2 plugin cannot be fetched."
    ( cd "$d/archives" && apt-get -qq "${opts[@]}" download docker-compose >/dev/null 2>&1 ) \
      || die "could not download trixie's docker-compose package."
    local deb; deb=$(ls "$d"/archives/docker-compose_2*.deb 2>/dev/null | head -n1)
    [ -n "$deb" ] || die "trixie's docker-compose package is not version 2, so it cannot serve as the Compose v2 plugin."
    rm -rf "$d/x"; dpkg-deb -x "$deb" "$d/x" || die "could not unpack $deb."
    local found; found=$(find "$d/x" -type f -name docker-compose -perm -u+x | head -n1)
    [ -n "$found" ] || die "$deb holds no docker-compose binary."
    cp "$found" "$bin.tmp" && mv "$bin.tmp" "$bin"
  fi
  install -m 0755 "$bin" "$PLUGIN_DIR/docker-compose"
  compose_ok || die "the Compose plugin at $PLUGIN_DIR/docker-compose does not run."
}

if ! command -v docker >/dev/null; then install_engine; fi
if ! engine_up; then
  install_engine
  start_engine
fi
install_compose
say "ready: $(docker version -f 'engine {{.Server.Version}}' 2>/dev/null), $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"
