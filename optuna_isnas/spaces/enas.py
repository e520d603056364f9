"""The ENAS micro (cell) search space, as used by ASNG-NAS for CIFAR-10.

Two cell types, ``normal`` and ``reduce``, each with 5 nodes. Node ``i`` takes two inputs
``a`` and ``b`` among the two cell inputs and the earlier nodes, applies one operation to each,
and sums them. That makes 4 categorical variables per node, 40 in all, in this order::

    {cell}_node{i}_in_a   choices "in0", "in1", "node0", ..., "node{i-1}"   (2 + i choices)
    {cell}_node{i}_op_a   choices "identity", "avg_pool_3x3", "max_pool_3x3",
                                  "sep_conv_3x3", "sep_conv_5x5"
    {cell}_node{i}_in_b   as in_a
    {cell}_node{i}_op_b   as op_a

for ``cell`` in (``normal``, ``reduce``) and ``i`` in 0..4. ``in0`` is the output of the cell
two back, ``in1`` the output of the previous cell; both are first brought to the cell's
resolution and width (a factorized reduction or a ReLU-1x1 conv-BN, only where needed).

Loose ends, as in ENAS: the outputs that no node of the cell uses as input (unused nodes, and
unused cell inputs too) are concatenated and mapped back to the cell width by
ReLU -> 1x1 conv -> BN. In the supernet that 1x1 convolution owns one ``C x 7C`` weight, one
``C x C`` block per state (2 inputs + 5 nodes); a child takes the blocks of its loose ends,
so its convolution has ``n_loose * C * C`` weights and ``n_params`` counts exactly that.

Operation weights are owned per (cell, node, slot a/b, operation), shared whatever input
the slot reads, as in ENAS. Separable convolutions are ENAS's: two stacked
ReLU -> depthwise -> pointwise -> BN.

Macro skeleton (ENAS layout): stem (3x3 conv -> BN, ``width`` channels), ``cells_per_stage``
normal cells, then a reduction step, ``cells_per_stage`` normal cells, a reduction step,
``cells_per_stage`` normal cells, ReLU -> global average pool -> Linear. A reduction step is,
as in ENAS, a fixed factorized reduction of the previous output (resolution / 2, width x 2)
followed by a ``reduce`` cell (stride 1) whose inputs are the previous output and its reduction.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
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
    FactorizedReduce,
    Norm,
    ReLUConvBN,
    make_op,
)

OPS = ("identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5")
CELL_TYPES = ("normal", "reduce")
NUM_NODES = 5
NUM_STATES = NUM_NODES + 2
SLOTS = ("a", "b")


def input_choices(node: int) -> tuple[str, ...]:
    """Input choices of node ``node``: the 2 cell inputs and the earlier nodes."""
    return ("in0", "in1", *(f"node{k}" for k in range(node)))


@dataclass(frozen=True)
class CellArch:
    """One cell's decoded architecture: state index and op of each of the 10 slots, loose ends."""

    inputs: list[int]
    ops: list[str]

    @property
    def loose(self) -> list[int]:
        """The states no slot reads: they are concatenated into the cell's output."""
        used = set(self.inputs)
        return [s for s in range(NUM_STATES) if s not in used]


def decode(arch: Mapping[str, str], cell: str) -> CellArch:
    """Decode the 20 variables of ``cell`` (``KeyError`` if one is missing)."""
    inputs: list[int] = []
    ops: list[str] = []
    for i in range(NUM_NODES):
        for slot in SLOTS:
            source = arch[f"{cell}_node{i}_in_{slot}"]
            if source == "in0":
                inputs.append(0)
            elif source == "in1":
                inputs.append(1)
            else:
                inputs.append(int(source[4:]) + 2)
            ops.append(arch[f"{cell}_node{i}_op_{slot}"])
    return CellArch(inputs, ops)


def _preprocess(c_in: int, c_out: int, reduce: bool, norm: Norm) -> nn.Module:
    if reduce:
        return FactorizedReduce(c_in, c_out, norm=norm)
    if c_in != c_out:
        return ReLUConvBN(c_in, c_out, 1, norm=norm)
    return nn.Identity()


class _CellBase(nn.Module):
    def __init__(self, spec: BlockSpec, norm: Norm) -> None:
        super().__init__()
        self.reduction = spec.kind == "reduce"
        self.channels = spec.c_out
        # reduction step: fixed factorized reduction of the previous output first
        self.reduce = (
            FactorizedReduce(spec.c_out // 2, spec.c_out, norm=norm)
            if self.reduction
            else nn.Identity()
        )
        assert spec.c_skip is not None, "an ENAS cell has two inputs"
        self.preprocess0 = _preprocess(spec.c_skip, spec.c_out, spec.reduce_skip, norm)
        self.preprocess1 = _preprocess(spec.c_in, spec.c_out, False, norm)


class EnasSuperCell(_CellBase):
    """Supernet cell: a ``ModuleDict`` of the 5 operations for each of the 10 slots."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec, SUPERNET_NORM)
        c = spec.c_out
        self.slots = nn.ModuleList(
            nn.ModuleDict({op: make_op(op, c, SUPERNET_NORM) for op in OPS})
            for _ in range(2 * NUM_NODES)
        )
        self.combine = nn.Conv2d(NUM_STATES * c, c, 1, bias=False)
        self.combine_bn = SUPERNET_NORM(c)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, arch: CellArch) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        slots, inputs, ops = self._slots(), arch.inputs, arch.ops
        for i in range(NUM_NODES):
            a, b = 2 * i, 2 * i + 1
            states.append(slots[a][ops[a]](states[inputs[a]]) + slots[b][ops[b]](states[inputs[b]]))
        c = self.channels
        x = F.relu(torch.cat([states[s] for s in arch.loose], dim=1))
        w = self.combine.weight
        w = torch.cat([w[:, s * c : (s + 1) * c] for s in arch.loose], dim=1)
        return self.combine_bn(F.conv2d(x, w))

    def _slots(self) -> list[nn.ModuleDict]:
        return [cast(nn.ModuleDict, slot) for slot in self.slots]

    def extract(self, arch: CellArch) -> EnasCell:
        c = self.channels
        weight = self.combine.weight
        combine = nn.Conv2d(len(arch.loose) * c, c, 1, bias=False).to(
            device=weight.device, dtype=weight.dtype
        )
        with torch.no_grad():
            combine.weight.copy_(
                torch.cat([self.combine.weight[:, s * c : (s + 1) * c] for s in arch.loose], 1)
            )
        return EnasCell(
            reduction=self.reduction,
            channels=c,
            reduce=copy.deepcopy(self.reduce),
            preprocess0=copy.deepcopy(self.preprocess0),
            preprocess1=copy.deepcopy(self.preprocess1),
            ops=[copy.deepcopy(self._slots()[k][op]) for k, op in enumerate(arch.ops)],
            inputs=arch.inputs,
            loose=arch.loose,
            combine=nn.Sequential(nn.ReLU(inplace=False), combine, copy.deepcopy(self.combine_bn)),
        )


class EnasCell(nn.Module):
    """A standalone ENAS cell of one architecture."""

    def __init__(
        self,
        *,
        reduction: bool,
        channels: int,
        reduce: nn.Module,
        preprocess0: nn.Module,
        preprocess1: nn.Module,
        ops: Sequence[nn.Module],
        inputs: Sequence[int],
        loose: Sequence[int],
        combine: nn.Module,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.channels = channels
        self.reduce = reduce
        self.preprocess0 = preprocess0
        self.preprocess1 = preprocess1
        self.ops = nn.ModuleList(ops)
        self.inputs = list(inputs)
        self.loose = list(loose)
        self.combine = combine

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        node = s0  # placeholder, overwritten at k == 0
        for k, op in enumerate(self.ops):
            y = op(states[self.inputs[k]])
            if k % 2 == 0:
                node = y
            else:
                states.append(node + y)
        return self.combine(torch.cat([states[s] for s in self.loose], dim=1))


class EnasNet(nn.Module):
    """A standalone ENAS network: stem, cells (with their reduction steps), head."""

    def __init__(self, stem: nn.Module, cells: Sequence[EnasCell], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.cells = nn.ModuleList(cells)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in cast(list[EnasCell], list(self.cells)):
            if cell.reduction:
                s0, s1 = s1, cell.reduce(s1)
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)


class EnasSupernet(Supernet):
    """ENAS-micro supernet: every cell runs only the selected inputs and operations."""

    def __init__(self, space: EnasSpace) -> None:
        super().__init__(space)
        self.stem = space.build_stem(SUPERNET_NORM)
        self.cells = nn.ModuleList(EnasSuperCell(spec) for spec in space.blocks)
        self.head = space.build_head(SUPERNET_NORM)

    def _decode(self, arch: Mapping[str, str]) -> dict[str, CellArch]:
        self._check(arch)
        try:
            decoded = {cell: decode(arch, cell) for cell in CELL_TYPES}
            for cell_arch in decoded.values():
                if any(op not in OPS for op in cell_arch.ops):
                    raise KeyError
                # an input must be an earlier state: node i reads states < i + 2
                if any(s >= k // 2 + 2 for k, s in enumerate(cell_arch.inputs)):
                    raise KeyError
        except (KeyError, ValueError):
            validate_architecture(self._variables, arch)
            raise
        return decoded

    def forward(self, x: torch.Tensor, arch: Mapping[str, str]) -> torch.Tensor:
        decoded = self._decode(arch)
        s0 = s1 = self.stem(x)
        for cell in self._cells():
            if cell.reduction:
                s0, s1 = s1, cell.reduce(s1)
            s0, s1 = s1, cell(s0, s1, decoded["reduce" if cell.reduction else "normal"])
        return self.head(s1)

    def extract_child(self, arch: Mapping[str, str]) -> EnasNet:
        decoded = self._decode(validate_architecture(self._variables, arch))
        cells = [
            cell.extract(decoded["reduce" if cell.reduction else "normal"])
            for cell in self._cells()
        ]
        return EnasNet(copy.deepcopy(self.stem), cells, copy.deepcopy(self.head))

    def _cells(self) -> list[EnasSuperCell]:
        return [cast(EnasSuperCell, cell) for cell in self.cells]

    def choice_modules(self) -> dict[tuple[str, str], list[nn.Module]]:
        owned: dict[tuple[str, str], list[nn.Module]] = {}
        for cell in self._cells():
            kind = "reduce" if cell.reduction else "normal"
            for k, slot in enumerate(cell._slots()):
                name = f"{kind}_node{k // 2}_op_{SLOTS[k % 2]}"
                for op, module in slot.items():
                    owned.setdefault((name, op), []).append(module)
        return owned


@register_space("enas")
class EnasSpace(CellSpace):
    """ENAS micro search space (see the module docstring).

    Args:
        in_channels: Input channels.
        num_classes: Number of classes.
        image_size: Input height (= width); the two reduction steps halve it (rounding up).
        width: Channels of the first stage; the stages have 1x, 2x and 4x.
        cells_per_stage: Normal cells per stage (ENAS CIFAR-10 search: 2, final: 5).
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        width: int = 8,
        cells_per_stage: int = 1,
    ) -> None:
        super().__init__(
            in_channels=in_channels,
            num_classes=num_classes,
            image_size=image_size,
            width=width,
            cells_per_stage=cells_per_stage,
        )
        self._variables = {}
        for cell in CELL_TYPES:
            for i in range(NUM_NODES):
                for slot in SLOTS:
                    self._variables[f"{cell}_node{i}_in_{slot}"] = input_choices(i)
                    self._variables[f"{cell}_node{i}_op_{slot}"] = OPS
        # cell layout: (prev2 channels, prev1 channels) bookkeeping as in the forward pass
        blocks: list[BlockSpec] = []
        c = width
        c0 = c1 = width  # channels of s0, s1 (the stem output twice)
        for stage in range(3):
            if stage > 0:
                c *= 2
                # s0, s1 = s1, reduce(s1): s0 is one resolution up
                blocks.append(BlockSpec("reduce", c, c, c_skip=c1, reduce_skip=True))
                c0, c1 = c, c
            for _ in range(cells_per_stage):
                blocks.append(BlockSpec("normal", c1, c, c_skip=c0))
                c0, c1 = c1, c
        self._blocks = tuple(blocks)
        self._sq_width = {
            kind: sum(b.c_out**2 for b in blocks if b.kind == kind) for kind in CELL_TYPES
        }
        self._combine_weights = NUM_STATES * sum(b.c_out**2 for b in blocks)

    # ----------------------------------------------------------------- exact counts
    def _structural_params(self, arch: Mapping[str, str]) -> int:
        total = 0
        for kind in CELL_TYPES:
            used = set()
            for i in range(NUM_NODES):
                used.add(arch[f"{kind}_node{i}_in_a"])
                used.add(arch[f"{kind}_node{i}_in_b"])
            total += (NUM_STATES - len(used)) * self._sq_width[kind]
        return total

    def _excluded_from_fixed(self, supernet: Supernet) -> int:
        return self._combine_weights

    # ----------------------------------------------------------------- modules
    def build_head(self, norm: Norm) -> nn.Module:
        return ClassifierHead(self.width * 4, self.num_classes, norm=norm)

    # ----------------------------------------------------------------- networks
    def build_supernet(self) -> EnasSupernet:
        return EnasSupernet(self)

    def build_child(self, arch: Mapping[str, str]) -> EnasNet:
        arch = self.validate(arch)
        decoded = {cell: decode(arch, cell) for cell in CELL_TYPES}
        cells = []
        for spec in self.blocks:
            cell_arch = decoded[spec.kind]
            base = _CellBase(spec, CHILD_NORM)
            c = spec.c_out
            cells.append(
                EnasCell(
                    reduction=base.reduction,
                    channels=c,
                    reduce=base.reduce,
                    preprocess0=base.preprocess0,
                    preprocess1=base.preprocess1,
                    ops=[make_op(op, c, CHILD_NORM) for op in cell_arch.ops],
                    inputs=cell_arch.inputs,
                    loose=cell_arch.loose,
                    combine=nn.Sequential(
                        nn.ReLU(inplace=False),
                        nn.Conv2d(len(cell_arch.loose) * c, c, 1, bias=False),
                        CHILD_NORM(c),
                    ),
                )
            )
        return EnasNet(self.build_stem(CHILD_NORM), cells, self.build_head(CHILD_NORM))
