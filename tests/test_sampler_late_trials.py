"""Every COMPLETE trial reaches the archive, once, even when it finishes after its generation
closed: the family is chosen from everything the search evaluated."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import optuna
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from optuna_isnas import ISNASSampler
from optuna_isnas.core import Solution
from optuna_isnas.sampler._generations import (
    Tally,
    TrialRecord,
    closing_time,
    leftovers,
    pooled_solutions,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

CHOICES = ["a", "b", "c"]


def suggest(trial: optuna.Trial, d: int = 6) -> dict[str, Any]:
    return {f"x{i}": trial.suggest_categorical(f"x{i}", CHOICES) for i in range(d)}


def values_of(params: dict[str, Any]) -> tuple[float, float]:
    idx = np.array([CHOICES.index(v) for v in params.values()], dtype=float)
    return float(3.0 - idx.sum() + 0.1 * idx[0]), float(1.0 + idx.sum())


def stored(sampler: ISNASSampler, study: optuna.Study) -> Any:
    """The newest state in storage (the archive the next closing builds on)."""
    sampler.generation(study)  # closes what can close
    return sampler._store.load(study)


def used_trials(study: optuna.Study) -> list[int]:
    out: list[int] = []
    for t in study.get_trials(deepcopy=False):
        rec = t.system_attrs.get("isnas:closed")
        if rec is not None:
            out += [int(n) for n in rec["trials"]]
    return out


def entry_of(state: Any, params: dict[str, Any]) -> Any:
    x = tuple(CHOICES.index(params[name]) for name in state.names)
    return next((e for e in state.core.archive.entries if e.x == x), None)


def pooled_once(study: optuna.Study, state: Any, params: dict[str, Any]) -> bool:
    """The archive entry of ``params`` pools each COMPLETE trial of it exactly once."""
    entry = entry_of(state, params)
    losses = [
        t.values[0]
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.params == params and t.number < state.start and t.number not in state.pending
    ]
    return entry is not None and entry.n == len(losses) and np.isclose(entry.mean, np.mean(losses))


def test_the_issue_repro_trial_completed_last_is_in_the_family_and_candidates() -> None:
    sampler = ISNASSampler(seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    asked = [study.ask() for _ in range(3)]
    for t in asked:
        suggest(t)
    study.tell(asked[0], values_of(asked[0].params))
    study.tell(asked[1], values_of(asked[1].params))
    suggest(study.ask())
    study.tell(asked[2], (-100.0, 1.0))
    best = [t.number for t in study.best_trials]
    assert best == [asked[2].number]
    params = study.trials[asked[2].number].params
    assert params in sampler.architectures(study)
    assert any(c.params == params for c in sampler.candidates(study))


def test_a_trial_of_a_closed_generation_numbered_after_it_goes_to_the_archive_once() -> None:
    # K = 1, lambda = 1: trials 0..2 warm up; trials 3 and 4 are sampled in one generation,
    # 3 closes it, and 4 completes after the close (numbered after the trials used).
    sampler = ISNASSampler(n_distributions=1, samples_per_distribution=1, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    for _ in range(3):
        t = study.ask()
        study.tell(t, values_of(suggest(t)))
    a, b = study.ask(), study.ask()
    suggest(a), suggest(b)
    tags = [study.trials[n].system_attrs["isnas:generation"] for n in (a.number, b.number)]
    assert tags[0] == tags[1]
    study.tell(a, values_of(a.params))
    c = study.ask()  # closes the generation with trial a
    suggest(c)
    assert b.number not in used_trials(study)
    study.tell(b, (-100.0, 1.0))
    params = study.trials[b.number].params
    assert params in sampler.architectures(study)  # from the open window, before a closing
    study.tell(c, values_of(c.params))
    for _ in range(6):
        t = study.ask()
        study.tell(t, values_of(suggest(t)))
    state = stored(sampler, study)
    assert pooled_once(study, state, params)
    assert b.number not in used_trials(study)  # archive only: never in an update
    assert sampler.architectures(study) == [params]
    assert any(cand.params == params for cand in sampler.candidates(study))


def test_a_late_trial_below_the_window_is_pending_then_archived_once() -> None:
    # Trial a runs while later trials of its generation complete: it becomes late, the
    # generation closes without it, and it completes afterwards (numbered below the window).
    sampler = ISNASSampler(n_distributions=1, samples_per_distribution=1, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    t = study.ask()
    study.tell(t, values_of(suggest(t)))
    a = study.ask()
    suggest(a)
    for _ in range(8):
        t = study.ask()
        study.tell(t, values_of(suggest(t)))
    state = stored(sampler, study)
    assert a.number in state.pending and a.number < state.start
    study.tell(a, (-100.0, 1.0))
    params = study.trials[a.number].params
    assert params in sampler.architectures(study)  # pooled while still pending
    for _ in range(4):
        t = study.ask()
        study.tell(t, values_of(suggest(t)))
    state = stored(sampler, study)
    assert a.number not in state.pending
    assert pooled_once(study, state, params)
    assert a.number not in used_trials(study)
    assert sampler.architectures(study) == [params]


def test_a_pending_trial_that_fails_is_dropped() -> None:
    sampler = ISNASSampler(n_distributions=1, samples_per_distribution=1, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    t = study.ask()
    study.tell(t, values_of(suggest(t)))
    a = study.ask()
    suggest(a)
    for _ in range(8):
        t = study.ask()
        study.tell(t, values_of(suggest(t)))
    assert a.number in stored(sampler, study).pending
    study.tell(a, state=TrialState.FAIL)
    for _ in range(3):
        t = study.ask()
        study.tell(t, values_of(suggest(t)))
    assert stored(sampler, study).pending == []


def run_schedule(seed: int, workers: int = 2, n: int = 160) -> tuple[optuna.Study, Any]:
    """Several sampler objects on one storage, trials held open and told in random order,
    some failing and some never told (a dead worker)."""
    rng = random.Random(seed)
    storage = optuna.storages.InMemoryStorage()
    samplers = [
        ISNASSampler(
            n_distributions=2, samples_per_distribution=2, seed=seed + w, archive_size=10_000
        )
        for w in range(workers)
    ]
    studies = [
        optuna.create_study(
            directions=["minimize", "minimize"],
            sampler=s,
            storage=storage,
            study_name="s",
            load_if_exists=True,
        )
        for s in samplers
    ]
    open_trials: list[optuna.Trial] = []
    for _ in range(n):
        w = rng.randrange(workers)
        t = studies[w].ask()
        suggest(t)
        open_trials.append(t)
        while open_trials and (len(open_trials) > 6 or rng.random() < 0.5):
            done = open_trials.pop(rng.randrange(len(open_trials)))
            if rng.random() < 0.05:
                continue  # its worker died: RUNNING forever
            if rng.random() < 0.1:
                studies[w].tell(done, state=TrialState.FAIL)
            else:
                studies[w].tell(done, values_of(done.params))
    for t in open_trials:
        studies[0].tell(t, values_of(t.params))
    for _ in range(12):  # enough later trials for every earlier generation to close
        t = studies[0].ask()
        studies[0].tell(t, values_of(suggest(t)))
    return studies[0], samplers[0]


def test_every_complete_trial_reaches_the_archive_exactly_once_across_workers() -> None:
    for seed in range(4):
        study, sampler = run_schedule(seed)
        state = stored(sampler, study)
        trials = study.get_trials(deepcopy=False)
        complete = [t.number for t in trials if t.state == TrialState.COMPLETE]
        # Not taken yet: the open window and what is still pending.
        open_part = {n for n in complete if n >= state.start} | set(state.pending)
        pooled = sum(e.n for e in state.core.archive.entries)
        assert pooled == len([n for n in complete if n not in open_part]), seed
        used = used_trials(study)
        assert len(used) == len(set(used)), seed  # never twice in an update
        # Pending trials are only those still running (the dead ones) or finished late.
        running = {t.number for t in trials if t.state == TrialState.RUNNING}
        assert running <= set(state.pending) | {t.number for t in trials if t.number >= state.start}
        # The archive copy used by architectures() holds every complete trial.
        archive = sampler._archive_now(study, *sampler._synced(study))
        assert sum(e.n for e in archive.entries) == len(complete), seed


def _view(
    distributions: list[int], finish: list[float], now: float, n_distributions: int
) -> tuple[Tally, list[TrialRecord]]:
    t = Tally(
        complete=[[] for _ in range(n_distributions)],
        running=[[] for _ in range(n_distributions)],
    )
    records = []
    for number, (k, when) in enumerate(zip(distributions, finish)):
        if when <= now:
            sol = Solution(k, np.zeros(1, dtype=np.int64), 1.0, 1.0, trial=number)
            rec = TrialRecord(number, TrialState.COMPLETE, 0, k, sol, completed_at=when)
            t.complete[k].append(rec)
        else:
            rec = TrialRecord(number, TrialState.RUNNING, 0, k, None)
            t.running[k].append(number)
        records.append(rec)
    return t, records


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 2),
    st.lists(st.tuples(st.integers(0, 2), st.floats(0, 100)), min_size=1, max_size=24),
)
def test_every_moment_that_closes_a_generation_splits_the_leftovers_alike(
    n_distributions: int, lam: int, trials: list[tuple[int, float]]
) -> None:
    distributions = [k % n_distributions for k, _ in trials]
    finish = [when for _, when in trials]
    splits = set()
    for now in sorted(set(finish)):
        t, records = _view(distributions, finish, now, n_distributions)
        used = pooled_solutions(t, lam)
        if used is None:
            continue
        latest = max(r.number for r in used)
        taken = {r.number for r in used}
        rest = [r for r in records if r.number <= latest and r.number not in taken]
        archived, pending = leftovers(rest, closing_time(used))
        split = (tuple(sorted(taken)), tuple(r.number for r in archived), tuple(pending))
        # Nothing lost, nothing twice: each trial up to the last used is in one part.
        assert sorted(split[0] + split[1] + split[2]) == list(range(latest + 1))
        splits.add(split)
    assert len(splits) <= 1
