#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each). Not part of CI.
# Usage: bash fuzz/run.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
for t in $(cargo fuzz list); do
  echo "== $t (${secs}s)"
  cargo fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048
done
