"""Trials per second of ISNASSampler with 1 and N worker processes, journal file against PostgreSQL.

Each run creates a fresh study and starts the worker processes together; each worker runs its
share of --trials with ``study.optimize`` on a free objective (8 categorical parameters of 4
choices, two objectives), so the time is the sampler's and the storage's. --objective-ms makes
the objective sleep (a stand-in for training on another device) to show what more workers buy.
The rate is trials over the wall-clock time from the common start to the last worker's end; the
CPU columns are the workers' CPU time per trial and, for a throwaway server only, the server's
(its postmaster's finished children). The journal file lives on /dev/shm when there is one.
PostgreSQL is the server at --postgres-url (a user that may create databases: each run gets a
fresh database), or a throwaway server started with .ci/postgres.sh (fsync off, as in the tests).

    .venv/bin/python benchmarks/bench_workers.py                    # 1,000 trials, 1 and 3 workers
    .venv/bin/python benchmarks/bench_workers.py --quick            # 300 trials, 1 repeat
    .venv/bin/python benchmarks/bench_workers.py --trials 600 --objective-ms 100
    .venv/bin/python benchmarks/bench_workers.py --postgres-url postgresql://me@db/postgres
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Literal

import optuna
from optuna.storages.journal import JournalFileBackend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPER = os.path.join(ROOT, ".ci", "postgres.sh")
CHOICES = ("a", "b", "c", "d")
DIRECTIONS: list[Literal["minimize", "maximize"]] = ["minimize", "minimize"]


def objective(trial: optuna.Trial, seconds: float = 0.0) -> tuple[float, float]:
    xs = [CHOICES.index(trial.suggest_categorical(f"x{i}", CHOICES)) for i in range(8)]
    time.sleep(seconds)  # a stand-in for training on another device: no CPU here
    return float(sum((3 - x) * (1 + 0.1 * i) for i, x in enumerate(xs))), float(sum(xs))


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    if "://" in spec:
        return optuna.storages.RDBStorage(spec)
    backend = JournalFileBackend(spec)
    return optuna.storages.JournalStorage(backend)


def worker(spec: str, n_trials: int, start_at: float, seconds: float) -> None:
    """One worker process: load the study, wait for the common start, run its trials."""
    from optuna_isnas import ISNASSampler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = ISNASSampler(epsilons=(0.0, 1.0, 3.0, 10.0), seed=0, warn_independent_sampling=False)
    study = optuna.load_study(study_name="bench", storage=open_storage(spec), sampler=sampler)
    time.sleep(max(0.0, start_at - time.time()))
    c0 = time.process_time()
    study.optimize(lambda trial: objective(trial, seconds), n_trials=n_trials)
    print(f"cpu {time.process_time() - c0:.4f}", flush=True)


def server_cpu(server_dir: str | None) -> float:
    """CPU seconds of a throwaway server's finished backends (its postmaster's children), or
    NaN for a server this script did not start."""
    if server_dir is None:
        return float("nan")
    with open(os.path.join(server_dir, "data", "postmaster.pid")) as f:
        pid = int(f.readline())
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); cutime and cstime are fields 16 and 17.
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def run(spec: str, n_workers: int, n_trials: int, seconds: float) -> tuple[float, float]:
    """(trials per second, worker CPU ms per trial) of one fresh study."""
    optuna.create_study(storage=open_storage(spec), directions=DIRECTIONS, study_name="bench")
    start_at = time.time() + 5.0  # every worker has imported and loaded the study by then
    shares = [n_trials // n_workers + (i < n_trials % n_workers) for i in range(n_workers)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", spec, str(n), repr(start_at), repr(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in shares
    ]
    cpu = 0.0
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed (exit {proc.returncode})")
        cpu += float(out.split()[-1])
    seconds = time.time() - start_at
    study = optuna.load_study(study_name="bench", storage=open_storage(spec))
    assert len(study.get_trials(deepcopy=False)) == n_trials
    return n_trials / seconds, 1000.0 * cpu / n_trials


def _admin(url: str, sql: str) -> None:
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(sql))


def new_spec(kind: str, server: str | None, scratch: str) -> tuple[str, Any]:
    """A fresh journal path or database URL, and how to remove it."""
    if kind == "journal":
        path = os.path.join(scratch, f"{uuid.uuid4().hex}.log")

        def remove_file() -> None:
            if os.path.exists(path):
                os.remove(path)

        return path, remove_file
    from sqlalchemy.engine import make_url

    assert server is not None
    name = f"bench_{uuid.uuid4().hex[:12]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    return url, lambda: _admin(server, f'DROP DATABASE "{name}" WITH (FORCE)')


def _mean_sd(xs: list[float]) -> str:
    if any(math.isnan(x) for x in xs):  # not measured
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.1f} ± {sd:.1f}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--workers", default="1,3", help="comma-separated worker counts")
    p.add_argument("--storages", default="journal,postgres")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--postgres-url", default=os.environ.get("OPTUNA_ISNAS_TEST_POSTGRES_URL"))
    p.add_argument(
        "--objective-ms", type=float, default=0.0, help="the objective sleeps this long (no CPU)"
    )
    p.add_argument("--quick", action="store_true", help="300 trials, 1 repeat")
    args = p.parse_args()
    if args.quick:
        args.trials, args.repeats = 300, 1
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    kinds = args.storages.split(",")
    counts = [int(n) for n in args.workers.split(",")]

    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    scratch = tempfile.mkdtemp(prefix="isnas-bench-", dir=shm)
    server, server_dir = args.postgres_url, None
    try:
        if "postgres" in kinds and server is None:
            server_dir = tempfile.mkdtemp(prefix="isnas-bench-pg-", dir=shm)
            done = subprocess.run(
                ["bash", HELPER, "start", server_dir], check=True, capture_output=True, text=True
            )
            server = done.stdout.strip()
        load = os.getloadavg()[0]
        results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
        for _ in range(args.repeats):  # interleaved, so that load changes hit every cell
            for kind in kinds:
                for n in counts:
                    spec, remove = new_spec(kind, server, scratch)
                    try:
                        before = server_cpu(server_dir) if kind == "postgres" else math.nan
                        rate, cpu = run(spec, n, args.trials, args.objective_ms / 1000)
                    finally:
                        remove()  # its connections end: their CPU reaches the postmaster
                    after = server_cpu(server_dir) if kind == "postgres" else math.nan
                    served = 1000.0 * (after - before) / args.trials
                    results.setdefault((kind, n), []).append((rate, cpu, served))
        print(
            f"# {args.trials} trials, objective {args.objective_ms:g} ms, {args.repeats} repeats, "
            f"{os.cpu_count()} CPUs, "
            f"{platform.python_version()}, optuna {optuna.__version__}, "
            f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}\n"
        )
        print("| storage | workers | trials/s | worker CPU ms/trial | server CPU ms/trial |")
        print("|---|---:|---:|---:|---:|")
        for (kind, n), rows in results.items():
            cells = [_mean_sd([row[i] for row in rows]) for i in range(3)]
            print(f"| {kind} | {n} | {' | '.join(cells)} |")
    finally:
        if server_dir is not None:
            subprocess.run(["bash", HELPER, "stop", server_dir], check=False, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
