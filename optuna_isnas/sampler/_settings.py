"""The sampler's settings of the numpy core, validated once and used to build it.

``ISNASSampler`` takes its arguments as Python values a user types; this module turns them
into one frozen record with clear ``ValueError``s for anything that cannot work, and builds
the core optimizer from it (for the study's number of objectives).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optuna_isnas.core import ISNAS
from optuna_isnas.core.archive import DEFAULT_SIZE

#: K of the default family (docs/algorithm.md, "The hypervolume family").
DEFAULT_N_DISTRIBUTIONS = 4
#: lambda (samples per distribution and generation) of a two-objective study when none is
#: given. Once the K distributions have spread over sizes each learns mostly from its own
#: samples (measured: effective sample size about lambda of the K * lambda pooled ones late in
#: a search), and 4 is the smallest lambda whose own ranking has a sample in each outer
#: quartile of the utility (docs/algorithm.md, "lambda").
SAMPLES_PER_DISTRIBUTION = 4


def single_objective_samples(n_parameters: int) -> int:
    """lambda of a single-objective study (one distribution, plain ASNG) when none is given:
    CMA-ES's population size ``4 + floor(3 ln n)`` for ``n`` modelled parameters (Hansen, "The
    CMA Evolution Strategy: A Tutorial", 2016), 4 for one parameter, 10 for eight. One
    distribution has no other distributions' samples to learn from, and a Gaussian over a
    valley (a depth and the learning rate that goes with it) needs more than ASNG-NAS's 2
    samples per step to be ranked (docs/algorithm.md, "lambda")."""
    return 4 + math.floor(3 * math.log(max(n_parameters, 1)))


#: Trade-offs of the paper's fixed-eps mode when K is known but no epsilons are given
#: (docs/algorithm.md section 3); ``ISNASSampler(epsilons=DEFAULT_EPSILONS)``.
DEFAULT_EPSILONS: tuple[float, ...] = (0.0, 1.0, 3.0, 9.0)
#: How the K distributions spread when neither trade-offs nor budgets are given:
#: "hypervolume" (the K evaluated points of largest hypervolume, ``optuna_isnas.core.family``)
#: or "size-classes" (budgets placed between the smallest and largest complexity seen).
FAMILIES = ("hypervolume", "size-classes")
DEFAULT_FAMILY = "hypervolume"


def _numbers(name: str, value: Any, example: str) -> tuple[float, ...] | None:
    """A list of real numbers, or None; ValueError naming ``name`` for anything else."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list of numbers, e.g. {name}={example}; got {value!r}.")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ValueError(
                f"{name} must hold numbers only, e.g. {name}={example}; got {value!r}."
            )
        out.append(float(v))
    return tuple(out)


def switch(name: str, value: Any) -> bool:
    """``value`` as a bool; ValueError naming ``name`` unless it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def _integer(name: str, value: Any, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
        raise ValueError(f"{name} must be an integer >= {lowest}, got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class CoreSettings:
    """Everything the core optimizer is configured with, except the search space and seed."""

    epsilons: tuple[float, ...] | None
    budgets: tuple[float, ...] | None
    size_classes: int | None
    hypervolume: int | None
    log_complexity: bool
    reference_point: tuple[float, float] | None
    samples_per_distribution: int
    single_objective_samples: int | None  # None: single_objective_samples(n) at build
    alpha: float
    init_delta: float
    loss_scale: float | None
    complexity_scale: float | None
    archive_size: int
    recentre_members: bool = True

    @classmethod
    def from_arguments(
        cls,
        *,
        epsilons: Any,
        complexity_budgets: Any,
        n_distributions: Any,
        family: Any,
        log_complexity: Any,
        reference_point: Any,
        samples_per_distribution: Any,
        alpha: Any,
        init_delta: Any,
        loss_scale: Any,
        complexity_scale: Any,
        archive_size: Any,
        recentre_members: Any = True,
    ) -> CoreSettings:
        """Validate ``ISNASSampler``'s arguments (ValueError saying what is allowed)."""
        eps = _numbers("epsilons", epsilons, "[0.0, 1.0, 3.0, 9.0]")
        budgets = _numbers("complexity_budgets", complexity_budgets, "[20e3, 50e3, 100e3]")
        if eps is not None and budgets is not None:
            raise ValueError(
                "give either epsilons (fixed trade-offs) or complexity_budgets (one budget "
                "per distribution), not both."
            )
        if eps is not None and list(eps) != sorted(eps):
            raise ValueError(
                f"epsilons must be in increasing order (distribution k has the k-th smallest "
                f"trade-off, so the family goes from large to small models); got {list(eps)}, "
                f"did you mean {sorted(eps)}?"
            )
        k = None
        if n_distributions is not None:
            k = _integer("n_distributions", n_distributions, 1)
            given = eps if eps is not None else budgets
            if given is not None and len(given) != k:
                raise ValueError(
                    f"n_distributions={k} disagrees with the {len(given)} "
                    f"{'epsilons' if eps is not None else 'complexity_budgets'} given; "
                    "drop n_distributions (K is their number)."
                )
        if family not in FAMILIES:
            raise ValueError(
                f"family must be one of {', '.join(map(repr, FAMILIES))}, got {family!r}."
            )
        if not isinstance(log_complexity, bool):
            raise ValueError(f"log_complexity must be True or False, got {log_complexity!r}.")
        reference = _numbers("reference_point", reference_point, "[0.5, 1e6]")
        if reference is not None and len(reference) != 2:
            raise ValueError(
                "reference_point must be two numbers, (loss, complexity), e.g. "
                f"reference_point=[0.5, 1e6]; got {reference_point!r}."
            )
        size_classes = hypervolume = None
        if eps is None and budgets is None:
            if family == "hypervolume":
                hypervolume = k if k is not None else DEFAULT_N_DISTRIBUTIONS
            else:
                size_classes = k if k is not None else DEFAULT_N_DISTRIBUTIONS
        elif reference is not None or family != DEFAULT_FAMILY:
            raise ValueError(
                "family and reference_point choose how K distributions spread when neither "
                "epsilons nor complexity_budgets is given; drop them, or drop those."
            )
        if samples_per_distribution is None:
            lam, lam_single = SAMPLES_PER_DISTRIBUTION, None
        else:
            lam = lam_single = _integer("samples_per_distribution", samples_per_distribution, 1)
        settings = cls(
            epsilons=eps,
            budgets=budgets,
            size_classes=size_classes,
            hypervolume=hypervolume,
            log_complexity=log_complexity,
            reference_point=None if reference is None else (reference[0], reference[1]),
            samples_per_distribution=lam,
            single_objective_samples=lam_single,
            alpha=alpha,
            init_delta=init_delta,
            loss_scale=loss_scale,
            complexity_scale=complexity_scale,
            archive_size=_integer("archive_size", archive_size, 1),
            recentre_members=switch("recentre_members", recentre_members),
        )
        settings.build([2], None, n_objectives=2)  # the core's own checks, now
        return settings

    @property
    def n_distributions(self) -> int:
        """K in a two-objective study."""
        for given in (self.epsilons, self.budgets):
            if given is not None:
                return len(given)
        return self.size_classes or self.hypervolume or DEFAULT_N_DISTRIBUTIONS

    def build(
        self,
        n_choices: Sequence[int],
        seed: int | None,
        *,
        n_objectives: int,
        loss_sign: float = 1.0,
        numeric_cells: Sequence[int] = (),
    ) -> ISNAS:
        """The core optimizer for a study with ``n_objectives`` objectives.

        A single-objective study runs plain ASNG: one distribution with eps = 0. ``loss_sign``
        is -1 when the first objective is maximised: the core minimises ``-value``, so a
        reference point given in the study's own units (an accuracy) is turned the same way.
        """
        if n_objectives == 1:
            modelled = sum(c > 1 for c in n_choices) + len(numeric_cells)
            lam = self.single_objective_samples or single_objective_samples(modelled)
        else:
            lam = self.samples_per_distribution
        common: dict[str, Any] = {
            "samples_per_distribution": lam,
            "alpha": self.alpha,
            "init_delta": self.init_delta,
            "loss_scale": self.loss_scale,
            "complexity_scale": self.complexity_scale,
            "archive_size": self.archive_size,
            "numeric_cells": numeric_cells,
            "seed": seed,
        }
        if n_objectives == 1:
            return ISNAS(n_choices, [0.0], **common)
        if self.budgets is not None:
            return ISNAS(n_choices, budgets=self.budgets, **common)
        if self.epsilons is not None:
            return ISNAS(n_choices, self.epsilons, **common)
        if self.hypervolume is not None:
            return ISNAS(
                n_choices,
                hypervolume=self.hypervolume,
                log_complexity=self.log_complexity,
                reference_point=None
                if self.reference_point is None
                else (loss_sign * self.reference_point[0], self.reference_point[1]),
                recentre_members=self.recentre_members,
                **common,
            )
        return ISNAS(n_choices, size_classes=self.size_classes, **common)


__all__ = [
    "DEFAULT_ARCHIVE_SIZE",
    "DEFAULT_EPSILONS",
    "DEFAULT_FAMILY",
    "DEFAULT_N_DISTRIBUTIONS",
    "FAMILIES",
    "SAMPLES_PER_DISTRIBUTION",
    "CoreSettings",
    "single_objective_samples",
]
DEFAULT_ARCHIVE_SIZE = DEFAULT_SIZE
