#!/bin/bash
# The node's probes, as root over the local socket (the password from the
# Secret's file). Not the image's healthcheck.sh: its credentials file stays
# in the data dir, which a state transfer does not copy, while the user it
# names comes with the donor's tables, so a joined node's file would not match.
#
#   galera-probe.sh alive   the server answers
#   galera-probe.sh ready   and it is a synced member of the primary component
set -euo pipefail
MYSQL_PWD=$(<"${MARIADB_ROOT_PASSWORD_FILE:?}")
export MYSQL_PWD
case ${1:-} in
    alive)
        exec mariadb-admin --user=root --protocol=socket ping --silent
        ;;
    ready)
        state=$(mariadb --user=root --protocol=socket --batch --skip-column-names -e \
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_cluster_status')")
        grep -qx $'wsrep_cluster_status\tPrimary' <<<"$state"
        grep -qx $'wsrep_local_state_comment\tSynced' <<<"$state"
        ;;
    *)
        echo "usage: galera-probe.sh alive|ready" >&2
        exit 2
        ;;
esac
