"""Trials the sampler spends outside the distributions' update (docs/algorithm.md section 9).

* **The space's predicted ends** (``core.extremes``): once the study holds enough completed trials
  to fit a cost model, and again whenever they have doubled, the next two trials evaluate the
  least and the most complex configuration it predicts (``propose_ends`` at a generation's
  closing writes them into the state; ``end_params`` hands them to the trials).
* **Finalists re-evaluated** (``core.reevaluation``): with ``ISNASSampler(n_trials=...)`` the
  study's last trials repeat finalists instead of sampling (``Finalists``).

Both are tagged like enqueued trials (distribution ``EXTRA``): the archive pools them, no
distribution learns from them.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from optuna_isnas.core import Solution
from optuna_isnas.core.archive import Archive
from optuna_isnas.core.archive import Entry as ArchiveEntry
from optuna_isnas.core.extremes import (
    EVALUATIONS_PER_COEFFICIENT,
    LAST_FIT,
    cost_extremes,
    n_coefficients,
)
from optuna_isnas.core.reevaluation import next_reevaluation, reevaluation_start
from optuna_isnas.sampler import _storage
from optuna_isnas.sampler._generations import EXTRA, Tally, _solution
from optuna_isnas.sampler._state import (
    DISTRIBUTION_KEY,
    EXTREME_KEY,
    GENERATION_KEY,
    REEVALUATES_KEY,
    SamplerState,
)

Vector = np.ndarray


# ------------------------------------------------------------------ the space's predicted ends
def propose_ends(study: Study, state: SamplerState, signs: tuple[float, float], at: int) -> None:
    """Decide which configurations trials ``at`` and ``at + 1`` evaluate as the space's least
    and most complex (``state.extremes``): first when the study holds enough evaluations for the
    cost model, again whenever they have doubled since, up to ``LAST_FIT``; called at a
    generation's closing, in the hypervolume family (which only a two-objective study has)."""
    needed = EVALUATIONS_PER_COEFFICIENT * n_coefficients(
        state.core.n_choices, state.core.n_numeric
    )
    if state.extremes is not None:
        if int(state.extremes["refit"]) < 0:  # no more fits (see LAST_FIT)
            return
        needed = max(needed, int(state.extremes["refit"]))
    if _storage.n_trials(study) < needed:
        return
    # Every completed trial (read once per doubling: flat per trial on average). Workers closing
    # the same generation may see different ones complete; the first state written wins, as
    # for any closing.
    done = [
        _solution(t, state, EXTRA, signs)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None and len(t.values) > 1
    ]
    if len(done) < needed:
        return
    x = np.stack([s.x for s in done])
    z = np.zeros((len(done), 0))
    if state.core.n_numeric:
        z = np.stack([np.asarray(s.z, dtype=np.float64) for s in done])
    costs = np.array([s.complexity for s in done])
    ends = cost_extremes(x, z, costs, state.core.n_choices, _end_defaults(state))
    refit = 2 * len(done) if 2 * len(done) <= LAST_FIT else -1
    record: dict[str, Any] = {"at": -1, "x": [], "z": [], "refit": refit}
    if ends is not None:
        record.update(
            at=at,
            x=[[int(v) for v in row] for row, _ in ends],
            z=[[float(v) for v in unit] for _, unit in ends],
        )
    state.extremes = record


def _end_defaults(state: SamplerState) -> tuple[tuple[Vector, Vector], tuple[Vector, Vector]]:
    """Per end of the space, the configuration whose values it keeps where the complexity does
    not depend on them: the least complex and the most accurate archive entries (the evaluated
    models nearest to each end), else distribution 0's likeliest one."""
    core = state.core
    fallback = (core.modes()[0], core.means[0] if core.n_numeric else np.zeros(0))
    entries = [e for e in core.archive.entries if e.violation <= 0]
    if not entries:
        return fallback, fallback

    def values(e: ArchiveEntry) -> tuple[Vector, Vector]:
        x = np.where(np.asarray(e.x) < 0, fallback[0], np.asarray(e.x))
        z = np.array([np.nan if v is None else v for v in e.z], dtype=np.float64)
        z = np.where(np.isnan(z), fallback[1], z) if core.n_numeric else np.zeros(0)
        return x.astype(np.int64), z

    least = min(entries, key=lambda e: (e.complexity, e.mean))
    best = min(entries, key=lambda e: (e.mean, e.complexity))
    return values(least), values(best)


def end_params(study: Study, state: SamplerState, trial: FrozenTrial) -> dict[str, Any] | None:
    """The parameters of the end of the space ``trial`` evaluates, the trial tagged as an
    evaluation outside the distributions' update; None for every other trial."""
    ends = state.extremes
    if ends is None or ends["at"] < 0 or trial.system_attrs.get("fixed_params"):
        return None
    i = trial.number - ends["at"]
    if not 0 <= i < len(ends["x"]):
        return None
    z = np.asarray(ends["z"][i], dtype=np.float64) if state.core.n_numeric else None
    params = state.params_of(np.asarray(ends["x"][i], dtype=np.int64), z)
    _tag_extra(study, state, trial, EXTREME_KEY, ("least", "most")[i])
    return params


def _tag_extra(study: Study, state: SamplerState, trial: FrozenTrial, key: str, value: Any) -> None:
    """Tag ``trial`` as an evaluation outside the distributions' update (distribution ``EXTRA``,
    the current generation) and say why under ``key``."""
    _storage.set_trial_system_attr(study, trial, DISTRIBUTION_KEY, EXTRA)
    _storage.set_trial_system_attr(study, trial, GENERATION_KEY, state.core.generation)
    _storage.set_trial_system_attr(study, trial, key, value)


# ------------------------------------------------------------------ finalists re-evaluated
def first_reevaluating_trial(n_trials: Any, share: Any) -> int | None:
    """Number of the first trial that re-evaluates finalists; None when none does. ValueError
    for an ``n_trials`` or ``reevaluation_share`` that cannot work."""
    if isinstance(share, bool) or not isinstance(share, numbers.Real) or not 0 <= float(share) < 1:
        raise ValueError(
            f"reevaluation_share must be a number in [0, 1), e.g. 0.05; got {share!r}."
        )
    if n_trials is None:
        return None
    if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 1:
        raise ValueError(
            f"n_trials must be the number of trials the study will run (an integer >= 1) "
            f"or None; got {n_trials!r}."
        )
    start = reevaluation_start(int(n_trials), float(share))
    return None if start >= n_trials else start


def holds(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is one of ``distribution``'s values."""
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


EvaluatedParams = Callable[[Study, SamplerState, ArchiveEntry], dict[str, Any]]


class Finalists:
    """Which finalist each re-evaluating trial repeats, with the caches that keep it cheap.

    Per process (never stored): the archive the re-evaluating trials choose from, kept between
    them (no generation closes while they run, so only the trials completed since the last one
    are pooled, and the cost per trial does not grow with every re-evaluation pooled again), and
    the parameters each re-evaluating trial repeats, for those the relative sampling does not
    cover (unmodelled ones).
    """

    def __init__(self) -> None:
        self._phase: tuple[str, Archive, set[int]] | None = None
        self._repeats: dict[int, dict[str, Any]] = {}

    def pick(
        self,
        study: Study,
        state: SamplerState,
        unarchived: dict[int, Solution],
        t: Tally,
        trial: FrozenTrial,
        evaluated_params: EvaluatedParams,
    ) -> dict[str, Any] | None:
        """The parameters of the finalist ``trial`` re-evaluates, the trial tagged as an
        evaluation outside the distributions' update; None before anything was archived.

        ``unarchived``: the completed trials the archive has not taken yet, by number.
        """
        archive = self._archive(state, unarchived)
        # Re-evaluations other workers run now count as evaluations, so workers spread out.
        latest = {e.trial: i for i, e in enumerate(archive.entries)}
        running = []
        for number in t.untagged_running:
            other = _storage.trial_by_number(study, number) if number != trial.number else None
            source = None if other is None else other.system_attrs.get(REEVALUATES_KEY)
            if source in latest:
                running.append(latest[source])
        index = next_reevaluation(archive, state.core.select(archive=archive), running)
        if index is None:
            return None
        entry = archive.entries[index]
        params = evaluated_params(study, state, entry)
        _tag_extra(study, state, trial, REEVALUATES_KEY, entry.trial)
        self._repeats[trial._trial_id] = params
        return params

    def repeated(self, trial_id: int) -> dict[str, Any]:
        """The parameters re-evaluating trial ``trial_id`` repeats (empty for other trials)."""
        return self._repeats.get(trial_id, {})

    def forget(self, trial_id: int) -> None:
        """Drop a finished trial's parameters."""
        self._repeats.pop(trial_id, None)

    def _archive(self, state: SamplerState, unarchived: dict[int, Solution]) -> Archive:
        if self._phase is None or self._phase[0] != state.raw:
            self._phase = (state.raw, state.core.archive.copy(), set())
        _, archive, pooled = self._phase
        new = [s for number, s in unarchived.items() if number not in pooled]
        pooled.update(unarchived)
        return state.core.archive_with(new, into=archive) if new else archive
