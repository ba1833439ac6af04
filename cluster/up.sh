#!/usr/bin/env bash
# `invoke cluster-up`: a real single-node Kubernetes in one container on the
# local Docker Engine, built from upstream sources on first use.
#
#   bash cluster/up.sh [--retain]
#
# 1. cluster/node-image.sh builds the node image (and, through
#    cluster/build.sh, every binary it holds, cached by version);
# 2. the node container starts, unprivileged (this machine forbids
#    --privileged), publishing the API server and NodePort 30001 on 127.0.0.1
#    only, and cluster/node/entrypoint.sh brings the cluster up inside it;
# 3. the admin kubeconfig is written to .cluster/kubeconfig (context
#    visit-counter-local) and a kubectl of the same version to
#    .cluster/bin/kubectl.
# A cluster that is already up is reused. `invoke cluster-down` removes it all.
# If starting fails, what it made is removed again (cluster/down.sh), unless
# --retain asks to keep it for a look inside.
#
# Environment (optional): VC_CLUSTER_API_PORT (host port for the API server,
# default 16443), VC_CLUSTER_READY_TIMEOUT (seconds to wait for the node to
# be ready, default 240), VC_CLUSTER_CACHE (build cache, see build.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=$(dirname "$here")/.cluster
api_port=${VC_CLUSTER_API_PORT:-16443}
ready_timeout=${VC_CLUSTER_READY_TIMEOUT:-240}
readonly LABEL=dev.visit-counter.cluster=local
readonly NODE_PORT=30001
LOG_PREFIX=cluster-up
# shellcheck source=cluster/lib.sh
. "$here/lib.sh"

parse_args() {
    retain=false
    case ${1-} in
    "") ;;
    --retain) retain=true ;;
    *) die "unknown argument '$1' (usage: bash cluster/up.sh [--retain])" ;;
    esac
    [[ $ready_timeout =~ ^[1-9][0-9]*$ ]] ||
        die "VC_CLUSTER_READY_TIMEOUT must be a whole number of seconds, not '$ready_timeout'"
}

check_docker() {
    command -v docker >/dev/null 2>&1 || die "no docker command: install Docker Engine (sudo bash ci/install-docker.sh)"
    timeout 20 docker info >/dev/null 2>&1 ||
        die "Docker Engine is not answering: start it (sudo bash ci/install-docker.sh, or systemctl start docker)"
}

node_running() {
    [[ -s $state/node-id ]] &&
        [[ $(docker inspect -f '{{.State.Running}}' "$(cat "$state/node-id")" 2>/dev/null) == true ]]
}

# Exits 0 when the cluster is already up; refuses to start over a broken one.
reuse_or_refuse() {
    if node_running && docker exec "$(cat "$state/node-id")" test -f /run/visit-counter/ready 2>/dev/null &&
        [[ -s $state/kubeconfig ]]; then
        log "the cluster is already up (node $(cut -c1-12 "$state/node-id")); KUBECONFIG=$state/kubeconfig"
        exit 0
    fi
    if [[ -s $state/node-id ]]; then
        die "a cluster from an earlier run is still there but not ready: invoke cluster-down, then retry"
    fi
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

start_node() {
    log "starting the node container"
    # Unprivileged: every capability but CAP_SYS_RESOURCE (which this machine
    # refuses), no seccomp/AppArmor confinement, all devices, a private cgroup
    # namespace, /dev/kmsg for the kubelet, ports on loopback only.
    node_id=$(run docker run --detach --label "$LABEL" --hostname visit-counter-node \
        --cap-add=ALL --cap-drop=SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
        --device-cgroup-rule='a *:* rwm' --device /dev/kmsg --cgroupns=private \
        --tmpfs /run --tmpfs /tmp \
        --publish "127.0.0.1:$api_port:6443" --publish "127.0.0.1:$NODE_PORT:$NODE_PORT" \
        "$node_image") || die "docker run of the node failed (is 127.0.0.1:$api_port or :$NODE_PORT taken?)"
    printf '%s\n' "$node_id" >"$state/node-id"
}

wait_for_ready() {
    log "waiting for the cluster (up to ${ready_timeout}s)"
    local deadline=$((SECONDS + ready_timeout))
    until docker exec "$node_id" test -f /run/visit-counter/ready 2>/dev/null; do
        if [[ $(docker inspect -f '{{.State.Running}}' "$node_id") != true || $SECONDS -ge $deadline ]]; then
            docker logs --tail 30 "$node_id" >&2 || true
            die "the cluster did not come up within ${ready_timeout}s: see the node's log above"
        fi
        sleep 1
    done
}

export_kubeconfig() {
    local kubectl=$state/bin/kubectl draft=$state/kubeconfig.tmp
    docker exec "$node_id" cat /etc/kubernetes/admin.conf >"$draft"
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
start_node
wait_for_ready
export_kubeconfig
