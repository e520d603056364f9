"""Image classification datasets, loaded into memory as normalised tensors.

    >>> from optuna_isnas.data import load_dataset
    >>> splits = load_dataset("digits", seed=0)
    >>> splits.train.x.shape, splits.num_classes
    (torch.Size([1079, 1, 8, 8]), 10)

Every dataset goes through the same steps (see ``docs/datasets.md``):

1. read raw uint8 images ``(N, C, H, W)`` and labels (``sources``);
2. split, seeded and stratified: an official test set stays the test set and the official
   training set is split into train/val; otherwise the whole set is split into train/val/test
   (``val_fraction`` and ``test_fraction`` of all samples, 0.2 each by default);
3. optionally limit each split to a seeded stratified subset (``max_train_samples``,
   ``max_eval_samples``);
4. scale pixels to ``[0, 1]``, optionally average-pool down (``downsample``), and normalise
   every split with the training split's per-channel mean and standard deviation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import sources
from ._types import DatasetError, DatasetSplits, TensorSplit
from .idx import read_idx
from .splits import fraction_count, limit, stratified_take

__all__ = [
    "DATASET_NAMES",
    "DatasetError",
    "DatasetSplits",
    "TensorSplit",
    "load_dataset",
    "read_idx",
]

DATASET_NAMES: tuple[str, ...] = ("digits", "fashion-mnist", "cifar10", "imagefolder")
_NATIVE_SIZE = {"digits": 8, "fashion-mnist": 28, "cifar10": 32}
_OFFICIAL_TEST = frozenset({"fashion-mnist", "cifar10"})
DEFAULT_IMAGE_SIZE = 32  # imagefolder
DEFAULT_FRACTION = 0.2


def load_dataset(
    name: str,
    root: str | Path | None = None,
    seed: int = 0,
    downsample: int | None = None,
    *,
    download: bool = False,
    image_size: int | None = None,
    grayscale: bool = False,
    val_fraction: float = DEFAULT_FRACTION,
    test_fraction: float | None = None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
) -> DatasetSplits:
    """Loads a dataset into memory as seeded, stratified, normalised train/val/test tensors.

    Args:
        name: one of ``DATASET_NAMES`` (case and ``_``/``-`` are forgiven: ``"fashion_mnist"``).
        root: where to read the data. ``digits``: must be None (it ships with scikit-learn).
            ``fashion-mnist``: the directory of the four IDX files, default
            ``/usr/share/datasets/fashion-mnist``. ``cifar10``: the directory holding
            ``cifar-10-batches-py`` (or that directory), default ``~/.cache/optuna-isnas/cifar10``.
            ``imagefolder``: required, one subfolder per class.
        seed: seeds the split and any subsetting: the same seed gives the same split.
        downsample: target side length, or None to keep the native one. It must divide the
            native side (digits 8, fashion-mnist 28, cifar10 32, imagefolder ``image_size``);
            images are average-pooled over ``native // downsample`` squared blocks, e.g.
            fashion-mnist ``downsample=14`` pools 2x2 blocks.
        download: cifar10 only: download the official archive into ``root`` if it is missing.
        image_size: imagefolder only: side of the square images after resize and center crop
            (default 32).
        grayscale: imagefolder only: load 1-channel grayscale instead of 3-channel RGB.
        val_fraction: share of samples for validation: of the official training set where
            there is an official test set, else of the whole dataset.
        test_fraction: digits and imagefolder only: share of the whole dataset held out for
            test (default 0.2). Datasets with an official test set keep it.
        max_train_samples: if given, keep a seeded stratified subset of at most this many
            training samples (for quick runs and tests).
        max_eval_samples: if given, the same for the validation and for the test split, each.

    Returns:
        The three splits as in-memory tensors, with the class names and normalisation constants.

    Raises:
        DatasetError: unknown name, an option that does not apply or is out of range, missing
            or corrupt files, too few samples for the split. The message says how to fix it.
    """
    key = _canonical_name(name)
    seed = _check_seed(seed)
    _check_applicable(key, root, download, image_size, grayscale, test_fraction)
    if key == "imagefolder":
        image_size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
        _check_positive_int("image_size", image_size)
        native = image_size
    else:
        native = _NATIVE_SIZE[key]
    pool = _pool_factor(key, downsample, native)
    test_fraction = DEFAULT_FRACTION if test_fraction is None else test_fraction
    _check_fractions(key, val_fraction, test_fraction)
    for option, value in (
        ("max_train_samples", max_train_samples),
        ("max_eval_samples", max_eval_samples),
    ):
        if value is not None:
            _check_positive_int(option, value)

    if key == "digits":
        raw = sources.load_digits()
    elif key == "fashion-mnist":
        raw = sources.load_fashion_mnist(root)
    elif key == "cifar10":
        raw = sources.load_cifar10(root, download)
    else:
        assert image_size is not None  # set above for imagefolder
        raw = sources.load_image_folder(root, image_size, grayscale)

    rng = np.random.default_rng(seed)
    everything = np.arange(len(raw.y))
    if raw.x_test is None or raw.y_test is None:
        x_test, y_test = raw.x, raw.y
        test_idx, rest = stratified_take(
            raw.y, everything, fraction_count(test_fraction, len(everything)), rng
        )
    else:
        x_test, y_test = raw.x_test, raw.y_test
        test_idx, rest = np.arange(len(y_test)), everything
    val_idx, train_idx = stratified_take(
        raw.y, rest, fraction_count(val_fraction, len(everything)), rng
    )
    train_idx = limit(raw.y, train_idx, max_train_samples, rng)
    val_idx = limit(raw.y, val_idx, max_eval_samples, rng)
    test_idx = limit(y_test, test_idx, max_eval_samples, rng)
    sizes = {"train": len(train_idx), "val": len(val_idx), "test": len(test_idx)}
    if min(sizes.values()) == 0:
        raise DatasetError(
            f"{key}: {len(raw.y)} samples are too few for a train/val/test split "
            f"(split sizes {sizes}); add data or change val_fraction/test_fraction"
        )

    def images(x: np.ndarray, idx: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x[idx])).to(torch.float32)
        t.div_(raw.max_value)
        return F.avg_pool2d(t, pool) if pool > 1 else t

    selection = {
        "train": (raw.x, raw.y, train_idx),
        "val": (raw.x, raw.y, val_idx),
        "test": (x_test, y_test, test_idx),
    }
    xs = {split: images(x, idx) for split, (x, _, idx) in selection.items()}
    mean, std = _channel_mean_std(xs["train"])
    parts = {
        split: TensorSplit(
            x=xs[split].sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1)),
            y=torch.from_numpy(y[idx].astype(np.int64)),
            indices=torch.from_numpy(idx),
        )
        for split, (_, y, idx) in selection.items()
    }
    return DatasetSplits(
        name=key,
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        classes=raw.classes,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        seed=seed,
        source=raw.source,
    )


def _canonical_name(name: object) -> str:
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


def _channel_mean_std(x: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
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
    std = (squares / n).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # a constant channel stays centred
    return mean.to(torch.float32), std.to(torch.float32)
