"""ASNG: the adaptive stochastic natural-gradient step for one categorical distribution.

Implements steps 3-7 of ASNG-NAS (Akimoto, Shirakawa, Yoshinari, Uchida, Saito, Nishida;
"Adaptive Stochastic Natural Gradient Method for One-Shot Neural Architecture Search",
ICML 2019): natural gradient in expectation parameters, a trust-region step normalised
by the Fisher norm, range restriction, and step-size adaptation from the signal-to-noise
ratio of successive gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from optuna_isnas.core.categorical import restrict_range

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Gradients whose Fisher norm is below this are treated as zero (step skipped).
ZERO_GRADIENT = 1e-12


@dataclass
class StepSizeState:
    """Adaptive step-size state of one distribution (ASNG-NAS, Algorithm 1).

    Attributes:
        init_delta: ``delta_0``; the step is ``delta = delta_0 / Delta``.
        alpha: threshold on the accumulated squared gradient norm (default 1.5).
        Delta: ``Delta``; shrinks (bigger steps) while successive gradients agree.
        gamma: normaliser of the accumulated gradient ``s``.
        s: accumulated Fisher-normalised gradient, length ``N = sum_i (C_i - 1)``.
    """

    init_delta: float
    alpha: float
    Delta: float = 1.0
    gamma: float = 0.0
    s: FloatArray = field(default_factory=lambda: np.zeros(0))

    @property
    def delta(self) -> float:
        """Current trust-region radius ``delta_0 / Delta``."""
        return self.init_delta / self.Delta


def natural_gradient(
    x_onehot: FloatArray,
    theta: FloatArray,
    weights: FloatArray,
    utilities: FloatArray,
    used: NDArray[np.bool_] | None = None,
) -> FloatArray:
    """``G = sum_n weights_n * utilities_n * (x_n - theta)``, shape ``(D, C_max)``.

    With ``weights = 1/lambda`` this is ASNG's estimate; with normalised importance
    weights it is the importance-sampled estimate of the multi-distribution method.
    ``used`` ``(n, D)``: False where sample n did not use variable i (a skipped conditional
    parameter); its term for that variable is 0, as if ``x_ni`` were its expectation theta_i.
    """
    coef = weights * utilities
    diff = x_onehot - theta[None]
    if used is not None:
        diff = diff * used[:, :, None]
    return np.tensordot(coef, diff, axes=(0, 0))


def fisher_coordinates(grad: FloatArray, theta: FloatArray, n_choices: IntArray) -> FloatArray:
    """The vector whose Euclidean norm is the Fisher norm of ``grad`` at ``theta``.

    For variable ``i`` with ``C`` choices, using its first ``C - 1`` coordinates:
    ``s_i = G_i / sqrt(theta_i) + sqrt(theta_i) * sum_j G_ij / (theta_iC + sqrt(theta_iC))``.
    Variables with one choice contribute nothing. Returned in variable-major order;
    leading batch dimensions of ``grad`` and ``theta`` (e.g. K distributions) are kept.
    """
    rows = np.arange(n_choices.size)
    head = np.arange(theta.shape[-1])[None, :] < (n_choices - 1)[:, None]
    last = theta[..., rows, n_choices - 1]
    g_head = np.where(head, grad, 0.0)
    safe_theta = np.where(head, theta, 1.0)
    root = np.sqrt(safe_theta)
    coef = g_head.sum(axis=-1) / (last + np.sqrt(last))
    s = g_head / root + root * coef[..., None]
    result: FloatArray = s[..., head]
    return result


def asng_steps(
    thetas: FloatArray,
    grads: FloatArray,
    n_choices: IntArray,
    lower: FloatArray,
    states: list[StepSizeState],
    extra: FloatArray | None = None,
) -> tuple[FloatArray, list[float]]:
    """One ASNG step for each of several distributions (same space), states updated in place.

    Each distribution's arithmetic is exactly that of a single step; batching only shares
    the numpy calls (the range restriction runs once over all rows).

    Args:
        thetas: current probabilities ``(K, D, C_max)``.
        grads: natural-gradient estimates ``(K, D, C_max)`` (rows sum to zero).
        n_choices: choices per variable ``(D,)``.
        lower: range-restriction bound per variable ``(D,)``.
        states: the K step-size states.
        extra: Fisher coordinates ``(K, N2)`` of the natural gradient of a second, independent
            part of each distribution (the Gaussian of ``optuna_isnas.core.gaussian``): the
            Fisher norm of a product distribution is that of the concatenated coordinates, so
            both parts share one trust region and one step-size adaptation.

    Returns:
        The new ``thetas`` and, per distribution, the factor ``delta / ||G||_F`` its gradient
        was multiplied by (0.0 when its gradient is zero and no step was taken); the caller
        moves the ``extra`` part by the same factor.
    """
    coords = fisher_coordinates(grads, thetas, n_choices)  # (K, N)
    if extra is not None:
        coords = np.concatenate([coords, extra], axis=1)
    n_free = max(coords.shape[1], 1)
    moved = np.array(thetas, dtype=np.float64, copy=True)
    scales: list[float] = []
    for k, state in enumerate(states):
        norm = float(np.linalg.norm(coords[k]))
        if not np.isfinite(norm) or norm < ZERO_GRADIENT:
            scales.append(0.0)
            continue
        delta = state.delta
        scales.append(delta / norm)
        beta = min(delta / math.sqrt(n_free), 1.0)
        moved[k] = thetas[k] + delta * grads[k] / norm
        if state.s.size != n_free:
            state.s = np.zeros(n_free)
        state.s = (1.0 - beta) * state.s + math.sqrt(beta * (2.0 - beta)) * coords[k] / norm
        state.gamma = (1.0 - beta) ** 2 * state.gamma + beta * (2.0 - beta)
        state.Delta *= math.exp(beta * (state.gamma - float(state.s @ state.s) / state.alpha))
        # Keep beta = delta / sqrt(N) <= 1 so that sqrt(beta (2 - beta)) stays real.
        state.Delta = max(state.Delta, state.init_delta / math.sqrt(n_free))
    stepped = [k for k, scale in enumerate(scales) if scale > 0]
    if stepped:
        k_count, d, c = len(stepped), thetas.shape[1], thetas.shape[2]
        rows = restrict_range(
            moved[stepped].reshape(k_count * d, c),
            np.tile(n_choices, k_count),
            np.tile(lower, k_count),
        )
        moved[stepped] = rows.reshape(k_count, d, c)
    return moved, scales


def asng_step(
    theta: FloatArray,
    grad: FloatArray,
    n_choices: IntArray,
    lower: FloatArray,
    state: StepSizeState,
) -> tuple[FloatArray, bool]:
    """Apply one ASNG step to ``theta`` and update ``state`` in place.

    Args:
        theta: current probabilities ``(D, C_max)``.
        grad: natural-gradient estimate ``(D, C_max)`` (rows sum to zero).
        n_choices: choices per variable ``(D,)``.
        lower: range-restriction bound per variable ``(D,)``.
        state: this distribution's step-size state, updated in place.

    Returns:
        The new ``theta`` and whether a step was taken (False when the gradient is zero).
    """
    new, scales = asng_steps(theta[None], grad[None], n_choices, lower, [state])
    return (new[0], True) if scales[0] > 0 else (theta, False)
