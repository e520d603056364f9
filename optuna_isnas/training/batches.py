"""Training minibatches: seeded index streams, augmentation, and in-memory batch sources.

A :class:`BatchSource` hands out ``(x, y)`` minibatches ready for the model and saves its position
in checkpoints. :class:`InMemoryBatches` draws them from tensors held on the device; a streaming
source (a ``DataLoader`` over files) would implement the same three methods.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn.functional as F

from optuna_isnas.data import TensorSplit
from optuna_isnas.training.device import Precision


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


class BatchSource(Protocol):
    """Where a training loop takes its minibatches from."""

    @property
    def batches_per_epoch(self) -> int: ...

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``(x, y)``, on the device and in the model's memory format."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class InMemoryBatches:
    """Seeded minibatches of a split held in (device) memory, optionally augmented.

    Args:
        split: The examples, already on ``precision.device``.
        batch_size: Minibatch size (at most the split's size).
        seed: Seed of the order (and of the augmentation's draws).
        precision: Device and memory format of the returned inputs.
        augment: ``"none"``, ``"crop"`` or ``"crop-flip"`` (see :func:`augment_batch`).
    """

    def __init__(
        self,
        split: TensorSplit,
        batch_size: int,
        seed: int,
        precision: Precision,
        augment: str = "none",
    ) -> None:
        self.split = split
        self.stream = MinibatchStream(len(split), batch_size, seed=seed)
        self.precision = precision
        self.augment = augment

    @property
    def batches_per_epoch(self) -> int:
        return self.stream.batches_per_pass

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.stream.next().to(self.precision.device)
        x = augment_batch(self.split.x[idx], self.augment, self.stream.generator)
        return self.precision.prepare_input(x), self.split.y[idx]

    def state_dict(self) -> dict[str, Any]:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stream.load_state_dict(state)
