"""``ISNASSampler``: the Optuna adapter of the numpy core."""

from __future__ import annotations

import logging
import math
import numbers
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalChoiceType, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial

from optuna_isnas.core import Solution
from optuna_isnas.core.archive import Archive
from optuna_isnas.core.archive import Entry as ArchiveEntry
from optuna_isnas.core.budget import repair_to_budget
from optuna_isnas.core.reevaluation import DEFAULT_SHARE
from optuna_isnas.sampler import _storage
from optuna_isnas.sampler._extra_trials import (
    Finalists,
    end_params,
    first_reevaluating_trial,
    holds,
    propose_ends,
)
from optuna_isnas.sampler._generations import (
    EXTRA,
    GenerationTracker,
    Tally,
    TrialRecord,
    closing_time,
    leftovers,
    next_distribution,
    pooled_solutions,
    record_of,
    tally,
)
from optuna_isnas.sampler._known import Evaluated, draws, encode, first_unevaluated
from optuna_isnas.sampler._numeric import cells, is_numeric, to_unit
from optuna_isnas.sampler._settings import (
    DEFAULT_ARCHIVE_SIZE,
    DEFAULT_FAMILY,
    CoreSettings,
    switch,
)
from optuna_isnas.sampler._state import (
    CLOSED_KEY,
    DISTRIBUTION_KEY,
    GENERATION_KEY,
    KNOWN_KEY,
    SamplerState,
    StateStore,
)

_logger = logging.getLogger(__name__)


def _modelled(dist: BaseDistribution) -> bool:
    """Whether the sampler models a parameter: categorical, or numeric with several values."""
    return isinstance(dist, CategoricalDistribution) or is_numeric(dist)


#: Where ``architectures()`` takes the family from.
ArchitectureSource = Literal["evaluated", "mode"]


@dataclass
class Candidate:
    """An architecture worth rescoring before the family is chosen (``ISNASSampler.candidates``).

    Attributes:
        params: the architecture, parameter name -> choice.
        distributions: the distributions whose short list holds it (or whose mode it is).
        is_mode: it is the most likely architecture of at least one distribution.
        entry: its archive entry (pooled evaluations), None if it was never evaluated.
    """

    params: dict[str, CategoricalChoiceType]
    distributions: list[int]
    is_mode: bool
    entry: ArchiveEntry | None


class ISNASSampler(BaseSampler):
    """Several architectures of different complexity from one search (IS-NAS).

    Keeps K categorical distributions over the study's categorical parameters and updates
    every one of them from the samples of all of them through mixture importance weights,
    with ASNG's adaptive natural-gradient step (Noda, Saito, Shirakawa, ICANN 2022; Akimoto
    et al., ASNG-NAS, ICML 2019).

    The study has two objectives, performance first (a loss or error to minimise, or an
    accuracy to maximise) and complexity second (minimised). By default (no ``epsilons``, no
    ``complexity_budgets``) the family is the K = ``n_distributions`` (4) evaluated
    architectures of largest hypervolume (Auger et al., FOGA 2009), and each distribution
    ranks samples by their uncrowded hypervolume improvement over the other members
    (Sofomore, Touré et al., GECCO 2019). With ``complexity_budgets`` distribution k looks
    for the best model within ``b_k``; with ``epsilons`` it ranks by
    ``L / s_L + eps_k * c / s_c`` (the paper's fixed trade-offs; see ``loss_scale``). A
    single-objective study runs plain ASNG with one distribution.

    Trials come in generations of ``K * samples_per_distribution``; each trial records
    its generation and distribution in its system attributes. The state lives in the
    study's storage, so several workers, or a restarted process, continue one search.

    Args:
        epsilons: the paper's fixed complexity trade-offs instead of the default family,
            one distribution each, in increasing order for large-to-small models (e.g.
            ``(0.0, 1.0, 3.0, 9.0)``, ``optuna_isnas.sampler.DEFAULT_EPSILONS``). None
            (default): the hypervolume family (see ``family``).
        n_distributions: K, the number of distributions and of returned architectures, when
            neither ``epsilons`` nor ``complexity_budgets`` is given (default 4; with them K
            is their number).
        complexity_budgets: alternatively, one budget on the second objective per
            distribution (e.g. ``[0.2e6, 0.5e6, 1e6]`` parameters): distribution k looks
            for the lowest-loss architecture whose complexity is at most ``b_k`` and adapts
            its own trade-off (``tradeoffs(study)``) during the search. Giving both
            ``epsilons`` and ``complexity_budgets`` is an error.
        complexity_fn: optional, with ``complexity_budgets``: the exact complexity of an
            architecture, ``fn(params) -> float`` (for a supernet, its parameter count).
            Each trade-off then follows whether the distribution's most likely
            architecture fits, and ``architectures()`` returns, per distribution, the most
            likely architecture within its budget (greedy repair of the mode). Without it
            the trade-offs follow the sampled violation rate.
        samples_per_distribution: ``lambda``, trials each distribution draws per
            generation. None (default): 4 in a two-objective study (each distribution of
            a spread-out family learns mostly from its own samples; docs/algorithm.md,
            "lambda"); in a single-objective study CMA-ES's population for its n modelled
            parameters, ``4 + floor(3 ln n)`` (``single_objective_samples``).
        alpha: ASNG's step-size adaptation threshold (default 1.5).
        init_delta: ASNG's initial trust-region radius (default 1.0).
        family: how the K distributions spread when neither ``epsilons`` nor
            ``complexity_budgets`` is given: ``"hypervolume"`` (default) or ``"size-classes"``
            (docs/algorithm.md sections 9 and 6).
        log_complexity: hypervolume family: measure complexity on a log10 axis (default) or a
            linear one.
        reference_point: hypervolume family: ``(performance, complexity)`` in the study's own
            units (an accuracy for a maximised first objective): models beyond it add nothing
            to the family. None (default): a point that follows the front of what was evaluated.
        loss_scale: fixed scale ``s_L`` of the first objective; None (default) estimates
            the spread of the loss online, which makes ``eps`` unit-free.
        complexity_scale: fixed scale ``s_c`` of the second objective; None (default)
            uses the largest complexity seen so far.
        seed: seed for sampling; sampling of trial ``n`` depends only on ``(seed, n)``.
        independent_sampler: sampler for parameters that are not modelled (neither
            categorical nor numeric with more than one value) and for the first trial(s),
            before a completed trial reveals the search space. Default
            ``RandomSampler(seed=seed)``.
        warn_independent_sampling: log one warning when a parameter is sampled by the
            independent sampler after the search space is known.
        archive_size: evaluated architectures kept per distribution, from which
            ``architectures()`` chooses the family (default 4; docs/algorithm.md section 6).
        n_trials: the number of trials the study will run (as ``study.optimize(n_trials=...)``
            on a new study). When given, its last ``reevaluation_share`` of trials, counted by
            trial number, re-evaluate finalists instead of sampling: the family's members and
            the archive's non-dominated entries, the least evaluated first, so the family is
            chosen on pooled means of several noisy evaluations (docs/algorithm.md section 9,
            "Noise"). None (default): every trial samples.
        evaluate_ends: hypervolume family: evaluate the least and the most complex
            configuration that a cost model fitted to the trials predicts, once enough trials
            completed and again whenever they have doubled (default True; docs/algorithm.md
            section 9, "Coverage"). The one-shot search turns it off: its sandwich already
            trains and rescores the space's extreme children.
        skip_evaluated: a draw of a configuration that a closed generation already evaluated
            takes its pooled values, and the distribution draws again (at most 4 times), so
            trials evaluate new configurations while every distribution still learns from all
            its draws (default True; docs/algorithm.md section 9, "Repeats"). The one-shot
            search turns it off: there a configuration's value changes as the shared weights
            train.
        recentre_members: hypervolume family: after each update, a distribution that has
            strayed from the family member it owns (draws it under 1/1,000 as often as its own
            mode) moves halfway from uniform onto it (default True; docs/algorithm.md section
            9, "Members without a distribution"); the one-shot search does too.
        reevaluation_share: with ``n_trials``, the share of the trials that re-evaluates
            (default 0.05; 0 turns re-evaluation off; docs/algorithm.md section 9).
    """

    def __init__(
        self,
        *,
        epsilons: Sequence[float] | None = None,
        complexity_budgets: Sequence[float] | None = None,
        n_distributions: int | None = None,
        family: str = DEFAULT_FAMILY,
        log_complexity: bool = True,
        reference_point: Sequence[float] | None = None,
        complexity_fn: Callable[[dict[str, Any]], float] | None = None,
        samples_per_distribution: int | None = None,
        alpha: float = 1.5,
        init_delta: float = 1.0,
        loss_scale: float | None = None,
        complexity_scale: float | None = None,
        seed: int | None = None,
        independent_sampler: BaseSampler | None = None,
        warn_independent_sampling: bool = True,
        archive_size: int = DEFAULT_ARCHIVE_SIZE,
        n_trials: int | None = None,
        reevaluation_share: float = DEFAULT_SHARE,
        evaluate_ends: bool = True,
        skip_evaluated: bool = True,
        recentre_members: bool = True,
    ) -> None:
        if complexity_fn is not None and not callable(complexity_fn):
            raise ValueError(f"complexity_fn must be callable, got {complexity_fn!r}.")
        if complexity_fn is not None and epsilons is not None:
            raise ValueError(
                "complexity_fn is used with budgets (complexity_budgets, or the default size "
                "classes) only; drop it, or drop epsilons."
            )
        if independent_sampler is not None and not isinstance(independent_sampler, BaseSampler):
            raise ValueError(
                "independent_sampler must be an Optuna sampler object, e.g. "
                f"optuna.samplers.RandomSampler(seed=0); got {independent_sampler!r}."
            )
        self._settings = CoreSettings.from_arguments(
            epsilons=epsilons,
            complexity_budgets=complexity_budgets,
            n_distributions=n_distributions,
            family=family,
            log_complexity=log_complexity,
            reference_point=reference_point,
            samples_per_distribution=samples_per_distribution,
            alpha=alpha,
            init_delta=init_delta,
            loss_scale=loss_scale,
            complexity_scale=complexity_scale,
            archive_size=archive_size,
            recentre_members=recentre_members,
        )
        if seed is not None and (
            isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0
        ):
            raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}.")
        self._evaluate_ends = switch("evaluate_ends", evaluate_ends)
        self._skip_evaluated = switch("skip_evaluated", skip_evaluated)
        self._evaluated = Evaluated()
        self._reevaluate_from = first_reevaluating_trial(n_trials, reevaluation_share)
        self._finalists = Finalists()
        self._complexity_fn = complexity_fn
        self._seed = int(seed) if seed is not None else random.SystemRandom().getrandbits(32)
        self._independent_sampler = independent_sampler or RandomSampler(
            seed=None if seed is None else int(seed)
        )
        self._warn_independent_sampling = warn_independent_sampling
        self._warned = False
        self._warned_about: set[str] = set()
        self._store = StateStore()
        self._tracker = GenerationTracker()
        self._search_space = IntersectionSearchSpace()
        self._lock = threading.RLock()
        self._study_key: tuple[int, int] | None = None

    # ------------------------------------------------------------------ public API
    @property
    def epsilons(self) -> tuple[float, ...] | None:
        """The fixed trade-offs given at construction, or None (budgets or size classes)."""
        return self._settings.epsilons

    @property
    def complexity_budgets(self) -> tuple[float, ...] | None:
        """The budgets given at construction, or None (trade-offs or size classes)."""
        return self._settings.budgets

    @property
    def n_distributions(self) -> int:
        """K, the number of distributions (and of returned architectures)."""
        return self._settings.n_distributions

    @property
    def generation_size(self) -> int:
        """Trials per generation in a two-objective study: ``K * lambda``."""
        return self._settings.n_distributions * self._settings.samples_per_distribution

    def architectures(
        self, study: Study, *, source: ArchitectureSource = "evaluated"
    ) -> list[dict[str, CategoricalChoiceType]]:
        """The family the search returns: one architecture (parameter -> choice) per distribution.

        Args:
            study: the study this sampler searched.
            source: ``"evaluated"`` (default): per distribution, the best architecture the
                search has evaluated for that distribution's own objective, from a small archive
                kept in the sampler's state. Repeated evaluations of an architecture are pooled
                and compared by a pessimistic mean (one standard error above it), so a single
                lucky evaluation does not win. Trade-off mode: lowest ``L / s_L + eps_k c / s_c``,
                the K architectures distinct and none dominated by another. Budget mode: lowest
                loss within ``b_k``, never over it. Trials with constraints
                (``trial.set_constraint``) are returned only when feasible.
                ``"mode"``: the most likely architecture of each distribution, argmax of theta
                (the paper's answer; in budget mode with ``complexity_fn``, repaired into its
                budget). After a realistic budget the distributions have not converged and the
                mode can be an architecture never evaluated, or worse than evaluated ones
                (docs/algorithm.md, "What the search returns").

        Closes the current generation first if all its trials are complete; every completed
        trial the archive has not taken yet counts too (the open generation's, and those that
        finished after their generation closed, pooled into a copy of the archive), so a
        study stopped mid-generation loses nothing it evaluated. Raises ValueError with
        ``source="evaluated"`` while no trial has completed with finite values.
        A distribution with nothing eligible evaluated (e.g. no evaluated architecture within
        its budget) gets its mode, with a logged warning.
        """
        if source not in ("evaluated", "mode"):
            raise ValueError(f"source must be 'evaluated' or 'mode', got {source!r}.")
        state, t = self._synced(study)
        modes = self._modes(state)
        if source == "mode":
            return [state.params_of(row, state.core.means[k]) for k, row in enumerate(modes)]
        archive = self._archive_now(study, state, t)
        if len(archive) == 0:
            raise ValueError(
                "ISNASSampler has evaluated nothing it can return in this study yet (no "
                "completed trial with finite values): run more trials, or ask for "
                "source='mode'."
            )
        family = []
        for k, index in enumerate(state.core.select(archive=archive)):
            if index is None:
                _logger.warning(
                    f"ISNASSampler: distribution {k} has no eligible evaluated architecture "
                    "(none within its budget or constraints); returning its most likely one."
                )
                family.append(state.params_of(modes[k], state.core.means[k]))
            else:
                family.append(self._evaluated_params(study, state, archive.entries[index]))
        return family

    @staticmethod
    def _evaluated_params(
        study: Study, state: SamplerState, entry: ArchiveEntry
    ) -> dict[str, CategoricalChoiceType]:
        """An archive entry as parameters: those of its latest trial (unmodelled ones too,
        e.g. conditional parameters), with the modelled choices that define the entry."""
        z = np.array([np.nan if v is None else v for v in entry.z], dtype=np.float64)
        params = state.params_of(np.asarray(entry.x, dtype=np.int64), z)
        trial = _storage.trial_by_number(study, entry.trial) if entry.trial >= 0 else None
        # The trial holds the entry's exact values (numeric ones too) and its unmodelled ones.
        return params if trial is None else {**params, **trial.params}

    def candidates(self, study: Study, *, per_distribution: int | None = None) -> list[Candidate]:
        """Architectures worth rescoring before choosing the family (e.g. with final weights).

        Per distribution, its ``per_distribution`` best archive entries (default: the whole
        archive's share, ``archive_size``) and its most likely architecture; each architecture
        once. Score them on the data you trust and pass the values to ``select_from``.
        """
        state, t = self._synced(study)
        core = state.core
        archive = self._archive_now(study, state, t)
        m = core.archive.size if per_distribution is None else int(per_distribution)
        if m < 0:
            raise ValueError(f"per_distribution must be >= 0, got {per_distribution!r}.")
        found: dict[tuple[Any, ...], Candidate] = {}

        def add(row: np.ndarray, k: int, entry: ArchiveEntry | None) -> None:
            if entry is not None:
                key: tuple[Any, ...] = entry.key
            else:
                key = (tuple(int(v) for v in row), tuple(state.core.means[k].tolist()))
            cand = found.get(key)
            if cand is None:
                if entry is None:
                    params = state.params_of(row, state.core.means[k])
                else:
                    params = self._evaluated_params(study, state, entry)
                cand = found[key] = Candidate(params, [], False, entry)
            if k not in cand.distributions:
                cand.distributions.append(k)
            if entry is None:
                cand.is_mode = True

        for k, order in enumerate(archive.ranked(core.rank_keys())):
            for i in order[:m]:
                add(np.asarray(archive.entries[i].x), k, archive.entries[i])
        for k, row in enumerate(self._modes(state)):
            add(row, k, None)
        return list(found.values())

    def select_from(
        self,
        study: Study,
        architectures: Sequence[dict[str, Any]],
        values: Sequence[Sequence[float]],
        constraints: Sequence[Sequence[float]] | None = None,
        *,
        unbounded_top: bool = False,
    ) -> list[int | None]:
        """The family among architectures you scored: per distribution, an index or None.

        Args:
            study: the study this sampler searched (its directions, scales and trade-offs are
                used).
            architectures: candidate architectures (e.g. from ``candidates``).
            values: their objective values as you would tell them (performance, complexity).
            constraints: optional constraint values per candidate (feasible when all <= 0).

        The same rules as ``architectures(source="evaluated")``, on your values instead of the
        archive's pooled estimates. ``unbounded_top=True`` lets the largest size class (the
        default family) take a candidate of any size, so the family starts at the most accurate
        one (what the one-shot search loop does; docs/algorithm.md, "What the search returns").
        """
        if len(architectures) != len(values):
            raise ValueError("give one (performance, complexity) pair per architecture.")
        state = self._synced_state(study)
        for n, arch in enumerate(architectures):
            self._check_architecture(state, n, arch)
        signs = self._signs(study)
        vals = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if vals.shape[1] != len(study.directions) or not np.all(np.isfinite(vals)):
            raise ValueError(
                f"values must hold {len(study.directions)} finite numbers per architecture."
            )
        losses = signs[0] * vals[:, 0]
        costs = signs[1] * vals[:, 1] if vals.shape[1] > 1 else np.zeros(len(values))
        viol = np.zeros(len(values))
        if constraints is not None:
            viol = np.array(
                [sum(min(max(0.0, float(c)), 1e300) for c in row) for row in constraints]
            )
        return state.core.select(None, losses, costs, viol, unbounded_top=unbounded_top)

    @staticmethod
    def _check_architecture(state: SamplerState, n: int, arch: Any) -> None:
        """ValueError unless ``arch`` is a dict whose modelled parameters hold modelled choices.

        A modelled parameter may be absent (a trial that skipped a conditional parameter),
        but not all of them; parameters the sampler does not model are not checked.
        """
        if not isinstance(arch, Mapping):
            raise ValueError(
                f"architectures[{n}] must be a dict parameter -> choice (e.g. a candidate's "
                f"params), got {arch!r}."
            )
        if not any(name in arch for name in state.distributions):
            raise ValueError(
                f"architectures[{n}] holds none of the modelled parameters "
                f"{state.names}: {dict(arch)!r}."
            )
        for name, dist in state.distributions.items():
            if name not in arch:
                continue
            if not isinstance(dist, CategoricalDistribution):
                if math.isnan(to_unit(state.numeric(name), arch[name])):
                    raise ValueError(
                        f"architectures[{n}][{name!r}] = {arch[name]!r} is not a value of "
                        f"{name!r}: a number in [{dist.low}, {dist.high}]."  # type: ignore[attr-defined]
                    )
                continue
            try:
                dist.to_internal_repr(arch[name])
            except ValueError:
                raise ValueError(
                    f"architectures[{n}][{name!r}] = {arch[name]!r} is not one of the "
                    f"choices of {name!r}: {list(dist.choices)!r}."
                ) from None

    def probabilities(self, study: Study) -> list[dict[str, dict[CategoricalChoiceType, float]]]:
        """Each distribution's probability of every choice, by categorical parameter name."""
        state = self._synced_state(study)
        out = []
        for theta in state.core.thetas:
            per_param = {}
            for i, name in enumerate(state.names):
                choices = state.distributions[name].choices  # type: ignore[attr-defined]
                per_param[name] = {c: float(theta[i, j]) for j, c in enumerate(choices)}
            out.append(per_param)
        return out

    def numeric_distributions(self, study: Study) -> list[dict[str, tuple[int | float, float]]]:
        """Each distribution's Gaussian over every numeric parameter, by name: the value at its
        mean, and its standard deviation as a share of the parameter's range (of its log range
        for ``log=True``; 0.5 at the start, smaller as it narrows)."""
        state = self._synced_state(study)
        core = state.core
        return [
            {
                name: (
                    state.numeric_params(core.means[k])[name],
                    float(np.sqrt(core.variances[k, i])),
                )
                for i, name in enumerate(state.numeric_names)
            }
            for k in range(core.n_distributions)
        ]

    def expected_complexity(self, study: Study) -> list[float | None] | None:
        """Importance-weighted estimate of each distribution's mean complexity.

        From the last update, in the units of the second objective; None before the first
        (also when no trial has completed yet).
        """
        with self._lock:
            self._bind(study)
            if self._store.load(study) is None:
                return None
        ec = self._synced_state(study).core.expected_complexity
        return None if ec is None else [None if np.isnan(v) else float(v) for v in ec]

    def tradeoffs(self, study: Study) -> list[float]:
        """Each distribution's current trade-off ``eps_k`` (adapted in budget mode); empty in
        the hypervolume family, whose distributions have none."""
        core = self._synced_state(study).core
        return [] if core.family is not None else [float(e) for e in core.epsilons]

    def budgets(self, study: Study) -> list[float] | None:
        """Each distribution's current complexity budget, or None in trade-off mode.

        The budgets given at construction, or, for the default size classes, the budgets
        placed from the sizes seen so far (None before the first generation closed).
        """
        with self._lock:
            self._bind(study)
            if self._store.load(study) is None:
                return None
        core = self._synced_state(study).core
        if core.budgets is None or (core.size_classes is not None and core.generation == 0):
            return None
        return [float(b) for b in core.budgets]

    def generation(self, study: Study) -> int:
        """Number of generations completed (updates applied) so far; 0 before any trial."""
        with self._lock:
            self._bind(study)
            if self._store.load(study) is None:
                return 0
        return int(self._synced_state(study).core.generation)

    def __getstate__(self) -> dict[str, Any]:
        # Locks can't be pickled and caches are per process: drop both.
        state = self.__dict__.copy()
        for key in ("_lock", "_store", "_tracker", "_study_key", "_finalists", "_evaluated"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._store = StateStore()
        self._tracker = GenerationTracker()
        self._study_key = None
        self._finalists = Finalists()
        self._evaluated = Evaluated()

    # ------------------------------------------------------------------ BaseSampler
    def reseed_rng(self) -> None:
        self._seed = random.SystemRandom().getrandbits(32)
        self._independent_sampler.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        self._check_directions(study)
        with self._lock:
            self._bind(study)
            # The distributions never change once a state exists, so the state this process
            # decoded last will do (sample_relative reads the fresh one): a storage read less
            # per trial.
            state = self._store.cached() or self._store.load(study)
            if state is not None:
                return dict(state.distributions)
            space = self._search_space.calculate(study)
            return {name: dist for name, dist in space.items() if _modelled(dist)}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        self._check_directions(study)
        with self._lock:
            self._bind(study)
            state = self._store.load(study)
            if state is None:
                state = self._initialise(study, search_space)
                if state is None:
                    return self._sample_others(study, trial, search_space, set())
            state, t = self._advance(study, state, trial)
            if self._reevaluate_from is not None and trial.number >= self._reevaluate_from:
                repeat = self._finalists.pick(
                    study,
                    state,
                    self._unarchived(study, state, t),
                    t,
                    trial,
                    self._evaluated_params,
                )
                if repeat is not None:
                    return {name: v for name, v in repeat.items() if name in search_space}
            end = end_params(study, state, trial)
            if end is not None:
                return {name: v for name, v in end.items() if name in search_space}
            k = next_distribution(t, trial.number)
            # Enqueued values (``study.enqueue_trial``) were not drawn from distribution k:
            # such a trial is evaluated all the same, so it goes to the archive, not to the
            # distributions' update (docs/algorithm.md, "Existing studies").
            fixed = trial.system_attrs.get("fixed_params") or {}
            tag = EXTRA if any(name in state.distributions for name in fixed) else k
            # Distribution first: a trial counts as tagged once its generation is set.
            _storage.set_trial_system_attr(study, trial, DISTRIBUTION_KEY, tag)
            _storage.set_trial_system_attr(study, trial, GENERATION_KEY, state.core.generation)
            # A continuous float never takes a value twice: nothing to look up then.
            if self._skip_evaluated and not np.any(state.core.numeric_cells == 0):
                self._evaluated.catch_up(study, state, self._signs(study))
                x, z, known = first_unevaluated(state, k, self._seed, trial.number, self._evaluated)
                if known:
                    _storage.set_trial_system_attr(study, trial, KNOWN_KEY, encode(known))
            else:
                x, z = next(draws(state, k, self._seed, trial.number))
            params = {
                name: value for name, value in state.params_of(x, z).items() if name in search_space
            }
        params.update(self._sample_others(study, trial, search_space, set(params)))
        return params

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        with self._lock:
            repeat = self._finalists.repeated(trial._trial_id)
        if param_name in repeat and holds(param_distribution, repeat[param_name]):
            return repeat[param_name]  # a re-evaluation repeats its finalist's value
        if self._warn_independent_sampling and not self._warned:
            state = self._store.load(study)
            if state is not None and param_name not in state.distributions:
                self._warned = True
                _logger.warning(
                    f"ISNASSampler models the categorical, int and float parameters it saw "
                    f"in the first completed trial; parameter {param_name!r} "
                    f"({type(param_distribution).__name__}) of trial {trial.number} is "
                    f"sampled by {type(self._independent_sampler).__name__}. This warning is "
                    f"shown once per sampler (pass warn_independent_sampling=False to silence it)."
                )
        return self._independent_sampler.sample_independent(
            study, trial, param_name, param_distribution
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: Any,
        values: Sequence[float] | None,
    ) -> None:
        # Nothing to do: generations close when the next trial is sampled or when
        # results are read, because after_trial is not guaranteed to run (stale trials).
        with self._lock:
            self._finalists.forget(trial._trial_id)
        self._independent_sampler.after_trial(study, trial, state, values)

    # ------------------------------------------------------------------ internals
    def _bind(self, study: Study) -> None:
        """Reset per-process caches when the sampler moves to another study."""
        key = _storage.study_key(study)
        if key != self._study_key:
            self._study_key = key
            self._store.forget()
            self._tracker.forget_all()
            self._finalists = Finalists()
            self._evaluated.clear()

    def _n_objectives(self, study: Study) -> int:
        n = len(study.directions)
        if n == 1 and self._settings.budgets is not None:
            raise ValueError(
                "complexity_budgets need a two-objective study (performance, complexity); "
                "this study has one objective."
            )
        if n == 1 and self._settings.epsilons is not None and len(self._settings.epsilons) > 1:
            _logger.warning(
                "ISNASSampler in a single-objective study runs plain ASNG with one "
                f"distribution; the {len(self._settings.epsilons)} epsilons given are ignored."
            )
        return n

    def _check_directions(self, study: Study) -> None:
        directions = study.directions
        if len(directions) > 2:
            raise ValueError(
                f"ISNASSampler supports one objective (plain ASNG) or two objectives "
                f"(performance, complexity); this study has {len(directions)}."
            )
        if len(directions) == 2 and directions[1] != StudyDirection.MINIMIZE:
            raise ValueError(
                "ISNASSampler reads the second objective as the complexity (parameters, "
                "FLOPs, latency) and needs it minimised: create the study with "
                "directions=[<'minimize' or 'maximize'>, 'minimize']."
            )

    @staticmethod
    def _signs(study: Study) -> tuple[float, float]:
        first = -1.0 if study.directions[0] == StudyDirection.MAXIMIZE else 1.0
        return first, 1.0

    def _initialise(
        self, study: Study, search_space: dict[str, BaseDistribution]
    ) -> SamplerState | None:
        dists = {name: d for name, d in search_space.items() if _modelled(d)}
        if not dists:
            return None
        n_choices = [
            len(d.choices) for d in dists.values() if isinstance(d, CategoricalDistribution)
        ]
        numeric = [d for d in dists.values() if is_numeric(d)]
        core = self._settings.build(
            n_choices or [1],  # no categorical parameter: one variable with a single choice
            self._seed,
            numeric_cells=[cells(d) for d in numeric],  # type: ignore[arg-type]
            n_objectives=self._n_objectives(study),
            loss_sign=self._signs(study)[0],
        )
        # The first window starts at trial 0, not at this trial: workers that initialise
        # at the same time then write identical states (the earlier, untagged trials are
        # read once, cached, and never counted).
        state = SamplerState(core=core, distributions=dists, start=0)
        if self._store.raw(study) is None:  # another worker may have just written one
            self._store.save(study, state)
        return self._store.load(study)

    def _advance(
        self, study: Study, state: SamplerState, trial: FrozenTrial | None
    ) -> tuple[SamplerState, Tally]:
        """Close the current generation if it is complete.

        Returns the up-to-date state and the tally of its generation's trials.
        """
        stop = trial.number if trial is not None else _storage.n_trials(study)
        signs = self._signs(study)
        while True:  # normally at most one generation closes per call
            records = self._tracker.scan(study, state, stop, signs)
            t = tally(records, state.core.generation, state.core.n_distributions)
            used = pooled_solutions(t, state.core.lam)
            if used is None:
                return state, t
            closed = state.core.generation
            stored = state.raw
            latest = max(r.number for r in used)
            # Every other trial up to the last one used, and the trials left pending by
            # earlier closings, go to the archive if they completed by now, else stay
            # pending (``leftovers``): each COMPLETE trial reaches the archive once.
            taken = {r.number for r in used}
            window = [r for r in records if r.number <= latest and r.number not in taken]
            archived, pending = leftovers(
                self._pending_records(study, state, signs) + window, closing_time(used)
            )
            self._check_solutions(
                state, [r.solution for r in used + archived if r.solution is not None]
            )
            # Updated in place: if another worker wrote meanwhile, this copy is dropped below.
            try:
                state.core.tell(
                    [r.solution for r in used if r.solution is not None]
                    + [s for r in used for s in r.known],
                    complexity_of=self._complexity_of(state),
                    extras=[r.solution for r in archived if r.solution is not None],
                )
            except BaseException:
                # e.g. complexity_fn raised halfway: drop the half-updated cached copy, so
                # the next call decodes the stored state again.
                self._store.forget()
                raise
            # The next window starts right after the trials used: the same for every
            # worker that closes this generation. Trials that can still be tagged with the
            # next generation are numbered above them (running or untagged trials below
            # them blocked this closing, unless stale).
            state.start = latest + 1
            state.pending = pending
            if state.core.family is not None and self._evaluate_ends:
                at = state.start if trial is None else max(state.start, trial.number)
                propose_ends(study, state, signs, at)
            # Write only if no other worker advanced the search meanwhile (checked right
            # before the write; workers closing the same generation use the same trials,
            # so a lost race writes an identical state).
            if self._store.raw(study) != stored:
                self._store.forget()
                reloaded = self._store.load(study)
                if reloaded is None:  # the state vanished: nothing sensible to continue
                    raise RuntimeError("the study's ISNASSampler state disappeared")
                state = reloaded
                continue
            self._store.save(study, state)
            if trial is not None:
                _storage.set_trial_system_attr(
                    study,
                    trial,
                    CLOSED_KEY,
                    {"generation": closed, "trials": [r.number for r in used]},
                )
            self._tracker.forget_before(state.start)

    def _warn_once(self, kind: str, message: str) -> None:
        """Log ``message`` the first time this sampler meets a problem of this kind."""
        if kind not in self._warned_about:
            self._warned_about.add(kind)
            _logger.warning(f"{message} (Shown once per sampler.)")

    def _check_solutions(self, state: SamplerState, solutions: list[Solution]) -> None:
        """Say once what the sampler does with trials it cannot use as they are."""
        for sol in solutions:
            missing = sol.x < 0
            names = [state.names[i] for i in np.flatnonzero(missing[: len(state.names)])]
            if sol.z is not None:
                names += [state.numeric_names[i] for i in np.flatnonzero(np.isnan(sol.z))]
            if names:
                self._warn_once(
                    "unused",
                    f"ISNASSampler: trial {sol.trial} did not suggest the modelled parameter(s) "
                    f"{names} with the choices of the first completed trial. It is learned "
                    "from for the choices it made and leaves those parameters' distributions "
                    "as they are. To have every architecture choice learned from every trial, "
                    "suggest each one in every trial, with the same choices (a 'none' or "
                    "'skip' choice instead of a conditional branch).",
                )
            if not (math.isfinite(sol.loss) and math.isfinite(sol.complexity)):
                self._warn_once(
                    "non-finite",
                    f"ISNASSampler: trial {sol.trial} reported non-finite values "
                    f"({sol.loss}, {sol.complexity}) (performance with the sign turned so "
                    "that lower is better, complexity). It ranks after every other trial "
                    "of its generation and is never part of the family. Check the objective "
                    "(a diverged loss?), or report a large finite value for a model that is "
                    "merely bad.",
                )
            elif sol.complexity < 0:
                self._warn_once(
                    "negative",
                    f"ISNASSampler: trial {sol.trial} reported a negative complexity "
                    f"({sol.complexity}) as its second objective, which the sampler reads as "
                    "a size (parameters, FLOPs, latency: >= 0). It is used as given, and the "
                    "hypervolume family's log10 axis then falls back to a linear one; report "
                    "sizes >= 0 (or pass log_complexity=False if the scale is meant).",
                )

    @staticmethod
    def _pending_records(
        study: Study, state: SamplerState, signs: tuple[float, float]
    ) -> list[TrialRecord]:
        """Records of the trials an earlier closing left pending, read afresh (once per
        generation, a few trials: those in flight when it closed, and dead ones)."""
        if not state.pending:
            return []
        unfinished = _storage.unfinished_trials(study) or {}
        records = []
        for number in state.pending:
            trial = unfinished.get(number) or _storage.trial_by_number(study, number)
            if trial is not None:
                records.append(record_of(trial, state, signs))
        return records

    def _modes(self, state: SamplerState) -> list[np.ndarray]:
        """Most likely architecture of each distribution (repaired into its budget when the
        sampler has budgets and ``complexity_fn``)."""
        rows = list(state.core.modes())
        complexity_of = self._complexity_of(state)
        if complexity_of is not None and state.core.budgets is not None:
            rows = [
                repair_to_budget(theta, row, float(b), complexity_of)
                for theta, row, b in zip(state.core.thetas, rows, state.core.budgets)
            ]
        return rows

    def _complexity_of(self, state: SamplerState) -> Callable[[np.ndarray], float] | None:
        """``complexity_fn`` on choice indices, or None when there is none."""
        fn = self._complexity_fn
        if fn is None:
            return None
        return lambda row: self._call_complexity_fn(fn, state.params_of(row))

    def _call_complexity_fn(
        self, fn: Callable[[dict[str, Any]], float], params: dict[str, Any]
    ) -> float:
        """``fn(params)`` as a float; an error naming ``fn`` when it is not a finite number."""
        value = fn(params)
        name = getattr(fn, "__qualname__", None) or repr(fn)
        number: float | None = None
        if not isinstance(value, (str, bytes, bool, np.bool_)):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
        if number is None:
            raise TypeError(
                f"complexity_fn {name} must return a number (the architecture's complexity, "
                f"e.g. its parameter count); it returned {value!r} for {params}."
            )
        if not math.isfinite(number):
            raise ValueError(
                f"complexity_fn {name} must return a finite number; it returned {value!r} "
                f"for {params}."
            )
        if number < 0:
            self._warn_once(
                "negative-fn",
                f"ISNASSampler: complexity_fn {name} returned a negative complexity "
                f"({number}) for {params}; a size (parameters, FLOPs, latency) is >= 0. It is "
                "used as given: such an architecture fits every budget.",
            )
        return number

    def _synced_state(self, study: Study) -> SamplerState:
        return self._synced(study)[0]

    def _synced(self, study: Study) -> tuple[SamplerState, Tally]:
        """The up-to-date state and the tally of its open generation's trials."""
        with self._lock:
            self._bind(study)
            state = self._store.load(study)
            if state is None:
                raise ValueError(
                    "ISNASSampler has no state in this study yet: it starts modelling the "
                    "parameters once a trial has completed. Run some trials first."
                )
            return self._advance(study, state, None)

    def _archive_now(self, study: Study, state: SamplerState, t: Tally) -> Archive:
        """The archive with every completed trial it has not taken yet pooled in (a copy).

        Those of the open generation's window, and those an earlier closing left pending,
        reach the archive only when a generation closes; a family asked for now (e.g. when
        ``study.optimize`` stopped mid-generation) should not ignore them.
        """
        solutions = self._unarchived(study, state, t)
        return state.core.archive_with(list(solutions.values()))

    def _unarchived(self, study: Study, state: SamplerState, t: Tally) -> dict[int, Solution]:
        """Completed trials the archive has not taken yet, by number, in number order."""
        records = [r for c in t.complete for r in c] + t.extras + t.others
        records += self._pending_records(study, state, self._signs(study))
        records.sort(key=lambda r: r.number)
        return {r.number: r.solution for r in records if r.solution is not None}

    def _sample_others(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
        done: set[str],
    ) -> dict[str, Any]:
        return {
            name: self._independent_sampler.sample_independent(study, trial, name, dist)
            for name, dist in search_space.items()
            if name not in done
        }
