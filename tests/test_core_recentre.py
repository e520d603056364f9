"""A distribution that has strayed from the member it owns moves onto it (docs/algorithm.md
section 9, "Members without a distribution")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas import ISNASSampler
from optuna_isnas.core import ISNAS, Solution
from optuna_isnas.core import categorical as cat
from optuna_isnas.core.family import STRAYED_RATIO, strayed


def test_strayed_names_the_distributions_that_all_but_never_draw_their_member() -> None:
    log_modes = np.log(np.array([0.3, 0.3, 0.3]))
    log_members = np.log(
        np.array(
            [
                [0.3, 0.3 * STRAYED_RATIO * 0.5],  # owns member 1, which it draws too rarely
                [0.3 * STRAYED_RATIO * 2.0, 0.2],  # owns member 0: rarely, but not too rarely
                [0.1, 0.1],  # owns nothing
            ]
        )
    )
    assert strayed([1, 0, None], log_members, log_modes) == [(0, 1)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
)
def test_a_recentred_distribution_is_a_distribution_above_the_floor(
    sizes: list[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n_choices = np.array(sizes, dtype=np.int64)
    lower = cat.theta_min(n_choices)
    raw = rng.dirichlet(np.ones(max(sizes)), size=len(sizes)) * cat.padding_mask(n_choices)
    theta = cat.restrict_range(raw / raw.sum(axis=1, keepdims=True), n_choices, lower)
    x = np.array([int(rng.integers(-1, c)) for c in sizes], dtype=np.int64)  # -1: unused
    out = cat.centred_on(theta, n_choices, x)
    mask = cat.padding_mask(n_choices)
    assert np.allclose(np.where(mask, out, 0.0).sum(axis=1), 1.0)
    for i, c in enumerate(sizes):
        if c == 1 or x[i] < 0:
            assert np.array_equal(out[i], theta[i])  # untouched
            continue
        # halfway from uniform to the member's choice: its mode, every choice above the floor
        assert math.isclose(out[i, x[i]], 0.5 + 0.5 / c)
        assert np.all(out[i, :c] >= lower[i] - 1e-12)
        assert int(np.argmax(out[i, :c])) == x[i] and np.sum(out[i, :c] == out[i].max()) == 1


def _two_on_one_member(recentre: bool) -> tuple[ISNAS, np.ndarray, np.ndarray]:
    core = ISNAS(
        [4] * 6, hypervolume=2, samples_per_distribution=2, seed=0, recentre_members=recentre
    )
    big, small = np.array([3] * 6), np.array([0] * 6)
    core.tell(
        [
            Solution(0, big, 0.1, 100.0),
            Solution(1, small, 0.9, 10.0),
            Solution(0, np.array([3, 3, 3, 3, 3, 2]), 0.2, 90.0),
            Solution(1, np.array([2, 3, 3, 3, 3, 3]), 0.3, 95.0),
        ]
    )
    converged = np.where(cat.padding_mask(core.n_choices), 0.02, 0.0)
    converged[np.arange(6), big] = 0.94
    core.thetas[:] = cat.restrict_range(converged, core.n_choices, core.lower)
    core.tell(
        [
            Solution(0, np.array([3, 3, 3, 3, 2, 3]), 0.25, 92.0),
            Solution(0, big, 0.1, 100.0),
            Solution(1, np.array([3, 2, 3, 3, 3, 3]), 0.22, 93.0),
            Solution(1, big, 0.1, 100.0),
        ]
    )
    return core, big, small


def test_two_distributions_on_one_member_leave_it_and_one_moves_to_the_other_member() -> None:
    """The pathology seen on the synthetic suite: two distributions converged on the same
    member while the family's other member lies where neither draws."""
    core, big, small = _two_on_one_member(True)
    modes = {tuple(m) for m in core.modes().tolist()}
    assert modes == {tuple(big.tolist()), tuple(small.tolist())}
    moved = next(k for k in range(2) if tuple(core.modes()[k]) == tuple(small.tolist()))
    assert np.allclose(core.thetas[moved][:, 0], 0.5 + 0.5 / 4)


def test_the_switch_leaves_them_and_survives_the_state_round_trip() -> None:
    core, big, _ = _two_on_one_member(False)
    assert {tuple(m) for m in core.modes().tolist()} == {tuple(big.tolist())}
    again = ISNAS.from_dict(core.to_dict())
    assert again.recentre_members is False and again.to_dict() == core.to_dict()
    assert ISNAS.from_dict(_two_on_one_member(True)[0].to_dict()).recentre_members is True


def test_the_sampler_refuses_a_switch_that_is_not_a_bool() -> None:
    with pytest.raises(ValueError, match="recentre_members must be True or False"):
        ISNASSampler(recentre_members="yes")  # type: ignore[arg-type]
