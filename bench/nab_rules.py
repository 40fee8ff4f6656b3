#!/usr/bin/env python3
"""Which rule makes each detection of `sightline baseline replay` on the NAB files, and by how
much: per folder, the first detections in windows (the ones NAB scores), the later detections
in windows and the detections outside every window (false positives), by rule and kind, with
the rule's margin over its threshold (the `margin` of each JSON line) at the step reported.

Usage (from the repository root, after `cargo build --release -p sightline`):
    python3 bench/nab_rules.py [NAB_DIR] [TUNING_JSON] [--files] [--lines]

TUNING_JSON is merged over `{"min_rate": 0}` (default `{}`). `--files` adds a count per file,
`--lines` one line per detection. Detections in the probation are left out, as NAB does. The
binary is found as in bench/nab_cv.py.
"""

import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nab_cv  # noqa: E402
import nab_eval  # noqa: E402
import nab_files  # noqa: E402

CLASSES = ["first", "later", "false"]
MARGINS = [1.25, 1.5, 2.0, 4.0]


def classify(nab, name, windows, tuning):
    """Each detection after the probation as (class, rule, kind, margin, row, window width)."""
    times = nab_eval.read_timestamps(os.path.join(nab, name))
    index = {t: i for i, t in enumerate(times)}
    probation = min(int(nab_eval.PROBATION_SHARE * len(times)), 750)
    spans = [(index[nab_eval.parse_time(a)], index[nab_eval.parse_time(b)]) for a, b in windows]
    seen = set()
    out = []
    for d in nab_files.detections(nab, name, tuning):
        i = d["line"] - 2
        if i < probation:
            continue
        inside = [k for k, (lo, hi) in enumerate(spans) if lo <= i <= hi]
        if not inside:
            cls = "false"
        elif inside[0] in seen:
            cls = "later"
        else:
            cls = "first"
            seen.add(inside[0])
        out.append((cls, d.get("rule", "?"), d["kind"], d.get("margin") or 0.0, i))
    return out


def bucket(margin):
    for m in MARGINS:
        if margin < m:
            return f"<{m}"
    return f">={MARGINS[-1]}"


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    nab = args[0] if args else "../shared/data/nab"
    tuning = {"min_rate": 0.0, **(json.loads(args[1]) if len(args) > 1 else {})}
    with open(os.path.join(nab, "combined_windows.json")) as f:
        windows = json.load(f)
    table = collections.Counter()
    margins = collections.Counter()
    per_file = collections.Counter()
    for name in sorted(windows):
        folder = name.split("/")[0]
        for cls, rule, kind, margin, row in classify(nab, name, windows[name], tuning):
            table[(folder, cls, rule, kind)] += 1
            margins[(folder, cls, rule, bucket(margin))] += 1
            per_file[(name, cls, rule)] += 1
            if "--lines" in flags:
                print(f"{name:58s} {row:6d} {cls:5s} {rule:10s} {kind:12s} {margin:8.2f}")
    folders = sorted({k[0] for k in table})
    rules = sorted({k[2] for k in table})
    print("by rule and kind: folder class rule kind count")
    for key in sorted(table):
        print("  " + " ".join(key), table[key])
    print("by rule: folder class " + " / ".join(rules))
    for folder in folders + ["all"]:
        for cls in CLASSES:
            counts = [sum(v for k, v in table.items()
                          if (folder == "all" or k[0] == folder) and k[1] == cls and k[2] == r)
                      for r in rules]
            print(f"  {folder:24s} {cls:5s} " + " / ".join(map(str, counts)))
    labels = [f"<{m}" for m in MARGINS] + [f">={MARGINS[-1]}"]
    print("by margin (all folders): class rule " + " / ".join(labels))
    for cls in CLASSES:
        for r in rules:
            counts = [sum(v for k, v in margins.items() if k[1] == cls and k[2] == r and k[3] == b)
                      for b in labels]
            print(f"  {cls:5s} {r:10s} " + " / ".join(map(str, counts)))
    if "--files" in flags:
        print("by file: name class rule count")
        for key in sorted(per_file):
            print("  " + " ".join(key), per_file[key])


if __name__ == "__main__":
    main(sys.argv[1:])
