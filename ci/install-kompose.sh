#!/usr/bin/env bash
# Build a pinned kompose from the Go module proxy and put it on PATH.
#
# kompose publishes no binary this machine can fetch, and `go install
# github.com/kubernetes/kompose@VERSION` refuses because kompose's go.mod carries
# a `replace` directive. So: a throwaway module in a temp dir requires kompose,
# repeats the replace directives read from kompose's own go.mod at that version,
# and `go build`s the main package. The binary is cached by version outside the
# repo; a second run with the cached binary in place builds nothing.
#
# Environment (all optional):
#   KOMPOSE_VERSION    module version to build          (default v1.38.0)
#   KOMPOSE_CACHE_DIR  cache root, one folder a version (default /var/cache/visit-counter/kompose)
#   KOMPOSE_BIN_DIR    where the `kompose` symlink goes  (default /usr/local/bin)
set -euo pipefail

readonly module=github.com/kubernetes/kompose
version=${KOMPOSE_VERSION:-v1.38.0}
cache_root=${KOMPOSE_CACHE_DIR:-/var/cache/visit-counter/kompose}
bin_dir=${KOMPOSE_BIN_DIR:-/usr/local/bin}
cached_bin=$cache_root/$version/kompose
started=$SECONDS

prog=install-kompose
# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# True when $1 is a kompose binary that reports the wanted version.
# `kompose version` prints e.g. "1.38.0 (a8f5d1cb)".
reports_version() {
    local reported
    [[ -x $1 ]] || return 1
    reported=$("$1" version 2>/dev/null) || return 1
    [[ $reported == "${version#v}" || $reported == "${version#v} "* ]]
}

if reports_version "$cached_bin"; then
    log "cached $cached_bin already reports ${version#v}; nothing to build"
    link_into_path "$cached_bin" kompose version
    log "done in $((SECONDS - started)) s"
    exit 0
fi

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null 2>&1 || die "no go toolchain on PATH or in /usr/local/go/bin"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to read go's JSON output"
log "$(go version); GOPROXY=$(go env GOPROXY)"

workdir=$(mktemp -d "${TMPDIR:-/tmp}/kompose-build.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"

# Fetch kompose's module (source + go.mod) and learn where its go.mod landed and
# which commit the version tag points at (for `kompose version`).
run go mod download -json "$module@$version" >download.json
read_json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
upstream_gomod=$(read_json download.json 'd["GoMod"]')
commit=$(read_json download.json 'd.get("Origin", {}).get("Hash", "")[:8] or "HEAD"')

# `old[@v]=new[@v]` for each replace directive in kompose's own go.mod.
run go mod edit -json "$upstream_gomod" >upstream-gomod.json
python3 - upstream-gomod.json >replaces.txt <<'PY'
import json
import sys

def spec(mod: dict) -> str:
    return mod["Path"] + ("@" + mod["Version"] if mod.get("Version") else "")

for rep in json.load(open(sys.argv[1])).get("Replace") or []:
    if not rep["New"].get("Version"):
        # A replace by a local directory can't be repeated outside kompose's tree.
        sys.exit(f"local-path replace in kompose's go.mod: {spec(rep['Old'])} => {rep['New']['Path']}")
    print(f"{spec(rep['Old'])}={spec(rep['New'])}")
PY
mapfile -t replaces <replaces.txt

run go mod init visit-counter.local/kompose-build
for replace in "${replaces[@]}"; do
    run go mod edit "-replace=$replace"
done
# The tool directive makes the main package part of the module graph, so go.sum
# gets every checksum the build needs.
run go get -tool "$module@$version"
run cat go.mod >&2

mkdir -p "$cache_root/$version"
staged=$cache_root/$version/.kompose.$$
run go build -trimpath \
    -ldflags "-s -w -X $module/pkg/version.GITCOMMIT=$commit" \
    -o "$staged" "$module"
run mv -f "$staged" "$cached_bin"

reports_version "$cached_bin" || {
    log "built $cached_bin but it does not report ${version#v}: $("$cached_bin" version)"
    exit 1
}
link_into_path "$cached_bin" kompose version
log "built and installed in $((SECONDS - started)) s"
