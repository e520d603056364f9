"""Full comparison runs for docs/benchmarks.md (section "Comparison on the supernet") (digits and Fashion-MNIST 14x14, 5 seeds).

Usage (from the repository root; each run prints its table and writes OUT/summary.md):

    .venv/bin/python benchmarks/compare_full.py digits  --out runs/compare-digits  --workers 2
    .venv/bin/python benchmarks/compare_full.py fashion --out runs/compare-fashion --workers 2

The settings are reduced so that both datasets fit in about an hour on 2 shared CPU cores
(one torch thread per search, two searches at a time). They are printed with the results and
written to OUT/config.json. ``--resume`` reuses the searches an interrupted run finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from optuna_isnas.compare import CompareConfig, compare

SETTINGS = {
    # digits 8x8: 1079 training images, 16 steps per epoch; 8 epochs = 128 steps per compute unit.
    "digits": dict(dataset="digits", space_options={"width": 8}, epochs=8, retrain_epochs=10),
    # Fashion-MNIST 2x2-pooled to 14x14: 6000 training images (93 steps per epoch), 2 epochs = 186 steps;
    # 1000 validation images for the search's minibatches and the whole-validation scores.
    "fashion": dict(
        dataset="fashion-mnist",
        downsample=14,
        space_options={"width": 8},
        epochs=2,
        train_subset=6000,
        val_subset=1000,
        retrain_epochs=3,
    ),
}
COMMON = dict(
    seeds=(0, 1, 2, 3, 4),
    isnas_multipliers=(1.0, 0.5),
    separate_multipliers=(1.0,),
    objective="loss",
    threads=1,
    device="cpu",
    trace_points=4,
    # score (b): the default retrain_seeds, the first 3 seeds
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", choices=sorted(SETTINGS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--separate-budgets",
        default="1",
        help="e.g. 1,2 (a --resume run adds the missing searches)",
    )
    args = parser.parse_args()
    settings = {
        **COMMON,
        **SETTINGS[args.dataset],
        "seeds": tuple(range(args.seeds)),
        "separate_multipliers": tuple(float(v) for v in args.separate_budgets.split(",")),
    }
    config = CompareConfig.build(**settings, workers=args.workers, out=args.out, resume=args.resume)
    start = time.perf_counter()
    result = compare(config)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    print(result.table)
    print("\n".join(f"note: {n}" for n in result.notes))
    print(
        f"\nmachine: {machine}; wall time of the whole comparison {time.perf_counter() - start:.0f} s"
    )
    print(json.dumps(config.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
