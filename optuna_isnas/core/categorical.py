"""Product of independent categorical distributions over D variables.

An architecture is a vector of D choice indices; variable ``i`` has ``C_i`` choices.
Probabilities live in a ``(D, C_max)`` array ``theta`` whose row ``i`` holds the
``C_i`` probabilities of variable ``i`` followed by zero padding (ASNG-NAS, Akimoto et
al., ICML 2019, section 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def validate_n_choices(n_choices: Sequence[int]) -> IntArray:
    """Return ``n_choices`` as an int array, or raise ``ValueError`` saying what is wrong."""
    arr = np.asarray(n_choices)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"n_choices must be a non-empty 1-D sequence of choice counts, got {n_choices!r}."
        )
    if not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 1):
        raise ValueError(f"every entry of n_choices must be an integer >= 1, got {n_choices!r}.")
    return arr.astype(np.int64)


def padding_mask(n_choices: IntArray) -> NDArray[np.bool_]:
    """Boolean ``(D, C_max)`` mask that is True where a choice exists."""
    return np.arange(int(n_choices.max()))[None, :] < n_choices[:, None]


def uniform_theta(n_choices: IntArray) -> FloatArray:
    """The uniform distribution: ``1 / C_i`` on each existing choice, zero padding."""
    mask = padding_mask(n_choices)
    return np.where(mask, 1.0 / n_choices[:, None], 0.0)


def theta_min(n_choices: IntArray) -> FloatArray:
    """Per-variable lower bound of the range restriction, shape ``(D,)``.

    ASNG-NAS uses ``1 / (D' (C_i - 1))`` with ``D'`` the number of variables that have a
    choice to make. For very small spaces that bound can reach the uniform probability
    ``1 / C_i`` (for example ``D' = 2, C = 2`` gives 1/2), which would freeze the
    distribution; we cap it at half the uniform probability (a documented decision).
    Variables with a single choice get bound 1.
    """
    free = n_choices > 1
    d_free = max(int(free.sum()), 1)
    bound = np.ones(n_choices.shape, dtype=np.float64)
    c = n_choices[free].astype(np.float64)
    bound[free] = np.minimum(1.0 / (d_free * (c - 1.0)), 0.5 / c)
    return bound


def _restrict_row(row: list[float], low: float) -> list[float]:
    """Range restriction of one row (plain Python: rows are short, numpy calls are not)."""
    row = [max(v, 0.0) for v in row]
    clamped = [False] * len(row)
    for _ in range(len(row) + 1):
        for j, v in enumerate(row):
            if not clamped[j] and v < low:
                clamped[j] = True
        free_mass = 1.0 - low * sum(clamped)
        total = sum(v for v, c in zip(row, clamped) if not c)
        n_free = len(row) - sum(clamped)
        if total > 0:
            scale = free_mass / total
            row = [low if c else v * scale for v, c in zip(row, clamped)]
        else:
            even = free_mass / max(n_free, 1)
            row = [low if c else even for c in clamped]
        if all(c or v >= low for v, c in zip(row, clamped)):
            break
    return row


def restrict_range(theta: FloatArray, n_choices: IntArray, lower: FloatArray) -> FloatArray:
    """Project each row onto ``{p on the simplex : p_j >= lower_i}`` (ASNG range restriction).

    Entries below the bound are raised to it and the others are rescaled so that the row
    still sums to one, repeated until no entry is below the bound (at most ``C_i`` rounds).
    Only rows that violate a bound or do not sum to one are touched.
    """
    mask = padding_mask(n_choices)
    out = np.where(mask, theta, 0.0)
    bad = ((out < lower[:, None]) & mask).any(axis=1) | (np.abs(out.sum(axis=1) - 1.0) > 1e-12)
    for i in np.flatnonzero(bad & (n_choices > 1)):
        c = int(n_choices[i])
        out[i, :c] = _restrict_row(out[i, :c].tolist(), float(lower[i]))
    out[n_choices == 1, 0] = 1.0
    return out


def sample(theta: FloatArray, n_choices: IntArray, rng: np.random.Generator, n: int) -> IntArray:
    """Draw ``n`` architectures, shape ``(n, D)``, by inverse-CDF sampling per variable."""
    cdf = np.cumsum(theta, axis=1)
    cdf[:, -1] = 1.0  # guard against rounding below one
    u = rng.random((n, theta.shape[0]))
    idx = (u[:, :, None] >= cdf[None, :, :]).sum(axis=2)
    result: IntArray = np.minimum(idx, n_choices[None, :] - 1).astype(np.int64)
    return result


#: Choice index of a variable an evaluation did not use (a conditional parameter the
#: objective skipped): it carries no information about that variable.
UNUSED = -1


def one_hot(x: IntArray, n_choices: IntArray) -> FloatArray:
    """One-hot encode ``(n, D)`` choice indices to ``(n, D, C_max)``; an ``UNUSED`` variable's
    row is all zeros."""
    x = np.atleast_2d(x)
    out = np.zeros((x.shape[0], x.shape[1], int(n_choices.max())), dtype=np.float64)
    np.put_along_axis(out, np.maximum(x, 0)[:, :, None], 1.0, axis=2)
    if np.any(x < 0):
        out[x < 0] = 0.0
    return out


def log_prob(theta: FloatArray, x: IntArray) -> FloatArray:
    """Log-likelihood ``sum_i log theta_{i, x_i}`` of each row of ``x``.

    ``theta`` may carry leading batch dimensions (e.g. ``(K, D, C_max)`` for K
    distributions); the result then has shape ``(K, n)``, else ``(n,)``. ``UNUSED``
    variables are left out of the sum: the likelihood of the choices made, marginal over
    the others.
    """
    x = np.atleast_2d(x)
    unused = x < 0
    picked = theta[..., np.arange(theta.shape[-2])[None, :], np.maximum(x, 0)]
    if unused.any():
        picked = np.where(unused, 1.0, picked)
    with np.errstate(divide="ignore"):
        result: FloatArray = np.log(picked).sum(axis=-1)
        return result


def mode(theta: FloatArray) -> IntArray:
    """Most likely architecture: ``argmax_j theta_ij`` per variable (first on ties)."""
    result: IntArray = np.argmax(theta, axis=1).astype(np.int64)
    return result


def entropy(theta: FloatArray) -> float:
    """Entropy (nats) of the product distribution: the sum of the row entropies."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(theta > 0, -theta * np.log(theta), 0.0)
    return float(terms.sum())


def centred_on(theta: FloatArray, n_choices: IntArray, x: IntArray) -> FloatArray:
    """``theta`` moved halfway from the uniform distribution to ``x``: each variable that ``x``
    uses gives ``(1 + 1/C) / 2`` to its choice in ``x`` and ``1 / (2 C)`` to each other one, at
    least ASNG's floor (``theta_min`` is at most ``1 / (2 C)``); a variable ``x`` does not use
    (``UNUSED``) keeps its row."""
    out = theta.copy()
    for i, c in enumerate(n_choices.tolist()):
        if c <= 1 or x[i] < 0:
            continue
        out[i, :c] = 0.5 / c
        out[i, int(x[i])] += 0.5
    return out
