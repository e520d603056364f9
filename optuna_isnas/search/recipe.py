"""The training recipe's pieces: optimiser, schedule, minibatches, augmentation, one SGD step, evaluation.

Shared by the one-shot search (many architectures per step) and by retraining (one network).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from optuna_isnas.search.config import TrainingRecipe
from optuna_isnas.search.device import Precision

NATURAL_IMAGE_DATASETS = ("cifar10", "imagefolder")


def make_optimizer(parameters: Iterator[nn.Parameter], recipe: TrainingRecipe) -> torch.optim.SGD:
    return torch.optim.SGD(
        parameters,
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay,
    )


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: TrainingRecipe, total_steps: int):
    """Cosine annealing from ``lr`` to ``lr_min`` over ``total_steps`` steps, or a constant rate."""
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(total_steps, 1), eta_min=recipe.lr_min
        )
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def resolve_augment(recipe: TrainingRecipe, dataset: str) -> str:
    if recipe.augment != "auto":
        return recipe.augment
    return "crop-flip" if dataset in NATURAL_IMAGE_DATASETS else "none"


class MinibatchStream:
    """Endless seeded minibatch indices: a fresh random permutation each time one runs out.

    Its state (generator, permutation, position) goes into checkpoints, so a resumed search sees
    the same minibatches as an uninterrupted one.
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n = n
        self.batch_size = min(batch_size, n)
        self.generator = torch.Generator().manual_seed(seed)
        self.perm: torch.Tensor | None = None
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.perm is None or self.pos + self.batch_size > self.n:
            self.perm = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"], state["pos"]


def augment_batch(
    x: torch.Tensor, mode: str, generator: torch.Generator, padding: int = 4
) -> torch.Tensor:
    """Random crop after zero padding (``"crop"``), plus horizontal flips (``"crop-flip"``).

    The random draws come from ``generator`` (on the CPU) whatever the device of ``x``.
    """
    if mode == "none":
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    left = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = padded[batch, channels, rows, cols]
    if mode == "crop-flip":
        flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out


def sgd_step(
    model: nn.Module,
    loss_fns: Sequence[Callable[[], torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    recipe: TrainingRecipe,
) -> list[float]:
    """One SGD step on the average of the finite losses among ``loss_fns``.

    Each loss is computed and back-propagated in turn (one graph in memory at a time); a NaN or
    infinite loss is left out of the update. Returns every loss's value (non-finite ones included).
    """
    optimizer.zero_grad(set_to_none=True)
    values = []
    for loss_fn in loss_fns:
        loss = loss_fn()
        value = float(loss.detach())
        values.append(value)
        if math.isfinite(value):
            scaler.scale(loss).backward()
    n_finite = sum(math.isfinite(v) for v in values)
    if n_finite:
        scaler.unscale_(optimizer)
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if n_finite > 1:
            torch._foreach_div_(grads, float(n_finite))
        if recipe.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()
    return values


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
