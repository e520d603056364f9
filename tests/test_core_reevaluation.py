"""Which finalist the last trials re-evaluate (core/reevaluation.py; docs/algorithm.md section 9,
"Noise")."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas.core.archive import Archive
from optuna_isnas.core.reevaluation import (
    MAX_REEVALUATIONS,
    next_reevaluation,
    reevaluation_start,
)


def archive_of(rows: list[tuple[float, float, int]]) -> Archive:
    """An archive whose entry i has (mean loss, complexity, evaluations) = rows[i]."""
    archive = Archive()
    for i, (loss, cost, n) in enumerate(rows):
        for _ in range(n):
            archive.pool(
                np.array([[i]], dtype=np.int64), np.array([loss]), np.array([cost]), np.zeros(1), 0
            )
    return archive


def test_the_last_share_of_the_trials_reevaluates() -> None:
    assert reevaluation_start(400, 0.1) == 360
    assert reevaluation_start(400, 0.0) == 400  # none
    assert reevaluation_start(10, 0.04) == 10  # 0.4 trials round to none
    assert reevaluation_start(10, 0.05) == 9  # 0.5 rounds up to one
    assert reevaluation_start(100_000, 0.05) == 100_000 - MAX_REEVALUATIONS


def test_a_member_is_reevaluated_before_an_equally_measured_finalist() -> None:
    # Entries 0-2 are on the front, 3 is dominated by 1; the family holds 2 and 0.
    archive = archive_of([(1.0, 1.0, 1), (0.5, 2.0, 1), (0.2, 4.0, 1), (0.6, 3.0, 1)])
    assert next_reevaluation(archive, [2, 0, None]) == 2  # lower loss among the members
    assert next_reevaluation(archive, [0, None]) == 0


def test_the_least_evaluated_finalist_goes_first_and_dominated_entries_never() -> None:
    archive = archive_of([(1.0, 1.0, 3), (0.5, 2.0, 1), (0.2, 4.0, 2), (0.6, 3.0, 1)])
    assert next_reevaluation(archive, [2, 0]) == 1  # a front entry evaluated once
    archive = archive_of([(1.0, 1.0, 2), (0.5, 2.0, 2), (0.2, 4.0, 2), (0.6, 3.0, 1)])
    assert next_reevaluation(archive, [2, 0]) == 2  # 3 is dominated: never a finalist


def test_an_empty_archive_has_nothing_to_reevaluate() -> None:
    assert next_reevaluation(Archive(), []) is None


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 6), st.integers(1, 6), st.integers(1, 4)), min_size=1, max_size=10
    ),
    picks=st.lists(st.integers(0, 9), max_size=4),
)
def test_the_choice_is_a_least_evaluated_finalist(
    rows: list[tuple[int, int, int]], picks: list[int]
) -> None:
    archive = archive_of([(float(loss), float(cost), n) for loss, cost, n in rows])
    members = {p for p in picks if p < len(archive.entries)}
    chosen = next_reevaluation(archive, sorted(members))
    losses, costs, _ = archive.arrays()
    dominated = [
        any(
            losses[j] <= losses[i]
            and costs[j] <= costs[i]
            and (losses[j], costs[j])
            != (
                losses[i],
                costs[i],
            )
            for j in range(len(losses))
        )
        for i in range(len(losses))
    ]
    finalists = [i for i in range(len(losses)) if i in members or not dominated[i]]
    assert chosen in finalists
    counts = [archive.entries[i].n for i in finalists]
    assert archive.entries[chosen].n == min(counts)
    least = [i for i in finalists if archive.entries[i].n == min(counts)]
    if any(i in members for i in least):
        assert chosen in members


@pytest.mark.parametrize("n", [1, 2, 5])
def test_repeating_the_rule_spreads_evaluations_evenly_over_a_fixed_front(n: int) -> None:
    archive = archive_of([(1.0, 1.0, 1), (0.5, 2.0, 1), (0.2, 4.0, 1)])
    for _ in range(3 * n):
        i = next_reevaluation(archive, [0, 2])
        assert i is not None
        e = archive.entries[i]
        archive.pool(
            np.array([e.x], dtype=np.int64),
            np.array([e.mean]),
            np.array([e.complexity]),
            np.zeros(1),
            0,
            np.array([-1]),
        )
    assert [e.n for e in archive.entries] == [1 + n] * 3


def test_reevaluations_other_workers_run_count_as_evaluations() -> None:
    archive = archive_of([(1.0, 1.0, 1), (0.5, 2.0, 1), (0.2, 4.0, 1)])
    assert next_reevaluation(archive, [2, 0]) == 2
    assert next_reevaluation(archive, [2, 0], running=[2]) == 0
    assert next_reevaluation(archive, [2, 0], running=[2, 0]) == 1
    assert next_reevaluation(archive, [2, 0], running=[2, 0, 1, 2]) == 0
