#!/usr/bin/env bash
# Run on the control-plane node by cluster/up.sh: writes, as a tar stream on
# stdout, what a worker named NAME needs in /etc/kubernetes to join (the
# stream holds kubernetes/...):
#   pki/ca.crt        the cluster's CA, to trust the API server;
#   kubelet.conf      a client certificate for system:node:NAME in the group
#                     system:nodes (the Node authorizer and NodeRestriction
#                     then limit the kubelet to its own node and pods);
#   kube-proxy.conf   system:kube-proxy, as on the control plane;
#   kube-router.conf  system:kube-router (read-only, addons/rbac.yaml).
# Never the admin kubeconfig.
#
#   node-join-credentials NAME | docker cp - WORKER:/etc
set -euo pipefail

readonly KCONF=/etc/kubernetes
readonly RENDERED=/etc/visit-counter/kubeadm-rendered.yaml
LOG_PREFIX=node-join-credentials
# shellcheck source=cluster/lib.sh
. /usr/local/lib/visit-counter/lib.sh

name=${1-}
[[ $name =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "usage: node-join-credentials NAME (a node name, not '$name')"
[[ -f $RENDERED ]] || die "this node has made no PKI: run it on the control-plane node"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/kubernetes
mkdir -p "$out/pki"
cp "$KCONF/pki/ca.crt" "$out/pki/"
kubeadm kubeconfig user --config "$RENDERED" --client-name "system:node:$name" --org system:nodes \
    >"$out/kubelet.conf" 2>/dev/null || die "kubeadm kubeconfig user system:node:$name failed"
cp "$KCONF/kube-proxy.conf" "$KCONF/kube-router.conf" "$out/"
chmod 600 "$out"/*.conf
tar -C "$tmp" -cf - kubernetes
