#!/usr/bin/env bash
# Installs every tool the test tiers use, on a Debian 12/13 machine, as root.
# Each step is idempotent and skips what is already there:
#   system packages (MariaDB binaries, shellcheck, vagrant, wrk, ...),
#   Docker Engine + Compose v2, the offline base images when no registry
#   answers, kompose (built from the Go module proxy), checkov, and the local
#   cluster's components (built from source by cluster/build.sh, cached).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for step in ci/install-system-packages ci/install-docker ci/build-offline-images ci/install-kompose \
    ci/install-checkov cluster/build; do
    echo "== $step.sh"
    started=$(date +%s)
    bash "$here/../$step.sh"
    echo "== $step.sh done in $(( $(date +%s) - started ))s"
done
