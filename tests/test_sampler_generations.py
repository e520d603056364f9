"""Which trials close a generation (``pooled_solutions``): every view of the study agrees.

Workers read the study at different moments. Whatever moment a worker reads it, if it can
close the generation it must pick the same trials as any other worker that can, or the search
forks (one generation closed twice, with different trials). These tests replay the completions of a
generation one by one and check the choice at every moment.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from optuna_isnas.core import Solution
from optuna_isnas.sampler._generations import (
    STALE_GENERATIONS,
    Tally,
    TrialRecord,
    pooled_solutions,
)


def view(distributions: list[int], finish: list[float], now: float, n_distributions: int) -> Tally:
    """The tally a worker reading at time ``now`` sees (trial i finishes at ``finish[i]``)."""
    t = Tally(
        complete=[[] for _ in range(n_distributions)],
        running=[[] for _ in range(n_distributions)],
    )
    for number, (k, when) in enumerate(zip(distributions, finish)):
        if when <= now:
            sol = Solution(k, np.zeros(1, dtype=np.int64), 1.0, 1.0, trial=number)
            t.complete[k].append(
                TrialRecord(number, TrialState.COMPLETE, 0, k, sol, completed_at=when)
            )
        else:
            t.running[k].append(number)
    return t


def closings(distributions: list[int], finish: list[float], k: int, lam: int) -> set[tuple]:
    """The distinct trial sets that close the generation, over every moment of the run."""
    moments = sorted({w for w in finish if np.isfinite(w)})
    chosen = set()
    for now in moments:
        used = pooled_solutions(view(distributions, finish, now, k), lam)
        if used is not None:
            chosen.add(tuple(sorted(r.number for r in used)))
    return chosen


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(1, 3),
    lam=st.integers(1, 3),
    data=st.data(),
)
def test_every_moment_that_can_close_picks_the_same_trials(k: int, lam: int, data) -> None:
    n = data.draw(st.integers(k * lam, k * lam * (STALE_GENERATIONS + 2)))
    distributions = [i % k for i in range(n)]
    # Distinct completion times; some trials never finish (dead workers).
    order = data.draw(st.permutations(range(n)))
    dead = data.draw(st.sets(st.integers(0, n - 1), max_size=2))
    finish = [float("inf") if i in dead else float(order[i]) for i in range(n)]
    assert len(closings(distributions, finish, k, lam)) <= 1


def test_a_running_trial_blocks_until_it_is_late() -> None:
    """One distribution, lambda 2: trial 0 runs for ever; the others finish in order."""
    lam, size = 2, STALE_GENERATIONS * 2
    n = 1 + size + 1
    distributions = [0] * n
    finish = [float("inf")] + [float(i) for i in range(1, n)]
    # Before ``size`` later trials completed, trial 0 blocks the closing.
    assert pooled_solutions(view(distributions, finish, float(size - 1), 1), lam) is None
    used = pooled_solutions(view(distributions, finish, float(size), 1), lam)
    assert used is not None and [r.number for r in used] == [1, 2]


def test_a_late_trial_is_left_out_even_once_it_completes() -> None:
    lam, size = 2, STALE_GENERATIONS * 2
    n = 1 + size
    distributions = [0] * n
    # Trial 0 completes after every other one: it was late, so it stays out.
    finish = [float(n + 5)] + [float(i) for i in range(1, n)]
    before = pooled_solutions(view(distributions, finish, float(n), 1), lam)
    after = pooled_solutions(view(distributions, finish, float(n + 5), 1), lam)
    assert before is not None and after is not None
    assert [r.number for r in before] == [r.number for r in after] == [1, 2]
    # Completing in time, it is used.
    finish[0] = 1.5
    used = pooled_solutions(view(distributions, finish, float(n), 1), lam)
    assert used is not None and [r.number for r in used] == [0, 1]
