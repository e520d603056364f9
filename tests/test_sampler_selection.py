"""What ISNASSampler hands back: the family from its archive, the mode, rescoring, constraints,
and its arguments (issues 8 and 10)."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest
from optuna.storages.journal import JournalFileBackend

from optuna_isnas import ISNASSampler
from optuna_isnas.core.hypervolume import best_subset, hypervolume, pareto_front

optuna.logging.set_verbosity(optuna.logging.WARNING)

GAIN = np.array([0.0, 0.5, 0.8, 0.9])  # loss of choice j is 1 - GAIN[j]
COST = np.array([0.0, 1.0, 2.0, 4.0])
D = 6


def arch_of(trial: optuna.Trial) -> np.ndarray:
    return np.array([trial.suggest_categorical(f"v{i}", [0, 1, 2, 3]) for i in range(D)])


def toy(trial: optuna.Trial) -> tuple[float, float]:
    x = arch_of(trial)
    return float(np.sum(1.0 - GAIN[x])), float(1.0 + np.sum(COST[x]))


def values(arch: dict[str, Any]) -> tuple[float, float]:
    x = np.array([arch[f"v{i}"] for i in range(D)])
    return float(np.sum(1.0 - GAIN[x])), float(1.0 + np.sum(COST[x]))


def study_with(sampler: ISNASSampler, n_trials: int, **kwargs: Any) -> optuna.Study:
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler, **kwargs)
    study.optimize(toy, n_trials=n_trials)
    return study


def test_default_family_is_the_best_four_evaluated_by_hypervolume() -> None:
    sampler = ISNASSampler(seed=0)
    study = study_with(sampler, 1 + 16 * 30)
    family = sampler.architectures(study)
    assert len(family) == sampler.n_distributions == 4
    assert sampler.budgets(study) is None  # no size classes
    evaluated = {tuple(sorted(t.params.items())) for t in study.trials if t.values}
    assert all(tuple(sorted(a.items())) in evaluated for a in family)
    points = [values(a) for a in family]
    assert len(set(points)) == 4  # distinct
    sizes = [p[1] for p in points]
    assert sizes == sorted(sizes, reverse=True)  # large to small
    assert sizes[0] / sizes[-1] >= 3  # the complexities seen span 1 .. 25
    # No 4 evaluated architectures have more hypervolume (log10 complexity axis; reference:
    # the nadir of the front evaluated, plus a third of its span, 1 / (K - 1)).
    seen = np.array([(t.values[0], np.log10(t.values[1])) for t in study.trials if t.values])
    front = seen[pareto_front(seen)]
    low, high = front.min(axis=0), front.max(axis=0)
    reference = high + (high - low) / 3
    got = hypervolume([(p[0], np.log10(p[1])) for p in points], reference)
    best = hypervolume(seen[best_subset(seen, 4, reference)], reference)
    assert got == pytest.approx(best, rel=1e-9)
    # None dominates another.
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            assert i == j or not (q[0] <= p[0] and q[1] <= p[1])


def test_mode_is_the_argmax_of_each_distribution() -> None:
    sampler = ISNASSampler(epsilons=[0.0, 0.1, 0.4, 2.0], seed=1)
    study = study_with(sampler, 1 + 8 * 20)
    modes = sampler.architectures(study, source="mode")
    for mode, probs in zip(modes, sampler.probabilities(study)):
        assert mode == {name: max(p.items(), key=lambda cp: cp[1])[0] for name, p in probs.items()}
    with pytest.raises(ValueError, match="source"):
        sampler.architectures(study, source="best")  # type: ignore[arg-type]


def test_a_fresh_sampler_on_the_same_storage_returns_the_same_family(tmp_path) -> None:
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    first = ISNASSampler(seed=3)
    study = study_with(first, 1 + 8 * 25, storage=storage, study_name="s")
    again = ISNASSampler(seed=3)
    reloaded = optuna.load_study(study_name="s", storage=storage, sampler=again)
    assert again.architectures(reloaded) == first.architectures(study)


def test_evaluated_selection_before_any_generation_returns_what_was_evaluated() -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    assert sampler.generation(study) == 0 and sampler.budgets(study) is None
    study.optimize(toy, n_trials=3)  # a state, but no generation closed yet
    family = sampler.architectures(study)
    evaluated = [t.params for t in study.trials]
    assert len(family) == 4 and sum(arch in evaluated for arch in family) >= 1
    assert len(sampler.architectures(study, source="mode")) == 4


def test_evaluated_selection_with_nothing_finite_says_what_to_do() -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(lambda t: (float("inf"), toy(t)[1]), n_trials=3)
    with pytest.raises(ValueError, match=r"evaluated nothing it can return.*run more trials"):
        sampler.architectures(study)


def test_candidates_and_select_from_rescored_values() -> None:
    sampler = ISNASSampler(epsilons=[0.0, 0.1, 0.4, 2.0], seed=0)
    study = study_with(sampler, 1 + 8 * 40)
    cands = sampler.candidates(study)
    keys = [tuple(sorted(c.params.items())) for c in cands]
    assert len(keys) == len(set(keys))  # each architecture once
    modes = sampler.architectures(study, source="mode")
    assert all(any(c.params == m and c.is_mode for c in cands) for m in modes)
    assert all(c.entry is not None for c in cands if not c.is_mode)
    # Rescored with the true (noise-free) values, the family is what the trade-offs imply:
    # f = L / s_L + eps * c / s_c with the sampler's scales.
    scored = [values(c.params) for c in cands]
    chosen = sampler.select_from(study, [c.params for c in cands], scored)
    assert len(chosen) == 4 and None not in chosen
    assert len(set(chosen)) == 4
    # Accuracy-like first objective (maximised): the same choice on negated values.
    maximise = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    maximise.optimize(lambda t: (-toy(t)[0], toy(t)[1]), n_trials=1 + 8 * 40)
    flipped = [(-loss, size) for loss, size in scored]
    assert sampler.select_from(maximise, [c.params for c in cands], flipped) is not None
    with pytest.raises(ValueError, match="one"):
        sampler.select_from(study, [c.params for c in cands], scored[:-1])


def test_size_classes_are_evaluated_distinct_and_span_the_sizes() -> None:
    sampler = ISNASSampler(seed=0, family="size-classes")
    study = study_with(sampler, 1 + 8 * 60)
    family = sampler.architectures(study)
    points = [values(a) for a in family]
    assert len(set(points)) == 4  # distinct
    sizes = [p[1] for p in points]
    assert sizes == sorted(sizes, reverse=True)  # large to small
    assert sizes[0] / sizes[-1] >= 6  # the complexities seen span 1 .. 25
    budgets = sampler.budgets(study)
    assert budgets is not None and all(s <= b for s, b in zip(sizes, budgets))
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            assert i == j or not (q[0] <= p[0] and q[1] <= p[1])


def test_select_from_with_an_unbounded_top_class_starts_at_the_most_accurate() -> None:
    sampler = ISNASSampler(seed=0, family="size-classes")
    study = study_with(sampler, 1 + 16 * 20)
    budgets = sampler.budgets(study)
    assert budgets is not None
    archs = [{f"v{i}": j for i in range(D)} for j in range(4)]  # all-0 ... all-3: 1 .. 25
    scored = [values(a) for a in archs]
    assert scored[3][1] > budgets[0]  # the most accurate is over every class's budget
    bounded = sampler.select_from(study, archs, scored)
    assert 3 not in bounded
    top = sampler.select_from(study, archs, scored, unbounded_top=True)
    assert top[0] == 3  # the largest class takes it
    # The other classes keep their budgets.
    assert all(i is None or scored[i][1] <= b for i, b in zip(top[1:], budgets[1:]))


def test_latency_constraint_is_honoured_in_the_search_and_in_the_family() -> None:
    """A latency-style constraint: choice 3 of any variable is 'slow'; at most one allowed."""

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = arch_of(trial)
        latency = float(np.sum(x == 3))
        trial.set_constraint("latency", latency - 1.0)  # feasible when <= 1 slow choice
        return float(np.sum(1.0 - GAIN[x])), float(1.0 + np.sum(COST[x]))

    sampler = ISNASSampler(epsilons=[0.0, 0.2], seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=1 + 4 * 150)
    for arch in sampler.architectures(study):
        assert sum(v == 3 for v in arch.values()) <= 1
    # Without the constraint the accuracy-only distribution takes choice 3 everywhere.
    free = ISNASSampler(epsilons=[0.0, 0.2], seed=0)
    free_study = study_with(free, 1 + 4 * 150)
    assert sum(v == 3 for v in free.architectures(free_study)[0].values()) > 1

    # The distributions learn to avoid the infeasible region: late samples are infeasible
    # only through ASNG's exploration (about 1 in 4 here), far less often than without the
    # constraint.
    def infeasible(trials: list) -> float:
        return float(np.mean([sum(v == 3 for v in t.params.values()) > 1 for t in trials]))

    assert infeasible(study.trials[-100:]) < 0.35
    assert infeasible(study.trials[-100:]) < 0.5 * infeasible(free_study.trials[-100:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilons": "0,1,3"}, "epsilons must be a list of numbers"),
        ({"epsilons": 3}, "epsilons must be a list of numbers"),
        ({"epsilons": [0, "1"]}, "epsilons must hold numbers only"),
        ({"complexity_budgets": "20K"}, "complexity_budgets must be a list of numbers"),
        ({"epsilons": [1.0, 0.0, 3.0]}, "increasing order"),
        ({"independent_sampler": "random"}, "independent_sampler must be an Optuna sampler"),
        ({"n_distributions": 0}, "n_distributions must be an integer >= 1"),
        ({"epsilons": [0, 1], "n_distributions": 3}, "disagrees"),
        ({"epsilons": [0, 1], "complexity_budgets": [1, 2]}, "not both"),
        ({"samples_per_distribution": 1.5}, "samples_per_distribution must be an integer"),
        ({"archive_size": 0}, "archive_size must be an integer >= 1"),
    ],
)
def test_bad_arguments_fail_at_construction_saying_what_is_allowed(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        ISNASSampler(**kwargs)


BEST = {f"v{i}": 3 for i in range(D)}  # lowest loss of the toy (0.6), largest size


def test_trials_of_an_earlier_sampler_join_the_archive_not_the_update() -> None:
    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    study.enqueue_trial(BEST)
    study.optimize(toy, n_trials=30)
    sampler = ISNASSampler(epsilons=[0.0, 0.1, 0.4, 2.0], seed=0)
    study.sampler = sampler
    study.optimize(toy, n_trials=8 * 3)
    closed = [
        t.system_attrs["isnas:closed"] for t in study.trials if "isnas:closed" in t.system_attrs
    ]
    used = {n for c in closed for n in c["trials"]}
    assert used and min(used) >= 30  # only the sampler's own trials update the distributions
    assert sampler.architectures(study)[0] == BEST  # found by the earlier sampler


def test_enqueued_trials_go_to_the_archive_not_to_the_update() -> None:
    sampler = ISNASSampler(epsilons=[0.0, 0.1, 0.4, 2.0], samples_per_distribution=2, seed=0)
    study = study_with(sampler, 1 + 8 * 2)
    study.enqueue_trial(BEST)
    study.enqueue_trial({"v0": 0})  # partially enqueued: the rest is sampled
    study.optimize(toy, n_trials=8 * 3)
    enqueued = [t for t in study.trials if t.system_attrs.get("fixed_params")]
    assert len(enqueued) == 2
    # Fully enqueued: Optuna never asks the sampler, the trial stays untagged. Partially
    # enqueued: sampled, but tagged as no distribution's sample (-1).
    assert "isnas:distribution" not in enqueued[0].system_attrs
    assert enqueued[1].system_attrs["isnas:distribution"] == -1
    closed = [
        t.system_attrs["isnas:closed"] for t in study.trials if "isnas:closed" in t.system_attrs
    ]
    used = {n for c in closed for n in c["trials"]}
    assert not used & {t.number for t in enqueued}
    for c in closed:  # still lambda trials per distribution per generation
        assert len(c["trials"]) == 8
    assert sampler.architectures(study)[0] == BEST


def test_completed_trials_of_the_open_generation_join_the_family() -> None:
    """``study.optimize`` may stop mid-generation; what it evaluated since still counts."""
    sampler = ISNASSampler(epsilons=[0.0], samples_per_distribution=4, seed=0)
    study = study_with(sampler, 1 + 4)  # one generation closed, nothing pending
    best = {f"v{i}": 3 for i in range(D)}  # the lowest loss of the space
    assert sampler.architectures(study) != [best]
    study.enqueue_trial(best)
    study.optimize(toy, n_trials=1)  # one trial of the fourth generation: it stays open
    assert sampler.generation(study) == 1
    assert sampler.architectures(study) == [best]
    assert any(c.params == best for c in sampler.candidates(study))


def test_a_reference_point_is_given_in_the_studys_own_units() -> None:
    """An accuracy to maximise: the reference's accuracy only lets better models count."""

    def accuracy_toy(trial: optuna.Trial) -> tuple[float, float]:
        loss, size = toy(trial)
        return 1.0 - loss / 6.0, size

    sampler = ISNASSampler(seed=0, reference_point=(0.5, 30.0))
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(accuracy_toy, n_trials=1 + 16 * 15)
    family_mode = sampler._synced_state(study).core.family
    assert family_mode is not None and family_mode.reference == (-0.5, 30.0)
    members = [values(a) for a in sampler.architectures(study)]
    # Every member is more accurate than the reference: loss below 3, accuracy above 0.5.
    assert all(loss < 3.0 for loss, _ in members)


def test_family_settings_that_cannot_apply_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="family must be one of"):
        ISNASSampler(family="pareto")
    with pytest.raises(ValueError, match="reference_point must be two numbers"):
        ISNASSampler(reference_point=[1.0])
    with pytest.raises(ValueError, match="drop them, or drop those"):
        ISNASSampler(epsilons=[0.0, 1.0], reference_point=[1.0, 2.0])
    with pytest.raises(ValueError, match="log_complexity must be True or False"):
        ISNASSampler(log_complexity="yes")  # type: ignore[arg-type]
