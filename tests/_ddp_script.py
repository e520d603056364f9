"""What each process of the data-parallel tests runs (``tests/test_distributed.py``).

Launched by ``torchrun --standalone --nproc-per-node 2 tests/_ddp_script.py MODE OUT ...``, so
that every rank really is another process joined through gloo. Each rank writes what it saw to
``OUT/rank<R>.json``:

* ``search CONFIG_JSON``: ``run_search`` with a loss hook that records every architecture and
  minibatch loss this rank computed; also the final weights' digest and the returned family.
  With ``KILL_AT=N`` in the environment, rank 1 kills itself (SIGKILL) at its N-th loss; with
  ``BREAK_AT=N``, rank 0's step callback raises after step N.
* ``gradients``: one ``sgd_step`` of a three-layer model through ``GradientSync`` (for each way of
  handling unused parameters), each rank on its shard of one global minibatch, against a single
  process on the whole minibatch.
* ``silent TIMEOUT``: rank 1 stops answering; rank 0 waits for its message under a timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn


def _dump(out: Path, rank: int, record: dict[str, Any]) -> None:
    (out / f"rank{rank}.json").write_text(json.dumps(record))


def digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def search(out: Path, settings: dict[str, Any], resume: bool) -> int:
    from optuna_isnas.errors import SettingsError
    from optuna_isnas.search import SearchConfig, run_search

    rank = int(os.environ["RANK"])
    kill_at = int(os.environ.get("KILL_AT", "0"))
    seen: list[tuple[str, float]] = []

    def hook(arch: dict[str, str], loss: torch.Tensor) -> torch.Tensor:
        seen.append((json.dumps(arch), float(loss.detach())))
        if rank == 1 and kill_at and len(seen) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return loss

    break_at = int(os.environ.get("BREAK_AT", "0"))

    def callback(info: Any) -> None:
        if info.global_step == break_at:
            raise RuntimeError(f"the callback broke at step {break_at}")

    try:
        result = run_search(
            SearchConfig(**settings), loss_hook=hook, resume=resume, step_callback=callback
        )
    except SettingsError as exc:  # as the command line prints it
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    _dump(
        out,
        rank,
        {
            "seen": seen,
            "digest": digest(result.supernet),
            "architectures": [a.architecture for a in result.architectures],
            "accuracies": [a.accuracy for a in result.architectures],
            "is_main": result.is_main,
        },
    )
    return 0


class Three(nn.Module):
    """Three layers; ``forward(x, which)`` uses the first and one of the other two."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 6)
        self.left = nn.Linear(6, 3)
        self.right = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor, which: str) -> torch.Tensor:
        return getattr(self, which)(torch.tanh(self.first(x)))


def gradients(out: Path) -> int:
    from optuna_isnas.training.distributed import ProcessGroup

    group = ProcessGroup(torch.device("cpu"), timeout_s=60)
    _dump(out, group.rank, {unused: _gradients(group, unused) for unused in ("find", "zero")})
    group.close()
    return 0


def _gradients(group: Any, unused: str) -> dict[str, Any]:
    """Uneven shards (7 rows over 2 ranks), two passes using ``left`` and none ``right``."""
    import torch.nn.functional as F

    from optuna_isnas.training.distributed import GradientSync
    from optuna_isnas.training.optim import sgd_step
    from optuna_isnas.training.recipe import TrainingRecipe

    torch.manual_seed(group.rank)  # different initial weights: DDP must copy rank 0's
    model = Three()
    sync = GradientSync(model, group, unused)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 4, generator=generator), torch.randint(0, 3, (7,), generator=generator)
    torch.manual_seed(0)
    reference = Three()
    reference.load_state_dict(model.state_dict())
    recipe = TrainingRecipe(lr=0.1, momentum=0.0, weight_decay=0.0, grad_clip_norm=None)

    def step(module: Any, net: nn.Module, xs: torch.Tensor, ys: torch.Tensor, **kw: Any) -> Any:
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        passes = [lambda: F.cross_entropy(module(xs, "left"), ys)] * 2
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        losses = sgd_step(net, passes, optimizer, scaler, recipe, **kw)
        return losses, {
            n: None if p.grad is None else p.grad.tolist() for n, p in net.named_parameters()
        }

    shard = group.shard
    xs, ys = shard.take(x), shard.take(y)
    losses, grads = step(sync, model, xs, ys, sync=sync, share=len(ys) / len(y))
    ref_losses, ref_grads = step(reference, reference, x, y)
    return {
        "losses": losses,
        "ref_losses": ref_losses,
        "grads": grads,
        "ref_grads": ref_grads,
        "weights": {n: t.tolist() for n, t in model.state_dict().items()},
        "ref_weights": {n: t.tolist() for n, t in reference.state_dict().items()},
    }


def silent(out: Path, timeout: float) -> int:
    from optuna_isnas.training.distributed import DistributedError, ProcessGroup

    group = ProcessGroup(torch.device("cpu"), timeout_s=timeout)
    group.barrier("starting")
    if group.rank == 1:
        time.sleep(timeout * 4)  # alive, but answering nothing
        return 0
    start = time.monotonic()
    try:
        group.broadcast_json({"hello": 1}, "sending a message")
        group.barrier("waiting for rank 1")
        error = None
    except DistributedError as exc:
        error = str(exc)
    _dump(out, 0, {"error": error, "waited": time.monotonic() - start})
    os._exit(0)  # leave without the goodbye collectives the silent rank would never answer


if __name__ == "__main__":
    mode, target = sys.argv[1], Path(sys.argv[2])
    if mode == "search":
        sys.exit(search(target, json.loads(sys.argv[3]), resume="--resume" in sys.argv))
    if mode == "gradients":
        sys.exit(gradients(target))
    if mode == "silent":
        sys.exit(silent(target, float(sys.argv[3])))
    raise SystemExit(f"unknown mode {mode}")
