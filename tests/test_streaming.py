"""Streamed data: the same splits, examples, minibatches and evaluations as in memory."""

from __future__ import annotations

import pytest
import torch
from test_data import make_image_folder

from optuna_isnas.data import DatasetError, DatasetSpec, TensorSplit, load_dataset, streaming
from optuna_isnas.data import layout as layout_module
from optuna_isnas.data.layout import plan_dataset
from optuna_isnas.data.streaming import StreamedSplits, choose_loading, open_dataset
from optuna_isnas.training.batches import InMemoryBatches
from optuna_isnas.training.device import Precision
from optuna_isnas.training.distributed import Shard
from optuna_isnas.training.evaluation import evaluate_split
from optuna_isnas.training.streaming import StreamingBatches, ordered_batches

CPU = Precision.for_device(torch.device("cpu"))


def same_splits(memory, streamed: StreamedSplits) -> None:
    assert isinstance(streamed, StreamedSplits)
    assert (streamed.mean, streamed.std) == (memory.mean, memory.std)
    assert streamed.classes == memory.classes and streamed.image_size == memory.image_size
    for name in ("train", "val", "test"):
        mem, st = getattr(memory, name), getattr(streamed, name)
        assert torch.equal(st.indices, mem.indices) and torch.equal(st.y, mem.y)
        x, y = st.read_batch(list(range(len(st))))
        assert torch.equal(x, mem.x) and torch.equal(y, mem.y)
        assert x.stride() == mem.x.stride()  # same layout, so the same convolution kernels
        assert torch.equal(st[3][0], mem.x[3]) and st[3][1] == int(mem.y[3])
    assert streamed.describe()["sizes"] == memory.describe()["sizes"]


def test_streamed_digits_are_the_in_memory_splits_bit_for_bit():
    memory = load_dataset("digits", seed=4, max_train_samples=200, max_eval_samples=50)
    spec = DatasetSpec("digits", seed=4, max_train_samples=200, max_eval_samples=50)
    streamed = open_dataset(spec, loading="stream")
    assert isinstance(streamed, StreamedSplits)
    same_splits(memory, streamed)


def test_streamed_image_folder_matches_memory_with_sampled_constants(tmp_path, monkeypatch):
    make_image_folder(tmp_path / "imgs", per_class=12)
    options = dict(root=tmp_path / "imgs", image_size=12, seed=1, downsample=6)
    monkeypatch.setattr(layout_module, "STATS_SAMPLES", 7)  # a sample, not the whole split
    memory = load_dataset("imagefolder", **options)
    streamed = open_dataset(DatasetSpec("imagefolder", **options), loading="stream", workers=2)
    assert isinstance(streamed, StreamedSplits)
    same_splits(memory, streamed)
    # the constants come from the 7 sampled training images, not from all 22
    sample = plan_dataset(DatasetSpec("imagefolder", **options)).stats_positions()
    assert len(sample) == 7 and set(sample) <= set(memory.train.indices.tolist())
    assert abs(float(memory.train.x.mean())) > 1e-3  # the sample's mean is not the split's


def test_corrupt_image_is_reported_when_read(tmp_path):
    make_image_folder(tmp_path / "imgs", per_class=4, classes=("a", "b"))
    (tmp_path / "imgs" / "b" / "2.png").write_bytes(b"\x89PNG not really")
    # when it is read: while computing the constants (a training image) or in a minibatch
    with pytest.raises(DatasetError, match=r"cannot read image .*2\.png"):
        streamed = open_dataset(
            DatasetSpec("imagefolder", root=tmp_path / "imgs", image_size=8), loading="stream"
        )
        assert isinstance(streamed, StreamedSplits)
        for split in (streamed.train, streamed.val, streamed.test):
            split.read_batch(list(range(len(split))))


def test_loading_is_chosen_by_size_or_by_flag(monkeypatch):
    layout = plan_dataset(DatasetSpec("digits", seed=0))
    floats = layout.float_bytes()
    assert floats == 4 * 1797 * 64  # every split as float32
    assert choose_loading(layout, "auto") == "memory"
    assert choose_loading(layout, "stream") == "stream"
    monkeypatch.setattr(streaming, "machine_memory", lambda: 2 * floats)  # a quarter < needed
    assert choose_loading(layout, "auto") == "stream"
    assert choose_loading(layout, "memory") == "memory"
    monkeypatch.setattr(streaming, "machine_memory", lambda: 8 * floats)  # exactly a quarter
    assert choose_loading(layout, "auto") == "memory"
    assert choose_loading(layout, "auto", processes_per_machine=3) == "stream"
    with pytest.raises(DatasetError, match="unknown data loading 'disk'"):
        open_dataset(DatasetSpec("digits"), loading="disk")


@pytest.mark.parametrize("shard", [Shard(), Shard(1, 3)])
def test_streaming_batches_are_the_in_memory_batches_and_resume_alike(shard):
    memory = load_dataset("digits", seed=2, max_train_samples=150)
    streamed = open_dataset(DatasetSpec("digits", seed=2, max_train_samples=150), loading="stream")
    assert isinstance(streamed, StreamedSplits)
    mem = InMemoryBatches(memory.train, 32, 5, CPU, "crop-flip", shard)
    st = StreamingBatches(streamed.train, 32, 5, CPU, "crop-flip", shard, workers=2)
    assert (
        (st.batch_size, st.batches_per_epoch) == (mem.batch_size, mem.batches_per_epoch) == (32, 4)
    )
    for step in range(10):  # more than two passes
        (xm, ym), (xs, ys) = mem.next(), st.next()
        assert torch.equal(xm, xs) and torch.equal(ym, ys)
        assert len(ys) == shard.size(32)
        if step == 5:
            state = st.state_dict()  # the workers have read ahead; this is batch 6's position
            expected = mem.state_dict()
            assert state["pos"] == expected["pos"] and torch.equal(state["perm"], expected["perm"])
            assert torch.equal(state["generator"], expected["generator"])
    resumed = StreamingBatches(streamed.train, 32, 5, CPU, "crop-flip", shard, workers=1)
    resumed.load_state_dict(state)
    again = InMemoryBatches(memory.train, 32, 5, CPU, "crop-flip", shard)
    again.load_state_dict(expected)
    for _ in range(6):
        (xm, _), (xs, _) = again.next(), resumed.next()
        assert torch.equal(xm, xs)


def test_whole_split_evaluation_is_the_same_streamed_or_sharded():
    memory = load_dataset("digits", seed=0, max_eval_samples=100)
    streamed = open_dataset(DatasetSpec("digits", seed=0, max_eval_samples=100), loading="stream")
    assert isinstance(streamed, StreamedSplits) and isinstance(memory.val, TensorSplit)
    torch.manual_seed(0)
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(10),
    )
    conv(memory.val.x[:2])
    conv.train()  # BatchNorm with batch statistics: the batches must be the same ones
    forwards = [conv, lambda x: conv(x.flip(3))]
    in_memory = evaluate_split(forwards, memory.val, 32, CPU)
    assert evaluate_split(forwards, streamed.val, 32, CPU, workers=1) == in_memory
    # three processes' whole batches together are the single process's batches
    parts = [list(ordered_batches(streamed.val, 32, CPU, Shard(r, 3))) for r in range(3)]
    assert [len(p) for p in parts] == [2, 1, 1]
    order = [parts[r][i] for i in range(2) for r in range(3) if i < len(parts[r])]
    single = list(ordered_batches(streamed.val, 32, CPU))
    assert len(order) == len(single) == 4
    for (xa, ya), (xb, yb) in zip(order, single):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
