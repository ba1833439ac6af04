#!/usr/bin/env bash
# healthcheck.sh of the offline mariadb stand-in (see ../README.md): the
# interface of the official image's health check script, for the tests a
# compose stack uses. Written from its documentation.
#
#   healthcheck.sh [OPTION...] TEST...      e.g. --connect --innodb_initialized
#
# Arguments are handled in order; an option applies to the tests after it.
# Options:
#   --su-mysql, --su=USER    re-run as that unix user (ignores earlier options)
#   --datadir=DIR            where .my-healthcheck.cnf is (default /var/lib/mysql)
#   --no-defaults, --defaults-file=F, --defaults-extra-file=F,
#   --defaults-group-suffix=S   passed to the mariadb client
# Tests:
#   --connect                 the server accepts TCP connections (a refused
#                             login still counts: it proves the port serves)
#   --innodb_initialized      InnoDB has finished starting (needs USAGE)
#   --innodb_buffer_pool_loaded  the saved buffer pool has been loaded
# Unless --no-defaults or a --defaults(-extra)-file is given, the entrypoint's
# DATADIR/.my-healthcheck.cnf (the `healthcheck` user, protocol=tcp) is read.
# Exit 0 when every test passes, else 1 with one line naming the failed test.
set -uo pipefail

datadir=/var/lib/mysql
no_defaults=0
defaults_file=""
extra_file=""
group_suffix=""

fail() { printf 'healthcheck.sh: %s\n' "$*" >&2; exit 1; }

client() { # MARIADB_CLIENT_ARGS...
    local -a opts=()
    if [[ $no_defaults -eq 1 ]]; then
        opts+=(--no-defaults)
    elif [[ -n "$defaults_file" ]]; then
        opts+=("--defaults-file=$defaults_file")
    fi
    if [[ -n "$extra_file" ]]; then
        opts+=("--defaults-extra-file=$extra_file")
    elif [[ $no_defaults -eq 0 && -z "$defaults_file" && -r "$datadir/.my-healthcheck.cnf" ]]; then
        opts+=("--defaults-extra-file=$datadir/.my-healthcheck.cnf")
    fi
    if [[ -n "$group_suffix" ]]; then opts+=("--defaults-group-suffix=$group_suffix"); fi
    mariadb "${opts[@]}" --batch --skip-column-names --connect-timeout=5 "$@"
}

query() { # SQL
    client -e "$1" 2>&1
}

test_connect() {
    local out
    if out=$(client --protocol=tcp -e 'SELECT 1' 2>&1); then
        return 0
    fi
    # Authentication failing means the server answered on its TCP port.
    [[ "$out" == *"Access denied"* ]] && return 0
    fail "connect failed: ${out##*$'\n'}"
}

test_innodb_initialized() {
    local out
    out=$(query "SELECT 1 FROM information_schema.ENGINES WHERE engine = 'InnoDB' AND support IN ('YES', 'DEFAULT', 'ENABLED')") ||
        fail "innodb_initialized failed: ${out##*$'\n'}"
    [[ "$out" == 1 ]] || fail "innodb_initialized failed: InnoDB is not available yet"
}

test_innodb_buffer_pool_loaded() {
    local out
    out=$(query "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_LOAD_STATUS'") ||
        fail "innodb_buffer_pool_loaded failed: ${out##*$'\n'}"
    [[ "$out" == "Buffer pool(s) load completed"* ]] ||
        fail "innodb_buffer_pool_loaded failed: ${out:-no status}"
}

switch_user() { # USER REMAINING_ARGS...
    local user=$1
    shift
    if [[ $(id -un) != "$user" ]]; then
        exec setpriv --reuid="$user" --regid="$user" --init-groups -- "${BASH_SOURCE[0]}" "$@"
    fi
}

[[ $# -gt 0 ]] || fail "no test given (e.g. --connect --innodb_initialized; see the header of $0)"
while [[ $# -gt 0 ]]; do
    arg=$1
    shift
    case "$arg" in
        --su-mysql) switch_user mysql "$@" ;;
        --su=*) switch_user "${arg#--su=}" "$@" ;;
        --datadir=*) datadir=${arg#--datadir=} ;;
        --no-defaults) no_defaults=1 ;;
        --defaults-file=*) defaults_file=${arg#--defaults-file=} ;;
        --defaults-extra-file=*) extra_file=${arg#--defaults-extra-file=} ;;
        --defaults-group-suffix=*) group_suffix=${arg#--defaults-group-suffix=} ;;
        --connect) test_connect ;;
        --innodb_initialized) test_innodb_initialized ;;
        --innodb_buffer_pool_loaded) test_innodb_buffer_pool_loaded ;;
        --galera_online | --galera_ready | --replication | --replication_* | --mariadbupgrade)
            fail "$arg is not supported by this offline stand-in of the mariadb image" ;;
        -h | --help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) fail "unknown argument $arg" ;;
    esac
done
exit 0
