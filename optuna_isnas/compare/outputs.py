"""What a comparison returns (``CompareResult``) and writes: figures, the dashboard study,
summary.md and summary.json."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from optuna_isnas.compare import figures as fig
from optuna_isnas.compare.config import CompareConfig
from optuna_isnas.compare.records import SearchRecord, Variant
from optuna_isnas.compare.runner import dashboard_job
from optuna_isnas.compare.scoring import (
    PairedComparison,
    Reference,
    SeedScore,
    SummaryRow,
    variant_title,
)


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


def make_figures(
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
    many = len(config.seeds) > 1
    seeds = f"seed{'s' if many else ''} {','.join(map(str, config.seeds))}"
    over = f"mean ± sd over {seeds}" if many else seeds
    made = fig.FigureSet()
    made.figures["pareto"] = fig.pareto_fronts_figure(
        scores, order, reference, f"Returned architectures of every method ({name}; {seeds})"
    )
    made.figures["hypervolume"] = fig.hypervolume_figure(
        scores, order, f"Hypervolume against search compute ({name}; {over})"
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


def attach_to_dashboard(
    config: CompareConfig, records: list[SearchRecord], figures: fig.FigureSet, table: str
) -> dict[str, Any] | None:
    """Attach the figures and the table to the first seed's IS-NAS study (journal ``out/dashboard.journal``)."""
    import optuna

    from optuna_isnas.compare.dashboard import attach_figures
    from optuna_isnas.plots import fit_dashboard_card
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
        {f"isnas-{key}": fit_dashboard_card(figure) for key, figure in figures.figures.items()},
        note=table,
    )
    opened.sync()
    return {
        "storage": record.storage,
        "study_name": record.study_name,
        "figure_ids": ids,
        "command": f"optuna-dashboard {record.storage}",
    }


def write_outputs(result: CompareResult) -> None:
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
