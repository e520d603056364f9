"""Training minibatches: seeded index streams, augmentation, and in-memory batch sources.

A :class:`BatchSource` hands out ``(x, y)`` minibatches ready for the model and saves its position
in checkpoints. :class:`InMemoryBatches` draws them from tensors held on the device; a streaming
source (:class:`~optuna_isnas.training.streaming.StreamingBatches`, a ``DataLoader`` over files)
gives the very same minibatches without holding the split in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from optuna_isnas.data import TensorSplit
from optuna_isnas.training.device import Precision
from optuna_isnas.training.distributed import Shard


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

    @property
    def batches_per_pass(self) -> int:
        """Whole minibatches in one pass over the ``n`` examples."""
        return self.n // self.batch_size

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


@dataclass(frozen=True)
class AugmentDraws:
    """The random draws of :func:`augment_batch` for a minibatch: one crop offset per row (and one
    flip per row for ``"crop-flip"``), on the CPU."""

    top: torch.Tensor
    left: torch.Tensor
    flip: torch.Tensor | None

    def take(self, shard: Shard) -> AugmentDraws:
        """The draws of this process's rows of the global minibatch."""
        flip = None if self.flip is None else shard.take(self.flip)
        return AugmentDraws(shard.take(self.top), shard.take(self.left), flip)


def draw_augmentation(
    n: int, mode: str, generator: torch.Generator, padding: int = 4
) -> AugmentDraws | None:
    """The draws for ``n`` rows from ``generator`` (None for ``"none"``)."""
    if mode == "none":
        return None
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = (torch.rand(n, generator=generator) < 0.5) if mode == "crop-flip" else None
    return AugmentDraws(top, left, flip)


def apply_augmentation(
    x: torch.Tensor, draws: AugmentDraws | None, padding: int = 4
) -> torch.Tensor:
    """Random crops after zero padding, and flips where drawn (``x`` on any device)."""
    if draws is None:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top, left = draws.top.to(x.device), draws.left.to(x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = padded[batch, channels, rows, cols]
    if draws.flip is not None:
        flip = draws.flip.to(x.device)
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out


def augment_batch(
    x: torch.Tensor, mode: str, generator: torch.Generator, padding: int = 4
) -> torch.Tensor:
    """Random crop after zero padding (``"crop"``), plus horizontal flips (``"crop-flip"``).

    The random draws come from ``generator`` (on the CPU) whatever the device of ``x``.
    """
    return apply_augmentation(x, draw_augmentation(len(x), mode, generator, padding), padding)


class BatchSource(Protocol):
    """Where a training loop takes its minibatches from.

    In a data-parallel job every process draws the same global minibatch and keeps its shard of
    it (:class:`~optuna_isnas.training.distributed.Shard`).
    """

    @property
    def batches_per_epoch(self) -> int: ...

    @property
    def batch_size(self) -> int:
        """Rows of a global minibatch (all processes together)."""
        ...

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's part of the next ``(x, y)``, on the device, in the model's memory format."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class InMemoryBatches:
    """Seeded minibatches of a split held in (device) memory, optionally augmented.

    Args:
        split: The examples, already on ``precision.device``.
        batch_size: Global minibatch size (at most the split's size).
        seed: Seed of the order (and of the augmentation's draws).
        precision: Device and memory format of the returned inputs.
        augment: ``"none"``, ``"crop"`` or ``"crop-flip"`` (see :func:`augment_batch`).
        shard: This process's rows of each global minibatch (all of them by default). The order
            and the augmentation are drawn for the global minibatch, so the processes together
            see exactly what a single process sees.
    """

    def __init__(
        self,
        split: TensorSplit,
        batch_size: int,
        seed: int,
        precision: Precision,
        augment: str = "none",
        shard: Shard | None = None,
    ) -> None:
        self.split = split
        self.stream = MinibatchStream(len(split), batch_size, seed=seed)
        self.precision = precision
        self.augment = augment
        self.shard = shard or Shard()

    @property
    def batches_per_epoch(self) -> int:
        return self.stream.batches_per_pass

    @property
    def batch_size(self) -> int:
        return self.stream.batch_size

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.stream.next()
        draws = draw_augmentation(len(idx), self.augment, self.stream.generator)
        idx = self.shard.take(idx).to(self.precision.device)
        x = apply_augmentation(self.split.x[idx], draws and draws.take(self.shard))
        return self.precision.prepare_input(x), self.split.y[idx]

    def state_dict(self) -> dict[str, Any]:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stream.load_state_dict(state)
