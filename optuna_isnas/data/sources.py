"""Where each dataset comes from: loaders that return raw uint8 images and labels.

Each loader returns a :class:`RawDataset`; ``load_dataset`` then splits, limits, converts and
normalises it the same way for every dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cifar
from ._types import DatasetError
from .idx import read_idx

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


@dataclass(frozen=True)
class RawDataset:
    """Images as uint8 ``(N, C, H, W)``, labels as int64 ``(N,)``.

    ``x``/``y`` are the whole dataset, or its official training set when ``x_test``/``y_test``
    hold an official test set. Pixel value ``max_value`` means full intensity.
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    max_value: int
    source: str
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def load_digits() -> RawDataset:
    """scikit-learn's 8x8 digits (1797 images, 10 classes, pixel values 0..16), offline."""
    from sklearn.datasets import load_digits as _load_digits

    bunch = _load_digits()
    return RawDataset(
        x=bunch.images.astype(np.uint8)[:, None],
        y=bunch.target.astype(np.int64),
        classes=tuple(str(t) for t in bunch.target_names),
        max_value=16,
        source="sklearn.datasets.load_digits",
    )


def _fashion_mnist_help() -> str:
    return (
        "Install Debian's package with `apt-get install -y dataset-fashion-mnist` (it puts the "
        f"four IDX files in {FASHION_MNIST_ROOT}), or pass root=DIR (--data-root DIR) for a "
        "directory holding "
        + ", ".join(f"{stem}.gz" for stem in FASHION_MNIST_FILES)
        + " (un-gzipped copies are accepted too)."
    )


def load_fashion_mnist(root: str | Path | None) -> RawDataset:
    """Fashion-MNIST from its four IDX files (60000 train + 10000 test, 28x28 grayscale).

    Looks in ``root`` (default ``/usr/share/datasets/fashion-mnist``) and in torchvision's layout
    under it, ``root/FashionMNIST/raw``. Each file may be gzipped (``.gz``) or not.
    """
    base = FASHION_MNIST_ROOT if root is None else Path(root)
    if not base.is_dir():
        raise DatasetError(
            f"Fashion-MNIST directory {base} does not exist. {_fashion_mnist_help()}"
        )
    dirs = (base, base / "FashionMNIST" / "raw")
    paths: dict[str, Path] = {}
    for stem in FASHION_MNIST_FILES:
        found = [d / name for d in dirs for name in (f"{stem}.gz", stem) if (d / name).is_file()]
        if found:
            paths[stem] = found[0]
    missing = [f"{stem}.gz" for stem in FASHION_MNIST_FILES if stem not in paths]
    if missing:
        raise DatasetError(
            f"Fashion-MNIST file{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"missing from {base}. {_fashion_mnist_help()}"
        )

    def images_and_labels(images_stem: str, labels_stem: str) -> tuple[np.ndarray, np.ndarray]:
        images_path, labels_path = paths[images_stem], paths[labels_stem]
        images = read_idx(images_path, ndim=3)
        labels = read_idx(labels_path, ndim=1)
        if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
            raise DatasetError(
                f"{images_path}: expected uint8 images of 28x28, got {images.dtype} "
                f"{images.shape[1:]}"
            )
        if labels.dtype != np.uint8 or (labels.size and labels.max() >= 10):
            raise DatasetError(f"{labels_path}: expected uint8 labels in 0..9")
        if len(images) != len(labels):
            raise DatasetError(
                f"{images_path} holds {len(images)} images but {labels_path} "
                f"holds {len(labels)} labels"
            )
        return images[:, None], labels.astype(np.int64)

    x, y = images_and_labels(*FASHION_MNIST_FILES[:2])
    x_test, y_test = images_and_labels(*FASHION_MNIST_FILES[2:])
    return RawDataset(
        x=x,
        y=y,
        classes=FASHION_MNIST_CLASSES,
        max_value=255,
        source=str(paths[FASHION_MNIST_FILES[0]].parent),
        x_test=x_test,
        y_test=y_test,
    )


def load_cifar10(root: str | Path | None, download: bool) -> RawDataset:
    """CIFAR-10 from an extracted ``cifar-10-batches-py`` (50000 train + 10000 test, 32x32 RGB).

    ``root`` (default ``~/.cache/optuna-isnas/cifar10``) is the directory that holds
    ``cifar-10-batches-py``, or that directory itself. With ``download=True`` a missing
    directory is downloaded there first.
    """
    base = cifar.default_root() if root is None else Path(root)
    missing = cifar.missing_files(base)
    if missing and download:
        cifar.download(base)
        missing = cifar.missing_files(base)
    if missing:
        from torchvision.datasets import CIFAR10

        raise DatasetError(
            f"CIFAR-10 file{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing from "
            f"{cifar.find_batches_dir(base)}. Download and extract {CIFAR10.url} (163 MB) and "
            f"point --data-root DIR (root=DIR) at the directory that holds {cifar.BASE_FOLDER} "
            f"(or at that directory itself); from Python, load_dataset('cifar10', "
            f"download=True) downloads it into {base}."
        )
    x, y, x_test, y_test, classes = cifar.read_cifar10(base)
    return RawDataset(
        x=x,
        y=y,
        classes=classes,
        max_value=255,
        source=str(cifar.find_batches_dir(base)),
        x_test=x_test,
        y_test=y_test,
    )


def scan_image_folder(root: str | Path | None) -> tuple[list[tuple[str, int]], tuple[str, ...]]:
    """The ``(path, class index)`` samples and class names of an ImageFolder directory, without
    reading any image."""
    if root is None:
        raise DatasetError(
            "imagefolder needs root=DIR (--data-root DIR): a directory with one subfolder per "
            "class holding that class's images, as for torchvision.datasets.ImageFolder"
        )
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"imagefolder root {base} is not a directory")

    from torchvision.datasets import ImageFolder

    try:
        folder = ImageFolder(str(base), loader=_not_loaded)
    except FileNotFoundError as e:
        raise DatasetError(
            f"imagefolder root {base} holds no usable images ({e}). Expected one subfolder per "
            f"class, each holding that class's images"
        ) from e
    if len(folder.classes) < 2:
        raise DatasetError(
            f"imagefolder root {base} has {len(folder.classes)} class folder "
            f"({', '.join(folder.classes)}); classification needs at least 2"
        )
    return list(folder.samples), tuple(folder.classes)


def _not_loaded(path: str) -> None:  # ImageFolder's loader; the scan never calls it
    raise AssertionError(path)


def decode_image(path: str, image_size: int, grayscale: bool) -> np.ndarray:
    """One image as uint8 ``(C, image_size, image_size)``.

    Converted to RGB (or 8-bit grayscale with ``grayscale=True``; an alpha channel is dropped),
    its shorter side resized to ``image_size`` (bilinear, antialiased), then center-cropped.
    """
    from PIL import Image
    from torchvision.transforms import functional as TF

    mode = "L" if grayscale else "RGB"
    try:
        with Image.open(path) as opened:
            opened.draft(mode, (image_size, image_size))  # JPEG: decode at a reduced scale
            image = opened.convert(mode)
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from e
    pixels = np.asarray(TF.center_crop(TF.resize(image, image_size), image_size), dtype=np.uint8)
    return pixels[None] if grayscale else pixels.transpose(2, 0, 1)


def load_image_folder(root: str | Path | None, image_size: int, grayscale: bool) -> RawDataset:
    """Any ``torchvision.datasets.ImageFolder`` directory: ``root/<class name>/<image>``, every
    image decoded (:func:`decode_image`)."""
    samples, classes = scan_image_folder(root)
    x = np.empty((len(samples), 1 if grayscale else 3, image_size, image_size), np.uint8)
    for i, (path, _) in enumerate(samples):
        x[i] = decode_image(path, image_size, grayscale)
    return RawDataset(
        x=x,
        y=np.asarray([target for _, target in samples], dtype=np.int64),
        classes=classes,
        max_value=255,
        source=str(Path(str(root))),
    )
