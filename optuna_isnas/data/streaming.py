"""Datasets read one example at a time, for those too large to hold in memory as tensors.

:func:`open_dataset` lays a dataset out (:func:`~optuna_isnas.data.layout.plan_dataset`: the same
options, the same seeded split) and then either loads it into memory (a
:class:`~optuna_isnas.data.DatasetSplits`) or returns :class:`StreamedSplits`, whose splits are
map-style ``torch.utils.data.Dataset`` objects that read, convert and normalise each example when
a ``DataLoader`` worker asks for it. An example read either way is the same tensor, bit for bit.

``loading="auto"`` streams when the in-memory path would need more than :data:`MEMORY_FRACTION`
of this machine's memory (shared by the processes of a data-parallel job on it) or, training on a
GPU, when the float32 training and validation splits would need more than that fraction of the
GPU's memory. Digits, Fashion-MNIST and CIFAR-10 fit almost anywhere; an image folder at ImageNet
scale streams.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._types import DatasetError, DatasetSplits, describe_splits
from .layout import DatasetLayout, DatasetSpec, FolderImages, plan_dataset

LOADING_MODES: tuple[str, ...] = ("auto", "memory", "stream")
MEMORY_FRACTION = 0.25
"""``loading="auto"`` streams a dataset whose in-memory splits would need more than this share of
the machine's memory (or, on a GPU, of the GPU's memory)."""


class StreamedSplit(Dataset[tuple[torch.Tensor, int]]):
    """One split, read when used: ``split[i] == (x, y)`` with ``x`` float32 ``(C, H, W)``
    normalised as the in-memory split's ``x[i]``, and ``y`` its class; :meth:`read_batch` reads
    several at once (``training.streaming`` reads minibatches that way).

    Attributes:
        y: int64 labels of the split (held in memory: small).
        indices: Positions of the examples in the set they came from (as ``TensorSplit.indices``).
    """

    def __init__(
        self, layout: DatasetLayout, split: str, mean: torch.Tensor, std: torch.Tensor
    ) -> None:
        images, labels = layout.split_source(split)
        self._layout = layout
        self._images = images
        self._positions = layout.positions[split]
        self._mean = mean.view(1, -1, 1, 1)
        self._std = std.view(1, -1, 1, 1)
        self.y = torch.from_numpy(labels[self._positions].astype(np.int64))
        self.indices = torch.from_numpy(self._positions)

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y = self.read_batch([i])
        return x[0], int(y[0])

    def read_batch(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The examples ``rows`` as one batch ``(x, y)``: read, converted and normalised in one
        go, exactly as the in-memory path converts a split (the same values and layout)."""
        positions = self._positions[np.asarray(rows, dtype=np.int64)]
        x = self._layout.to_float(self._images.read(positions))
        x.sub_(self._mean).div_(self._std)
        return x, self.y[torch.as_tensor(rows, dtype=torch.int64)]


@dataclass(frozen=True)
class StreamedSplits:
    """A dataset's train, validation and test splits, read from their source when used.

    The attributes mean what they mean on :class:`~optuna_isnas.data.DatasetSplits`; ``mean``
    and ``std`` are the constants every example is normalised with.
    """

    name: str
    train: StreamedSplit
    val: StreamedSplit
    test: StreamedSplit
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    seed: int
    source: str
    in_channels: int
    image_size: int

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary, as :meth:`DatasetSplits.describe` (plus ``"loading"``)."""
        return {**describe_splits(self), "loading": "stream"}


def open_dataset(
    spec: DatasetSpec,
    *,
    loading: str = "auto",
    device: torch.device | None = None,
    processes_per_machine: int = 1,
    workers: int = 0,
) -> DatasetSplits | StreamedSplits:
    """``spec``'s dataset in memory or streamed, chosen by ``loading`` (see the module docstring).

    ``device`` is where the model trains (the in-memory splits go there),
    ``processes_per_machine`` how many processes of a data-parallel job share this machine's
    memory, ``workers`` how many processes read the images an image folder's normalisation
    constants are computed on.

    Raises:
        DatasetError: As :func:`load_dataset`, or an unknown ``loading``.
    """
    if loading not in LOADING_MODES:
        raise DatasetError(
            f"unknown data loading {loading!r}; choose one of {', '.join(LOADING_MODES)}"
        )
    layout = plan_dataset(spec)
    if choose_loading(layout, loading, device, processes_per_machine) == "memory":
        return layout.in_memory()
    return stream(layout, workers)


def choose_loading(
    layout: DatasetLayout,
    loading: str = "auto",
    device: torch.device | None = None,
    processes_per_machine: int = 1,
) -> str:
    """``"memory"`` or ``"stream"`` for ``layout`` (``loading="auto"``: by size, see above)."""
    if loading != "auto":
        return loading
    needed = layout.estimated_bytes()
    if needed * max(processes_per_machine, 1) > MEMORY_FRACTION * machine_memory():
        return "stream"
    if device is not None and device.type == "cuda":
        on_device = layout.float_bytes(("train", "val"))
        if on_device > MEMORY_FRACTION * torch.cuda.get_device_properties(device).total_memory:
            return "stream"
    return "memory"


def machine_memory() -> int:
    """Physical memory of this machine in bytes (a large number where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 50


def stream(layout: DatasetLayout, workers: int = 0) -> StreamedSplits:
    """``layout``'s splits as :class:`StreamedSplit` datasets."""
    stats_images = None
    if isinstance(layout.images, FolderImages):
        stats_images = _read_stats_images(layout, workers)
    mean, std = layout.normalisation(stats_images=stats_images)
    splits = {s: StreamedSplit(layout, s, mean, std) for s in ("train", "val", "test")}
    first = splits["train"][0][0]
    return StreamedSplits(
        name=layout.name,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        classes=layout.classes,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        seed=layout.seed,
        source=layout.source,
        in_channels=int(first.shape[0]),
        image_size=int(first.shape[1]),
    )


class _StatsChunks(Dataset[np.ndarray]):
    def __init__(self, layout: DatasetLayout) -> None:
        self.layout = layout
        self.chunks = layout.stats_chunks()

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.layout.images.read(self.chunks[i])


def _as_is(chunk: Any) -> Any:
    return chunk


def _read_stats_images(layout: DatasetLayout, workers: int) -> Iterator[np.ndarray]:
    """The uint8 images the normalisation constants are computed on, chunk by chunk, in order,
    read by ``workers`` processes."""
    loader = DataLoader(
        _StatsChunks(layout), batch_size=None, num_workers=workers, collate_fn=_as_is
    )
    return iter(loader)
