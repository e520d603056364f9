"""The core's update with variables a sample did not use (-1) and with non-finite values: both
are used sensibly, neither stops a generation."""

from __future__ import annotations

import numpy as np
import pytest

from optuna_isnas.core import ISNAS, Solution, natural_gradient
from optuna_isnas.core import categorical as cat


def test_log_prob_of_an_unused_variable_is_the_marginal_over_it() -> None:
    rng = np.random.default_rng(0)
    theta = rng.dirichlet(np.ones(3), size=4)  # D = 4 variables of 3 choices
    x = np.array([[0, 2, 1, 1], [2, 0, 0, 2]])
    partial = x.copy()
    partial[:, 2] = cat.UNUSED
    expected = cat.log_prob(theta[[0, 1, 3]], x[:, [0, 1, 3]])
    np.testing.assert_allclose(cat.log_prob(theta, partial), expected, rtol=0, atol=1e-15)
    # Batched over K distributions too.
    thetas = np.stack([theta, theta[::-1]])
    got = cat.log_prob(thetas, partial)
    np.testing.assert_allclose(got[1], cat.log_prob(theta[::-1][[0, 1, 3]], x[:, [0, 1, 3]]))


def test_an_unused_variable_adds_nothing_to_the_natural_gradient() -> None:
    theta = cat.uniform_theta(np.array([3, 3]))
    theta[1] = [0.5, 0.3, 0.2]
    x = np.array([[0, cat.UNUSED], [1, 2]])
    onehot = cat.one_hot(x, np.array([3, 3]))
    assert onehot[0, 1].sum() == 0.0
    w, u = np.array([0.5, 0.5]), np.array([1.0, -1.0])
    g = natural_gradient(onehot, theta, w, u, x >= 0)
    # As if the first sample's variable 1 were its expectation theta_1.
    filled = onehot.copy()
    filled[0, 1] = theta[1]
    np.testing.assert_allclose(g, natural_gradient(filled, theta, w, u), atol=1e-15)


def test_a_variable_no_sample_used_keeps_its_probabilities_and_the_rest_learn() -> None:
    opt = ISNAS([3, 3, 4], [0.0, 1.0], samples_per_distribution=4, seed=0)
    before = opt.thetas.copy()
    sols = []
    for n in range(opt.generation_size):
        k, x = opt.ask()
        x = x.copy()
        x[2] = cat.UNUSED
        sols.append(Solution(k, x, loss=float(x[0] + 0.1 * n), complexity=1.0 + x[1], trial=n))
    opt.tell(sols)
    assert opt.generation == 1
    np.testing.assert_array_equal(opt.thetas[:, 2], before[:, 2])
    assert np.abs(opt.thetas[:, :2] - before[:, :2]).max() > 0.01
    # The archive keeps such evaluations, with -1 for the variable.
    assert opt.archive.entries and all(e.x[2] == cat.UNUSED for e in opt.archive.entries)


def test_x_below_unused_is_still_rejected() -> None:
    opt = ISNAS([3, 3], [0.0], samples_per_distribution=2, seed=0)
    with pytest.raises(ValueError, match="outside"):
        opt.tell(
            [Solution(0, np.array([0, -2]), 1.0, 1.0), Solution(0, np.array([0, 1]), 1.0, 2.0)]
        )


def _generation(opt: ISNAS, losses: list[float]) -> list[Solution]:
    out = []
    for n, loss in enumerate(losses):
        k, x = opt.ask()
        out.append(Solution(k, x, loss=loss, complexity=1.0 + float(x.sum()), trial=n))
    return out


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_loss_ranks_worst_as_a_huge_finite_one_would(bad: float) -> None:
    kwargs = {"samples_per_distribution": 4, "loss_scale": 1.0, "complexity_scale": 10.0}
    a = ISNAS([3, 3, 3], [0.0, 0.5], seed=1, **kwargs)  # type: ignore[arg-type]
    b = ISNAS([3, 3, 3], [0.0, 0.5], seed=1, **kwargs)  # type: ignore[arg-type]
    losses = [0.3, 0.1, 0.7, 0.2, 0.9, 0.4, 0.6, 0.5]
    sols_a = _generation(a, [bad if n == 1 else v for n, v in enumerate(losses)])
    sols_b = _generation(b, [1e9 if n == 1 else v for n, v in enumerate(losses)])
    a.tell(sols_a)
    b.tell(sols_b)
    np.testing.assert_allclose(a.thetas, b.thetas, atol=1e-12)
    # Never archived, and the scales never see it.
    assert all(e.trial != 1 for e in a.archive.entries)
    kept_a = {e.trial for e in a.archive.entries}
    assert kept_a == {e.trial for e in b.archive.entries} - {1}
    assert a.scales.max_complexity == max(s.complexity for s in sols_a if s.trial != 1)


def test_a_generation_of_only_non_finite_values_closes_and_changes_nothing_else() -> None:
    opt = ISNAS([3, 3], hypervolume=2, samples_per_distribution=2, seed=0)
    before = opt.thetas.copy()
    sols = _generation(opt, [np.inf] * opt.generation_size)
    sols[0] = Solution(sols[0].distribution, sols[0].x, 1.0, np.inf, trial=0)
    opt.tell(sols)
    assert opt.generation == 1
    np.testing.assert_array_equal(opt.thetas, before)
    assert len(opt.archive) == 0 and opt.scales.min_complexity is None
    assert len(opt.archive_with(sols)) == 0
