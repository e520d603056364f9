"""Scales that put loss and complexity in comparable units: ``f = L / s_L + eps * c / s_c``.

Only the ranking of ``f`` matters, so an offset is irrelevant but the ratio of the two
scales sets what an ``eps`` means. Decisions (documented in docs/algorithm.md):

* ``s_c`` defaults to the largest complexity seen so far, which quickly approaches the
  largest complexity in the space (docs/algorithm.md, section 3 "Units"), so
  ``c / s_c`` lies in ``[0, 1]``.
* ``s_L`` defaults to a running estimate of the spread of the loss among the pooled
  samples of a generation: the interquartile range (robust to a few diverged
  architectures), averaged over the first ``WARMUP`` generations and then tracked by an
  exponential moving average with rate ``RATE``. ``eps = 1`` then means "going from the
  largest to an empty model is worth one typical loss spread", whatever the units of the
  loss (percent error, cross-entropy, accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

WARMUP = 10
RATE = 0.1


def _quantile(ordered: FloatArray, q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default definition)."""
    pos = q * (ordered.size - 1)
    lo = int(pos)
    hi = min(lo + 1, ordered.size - 1)
    return float(ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo]))


def loss_spread(losses: FloatArray) -> float:
    """Interquartile range of ``losses``, falling back to the standard deviation."""
    ordered = np.sort(losses)
    spread = _quantile(ordered, 0.75) - _quantile(ordered, 0.25)
    if spread <= 0.0:
        spread = float(np.std(losses))
    return spread


@dataclass
class RunningScales:
    """Online estimates of ``s_L`` and ``s_c`` (or fixed values given by the user)."""

    fixed_loss: float | None = None
    fixed_complexity: float | None = None
    loss_estimate: float | None = None
    n_loss_observations: int = 0
    max_complexity: float = 0.0
    min_complexity: float | None = None

    @property
    def loss(self) -> float:
        """Current ``s_L`` (1.0 until the first non-degenerate generation)."""
        if self.fixed_loss is not None:
            return self.fixed_loss
        return self.loss_estimate if self.loss_estimate else 1.0

    @property
    def complexity(self) -> float:
        """Current ``s_c`` (1.0 until a positive complexity was seen)."""
        if self.fixed_complexity is not None:
            return self.fixed_complexity
        return self.max_complexity if self.max_complexity > 0 else 1.0

    def observe(self, losses: FloatArray, complexities: FloatArray) -> None:
        """Fold one generation's pooled values into the estimates."""
        self.max_complexity = max(self.max_complexity, float(np.max(np.abs(complexities))))
        low = float(np.min(complexities))
        self.min_complexity = low if self.min_complexity is None else min(self.min_complexity, low)
        spread = loss_spread(losses) if losses.size > 1 else 0.0
        if spread > 0.0 and np.isfinite(spread):
            self.n_loss_observations += 1
            n = self.n_loss_observations
            rate = 1.0 / n if n <= WARMUP else RATE
            previous = self.loss_estimate if self.loss_estimate is not None else spread
            self.loss_estimate = (1.0 - rate) * previous + rate * spread

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON state."""
        return {
            "fixed_loss": self.fixed_loss,
            "fixed_complexity": self.fixed_complexity,
            "loss_estimate": self.loss_estimate,
            "n_loss_observations": self.n_loss_observations,
            "max_complexity": self.max_complexity,
            "min_complexity": self.min_complexity,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunningScales:
        """Inverse of ``to_dict``."""
        return cls(**data)
