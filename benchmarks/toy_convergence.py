"""How often each distribution's most likely architecture is right on a separable toy problem.

D = 6 variables with 4 choices; choice j has loss LOSS[j] and cost COST[j]; with unit
scales the optimum of every eps is known per variable. Counts the wrong variables over
seeds x distributions, every 50 generations, for the mixture update (the method) and
for "own samples only" (K independent ASNG runs, ``_ablations.own_weighting``), at lambda = 1
and 2.

    .venv/bin/python benchmarks/toy_convergence.py --seeds 10 --generations 400
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
from typing import Literal

import numpy as np
from _ablations import own_weighting

from optuna_isnas.core import ISNAS, Solution

LOSS = np.array([1.0, 0.5, 0.2, 0.05])
COST = np.array([0.0, 1.0, 3.0, 9.0])
EPSILONS = [0.0, 0.06, 0.3, 1.5]
D = 6


def wrong_variables(
    weighting: Literal["mixture", "own"], lam: int, generations: int, seed: int, every: int
) -> list[int]:
    best = np.array([int(np.argmin(LOSS + e * COST)) for e in EPSILONS])
    opt = ISNAS(
        [4] * D,
        EPSILONS,
        samples_per_distribution=lam,
        loss_scale=1.0,
        complexity_scale=1.0,
        seed=seed,
    )
    counts = []
    for g in range(1, generations + 1):
        sols = []
        for _ in range(opt.generation_size):
            k, x = opt.ask()
            sols.append(Solution(k, x, float(LOSS[x].sum()), float(COST[x].sum())))
        with own_weighting() if weighting == "own" else contextlib.nullcontext():
            opt.tell(sols)
        if g % every == 0:
            counts.append(int((opt.modes() != best[:, None]).sum()))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--generations", type=int, default=400)
    parser.add_argument("--every", type=int, default=50)
    args = parser.parse_args()
    total = args.seeds * len(EPSILONS) * D
    print(
        f"# toy convergence: wrong variables out of {total} ({args.seeds} seeds x "
        f"{len(EPSILONS)} distributions x {D} variables), {platform.node()}, numpy {np.__version__}"
    )
    header = " | ".join(f"gen {g}" for g in range(args.every, args.generations + 1, args.every))
    print(f"| update | lambda | {header} |")
    print("|---|---|" + "---|" * (args.generations // args.every))
    for lam in (1, 2):
        for weighting in ("mixture", "own"):
            start = time.perf_counter()
            rows = np.array(
                [
                    wrong_variables(weighting, lam, args.generations, s, args.every)
                    for s in range(args.seeds)
                ]
            )
            cells = " | ".join(str(int(v)) for v in rows.sum(axis=0))
            print(f"| {weighting} | {lam} | {cells} |  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
