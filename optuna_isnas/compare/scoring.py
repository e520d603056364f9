"""Scores of a comparison: hypervolume of each method's returned set, per seed and over seeds.

A method's score in one seed is the hypervolume of the points (validation error, parameters) of
the architectures it returns, each scored on the whole validation split with the shared weights
it was trained with, against one fixed reference point for all methods and seeds:
``(reference_error, reference_params)``, by default error 1.0 (100 %) and 1.1 times the
parameters of the largest child of the space. The parameter axis is either linear (divided by
the reference's parameters) or log (``log10(params)`` mapped linearly from the smallest child of
the space at 0 to the reference at 1), so a hypervolume lies in ``[0, reference_error]``.

Score (a) is the hypervolume of a method's *family*, what a user deploys: its returned set when
that has at most K distinct architectures, else the best K of it by validation hypervolume (cut on
the column's axis). Score (b) is the same family retrained from scratch, on the test split.

The K separate searches of one seed form one entry: the union of their K architectures, their
compute added up.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from optuna_isnas.compare.records import Scored, SearchRecord, Variant
from optuna_isnas.core.hypervolume import best_subset, hypervolume, log_points

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


class Axis(StrEnum):
    """The parameter axis of a hypervolume: linear (params / reference params) or log (see
    Reference)."""

    LINEAR = "linear"
    LOG = "log"


AXES = tuple(Axis)


@dataclass(frozen=True)
class Reference:
    """The hypervolume's reference point, and the origin of the log parameter axis.

    Linear axis: ``params / self.params``. Log axis: ``log10(params)`` mapped linearly from
    ``log10(self.smallest)`` (the smallest child of the space) = 0 to ``log10(self.params)`` = 1.
    The error axis is the same for both; either hypervolume lies in ``[0, self.error]``.
    """

    error: float
    params: float
    smallest: float

    def points(self, entries: Sequence[Scored], axis: Axis = Axis.LINEAR) -> np.ndarray:
        """``(error, parameter axis)`` of the entries (all must have a finite error)."""
        raw = [(e.error, float(e.params)) for e in entries]
        if Axis(axis) is Axis.LOG:
            return log_points(raw, self.smallest, self.params)
        return np.asarray([(e, p / self.params) for e, p in raw], dtype=float).reshape(-1, 2)

    def hypervolume(self, entries: Sequence[Scored], axis: Axis = Axis.LINEAR) -> float:
        usable = [e for e in entries if math.isfinite(e.error)]
        return hypervolume(self.points(usable, axis), (self.error, 1.0))

    def best_k(self, entries: Sequence[Scored], k: int, axis: Axis = Axis.LINEAR) -> list[Scored]:
        """The at most ``k`` entries of largest hypervolume on ``axis`` (what a user keeping K
        models would keep), largest first."""
        usable = [e for e in entries if math.isfinite(e.error)]
        if not usable:
            return []
        chosen = best_subset(self.points(usable, axis), k, (self.error, 1.0))
        return sorted((usable[i] for i in chosen), key=lambda e: -e.params)

    def family(self, entries: Sequence[Scored], k: int, axis: Axis = Axis.LINEAR) -> list[Scored]:
        """What a user deploys from a returned set: all of it (distinct architectures) when it
        has at most ``k``, else its best ``k`` by hypervolume on ``axis``. One rule for every
        method; the family's hypervolume equals :meth:`best_k`'s."""
        distinct = _distinct(e for e in entries if math.isfinite(e.error))
        if len(distinct) <= k:
            return distinct
        return self.best_k(distinct, k, axis)


def architecture_key(entry: Scored) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(entry.architecture.items()))


def _distinct(entries: Iterable[Scored]) -> list[Scored]:
    """The first entry of each architecture, in order."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    found = []
    for e in entries:
        if architecture_key(e) not in seen:
            seen.add(architecture_key(e))
            found.append(e)
    return found


@dataclass
class SeedScore:
    """One variant in one seed (the K separate searches merged).

    ``hv``/``hv_log``: the whole returned set on the validation split; ``hv_best_k`` and
    ``hv_best_k_log``: its family (score (a)); ``test_hv``/``test_hv_log``: the family retrained
    and tested (score (b), None for seeds not retrained); ``retrained``: every retrained entry.
    """

    variant: str
    seed: int
    returned: list[Scored]
    passes: int
    wall_s: float
    hv: float
    hv_best_k: float
    hv_log: float = math.nan
    hv_best_k_log: float = math.nan
    trace: list[tuple[int, float]] = field(default_factory=list)  # (passes, hv)
    test_hv: float | None = None
    test_hv_log: float | None = None
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
        hv_best_k=reference.hypervolume(reference.family(returned, k)),
        hv_log=reference.hypervolume(returned, Axis.LOG),
        hv_best_k_log=reference.hypervolume(reference.family(returned, k, Axis.LOG), Axis.LOG),
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
    """One variant over seeds: (mean, sd) of each score.

    ``hv_best_k``/``hv_best_k_log`` are score (a) (the family on the validation split, linear and
    log parameter axis), ``test_hv``/``test_hv_log`` score (b) (the family retrained, test split),
    ``hv`` the whole returned set (linear).
    """

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
    hv_log: tuple[float, float] = (math.nan, math.nan)
    hv_best_k_log: tuple[float, float] = (math.nan, math.nan)
    test_hv_log: tuple[float, float] | None = None


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


SCORE_KEYS: dict[str, str] = {
    "hv_best_k": "(a) linear",
    "hv_best_k_log": "(a) log",
    "test_hv": "(b) linear",
    "test_hv_log": "(b) log",
    "hv": "all returned (a, linear)",
}
"""The per-seed scores the paired differences compare, with their column titles."""


def summary_rows(scores: dict[str, list[SeedScore]], order: Sequence[str]) -> list[SummaryRow]:
    """One row per variant: mean and sd over seeds of hypervolume, compute and wall time."""
    rows = []
    for variant in order:
        seeds = scores.get(variant)
        if not seeds:
            continue
        tested = [s for s in seeds if s.test_hv is not None]
        tests_log = [s.test_hv_log for s in tested if s.test_hv_log is not None]
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
                test_hv=mean_sd([s.test_hv for s in tested if s.test_hv is not None])
                if tested
                else None,
                test_seeds=[s.seed for s in tested],
                hv_log=mean_sd([s.hv_log for s in seeds]),
                hv_best_k_log=mean_sd([s.hv_best_k_log for s in seeds]),
                test_hv_log=mean_sd(tests_log) if tests_log else None,
            )
        )
    return rows


def paired_differences(
    scores: dict[str, list[SeedScore]], first: str, second: str, key: str = "hv"
) -> PairedComparison | None:
    """``first - second`` per seed where both have the score ``key`` (a retrained score exists
    only for the retrained seeds): mean, sd, wins of ``first``, and the compute ratio."""
    a = {s.seed: s for s in scores.get(first, []) if _value(s, key) is not None}
    b = {s.seed: s for s in scores.get(second, []) if _value(s, key) is not None}
    common = sorted(set(a) & set(b))
    if not common:
        return None
    diffs = [float(_value(a[s], key) or 0.0) - float(_value(b[s], key) or 0.0) for s in common]
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


def _value(score: SeedScore, key: str) -> float | None:
    value = getattr(score, key)
    return None if value is None or math.isnan(value) else float(value)


def format_summary(
    rows: list[SummaryRow],
    reference: Reference,
    comparisons: list[PairedComparison],
    k: int | None = None,
    isnas_family: str | None = None,
) -> str:
    """A markdown table of the rows and a table of paired comparisons (IS-NAS minus the others)."""
    family = f"at most {k}" if k is not None else "at most K"
    tested = sorted({seed for r in rows for seed in r.test_seeds})
    lines = [
        f"Hypervolume (HV) of (error, parameters) against the reference point (error "
        f"{reference.error:g}, params {reference.params:,.0f}); {_over_seeds(rows)}. "
        f"Parameter axis linear: params / {reference.params:,.0f}; log: log10(params) mapped "
        f"linearly from log10({reference.smallest:,.0f}) (the smallest child) = 0 to "
        f"log10({reference.params:,.0f}) = 1. Family: each method's returned set, {family} "
        "distinct models (a larger set cut to its best by validation HV on the column's axis).",
        "(a) the family on the whole validation split with the shared weights; (b) the family "
        "retrained from scratch, on the test split"
        + (
            f" (seed{'s' if len(tested) > 1 else ''} {','.join(map(str, tested))})."
            if tested
            else " (not run: --retrain-epochs)."
        ),
    ]
    if isnas_family == "size-classes":
        lines.append("IS-NAS runs K size classes (budgets placed from observed sizes).")
    elif isnas_family == "hypervolume":
        lines.append(
            "IS-NAS runs its default family: the K evaluated models of largest hypervolume."
        )
    lines += [
        "",
        "| method | seeds | (a) val HV, linear | (a) val HV, log | (b) test HV, linear | "
        "(b) test HV, log | val HV, all returned | returned | min val error | smallest params | "
        "compute (passes) | wall (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        n = len(r.seeds)
        lines.append(
            f"| {r.title} | {n} | {_pm(r.hv_best_k, 4, n)} | {_pm(r.hv_best_k_log, 4, n)} | "
            f"{_test(r.test_hv, r, tested)} | {_test(r.test_hv_log, r, tested)} | "
            f"{_pm(r.hv, 4, n)} | {_pm(r.n_returned, 1, n)} | {_pm(r.min_error, 4, n)} | "
            f"{_pm(r.min_params, 0, n)} | {r.passes[0]:,.0f} | {_pm(r.wall_s, 0, n)} |"
        )
    pairs = _by_pair(comparisons)
    if pairs:
        keys = [key for key in SCORE_KEYS if any(c.key == key for c in comparisons)]
        lines += [
            "",
            "Paired by seed, first minus second: "
            + (
                "the difference (one seed, so no sd; first better in n/m seeds)."
                if all(len(c.seeds) < 2 for c in comparisons)
                else "mean ± sd of the difference (first better in n/m seeds)."
            ),
            "",
            "| pair | compute ratio | " + " | ".join(SCORE_KEYS[key] for key in keys) + " |",
            "| --- | --- | " + " | ".join("---" for _ in keys) + " |",
        ]
        for pair in pairs:
            by_key = {c.key: c for c in pair}
            cells = [_paired_cell(by_key.get(key)) for key in keys]
            lines.append(
                f"| {variant_title(pair[0].first)} vs {variant_title(pair[0].second)} | "
                f"{pair[0].compute_ratio:.2f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def _test(value: tuple[float, float] | None, row: SummaryRow, tested: list[int]) -> str:
    """A retrained score; its seeds are named where they are not the header's."""
    if value is None:
        return "-"
    n = len(row.test_seeds)
    if row.test_seeds == tested:
        return _pm(value, 4, n)
    return f"{_pm(value, 4, n)} (seed{'s' if n > 1 else ''} {','.join(map(str, row.test_seeds))})"


def _by_pair(comparisons: list[PairedComparison]) -> list[list[PairedComparison]]:
    """The comparisons grouped by (first, second), in their order (one row per pair)."""
    pairs: dict[tuple[str, str], list[PairedComparison]] = {}
    for c in comparisons:
        pairs.setdefault((c.first, c.second), []).append(c)
    return list(pairs.values())


def _paired_cell(c: PairedComparison | None) -> str:
    if c is None:
        return "-"
    if len(c.seeds) < 2:
        return f"{c.mean:+.4f} ({c.wins}/{len(c.seeds)})"
    return f"{c.mean:+.4f} ± {c.sd:.4f} ({c.wins}/{len(c.seeds)})"


def _over_seeds(rows: Sequence[SummaryRow]) -> str:
    """How the table's cells summarise seeds: with ± sd only where a row has several."""
    counts = {len(r.seeds) for r in rows}
    if counts and max(counts) < 2:
        return "one seed: each cell is its value, with no sd"
    if counts and min(counts) < 2:
        return "mean ± sd over seeds (a method run with one seed: its value, no sd)"
    return "mean ± sd over seeds"


def _pm(value: tuple[float, float], digits: int, n: int = 2) -> str:
    """``mean ± sd`` of ``n`` values; the value alone for one (its sd says nothing)."""
    mean, sd = value
    if math.isnan(mean):
        return "-"
    if digits == 0:
        return f"{mean:,.0f}" + (f" ± {sd:,.0f}" if n > 1 else "")
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if n > 1 else "")
