"""GPU readiness in one run (under 8 minutes on one GPU): step times, DDP throughput, memory.

1. **Supernet step vs the child's step**, per space, in float32 and in bfloat16 autocast (with
   channels_last, as the search runs on CUDA): one training step (forward, cross-entropy,
   backward, SGD with momentum) of the supernet with an architecture against the child extracted
   with the same weights; ms per step (mean ± sd over blocks), their ratio, and the peak memory.
2. **Search steps per second with DDP on every visible GPU**: the real data-parallel step
   (``OneShotTrainer``: rank 0 asks and broadcasts K x lambda architectures, every GPU trains them
   on its shard, DDP all-reduces, the scores are all-reduced, rank 0 tells) under ``torchrun`` with
   NCCL, at a fixed minibatch per GPU, for 1 process and for all visible GPUs, against the plain
   single-process step; with peak memory per GPU.

The data is synthetic (random CIFAR-shaped tensors held on the GPU): no download, and the timings
are the model's. Writes ``OUT/gpu_check.json`` and ``OUT/gpu_check.md`` and prints the latter.
``--budget-s`` bounds the whole run: parts that would not fit are skipped and reported so.

    python benchmarks/gpu_check.py                     # on a GPU machine
    python benchmarks/gpu_check.py --cpu-smoke         # every code path on the CPU, tiny, ~1 min
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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from optuna_isnas.spaces import get_space
from optuna_isnas.training.device import Precision


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the full GPU check, or the CPU smoke test."""

    device: str
    spaces: tuple[str, ...]
    channels: int
    image_size: int
    batch: int  # per process
    steps: int  # per timed block
    blocks: int
    warmup: int
    search_steps: int
    search_warmup: int
    train_examples: int  # per process, synthetic


GPU = Plan("cuda", ("chain", "nb201", "enas"), 3, 32, 256, 10, 5, 5, 30, 5, 8192)
SMOKE = Plan("cpu", ("chain", "nb201"), 3, 8, 16, 2, 2, 1, 3, 1, 256)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _precisions(device: torch.device) -> dict[str, Precision]:
    """float32, and bfloat16 autocast as the search uses it on CUDA (also on the CPU here, so
    that the smoke test runs the same code)."""
    amp = Precision.for_device(device)
    if amp.dtype is None:  # CPU: the search stays in float32; the smoke test autocasts anyway
        amp = Precision(device, torch.bfloat16, channels_last=False)
    label = "bf16" if amp.dtype == torch.bfloat16 else "fp16"  # fp16: a GPU without bfloat16
    return {"fp32": Precision(device, None, channels_last=False), label: amp}


# ---------------------------------------------------------------------- 1. supernet vs child
def step_times(plan: Plan, device: torch.device, seed: int) -> list[dict[str, Any]]:
    rows = []
    for space_name in plan.spaces:
        for label, precision in _precisions(device).items():
            rows.append(_step_case(plan, space_name, label, precision, seed))
            print(f"  {space_name} {label}: {rows[-1]['ratio']:.2f}x", file=sys.stderr, flush=True)
    return rows


def _step_case(
    plan: Plan, space_name: str, label: str, precision: Precision, seed: int
) -> dict[str, Any]:
    device = precision.device
    torch.manual_seed(seed)
    space = get_space(
        space_name, in_channels=plan.channels, num_classes=10, image_size=plan.image_size
    )
    arch = space.random_architecture(np.random.default_rng(seed))
    x = torch.randn(plan.batch, plan.channels, plan.image_size, plan.image_size, device=device)
    x = precision.prepare_input(x)
    y = torch.randint(0, 10, (plan.batch,), device=device)

    def make_step(model: torch.nn.Module, *args: Any) -> Any:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with precision.autocast():
                logits = model(x, *args)
            F.cross_entropy(logits.float(), y).backward()
            optimizer.step()

        return step

    _peak_reset(device)
    supernet = precision.prepare_model(space.build_supernet())
    supernet_step = make_step(supernet, arch)
    for _ in range(plan.warmup):
        supernet_step()
    supernet_peak = _peak_mib(device)
    _peak_reset(device)
    child = precision.prepare_model(supernet.extract_child(arch))
    child_step = make_step(child)
    for _ in range(plan.warmup):
        child_step()
    child_peak = _peak_mib(device)
    sup, kid = [], []
    for block in range(plan.blocks):  # alternate the order so drifts hit both alike
        pair = (supernet_step, child_step) if block % 2 == 0 else (child_step, supernet_step)
        times = [_time(step, plan.steps, device) for step in pair]
        sup.append(times[0] if block % 2 == 0 else times[1])
        kid.append(times[1] if block % 2 == 0 else times[0])
    return {
        "space": space_name,
        "precision": label,
        "batch": plan.batch,
        "child_params": space.n_params(arch),
        "supernet_params": sum(p.numel() for p in supernet.parameters()),
        "supernet_ms": _ms(sup),
        "child_ms": _ms(kid),
        "ratio": statistics.median(sup) / statistics.median(kid),
        "supernet_peak_mib": supernet_peak,
        "child_peak_mib": child_peak,
    }


def _time(step: Any, steps: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def _ms(values: list[float]) -> tuple[float, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return (1e3 * statistics.mean(values), 1e3 * sd)


# ---------------------------------------------------------------------- 2. search steps, DDP
def search_worker(args: argparse.Namespace) -> None:
    """One process of the search-step measurement (``torchrun`` when ``--ddp``)."""
    from optuna_isnas.search.step import OneShotTrainer
    from optuna_isnas.training.distributed import ProcessGroup, parallel_device

    plan = SMOKE if args.cpu_smoke else GPU
    if args.ddp:
        device = torch.device(parallel_device(plan.device))
        group: ProcessGroup | None = ProcessGroup(device, timeout_s=300)
    else:
        device, group = torch.device(plan.device), None
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    results = {}
    for label, precision in _precisions(device).items():
        _peak_reset(device)
        session = _synthetic_session(plan, precision, group, args.space, args.seed)
        trainer = OneShotTrainer(session)
        for _ in range(plan.search_warmup):
            trainer.step()
        if group is not None:
            group.barrier("starting the timed steps")
        _sync(device)
        start = time.perf_counter()
        for _ in range(plan.search_steps):
            trainer.step()
        _sync(device)
        elapsed = time.perf_counter() - start
        peaks = [_peak_mib(device) or 0.0]
        if group is not None:
            peaks = group.all_reduce_sum(
                torch.tensor(
                    [peaks[0] if r == group.rank else 0.0 for r in range(group.world_size)]
                ),
                "gathering peak memory",
            ).tolist()
        results[label] = {
            "steps_per_s": plan.search_steps / elapsed,
            "examples_per_s": plan.search_steps
            * plan.batch
            * (group.world_size if group else 1)
            / elapsed,
            "architectures_per_step": session.generation_size,
            "peak_mib_per_process": peaks if device.type == "cuda" else None,
        }
        del trainer, session
    if group is None or group.is_main:
        Path(args.record).write_text(json.dumps(results))
    if group is not None:
        group.close()


def _synthetic_session(
    plan: Plan, precision: Precision, group: Any, space_name: str, seed: int
) -> Any:
    """A ``SearchSession`` over random CIFAR-shaped tensors on the device (rank 0 owns an
    in-memory study with the default ISNASSampler)."""
    import optuna

    from optuna_isnas.data import DatasetSplits, TensorSplit
    from optuna_isnas.search import SearchConfig
    from optuna_isnas.search.samplers import generation_size
    from optuna_isnas.search.session import SearchSession, StudyOwner, make_sampler
    from optuna_isnas.search.storage import OpenedStorage, directions
    from optuna_isnas.training.batches import InMemoryBatches

    world = group.world_size if group is not None else 1
    config = SearchConfig(
        dataset="cifar10", space=space_name, batch_size=plan.batch * world, epochs=1000,
        device=str(precision.device), progress=False, out=tempfile.mkdtemp(), seed=seed,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(seed)

    def split(n: int) -> TensorSplit:
        x = torch.randn(n, plan.channels, plan.image_size, plan.image_size, generator=generator)
        y = torch.randint(0, 10, (n,), generator=generator)
        return TensorSplit(x, y, torch.arange(n))

    n = plan.train_examples * world
    data = DatasetSplits(
        "cifar10", split(n), split(n // 4), split(16), tuple("0123456789"), (0.0,) * 3, (1.0,) * 3,
        seed, "synthetic",
    )  # fmt: skip
    space = get_space(
        space_name, in_channels=plan.channels, num_classes=10, image_size=plan.image_size
    )
    owner = None
    if group is None or group.is_main:
        sampler = make_sampler(config, space)
        storage = optuna.storages.InMemoryStorage()
        study = optuna.create_study(
            storage=storage, sampler=sampler, directions=directions(config.objective)
        )
        owner = StudyOwner(OpenedStorage(storage, None), study, sampler)
    generation = generation_size(owner.sampler if owner else None, config)
    torch.manual_seed(seed)
    supernet = precision.prepare_model(space.build_supernet())
    shard = group.shard if group is not None else None
    train, val = data.train.to(precision.device), data.val.to(precision.device)
    return SearchSession(
        config=config,
        data=data,
        val=val,
        space=space,
        supernet=supernet,
        precision=precision,
        train_batches=InMemoryBatches(
            train, config.batch_size, seed, precision, "crop-flip", shard
        ),
        val_batches=InMemoryBatches(val, config.batch_size, seed + 1, precision, shard=shard),
        generation_size=generation,
        steps_per_epoch=10**6,
        out=Path(config.out),
        owner=owner,
        group=group,
    )


def search_steps(args: argparse.Namespace, plan: Plan, deadline: float) -> dict[str, Any]:
    """Plain single process, DDP with 1 process, DDP on every visible GPU (2 CPU processes in
    the smoke test)."""
    gpus = torch.cuda.device_count() if plan.device == "cuda" else 2
    jobs = {"1 process, no DDP": 0, "DDP x1": 1}
    if gpus > 1:
        jobs[f"DDP x{gpus}"] = gpus
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, procs in jobs.items():
            left = deadline - time.monotonic()
            if left < 30:
                out[name] = {"skipped": f"time budget spent ({left:.0f} s left)"}
                continue
            record = Path(tmp) / "record.json"
            common = [
                "--search-worker", "--space", args.space, "--seed", str(args.seed),
                "--record", str(record), *(["--cpu-smoke"] if args.cpu_smoke else []),
            ]  # fmt: skip
            if procs:
                command = [
                    sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc-per-node", str(procs), __file__, "--ddp", *common,
                ]  # fmt: skip
            else:
                command = [sys.executable, __file__, *common]
            print(f"  search steps: {name} ...", file=sys.stderr, flush=True)
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=left,
                    env={**os.environ, "OMP_NUM_THREADS": "1"},
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                out[name] = {"skipped": "ran past the time budget"}
                continue
            if done.returncode != 0:
                out[name] = {"failed": done.stderr[-2000:]}
                continue
            out[name] = json.loads(record.read_text())
    return out


# ---------------------------------------------------------------------- report
def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
        "cpus": os.cpu_count(),
        "device": str(device),
    }
    if device.type == "cuda":
        env["gpus"] = [
            {
                "name": torch.cuda.get_device_name(i),
                "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
            }
            for i in range(torch.cuda.device_count())
        ]
        env["bf16_supported"] = torch.cuda.is_bf16_supported()
        nccl = torch.cuda.nccl.version()
        env["nccl"] = ".".join(map(str, nccl)) if isinstance(nccl, tuple) else str(nccl)
    return env


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# GPU check ({report['mode']})", "", f"command: `{report['command']}`", ""]
    lines += [f"environment: `{json.dumps(report['environment'])}`", ""]
    lines += ["## Supernet step vs the child's step", ""]
    lines += [
        "| space | precision | batch | child params | supernet ms | child ms | ratio (medians) "
        "| supernet peak MiB | child peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["step_times"]:
        peak = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        lines.append(
            f"| {r['space']} | {r['precision']} | {r['batch']} | {r['child_params']:,} "
            f"| {r['supernet_ms'][0]:.2f} ± {r['supernet_ms'][1]:.2f} "
            f"| {r['child_ms'][0]:.2f} ± {r['child_ms'][1]:.2f} | {r['ratio']:.2f} "
            f"| {peak(r['supernet_peak_mib'])} | {peak(r['child_peak_mib'])} |"
        )
    lines += ["", f"## Search steps per second ({report['search_space']} space)", ""]
    lines += [
        "| job | precision | steps/s | examples/s | peak MiB per process |",
        "|---|---|---|---|---|",
    ]
    for job, result in report["search_steps"].items():
        if "skipped" in result or "failed" in result:
            lines.append(
                f"| {job} | - | {next(iter(result))}: {str(next(iter(result.values())))[:200]} | | |"
            )
            continue
        for label, r in result.items():
            peaks = r["peak_mib_per_process"]
            peak_text = "-" if peaks is None else ", ".join(f"{p:.0f}" for p in peaks)
            lines.append(
                f"| {job} | {label} | {r['steps_per_s']:.2f} | {r['examples_per_s']:.0f} | {peak_text} |"
            )
    lines += ["", f"total: {report['seconds']:.0f} s"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/gpu_check")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny run on the CPU (gloo)")
    parser.add_argument("--space", default="chain", help="space of the search-step measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-s", type=float, default=450.0, help="bound on the whole run")
    parser.add_argument("--search-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ddp", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_worker:
        search_worker(args)
        return

    start = time.monotonic()
    deadline = start + args.budget_s
    plan = SMOKE if args.cpu_smoke else GPU
    if plan.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: run with --cpu-smoke for a CPU smoke test")
    device = torch.device(plan.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print("supernet step vs child step ...", file=sys.stderr, flush=True)
    times = step_times(plan, device, args.seed)
    if device.type == "cuda":
        torch.cuda.empty_cache()  # the search-step jobs below are other processes on these GPUs
    print("search steps ...", file=sys.stderr, flush=True)
    report = {
        "mode": "CPU smoke test" if args.cpu_smoke else "GPU",
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "environment": environment(device),
        "plan": plan.__dict__,
        "step_times": times,
        "search_space": args.space,
        "search_steps": search_steps(args, plan, deadline),
    }
    report["seconds"] = time.monotonic() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    text = markdown(report)
    (out / "gpu_check.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
