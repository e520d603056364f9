"""How a dataset becomes train/val/test splits, shared by the in-memory and the streaming loaders.

:func:`plan_dataset` checks the options, finds the images (arrays in memory, or the files of an
image folder, not yet decoded), computes the seeded stratified split from the labels alone and
knows how a uint8 image becomes a normalised float tensor. :func:`optuna_isnas.data.load_dataset`
materialises the splits as tensors; :mod:`optuna_isnas.data.streaming` reads them one example at a
time. Both take the same positions, the same normalisation constants and the same arithmetic, so
either path gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from . import sources
from ._types import DatasetError, DatasetSplits, TensorSplit
from .splits import split_positions

DATASET_NAMES: tuple[str, ...] = ("digits", "fashion-mnist", "cifar10", "imagefolder")
_NATIVE_SIZE = {"digits": 8, "fashion-mnist": 28, "cifar10": 32}
_OFFICIAL_TEST = frozenset({"fashion-mnist", "cifar10"})
DEFAULT_IMAGE_SIZE = 32  # imagefolder
DEFAULT_FRACTION = 0.2
STATS_SAMPLES = 4096
"""An image folder's normalisation constants are computed on a seeded sample of at most this
many training images (all of them when there are fewer), so that a folder too large for memory
needs no pass over every image before training starts."""
_STATS_CHUNK = 256  # images per float32 chunk while computing the constants


class ImageSource(Protocol):
    """Images by position: uint8 arrays ``(n, C, H, W)``."""

    def __len__(self) -> int: ...

    def read(self, positions: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ArrayImages:
    """Images held in memory as one uint8 array ``(N, C, H, W)``."""

    x: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def read(self, positions: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.x[positions])


@dataclass(frozen=True)
class FolderImages:
    """Image files, decoded when read (:func:`~optuna_isnas.data.sources.decode_image`)."""

    paths: tuple[str, ...]
    image_size: int
    grayscale: bool

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, positions: np.ndarray) -> np.ndarray:
        channels = 1 if self.grayscale else 3
        out = np.empty((len(positions), channels, self.image_size, self.image_size), np.uint8)
        for i, position in enumerate(positions):
            out[i] = sources.decode_image(
                self.paths[int(position)], self.image_size, self.grayscale
            )
        return out


@dataclass(frozen=True)
class DatasetLayout:
    """A dataset's images, labels and split positions, before any image is converted.

    Attributes:
        name: Canonical dataset name.
        images: The whole dataset, or its official training set.
        labels: Their int64 labels.
        test_images: The official test set, or ``images`` again.
        test_labels: Its labels.
        positions: ``"train"``, ``"val"``, ``"test"`` -> sorted positions into their set.
        classes: Class names.
        max_value: The pixel value of full intensity.
        pool: Average-pooling factor (1: none).
        source: Where the data was read from.
        seed: Seed of the split.
    """

    name: str
    images: ImageSource
    labels: np.ndarray
    test_images: ImageSource
    test_labels: np.ndarray
    positions: dict[str, np.ndarray]
    classes: tuple[str, ...]
    max_value: int
    pool: int
    source: str
    seed: int

    def split_source(self, split: str) -> tuple[ImageSource, np.ndarray]:
        """The images and labels a split's positions refer to."""
        if split == "test":
            return self.test_images, self.test_labels
        return self.images, self.labels

    def to_float(self, x: np.ndarray) -> torch.Tensor:
        """uint8 images -> float32 on the [0, 1] scale, average-pooled (not yet normalised)."""
        t = torch.from_numpy(x).to(torch.float32)
        t.div_(self.max_value)
        return F.avg_pool2d(t, self.pool) if self.pool > 1 else t

    def stats_positions(self) -> np.ndarray:
        """The training positions an image folder's normalisation constants are computed on."""
        train = self.positions["train"]
        if len(train) <= STATS_SAMPLES:
            return train
        rng = np.random.default_rng([self.seed, 1])
        return np.sort(rng.choice(train, STATS_SAMPLES, replace=False))

    def normalisation(
        self, train: torch.Tensor | None = None, stats_images: Iterable[np.ndarray] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of the training split, on the [0, 1] scale.

        Arrays: exact, over every training image (``train``: the float training split, if the
        caller has it). Image folders: over the images at :meth:`stats_positions`, read from
        ``stats_images`` (uint8 chunks in that order) or taken from ``train``.
        """
        if not isinstance(self.images, FolderImages):
            if train is None:
                train = self.to_float(self.images.read(self.positions["train"]))
            return channel_mean_std(train)
        if stats_images is None:
            if train is not None:
                rows = np.searchsorted(self.positions["train"], self.stats_positions())
                floats: Iterable[torch.Tensor] = (
                    train[rows[i : i + _STATS_CHUNK]] for i in range(0, len(rows), _STATS_CHUNK)
                )
            else:
                floats = (self.to_float(self.images.read(c)) for c in self.stats_chunks())
        else:
            floats = map(self.to_float, stats_images)
        return moments_mean_std(floats)

    def stats_chunks(self) -> list[np.ndarray]:
        """:meth:`stats_positions` in the chunks the constants are accumulated over."""
        positions = self.stats_positions()
        return [positions[i : i + _STATS_CHUNK] for i in range(0, len(positions), _STATS_CHUNK)]

    def in_memory(self) -> DatasetSplits:
        """Every split read, converted and normalised into tensors."""
        xs = {}
        for split, positions in self.positions.items():
            images, _ = self.split_source(split)
            xs[split] = self.to_float(images.read(positions))
        mean, std = self.normalisation(train=xs["train"])
        parts = {}
        for split, positions in self.positions.items():
            _, labels = self.split_source(split)
            parts[split] = TensorSplit(
                x=xs[split].sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1)),
                y=torch.from_numpy(labels[positions].astype(np.int64)),
                indices=torch.from_numpy(positions),
            )
        return DatasetSplits(
            name=self.name,
            train=parts["train"],
            val=parts["val"],
            test=parts["test"],
            classes=self.classes,
            mean=tuple(float(m) for m in mean),
            std=tuple(float(s) for s in std),
            seed=self.seed,
            source=self.source,
        )

    def float_bytes(self, splits: Iterable[str] = ("train", "val", "test")) -> int:
        """Memory of ``splits`` as float32 tensors."""
        if isinstance(self.images, FolderImages):
            channels, side = (1 if self.images.grayscale else 3), self.images.image_size
        else:
            shape = self.images.read(np.zeros(1, np.int64)).shape
            channels, side = shape[1], shape[2]
        n = sum(len(self.positions[s]) for s in splits)
        return 4 * n * channels * side * side // (self.pool * self.pool)

    def estimated_bytes(self) -> int:
        """Memory the in-memory path needs: the float32 splits, plus the decoded uint8 images of
        an image folder (arrays are in memory on either path)."""
        floats = self.float_bytes()
        return floats + (floats * self.pool**2 // 4 if isinstance(self.images, FolderImages) else 0)


@dataclass(frozen=True)
class DatasetSpec:
    """Which dataset, and how it is split and cut: everything that decides its examples.

    The fields are :func:`optuna_isnas.data.load_dataset`'s arguments (documented there);
    :func:`plan_dataset` checks them.
    """

    name: str
    root: str | Path | None = None
    seed: int = 0
    downsample: int | None = None
    download: bool = False
    image_size: int | None = None
    grayscale: bool = False
    val_fraction: float = DEFAULT_FRACTION
    test_fraction: float | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None


def plan_dataset(spec: DatasetSpec) -> DatasetLayout:
    """Check ``spec`` and lay the dataset out.

    Arrays are read into memory; an image folder is only scanned (its images are decoded when
    read). The split uses only the labels, so it is the same whichever way the images are read.
    """
    key = canonical_name(spec.name)
    seed = _check_seed(spec.seed)
    _check_applicable(
        key, spec.root, spec.download, spec.image_size, spec.grayscale, spec.test_fraction
    )
    image_size = DEFAULT_IMAGE_SIZE if spec.image_size is None else spec.image_size
    if key == "imagefolder":
        _check_positive_int("image_size", image_size)
        native = image_size
    else:
        native = _NATIVE_SIZE[key]
    pool = _pool_factor(key, spec.downsample, native)
    test_fraction = DEFAULT_FRACTION if spec.test_fraction is None else spec.test_fraction
    _check_fractions(key, spec.val_fraction, test_fraction)
    for option, value in (
        ("max_train_samples", spec.max_train_samples),
        ("max_eval_samples", spec.max_eval_samples),
    ):
        if value is not None:
            _check_positive_int(option, value)

    images: ImageSource
    test_images: ImageSource | None = None
    y_test: np.ndarray | None = None
    if key == "imagefolder":
        samples, classes = sources.scan_image_folder(spec.root)
        images = FolderImages(tuple(path for path, _ in samples), image_size, spec.grayscale)
        y = np.asarray([target for _, target in samples], dtype=np.int64)
        max_value, where = 255, str(Path(str(spec.root)))
    else:
        if key == "digits":
            raw = sources.load_digits()
        elif key == "fashion-mnist":
            raw = sources.load_fashion_mnist(spec.root)
        else:
            raw = sources.load_cifar10(spec.root, spec.download)
        images, y, classes, max_value, where = (
            ArrayImages(raw.x),
            raw.y,
            raw.classes,
            raw.max_value,
            raw.source,
        )
        if raw.x_test is not None and raw.y_test is not None:
            test_images, y_test = ArrayImages(raw.x_test), raw.y_test

    positions = split_positions(
        y,
        y_test,
        seed,
        spec.val_fraction,
        test_fraction,
        spec.max_train_samples,
        spec.max_eval_samples,
    )
    sizes = {split: len(p) for split, p in positions.items()}
    if min(sizes.values()) == 0:
        raise DatasetError(
            f"{key}: {len(y)} samples are too few for a train/val/test split "
            f"(split sizes {sizes}); add data or change val_fraction/test_fraction"
        )
    return DatasetLayout(
        name=key,
        images=images,
        labels=y,
        test_images=images if test_images is None else test_images,
        test_labels=y if y_test is None else y_test,
        positions=positions,
        classes=classes,
        max_value=max_value,
        pool=pool,
        source=where,
        seed=seed,
    )


def channel_mean_std(x: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and population std (``ddof=0``), in two passes.

    Each image's sum over its pixels is taken in float32 (short, accurate sums) and the sums
    over images in float64; the second pass sums squared deviations from the mean a chunk at a
    time, so no float64 copy of the images is ever made.
    """
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.sum(dim=(2, 3)).to(torch.float64).sum(dim=0) / n
    centre = mean.to(x.dtype).view(1, -1, 1, 1)
    squares = torch.zeros_like(mean)
    for part in x.split(chunk):
        squares += (part - centre).square_().sum(dim=(2, 3)).to(torch.float64).sum(dim=0)
    return _finish(mean, (squares / n).sqrt())


def moments_mean_std(chunks: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and population std from float32 chunks ``(n, C, H, W)``, in one pass.

    Per-image sums of values and of squares in float32, accumulated in float64.
    """
    total = squares = None
    count = 0
    for x in chunks:
        s = x.sum(dim=(2, 3)).to(torch.float64).sum(dim=0)
        q = x.square().sum(dim=(2, 3)).to(torch.float64).sum(dim=0)
        total, squares = (s, q) if total is None or squares is None else (total + s, squares + q)
        count += x.shape[0] * x.shape[2] * x.shape[3]
    if total is None or squares is None:
        raise DatasetError("no training images to compute the normalisation constants on")
    mean = total / count
    return _finish(mean, (squares / count - mean.square()).clamp_min(0).sqrt())


def _finish(mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # a constant channel stays centred
    return mean.to(torch.float32), std.to(torch.float32)


def canonical_name(name: object) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; valid names are: {', '.join(DATASET_NAMES)}")
    return key


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _check_positive_int(option: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DatasetError(f"{option} must be a positive int, got {value!r}")


def _check_applicable(
    key: str,
    root: object,
    download: bool,
    image_size: int | None,
    grayscale: bool,
    test_fraction: float | None,
) -> None:
    if key == "digits" and root is not None:
        raise DatasetError(
            "digits ships with scikit-learn and is read offline; it takes no root "
            f"(got root={root!r})"
        )
    if download and key != "cifar10":
        hint = (
            " Install it with `apt-get install -y dataset-fashion-mnist` or pass root=DIR."
            if key == "fashion-mnist"
            else ""
        )
        raise DatasetError(f"download applies only to cifar10, not {key}.{hint}")
    if key != "imagefolder" and (image_size is not None or grayscale):
        raise DatasetError(
            f"image_size and grayscale apply only to imagefolder; {key} images are "
            f"{_NATIVE_SIZE[key]}x{_NATIVE_SIZE[key]} (use downsample to make them smaller)"
        )
    if key in _OFFICIAL_TEST and test_fraction is not None:
        raise DatasetError(
            f"{key} has an official test set, which is always the test split; "
            f"test_fraction does not apply (val_fraction splits its training set)"
        )


def _check_fractions(key: str, val_fraction: float, test_fraction: float) -> None:
    for option, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise DatasetError(f"{option} must be a number strictly between 0 and 1, got {value!r}")
    if key not in _OFFICIAL_TEST and val_fraction + test_fraction >= 1:
        raise DatasetError(
            f"val_fraction + test_fraction must be below 1 to leave training data, got "
            f"{val_fraction} + {test_fraction}"
        )


def _pool_factor(key: str, downsample: object, native: int) -> int:
    if downsample is None:
        return 1
    valid = [s for s in range(1, native + 1) if native % s == 0]
    if (
        isinstance(downsample, bool)
        or not isinstance(downsample, (int, np.integer))
        or downsample not in valid
    ):
        raise DatasetError(
            f"downsample={downsample!r} is not possible for {key}: it is the target side length "
            f"and must divide the native {native}x{native}; valid values: "
            f"{', '.join(map(str, valid))}"
        )
    return native // int(downsample)
