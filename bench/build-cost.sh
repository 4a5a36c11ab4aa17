#!/usr/bin/env bash
# Run with: bench/build-cost.sh [APP...]      APP: twinport twinport-ring axum-server salvo (default: twinport axum-server salvo)
#
# What a user's build costs: each app of bench/build-cost/ (the same routes — `/`, `/peer` with
# the client's address, `POST /echo` — served the way each stack serves them: twinport over
# HTTP/1.1, HTTP/2 and HTTP/3; axum-server + rustls over HTTP/1.1 and HTTP/2; salvo + quinn over
# all three) is built in release from scratch, in its own empty target directory under
# target/build-cost/ (BUILD_COST_DIR overrides it), with its committed Cargo.lock. Prints, per
# app: wall-clock and CPU time of the clean build, how many crates cargo compiled, how many
# packages `cargo tree` counts for the host, and the binary's size as built and stripped.
#
# Times only mean something on an otherwise idle machine (the build uses every core); crate
# counts and sizes do not depend on it. Dependencies must be in the local registry cache or
# downloadable; no sccache (RUSTC_WRAPPER is cleared).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scratch="${BUILD_COST_DIR:-$here/../target/build-cost}"
apps=("$@")
[ ${#apps[@]} -gt 0 ] || apps=(twinport axum-server salvo)
unset RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER
mkdir -p "$scratch"

printf '%-12s %9s %9s %7s %7s %10s %10s\n' app wall_s cpu_s crates tree bin_bytes stripped
for app in "${apps[@]}"; do
  manifest="$here/build-cost/$app/Cargo.toml"
  [ -f "$manifest" ] || { echo "no app $app (bench/build-cost/$app)" >&2; exit 1; }
  target="$scratch/$app"
  rm -rf "$target"
  log="$scratch/$app.log"
  # Fetch first, so that downloading is not timed.
  cargo fetch --locked --manifest-path "$manifest" >/dev/null 2>&1
  times_before=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  start=$(date +%s.%N)
  cargo build --locked --release --manifest-path "$manifest" --target-dir "$target" >"$log" 2>&1 \
    || { cat "$log" >&2; exit 1; }
  end=$(date +%s.%N)
  # CPU time of the finished children (cargo, rustc, build scripts, the linker), in clock ticks.
  times_after=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  ticks=$(getconf CLK_TCK)
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
  cpu=$(awk -v a="$times_before" -v b="$times_after" -v t="$ticks" 'BEGIN { print (b - a) / t }')
  crates=$(grep -c '^ *Compiling ' "$log")
  tree=$(cargo tree --locked --manifest-path "$manifest" -e normal,build --prefix none 2>/dev/null \
    | sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u | wc -l)
  bin="$target/release/build-cost-$app"
  size=$(stat -c %s "$bin")
  strip -o "$target/stripped" "$bin"
  stripped=$(stat -c %s "$target/stripped")
  printf '%-12s %9.1f %9.1f %7d %7d %10d %10d\n' "$app" "$wall" "$cpu" "$crates" "$tree" "$size" "$stripped"
done
