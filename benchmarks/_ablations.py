"""Ablations of the method that are not part of the product: patches, not constructor arguments.

``own_weighting()``: each distribution learns only from its own samples, i.e. K independent ASNG
runs sharing one optimizer (or one study, through ``ISNASSampler``). It replaces the mixture
importance weights (``optuna_isnas.core.importance.mixture_log_weights``, as ``core.isnas`` calls
it) with weights that are 1 for a distribution's own samples and 0 for the others', so it shows
what the importance-sampled update adds. ``toy_convergence.py`` and ``nb201.py --variant own``
use it; tests check that it equals K separate ASNG runs.

``unused_parameters(mode)``: the data-parallel search's trainer syncs gradients with
``GradientSync(..., unused=mode)`` instead of the default ``"find"`` (``bench_distributed.py``
times ``"zero"`` against it).
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from unittest import mock

import numpy as np
from numpy.typing import NDArray

from optuna_isnas.core import isnas


def own_sample_log_weights(
    log_p: NDArray[np.float64], origins: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Log weights ``(K, M)`` that keep only each distribution's own samples: 0 (weight 1) where
    sample n was drawn by distribution k, ``-inf`` elsewhere. Same signature as
    ``mixture_log_weights``."""
    own = origins[None, :] == np.arange(log_p.shape[0])[:, None]
    with np.errstate(divide="ignore"):
        result: NDArray[np.float64] = np.log(own.astype(np.float64))
    return result


def own_weighting() -> AbstractContextManager[object]:
    """Within the block, every ``ISNAS`` update (and so every ``ISNASSampler``) uses
    ``own_sample_log_weights`` instead of the mixture weights."""
    return mock.patch(f"{isnas.__name__}.mixture_log_weights", own_sample_log_weights)


def unused_parameters(mode: str) -> AbstractContextManager[object]:
    """Within the block, the trainers built (``search.step.OneShotTrainer``) hand the parameters
    a step leaves unused to DDP as ``mode`` (``training.distributed.UNUSED_HANDLING``)."""
    from optuna_isnas.search import step
    from optuna_isnas.training.distributed import GradientSync

    return mock.patch(f"{step.__name__}.GradientSync", functools.partial(GradientSync, unused=mode))
