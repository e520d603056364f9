"""Single-objective mixed studies: ISNASSampler's plain ASNG (one distribution) over categorical,
int and float parameters, against TPE, random search and CatCMA (the ``cmaes`` package).

Each problem has a known optimum of 0. ``D`` categorical blocks of ``C`` choices each have a
best choice and a per-choice penalty; an int ``depth`` in 1..12 has a best value; the best
``log10 lr`` moves with the depth (``-4 + slope * depth``), so the two must be learned together;
a float ``wd`` in [0, 0.3] has a best value. Everything is drawn from the problem's seed:

    f = mean_i pen_i[x_i] + 0.05 |depth - d*| + (log10 lr - (-4 + slope depth))^2 + 10 (wd - w*)^2

The score is the best value found after N trials (lower is better), mean ± sd over seeds.
CatCMA runs through its own ask/tell (depth and log10 lr and wd as its continuous part, depth
rounded; the blocks as its categorical part, one-hot), with its default population.

    python benchmarks/mixed_single.py --trials 300 1000 --seeds 5 --out benchmarks/results/mixed_single.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

PROBLEMS = {  # name: (D, C, slope)
    "4x3": (4, 3, 0.2),
    "8x4": (8, 4, 0.15),
    "12x5": (12, 5, 0.1),
}


class Problem:
    def __init__(self, name: str, blocks_only: bool = False) -> None:
        self.blocks_only = blocks_only
        d, c, slope = PROBLEMS[name]
        rng = np.random.default_rng(sum(map(ord, name)))  # fixed per problem
        self.d, self.c, self.slope = d, c, slope
        self.pen = rng.uniform(0.2, 1.0, size=(d, c))
        self.pen[np.arange(d), rng.integers(0, c, size=d)] = 0.0
        self.depth_best = int(rng.integers(2, 11))
        self.wd_best = float(rng.uniform(0.02, 0.28))

    def value(self, ops: list[int], depth: int, lr: float, wd: float) -> float:
        cat = float(np.mean([self.pen[i, o] for i, o in enumerate(ops)]))
        best_lr = -4.0 + self.slope * depth
        return (
            cat
            + 0.05 * abs(depth - self.depth_best)
            + (math.log10(lr) - best_lr) ** 2
            + 10.0 * (wd - self.wd_best) ** 2
        )

    def objective(self, trial: optuna.Trial) -> float:
        ops = [trial.suggest_categorical(f"b{i}", list(range(self.c))) for i in range(self.d)]
        if self.blocks_only:  # ASNG-NAS's setting: the categorical part alone
            return float(np.mean([self.pen[i, o] for i, o in enumerate(ops)]))
        depth = trial.suggest_int("depth", 1, 12)
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        wd = trial.suggest_float("wd", 0.0, 0.3)
        return self.value(ops, depth, lr, wd)


def run_optuna(problem: Problem, method: str, n: int, seed: int) -> list[float]:
    from optuna_isnas import ISNASSampler

    samplers = {
        "isnas": lambda: ISNASSampler(seed=seed),
        # fixed lambda instead of the default rule (4 + floor(3 ln n) for n parameters)
        "isnas_l2": lambda: ISNASSampler(seed=seed, samples_per_distribution=2),
        "isnas_l4": lambda: ISNASSampler(seed=seed, samples_per_distribution=4),
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    study = optuna.create_study(sampler=samplers[method]())
    study.optimize(problem.objective, n_trials=n)
    return [t.value for t in study.trials]  # type: ignore[misc]


def run_catcma(problem: Problem, n: int, seed: int) -> list[float]:
    from cmaes import CatCMA

    bounds = np.array([[0.5, 12.5], [-5.0, -1.0], [0.0, 0.3]])
    opt = CatCMA(
        mean=bounds.mean(axis=1),
        sigma=1.0,
        cat_num=np.full(problem.d, problem.c),
        bounds=bounds,
        seed=seed,
    )
    values: list[float] = []
    while len(values) < n:
        solutions = []
        for _ in range(opt.population_size):
            x, c = opt.ask()
            depth = int(min(max(round(x[0]), 1), 12))
            ops = [int(np.argmax(row[: problem.c])) for row in c]
            value = problem.value(ops, depth, 10.0 ** x[1], float(x[2]))
            solutions.append(((x, c), value))
            values.append(value)
        opt.tell(solutions)
    return values[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["isnas", "tpe", "random", "catcma"])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--blocks-only", action="store_true", help="the categorical blocks alone (no CatCMA)"
    )
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_max = max(args.trials)
    rows: list[dict[str, Any]] = []
    started = time.time()
    for name in args.problems:
        problem = Problem(name, args.blocks_only)
        for method in args.methods:
            for seed in range(args.seeds):
                t0 = time.process_time()
                if method == "catcma":
                    values = run_catcma(problem, n_max, seed)
                else:
                    values = run_optuna(problem, method, n_max, seed)
                best = {n: float(np.min(values[:n])) for n in args.trials}
                rows.append({"problem": name, "method": method, "seed": seed, "best": best,
                             "cpu_s": time.process_time() - t0})  # fmt: skip
                print(json.dumps(rows[-1]), file=sys.stderr)
    lines = ["| problem | trials | " + " | ".join(args.methods) + " |"]
    lines.append("|---|---|" + "---|" * len(args.methods))
    for name in args.problems:
        for n in args.trials:
            cells = []
            for method in args.methods:
                vals = [
                    r["best"][n] for r in rows if r["problem"] == name and r["method"] == method
                ]
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                cells.append(f"{statistics.mean(vals):.4f} ± {sd:.4f}")
            lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(
            json.dumps({"rows": rows, "table": table, "wall_s": time.time() - started}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
