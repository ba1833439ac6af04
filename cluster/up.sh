#!/usr/bin/env bash
# `invoke cluster-up`: a real single-node Kubernetes in one container on the
# local Docker Engine, built from upstream sources on first use.
#
#   bash cluster/up.sh
#
# 1. cluster/build.sh builds (or finds cached) every binary the node runs;
# 2. the pod images the node needs first (pause, CoreDNS, the storage
#    provisioner, its helper) are built FROM scratch around those binaries;
# 3. the node image (cluster/node/) is built on debian:trixie-slim;
# 4. the node container starts, unprivileged (this machine forbids
#    --privileged), publishing the API server and NodePort 30001 on 127.0.0.1
#    only, and cluster/node/entrypoint.sh brings the cluster up inside it;
# 5. the admin kubeconfig is written to .cluster/kubeconfig (context
#    visit-counter-local) and a kubectl of the same version to
#    .cluster/bin/kubectl.
# A cluster that is already up is reused. `invoke cluster-down` removes it all.
#
# Environment (optional): VC_CLUSTER_API_PORT (host port for the API server,
# default 16443), VC_CLUSTER_CACHE (build cache, see build.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
state=$repo/.cluster
api_port=${VC_CLUSTER_API_PORT:-16443}
readonly LABEL=dev.visit-counter.cluster=local
readonly NODE_PORT=30001
readonly READY_TIMEOUT=240

log() { printf 'cluster-up: %s\n' "$*" >&2; }
die() { printf 'cluster-up: error: %s\n' "$*" >&2; exit 1; }
run() { printf '+ %s\n' "$*" >&2; "$@"; }

command -v docker >/dev/null 2>&1 || die "no docker command: install Docker Engine (sudo bash ci/install-docker.sh)"
timeout 20 docker info >/dev/null 2>&1 ||
    die "Docker Engine is not answering: start it (sudo bash ci/install-docker.sh, or systemctl start docker)"

node_running() {
    [[ -s $state/node-id ]] &&
        [[ $(docker inspect -f '{{.State.Running}}' "$(cat "$state/node-id")" 2>/dev/null) == true ]]
}

if node_running && docker exec "$(cat "$state/node-id")" test -f /run/visit-counter/ready 2>/dev/null &&
    [[ -s $state/kubeconfig ]]; then
    log "the cluster is already up (node $(cut -c1-12 "$state/node-id")); KUBECONFIG=$state/kubeconfig"
    exit 0
fi
if [[ -s $state/node-id ]]; then
    die "a cluster from an earlier run is still there but not ready: invoke cluster-down, then retry"
fi

cache=$(bash "$here/build.sh") || die "building the cluster's components failed (see above)"
# shellcheck disable=SC1091  # written by build.sh
. "$cache/versions.env"
node_image=visit-counter-node:$KUBERNETES_VERSION

context=$(mktemp -d "${TMPDIR:-/tmp}/vc-node.XXXXXX")
trap 'rm -rf "$context"' EXIT

# Pod images from the built binaries, each FROM scratch, under the names the
# node's configuration uses (no registry is ever asked for them).
scratch_image() {
    local tag=$1 binary=$2 path=$3
    local dir=$context/scratch-${binary##*/}
    mkdir -p "$dir"
    cp "$binary" "$dir/"
    printf 'FROM scratch\nENV PATH=/usr/local/bin:/usr/bin:/bin\nCOPY %s %s\nENTRYPOINT ["%s"]\n' \
        "${binary##*/}" "$path" "$path" >"$dir/Dockerfile"
    run env DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >/dev/null
    rm -rf "$dir"
}
log "building the pod images the node needs"
scratch_image "registry.k8s.io/pause:$PAUSE_VERSION" "$cache/pause-$PAUSE_VERSION/bin/pause" /pause
scratch_image "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$cache/coredns-$COREDNS_VERSION/bin/coredns" /coredns
scratch_image "rancher/local-path-provisioner:$LOCAL_PATH_VERSION" \
    "$cache/local-path-provisioner-$LOCAL_PATH_VERSION/bin/local-path-provisioner" /usr/bin/local-path-provisioner
docker image inspect debian:trixie-slim >/dev/null 2>&1 ||
    die "no debian:trixie-slim image: docker pull it, or build it offline (sudo bash ci/build-offline-images.sh)"

mkdir -p "$context/node/bin" "$context/node/images"
cp -r "$here/node/." "$context/node/"
for tool in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubeadm kubectl; do
    cp "$cache/kubernetes-$KUBERNETES_VERSION/bin/$tool" "$context/node/bin/"
done
cp "$cache/containerd-$CONTAINERD_VERSION/bin/"* "$cache/runc-$RUNC_VERSION/bin/runc" \
    "$cache/etcd-$ETCD_VERSION/bin/etcd" "$cache/kube-router-$KUBE_ROUTER_VERSION/bin/kube-router" \
    "$context/node/bin/"
run docker save -o "$context/node/images/node-images.tar" \
    "registry.k8s.io/pause:$PAUSE_VERSION" "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" \
    "rancher/local-path-provisioner:$LOCAL_PATH_VERSION" debian:trixie-slim
run env DOCKER_BUILDKIT=0 docker build -q -t "$node_image" "$context/node" >/dev/null ||
    die "building the node image failed"

mkdir -p "$state/bin"
ln -sfn "$cache/kubernetes-$KUBERNETES_VERSION/bin/kubectl" "$state/bin/kubectl"
# The host's kernel settings now, to prove after cluster-down that the
# cluster changed none of them.
sysctl -a 2>/dev/null | sort >"$state/sysctl-before.txt" || true

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

log "waiting for the cluster (up to ${READY_TIMEOUT}s)"
deadline=$((SECONDS + READY_TIMEOUT))
until docker exec "$node_id" test -f /run/visit-counter/ready 2>/dev/null; do
    if [[ $(docker inspect -f '{{.State.Running}}' "$node_id") != true || $SECONDS -ge $deadline ]]; then
        docker logs --tail 30 "$node_id" >&2 || true
        die "the cluster did not come up: see the node's log above; invoke cluster-down removes it"
    fi
    sleep 1
done

docker exec "$node_id" cat /etc/kubernetes/admin.conf >"$state/kubeconfig.tmp"
kubectl=$state/bin/kubectl
"$kubectl" --kubeconfig "$state/kubeconfig.tmp" config set-cluster visit-counter-local \
    --server "https://127.0.0.1:$api_port" >/dev/null
"$kubectl" --kubeconfig "$state/kubeconfig.tmp" config rename-context \
    "$("$kubectl" --kubeconfig "$state/kubeconfig.tmp" config current-context)" visit-counter-local >/dev/null
chmod 600 "$state/kubeconfig.tmp"
mv "$state/kubeconfig.tmp" "$state/kubeconfig"
"$kubectl" --kubeconfig "$state/kubeconfig" get nodes >&2
log "ready in ${SECONDS}s: export KUBECONFIG=$state/kubeconfig (kubectl $KUBERNETES_VERSION: $state/bin/kubectl)"
