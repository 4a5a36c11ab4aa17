#!/usr/bin/env bash
# Run with: examples/launch_chrome.sh [ADDR [CHROMIUM-FLAG...]]      (ADDR defaults to 127.0.0.1:4433)
# e.g. examples/launch_chrome.sh 127.0.0.1:4433 --enable-features=EnableWebsocketsOverHttp3
#
# Opens the example server's page in Chromium with QUIC forced for the origin, so the page is
# served over HTTP/3 and shows "h3". Chromium does not switch to HTTP/3 through Alt-Svc for a
# certificate from a private CA, so the server key is pinned with its SPKI hash instead.
# Start the server first: cargo run --release --example serve
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
addr="${1:-127.0.0.1:4433}"
certs="$here/certs"

if [ ! -f "$certs/server.pem" ]; then
  (cd "$here" && cargo dev-certs)
fi
# The SPKI hash: the base64 SHA-256 of the server key's SubjectPublicKeyInfo.
if [ -f "$certs/server.spki" ]; then
  spki="$(cat "$certs/server.spki")"
else
  spki="$(openssl x509 -in "$certs/server.pem" -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64)"
fi

browser="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [ -z "$browser" ]; then
  echo "no Chromium found: apt-get install chromium, or set CHROMIUM=/path/to/chrome" >&2
  exit 1
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
echo "opening https://$addr/ with QUIC forced (SPKI $spki)"
echo "for mTLS: import $certs/client.p12 (password: twinport) under Settings > Privacy and security >"
echo "Security > Manage certificates > Your certificates, and start the server with --mtls."
extra=()
if [ "$(id -u)" = 0 ]; then extra+=(--no-sandbox); fi
"$browser" "${extra[@]}" \
  --user-data-dir="$profile" \
  --no-first-run --disable-background-networking --disable-component-update --disable-sync \
  --enable-quic \
  --origin-to-force-quic-on="$addr" \
  --ignore-certificate-errors-spki-list="$spki" \
  "https://$addr/" "${@:2}"
