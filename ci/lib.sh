# shellcheck shell=bash
# Helpers shared by the ci/ installers. Sourced, never run: each installer
# sets `prog` (its name in messages) and `bin_dir` first.

# log, die and run: the project's one shell library, the cluster scripts'.
LOG_PREFIX=${prog:?}
# shellcheck source=cluster/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

# link_into_path TARGET NAME VERSION-ARGS...: put TARGET on PATH as
# $bin_dir/NAME and log the version it reports.
link_into_path() {
    local target=$1 name=$2
    shift 2
    run mkdir -p "${bin_dir:?}"
    run ln -sfn "$target" "$bin_dir/$name"
    log "$bin_dir/$name -> $target: $("$bin_dir/$name" "$@")"
}
