#!/usr/bin/env bash
# Install a pinned checkov (the manifests tier's policy linter) into its own
# virtualenv and put it on PATH.
#
# checkov pins many libraries (packaging, boto3, ...) that would fight the
# project's own lock file, so it lives in a venv of its own, outside the repo,
# never in .venv. pip reads the machine's own settings (index, proxy, CA). A
# second run with the pinned version in place installs nothing.
#
# Environment (all optional):
#   CHECKOV_VERSION   version to install               (default 3.3.30)
#   CHECKOV_VENV      the virtualenv                    (default /opt/visit-counter-tools/checkov)
#   CHECKOV_BIN_DIR   where the `checkov` symlink goes  (default /usr/local/bin)
set -euo pipefail

version=${CHECKOV_VERSION:-3.3.30}
venv=${CHECKOV_VENV:-/opt/visit-counter-tools/checkov}
bin_dir=${CHECKOV_BIN_DIR:-/usr/local/bin}
started=$SECONDS

prog=install-checkov
# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# True when the venv's checkov reports the wanted version.
reports_version() {
    local reported
    [[ -x $venv/bin/checkov ]] || return 1
    reported=$("$venv/bin/checkov" --version 2>/dev/null) || return 1
    [[ $reported == "$version" ]]
}

if reports_version; then
    log "$venv already has checkov $version; nothing to install"
    link_into_path "$venv/bin/checkov" checkov --version
    exit 0
fi

command -v python3 >/dev/null 2>&1 || die "python3 is needed"
python3 -c 'import venv, ensurepip' 2>/dev/null \
    || die "python3 lacks venv/ensurepip: install Debian's python3-venv"

[[ -x $venv/bin/python ]] || run python3 -m venv "$venv"
run "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$version"

reports_version || {
    log "installed checkov but it does not report $version: $("$venv/bin/checkov" --version)"
    exit 1
}
link_into_path "$venv/bin/checkov" checkov --version
log "installed in $((SECONDS - started)) s"
