"""Cost of one ask+tell, in memory, as the study grows: ISNAS against RandomSampler and NSGAIISampler.

Every trial suggests 6 categorical parameters of 5 choices each and reports 2 objectives of a
cheap deterministic function, so the time is the sampler's and the storage's, not the objective's.
Each trial's ask + suggest + tell is timed; the table gives ms per trial averaged over a window
(the last --window trials) before each checkpoint, so a cost that grows with the trial count shows
as a growing number along the row. Both process CPU time and wall-clock time are reported: the CPU
time is the one to trust on a shared, loaded machine. NSGAIISampler rescans all trials on every
ask (measured here: about 2 ms per trial at 10^3 trials, 10 ms at 5*10^3, 30 ms wall at 10^4 on a
loaded machine), so it stops at --nsga-max trials (default 10^4) to keep the run under 10 minutes.

    .venv/bin/python benchmarks/bench_ask_tell.py                     # 10^3, 10^4, 10^5; 3 repeats
    .venv/bin/python benchmarks/bench_ask_tell.py --quick             # seconds
    .venv/bin/python benchmarks/bench_ask_tell.py --out runs/ask_tell.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _provenance import source_fingerprint

PARAMS = {f"x{i}": ("a", "b", "c", "d", "e") for i in range(6)}


_W_LOSS = 1.0 + 0.1 * np.arange(6)
_W_SIZE = 1.0 + 0.37 * np.arange(6)


def objective_values(arch: dict[str, str]) -> tuple[float, float]:
    """A cheap deterministic (loss-like, size-like) pair with few ties between architectures."""
    idx = np.array([PARAMS[name].index(arch[name]) for name in PARAMS], dtype=float)
    return float((_W_LOSS * (idx - 1.3) ** 2).sum()), 1.0 + float((_W_SIZE * idx).sum())


def make_sampler(method: str, seed: int):
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "nsgaii":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if method == "isnas":
        from optuna_isnas import ISNASSampler

        return ISNASSampler(seed=seed)
    raise ValueError(method)


def suggest(trial: optuna.Trial, mixed: bool) -> tuple[float, float]:
    """The 6 categorical parameters; with ``mixed``, also an int and two floats (a log one)."""
    arch = {
        name: trial.suggest_categorical(name, list(choices)) for name, choices in PARAMS.items()
    }
    loss, size = objective_values(arch)
    if mixed:
        depth = trial.suggest_int("depth", 1, 8)
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        wd = trial.suggest_float("wd", 0.0, 0.3)
        loss += (np.log10(lr) + 2.5) ** 2 + (wd - 0.1) ** 2 + 0.1 * abs(depth - 5)
        size *= depth
    return loss, size


def run(
    method: str, n_trials: int, checkpoints: list[int], window: int, seed: int, mixed: bool = False
) -> dict[str, Any]:
    """ms per trial (wall and process CPU) over the last ``window`` trials before each checkpoint."""
    return run_lockstep({method: n_trials}, checkpoints, window, seed, mixed)[0]


def run_lockstep(
    n_trials: dict[str, int], checkpoints: list[int], window: int, seed: int, mixed: bool = False
) -> list[dict[str, Any]]:
    """``run`` for several methods at once, one study each, their trials taken in turn (a trial
    of each, then the next of each, ...; a method leaves the turn at its own ``n_trials``), so
    that every method meets the same moments of a shared, noisy machine: the ratio of their
    costs is then paired trial by trial."""
    studies = {
        method: optuna.create_study(
            directions=["minimize", "minimize"], sampler=make_sampler(method, seed)
        )
        for method in n_trials
    }
    wall = {method: np.empty(n) for method, n in n_trials.items()}
    cpu = {method: np.empty(n) for method, n in n_trials.items()}
    clock, cpu_clock = time.perf_counter, time.process_time
    for n in range(max(n_trials.values())):
        for method, study in studies.items():
            if n >= n_trials[method]:
                continue
            t0, c0 = clock(), cpu_clock()
            trial = study.ask()
            study.tell(trial, suggest(trial, mixed))
            wall[method][n], cpu[method][n] = clock() - t0, cpu_clock() - c0
    return [
        _summary(method, seed, wall[method], cpu[method], checkpoints, window)
        for method in n_trials
    ]


def _summary(
    method: str,
    seed: int,
    wall: np.ndarray,
    cpu: np.ndarray,
    checkpoints: list[int],
    window: int,
) -> dict[str, Any]:
    n_trials = len(wall)

    def windows(per_trial: np.ndarray) -> dict[int, float]:
        return {
            c: float(per_trial[c - window : c].mean() * 1e3) for c in checkpoints if c <= n_trials
        }

    def blocks(per_trial: np.ndarray) -> list[float]:
        m = n_trials // 1000 * 1000
        return [float(b) for b in per_trial[:m].reshape(-1, 1000).mean(axis=1) * 1e3] if m else []

    return {
        "method": method,
        "seed": seed,
        "n_trials": n_trials,
        "wall_ms_window": windows(wall),
        "cpu_ms_window": windows(cpu),
        "wall_ms_per_1000_block": blocks(wall),
        "cpu_ms_per_1000_block": blocks(cpu),
        "wall_s": float(wall.sum()),
        "cpu_s": float(cpu.sum()),
    }


def fmt(values: list[float]) -> str:
    if not values:
        return "—"
    arr = np.asarray(values)
    if len(arr) == 1:
        return f"{arr[0]:.3f}"
    return f"{arr.mean():.3f} ± {arr.std(ddof=1):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--window", type=int, default=1000, help="trials averaged before each checkpoint"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nsga-repeats", type=int, default=1, help="repeats for NSGA-II (slow)")
    parser.add_argument(
        "--nsga-max", type=int, default=10_000, help="stop NSGA-II after this many trials"
    )
    parser.add_argument("--methods", nargs="+", default=["isnas", "random", "nsgaii"])
    parser.add_argument("--out", default=None, help="markdown output path (JSON beside it)")
    parser.add_argument("--quick", action="store_true", help="checkpoints 1000 and 3000, 2 repeats")
    parser.add_argument(
        "--mixed", action="store_true", help="add an int, a log float and a float to every trial"
    )
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="run the methods' studies side by side, a trial of each in turn (paired timing)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.checkpoints, args.window, args.repeats, args.nsga_repeats, args.nsga_max = (
            [1000, 3000],
            500,
            2,
            1,
            3000,
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    checkpoints = sorted(args.checkpoints)
    methods = list(args.methods)

    fingerprint = source_fingerprint()
    space = " + an int, a log float and a float" if args.mixed else ""
    n_suggest = 9 if args.mixed else 6
    t_start = time.perf_counter()
    results: list[dict[str, Any]] = []
    for rep in range(max(args.repeats, args.nsga_repeats)):  # interleave methods to spread drift
        if args.lockstep:
            counts = {
                m: min(args.nsga_max, checkpoints[-1]) if m == "nsgaii" else checkpoints[-1]
                for m in methods
                if rep < (args.nsga_repeats if m == "nsgaii" else args.repeats)
            }
            for r in run_lockstep(counts, checkpoints, args.window, seed=rep, mixed=args.mixed):
                print(
                    f"{r['method']} repeat {rep} (lockstep): {r['n_trials']} trials, "
                    f"{r['cpu_s']:.1f} s CPU; CPU ms/trial {r['cpu_ms_window']}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(r)
            continue
        for method in methods:
            if method == "nsgaii":
                if rep >= args.nsga_repeats:
                    continue
                n = min(args.nsga_max, checkpoints[-1])
            else:
                if rep >= args.repeats:
                    continue
                n = checkpoints[-1]
            r = run(method, n, checkpoints, args.window, seed=rep, mixed=args.mixed)
            print(
                f"{method} repeat {rep}: {n} trials in {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU; "
                f"CPU ms/trial {r['cpu_ms_window']}",
                file=sys.stderr,
                flush=True,
            )
            results.append(r)
    total = time.perf_counter() - t_start

    names = {"isnas": "ISNASSampler", "random": "RandomSampler", "nsgaii": "NSGAIISampler"}
    cmd = " ".join(
        [
            ".venv/bin/python",
            "benchmarks/bench_ask_tell.py",
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    lines = [
        "# ask+tell cost per trial, in-memory storage",
        "",
        f"- command: `{cmd}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores (nproc); python {platform.python_version()}; "
        f"optuna {optuna.__version__}; {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; "
        f"total {total:.0f} s; load average at the end {os.getloadavg()[0]:.1f}",
        f"- code: {fingerprint}",
        f"- 6 categorical parameters x 5 choices{space}, 2 objectives; ms per trial (ask + {n_suggest} "
        f"suggest + tell) averaged "
        f"over the last {args.window} trials before each checkpoint; mean ± sd over repeats "
        f"({args.repeats} repeats; NSGA-II {args.nsga_repeats}, default population 50, stopped at "
        f"{args.nsga_max} trials: '—' = not run)",
        "",
    ]
    for kind, title in (
        ("cpu_ms_window", "process CPU time"),
        ("wall_ms_window", "wall-clock time"),
    ):
        lines += [
            f"## ms per trial, {title}",
            "",
            "| sampler | " + " | ".join(f"{c:,} trials" for c in checkpoints) + " |",
            "|---|" + "---|" * len(checkpoints),
        ]
        means: dict[str, dict[int, float]] = {}
        for method in methods:
            rs = [r for r in results if r["method"] == method]
            cells = []
            means[method] = {}
            for c in checkpoints:
                vals = [r[kind][c] for r in rs if c in r[kind]]
                cells.append(fmt(vals))
                if vals:
                    means[method][c] = float(np.mean(vals))
            lines.append(f"| {names[method]} | " + " | ".join(cells) + " |")
        if "isnas" in means and "random" in means:
            ratio = [
                f"{means['isnas'][c] / means['random'][c]:.2f}x"
                if c in means["isnas"] and c in means["random"]
                else "—"
                for c in checkpoints
            ]
            lines.append("| ratio ISNAS / Random | " + " | ".join(ratio) + " |")
            if args.lockstep:  # the ratio within each repeat, then mean ± sd over repeats
                pairs = list(
                    zip(
                        [r for r in results if r["method"] == "isnas"],
                        [r for r in results if r["method"] == "random"],
                    )
                )
                paired = [
                    fmt(
                        [a[kind][c] / b[kind][c] for a, b in pairs if c in a[kind] and c in b[kind]]
                    )
                    for c in checkpoints
                ]
                lines.append("| paired ratio, per repeat | " + " | ".join(paired) + " |")
        lines.append("")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"command": cmd, "code": fingerprint, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
