"""Markdown tables for docs/benchmarks.md (section "Comparison on the supernet") from the summary.json files of comparison runs.

    .venv/bin/python benchmarks/compare_tables.py runs/compare-digits [runs/compare-digits-own ...] \
        [--baseline separate@1x --baseline-run runs/compare-digits]

Prints, per run: each variant's mean ± sd over seeds (hypervolume of the returned set, of its best
K, test hypervolume after retraining, compute, wall), then every variant of every run paired by
seed against ``--baseline`` of ``--baseline-run`` (difference, wins, compute ratio).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def load(run: str) -> dict:
    return json.loads((Path(run) / "summary.json").read_text())


def ms(values: list[float], digits: int = 4) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--baseline", default="separate@1x")
    parser.add_argument("--baseline-run")
    args = parser.parse_args()
    base_run = load(args.baseline_run or args.runs[0])
    base = {s["seed"]: s for s in base_run["per_seed"].get(args.baseline, [])}
    print(
        f"| run | variant | seeds | HV | HV best K | min val error | smallest params | passes | "
        f"HV - {args.baseline} (paired) | better in | compute ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in args.runs:
        doc = load(run)
        for variant, seeds in doc["per_seed"].items():
            common = [s for s in seeds if s["seed"] in base]
            diffs = [s["hv"] - base[s["seed"]]["hv"] for s in common]
            ratio = (
                statistics.fmean(s["passes"] / base[s["seed"]]["passes"] for s in common)
                if common
                else float("nan")
            )
            print(
                f"| {Path(run).name} | {variant} | {len(seeds)} | {ms([s['hv'] for s in seeds])} | "
                f"{ms([s['hv_best_k'] for s in seeds])} | {ms([min(e['error'] for e in s['returned']) for s in seeds], 3)} | "
                f"{ms([min(e['params'] for e in s['returned']) for s in seeds], 0)} | {seeds[0]['passes']:,} | "
                f"{ms(diffs)} | {sum(d > 0 for d in diffs)}/{len(diffs)} | {ratio:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
