"""The containers that every loader returns, and the one error class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from optuna_isnas.errors import SettingsError


class DatasetError(SettingsError):
    """A dataset could not be loaded: unknown name, bad option, missing or corrupt file.

    The message always says what was wrong and, where there is one, how to fix it.
    """


@dataclass(frozen=True)
class TensorSplit:
    """One split of a dataset, held in memory.

    Attributes:
        x: ``float32`` images of shape ``(N, C, H, W)`` with ``H == W``, normalised with the
            per-channel mean and standard deviation of the *training* split.
        y: ``int64`` class indices of shape ``(N,)``.
        indices: ``int64`` positions, shape ``(N,)``, of these samples in the set they came from
            (the whole dataset, or the official train or test set where there is one). They let
            a user map a sample back to its file or row; they are not needed for training.
    """

    x: torch.Tensor
    y: torch.Tensor
    indices: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32 or self.x.dim() != 4:
            raise DatasetError(
                f"TensorSplit.x must be a float32 tensor of shape (N, C, H, W), "
                f"got {self.x.dtype} of shape {tuple(self.x.shape)}"
            )
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise DatasetError(
                f"TensorSplit.y must be an int64 tensor of shape (N,), "
                f"got {self.y.dtype} of shape {tuple(self.y.shape)}"
            )
        if self.indices.dtype != torch.int64 or self.indices.shape != self.y.shape:
            raise DatasetError("TensorSplit.indices must be an int64 tensor shaped like y")
        if self.x.shape[0] != self.y.shape[0]:
            raise DatasetError(
                f"TensorSplit has {self.x.shape[0]} images but {self.y.shape[0]} labels"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str, **kwargs: Any) -> TensorSplit:
        """Returns a copy on ``device`` (keyword arguments go to ``Tensor.to`` for ``x``).

        ``indices`` stay where they are: they are bookkeeping, not model input.
        """
        return TensorSplit(self.x.to(device, **kwargs), self.y.to(device), self.indices)


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset loaded into memory as train, validation and test splits.

    Attributes:
        name: the canonical dataset name (one of ``DATASET_NAMES``).
        train: the split the network weights are trained on.
        val: the split architectures are scored on during the search.
        test: held out; an official test set where the dataset has one.
        classes: class names; ``y == i`` means ``classes[i]``.
        mean: per-channel mean of the training images after scaling pixels to ``[0, 1]``
            (and after downsampling), which was subtracted from every split.
        std: per-channel standard deviation (population, ``ddof=0``), by which every split was divided.
        seed: the seed of the split and of any subsetting.
        source: where the data was read from (a directory, or a short description).
    """

    name: str
    train: TensorSplit
    val: TensorSplit
    test: TensorSplit
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    seed: int
    source: str

    @property
    def in_channels(self) -> int:
        """Number of image channels ``C`` (1 for grayscale, 3 for RGB)."""
        return int(self.train.x.shape[1])

    @property
    def image_size(self) -> int:
        """Side length of the square images (``H == W``)."""
        return int(self.train.x.shape[2])

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(classes)`` (a small subset may not contain them all)."""
        return len(self.classes)

    def to(self, device: torch.device | str, **kwargs: Any) -> DatasetSplits:
        """Returns a copy with all three splits on ``device``."""
        return DatasetSplits(
            name=self.name,
            train=self.train.to(device, **kwargs),
            val=self.val.to(device, **kwargs),
            test=self.test.to(device, **kwargs),
            classes=self.classes,
            mean=self.mean,
            std=self.std,
            seed=self.seed,
            source=self.source,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary, for run metadata and logs."""
        return describe_splits(self)


def describe_splits(splits: Any) -> dict[str, Any]:
    """A JSON-able summary of in-memory or streamed splits (they share these attributes)."""
    return {
        "name": splits.name,
        "source": splits.source,
        "seed": splits.seed,
        "in_channels": splits.in_channels,
        "image_size": splits.image_size,
        "num_classes": splits.num_classes,
        "classes": list(splits.classes),
        "sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
        "mean": list(splits.mean),
        "std": list(splits.std),
    }
