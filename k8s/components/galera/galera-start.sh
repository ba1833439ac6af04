#!/bin/bash
# Start one node of the Galera StatefulSet, with no manual step in any case:
#
# - Some node is serving (its SQL port answers only once it is in a primary
#   component): join it. A state transfer brings this node up to date.
# - No node is serving (the first start ever, or every pod has gone: deleted
#   together, scaled to 0 and back, every node restarted): each node tells its
#   last committed position on a port of its own, and waits until it has heard
#   every node's. The most advanced (the highest seqno; on a tie, the lowest
#   ordinal) bootstraps a new primary component; the others then join it.
#   Nothing is lost: no node bootstraps while a more advanced one could exist.
#   A node that never comes back holds the others until it does (or until its
#   pod is deleted for good and its claim with it): docs/galera.md.
#
# The position comes from grastate.dat after a clean shutdown, and from
# `mariadbd --wsrep-recover` (InnoDB's own record) after a crash. It runs as
# the image's mysql user, then hands over to the image's entrypoint, which
# initialises an empty data dir as it always does.
set -euo pipefail

readonly DATADIR=/var/lib/mysql
readonly POSITION_PORT=4569
readonly SERVICE=${GALERA_SERVICE:?the headless Service\'s name}
readonly REPLICAS=${GALERA_REPLICAS:?the StatefulSet\'s replicas}
readonly POD_IP=${GALERA_POD_IP:?the pod\'s address}
readonly NAME=${HOSTNAME}
readonly ORDINAL=${NAME##*-}
readonly SET=${NAME%-*}

log() { echo "galera-start: $*" >&2; }

peers() {
    local i
    for ((i = 0; i < REPLICAS; i++)); do
        echo "${SET}-${i}.${SERVICE}"
    done
}

cluster_address() {
    echo "gcomm://$(peers | paste -sd,)"
}

# True when some other node answers on its SQL port.
some_node_serves() {
    local peer
    for peer in $(peers); do
        [[ $peer == "${NAME}.${SERVICE}" ]] && continue
        if timeout 1 bash -c "exec 3<>/dev/tcp/${peer}/3306" 2>/dev/null; then
            log "${peer} is serving: joining the cluster"
            return 0
        fi
    done
    return 1
}

readonly RECOVER_LOG=/tmp/wsrep-recover.log

# After a crash grastate.dat holds no position (seqno -1); InnoDB has it, and
# `mariadbd --wsrep-recover` reads it. Prints "uuid:seqno", or nothing when no
# crash hid the position (no data dir yet, or a clean shutdown). Run once per
# container: the log is removed when the container starts (main).
crash_position() {
    [[ -f $DATADIR/grastate.dat ]] || return 0
    local seqno
    seqno=$(sed -n 's/^seqno:[[:space:]]*//p' "$DATADIR/grastate.dat")
    [[ $seqno == "-1" || -z $seqno ]] || return 0
    if [[ ! -f $RECOVER_LOG ]]; then
        # The cluster's address as well: without one, mariadbd refuses to
        # start at all with rsync as its state transfer method.
        mariadbd --wsrep-recover "--wsrep-cluster-address=$(cluster_address)" \
            >"$RECOVER_LOG" 2>&1 || true
    fi
    local position
    position=$(sed -n 's/.*WSREP: Recovered position: \([0-9a-f-]*:-\{0,1\}[0-9]*\).*/\1/p' \
        "$RECOVER_LOG" | tail -n 1)
    if [[ -z $position ]]; then
        log "no position recovered after a crash: $(tail -n 3 "$RECOVER_LOG" | tr '\n' ' ')"
    fi
    echo "$position"
}

# This node's last committed seqno; -1 for an empty data dir.
local_position() {
    local recovered
    recovered=$(crash_position)
    if [[ -n $recovered ]]; then
        echo "${recovered##*:}"
    elif [[ -f $DATADIR/grastate.dat ]]; then
        sed -n 's/^seqno:[[:space:]]*//p' "$DATADIR/grastate.dat"
    else
        echo -1
    fi
}

# Start mariadbd through the image's entrypoint; never returns. The node's
# address is its pod's IP, not its DNS name: a replaced pod has a new IP while
# DNS may give out the old one for 30 s, and a state transfer's listener
# cannot bind to an address the pod no longer has.
#
# After a crash the recovered position goes with it (--wsrep-start-position,
# as mysqld_safe does): without it the node would ask for a full state
# transfer, and rsync's donor takes no writes while it copies; with it the
# node asks for the writes it lacks (IST), which blocks no one.
start_server() {
    local recovered
    recovered=$(crash_position)
    if [[ -n $recovered ]]; then
        log "after a crash: starting from the recovered position ${recovered}"
    fi
    exec docker-entrypoint.sh mariadbd \
        "--wsrep-node-name=${NAME}" \
        "--wsrep-node-address=${POD_IP}" \
        "--wsrep-cluster-address=$(cluster_address)" \
        ${recovered:+"--wsrep-start-position=${recovered}"} \
        "$@"
}

# A state transfer's scripts keep their pid files in the data dir, and leave
# them there when their container dies. In a new container the same small pid
# numbers come round again: wsrep_sst_common would find one of them alive, wait
# 30 s for it and fail, and the node would never join again. Nothing from an
# earlier container can be running in this one.
forget_stale_transfers() {
    rm -f "$DATADIR/wsrep_sst.pid" "$DATADIR/rsync_sst.pid"
}

main() {
    forget_stale_transfers
    rm -f "$RECOVER_LOG"
    if some_node_serves; then
        start_server
    fi
    local position
    position=$(local_position)
    log "no node is serving; this node's position is ${position}"
    echo "$position" >/tmp/galera-position
    socat -U "TCP-LISTEN:${POSITION_PORT},reuseaddr,fork" OPEN:/tmp/galera-position &
    local teller=$!

    while true; do
        if some_node_serves; then
            kill "$teller"
            start_server
        fi
        local best_seqno=-2 best_ordinal=-1 heard=0 i answer
        for ((i = 0; i < REPLICAS; i++)); do
            answer=$(timeout 2 bash -c "cat </dev/tcp/${SET}-${i}.${SERVICE}/${POSITION_PORT}" \
                2>/dev/null || true)
            [[ $answer =~ ^-?[0-9]+$ ]] || continue
            heard=$((heard + 1))
            if ((answer > best_seqno)); then
                best_seqno=$answer
                best_ordinal=$i
            fi
        done
        if ((heard == REPLICAS)); then
            if ((best_ordinal == ORDINAL)); then
                log "every node told its position; this one is the most advanced: bootstrapping"
                kill "$teller"
                if [[ -f $DATADIR/grastate.dat ]]; then
                    sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$DATADIR/grastate.dat"
                fi
                start_server --wsrep-new-cluster
            fi
            log "every node told its position; waiting for ${SET}-${best_ordinal} to bootstrap"
        else
            log "heard ${heard} of ${REPLICAS} positions; waiting for the rest"
        fi
        sleep 2
    done
}

main "$@"
