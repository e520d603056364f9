"""The sampler's state in storage: state slots, a late writer, other formats, PostgreSQL.

Optuna's storages write a study system attribute last-writer-wins (no compare-and-swap).
The sampler keeps generation g's state in slot ``isnas:state:<g mod STATE_SLOTS>`` and reads
the newest slot, so a worker that writes generation g + 1 late cannot hide g + 2. The race
is played here for real: this process samples, and while its state write is held back
another worker process advances the study by several generations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Literal

import optuna
import pytest
from _worker_script import (
    DISTRIBUTION_KEY,
    EPSILONS,
    GENERATION_KEY,
    STATE_KEY,
    WORKER_SCRIPT,
    closed_records,
    log_state_writes,
    make_sampler,
    objective,
    open_storage,
    slot_generation,
    state_json,
    state_writes,
    stored_state,
    trajectory,
    visible_generations,
)

from optuna_isnas.sampler._state import STATE_SLOTS, StateStore

optuna.logging.set_verbosity(optuna.logging.ERROR)

K = len(EPSILONS)
GEN = K * 2
DIRECTIONS: list[Literal["minimize", "maximize"]] = ["minimize", "minimize"]


def _run_worker(spec: str, n_trials: int) -> None:
    done = subprocess.run(
        [sys.executable, WORKER_SCRIPT, spec, "--n-trials", str(n_trials)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _state_attrs(study: optuna.Study) -> dict[str, Any]:
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return {k: v for k, v in attrs.items() if k.startswith(STATE_KEY)}


def _newest_generation(spec: str) -> int:
    """What a fresh reader (new storage object, new StateStore) finds in storage."""
    study = optuna.load_study(study_name="toy", storage=open_storage(spec))
    raw = StateStore().raw(study)
    assert raw is not None
    return int(json.loads(raw)["core"]["generation"])


# ------------------------------------------------------------ a late writer, for real
def test_a_late_state_write_does_not_roll_the_search_back(storage_spec: str) -> None:
    """Worker B finds generation g complete, checks that the stored state is still g and
    computes g + 1; before its write lands, worker W closes g + 1, g + 2, ... in another
    process. B's write of g + 1 then comes last. With one state attribute it replaced
    W's newer state (readers went back to g + 1 and wasted trials re-closing generations);
    with the slots the newest generation stays readable."""
    spec = storage_spec
    storage = open_storage(spec)
    optuna.create_study(storage=storage, directions=DIRECTIONS, study_name="toy")
    if "://" in spec:
        log_state_writes(spec)
    _run_worker(spec, 20)  # trials 0-19: generation 2 in progress

    sampler = make_sampler(0)
    study = optuna.load_study(study_name="toy", storage=open_storage(spec), sampler=sampler)
    backend = study._storage
    write = backend.set_study_system_attr
    held: dict[str, int] = {}

    def late_write(study_id: int, key: str, value: Any) -> None:
        if key.startswith(STATE_KEY) and not held:
            held["writing"] = slot_generation(key, value)
            _run_worker(spec, 6 * GEN)  # meanwhile: about six generations elsewhere
            held["ahead"] = _newest_generation(spec)
        write(study_id, key, value)

    backend.set_study_system_attr = late_write  # type: ignore[method-assign]  # held back
    for _ in range(2 * GEN):  # B samples until it closes a generation
        study.optimize(objective, n_trials=1)
        if held:
            break
    backend.set_study_system_attr = write  # type: ignore[method-assign]
    assert held, "worker B never closed a generation"
    assert held["ahead"] >= held["writing"] + 3, held  # the race really happened
    assert held["ahead"] < held["writing"] + STATE_SLOTS  # (what the slots are sized for)

    after = _newest_generation(spec)
    assert after >= held["ahead"], (
        f"worker B's late write of generation {held['writing']} rolled the stored state back "
        f"from generation {held['ahead']} to {after}"
    )

    # The search goes on as if nothing happened: each generation closed once (or by
    # several workers from the same trials), one state per generation, never rolled back.
    study.optimize(objective, n_trials=2 * GEN)
    _run_worker(spec, 2 * GEN)
    study = optuna.load_study(study_name="toy", storage=open_storage(spec))
    trials = study.get_trials(deepcopy=False)
    closed = closed_records(trials)
    g_final = stored_state(study)["core"]["generation"]
    assert sorted(closed) == list(range(g_final))
    assert all(len({used for _, used in records}) == 1 for records in closed.values()), closed
    writes = state_writes(spec)
    assert visible_generations(writes) == sorted(visible_generations(writes))
    states: dict[int, set[str]] = {}
    for key, value in writes:
        states.setdefault(slot_generation(key, value), set()).add(state_json(key, value))
    assert all(len(s) == 1 for s in states.values()), {g: len(s) for g, s in states.items()}
    # Trials sampled after the race belong to current generations, not to re-closed ones.
    late = [t for t in trials if t.number >= 20 + 6 * GEN + 2]
    assert all(t.system_attrs[GENERATION_KEY] >= held["ahead"] for t in late)


# ------------------------------------------------------------ slots, old studies
def test_states_go_round_the_slots_and_the_newest_is_read() -> None:
    sampler = make_sampler(0)
    study = optuna.create_study(sampler=sampler, directions=DIRECTIONS)
    study.optimize(objective, n_trials=2 + GEN * (STATE_SLOTS + 4))
    attrs = _state_attrs(study)
    # Only the slots: the single attribute of older releases is never written.
    assert sorted(attrs) == sorted(f"{STATE_KEY}:{i}" for i in range(STATE_SLOTS))
    generations = sorted(v["generation"] for v in attrs.values())
    g = sampler.generation(study)
    assert generations == list(range(g - STATE_SLOTS + 1, g + 1))
    for key, value in attrs.items():
        assert key == f"{STATE_KEY}:{value['generation'] % STATE_SLOTS}"
        assert json.loads(value["state"])["core"]["generation"] == value["generation"]


def test_save_never_writes_over_a_newer_or_equal_generation() -> None:
    sampler = make_sampler(0)
    study = optuna.create_study(sampler=sampler, directions=DIRECTIONS)
    study.optimize(objective, n_trials=2 + GEN * 3)
    store = StateStore()
    newest = store.load(study)
    assert newest is not None and newest.core.generation == 3
    before = _state_attrs(study)

    old = store.load(study)
    assert old is not None
    old.core.generation = 2  # a worker that computed generation 2 late
    old.start = 0
    store.save(study, old)
    assert _state_attrs(study) == before
    assert StateStore().load(study).core.generation == 3  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        # the single attribute of an unreleased development version
        (STATE_KEY, "state"),
        (f"{STATE_KEY}:0", "a JSON string instead of {generation, state}"),
        (f"{STATE_KEY}:3", {"generation": "3", "state": "{}"}),
        (f"{STATE_KEY}:1", {"generation": 1}),
    ],
)
def test_a_state_in_another_format_is_one_clear_error(key: str, value: Any) -> None:
    """A study whose state attributes the sampler did not write this way is refused, with
    what was found and what to do; the study and its trials are left as they are."""
    study = optuna.create_study(sampler=make_sampler(0), directions=DIRECTIONS)
    study.optimize(objective, n_trials=2)
    if key == STATE_KEY:  # the development version kept the JSON state itself there
        value = StateStore().raw(study)
    study._storage.set_study_system_attr(study._study_id, key, value)
    before = _state_attrs(study)
    with pytest.raises(
        ValueError, match=rf"attribute '{key}' holds .* not an ISNASSampler state"
    ) as e:
        study.optimize(objective, n_trials=1)
    assert "new study" in str(e.value)
    assert _state_attrs(study) == before


def test_a_state_without_pending_trials_is_refused() -> None:
    """The state JSON has every field this release writes; one without them is refused."""
    study = optuna.create_study(sampler=make_sampler(0), directions=DIRECTIONS)
    study.optimize(objective, n_trials=2 + GEN)
    attrs = _state_attrs(study)
    key, slot = max(attrs.items(), key=lambda kv: slot_generation(*kv))
    payload = json.loads(slot["state"])
    del payload["pending"]
    study._storage.set_study_system_attr(
        study._study_id, key, {**slot, "state": json.dumps(payload)}
    )
    with pytest.raises(ValueError, match="not an ISNASSampler state this release can read"):
        make_sampler(0).generation(study)


# ------------------------------------------------------------ PostgreSQL
def test_postgres_gives_the_same_trajectory_as_memory(postgres_url: str) -> None:
    """One process on PostgreSQL samples exactly what it samples in memory."""
    n = 2 + GEN * 6
    memory = optuna.create_study(sampler=make_sampler(0), directions=DIRECTIONS)
    memory.optimize(objective, n_trials=n)
    sampler = make_sampler(0)
    pg = optuna.create_study(
        storage=postgres_url, sampler=sampler, directions=DIRECTIONS, study_name="toy"
    )
    pg.optimize(objective, n_trials=n)
    assert trajectory(pg) == trajectory(memory)
    assert stored_state(pg) == stored_state(memory)
    assert sampler.generation(pg) == 6
    tagged = [t for t in pg.get_trials(deepcopy=False) if DISTRIBUTION_KEY in t.system_attrs]
    assert len(tagged) == n - 1
