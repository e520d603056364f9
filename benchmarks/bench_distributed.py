"""Steps per second of the one-shot search step: one process against two (``torchrun``, gloo), at
the same global minibatch, and the cost of DDP's handling of the parameters a step leaves unused.

Configurations (each a fresh process or ``torchrun`` job, repeated in rotating order):

* ``1 proc``: the plain single-process step (``OneShotTrainer`` without DDP), 1 torch thread;
* ``1 proc 2 threads``: the same with 2 torch threads (what one process can get from 2 cores);
* ``DDP x1 find`` / ``DDP x1 zero``: one process through DDP (``torchrun --nproc-per-node 1``):
  every cost of the data-parallel step (DDP's wrapper, the flush all-reduce, the loss and score
  all-reduces, the broadcast of the architectures) without a second process to wait for;
  ``find``: ``find_unused_parameters=True``, ``zero``: every parameter gets a zero gradient;
* ``DDP x2 find`` / ``DDP x2 zero``: two processes, 1 thread each, half the minibatch each.

Each job times ``--blocks`` blocks of ``--steps`` steps after ``--warmup`` steps and reports steps
per second per block, and the time spent in the gradient all-reduce (the flush) per step. The
study lives in memory (no journal), so the numbers are the step's.

``--overhead`` measures the cost of the data-parallel machinery precisely instead: ONE process
(``torchrun --nproc-per-node 1``) holds three trainers on identical sessions, plain, DDP ``find``
and DDP ``zero``, and times them in interleaved blocks (plain, find, zero, zero, find, plain, ...),
so that the machine's load hits all three alike; reported: ms per step and the paired ratios.

    python benchmarks/bench_distributed.py                  # digits, chain, global batch 64
    python benchmarks/bench_distributed.py --batch-size 256 --repeats 3
    python benchmarks/bench_distributed.py --overhead --blocks 12
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _ablations import unused_parameters

CONFIGS: dict[str, dict[str, Any]] = {
    "1 proc": {"procs": 0, "threads": 1},
    "1 proc 2 threads": {"procs": 0, "threads": 2},
    "DDP x1 find": {"procs": 1, "threads": 1, "unused": "find"},
    "DDP x1 zero": {"procs": 1, "threads": 1, "unused": "zero"},
    "DDP x2 find": {"procs": 2, "threads": 1, "unused": "find"},
    "DDP x2 zero": {"procs": 2, "threads": 1, "unused": "zero"},
}


def worker(args: argparse.Namespace) -> None:
    """One job: time the search step (under torchrun when args.procs > 0)."""
    import optuna
    import torch

    from optuna_isnas.search import SearchConfig
    from optuna_isnas.search.session import open_session
    from optuna_isnas.search.step import OneShotTrainer
    from optuna_isnas.training.distributed import ProcessGroup

    torch.set_num_threads(args.threads)
    group = ProcessGroup(torch.device("cpu")) if args.procs else None
    with tempfile.TemporaryDirectory() as out:
        config = SearchConfig(
            dataset=args.dataset,
            space=args.space,
            batch_size=args.batch_size,
            epochs=1000,
            device="cpu",
            threads=args.threads,
            progress=False,
            out=out,
            seed=args.seed,
            data_loading="memory",
        )
        storage = optuna.storages.InMemoryStorage()
        with open_session(config, storage=storage, group=group) as session:
            with unused_parameters(args.unused):
                trainer = OneShotTrainer(session)
            flush_s = [0.0]
            if trainer.sync is not None:
                flush = trainer.sync.all_reduce_gradients

                def timed_flush() -> None:
                    start = time.perf_counter()
                    flush()
                    flush_s[0] += time.perf_counter() - start

                trainer.sync.all_reduce_gradients = timed_flush  # type: ignore[method-assign]
            for _ in range(args.warmup):
                trainer.step()
            blocks = []
            for _ in range(args.blocks):
                if group is not None:
                    group.barrier("starting a block")
                flush_s[0] = 0.0
                start = time.perf_counter()
                for _ in range(args.steps):
                    trainer.step()
                elapsed = time.perf_counter() - start
                blocks.append(
                    {"steps_per_s": args.steps / elapsed, "flush_ms": 1e3 * flush_s[0] / args.steps}
                )
            record = {
                "blocks": blocks,
                "generation": session.generation_size,
                "rows_per_process": len(session.train_batches.next()[1]),
            }
    if group is None or group.is_main:
        Path(args.record).write_text(json.dumps(record))
    if group is not None:
        group.close()


def overhead_worker(args: argparse.Namespace) -> None:
    """Plain, find and zero trainers in one process, timed in interleaved blocks."""
    import optuna
    import torch

    from optuna_isnas.search import SearchConfig
    from optuna_isnas.search.session import open_session
    from optuna_isnas.search.step import OneShotTrainer
    from optuna_isnas.training.distributed import ProcessGroup

    torch.set_num_threads(1)
    group = ProcessGroup(torch.device("cpu"))
    trainers = {}
    with tempfile.TemporaryDirectory() as out, contextlib.ExitStack() as stack:
        for name in ("plain", "find", "zero"):
            config = SearchConfig(
                dataset=args.dataset, space=args.space, batch_size=args.batch_size, epochs=1000,
                device="cpu", threads=1, progress=False, out=f"{out}/{name}", seed=args.seed,
                data_loading="memory",
            )  # fmt: skip
            session = stack.enter_context(
                open_session(
                    config,
                    storage=optuna.storages.InMemoryStorage(),
                    group=None if name == "plain" else group,
                )
            )
            with unused_parameters(name if name != "plain" else "find"):
                trainers[name] = OneShotTrainer(session)
            for _ in range(args.warmup):
                trainers[name].step()
        times: dict[str, list[float]] = {name: [] for name in trainers}
        for block in range(args.blocks):
            order = list(trainers) if block % 2 == 0 else list(reversed(trainers))
            for name in order:
                start = time.perf_counter()
                for _ in range(args.steps):
                    trainers[name].step()
                times[name].append((time.perf_counter() - start) / args.steps)
    Path(args.record).write_text(json.dumps(times))
    group.close()


def report_overhead(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "record.json"
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
            __file__, "--worker-overhead", "--dataset", args.dataset, "--space", args.space,
            "--batch-size", str(args.batch_size), "--steps", str(args.steps),
            "--warmup", str(args.warmup), "--blocks", str(args.blocks), "--seed", str(args.seed),
            "--record", str(record),
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
        if done.returncode != 0:
            raise SystemExit(f"overhead job failed:\n{done.stderr[-3000:]}")
        times = json.loads(record.read_text())
    print(
        f"\n{args.dataset} / {args.space}, minibatch {args.batch_size}, one process, "
        f"{args.blocks} interleaved blocks of {args.steps} steps each\n"
    )
    print("| step | ms per step (mean ± sd) | median | ratio to plain (paired, mean ± sd) |")
    print("|---|---|---|---|")
    for name, values in times.items():
        ratios = [v / p for v, p in zip(values, times["plain"])]
        print(
            f"| {name} | {1e3 * statistics.mean(values):.1f} ± {1e3 * statistics.stdev(values):.1f} "
            f"| {1e3 * statistics.median(values):.1f} "
            f"| {statistics.mean(ratios):.3f} ± {statistics.stdev(ratios):.3f} |"
        )
    print("\ncommand: python " + " ".join(shlex.quote(a) for a in sys.argv))


def launch(name: str, args: argparse.Namespace, record: Path) -> dict[str, Any]:
    config = CONFIGS[name]
    common = [
        "--worker",
        "--dataset", args.dataset, "--space", args.space,
        "--batch-size", str(args.batch_size), "--steps", str(args.steps),
        "--warmup", str(args.warmup), "--blocks", str(args.blocks), "--seed", str(args.seed),
        "--threads", str(config["threads"]), "--procs", str(config["procs"]),
        "--unused", config.get("unused", "find"), "--record", str(record),
    ]  # fmt: skip
    if config["procs"]:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(config["procs"]), __file__, *common,
        ]  # fmt: skip
    else:
        command = [sys.executable, __file__, *common]
    env = {**os.environ, "OMP_NUM_THREADS": str(config["threads"])}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(record.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-overhead", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--overhead", action="store_true", help="plain vs find vs zero, interleaved in one process"
    )
    parser.add_argument("--record", help=argparse.SUPPRESS)
    parser.add_argument("--procs", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--unused", default="find", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--space", default="chain")
    parser.add_argument("--batch-size", type=int, default=64, help="global minibatch")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per job")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="jobs per configuration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--configs",
        default=",".join(n for n in CONFIGS if n != "1 proc 2 threads"),
        help="comma-separated names (default: all but '1 proc 2 threads', which spins on a busy CPU)",
    )
    parser.add_argument("--out", default="runs/bench_distributed.json")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.worker_overhead:
        overhead_worker(args)
        return
    if args.overhead:
        report_overhead(args)
        return

    names = [n.strip() for n in args.configs.split(",")]
    measured: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    info: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for name in order:
                record = launch(name, args, Path(tmp) / "record.json")
                measured[name] += record["blocks"]
                info[name] = {k: v for k, v in record.items() if k != "blocks"}
                print(
                    f"  {name}: {[round(b['steps_per_s'], 2) for b in record['blocks']]}",
                    flush=True,
                )

    base = statistics.median(b["steps_per_s"] for b in measured[names[0]])
    print(f"\n{args.dataset} / {args.space}, global minibatch {args.batch_size}, "
          f"{info[names[0]]['generation']} architectures per step; "
          f"{len(measured[names[0]])} blocks of {args.steps} steps per configuration\n")  # fmt: skip
    print(
        "| configuration | rows per process | steps/s (mean ± sd) | median vs 1 proc | flush ms/step |"
    )
    print("|---|---|---|---|---|")
    table = {}
    for name in names:
        rates = [b["steps_per_s"] for b in measured[name]]
        flush = [b["flush_ms"] for b in measured[name]]
        sd = statistics.stdev(rates) if len(rates) > 1 else 0.0
        ratio = statistics.median(rates) / base
        flush_text = f"{statistics.mean(flush):.2f}" if CONFIGS[name]["procs"] else "-"
        print(f"| {name} | {info[name]['rows_per_process']} | {statistics.mean(rates):.2f} ± {sd:.2f} "
              f"| {ratio:.2f} | {flush_text} |")  # fmt: skip
        table[name] = {"steps_per_s": rates, "flush_ms": flush, **info[name]}
    import torch

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"\nmachine: {machine}\ncommand: {command}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"command": command, "machine": machine, "results": table}, indent=1)
    )


if __name__ == "__main__":
    main()
