"""Complexity budgets on the offline tables: do returned models fit, how good are they?

For budgets (NAS-Bench-201 default 0.2, 0.4, 0.8 M parameters; HPOBench MLP default 1, 4, 16 K
parameters), runs ISNASSampler(complexity_budgets=...) for N queries per seed (the optimiser
sees one training seed's validation error, as the package's own benchmark does) and reports,
per budget, how often the returned model fits and its gap (percentage points of mean
validation error) to the best model in the table under that budget. Also the *search's* gap:
the best model it evaluated under each budget (what a perfect selection could return), so the
two sources of the gap show apart. Rows: what ``architectures()`` returns (the best evaluated
within each budget) and the mode (``source="mode"``, the paper's argmax); ``--exact`` adds the
same with ``complexity_fn`` (the exact count). ``--variant NAME`` runs ablations from
``nb201_variants.py``; every variant after the first is compared with the first, paired by seed.

    .venv/bin/python benchmarks/nb201_budgets.py --seeds 20 --queries 400 --tables all
    .venv/bin/python benchmarks/nb201_budgets.py --seeds 20 --tables hpobench --jobs 2
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _provenance import source_fingerprint
from hpobench_table import DATASETS as HPO_DATASETS
from nb201 import (
    TABLE_NAMES,
    apply_patches,
    architectures_with_pending,
    table,
)
from nb201_table import DATASETS
from nb201_variants import VARIANTS

from optuna_isnas import ISNASSampler

DEFAULT_BUDGETS = {"nb201": [0.2, 0.4, 0.8], "hpo": [1.0, 4.0, 16.0]}


def budgets_of(name: str, given: list[float] | None) -> list[float]:
    return given or DEFAULT_BUDGETS["hpo" if name.startswith("hpo-") else "nb201"]


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One study; per budget: true (error, size) of what is returned and the best evaluated."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna_isnas").setLevel(logging.ERROR)  # modes outside their budgets
    restore = apply_patches(job["patches"])
    try:
        tab = table(job["table"])
        rng = np.random.default_rng(job["seed"])
        space = tab.space
        fn = (lambda arch: tab.objectives(arch)[1]) if job["exact"] else None
        sampler = ISNASSampler(
            complexity_budgets=job["budgets"], complexity_fn=fn, seed=job["seed"], **job["kwargs"]
        )
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)

        def observe(arch: dict[str, Any]) -> tuple[float, float]:
            return tab.observe(arch, rng) if job["observe"] == "seed" else tab.objectives(arch)

        study.optimize(
            lambda t: observe({p: t.suggest_categorical(p, list(c)) for p, c in space.items()}),
            n_trials=job["queries"],
        )
        out: dict[str, Any] = {
            source: [tab.objectives(a) for a in sampler.architectures(study, source=source)]
            for source in ("evaluated", "mode")
        }
        if VARIANTS[job["variant"]].get("harness", {}).get("pending"):
            out["evaluated"] = [
                tab.objectives(a) for a in architectures_with_pending(sampler, study)
            ]
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        seen = tab.points([t.params for t in done])
        out["best_seen"] = [
            float(seen[seen[:, 1] <= b + 1e-12, 0].min())
            if (seen[:, 1] <= b + 1e-12).any()
            else np.inf
            for b in job["budgets"]
        ]
        return {**job, **out}
    finally:
        apply_patches(restore)


def summarise(
    rows: list[dict[str, Any]], best: list[float], budgets: list[float]
) -> dict[str, Any]:
    gaps: dict[str, list[float]] = {
        "evaluated": [],
        "mode": [],
        "seen": [],
    }  # per seed: mean over budgets
    fits = {"evaluated": 0, "mode": 0}
    for r in rows:
        for source in ("evaluated", "mode"):
            g = []
            for j, b in enumerate(budgets):
                err, size = r[source][j]
                fits[source] += int(size <= b + 1e-12)
                g.append(err - best[j])
            gaps[source].append(float(np.mean(g)))
        gaps["seen"].append(float(np.mean([s - b for s, b in zip(r["best_seen"], best)])))
    return {"gaps": gaps, "fits": fits, "seeds": [r["seed"] for r in rows]}


def mean_sd(values: list[float]) -> str:
    a = np.asarray(values, dtype=float)
    return f"{a.mean():.2f} ± {a.std(ddof=1) if a.size > 1 else 0.0:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--budgets", type=float, nargs="+", default=None)
    parser.add_argument(
        "--tables", nargs="+", default=["cifar10"], choices=[*TABLE_NAMES, "all", "hpobench"]
    )
    parser.add_argument("--variant", action="append", default=[], metavar="NAME")
    parser.add_argument("--exact", action="store_true", help="also with complexity_fn")
    parser.add_argument(
        "--observe",
        choices=("seed", "mean"),
        default="seed",
        help="what the optimiser sees: one training seed's error (default) or the noise-free mean",
    )
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    expand = {"all": list(DATASETS), "hpobench": [f"hpo-{d}" for d in HPO_DATASETS]}
    tables = list(dict.fromkeys(t for n in args.tables for t in expand.get(n, [n])))
    variants = args.variant or ["default"]
    jobs = [
        {
            "table": name,
            "variant": v,
            "kwargs": VARIANTS[v].get("kwargs", {}),
            "patches": VARIANTS[v].get("patches", {}),
            "exact": exact,
            "seed": seed,
            "queries": args.queries,
            "budgets": budgets_of(name, args.budgets),
            "observe": args.observe,
        }
        for name in tables
        for exact in ((False, True) if args.exact else (False,))
        for v in variants
        for seed in range(args.seeds)
    ]
    fingerprint = source_fingerprint()
    start = time.perf_counter()
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            results = list(pool.imap(run, jobs))
    else:
        results = [run(job) for job in jobs]
    print(
        f"# Budgets, {args.seeds} seeds x {args.queries} queries, {platform.machine()}, "
        f"{os.cpu_count()} cores, optuna {optuna.__version__}, {fingerprint}, "
        f"total {time.perf_counter() - start:.0f} s\n"
    )
    print(
        "command: `.venv/bin/python benchmarks/nb201_budgets.py " + " ".join(sys.argv[1:]) + "`\n"
    )
    if args.observe == "mean":
        print("The optimiser observes the noise-free mean error (an ablation of the noise).\n")
    print(
        "Gap = error (pp) above the best model in the table under each budget, averaged over the "
        "budgets per seed; mean ± sd over seeds. 'search' = the best model evaluated under each "
        "budget (a perfect selection). Paired: this variant minus the first, per seed (seeds "
        "where the gap is not larger / seeds).\n"
    )
    print(
        "| table | variant | fits (returned) | gap returned | gap search | fits (mode) | gap mode "
        "| paired: returned gap − first |"
    )
    print("|---|---|---|---|---|---|---|---|")
    pooled: dict[str, list[float]] = {}
    for name in tables:
        tab = table(name)
        budgets = budgets_of(name, args.budgets)
        best = [float(tab.error[tab.params <= b + 1e-12].min()) for b in budgets]
        for exact in (False, True) if args.exact else (False,):
            first = None
            for v in variants:
                rows = [
                    r
                    for r in results
                    if r["table"] == name and r["variant"] == v and r["exact"] == exact
                ]
                s = summarise(rows, best, budgets)
                total = len(rows) * len(budgets)
                label = VARIANTS[v]["label"] + (" + complexity_fn" if exact else "")
                paired = ""
                if first is None:
                    first = s
                else:
                    d = [a - b for a, b in zip(s["gaps"]["evaluated"], first["gaps"]["evaluated"])]
                    pooled.setdefault(label, []).extend(d)
                    paired = f"{mean_sd(d)} ({sum(x <= 0 for x in d)}/{len(d)})"
                pooled.setdefault("gap " + label, []).extend(s["gaps"]["evaluated"])
                print(
                    f"| {tab.title} {budgets} | {label} | {s['fits']['evaluated']}/{total} | "
                    f"{mean_sd(s['gaps']['evaluated'])} | {mean_sd(s['gaps']['seen'])} | "
                    f"{s['fits']['mode']}/{total} | {mean_sd(s['gaps']['mode'])} | {paired} |"
                )
    if len(tables) > 1:
        print("\nAll tables pooled (per seed and table):\n")
        for key, d in pooled.items():
            extra = f" ({sum(x <= 0 for x in d)}/{len(d)})" if not key.startswith("gap ") else ""
            print(f"- {key}: {mean_sd(d)}{extra}")


if __name__ == "__main__":
    main()
