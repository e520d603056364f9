"""``compare(config)``: run every method on one dataset and space with several seeds, score and draw them.

>>> from optuna_isnas.compare import CompareConfig, compare
>>> result = compare(CompareConfig(dataset="digits", epochs=2, seeds=(0, 1), out="runs/cmp"))  # doctest: +SKIP
>>> print(result.table)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from optuna_isnas.compare import figures as fig
from optuna_isnas.compare.config import CompareConfig
from optuna_isnas.compare.runner import (
    Job,
    build_space,
    dashboard_job,
    largest_params,
    load_record,
    load_splits,
    plan_jobs,
    run_job_to_file,
)
from optuna_isnas.compare.scoring import (
    Reference,
    SeedScore,
    format_summary,
    paired_differences,
    score_all,
    summary_rows,
    variant_title,
)


@dataclass
class CompareResult:
    """What a comparison returns (everything is also written under ``out``)."""

    config: CompareConfig
    reference: Reference
    scores: dict[str, list[SeedScore]]
    rows: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    table: str
    figures: dict[str, dict[str, str | None]]
    records: list[dict[str, Any]]
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
                Job("isnas", m, 0).variant for m in sorted(config.isnas_multipliers, reverse=True)
            ]
        elif method == "separate":
            order += [Job("separate", m, 0).variant for m in sorted(config.separate_multipliers)]
        else:
            order.append(Job(method, config.baseline_multiplier, 0).variant)
    return order


def _say(config: CompareConfig, message: str) -> None:
    if config.progress:
        print(message, file=sys.stderr, flush=True)


def _run_jobs(
    config: CompareConfig, jobs: list[Any], worker: Any, payloads: list[Any], what: str
) -> list[Any]:
    """Run ``worker(payload)`` for each job, in ``config.workers`` processes (in this one for 1)."""
    results: list[Any] = []
    start = time.perf_counter()
    if config.workers == 1 or len(jobs) == 1:
        threads = torch.get_num_threads()
        try:
            for i, payload in enumerate(payloads):
                results.append(worker(payload))
                _say(
                    config,
                    f"[{time.perf_counter() - start:7.1f}s] {what} {i + 1}/{len(jobs)}: {jobs[i].label}",
                )
        finally:
            torch.set_num_threads(threads)
        return results
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(config.workers, len(jobs)), maxtasksperchild=8) as pool:
        for i, result in enumerate(pool.imap_unordered(worker, payloads)):
            results.append(result)
            label = result.get("label", "") if isinstance(result, dict) else ""
            _say(
                config, f"[{time.perf_counter() - start:7.1f}s] {what} {i + 1}/{len(jobs)} {label}"
            )
    return results


def reference_point(config: CompareConfig) -> Reference:
    """The fixed reference point: ``(reference_error, reference_params or 1.1 x the largest child)``."""
    space = build_space(config, load_splits(config, config.seeds[0]))
    params = (
        config.reference_params
        if config.reference_params is not None
        else 1.1 * largest_params(space)
    )
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
    reference = reference_point(config)
    jobs = plan_jobs(config)
    records: list[dict[str, Any]] = []
    todo = []
    for job in jobs:
        found = load_record(config, job) if config.resume else None
        if found is not None:
            records.append(found)
        else:
            todo.append(job)
    if records:
        _say(config, f"reusing {len(records)} finished searches from {out / 'runs'}")
    _say(
        config,
        f"running {len(todo)} searches with {config.workers} worker(s), {config.threads} thread(s) each",
    )
    records += _run_jobs(
        config, todo, run_job_to_file, [(job, config.to_dict()) for job in todo], "search"
    )
    records.sort(key=lambda r: r["label"])
    _check_compute(records)

    scores = score_all(records, reference, config.k)
    notes: list[str] = []
    if config.retrain_epochs > 0:
        notes += _retrain(config, scores, reference)
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
    if figures.pop("_skipped_png", None):
        notes.append(
            "PNG figures were skipped: no headless Chromium found (Debian: apt-get install -y chromium)"
        )
    wall = time.perf_counter() - start
    result = CompareResult(
        config,
        reference,
        scores,
        rows,
        comparisons,
        table,
        figures,
        records,
        wall,
        dashboard,
        notes,
    )
    _write_outputs(result)
    return result


def _check_compute(records: list[dict[str, Any]]) -> None:
    """The independent pass count (loss hook) must agree with the loop's own step records."""
    for r in records:
        if r["passes"]["total"] != r["passes_from_steps"]:
            raise RuntimeError(
                f"compute accounting disagrees for {r['label']}: loss hook counted {r['passes']['total']} passes, "
                f"the steps {r['passes_from_steps']}"
            )


def _comparisons(scores: dict[str, list[SeedScore]], order: list[str]) -> list[dict[str, Any]]:
    isnas = [v for v in order if v.startswith("isnas@")]
    others = [v for v in order if not v.startswith("isnas@")]
    found = []
    for first in isnas:
        for second in others:
            for key in ("hv", "hv_best_k"):
                c = paired_differences(scores, first, second, key)
                if c is not None:
                    found.append(c)
    return found


@dataclass(frozen=True)
class _RetrainLabel:
    label: str


def _retrain_job(payload: tuple[dict[str, Any], dict[str, Any], int, str]) -> dict[str, Any]:
    """Worker: retrain one variant's chosen architectures of one seed from scratch."""
    from optuna_isnas.retrain import retrain

    document, config_dict, seed, variant = payload
    config = CompareConfig.from_dict(config_dict)
    torch.set_num_threads(config.threads)
    results = retrain(
        document,
        None,
        epochs=config.retrain_epochs,
        batch_size=config.batch_size,
        device=config.device,
        seed=seed,
        out=None,
        progress=False,
        max_steps_per_epoch=config.max_steps_per_epoch,
        train_subset=config.train_subset,
    )
    return {
        "label": f"retrain {variant}-seed{seed}",
        "variant": variant,
        "seed": seed,
        "results": [asdict(r) for r in results],
    }


def _retrain_key(
    config: CompareConfig, payload: tuple[dict[str, Any], dict[str, Any], int, str]
) -> dict[str, Any]:
    document, _, seed, variant = payload
    return {
        "search": config.search_fingerprint(),
        "epochs": config.retrain_epochs,
        "seed": seed,
        "variant": variant,
        "architectures": document["architectures"],
    }


def _load_retrained(
    config: CompareConfig, payload: tuple[dict[str, Any], dict[str, Any], int, str]
) -> dict[str, Any] | None:
    """A retraining finished by an earlier run of the same comparison (same architectures and epochs)."""
    _, _, seed, variant = payload
    path = Path(config.out) / "runs" / f"retrain-{variant}-seed{seed}.json"
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return (
        found if found.get("key") == json.loads(json.dumps(_retrain_key(config, payload))) else None
    )


def _retrain(
    config: CompareConfig, scores: dict[str, list[SeedScore]], reference: Reference
) -> list[str]:
    """Retrain each variant's best K returned architectures of the chosen seeds; score them on the test split."""
    space_config = build_space(config, load_splits(config, config.seeds[0])).config()
    payloads, jobs = [], []
    for variant, seeds in scores.items():
        for s in seeds:
            if s.seed not in config.chosen_retrain_seeds:
                continue
            chosen, seen = [], set()
            for e in reference.best_k(s.returned, config.k):
                key = tuple(sorted(e["architecture"].items()))
                if key not in seen:
                    seen.add(key)
                    chosen.append(e)
            document = {
                "dataset": config.dataset,
                "data_root": config.data_root,
                "downsample": config.downsample,
                "seed": s.seed,
                "space": space_config,
                "architectures": [
                    {"index": i, "architecture": e["architecture"]} for i, e in enumerate(chosen)
                ],
            }
            payloads.append((document, config.to_dict(), s.seed, variant))
            jobs.append(_RetrainLabel(f"{variant}-seed{s.seed}"))
    done, todo = [], []
    for job, payload in zip(jobs, payloads):
        found = _load_retrained(config, payload) if config.resume else None
        if found is not None:
            done.append(found)
        else:
            todo.append((job, payload))
    fresh = _run_jobs(config, [j for j, _ in todo], _retrain_job, [p for _, p in todo], "retrain")
    by_job = {(r["variant"], r["seed"]): r for r in fresh}
    for _, payload in todo:
        result = by_job[(payload[3], payload[2])]
        result["key"] = _retrain_key(config, payload)
        path = Path(config.out) / "runs" / f"retrain-{result['variant']}-seed{result['seed']}.json"
        path.write_text(json.dumps(result) + "\n")
    done += fresh
    by_key = {(d["variant"], d["seed"]): d["results"] for d in done}
    for variant, seeds in scores.items():
        for s in seeds:
            results = by_key.get((variant, s.seed))
            if results is None:
                continue
            s.retrained = [
                {
                    "architecture": r["architecture"],
                    "params": r["params"],
                    "error": 1.0 - r["test_accuracy"],
                    "val_error": 1.0 - r["val_accuracy"],
                }
                for r in results
            ]
            s.test_hv = reference.hypervolume(s.retrained)
    return [
        f"retrained from scratch for {config.retrain_epochs} epochs: seeds {list(config.chosen_retrain_seeds)}, "
        f"each method's best {config.k} returned architectures (by validation hypervolume); test split"
    ]


def _figures(
    config: CompareConfig,
    scores: dict[str, list[SeedScore]],
    order: list[str],
    records: list[dict[str, Any]],
    reference: Reference,
) -> dict[str, Any]:
    where = Path(config.out) / "figures"
    name = (
        f"{config.dataset}"
        + (f" {config.downsample}x{config.downsample}" if config.downsample else "")
        + f", {config.space}"
    )
    seeds = f"seeds {','.join(map(str, config.seeds))}"
    made: dict[str, Any] = {}
    made["pareto"] = fig.pareto_fronts_figure(
        scores, order, reference, f"Returned architectures of every method ({name}; {seeds})"
    )
    made["hypervolume"] = fig.hypervolume_figure(
        scores, order, f"Hypervolume against search compute ({name}; mean ± sd over {seeds})"
    )
    isnas_variant = max(
        (v for v in order if v.startswith("isnas@")), default=None, key=lambda v: float(v[6:-1])
    )
    isnas = [r for r in records if r["variant"] == isnas_variant and r["probs"]]
    separate_variant = min(
        (v for v in order if v.startswith("separate@")), default=None, key=lambda v: float(v[9:-1])
    )
    separate = [r for r in records if r["variant"] == separate_variant and r["probs"]]
    isnas.sort(key=lambda r: r["job"]["seed"])
    separate.sort(key=lambda r: (r["job"]["seed"], r["job"]["k"]))
    if isnas:
        first = isnas[0]
        made["probabilities"] = fig.probabilities_figure(
            first,
            f"IS-NAS: choice probabilities of each distribution over the search<br><sup>{name}; "
            f"{variant_title(isnas_variant)}; seed {first['job']['seed']}</sup>",
        )
        separate_title = f"; dashed: {variant_title(separate_variant)}" if separate else ""
        made["expected_params"] = fig.expected_params_figure(
            isnas,
            separate,
            config.epsilons,
            reference,
            f"Expected parameters of each distribution ({name})<br><sup>solid: {variant_title(isnas_variant)}"
            f"{separate_title}; first seed bold</sup>",
        )
    paths: dict[str, Any] = {"_objects": made}
    skipped = False
    for key, figure in made.items():
        paths[key] = fig.save_figure(figure, where / key, config.png)
        skipped |= config.png and paths[key]["png"] is None
    paths["_skipped_png"] = skipped
    return paths


def _dashboard(
    config: CompareConfig, records: list[dict[str, Any]], figures: dict[str, Any], table: str
) -> dict[str, Any] | None:
    """Attach the figures and the table to the first seed's IS-NAS study (journal ``out/dashboard.journal``)."""
    import optuna

    from optuna_isnas.compare.dashboard import attach_figures, open_storage

    job = dashboard_job(config)
    record = next(
        (r for r in records if job is not None and r["label"] == job.label and r.get("storage")),
        None,
    )
    if record is None:
        return None
    storage = open_storage(record["storage"])
    try:
        study = optuna.load_study(study_name=record["study_name"], storage=storage)
    except KeyError:  # the journal lost the study (deleted by hand, or an interrupted rerun)
        return None
    objects = figures["_objects"]
    ids = attach_figures(
        study, {f"isnas-{key}": _fit_card(figure) for key, figure in objects.items()}, note=table
    )
    return {
        "storage": record["storage"],
        "study_name": record["study_name"],
        "figure_ids": ids,
        "command": f"optuna-dashboard {record['storage']}",
    }


def _fit_card(figure: Any) -> Any:
    """A copy that fills the dashboard's figure card instead of its fixed page size."""
    import plotly.graph_objects as go

    copy = go.Figure(figure)
    copy.layout.width = None
    copy.layout.height = min(int(figure.layout.height or 600), 900)
    copy.layout.autosize = True
    copy.layout.title.font.size = 13
    return copy


def _write_outputs(result: CompareResult) -> None:
    out = Path(result.config.out)
    figures = {k: v for k, v in result.figures.items() if not k.startswith("_")}
    lines = [
        f"# Comparison: {result.config.dataset}, space {result.config.space}",
        "",
        result.table,
        "",
    ]
    lines += [f"- {note}" for note in result.notes]
    lines += [
        "",
        "Figures: "
        + ", ".join(
            f"{k}: {v['html']}" + (f" / {v['png']}" if v["png"] else "") for k, v in figures.items()
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
        "rows": result.rows,
        "comparisons": result.comparisons,
        "per_seed": {v: [_seed_dict(s) for s in seeds] for v, seeds in result.scores.items()},
        "figures": figures,
        "dashboard": result.dashboard,
        "notes": result.notes,
        "wall_s": result.wall_s,
    }
    (out / "summary.json").write_text(json.dumps(document, indent=2, default=_json_default) + "\n")


def _seed_dict(s: SeedScore) -> dict[str, Any]:
    data = asdict(s)
    data["returned"] = [{k: v for k, v in e.items()} for e in s.returned]
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)
