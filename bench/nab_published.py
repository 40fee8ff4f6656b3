#!/usr/bin/env python3
"""Scores a published NAB detector on a set of labelled NAB files, from its own result files.

Usage (from the repository root, with a checkout of NAB's repository):
    python3 bench/nab_published.py NAB_REPO DETECTOR [NAB_DIR] [TUNING_JSON]

NAB_REPO/results/DETECTOR/ holds the detector's per-file results (an `anomaly_score` per row)
and its `<DETECTOR>_<profile>_scores.csv` (the threshold NAB chose for it per profile, and each
file's raw score). A row is a detection when its score reaches the profile's threshold, as in
NAB. Per file it prints each window's first detection (rows after the left edge, over the
width) or MISS, the detections outside every window, and its raw standard score next to the
published one; then per folder and profile the windows found, the false positives and the
normalised score, with bench/nab_eval.py's scorer. NAB_DIR (default ../shared/data/nab) holds
the series and the `combined_windows.json` that names the files scored: the 38 files here, or
NAB's whole `data/` folder (58 files, with NAB's `labels/combined_windows.json` copied into
it). With TUNING_JSON (merged over
`{"min_rate": 0}`; `{}` for the defaults), it also replays every file through Sightline (the
binary as in bench/nab_cv.py) and scores its detections and the union of both.
"""

import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nab_eval  # noqa: E402
import nab_files  # noqa: E402

PROFILES = {
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}


def published(repo, detector, windows):
    """Per profile: the threshold, and each file's published raw score."""
    thresholds, raw = {}, {}
    for profile in PROFILES:
        path = os.path.join(repo, "results", detector, f"{detector}_{profile}_scores.csv")
        with open(path) as f:
            for row in csv.DictReader(f):
                if row["File"] in windows:
                    thresholds[profile] = float(row["Threshold"])
                    raw[(profile, row["File"])] = float(row["Score"])
    return thresholds, raw


def scores(repo, detector, name):
    folder, base = name.split("/")
    path = os.path.join(repo, "results", detector, folder, f"{detector}_{base}")
    with open(path) as f:
        return [float(row["anomaly_score"]) for row in csv.DictReader(f)]


def score(nab, windows, detections, weights):
    nab_eval.TP_WEIGHT, nab_eval.FP_WEIGHT, nab_eval.FN_WEIGHT = weights
    folders = {}
    for name in windows:
        times = nab_eval.read_timestamps(os.path.join(nab, name))
        raw, null, perfect, hit, fp, count = nab_eval.score_file(
            times, windows[name], detections[name]
        )
        row = folders.setdefault(name.split("/")[0], [0, 0, 0, 0.0, 0.0, 0.0])
        for i, v in enumerate((count, hit, fp, raw, null, perfect)):
            row[i] += v
    return folders


def report(label, folders):
    cells = []
    total = [0, 0, 0, 0.0, 0.0, 0.0]
    for name in sorted(folders):
        row = folders[name]
        total = [a + b for a, b in zip(total, row)]
        value = 100.0 * (row[3] - row[4]) / (row[5] - row[4]) if row[5] > row[4] else row[3]
        cells.append(f"{name} {value:.1f} ({row[1]}/{row[0]}, {row[2]} fp)")
    value = 100.0 * (total[3] - total[4]) / (total[5] - total[4])
    print(f"{label}: all {value:.1f} ({total[1]}/{total[0]}, {total[2]} fp); " + "; ".join(cells))


def main(argv):
    repo, detector = argv[0], argv[1]
    nab = argv[2] if len(argv) > 2 else "../shared/data/nab"
    with open(os.path.join(nab, "combined_windows.json")) as f:
        windows = json.load(f)
    thresholds, raw = published(repo, detector, windows)
    values = {name: scores(repo, detector, name) for name in windows}
    by_profile = {
        p: {n: [i for i, s in enumerate(values[n]) if s >= thresholds[p]] for n in windows}
        for p in PROFILES
    }
    nab_eval.TP_WEIGHT, nab_eval.FP_WEIGHT, nab_eval.FN_WEIGHT = PROFILES["standard"]
    for name in sorted(windows):
        times = nab_eval.read_timestamps(os.path.join(nab, name))
        index = {t: i for i, t in enumerate(times)}
        probation = min(int(nab_eval.PROBATION_SHARE * len(times)), 750)
        spans = [
            (index[nab_eval.parse_time(a)], index[nab_eval.parse_time(b)])
            for a, b in windows[name]
        ]
        found = [i for i in by_profile["standard"][name] if i >= probation]
        cells = []
        for lo, hi in spans:
            inside = [i for i in found if lo <= i <= hi]
            cells.append(f"[{lo}-{hi}] " + (f"{inside[0] - lo}/{hi - lo}" if inside else "MISS"))
        outside = sum(1 for i in found if not any(lo <= i <= hi for lo, hi in spans))
        mine = nab_eval.score_file(times, windows[name], by_profile["standard"][name])[0]
        print(f"{name:58s} outside={outside:3d} raw {mine:+.3f} (published "
              f"{raw[('standard', name)]:+.3f})  " + "  ".join(cells))
    for profile, weights in PROFILES.items():
        report(f"{detector} {profile}", score(nab, windows, by_profile[profile], weights))
    if len(argv) > 3:
        tuning = {"min_rate": 0.0, **json.loads(argv[3])}
        ours = {
            n: [d["line"] - 2 for d in nab_files.detections(nab, n, tuning)] for n in windows
        }
        both = {n: sorted(set(ours[n]) | set(by_profile["standard"][n])) for n in windows}
        report("ours standard", score(nab, windows, ours, PROFILES["standard"]))
        report(f"ours or {detector} standard", score(nab, windows, both, PROFILES["standard"]))


if __name__ == "__main__":
    main(sys.argv[1:])
