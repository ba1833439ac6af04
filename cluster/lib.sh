# The project's one shell library: shared by the local cluster's scripts
# (build.sh, node-image.sh, up.sh, down.sh), the node's own entrypoint (the
# node image carries a copy) and the ci/ installers (through ci/lib.sh): one
# way to say what happens.
# Source it after setting LOG_PREFIX (the name each line starts with).
#
#   log "text"   a line on stderr: "PREFIX: text"
#   die "text"   "PREFIX: error: text" on stderr, then exit 1
#   run cmd...   print "+ cmd..." on stderr, then run it
# shellcheck shell=bash

: "${LOG_PREFIX:?set LOG_PREFIX before sourcing cluster/lib.sh}"

log() { printf '%s: %s\n' "$LOG_PREFIX" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$LOG_PREFIX" "$*" >&2
    exit 1
}
run() {
    printf '+ %s\n' "$*" >&2
    "$@"
}
