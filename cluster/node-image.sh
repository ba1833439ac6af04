#!/usr/bin/env bash
# Build the local cluster's node image, apart from creating any cluster (as
# kind's `build node-image`): every binary from cluster/build.sh's cache, the
# pod images the node needs before any registry could be asked (pause,
# CoreDNS, the storage provisioner and its helper, each built FROM scratch
# around its binary), and cluster/node/ on debian:trixie-slim.
#
#   bash cluster/node-image.sh      # prints the image's name on stdout
#
# Docker's build cache makes a second run quick. Environment (optional):
# VC_CLUSTER_CACHE (the build cache, see build.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_PREFIX=cluster-image
# shellcheck source=cluster/lib.sh
. "$here/lib.sh"

build_components() {
    cache=$(bash "$here/build.sh") || die "building the cluster's components failed (see above)"
    # shellcheck disable=SC1091  # written by build.sh
    . "$cache/versions.env"
    node_image=visit-counter-node:$KUBERNETES_VERSION
}

make_context() {
    context=$(mktemp -d "${TMPDIR:-/tmp}/vc-node.XXXXXX")
    trap 'rm -rf "$context"' EXIT
}

# One pod image FROM scratch around one binary, under the name the node's
# configuration uses.
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

build_pod_images() {
    log "building the pod images the node needs"
    scratch_image "registry.k8s.io/pause:$PAUSE_VERSION" "$cache/pause-$PAUSE_VERSION/bin/pause" /pause
    scratch_image "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" \
        "$cache/coredns-$COREDNS_VERSION/bin/coredns" /coredns
    scratch_image "rancher/local-path-provisioner:$LOCAL_PATH_VERSION" \
        "$cache/local-path-provisioner-$LOCAL_PATH_VERSION/bin/local-path-provisioner" \
        /usr/bin/local-path-provisioner
    docker image inspect debian:trixie-slim >/dev/null 2>&1 ||
        die "no debian:trixie-slim image: docker pull it, or build it offline (sudo bash ci/build-offline-images.sh)"
}

build_node() {
    mkdir -p "$context/node/bin" "$context/node/images"
    cp -r "$here/node/." "$context/node/"
    cp "$here/lib.sh" "$context/node/"
    local tool
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
    printf '%s\n' "$node_image"
}

build_components
make_context
build_pod_images
build_node
