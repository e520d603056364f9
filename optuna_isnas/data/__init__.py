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

from . import sources  # noqa: F401  (public: optuna_isnas.data.sources)
from ._types import DatasetError, DatasetSplits, TensorSplit
from .idx import read_idx
from .layout import DATASET_NAMES, DEFAULT_FRACTION, DatasetSpec, plan_dataset

__all__ = [
    "DATASET_NAMES",
    "DatasetError",
    "DatasetSpec",
    "DatasetSplits",
    "TensorSplit",
    "load_dataset",
    "read_idx",
]


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
    spec = DatasetSpec(
        name,
        root,
        seed,
        downsample,
        download=download,
        image_size=image_size,
        grayscale=grayscale,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        max_train_samples=max_train_samples,
        max_eval_samples=max_eval_samples,
    )
    return plan_dataset(spec).in_memory()
