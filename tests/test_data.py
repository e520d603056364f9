"""Tests for optuna_isnas.data: every loader on small data written here, plus real digits."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from optuna_isnas.data import (
    DATASET_NAMES,
    DatasetError,
    DatasetSplits,
    TensorSplit,
    cifar,
    load_dataset,
    read_idx,
    sources,
)
from optuna_isnas.data.splits import stratified_take

REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------- helpers that write data


def write_idx(path: Path, array: np.ndarray, *, compress: bool = True) -> Path:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def make_fashion_mnist(
    directory: Path, n_train: int = 60, n_test: int = 20, *, compress: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for stem, array in arrays.items():
        write_idx(directory / stem, array, compress=compress)
    return arrays


CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def make_cifar(root: Path, per_batch: int = 20, n_test: int = 30) -> Path:
    """A tiny cifar-10-batches-py in the real format (dicts pickled with protocol 2)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(label: str, n: int, offset: int) -> dict:
        return {
            "batch_label": label,
            "labels": [int(i % 10) for i in range(offset, offset + n)],
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"img_{offset + i}.png" for i in range(n)],
        }

    for i in range(1, 6):
        b = batch(f"training batch {i} of 5", per_batch, (i - 1) * per_batch)
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(b, protocol=2))
    (folder / "test_batch").write_bytes(
        pickle.dumps(batch("testing batch 1 of 1", n_test, 0), protocol=2)
    )
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR_CLASSES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def make_image_folder(root: Path, classes=("cat", "dog", "eel"), per_class: int = 10) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    sizes = [(40, 30), (20, 50), (32, 32), (17, 23)]
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            w, h = sizes[i % len(sizes)]
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            pixels[..., 0] = 60 * c  # a class-dependent red channel
            image = Image.fromarray(pixels)
            if i % 3 == 1:
                image = image.convert("L")  # mixed modes in one folder
            elif i % 3 == 2:
                image = image.convert("RGBA")
            image.save(root / name / f"{i}.png")
    return root


def check_splits(splits: DatasetSplits, channels: int, size: int) -> None:
    for part in (splits.train, splits.val, splits.test):
        assert isinstance(part, TensorSplit)
        assert part.x.dtype == torch.float32 and part.y.dtype == torch.int64
        assert part.x.shape == (len(part), channels, size, size)
        assert part.y.shape == (len(part),) and part.indices.shape == (len(part),)
        assert torch.isfinite(part.x).all()
        assert int(part.y.min()) >= 0 and int(part.y.max()) < splits.num_classes
    assert splits.in_channels == channels and splits.image_size == size
    assert splits.num_classes == len(splits.classes)
    # Training images are normalised per channel.
    std, mean = torch.std_mean(splits.train.x, dim=(0, 2, 3), correction=0)
    assert torch.allclose(mean, torch.zeros(channels), atol=1e-4)
    assert torch.allclose(std, torch.ones(channels), atol=1e-3)


def assert_stratified(
    splits: DatasetSplits, total_per_class: np.ndarray, parts=("train", "val", "test")
) -> None:
    """Each split holds every class within one sample of its proportional share."""
    share = total_per_class / total_per_class.sum()
    for name in parts:
        y = getattr(splits, name).y.numpy()
        counts = np.bincount(y, minlength=len(share))
        assert np.all(np.abs(counts - share * len(y)) <= 1 + 1e-9), (name, counts)


# ---------------------------------------------------------------- names and options


def test_dataset_names():
    assert DATASET_NAMES == ("digits", "fashion-mnist", "cifar10", "imagefolder")


def test_unknown_name_lists_valid_ones():
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "'mnist'" in message
    for name in DATASET_NAMES:
        assert name in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"root": "/tmp"}, "takes no root"),
        ({"download": True}, "download applies only to cifar10"),
        ({"image_size": 16}, "apply only to imagefolder"),
        ({"grayscale": True}, "apply only to imagefolder"),
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"seed": 1.5}, "seed must be a non-negative int"),
        ({"val_fraction": 0.0}, "val_fraction must be a number strictly between 0 and 1"),
        ({"test_fraction": 1.0}, "test_fraction must be a number strictly between 0 and 1"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must be below 1"),
        ({"max_train_samples": 0}, "max_train_samples must be a positive int"),
        ({"max_eval_samples": 2.5}, "max_eval_samples must be a positive int"),
    ],
)
def test_bad_options_are_rejected(kwargs, fragment):
    with pytest.raises(DatasetError, match=fragment):
        load_dataset("digits", **kwargs)


@pytest.mark.parametrize("bad", [3, 0, 16, -2, 2.0, "4", True])
def test_bad_downsample_lists_valid_values(bad):
    with pytest.raises(DatasetError) as info:
        load_dataset("digits", downsample=bad)
    message = str(info.value)
    assert f"downsample={bad!r}" in message
    assert "valid values: 1, 2, 4, 8" in message


def test_fashion_mnist_rejects_test_fraction_and_download(tmp_path):
    with pytest.raises(DatasetError, match="official test set"):
        load_dataset("fashion-mnist", root=tmp_path, test_fraction=0.1)
    with pytest.raises(DatasetError, match="apt-get install -y dataset-fashion-mnist"):
        load_dataset("fashion-mnist", root=tmp_path, download=True)


# ---------------------------------------------------------------- digits (real data)


def test_digits_shapes_sizes_and_normalisation():
    splits = load_dataset("digits")
    check_splits(splits, channels=1, size=8)
    assert splits.name == "digits"
    assert splits.classes == tuple(str(i) for i in range(10))
    # 60/20/20 of 1797: test round(359.4), val round(359.4), the rest train.
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1079, 359, 359)
    everything = np.concatenate([splits.train.indices, splits.val.indices, splits.test.indices])
    assert np.array_equal(np.sort(everything), np.arange(1797))  # a partition
    from sklearn.datasets import load_digits

    target = load_digits().target
    assert_stratified(splits, np.bincount(target))
    assert np.array_equal(splits.val.y.numpy(), target[splits.val.indices.numpy()])
    # Validation and test are normalised with the training statistics, so they are close to it.
    assert abs(float(splits.val.x.mean())) < 0.1
    assert splits.describe()["sizes"] == {"train": 1079, "val": 359, "test": 359}


def test_digits_split_is_seeded():
    a = load_dataset("digits", seed=3)
    b = load_dataset("digits", seed=3)
    c = load_dataset("digits", seed=4)
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(a, name).x, getattr(b, name).x)
        assert torch.equal(getattr(a, name).indices, getattr(b, name).indices)
    assert not torch.equal(a.val.indices, c.val.indices)
    assert not torch.equal(a.test.indices, c.test.indices)
    assert a.seed == 3 and c.seed == 4


def test_digits_limits_are_seeded_stratified_subsets():
    splits = load_dataset("digits", seed=1, max_train_samples=200, max_eval_samples=50)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (200, 50, 50)
    check_splits(splits, channels=1, size=8)  # statistics come from the 200 kept
    full = load_dataset("digits", seed=1)
    assert set(splits.train.indices.tolist()) <= set(full.train.indices.tolist())
    assert set(splits.test.indices.tolist()) <= set(full.test.indices.tolist())
    assert_stratified(splits, np.bincount(full.train.y.numpy()), parts=("train",))
    again = load_dataset("digits", seed=1, max_train_samples=200, max_eval_samples=50)
    assert torch.equal(splits.train.indices, again.train.indices)
    # A limit above the split size keeps everything.
    big = load_dataset("digits", seed=1, max_train_samples=10**6)
    assert len(big.train) == len(full.train)


def test_digits_downsample_average_pools():
    splits = load_dataset("digits", downsample=4)
    check_splits(splits, channels=1, size=4)
    native = load_dataset("digits", downsample=8)  # the native size: a no-op
    assert native.image_size == 8
    # Undo the normalisation and compare with pooling the native images by hand.
    raw_native = native.train.x * native.std[0] + native.mean[0]
    raw_small = splits.train.x * splits.std[0] + splits.mean[0]
    pooled = raw_native.reshape(-1, 1, 4, 2, 4, 2).mean(dim=(3, 5))
    assert torch.allclose(raw_small, pooled, atol=1e-5)


def test_fractions_change_split_sizes():
    splits = load_dataset("digits", val_fraction=0.1, test_fraction=0.3)
    assert (len(splits.val), len(splits.test)) == (180, 539)


def test_to_device_and_describe():
    splits = load_dataset("digits", max_train_samples=30, max_eval_samples=10)
    moved = splits.to("cpu")
    assert torch.equal(moved.train.x, splits.train.x) and moved.classes == splits.classes
    info = splits.describe()
    assert info["in_channels"] == 1 and info["image_size"] == 8 and info["num_classes"] == 10
    assert len(info["mean"]) == 1 and info["source"] == "sklearn.datasets.load_digits"


def test_tensor_split_validates():
    with pytest.raises(DatasetError, match="float32"):
        TensorSplit(
            torch.zeros(2, 1, 4, 4, dtype=torch.float64),
            torch.zeros(2, dtype=torch.int64),
            torch.arange(2),
        )
    with pytest.raises(DatasetError, match="int64"):
        TensorSplit(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int32), torch.arange(2))
    with pytest.raises(DatasetError, match="3 images but 2 labels"):
        TensorSplit(torch.zeros(3, 1, 4, 4), torch.zeros(2, dtype=torch.int64), torch.arange(2))


def test_stratified_take_exact_total_and_shares():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    rng = np.random.default_rng(0)
    taken, rest = stratified_take(labels, np.arange(100), 33, rng)
    assert len(taken) == 33 and len(rest) == 67
    assert np.array_equal(np.sort(np.concatenate([taken, rest])), np.arange(100))
    counts = np.bincount(labels[taken], minlength=3)
    assert np.all(np.abs(counts - np.array([16.5, 9.9, 6.6])) <= 1)
    taken, rest = stratified_take(labels, np.arange(10), 0, rng)
    assert len(taken) == 0 and np.array_equal(rest, np.arange(10))
    taken, rest = stratified_take(labels, np.empty(0, dtype=np.int64), 0, rng)
    assert len(taken) == len(rest) == 0
    with pytest.raises(ValueError, match="cannot take 11 of 10"):
        stratified_take(labels, np.arange(10), 11, rng)


# ---------------------------------------------------------------- IDX files and fashion-mnist


def test_read_idx_roundtrip_plain_and_gzip(tmp_path):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    for compress in (True, False):
        path = write_idx(tmp_path / f"a{compress}", array, compress=compress)
        out = read_idx(path, ndim=3)
        assert out.dtype == np.int32 and np.array_equal(out, array)


def test_read_idx_errors_name_the_file(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((4, 5), np.uint8), compress=False)
    raw = good.read_bytes()
    cases = {
        "magic": (b"\x08\x03" + raw[2:], "bad magic number"),
        "typecode": (raw[:2] + b"\x07" + raw[3:], "bad magic number"),
        "truncated": (raw[:-3], "truncated"),
        "header": (raw[:9], "truncated inside its header"),
        "tiny": (raw[:2], "truncated"),
        "trailing": (raw + b"\x00\x00", "2 bytes after the data"),
        "gzip": (gzip.compress(raw)[:-10], "corrupt gzip"),
    }
    for name, (payload, fragment) in cases.items():
        path = tmp_path / f"bad-{name}"
        path.write_bytes(payload)
        with pytest.raises(DatasetError) as info:
            read_idx(path)
        assert fragment in str(info.value), name
        assert str(path) in str(info.value), name
    with pytest.raises(DatasetError, match="has 2 dimensions, expected 3"):
        read_idx(good, ndim=3)
    with pytest.raises(DatasetError, match="cannot read IDX file"):
        read_idx(tmp_path / "absent")


def test_fashion_mnist_from_idx_files(tmp_path):
    arrays = make_fashion_mnist(tmp_path, n_train=60, n_test=20)
    splits = load_dataset("fashion-mnist", root=tmp_path, seed=0)
    check_splits(splits, channels=1, size=28)
    assert splits.name == "fashion-mnist" and splits.classes[0] == "T-shirt/top"
    assert splits.num_classes == 10 and splits.source == str(tmp_path)
    # The official test set is the test split, in file order; val is 20% of the training set.
    assert len(splits.test) == 20 and len(splits.val) == 12 and len(splits.train) == 48
    assert torch.equal(splits.test.indices, torch.arange(20))
    assert np.array_equal(splits.test.y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert_stratified(splits, np.full(10, 6), parts=("train", "val"))
    # The pixels are the ones in the files, normalised with the training statistics.
    raw = splits.test.x * splits.std[0] + splits.mean[0]
    expected = torch.from_numpy(arrays["t10k-images-idx3-ubyte"]).float()[:, None] / 255
    assert torch.allclose(raw, expected, atol=1e-5)
    # The seed changes train/val but never the official test set.
    other = load_dataset("fashion-mnist", root=tmp_path, seed=1)
    assert not torch.equal(other.val.indices, splits.val.indices)
    assert torch.equal(other.test.indices, splits.test.indices)


def test_fashion_mnist_uncompressed_torchvision_layout_and_downsample(tmp_path):
    make_fashion_mnist(tmp_path / "FashionMNIST" / "raw", compress=False)
    splits = load_dataset("fashion-mnist", root=tmp_path, downsample=14, max_eval_samples=10)
    check_splits(splits, channels=1, size=14)
    assert len(splits.test) == 10
    with pytest.raises(DatasetError, match="valid values: 1, 2, 4, 7, 14, 28"):
        load_dataset("fashion-mnist", root=tmp_path, downsample=10)


def test_fashion_mnist_missing_file_says_which_and_how(tmp_path):
    make_fashion_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", root=tmp_path)
    message = str(info.value)
    assert "file t10k-labels-idx1-ubyte.gz missing from" in message
    assert str(tmp_path) in message
    assert "train-images-idx3-ubyte.gz missing" not in message
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "--data-root DIR" in message and "root=DIR" in message


def test_fashion_mnist_missing_directory(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", root=tmp_path / "nowhere")
    assert "does not exist" in str(info.value)
    assert "apt-get install -y dataset-fashion-mnist" in str(info.value)


def test_fashion_mnist_bad_contents(tmp_path):
    make_fashion_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x3c" + b"\x01" * 59))
    with pytest.raises(DatasetError, match=r"truncated.*") as info:
        load_dataset("fashion-mnist", root=tmp_path)
    assert str(labels) in str(info.value)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(59, np.uint8))
    with pytest.raises(DatasetError, match=r"holds 60 images but .* holds 59 labels"):
        load_dataset("fashion-mnist", root=tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(60, 10, np.uint8))
    with pytest.raises(DatasetError, match=r"labels in 0..9"):
        load_dataset("fashion-mnist", root=tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(60, np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((20, 14, 14), np.uint8))
    with pytest.raises(DatasetError, match="28x28"):
        load_dataset("fashion-mnist", root=tmp_path)


@pytest.mark.skipif(
    not (REAL_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)",
)
def test_real_fashion_mnist():
    splits = load_dataset("fashion-mnist")
    assert len(splits.train) + len(splits.val) == 60000
    assert len(splits.test) == 10000
    assert (len(splits.train), len(splits.val)) == (48000, 12000)
    assert splits.source == str(REAL_FASHION_MNIST)
    assert np.array_equal(np.bincount(splits.test.y.numpy()), np.full(10, 1000))
    assert np.array_equal(np.bincount(splits.val.y.numpy()), np.full(10, 1200))
    check_splits(splits, channels=1, size=28)


# ---------------------------------------------------------------- cifar10


def test_cifar10_from_extracted_batches(tmp_path):
    make_cifar(tmp_path)
    splits = load_dataset("cifar10", root=tmp_path, seed=0)
    check_splits(splits, channels=3, size=32)
    assert splits.classes == tuple(CIFAR_CLASSES)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (80, 20, 30)
    assert splits.source == str(tmp_path / "cifar-10-batches-py")
    # Root may also be the batches directory itself; downsample pools 2x2.
    small = load_dataset("cifar10", root=tmp_path / "cifar-10-batches-py", downsample=16)
    check_splits(small, channels=3, size=16)
    assert torch.equal(small.test.y, splits.test.y)


def test_cifar10_pixels_are_read_in_channel_order(tmp_path):
    folder = make_cifar(tmp_path)
    with open(folder / "test_batch", "rb") as f:
        batch = pickle.load(f)
    splits = load_dataset("cifar10", root=tmp_path)
    raw = splits.test.x * torch.tensor(splits.std).view(1, 3, 1, 1) + torch.tensor(
        splits.mean
    ).view(1, 3, 1, 1)
    expected = torch.from_numpy(batch["data"].reshape(-1, 3, 32, 32)).float() / 255
    assert torch.allclose(raw, expected, atol=1e-5)


def test_cifar10_missing_says_download_or_root(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", root=tmp_path)
    message = str(info.value)
    assert "data_batch_1" in message and "batches.meta" in message
    assert "download=True" in message
    assert "--download" not in message  # the command line has no such flag
    assert "cifar-10-batches-py" in message and "--data-root DIR" in message


def test_cifar10_one_missing_batch(tmp_path):
    (make_cifar(tmp_path) / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match=r"CIFAR-10 file data_batch_3 missing"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar10_download_uses_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils
    from torchvision.datasets import CIFAR10

    calls = []

    def fake_download(url, download_root, filename=None, md5=None, **kwargs):
        calls.append((url, download_root, filename, md5))
        make_cifar(Path(download_root))

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    splits = load_dataset("cifar10", root=tmp_path / "data", download=True)
    assert calls == [(CIFAR10.url, str(tmp_path / "data"), CIFAR10.filename, CIFAR10.tgz_md5)]
    assert len(splits.test) == 30
    load_dataset("cifar10", root=tmp_path / "data", download=True)
    assert len(calls) == 1  # present: not downloaded again

    def failing_download(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", failing_download)
    with pytest.raises(DatasetError, match=r"downloading CIFAR-10 .* failed: OSError: network"):
        load_dataset("cifar10", root=tmp_path / "other", download=True)


def test_cifar10_refuses_foreign_pickles(tmp_path):
    folder = make_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "data_batch_2").write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(
        DatasetError, match=r"refusing to load global (__builtin__|builtins).print"
    ) as info:
        load_dataset("cifar10", root=tmp_path)
    assert "data_batch_2" in str(info.value)


def test_cifar10_bad_batch_contents(tmp_path):
    folder = make_cifar(tmp_path)
    bad = {"labels": [0, 1], "data": np.zeros((2, 100), np.uint8)}
    (folder / "data_batch_4").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_4: 'data' must be a uint8 array"):
        load_dataset("cifar10", root=tmp_path)
    bad = {b"labels": [0, 11], b"data": np.zeros((2, 3072), np.uint8)}  # bytes keys are fine
    (folder / "data_batch_4").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_4: labels outside 0..9"):
        load_dataset("cifar10", root=tmp_path)
    (folder / "data_batch_4").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match=r"cannot read CIFAR-10 batch .*data_batch_4"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar10_default_root_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cifar.default_root() == tmp_path / "optuna-isnas" / "cifar10"
    with pytest.raises(DatasetError, match=str(tmp_path / "optuna-isnas" / "cifar10")):
        load_dataset("cifar10")


# ---------------------------------------------------------------- imagefolder


def test_imagefolder_rgb_resized_and_cropped(tmp_path):
    make_image_folder(tmp_path / "imgs")
    splits = load_dataset("imagefolder", root=tmp_path / "imgs", image_size=16, seed=0)
    check_splits(splits, channels=3, size=16)
    assert splits.classes == ("cat", "dog", "eel")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 6, 6)
    assert_stratified(splits, np.full(3, 10))
    # The red channel carries the class (60 * c) for the RGB images; grayscale ones mix it.
    raw = sources.load_image_folder(tmp_path / "imgs", 16, False)
    rgb = np.arange(30) % 10 % 3 != 1
    red = raw.x[rgb, 0].reshape(rgb.sum(), -1)
    assert np.allclose(red.mean(axis=1), 60 * raw.y[rgb], atol=1)
    default = load_dataset("imagefolder", root=tmp_path / "imgs")
    assert default.image_size == 32


def test_imagefolder_grayscale_and_downsample(tmp_path):
    make_image_folder(tmp_path)
    splits = load_dataset("imagefolder", root=tmp_path, image_size=12, grayscale=True, downsample=6)
    check_splits(splits, channels=1, size=6)
    with pytest.raises(DatasetError, match="native 12x12; valid values: 1, 2, 3, 4, 6, 12"):
        load_dataset("imagefolder", root=tmp_path, image_size=12, downsample=5)
    with pytest.raises(DatasetError, match="image_size must be a positive int"):
        load_dataset("imagefolder", root=tmp_path, image_size=0)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DatasetError, match="imagefolder needs root=DIR"):
        load_dataset("imagefolder")
    with pytest.raises(DatasetError, match="is not a directory"):
        load_dataset("imagefolder", root=tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"holds no usable images.*one subfolder per class"):
        load_dataset("imagefolder", root=tmp_path / "empty")
    (tmp_path / "noimages" / "a").mkdir(parents=True)
    (tmp_path / "noimages" / "a" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="holds no usable images"):
        load_dataset("imagefolder", root=tmp_path / "noimages")
    make_image_folder(tmp_path / "one", classes=("only",))
    with pytest.raises(DatasetError, match=r"1 class folder .*at least 2"):
        load_dataset("imagefolder", root=tmp_path / "one")
    make_image_folder(tmp_path / "few", per_class=1, classes=("a", "b"))
    with pytest.raises(DatasetError, match="too few for a train/val/test split"):
        load_dataset("imagefolder", root=tmp_path / "few")
    make_image_folder(tmp_path / "corrupt", per_class=3, classes=("a", "b"))
    broken = tmp_path / "corrupt" / "b" / "1.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match="cannot read image") as info:
        load_dataset("imagefolder", root=tmp_path / "corrupt")
    assert str(broken) in str(info.value)
