"""One search of a comparison, run in its own process: a method, a compute multiplier, a seed.

Every method drives the same one-shot loop (``optuna_isnas.search.run_search``) on a fresh
supernet; only the job's search settings differ (``CompareConfig.job_config``):

- ``isnas``: one ``ISNASSampler`` with the K epsilons (K * lambda architectures per step), or
  with the search's default family, the K models of largest hypervolume (``CompareConfig.family``);
- ``separate``: job ``k`` is one single-eps search, ``ISNASSampler(epsilons=[eps_k])`` with the same
  lambda and its own supernet; the K jobs of one seed together are the paper's baseline;
- ``nsgaii``, ``tpe``, ``random``: Optuna's samplers through ask/tell, K * lambda trials per step.

While the search runs, a step callback records the distributions' probabilities and, at a few
trace points, scores the architectures the method would return at that moment on the whole
validation split with the current shared weights (the hypervolume-against-compute curves). The
callback gets everything from the search's session (``StepInfo.session``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from optuna_isnas.compare.compute import PassCounter, Stopwatch
from optuna_isnas.compare.config import FAMILY_METHODS, CompareConfig
from optuna_isnas.compare.records import (
    Job,
    ProbabilityPoint,
    Scored,
    SearchRecord,
    TracePoint,
    not_this_format,
    read_record,
)
from optuna_isnas.search.loop import StepInfo, run_search
from optuna_isnas.search.results import ArchitectureResult, select_returned
from optuna_isnas.search.session import SearchSession
from optuna_isnas.spaces import SearchSpace, get_space


def plan_jobs(config: CompareConfig) -> list[Job]:
    """All searches of a comparison, largest first (so parallel workers finish together)."""
    jobs: list[Job] = []
    for seed in config.seeds:
        for method in config.methods:
            if method == "isnas":
                jobs += [Job("isnas", m, seed) for m in config.isnas_multipliers]
            elif method == "separate":
                jobs += [
                    Job("separate", m, seed, k)
                    for m in config.separate_multipliers
                    for k in range(config.k)
                ]
            else:
                jobs.append(Job(method, config.baseline_multiplier, seed))

    def cost(job: Job) -> float:
        return job.multiplier / (config.k if job.k is not None else 1)

    return sorted(jobs, key=lambda j: -cost(j))


def dashboard_job(config: CompareConfig) -> Job | None:
    """The IS-NAS search whose study gets the figures for optuna-dashboard (first seed, largest budget)."""
    if not config.dashboard or "isnas" not in config.methods:
        return None
    return Job("isnas", max(config.isnas_multipliers), config.seeds[0])


def space_for(config: CompareConfig) -> SearchSpace:
    """The search space every job of the comparison builds (its data's shape, first seed)."""
    from optuna_isnas.data import load_dataset

    search = config.search
    splits = load_dataset(
        search.dataset,
        root=search.data_root,
        seed=config.seeds[0],
        downsample=search.downsample,
        max_train_samples=search.train_subset,
        max_eval_samples=search.val_subset,
    )
    return get_space(
        search.space,
        in_channels=splits.in_channels,
        num_classes=splits.num_classes,
        image_size=splits.image_size,
        **search.space_options,
    )


# ---------------------------------------------------------------------------------------- one search
def scored(result: ArchitectureResult, *, with_origin: bool = False) -> Scored:
    """A search's returned architecture as a comparison scores it (error = 1 - accuracy)."""
    return Scored(
        architecture=result.architecture,
        params=result.params,
        error=1.0 - result.accuracy,
        loss=result.loss,
        eps=result.eps if with_origin else None,
        trial=result.trial if with_origin else None,
    )


class _Recorder:
    """The step callback: probabilities every few steps, returned-set scores at the trace points."""

    def __init__(self, config: CompareConfig, counter: PassCounter, watch: Stopwatch) -> None:
        self.config, self.counter, self.watch = config, counter, watch
        self.trace: list[TracePoint] = []
        self.probs: list[ProbabilityPoint] = []
        self.step_passes = 0
        self.rng = np.random.default_rng(0)
        self.trace_steps: set[int] = set()
        self.prob_steps: set[int] = set()

    def __call__(self, info: StepInfo) -> None:
        if info.global_step == 1 or not (self.trace_steps or self.prob_steps):
            self.trace_steps = spread_steps(info.total_steps, self.config.trace_points)
            self.prob_steps = spread_steps(info.total_steps, self.config.prob_points)
        self.step_passes += 2 * len(info.train_losses) - sum(
            not math.isfinite(v) for v in info.train_losses
        )
        self.step_passes += len(info.val_losses)
        with self.watch.paused():
            if info.global_step in self.prob_steps and info.session.family_sampler is not None:
                self._record_probabilities(info.session, info.global_step)
            if info.global_step in self.trace_steps and info.global_step < info.total_steps:
                self.trace.append(self._score(info.session, info.global_step))

    def _record_probabilities(self, session: SearchSession, step: int) -> None:
        family = session.family_sampler
        assert family is not None
        try:
            probs = family.probabilities(session.study)
        except ValueError:  # no state before the first completed trial
            return
        variables = session.space.variables
        theta = [
            [[float(p[name].get(c, 0.0)) for c in choices] for name, choices in variables.items()]
            for p in probs
        ]
        expected = [session.space.expected_params(p, self.rng) for p in probs]
        self.probs.append(ProbabilityPoint(step, self.counter.count.total, theta, expected))

    def _score(self, session: SearchSession, step: int) -> TracePoint:
        selection = select_returned(session)
        self.counter.count.eval_examples += selection.evaluated_examples
        if not selection.returned:
            return TracePoint(step, self.counter.count.total, None)
        return TracePoint(step, self.counter.count.total, [scored(r) for r in selection.returned])


def spread_steps(total: int, points: int) -> set[int]:
    """``points`` steps spread evenly over 1..total, the last one included."""
    n = min(points, total)
    return {max(1, round(total * (i + 1) / n)) for i in range(n)}


def run_job(job: Job, config: CompareConfig) -> SearchRecord:
    """Run one search and return its record: returned set, compute, trace, probabilities."""
    settings = config.job_config(job)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    counter, watch = PassCounter(), Stopwatch()
    recorder = _Recorder(config, counter, watch)
    dashboard = job == dashboard_job(config)
    storage: str | optuna.storages.BaseStorage = (
        str(Path(config.out) / "dashboard.journal")
        if dashboard
        else optuna.storages.InMemoryStorage()
    )
    with watch:
        result = run_search(
            settings, storage=storage, overwrite=True, loss_hook=counter, step_callback=recorder
        )
    session = result.session
    final = [scored(a, with_origin=True) for a in result.architectures]
    # Choosing the family rescored every candidate on the whole validation split: compute too.
    counter.count.eval_examples += result.selection.evaluated_examples
    recorder.trace.append(TracePoint(session.total_steps, counter.count.total, final))
    if not dashboard:
        for path in (result.plot_path, result.checkpoint_path):
            path.unlink(missing_ok=True)
    return SearchRecord(
        job=job,
        epsilons=(
            list(settings.epsilons)
            if job.method in FAMILY_METHODS and settings.epsilons is not None
            else None
        ),
        epochs=settings.epochs,
        steps=session.total_steps,
        generation_size=session.generation_size,
        n_trials=len(result.study.trials),
        passes=counter.count,
        passes_from_steps=recorder.step_passes,
        wall_s=watch.seconds,
        trace_s=watch.paused_seconds,
        returned=final,
        trace=recorder.trace,
        probs=recorder.probs,
        variables={k: list(v) for k, v in session.space.variables.items()},
        study_name=result.study.study_name,
        storage=result.storage_location if dashboard else None,
        threads=settings.threads,
        device=str(session.device),
        fingerprint=config.fingerprint(job),
    )


def run_job_to_file(args: tuple[Job, dict[str, Any]]) -> SearchRecord:
    """Worker entry point: run a job and write its record next to its outputs."""
    job, config_dict = args
    config = CompareConfig.from_dict(config_dict)
    record = run_job(job, config)
    path = record_path(config, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_json()) + "\n")
    return record


def record_path(config: CompareConfig, job: Job) -> Path:
    return Path(config.out) / "runs" / f"{job.label}.json"


def load_record(config: CompareConfig, job: Job) -> SearchRecord | None:
    """A finished job's record from an earlier run with the same settings, else None.

    A record whose fingerprint names other settings than this release's (another format, not
    other values) raises ``RecordFormatError``.
    """
    path = record_path(config, job)
    record = read_record(path, SearchRecord.from_json)
    if record is None:
        return None
    wanted = _jsonable(config.fingerprint(job))
    found = record.fingerprint
    if (
        not isinstance(found, dict)
        or set(found) != set(wanted)
        or not isinstance(found["search"], dict)
        or set(found["search"]) != set(wanted["search"])
    ):
        raise not_this_format(
            path, "its fingerprint does not hold the settings a search's result depends on"
        )
    return record if found == wanted else None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))
