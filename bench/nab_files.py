#!/usr/bin/env python3
"""Per-file view of `sightline baseline replay` on the NAB files: for each labelled window, the
row of its first detection (relative to the window's left edge, over its width) or MISS, and the
number of detections outside every window after the probation.

Usage (from the repository root, after `cargo build --release -p sightline`):
    python3 bench/nab_files.py [NAB_DIR] [TUNING_JSON] [FILTER]

TUNING_JSON is merged over `{"min_rate": 0}` (default `{}`); FILTER keeps the files whose path
contains it. The binary is found as in bench/nab_cv.py.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nab_cv  # noqa: E402
import nab_eval  # noqa: E402


def detections(nab, name, tuning):
    out = subprocess.run(
        [nab_cv.binary(), "baseline", "replay", "--csv", os.path.join(nab, name),
         "--tuning", json.dumps(tuning)],
        capture_output=True, text=True, check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main(argv):
    nab = argv[0] if argv else "../shared/data/nab"
    tuning = {"min_rate": 0.0, **(json.loads(argv[1]) if len(argv) > 1 else {})}
    only = argv[2] if len(argv) > 2 else ""
    with open(os.path.join(nab, "combined_windows.json")) as f:
        windows = json.load(f)
    for name in sorted(windows):
        if only not in name:
            continue
        times = nab_eval.read_timestamps(os.path.join(nab, name))
        index = {t: i for i, t in enumerate(times)}
        probation = min(int(nab_eval.PROBATION_SHARE * len(times)), 750)
        spans = [(index[nab_eval.parse_time(a)], index[nab_eval.parse_time(b)])
                 for a, b in windows[name]]
        first = [None] * len(spans)
        outside = 0
        for d in detections(nab, name, tuning):
            i = d["line"] - 2
            if i < probation:
                continue
            inside = [k for k, (lo, hi) in enumerate(spans) if lo <= i <= hi]
            if not inside:
                outside += 1
            elif first[inside[0]] is None:
                first[inside[0]] = (i, d["kind"])
        cells = []
        for (lo, hi), hit in zip(spans, first):
            cells.append(f"[{lo}-{hi}] " + (f"{hit[0] - lo}/{hi - lo} {hit[1]}" if hit else "MISS"))
        print(f"{name:58s} rows={len(times):6d} outside={outside:3d}  " + "  ".join(cells))


if __name__ == "__main__":
    main(sys.argv[1:])
