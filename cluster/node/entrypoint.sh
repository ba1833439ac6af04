#!/usr/bin/env bash
# One node of the local cluster: starts its Kubernetes components as plain
# processes (no systemd) inside one unprivileged container, in the order they
# depend on each other, then waits. If any component exits, the node stops,
# so a broken cluster is visible instead of half-working.
#
# VC_NODE_ROLE picks the node's part, as kind's nodes have two:
# `control-plane` (the default) runs etcd, the API server, the controllers and
# the scheduler besides what every node runs; `worker` runs the kubelet,
# kube-proxy and kube-router only, with the credentials cluster/up.sh copied
# into /etc/kubernetes before its first start (node-join-credentials, run on
# the control plane). The node's name is its hostname.
#
# cluster/up.sh runs this image; `docker logs` shows this script's progress
# and each component logs to /var/log/visit-counter/NAME.log in the node.
set -euo pipefail

readonly ROLE=${VC_NODE_ROLE:-control-plane}
NODE_NAME=$(hostname)
readonly NODE_NAME
readonly SERVICE_CIDR=10.96.0.0/16
readonly POD_CIDR=10.244.0.0/16
readonly LOGS=/var/log/visit-counter
readonly CONF=/etc/visit-counter
readonly PKI=/etc/kubernetes/pki
readonly KCONF=/etc/kubernetes

LOG_PREFIX=node
# shellcheck source=cluster/lib.sh
. /usr/local/lib/visit-counter/lib.sh

# start NAME COMMAND... : run a component in the background, logging to a file.
start() {
    local name=$1
    shift
    log "starting $name"
    "$@" >>"$LOGS/$name.log" 2>&1 &
    printf '%s\n' "$!" >"/run/visit-counter/$name.pid"
}

# wait_for DESCRIPTION SECONDS COMMAND... : retry COMMAND until it succeeds.
wait_for() {
    local what=$1 limit=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || die "$what did not happen within ${limit}s (see $LOGS/)"
        sleep 0.5
    done
}

find_uplink() {
    [[ $ROLE == control-plane || $ROLE == worker ]] ||
        die "VC_NODE_ROLE must be control-plane or worker, not '$ROLE'"
    uplink=$(ip -4 route show default | awk '{print $5; exit}')
    gateway=$(ip -4 route show default | awk '{print $3; exit}')
    node_ip=$(ip -4 -o addr show dev "$uplink" | awk '{split($4, a, "/"); print a[1]; exit}')
    node_subnet=$(ip -4 route show dev "$uplink" scope link | awk '{print $1; exit}')
    [[ -n $uplink && -n $node_ip && -n $node_subnet ]] || die "no default route: the node needs its container network"
    mkdir -p "$LOGS" /run/visit-counter
}

# --- Hermetic from the first moment --------------------------------------------
# The host forwards and masquerades container traffic to its default route, so
# anything addressed off the cluster would leave the machine. Before any
# component starts, refuse:
# - every new connection that would leave through the uplink (from pods:
#   forward; from node processes: output) unless the route hands it to
#   another node: its next hop is an address on the cluster's network other
#   than the gateway, which is the host. By next hop, not by destination: a
#   packet for a pod on a node that is gone, whose route went with it, takes
#   the default route to the host and is refused here;
# - every forwarded packet still addressed to the Service range (a ClusterIP
#   the proxy did not translate; refusing it also fails a call to a Service
#   without endpoints in milliseconds rather than a timeout);
# - Docker's embedded DNS server, which would forward a query to the host's
#   resolvers.
# Priority -10 runs these before the iptables filter tables that kube-proxy
# and kube-router fill. Answers to connections the host opened to the
# published ports are established traffic and pass.
make_hermetic() {
    local to_a_node="rt ip nexthop != $gateway rt ip nexthop $node_subnet"
    nft -f - <<EOF
table inet visit_counter_hermetic {
    chain forward {
        type filter hook forward priority filter - 10; policy accept;
        ip daddr $SERVICE_CIDR counter reject with tcp reset comment "service address not translated"
        oifname "$uplink" $to_a_node accept comment "to another node"
        oifname "$uplink" ct state new counter reject comment "leaves the node (pod)"
    }
    chain output {
        type filter hook output priority filter - 10; policy accept;
        ip daddr 127.0.0.11 counter reject comment "Docker's DNS server"
        oifname "$uplink" $to_a_node accept comment "to another node"
        oifname "$uplink" ct state new counter reject comment "leaves the node (node process)"
    }
}
EOF
    log "hermetic firewall in place on $uplink ($node_ip, cluster network $node_subnet)"
}

# --- Host settings stay the host's ---------------------------------------------
# kubelet writes six kernel settings at start and refuses to run if it can't.
# They are not namespaced: the write would change the host. Each /proc/sys
# entry is shadowed, in this mount namespace only, by a read-only file already
# holding the value kubelet wants, so kubelet reads it and writes nothing.
shadow_sysctl() {
    local key=$1 value=$2 file
    file=/run/visit-counter/sysctl-${key//\//_}
    printf '%s\n' "$value" >"$file"
    mount --bind "$file" "/proc/sys/$key"
    mount -o remount,bind,ro "/proc/sys/$key"
}
shadow_host_settings() {
    shadow_sysctl vm/overcommit_memory 1
    shadow_sysctl vm/panic_on_oom 0
    shadow_sysctl kernel/panic 10
    shadow_sysctl kernel/panic_on_oops 1
    shadow_sysctl kernel/keys/root_maxkeys 1000000
    shadow_sysctl kernel/keys/root_maxbytes 25000000
}

# --- cgroups (v1, a private namespace) -----------------------------------------
# Docker mounts the hierarchies read-only; kubelet and runc create cgroups, so
# remount them writable (the cgroup namespace keeps them inside this
# container's own subtree). The pods get their own root, /kubelet, whose
# cpuset must be filled in before anything can join it.
prepare_cgroups() {
    local dir
    for dir in /sys/fs/cgroup/*/; do
        if mountpoint -q "$dir"; then
            mount -o remount,bind,rw "$dir"
        fi
    done
    for dir in /sys/fs/cgroup/*/; do
        [[ -L ${dir%/} ]] && continue
        mkdir -p "$dir/kubelet"
    done
    if [[ -d /sys/fs/cgroup/cpuset/kubelet ]]; then
        cat /sys/fs/cgroup/cpuset/cpuset.cpus >/sys/fs/cgroup/cpuset/kubelet/cpuset.cpus
        cat /sys/fs/cgroup/cpuset/cpuset.mems >/sys/fs/cgroup/cpuset/kubelet/cpuset.mems
    fi
}

# On `docker stop`: stop every pod and component, then remove the pods'
# cgroups, so nothing of the cluster outlives the container on the host.
# shellcheck disable=SC2317  # invoked by the trap
shutdown() {
    log "stopping"
    local pidfile
    for pidfile in /run/visit-counter/*.pid; do
        kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    kill_pod_processes
    sleep 1
    find /sys/fs/cgroup/*/kubelet -depth -type d -exec rmdir {} + 2>/dev/null || true
    exit 0
}
# The pods' processes live in this container too; killing them first lets
# their cgroups be removed.
# shellcheck disable=SC2317
kill_pod_processes() {
    local pid
    find /sys/fs/cgroup/pids/kubelet -name tasks -exec cat {} + 2>/dev/null | while read -r pid; do
        kill -9 "$pid" 2>/dev/null || true
    done
}
stop_on_signal() { trap shutdown TERM INT; }

# --- PKI and kubeconfigs -------------------------------------------------------
# The control plane makes them on its first start; a worker's were copied in
# by cluster/up.sh before its first start.
make_pki() {
    [[ ! -f $PKI/ca.crt ]] || return 0
    [[ $ROLE == control-plane ]] ||
        die "no credentials in $KCONF: a worker joins through cluster/up.sh, which copies them in"
    log "making the PKI and kubeconfigs with kubeadm (advertise $node_ip)"
    sed -e "s/NODE_IP/$node_ip/" -e "s/NODE_NAME/$NODE_NAME/" "$CONF/kubeadm.yaml" >"$CONF/kubeadm-rendered.yaml"
    kubeadm init phase certs all --config "$CONF/kubeadm-rendered.yaml" >>"$LOGS/kubeadm.log" 2>&1 ||
        die "kubeadm init phase certs failed (see $LOGS/kubeadm.log)"
    kubeadm init phase kubeconfig all --config "$CONF/kubeadm-rendered.yaml" >>"$LOGS/kubeadm.log" 2>&1 ||
        die "kubeadm init phase kubeconfig failed (see $LOGS/kubeadm.log)"
    kubeadm kubeconfig user --config "$CONF/kubeadm-rendered.yaml" --client-name system:kube-proxy \
        >"$KCONF/kube-proxy.conf" 2>>"$LOGS/kubeadm.log" ||
        die "kubeadm kubeconfig user system:kube-proxy failed (see $LOGS/kubeadm.log)"
    kubeadm kubeconfig user --config "$CONF/kubeadm-rendered.yaml" --client-name system:kube-router \
        >"$KCONF/kube-router.conf" 2>>"$LOGS/kubeadm.log" ||
        die "kubeadm kubeconfig user system:kube-router failed (see $LOGS/kubeadm.log)"
}

# --- containerd, and the images the node needs before any pod -----------------
# The CNI configuration is containerd's to write (conf_template), with the pod
# range the controller manager gave this node, which the kubelet hands over:
# each node's pods get addresses of their own.
start_containerd() {
    start containerd containerd --config "$CONF/containerd.toml"
    wait_for "containerd answering" 30 ctr version
    local tarball
    for tarball in /opt/visit-counter/images/*.tar; do
        ctr -n k8s.io images import --digests "$tarball" >>"$LOGS/images.log" 2>&1 ||
            die "importing $tarball into containerd failed (see $LOGS/images.log)"
    done
    # Pinned: the kubelet's image garbage collection never removes them; with
    # no registry they could not come back.
    ctr -n k8s.io images ls -q | grep -v '^sha256:' | while read -r ref; do
        ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
    done
    log "images imported: $(ctr -n k8s.io images ls -q | grep -vc '^sha256:')"
}

# --- etcd and the control plane ------------------------------------------------
# shellcheck disable=SC2317  # called through wait_for
etcd_listening() { (exec 3<>/dev/tcp/127.0.0.1/2379) 2>/dev/null; }
kubectl_super() { kubectl --kubeconfig "$KCONF/super-admin.conf" "$@"; }

start_etcd() {
    # etcd listens on the node's loopback only; nothing else can reach it.
    start etcd etcd --name "$NODE_NAME" --data-dir /var/lib/etcd \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381
    wait_for "etcd listening" 60 etcd_listening
}

start_api_server() {
    start kube-apiserver kube-apiserver \
    --advertise-address="$node_ip" --secure-port=6443 --allow-privileged=true \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --etcd-servers=http://127.0.0.1:2379 \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group \
    --requestheader-username-headers=X-Remote-User \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR"
    wait_for "the API server ready" 90 kubectl_super get --raw=/readyz
    log "applying the bindings kubeadm would make"
    kubectl_super apply -f "$CONF/addons/rbac.yaml" >>"$LOGS/addons.log" 2>&1 ||
        die "RBAC bootstrap failed (see $LOGS/addons.log)"
}

start_controllers() {
    start kube-controller-manager kube-controller-manager \
    --kubeconfig="$KCONF/controller-manager.conf" \
    --authentication-kubeconfig="$KCONF/controller-manager.conf" --authorization-kubeconfig="$KCONF/controller-manager.conf" \
    --bind-address=127.0.0.1 --leader-elect=false --cluster-name=visit-counter-local \
    --allocate-node-cidrs=true --cluster-cidr="$POD_CIDR" --service-cluster-ip-range="$SERVICE_CIDR" \
    --client-ca-file="$PKI/ca.crt" --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
    --use-service-account-credentials=true --controllers='*,bootstrapsigner,tokencleaner'
start kube-scheduler kube-scheduler \
    --kubeconfig="$KCONF/scheduler.conf" \
    --authentication-kubeconfig="$KCONF/scheduler.conf" --authorization-kubeconfig="$KCONF/scheduler.conf" \
    --bind-address=127.0.0.1 --leader-elect=false
}

# --- Every node: kubelet, kube-proxy, kube-router ------------------------------
# The node reads its own Node object with kube-router's read-only identity.
# shellcheck disable=SC2317  # called through wait_for
node_field() { kubectl --kubeconfig "$KCONF/kube-router.conf" get node "$NODE_NAME" -o jsonpath="$1"; }
# shellcheck disable=SC2317
has_pod_range() { [[ -n $(node_field '{.spec.podCIDR}') ]]; }
# shellcheck disable=SC2317
node_is_ready() { [[ $(node_field '{.status.conditions[?(@.type=="Ready")].status}') == True ]]; }

start_kubelet_and_proxy() {
    start kubelet kubelet --config="$CONF/kubelet.yaml" --kubeconfig="$KCONF/kubelet.conf" \
    --node-ip="$node_ip" --hostname-override="$NODE_NAME"
    sed "s/NODE_NAME/$NODE_NAME/" "$CONF/kube-proxy.yaml" >/run/visit-counter/kube-proxy.yaml
    start kube-proxy kube-proxy --config=/run/visit-counter/kube-proxy.yaml
    wait_for "the node registered, with a pod range" 60 has_pod_range
}

# kube-router, with a read-only identity of its own (addons/rbac.yaml):
# - the router tells the other nodes, over BGP on the cluster's network,
#   which pod range this node holds, and installs a route to each of theirs:
#   the nodes share one subnet, so plain routes and no tunnel; no SNAT
#   either, since nothing may leave the cluster;
# - the firewall turns NetworkPolicies into iptables and ipset rules.
# The service proxy is kube-proxy's, CNI containerd's. It reads its node's
# pod range once at start, so it starts after the node has one.
start_router_and_firewall() {
    start kube-router kube-router --kubeconfig="$KCONF/kube-router.conf" --hostname-override="$NODE_NAME" \
    --run-router=true --enable-overlay=false --enable-pod-egress=false \
    --run-firewall=true --run-service-proxy=false --enable-cni=false \
    --metrics-port=0
}

label_control_plane() {
    kubectl_super label node "$NODE_NAME" node-role.kubernetes.io/control-plane= --overwrite >>"$LOGS/addons.log" 2>&1 ||
        die "labelling the control-plane node failed (see $LOGS/addons.log)"
}

apply_addons() {
    log "applying DNS and storage"
    kubectl_super apply -f "$CONF/addons/coredns.yaml" -f "$CONF/addons/storage.yaml" >>"$LOGS/addons.log" 2>&1 ||
        die "applying DNS and storage failed (see $LOGS/addons.log)"
}

wait_for_ready() {
    wait_for "the node Ready" 90 node_is_ready
    if [[ $ROLE == control-plane ]]; then
        wait_for "cluster DNS available" 120 kubectl_super -n kube-system wait --for=condition=Available deployment/coredns --timeout=2s
        wait_for "the storage provisioner available" 120 kubectl_super -n local-path-storage wait --for=condition=Available deployment/local-path-provisioner --timeout=2s
    fi
    log "node ready ($ROLE)"
    touch /run/visit-counter/ready
}

# Any component exiting ends the node.
supervise() {
    set +e
    wait -n
    local status=$?
    log "a component exited (status $status); stopping the node"
    shutdown
}

find_uplink
make_hermetic
shadow_host_settings
prepare_cgroups
stop_on_signal
make_pki
start_containerd
if [[ $ROLE == control-plane ]]; then
    start_etcd
    start_api_server
    start_controllers
fi
start_kubelet_and_proxy
start_router_and_firewall
if [[ $ROLE == control-plane ]]; then
    label_control_plane
    apply_addons
fi
wait_for_ready
supervise
