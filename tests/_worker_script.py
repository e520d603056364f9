"""Toy problem and worker process for the ISNASSampler storage and multi-process tests.

Imported by tests/test_sampler_storage.py and tests/test_sampler_workers.py, and run as a
script (``python tests/_worker_script.py STORAGE ...``, STORAGE a journal file path or an
RDB URL such as ``postgresql://...``) by the worker tests, so that a worker really is another
process with nothing shared in memory.

The toy problem: 8 categorical parameters with 4 choices each; choice ``j`` of parameter
``i`` adds ``LOSS[i][j]`` to the first objective and ``COST[i][j]`` to the second. With
``loss_scale = complexity_scale = 1`` distribution ``k`` minimises
``sum_i LOSS[i][x_i] + eps_k * COST[i][x_i]``, so its optimum is the per-parameter argmin.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import optuna
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

#: This file, as the worker tests run it in another process.
WORKER_SCRIPT = os.path.abspath(__file__)

N_PARAMS = 8
CHOICES = ("a", "b", "c", "d")
# Choice "a" is free but bad, "d" is the best and the most expensive. Every eps in
# EPSILONS has its own optimum, and each per-parameter argmin wins by a margin >= 0.3.
LOSS = [
    [1.7, 1.3, 0.3, 0.0],
    [2.7, 2.6, 0.3, 0.0],
    [1.1, 0.7, 0.3, 0.0],
    [2.4, 1.6, 0.3, 0.0],
    [2.6, 2.4, 0.3, 0.0],
    [3.0, 2.6, 0.3, 0.0],
    [1.5, 1.4, 0.4, 0.0],
    [2.7, 1.5, 0.3, 0.0],
]
COST = [
    [0.0, 0.1, 0.2, 0.8],
    [0.0, 0.2, 0.3, 0.9],
    [0.0, 0.3, 0.4, 1.0],
    [0.0, 0.2, 0.4, 1.0],
    [0.0, 0.1, 0.3, 1.0],
    [0.0, 0.2, 0.4, 1.0],
    [0.0, 0.1, 0.2, 1.0],
    [0.0, 0.3, 0.4, 1.0],
]
EPSILONS = (0.0, 1.0, 3.0, 10.0)
MARGIN = 0.3
NAMES = tuple(f"x{i}" for i in range(N_PARAMS))


def values(params: dict[str, str]) -> tuple[float, float]:
    """(loss, cost) of an architecture."""
    loss = sum(LOSS[i][CHOICES.index(params[n])] for i, n in enumerate(NAMES))
    cost = sum(COST[i][CHOICES.index(params[n])] for i, n in enumerate(NAMES))
    return loss, cost


def optimum(eps: float) -> dict[str, str]:
    """Per-parameter argmin of ``LOSS + eps * COST`` (unique for EPSILONS)."""
    out = {}
    for i, n in enumerate(NAMES):
        f = [LOSS[i][j] + eps * COST[i][j] for j in range(len(CHOICES))]
        out[n] = CHOICES[min(range(len(CHOICES)), key=f.__getitem__)]
    return out


def objective(trial: optuna.Trial) -> tuple[float, float]:
    """The deterministic toy objective."""
    params = {n: trial.suggest_categorical(n, list(CHOICES)) for n in NAMES}
    return values(params)


def sleepy_objective(
    delay: float, hang_at: int | None = None
) -> Callable[[optuna.Trial], tuple[float, float]]:
    """The toy objective, sleeping ``delay`` s; from trial ``hang_at`` on it announces
    itself on stdout and sleeps for a minute (for a test to kill the worker there)."""

    def fn(trial: optuna.Trial) -> tuple[float, float]:
        params = {n: trial.suggest_categorical(n, list(CHOICES)) for n in NAMES}
        if hang_at is not None and trial.number >= hang_at:
            print(f"hanging in trial {trial.number}", flush=True)
            time.sleep(60.0)
        time.sleep(delay)
        return values(params)

    return fn


def failing_objective(trial: optuna.Trial) -> tuple[float, float]:
    """Raises for trial numbers = 3 (mod 10), prunes for 1 and 6 (mod 10): 30% lost."""
    params = {n: trial.suggest_categorical(n, list(CHOICES)) for n in NAMES}
    r = trial.number % 10
    if r == 3:
        raise RuntimeError(f"toy failure of trial {trial.number}")
    if r in (1, 6):
        raise optuna.TrialPruned()
    return values(params)


def journal_storage(path: str) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def open_storage(spec: str, heartbeat: int | None = None) -> optuna.storages.BaseStorage:
    """A journal file (a path) or an RDB storage (a URL with ``://``), the latter with
    Optuna's heartbeat every ``heartbeat`` seconds if given (grace period: twice that)."""
    if "://" in spec:
        if heartbeat is None:
            return optuna.storages.RDBStorage(spec)
        return optuna.storages.RDBStorage(
            spec, heartbeat_interval=heartbeat, grace_period=2 * heartbeat
        )
    return journal_storage(spec)


def make_sampler(seed: int = 0, **kwargs: Any) -> Any:
    """ISNASSampler on the toy problem: EPSILONS and fixed unit scales (known optima)."""
    from optuna_isnas import ISNASSampler

    kwargs.setdefault("epsilons", EPSILONS)
    kwargs.setdefault("loss_scale", 1.0)
    kwargs.setdefault("complexity_scale", 1.0)
    kwargs.setdefault("warn_independent_sampling", False)
    kwargs.setdefault("samples_per_distribution", 2)  # generations of 8 trials
    return ISNASSampler(seed=seed, **kwargs)


# ---------------------------------------------------------------- reading what was stored
GENERATION_KEY = "isnas:generation"
DISTRIBUTION_KEY = "isnas:distribution"
CLOSED_KEY = "isnas:closed"
STATE_KEY = "isnas:state"


def slot_generation(key: str, value: Any) -> int:
    """Generation of a write of ``key = value`` to a state slot."""
    return int(value["generation"])


def state_json(key: str, value: Any) -> str:
    """The JSON state in a write of ``key = value`` to a state slot."""
    return str(value["state"])


def stored_state(study: optuna.Study) -> dict[str, Any]:
    """The newest sampler state in storage, read straight from it (no sampler call, no
    update): the state slot with the highest generation."""
    attrs = study._storage.get_study_system_attrs(study._study_id)
    slots = [(k, v) for k, v in attrs.items() if k.startswith(STATE_KEY + ":")]
    key, value = max(slots, key=lambda kv: slot_generation(*kv))
    return json.loads(state_json(key, value))


def trajectory(study: optuna.Study) -> list[tuple[Any, ...]]:
    """Per trial: number, state, params, values and the sampler's tags."""
    out = []
    for t in study.get_trials(deepcopy=False):
        a = t.system_attrs
        out.append(
            (
                t.number,
                t.state.name,
                tuple(sorted(t.params.items())),
                None if t.values is None else tuple(t.values),
                a.get(GENERATION_KEY),
                a.get(DISTRIBUTION_KEY),
                json.dumps(a.get(CLOSED_KEY), sort_keys=True),
            )
        )
    return out


def closed_records(trials: list[FrozenTrial]) -> dict[int, list[tuple[int, tuple[int, ...]]]]:
    """Generation -> [(number of the trial that recorded closing it, trials it used)]."""
    out: dict[int, list[tuple[int, tuple[int, ...]]]] = defaultdict(list)
    for t in trials:
        rec = t.system_attrs.get(CLOSED_KEY)
        if rec is not None:
            out[int(rec["generation"])].append((t.number, tuple(int(n) for n in rec["trials"])))
    return dict(out)


def check_closed_generation(
    trials: list[FrozenTrial], generation: int, used: tuple[int, ...], n_dist: int, lam: int
) -> None:
    """The trials that closed ``generation`` are COMPLETE, tagged with it, lam per distribution."""
    by_number = {t.number: t for t in trials}
    per_dist: Counter[int] = Counter()
    for n in used:
        t = by_number[n]
        assert t.state == TrialState.COMPLETE, (generation, n, t.state)
        assert t.system_attrs[GENERATION_KEY] == generation, (generation, n, t.system_attrs)
        per_dist[int(t.system_attrs[DISTRIBUTION_KEY])] += 1
    assert len(used) == len(set(used)) == n_dist * lam, (generation, used)
    assert per_dist == {k: lam for k in range(n_dist)}, (generation, used, per_dist)


def replay(trials: list[FrozenTrial], closed: dict[int, tuple[int, ...]], sampler: Any) -> Any:
    """Re-run the numpy core on the recorded closings: the thetas the sampler should hold."""
    from optuna_isnas.core import ISNAS, Solution

    core = ISNAS(
        [len(CHOICES)] * N_PARAMS,
        EPSILONS,
        samples_per_distribution=sampler.generation_size // len(EPSILONS),
        loss_scale=1.0,
        complexity_scale=1.0,
    )
    by_number = {t.number: t for t in trials}
    for g in range(len(closed)):
        sols = []
        for n in closed[g]:
            t = by_number[n]
            x = np.array([CHOICES.index(t.params[name]) for name in NAMES], dtype=np.int64)
            k = int(t.system_attrs[DISTRIBUTION_KEY])
            sols.append(Solution(k, x, t.values[0], t.values[1]))
        for n in closed[g]:  # the draws before each trial that were looked up, not evaluated
            t = by_number[n]
            k = int(t.system_attrs[DISTRIBUTION_KEY])
            for x, _, loss, cost, violation in json.loads(t.system_attrs.get("isnas:known", "[]")):
                sols.append(Solution(k, np.array(x), loss, cost, violation, known=True))
        core.tell(sols)
    return core


def state_writes(spec: str) -> list[tuple[str, Any]]:
    """Every write of a state attribute of the study, ``(key, value)`` in the order the
    storage applied them: from the journal file, or, for a PostgreSQL URL, from the table
    that ``log_state_writes`` fills."""
    if "://" in spec:
        import sqlalchemy

        engine = sqlalchemy.create_engine(spec)
        with engine.connect() as conn:
            rows = conn.execute(
                sqlalchemy.text("SELECT key, value_json FROM isnas_test_state_writes ORDER BY id")
            ).all()
        engine.dispose()
        return [(key, json.loads(value)) for key, value in rows]
    out: list[tuple[str, Any]] = []
    with open(spec) as f:
        for line in f:
            log = json.loads(line)
            attrs = log.get("system_attr")
            if isinstance(attrs, dict) and "trial_id" not in log:
                out.extend((k, v) for k, v in attrs.items() if k.startswith(STATE_KEY))
    return out


def log_state_writes(url: str) -> None:
    """Make a PostgreSQL database log every write of a study system attribute ``isnas:state*``
    (after Optuna created its tables). Writes of one row are logged in commit order: an
    update waits for the row lock, so its trigger runs after the previous writer committed."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "CREATE TABLE isnas_test_state_writes "
                "(id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, value_json TEXT NOT NULL)"
            )
        )
        conn.execute(
            sqlalchemy.text(
                """
                CREATE FUNCTION isnas_test_log_state() RETURNS trigger AS $$
                BEGIN
                    IF NEW.key LIKE 'isnas:state%' THEN
                        INSERT INTO isnas_test_state_writes (key, value_json)
                        VALUES (NEW.key, NEW.value_json);
                    END IF;
                    RETURN NEW;
                END $$ LANGUAGE plpgsql
                """
            )
        )
        conn.execute(
            sqlalchemy.text(
                "CREATE TRIGGER isnas_test_log_state AFTER INSERT OR UPDATE "
                "ON study_system_attributes FOR EACH ROW EXECUTE FUNCTION isnas_test_log_state()"
            )
        )
    engine.dispose()


def visible_generations(writes: list[tuple[str, Any]]) -> list[int]:
    """The newest generation a reader would find after each write: the highest slot's."""
    slots: dict[str, int] = {}
    out = []
    for key, value in writes:
        slots[key] = slot_generation(key, value)
        out.append(max(slots.values()))
    return out


@contextlib.contextmanager
def fast_dir(fallback: Any) -> Iterator[str]:
    """A fresh tmpfs directory when there is one, removed afterwards, else ``fallback``.

    Journal files and SQLite fsync every write: about 3 ms each on this machine's disk,
    nothing on tmpfs (a 2,000-trial journal study: 45 ms/trial on disk, 4.5 on tmpfs).
    """
    shm = "/dev/shm"
    if not (os.path.isdir(shm) and os.access(shm, os.W_OK)):
        yield str(fallback)
        return
    path = tempfile.mkdtemp(prefix="isnas-test-", dir=shm)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("storage", help="journal file path or RDB URL")
    p.add_argument("--study", default="toy")
    p.add_argument("--n-trials", type=int, default=None, help="trials this worker runs")
    p.add_argument("--sleep", type=float, default=0.0, help="seconds the objective sleeps")
    p.add_argument("--hang-at", type=int, default=None, help="hang from this trial number on")
    p.add_argument("--barrier", default=None, help="wait until --workers workers are in this dir")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heartbeat", type=int, default=None, help="RDB heartbeat interval, s")
    args = p.parse_args(argv)

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(args.storage, args.heartbeat)
    sampler = make_sampler(args.seed)
    study = optuna.load_study(study_name=args.study, storage=storage, sampler=sampler)
    slow = args.sleep > 0 or args.hang_at is not None
    fn = sleepy_objective(args.sleep, args.hang_at) if slow else objective
    if args.barrier is not None:  # start together, once every worker has imported everything
        open(os.path.join(args.barrier, str(os.getpid())), "w").close()
        deadline = time.time() + 120.0
        while len(os.listdir(args.barrier)) < args.workers and time.time() < deadline:
            time.sleep(0.01)
    print(f"worker {os.getpid()} starts", flush=True)
    study.optimize(fn, n_trials=args.n_trials)
    print(f"worker {os.getpid()} done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
