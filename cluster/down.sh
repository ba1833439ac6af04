#!/usr/bin/env bash
# `invoke cluster-down`: remove the local cluster and every trace of it: the
# node container (stopped gracefully, so it removes its pods' cgroups), its
# volume, .cluster/, and check that no host kernel setting changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=$(dirname "$here")/.cluster

log() { printf 'cluster-down: %s\n' "$*" >&2; }
die() { printf 'cluster-down: error: %s\n' "$*" >&2; exit 1; }
run() { printf '+ %s\n' "$*" >&2; "$@"; }

if [[ ! -s $state/node-id ]]; then
    log "no local cluster (no $state/node-id)"
    rm -rf "$state"
    exit 0
fi
if ! timeout 20 docker info >/dev/null 2>&1; then
    die "Docker Engine is not answering: start it, then rerun invoke cluster-down"
fi

node_id=$(cat "$state/node-id")
if docker inspect "$node_id" >/dev/null 2>&1; then
    # The entrypoint's TERM handler stops the pods and removes their cgroups.
    run docker stop --time 30 "$node_id" >/dev/null
    run docker rm --volumes "$node_id" >/dev/null
fi
leftover=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$node_id*" 2>/dev/null | head -n 3)
[[ -z $leftover ]] || die "cgroups of the node are still on the host: $leftover"

changed=""
if [[ -s $state/sysctl-before.txt ]]; then
    # Counters and random values move on their own; everything else must be
    # exactly as it was before cluster-up.
    volatile='^(fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr|quota\.)|kernel\.(random\.|ns_last_pid|pty\.nr)|net\.netfilter\.nf_conntrack_count)'
    changed=$(diff <(grep -Ev "$volatile" "$state/sysctl-before.txt") \
        <(sysctl -a 2>/dev/null | sort | grep -Ev "$volatile") | grep '^[<>]' || true)
fi
rm -rf "$state"
[[ -z $changed ]] || die "host kernel settings differ from before cluster-up:
$changed"
log "removed node ${node_id:0:12}, its volume and .cluster/; host kernel settings unchanged"
