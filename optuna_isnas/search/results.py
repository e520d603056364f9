"""What a search returns: its architectures, scored on the whole validation split, as JSON and as a study.

A family sampler (ISNASSampler) returns K architectures (the modes of its distributions, in epsilon
order); any other sampler returns the Pareto set of the trials it evaluated, without duplicates,
largest first (:func:`family_candidates`). Each is scored with the shared weights on the whole
validation split (:func:`score_candidates`) and written to ``architectures.json`` and to the study
``"<study_name>-summary"`` (directions maximize accuracy, minimize params), which optuna-dashboard
shows as a clean Pareto front next to the search study.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.distributions import BaseDistribution, CategoricalDistribution

from optuna_isnas.data import TensorSplit
from optuna_isnas.search.samplers import FamilySampler, family_sampler
from optuna_isnas.search.session import SearchSession, summary_name
from optuna_isnas.search.storage import set_metric_names, study_exists
from optuna_isnas.spaces import Architecture, SearchSpace, Supernet
from optuna_isnas.training.device import Precision
from optuna_isnas.training.evaluation import evaluate
from optuna_isnas.training.tables import format_table

ARCHITECTURES_NAME = "architectures.json"
SUMMARY_METRICS = ["accuracy", "params"]


@dataclass(frozen=True)
class Candidate:
    """An architecture a search would return, before it is scored.

    Attributes:
        architecture: Parameter name -> choice name.
        eps: The family sampler's trade-off for it (None for other samplers).
        budget: Its complexity budget where the sampler has budgets (None otherwise).
        trial: Number of the search trial it came from (other samplers; None for a family).
    """

    architecture: Architecture
    eps: float | None = None
    budget: float | None = None
    trial: int | None = None


@dataclass
class ArchitectureResult:
    """One returned architecture.

    Attributes:
        index: Position in the returned list (the distribution k for ISNASSampler).
        architecture: Parameter name -> choice name.
        params: Parameters of its standalone child network.
        accuracy: Accuracy on the whole validation split with the supernet's shared weights.
        loss: Mean cross-entropy on the whole validation split.
        eps: ISNASSampler's tradeoff coefficient for it (None for other samplers).
        budget: Its complexity budget where the sampler has budgets (None otherwise).
        trial: Number of the search trial it came from (other samplers; None for ISNASSampler).
    """

    index: int
    architecture: Architecture
    params: int
    accuracy: float
    loss: float
    eps: float | None = None
    budget: float | None = None
    trial: int | None = None


def family_candidates(
    study: optuna.Study, sampler: optuna.samplers.BaseSampler, space: SearchSpace
) -> list[Candidate]:
    """The architectures a search with ``sampler`` returns at this moment (see the module docstring).

    Raises:
        ValueError: A family sampler that has nothing to return yet (no completed trial).
    """
    family = family_sampler(sampler)
    if family is not None:
        return _family(study, family, space)
    seen: set[tuple[tuple[str, str], ...]] = set()
    found = []
    for trial in sorted(study.best_trials, key=lambda t: t.number):
        arch = space.validate(trial.params, ignore_extra=True)
        key = tuple(arch.items())
        if key not in seen:
            seen.add(key)
            found.append(Candidate(arch, trial=trial.number))
    return sorted(found, key=lambda c: -space.n_params(c.architecture))


def _family(study: optuna.Study, family: FamilySampler, space: SearchSpace) -> list[Candidate]:
    archs = family.architectures(study=study)
    eps = family.tradeoffs(study)
    budgets: Sequence[float | None] = family.complexity_budgets or [None] * len(archs)
    return [
        Candidate(space.validate(a), eps=_float(e), budget=_float(b))
        for a, e, b in zip(archs, eps, budgets)
    ]


def score_candidates(
    candidates: Sequence[Candidate],
    supernet: Supernet,
    space: SearchSpace,
    val: TensorSplit,
    batch_size: int,
    precision: Precision,
) -> list[ArchitectureResult]:
    """Score ``candidates`` on all of ``val`` with the supernet's current weights."""
    supernet.eval()
    results = []
    for index, candidate in enumerate(candidates):
        accuracy, loss = evaluate(
            _forward(supernet, candidate.architecture), val.x, val.y, batch_size, precision
        )
        results.append(
            ArchitectureResult(
                index=index,
                architecture=candidate.architecture,
                params=space.n_params(candidate.architecture),
                accuracy=accuracy,
                loss=loss,
                eps=candidate.eps,
                budget=candidate.budget,
                trial=candidate.trial,
            )
        )
    return results


def returned_architectures(session: SearchSession) -> list[ArchitectureResult]:
    """What the search returns now: its candidates, scored on the whole validation split."""
    candidates = family_candidates(session.study, session.sampler, session.space)
    return score_candidates(
        candidates,
        session.supernet,
        session.space,
        session.val,
        session.config.eval_batch_size,
        session.precision,
    )


def _forward(supernet: Supernet, arch: Architecture) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: supernet(x, arch)


def write_summary_study(
    storage: optuna.storages.BaseStorage,
    search_name: str,
    space: SearchSpace,
    entries: Sequence[ArchitectureResult],
) -> optuna.Study:
    """(Re)create ``"<search_name>-summary"`` holding one trial per returned architecture."""
    name = summary_name(search_name)
    if study_exists(storage, name):
        optuna.delete_study(study_name=name, storage=storage)
    summary = optuna.create_study(
        study_name=name,
        storage=storage,
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(),
    )
    set_metric_names(summary, SUMMARY_METRICS)
    summary.set_user_attr("search_study", search_name)
    distributions: dict[str, BaseDistribution] = {
        name: CategoricalDistribution(list(choices)) for name, choices in space.variables.items()
    }
    for entry in entries:
        attrs = {
            "index": entry.index,
            "loss": entry.loss,
            "eps": entry.eps,
            "budget": entry.budget,
            "search_trial": entry.trial,
        }
        summary.add_trial(
            optuna.trial.create_trial(
                params=entry.architecture,
                distributions=distributions,
                values=[entry.accuracy, entry.params],
                user_attrs={k: v for k, v in attrs.items() if v is not None},
            )
        )
    return summary


def write_architectures_json(
    path: Path, entries: Sequence[ArchitectureResult], session: SearchSession
) -> Path:
    """Write the returned architectures with what ``optuna-isnas retrain`` needs to rebuild them."""
    config = session.config
    document = {
        "study_name": session.study.study_name,
        "summary_study_name": summary_name(session.study.study_name),
        "storage": session.storage.location,
        "dataset": config.dataset,
        "data_root": config.data_root,
        "seed": config.seed,
        "downsample": config.downsample,
        "sampler": config.sampler,
        "objective": config.objective,
        "space": session.space.config(),
        "architectures": [asdict(entry) for entry in entries],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def format_architectures(entries: Sequence[ArchitectureResult], width: int = 60) -> str:
    """A plain-text table: index, eps (or budget), parameters, validation accuracy, architecture."""
    if not entries:
        return "no architectures: every trial failed"
    tradeoff = "budget" if any(e.budget is not None for e in entries) else "eps"
    rows = []
    for e in entries:
        value = e.budget if tradeoff == "budget" else e.eps
        arch = " ".join(f"{k}={v}" for k, v in e.architecture.items())
        if len(arch) > width:
            arch = arch[: width - 3] + "..."
        rows.append(
            {
                "#": str(e.index),
                tradeoff: "-" if value is None else f"{value:g}",
                "params": f"{e.params:,}",
                "val acc": f"{100 * e.accuracy:.2f}%",
                "architecture": arch,
            }
        )
    return format_table(rows)


def _float(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)
