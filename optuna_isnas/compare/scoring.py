"""Scores of a comparison: hypervolume of each method's returned set, per seed and over seeds.

A method's score in one seed is the hypervolume of the points (validation error, parameters) of
the architectures it returns, each scored on the whole validation split with the shared weights
it was trained with, against one fixed reference point for all methods and seeds:
``(reference_error, reference_params)``, by default error 1.0 (100 %) and 1.1 times the
parameters of the largest child of the space. The parameter axis is divided by the reference's
parameters, so a hypervolume lies in ``[0, reference_error]``.

The K separate searches of one seed form one entry: the union of their K architectures, their
compute added up.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from optuna_isnas.compare.hypervolume import best_subset, hypervolume
from optuna_isnas.compare.records import Scored, SearchRecord, Variant

METHOD_TITLES = {
    "isnas": "IS-NAS (one search, K dists)",
    "separate": "K separate ASNG searches",
    "nsgaii": "NSGA-II",
    "tpe": "TPE",
    "random": "Random",
}


def variant_title(variant: str) -> str:
    parsed = Variant.parse(variant)
    return f"{METHOD_TITLES.get(parsed.method, parsed.method)} @ {parsed.multiplier:g}x"


@dataclass(frozen=True)
class Reference:
    """The hypervolume's reference point."""

    error: float
    params: float

    def normalise(self, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(e, p / self.params) for e, p in points]

    def hypervolume(self, entries: Sequence[Scored]) -> float:
        points = self.normalise([(e.error, e.params) for e in entries if math.isfinite(e.error)])
        return hypervolume(points, (self.error, 1.0))

    def best_k(self, entries: Sequence[Scored], k: int) -> list[Scored]:
        """The at most ``k`` entries of largest hypervolume (what a user keeping K models would keep)."""
        usable = [e for e in entries if math.isfinite(e.error)]
        if not usable:
            return []
        chosen = best_subset(
            self.normalise([(e.error, e.params) for e in usable]), k, (self.error, 1.0)
        )
        return sorted((usable[i] for i in chosen), key=lambda e: -e.params)


@dataclass
class SeedScore:
    """One variant in one seed (the K separate searches merged)."""

    variant: str
    seed: int
    returned: list[Scored]
    passes: int
    wall_s: float
    hv: float
    hv_best_k: float
    trace: list[tuple[int, float]] = field(default_factory=list)  # (passes, hv)
    test_hv: float | None = None
    retrained: list[Scored] | None = None


def merge_seed(
    variant: str, seed: int, records: list[SearchRecord], reference: Reference, k: int
) -> SeedScore:
    """Score one variant's records of one seed (one record, or K for the separate searches)."""
    records = sorted(records, key=lambda r: r.job.k or 0)
    returned = [dataclasses.replace(e, search=r.label) for r in records for e in r.returned]
    n_points = min(len(r.trace) for r in records)
    trace = []
    for i in range(n_points):
        points = [r.trace[i] for r in records]
        if any(p.returned is None for p in points):
            continue  # a sampler had nothing to return yet
        entries = [e for p in points for e in p.returned or ()]
        trace.append((sum(p.passes for p in points), reference.hypervolume(entries)))
    return SeedScore(
        variant=variant,
        seed=seed,
        returned=returned,
        passes=sum(r.passes.total for r in records),
        wall_s=sum(r.wall_s for r in records),
        hv=reference.hypervolume(returned),
        hv_best_k=reference.hypervolume(reference.best_k(returned, k)),
        trace=trace,
    )


def score_all(
    records: list[SearchRecord], reference: Reference, k: int
) -> dict[str, list[SeedScore]]:
    """Variant -> its per-seed scores, seeds ascending."""
    groups: dict[tuple[str, int], list[SearchRecord]] = defaultdict(list)
    for r in records:
        groups[(r.variant, r.job.seed)].append(r)
    scores: dict[str, list[SeedScore]] = defaultdict(list)
    for (variant, seed), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1])):
        scores[variant].append(merge_seed(variant, seed, group, reference, k))
    return dict(scores)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class SummaryRow:
    """One variant over seeds: (mean, sd) of each score."""

    variant: str
    title: str
    seeds: list[int]
    hv: tuple[float, float]
    hv_best_k: tuple[float, float]
    passes: tuple[float, float]
    wall_s: tuple[float, float]
    n_returned: tuple[float, float]
    min_error: tuple[float, float]
    min_params: tuple[float, float]
    test_hv: tuple[float, float] | None
    test_seeds: list[int]


@dataclass
class PairedComparison:
    """``first - second`` per common seed: mean, sd, wins of ``first``, and the compute ratio."""

    first: str
    second: str
    key: str
    seeds: list[int]
    mean: float
    sd: float
    wins: int
    ties: int
    compute_ratio: float


def summary_rows(scores: dict[str, list[SeedScore]], order: Sequence[str]) -> list[SummaryRow]:
    """One row per variant: mean and sd over seeds of hypervolume, compute and wall time."""
    rows = []
    for variant in order:
        seeds = scores.get(variant)
        if not seeds:
            continue
        tests = [s.test_hv for s in seeds if s.test_hv is not None]
        rows.append(
            SummaryRow(
                variant=variant,
                title=variant_title(variant),
                seeds=[s.seed for s in seeds],
                hv=mean_sd([s.hv for s in seeds]),
                hv_best_k=mean_sd([s.hv_best_k for s in seeds]),
                passes=mean_sd([s.passes for s in seeds]),
                wall_s=mean_sd([s.wall_s for s in seeds]),
                n_returned=mean_sd([len(s.returned) for s in seeds]),
                min_error=mean_sd(
                    [min(e.error for e in s.returned) if s.returned else math.nan for s in seeds]
                ),
                min_params=mean_sd(
                    [min(e.params for e in s.returned) if s.returned else math.nan for s in seeds]
                ),
                test_hv=mean_sd(tests) if tests else None,
                test_seeds=[s.seed for s in seeds if s.test_hv is not None],
            )
        )
    return rows


def paired_differences(
    scores: dict[str, list[SeedScore]], first: str, second: str, key: str = "hv"
) -> PairedComparison | None:
    """``first - second`` per common seed: mean, sd, wins of ``first``, and the compute ratio."""
    a = {s.seed: s for s in scores.get(first, [])}
    b = {s.seed: s for s in scores.get(second, [])}
    common = sorted(set(a) & set(b))
    if not common:
        return None
    diffs = [getattr(a[s], key) - getattr(b[s], key) for s in common]
    mean, sd = mean_sd(diffs)
    return PairedComparison(
        first=first,
        second=second,
        key=key,
        seeds=common,
        mean=mean,
        sd=sd,
        wins=sum(d > 0 for d in diffs),
        ties=sum(d == 0 for d in diffs),
        compute_ratio=statistics.fmean(a[s].passes / b[s].passes for s in common),
    )


def format_summary(
    rows: list[SummaryRow], reference: Reference, comparisons: list[PairedComparison]
) -> str:
    """A markdown table of the rows and a list of paired comparisons."""
    lines = [
        f"Hypervolume of (validation error, params / {reference.params:,.0f}) against the reference point "
        f"(error {reference.error:g}, params {reference.params:,.0f}); mean ± sd over seeds.",
        "",
        "| method | seeds | HV (returned set) | HV (best K of it) | test HV (retrained) | returned | "
        "min val error | smallest params | compute (passes) | wall (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if r.test_hv is None:
            test = "-"
        elif len(r.test_seeds) == 1:
            test = f"{r.test_hv[0]:.4f} (seed {r.test_seeds[0]})"
        else:
            test = f"{_pm(r.test_hv, 4)} (seeds {','.join(map(str, r.test_seeds))})"
        lines.append(
            f"| {r.title} | {len(r.seeds)} | {_pm(r.hv, 4)} | {_pm(r.hv_best_k, 4)} | {test} | "
            f"{_pm(r.n_returned, 1)} | {_pm(r.min_error, 4)} | {_pm(r.min_params, 0)} | "
            f"{r.passes[0]:,.0f} | {_pm(r.wall_s, 0)} |"
        )
    if comparisons:
        lines += ["", "Paired by seed (first minus second):", ""]
        lines += [_paired_line(pair) for pair in _by_pair(comparisons)]
    return "\n".join(lines)


def _by_pair(comparisons: list[PairedComparison]) -> list[list[PairedComparison]]:
    """The comparisons grouped by (first, second), in their order (one line per pair)."""
    pairs: dict[tuple[str, str], list[PairedComparison]] = {}
    for c in comparisons:
        pairs.setdefault((c.first, c.second), []).append(c)
    return list(pairs.values())


def _paired_line(pair: list[PairedComparison]) -> str:
    """One pair's line: the HV difference, and the best-K one only where it differs."""
    main = next((c for c in pair if c.key == "hv"), pair[0])
    text = (
        f"- {variant_title(main.first)} vs {variant_title(main.second)}: {main.key} difference "
        f"{main.mean:+.4f} ± {main.sd:.4f}, first better in {main.wins}/{len(main.seeds)} seeds"
    )
    for c in pair:
        if c is not main and (f"{c.mean:+.4f} ± {c.sd:.4f}", c.wins) != (
            f"{main.mean:+.4f} ± {main.sd:.4f}",
            main.wins,
        ):
            text += f" ({c.key}: {c.mean:+.4f} ± {c.sd:.4f}, better in {c.wins}/{len(c.seeds)})"
    return text + f", compute ratio {main.compute_ratio:.2f}"


def _pm(value: tuple[float, float], digits: int) -> str:
    mean, sd = value
    if math.isnan(mean):
        return "-"
    if digits == 0:
        return f"{mean:,.0f} ± {sd:,.0f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
