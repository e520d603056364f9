"""Which architectures a step's weight update trains, and how their gradients are combined.

A step asks the sampler for a generation of G architectures and tells it the evaluation of every
one of them; the weight update may train fewer (``SearchConfig.train_archs``), plus the largest
and the smallest child of the space (``sandwich``, the sandwich rule of BigNAS, Yu et al.
2020), and may divide each weight's gradient by the number of trained architectures that used it
(``weight_gradient=WeightGradient.PATH``: :class:`PathGradient`). ASNG-NAS (Akimoto et al., 2019) likewise
draws separate samples for the weights and for the distribution's update.

:func:`plan_step` gives the trained architectures of one step. It draws the trained subset with a
generator seeded by ``(seed, step)`` only, so a resumed search draws what an uninterrupted one
would have drawn, and every process of a data-parallel search could derive the same plan (rank 0
still sends it, with the architectures). :func:`compute_ratio` is what keeps ``epochs`` a compute
budget: a step that trains fewer architectures than it evaluates is cheaper, so an epoch has more
of them (docs/search.md, "Which architectures a step trains").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from optuna_isnas.search.config import TrainArchs
from optuna_isnas.spaces import Architecture, SearchSpace, Supernet

_STREAM = 8  # third seed word of the subset draws (apart from every other seeded stream)


@dataclass(frozen=True)
class StepPlan:
    """The weight update of one step.

    Attributes:
        trained: Indices into the step's generation of the sampled architectures it trains
            (ascending).
        extra: Architectures trained besides them: the sandwich's largest and smallest child.
    """

    trained: tuple[int, ...]
    extra: tuple[Architecture, ...] = ()

    def architectures(self, generation: Sequence[Architecture]) -> list[Architecture]:
        """Every trained architecture, in training order: the extra ones, then the sampled ones."""
        return [*map(dict, self.extra), *(dict(generation[i]) for i in self.trained)]

    def trains_all(self, generation_size: int) -> bool:
        """Every asked architecture is trained (then the step trains before it evaluates)."""
        return len(self.trained) == generation_size

    def to_json(self) -> dict[str, object]:
        return {"trained": list(self.trained), "extra": [dict(a) for a in self.extra]}

    @classmethod
    def from_json(cls, data: Mapping[str, object], space: SearchSpace) -> StepPlan:
        trained = data["trained"]
        extra = data["extra"]
        assert isinstance(trained, list) and isinstance(extra, list)
        return cls(tuple(int(i) for i in trained), tuple(space.validate(a) for a in extra))


def sampled_count(train_archs: int | TrainArchs, generation_size: int) -> int:
    """Architectures of a generation of ``generation_size`` that a step trains.

    ``"auto"``: a quarter of the generation, rounded up, at least 2 (at most all of them);
    ``"all"``: every one; an integer: that many (at most all of them).
    """
    if train_archs == TrainArchs.ALL:
        return generation_size
    if train_archs == TrainArchs.AUTO:
        return min(generation_size, max(2, math.ceil(generation_size / 4)))
    return min(generation_size, int(train_archs))


def trained_count(train_archs: int | TrainArchs, sandwich: bool, generation_size: int) -> int:
    """Architectures a step trains: the sampled ones and the sandwich's two ends."""
    return sampled_count(train_archs, generation_size) + (2 if sandwich else 0)


def passes_per_step(train_archs: int | TrainArchs, sandwich: bool, generation_size: int) -> int:
    """Supernet passes of one step: forward + backward per trained, forward per evaluated."""
    return 2 * trained_count(train_archs, sandwich, generation_size) + generation_size


def compute_ratio(train_archs: int | TrainArchs, sandwich: bool, generation_size: int) -> float:
    """Steps of these settings that cost what one step training every asked architecture costs
    (``3 G`` passes); 1 when every asked architecture is trained without a sandwich."""
    return 3 * generation_size / passes_per_step(train_archs, sandwich, generation_size)


def plan_step(
    train_archs: int | TrainArchs,
    sandwich: bool,
    generation_size: int,
    space: SearchSpace,
    seed: int,
    step: int,
) -> StepPlan:
    """The weight update of step ``step`` (0-based) of a search seeded ``seed``.

    The sampled architectures are a uniform subset of the generation (draws from the sampler's
    mixture), drawn with ``numpy.random.default_rng([seed, step, 8])``: the same plan on every
    process and after a resumption, from no state but the step number.
    """
    n = sampled_count(train_archs, generation_size)
    if n >= generation_size:
        trained = tuple(range(generation_size))
    else:
        rng = np.random.default_rng([seed % 2**32, step, _STREAM])
        trained = tuple(sorted(int(i) for i in rng.choice(generation_size, n, replace=False)))
    extra = space.extreme_architectures() if sandwich else ()
    return StepPlan(trained, tuple(extra))


class PathGradient:
    """Divides each weight's gradient by the number of trained architectures that used it.

    After the backward passes of a step the gradients are sums over the trained architectures;
    :meth:`divide` turns them into per-weight means: the weights of choice ``c`` of variable ``v``
    are divided by the number of architectures with ``arch[v] == c``, every other weight (stem,
    head, anything outside ``supernet.choice_modules()``) by the number of architectures. An
    operation chosen by one architecture of eight thus gets that architecture's whole gradient,
    as in a search dedicated to it; with ``"mean"`` it would get an eighth.

    Exact for the chain and NAS-Bench-201 spaces; in the ENAS space the input choices of a node
    own no weights, and weights shared by several choices count as used by every architecture.
    """

    def __init__(self, supernet: Supernet) -> None:
        by_choice: dict[tuple[str, str], list[nn.Parameter]] = {}
        owners: dict[int, int] = {}
        for key, modules in supernet.choice_modules().items():
            params = [p for m in modules for p in m.parameters()]
            by_choice[key] = params
            for p in params:
                owners[id(p)] = owners.get(id(p), 0) + 1
        # a weight owned by two choices would be divided twice: count it as shared instead
        self.by_choice = {
            key: [p for p in params if owners[id(p)] == 1] for key, params in by_choice.items()
        }
        self.shared = [p for p in supernet.parameters() if owners.get(id(p), 0) != 1]

    def divide(self, archs: Sequence[Mapping[str, str]]) -> None:
        """Divide the gradients, summed over ``archs`` (the architectures whose losses were
        back-propagated), into per-weight means."""
        if not archs:
            return
        counts: dict[tuple[str, str], int] = {}
        for arch in archs:
            for item in arch.items():
                counts[item] = counts.get(item, 0) + 1
        with torch.no_grad():
            _divide(self.shared, len(archs))
            for key, count in counts.items():
                _divide(self.by_choice.get(key, ()), count)


def _divide(params: Sequence[nn.Parameter], count: int) -> None:
    if count > 1:
        for p in params:
            if p.grad is not None:
                p.grad.div_(float(count))
