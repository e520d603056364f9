"""``compare(config)``: run every method on one dataset and space with several seeds, score and draw them.

>>> from optuna_isnas.compare import CompareConfig, compare
>>> result = compare(CompareConfig.build(dataset="digits", epochs=2, seeds=(0, 1), out="runs/cmp"))  # doctest: +SKIP
>>> print(result.table)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from optuna_isnas.compare import figures as fig
from optuna_isnas.compare.config import CompareConfig
from optuna_isnas.compare.records import Job, RetrainRecord, Scored, SearchRecord, Variant
from optuna_isnas.compare.runner import (
    dashboard_job,
    load_record,
    plan_jobs,
    run_job_to_file,
    space_for,
)
from optuna_isnas.compare.scoring import (
    PairedComparison,
    Reference,
    SeedScore,
    SummaryRow,
    format_summary,
    paired_differences,
    score_all,
    summary_rows,
    variant_title,
)
from optuna_isnas.spaces import SearchSpace

Result = TypeVar("Result", SearchRecord, RetrainRecord)


@dataclass
class CompareResult:
    """What a comparison returns (everything is also written under ``out``)."""

    config: CompareConfig
    reference: Reference
    scores: dict[str, list[SeedScore]]
    rows: list[SummaryRow]
    comparisons: list[PairedComparison]
    table: str
    figures: dict[str, fig.FigureFiles]
    records: list[SearchRecord]
    wall_s: float
    dashboard: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def summary_path(self) -> Path:
        return Path(self.config.out) / "summary.md"


def variant_order(config: CompareConfig) -> list[str]:
    order = []
    for method in config.methods:
        if method == "isnas":
            order += [
                Variant("isnas", m).key for m in sorted(config.isnas_multipliers, reverse=True)
            ]
        elif method == "separate":
            order += [Variant("separate", m).key for m in sorted(config.separate_multipliers)]
        else:
            order.append(Variant(method, config.baseline_multiplier).key)
    return order


def _say(config: CompareConfig, message: str) -> None:
    if config.progress:
        print(message, file=sys.stderr, flush=True)


def _run_jobs(
    config: CompareConfig,
    labels: Sequence[str],
    worker: Callable[[Any], Result],
    payloads: Sequence[Any],
    what: str,
) -> list[Result]:
    """Run ``worker(payload)`` for each job, in ``config.workers`` processes (in this one for 1)."""
    results: list[Result] = []
    start = time.perf_counter()
    if config.workers == 1 or len(payloads) == 1:
        threads = torch.get_num_threads()
        try:
            for i, payload in enumerate(payloads):
                results.append(worker(payload))
                _say(
                    config,
                    f"[{time.perf_counter() - start:7.1f}s] {what} {i + 1}/{len(payloads)}: {labels[i]}",
                )
        finally:
            torch.set_num_threads(threads)
        return results
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(config.workers, len(payloads)), maxtasksperchild=8) as pool:
        for i, result in enumerate(pool.imap_unordered(worker, payloads)):
            results.append(result)
            _say(
                config,
                f"[{time.perf_counter() - start:7.1f}s] {what} {i + 1}/{len(payloads)} {result.label}",
            )
    return results


def reference_point(config: CompareConfig, space: SearchSpace | None = None) -> Reference:
    """The fixed reference point: ``(reference_error, reference_params or 1.1 x the largest child)``."""
    if config.reference_params is not None:
        params = config.reference_params
    else:
        params = 1.1 * (space or space_for(config)).largest_params()
    return Reference(error=float(config.reference_error), params=float(params))


def compare(config: CompareConfig) -> CompareResult:
    """Run the comparison described by ``config`` and write its table, figures and records to ``config.out``.

    Raises:
        CompareError: Settings that cannot work.
        DatasetError, SearchError: From loading the data or running a search.
    """
    config.validate()
    start = time.perf_counter()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    space = space_for(config)
    reference = reference_point(config, space)
    records: list[SearchRecord] = []
    todo: list[Job] = []
    for job in plan_jobs(config):
        found = load_record(config, job) if config.resume else None
        if found is not None:
            records.append(found)
        else:
            todo.append(job)
    if records:
        _say(config, f"reusing {len(records)} finished searches from {out / 'runs'}")
    _say(
        config,
        f"running {len(todo)} searches with {config.workers} worker(s), "
        f"{config.search.threads} thread(s) each",
    )
    records += _run_jobs(
        config,
        [job.label for job in todo],
        run_job_to_file,
        [(job, config.to_dict()) for job in todo],
        "search",
    )
    records.sort(key=lambda r: r.label)
    _check_compute(records)

    scores = score_all(records, reference, config.k)
    notes: list[str] = []
    if config.retrain_epochs > 0:
        notes += _retrain(config, scores, space)
    order = [v for v in variant_order(config) if v in scores]
    rows = summary_rows(scores, order)
    comparisons = _comparisons(scores, order)
    table = format_summary(rows, reference, comparisons)
    figures = _figures(config, scores, order, records, reference)
    dashboard = None
    if config.dashboard:
        try:
            import optuna_dashboard  # noqa: F401
        except ImportError:
            notes.append(
                "the figures were not attached to a study: optuna-dashboard is not installed "
                "(pip install 'optuna-isnas[dashboard]')"
            )
        else:
            dashboard = _dashboard(config, records, figures, table)
    if figures.png_skipped:
        notes.append(
            "PNG figures were skipped: no headless Chromium found (Debian: apt-get install -y chromium)"
        )
    result = CompareResult(
        config,
        reference,
        scores,
        rows,
        comparisons,
        table,
        figures.files,
        records,
        time.perf_counter() - start,
        dashboard,
        notes,
    )
    _write_outputs(result)
    return result


def _check_compute(records: list[SearchRecord]) -> None:
    """The independent pass count (loss hook) must agree with the loop's own step records."""
    for r in records:
        if r.passes.total != r.passes_from_steps:
            raise RuntimeError(
                f"compute accounting disagrees for {r.label}: loss hook counted {r.passes.total} passes, "
                f"the steps {r.passes_from_steps}"
            )


def _comparisons(scores: dict[str, list[SeedScore]], order: list[str]) -> list[PairedComparison]:
    isnas = [v for v in order if Variant.parse(v).method == "isnas"]
    others = [v for v in order if Variant.parse(v).method != "isnas"]
    found = []
    for first in isnas:
        for second in others:
            for key in ("hv", "hv_best_k"):
                c = paired_differences(scores, first, second, key)
                if c is not None:
                    found.append(c)
    return found


# ------------------------------------------------------------------------------- retraining
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
    results = retrain(
        job.document,
        None,
        epochs=config.retrain_epochs,
        batch_size=config.search.batch_size,
        device=config.search.device,
        seed=job.seed,
        out=None,
        progress=False,
        max_steps_per_epoch=config.search.max_steps_per_epoch,
        train_subset=config.search.train_subset,
    )
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
    path = job.path(config)
    if not path.is_file():
        return None
    try:
        found = RetrainRecord.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    return found if found.key == json.loads(json.dumps(job.key(config))) else None


def _retrain(
    config: CompareConfig, scores: dict[str, list[SeedScore]], space: SearchSpace
) -> list[str]:
    """Retrain each variant's best K returned architectures of the chosen seeds; score them on the test split."""
    reference = reference_point(config, space)
    jobs = []
    for variant, seeds in scores.items():
        for s in seeds:
            if s.seed not in config.chosen_retrain_seeds:
                continue
            chosen, seen = [], set()
            for e in reference.best_k(s.returned, config.k):
                key = tuple(sorted(e.architecture.items()))
                if key not in seen:
                    seen.add(key)
                    chosen.append(e)
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
    fresh = _run_jobs(config, [j.label for j in todo], _retrain_job, todo, "retrain")
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
            s.test_hv = reference.hypervolume(retrained)
    return [
        f"retrained from scratch for {config.retrain_epochs} epochs: seeds {list(config.chosen_retrain_seeds)}, "
        f"each method's best {config.k} returned architectures (by validation hypervolume); test split"
    ]


# ------------------------------------------------------------------------------- figures
def _figures(
    config: CompareConfig,
    scores: dict[str, list[SeedScore]],
    order: list[str],
    records: list[SearchRecord],
    reference: Reference,
) -> fig.FigureSet:
    where = Path(config.out) / "figures"
    search = config.search
    name = (
        f"{search.dataset}"
        + (f" {search.downsample}x{search.downsample}" if search.downsample else "")
        + f", {search.space}"
    )
    seeds = f"seeds {','.join(map(str, config.seeds))}"
    made = fig.FigureSet()
    made.figures["pareto"] = fig.pareto_fronts_figure(
        scores, order, reference, f"Returned architectures of every method ({name}; {seeds})"
    )
    made.figures["hypervolume"] = fig.hypervolume_figure(
        scores, order, f"Hypervolume against search compute ({name}; mean ± sd over {seeds})"
    )
    variants = [Variant.parse(v) for v in order]
    isnas_variant = max(
        (v for v in variants if v.method == "isnas"), default=None, key=lambda v: v.multiplier
    )
    separate_variant = min(
        (v for v in variants if v.method == "separate"), default=None, key=lambda v: v.multiplier
    )
    isnas = sorted(
        (r for r in records if isnas_variant and r.variant == isnas_variant.key and r.probs),
        key=lambda r: r.job.seed,
    )
    separate = sorted(
        (r for r in records if separate_variant and r.variant == separate_variant.key and r.probs),
        key=lambda r: (r.job.seed, r.job.k or 0),
    )
    if isnas and isnas_variant is not None:
        first = isnas[0]
        made.figures["probabilities"] = fig.probabilities_figure(
            first,
            f"IS-NAS: choice probabilities of each distribution over the search<br><sup>{name}; "
            f"{variant_title(isnas_variant.key)}; seed {first.job.seed}</sup>",
        )
        separate_title = (
            f"; dashed: {variant_title(separate_variant.key)}"
            if separate and separate_variant is not None
            else ""
        )
        made.figures["expected_params"] = fig.expected_params_figure(
            isnas,
            separate,
            config.epsilons,
            reference,
            f"Expected parameters of each distribution ({name})<br><sup>solid: "
            f"{variant_title(isnas_variant.key)}{separate_title}; first seed bold</sup>",
        )
    for key, figure in made.figures.items():
        made.files[key] = fig.save_figure(figure, where / key, config.png)
        made.png_skipped |= config.png and made.files[key].png is None
    return made


def _dashboard(
    config: CompareConfig, records: list[SearchRecord], figures: fig.FigureSet, table: str
) -> dict[str, Any] | None:
    """Attach the figures and the table to the first seed's IS-NAS study (journal ``out/dashboard.journal``)."""
    import optuna

    from optuna_isnas.compare.dashboard import attach_figures, fit_card
    from optuna_isnas.search.storage import open_storage

    job = dashboard_job(config)
    record = next(
        (r for r in records if job is not None and r.label == job.label and r.storage), None
    )
    if record is None or record.storage is None:
        return None
    opened = open_storage(record.storage)
    try:
        study = optuna.load_study(study_name=record.study_name, storage=opened.storage)
    except KeyError:  # the journal lost the study (deleted by hand, or an interrupted rerun)
        return None
    ids = attach_figures(
        study,
        {f"isnas-{key}": fit_card(figure) for key, figure in figures.figures.items()},
        note=table,
    )
    opened.sync()
    return {
        "storage": record.storage,
        "study_name": record.study_name,
        "figure_ids": ids,
        "command": f"optuna-dashboard {record.storage}",
    }


def _write_outputs(result: CompareResult) -> None:
    out = Path(result.config.out)
    search = result.config.search
    lines = [f"# Comparison: {search.dataset}, space {search.space}", "", result.table, ""]
    lines += [f"- {note}" for note in result.notes]
    lines += [
        "",
        "Figures: "
        + ", ".join(
            f"{k}: {v.html}" + (f" / {v.png}" if v.png else "") for k, v in result.figures.items()
        ),
    ]
    if result.dashboard:
        lines += [
            "",
            f"Dashboard: `{result.dashboard['command']}` (study {result.dashboard['study_name']!r})",
        ]
    lines += ["", f"Total wall time {result.wall_s:.0f} s."]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    document = {
        "config": result.config.to_dict(),
        "reference": asdict(result.reference),
        "rows": [asdict(r) for r in result.rows],
        "comparisons": [asdict(c) for c in result.comparisons],
        "per_seed": {v: [asdict(s) for s in seeds] for v, seeds in result.scores.items()},
        "figures": {k: asdict(v) for k, v in result.figures.items()},
        "dashboard": result.dashboard,
        "notes": result.notes,
        "wall_s": result.wall_s,
    }
    (out / "summary.json").write_text(json.dumps(document, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)
