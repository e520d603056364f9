"""The hypervolume family evaluates the space's least and most complex configurations, fitted
from the evaluations (issue 14, "a front covered end to end"; docs/algorithm.md section 9)."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest

from optuna_isnas import ISNASSampler
from optuna_isnas.sampler._generations import EXTRA
from optuna_isnas.sampler._state import DISTRIBUTION_KEY, EXTREME_KEY, SamplerState

optuna.logging.set_verbosity(optuna.logging.WARNING)

GAIN = np.array([0.0, 0.5, 0.8, 0.9])
COST = np.array([0.0, 1.0, 2.0, 4.0])
D = 6


def toy(trial: optuna.Trial) -> tuple[float, float]:
    x = np.array([trial.suggest_categorical(f"v{i}", [0, 1, 2, 3]) for i in range(D)])
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)  # no effect on the size
    return float(np.sum(1.0 - GAIN[x]) + abs(np.log10(lr) + 2.5)), float(1.0 + np.sum(COST[x]))


def ends(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if EXTREME_KEY in t.system_attrs]


def test_the_least_and_most_complex_configurations_are_evaluated_and_fitted_again() -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=200)
    found = ends(study)
    assert len(found) >= 4  # a first fit, and a second once the evaluations doubled
    assert [t.system_attrs[EXTREME_KEY] for t in found[:2]] == ["least", "most"]
    assert found[1].number == found[0].number + 1
    # 2 x (6 x 3 + 1 + 1) = 40 evaluations before the first fit
    assert found[0].number >= 40
    for t in found:
        assert t.system_attrs[DISTRIBUTION_KEY] == EXTRA  # no distribution learns from them
    least = [t for t in found if t.system_attrs[EXTREME_KEY] == "least"]
    most = [t for t in found if t.system_attrs[EXTREME_KEY] == "most"]
    assert all(t.values[1] == 1.0 for t in least)  # every block at its cheapest
    assert all(t.values[1] == 25.0 for t in most)  # every block at its dearest
    # The learning rate does not change the size: the ends keep an evaluated model's rate,
    # not an end of its range.
    assert all(1e-4 < t.params["lr"] < 1e-1 for t in found)
    # The least complex model is never dominated, and the family's hypervolume counts it.
    assert min(t.values[1] for t in study.trials if t.values) == 1.0


def test_the_record_round_trips_through_the_stored_state() -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=80)
    state = sampler._synced_state(study)
    assert state.extremes is not None and state.extremes["at"] >= 0
    again = SamplerState.decode(state.encode())
    assert again.extremes == state.extremes
    assert again.encode() == state.encode()


def run(sampler: ISNASSampler, directions: list[Any], objective: Any) -> optuna.Study:
    study = optuna.create_study(directions=directions, sampler=sampler)
    study.optimize(objective, n_trials=120)
    return study


def test_other_families_single_objective_studies_and_the_switch_evaluate_no_ends() -> None:
    assert ends(run(ISNASSampler(seed=0, evaluate_ends=False), ["minimize"] * 2, toy)) == []
    assert ends(run(ISNASSampler(seed=0, family="size-classes"), ["minimize"] * 2, toy)) == []
    assert ends(run(ISNASSampler(seed=0, epsilons=[0.0, 1.0]), ["minimize"] * 2, toy)) == []
    assert ends(run(ISNASSampler(seed=0), ["minimize"], lambda t: toy(t)[0])) == []


def test_a_switch_that_is_not_a_bool_is_refused() -> None:
    with pytest.raises(ValueError, match="evaluate_ends must be True or False"):
        ISNASSampler(evaluate_ends="no")  # type: ignore[arg-type]


def test_a_complexity_that_never_varies_gives_no_ends() -> None:
    def flat(trial: optuna.Trial) -> tuple[float, float]:
        return toy(trial)[0], 7.0

    assert ends(run(ISNASSampler(seed=0), ["minimize"] * 2, flat)) == []
