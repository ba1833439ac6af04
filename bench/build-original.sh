#!/usr/bin/env bash
# Build the original experiment's Go server as a benchmark contender
# (`invoke bench --original PATH`), outside this repository:
#
#   bash bench/build-original.sh SERVER_GO OUTPUT
#
# SERVER_GO is app/src/server/server.go from the original's public repository
# (didrocks/vagrant-kubernetes-docker-exp on GitHub); OUTPUT is where the
# binary goes (never inside the repository: it is not committed). The source
# is changed only where it must be to run beside the API on one machine:
#   - it listens on HOST:PORT (PORT else 80, HOST else every address), not :80;
#   - it takes its name from REPLICA_NAME when set, else the hostname.
# Everything else (BEGIN, INSERT ... ON DUPLICATE KEY UPDATE, SELECT *, COMMIT
# per request; its table; its driver settings) stays as it was. The MySQL
# driver comes from the Go module proxy the machine's `go env` names, at the
# version pinned below (the original pinned none).
set -euo pipefail

DRIVER="github.com/go-sql-driver/mysql@v1.9.3"

die() { printf 'build-original: %s\n' "$*" >&2; exit 1; }

[ "$#" -eq 2 ] || die "usage: bash bench/build-original.sh SERVER_GO OUTPUT"
source_file=$1
output=$2
[ -f "$source_file" ] || die "no file $source_file (the original's app/src/server/server.go)"
grep -q 'http.ListenAndServe(":80", nil)' "$source_file" ||
    die "$source_file is not the original's server.go (no ListenAndServe(\":80\"))"
command -v go >/dev/null 2>&1 || die "go is not installed (the Go toolchain, 1.22 or newer)"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "$(realpath -m "$output")" in
    "$repo"/*) die "OUTPUT must be outside the repository: the binary is never committed" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$source_file" "$work/server.go"
# The two changes, as sed edits of the original's own lines.
sed -i \
    -e 's|http.ListenAndServe(":80", nil)|http.ListenAndServe(listenAddress(), nil)|' \
    -e 's|^\(\s*\)hostname, err = os.Hostname()$|&\n\1if name := os.Getenv("REPLICA_NAME"); name != "" {\n\1\thostname = name\n\1}|' \
    "$work/server.go"
cat >>"$work/server.go" <<'GO'

// Added for the benchmark: HOST:PORT, PORT defaulting to the original's 80.
func listenAddress() string {
	port := os.Getenv("PORT")
	if port == "" {
		port = "80"
	}
	return os.Getenv("HOST") + ":" + port
}
GO
grep -q 'REPLICA_NAME' "$work/server.go" || die "could not apply the REPLICA_NAME change"
(
    cd "$work"
    go mod init original-server >/dev/null 2>&1
    go get "$DRIVER" >/dev/null
    CGO_ENABLED=0 go build -trimpath -o server .
)
mkdir -p "$(dirname "$output")"
cp "$work/server" "$output"
printf 'build-original: built %s\n' "$output"
