"""A draw of a configuration already evaluated takes the pooled values it had, and the trial
evaluates the next draw (docs/algorithm.md section 9, "Repeats")."""

from __future__ import annotations

import json
import random
from collections import defaultdict

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas import ISNASSampler
from optuna_isnas.core import ISNAS, Solution
from optuna_isnas.sampler._known import MAX_KNOWN, Evaluated
from optuna_isnas.sampler._state import KNOWN_KEY

optuna.logging.set_verbosity(optuna.logging.WARNING)

GAIN = np.array([0.0, 0.6, 0.8, 0.9])
COST = np.array([1.0, 2.0, 3.0, 4.0])
D = 6  # 4,096 configurations: the distributions converge long before 300 trials


def toy(trial: optuna.Trial) -> tuple[float, float]:
    x = np.array([trial.suggest_categorical(f"v{i}", [0, 1, 2, 3]) for i in range(D)])
    noise = 0.01 * np.sin(trial.number)  # a repeat measures a slightly different loss
    return float(np.sum(1.0 - GAIN[x]) + noise), float(np.sum(COST[x]))


def config(t: optuna.trial.FrozenTrial) -> tuple[int, ...]:
    return tuple(int(t.params[f"v{i}"]) for i in range(D))


def sampled(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials a distribution drew (not the predicted ends)."""
    return [t for t in study.trials if t.system_attrs.get("isnas:distribution", -1) >= 0]


def repeats(trials: list[optuna.trial.FrozenTrial]) -> int:
    seen: set[tuple[int, ...]] = set()
    count = 0
    for t in trials:
        count += config(t) in seen
        seen.add(config(t))
    return count


def run(skip: bool, n: int = 300) -> optuna.Study:
    sampler = ISNASSampler(seed=1, skip_evaluated=skip, evaluate_ends=False)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(toy, n_trials=n)
    return study


def test_trials_evaluate_new_configurations_where_repeats_would_be_drawn() -> None:
    with_lookups, without = run(True), run(False)
    # Without look-ups a converged distribution draws its modes again and again (73-79 of 300
    # sampled trials repeat an evaluated configuration, seeds 0-2).
    assert repeats(sampled(without)) > 50
    # With them a trial repeats one only after MAX_KNOWN known draws in a row (9-15 of 300).
    assert repeats(sampled(with_lookups)) < 25
    known = [len(json.loads(t.system_attrs.get(KNOWN_KEY, "[]"))) for t in with_lookups.trials]
    assert sum(known) > 100 and max(known) <= MAX_KNOWN


def test_known_samples_carry_the_pooled_values_of_the_earlier_evaluations() -> None:
    study = run(True)
    values: dict[tuple[int, ...], list[float]] = defaultdict(list)
    checked = 0
    for t in study.trials:
        for x, z, loss, complexity, violation in json.loads(t.system_attrs.get(KNOWN_KEY, "[]")):
            earlier = values[tuple(x)]
            # A process knows what the generations it closed held: earlier trials only,
            # pooled by their mean, the size exact.
            assert earlier, "a known sample was never evaluated before"
            assert min(earlier) - 1e-12 <= loss <= max(earlier) + 1e-12
            assert complexity == float(np.sum(COST[np.asarray(x)]))
            assert z is None and violation == 0.0
            checked += 1
        if t.values is not None:
            values[config(t)].append(t.values[0])
    assert checked > 50


def test_the_core_learns_from_known_samples_but_neither_archive_nor_scales_take_them() -> None:
    def core() -> ISNAS:
        c = ISNAS([3, 3], hypervolume=2, samples_per_distribution=2, seed=0)
        x = np.array([[0, 0], [1, 1], [2, 2], [0, 1]])
        c.tell([Solution(i % 2, row, 1.0 - 0.2 * i, 1.0 + i) for i, row in enumerate(x)])
        return c

    new = [Solution(0, np.array([1, 2]), 0.9, 3.5), Solution(1, np.array([2, 1]), 0.95, 3.2)]
    # Two looked-up repeats of the entry (0, 1), the best one, evaluated once.
    known = [Solution(k, np.array([0, 1]), 0.4, 4.0, known=True) for k in (0, 1)]
    with_known, evaluated_only = core(), core()
    with_known.tell(new + known)
    evaluated_only.tell(new)
    assert not np.allclose(with_known.thetas, evaluated_only.thetas)  # learnt from them
    counts = {e.x: e.n for e in with_known.archive.entries}
    assert counts[(0, 1)] == 1  # pooled once, not three times
    assert with_known.scales.to_dict() == evaluated_only.scales.to_dict()
    assert [e.to_list() for e in with_known.archive.entries] == [
        e.to_list() for e in evaluated_only.archive.entries
    ]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=12), st.randoms())
def test_pooled_values_do_not_depend_on_the_order_they_were_read(
    losses: list[float], rnd: random.Random
) -> None:
    """A restarted process reads the trials in another order than the one that closed the
    generations: it must look up the same values to the last bit."""
    first, second = Evaluated(), Evaluated()
    shuffled = losses[:]
    rnd.shuffle(shuffled)
    for pool, values in ((first, losses), (second, shuffled)):
        for v in values:
            pool.add(Solution(0, np.array([1, 2]), v, 3.0))
    assert first.get(((1, 2), ())) == second.get(((1, 2), ()))


def test_looked_up_and_diverged_values_are_not_evaluations() -> None:
    seen = Evaluated()
    seen.add(Solution(0, np.array([1, 2]), 0.5, 3.0))
    seen.add(Solution(0, np.array([1, 2]), 0.7, 3.0))
    assert seen.get(((1, 2), ())) == pytest.approx((0.6, 3.0, 0.0))
    seen.add(Solution(0, np.array([1, 2]), 9.0, 3.0, known=True))
    seen.add(Solution(0, np.array([2, 2]), float("nan"), 3.0))
    assert seen.get(((1, 2), ())) == pytest.approx((0.6, 3.0, 0.0))
    assert seen.get(((2, 2), ())) is None
    seen.clear()
    assert seen.get(((1, 2), ())) is None


def test_a_restarted_process_looks_up_what_the_first_one_would_have() -> None:
    """The known values of every trial are those of one uninterrupted run, although the
    second sampler object starts with nothing in memory (the storage tests check the whole
    trajectory; this one that the restart happens where look-ups are made)."""
    whole = run(True, 240)
    storage = optuna.storages.InMemoryStorage()
    first = optuna.create_study(
        directions=["minimize", "minimize"],
        storage=storage,
        study_name="s",
        sampler=ISNASSampler(seed=1, evaluate_ends=False),
    )
    first.optimize(toy, n_trials=150)
    second = optuna.load_study(
        study_name="s", storage=storage, sampler=ISNASSampler(seed=1, evaluate_ends=False)
    )
    second.optimize(toy, n_trials=90)
    after = [t.system_attrs.get(KNOWN_KEY) for t in second.trials[150:]]
    assert sum(len(json.loads(k or "[]")) for k in after) > 20
    assert after == [t.system_attrs.get(KNOWN_KEY) for t in whole.trials[150:]]


def test_ints_repeat_and_are_looked_up_but_a_continuous_float_turns_look_ups_off() -> None:
    def with_int(trial: optuna.Trial) -> tuple[float, float]:
        loss, size = toy(trial)
        depth = trial.suggest_int("depth", 1, 4)
        return loss + 0.1 * abs(depth - 2), size * depth

    def with_float(trial: optuna.Trial) -> tuple[float, float]:
        loss, size = toy(trial)
        return loss + abs(trial.suggest_float("lr", 1e-3, 1.0, log=True) - 0.1), size

    studies = []
    for objective in (with_int, with_float):
        study = optuna.create_study(
            directions=["minimize", "minimize"], sampler=ISNASSampler(seed=0, evaluate_ends=False)
        )
        study.optimize(objective, n_trials=250)
        studies.append(study)
    rows = [r for t in studies[0].trials for r in json.loads(t.system_attrs.get(KNOWN_KEY, "[]"))]
    assert len(rows) > 20
    for x, z, loss, complexity, violation in rows:  # the int's value on the unit interval
        assert len(z) == 1 and 0.0 <= z[0] <= 1.0 and np.isfinite(loss) and violation == 0.0
        depth = round(z[0] * 4 + 0.5)  # cells of width 1/4
        assert complexity == float(np.sum(COST[np.asarray(x)])) * depth
    assert all(KNOWN_KEY not in t.system_attrs for t in studies[1].trials)


def test_the_switch_is_checked_and_the_one_shot_search_turns_it_off() -> None:
    with pytest.raises(ValueError, match="skip_evaluated must be True or False"):
        ISNASSampler(skip_evaluated="yes")  # type: ignore[arg-type]
    study = run(False, 60)
    assert all(KNOWN_KEY not in t.system_attrs for t in study.trials)
