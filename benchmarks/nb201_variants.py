"""ISNAS ablations for ``nb201.py --variant NAME``: keyword arguments and module attributes to set.

Each entry: ``label`` (shown in the tables; must start with "ISNAS"), optional ``kwargs`` for
``ISNASSampler``, optional ``patches``, ``{"module.ATTRIBUTE": value}`` set for the study and
restored after it, and optional ``harness`` switches of the benchmark itself (``pending``: choose
the family with the completed trials of the open generation, the sampler change proposed in
docs/algorithm.md; ``unbounded_top``: the family chosen with the largest size class unbounded,
``ISNAS.select(unbounded_top=True)``, as the one-shot loop's final selection does;
``own_weighting``: each distribution learns from its own trials only, ``_ablations.py``;
``extremes``: the space's smallest and largest cell enqueued as the first two trials, an oracle
for the sampler's predicted ends).
docs/benchmarks.md quotes the runs that decided the defaults; ablations
whose code was removed (re-evaluation of archive entries, ranking by pooled means) are
reproducible at the commit that added this file, local probes (``probe8``, ``probe4``,
``probe2``) at commit acc08db.
"""

from __future__ import annotations

from typing import Any

BUDGET = "optuna_isnas.core.budget"
ARCHIVE = "optuna_isnas.core.archive"
LAMBDA4 = {"samples_per_distribution": 4}

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {"label": "ISNAS (defaults)"},
    # The recommended defaults once the sampler takes them (docs/algorithm.md).
    "proposed": {
        "label": "ISNAS (lambda 4, pending trials in the selection)",
        "kwargs": LAMBDA4,
        "harness": {"pending": 1},
    },
    "lam1": {"label": "ISNAS (lambda 1)", "kwargs": {"samples_per_distribution": 1}},
    "lam4": {"label": "ISNAS (lambda 4)", "kwargs": LAMBDA4},
    "pending": {"label": "ISNAS (pending trials in the selection)", "harness": {"pending": 1}},
    # Budget mode's violation target (default 0.5).
    "target05": {"label": "ISNAS (violation target 0.05)", "patches": {f"{BUDGET}.TARGET": 0.05}},
    "target25": {"label": "ISNAS (violation target 0.25)", "patches": {f"{BUDGET}.TARGET": 0.25}},
    "target50": {"label": "ISNAS (violation target 0.5)", "patches": {f"{BUDGET}.TARGET": 0.5}},
    "lam4_t05": {
        "label": "ISNAS (lambda 4, violation target 0.05)",
        "kwargs": LAMBDA4,
        "patches": {f"{BUDGET}.TARGET": 0.05},
    },
    "lam4_t50": {
        "label": "ISNAS (lambda 4, violation target 0.5)",
        "kwargs": LAMBDA4,
        "patches": {f"{BUDGET}.TARGET": 0.5},
    },
    "hinge_inf": {
        "label": "ISNAS (feasible first: trade-off fixed at 1e6)",
        "patches": {f"{BUDGET}.INITIAL_EPSILON": 1e6, f"{BUDGET}.RATE": 0.0},
    },
    # Pessimism of the archive's comparisons (default 1 standard error).
    "kappa2": {"label": "ISNAS (kappa 2)", "patches": {f"{ARCHIVE}.KAPPA": 2.0}},
    "kappa3": {"label": "ISNAS (kappa 3)", "patches": {f"{ARCHIVE}.KAPPA": 3.0}},
    # The two families (ISNASSampler(family=...)); hypervolume on a log10 / linear complexity axis.
    "sizes": {"label": "ISNAS (size-classes family)", "kwargs": {"family": "size-classes"}},
    "hv": {"label": "ISNAS (hypervolume family, log axis)", "kwargs": {"family": "hypervolume"}},
    "hv-lin": {
        "label": "ISNAS (hypervolume family, linear axis)",
        "kwargs": {"family": "hypervolume", "log_complexity": False},
    },
    "hv-ref": {
        "label": "ISNAS (hypervolume family, the table's reference and axis)",
        "kwargs": {"family": "hypervolume", "reference_point": "table", "axis": "table"},
    },
    # K independent ASNG runs sharing one study: what the importance-sampled update adds.
    "own": {
        "label": "ISNAS (own trials only: K independent runs)",
        "harness": {"own_weighting": 1},
    },
    # Finalists re-evaluated in the last share of the study's queries (ISNASSampler(n_trials=...)).
    "reeval05": {
        "label": "ISNAS (last 5 % of the queries re-evaluate finalists)",
        "kwargs": {"n_trials": "queries", "reevaluation_share": 0.05},
    },
    "reeval10": {
        "label": "ISNAS (last 10 % of the queries re-evaluate finalists)",
        "kwargs": {"n_trials": "queries", "reevaluation_share": 0.1},
    },
    "reeval20": {
        "label": "ISNAS (last 20 % of the queries re-evaluate finalists)",
        "kwargs": {"n_trials": "queries", "reevaluation_share": 0.2},
    },
    # Every sample evaluated, repeats too (before draws the study holds were looked up).
    "evalrepeats": {
        "label": "ISNAS (repeated draws evaluated again)",
        "kwargs": {"skip_evaluated": False},
    },
    "hv-ref-evalrepeats": {
        "label": "ISNAS (the table's reference and axis, repeated draws evaluated again)",
        "kwargs": {
            "family": "hypervolume",
            "reference_point": "table",
            "axis": "table",
            "skip_evaluated": False,
        },
    },
    "hv-ref-reeval05": {
        "label": "ISNAS (the table's reference and axis, last 5 % re-evaluate finalists)",
        "kwargs": {
            "family": "hypervolume",
            "reference_point": "table",
            "axis": "table",
            "n_trials": "queries",
            "reevaluation_share": 0.05,
        },
    },
    "reeval05-evalrepeats": {
        "label": "ISNAS (last 5 % re-evaluate finalists, repeated draws evaluated again)",
        "kwargs": {"n_trials": "queries", "reevaluation_share": 0.05, "skip_evaluated": False},
    },
    # The space's smallest and largest cells evaluated first, as known points of the front.
    "extremes": {"label": "ISNAS (smallest and largest cell first)", "harness": {"extremes": 1}},
    # The sampler's own selection with the largest size class unbounded (the search is the same).
    "topfree": {
        "label": "ISNAS (largest class unbounded in the selection)",
        "harness": {"unbounded_top": 1},
    },
}
