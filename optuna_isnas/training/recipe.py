"""``TrainingRecipe``: how weights are trained (plain data, no PyTorch import)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from optuna_isnas.errors import SettingsError
from optuna_isnas.flags import flag, number, setting

AUGMENTATIONS = ("auto", "none", "crop", "crop-flip")
SCHEDULES = ("cosine", "constant")
NATURAL_IMAGE_DATASETS = ("cifar10", "imagefolder")
_API_ONLY = "set through the Python API (TrainingRecipe)"


@dataclass
class TrainingRecipe:
    """How the weights are trained; the defaults follow ASNG-NAS (Akimoto et al., 2019).

    SGD with Nesterov momentum 0.9, a cosine learning-rate schedule over all steps, weight decay
    3e-4 and gradient clipping at norm 5. On CUDA, mixed precision (bfloat16 where the GPU
    supports it, float16 with a GradScaler otherwise) and channels_last memory format.

    Attributes:
        lr: Initial learning rate.
        lr_min: Learning rate at the end of the cosine schedule.
        momentum: SGD momentum.
        nesterov: Use Nesterov momentum.
        weight_decay: L2 weight decay.
        grad_clip_norm: Clip the gradient's global norm to this value; ``None`` disables clipping.
        schedule: ``"cosine"`` (annealed per step to ``lr_min``) or ``"constant"``.
        augment: ``"none"``, ``"crop"`` (random crop after 4-pixel zero padding), ``"crop-flip"``
            (and horizontal flips) or ``"auto"`` (crop-flip for natural images: cifar10, imagefolder;
            none otherwise).
        amp: Mixed precision on CUDA (ignored on CPU, which always computes in float32).
        channels_last: ``"auto"`` (on CUDA with mixed precision), ``True`` or ``False``.
    """

    lr: float = setting(
        flag(
            "--lr",
            help="initial learning rate",
            parse=number,
            metavar="LR",
            default_text="0.025; 0.1 for digits",
        ),
        default=0.025,
    )
    lr_min: float = setting(no_flag=_API_ONLY, default=0.0)
    momentum: float = setting(no_flag=_API_ONLY, default=0.9)
    nesterov: bool = setting(no_flag=_API_ONLY, default=True)
    weight_decay: float = setting(no_flag=_API_ONLY, default=3e-4)
    grad_clip_norm: float | None = setting(no_flag=_API_ONLY, default=5.0)
    schedule: str = setting(no_flag=_API_ONLY, default="cosine")
    augment: str = setting(no_flag=_API_ONLY, default="auto")
    amp: bool = setting(no_flag=_API_ONLY, default=True)
    channels_last: bool | str = setting(no_flag=_API_ONLY, default="auto")

    @classmethod
    def for_dataset(cls, dataset: str, **overrides: Any) -> TrainingRecipe:
        """The default recipe for ``dataset`` (ASNG-NAS's, with ``lr=0.1`` for the tiny digits
        set), with ``overrides`` applied.

        A digits search lasts a few hundred steps, in which 0.025 barely moves the weights
        (docs/search.md has the measurements).
        """
        preset = cls(lr=0.1) if dataset.strip().lower() == "digits" else cls()
        return dataclasses.replace(preset, **overrides)

    def resolved_augment(self, dataset: str) -> str:
        """The augmentation for ``dataset``: ``augment``, with ``"auto"`` decided by the data."""
        if self.augment != "auto":
            return self.augment
        return "crop-flip" if dataset in NATURAL_IMAGE_DATASETS else "none"

    def validate(self) -> None:
        """Raise SettingsError naming the first setting that cannot work."""
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise SettingsError(f"learning rate must be a positive number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise SettingsError(
                f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}"
            )
        if self.augment not in AUGMENTATIONS:
            raise SettingsError(
                f"unknown augment {self.augment!r}; choose one of {', '.join(AUGMENTATIONS)}"
            )
        if self.channels_last not in (True, False, "auto"):
            raise SettingsError(
                f"channels_last must be True, False or 'auto', got {self.channels_last!r}"
            )
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise SettingsError(
                f"grad_clip_norm must be positive or None, got {self.grad_clip_norm!r}"
            )
