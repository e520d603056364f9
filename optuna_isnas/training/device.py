"""Device choice and mixed precision: CUDA when present, CPU otherwise.

On CUDA the forward passes run under ``torch.autocast`` (bfloat16 where the GPU supports it, else
float16 with a ``GradScaler`` guarding against underflow) and convolutions use the channels_last
memory format. On CPU everything stays float32 and contiguous, which keeps a seeded search
deterministic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch

from optuna_isnas.errors import SettingsError

Model = TypeVar("Model", bound=torch.nn.Module)


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a usable ``torch.device``.

    Raises:
        SettingsError: For an unknown spec, or CUDA asked for where torch sees no GPU.
    """
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = (
                f"built with CUDA {torch.version.cuda}"
                if torch.version.cuda
                else "a CPU-only build"
            )
            raise SettingsError(
                f"device {spec!r} was requested but no CUDA GPU is available (torch {torch.__version__}, {built}); "
                "use --device cpu or --device auto"
            )
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SettingsError(
                f"device {spec!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible"
            )
        return device
    raise SettingsError(f"unknown device {spec!r}; choose auto, cpu, cuda or cuda:N")


SMALL_IMAGE = 16  # pixels: images this small train on one CPU thread unless told otherwise


@contextlib.contextmanager
def torch_threads(threads: int | None, device: torch.device, image_size: int) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads, restoring the previous number afterwards.

    ``None`` chooses: one thread on the CPU for images of at most ``SMALL_IMAGE`` pixels (their
    operations are too small to gain from threads, and threads spinning on a CPU busy with other work
    slowed a digits step 10-50x in our measurements), torch's default otherwise.
    """
    if threads is None and device.type == "cpu" and image_size <= SMALL_IMAGE:
        threads = 1
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def autocast_dtype(
    device: torch.device, amp: bool = True, bf16_supported: bool | None = None
) -> torch.dtype | None:
    """The autocast dtype for ``device``: None (float32) on CPU or with amp off.

    On CUDA bfloat16 where supported (no loss scaling needed), float16 otherwise.
    ``bf16_supported`` overrides the query of the current GPU (for tests).
    """
    if device.type != "cuda" or not amp:
        return None
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16_supported else torch.float16


@dataclass
class Precision:
    """Everything the training step needs to know about the device and its arithmetic."""

    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool

    @classmethod
    def for_device(
        cls, device: torch.device, amp: bool = True, channels_last: bool | str = "auto"
    ) -> Precision:
        dtype = autocast_dtype(device, amp)
        if channels_last == "auto":
            channels_last = device.type == "cuda" and dtype is not None
        return cls(device=device, dtype=dtype, channels_last=bool(channels_last))

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """Autocast context of the forward passes (a no-op in float32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for float16 (bfloat16 has float32's range)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)

    def prepare_model(self, model: Model) -> Model:
        """``model`` on the device, in channels_last where chosen (moved in place)."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def describe(self) -> str:
        precision = {
            None: "float32",
            torch.bfloat16: "bfloat16 autocast",
            torch.float16: "float16 autocast",
        }[self.dtype]
        layout = ", channels_last" if self.channels_last else ""
        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        return f"{name}, {precision}{layout}"
