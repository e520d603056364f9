"""Optuna's numeric distributions on the unit interval, where the core's Gaussians live.

* ``FloatDistribution``: linear ``(v - low) / (high - low)``, or the same on ``log v`` for
  ``log=True``.
* ``IntDistribution`` and ``FloatDistribution`` with a ``step``: a grid of ``n`` values, each owning
  a cell of width ``1 / n`` (value ``i`` sits at ``(i + 0.5) / n``); a draw picks the cell it
  falls in, so every value is equally likely under a flat distribution.
* ``IntDistribution(log=True)``: continuous on the log scale, rounded to the nearest integer.

``cells`` gives the core the number of values of a parameter (0 for a continuous one), from
which it keeps a margin on the standard deviation (``optuna_isnas.core.gaussian``).
"""

from __future__ import annotations

import math
from typing import Any

from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

NumericDistribution = FloatDistribution | IntDistribution


def is_numeric(dist: BaseDistribution) -> bool:
    """Whether the sampler models ``dist`` with a Gaussian: a numeric distribution of more than
    one value."""
    return isinstance(dist, FloatDistribution | IntDistribution) and not dist.single()


def _grid(dist: NumericDistribution) -> int:
    """Values of a linear grid (0 when the parameter is continuous or log-scaled)."""
    if dist.log or dist.step is None:
        return 0
    return round((dist.high - dist.low) / dist.step) + 1


def cells(dist: NumericDistribution) -> int:
    """Number of values (0 for a continuous float), for the core's margin on sigma."""
    if isinstance(dist, IntDistribution):
        return _grid(dist) if not dist.log else int(dist.high - dist.low) + 1
    return _grid(dist)


def to_unit(dist: NumericDistribution, value: Any) -> float:
    """``value`` of ``dist`` on the unit interval; NaN when it is not a value of ``dist``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    if not (dist.low <= v <= dist.high) or math.isnan(v):
        return math.nan
    n = _grid(dist)
    if n:
        step = float(dist.step) if dist.step is not None else 1.0
        index = min(max(round((v - dist.low) / step), 0), n - 1)
        return (index + 0.5) / n
    if dist.log:
        return (math.log(v) - math.log(dist.low)) / (math.log(dist.high) - math.log(dist.low))
    return (v - dist.low) / (dist.high - dist.low)


def from_unit(dist: NumericDistribution, u: float) -> int | float:
    """The value of ``dist`` at ``u`` in [0, 1] (an ``int`` for an ``IntDistribution``)."""
    u = min(max(float(u), 0.0), 1.0)
    n = _grid(dist)
    if n:
        step = float(dist.step) if dist.step is not None else 1.0
        index = min(int(u * n), n - 1)
        value = dist.low + index * step
        return round(value) if isinstance(dist, IntDistribution) else float(value)
    if dist.log:
        v = math.exp(math.log(dist.low) + u * (math.log(dist.high) - math.log(dist.low)))
    else:
        v = dist.low + u * (dist.high - dist.low)
    if isinstance(dist, IntDistribution):
        return int(min(max(round(v), dist.low), dist.high))
    return float(min(max(v, dist.low), dist.high))
