"""One search of a comparison, run in its own process: a method, a compute multiplier, a seed.

Every method drives the same one-shot loop (``optuna_isnas.search.run_search``) on a fresh
supernet; only the sampler and the number of epochs differ:

- ``isnas``: one ``ISNASSampler`` with the K epsilons (K * lambda architectures per step);
- ``separate``: job ``k`` is one single-eps search, ``ISNASSampler(epsilons=[eps_k])`` with the same
  lambda and its own supernet; the K jobs of one seed together are the paper's baseline;
- ``nsgaii``, ``tpe``, ``random``: Optuna's samplers through ask/tell, K * lambda trials per step.

While the search runs, a step callback records the distributions' probabilities and, at a few
trace points, scores the architectures the method would return at that moment on the whole
validation split with the current shared weights (the hypervolume-against-compute curves).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from optuna_isnas.compare.compute import PassCounter, Stopwatch
from optuna_isnas.compare.config import CompareConfig


@dataclass(frozen=True)
class Job:
    """One search: ``method`` at ``multiplier`` compute units with ``seed`` (``k``: separate searches)."""

    method: str
    multiplier: float
    seed: int
    k: int | None = None

    @property
    def variant(self) -> str:
        """The method at its budget, e.g. ``"isnas@1x"``; the K separate jobs share one variant."""
        return f"{self.method}@{self.multiplier:g}x"

    @property
    def label(self) -> str:
        return f"{self.variant}-seed{self.seed}" + ("" if self.k is None else f"-k{self.k}")


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


def study_name(config: CompareConfig, job: Job) -> str:
    return f"{config.dataset}-{config.space}-{job.label}"


# ---------------------------------------------------------------------------------------- data
def load_splits(config: CompareConfig, seed: int) -> Any:
    """The splits a search with ``seed`` sees (the same seeded split, subsets and downsampling as the loop)."""
    from optuna_isnas.data import load_dataset

    return load_dataset(
        config.dataset,
        root=config.data_root,
        seed=seed,
        downsample=config.downsample,
        max_train_samples=config.train_subset,
        max_eval_samples=config.val_subset,
    )


def build_space(config: CompareConfig, splits: Any) -> Any:
    from optuna_isnas.spaces import get_space

    return get_space(
        config.space,
        in_channels=splits.in_channels,
        num_classes=splits.num_classes,
        image_size=splits.image_size,
        **config.space_options,
    )


def largest_params(space: Any) -> int:
    """Parameters of the largest child: exact for spaces whose count adds up per variable.

    Spaces with parameters that depend on how choices combine also try 2,000 seeded random
    architectures, so the value is then a lower bound of the true maximum.
    """
    fixed, table = space.param_table()
    arch = {name: max(choices, key=choices.get) for name, choices in table.items()}
    best = space.n_params(arch)
    if _has_structural_params(space):
        rng = np.random.default_rng(0)
        best = max([best, *(space.n_params(space.random_architecture(rng)) for _ in range(2000))])
    return int(best)


def _has_structural_params(space: Any) -> bool:
    from optuna_isnas.spaces.base import SearchSpace

    return type(space)._structural_params is not SearchSpace._structural_params


def expected_params(
    space: Any, probabilities: dict[str, dict[str, float]], rng: np.random.Generator
) -> float:
    """E[parameters] of the child under one distribution's probabilities.

    Exact for the additive part of the count; where parameters depend on how choices combine,
    that part is estimated from 256 architectures drawn from the distribution.
    """
    fixed, table = space.param_table()
    value = float(fixed) + sum(
        p * table[name][choice]
        for name, probs in probabilities.items()
        for choice, p in probs.items()
    )
    if _has_structural_params(space):
        names = list(probabilities)
        draws = []
        for _ in range(256):
            arch = {}
            for name in names:
                choices, p = zip(*probabilities[name].items())
                arch[name] = choices[int(rng.choice(len(choices), p=np.asarray(p) / sum(p)))]
            draws.append(space._structural_params(arch))
        value += float(np.mean(draws))
    return value


# ---------------------------------------------------------------------------------------- one search
class _Recorder:
    """The step callback: probabilities every few steps, returned-set scores at the trace points."""

    def __init__(
        self,
        job: Job,
        sampler: Any,
        space: Any,
        counter: PassCounter,
        val: Any,
        config: Any,
        precision: Any,
        trace_steps: set[int],
        prob_steps: set[int],
        watch: Stopwatch,
    ) -> None:
        self.job, self.sampler, self.space, self.counter = job, sampler, space, counter
        self.val, self.config, self.precision = val, config, precision
        self.trace_steps, self.prob_steps, self.watch = trace_steps, prob_steps, watch
        self.supernet: torch.nn.Module | None = None
        self.trace: list[dict[str, Any]] = []
        self.probs: list[dict[str, Any]] = []
        self.steps_seen = 0
        self.step_passes = 0
        self.rng = np.random.default_rng(0)
        self._hook = torch.nn.modules.module.register_module_forward_pre_hook(self._capture)

    def _capture(self, module: torch.nn.Module, args: Any) -> None:
        """Keep a reference to the supernet at its first forward (the loop does not hand it out)."""
        from optuna_isnas.spaces.base import Supernet

        if isinstance(module, Supernet):
            self.supernet = module
            self.release()

    def release(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def __call__(self, info: Any) -> None:
        self.steps_seen += 1
        self.step_passes += 2 * len(info.train_losses) - sum(
            not math.isfinite(v) for v in info.train_losses
        )
        self.step_passes += len(info.val_losses)
        with self.watch.paused():
            if info.global_step in self.prob_steps and hasattr(self.sampler, "probabilities"):
                self._record_probabilities(info)
            if info.global_step in self.trace_steps and info.global_step < info.total_steps:
                self.trace.append(self._score(info.study, info.global_step))

    def _record_probabilities(self, info: Any) -> None:
        try:
            probs = self.sampler.probabilities(info.study)
        except ValueError:  # no state before the first completed trial
            return
        names = list(self.space.variables)
        theta = [
            [[float(p[name].get(c, 0.0)) for c in self.space.variables[name]] for name in names]
            for p in probs
        ]
        expected = [expected_params(self.space, p, self.rng) for p in probs]
        self.probs.append(
            {
                "step": info.global_step,
                "passes": self.counter.count.total,
                "theta": theta,
                "expected_params": expected,
            }
        )

    def _score(self, study: optuna.Study, step: int) -> dict[str, Any]:
        from optuna_isnas.search.recipe import evaluate
        from optuna_isnas.search.results import returned_architectures

        assert self.supernet is not None, "the supernet was not seen"
        try:
            returned = returned_architectures(study, self.sampler, self.space)
        except ValueError:  # ISNASSampler before its first update: nothing to return yet
            return {"step": step, "passes": self.counter.count.total, "returned": None}
        self.supernet.eval()
        entries = []
        for found in returned:
            arch = found["architecture"]
            accuracy, loss = evaluate(
                lambda x, a=arch: self.supernet(x, a),
                self.val.x,
                self.val.y,
                self.config.eval_batch_size,
                self.precision,
            )
            self.counter.count.eval_examples += len(self.val.y)
            entries.append(
                {
                    "architecture": arch,
                    "params": self.space.n_params(arch),
                    "error": 1.0 - accuracy,
                    "loss": loss,
                }
            )
        return {"step": step, "passes": self.counter.count.total, "returned": entries}


def spread_steps(total: int, points: int) -> set[int]:
    """``points`` steps spread evenly over 1..total, the last one included."""
    n = min(points, total)
    return {max(1, int(round(total * (i + 1) / n))) for i in range(n)}


def search_config(config: CompareConfig, job: Job, out: Path) -> Any:
    """The ``SearchConfig`` of one job."""
    from optuna_isnas.search import SearchConfig, TrainingRecipe

    eps = config.epsilons if job.k is None else (config.epsilons[job.k],)
    recipe = TrainingRecipe.for_dataset(config.dataset)
    if config.lr is not None:
        recipe.lr = config.lr
    return SearchConfig(
        dataset=config.dataset,
        data_root=config.data_root,
        downsample=config.downsample,
        space=config.space,
        space_options=dict(config.space_options),
        epsilons=eps if job.method in ("isnas", "separate") else config.epsilons,
        samples_per_distribution=config.samples_per_distribution,
        epochs=config.epochs_for(job.multiplier),
        batch_size=config.batch_size,
        device=config.device,
        threads=config.threads,
        seed=job.seed,
        out=str(out),
        objective=config.objective,
        sampler="isnas" if job.method in ("isnas", "separate") else job.method,
        progress=False,
        max_steps_per_epoch=config.max_steps_per_epoch,
        train_subset=config.train_subset,
        val_subset=config.val_subset,
        recipe=recipe,
    )


def run_job(job: Job, config: CompareConfig) -> dict[str, Any]:
    """Run one search and return its record (JSON-able): returned set, compute, trace, probabilities."""
    from optuna_isnas.search import run_search
    from optuna_isnas.search.device import Precision, resolve_device
    from optuna_isnas.search.study import make_sampler

    out = Path(config.out) / "runs" / job.label
    settings = search_config(config, job, out)
    torch.set_num_threads(config.threads)
    splits = load_splits(config, job.seed)
    space = build_space(config, splits)
    precision = Precision.for_device(
        resolve_device(settings.device), settings.recipe.amp, settings.recipe.channels_last
    )
    val = splits.val.to(precision.device)
    sampler = make_sampler(settings)
    if config.isnas_options and job.method in ("isnas", "separate"):
        from optuna_isnas import ISNASSampler

        sampler = ISNASSampler(
            epsilons=list(settings.epsilons),
            samples_per_distribution=settings.samples_per_distribution,
            seed=job.seed,
            **config.isnas_options,
        )
    generation = getattr(
        sampler, "generation_size", None
    ) or settings.samples_per_distribution * len(config.epsilons)
    steps_per_epoch = len(splits.train) // min(settings.batch_size, len(splits.train))
    steps_per_epoch = min(steps_per_epoch, settings.max_steps_per_epoch or steps_per_epoch)
    total = steps_per_epoch * settings.epochs
    counter = PassCounter()
    watch = Stopwatch()
    recorder = _Recorder(
        job,
        sampler,
        space,
        counter,
        val,
        settings,
        precision,
        spread_steps(total, config.trace_points),
        spread_steps(total, config.prob_points),
        watch,
    )
    dashboard = job == dashboard_job(config)
    storage: Any = (
        str(Path(config.out) / "dashboard.journal")
        if dashboard
        else optuna.storages.InMemoryStorage()
    )
    settings.study_name = study_name(config, job)
    try:
        with watch:
            result = run_search(
                settings,
                sampler=sampler,
                storage=storage,
                overwrite=True,
                loss_hook=counter,
                step_callback=recorder,
            )
    finally:
        recorder.release()
    final = [
        {
            "architecture": a.architecture,
            "params": a.params,
            "error": 1.0 - a.accuracy,
            "loss": a.loss,
            "eps": a.eps,
            "trial": a.trial,
        }
        for a in result.architectures
    ]
    counter.count.eval_examples += len(val.y) * len(final)
    recorder.trace.append({"step": total, "passes": counter.count.total, "returned": final})
    if not dashboard:
        for name in ("pareto.html", "checkpoint.pt"):
            (out / name).unlink(missing_ok=True)
    return {
        "job": asdict(job),
        "variant": job.variant,
        "label": job.label,
        "epsilons": list(settings.epsilons) if job.method in ("isnas", "separate") else None,
        "epochs": settings.epochs,
        "steps": total,
        "generation_size": generation,
        "n_trials": len(result.study.trials),
        "passes": counter.count.to_dict(),
        "passes_from_steps": recorder.step_passes,
        "wall_s": watch.seconds,
        "trace_s": watch.paused_seconds,
        "returned": final,
        "trace": recorder.trace,
        "probs": recorder.probs,
        "variables": {k: list(v) for k, v in space.variables.items()},
        "study_name": result.study.study_name,
        "storage": result.storage_location if dashboard else None,
        "threads": config.threads,
        "device": str(precision.device),
    }


def run_job_to_file(args: tuple[Job, dict[str, Any]]) -> dict[str, Any]:
    """Worker entry point: run a job and write its record next to its outputs."""
    job, config_dict = args
    config = CompareConfig.from_dict(config_dict)
    record = run_job(job, config)
    record["fingerprint"] = config.search_fingerprint()
    path = record_path(config, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record) + "\n")
    return record


def record_path(config: CompareConfig, job: Job) -> Path:
    return Path(config.out) / "runs" / f"{job.label}.json"


def load_record(config: CompareConfig, job: Job) -> dict[str, Any] | None:
    """A finished job's record from an earlier run with the same settings, else None."""
    path = record_path(config, job)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    stored = record.get("fingerprint")
    if stored is None:
        return None
    # Settings added after a record was written take their default values.
    defaults = CompareConfig().search_fingerprint()
    stored = {**{k: v for k, v in defaults.items() if k not in stored}, **stored}
    return record if stored == json.loads(json.dumps(config.search_fingerprint())) else None
