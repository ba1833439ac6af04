#!/usr/bin/env bash
# Build, from upstream sources, every binary the local cluster's node runs, and
# cache them by version outside the repository. A second run with the cache in
# place builds nothing.
#
#   bash cluster/build.sh          # prints the cache directory on stdout
#
# Sources come from the Go module proxy through the ordinary `go` command
# (GOPROXY as this machine configures it) and libseccomp-dev from Debian: no
# registry, no download site. Each component is built in a throwaway module
# that requires it. Where the component's own go.mod replaces a module by a
# local directory (Kubernetes' staging repositories, etcd's sibling modules),
# the throwaway module replaces it by the version published from that
# directory, since `go` ignores a dependency's replace lines.
#
# Environment (all optional):
#   VC_CLUSTER_CACHE        cache root (default /var/cache/visit-counter/cluster)
#   VC_GO_FALLBACK_DIR      where to look for go when it is not on PATH
#                           (default /usr/local/go/bin)
set -euo pipefail

readonly KUBERNETES_VERSION=v1.36.3
readonly CONTAINERD_VERSION=v2.3.7
readonly RUNC_VERSION=v1.4.3
readonly ETCD_VERSION=v3.6.8
readonly COREDNS_VERSION=v1.14.2
readonly KUBE_ROUTER_VERSION=v2.1.0
readonly LOCAL_PATH_VERSION=v0.0.30
readonly PAUSE_VERSION=3.10.2

cache_root=${VC_CLUSTER_CACHE:-/var/cache/visit-counter/cluster}

LOG_PREFIX=cluster-build
# shellcheck source=cluster/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Go's own installer puts it in /usr/local/go/bin, often not on root's PATH.
go_fallback=${VC_GO_FALLBACK_DIR:-/usr/local/go/bin}
if ! command -v go >/dev/null 2>&1 && [[ -x $go_fallback/go ]]; then
    PATH=$PATH:$go_fallback
fi
command -v go >/dev/null 2>&1 ||
    die "no Go toolchain: install Go 1.26 or newer (https://go.dev/doc/install), then rerun"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to read go's JSON output"

# Lines "OLD=NEW@VERSION" that make a throwaway module build MODULE@VERSION as
# its own go.mod would: versioned replaces are repeated, and a replace of a
# required module by a local directory becomes that module published at
# STAGING_VERSION (replaces of modules it does not require are guards, as
# etcd's FORBIDDEN_DEPENDENCY, and are left out).
replaces_of() {
    local module=$1 version=$2 staging_version=$3 gomod
    gomod=$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    go mod edit -json "$gomod" | python3 -c '
import json, sys
staging = sys.argv[1]
gomod = json.load(sys.stdin)
required = {req["Path"] for req in gomod.get("Require") or []}
for rep in gomod.get("Replace") or []:
    old, new = rep["Old"], rep["New"]
    if not new.get("Version") and old["Path"] not in required:
        continue
    target = new["Path"] + "@" + new["Version"] if new.get("Version") else old["Path"] + "@" + staging
    print(old["Path"] + "=" + target)
' "$staging_version"
}

# go_build NAME MODULE VERSION STAGING_VERSION OUTDIR -- GO_BUILD_ARGS... -- PACKAGES...
# Builds PACKAGES of MODULE@VERSION into OUTDIR in a throwaway module.
go_build() {
    local name=$1 module=$2 version=$3 staging=$4 outdir=$5
    shift 5
    [[ $1 == -- ]] || die "go_build: usage"
    shift
    local -a build_args=() packages=()
    while [[ $# -gt 0 && $1 != -- ]]; do build_args+=("$1"); shift; done
    shift
    packages=("$@")

    local workdir replace pkg
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/vc-build-$name.XXXXXX")
    (
        trap 'rm -rf "$workdir"' EXIT
        cd "$workdir"
        run go mod init "visit-counter.local/build-$name" 2>/dev/null
        replaces_of "$module" "$version" "$staging" >replaces.txt
        while read -r replace; do
            run go mod edit "-replace=$replace"
        done <replaces.txt
        for pkg in "${packages[@]}"; do
            run go get -tool "$pkg@$version"
        done
        mkdir -p "$outdir.partial"
        run go build -trimpath "${build_args[@]}" -o "$outdir.partial/" "${packages[@]}"
    )
    rm -rf "$outdir"
    mv "$outdir.partial" "$outdir"
}

# component NAME BINARY: each component lands in $cache_root/NAME/ and is
# built only when its last binary, BINARY (relative to that folder), is
# missing.
component() {
    local dir=$cache_root/$1
    if [[ -e $dir/$2 ]]; then
        log "cached: $dir"
        return 1
    fi
    log "building $1"
    SECONDS_AT_START=$SECONDS
    return 0
}
built() { log "built $1 in $((SECONDS - SECONDS_AT_START)) s"; }

mkdir -p "$cache_root"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

# --- Kubernetes ------------------------------------------------------------
k8s_dir=$cache_root/kubernetes-$KUBERNETES_VERSION
if component "kubernetes-$KUBERNETES_VERSION" src/pause.c; then
    minor=${KUBERNETES_VERSION#v1.}
    minor=${minor%%.*}
    # The version variables hack/lib/version.sh sets; kubeadm and the
    # components' version checks read them.
    ldflags="-s -w"
    for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
        ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    CGO_ENABLED=0 go_build kubernetes k8s.io/kubernetes "$KUBERNETES_VERSION" "v0.${KUBERNETES_VERSION#v1.}" "$k8s_dir/bin" \
        -- -tags selinux,notest,grpcnotrace -ldflags "$ldflags" \
        -- k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
        k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubectl
    # CoreDNS's manifest and the pause source ship in the same module.
    src=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBERNETES_VERSION
    mkdir -p "$k8s_dir/src"
    cp "$src/cluster/addons/dns/coredns/coredns.yaml.base" "$src/build/pause/linux/pause.c" "$k8s_dir/src/"
    chmod -R u+w "$k8s_dir/src"
    built "kubernetes-$KUBERNETES_VERSION"
fi

# --- containerd and runc -----------------------------------------------------
containerd_dir=$cache_root/containerd-$CONTAINERD_VERSION
if component "containerd-$CONTAINERD_VERSION" bin/ctr; then
    CGO_ENABLED=0 go_build containerd github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" "$CONTAINERD_VERSION" "$containerd_dir/bin" \
        -- -tags "no_btrfs no_devmapper no_zfs no_aufs urfave_cli_no_docs" \
        -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
        -- github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
        github.com/containerd/containerd/v2/cmd/ctr
    built "containerd-$CONTAINERD_VERSION"
fi

runc_dir=$cache_root/runc-$RUNC_VERSION
if component "runc-$RUNC_VERSION" bin/runc; then
    # runc filters syscalls through libseccomp (cgo). Linked statically, it
    # needs nothing from the node image.
    if [[ ! -e /usr/include/seccomp.h ]]; then
        [[ $(id -u) -eq 0 ]] || die "runc needs libseccomp-dev: sudo apt-get install libseccomp-dev"
        run apt-get install -y -qq --no-install-recommends libseccomp-dev >/dev/null ||
            die "apt-get install libseccomp-dev failed"
    fi
    CGO_ENABLED=1 go_build runc github.com/opencontainers/runc "$RUNC_VERSION" "$RUNC_VERSION" "$runc_dir/bin" \
        -- -tags "seccomp netgo osusergo urfave_cli_no_docs" \
        -ldflags "-s -w -X main.version=${RUNC_VERSION#v} -extldflags -static" \
        -- github.com/opencontainers/runc
    built "runc-$RUNC_VERSION"
fi

# --- etcd, CoreDNS, kube-router, local-path-provisioner ------------------------
etcd_dir=$cache_root/etcd-$ETCD_VERSION
if component "etcd-$ETCD_VERSION" bin/etcd; then
    # etcd's main package is the root of its server module, so go names the
    # binary "server"; it is renamed before the folder is published.
    CGO_ENABLED=0 go_build etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION" "$etcd_dir/bin" \
        -- -ldflags "-s -w" -- go.etcd.io/etcd/server/v3
    mv "$etcd_dir/bin/server" "$etcd_dir/bin/etcd"
    built "etcd-$ETCD_VERSION"
fi

coredns_dir=$cache_root/coredns-$COREDNS_VERSION
if component "coredns-$COREDNS_VERSION" bin/coredns; then
    CGO_ENABLED=0 go_build coredns github.com/coredns/coredns "$COREDNS_VERSION" "$COREDNS_VERSION" "$coredns_dir/bin" \
        -- -ldflags "-s -w" -- github.com/coredns/coredns
    built "coredns-$COREDNS_VERSION"
fi

kube_router_dir=$cache_root/kube-router-$KUBE_ROUTER_VERSION
if component "kube-router-$KUBE_ROUTER_VERSION" bin/kube-router; then
    CGO_ENABLED=0 go_build kube-router github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER_VERSION" "$KUBE_ROUTER_VERSION" "$kube_router_dir/bin" \
        -- -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
        -- github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
    built "kube-router-$KUBE_ROUTER_VERSION"
fi

local_path_dir=$cache_root/local-path-provisioner-$LOCAL_PATH_VERSION
if component "local-path-provisioner-$LOCAL_PATH_VERSION" bin/local-path-provisioner; then
    CGO_ENABLED=0 go_build local-path github.com/rancher/local-path-provisioner "$LOCAL_PATH_VERSION" "$LOCAL_PATH_VERSION" "$local_path_dir/bin" \
        -- -ldflags "-s -w -X main.VERSION=$LOCAL_PATH_VERSION" -- github.com/rancher/local-path-provisioner
    built "local-path-provisioner-$LOCAL_PATH_VERSION"
fi

# --- pause -------------------------------------------------------------------
pause_dir=$cache_root/pause-$PAUSE_VERSION
if component "pause-$PAUSE_VERSION" bin/pause; then
    command -v gcc >/dev/null 2>&1 || die "the pause binary needs gcc: sudo apt-get install gcc libc6-dev"
    mkdir -p "$pause_dir.partial/bin"
    run gcc -Os -static -Wall -Werror -DVERSION="$PAUSE_VERSION" -o "$pause_dir.partial/bin/pause" "$k8s_dir/src/pause.c"
    strip "$pause_dir.partial/bin/pause"
    rm -rf "$pause_dir"
    mv "$pause_dir.partial" "$pause_dir"
    built "pause-$PAUSE_VERSION"
fi

# The node image build reads the versions from here.
{
    echo "KUBERNETES_VERSION=$KUBERNETES_VERSION"
    echo "CONTAINERD_VERSION=$CONTAINERD_VERSION"
    echo "RUNC_VERSION=$RUNC_VERSION"
    echo "ETCD_VERSION=$ETCD_VERSION"
    echo "COREDNS_VERSION=$COREDNS_VERSION"
    echo "KUBE_ROUTER_VERSION=$KUBE_ROUTER_VERSION"
    echo "LOCAL_PATH_VERSION=$LOCAL_PATH_VERSION"
    echo "PAUSE_VERSION=$PAUSE_VERSION"
} >"$cache_root/versions.env"
printf '%s\n' "$cache_root"
