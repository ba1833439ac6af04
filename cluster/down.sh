#!/usr/bin/env bash
# `invoke cluster-down`: remove the local cluster and every trace of it: the
# node container (stopped gracefully, so it removes its pods' cgroups), its
# volume, .cluster/, and check that no host kernel setting changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=$(dirname "$here")/.cluster
LOG_PREFIX=cluster-down
# shellcheck source=cluster/lib.sh
. "$here/lib.sh"

# Exits 0 when there is nothing to remove.
find_node() {
    if [[ ! -s $state/node-id ]]; then
        log "no local cluster (no $state/node-id)"
        rm -rf "$state"
        exit 0
    fi
    timeout 20 docker info >/dev/null 2>&1 ||
        die "Docker Engine is not answering: start it, then rerun invoke cluster-down"
    node_id=$(cat "$state/node-id")
}

remove_node() {
    if docker inspect "$node_id" >/dev/null 2>&1; then
        # The entrypoint's TERM handler stops the pods and removes their cgroups.
        run docker stop --time 30 "$node_id" >/dev/null
        run docker rm --volumes "$node_id" >/dev/null
    fi
    local leftover
    leftover=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$node_id*" 2>/dev/null | head -n 3)
    [[ -z $leftover ]] || die "cgroups of the node are still on the host: $leftover"
}

# Removes .cluster/, then fails if a host kernel setting differs from before
# cluster-up.
check_host_settings() {
    local changed="" volatile
    if [[ -s $state/sysctl-before.txt ]]; then
        # Counters and random values move on their own; everything else must
        # be exactly as it was before cluster-up.
        volatile='^(fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr|quota\.)|kernel\.(random\.|ns_last_pid|pty\.nr)|net\.netfilter\.nf_conntrack_count)'
        changed=$(diff <(grep -Ev "$volatile" "$state/sysctl-before.txt") \
            <(sysctl -a 2>/dev/null | sort | grep -Ev "$volatile") | grep '^[<>]' || true)
    fi
    rm -rf "$state"
    [[ -z $changed ]] || die "host kernel settings differ from before cluster-up:
$changed"
    log "removed node ${node_id:0:12}, its volume and .cluster/; host kernel settings unchanged"
}

find_node
remove_node
check_host_settings
