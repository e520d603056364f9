"""What two data-parallel processes (per-process BatchNorm statistics) return against one process,
at the same global minibatch: the BatchNorm decision of the data-parallel search, measured.

For each seed, the same digits search (``optuna-isnas search``) runs

* in one process, global minibatch B (BatchNorm over the B examples);
* under ``torchrun --nproc-per-node 2`` (gloo), global minibatch B: each process normalises its
  B/2 examples with their own statistics (what the data-parallel search does);
* in one process with minibatch B/2, for reference (BatchNorm over B/2, half the examples).

Reported per configuration, mean ± sd over seeds: the whole-validation accuracy of the returned
family (mean over its members), the hypervolume of (validation error, parameters / largest) with
reference point (1, 1), the family's size, and the validation loss told in the last epoch (mean).

    python benchmarks/ddp_vs_single.py --seeds 0 1 2 3 4 --epochs 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages.journal import JournalFileBackend

from optuna_isnas.spaces import get_space

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _hv import hypervolume_2d

CONFIGS = {
    "1 process, batch B": (0, 1),
    "2 processes (torchrun), batch B": (2, 1),
    "1 process, batch B/2": (0, 2),
}


def run(name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    procs, divide = CONFIGS[name]
    out = (
        Path(args.out)
        / f"{name.split(',')[0].replace(' ', '')}-b{args.batch_size // divide}-s{seed}"
    )
    flags = [
        "search", "--dataset", "digits", "--space", "chain", "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size // divide), "--seed", str(seed), "--device", "cpu",
        "--threads", "1", "--no-progress", "--out", str(out), "--overwrite",
    ]  # fmt: skip
    if procs:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*launcher, "--nproc-per-node", str(procs), "-m", "optuna_isnas.cli", *flags]
    else:
        command = [sys.executable, "-m", "optuna_isnas.cli", *flags]
    if not (out / "architectures.json").is_file() or args.rerun:
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
        if done.returncode != 0:
            raise SystemExit(f"{name} seed {seed} failed:\n{done.stderr[-3000:]}")
    document = json.loads((out / "architectures.json").read_text())
    family = document["architectures"]
    largest = get_space(**document["space"]).largest_params()
    points = [[1 - e["accuracy"], e["params"] / largest] for e in family]
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(out / "search.journal")))
    study = optuna.load_study(study_name=document["study_name"], storage=storage)
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    last = trials[-max(1, len(trials) // args.epochs) :]
    return {
        "accuracy": statistics.mean(e["accuracy"] for e in family),
        "hypervolume": hypervolume_2d(np.array(points), (1.0, 1.0)),
        "members": len(family),
        "last_epoch_val_loss": statistics.mean(t.user_attrs["loss"] for t in last),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64, help="B, the global minibatch")
    parser.add_argument("--out", default="runs/ddp_vs_single")
    parser.add_argument("--rerun", action="store_true", help="run again where outputs exist")
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    for seed in args.seeds:
        for name in CONFIGS:
            results[name].append(run(name, seed, args))
            print(f"  seed {seed} {name}: {results[name][-1]}", file=sys.stderr, flush=True)
    print(
        f"\ndigits / chain, {args.epochs} epochs, B = {args.batch_size}, seeds {args.seeds}; "
        "mean ± sd over seeds\n"
    )
    keys = ("accuracy", "hypervolume", "members", "last_epoch_val_loss")
    print("| configuration | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name, rows in results.items():
        cells = []
        for key in keys:
            values = [r[key] for r in rows]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} ± {sd:.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs\ncommand: {command}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(
        json.dumps({"command": command, "results": results})
    )


if __name__ == "__main__":
    main()
