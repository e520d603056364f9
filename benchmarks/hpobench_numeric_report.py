"""Issue 15's HPOBench target from the result files of ``hpobench.py`` (nb201.py's JSON).

Target: with the parameters declared as a user would (``--declare numeric``), ISNAS's family is
>= the best peer's best 4 on average over the tables, and no table is behind beyond its seed
noise. Per table, at one query count (reference 'main'): each method's HV ratio (mean ± sd over
seeds), the best peer (highest mean), and ISNAS minus that peer paired by seed. "Behind beyond
seed noise": the paired mean is below zero by more than two standard errors (sd / sqrt(seeds)).
With ``--categorical`` (one or more files of categorical runs, e.g. ISNAS alone plus the peers
of an earlier run) the same table for that declaration, and ISNAS numeric minus categorical.

    .venv/bin/python benchmarks/hpobench_numeric_report.py \\
        --numeric benchmarks/results/hpobench_numeric.json \\
        --categorical benchmarks/results/hpobench_categorical.json \\
        --out benchmarks/results/hpobench_numeric_summary.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nb201 import method_label

ISNAS = "ISNAS"  # the sampler with its defaults (variants keep their own labels)


def load(paths: list[str], queries: int) -> dict[str, dict[str, dict[int, float]]]:
    """table -> method label -> seed -> HV ratio of the returned family (best K for peers)."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for path in paths:
        with open(path) as f:
            for r in json.load(f)["results"]:
                cp = next((c for c in r["checkpoints"] if c["queries"] == queries), None)
                if cp is None:
                    continue
                default = r["method"] == "isnas" and r["label"] == method_label("isnas", None)
                label = ISNAS if default else r["label"]
                out.setdefault(r["table"], {}).setdefault(label, {})[r["seed"]] = cp["returned_k"][
                    "main"
                ]
    return out


def ms(values: list[float] | np.ndarray) -> str:
    a = np.asarray(values, dtype=float)
    return f"{a.mean():.3f} ± {a.std(ddof=1) if a.size > 1 else 0.0:.3f}"


def paired(a: dict[int, float], b: dict[int, float]) -> np.ndarray:
    return np.array([a[s] - b[s] for s in sorted(set(a) & set(b))])


def verdict(d: np.ndarray) -> str:
    se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else float("inf")
    if d.mean() < -2 * se:
        return "**behind**"
    return "ahead" if d.mean() > 2 * se else "within noise"


def section(title: str, data: dict[str, dict[str, dict[int, float]]]) -> list[str]:
    tables = sorted(t for t in data if ISNAS in data[t])  # tables ISNAS ran on
    peers = sorted({lab for t in tables for lab in data[t] if lab != ISNAS})
    peers = [p for p in peers if all(p in data[t] for t in tables)]
    lines = [
        f"## {title}",
        "",
        "| table | ISNAS family | "
        + " | ".join(f"{p} best 4" for p in peers)
        + " | best peer | ISNAS − best peer (seeds ≥ 0) | vs seed noise |",
        "|---|---|" + "---|" * len(peers) + "---|---|---|",
    ]
    per_seed: dict[int, list[float]] = {}
    means: dict[str, list[float]] = {lab: [] for lab in [ISNAS, *peers]}
    for t in tables:
        row = data[t]
        best = max(peers, key=lambda p: np.mean(list(row[p].values())))
        d = paired(row[ISNAS], row[best])
        for s in sorted(set(row[ISNAS]) & set(row[best])):
            per_seed.setdefault(s, []).append(row[ISNAS][s] - row[best][s])
        for lab in means:
            means[lab].append(float(np.mean(list(row[lab].values()))))
        cells = [ms(list(row[lab].values())) for lab in [ISNAS, *peers]]
        lines.append(
            f"| {t} | "
            + " | ".join(cells)
            + f" | {best} | {ms(d)} ({int((d >= 0).sum())}/{d.size}) | {verdict(d)} |"
        )
    seed_means = np.array([np.mean(v) for v in per_seed.values() if len(v) == len(tables)])
    lines.append(
        "| **mean over tables** | "
        + " | ".join(f"{np.mean(means[lab]):.3f}" for lab in [ISNAS, *peers])
        + f" | per table | {ms(seed_means)} ({int((seed_means >= 0).sum())}/{seed_means.size})"
        f" | {verdict(seed_means)} |"
    )
    lines += [
        "",
        "Mean over tables row: each column's mean of the per-table means; the difference is "
        "the mean over tables of ISNAS − that table's best peer, per seed, then mean ± sd over "
        "seeds (seeds where it is ≥ 0). The best peer per table is the highest of three noisy "
        "means, which favours the peers; against each peer alone, mean over tables per seed:",
        "",
        "| peer | ISNAS − peer, mean over tables (seeds ≥ 0) | vs seed noise |",
        "|---|---|---|",
    ]
    for peer in peers:
        by_seed: dict[int, list[float]] = {}
        for t in tables:
            for s in sorted(set(data[t][ISNAS]) & set(data[t][peer])):
                by_seed.setdefault(s, []).append(data[t][ISNAS][s] - data[t][peer][s])
        d = np.array([np.mean(v) for v in by_seed.values() if len(v) == len(tables)])
        lines.append(f"| {peer} | {ms(d)} ({int((d >= 0).sum())}/{d.size}) | {verdict(d)} |")
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numeric", nargs="+", required=True, help="JSON of --declare numeric")
    parser.add_argument("--categorical", nargs="*", default=[], help="JSON of categorical runs")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--out", default=None, help="markdown output")
    args = parser.parse_args(argv)
    numeric = load(args.numeric, args.queries)
    lines = [
        f"# Issue 15, HPOBench / HPOLib: ISNAS family against the peers' best 4 ({args.queries} queries)",
        "",
        "HV ratio at reference 'main' (nb201.py's scoring), mean ± sd over seeds; files: "
        + ", ".join(f"`{p}`" for p in args.numeric + args.categorical),
        "",
    ]
    lines += section("Parameters declared as a user would (--declare numeric)", numeric)
    if args.categorical:
        categorical = load(args.categorical, args.queries)
        lines += section("Every parameter categorical (the default declaration)", categorical)
        lines += [
            "## ISNAS numeric − ISNAS categorical, paired by seed",
            "",
            "| table | numeric | categorical | numeric − categorical (seeds ≥ 0) | vs seed noise |",
            "|---|---|---|---|---|",
        ]
        per_seed: dict[int, list[float]] = {}
        for t in sorted(t for t in numeric if ISNAS in numeric[t] and ISNAS in categorical[t]):
            a, b = numeric[t][ISNAS], categorical[t][ISNAS]
            d = paired(a, b)
            for s in sorted(set(a) & set(b)):
                per_seed.setdefault(s, []).append(a[s] - b[s])
            lines.append(
                f"| {t} | {ms(list(a.values()))} | {ms(list(b.values()))} | {ms(d)} "
                f"({int((d >= 0).sum())}/{d.size}) | {verdict(d)} |"
            )
        seed_means = np.array([np.mean(v) for v in per_seed.values() if len(v) == len(numeric)])
        lines += [
            f"| **mean over tables** | | | {ms(seed_means)} "
            f"({int((seed_means >= 0).sum())}/{seed_means.size}) | {verdict(seed_means)} |",
            "",
        ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
