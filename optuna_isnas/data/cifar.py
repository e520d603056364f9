"""CIFAR-10 from its extracted python-pickle batches, with torchvision's downloader.

Why not ``torchvision.datasets.CIFAR10`` itself: it accepts a directory only when every batch
file has the md5 checksum of the official archive, which rules out re-packed copies and any
small stand-in directory (such as the one our tests write). So we use torchvision only to
*download* (``download_and_extract_archive`` with the URL and archive checksum that
torchvision's ``CIFAR10`` class declares, so the download is verified), and read the
extracted ``cifar-10-batches-py`` directory ourselves. Instead of checksums the reader checks
the structure of every file: keys, array type and shape, label range, class names.

The batches are Python pickles. Unpickling can run arbitrary code, so the reader uses a
restricted unpickler that only resolves the few globals a numpy array needs; a file asking for
anything else is refused with a :class:`DatasetError`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ._types import DatasetError

BASE_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
ALL_FILES = TRAIN_FILES + TEST_FILES + (META_FILE,)
_PIXELS = 3 * 32 * 32

# The array rebuilder numpy's pickles name: "numpy.core.multiarray" (numpy 1, and the Python 2
# pickles of the official archive) or "numpy._core.multiarray" (numpy 2). Either resolves to
# the function this numpy uses.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if (module, name) == ("_codecs", "encode"):  # bytes pickled by Python 3, protocol < 3
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            obj = _BatchUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as e:
        raise DatasetError(f"cannot read CIFAR-10 batch {path}: {type(e).__name__}: {e}") from e
    if not isinstance(obj, dict):
        raise DatasetError(f"CIFAR-10 batch {path} holds a {type(obj).__name__}, not a dict")
    # Keys are str when written by Python 2 and read with latin1, bytes if written as bytes.
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    entry = _unpickle(path)
    if "data" not in entry or "labels" not in entry:
        raise DatasetError(
            f"CIFAR-10 batch {path} lacks 'data' or 'labels' (keys: {sorted(entry)})"
        )
    data, labels = entry["data"], np.asarray(entry["labels"])
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == _PIXELS
    ):
        raise DatasetError(
            f"CIFAR-10 batch {path}: 'data' must be a uint8 array of shape (N, {_PIXELS}), got "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(
            f"CIFAR-10 batch {path}: {data.shape[0]} images but labels of shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(
            f"CIFAR-10 batch {path}: labels outside 0..{num_classes - 1} "
            f"(found {labels.min()}..{labels.max()})"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def find_batches_dir(root: Path) -> Path:
    """The ``cifar-10-batches-py`` directory: ``root/cifar-10-batches-py``, or ``root`` itself."""
    nested = root / BASE_FOLDER
    if nested.is_dir():
        return nested
    if root.name == BASE_FOLDER or any((root / name).exists() for name in ALL_FILES):
        return root
    return nested


def missing_files(root: Path) -> list[str]:
    folder = find_batches_dir(root)
    return [name for name in ALL_FILES if not (folder / name).is_file()]


def download(root: Path) -> None:
    """Downloads and extracts the official archive into ``root`` (md5-verified by torchvision)."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    root.mkdir(parents=True, exist_ok=True)
    try:
        download_and_extract_archive(
            CIFAR10.url, str(root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5
        )
    except Exception as e:  # network errors come in many types
        raise DatasetError(
            f"downloading CIFAR-10 from {CIFAR10.url} into {root} failed: "
            f"{type(e).__name__}: {e}. Without internet access, download "
            f"cifar-10-python.tar.gz elsewhere, extract it, and pass root=DIR (--data-root DIR) "
            f"for the directory that holds {BASE_FOLDER}"
        ) from e


def read_cifar10(
    root: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Reads an extracted CIFAR-10 python version.

    Returns:
        ``(x_train, y_train, x_test, y_test, classes)`` with uint8 images ``(N, 3, 32, 32)``.
    """
    folder = find_batches_dir(root)
    meta = _unpickle(folder / META_FILE)
    names = meta.get("label_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DatasetError(
            f"CIFAR-10 metadata {folder / META_FILE} lacks a list of class names 'label_names'"
        )
    train = [_read_batch(folder / f, len(names)) for f in TRAIN_FILES]
    test = [_read_batch(folder / f, len(names)) for f in TEST_FILES]
    return (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        np.concatenate([x for x, _ in test]),
        np.concatenate([y for _, y in test]),
        tuple(names),
    )


def default_root() -> Path:
    """``$XDG_CACHE_HOME/optuna-isnas/cifar10`` (``~/.cache/optuna-isnas/cifar10`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "optuna-isnas" / "cifar10"
