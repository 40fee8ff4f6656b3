#!/usr/bin/env python3
"""Cross-validation of detector settings on the NAB folders with `sightline baseline score`.

Usage (from the repository root, after `cargo build --release -p sightline`):
    python3 bench/nab_cv.py [NAB_DIR] GRID.json

The binary is $SIGHTLINE_BIN if set, else the release build under $CARGO_TARGET_DIR or target/.
GRID.json is a list of settings, each a JSON object of `DetectorConfig` fields (merged over
`{"min_rate": 0}`). Every setting is scored once over every folder (one sequential run each);
then, for each split of the folders into a tuning pair and a checking pair, the setting with
the best standard score on the tuning pair is chosen and its score on the checking pair is
reported. The folders are scored by NAB's rules through the binary's own scorer; nothing here
re-implements the scoring.

NAB_DIR may also be NAB's whole `data/` folder (with NAB's `labels/combined_windows.json`
copied into it): the settings are still chosen on the four folders above only, and the other
folders (realAdExchange, realKnownCause, realTraffic) are reported beside them, per setting and
for each fold's choice, as a check that played no part in choosing.
"""

import json
import os
import subprocess
import sys

FOLDERS = ["artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch", "realTweets"]
SPLITS = [
    (("artificialWithAnomaly", "realAWSCloudwatch"), ("artificialNoAnomaly", "realTweets")),
    (("artificialNoAnomaly", "realTweets"), ("artificialWithAnomaly", "realAWSCloudwatch")),
]


def binary():
    if os.environ.get("SIGHTLINE_BIN"):
        return os.environ["SIGHTLINE_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target"
    )
    return os.path.join(target, "release", "sightline")


def run(nab, setting):
    tuning = {"min_rate": 0.0, **setting}
    out = subprocess.run(
        [binary(), "baseline", "score", "--json",
         "--windows", os.path.join(nab, "combined_windows.json"),
         "--data", nab, "--tuning", json.dumps(tuning)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def standard(folders, names):
    raw = sum(folders[n]["raw"][0] for n in names)
    null = sum(folders[n]["null"][0] for n in names)
    perfect = sum(folders[n]["perfect"][0] for n in names)
    return 100.0 * (raw - null) / (perfect - null)


def main(argv):
    nab = argv[0] if len(argv) > 1 else "../shared/data/nab"
    with open(argv[-1]) as f:
        grid = json.load(f)
    results = []
    for setting in grid:
        folders = run(nab, setting)["folders"]
        results.append((setting, folders))
        others = sorted(set(folders) - set(FOLDERS))
        row = {n: standard(folders, [n]) if folders[n]["windows"] else folders[n]["raw"][0]
               for n in FOLDERS + others}
        row["all"] = standard(folders, FOLDERS)
        if others:
            row["others"] = standard(folders, others)
            row["corpus"] = standard(folders, FOLDERS + others)
        row["detected"] = sum(folders[n]["detected"] for n in FOLDERS + others)
        row["false_pos"] = sum(folders[n]["false_positives"] for n in FOLDERS + others)
        print(json.dumps(setting), " ".join(f"{k}={v:.1f}" for k, v in row.items()), flush=True)
    for tune, check in SPLITS:
        setting, folders = max(results, key=lambda r: standard(r[1], tune))
        others = sorted(set(folders) - set(FOLDERS))
        unused = "".join(f"; {n} {standard(folders, [n]):.1f}" for n in others)
        if others:
            unused += f"; {'+'.join(others)} {standard(folders, others):.1f} (not used to choose)"
        print(f"tuned on {'+'.join(tune)}: {json.dumps(setting)} scores "
              f"{standard(folders, tune):.1f} there and {standard(folders, check):.1f} "
              f"on {'+'.join(check)}{unused}")


if __name__ == "__main__":
    main(sys.argv[1:])
