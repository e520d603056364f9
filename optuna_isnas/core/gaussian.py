"""Diagonal Gaussians over the numeric parameters, on the unit cube, for ASNG's joint step.

A numeric parameter (Optuna's ``FloatDistribution`` or ``IntDistribution``) is mapped by the
adapter onto ``[0, 1]`` (its log for ``log=True``); integers and stepped floats are cells of equal
width there. Each of the K distributions holds a mean ``m`` and a variance ``v = sigma**2`` per
parameter. A sample is ``m + sigma * N(0, 1)`` folded back into ``[0, 1]`` (mirrored at both
ends, as ASNG-NAS's integer variant mirrors its samples), so its density is the sum of the
Gaussian's density over the mirror images (``log_density``), which the importance weights use.

The update is the natural gradient of the expected utility in the ``(m, v)`` parameters, as for
the categorical part (ASNG-NAS, Akimoto et al. ICML 2019; IGO, Ollivier et al. JMLR 2017):
``G_m = sum_n w_n u_n (y_n - m)`` (with one distribution ``max(u_n, 0)``: the mean follows the
better samples only, as CMA-ES's does), ``G_v = sum_n w_n u_n ((y_n - m)**2 - v)``, with the folded
sample ``y`` standing for the unfolded one (they differ only for the samples that were mirrored).
Its Fisher norm is ``sum G_m**2 / v + sum G_v**2 / (2 v**2)`` (``fisher_coordinates``). The
step-size adaptation sees both parts' coordinates together (``asng.asng_steps``), but each part
moves the whole radius ``delta`` in its own Fisher norm: in one shared norm the many noisy
categorical coordinates took most of every step, and the Gaussians narrowed too slowly to learn
a rate (docs/algorithm.md section 10). A step may shrink a variance by at most a factor of 2, not
at all while the mean moves more than ``TRAVEL_LIMIT`` standard deviations, and keeps ``sigma``
in ``[sigma_min, SIGMA_MAX]``: the minimum keeps the neighbouring cells of an integer reachable
(a margin, as in CatCMA with margin, Hamano et al. 2025) and a float from freezing.

A parameter a sample did not use (a conditional parameter) is NaN in ``y``: it adds nothing to
that sample's density or to that parameter's gradient, as ``categorical.UNUSED`` does.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Initial mean and standard deviation on the unit interval: folded, N(0.5, 0.5**2) is close to
#: uniform (its density ranges over 0.986-1.014).
INITIAL_MEAN = 0.5
INITIAL_SIGMA = 0.5
#: Standard deviations above this add nothing: the folded density is then flat within 0.1 %.
SIGMA_MAX = 1.0
#: Default lower bound of sigma for a continuous parameter (1/1000 of its range).
SIGMA_MIN_CONTINUOUS = 1e-3
#: A step may divide a variance by at most this (sigma by sqrt 2). Measured on a single-objective
#: mixed toy (docs/benchmarks.md, "Mixed spaces"): 4 let sigma collapse before the mean arrived
#: (median best value 0.070 over 6 seeds, against 0.0083 with 2 and 0.010 with 1.3).
MAX_SHRINK = 2.0
#: A variance does not shrink in a step that moves its mean more than this many standard
#: deviations: the mean is still travelling, and a narrower Gaussian would stop it short (the
#: intuition of CMA-ES's step-size control: long steps mean sigma is not too large).
TRAVEL_LIMIT = 1.0
#: Mirror images summed on each side in ``log_density`` (enough for sigma <= SIGMA_MAX).
_IMAGES = 3


def sigma_min_for(cells: int) -> float:
    """Smallest sigma for a parameter of ``cells`` values (0 = continuous): a third of a cell,
    which keeps each neighbour of the mean's cell drawn at least about 0.1 % of the time."""
    if cells <= 0:
        return SIGMA_MIN_CONTINUOUS
    return min(1.0 / (3.0 * cells), INITIAL_SIGMA)


def fold(z: FloatArray) -> FloatArray:
    """Mirror values into ``[0, 1]`` (period 2: 1.2 -> 0.8, -0.3 -> 0.3)."""
    r = np.mod(z, 2.0)
    folded: FloatArray = np.where(r > 1.0, 2.0 - r, r)
    return folded


def sample(mean: FloatArray, var: FloatArray, rng: np.random.Generator) -> FloatArray:
    """One folded sample ``(N,)`` of the Gaussian ``(mean, var)``."""
    return fold(mean + np.sqrt(var) * rng.standard_normal(mean.shape))


def log_density(means: FloatArray, variances: FloatArray, y: FloatArray) -> FloatArray:
    """Log density of every folded sample under every distribution, shape ``(K, M)``.

    Args:
        means, variances: ``(K, N)``.
        y: samples ``(M, N)`` in ``[0, 1]``; NaN where a sample did not use a parameter.
    """
    k_count, m_count = means.shape[0], y.shape[0]
    if y.shape[1] == 0:
        return np.zeros((k_count, m_count))
    used = ~np.isnan(y)
    yy = np.where(used, y, 0.0)[None, :, :]  # (1, M, N)
    mu = means[:, None, :]
    sd = np.sqrt(variances)[:, None, :]
    # Every mirror image at once, in the order (yy + 2j, -yy + 2j) for j = -_IMAGES, ...,
    # then added one by one in that order (numpy's sum over the axis may pair them otherwise).
    shifts = (2.0 * np.arange(-_IMAGES, _IMAGES + 1))[:, None, None, None]
    images = np.stack((yy[None] + shifts, -yy[None] + shifts), axis=1).reshape(
        -1, 1, m_count, y.shape[1]
    )
    terms = np.exp(-0.5 * ((images - mu[None]) / sd[None]) ** 2)
    total = terms[0].copy()
    for term in terms[1:]:
        total += term
    log_pdf = np.log(np.maximum(total, 1e-300)) - np.log(sd * math.sqrt(2.0 * math.pi))
    result: FloatArray = np.where(used[None], log_pdf, 0.0).sum(axis=2)
    return result


def natural_gradient(
    y: FloatArray,
    mean: FloatArray,
    var: FloatArray,
    weights: FloatArray,
    utilities: FloatArray,
    positive_mean: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """``(G_m, G_v)``, each ``(N,)``: the weighted natural gradient of one distribution.

    ``positive_mean``: the mean's gradient takes only the positive utilities, so the mean moves
    towards the better samples and never away from the worse ones, as CMA-ES's mean does (its
    recombination weights are positive; negative weights enter only its covariance update, in
    active CMA). ``ISNAS`` sets it for plain ASNG (one distribution): pushed away from a few bad
    samples, a lone distribution's mean overshot towards the bounds, where the samples that
    would pull it back are mirrored (docs/algorithm.md section 10, "The mean follows the better
    samples"). The variance's gradient always keeps the signed utilities: bad samples close to
    the mean widen the Gaussian.

    NaN entries of ``y`` (unused parameters) contribute nothing.
    """
    signed = (weights * utilities)[:, None]
    toward = (weights * np.maximum(utilities, 0.0))[:, None] if positive_mean else signed
    used = ~np.isnan(y)
    diff = np.where(used, y - mean[None], 0.0)
    g_m: FloatArray = (toward * diff).sum(axis=0)
    g_v: FloatArray = (signed * np.where(used, diff * diff - var[None], 0.0)).sum(axis=0)
    return g_m, g_v


def fisher_coordinates(g_m: FloatArray, g_v: FloatArray, var: FloatArray) -> FloatArray:
    """The vector whose Euclidean norm is the Fisher norm of ``(G_m, G_v)``, shape ``(2N,)``."""
    return np.concatenate([g_m / np.sqrt(var), g_v / (math.sqrt(2.0) * var)])


def step(
    mean: FloatArray,
    var: FloatArray,
    g_m: FloatArray,
    g_v: FloatArray,
    scale: float,
    sigma_min: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """``(mean + scale G_m, var + scale G_v)``, the mean kept in [0, 1] and the variance
    shrunk by at most ``MAX_SHRINK``, not at all where the mean moved more than
    ``TRAVEL_LIMIT`` standard deviations, and kept within ``[sigma_min**2, SIGMA_MAX**2]``."""
    new_mean = np.clip(mean + scale * g_m, 0.0, 1.0)
    new_var = np.maximum(var + scale * g_v, var / MAX_SHRINK)
    travelling = np.abs(new_mean - mean) > TRAVEL_LIMIT * np.sqrt(var)
    new_var = np.where(travelling, np.maximum(new_var, var), new_var)
    new_var = np.clip(new_var, sigma_min**2, SIGMA_MAX**2)
    return new_mean, new_var
