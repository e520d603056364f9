"""ISNAS ablations for ``nb201.py --variant NAME``: keyword arguments and module attributes to set.

Each entry: ``label`` (shown in the tables; must start with "ISNAS"), optional ``kwargs`` for
``ISNASSampler`` and optional ``patches``, ``{"module.ATTRIBUTE": value}`` set for the study and
restored after it. docs/benchmarks.md quotes the runs that decided the defaults.
"""

from __future__ import annotations

from typing import Any

BUDGET = "optuna_isnas.core.budget"

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {"label": "ISNAS (defaults)"},
    "target25": {"label": "ISNAS (violation target 0.25)", "patches": {f"{BUDGET}.TARGET": 0.25}},
    "target50": {"label": "ISNAS (violation target 0.5)", "patches": {f"{BUDGET}.TARGET": 0.5}},
    "lam1": {"label": "ISNAS (lambda 1)", "kwargs": {"samples_per_distribution": 1}},
    "lam4": {"label": "ISNAS (lambda 4)", "kwargs": {"samples_per_distribution": 4}},
}
VARIANTS.update(
    {
        "reeval": {"label": "ISNAS (re-evaluate 1 per generation)", "harness": {"reevaluate": 1}},
        "hinge_inf": {
            "label": "ISNAS (feasible first)",
            "patches": {f"{BUDGET}.INITIAL_EPSILON": 1e6, f"{BUDGET}.RATE": 0.0},
        },
    }
)
VARIANTS.update(
    {
        "lam4_t50": {
            "label": "ISNAS (lambda 4, violation target 0.5)",
            "kwargs": {"samples_per_distribution": 4},
            "patches": {f"{BUDGET}.TARGET": 0.5},
        },
        "reeval_lam4": {
            "label": "ISNAS (lambda 4, re-evaluate 1 per generation)",
            "kwargs": {"samples_per_distribution": 4},
            "harness": {"reevaluate": 1},
        },
        "reeval_lam4_t50": {
            "label": "ISNAS (lambda 4, violation target 0.5, re-evaluate 1 per generation)",
            "kwargs": {"samples_per_distribution": 4},
            "patches": {f"{BUDGET}.TARGET": 0.5},
            "harness": {"reevaluate": 1},
        },
    }
)
ARCHIVE = "optuna_isnas.core.archive"
VARIANTS.update(
    {
        "depth": {
            "label": "ISNAS (lambda 4, target 0.5, depth archive)",
            "kwargs": {"samples_per_distribution": 4},
            "patches": {f"{BUDGET}.TARGET": 0.5},
        },
    }
)
for _name in ("depth",):
    VARIANTS[_name + "_pend"] = {
        **VARIANTS[_name],
        "label": VARIANTS[_name]["label"][:-1] + ", pending)",
        "harness": {"pending": 1},
    }
VARIANTS["lam4_t50_pend"] = {
    **VARIANTS["lam4_t50"],
    "label": "ISNAS (lambda 4, violation target 0.5, pending)",
    "harness": {"pending": 1},
}
VARIANTS.update(
    {
        "t50_depth_pend": {
            "label": "ISNAS (target 0.5, depth archive, pending)",
            "patches": {f"{BUDGET}.TARGET": 0.5},
            "harness": {"pending": 1},
        },
    }
)
VARIANTS.update(
    {
        "reeval_t50": {
            "label": "ISNAS (target 0.5, re-evaluate 1 per generation)",
            "patches": {f"{BUDGET}.TARGET": 0.5},
            "harness": {"reevaluate": 1},
        },
    }
)
VARIANTS.update(
    {
        "lam4_t50_pend2": {
            "label": "ISNAS (lambda 4, target 0.5, depth archive, pending)",
            "kwargs": {"samples_per_distribution": 4},
            "patches": {f"{BUDGET}.TARGET": 0.5},
            "harness": {"pending": 1},
        },
    }
)
ISNAS_MOD = "optuna_isnas.core.isnas"
VARIANTS.update(
    {
        "pooled": {
            "label": "ISNAS (rank by pooled means)",
            "patches": {f"{ISNAS_MOD}.RANK_POOLED": True},
        },
        "pooled_t50": {
            "label": "ISNAS (target 0.5, rank by pooled means)",
            "patches": {f"{ISNAS_MOD}.RANK_POOLED": True, f"{BUDGET}.TARGET": 0.5},
        },
        "pooled_lam4_t50": {
            "label": "ISNAS (lambda 4, target 0.5, rank by pooled means)",
            "kwargs": {"samples_per_distribution": 4},
            "patches": {f"{ISNAS_MOD}.RANK_POOLED": True, f"{BUDGET}.TARGET": 0.5},
        },
    }
)
VARIANTS.update(
    {
        "kappa2": {"label": "ISNAS (kappa 2)", "patches": {f"{ARCHIVE}.KAPPA": 2.0}},
        "kappa3": {"label": "ISNAS (kappa 3)", "patches": {f"{ARCHIVE}.KAPPA": 3.0}},
    }
)
