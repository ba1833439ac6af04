# shellcheck shell=bash
# Helpers shared by the ci/ installers. Sourced, never run: each installer
# sets `prog` (its name in messages) and `bin_dir` first.

log() { printf '%s: %s\n' "${prog:?}" "$*" >&2; }

die() {
    log "$*"
    exit 1
}

# Print a command, then run it.
run() {
    printf '+ %s\n' "$*" >&2
    "$@"
}

# link_into_path TARGET NAME VERSION-ARGS...: put TARGET on PATH as
# $bin_dir/NAME and log the version it reports.
link_into_path() {
    local target=$1 name=$2
    shift 2
    run mkdir -p "${bin_dir:?}"
    run ln -sfn "$target" "$bin_dir/$name"
    log "$bin_dir/$name -> $target: $("$bin_dir/$name" "$@")"
}
