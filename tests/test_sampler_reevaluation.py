"""``ISNASSampler(n_trials=...)``: the last share of the trials re-evaluates finalists, counted as
trials, and the family is chosen on pooled means (issue 14; docs/algorithm.md section 9)."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import optuna
import pytest

from optuna_isnas import ISNASSampler
from optuna_isnas.sampler._generations import EXTRA
from optuna_isnas.sampler._state import DISTRIBUTION_KEY, REEVALUATES_KEY

optuna.logging.set_verbosity(optuna.logging.WARNING)

GAIN = np.array([0.0, 0.5, 0.8, 0.9])
COST = np.array([0.0, 1.0, 2.0, 4.0])
D = 6


def truth(params: dict[str, Any]) -> tuple[float, float]:
    x = np.array([params[f"v{i}"] for i in range(D)])
    return float(np.sum(1.0 - GAIN[x])), float(1.0 + np.sum(COST[x]))


def arch(trial: optuna.Trial) -> dict[str, Any]:
    return {f"v{i}": trial.suggest_categorical(f"v{i}", [0, 1, 2, 3]) for i in range(D)}


def toy(trial: optuna.Trial) -> tuple[float, float]:
    return truth(arch(trial))


def lucky_first(study_seen: set[str]):
    """The first evaluation of an architecture is lucky by up to 0.6 (a fixed amount per
    architecture); every later one is exact."""

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = arch(trial)
        loss, cost = truth(params)
        key = repr(sorted(params.items()))
        if key not in study_seen:
            study_seen.add(key)
            loss -= 0.6 * (zlib.crc32(key.encode()) % 1000) / 1000
        return loss, cost

    return objective


def repeats(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if REEVALUATES_KEY in t.system_attrs]


def test_the_last_trials_repeat_evaluated_finalists_and_leave_the_distributions_alone() -> None:
    sampler = ISNASSampler(seed=0, n_trials=200)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=200)
    again = repeats(study)
    assert [t.number for t in again] == list(range(190, 200))  # the last 5 %
    for t in again:
        assert t.system_attrs[DISTRIBUTION_KEY] == EXTRA  # not a sample of any distribution
        source = study.trials[t.system_attrs[REEVALUATES_KEY]]
        assert source.number < t.number and source.params == t.params
    # The distributions stopped where a study without re-evaluations is after 190 trials.
    plain = ISNASSampler(seed=0)
    other = optuna.create_study(directions=["minimize", "minimize"], sampler=plain)
    other.optimize(toy, n_trials=190)
    assert sampler.probabilities(study) == plain.probabilities(other)
    assert [t.params for t in study.trials[:190]] == [t.params for t in other.trials]


def test_a_lucky_first_evaluation_is_found_out_before_the_family_is_chosen() -> None:
    def run(n_trials: int | None) -> tuple[ISNASSampler, optuna.Study]:
        sampler = ISNASSampler(seed=3, n_trials=n_trials, reevaluation_share=0.2)
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
        study.optimize(lucky_first(set()), n_trials=150)
        return sampler, study

    sampler, study = run(150)
    family = sampler.architectures(study)
    for member in family:  # every member was evaluated again: its luck is halved at least
        evaluations = [t for t in study.trials if t.params == member]
        assert len(evaluations) >= 2
    plain_sampler, plain = run(None)
    lucky = plain_sampler.architectures(plain)
    # Without re-evaluations the family is chosen on single (lucky) values.
    assert any(len([t for t in plain.trials if t.params == m]) == 1 for m in lucky)


def test_a_parameter_outside_the_model_is_repeated_with_its_finalist() -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = arch(trial)
        loss, cost = truth(params)
        if params["v0"] == 0:  # conditional: not in every trial, so not modelled
            loss += trial.suggest_float("extra", 0.0, 0.01)
        return loss, cost

    sampler = ISNASSampler(
        seed=1, n_trials=120, reevaluation_share=0.25, warn_independent_sampling=False
    )
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=120)
    again = repeats(study)
    assert len(again) == 30
    assert any("extra" in t.params for t in again)  # the small end's finalists have v0 = 0
    for t in again:
        assert study.trials[t.system_attrs[REEVALUATES_KEY]].params == t.params


def test_a_single_objective_study_reevaluates_its_best_trials() -> None:
    sampler = ISNASSampler(seed=0, n_trials=60)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: truth(arch(t))[0], n_trials=60)
    again = repeats(study)
    assert [t.number for t in again] == list(range(57, 60))
    assert all(study.trials[t.system_attrs[REEVALUATES_KEY]].params == t.params for t in again)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n_trials": 0}, "n_trials must be"),
        ({"n_trials": 2.5}, "n_trials must be"),
        ({"n_trials": "400"}, "n_trials must be"),
        ({"n_trials": True}, "n_trials must be"),
        ({"n_trials": 100, "reevaluation_share": 1.0}, "reevaluation_share must be"),
        ({"n_trials": 100, "reevaluation_share": -0.1}, "reevaluation_share must be"),
        ({"reevaluation_share": "0.1"}, "reevaluation_share must be"),
    ],
)
def test_bad_reevaluation_arguments_are_refused_with_a_message(
    kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        ISNASSampler(**kwargs)


def test_without_n_trials_or_with_a_zero_share_every_trial_samples() -> None:
    samplers = [ISNASSampler(seed=0), ISNASSampler(seed=0, n_trials=80, reevaluation_share=0.0)]
    for sampler in samplers:
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
        study.optimize(toy, n_trials=80)
        assert repeats(study) == []


def test_workers_reevaluating_at_the_same_time_repeat_different_finalists() -> None:
    sampler = ISNASSampler(seed=0, n_trials=100)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=95)
    asked = [study.ask() for _ in range(4)]  # four workers, none has told yet
    params = [arch(t) for t in asked]
    assert all(REEVALUATES_KEY in study.trials[t.number].system_attrs for t in asked)
    assert len({repr(sorted(p.items())) for p in params}) == 4
    for t, p in zip(asked, params):
        study.tell(t, truth(p))
