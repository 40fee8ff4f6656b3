#!/usr/bin/env python3
"""Scores `sightline baseline replay` on the Numenta Anomaly Benchmark (NAB) files.

Usage (from the repository root):
    cargo build --release && python3 bench/nab_eval.py [NAB_DIR] [-- EXTRA REPLAY FLAGS]

NAB_DIR defaults to ../shared/data/nab. Every CSV under it is replayed with the release binary;
detections are compared with combined_windows.json. Per folder it prints: files, labelled windows,
windows detected (at least one detection inside), detections outside every window (false
positives), and the NAB score under the standard profile.

Scoring follows NAB's published rules (standard profile: TP weight 1.0, FP 0.11, FN 1.0):
- the first 15% of each file (at most 750 rows) is probation: detections there are ignored;
- in a window, only the earliest detection counts, worth A_tp * sigma(y) / sigma(-1), with y the
  position relative to the window's right end (-1 at the left edge) and
  sigma(y) = 2 / (1 + exp(5y)) - 1;
- a detection outside every window costs A_fp * sigma(y), y measured from the end of the previous
  window in window lengths (so a detection just after a window costs less), and A_fp when no
  window precedes it; a window without detection costs A_fn;
- raw scores are summed, then normalised against the null detector (no detection, every window a
  miss) and the perfect one (every window caught at its left edge):
  100 * (raw - null) / (perfect - null).
Anomaly-free files have no window, hence no null/perfect contribution: only their false positives
count (they lower the folder's and the overall score).
"""

import json
import math
import os
import subprocess
import sys
import time
from datetime import datetime

TP_WEIGHT, FP_WEIGHT, FN_WEIGHT = 1.0, 0.11, 1.0
PROBATION_SHARE = 0.15


def sigma(y):
    """NAB's scaled sigmoid."""
    if y >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def parse_time(text):
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    raise ValueError(f"bad timestamp {text!r}")


def read_timestamps(path):
    with open(path) as f:
        next(f)
        return [parse_time(line.split(",", 1)[0]) for line in f if line.strip()]


def score_file(times, windows, detections):
    """Returns (raw, null, perfect, detected_windows, false_positives) for one file."""
    index = {t: i for i, t in enumerate(times)}
    n = len(times)
    probation = min(math.floor(PROBATION_SHARE * n), PROBATION_SHARE * 5000)
    spans = []
    for start, end in windows:
        lo, hi = index[parse_time(start)], index[parse_time(end)]
        spans.append((lo, hi))
    max_tp = sigma(-1.0)
    best = [None] * len(spans)
    fp_score, fp_count = 0.0, 0
    for i in sorted(detections):
        if i < probation:
            continue
        inside = next((k for k, (lo, hi) in enumerate(spans) if lo <= i <= hi), None)
        if inside is not None:
            lo, hi = spans[inside]
            width = hi - lo + 1
            position = -(hi - i + 1) / width
            value = sigma(position) * TP_WEIGHT / max_tp
            if best[inside] is None:
                best[inside] = value
            continue
        previous = [(lo, hi) for lo, hi in spans if hi < i]
        if previous:
            lo, hi = previous[-1]
            width = hi - lo + 1
            position = abs(hi - i) / float(width - 1)
        else:
            position = 3.0
        fp_score += sigma(position) * FP_WEIGHT
        fp_count += 1
    # A window lying wholly inside probation cannot be scored (NAB drops it too).
    scorable = [k for k, (lo, hi) in enumerate(spans) if hi >= probation]
    raw = fp_score
    detected = 0
    for k in scorable:
        if best[k] is None:
            raw -= FN_WEIGHT
        else:
            raw += best[k]
            detected += 1
    null = -FN_WEIGHT * len(scorable)
    perfect = TP_WEIGHT * len(scorable)
    return raw, null, perfect, detected, fp_count, len(scorable)


def replay(binary, path, extra):
    started = time.perf_counter()
    proc = subprocess.run(
        [binary, "baseline", "replay", "--csv", path, *extra],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"replay failed on {path} ({proc.returncode}): {proc.stderr.strip()}")
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    # `line` is the 1-based file line; row index = line - 2 (header on line 1).
    return [d["line"] - 2 for d in lines], elapsed


def main(argv):
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if argv:
        nab = os.path.abspath(argv[0])
    else:
        # The shared data sits next to the checkout, or next to its parent (worktrees).
        candidates = [os.path.join(root, *[".."] * up, "shared", "data", "nab") for up in (1, 2)]
        nab = next((c for c in candidates if os.path.isdir(c)), candidates[0])
    binary = os.path.join(root, "target", "release", "sightline")
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: run `cargo build --release` first")
    with open(os.path.join(nab, "combined_windows.json")) as f:
        labels = json.load(f)

    folders = {}
    slowest = (0.0, "")
    for folder in sorted(os.listdir(nab)):
        directory = os.path.join(nab, folder)
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".csv"):
                continue
            key = f"{folder}/{name}"
            path = os.path.join(directory, name)
            detections, elapsed = replay(binary, path, extra)
            slowest = max(slowest, (elapsed, key))
            raw, null, perfect, hit, fp, windows = score_file(
                read_timestamps(path), labels.get(key, []), detections
            )
            row = folders.setdefault(folder, [0, 0, 0, 0, 0.0, 0.0, 0.0])
            for i, v in enumerate((1, windows, hit, fp, raw, null, perfect)):
                row[i] += v
            if os.environ.get("NAB_VERBOSE"):
                print(f"  {key}: windows {windows} hit {hit} fp {fp} raw {raw:.3f}", file=sys.stderr)

    header = f"{'folder':24} {'files':>5} {'windows':>7} {'detected':>8} {'false pos':>9} {'score':>7}"
    print(header)
    print("-" * len(header))
    total = [0, 0, 0, 0, 0.0, 0.0, 0.0]
    for folder, row in folders.items():
        total = [a + b for a, b in zip(total, row)]
        print(format_row(folder, row))
    print("-" * len(header))
    print(format_row("all", total))
    print(f"slowest replay: {slowest[0] * 1000:.0f} ms ({slowest[1]})")


def format_row(name, row):
    files, windows, hit, fp, raw, null, perfect = row
    if perfect > null:
        score = f"{100.0 * (raw - null) / (perfect - null):7.1f}"
    else:
        # No window: the score is only the (negative) false-positive cost.
        score = f"{raw:+7.2f}" if fp else "    n/a"
    return f"{name:24} {files:5d} {windows:7d} {hit:8d} {fp:9d} {score}"


if __name__ == "__main__":
    main(sys.argv[1:])
