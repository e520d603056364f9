"""Cost of one ask+tell while ``ISNASSampler(n_trials=N)`` re-evaluates finalists, against the
sampling trials just before.

The study of ``bench_ask_tell.py`` (6 categorical parameters, a cheap deterministic objective),
run for N trials with ``n_trials=N``: the last 5 % re-evaluate, at most 200
(``optuna_isnas.core.reevaluation``). The table gives CPU ms per
ask+tell over the last ``--window`` sampling trials before the re-evaluations start and over the
first and last ``--window`` re-evaluating trials. The re-evaluations keep the generation open, so
the sampler's window of trials grows by one per re-evaluation, up to the cap.

    .venv/bin/python benchmarks/bench_reevaluation_cost.py --trials 2000 20000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_ask_tell import suggest

from optuna_isnas import ISNASSampler
from optuna_isnas.core.reevaluation import DEFAULT_SHARE, reevaluation_start


def costs(n_trials: int, seed: int) -> list[float]:
    """CPU seconds of each trial's ask + suggest + tell."""
    sampler = ISNASSampler(seed=seed, n_trials=n_trials)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    out = []
    for _ in range(n_trials):
        c0 = time.process_time()
        trial = study.ask()
        study.tell(trial, suggest(trial, mixed=False))
        out.append(time.process_time() - c0)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    w = args.window
    print("| N | re-evaluations | sampling, last before (ms) | re-evaluating, first | last |")
    print("|---|---|---|---|---|")
    for n in args.trials:
        start = reevaluation_start(n, DEFAULT_SHARE)
        rows = [costs(n, seed) for seed in args.seeds]
        before = [1e3 * statistics.mean(c[start - w : start]) for c in rows]
        first = [1e3 * statistics.mean(c[start : start + w]) for c in rows]
        last = [1e3 * statistics.mean(c[n - w :]) for c in rows]
        cells = [
            f"{statistics.mean(v):.2f} ± {statistics.pstdev(v):.2f}" for v in (before, first, last)
        ]
        print(f"| {n} | {n - start} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
