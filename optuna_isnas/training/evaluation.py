"""Accuracy and cross-entropy: over a whole split in batches, or of one minibatch's logits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F

from optuna_isnas.data import TensorSplit
from optuna_isnas.data.streaming import StreamedSplit
from optuna_isnas.training.device import Precision
from optuna_isnas.training.distributed import ProcessGroup, Shard

EvalSplit = TensorSplit | StreamedSplit
"""A split to evaluate on: tensors in memory, or a dataset read by ``DataLoader`` workers
(:class:`optuna_isnas.data.streaming.StreamedSplit`)."""


@torch.no_grad()
def evaluate(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    precision: Precision,
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``forward`` over all of ``x``, ``y``, in batches."""
    batches = ((x[s : s + batch_size], y[s : s + batch_size]) for s in range(0, len(y), batch_size))
    correct, loss_sum = _sums(forward, batches, precision)
    n = max(len(y), 1)
    return correct / n, loss_sum / n


@torch.no_grad()
def evaluate_split(
    forwards: list[Callable[[torch.Tensor], torch.Tensor]],
    split: EvalSplit,
    batch_size: int,
    precision: Precision,
    group: ProcessGroup | None = None,
    workers: int = 0,
) -> list[tuple[float, float]]:
    """(accuracy, mean cross-entropy) of each of ``forwards`` over the whole ``split``.

    The batches are the same whatever the split is held in and however many processes share the
    work: with a ``group``, every process runs the whole batches ``rank, rank + world, ...`` and
    the sums are all-reduced (every process must call this with the same ``forwards``), so the
    numbers are a single process's (up to the order of the float sums).
    """
    shard = group.shard if group is not None else Shard()
    n = len(split)
    sums = torch.zeros(len(forwards), 2, dtype=torch.float64)
    for i, forward in enumerate(forwards):
        correct, loss_sum = _sums(
            forward, _batches(split, batch_size, precision, shard, workers), precision
        )
        sums[i] = torch.tensor([correct, loss_sum], dtype=torch.float64)
    if group is not None:
        sums = group.all_reduce_sum(sums, "all-reducing the whole-split evaluation")
    return [(float(c) / max(n, 1), float(s) / max(n, 1)) for c, s in sums]


def _batches(
    split: EvalSplit, batch_size: int, precision: Precision, shard: Shard, workers: int
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(split, TensorSplit):
        starts = shard.take(list(range(0, len(split), batch_size)))
        return ((split.x[s : s + batch_size], split.y[s : s + batch_size]) for s in starts)
    from optuna_isnas.training.streaming import ordered_batches

    return ordered_batches(split, batch_size, precision, shard, workers)


def _sums(
    forward: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
    | Iterator[tuple[torch.Tensor, torch.Tensor]],
    precision: Precision,
) -> tuple[int, float]:
    correct, loss_sum = 0, 0.0
    for x, y in batches:
        xb = precision.prepare_input(x)
        yb = y.to(precision.device)
        with precision.autocast():
            logits = forward(xb)
        logits = logits.float()
        loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return correct, loss_sum


def minibatch_metrics(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(cross-entropy tensor, accuracy) of one minibatch's logits."""
    logits = logits.float()
    return F.cross_entropy(logits, y), float((logits.argmax(1) == y).float().mean())
