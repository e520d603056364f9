"""Markdown tables for docs/benchmarks.md (section "Comparison on the supernet") from the summary.json files of comparison runs.

    .venv/bin/python benchmarks/compare_tables.py runs/compare-digits [runs/compare-digits-own ...] \
        [--baseline separate@1x --baseline-run runs/compare-digits]

Prints, per run: each variant's mean ± sd over seeds (score (a): hypervolume of the family on the
validation split, linear and log parameter axis; score (b): the family retrained, test split,
both axes; the whole returned set; compute), then every variant of every run paired by seed
against ``--baseline`` of ``--baseline-run`` on ``--key`` (difference, wins, compute ratio).
Summaries written before a score existed show "-" for it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def load(run: str) -> dict:
    return json.loads((Path(run) / "summary.json").read_text())


KEYS = ("hv_best_k", "hv_best_k_log", "test_hv", "test_hv_log", "hv")


def scores(seeds: list[dict], key: str) -> list[float]:
    """The seeds' values of ``key`` (those that have one)."""
    return [s[key] for s in seeds if s.get(key) is not None]


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
    parser.add_argument("--key", choices=KEYS, default="hv_best_k", help="the paired score")
    args = parser.parse_args()
    base_run = load(args.baseline_run or args.runs[0])
    base = {s["seed"]: s for s in base_run["per_seed"].get(args.baseline, [])}
    print(
        "| run | variant | seeds | (a) linear | (a) log | (b) linear | (b) log | all returned | "
        f"min val error | smallest params | passes | {args.key} - {args.baseline} (paired) | "
        "better in | compute ratio |"
    )
    print("| --- " * 14 + "|")
    key = args.key
    for run in args.runs:
        doc = load(run)
        for variant, seeds in doc["per_seed"].items():
            common = [s for s in seeds if s["seed"] in base]
            pairs = [
                (s, base[s["seed"]])
                for s in common
                if s.get(key) is not None and base[s["seed"]].get(key) is not None
            ]
            diffs = [a[key] - b[key] for a, b in pairs]
            ratio = (
                statistics.fmean(a["passes"] / b["passes"] for a, b in pairs)
                if pairs
                else float("nan")
            )
            columns = " | ".join(ms(scores(seeds, k)) for k in KEYS)
            print(
                f"| {Path(run).name} | {variant} | {len(seeds)} | {columns} | "
                f"{ms([min(e['error'] for e in s['returned']) for s in seeds], 3)} | "
                f"{ms([min(e['params'] for e in s['returned']) for s in seeds], 0)} | {seeds[0]['passes']:,} | "
                f"{ms(diffs)} | {sum(d > 0 for d in diffs)}/{len(diffs)} | {ratio:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
