#!/usr/bin/env bash
# The twinport benchmarks in one command: builds the harness (release), then runs every
# server pinned to CPU 0 and every load pinned to CPU 1, and prints one table of medians,
# ratios and targets (also written to bench/target/release/bench-report.md).
#
#   bench/run.sh            # the full run (about 8 minutes after the build)
#   bench/run.sh --quick    # a smoke run (about 2 minutes): 1 round, 64 MiB, 1,000 idle
#   bench/run.sh --only small,bulk,conn,mem --runs 5 --secs 5 --no-salvo
#
# Needs oha built with HTTP/3 (`cargo install oha --features http3 --locked`), h2load
# (Debian nghttp2-client) and taskset (util-linux); installs oha if it is missing.
# Also runs nginx, h2o, caddy and ngtcp2's example server (Debian nginx, h2o, caddy,
# ngtcp2-server) when installed, started by the runner itself; each missing one's rows are
# skipped with a note naming its package.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v oha >/dev/null && [ ! -x "$HOME/.cargo/bin/oha" ]; then
    echo "installing oha with HTTP/3 (takes a few minutes)..." >&2
    cargo install oha --features http3 --locked >&2
fi
command -v h2load >/dev/null || echo "h2load missing (apt-get install nghttp2-client): its rows are skipped" >&2

# 10,000 idle connections need more than 10,000 descriptors in the server and the client.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --bins >&2
exec target/release/run "$@"
