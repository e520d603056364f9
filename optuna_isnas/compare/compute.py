"""Compute accounting: supernet forward and backward passes, and wall time.

A pass is one minibatch through the supernet for one architecture. Each search step of the
one-shot loop makes, for every architecture it asks, one training forward, one backward and one
validation forward. :class:`PassCounter` counts them independently of the loop, through its
``loss_hook`` (called on every minibatch loss), and the runner checks the count against the
loop's own step records. Scoring the returned architectures on the whole validation split is
counted apart (``eval_forward``, in examples), not as search compute.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass
class PassCount:
    """Supernet passes of one search."""

    train_forward: int = 0
    backward: int = 0
    val_forward: int = 0
    eval_examples: int = 0  # examples scored on the whole validation split (not search compute)

    @property
    def total(self) -> int:
        """Search compute: forward plus backward passes."""
        return self.train_forward + self.backward + self.val_forward

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


class PassCounter:
    """Counts passes through the search loop's ``loss_hook(arch, loss) -> loss``.

    A loss that carries a gradient is a training forward, and (when finite) a backward follows;
    a loss computed without gradients is a validation forward.
    """

    def __init__(self) -> None:
        self.count = PassCount()

    def __call__(self, arch: dict[str, str], loss: torch.Tensor) -> torch.Tensor:
        if loss.requires_grad:
            self.count.train_forward += 1
            if math.isfinite(float(loss.detach())):
                self.count.backward += 1
        else:
            self.count.val_forward += 1
        return loss


class Stopwatch:
    """Wall time of a block, excluding the spans wrapped in :meth:`paused` (trace scoring)."""

    def __init__(self) -> None:
        self._start = 0.0
        self._paused = 0.0
        self.seconds = 0.0
        self.paused_seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start - self.paused_seconds

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.paused_seconds += time.perf_counter() - start
