"""Draws of configurations already evaluated: their values are looked up, not evaluated again
(docs/algorithm.md section 9, "Repeats").

A distribution that has learnt draws its most likely configuration again and again (with
ASNG's floor on the probabilities, about e^-1 of its samples once it has converged), and each
such draw would cost a trial that measures what the study already knows. Instead, a draw of a
configuration that a closed generation evaluated is kept as a sample with its pooled values, and
the distribution draws again, up to ``MAX_KNOWN`` times; the trial evaluates the first draw that
is new. The update sees every draw, the known ones with their pooled values, so the
distributions learn from the same i.i.d. samples ASNG would have drawn; only the trials are new
configurations.

The known draws are written to the trial (``KNOWN_KEY``) when it is sampled, so every worker
that closes the generation updates with the same values, whatever it has read itself.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from optuna.study import Study
from optuna.trial import TrialState

from optuna_isnas.core import Solution
from optuna_isnas.core.archive import configuration_key
from optuna_isnas.sampler import _storage
from optuna_isnas.sampler._generations import evaluation_of
from optuna_isnas.sampler._state import SamplerState

#: At most this many known samples per trial: the update of one generation then sees at most
#: ``(1 + MAX_KNOWN) * K * lambda`` samples, and a trial's attribute stays small.
MAX_KNOWN = 4
#: A gap of more trials than this (a process that starts on an existing study) is read in one
#: request instead of trial by trial.
BULK_READ = 256

Key = tuple[tuple[int, ...], tuple[float | None, ...]]


def _add_exactly(partials: list[float], x: float) -> None:
    """Add ``x`` to a sum kept as non-overlapping partials, without rounding (Shewchuk, "Adaptive
    precision floating-point arithmetic", 1997): ``math.fsum(partials)`` is then the exact sum
    correctly rounded, whatever order the terms came in. The partials stay few."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        high = x + y
        low = y - (high - x)
        if low:
            partials[i] = low
            i += 1
        x = high
    partials[i:] = [x]


class Evaluated:
    """Every evaluation the closed generations took: configuration -> its values.

    Exactly the COMPLETE trials numbered below the state's ``start`` that are not pending
    (those the archive took when a generation closed), read from the study's storage as the
    generations close, so a restarted process or another worker knows the same, and a
    configuration's pooled values (exact sums) do not depend on the order in which they were
    read. It grows with the distinct configurations evaluated (a few hundred bytes each), as a
    study's own trials do; looking one up costs the same however often it was evaluated.
    """

    def __init__(self) -> None:
        #: key -> [count, partials of the losses, of the complexities, of the violations]
        self._sums: dict[Key, tuple[list[int], list[float], list[float], list[float]]] = {}
        self._until = 0
        self._pending: frozenset[int] = frozenset()

    def clear(self) -> None:
        self._sums.clear()
        self._until = 0
        self._pending = frozenset()

    def catch_up(self, study: Study, state: SamplerState, signs: tuple[float, float]) -> None:
        """Read the trials the generations closed since the last call took."""
        pending = frozenset(state.pending)
        if self._until == state.start and self._pending == pending:
            return
        numbers = [n for n in range(self._until, state.start) if n not in pending]
        numbers += [n for n in self._pending if n not in pending and n < self._until]
        wanted = set(numbers)
        if len(numbers) > BULK_READ:
            trials = [t for t in _storage.completed_trials(study) if t.number in wanted]
        else:
            found = (_storage.trial_by_number(study, n) for n in sorted(wanted))
            trials = [t for t in found if t is not None and t.state == TrialState.COMPLETE]
        for trial in trials:
            solution = evaluation_of(trial, state, signs)
            if solution is not None:
                self.add(solution)
        self._until, self._pending = state.start, pending

    def add(self, s: Solution) -> None:
        """Pool one evaluation (finite values only; looked-up ones are not evaluations)."""
        if s.known or not (math.isfinite(s.loss) and math.isfinite(s.complexity)):
            return
        key = configuration_key(s.x.tolist(), None if s.z is None else s.z.tolist())
        count, losses, complexities, violations = self._sums.setdefault(key, ([0], [], [], []))
        count[0] += 1
        _add_exactly(losses, float(s.loss))
        _add_exactly(complexities, float(s.complexity))
        _add_exactly(violations, float(s.violation))

    def get(self, key: Key) -> tuple[float, float, float] | None:
        """Pooled (mean loss, complexity, violation) of a configuration, None if unseen."""
        sums = self._sums.get(key)
        if sums is None:
            return None
        n = sums[0][0]
        return math.fsum(sums[1]) / n, math.fsum(sums[2]) / n, math.fsum(sums[3]) / n


def draws(
    state: SamplerState, k: int, seed: int, number: int
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float64] | None]]:
    """Successive draws of distribution ``k`` for trial ``number``, with randomness that
    depends only on (seed, trial): the first is the trial's draw without look-ups."""
    choices = random.Random(seed * 1_000_003 + number)
    numeric = np.random.default_rng([seed, number]) if state.core.n_numeric else None
    while True:
        u = np.array([choices.random() for _ in range(state.cdf.shape[1])])
        idx = (u[:, None] >= state.cdf[k]).sum(axis=1)
        x: NDArray[np.int64] = np.minimum(idx, state.core.n_choices - 1)
        z = None if numeric is None else state.core.sample_numeric(k, numeric)
        yield x, z


def first_unevaluated(
    state: SamplerState, k: int, seed: int, number: int, seen: Evaluated
) -> tuple[NDArray[np.int64], NDArray[np.float64] | None, list[list[Any]]]:
    """The draw the trial evaluates and the known samples drawn before it.

    A draw is known when a closed generation took an evaluation of it (``seen``).

    Returns:
        ``(x, z, known)``: ``known`` lists ``[x, z, loss, complexity, violation]`` of each
        known draw (the pooled mean loss), in the core's units (``encode`` stores it).
    """
    known: list[list[Any]] = []
    for x, z in draws(state, k, seed, number):
        units = None if z is None else state.numeric_units(state.params_of(x, z))
        key = (
            (tuple(x.tolist()), ())
            if units is None
            else configuration_key(x.tolist(), units.tolist())
        )
        values = seen.get(key)
        if values is None or len(known) >= MAX_KNOWN:
            return x, z, known
        zs = None if units is None else [None if math.isnan(v) else float(v) for v in units]
        known.append([x.tolist(), zs, *values])
    raise AssertionError("unreachable: draws() never ends")


def encode(known: list[list[Any]]) -> str:
    """The trial attribute of its known draws: one JSON string, which Optuna's storages copy
    as one value rather than as nested lists (a trial is copied whenever it is read)."""
    return json.dumps(known, separators=(",", ":"))
