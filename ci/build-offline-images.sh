#!/usr/bin/env bash
# Build local stand-ins for the base images the project uses, for machines
# where no container registry is reachable (CI here, air-gapped sites):
#
#   debian:trixie-slim  debootstrap'ed Debian 13 (minbase), `docker import`ed
#   python:3.13-slim    Debian's python3 (3.13) + venv + pip, host CAs trusted
#   mariadb:11.8        Debian's mariadb-server (11.8) with an entrypoint and
#                       healthcheck.sh that honour the official image's contract
#   haproxy:3.0         Debian's haproxy (3.0 LTS) as user haproxy (99:99), the
#                       official config path, entrypoint and stop signal
#
# They carry the official names, so the project's Dockerfile and compose.yaml
# are used unchanged. What the stand-ins do and do not implement:
# ci/offline-images/README.md.
#
#   bash ci/build-offline-images.sh [--force] [--no-pull] [TAG...]
#
#   --force     rebuild even if the tag exists (containers using the old image
#               keep it; it is left untagged)
#   --no-pull   do not try `docker pull` first
#   TAG...      only these of the four tags (default: all, in order)
#
# Idempotent: a tag already present locally is kept; otherwise `docker pull` is
# tried first (a reachable registry gives the real image). Packages come from
# the Debian mirror this machine's apt uses (ci/debian-mirror.sh); nothing in
# the repository names a mirror.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGES_DIR="$HERE/offline-images"
SUITE=trixie
DEBIAN_TAG=debian:trixie-slim
PYTHON_TAG=python:3.13-slim
MARIADB_TAG=mariadb:11.8
HAPROXY_TAG=haproxy:3.0
WORK_ROOT=${OFFLINE_IMAGES_WORKDIR:-/var/tmp}
PULL_TIMEOUT=${OFFLINE_IMAGES_PULL_TIMEOUT:-120}

force=0
try_pull=1
declare -a only=()
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        --no-pull) try_pull=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        "$DEBIAN_TAG" | "$PYTHON_TAG" | "$MARIADB_TAG" | "$HAPROXY_TAG") only+=("$arg") ;;
        *) printf '[offline-images] error: unknown argument %s (try --help)\n' "$arg" >&2; exit 2 ;;
    esac
done

log() { printf '[offline-images] %s\n' "$*"; }
die() { printf '[offline-images] error: %s\n' "$*" >&2; exit 1; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

image_size() {
    local bytes
    bytes=$(docker image inspect --format '{{.Size}}' "$1")
    printf '%s MB' "$((bytes / 1000000))"
}

# Build steps log to a file; on failure its end is shown and the path named.
work=""
cleanup() {
    local status=$?
    if [[ -n "$work" && -d "$work" ]]; then
        # debootstrap mounts /proc etc. inside the tree; never delete through a mount.
        local mnt
        while read -r mnt; do
            umount -l "$mnt" 2>/dev/null || true
        done < <(awk -v p="$work/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r)
        if [[ $status -eq 0 ]]; then rm -rf "$work"; else log "kept $work for inspection"; fi
    fi
}
trap cleanup EXIT

run_logged() { # LOGFILE CMD...
    local logfile=$1
    shift
    if ! "$@" >>"$logfile" 2>&1; then
        tail -n 40 "$logfile" >&2 || true
        die "'$*' failed (full log: $logfile)"
    fi
}

host_ca_bundle() {
    # The CAs this machine trusts (a TLS-inspecting proxy's CA included), as
    # pip here sees them: HOST_CA_BUNDLE, else pip's own setting, else Debian's.
    local bundle=${HOST_CA_BUNDLE:-${PIP_CERT:-}}
    if [[ -z "$bundle" ]] && command -v python3 >/dev/null; then
        bundle=$(python3 -m pip config get global.cert 2>/dev/null || true)
    fi
    bundle=${bundle:-/etc/ssl/certs/ca-certificates.crt}
    [[ -r "$bundle" ]] || die "host CA bundle $bundle is not readable (set HOST_CA_BUNDLE)"
    printf '%s\n' "$bundle"
}

host_pip_index() {
    # A site-wide package index (a PyPI mirror) configured for pip here, if any.
    local index=${PIP_INDEX_URL:-}
    if [[ -z "$index" ]] && command -v python3 >/dev/null; then
        index=$(python3 -m pip config get global.index-url 2>/dev/null || true)
    fi
    printf '%s\n' "$index"
}

build_debian() {
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } ||
            die "apt-get install debootstrap failed"
    fi
    local mirror security rootfs logfile arch
    mirror=$(bash "$HERE/debian-mirror.sh") || die "cannot read the apt mirror from this machine's sources"
    security=$(bash "$HERE/debian-mirror.sh" security) || die "cannot read the apt security mirror"
    arch=$(dpkg --print-architecture)
    rootfs="$work/rootfs"
    logfile="$work/debootstrap.log"
    log "debootstrap --variant=minbase $SUITE ($arch) from the host's mirror (log $logfile)"
    run_logged "$logfile" debootstrap --variant=minbase --arch="$arch" --components=main \
        "$SUITE" "$rootfs" "$mirror"
    log "trimming the root filesystem for a container"
    run_logged "$logfile" bash "$IMAGES_DIR/debian/finalize-rootfs.sh" "$rootfs" "$SUITE" "$mirror" "$security"
    log "docker import -> $DEBIAN_TAG"
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" -cf - . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["bash"]' \
            --change "LABEL org.opencontainers.image.description=\"offline stand-in for $DEBIAN_TAG, built by ci/build-offline-images.sh\"" \
            --message "debootstrap --variant=minbase $SUITE" \
            - "$DEBIAN_TAG" >/dev/null ||
        die "docker import of the $SUITE root filesystem failed"
}

docker_build() { # TAG CONTEXT [BUILD ARGS...]
    local tag=$1 context=$2
    shift 2
    local logfile="$work/build.log"
    log "docker build -t $tag (log $logfile)"
    # No buildx on the CI machine: the classic builder, which resolves FROM
    # against local images. Bridge network: the same one the project's own
    # builds get.
    local -a cache=()
    if [[ $force -eq 1 ]]; then cache=(--no-cache); fi
    run_logged "$logfile" env DOCKER_BUILDKIT=0 docker build --pull=false "${cache[@]}" "$@" -t "$tag" "$context"
}

build_python() {
    local context="$work/python-context" index bundle
    mkdir -p "$context"
    cp "$IMAGES_DIR/python/Dockerfile" "$IMAGES_DIR/python/add-host-cas.sh" "$context/"
    bundle=$(host_ca_bundle)
    log "image will trust the host CA bundle $bundle"
    cp "$bundle" "$context/host-ca-bundle.crt"
    index=$(host_pip_index)
    local -a args=()
    if [[ -n "$index" ]]; then
        log "image will use the package index configured for pip on this machine"
        args+=(--build-arg "PIP_INDEX_URL=$index")
    fi
    docker_build "$PYTHON_TAG" "$context" "${args[@]}"
}

build_mariadb() {
    docker_build "$MARIADB_TAG" "$IMAGES_DIR/mariadb"
}

build_haproxy() {
    docker_build "$HAPROXY_TAG" "$IMAGES_DIR/haproxy"
}

wanted() { # TAG
    [[ ${#only[@]} -eq 0 ]] && return 0
    local tag
    for tag in "${only[@]}"; do [[ "$tag" == "$1" ]] && return 0; done
    return 1
}

ensure_image() { # TAG BUILDER
    local tag=$1 builder=$2
    wanted "$tag" || return 0
    if [[ $force -eq 0 ]] && have_image "$tag"; then
        log "$tag already present ($(image_size "$tag")): skipping"
        return
    fi
    if [[ $force -eq 0 && $try_pull -eq 1 ]]; then
        log "trying docker pull $tag"
        if timeout "$PULL_TIMEOUT" docker pull -q "$tag" >/dev/null 2>&1; then
            log "pulled $tag from a registry ($(image_size "$tag"))"
            return
        fi
        log "cannot pull $tag: building the stand-in"
    fi
    work=$(mktemp -d "$WORK_ROOT/offline-image.XXXXXX")
    local started=$SECONDS
    "$builder"
    cleanup
    work=""
    log "built $tag in $((SECONDS - started))s ($(image_size "$tag"))"
}

main() {
    [[ $(id -u) -eq 0 ]] || die "run as root (debootstrap needs it)"
    timeout 20 docker info >/dev/null 2>&1 || die "no Docker Engine answers 'docker info' (run ci/install-docker.sh first)"
    local started=$SECONDS
    ensure_image "$DEBIAN_TAG" build_debian
    ensure_image "$PYTHON_TAG" build_python
    ensure_image "$MARIADB_TAG" build_mariadb
    ensure_image "$HAPROXY_TAG" build_haproxy
    log "done in $((SECONDS - started))s"
}

main
