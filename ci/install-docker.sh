#!/usr/bin/env bash
# Provision a Docker Engine and the Compose v2 CLI plugin on a Debian 12 CI
# machine (root, no systemd, no container registry). Idempotent: an engine that
# already answers `docker info` is left alone, and an installed Compose v2 is
# kept.
#
#   bash ci/install-docker.sh
#
# Engine: Debian's docker.io. Without systemd, dockerd is started in the
# background (setsid, so it outlives the calling CI shell); its log goes to
# $DOCKERD_LOG and its PID to $DOCKERD_PIDFILE.
#
# Compose: Debian 12 has no Compose v2, so the plugin binary comes from
# Debian 13's docker-compose package (statically linked Go, needs glibc >= 2.34
# at most), fetched from the mirror this machine's apt already uses through a
# throwaway sources list: the host's apt configuration is not changed.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd-ci.log}
DOCKERD_PIDFILE=${DOCKERD_PIDFILE:-/run/dockerd-ci.pid}
DOCKERD_START_TIMEOUT=${DOCKERD_START_TIMEOUT:-90}
COMPOSE_SUITE=${COMPOSE_SUITE:-trixie}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[install-docker] %s\n' "$*"; }
die() { printf '[install-docker] error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 needs root (run as root on the CI machine)"
}

engine_answers() { timeout 20 docker info >/dev/null 2>&1; }

apt_updated=0
apt_install() {
    need_root "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $apt_updated -eq 0 ]]; then
        log "apt-get update"
        apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
    log "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        die "apt-get install $* failed"
}

# --- Docker Engine ----------------------------------------------------------

start_dockerd() {
    need_root "starting dockerd"
    local pid=""
    if [[ -s "$DOCKERD_PIDFILE" ]]; then
        pid=$(<"$DOCKERD_PIDFILE")
        if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
            [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]; then
            log "dockerd (pid $pid, from $DOCKERD_PIDFILE) is running but not answering yet; waiting"
        else
            pid=""
        fi
    fi
    if [[ -z "$pid" ]]; then
        if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
            log "systemd present: systemctl start docker"
            systemctl start docker || die "systemctl start docker failed (see journalctl -u docker)"
        else
            log "starting dockerd in the background (log $DOCKERD_LOG, pidfile $DOCKERD_PIDFILE)"
            mkdir -p "$(dirname "$DOCKERD_LOG")" "$(dirname "$DOCKERD_PIDFILE")"
            printf '\n=== %s: started by ci/install-docker.sh ===\n' "$(date -u +%FT%TZ)" >>"$DOCKERD_LOG"
            # setsid: own session, so the CI shell's end or ^C does not stop it.
            setsid /usr/sbin/dockerd </dev/null >>"$DOCKERD_LOG" 2>&1 &
            pid=$!
            printf '%s\n' "$pid" >"$DOCKERD_PIDFILE"
            log "dockerd pid $pid"
        fi
    fi

    local waited=0
    until engine_answers; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "dockerd exited during start-up (last lines of $DOCKERD_LOG above)"
        fi
        if ((waited >= DOCKERD_START_TIMEOUT)); then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "docker info did not answer within ${DOCKERD_START_TIMEOUT}s (see $DOCKERD_LOG)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "engine answers after ${waited}s"
}

ensure_engine() {
    if engine_answers; then
        log "a Docker Engine already answers 'docker info': leaving it alone"
        return
    fi
    if [[ ! -x /usr/sbin/dockerd ]]; then
        # docker.io's own client lands in /usr/bin; a newer one in
        # /usr/local/bin (if any) comes first in PATH and negotiates the API.
        apt_install docker.io
    else
        log "docker.io already installed"
    fi
    if engine_answers; then
        log "the docker.io package started the engine itself"
        return
    fi
    start_dockerd
}

check_client() {
    local client server api
    client=$(docker version --format '{{.Client.Version}}' 2>/dev/null) ||
        die "the docker client at $(command -v docker) cannot talk to the engine: $(docker version 2>&1 | tail -n 1)"
    server=$(docker version --format '{{.Server.Version}}') ||
        die "docker version cannot read the server version"
    api=$(docker version --format '{{.Server.APIVersion}}')
    log "client $(command -v docker) $client talks to engine $server (API $api)"
}

# --- Compose v2 -------------------------------------------------------------

compose_is_v2() {
    local out
    out=$(docker compose version 2>/dev/null) || return 1
    [[ "$out" =~ [Vv]ersion[[:space:]]+v?2\. ]]
}

install_compose() {
    if compose_is_v2; then
        log "Compose v2 already present: $(docker compose version)"
        return
    fi
    need_root "installing the Compose plugin"
    command -v dpkg-deb >/dev/null || die "dpkg-deb is missing"
    local mirror work keyring
    mirror=$(bash "$HERE/debian-mirror.sh") || die "cannot read the apt mirror from this machine's sources"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -r "$keyring" ]] || die "$keyring is missing (apt-get install debian-archive-keyring)"

    work=$(mktemp -d /tmp/compose-fetch.XXXXXX)
    # shellcheck disable=SC2064  # expand $work now: it is local
    trap "rm -rf '$work'" EXIT
    chmod 0755 "$work"
    mkdir -p "$work/sources" "$work/lists" "$work/cache" "$work/deb"
    # apt downloads as the unprivileged _apt user when it exists.
    if id _apt >/dev/null 2>&1; then chown _apt "$work/deb"; fi
    cat >"$work/sources/$COMPOSE_SUITE.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $COMPOSE_SUITE
Components: main
Signed-By: $keyring
EOF
    # A private sources list, lists and cache: nothing of the host's apt state
    # is read or changed besides its general configuration (proxies, auth).
    local -a apt_opts=(
        -o "Dir::Etc::SourceList=/dev/null"
        -o "Dir::Etc::SourceParts=$work/sources"
        -o "Dir::State::Lists=$work/lists"
        -o "Dir::Cache=$work/cache"
        -o "Dir::State::Status=/dev/null"
        -o "APT::Get::List-Cleanup=false"
    )
    log "fetching $COMPOSE_SUITE's docker-compose package index from the host's mirror"
    apt-get "${apt_opts[@]}" update -qq || die "apt-get update for $COMPOSE_SUITE failed"
    local version
    version=$(apt-cache "${apt_opts[@]}" show --no-all-versions docker-compose 2>/dev/null |
        awk '/^Version:/ { print $2; exit }')
    [[ -n "$version" ]] || die "$COMPOSE_SUITE has no docker-compose package"
    log "downloading docker-compose $version"
    (cd "$work/deb" && apt-get "${apt_opts[@]}" download -qq "docker-compose=$version") ||
        die "apt-get download docker-compose=$version failed"

    local deb binary
    deb=$(find "$work/deb" -maxdepth 1 -name 'docker-compose_*.deb' -print -quit)
    [[ -n "$deb" ]] || die "the docker-compose .deb was not downloaded"
    dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb could not extract $deb"
    binary=$(find "$work/root" -type f -path '*/cli-plugins/docker-compose' -print -quit)
    [[ -n "$binary" ]] || die "no cli-plugins/docker-compose binary inside $(basename "$deb")"
    install -D -m 0755 "$binary" "$PLUGIN_DIR/docker-compose"
    log "installed $PLUGIN_DIR/docker-compose (from ${binary#"$work/root"})"
    rm -rf "$work"
    trap - EXIT

    compose_is_v2 || die "docker compose version does not report v2 after install: $(docker compose version 2>&1 | tail -n 1)"
}

main() {
    local started=$SECONDS
    ensure_engine
    check_client
    install_compose
    log "$(docker compose version)"
    log "done in $((SECONDS - started))s"
}

main "$@"
