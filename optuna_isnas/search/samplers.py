"""The samplers a search can build by name, and the family-returning sampler contract.

``make_sampler(config, space)`` builds ``config.sampler`` with ``config.sampler_options``; a
resumed search rebuilds its sampler the same way (ISNASSampler keeps its whole state in the study;
Optuna's samplers get their random states back from the checkpoint, see ``search.rng``).

:class:`FamilySampler` names what the upper floors need from a sampler that returns a family of
architectures (``ISNASSampler``): every "is this our sampler?" question is ``isinstance(sampler,
FamilySampler)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import optuna

from optuna_isnas.search.config import SAMPLER_NAMES, SearchConfig
from optuna_isnas.search.errors import SearchError

if TYPE_CHECKING:
    from optuna_isnas.spaces import SearchSpace


@runtime_checkable
class FamilySampler(Protocol):
    """A sampler that returns a family of architectures, one per trade-off (``ISNASSampler``).

    Calls to :meth:`architectures` pass ``study`` by keyword where they can, so that the method may
    grow keyword arguments (which family to return) without breaking its callers.
    """

    @property
    def generation_size(self) -> int:
        """Trials asked per generation (per search step)."""
        ...

    @property
    def complexity_budgets(self) -> tuple[float, ...] | None:
        """One complexity budget per member of the family, or None in trade-off mode."""
        ...

    def architectures(self, study: optuna.Study) -> list[dict[str, Any]]:
        """The family: one architecture per distribution, in trade-off order."""
        ...

    def tradeoffs(self, study: optuna.Study) -> list[float]:
        """Each member's current trade-off coefficient."""
        ...

    def probabilities(self, study: optuna.Study) -> list[dict[str, dict[Any, float]]]:
        """Each distribution's probability of every choice, by parameter name."""
        ...

    def expected_complexity(self, study: optuna.Study) -> list[float | None] | None:
        """Each distribution's estimated mean complexity (None before the first update)."""
        ...

    def budgets(self, study: optuna.Study) -> list[float] | None:
        """Each member's current complexity budget (given or placed), None in trade-off mode."""
        ...

    def generation(self, study: optuna.Study) -> int:
        """Generations completed so far (0 before any)."""
        ...

    def candidates(self, study: optuna.Study, *, per_distribution: int | None = None) -> list[Any]:
        """Architectures worth rescoring before the family is chosen (``.params``, ``.entry``)."""
        ...

    def select_from(
        self,
        study: optuna.Study,
        architectures: Sequence[dict[str, Any]],
        values: Sequence[Sequence[float]],
        constraints: Sequence[Sequence[float]] | None = None,
        *,
        unbounded_top: bool = False,
    ) -> list[int | None]:
        """Per member, the index of the architecture it returns among scored ones (or None)."""
        ...


def family_sampler(sampler: object) -> FamilySampler | None:
    """``sampler`` as a :class:`FamilySampler`, or None when it returns no family."""
    return sampler if isinstance(sampler, FamilySampler) else None


# ------------------------------------------------------------------------------------- builders
SamplerBuilder = Callable[[SearchConfig, "SearchSpace | None"], optuna.samplers.BaseSampler]


def _isnas(config: SearchConfig, space: SearchSpace | None) -> optuna.samplers.BaseSampler:
    from optuna_isnas import ISNASSampler

    tradeoff: dict[str, Any]
    if config.epsilons is not None:
        tradeoff = {"epsilons": list(config.epsilons)}
    else:
        if config.budgets is not None:
            tradeoff = {"complexity_budgets": list(config.budgets)}
        else:  # the family of K: largest hypervolume, or size classes
            tradeoff = {"n_distributions": num_distributions(config), "family": config.family}
        if space is not None:
            tradeoff["complexity_fn"] = space.n_params
    # The sandwich trains the space's largest and smallest child at every step and rescores
    # both before the family is chosen: the sampler's predicted ends would only repeat them.
    # A child's value changes as the shared weights train: an earlier one is no stand-in.
    # Re-centring strayed distributions is the sampler's default here too (docs/benchmarks.md,
    # "The hypervolume family on the supernet").
    options = {"evaluate_ends": False, "skip_evaluated": False, **config.sampler_options}
    return ISNASSampler(
        **tradeoff,
        samples_per_distribution=config.samples_per_distribution,
        seed=config.seed,
        **options,
    )


def _nsgaii(config: SearchConfig, space: SearchSpace | None) -> optuna.samplers.BaseSampler:
    population = max(num_distributions(config) * config.samples_per_distribution, 2)
    return optuna.samplers.NSGAIISampler(
        population_size=population, seed=config.seed, **config.sampler_options
    )


def _tpe(config: SearchConfig, space: SearchSpace | None) -> optuna.samplers.BaseSampler:
    options = {"multivariate": True, **config.sampler_options}
    return optuna.samplers.TPESampler(seed=config.seed, **options)


def _random(config: SearchConfig, space: SearchSpace | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=config.seed, **config.sampler_options)


BUILDERS: dict[str, SamplerBuilder] = {
    "isnas": _isnas,
    "nsgaii": _nsgaii,
    "tpe": _tpe,
    "random": _random,
}
"""One builder for each of ``search.config.SAMPLER_NAMES``, in that order."""


def make_sampler(
    config: SearchConfig, space: SearchSpace | None = None
) -> optuna.samplers.BaseSampler:
    """The sampler named by ``config.sampler``, seeded with ``config.seed``, with its options.

    With budgets and a ``space``, ISNASSampler gets ``complexity_fn=space.n_params``: the
    exact parameter count steers each trade-off and repairs the returned architectures
    into their budgets (docs/algorithm.md, section 4).

    Raises:
        SearchError: An unknown sampler, budgets below the smallest child of ``space``, or
            settings or options its constructor rejects.
    """
    try:
        build = BUILDERS[config.sampler]
    except KeyError:
        raise SearchError(
            f"unknown sampler {config.sampler!r}; choose one of {', '.join(SAMPLER_NAMES)}"
        ) from None
    if config.budgets is not None and space is not None:
        check_budgets(config.budgets, space)
    try:
        return build(config, space)
    except (TypeError, ValueError) as exc:
        rejected = (
            f"its options {config.sampler_options} or the search's settings"
            if config.sampler_options
            else "the search's settings"
        )
        raise SearchError(f"the {config.sampler} sampler rejects {rejected}: {exc}") from exc


def fewest_params(space: SearchSpace) -> int:
    """The fewest parameters any child of ``space`` has: the smallest child's (the cheapest
    choice of every variable) where the count adds up per variable, else a lower bound (the
    additive part of the count at its cheapest; the part that depends on how choices combine
    is never negative)."""
    if not space.has_structural_params:
        return space.smallest_params()
    fixed, table = space.param_table()
    return fixed + sum(min(per_choice.values()) for per_choice in table.values())


def check_budgets(budgets: Sequence[float], space: SearchSpace) -> None:
    """Refuse complexity budgets that no child of ``space`` fits.

    Raises:
        SearchError: A budget below :func:`fewest_params`, naming that count.
    """
    floor = fewest_params(space)
    below = [b for b in budgets if b < floor]
    if below:
        smallest = (
            f"the smallest child of the {space.name!r} space has {floor:,} parameters"
            if not space.has_structural_params
            else f"every child of the {space.name!r} space has at least {floor:,} parameters"
        )
        shown = f"{below[0]:,.0f}" if below[0] >= 1 else f"{below[0]:g}"
        raise SearchError(
            f"budget {shown} is below what any architecture can fit: {smallest}; "
            f"give budgets of at least {floor:,}"
        )


def num_distributions(config: SearchConfig) -> int:
    """K: the number of epsilons or budgets given, else ``num_distributions``, else the default."""
    from optuna_isnas.sampler import DEFAULT_N_DISTRIBUTIONS

    for given in (config.epsilons, config.budgets):
        if given is not None:
            return len(given)
    return config.num_distributions or DEFAULT_N_DISTRIBUTIONS


def generation_size(sampler: object, config: SearchConfig) -> int:
    """Trials asked per step: a family sampler's generation, else K * lambda from the settings."""
    family = family_sampler(sampler)
    if family is not None and family.generation_size:
        return int(family.generation_size)
    return num_distributions(config) * config.samples_per_distribution
