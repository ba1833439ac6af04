#!/usr/bin/env bash
# `invoke cluster-down`: remove the local cluster and every trace of it: each
# node container (stopped gracefully, so it removes its pods' cgroups) and its
# volume, the cluster's Docker network, .cluster/, and check that no host
# kernel setting changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=$(dirname "$here")/.cluster
LOG_PREFIX=cluster-down
# shellcheck source=cluster/lib.sh
. "$here/lib.sh"

# Exits 0 when there is nothing to remove.
find_nodes() {
    node_ids=() network_id=""
    [[ ! -s $state/nodes ]] || mapfile -t node_ids < <(awk '{print $2}' "$state/nodes")
    [[ ! -s $state/network-id ]] || network_id=$(cat "$state/network-id")
    if [[ ${#node_ids[@]} -eq 0 && -z $network_id ]]; then
        log "no local cluster (no $state/nodes)"
        rm -rf "$state"
        exit 0
    fi
    timeout 20 docker info >/dev/null 2>&1 ||
        die "Docker Engine is not answering: start it, then rerun invoke cluster-down"
}

remove_nodes() {
    local existing=() id
    for id in "${node_ids[@]}"; do
        if docker inspect "$id" >/dev/null 2>&1; then existing+=("$id"); fi
    done
    if [[ ${#existing[@]} -gt 0 ]]; then
        # Together: each entrypoint's TERM handler stops its pods and removes
        # their cgroups.
        run docker stop --time 30 "${existing[@]}" >/dev/null
        run docker rm --volumes "${existing[@]}" >/dev/null
    fi
    [[ -z $network_id ]] || ! docker network inspect "$network_id" >/dev/null 2>&1 ||
        run docker network rm "$network_id" >/dev/null
    for id in "${node_ids[@]}"; do
        remove_left_cgroups "$id"
    done
}

# A node killed (docker kill) rather than stopped could not remove its pods'
# cgroups; they are empty once it is gone, so remove them here.
remove_left_cgroups() {
    local id=$1 leftover
    find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -name "$id*" 2>/dev/null | while read -r dir; do
        find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    leftover=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$id*" 2>/dev/null | head -n 3)
    [[ -z $leftover ]] || die "cgroups of node ${id:0:12} are still on the host: $leftover"
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
    log "removed ${#node_ids[@]} node(s), their volumes, the network and .cluster/; host kernel settings unchanged"
}

find_nodes
remove_nodes
check_host_settings
