"""Time a supernet training step against the standalone child's step, same architecture and batch.

For every space: sample architectures, and for each one time a training step (forward,
cross-entropy, backward, SGD step with momentum, ``zero_grad(set_to_none=True)``) of

* the supernet with that architecture (``supernet(x, arch)``, optimiser over ALL supernet
  parameters, as in a one-shot search);
* the supernet with a NEW random architecture every step (what a search does; information);
* the child extracted from the supernet (``supernet.extract_child(arch)``: same weights, same
  BatchNorm mode), its own optimiser.

Timings are interleaved (supernet, child, child, supernet, ...) in short blocks of ``--steps``
steps, so load drifts hit both alike. Reported: mean +- sd over blocks of the per-step time, the
ratio supernet / child (mean +- sd of the per-block ratios) and the ratio of the median times
(robust to other processes' bursts). Prints a markdown table and the command.

    python benchmarks/bench_supernet_step.py                 # CPU, default cases
    python benchmarks/bench_supernet_step.py --device cuda   # GPU (synchronised timings)
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optuna_isnas.spaces import get_space

# name, space kwargs, batch size
CASES: dict[str, tuple[str, dict, int]] = {
    "chain-digits": ("chain", {"in_channels": 1, "num_classes": 10, "image_size": 8}, 64),
    "enas-digits": ("enas", {"in_channels": 1, "num_classes": 10, "image_size": 8}, 64),
    "nb201-digits": ("nb201", {"in_channels": 1, "num_classes": 10, "image_size": 8}, 64),
    "chain-cifar": ("chain", {"in_channels": 3, "num_classes": 10, "image_size": 32}, 32),
    "enas-cifar": ("enas", {"in_channels": 3, "num_classes": 10, "image_size": 32}, 32),
    "nb201-cifar": ("nb201", {"in_channels": 3, "num_classes": 10, "image_size": 32}, 32),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_block(step: Callable[[], None], steps: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def bench_case(
    name: str,
    space_name: str,
    kwargs: dict,
    batch_size: int,
    *,
    n_archs: int,
    repeats: int,
    steps: int,
    warmup: int,
    device: torch.device,
    seed: int,
) -> dict[str, object]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    space = get_space(space_name, **kwargs)
    supernet = space.build_supernet().to(device)
    size = kwargs["image_size"]
    x = torch.randn(batch_size, kwargs["in_channels"], size, size, device=device)
    y = torch.randint(0, kwargs["num_classes"], (batch_size,), device=device)
    sup_opt = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9)

    def supernet_step(arch: dict[str, str]) -> None:
        sup_opt.zero_grad(set_to_none=True)
        F.cross_entropy(supernet(x, arch), y).backward()
        sup_opt.step()

    archs = [space.random_architecture(rng) for _ in range(n_archs)]
    pool = [space.random_architecture(rng) for _ in range(256)]
    sup_t: list[float] = []
    rnd_t: list[float] = []
    child_t: list[float] = []
    ratios: list[float] = []
    n_params: list[int] = []
    for arch in archs:
        child = supernet.extract_child(arch)
        n_params.append(space.n_params(arch))
        child_opt = torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9)

        def child_step(child: nn.Module = child, child_opt: torch.optim.SGD = child_opt) -> None:
            child_opt.zero_grad(set_to_none=True)
            F.cross_entropy(child(x), y).backward()
            child_opt.step()

        counter = iter(range(10**9))

        def random_step(counter: Iterator[int] = counter) -> None:
            supernet_step(pool[next(counter) % len(pool)])

        def fixed_step(arch: dict[str, str] = arch) -> None:
            supernet_step(arch)

        for step in (fixed_step, child_step, random_step):
            _time_block(step, warmup, device)
        for r in range(repeats):
            # alternate the order so that drifts in load hit both sides alike
            if r % 2 == 0:
                s = _time_block(fixed_step, steps, device)
                c = _time_block(child_step, steps, device)
            else:
                c = _time_block(child_step, steps, device)
                s = _time_block(fixed_step, steps, device)
            rnd_t.append(_time_block(random_step, steps, device))
            sup_t.append(s)
            child_t.append(c)
            ratios.append(s / c)
    return {
        "case": name,
        "space": space_name,
        "batch": batch_size,
        "input": f"{kwargs['in_channels']}x{size}x{size}",
        "params": f"{min(n_params):,}-{max(n_params):,}",
        "supernet": (statistics.mean(sup_t), statistics.stdev(sup_t)),
        "random": (statistics.mean(rnd_t), statistics.stdev(rnd_t)),
        "child": (statistics.mean(child_t), statistics.stdev(child_t)),
        "ratio": (statistics.mean(ratios), statistics.stdev(ratios)),
        "median_ratio": statistics.median(sup_t) / statistics.median(child_t),
    }


def _ms(pair: tuple[float, float]) -> str:
    return f"{pair[0] * 1e3:.2f} ± {pair[1] * 1e3:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--archs", type=int, default=3, help="architectures per case")
    parser.add_argument("--repeats", type=int, default=20, help="timed blocks per architecture")
    parser.add_argument("--steps", type=int, default=2, help="steps per timed block")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for name in args.cases:
        print(f"timing {name} ...", file=sys.stderr, flush=True)
        rows.append(
            bench_case(
                name,
                *CASES[name],
                n_archs=args.archs,
                repeats=args.repeats,
                steps=args.steps,
                warmup=args.warmup,
                device=device,
                seed=args.seed,
            )
        )
    load_after = os.getloadavg()

    command = "python benchmarks/bench_supernet_step.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    hw = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"Command: `{command.strip()}`\n")
    print(
        f"Device: {device} ({hw or platform.machine()}), {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; "
        f"load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f}. "
        f"{args.archs} architectures x {args.repeats} blocks x {args.steps} steps per case; "
        "ms per step, mean ± sd over blocks.\n"
    )
    print(
        "| case | input | batch | child params | supernet step (ms) | child step (ms) "
        "| ratio supernet/child | ratio of medians | supernet, new arch every step (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["ratio"]
        print(
            f"| {r['case']} | {r['input']} | {r['batch']} | {r['params']} | {_ms(r['supernet'])} "
            f"| {_ms(r['child'])} | {ratio[0]:.3f} ± {ratio[1]:.3f} | {r['median_ratio']:.3f} "
            f"| {_ms(r['random'])} |"
        )


if __name__ == "__main__":
    main()
