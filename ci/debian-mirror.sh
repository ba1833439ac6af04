#!/usr/bin/env bash
# Print the Debian archive mirror this machine's apt uses, e.g. for debootstrap
# or a throwaway sources list for another suite.
#
#   bash ci/debian-mirror.sh            # the main archive
#   bash ci/debian-mirror.sh security   # the security archive (may print nothing)
#
# The repository must never name a mirror: sites differ (CI, offline mirrors,
# caching proxies), so the answer is read from the machine's own apt sources at
# run time. DEBIAN_MIRROR (DEBIAN_SECURITY_MIRROR) in the environment wins, for
# sites that want another.
#
# Order: deb822 files (/etc/apt/sources.list.d/*.sources), then one-line
# sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list). A source for
# the machine's own codename (e.g. "bookworm") is preferred; security and
# updates suites are used only as a last resort (they are separate archives).
set -euo pipefail

die() { printf 'debian-mirror: error: %s\n' "$*" >&2; exit 1; }

want=${1:-archive}
case "$want" in
    archive) override=${DEBIAN_MIRROR:-} ;;
    security) override=${DEBIAN_SECURITY_MIRROR:-} ;;
    *) die "usage: debian-mirror.sh [archive|security]" ;;
esac
if [[ -n "$override" ]]; then
    printf '%s\n' "${override%/}"
    exit 0
fi

codename=""
if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091  # a system file, not part of the repo
    codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
fi

# Emits "RANK URI" candidates; the lowest rank wins. For the main archive,
# rank 0: a suite equal to the codename; 1: another plain suite;
# 2: -security/-updates/-backports. For the security archive, rank 0:
# CODENAME-security; 1: another -security suite; nothing else is printed.
rank_of='
    function rank_of(suite) {
        if (suite == "") return 9
        if (want == "security") {
            if (suite == codename "-security") return 0
            if (suite ~ /-security$/) return 1
            return 9
        }
        if (suite == codename) return 0
        if (suite ~ /-(security|updates|backports|proposed-updates)$/ || suite ~ /\//) return 2
        return 1
    }
'
candidates() {
    local f
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        awk -v codename="$codename" -v want="$want" "$rank_of"'
            function flush() {
                if (types ~ /(^|[[:space:]])deb([[:space:]]|$)/ && uris != "" && enabled !~ /^(no|false)$/) {
                    n = split(suites, s, /[[:space:]]+/)
                    rank = 9
                    for (i = 1; i <= n; i++) {
                        r = rank_of(s[i])
                        if (r < rank) rank = r
                    }
                    split(uris, u, /[[:space:]]+/)
                    if (rank < 9) for (i = 1; i in u; i++) if (u[i] != "") { print rank, u[i]; break }
                }
                types = ""; uris = ""; suites = ""; enabled = ""
            }
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            tolower($1) == "types:"   { sub(/^[^:]*:[[:space:]]*/, ""); types = $0; next }
            tolower($1) == "uris:"    { sub(/^[^:]*:[[:space:]]*/, ""); uris = $0; next }
            tolower($1) == "suites:"  { sub(/^[^:]*:[[:space:]]*/, ""); suites = $0; next }
            tolower($1) == "enabled:" { sub(/^[^:]*:[[:space:]]*/, ""); enabled = tolower($0); next }
            END { flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        awk -v codename="$codename" -v want="$want" "$rank_of"'
            /^[[:space:]]*#/ { next }
            $1 != "deb" { next }
            {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                uri = $i; suite = $(i + 1)
                if (uri == "") next
                rank = rank_of(suite)
                if (rank < 9) print rank, uri
            }
        ' "$f"
    done
}

best=$(candidates | sort -s -n -k1,1 | awk 'NR == 1 { print $2 }')
if [[ -z "$best" ]]; then
    # A machine without a security source is legitimate: print nothing.
    [[ "$want" == security ]] && exit 0
    die "no 'deb' source found in /etc/apt/sources.list{,.d/*} (set DEBIAN_MIRROR to override)"
fi
case "$best" in
    http://* | https://*) ;;
    *) die "apt's source '$best' is not an http(s) mirror; set DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR" ;;
esac
printf '%s\n' "${best%/}"
