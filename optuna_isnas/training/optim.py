"""Optimiser, learning-rate schedule and one SGD step on the average of several losses."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from optuna_isnas.training.distributed import GradientSync
from optuna_isnas.training.recipe import TrainingRecipe

Scheduler = torch.optim.lr_scheduler.LRScheduler


def make_optimizer(parameters: Iterable[nn.Parameter], recipe: TrainingRecipe) -> torch.optim.SGD:
    return torch.optim.SGD(
        parameters,
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay,
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, recipe: TrainingRecipe, total_steps: int
) -> Scheduler:
    """Cosine annealing from ``lr`` to ``lr_min`` over ``total_steps`` steps, or a constant rate."""
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(total_steps, 1), eta_min=recipe.lr_min
        )
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def sgd_step(
    model: nn.Module,
    loss_fns: Sequence[Callable[[], torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    recipe: TrainingRecipe,
    sync: GradientSync | None = None,
    share: float = 1.0,
    normalise: Callable[[list[int]], None] | None = None,
) -> list[float]:
    """One SGD step on the average of the finite losses among ``loss_fns``.

    Each loss is computed and back-propagated in turn (one graph in memory at a time); a NaN or
    infinite loss is left out of the update. Returns every loss's value (non-finite ones included).

    Data-parallel (``sync`` given): each loss is this process's mean over its ``share`` of the
    global minibatch. The backward passes accumulate locally, the gradients are averaged in one
    all-reduce (weighted by the shares, so that they equal the global minibatch's), and the
    returned values are the global minibatch's losses. When the processes disagree on which
    losses are finite, the whole update is skipped (with a warning) on every process.

    ``normalise(finite)``, when given, turns the summed gradients of the losses at the indices
    ``finite`` into the update's gradients (after the all-reduce), instead of dividing them all
    by the number of finite losses.
    """
    optimizer.zero_grad(set_to_none=True)
    weight = share * (sync.world_size if sync is not None else 1)
    values = []
    with sync.accumulate() if sync is not None else contextlib.nullcontext():
        for loss_fn in loss_fns:
            loss = loss_fn()
            value = float(loss.detach())
            values.append(value)
            if math.isfinite(value):
                scaler.scale(loss if weight == 1.0 else loss * weight).backward()
    if sync is not None:
        values, agreed = sync.reduce_losses(values, share)
        if not agreed:
            optimizer.zero_grad(set_to_none=True)
            warnings.warn(
                "a loss was finite on some processes and not on others; this step's update is "
                "skipped on every process",
                RuntimeWarning,
                stacklevel=2,
            )
            return values
        sync.all_reduce_gradients()
    n_finite = sum(math.isfinite(v) for v in values)
    if n_finite:
        scaler.unscale_(optimizer)
        if normalise is not None:
            normalise([i for i, v in enumerate(values) if math.isfinite(v)])
        elif n_finite > 1:
            with torch.no_grad():
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.div_(float(n_finite))
        if recipe.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()
    return values
