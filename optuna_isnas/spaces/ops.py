"""Operations shared by the search spaces, and the one registry of named cell operations.

Every op that normalises takes ``norm``, a callable ``norm(channels) -> nn.Module`` (torchvision's
``norm_layer`` style): :data:`SUPERNET_NORM` inside a supernet (BatchNorm with batch statistics
only, see :mod:`optuna_isnas.spaces.base`), :data:`CHILD_NORM` in a child built for retraining.
All ops are plain modules: device-agnostic, channels_last- and autocast-friendly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Norm = Callable[[int], nn.Module]
"""``norm(channels)``: the normalisation layer of an op."""

SUPERNET_NORM: Norm = functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=False)
"""Affine BatchNorm that always normalises with the current batch's statistics."""

CHILD_NORM: Norm = functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
"""Ordinary affine BatchNorm with running statistics (children trained from scratch)."""


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d (no bias) -> norm, as in NAS-Bench-201 and DARTS."""

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, *, norm: Norm
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False),
            norm(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ConvBNReLU(nn.Module):
    """Conv2d (no bias) -> norm -> ReLU: the stems."""

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, *, norm: Norm
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False),
            norm(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Separable convolution, stacked twice: 2 x (ReLU -> depthwise kxk -> pointwise 1x1 -> norm).

    This is the separable convolution of the ENAS micro search space (``stack_conv=2``).
    """

    def __init__(self, channels: int, kernel_size: int, *, norm: Norm) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [
                nn.ReLU(inplace=False),
                nn.Conv2d(
                    channels,
                    channels,
                    kernel_size,
                    1,
                    kernel_size // 2,
                    groups=channels,
                    bias=False,
                ),
                nn.Conv2d(channels, channels, 1, bias=False),
                norm(channels),
            ]
        self.op = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Pool(nn.Module):
    """3x3 average (``count_include_pad=False``) or max pooling, stride 1, same size."""

    def __init__(self, kind: str, stride: int = 1) -> None:
        super().__init__()
        if kind == "avg":
            self.op: nn.Module = nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        elif kind == "max":
            self.op = nn.MaxPool2d(3, stride, 1)
        else:
            raise ValueError(f"unknown pooling {kind!r}; valid: 'avg', 'max'.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: ReLU, two shifted stride-2 1x1 convs, concat, norm.

    The shifted path pads one row/column at the bottom/right first, so both paths have
    ``ceil(H / 2)`` rows for even and odd ``H`` alike.
    """

    def __init__(self, c_in: int, c_out: int, *, norm: Norm) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(
                f"FactorizedReduce needs an even number of output channels, got {c_out}."
            )
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, 0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, 2, 0, bias=False)
        self.bn = norm(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class MBConv(nn.Module):
    """MobileNetV2 inverted residual: [1x1 expand -> norm -> ReLU] -> kxk depthwise -> norm -> ReLU
    -> 1x1 project -> norm, plus the identity when stride is 1 and channels are kept.

    ``expansion == 1`` drops the expand convolution, as in MobileNetV2.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        expansion: int,
        stride: int,
        *,
        norm: Norm,
    ) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), norm(hidden), nn.ReLU(inplace=True)]
        layers += [
            nn.Conv2d(
                hidden, hidden, kernel_size, stride, kernel_size // 2, groups=hidden, bias=False
            ),
            norm(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            norm(c_out),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.residual:
            return x + y
        return y


class ClassifierHead(nn.Module):
    """[norm ->] ReLU -> global average pool -> flatten -> Linear."""

    def __init__(
        self, channels: int, num_classes: int, *, norm: Norm, pre_norm: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if pre_norm:
            layers.append(norm(channels))
        layers += [nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


# ------------------------------------------------------------------------------ the registry
OpBuilder = Callable[[int, Norm], nn.Module]
"""``build(channels, norm)``: a stride-1 operation with ``channels`` in and out."""

OPS: dict[str, OpBuilder] = {
    "identity": lambda c, norm: nn.Identity(),
    "skip_connect": lambda c, norm: nn.Identity(),
    "avg_pool_3x3": lambda c, norm: Pool("avg"),
    "max_pool_3x3": lambda c, norm: Pool("max"),
    "sep_conv_3x3": lambda c, norm: SepConv(c, 3, norm=norm),
    "sep_conv_5x5": lambda c, norm: SepConv(c, 5, norm=norm),
    "nor_conv_1x1": lambda c, norm: ReLUConvBN(c, c, 1, norm=norm),
    "nor_conv_3x3": lambda c, norm: ReLUConvBN(c, c, 3, norm=norm),
}
"""The named cell operations of every space (ENAS's and NAS-Bench-201's vocabularies)."""


def make_op(name: str, channels: int, norm: Norm) -> nn.Module:
    """The registered operation ``name`` with ``channels`` in and out, stride 1.

    Raises:
        ValueError: ``name`` is not registered; the message lists the registered names.
    """
    try:
        build = OPS[name]
    except KeyError:
        raise ValueError(f"no module for operation {name!r}; valid: {', '.join(OPS)}.") from None
    return build(channels, norm)
