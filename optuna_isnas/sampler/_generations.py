"""Grouping trials into generations without rescanning the study.

Each trial the sampler samples is tagged with its generation ``g`` and distribution
``k``. Trials of the current generation all have numbers at or after the generation's
``start``, so only the window ``[start, current trial)`` is read, trial by trial, and
finished trials are cached in the process: the cost per trial is O(window), i.e.
O(K * lambda + number of parallel workers), whatever the length of the study.

Rules (docs/algorithm.md, "Generations in Optuna"):

* a new trial goes to the distribution of the current generation with the fewest
  complete-or-running trials (lowest index on ties), so the mixture keeps its shares;
* FAIL and PRUNED trials never count and free their place;
* the generation closes as soon as every distribution has ``lambda`` COMPLETE trials;
  the update uses, for each distribution, its first ``lambda`` complete trials by number.
  Running trials never block it (a worker may die and leave a trial RUNNING forever).
* every COMPLETE trial reaches the archive exactly once, whether or not an update uses it
  (``leftovers``): when a generation closes, the trials of its window up to the last one
  its update uses that the update does not use (surplus, late, of an earlier generation,
  not samples) go to the archive if they completed by the time the generation closed
  (the latest completion among the trials used), and stay *pending* otherwise; pending
  trials are decided the same way when a later generation closes. Which trials a closing
  takes depends only on completion times, so every worker that closes a generation takes
  the same ones.
* trials that are not samples of a distribution (untagged: run before the sampler took over,
  or by another sampler; or tagged ``EXTRA``: enqueued with fixed values) are evaluations all
  the same: the complete ones in the window, numbered up to the last trial the update uses,
  go to the archive only (``extras``), not to the distributions' update.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from optuna_isnas.core import Solution
from optuna_isnas.core.categorical import UNUSED
from optuna_isnas.sampler import _storage
from optuna_isnas.sampler._state import (
    DISTRIBUTION_KEY,
    GENERATION_KEY,
    KNOWN_KEY,
    SamplerState,
)

#: Completed later trials (in generations' worth) after which a running trial is stale.
STALE_GENERATIONS = 3

#: Distribution tag of a trial that is not a sample of any distribution (enqueued values).
EXTRA = -1

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
_RUNNING = (TrialState.RUNNING, TrialState.WAITING)


@dataclass(frozen=True)
class TrialRecord:
    """What the sampler needs to know about one trial."""

    number: int
    state: TrialState
    generation: int | None
    distribution: int | None
    solution: Solution | None  # set for COMPLETE trials
    completed_at: float | None = None  # POSIX time the trial finished (None while running)
    #: the draws before this trial's own that were evaluated before, with their pooled values
    #: (``_known.py``)
    known: tuple[Solution, ...] = ()


@dataclass
class Tally:
    """Trials of one generation, per distribution, in trial-number order."""

    complete: list[list[TrialRecord]]
    running: list[list[int]]
    untagged_running: list[int] = field(default_factory=list)
    extras: list[TrialRecord] = field(default_factory=list)  # complete, not samples
    #: complete samples of another generation (or of a distribution this one lacks)
    others: list[TrialRecord] = field(default_factory=list)

    def load(self, k: int) -> int:
        """Complete plus running trials of distribution ``k``."""
        return len(self.complete[k]) + len(self.running[k])


def record_of(trial: FrozenTrial, state: SamplerState, signs: tuple[float, float]) -> TrialRecord:
    """Summarise ``trial`` against the modelled search space."""
    attrs = trial.system_attrs
    generation = attrs.get(GENERATION_KEY)
    distribution = attrs.get(DISTRIBUTION_KEY)
    solution = None
    known: tuple[Solution, ...] = ()
    if trial.state == TrialState.COMPLETE and trial.values:
        sample = generation is not None and distribution is not None and distribution != EXTRA
        k = int(distribution) if sample and distribution is not None else EXTRA
        solution = _solution(trial, state, k, signs)
        if sample:
            known = _known_solutions(attrs.get(KNOWN_KEY), k, trial.number)
    return TrialRecord(
        number=trial.number,
        state=trial.state,
        generation=None if generation is None else int(generation),
        distribution=None if distribution is None else int(distribution),
        solution=solution,
        completed_at=None
        if trial.datetime_complete is None
        else trial.datetime_complete.timestamp(),
        known=known,
    )


def evaluation_of(
    trial: FrozenTrial, state: SamplerState, signs: tuple[float, float]
) -> Solution | None:
    """A COMPLETE trial's own evaluation as the core sees it (None for any other trial)."""
    if trial.state != TrialState.COMPLETE or not trial.values:
        return None
    return _solution(trial, state, EXTRA, signs)


def _solution(
    trial: FrozenTrial, state: SamplerState, k: int, signs: tuple[float, float]
) -> Solution:
    """The trial as the core sees it. A modelled parameter the trial lacks (a conditional
    branch the objective skipped), or holds with a value outside the modelled choices (it
    was suggested with other choices), is ``UNUSED``: the trial informs the other
    variables only. Non-finite values are kept: the core ranks them last and never archives
    them (docs/algorithm.md section 5)."""
    x = np.zeros(state.core.n_choices.size, dtype=np.int64)  # a study without categorical
    for i, name in enumerate(state.names):  # parameters has one single-choice variable
        x[i] = UNUSED
        if name in trial.params:
            with contextlib.suppress(ValueError):  # a value outside the modelled choices
                x[i] = int(state.distributions[name].to_internal_repr(trial.params[name]))
    values = trial.values
    loss = signs[0] * values[0]
    complexity = signs[1] * values[1] if len(values) > 1 else 0.0
    return Solution(
        distribution=k,
        x=x,
        loss=float(loss),
        complexity=float(complexity),
        violation=violation(trial),
        trial=trial.number,
        z=state.numeric_units(trial.params) if state.core.n_numeric else None,
    )


def _known_solutions(rows: Any, k: int, trial: int) -> tuple[Solution, ...]:
    """The known samples a trial's attribute holds (a JSON string, ``_known.encode``), as the
    core's solutions of distribution k."""
    if not isinstance(rows, str):
        return ()
    rows = json.loads(rows)
    out = []
    for x, z, loss, complexity, violation in rows:
        zs = None if z is None else np.array([np.nan if v is None else v for v in z], dtype=float)
        out.append(
            Solution(
                distribution=k,
                x=np.asarray(x, dtype=np.int64),
                loss=float(loss),
                complexity=float(complexity),
                violation=float(violation),
                trial=trial,
                z=zs,
                known=True,
            )
        )
    return tuple(out)


def violation(trial: FrozenTrial) -> float:
    """Total constraint violation of ``trial``: the sum of its positive constraint values.

    Optuna 5 convention (``trial.set_constraint``): feasible when every value is <= 0.
    """
    return float(sum(min(max(0.0, float(v)), 1e300) for v in trial.constraints.values()))


class GenerationTracker:
    """Per-process cache of finished trials of the current generation's window."""

    def __init__(self) -> None:
        self._finished: dict[int, TrialRecord] = {}

    def scan(
        self,
        study: Study,
        state: SamplerState,
        stop: int,
        signs: tuple[float, float],
    ) -> list[TrialRecord]:
        """Records of the trials numbered ``state.start`` to ``stop - 1``."""
        records = []
        unfinished: dict[int, FrozenTrial] | None = None  # read once, when first needed
        for number in range(state.start, stop):
            cached = self._finished.get(number)
            if cached is None:
                if unfinished is None:
                    unfinished = _storage.unfinished_trials(study) or {}
                trial = unfinished.get(number) or _storage.trial_by_number(study, number)
                if trial is None:
                    break  # not created yet (ask from a stale process view)
                cached = record_of(trial, state, signs)
                if cached.state in _FINISHED:
                    self._finished[number] = cached
            records.append(cached)
        return records

    def forget_before(self, number: int) -> None:
        """Drop cached trials numbered below ``number`` (their generation is closed)."""
        for key in [n for n in self._finished if n < number]:
            del self._finished[key]

    def forget_all(self) -> None:
        """Drop every cached record (the state was replaced under us)."""
        self._finished.clear()


def tally(records: list[TrialRecord], generation: int, n_distributions: int) -> Tally:
    """Sort the current generation's trials per distribution (records come in number order)."""
    result = Tally(
        complete=[[] for _ in range(n_distributions)],
        running=[[] for _ in range(n_distributions)],
    )
    for rec in records:
        if rec.generation is None or rec.distribution is None or rec.distribution == EXTRA:
            if rec.state in _RUNNING:
                result.untagged_running.append(rec.number)
            elif rec.solution is not None:
                result.extras.append(rec)
            continue
        if rec.generation != generation or not 0 <= (rec.distribution or 0) < n_distributions:
            if rec.solution is not None:
                result.others.append(rec)
            continue
        k = int(rec.distribution or 0)
        if rec.state in _RUNNING:
            result.running[k].append(rec.number)
        elif rec.solution is not None:
            result.complete[k].append(rec)
    return result


def pooled_solutions(t: Tally, lam: int) -> list[TrialRecord] | None:
    """The trials one generation's update uses, or None while it can't close yet.

    For each distribution, its first ``lam`` complete trials by number that are not *late*,
    provided no running trial of that distribution that is not late comes before the last of
    them: then every worker that closes the generation picks the same trials and writes the
    same state. Running trials not tagged yet (another worker is about to sample them) block
    too. A trial is late when ``STALE_GENERATIONS`` generations' worth of trials of the
    generation numbered after it completed before it did (or while it still runs: its worker
    probably died, and journal storage has no heartbeat); those surplus trials are the price
    of a dead worker. Lateness depends only on completion times, which never change once
    written, so a worker that sees a late trial running and one that sees it completed agree.
    """
    size = STALE_GENERATIONS * lam * len(t.complete)
    finished = sorted(
        (r.completed_at if r.completed_at is not None else float("-inf"), r.number)
        for c in t.complete
        for r in c
    )

    def late(number: int, completed_at: float | None) -> bool:
        before = float("inf") if completed_at is None else completed_at
        earlier = sum(1 for when, n in finished if n > number and when < before)
        return earlier >= size

    chosen: list[TrialRecord] = []
    for complete, running in zip(t.complete, t.running):
        usable = [r for r in complete if not late(r.number, r.completed_at)]
        if len(usable) < lam:
            return None
        last = usable[lam - 1].number
        if any(r < last and not late(r, None) for r in running):
            return None
        chosen.extend(usable[:lam])
    # A trial created but not yet sampled may still be tagged with this generation.
    latest = max(r.number for r in chosen)
    if any(r < latest and not late(r, None) for r in t.untagged_running):
        return None
    return chosen


def closing_time(used: list[TrialRecord]) -> float:
    """When a generation closed: the latest completion time among the trials its update uses."""
    times = [r.completed_at for r in used if r.completed_at is not None]
    return max(times) if times else float("-inf")


def leftovers(records: list[TrialRecord], closed_at: float) -> tuple[list[TrialRecord], list[int]]:
    """Split trials that a closing update does not use into the archive's and pending ones.

    A trial that finished by ``closed_at`` is decided: the archive takes it if it is
    COMPLETE with a usable solution, else (FAIL, PRUNED) it is dropped. A trial still
    running, or one that finished after ``closed_at``, is pending: a later closing decides
    it. A trial seen running now completes after ``closed_at`` (all the trials used had
    completed when this worker looked), so every worker that closes the generation splits
    the trials alike, whichever state it saw them in.

    Returns:
        The records the archive takes, in number order, and the pending trial numbers.
    """
    archived: list[TrialRecord] = []
    pending: list[int] = []
    for rec in sorted(records, key=lambda r: r.number):
        finished_later = rec.completed_at is not None and rec.completed_at > closed_at
        if rec.state in _RUNNING or finished_later:
            pending.append(rec.number)
        elif rec.solution is not None:
            archived.append(rec)
    return archived, pending


def next_distribution(t: Tally, number: int) -> int:
    """Distribution with the fewest complete-or-running trials.

    Ties (surplus trials once every distribution has its share) rotate with the trial
    number, so no distribution gets the extra trials systematically.
    """
    loads = [t.load(k) for k in range(len(t.complete))]
    least = [k for k, load in enumerate(loads) if load == min(loads)]
    return least[number % len(least)]
