"""Minibatches from a dataset read by ``DataLoader`` workers, for splits too large for memory.

:class:`StreamingBatches` is a :class:`~optuna_isnas.training.batches.BatchSource` that gives the
very minibatches :class:`~optuna_isnas.training.batches.InMemoryBatches` gives for the same seed:
the same :class:`~optuna_isnas.training.batches.MinibatchStream` draws the order and the
augmentation in the main process, the workers only read, decode and normalise the examples of
this process's shard, a whole minibatch at a time (pinned memory on CUDA), and the augmentation is
applied on the device. Its
checkpoint state is the stream's state after the last minibatch handed out (workers read ahead),
in the same form, so a checkpoint resumes either way.

:func:`ordered_batches` reads a split in order for its whole-split evaluation.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from optuna_isnas.training.batches import (
    AugmentDraws,
    MinibatchStream,
    apply_augmentation,
    draw_augmentation,
)
from optuna_isnas.training.device import Precision
from optuna_isnas.training.distributed import Shard

Example = tuple[torch.Tensor, int]
Batch = tuple[torch.Tensor, torch.Tensor]


class _BatchReader(Dataset[Batch]):
    """``reader[rows]`` is the batch of ``dataset``'s ``rows``: the dataset's own ``read_batch``
    where it has one (one conversion per batch, as in memory), else its examples stacked."""

    def __init__(self, dataset: Dataset[Example]) -> None:
        self.dataset = dataset

    def __getitem__(self, rows: list[int]) -> Batch:
        read_batch = getattr(self.dataset, "read_batch", None)
        if read_batch is not None:
            x, y = read_batch(rows)
            return x, y
        batch = default_collate([self.dataset[r] for r in rows])
        return batch[0], batch[1]


def default_workers(processes_per_machine: int = 1) -> int:
    """``DataLoader`` workers per batch source: the CPUs this process may use, shared by the
    processes of the machine and by the two sources (training and validation), at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus // (2 * max(processes_per_machine, 1))))


class _Plan:
    """The batch sampler: draws each global minibatch in the main process and remembers, per
    minibatch sent to the workers, its augmentation and the stream's state after it."""

    def __init__(self, owner: StreamingBatches) -> None:
        self.owner = owner

    def __iter__(self) -> Iterator[list[int]]:
        owner = self.owner
        while True:
            idx = owner.stream.next()
            draws = draw_augmentation(len(idx), owner.augment, owner.stream.generator)
            owner.pending.append((draws and draws.take(owner.shard), owner.stream.state_dict()))
            yield owner.shard.take(idx).tolist()


class StreamingBatches:
    """Seeded minibatches of a map-style dataset read by ``DataLoader`` workers.

    Args:
        dataset: ``dataset[i] == (x, y)``, ``x`` a float32 ``(C, H, W)`` tensor.
        batch_size: Global minibatch size (at most the dataset's size).
        seed: Seed of the order and of the augmentation's draws.
        precision: Device and memory format of the returned inputs.
        augment: ``"none"``, ``"crop"`` or ``"crop-flip"``.
        shard: This process's rows of each global minibatch.
        workers: ``DataLoader`` worker processes (0: read in this process).
    """

    def __init__(
        self,
        dataset: Dataset[Example],
        batch_size: int,
        seed: int,
        precision: Precision,
        augment: str = "none",
        shard: Shard | None = None,
        workers: int = 0,
    ) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        self.dataset = dataset
        self.stream = MinibatchStream(n, batch_size, seed=seed)
        self.precision = precision
        self.augment = augment
        self.shard = shard or Shard()
        self.workers = workers
        self.pending: collections.deque[tuple[AugmentDraws | None, dict[str, Any]]] = (
            collections.deque()
        )
        self._handed_out = self.stream.state_dict()
        self._iterator: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.stream.batches_per_pass

    @property
    def batch_size(self) -> int:
        return self.stream.batch_size

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._iterator is None:
            self._iterator = iter(self._loader())
        x, y = next(self._iterator)
        draws, self._handed_out = self.pending.popleft()
        x = x.to(self.precision.device, non_blocking=True)
        x = self.precision.prepare_input(apply_augmentation(x, draws))
        return x, y.to(self.precision.device, non_blocking=True)

    def state_dict(self) -> dict[str, Any]:
        return self._handed_out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._iterator = None  # a new one starts from the loaded position
        self.pending.clear()
        self.stream.load_state_dict(state)
        self._handed_out = self.stream.state_dict()

    def _loader(self) -> DataLoader[Batch]:
        return DataLoader(
            _BatchReader(self.dataset),
            sampler=_Plan(self),
            batch_size=None,
            num_workers=self.workers,
            pin_memory=self.precision.device.type == "cuda",
        )


def ordered_batches(
    dataset: Dataset[Example],
    batch_size: int,
    precision: Precision,
    shard: Shard | None = None,
    workers: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``dataset`` in order, in batches of ``batch_size`` (the last one shorter), on the device.

    With a ``shard``, this process gets the whole batches ``rank, rank + world, ...``: each batch
    is the one a single process would see (which matters where BatchNorm uses batch statistics).
    """
    shard = shard or Shard()
    n = len(dataset)  # type: ignore[arg-type]
    batches = [list(range(s, min(s + batch_size, n))) for s in range(0, n, batch_size)]
    loader = DataLoader(
        _BatchReader(dataset),
        sampler=shard.take(batches),
        batch_size=None,
        num_workers=workers,
        pin_memory=precision.device.type == "cuda",
    )
    for x, y in loader:
        yield (
            precision.prepare_input(x.to(precision.device, non_blocking=True)),
            y.to(precision.device, non_blocking=True),
        )
