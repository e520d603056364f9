"""Retraining each method's chosen architectures from scratch and scoring them on the test split."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from optuna_isnas.compare.config import CompareConfig
from optuna_isnas.compare.parallel import run_jobs
from optuna_isnas.compare.records import RetrainRecord, Scored, read_record
from optuna_isnas.compare.scoring import AXES, Reference, SeedScore, architecture_key
from optuna_isnas.retrain_settings import RetrainSettings
from optuna_isnas.spaces import SearchSpace


@dataclass(frozen=True)
class _RetrainJob:
    """One variant's chosen architectures of one seed, to retrain from scratch."""

    variant: str
    seed: int
    document: dict[str, Any]
    config: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.variant}-seed{self.seed}"

    def key(self, config: CompareConfig) -> dict[str, Any]:
        """What the retraining depends on (a resumed comparison reuses it only if this agrees)."""
        return {
            "search": config.search.result_settings(),
            "epochs": config.retrain_epochs,
            "seed": self.seed,
            "variant": self.variant,
            "architectures": self.document["architectures"],
        }

    def path(self, config: CompareConfig) -> Path:
        return Path(config.out) / "runs" / f"retrain-{self.variant}-seed{self.seed}.json"


def _retrain_job(job: _RetrainJob) -> RetrainRecord:
    """Worker: retrain one variant's chosen architectures of one seed from scratch."""
    from optuna_isnas.retrain import retrain

    config = CompareConfig.from_dict(job.config)
    if config.search.threads is not None:
        torch.set_num_threads(config.search.threads)
    settings = RetrainSettings(
        epochs=config.retrain_epochs,
        batch_size=config.search.batch_size,
        device=config.search.device,
        seed=job.seed,
        out=None,
        progress=False,
        max_steps_per_epoch=config.search.max_steps_per_epoch,
        train_subset=config.search.train_subset,
    )
    results = retrain(job.document, None, settings=settings)
    retrained = [
        Scored(
            architecture=r.architecture,
            params=r.params,
            error=1.0 - r.test_accuracy,
            loss=r.test_loss,
            val_error=1.0 - r.val_accuracy,
        )
        for r in results
    ]
    return RetrainRecord(job.variant, job.seed, retrained)


def _load_retrained(config: CompareConfig, job: _RetrainJob) -> RetrainRecord | None:
    """A retraining finished by an earlier run of the same comparison (same architectures and epochs)."""
    found = read_record(job.path(config), RetrainRecord.from_json)
    if found is None:
        return None
    return found if found.key == json.loads(json.dumps(job.key(config))) else None


def retrain_chosen(
    config: CompareConfig,
    scores: dict[str, list[SeedScore]],
    space: SearchSpace,
    reference: Reference,
) -> list[str]:
    """Retrain each variant's family of the chosen seeds from scratch; score it on the test split.

    The family is what the method returns (at most K distinct architectures; a larger set is cut
    to its best K by validation hypervolume), the same rule for every method. The cut is made on
    each parameter axis, so the union of the two cuts is retrained and each test hypervolume
    scores its own axis's family.
    """
    jobs = []
    for variant, seeds in scores.items():
        for s in seeds:
            if s.seed not in config.chosen_retrain_seeds:
                continue
            chosen = to_retrain(s.returned, reference, config.k)
            document = {
                "dataset": config.search.dataset,
                "data_root": config.search.data_root,
                "downsample": config.search.downsample,
                "seed": s.seed,
                "space": space.config(),
                "architectures": [
                    {"index": i, "architecture": e.architecture} for i, e in enumerate(chosen)
                ],
            }
            jobs.append(_RetrainJob(variant, s.seed, document, config.to_dict()))
    done: list[RetrainRecord] = []
    todo: list[_RetrainJob] = []
    for job in jobs:
        found = _load_retrained(config, job) if config.resume else None
        if found is not None:
            done.append(found)
        else:
            todo.append(job)
    fresh = run_jobs(config, [j.label for j in todo], _retrain_job, todo, "retrain")
    by_job = {(r.variant, r.seed): r for r in fresh}
    for job in todo:
        record = dataclasses.replace(by_job[(job.variant, job.seed)], key=job.key(config))
        job.path(config).write_text(json.dumps(record.to_json()) + "\n")
    done += fresh
    by_key = {(d.variant, d.seed): d.retrained for d in done}
    for variant, seeds in scores.items():
        for s in seeds:
            retrained = by_key.get((variant, s.seed))
            if retrained is None:
                continue
            s.retrained = retrained
            s.test_hv, s.test_hv_log = (
                reference.hypervolume(
                    _members(retrained, reference.family(s.returned, config.k, axis)), axis
                )
                for axis in AXES
            )
    return [
        f"score (b): each method's family (at most {config.k} distinct returned architectures; a "
        f"larger set cut to its best {config.k} by validation hypervolume on each axis) retrained "
        f"from scratch for {config.retrain_epochs} epochs with the seeds "
        f"{list(config.chosen_retrain_seeds)}, scored on the test split"
    ]


def to_retrain(returned: list[Scored], reference: Reference, k: int) -> list[Scored]:
    """The architectures score (b) retrains from a returned set: its family on each axis, united
    (the same as the family itself when the set has at most ``k`` distinct architectures)."""
    return _union(*(reference.family(returned, k, axis) for axis in AXES))


def _union(*families: list[Scored]) -> list[Scored]:
    """The architectures of the families, each once, in order."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    found = []
    for family in families:
        for e in family:
            if architecture_key(e) not in seen:
                seen.add(architecture_key(e))
                found.append(e)
    return found


def _members(retrained: list[Scored], family: list[Scored]) -> list[Scored]:
    """The retrained entries of the family's architectures."""
    keys = {architecture_key(e) for e in family}
    return [e for e in retrained if architecture_key(e) in keys]
