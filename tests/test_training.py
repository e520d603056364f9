"""Training pieces shared by search and retraining: devices and mixed precision, the SGD step,
minibatches and augmentation."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from optuna_isnas.errors import SettingsError
from optuna_isnas.training.batches import MinibatchStream, augment_batch
from optuna_isnas.training.device import Precision, autocast_dtype, resolve_device
from optuna_isnas.training.optim import sgd_step
from optuna_isnas.training.recipe import TrainingRecipe

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def test_device_resolution(monkeypatch):
    assert resolve_device("cpu") == CPU
    assert resolve_device(" CPU ") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    with pytest.raises(SettingsError, match=r"no CUDA GPU is available.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(SettingsError, match="no CUDA GPU"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == CUDA
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(SettingsError, match="1 CUDA device"):
        resolve_device("cuda:3")
    with pytest.raises(SettingsError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_autocast_dtype_selection():
    assert autocast_dtype(CPU) is None
    assert autocast_dtype(CUDA, amp=False) is None
    assert autocast_dtype(CUDA, bf16_supported=True) == torch.bfloat16
    assert autocast_dtype(CUDA, bf16_supported=False) == torch.float16


def test_precision_on_cpu_is_plain_float32():
    precision = Precision.for_device(CPU)
    assert precision.dtype is None and precision.channels_last is False
    assert isinstance(precision.autocast(), contextlib.nullcontext)
    assert not precision.grad_scaler().is_enabled()
    x = torch.randn(2, 3, 4, 4)
    assert precision.prepare_input(x).is_contiguous()
    assert precision.describe() == "cpu, float32"


def test_precision_on_cuda_uses_scaler_only_for_float16_and_channels_last():
    half = Precision(device=CUDA, dtype=torch.float16, channels_last=True)
    bf16 = Precision(device=CUDA, dtype=torch.bfloat16, channels_last=True)
    assert bf16.grad_scaler().is_enabled() is False
    if torch.cuda.is_available():
        assert half.grad_scaler().is_enabled() is True
    # channels_last is applied to 4-D inputs and models (checked on the CPU, same memory format code)
    cpu_cl = Precision(device=CPU, dtype=None, channels_last=True)
    x = cpu_cl.prepare_input(torch.randn(2, 3, 4, 4))
    assert x.is_contiguous(memory_format=torch.channels_last)
    conv = cpu_cl.prepare_model(nn.Conv2d(3, 8, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_sgd_step_averages_finite_losses_and_skips_the_others():
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False)
    x = torch.randn(4, 3)
    losses = [
        lambda: model(x).pow(2).mean(),
        lambda: model(x).sum() * float("nan"),
        lambda: model(x).abs().mean(),
    ]
    expected = model.weight.detach().clone()
    model.zero_grad()
    ((losses[0]() + losses[2]()) / 2).backward()
    expected -= 0.1 * model.weight.grad
    recipe = TrainingRecipe(lr=0.1, momentum=0.0, weight_decay=0.0, grad_clip_norm=None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    values = sgd_step(model, losses, optimizer, torch.amp.GradScaler("cpu", enabled=False), recipe)
    assert values[1] != values[1] and values[0] == values[0]
    torch.testing.assert_close(model.weight.detach(), expected)


def test_sgd_step_with_only_nonfinite_losses_leaves_weights_alone():
    model = nn.Linear(2, 1)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    sgd_step(
        model,
        [lambda: model(torch.ones(1, 2)).sum() * float("inf")],
        optimizer,
        torch.amp.GradScaler("cpu", enabled=False),
        TrainingRecipe(),
    )
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_minibatch_stream_state_round_trip():
    a = MinibatchStream(10, 4, seed=3)
    for _ in range(3):
        a.next()
    b = MinibatchStream(10, 4, seed=99)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.next(), b.next()) for _ in range(7))
    assert MinibatchStream(3, 8, seed=0).next().numel() == 3


def test_augmentation_is_seeded_and_keeps_shape():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    out1 = augment_batch(x, "crop-flip", torch.Generator().manual_seed(0))
    out2 = augment_batch(x, "crop-flip", torch.Generator().manual_seed(0))
    assert out1.shape == x.shape and torch.equal(out1, out2)
    assert augment_batch(x, "none", torch.Generator()) is x
    shifted = augment_batch(x, "crop", torch.Generator().manual_seed(1), padding=0)
    assert torch.equal(shifted, x)
