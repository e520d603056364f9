"""A MobileNet-like chain: each block picks a kernel size and an expansion, or is skipped.

Layout: stem (3x3 conv -> BN -> ReLU, ``width`` channels), then ``num_stages`` stages of
``blocks_per_stage`` blocks with ``width * 2**s`` channels; the first block of every stage after
the first has stride 2. Head: ReLU -> global average pool -> Linear.

Variables, in order: ``stage{s}_block{b}``. Choices: ``"k{k}_e{e}"`` for every kernel size
``k`` in ``kernel_sizes`` and expansion ``e`` in ``expansions`` (an MBConv inverted residual
block, see :class:`optuna_isnas.spaces.ops.MBConv`), plus ``"skip"`` (identity) for every block
that keeps resolution and channels, i.e. all blocks except the first of stages 1, 2, ...
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import nn

from optuna_isnas.spaces.base import (
    BlockSpec,
    SearchSpace,
    SpaceError,
    Supernet,
    positive_ints,
    register_space,
    validate_architecture,
    whole_numbers,
)
from optuna_isnas.spaces.ops import (
    CHILD_NORM,
    SUPERNET_NORM,
    ClassifierHead,
    ConvBNReLU,
    MBConv,
    Norm,
)

SKIP = "skip"


class ChainNet(nn.Module):
    """A standalone chain network: stem -> blocks -> head."""

    def __init__(self, stem: nn.Module, blocks: Sequence[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.blocks = nn.Sequential(*blocks)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class ChainSupernet(Supernet):
    """Chain supernet: one ``ModuleDict`` of candidate blocks per variable."""

    def __init__(self, space: ChainSpace) -> None:
        super().__init__(space)
        self.stem = space.build_stem(SUPERNET_NORM)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    choice: space.build_block(spec, choice, SUPERNET_NORM)
                    for choice in space.variables[spec.variable]
                }
            )
            for spec in space.blocks
            if spec.variable is not None
        )
        self.head = space.build_head(SUPERNET_NORM)
        self._names = tuple(space.variables)

    def forward(self, x: torch.Tensor, arch: Mapping[str, str]) -> torch.Tensor:
        self._check(arch)
        try:
            selected = [block[arch[name]] for name, block in zip(self._names, self._choices())]
        except KeyError:
            validate_architecture(self._variables, arch)
            raise
        x = self.stem(x)
        for block in selected:
            x = block(x)
        return self.head(x)

    def extract_child(self, arch: Mapping[str, str]) -> ChainNet:
        arch = validate_architecture(self._variables, arch)
        blocks = [
            copy.deepcopy(block[arch[name]]) for name, block in zip(self._names, self._choices())
        ]
        return ChainNet(copy.deepcopy(self.stem), blocks, copy.deepcopy(self.head))

    def choice_modules(self) -> dict[tuple[str, str], list[nn.Module]]:
        return {
            (name, choice): [module]
            for name, block in zip(self._names, self._choices())
            for choice, module in block.items()
        }

    def _choices(self) -> list[nn.ModuleDict]:
        return [cast(nn.ModuleDict, block) for block in self.blocks]


@register_space("chain")
class ChainSpace(SearchSpace):
    """MobileNet-like chain space (see the module docstring).

    Args:
        in_channels: Input channels (1 for digits/Fashion-MNIST, 3 for CIFAR-10).
        num_classes: Number of classes.
        image_size: Input height (= width). Any size works; stages halve it (rounding up).
        width: Channels of the stem and the first stage; stage ``s`` has ``width * 2**s``.
        num_stages: Number of stages (resolution halves between stages).
        blocks_per_stage: Blocks per stage; each is one categorical variable.
        kernel_sizes: Depthwise kernel sizes to choose from (odd).
        expansions: MBConv expansion ratios to choose from.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        width: int = 16,
        num_stages: int = 3,
        blocks_per_stage: int = 2,
        kernel_sizes: Sequence[int] = (3, 5),
        expansions: Sequence[int] = (1, 3, 6),
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        positive_ints(width=width, num_stages=num_stages, blocks_per_stage=blocks_per_stage)
        kernel_sizes = whole_numbers("kernel_sizes", kernel_sizes)
        expansions = whole_numbers("expansions", expansions)
        if any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise SpaceError(
                f"kernel_sizes must be odd whole numbers of at least 1, got {list(kernel_sizes)}",
                "kernel_sizes",
            )
        if any(e < 1 for e in expansions):
            raise SpaceError(
                f"expansions must be whole numbers of at least 1, got {list(expansions)}",
                "expansions",
            )
        for key, values in (("kernel_sizes", kernel_sizes), ("expansions", expansions)):
            if len(set(values)) != len(values):
                raise SpaceError(f"{key} must not repeat values, got {list(values)}", key)
        self.width = width
        self.num_stages = num_stages
        self.blocks_per_stage = blocks_per_stage
        self.kernel_sizes = kernel_sizes
        self.expansions = expansions
        self._kwargs.update(
            width=width,
            num_stages=num_stages,
            blocks_per_stage=blocks_per_stage,
            kernel_sizes=kernel_sizes,
            expansions=expansions,
        )
        ops = tuple(f"k{k}_e{e}" for k in kernel_sizes for e in expansions)
        blocks: list[BlockSpec] = []
        self._variables = {}
        c_in = width
        for s in range(num_stages):
            c_out = width * 2**s
            for b in range(blocks_per_stage):
                stride = 2 if (s > 0 and b == 0) else 1
                spec = BlockSpec("mbconv", c_in, c_out, stride, variable=f"stage{s}_block{b}")
                blocks.append(spec)
                can_skip = stride == 1 and c_in == c_out
                self._variables[f"stage{s}_block{b}"] = ((SKIP,) if can_skip else ()) + ops
                c_in = c_out
        self._blocks = tuple(blocks)
        self._out_channels = c_in

    # ----------------------------------------------------------------- modules
    def build_stem(self, norm: Norm) -> nn.Module:
        return ConvBNReLU(self.in_channels, self.width, 3, norm=norm)

    def build_head(self, norm: Norm) -> nn.Module:
        return ClassifierHead(self._out_channels, self.num_classes, norm=norm)

    def build_block(self, spec: BlockSpec, choice: str, norm: Norm) -> nn.Module:
        """The module of ``choice`` (``"skip"`` or ``"k{k}_e{e}"``) at block ``spec``."""
        if choice == SKIP:
            return nn.Identity()
        k, e = (int(part[1:]) for part in choice.split("_"))
        return MBConv(spec.c_in, spec.c_out, k, e, spec.stride, norm=norm)

    # ----------------------------------------------------------------- networks
    def build_supernet(self) -> ChainSupernet:
        return ChainSupernet(self)

    def build_child(self, arch: Mapping[str, str]) -> ChainNet:
        arch = self.validate(arch)
        blocks = [
            self.build_block(spec, choice, CHILD_NORM)
            for spec, choice in zip(self.blocks, arch.values())
        ]
        return ChainNet(self.build_stem(CHILD_NORM), blocks, self.build_head(CHILD_NORM))
