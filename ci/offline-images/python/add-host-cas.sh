#!/bin/sh
# Add to the image's trust store every CA in HOST_BUNDLE that Debian's
# ca-certificates does not already ship (e.g. the CA of a TLS-inspecting proxy
# the build machine sits behind). They go to /usr/local/share/ca-certificates,
# so they survive any later `update-ca-certificates` in derived images.
#
#   add-host-cas.sh HOST_BUNDLE
set -eu

host_bundle=$1
system_bundle=/etc/ssl/certs/ca-certificates.crt
target=/usr/local/share/ca-certificates

[ -r "$host_bundle" ] || { echo "add-host-cas: error: $host_bundle is not readable" >&2; exit 1; }
[ -r "$system_bundle" ] || { echo "add-host-cas: error: $system_bundle missing (is ca-certificates installed?)" >&2; exit 1; }
mkdir -p "$target"

# A certificate is identified by its base64 body; whitespace and comments differ.
awk -v target="$target" '
    FNR == 1 { file++ }
    /-----BEGIN CERTIFICATE-----/ { body = ""; pem = $0 "\n"; inside = 1; next }
    inside && /-----END CERTIFICATE-----/ {
        pem = pem $0 "\n"; inside = 0
        if (file == 1) { known[body] = 1; next }
        if (!(body in known)) {
            known[body] = 1; added++
            out = sprintf("%s/host-ca-%03d.crt", target, added)
            printf "%s", pem > out; close(out)
        }
        next
    }
    inside { body = body $0; pem = pem $0 "\n" }
    END { printf "add-host-cas: %d CA(s) from the host bundle added\n", added + 0 }
' "$system_bundle" "$host_bundle"
update-ca-certificates >/dev/null
