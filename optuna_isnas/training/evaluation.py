"""Accuracy and cross-entropy: over a whole split in batches, or of one minibatch's logits."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from optuna_isnas.training.device import Precision


@torch.no_grad()
def evaluate(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    precision: Precision,
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``forward`` over all of ``x``, ``y``, in batches."""
    correct, loss_sum = 0, 0.0
    for start in range(0, len(y), batch_size):
        xb = precision.prepare_input(x[start : start + batch_size])
        yb = y[start : start + batch_size].to(precision.device)
        with precision.autocast():
            logits = forward(xb)
        logits = logits.float()
        loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    n = max(len(y), 1)
    return correct / n, loss_sum / n


def minibatch_metrics(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(cross-entropy tensor, accuracy) of one minibatch's logits."""
    logits = logits.float()
    return F.cross_entropy(logits, y), float((logits.argmax(1) == y).float().mean())
