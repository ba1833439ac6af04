#!/usr/bin/env bash
# `invoke cluster-up`: a real Kubernetes of N nodes, each an unprivileged
# container on the local Docker Engine, built from upstream sources on first
# use.
#
#   bash cluster/up.sh [--nodes N] [--retain]
#
# 1. cluster/node-image.sh builds the node image (and, through
#    cluster/build.sh, every binary it holds, cached by version);
# 2. a Docker network of the cluster's own (VC_CLUSTER_SUBNET, a /24) gives
#    each node a fixed address, kept across a restart: .10 for the control
#    plane, .11 and up for the workers;
# 3. the control-plane node starts, publishing the API server and NodePort
#    30001 on 127.0.0.1 only, and cluster/node/entrypoint.sh brings the
#    control plane up inside it;
# 4. each worker (N-1 of them) is created, gets its own join credentials from
#    the control plane (a kubelet client certificate for its node name, never
#    the admin kubeconfig), then starts and registers;
# 5. the admin kubeconfig is written to .cluster/kubeconfig (context
#    visit-counter-local), a kubectl of the same version to
#    .cluster/bin/kubectl, and the nodes to .cluster/nodes (NAME ID per line,
#    the control plane first).
# A cluster that is already up is reused. `invoke cluster-down` removes it all.
# If starting fails, what it made is removed again (cluster/down.sh), unless
# --retain asks to keep it for a look inside.
#
# Environment (optional): VC_CLUSTER_API_PORT (host port for the API server,
# default 16443), VC_CLUSTER_SUBNET (default 172.29.0.0/24),
# VC_CLUSTER_READY_TIMEOUT (seconds to wait for each node to be ready,
# default 240), VC_CLUSTER_CACHE (build cache, see build.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=$(dirname "$here")/.cluster
api_port=${VC_CLUSTER_API_PORT:-16443}
subnet=${VC_CLUSTER_SUBNET:-172.29.0.0/24}
ready_timeout=${VC_CLUSTER_READY_TIMEOUT:-240}
readonly LABEL=dev.visit-counter.cluster=local
readonly NETWORK=visit-counter-local
readonly NODE_PORT=30001
readonly MAX_NODES=5
LOG_PREFIX=cluster-up
# shellcheck source=cluster/lib.sh
. "$here/lib.sh"

usage="usage: bash cluster/up.sh [--nodes N] [--retain]"

parse_args() {
    retain=false node_count=3
    while [[ $# -gt 0 ]]; do
        case $1 in
        --retain) retain=true ;;
        --nodes)
            [[ $# -ge 2 ]] || die "--nodes needs a number ($usage)"
            node_count=$2
            shift
            ;;
        --nodes=*) node_count=${1#--nodes=} ;;
        *) die "unknown argument '$1' ($usage)" ;;
        esac
        shift
    done
    [[ $node_count =~ ^[1-$MAX_NODES]$ ]] ||
        die "--nodes must be a whole number from 1 to $MAX_NODES, not '$node_count'"
    [[ $ready_timeout =~ ^[1-9][0-9]*$ ]] ||
        die "VC_CLUSTER_READY_TIMEOUT must be a whole number of seconds, not '$ready_timeout'"
    [[ $subnet =~ ^(10\.[0-9]{1,3}|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.[0-9]{1,3}\.0/24$ ]] ||
        die "VC_CLUSTER_SUBNET must be a private /24 such as 172.29.0.0/24, not '$subnet'"
    address_prefix=${subnet%.0/24}
}

# Node i (0 is the control plane): its name, kind's way, and its address.
node_name() {
    case $1 in
    0) echo visit-counter-control-plane ;;
    1) echo visit-counter-worker ;;
    *) echo "visit-counter-worker$1" ;;
    esac
}
node_address() { echo "$address_prefix.$((10 + $1))"; }

check_docker() {
    command -v docker >/dev/null 2>&1 || die "no docker command: install Docker Engine (sudo bash ci/install-docker.sh)"
    timeout 20 docker info >/dev/null 2>&1 ||
        die "Docker Engine is not answering: start it (sudo bash ci/install-docker.sh, or systemctl start docker)"
}

node_ready() { docker exec "$1" test -f /run/visit-counter/ready 2>/dev/null; }

# Exits 0 when the cluster is already up; refuses to start over a broken one.
reuse_or_refuse() {
    [[ -s $state/nodes ]] || return 0
    local name id up=true
    while read -r name id; do
        node_ready "$id" || up=false
    done <"$state/nodes"
    if $up && [[ -s $state/kubeconfig ]]; then
        log "the cluster is already up ($(wc -l <"$state/nodes") nodes); KUBECONFIG=$state/kubeconfig"
        exit 0
    fi
    die "a cluster from an earlier run is still there but not ready: invoke cluster-down, then retry"
}

build_node_image() {
    node_image=$(bash "$here/node-image.sh") || die "building the node image failed (see above)"
    kubernetes_version=${node_image##*:}
}

# shellcheck disable=SC2317  # invoked by the trap
remove_what_was_made() {
    local status=$?
    [[ $status -ne 0 ]] || return 0
    if $retain; then
        log "kept what was made (--retain): look inside, then invoke cluster-down"
    else
        log "removing what was made (bash cluster/up.sh --retain keeps it)"
        bash "$here/down.sh" || true
    fi
}

# From here on, a failure removes what was made (unless --retain).
clean_up_on_failure() { trap remove_what_was_made EXIT; }

install_kubectl() {
    # The node's own kubectl: the same version as the cluster, always.
    mkdir -p "$state/bin"
    local holder copied=true
    holder=$(docker create "$node_image")
    run docker cp --quiet "$holder:/usr/local/bin/kubectl" "$state/bin/kubectl" || copied=false
    docker rm --volumes "$holder" >/dev/null
    $copied || die "copying kubectl out of $node_image failed"
}

record_host_settings() {
    # The host's kernel settings now, to prove after cluster-down that the
    # cluster changed none of them.
    sysctl -a 2>/dev/null | sort >"$state/sysctl-before.txt" || true
}

create_network() {
    run docker network create --label "$LABEL" --subnet "$subnet" "$NETWORK" >"$state/network-id" ||
        die "creating the Docker network $NETWORK ($subnet) failed: is the name or the subnet taken? (VC_CLUSTER_SUBNET)"
}

# create_node I [docker create options...]: the node's container, not started.
create_node() {
    local index=$1 name id
    shift
    name=$(node_name "$index")
    # Unprivileged: every capability but CAP_SYS_RESOURCE (which this machine
    # refuses), no seccomp/AppArmor confinement, all devices, a private cgroup
    # namespace, /dev/kmsg for the kubelet.
    id=$(run docker create --label "$LABEL" --name "$name" --hostname "$name" \
        --network "$NETWORK" --ip "$(node_address "$index")" \
        --cap-add=ALL --cap-drop=SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
        --device-cgroup-rule='a *:* rwm' --device /dev/kmsg --cgroupns=private \
        --tmpfs /run --tmpfs /tmp \
        "$@" "$node_image") || die "docker create of node $name failed (is a container of that name left over?)"
    printf '%s %s\n' "$name" "$id" >>"$state/nodes"
}

node_id() { awk -v name="$1" '$1 == name {print $2}' "$state/nodes"; }

start_control_plane() {
    log "starting the control plane"
    # Its ports are published on loopback only.
    create_node 0 --publish "127.0.0.1:$api_port:6443" --publish "127.0.0.1:$NODE_PORT:$NODE_PORT"
    control_plane=$(node_id "$(node_name 0)")
    run docker start "$control_plane" >/dev/null ||
        die "starting the control plane failed (is 127.0.0.1:$api_port or :$NODE_PORT taken?)"
    wait_for_node "$(node_name 0)"
}

# Each worker gets its credentials before its first start: the control plane
# makes them (cluster/node/join-credentials.sh) and they are copied into the
# stopped container.
start_workers() {
    local index name id
    for ((index = 1; index < node_count; index++)); do
        name=$(node_name "$index")
        log "starting worker $name"
        create_node "$index" --env VC_NODE_ROLE=worker
        id=$(node_id "$name")
        docker exec "$control_plane" node-join-credentials "$name" | docker cp - "$id:/etc" ||
            die "copying the join credentials into $name failed"
        run docker start "$id" >/dev/null
    done
    for ((index = 1; index < node_count; index++)); do
        wait_for_node "$(node_name "$index")"
    done
}

wait_for_node() {
    local name=$1 id
    id=$(node_id "$name")
    log "waiting for $name (up to ${ready_timeout}s)"
    local deadline=$((SECONDS + ready_timeout))
    until node_ready "$id"; do
        if [[ $(docker inspect -f '{{.State.Running}}' "$id") != true || $SECONDS -ge $deadline ]]; then
            docker logs --tail 30 "$id" >&2 || true
            die "the cluster did not come up within ${ready_timeout}s: see the log of $name above"
        fi
        sleep 1
    done
}

export_kubeconfig() {
    local kubectl=$state/bin/kubectl draft=$state/kubeconfig.tmp
    docker exec "$control_plane" cat /etc/kubernetes/admin.conf >"$draft"
    chmod 600 "$draft"
    "$kubectl" --kubeconfig "$draft" config set-cluster visit-counter-local \
        --server "https://127.0.0.1:$api_port" >/dev/null
    "$kubectl" --kubeconfig "$draft" config rename-context \
        "$("$kubectl" --kubeconfig "$draft" config current-context)" visit-counter-local >/dev/null
    mv "$draft" "$state/kubeconfig"
    "$kubectl" --kubeconfig "$state/kubeconfig" get nodes >&2
    log "ready in ${SECONDS}s: export KUBECONFIG=$state/kubeconfig (kubectl $kubernetes_version: $state/bin/kubectl)"
}

parse_args "$@"
check_docker
reuse_or_refuse
build_node_image
clean_up_on_failure
install_kubectl
record_host_settings
create_network
start_control_plane
start_workers
export_kubeconfig
