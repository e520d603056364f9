"""ISNASSampler and Optuna storages: same trajectory everywhere, restarts, FAIL/PRUNED, ask/tell.

The toy problem lives in ``_worker_script.py``: 8 categorical parameters of 4 choices with
known loss gains and costs, K = 4 trade-offs, fixed unit scales. Every run here is
deterministic: the sampler draws trial ``n`` from ``(seed, n)`` only, and its state lives
in the study's storage.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from typing import Any

import optuna
from _worker_script import (
    CHOICES,
    COST,
    DISTRIBUTION_KEY,
    EPSILONS,
    GENERATION_KEY,
    LOSS,
    MARGIN,
    NAMES,
    WORKER_SCRIPT,
    check_closed_generation,
    closed_records,
    failing_objective,
    journal_storage,
    make_sampler,
    objective,
    optimum,
    replay,
    stored_state,
    trajectory,
    values,
)
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.ERROR)

K = len(EPSILONS)
LAM = 2
GEN = K * LAM
DIRECTIONS: list[StudyDirection] = [StudyDirection.MINIMIZE, StudyDirection.MINIMIZE]


def _run(storage: Any, n_trials: int, name: str = "toy") -> dict[str, Any]:
    sampler = make_sampler(0)
    study = optuna.create_study(
        storage=storage, sampler=sampler, directions=DIRECTIONS, study_name=name
    )
    study.optimize(objective, n_trials=n_trials)
    return _summary(study, sampler)


def _summary(study: optuna.Study, sampler: Any) -> dict[str, Any]:
    # Read the trials and the stored state before any sampler call: reading results may
    # close a complete generation (and write the state).
    out = {"trajectory": trajectory(study), "state": stored_state(study)}
    out["probabilities"] = sampler.probabilities(study)
    out["generation"] = sampler.generation(study)
    out["architectures"] = sampler.architectures(study)
    return out


def _generations_of(n_trials: int) -> int:
    # Trial 0 is sampled at random (no search space yet); then one generation per GEN trials,
    # each closed when the next trial is sampled: trial 1 + GEN * m closes the m-th.
    return (n_trials - 2) // GEN


def _assert_balanced(traj: list[tuple[Any, ...]], n_generations: int) -> None:
    per_gen: dict[int, Counter[int]] = {}
    for number, _state, _params, _values, g, k, _closed in traj:
        if number == 0:
            assert g is None and k is None  # the independent sampler's warm-up trial
            continue
        per_gen.setdefault(g, Counter())[k] += 1
    assert sorted(per_gen) == list(range(len(per_gen)))
    for g in range(n_generations):
        assert per_gen[g] == {k: LAM for k in range(K)}, (g, per_gen[g])


def test_toy_problem_has_one_optimum_per_tradeoff_with_a_margin() -> None:
    optima = [optimum(eps) for eps in EPSILONS]
    assert len({tuple(sorted(o.items())) for o in optima}) == K  # all different
    for eps in EPSILONS:
        for i in range(len(NAMES)):
            f = sorted(LOSS[i][j] + eps * COST[i][j] for j in range(len(CHOICES)))
            assert f[1] - f[0] >= MARGIN - 1e-12, (eps, i, f)


# ----------------------------------------------------------------- 1. storages agree
def test_memory_journal_and_sqlite_give_the_same_trajectory(fast_tmp: str) -> None:
    memory = _run(None, 300)
    journal = _run(journal_storage(os.path.join(fast_tmp, "j.log")), 300)
    # SQLite costs 25-100 ms a trial here (SQLAlchemy, not the sampler): keep it short.
    memory_short = _run(None, 80)
    sqlite = _run(f"sqlite:///{os.path.join(fast_tmp, 'x.db')}", 80)

    assert _generations_of(300) == 37 and _generations_of(80) == 9
    for full, other, n in ((memory, journal, 300), (memory_short, sqlite, 80)):
        assert len(full["trajectory"]) == n
        assert full["state"]["core"]["generation"] == _generations_of(n)
        assert full["generation"] == _generations_of(n)
        _assert_balanced(full["trajectory"], _generations_of(n))
        # params, values, tags and closing records of every trial
        assert other["trajectory"] == full["trajectory"]
        assert other["state"] == full["state"]
        # exact float equality, not approx: same inputs, same arithmetic
        assert other["probabilities"] == full["probabilities"]
        assert other["architectures"] == full["architectures"]
    # The short run is a prefix of the long one (sampling depends only on (seed, number)).
    assert memory["trajectory"][:80] == memory_short["trajectory"]
    # And the search moved away from uniform (0.25) in every distribution.
    for probs in memory["probabilities"]:
        assert max(p for per in probs.values() for p in per.values()) > 0.6


# ----------------------------------------------------------------- 2. restarts
N_FIRST, N_SECOND = 150, 150  # 150 = 1 + 8 * 18 + 5: the restart falls mid-generation


def test_fresh_sampler_on_the_same_journal_continues_the_same_search(fast_tmp: str) -> None:
    reference = _run(None, N_FIRST + N_SECOND)

    path = os.path.join(fast_tmp, "restart.log")
    first = optuna.create_study(
        storage=journal_storage(path),
        sampler=make_sampler(0),
        directions=DIRECTIONS,
        study_name="toy",
    )
    first.optimize(objective, n_trials=N_FIRST)
    state_before = stored_state(first)
    assert state_before["core"]["generation"] == _generations_of(N_FIRST) == 18
    del first

    sampler = make_sampler(0)  # a new object: nothing carried over in memory
    second = optuna.load_study(study_name="toy", storage=journal_storage(path), sampler=sampler)
    second.optimize(objective, n_trials=N_SECOND)
    resumed = _summary(second, sampler)

    assert resumed["trajectory"] == reference["trajectory"]
    assert resumed["state"] == reference["state"]
    assert resumed["probabilities"] == reference["probabilities"]
    assert resumed["generation"] == _generations_of(N_FIRST + N_SECOND) == 37


def test_restart_in_real_subprocesses_continues_the_same_search(fast_tmp: str) -> None:
    reference = _run(None, N_FIRST + N_SECOND)

    path = os.path.join(fast_tmp, "subprocess.log")
    optuna.create_study(storage=journal_storage(path), directions=DIRECTIONS, study_name="toy")
    for n in (N_FIRST, N_SECOND):
        proc = subprocess.run(
            [sys.executable, WORKER_SCRIPT, path, "--n-trials", str(n)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]

    sampler = make_sampler(0)
    study = optuna.load_study(study_name="toy", storage=journal_storage(path), sampler=sampler)
    resumed = _summary(study, sampler)
    assert resumed["trajectory"] == reference["trajectory"]
    assert resumed["state"] == reference["state"]
    assert resumed["probabilities"] == reference["probabilities"]


# ----------------------------------------------------------------- 5. FAIL and PRUNED
def test_failed_and_pruned_trials_never_count_nor_block() -> None:
    n_trials = 1200
    sampler = make_sampler(0)
    study = optuna.create_study(sampler=sampler, directions=DIRECTIONS)
    study.optimize(failing_objective, n_trials=n_trials, catch=(RuntimeError,))
    trials = study.get_trials(deepcopy=False)
    state = stored_state(study)

    states = Counter(t.state for t in trials)
    assert states == {TrialState.COMPLETE: 840, TrialState.FAIL: 120, TrialState.PRUNED: 240}
    lost = {t.number for t in trials if t.state != TrialState.COMPLETE}
    assert lost == {n for n in range(n_trials) if n % 10 in (1, 3, 6)}

    # Every sampled trial is tagged, the lost ones too (they were sampled like the others).
    for t in trials[1:]:
        assert 0 <= t.system_attrs[DISTRIBUTION_KEY] < K
        assert 0 <= t.system_attrs[GENERATION_KEY] <= state["core"]["generation"]

    closed = closed_records(trials)
    g_final = state["core"]["generation"]
    assert sorted(closed) == list(range(g_final))
    # One process: every generation is closed exactly once, as soon as it is complete, so
    # the 839 complete tagged trials give floor(839 / 8) = 104 generations.
    assert g_final == 104
    used_all: set[int] = set()
    for g, records in closed.items():
        assert len(records) == 1, (g, records)
        used = records[0][1]
        check_closed_generation(trials, g, used, K, LAM)  # COMPLETE, tagged g, LAM per k
        assert not set(used) & lost
        assert not set(used) & used_all
        used_all |= set(used)
    # A complete trial is wasted only when it finished after its generation closed: never,
    # in one process (each generation closes exactly when its last needed trial completes).
    assert len(used_all) == 8 * g_final == 832

    # The stored distributions are exactly the core's update on the recorded trials.
    core = replay(trials, {g: r[0][1] for g, r in closed.items()}, sampler)
    probs = sampler.probabilities(study)
    for k in range(K):
        for i, name in enumerate(NAMES):
            assert [probs[k][name][c] for c in CHOICES] == core.thetas[k, i].tolist()

    # The mixture keeps its shares: a lost trial frees its place for its own distribution,
    # so each one gets the same number of complete trials (up to the open generation).
    shares = Counter(
        t.system_attrs[DISTRIBUTION_KEY] for t in trials[1:] if t.state == TrialState.COMPLETE
    )
    assert set(shares) == set(range(K))
    assert max(shares.values()) - min(shares.values()) <= LAM, shares


def test_failed_and_pruned_trials_do_not_stop_convergence() -> None:
    # lambda = 8: with lambda = 2 ASNG's modes keep wandering on this toy (1-5 of the 32
    # (distribution, parameter) modes off after 1,600 trials whatever the seed), which
    # would test ASNG's noise, not the bookkeeping of lost trials.
    lam = 8
    sampler = make_sampler(0, samples_per_distribution=lam)
    study = optuna.create_study(sampler=sampler, directions=DIRECTIONS)
    study.optimize(failing_objective, n_trials=3400, catch=(RuntimeError,))
    trials = study.get_trials(deepcopy=False)
    closed = closed_records(trials)
    for g, records in closed.items():
        assert len(records) == 1
        check_closed_generation(trials, g, records[0][1], K, lam)
    assert sampler.generation(study) == len(closed) == (2380 - 1) // (K * lam) == 74

    wrong = {
        (eps, name)
        for eps, arch in zip(EPSILONS, sampler.architectures(study))
        for name in NAMES
        if arch[name] != optimum(eps)[name]
    }
    assert len(wrong) <= 1, wrong


# ----------------------------------------------------------------- 6. ask/tell in batches
def test_batch_ask_tell_of_one_generation_equals_sequential_optimize() -> None:
    n_batches = 30
    reference = _run(None, 1 + GEN * n_batches)

    sampler = make_sampler(0)
    study = optuna.create_study(sampler=sampler, directions=DIRECTIONS)
    space: dict[str, BaseDistribution] = {
        name: CategoricalDistribution(list(CHOICES)) for name in NAMES
    }
    warm = study.ask(space)  # the independent sampler's trial, before the space is known
    study.tell(warm, values(warm.params))
    for b in range(n_batches):
        batch = [study.ask(space) for _ in range(GEN)]  # params drawn inside ask
        tags = [(t.number, study._storage.get_trial_system_attrs(t._trial_id)) for t in batch]
        assert {a[GENERATION_KEY] for _, a in tags} == {b}  # the whole batch is generation b
        assert Counter(a[DISTRIBUTION_KEY] for _, a in tags) == {k: LAM for k in range(K)}
        assert stored_state(study)["core"]["generation"] == b  # nothing closes mid-batch
        for t in batch:
            study.tell(t, values(t.params))
    batched = _summary(study, sampler)

    # Same params, tags and closing records for every trial: with one warm-up trial, a
    # batch of exactly one generation is what study.optimize makes of it too.
    assert batched["trajectory"] == reference["trajectory"]
    assert batched["probabilities"] == reference["probabilities"]
    assert batched["generation"] == n_batches


# ----------------------------------------------------------------- stuck untagged trials
def test_untagged_running_trial_does_not_pin_the_generation_window() -> None:
    """A trial created but never sampled (a worker died between ``ask`` and its first
    ``suggest``, or an objective that suggests late) stays RUNNING without tags forever.
    It must not keep every later generation's scan window open from its number on."""
    sampler = make_sampler(0)
    study = optuna.create_study(sampler=sampler, directions=DIRECTIONS)
    study.optimize(objective, n_trials=20)
    stuck = study.ask()  # RUNNING, no suggest: no tags, never told
    study.optimize(objective, n_trials=200)
    assert study._storage.get_trial(stuck._trial_id).state == TrialState.RUNNING
    state = stored_state(study)
    assert state["core"]["generation"] >= 20  # generations kept closing
    # The window of the current generation starts at one of its own trials, not at 20.
    assert state["start"] > stuck.number + 100, state["start"]


# ----------------------------------------------------------------- a half-tagged trial
def test_trial_with_only_its_generation_tag_blocks_like_an_untagged_one() -> None:
    """A worker tags its trial in two writes (generation, then distribution). In between,
    the trial must count as not tagged yet (it may still join any distribution), not as
    distribution 0: else another worker closes the generation without it, and a worker
    that closes the same generation after it completed uses other trials. (Seen with three
    journal workers: generation 122 closed both from trials (1413, 1418) and (1413, 1419).)
    Simulated here in one process by writing the other worker's tags and result by hand."""
    sampler = make_sampler(0, epsilons=(0.0, 10.0))  # K = 2, lambda = 2
    study = optuna.create_study(sampler=sampler, directions=DIRECTIONS)
    space: dict[str, BaseDistribution] = {
        name: CategoricalDistribution(list(CHOICES)) for name in NAMES
    }
    storage = study._storage

    def run(n: int) -> list[Any]:
        ks = []
        for _ in range(n):
            t = study.ask(space)
            study.tell(t, values(t.params))
            ks.append(storage.get_trial_system_attrs(t._trial_id).get(DISTRIBUTION_KEY))
        return ks

    warm = [study.ask(space), study.ask(space)]  # trials 0, 1: no search space yet
    for t in warm:
        study.tell(t, values(t.params))
    # Trials 2-4, generation 0: distribution 0 gets two of them (the lowest index, or
    # trial number 2 and 4 if ties rotate with the number), distribution 1 one.
    assert run(3) == [0, 1, 0]
    other = study.ask()  # trial 5: another worker is sampling it ...
    storage.set_trial_system_attr(other._trial_id, GENERATION_KEY, 0)  # ... 1st write done
    run(4)  # trials 6-9: distribution 1 gets its second complete trial

    # The other worker's second write: trial 5 is distribution 1's; then it completes.
    storage.set_trial_system_attr(other._trial_id, DISTRIBUTION_KEY, 1)
    for name, dist in space.items():
        storage.set_trial_param(other._trial_id, name, dist.to_internal_repr("d"), dist)
    study.tell(other, values({name: "d" for name in NAMES}))
    run(6)

    trials = study.get_trials(deepcopy=False)
    closed = closed_records(trials)
    assert len(closed[0]) == 1
    recorded: dict[int, list[int]] = {}
    for n in closed[0][0][1]:
        recorded.setdefault(trials[n].system_attrs[DISTRIBUTION_KEY], []).append(n)
    # What any worker closing generation 0 now would use: the first 2 complete trials of
    # each distribution, by number; trial 5 is one of distribution 1's.
    final: dict[int, list[int]] = {}
    for frozen in trials:
        a = frozen.system_attrs
        if frozen.state == TrialState.COMPLETE and a.get(GENERATION_KEY) == 0:
            final.setdefault(a[DISTRIBUTION_KEY], []).append(frozen.number)
    expected = {k: sorted(ns)[:2] for k, ns in final.items()}
    assert expected[1][1] == 5
    assert {k: sorted(v) for k, v in recorded.items()} == expected


def _window_scenario(storage: Any) -> tuple[optuna.Study, optuna.Trial]:
    """One closed generation, two more trials, five running ones (other workers), one asked."""
    study = optuna.create_study(storage=storage, sampler=make_sampler(), directions=DIRECTIONS)
    study.optimize(objective, n_trials=GEN + 2)
    for trial in [study.ask() for _ in range(5)]:
        objective(trial)  # sampled and tagged, never told: still running
    return study, study.ask()


def test_rdb_window_of_running_trials_is_one_read_not_a_query_per_trial(fast_tmp: str) -> None:
    # Other workers' running trials sit in the generation's window; on an RDB storage each
    # get_trial of a running trial is a query, so the sampler reads them all in one go.
    study, new = _window_scenario(f"sqlite:///{os.path.join(fast_tmp, 'window.db')}")
    backend = study._storage._backend  # type: ignore[attr-defined]
    calls: Counter[str] = Counter()
    for name in ("get_trial", "_get_trials"):
        original = getattr(backend, name)

        def counted(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kw)

        setattr(backend, name, counted)
    params = {n: new.suggest_categorical(n, list(CHOICES)) for n in NAMES}  # the sampler runs
    assert calls["get_trial"] == 0, calls  # one per running trial of the window before (5)
    assert calls["_get_trials"] == 1, calls
    study.tell(new, values(params))
    # The one read saw what one get_trial per trial sees (in-memory storage reads them so).
    memory, reference = _window_scenario(None)
    memory.tell(
        reference, values({n: reference.suggest_categorical(n, list(CHOICES)) for n in NAMES})
    )

    def tags(s: optuna.Study) -> list[tuple[Any, ...]]:
        attrs = (DISTRIBUTION_KEY, GENERATION_KEY)
        return [(t.number, t.params, *(t.system_attrs.get(a) for a in attrs)) for t in s.trials]

    assert tags(study) == tags(memory)
