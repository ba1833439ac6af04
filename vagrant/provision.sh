#!/usr/bin/env bash
# Provisions the visit-counter VM (Vagrantfile runs it as root on every
# `vagrant up` and `vagrant provision`):
#   1. installs a pinned k3s, single node, without Traefik and ServiceLB;
#   2. deploys with the code every cluster gets (`invoke k8s-deploy`, here
#      `python3 -m deploy.k8s_deploy --loader k3s`, standard library only):
#      builds the API image with Docker, imports it, haproxy:3.0 and mariadb:11.8 into
#      k3s's containerd (pinned, no registry), reads k8s/secret.env (the
#      host wrote it and rsync copied it: the VM has no Docker Compose to
#      resolve .env), refuses a password the running database would refuse,
#      runs `kubectl apply -k k8s/`, restarts the API when its image changed,
#      waits for the rollouts and for three replicas on the NodePort;
#   3. prints the URL.
# Idempotent: a second run changes nothing unless the image or k8s/ changed.
set -euo pipefail

# k3s release to install. The install script below comes from the same tag, and
# it checks the k3s binary against that release's sha256sum-<arch>.txt before
# installing it. To pin the install script itself as well, set
# VC_K3S_INSTALL_SHA256 (passed through by the Vagrantfile) to its sha256.
K3S_VERSION="v1.36.1+k3s1"
K3S_INSTALL_URL="https://raw.githubusercontent.com/k3s-io/k3s/${K3S_VERSION/+/%2B}/install.sh"
K3S_INSTALL_SHA256="${VC_K3S_INSTALL_SHA256:-}"

REPO_DIR="${VC_REPO_DIR:-/vagrant}"
HOST_URL="http://localhost:8000/"
# The API's NodePort, as seen inside the VM (the host's 8000 forwards to it).
NODE_URL="http://127.0.0.1:30001/"
# The first rollout waits for MariaDB's first start on an empty volume.
ROLLOUT_TIMEOUT="${VC_ROLLOUT_TIMEOUT:-900}"  # seconds

log() { printf '==> %s\n' "$*"; }
die() {
    printf 'provision: error: %s\n' "$*" >&2
    exit 1
}

kubectl() { k3s kubectl "$@"; }

check_inputs() {
    [ "$(id -u)" -eq 0 ] || die "run me as root (Vagrant's shell provisioner does)"
    [ -f "$REPO_DIR/Dockerfile" ] || die "$REPO_DIR/Dockerfile not found: is the repository synced to $REPO_DIR?"
    [ -f "$REPO_DIR/k8s/kustomization.yaml" ] ||
        die "$REPO_DIR/k8s/kustomization.yaml not found: k8s/ is committed ('invoke k8s-gen' regenerates k8s/base/)"
    [ -f "$REPO_DIR/deploy/k8s_deploy.py" ] || die "$REPO_DIR/deploy/k8s_deploy.py not found"
    [ -s "$REPO_DIR/k8s/secret.env" ] ||
        die "$REPO_DIR/k8s/secret.env not found: the host writes it ('invoke vagrant-deploy' or 'invoke k8s-gen'), then 'vagrant rsync' copies it in"
}

install_packages() {
    local missing=()
    command -v curl >/dev/null || missing+=(curl)
    command -v docker >/dev/null || missing+=(docker.io)
    command -v python3 >/dev/null || missing+=(python3)
    if [ "${#missing[@]}" -eq 0 ]; then
        return
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # BuildKit's CLI plugin, where the release packages it; without it docker
    # falls back to the legacy builder, which builds this Dockerfile too.
    if apt-cache show docker-buildx >/dev/null 2>&1; then
        missing+=(docker-buildx)
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}" ca-certificates
}

write_k3s_config() {
    # Written before install and compared on later runs: a changed config
    # needs a restart to take effect.
    local config=/etc/rancher/k3s/config.yaml
    local wanted
    wanted=$(
        cat <<'EOF'
# Written by vagrant/provision.sh. One node; the API is reached through its
# NodePort, so neither the Traefik ingress nor the ServiceLB load balancer runs.
# The vagrant user may read the admin kubeconfig: `vagrant ssh`, then
# `kubectl get pods` works without sudo, as in the original experiment.
write-kubeconfig-mode: "0640"
write-kubeconfig-group: vagrant
disable:
  - traefik
  - servicelb
EOF
    )
    mkdir -p "$(dirname "$config")"
    if [ -f "$config" ] && [ "$(cat "$config")" = "$wanted" ]; then
        return 1
    fi
    printf '%s\n' "$wanted" >"$config"
    return 0
}

install_k3s() {
    local config_changed=false
    if write_k3s_config; then
        config_changed=true
    fi

    if command -v k3s >/dev/null && k3s --version | grep -qF "k3s version ${K3S_VERSION} "; then
        log "k3s ${K3S_VERSION} is installed"
        if [ "$config_changed" = true ]; then
            log "k3s configuration changed: restarting k3s"
            systemctl restart k3s
        fi
        systemctl enable --now k3s >/dev/null
        return
    fi

    log "installing k3s ${K3S_VERSION}"
    local tmp
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064 # expand $tmp now: it is local to this function
    trap "rm -rf '$tmp'" EXIT
    curl -sSfL --retry 3 -o "$tmp/install.sh" "$K3S_INSTALL_URL"
    if [ -n "$K3S_INSTALL_SHA256" ]; then
        echo "${K3S_INSTALL_SHA256}  $tmp/install.sh" | sha256sum --check --quiet ||
            die "k3s install script does not match VC_K3S_INSTALL_SHA256"
    else
        log "k3s install script sha256: $(sha256sum "$tmp/install.sh" | cut -d' ' -f1) (set VC_K3S_INSTALL_SHA256 to pin it)"
    fi
    INSTALL_K3S_VERSION="$K3S_VERSION" sh "$tmp/install.sh"
    rm -rf "$tmp"
    trap - EXIT
}

wait_for_k3s() {
    log "waiting for the Kubernetes API and the node"
    local deadline=$((SECONDS + 300))
    until kubectl get --raw=/readyz >/dev/null 2>&1 && [ -n "$(kubectl get nodes -o name 2>/dev/null)" ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "k3s did not come up in 5 minutes: see 'journalctl -u k3s'"
        sleep 2
    done
    kubectl wait --for=condition=Ready node --all --timeout=300s >/dev/null
}

deploy_app() {
    # Docker builds the API image and holds the images k8s_deploy imports;
    # k3s runs its own containerd.
    systemctl start docker
    log "deploying k8s/ with python3 -m deploy.k8s_deploy (the code of invoke k8s-deploy)"
    (cd "$REPO_DIR" && python3 -m deploy.k8s_deploy --loader k3s --kubectl 'k3s kubectl' \
        --url "$NODE_URL" --timeout "$ROLLOUT_TIMEOUT")
}

main() {
    check_inputs
    install_packages
    install_k3s
    wait_for_k3s
    deploy_app

    # docker is only the image builder here; k3s runs its own containerd.
    systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true

    log "visit-counter is up: ${HOST_URL} (from the host; NodePort 30001 in the VM)"
}

main "$@"
