#!/usr/bin/env bash
# Installs the Debian packages the test tiers need on a fresh Debian/Ubuntu box:
# MariaDB's server binaries (the integration tier starts its own private
# server from them, and a Galera cluster: galera-4, and mariadb-backup for the
# state transfer script a joining node runs even with nothing to copy),
# Python's venv module, shellcheck, and vagrant (the vagrant tier runs
# `vagrant validate --ignore-provider`: offline, no hypervisor needed),
# wrk (the load generator `invoke bench` and its smoke test drive), and the C
# toolchain and libseccomp-dev that cluster/build.sh needs for runc and pause,
# and chromium with chromium-driver: the stack tier's browser test drives a
# real headless Chromium through chromedriver (tests/utils/browser.py).
set -euo pipefail

packages=(mariadb-server mariadb-client galera-4 mariadb-backup python3-venv shellcheck curl vagrant wrk gcc libc6-dev libseccomp-dev chromium chromium-driver)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system packages: all present (${packages[*]})"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

echo "+ apt-get update && apt-get install ${missing[*]}"
"${sudo[@]}" apt-get update -q
# The packaged MariaDB service is not used: tests start their own server.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
