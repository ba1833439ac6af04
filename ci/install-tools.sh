#!/usr/bin/env bash
# Installs every tool the test tiers use, on a Debian 12/13 machine, as root.
# Each step is idempotent and skips what is already there:
#   system packages (MariaDB binaries, shellcheck, vagrant, wrk, ...),
#   Docker Engine + Compose v2, the offline base images when no registry
#   answers, kompose (built from the Go module proxy) and checkov.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for step in install-system-packages install-docker build-offline-images install-kompose install-checkov; do
    echo "== ci/$step.sh"
    started=$(date +%s)
    bash "$here/$step.sh"
    echo "== ci/$step.sh done in $(( $(date +%s) - started ))s"
done
