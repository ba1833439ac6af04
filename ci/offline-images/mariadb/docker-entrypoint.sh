#!/usr/bin/env bash
# Entrypoint of the offline mariadb stand-in (see ../README.md). It honours the
# documented contract of the official mariadb image for what a compose stack
# uses; written from that documentation, not copied from the image.
#
# On a container's first start (no `mysql` directory in the data dir) it
# creates the system tables, sets the root account, creates the database and
# user from the environment, creates the `healthcheck` user for healthcheck.sh,
# runs /docker-entrypoint-initdb.d, then execs the server as PID 1 so a SIGTERM
# shuts it down cleanly. On later starts it only execs the server.
#
# Environment (each MARIADB_* has a MYSQL_* alias and a *_FILE form; MARIADB_*
# wins over MYSQL_*; a variable and its _FILE form together are an error):
#   MARIADB_ROOT_PASSWORD / _HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
#     (alias MYSQL_ALLOW_EMPTY_PASSWORD), MARIADB_RANDOM_ROOT_PASSWORD: one is
#     required on first start
#   MARIADB_ROOT_HOST (default %), MARIADB_DATABASE, MARIADB_USER,
#   MARIADB_PASSWORD / _HASH, MARIADB_INITDB_SKIP_TZINFO,
#   MARIADB_MYSQL_LOCALHOST_USER / _GRANTS, MARIADB_HEALTHCHECK_GRANTS
#
# Secrets are never written to the log: a generated root password is not
# printed (root@localhost also accepts the container's root via unix_socket,
# so `docker exec CONTAINER mariadb` still gets in).
set -euo pipefail
shopt -s nullglob

log() { # LEVEL MESSAGE...
    local level=$1
    shift
    printf '%s [%s] [Entrypoint]: %s\n' "$(date -u '+%F %T+00:00')" "$level" "$*"
}
note() { log Note "$@"; }
warn() { log Warn "$@" >&2; }
fail() { log ERROR "$@" >&2; exit 1; }

# --- environment: MYSQL_* aliases and *_FILE forms ------------------------------

# Set NAME from NAME or NAME_FILE (the file's content, Docker/Kubernetes secrets).
from_file_env() { # NAME
    local name=$1 file_name="$1_FILE"
    if [[ -n "${!name:-}" && -n "${!file_name:-}" ]]; then
        fail "both $name and $file_name are set; use only one"
    fi
    if [[ -n "${!file_name:-}" ]]; then
        [[ -r "${!file_name}" ]] || fail "$file_name: cannot read ${!file_name}"
        printf -v "$name" '%s' "$(<"${!file_name}")"
    fi
    unset "$file_name"
}

# MARIADB_X from MARIADB_X(_FILE), else from its MYSQL_* alias (_FILE); both
# names end up exported with the same value, for init scripts using either.
resolve_env() { # MARIADB_NAME [MYSQL_ALIAS]
    local maria=$1 mysql=${2:-MYSQL_${1#MARIADB_}}
    from_file_env "$maria"
    from_file_env "$mysql"
    if [[ -z "${!maria:-}" && -n "${!mysql:-}" ]]; then
        printf -v "$maria" '%s' "${!mysql}"
    fi
    if [[ -n "${!maria:-}" ]]; then
        export "${maria?}" "${mysql?}"
        printf -v "$mysql" '%s' "${!maria}"
    fi
}

resolve_all_env() {
    resolve_env MARIADB_ROOT_PASSWORD
    resolve_env MARIADB_ROOT_PASSWORD_HASH
    resolve_env MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MYSQL_ALLOW_EMPTY_PASSWORD
    resolve_env MARIADB_RANDOM_ROOT_PASSWORD
    resolve_env MARIADB_ROOT_HOST
    resolve_env MARIADB_DATABASE
    resolve_env MARIADB_USER
    resolve_env MARIADB_PASSWORD
    resolve_env MARIADB_PASSWORD_HASH
    resolve_env MARIADB_INITDB_SKIP_TZINFO
    resolve_env MARIADB_MYSQL_LOCALHOST_USER
    resolve_env MARIADB_MYSQL_LOCALHOST_GRANTS
    resolve_env MARIADB_HEALTHCHECK_GRANTS
    : "${MARIADB_ROOT_HOST:=%}"
}

# Parts of the official contract this stand-in does not implement.
check_unsupported_env() {
    local name var
    for name in MASTER_HOST REPLICATION_USER REPLICATION_PASSWORD REPLICATION_PASSWORD_HASH AUTO_UPGRADE; do
        for var in "MARIADB_$name" "MARIADB_${name}_FILE" "MYSQL_$name" "MYSQL_${name}_FILE"; do
            [[ -n "${!var:-}" ]] || continue
            if [[ $name == AUTO_UPGRADE ]]; then
                warn "$var is ignored by this offline stand-in of the mariadb image"
            else
                fail "$var (replication) is not supported by this offline stand-in of the mariadb image"
            fi
        done
    done
}

check_init_env() {
    if [[ -z "${MARIADB_ROOT_PASSWORD:-}${MARIADB_ROOT_PASSWORD_HASH:-}${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}${MARIADB_RANDOM_ROOT_PASSWORD:-}" ]]; then
        fail "Database is uninitialized and password option is not specified. Set one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD, MARIADB_RANDOM_ROOT_PASSWORD (or their _FILE forms)"
    fi
    if [[ -n "${MARIADB_ROOT_PASSWORD:-}" && -n "${MARIADB_ROOT_PASSWORD_HASH:-}" ]]; then
        fail "set MARIADB_ROOT_PASSWORD or MARIADB_ROOT_PASSWORD_HASH, not both"
    fi
    if [[ -n "${MARIADB_PASSWORD:-}" && -n "${MARIADB_PASSWORD_HASH:-}" ]]; then
        fail "set MARIADB_PASSWORD or MARIADB_PASSWORD_HASH, not both"
    fi
    if [[ "${MARIADB_USER:-}" == root ]]; then
        fail "MARIADB_USER=root: MARIADB_USER and MARIADB_PASSWORD create a regular user; root is set with MARIADB_ROOT_PASSWORD"
    fi
    if [[ -n "${MARIADB_USER:-}" && -z "${MARIADB_PASSWORD:-}${MARIADB_PASSWORD_HASH:-}" ]]; then
        fail "MARIADB_USER is set but MARIADB_PASSWORD (or MARIADB_PASSWORD_HASH, or a _FILE form) is not"
    fi
    if [[ -z "${MARIADB_USER:-}" && -n "${MARIADB_PASSWORD:-}${MARIADB_PASSWORD_HASH:-}" ]]; then
        warn "MARIADB_PASSWORD is set but MARIADB_USER is not: no user is created"
    fi
}

# --- SQL helpers ----------------------------------------------------------------

# A string for a single-quoted SQL literal (default sql_mode: backslash escapes).
sql_string() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\'/\\\'}
    printf '%s' "$s"
}
# An identifier for backquotes.
sql_ident() { printf '%s' "${1//\`/\`\`}"; }

random_password() {
    head -c 36 /dev/urandom | base64 -w 0 | tr -d '+/='
}

# A double-quoted value in an option file.
cnf_string() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    printf '%s' "$s"
}

# Client options as a config file on a pipe: the password never appears in a
# process list or on disk.
client_options() { # [PASSWORD]
    printf '[client]\nuser=root\nsocket=%s\nprotocol=socket\n' "$SOCKET"
    if [[ -n "${1:-}" ]]; then printf 'password="%s"\n' "$(cnf_string "$1")"; fi
}

# Run SQL from stdin as root on the temporary server; extra args go to the client.
# Init scripts that are sourced may call it too (as with the official image).
# shellcheck disable=SC2120  # arguments come from sourced init scripts
docker_process_sql() {
    mariadb --defaults-extra-file=<(client_options "${ROOT_CLIENT_PASSWORD:-}") \
        ${MARIADB_DATABASE:+"--database=$MARIADB_DATABASE"} "$@"
}

# --- server configuration -------------------------------------------------------

# The effective value of a server option, as mariadbd reads it from its config
# files and the arguments it is started with (SERVER_HELP, read once).
server_option() { # NAME
    # The values table follows a line of dashes; wrapped help text precedes it.
    awk -v n="$1" '/^-{20,}/ { table = 1; next }
        table && $1 == n && !found { print $2; found = 1 }' <<<"$SERVER_HELP"
}

# --- first start ----------------------------------------------------------------

temp_server_pid=""
stop_temp_server() {
    if [[ -n "$temp_server_pid" ]]; then
        kill -TERM "$temp_server_pid" 2>/dev/null || true
        wait "$temp_server_pid" 2>/dev/null || true
        temp_server_pid=""
    fi
}

start_temp_server() { # SERVER ARGS...
    note "Starting a temporary server (no networking) for initialization"
    "$@" --skip-networking --skip-name-resolve=OFF --socket="$SOCKET" --default-time-zone=SYSTEM \
        --skip-log-bin --expire-logs-days=0 --skip-slave-start --wsrep-on=OFF \
        --loose-innodb-buffer-pool-load-at-startup=0 \
        --loose-innodb-buffer-pool-dump-at-shutdown=0 &
    temp_server_pid=$!
    local _
    for _ in $(seq 1 60); do
        if mariadb --defaults-extra-file=<(client_options) -e 'SELECT 1' >/dev/null 2>&1; then
            note "Temporary server started"
            return
        fi
        kill -0 "$temp_server_pid" 2>/dev/null || fail "the temporary server exited during initialization (see the lines above)"
        sleep 1
    done
    fail "the temporary server did not accept connections within 60s"
}

# root@localhost's own credentials; applied last when init scripts need the
# password-less root of a fresh data dir (only a hash of the password is known).
root_localhost_sql() {
    printf '%s\n' "SET @@SESSION.SQL_LOG_BIN = 0;"
    if [[ -n "${MARIADB_ROOT_PASSWORD_HASH:-}" ]]; then
        printf '%s\n' "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING '$(sql_string "$MARIADB_ROOT_PASSWORD_HASH")' OR unix_socket;"
    else
        printf '%s\n' "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('$(sql_string "${MARIADB_ROOT_PASSWORD:-}")') OR unix_socket;"
    fi
}

set_root_localhost() {
    root_localhost_sql | mariadb --defaults-extra-file=<(client_options) --database=mysql ||
        fail "setting the root@localhost password failed (see the error above)"
}

# Every other account, and the database.
setup_sql() { # HEALTHCHECK_PASSWORD
    local health_pw root_auth user_auth host db_grant
    health_pw=$(sql_string "$1")
    host=$(sql_string "$MARIADB_ROOT_HOST")

    if [[ -n "${MARIADB_ROOT_PASSWORD_HASH:-}" ]]; then
        root_auth="IDENTIFIED BY PASSWORD '$(sql_string "$MARIADB_ROOT_PASSWORD_HASH")'"
    else
        root_auth="IDENTIFIED BY '$(sql_string "${MARIADB_ROOT_PASSWORD:-}")'"
    fi

    printf '%s\n' "SET @@SESSION.SQL_LOG_BIN = 0;"
    # Only root@localhost and the system's own accounts survive.
    printf '%s\n' "DELETE FROM mysql.global_priv WHERE NOT (User = 'root' AND Host = 'localhost') AND User NOT IN ('mariadb.sys');"
    printf '%s\n' "DELETE FROM mysql.proxies_priv WHERE NOT (User = 'root' AND Host = 'localhost');"
    printf '%s\n' "FLUSH PRIVILEGES;"
    if [[ "$MARIADB_ROOT_HOST" != localhost ]]; then
        printf '%s\n' "CREATE USER 'root'@'$host' $root_auth;"
        printf '%s\n' "GRANT ALL ON *.* TO 'root'@'$host' WITH GRANT OPTION;"
        printf '%s\n' "GRANT PROXY ON ''@'%' TO 'root'@'$host' WITH GRANT OPTION;"
    fi

    local h
    for h in localhost 127.0.0.1 ::1; do
        printf '%s\n' "CREATE USER 'healthcheck'@'$h' IDENTIFIED BY '$health_pw';"
        printf '%s\n' "GRANT ${MARIADB_HEALTHCHECK_GRANTS:-USAGE} ON *.* TO 'healthcheck'@'$h';"
    done

    if [[ -n "${MARIADB_MYSQL_LOCALHOST_USER:-}" ]]; then
        printf '%s\n' "CREATE USER 'mysql'@'localhost' IDENTIFIED VIA unix_socket;"
        printf '%s\n' "GRANT ${MARIADB_MYSQL_LOCALHOST_GRANTS:-USAGE} ON *.* TO 'mysql'@'localhost';"
    fi

    if [[ -n "${MARIADB_DATABASE:-}" ]]; then
        printf '%s\n' "CREATE DATABASE IF NOT EXISTS \`$(sql_ident "$MARIADB_DATABASE")\`;"
    fi
    if [[ -n "${MARIADB_USER:-}" ]]; then
        if [[ -n "${MARIADB_PASSWORD_HASH:-}" ]]; then
            user_auth="IDENTIFIED BY PASSWORD '$(sql_string "$MARIADB_PASSWORD_HASH")'"
        else
            user_auth="IDENTIFIED BY '$(sql_string "$MARIADB_PASSWORD")'"
        fi
        printf '%s\n' "CREATE USER '$(sql_string "$MARIADB_USER")'@'%' $user_auth;"
        if [[ -n "${MARIADB_DATABASE:-}" ]]; then
            # In a GRANT, _ and % in a database name are wildcards.
            db_grant=$(sql_ident "$MARIADB_DATABASE")
            db_grant=${db_grant//_/\\_}
            db_grant=${db_grant//%/\\%}
            printf '%s\n' "GRANT ALL ON \`$db_grant\`.* TO '$(sql_string "$MARIADB_USER")'@'%';"
        fi
    fi
}

write_healthcheck_cnf() { # PASSWORD
    local cnf="$DATADIR/.my-healthcheck.cnf"
    (
        umask 077
        printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword="%s"\nprotocol=tcp\n' \
            "$PORT" "$SOCKET" "$1" >"$cnf"
    )
}

process_init_files() {
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)
                if [[ -x "$f" ]]; then
                    note "running $f"
                    "$f"
                else
                    note "sourcing $f"
                    # shellcheck disable=SC1090  # user-provided
                    . "$f"
                fi
                ;;
            *.sql) note "running $f"; docker_process_sql <"$f" || fail "$f failed" ;;
            *.sql.gz) note "running $f"; gzip -dc "$f" | docker_process_sql || fail "$f failed" ;;
            *.sql.xz) note "running $f"; xz -dc "$f" | docker_process_sql || fail "$f failed" ;;
            *.sql.zst) note "running $f"; zstd -dc "$f" | docker_process_sql || fail "$f failed" ;;
            *) warn "ignoring $f" ;;
        esac
    done
}

initialize() { # SERVER ARGS...
    check_init_env
    note "Initializing database files in $DATADIR"
    local install_log
    install_log=$(mktemp)
    if ! mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
        --skip-test-db --default-time-zone=SYSTEM --enforce-storage-engine= \
        --skip-log-bin --expire-logs-days=0 \
        --loose-innodb-buffer-pool-load-at-startup=0 \
        --loose-innodb-buffer-pool-dump-at-shutdown=0 \
        "${@:2}" >"$install_log" 2>&1; then
        cat "$install_log" >&2
        fail "mariadb-install-db failed"
    fi
    rm -f "$install_log"
    note "Database files initialized"

    trap 'stop_temp_server; exit 143' TERM INT
    start_temp_server "$@"

    if [[ -z "${MARIADB_INITDB_SKIP_TZINFO:-}" && -d /usr/share/zoneinfo ]]; then
        note "Loading time zone data"
        # Time zone tables are Aria/MyISAM: no binlog, no wsrep needed.
        mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null |
            mariadb --defaults-extra-file=<(client_options) --database=mysql ||
            fail "loading time zone data failed (set MARIADB_INITDB_SKIP_TZINFO=1 to skip it)"
    fi

    if [[ -n "${MARIADB_RANDOM_ROOT_PASSWORD:-}" && -z "${MARIADB_ROOT_PASSWORD:-}${MARIADB_ROOT_PASSWORD_HASH:-}" ]]; then
        MARIADB_ROOT_PASSWORD=$(random_password)
        note "Generated a random root password (not shown; root@localhost also accepts unix_socket from the container's root)"
    fi

    local health_pw
    health_pw=$(random_password)
    note "Creating users and the database"
    setup_sql "$health_pw" | mariadb --defaults-extra-file=<(client_options) --database=mysql ||
        fail "creating the users and the database failed (see the error above)"
    write_healthcheck_cnf "$health_pw"
    unset health_pw

    if [[ -n "${MARIADB_ROOT_PASSWORD_HASH:-}" ]]; then
        # Only a hash is known, which no client can log in with: run the init
        # files while root@localhost still has the fresh data dir's empty
        # password, then set the hash.
        process_init_files
        set_root_localhost
    else
        set_root_localhost
        ROOT_CLIENT_PASSWORD=${MARIADB_ROOT_PASSWORD:-}
        process_init_files
        unset ROOT_CLIENT_PASSWORD
    fi

    note "Stopping the temporary server"
    stop_temp_server
    trap - TERM INT
    note "MariaDB init process done. Ready for start up."
}

main() {
    # Options only: they are for the server.
    if [[ "${1:-}" == -* ]]; then
        set -- mariadbd "$@"
    fi
    case "${1:-}" in
        mariadbd | mysqld) ;;
        *) exec "$@" ;;
    esac
    local arg
    for arg in "${@:2}"; do
        case "$arg" in
            -'?' | --help | --print-defaults | -V | --version) exec "$@" ;;
        esac
    done

    SERVER_HELP=$("$@" --verbose --help 2>/dev/null) ||
        fail "cannot read the server configuration: '$1 --verbose --help' failed"
    DATADIR=$(server_option datadir)
    SOCKET=$(server_option socket)
    PORT=$(server_option port)
    unset SERVER_HELP
    [[ -n "$DATADIR" && -n "$SOCKET" ]] || fail "the server configuration names no datadir or socket"
    DATADIR=${DATADIR%/}

    # Read *_FILE secrets while still root: a secret file may be root's only.
    # The values travel to the unprivileged re-run in the environment.
    resolve_all_env

    if [[ $(id -u) -eq 0 ]]; then
        # Run as the mysql user; hand it the data and socket directories
        # (a fresh named volume is root's).
        mkdir -p "$DATADIR" "$(dirname "$SOCKET")"
        find "$DATADIR" "$(dirname "$SOCKET")" \! -user mysql -exec chown mysql:mysql {} +
        exec setpriv --reuid=mysql --regid=mysql --init-groups -- "${BASH_SOURCE[0]}" "$@"
    fi

    check_unsupported_env
    if [[ ! -d "$DATADIR/mysql" ]]; then
        note "Entrypoint of the offline mariadb stand-in: first start, initializing"
        initialize "$@"
    else
        note "Entrypoint of the offline mariadb stand-in: existing database in $DATADIR, skipping initialization"
    fi
    exec "$@"
}

main "$@"
