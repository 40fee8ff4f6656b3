#!/usr/bin/env bash
# Call-graph layout speed: median and worst of 21 runs on generated systems of 10, 100 and 300
# nodes (release build, one core).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p sightline-dashboard --example layout_bench
