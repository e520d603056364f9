"""Seeded, stratified selection of samples.

Everything here works on positions into a label array, so that only the selected images are
ever copied. One primitive, :func:`stratified_take`, serves the train/val/test split and the
optional size limits alike; :func:`split_positions` is the train/val/test split built on it.
"""

from __future__ import annotations

import math

import numpy as np


def stratified_take(
    labels: np.ndarray, positions: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Chooses exactly ``k`` of ``positions`` at random, stratified by ``labels[positions]``.

    Class ``c`` with ``n_c`` of the ``n`` candidates gets ``floor(k * n_c / n)`` places; the
    places left over go to the classes with the largest fractional parts (ties broken at
    random), so every class is represented within one sample of its exact share and the total
    is exactly ``k``. Within a class the members are chosen uniformly at random.

    Returns:
        ``(taken, rest)``: two sorted position arrays that partition ``positions``.
    """
    positions = np.asarray(positions, dtype=np.int64)
    n = len(positions)
    if not 0 <= k <= n:
        raise ValueError(f"cannot take {k} of {n} samples")
    if k == 0:
        return np.empty(0, dtype=np.int64), np.sort(positions)
    classes, inverse, counts = np.unique(labels[positions], return_inverse=True, return_counts=True)
    exact = k * counts / n
    quota = np.floor(exact).astype(np.int64)
    leftover = k - int(quota.sum())
    if leftover:
        # Largest fractional part first; random order among equal ones.
        order = np.lexsort((rng.random(len(classes)), -(exact - quota)))
        quota[order[:leftover]] += 1
    by_class = np.split(positions[np.argsort(inverse, kind="stable")], np.cumsum(counts)[:-1])
    chosen = np.sort(
        np.concatenate([rng.permutation(members)[:q] for members, q in zip(by_class, quota)])
    )
    rest = np.setdiff1d(positions, chosen, assume_unique=True)
    return chosen, rest


def fraction_count(fraction: float, n: int) -> int:
    """``fraction * n`` rounded half up: the size of a split."""
    return math.floor(fraction * n + 0.5)


def limit(
    labels: np.ndarray, positions: np.ndarray, max_samples: int | None, rng: np.random.Generator
) -> np.ndarray:
    """A seeded stratified subset of at most ``max_samples`` of ``positions`` (all if None)."""
    if max_samples is None or max_samples >= len(positions):
        return positions
    return stratified_take(labels, positions, max_samples, rng)[0]


def split_positions(
    y: np.ndarray,
    y_test: np.ndarray | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    max_train_samples: int | None,
    max_eval_samples: int | None,
) -> dict[str, np.ndarray]:
    """The seeded, stratified train/val/test positions (see ``docs/datasets.md``)."""
    rng = np.random.default_rng(seed)
    everything = np.arange(len(y))
    if y_test is None:
        test_idx, rest = stratified_take(
            y, everything, fraction_count(test_fraction, len(everything)), rng
        )
        test_labels = y
    else:
        test_idx, rest = np.arange(len(y_test)), everything
        test_labels = y_test
    val_idx, train_idx = stratified_take(
        y, rest, fraction_count(val_fraction, len(everything)), rng
    )
    train_idx = limit(y, train_idx, max_train_samples, rng)
    val_idx = limit(y, val_idx, max_eval_samples, rng)
    test_idx = limit(test_labels, test_idx, max_eval_samples, rng)
    return {"train": train_idx, "val": val_idx, "test": test_idx}
