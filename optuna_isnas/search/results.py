"""What a search returns: its family, chosen on the whole validation split, as JSON and as a study.

At the end of a search (:func:`select_returned`) each method's candidates are scored on the whole
validation split with the final shared weights, and the family is chosen from those scores:

* a family sampler (ISNASSampler): per distribution, its ``config.rescore`` best evaluated
  architectures and its most likely one (``sampler.candidates``), plus the Pareto set of its
  trials (what the other samplers rescore; it spans every size); the sampler's own rules then
  choose one per distribution (``sampler.select_from``: distinct and non-dominated in its
  default size classes and in trade-off mode, the best within each budget in budget mode);
* any other sampler: the Pareto set of the trials it evaluated, without duplicates; after
  rescoring, the members another member dominates are dropped.

The rescoring is compute like any other (``Selection.evaluated_examples``). The family is written
to ``architectures.json`` and to the study ``"<study_name>-summary"`` (directions maximize
accuracy, minimize params), which optuna-dashboard shows as a clean Pareto front next to the
search study. A search that completed no generation returns the Pareto set of what it evaluated,
and says so (``Selection.note``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.distributions import BaseDistribution, CategoricalDistribution

from optuna_isnas.search.samplers import FamilySampler, family_sampler
from optuna_isnas.search.session import SearchSession
from optuna_isnas.search.storage import set_metric_names, study_exists, summary_name
from optuna_isnas.spaces import Architecture, SearchSpace, Supernet
from optuna_isnas.training.device import Precision
from optuna_isnas.training.evaluation import EvalSplit, evaluate_split
from optuna_isnas.training.tables import format_table

ARCHITECTURES_NAME = "architectures.json"
PARETO_NAME = "pareto.html"
SUMMARY_METRICS = ["accuracy", "params"]


@dataclass(frozen=True)
class Candidate:
    """An architecture a search would return, before it is scored.

    Attributes:
        architecture: Parameter name -> choice name.
        eps: The family sampler's trade-off for it (None for other samplers).
        budget: Its complexity budget where the sampler has budgets (None otherwise).
        trial: Number of the search trial it came from, where known.
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
        eps: ISNASSampler's tradeoff coefficient for it in trade-off mode (None otherwise).
        budget: Its complexity budget (budgets or size classes; None otherwise, and for the
            largest size class, which takes a model of any size).
        trial: Number of the (latest) search trial that evaluated it, where known.
    """

    index: int
    architecture: Architecture
    params: int
    accuracy: float
    loss: float
    eps: float | None = None
    budget: float | None = None
    trial: int | None = None


@dataclass
class Selection:
    """The family a search returns, and how it was chosen.

    Attributes:
        returned: The family, largest first (a family sampler: one per distribution, in its order).
        candidates: Every candidate, scored on the whole validation split.
        evaluated_examples: Validation examples the rescoring forwarded through the supernet
            (``len(candidates) * len(val)``): compute spent on choosing the family.
        note: What the user should know about the choice (None when nothing special happened).
    """

    returned: list[ArchitectureResult]
    candidates: list[ArchitectureResult]
    evaluated_examples: int
    note: str | None = None


@dataclass
class SearchResult:
    """What a finished search returns.

    In a data-parallel search every process returns one; ``study`` and ``summary_study`` are
    rank 0's alone (``is_main``), the rest is the same everywhere. Each fact is held once: the
    family in ``selection``, the output directory, supernet and space in ``session``; the
    properties below name them.

    Attributes:
        session: Everything the search worked with (splits, sampler, supernet, sizes, ``out``).
        selection: How the family was chosen: every candidate rescored on the whole validation
            split, the compute that took, and a note where the choice was special.
        storage_location: Journal file or URL of the storage (None for an in-memory storage).
        studies: The search study (one trial per evaluated architecture) and the summary study
            ``"<study_name>-summary"`` (the returned architectures, scored on the whole
            validation split); None on the processes other than rank 0.
    """

    session: SearchSession
    selection: Selection
    storage_location: str | None
    studies: tuple[optuna.Study, optuna.Study] | None

    @property
    def architectures(self) -> list[ArchitectureResult]:
        """The returned architectures with parameters and whole-validation accuracy."""
        return self.selection.returned

    @property
    def out(self) -> Path:
        """Output directory; the paths below lie in it."""
        return self.session.out

    @property
    def architectures_path(self) -> Path:
        return self.session.out / ARCHITECTURES_NAME

    @property
    def plot_path(self) -> Path:
        return self.session.out / PARETO_NAME

    @property
    def checkpoint_path(self) -> Path:
        return self.session.checkpoint_path

    @property
    def supernet(self) -> Supernet:
        """The trained supernet (``supernet.extract_child(arch)`` gives a child with its weights)."""
        return self.session.supernet

    @property
    def space(self) -> SearchSpace:
        return self.session.space

    @property
    def is_main(self) -> bool:
        """This process wrote the outputs and holds the studies (always, in a single process)."""
        return self.studies is not None

    @property
    def study(self) -> optuna.Study:
        """The search study (rank 0 only in a data-parallel search)."""
        return self._studies()[0]

    @property
    def summary_study(self) -> optuna.Study:
        """The summary study (rank 0 only in a data-parallel search)."""
        return self._studies()[1]

    def dashboard_command(self) -> str | None:
        return (
            None if self.storage_location is None else f"optuna-dashboard {self.storage_location}"
        )

    def _studies(self) -> tuple[optuna.Study, optuna.Study]:
        if self.studies is None:
            return self.session.study, self.session.study  # raises: no study on this process
        return self.studies


def select_returned(session: SearchSession) -> Selection:
    """Score the candidates on the whole validation split and choose the family (module docstring)."""
    family = family_sampler(session.sampler)
    if family is not None:
        selection = _select_family(session, family)
        if selection is not None:
            return selection
        note = (
            f"{type(session.sampler).__name__} completed no generation "
            f"({session.generation_size} trials each), so it has no family yet: returning the "
            "Pareto set of the trials evaluated. Run more steps for a family."
        )
        return _select_pareto(session, note)
    return _select_pareto(session, None)


def _select_family(session: SearchSession, family: FamilySampler) -> Selection | None:
    study, space = session.study, session.space
    if family.generation(study) == 0:
        return None
    found = family.candidates(study, per_distribution=session.config.rescore)
    candidates = [Candidate(space.validate(c.params, ignore_extra=True)) for c in found]
    trials: list[int | None] = [
        None if c.entry is None or c.entry.trial < 0 else c.entry.trial for c in found
    ]
    # The Pareto set of the trials too, the other samplers' candidates: the archive keeps the
    # best few per distribution by minibatch values, the front of all trials spans every size.
    front = _pareto_candidates(session, {tuple(c.architecture.items()) for c in candidates})
    candidates += front
    trials += [c.trial for c in front]
    scored = _score(session, candidates)
    values = [(_objective_value(session, r), r.params) for r in scored]
    # The largest size class may take any size: the family starts at the most accurate model.
    widest = session.config.widest_family
    chosen = family.select_from(
        study, [r.architecture for r in scored], values, unbounded_top=widest
    )
    placed = family.budgets(study)
    eps: Sequence[float | None] = family.tradeoffs(study) if placed is None else []
    budgets: list[float | None] | None = None if placed is None else list(placed)
    if widest and budgets is not None and family.complexity_budgets is None:  # size classes
        budgets[0] = None  # the largest class takes a model of any size
    returned = []
    for k, index in enumerate(chosen):
        if index is None:
            continue
        returned.append(
            dataclasses.replace(
                scored[index],
                index=k,
                eps=_float(eps[k]) if k < len(eps) else None,
                budget=None if budgets is None else _float(budgets[k]),
                trial=trials[index],
            )
        )
    missing = [k for k, index in enumerate(chosen) if index is None]
    notes = []
    if missing:
        notes.append(
            f"distribution(s) {missing} had no candidate within budget or constraints after "
            "rescoring; the family has fewer members"
        )
    on_front = _non_dominated(values, session)
    if not all(on_front[i] for i in chosen if i is not None):
        notes.append(
            f"only {sum(on_front)} of the {len(scored)} rescored candidates are non-dominated, so "
            "the family also holds dominated models; run a longer search for a fuller front"
        )
    note = "; ".join(notes) or None
    return Selection(returned, scored, len(scored) * len(session.val), note)


def _pareto_candidates(
    session: SearchSession, seen: set[tuple[tuple[str, str], ...]]
) -> list[Candidate]:
    """The Pareto set of the study's trials, one candidate per architecture not in ``seen``;
    with the sandwich rule and ``widest_family`` also the space's largest and smallest child.

    Those two are the children the weight step trains at every step, so the final weights serve
    them best, whether or not the sampler evaluated them.
    """
    found: list[tuple[Architecture, int | None]] = [
        (session.space.validate(trial.params, ignore_extra=True), trial.number)
        for trial in sorted(session.study.best_trials, key=lambda t: t.number)
    ]
    config = session.config
    if config.widest_family and config.sandwich:
        found += [(dict(arch), None) for arch in session.space.extreme_architectures()]
    candidates = []
    for arch, trial in found:
        key = tuple(arch.items())
        if key not in seen:
            seen.add(key)
            candidates.append(Candidate(arch, trial=trial))
    return candidates


def _select_pareto(session: SearchSession, note: str | None) -> Selection:
    candidates = _pareto_candidates(session, set())
    scored = _score(session, candidates)
    keep = _non_dominated([(_objective_value(session, r), r.params) for r in scored], session)
    returned = sorted((r for r, kept in zip(scored, keep) if kept), key=lambda r: -r.params)
    returned = [dataclasses.replace(r, index=i) for i, r in enumerate(returned)]
    if not candidates:
        note = (note + " " if note else "") + "No trial completed: nothing to return."
    return Selection(returned, scored, len(scored) * len(session.val), note)


def _objective_value(session: SearchSession, result: ArchitectureResult) -> float:
    """The rescored value of the search's first objective (what the trials were told)."""
    return result.accuracy if session.config.objective.maximized else result.loss


def _non_dominated(values: Sequence[tuple[float, int]], session: SearchSession) -> list[bool]:
    sign = -1.0 if session.config.objective.maximized else 1.0
    points = [(sign * v, p) for v, p in values]
    return [not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points) for p in points]


def _score(session: SearchSession, candidates: Sequence[Candidate]) -> list[ArchitectureResult]:
    return score_candidates(
        candidates,
        session.supernet,
        session.space,
        session.val,
        session.config.eval_batch_size,
        session.precision,
        session.loader_workers,
    )


def score_candidates(
    candidates: Sequence[Candidate],
    supernet: Supernet,
    space: SearchSpace,
    val: EvalSplit,
    batch_size: int,
    precision: Precision,
    workers: int = 0,
) -> list[ArchitectureResult]:
    """Score ``candidates`` on all of ``val`` (in memory or streamed by ``workers`` DataLoader
    workers) with the supernet's current weights."""
    supernet.eval()
    forwards = [_forward(supernet, candidate.architecture) for candidate in candidates]
    scores = evaluate_split(forwards, val, batch_size, precision, workers=workers)
    return [
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
        for index, (candidate, (accuracy, loss)) in enumerate(zip(candidates, scores))
    ]


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


def format_architectures(
    entries: Sequence[ArchitectureResult], width: int = 60, *, column: str | None = None
) -> str:
    """A plain-text table: index, budget or eps, parameters, validation accuracy, architecture.

    Args:
        entries: The returned architectures.
        width: Longest architecture text; longer ones are cut with ``...``.
        column: ``"budget"`` or ``"eps"`` heads the trade-off column with that name; None
            chooses from the entries: ``budget`` where any has a budget, else ``eps`` where any
            has a trade-off, else no such column (e.g. the hypervolume family, whose members
            have neither).
    """
    if not entries:
        return "no architectures returned"
    if column is None:
        if any(e.budget is not None for e in entries):
            column = "budget"
        elif any(e.eps is not None for e in entries):
            column = "eps"
    rows = []
    for e in entries:
        arch = " ".join(f"{k}={v}" for k, v in e.architecture.items())
        if len(arch) > width:
            arch = arch[: width - 3] + "..."
        row = {"#": str(e.index)}
        if column is not None:
            value = e.budget if column == "budget" else e.eps
            row[column] = "-" if value is None else _number(value)
        row.update(
            {
                "params": f"{e.params:,}",
                "val acc": f"{100 * e.accuracy:.2f}%",
                "architecture": arch,
            }
        )
        rows.append(row)
    return format_table(rows)


def _number(value: float) -> str:
    """A trade-off as given (``3``, ``0.5``); a budget of parameters as a count (``70,226``)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def _float(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)
