#!/usr/bin/env bash
# Turn a `debootstrap --variant=minbase` tree into what a container base image
# needs, the way the official debian:*-slim images are trimmed:
#   - apt sources in deb822 form pointing at the mirror the tree was built from;
#   - apt/dpkg settings for containers: no service starts during installs, no
#     package caches or translations kept, no docs/man pages/locales unpacked;
#   - no build-time leftovers (apt lists, caches, logs, machine-id, the build
#     host's resolv.conf/hostname/hosts).
#
#   finalize-rootfs.sh ROOTFS SUITE MIRROR [SECURITY_MIRROR]
#
# The mirrors are passed in (read from the build machine's apt sources by
# ci/debian-mirror.sh); nothing here names one.
set -euo pipefail

die() { printf 'finalize-rootfs: error: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 3 && $# -le 4 ]] || die "usage: finalize-rootfs.sh ROOTFS SUITE MIRROR [SECURITY_MIRROR]"
rootfs=$1 suite=$2 mirror=$3 security=${4:-}
[[ -x "$rootfs/usr/bin/apt-get" ]] || die "$rootfs does not look like a Debian root filesystem"

# --- apt sources -------------------------------------------------------------
signed_by=""
if [[ -e "$rootfs/usr/share/keyrings/debian-archive-keyring.gpg" ]]; then
    signed_by="Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
fi
rm -f "$rootfs/etc/apt/sources.list"
mkdir -p "$rootfs/etc/apt/sources.list.d"
stanza() { # URI SUITES
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$1" "$2"
    if [[ -n "$signed_by" ]]; then printf '%s\n' "$signed_by"; fi
}
{
    stanza "$mirror" "$suite $suite-updates"
    if [[ -n "$security" ]]; then
        printf '\n'
        stanza "$security" "$suite-security"
    fi
} >"$rootfs/etc/apt/sources.list.d/debian.sources"

# --- container-friendly apt and dpkg ------------------------------------------
# Package scripts must not try to start services inside an image build.
cat >"$rootfs/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# Container image: never start services from package scripts.
exit 101
EOF
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
// Container image: keep no downloaded packages or binary caches in layers.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
// Container image: no translated package descriptions.
Acquire::Languages "none";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes" <<'EOF'
// Container image: keep package lists compressed.
Acquire::GzipIndexes "true";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests" <<'EOF'
// Container image: suggested packages do not keep others installed.
Apt::AutoRemove::SuggestsImportant "false";
EOF

# "slim": documentation, manuals and translations are not unpacked (copyright
# files stay, as Debian's licences require).
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
# Container image: leave out what nobody reads inside a container.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
if [[ -d "$rootfs/usr/share/doc" ]]; then
    find "$rootfs/usr/share/doc" -mindepth 1 \( -type f -o -type l \) ! -name copyright -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -depth -type d -empty -delete
fi
for dir in info man groff linda lintian; do
    if [[ -d "$rootfs/usr/share/$dir" ]]; then find "$rootfs/usr/share/$dir" -mindepth 1 -delete; fi
done
if [[ -d "$rootfs/usr/share/locale" ]]; then
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
fi

# --- build leftovers ------------------------------------------------------------
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/archives/partial/* \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old \
    "$rootfs"/var/log/apt/* "$rootfs"/var/log/bootstrap.log "$rootfs"/var/log/dpkg.log \
    "$rootfs"/var/log/alternatives.log "$rootfs"/tmp/* "$rootfs"/var/tmp/* \
    "$rootfs"/root/.bash_history
mkdir -p "$rootfs/var/lib/apt/lists/partial"
# Per-container identity: systemd-style tools expect the file, empty.
: >"$rootfs/etc/machine-id"
# Docker provides these at run time; do not ship the build host's.
rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
cat >"$rootfs/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
EOF
