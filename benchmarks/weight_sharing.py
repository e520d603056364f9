"""Shared weights that serve K sizes (issue 8, item 4): the original weight step against the default.

Every search is ``run_search`` on digits, chain space of width 8, K = 4 tradeoffs (0, 1, 3, 9),
lambda = 2, validation loss as the objective, on one CPU thread. Two weight-training schemes:

- ``old``: every asked architecture trained, the mean gradient, no sandwich
  (``--train-archs all --sandwich none --weight-gradient mean``);
- ``new``: the default (a quarter of the generation, at least 2, plus the space's largest and
  smallest child; per-path gradient).

Both at the same ``--epochs``: an epoch is a compute budget (docs/search.md), so the searches
spend the same supernet passes; each search's passes are counted by
``optuna_isnas.compare.compute.PassCounter`` and written down.

Score, the same for every method: the candidates the search rescored on the whole validation split
(``SearchResult.selection.candidates``: IS-NAS's per-distribution short lists and modes, the other
samplers' Pareto sets), the best 4 of them by hypervolume, against error 1 and (linear axis)
1.1 x the largest child's parameters; (log axis) log10(params) mapped from the smallest child
(0) to 1.1 x the largest (1).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/weight_sharing.py run --out runs/ws --seeds 0-4
    .venv/bin/python benchmarks/weight_sharing.py table --out runs/ws

Each (variant, seed) writes its own JSON and is skipped when it exists (resumable).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

EPSILONS = (0.0, 1.0, 3.0, 9.0)
SCHEMES: dict[str, dict[str, Any]] = {
    "old": {"train_archs": "all", "sandwich": "none", "weight_gradient": "mean"},
    "new": {},
}
VARIANTS = ("isnas-old", "isnas-new", "nsgaii-old", "nsgaii-new")
K = 4


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        seeds += list(range(int(a), int(b or a) + 1))
    return seeds


def run_one(variant: str, seed: int, epochs: int) -> dict[str, Any]:
    import optuna
    import torch

    from optuna_isnas.compare.compute import PassCounter
    from optuna_isnas.search import Objective, SearchConfig, run_search
    from optuna_isnas.search.weights import passes_per_step

    method, _, scheme = variant.partition("-")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        config = SearchConfig(
            dataset="digits",
            space="chain",
            space_options={"width": 8},
            epsilons=EPSILONS,
            samples_per_distribution=2,
            epochs=epochs,
            objective=Objective.LOSS,
            sampler=method,
            device="cpu",
            threads=1,
            seed=seed,
            progress=False,
            out=out,
            **SCHEMES[scheme],
        )
        counter = PassCounter()
        start = time.perf_counter()
        result = run_search(
            config, storage=optuna.storages.InMemoryStorage(), overwrite=True, loss_hook=counter
        )
        wall = time.perf_counter() - start
        session = result.session
        per_step = passes_per_step(config.train_archs, config.sandwich, session.generation_size)
        if counter.count.total != session.total_steps * per_step:
            raise SystemExit(f"{variant} seed {seed}: counted passes disagree with the steps")
        space = result.space
        _, table = space.param_table()
        largest = space.largest_params()
        smallest = space.n_params(
            space.validate({n: min(c, key=lambda x: c[x]) for n, c in table.items()})
        )
        return {
            "variant": variant,
            "seed": seed,
            "epochs": epochs,
            "steps": session.total_steps,
            "passes": counter.count.total,
            "wall_s": wall,
            "largest": largest,
            "smallest": smallest,
            "candidates": [
                {"arch": c.architecture, "params": c.params, "error": 1.0 - c.accuracy}
                for c in result.selection.candidates
            ],
        }


def cmd_run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in parse_seeds(args.seeds):
        for variant in args.variants.split(","):
            path = out / f"{variant}-seed{seed}.json"
            if path.exists():
                continue
            record = run_one(variant, seed, args.epochs)
            path.write_text(json.dumps(record))
            print(
                f"{variant} seed {seed}: {record['steps']} steps, {record['passes']} passes, "
                f"{record['wall_s']:.0f} s",
                flush=True,
            )
    return 0


def hv_best(record: dict[str, Any], axis: str) -> float:
    from optuna_isnas.core.hypervolume import best_subset, hypervolume

    ref = 1.1 * record["largest"]
    lo = math.log10(record["smallest"])

    def x(params: float) -> float:
        if axis == "lin":
            return params / ref
        return (math.log10(params) - lo) / (math.log10(ref) - lo)

    points = [(c["error"], x(c["params"])) for c in record["candidates"]]
    if not points:
        return 0.0
    chosen = best_subset(points, K, (1.0, 1.0))
    return hypervolume([points[i] for i in chosen], (1.0, 1.0))


def ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def cmd_table(args: argparse.Namespace) -> int:
    out = Path(args.out)
    scores: dict[str, dict[int, dict[str, float]]] = {}
    for path in sorted(out.glob("*.json")):
        record = json.loads(path.read_text())
        scores.setdefault(record["variant"], {})[record["seed"]] = {
            "lin": hv_best(record, "lin"),
            "log": hv_best(record, "log"),
            "passes": record["passes"],
            "wall": record["wall_s"],
        }
    print("| variant | seeds | passes | HV best 4, linear | HV best 4, log10 | wall s |")
    print("|---|---|---|---|---|---|")
    for variant in VARIANTS:
        runs = scores.get(variant, {})
        if not runs:
            continue
        rows = list(runs.values())
        print(
            f"| {variant} | {len(rows)} | {statistics.mean(r['passes'] for r in rows):.0f} | "
            f"{ms([r['lin'] for r in rows])} | {ms([r['log'] for r in rows])} | "
            f"{statistics.mean(r['wall'] for r in rows):.0f} |"
        )
    for method in ("isnas", "nsgaii"):
        new, old = scores.get(f"{method}-new", {}), scores.get(f"{method}-old", {})
        seeds = sorted(set(new) & set(old))
        if len(seeds) < 2:
            continue
        for axis in ("lin", "log"):
            diffs = [new[s][axis] - old[s][axis] for s in seeds]
            wins = sum(d > 0 for d in diffs)
            print(
                f"{method} new - old ({axis}): {ms(diffs)} over seeds {seeds}, "
                f"new ahead in {wins}/{len(seeds)}"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--out", default="runs/ws")
    run.add_argument("--seeds", default="0-4")
    run.add_argument("--variants", default=",".join(VARIANTS))
    run.add_argument("--epochs", type=int, default=8)
    table = sub.add_parser("table")
    table.add_argument("--out", default="runs/ws")
    args = parser.parse_args()
    return cmd_run(args) if args.command == "run" else cmd_table(args)


if __name__ == "__main__":
    sys.exit(main())
