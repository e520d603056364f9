"""Operations shared by the search spaces.

Every op takes ``running_stats``: ``False`` inside a supernet (BatchNorm with batch statistics
only, see :mod:`optuna_isnas.spaces.base`), ``True`` in a child built for retraining.
All ops are plain modules: device-agnostic, channels_last- and autocast-friendly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from optuna_isnas.spaces.base import batchnorm


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d (no bias) -> BatchNorm, as in NAS-Bench-201 and DARTS."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        *,
        running_stats: bool,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False),
            batchnorm(c_out, running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ConvBNReLU(nn.Module):
    """Conv2d (no bias) -> BatchNorm -> ReLU: the stems."""

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, *, running_stats: bool
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False),
            batchnorm(c_out, running_stats),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Separable convolution, stacked twice: 2 x (ReLU -> depthwise kxk -> pointwise 1x1 -> BN).

    This is the separable convolution of the ENAS micro search space (``stack_conv=2``).
    """

    def __init__(self, channels: int, kernel_size: int, *, running_stats: bool) -> None:
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
                batchnorm(channels, running_stats),
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
    """Halve the resolution without losing pixels: ReLU, two shifted stride-2 1x1 convs, concat, BN.

    The shifted path pads one row/column at the bottom/right first, so both paths have
    ``ceil(H / 2)`` rows for even and odd ``H`` alike.
    """

    def __init__(self, c_in: int, c_out: int, *, running_stats: bool) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(
                f"FactorizedReduce needs an even number of output channels, got {c_out}."
            )
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, 0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, 2, 0, bias=False)
        self.bn = batchnorm(c_out, running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class MBConv(nn.Module):
    """MobileNetV2 inverted residual: [1x1 expand -> BN -> ReLU] -> kxk depthwise -> BN -> ReLU
    -> 1x1 project -> BN, plus the identity when stride is 1 and channels are kept.

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
        running_stats: bool,
    ) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [
                nn.Conv2d(c_in, hidden, 1, bias=False),
                batchnorm(hidden, running_stats),
                nn.ReLU(inplace=True),
            ]
        layers += [
            nn.Conv2d(
                hidden, hidden, kernel_size, stride, kernel_size // 2, groups=hidden, bias=False
            ),
            batchnorm(hidden, running_stats),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            batchnorm(c_out, running_stats),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.residual:
            return x + y
        return y


class ClassifierHead(nn.Module):
    """[BN ->] ReLU -> global average pool -> flatten -> Linear."""

    def __init__(
        self, channels: int, num_classes: int, *, running_stats: bool, pre_bn: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if pre_bn:
            layers.append(batchnorm(channels, running_stats))
        layers += [nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
