"""The search-space contract: one declaration drives suggest, supernet, child and size.

A :class:`SearchSpace` declares its categorical variables once (an ordered mapping from
parameter name to choice names). That declaration is used by

* :meth:`SearchSpace.suggest`, which asks an Optuna trial (duck-typed: only
  ``trial.suggest_categorical`` is called, so this module does not import Optuna);
* :meth:`SearchSpace.build_supernet`, the weight-sharing network whose ``forward(x, arch)``
  runs only the operations that ``arch`` selects;
* :meth:`SearchSpace.build_child`, the standalone network of one architecture;
* :meth:`SearchSpace.n_params`, the exact parameter count of that child.

Exact counts are computed "by construction": the supernet is built once on the ``meta``
device, every candidate operation reports the parameters it owns, and the count of an
architecture is the fixed part plus a table lookup per variable (plus a space-specific
structural term, see :meth:`SearchSpace._structural_params`). That keeps ``n_params``
at a few microseconds per call, while the tests check it against real children.

BatchNorm scheme (all spaces): every candidate operation owns its BatchNorm layers
(``affine=True``). In the supernet they keep no running statistics
(``track_running_stats=False``), so they always normalise with the statistics of the
current batch, in training and in evaluation mode alike; running averages would mix the
statistics of different sub-networks and are meaningless for a one-shot search.
:meth:`Supernet.extract_child` keeps that behaviour, so the extracted child computes exactly
what the supernet computes for that architecture, in either mode. :meth:`SearchSpace.build_child`
builds ordinary BatchNorm layers with running statistics (for retraining from scratch), and
:func:`recalibrate_batchnorm` turns an extracted child into an ordinary one by estimating
running statistics on a few batches.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from optuna_isnas.errors import SettingsError
from optuna_isnas.spaces.ops import Norm

Architecture = dict[str, str]
"""An architecture: parameter name -> choice name, one entry per declared variable."""

_REGISTRY: dict[str, type[SearchSpace]] = {}


def register_space(name: str) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    """Class decorator that makes a :class:`SearchSpace` subclass available to :func:`get_space`."""

    def decorate(cls: type[SearchSpace]) -> type[SearchSpace]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"a search space named {name!r} is already registered.")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def space_names() -> tuple[str, ...]:
    """Names of all registered spaces, in registration order."""
    return tuple(_REGISTRY)


class SpaceError(SettingsError):
    """A space name or option that cannot be used (a ``ValueError``); the message says what to do.

    Attributes:
        option: The constructor argument that was wrong, where one was.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


DATA_OPTIONS = ("in_channels", "num_classes", "image_size")
"""Constructor arguments every space takes from the dataset rather than from its user."""


def _space_class(name: str) -> type[SearchSpace]:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in _REGISTRY)
        raise SpaceError(f"unknown search space {name!r}; valid names: {valid}.") from None


def space_options(name: str) -> dict[str, Any]:
    """The options of registered space ``name`` (all keyword arguments but :data:`DATA_OPTIONS`)
    with their defaults (``inspect.Parameter.empty`` where there is none).

    Raises:
        SpaceError: ``name`` is not registered.
    """
    parameters = inspect.signature(_space_class(name)).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in DATA_OPTIONS
    }


def get_space(name: str, **kwargs: Any) -> SearchSpace:
    """Build a registered search space by name.

    Args:
        name: A registered space name (see :data:`optuna_isnas.spaces.SPACE_NAMES`).
        **kwargs: Constructor arguments of that space (``in_channels``, ``num_classes``,
            ``image_size`` and the space's own options, :func:`space_options`).

    Raises:
        SpaceError: (a ``ValueError``) ``name`` is not registered (the message lists the valid
            names), an option the space does not have (it lists the space's options), or an
            option value the space rejects (it names the option and its default).
    """
    cls = _space_class(name)
    options = space_options(name)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
    unknown = [k for k in kwargs if k not in options and k not in DATA_OPTIONS]
    if unknown and not takes_any:
        raise SpaceError(
            f"the {name!r} search space has no option {unknown[0]!r}; its options are "
            f"{', '.join(options) or '(none)'}",
            option=unknown[0],
        )
    try:
        return cls(**kwargs)
    except SpaceError as exc:
        default = options.get(exc.option or "", inspect.Parameter.empty)
        if default is inspect.Parameter.empty:
            raise
        shown = list(default) if isinstance(default, tuple) else default
        raise SpaceError(
            f"{exc} (option of the {name!r} search space; default {exc.option}={shown})",
            option=exc.option,
        ) from None


def check_space_options(name: str, options: Mapping[str, Any]) -> None:
    """Check a space's name and the options a user gives it, before any data is loaded.

    The dataset supplies :data:`DATA_OPTIONS`; the space is built once with placeholder values
    for them (declaring a space is cheap: no module is built), so every option is checked.

    Raises:
        SpaceError: As :func:`get_space`, or an option that the dataset sets.
    """
    _space_class(name)
    given = [k for k in options if k in DATA_OPTIONS]
    if given:
        raise SpaceError(
            f"the search space's {given[0]} is set by the dataset, not as a space option; "
            f"drop it (the space's own options: {', '.join(space_options(name))})",
            option=given[0],
        )
    get_space(name, in_channels=3, num_classes=10, image_size=32, **options)


@dataclass(frozen=True)
class BlockSpec:
    """One block of a space's macro skeleton, in forward order (``SearchSpace.blocks``).

    Attributes:
        kind: What the block is, in the space's words (chain: ``"mbconv"``; NAS-Bench-201:
            ``"cell"`` or ``"reduction"``; ENAS: ``"normal"`` or ``"reduce"`` cells).
        c_in: Channels in (ENAS: of the previous output, the cell's second input).
        c_out: Channels out.
        stride: Stride of the block.
        variable: The variable choosing this block's operation, where one variable does.
        c_skip: ENAS: channels of the output two blocks back (the cell's first input).
        reduce_skip: ENAS: that input is one resolution up and is reduced first.
    """

    kind: str
    c_in: int
    c_out: int
    stride: int = 1
    variable: str | None = None
    c_skip: int | None = None
    reduce_skip: bool = False


_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def count_params(module: nn.Module) -> int:
    """Number of scalar parameters of ``module`` (works on the ``meta`` device)."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Give batch-statistics BatchNorm layers running statistics estimated on ``batches``.

    An extracted child (:meth:`Supernet.extract_child`) normalises with the statistics of each
    batch, like the supernet. This turns every such layer into an ordinary BatchNorm: running
    mean and variance are the cumulative averages over ``batches`` (``momentum=None``). Layers
    that already track running statistics are reset and re-estimated too. The model is left in
    evaluation mode and returned.

    Args:
        model: A network, for example an extracted child.
        batches: Input tensors (already on the model's device), e.g. a few training batches.
    """
    for module in model.modules():
        if isinstance(module, _BATCHNORMS):
            ref = module.weight
            device = ref.device if ref is not None else None
            dtype = ref.dtype if ref is not None else None
            module.track_running_stats = True
            module.momentum = None
            module.running_mean = torch.zeros(module.num_features, device=device, dtype=dtype)
            module.running_var = torch.ones(module.num_features, device=device, dtype=dtype)
            module.num_batches_tracked = torch.tensor(0, dtype=torch.long, device=device)
    model.train()
    seen = False
    for x in batches:
        model(x)
        seen = True
    if not seen:
        raise ValueError("recalibrate_batchnorm needs at least one batch.")
    model.eval()
    return model


class Supernet(nn.Module, abc.ABC):
    """A weight-sharing network over a search space.

    ``forward(x, arch)`` runs only the operations that ``arch`` selects; every candidate
    operation owns its weights and the child of an architecture reuses them.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self._variables = space.variables
        self.space_config = space.config()
        """The config of the space this supernet was built from: ``get_space(**space_config)``."""

    def _check(self, arch: Mapping[str, str]) -> None:
        """Cheap structural check; full messages come from :func:`validate_architecture`."""
        if len(arch) != len(self._variables):
            validate_architecture(self._variables, arch)

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, arch: Mapping[str, str]) -> torch.Tensor:
        raise NotImplementedError

    @abc.abstractmethod
    def extract_child(self, arch: Mapping[str, str]) -> nn.Module:
        """A standalone child network carrying (copies of) this supernet's current weights.

        Its BatchNorm layers normalise with batch statistics, like the supernet's, so in the same
        mode ``extract_child(arch)(x)`` equals ``self(x, arch)``. See :func:`recalibrate_batchnorm`.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def choice_modules(self) -> dict[tuple[str, str], list[nn.Module]]:
        """The modules owned by each (variable, choice) pair; choices without weights may be absent."""
        raise NotImplementedError


def validate_architecture(
    variables: Mapping[str, tuple[str, ...]],
    arch: Any,
    *,
    ignore_extra: bool = False,
) -> Architecture:
    """Return ``arch`` as a dict in declared order, or raise ``ValueError`` naming what is wrong."""
    if not isinstance(arch, Mapping):
        raise ValueError(
            f"an architecture must be a mapping from parameter name to choice name, "
            f"got {type(arch).__name__}."
        )
    if not ignore_extra:
        extra = [k for k in arch if k not in variables]
        if extra:
            raise ValueError(
                f"unknown parameter {extra[0]!r} in the architecture; "
                f"valid parameters: {', '.join(variables)}."
            )
    out: Architecture = {}
    for name, choices in variables.items():
        if name not in arch:
            raise ValueError(
                f"the architecture has no value for parameter {name!r} "
                f"(choices: {', '.join(choices)})."
            )
        value = arch[name]
        if value not in choices:
            raise ValueError(
                f"invalid choice {value!r} for parameter {name!r}; "
                f"allowed choices: {', '.join(choices)}."
            )
        out[name] = value
    return out


def positive_ints(**values: Any) -> dict[str, int]:
    """Validate constructor sizes: each must be an integer >= 1 (bools are rejected).

    Raises:
        SpaceError: (a ``ValueError``) naming the first argument that is not.
    """
    for key, value in values.items():
        if not _is_whole(value) or value < 1:
            raise SpaceError(f"{key} must be a whole number of at least 1, got {value!r}", key)
    return {key: int(value) for key, value in values.items()}


def whole_numbers(key: str, value: Any) -> tuple[int, ...]:
    """A constructor argument that lists whole numbers (a list or tuple of ints) as a tuple.

    Raises:
        SpaceError: naming ``key`` when ``value`` is not such a list, or is empty.
    """
    if (
        isinstance(value, str | bytes | Mapping)
        or not isinstance(value, Iterable)
        or not (items := list(value))
        or not all(_is_whole(v) for v in items)
    ):
        raise SpaceError(
            f"{key} must be a non-empty list of whole numbers, e.g. [3, 5], got {value!r}", key
        )
    return tuple(int(v) for v in items)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class SearchSpace(abc.ABC):
    """Base class of the search spaces: declare variables once, derive everything from them.

    Subclasses set ``self._variables`` (ordered ``{name: choices}``) and ``self._kwargs`` (the
    JSON-able constructor arguments) in ``__init__``, and implement :meth:`build_supernet` and
    :meth:`build_child`; spaces with a macro skeleton also set ``self._blocks`` (their
    :class:`BlockSpec` list) and implement :meth:`build_stem` and :meth:`build_head`, which their
    supernets and children share. Register them with :func:`register_space`.
    """

    name: ClassVar[str] = "base"
    _variables: dict[str, tuple[str, ...]]
    _kwargs: dict[str, Any]
    _blocks: tuple[BlockSpec, ...] = ()

    def __init__(self, *, in_channels: int, num_classes: int, image_size: int) -> None:
        sizes = positive_ints(
            in_channels=in_channels, num_classes=num_classes, image_size=image_size
        )
        self.in_channels = sizes["in_channels"]
        self.num_classes = sizes["num_classes"]
        self.image_size = sizes["image_size"]
        self._kwargs = dict(sizes)
        self._table: dict[str, dict[str, int]] | None = None
        self._fixed_params = 0

    # ----------------------------------------------------------------- declaration
    @property
    def variables(self) -> dict[str, tuple[str, ...]]:
        """Ordered mapping parameter name -> choice names (a copy)."""
        return dict(self._variables)

    def config(self) -> dict[str, Any]:
        """JSON-able ``{"name": ..., **constructor kwargs}``; ``get_space(**config)`` rebuilds it."""
        return {"name": self.name, **{k: _jsonable(v) for k, v in self._kwargs.items()}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(repr(self.config()))

    # ----------------------------------------------------------------- architectures
    def suggest(self, trial: Any) -> Architecture:
        """Ask ``trial.suggest_categorical(name, list(choices))`` for every variable, in order."""
        return {
            name: trial.suggest_categorical(name, list(choices))
            for name, choices in self._variables.items()
        }

    def validate(self, arch: Mapping[str, str], *, ignore_extra: bool = False) -> Architecture:
        """Return ``arch`` in declared order; ``ValueError`` names the bad key or choice.

        Args:
            arch: Parameter name -> choice name.
            ignore_extra: Drop keys that are not variables of this space (e.g. the other
                hyperparameters of ``trial.params``) instead of rejecting them.
        """
        return validate_architecture(self._variables, arch, ignore_extra=ignore_extra)

    def random_architecture(self, rng: np.random.Generator) -> Architecture:
        """An architecture drawn uniformly at random with ``rng``."""
        return {
            name: choices[int(rng.integers(len(choices)))]
            for name, choices in self._variables.items()
        }

    def n_params(self, arch: Mapping[str, str]) -> int:
        """Exact number of parameters of ``build_child(arch)`` (microseconds per call)."""
        table = self._table
        if table is None:
            table = self._build_table()
        if len(arch) != len(table):
            self.validate(arch)
        total = self._fixed_params
        try:
            for name, per_choice in table.items():
                total += per_choice[arch[name]]
        except (KeyError, TypeError):
            self.validate(arch)  # raises with a precise message
            raise
        return total + self._structural_params(arch)

    def _structural_params(self, arch: Mapping[str, str]) -> int:
        """Parameters that depend on how choices combine, not on one choice (default 0)."""
        return 0

    def _excluded_from_fixed(self, supernet: Supernet) -> int:
        """Supernet parameters that are neither fixed nor owned by one choice (default 0)."""
        return 0

    def _build_table(self) -> dict[str, dict[str, int]]:
        with torch.device("meta"):
            supernet = self.build_supernet()
        owned = supernet.choice_modules()
        table: dict[str, dict[str, int]] = {
            name: {c: 0 for c in choices} for name, choices in self._variables.items()
        }
        seen: set[int] = set()
        choice_total = 0
        for (name, choice), modules in owned.items():
            for module in modules:
                for p in module.parameters():
                    if id(p) in seen:
                        raise RuntimeError(f"parameter owned by two choices ({name}={choice}).")
                    seen.add(id(p))
                    table[name][choice] += p.numel()
                    choice_total += p.numel()
        self._fixed_params = (
            count_params(supernet) - choice_total - self._excluded_from_fixed(supernet)
        )
        self._table = table
        return table

    def param_table(self) -> tuple[int, dict[str, dict[str, int]]]:
        """``(fixed, {name: {choice: params}})``: the additive part of :meth:`n_params`."""
        table = self._table if self._table is not None else self._build_table()
        return self._fixed_params, {k: dict(v) for k, v in table.items()}

    def extreme_architectures(self) -> tuple[Architecture, Architecture]:
        """``(largest, smallest)`` child, choice by choice: per variable the choice with the most
        (fewest) parameters of its own; exact where the count adds up per variable."""
        _, table = self.param_table()
        large = {name: max(choices, key=lambda c: choices[c]) for name, choices in table.items()}
        small = {name: min(choices, key=lambda c: choices[c]) for name, choices in table.items()}
        return self.validate(large), self.validate(small)

    def largest_params(self) -> int:
        """Parameters of the largest child: exact for spaces whose count adds up per variable.

        Spaces with parameters that depend on how choices combine also try 2,000 seeded random
        architectures, so the value is then a lower bound of the true maximum.
        """
        best = self.n_params(self.extreme_architectures()[0])
        if self.has_structural_params:
            best = max(best, *self._random_param_counts())
        return int(best)

    def smallest_params(self) -> int:
        """Parameters of the smallest child, as :meth:`largest_params` (with random draws where
        choices combine, then an upper bound of the true minimum)."""
        least = self.n_params(self.extreme_architectures()[1])
        if self.has_structural_params:
            least = min(least, *self._random_param_counts())
        return int(least)

    def _random_param_counts(self) -> list[int]:
        """Parameters of 2,000 seeded random architectures (the same ones on every call)."""
        rng = np.random.default_rng(0)
        return [self.n_params(self.random_architecture(rng)) for _ in range(2000)]

    def expected_params(
        self, probabilities: Mapping[str, Mapping[Any, float]], rng: np.random.Generator
    ) -> float:
        """E[parameters] of the child under one distribution's choice probabilities.

        Exact for the additive part of the count; where parameters depend on how choices
        combine, that part is estimated from 256 architectures drawn with ``rng``.
        """
        fixed, table = self.param_table()
        value = float(fixed) + sum(
            p * table[name][choice]
            for name, probs in probabilities.items()
            for choice, p in probs.items()
        )
        if self.has_structural_params:
            draws = []
            for _ in range(256):
                arch = {}
                for name, probs in probabilities.items():
                    choices, p = zip(*probs.items())
                    arch[name] = choices[int(rng.choice(len(choices), p=np.asarray(p) / sum(p)))]
                draws.append(self._structural_params(arch))
            value += float(np.mean(draws))
        return value

    @property
    def has_structural_params(self) -> bool:
        """Whether parameters depend on how choices combine (not only on each choice)."""
        return type(self)._structural_params is not SearchSpace._structural_params

    # ----------------------------------------------------------------- networks
    @property
    def blocks(self) -> tuple[BlockSpec, ...]:
        """The macro skeleton between stem and head, in forward order."""
        return self._blocks

    def build_stem(self, norm: Norm) -> nn.Module:
        """The stem (input -> first block), with ``norm`` layers (spaces that have one)."""
        raise NotImplementedError(f"{type(self).__name__} has no separate stem")

    def build_head(self, norm: Norm) -> nn.Module:
        """The head (last block -> class logits), with ``norm`` layers (spaces that have one)."""
        raise NotImplementedError(f"{type(self).__name__} has no separate head")

    @abc.abstractmethod
    def build_supernet(self) -> Supernet:
        """The weight-sharing supernet; ``forward(x, arch)`` runs only the selected ops."""
        raise NotImplementedError

    @abc.abstractmethod
    def build_child(self, arch: Mapping[str, str]) -> nn.Module:
        """The standalone network of ``arch`` with fresh weights and ordinary BatchNorm."""
        raise NotImplementedError


class CellSpace(SearchSpace):
    """A space of searched cells in three stages of ``width``, 2 ``width`` and 4 ``width``
    channels (ENAS, NAS-Bench-201): a 3x3 convolution -> norm stem, then ``cells_per_stage``
    cells per stage."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        width: int,
        cells_per_stage: int,
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        sizes = positive_ints(width=width, cells_per_stage=cells_per_stage)
        self.width = sizes["width"]
        self.cells_per_stage = sizes["cells_per_stage"]
        self._kwargs.update(sizes)

    def build_stem(self, norm: Norm) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(self.in_channels, self.width, 3, padding=1, bias=False), norm(self.width)
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value
