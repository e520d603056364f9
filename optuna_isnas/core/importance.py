"""Mixture importance weights (the "balance heuristic") computed in log space.

Samples pooled from K distributions are reweighted for distribution k by
``w_kn = p_k(x_n) / q(x_n)`` with the mixture ``q(x) = sum_j pi_j p_j(x)``, where
``pi_j`` is the share of the pool that distribution j drew (``1/K`` for a full
generation). Because ``q >= pi_k p_k``, every weight lies in ``[0, 1/pi_k]``, i.e. in
``[0, K]`` for equal shares: no single sample can dominate (Noda, Saito, Shirakawa,
ICANN 2022; Veach and Guibas 1995).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def logsumexp(a: FloatArray, axis: int, keepdims: bool = False) -> FloatArray:
    """``log(sum(exp(a)))`` along ``axis``, stable, with ``-inf`` for all-``-inf`` slices."""
    peak = np.max(a, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - peak), axis=axis, keepdims=True)) + peak
    result: FloatArray = out if keepdims else np.squeeze(out, axis=axis)
    return result


def mixture_log_weights(log_p: FloatArray, origins: IntArray) -> FloatArray:
    """Log importance weights ``log w_kn`` with the pool's mixture as proposal.

    Args:
        log_p: ``log p_k(x_n)``, shape ``(K, M)``.
        origins: the distribution each of the M samples was drawn from, shape ``(M,)``.

    Returns:
        ``log p_k(x_n) - log q(x_n)``, shape ``(K, M)``.
    """
    k_count = log_p.shape[0]
    counts = np.bincount(origins, minlength=k_count).astype(np.float64)
    share = counts / counts.sum()
    with np.errstate(divide="ignore"):
        log_share = np.log(share)
    log_q = logsumexp(log_p + log_share[:, None], axis=0)
    return log_p - log_q[None, :]


def normalise_log_weights(log_w: FloatArray) -> FloatArray:
    """Self-normalise each row: ``w_kn / sum_m w_km``, computed stably from logs."""
    return np.exp(log_w - logsumexp(log_w, axis=1, keepdims=True))
