"""``compare(config)``: run every method on one dataset and space with several seeds, score and draw them.

>>> from optuna_isnas.compare import CompareConfig, compare
>>> result = compare(CompareConfig.build(dataset="digits", epochs=2, seeds=(0, 1), out="runs/cmp"))  # doctest: +SKIP
>>> print(result.table)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time

from optuna_isnas.compare.config import CompareConfig, CompareError
from optuna_isnas.compare.outputs import (
    CompareResult,
    attach_to_dashboard,
    make_figures,
    write_outputs,
)
from optuna_isnas.compare.parallel import run_jobs, say
from optuna_isnas.compare.records import Job, SearchRecord, Variant
from optuna_isnas.compare.retraining import retrain_chosen
from optuna_isnas.compare.runner import load_record, plan_jobs, run_job_to_file, space_for
from optuna_isnas.compare.scoring import (
    SCORE_KEYS,
    PairedComparison,
    Reference,
    SeedScore,
    format_summary,
    paired_differences,
    score_all,
    summary_rows,
)
from optuna_isnas.search.storage import output_directory
from optuna_isnas.spaces import SearchSpace


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


def reference_point(config: CompareConfig, space: SearchSpace | None = None) -> Reference:
    """The fixed reference point: ``(reference_error, reference_params or 1.1 x the largest
    child)``, and the log axis's origin: the parameters of the smallest child of the space."""
    space = space or space_for(config)
    if config.reference_params is not None:
        params = config.reference_params
    else:
        params = 1.1 * space.largest_params()
    smallest = smallest_params(space)
    if not params > smallest:
        raise CompareError(
            f"reference_params {params:,.0f} must exceed the smallest child of the space "
            f"({smallest:,} parameters), the log axis's origin"
        )
    return Reference(error=float(config.reference_error), params=float(params), smallest=smallest)


def smallest_params(space: SearchSpace) -> float:
    """Parameters of the smallest child (:meth:`SearchSpace.smallest_params`), the log axis's
    origin."""
    return float(space.smallest_params())


def compare(config: CompareConfig) -> CompareResult:
    """Run the comparison described by ``config`` and write its table, figures and records to ``config.out``.

    Raises:
        CompareError: Settings that cannot work.
        DatasetError, SearchError: From loading the data or running a search.
    """
    config.validate()
    start = time.perf_counter()
    out = output_directory(config.out)  # a file or an unwritable place: one error line
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
        say(config, f"reusing {len(records)} finished searches from {out / 'runs'}")
    say(
        config,
        f"running {len(todo)} searches with {config.workers} worker(s), "
        f"{config.search.threads} thread(s) each",
    )
    records += run_jobs(
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
        notes += retrain_chosen(config, scores, space, reference)
    order = [v for v in variant_order(config) if v in scores]
    rows = summary_rows(scores, order)
    comparisons = _comparisons(scores, order)
    table = format_summary(rows, reference, comparisons, config.k, config.family)
    figures = make_figures(config, scores, order, records, reference)
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
            dashboard = attach_to_dashboard(config, records, figures, table)
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
    write_outputs(result)
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
            for key in SCORE_KEYS:
                c = paired_differences(scores, first, second, key)
                if c is not None:
                    found.append(c)
    return found
