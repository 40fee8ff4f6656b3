#!/usr/bin/env python3
"""What suppressing further detections for a while after each one would be worth on NAB: the
detections of `sightline baseline replay` (defaults plus TUNING_JSON over `{"min_rate": 0}`) are
filtered so that a series keeps a detection only when the previous kept one is more than S rows
back, then scored with bench/nab_eval.py's rules (standard profile) per folder and overall.

Usage (from the repository root, after `cargo build --release -p sightline`):
    python3 bench/nab_suppress.py [NAB_DIR] [TUNING_JSON]
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nab_eval  # noqa: E402
import nab_files  # noqa: E402

SUPPRESS_ROWS = [0, 72, 144, 288, 576]


def main(argv):
    nab = argv[0] if argv else "../shared/data/nab"
    tuning = {"min_rate": 0.0, **(json.loads(argv[1]) if len(argv) > 1 else {})}
    with open(os.path.join(nab, "combined_windows.json")) as f:
        windows = json.load(f)
    series = {}
    for name in sorted(windows):
        times = nab_eval.read_timestamps(os.path.join(nab, name))
        rows = [d["line"] - 2 for d in nab_files.detections(nab, name, tuning)]
        series[name] = (times, rows)
    for gap in SUPPRESS_ROWS:
        folders = {}
        for name, (times, rows) in series.items():
            kept, last = [], None
            for i in rows:
                if last is None or i - last > gap:
                    kept.append(i)
                    last = i
            raw, null, perfect, detected, fps, _ = nab_eval.score_file(times, windows[name], kept)
            acc = folders.setdefault(name.split("/")[0], [0.0, 0.0, 0.0, 0, 0])
            for k, v in enumerate((raw, null, perfect, detected, fps)):
                acc[k] += v

        def score(names):
            raw = sum(folders[n][0] for n in names)
            null = sum(folders[n][1] for n in names)
            perfect = sum(folders[n][2] for n in names)
            return 100.0 * (raw - null) / (perfect - null)

        cells = [f"{n}={score([n]):.1f}" for n in sorted(folders) if folders[n][2]]
        print(f"suppress {gap:4d} rows: " + " ".join(cells)
              + f" all={score(list(folders)):.1f} windows={sum(a[3] for a in folders.values())}"
              + f" false_pos={sum(a[4] for a in folders.values())}")


if __name__ == "__main__":
    main(sys.argv[1:])
