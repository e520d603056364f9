"""Trials and arguments the sampler can't take as they are: it either uses them sensibly or
says so once, and never stalls silently."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import optuna
import pytest

from optuna_isnas import ISNASSampler
from optuna_isnas.sampler._state import SamplerState

optuna.logging.set_verbosity(optuna.logging.WARNING)

CHOICES = [0, 1, 2, 3]
GAIN = np.array([0.0, 0.5, 0.8, 0.9])
COST = np.array([0.0, 1.0, 2.0, 4.0])
D = 4
LOGGER = "optuna_isnas.sampler._sampler"


def arch_of(trial: optuna.Trial) -> np.ndarray:
    return np.array([trial.suggest_categorical(f"v{i}", CHOICES) for i in range(D)])


def toy(trial: optuna.Trial) -> tuple[float, float]:
    x = arch_of(trial)
    return float(np.sum(1.0 - GAIN[x])), float(1.0 + np.sum(COST[x]))


def warnings_of(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and text in r.getMessage()]


def moved(sampler: ISNASSampler, study: optuna.Study, name: str) -> float:
    """Largest distance of any distribution's probabilities of ``name`` from uniform."""
    probs = sampler.probabilities(study)
    return max(abs(p - 1.0 / len(dist[name])) for dist in probs for p in dist[name].values())


# ---------------------------------------------------------------- define-by-run, item 6
def test_a_parameter_only_the_first_trial_suggested_does_not_stall_the_search(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        if trial.number == 0:  # a conditional branch taken once
            trial.suggest_categorical("extra", ["p", "q"])
        return toy(trial)

    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        study.optimize(objective, n_trials=1 + 16 * 8)
    assert sampler.generation(study) >= 6  # generations close from the trials without it
    assert moved(sampler, study, "v0") > 0.1  # the suggested parameters are learned
    # The skipped parameter's distribution is left as it is: uniform.
    assert moved(sampler, study, "extra") == pytest.approx(0.0, abs=1e-12)
    said = warnings_of(caplog, "did not suggest the modelled parameter")
    assert len(said) == 1 and "'extra'" in said[0] and "every trial" in said[0]
    family = sampler.architectures(study)
    assert len(family) == 4 and all("v0" in arch for arch in family)


# ---------------------------------------------------------------- non-finite values, item 6
def test_every_value_infinite_closes_generations_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        study.optimize(lambda t: (float("inf"), toy(t)[1]), n_trials=1 + 16 * 3)
    assert sampler.generation(study) >= 2  # no generation waits forever
    said = warnings_of(caplog, "non-finite")
    assert len(said) == 1 and "never part of the family" in said[0]
    with pytest.raises(ValueError, match="no completed trial with finite values"):
        sampler.architectures(study)


def test_infinite_values_rank_worst_and_never_enter_the_family() -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        loss, cost = toy(trial)
        # Every architecture with v0 = 3 diverges: -inf (a maximised accuracy's +inf) and
        # +inf alternate; neither may be taken as the best.
        if trial.params["v0"] == 3:
            return (-np.inf if trial.number % 2 else np.inf), cost
        return loss, cost

    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=1 + 16 * 12)
    assert sampler.generation(study) >= 10
    assert all(arch["v0"] != 3 for arch in sampler.architectures(study))
    assert all(c.params["v0"] != 3 for c in sampler.candidates(study) if c.entry is not None)
    # Ranked worst, so the distributions move away from v0 = 3.
    probs = sampler.probabilities(study)
    assert all(dist["v0"][3] < 0.25 for dist in probs)


# ---------------------------------------------------------------- arguments
@pytest.mark.parametrize("seed", [1.7, -1, True, "3", np.float64(2.0)])
def test_a_bad_seed_is_refused_at_construction(seed: Any) -> None:
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        ISNASSampler(seed=seed)


def test_a_numpy_integer_seed_is_accepted() -> None:
    sampler = ISNASSampler(seed=np.int64(3))  # type: ignore[arg-type]
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=3)
    again = ISNASSampler(seed=3)
    other = optuna.create_study(directions=["minimize", "minimize"], sampler=again)
    other.optimize(toy, n_trials=3)
    assert [t.params for t in study.trials] == [t.params for t in other.trials]


def size_as_text(params: dict[str, Any]) -> Any:
    return "big"


def size_nan(params: dict[str, Any]) -> float:
    return float("nan")


@pytest.mark.parametrize(
    ("fn", "error", "match"),
    [
        (size_as_text, TypeError, "complexity_fn size_as_text must return a number.*'big'"),
        (size_nan, ValueError, "complexity_fn size_nan must return a finite number"),
    ],
)
def test_complexity_fn_that_returns_no_number_is_named(fn: Any, error: type, match: str) -> None:
    sampler = ISNASSampler(complexity_budgets=[4.0, 8.0], complexity_fn=fn, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=2)
    with pytest.raises(error, match=match):
        sampler.architectures(study, source="mode")


def test_complexity_fn_accepts_numpy_numbers_and_warns_once_when_negative(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def size(params: dict[str, Any]) -> Any:
        return np.float32(sum(params.values()) - 100)

    sampler = ISNASSampler(complexity_budgets=[4.0, 8.0], complexity_fn=size, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        sampler.architectures(study, source="mode")
        sampler.architectures(study, source="mode")
    said = warnings_of(caplog, "negative complexity")
    assert len(said) == 1 and "complexity_fn" in said[0] and "size" in said[0]


def test_negative_complexities_told_are_used_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        study.optimize(lambda t: (toy(t)[0], toy(t)[1] - 10.0), n_trials=1 + 16 * 3)
    said = warnings_of(caplog, "negative complexity")
    assert len(said) == 1 and "(parameters, FLOPs, latency: >= 0)" in said[0]
    assert sampler.generation(study) >= 2
    assert len(sampler.architectures(study)) == 4


@pytest.mark.parametrize(
    ("arch", "match"),
    [
        (
            {"v0": "zzz"},
            r"architectures\[1\]\['v0'\] = 'zzz' is not one of the choices.*\[0, 1, 2, 3\]",
        ),
        ({"v0": 0, "v1": 7}, r"architectures\[1\]\['v1'\] = 7 is not one of"),
        ({"other": 1}, r"architectures\[1\] holds none of the modelled parameters"),
        ("v0=1", r"architectures\[1\] must be a dict"),
    ],
)
def test_select_from_checks_the_architectures_it_is_given(arch: Any, match: str) -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=1 + 16)
    good = study.trials[0].params
    with pytest.raises(ValueError, match=match):
        sampler.select_from(study, [good, arch], [(1.0, 2.0), (1.0, 3.0)])
    # A dict of modelled choices, with extra unmodelled parameters, is fine.
    assert (
        len(sampler.select_from(study, [good, {**good, "lr": 0.1}], [(1.0, 2.0), (0.5, 3.0)])) == 4
    )


def test_a_complexity_fn_error_during_an_update_leaves_the_stored_state_usable() -> None:
    calls = {"n": 0}

    def flaky(params: dict[str, Any]) -> Any:
        calls["n"] += 1
        return "broken" if calls["n"] == 1 else float(sum(params.values()))

    sampler = ISNASSampler(
        complexity_budgets=[4.0, 8.0], complexity_fn=flaky, samples_per_distribution=1, seed=0
    )
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    with pytest.raises(TypeError, match=r"complexity_fn .*flaky"):
        study.optimize(toy, n_trials=10)
    # The half-updated copy is not kept: what this process holds is what storage holds.
    cached = sampler._store.cached()
    raw = sampler._store.raw(study)
    assert raw is not None
    stored = SamplerState.decode(raw)
    assert cached is None or np.array_equal(cached.core.thetas, stored.core.thetas)
    assert sampler.generation(study) == 1  # the failed update is redone, once, from storage
