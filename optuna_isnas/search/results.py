"""What a search returns: its architectures, scored on the whole validation split, as JSON and as a study.

ISNASSampler returns K architectures (the modes of its distributions, in epsilon order); any other
sampler returns the Pareto set of the trials it evaluated, without duplicates, largest first. Each is
scored with the shared weights on the whole validation split and written to ``architectures.json``
and to the study ``"<study_name>-summary"`` (directions maximize accuracy, minimize params), which
optuna-dashboard shows as a clean Pareto front next to the search study.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.distributions import CategoricalDistribution

from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.device import Precision
from optuna_isnas.search.recipe import evaluate
from optuna_isnas.search.study import is_isnas_sampler, set_metric_names, study_exists

ARCHITECTURES_NAME = "architectures.json"
SUMMARY_METRICS = ["accuracy", "params"]


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
    architecture: dict[str, str]
    params: int
    accuracy: float
    loss: float
    eps: float | None = None
    budget: float | None = None
    trial: int | None = None


def summary_name(study_name: str) -> str:
    return f"{study_name}-summary"


def returned_architectures(study: optuna.Study, sampler: Any, space: Any) -> list[dict[str, Any]]:
    """The architectures a search returns, each as ``{"architecture", "eps", "budget", "trial"}``."""
    if is_isnas_sampler(sampler):
        archs = sampler.architectures(study)
        eps = (
            list(sampler.tradeoffs(study)) if hasattr(sampler, "tradeoffs") else [None] * len(archs)
        )
        budgets = getattr(sampler, "complexity_budgets", None) or [None] * len(archs)
        return [
            {
                "architecture": space.validate(a),
                "eps": _float(e),
                "budget": _float(b),
                "trial": None,
            }
            for a, e, b in zip(archs, eps, budgets)
        ]
    seen: set[tuple[tuple[str, str], ...]] = set()
    found = []
    for trial in sorted(study.best_trials, key=lambda t: t.number):
        arch = space.validate(trial.params, ignore_extra=True)
        key = tuple(arch.items())
        if key not in seen:
            seen.add(key)
            found.append({"architecture": arch, "eps": None, "budget": None, "trial": trial.number})
    return sorted(found, key=lambda f: -space.n_params(f["architecture"]))


def evaluate_returned(
    study: optuna.Study,
    sampler: Any,
    space: Any,
    supernet: torch.nn.Module,
    val: Any,
    config: SearchConfig,
    precision: Precision,
) -> list[ArchitectureResult]:
    """Score the returned architectures on all of ``val`` with the supernet's current weights."""
    supernet.eval()
    entries = []
    for index, found in enumerate(returned_architectures(study, sampler, space)):
        arch = found["architecture"]
        accuracy, loss = evaluate(
            lambda x, a=arch: supernet(x, a), val.x, val.y, config.eval_batch_size, precision
        )
        entries.append(
            ArchitectureResult(
                index=index, params=space.n_params(arch), accuracy=accuracy, loss=loss, **found
            )
        )
    return entries


def write_summary_study(
    storage: optuna.storages.BaseStorage,
    search_name: str,
    space: Any,
    entries: list[ArchitectureResult],
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
    distributions = {
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
    path: Path,
    entries: list[ArchitectureResult],
    config: SearchConfig,
    space: Any,
    study_name: str,
    storage_location: str | None,
) -> Path:
    """Write the returned architectures with what ``optuna-isnas retrain`` needs to rebuild them."""
    document = {
        "study_name": study_name,
        "summary_study_name": summary_name(study_name),
        "storage": storage_location,
        "dataset": config.dataset,
        "data_root": config.data_root,
        "seed": config.seed,
        "downsample": config.downsample,
        "sampler": config.sampler,
        "objective": config.objective,
        "space": space.config(),
        "architectures": [asdict(entry) for entry in entries],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def format_table(entries: list[ArchitectureResult], width: int = 60) -> str:
    """A plain-text table: index, eps (or budget), parameters, validation accuracy, architecture."""
    if not entries:
        return "no architectures: every trial failed"
    tradeoff = "budget" if any(e.budget is not None for e in entries) else "eps"
    rows = [("#", tradeoff, "params", "val acc", "architecture")]
    for e in entries:
        value = e.budget if tradeoff == "budget" else e.eps
        arch = " ".join(f"{k}={v}" for k, v in e.architecture.items())
        if len(arch) > width:
            arch = arch[: width - 3] + "..."
        rows.append(
            (
                str(e.index),
                "-" if value is None else f"{value:g}",
                f"{e.params:,}",
                f"{100 * e.accuracy:.2f}%",
                arch,
            )
        )
    return render_table(rows, left_aligned={4})


def render_table(rows: list[tuple[str, ...]], left_aligned: set[int] = frozenset()) -> str:
    """Columns separated by two spaces; right-aligned except the ``left_aligned`` column indices."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i in left_aligned else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths))
        )
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _float(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)
