"""How the sampler's settings build the core (sampler/_settings.py): lambda when none is given."""

from __future__ import annotations

from typing import Any

import pytest

from optuna_isnas.sampler._settings import (
    SAMPLES_PER_DISTRIBUTION,
    CoreSettings,
    single_objective_samples,
)


def settings(**overrides: Any) -> CoreSettings:
    arguments: dict[str, Any] = {
        "epsilons": None,
        "complexity_budgets": None,
        "n_distributions": None,
        "family": "hypervolume",
        "log_complexity": True,
        "reference_point": None,
        "samples_per_distribution": None,
        "alpha": 1.5,
        "init_delta": 1.0,
        "loss_scale": None,
        "complexity_scale": None,
        "archive_size": 4,
    }
    arguments.update(overrides)
    return CoreSettings.from_arguments(**arguments)


def test_lambda_defaults_to_4_for_two_objectives_and_to_cma_es_population_for_one() -> None:
    assert SAMPLES_PER_DISTRIBUTION == 4
    # 4 + floor(3 ln n): CMA-ES's population for n modelled parameters
    assert [single_objective_samples(n) for n in (1, 2, 3, 7, 8, 15, 100)] == [
        4, 6, 7, 9, 10, 12, 17,
    ]  # fmt: skip
    s = settings()
    two = s.build([3, 3], 0, n_objectives=2)
    assert (two.n_distributions, two.lam, two.generation_size) == (4, 4, 16)
    assert s.n_distributions * s.samples_per_distribution == 16
    one = s.build([3, 3], 0, n_objectives=1)
    assert (one.n_distributions, one.lam) == (1, 6)
    # numeric parameters count; a categorical of one choice (a float-only study's stand-in) not
    assert s.build([3, 3], 0, n_objectives=1, numeric_cells=[0, 8]).lam == 8
    assert s.build([1], 0, n_objectives=1, numeric_cells=[0]).lam == 4
    for mode in ({"epsilons": [0.0, 1.0]}, {"complexity_budgets": [1.0, 2.0, 3.0]}):
        assert settings(**mode).build([3], 0, n_objectives=2).lam == 4


@pytest.mark.parametrize("lam", [1, 2, 3, 6])
def test_a_given_lambda_is_used_for_any_number_of_objectives(lam: int) -> None:
    s = settings(samples_per_distribution=lam)
    assert s.build([3, 3], 0, n_objectives=2).lam == lam
    assert s.build([3, 3], 0, n_objectives=1).lam == lam


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_a_bad_lambda_is_rejected_with_its_name(bad: Any) -> None:
    with pytest.raises(ValueError, match="samples_per_distribution"):
        settings(samples_per_distribution=bad)
