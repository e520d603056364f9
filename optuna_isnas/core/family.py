"""The hypervolume family: the K evaluated architectures whose hypervolume is largest.

docs/algorithm.md section 9. Size classes and trade-offs spread K models along the front by rules of
thumb that fail where random samples do not span it. This family has a definition instead: the
K points of largest hypervolume, the optimal mu-distribution of the front (Auger, Bader,
Brockhoff, Zitzler, FOGA 2009), exact in 2-D (``hypervolume.best_subset``).

The K distributions aim at it as in the Sofomore framework of COMO-CMA-ES (Touré, Hansen, Auger,
Brockhoff, GECCO 2019): distribution k's incumbent is one member of the current family, and it
ranks samples by their uncrowded hypervolume improvement with respect to the other K - 1
members. A distribution then looks for the point that best fills the gap its own member leaves,
which is where the family gains most. What is kept of IS-NAS: every distribution ranks ALL
pooled samples, weighted by the mixture importance weights.

**The plane.** Points are ``(loss, log10 complexity)`` by default (``log_complexity``): a family
of sizes is judged by ratios (a model 10x smaller), and on a linear axis the small models of a
front that spans two decades share a sliver of the area, so the best K crowd at the large end.
Both axes are scaled by the span from the ideal point to the nadir, so that distances below the
front (which rank dominated samples) weigh loss and complexity alike. **The reference point**,
unless the user gives one, lies beyond the nadir of the front of what was evaluated, by
``1 / (K - 1)`` of the front's span: far enough that both ends of the front belong to the family
(``HypervolumeFamily.margin``), so a sample beyond either end adds area and the front is pulled
outwards. It follows the front, not the worst evaluation, so a diverged training run far off the
front does not stretch the box. A user who knows what a useful model is (say, error below 15 %)
gives that as ``reference_point``; docs/algorithm.md measures both.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optuna_isnas.core.hypervolume import (
    best_subset,
    pareto_front,
    uncrowded_improvement,
    uncrowded_improvements,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: The least distance of the default reference point beyond the nadir, as a share of the span
#: on each axis (the usual 10 %), for K = 1 and 2.
MARGIN = 0.1


@dataclass(frozen=True)
class Plane:
    """Where hypervolume is measured: an affine map of (loss, axis(complexity)) and a reference.

    ``points`` puts raw values in the plane; ``reference`` is the reference point there.
    """

    offset: FloatArray
    scale: FloatArray
    reference: FloatArray
    log_complexity: bool

    def points(self, losses: FloatArray, complexities: FloatArray) -> FloatArray:
        raw = _raw(losses, complexities, self.log_complexity)
        out: FloatArray = (raw - self.offset) / self.scale
        return out


def _raw(losses: FloatArray, complexities: FloatArray, log_complexity: bool) -> FloatArray:
    c = np.asarray(complexities, dtype=np.float64)
    if log_complexity:
        # A plane is only log when every point it maps is > 0 (``HypervolumeFamily.plane``).
        c = np.log10(np.maximum(c, np.finfo(np.float64).tiny))
    return np.column_stack([np.asarray(losses, dtype=np.float64), c])


class HypervolumeFamily:
    """How K distributions aim at, and a search returns, the K points of largest hypervolume.

    Args:
        k: number of members (K).
        log_complexity: measure complexity on a log10 axis (default) or a linear one.
        reference: a fixed reference point ``(loss, complexity)`` in the objectives' own units,
            or None (default): beyond the front's nadir by ``1 / (K - 1)`` of its span
            (``margin``).
    """

    def __init__(
        self,
        k: int,
        *,
        log_complexity: bool = True,
        reference: Sequence[float] | None = None,
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"the hypervolume family needs an integer K >= 1, got {k!r}.")
        self.k = int(k)
        #: The default reference's distance beyond the nadir, as a share of the span: 1 / (K - 1)
        #: (at least ``MARGIN``). For a linear front, the K points of largest hypervolume include
        #: both ends exactly when the reference lies at least 1 / (K - 1) of the span beyond the
        #: nadir (Auger, Bader, Brockhoff, Zitzler 2009), so the family spans what was evaluated
        #: end to end and a sample beyond either end adds area.
        self.margin = max(MARGIN, 1.0 / (self.k - 1)) if self.k > 1 else MARGIN
        self.log_complexity = bool(log_complexity)
        self.reference: tuple[float, float] | None = None
        if reference is not None:
            ref = np.asarray(reference, dtype=np.float64)
            if ref.shape != (2,) or not np.all(np.isfinite(ref)):
                raise ValueError(
                    f"reference must be two finite numbers (loss, complexity), got {reference!r}."
                )
            if self.log_complexity and ref[1] <= 0:
                raise ValueError("the reference complexity must be > 0 on the log axis.")
            self.reference = (float(ref[0]), float(ref[1]))

    # ------------------------------------------------------------------ the plane
    def plane(self, losses: FloatArray, complexities: FloatArray) -> Plane:
        """The plane from the ideal point to the nadir of the given points' front.

        A complexity of 0 or below has no logarithm: the plane is then linear (with a warning,
        once), so a user's own complexity that can be 0 still works.
        """
        log = self.log_complexity and bool(np.all(np.asarray(complexities) > 0))
        if self.log_complexity and not log:
            warnings.warn(
                "a complexity of 0 or below was evaluated: the hypervolume family measures "
                "complexity on a linear axis; pass log_complexity=False to say so",
                stacklevel=2,
            )
        raw = _raw(losses, complexities, log)
        front = raw[pareto_front(raw)] if len(raw) else np.zeros((1, 2))
        ideal, nadir = front.min(axis=0), front.max(axis=0)
        span = nadir - ideal
        # A front of one point (or one value on an axis) has no span: use the value's size.
        fallback = np.maximum(np.abs(ideal), 1.0)
        scale = np.where(span > 0, span, fallback)
        if self.reference is None:  # the nadir is at 1 on an axis with a span, else at 0
            reference = np.where(span > 0, 1.0, 0.0) + self.margin
        else:
            fixed = _raw(np.array([self.reference[0]]), np.array([self.reference[1]]), log)[0]
            reference = (fixed - ideal) / scale
        return Plane(ideal, scale, np.asarray(reference, dtype=np.float64), log)

    # ------------------------------------------------------------------ the family
    def choose(
        self, losses: FloatArray, complexities: FloatArray, eligible: BoolArray | None = None
    ) -> list[int]:
        """Indices of the family among the candidates, largest complexity first.

        The K eligible candidates of largest hypervolume (exact). When fewer than K of them add
        area (fewer non-dominated candidates inside the reference box), the rest are the distinct
        eligible candidates closest to adding area (largest uncrowded improvement), so a member
        is dominated only when fewer than K non-dominated candidates exist. At most K indices,
        fewer only when fewer eligible candidates exist.
        """
        n = len(losses)
        allowed = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
        idx = np.flatnonzero(allowed)
        if len(idx) == 0:
            return []
        plane = self.plane(losses[idx], complexities[idx])
        pts = plane.points(losses[idx], complexities[idx])
        chosen = [int(idx[i]) for i in best_subset(pts, self.k, plane.reference)]
        taken = set(chosen)
        rest = [int(i) for i in idx if int(i) not in taken]
        while len(chosen) < self.k and rest:
            members = plane.points(losses[chosen], complexities[chosen])
            gain = uncrowded_improvement(
                plane.points(losses[rest], complexities[rest]), members, plane.reference
            )
            # Ties (e.g. duplicates of a member) go to the smaller complexity, then entry order.
            pick = rest[int(np.lexsort((np.arange(len(rest)), complexities[rest], -gain))[0])]
            chosen.append(pick)
            rest.remove(pick)
        return sorted(chosen, key=lambda i: (-complexities[i], losses[i], i))

    def keys(
        self,
        plane: Plane,
        members: FloatArray,
        owner: Sequence[int | None],
        losses: FloatArray,
        complexities: FloatArray,
    ) -> list[FloatArray]:
        """Per distribution, the key of every sample: minus its uncrowded hypervolume improvement
        with respect to the members other than the one it owns (lower is better).

        Args:
            plane: from ``plane``.
            members: the family's points in the plane ``(m, 2)``.
            owner: per distribution, the position of the member it owns, or None.
            losses, complexities: the samples to rank.
        """
        pts = plane.points(losses, complexities)
        gains = uncrowded_improvements(pts, members, owner, plane.reference)
        return [-gain for gain in gains]


def assign_members(log_prob: FloatArray) -> list[int | None]:
    """Which member each distribution owns: greedily, the most likely pairs first.

    ``log_prob[k, j]`` is the log-probability that distribution k draws member j. Each member is
    owned by one distribution; with fewer members than distributions some own none. Ties go to
    the lower indices, so the assignment is deterministic.
    """
    k, m = log_prob.shape
    owner: list[int | None] = [None] * k
    taken: set[int] = set()
    order = np.lexsort((np.tile(np.arange(m), k), np.repeat(np.arange(k), m), -log_prob.ravel()))
    for flat in order.tolist():
        d, j = divmod(int(flat), m)
        if owner[d] is None and j not in taken:
            owner[d] = j
            taken.add(j)
    return owner


#: A distribution has strayed from the member it owns when it draws that member less than this
#: share as often as its own most likely configuration (for a converged categorical
#: distribution, a member two or more choices away).
STRAYED_RATIO = 1e-3


def strayed(
    owner: Sequence[int | None], log_p_members: FloatArray, log_p_modes: FloatArray
) -> list[tuple[int, int]]:
    """``(k, j)`` for every distribution k whose owned member j it has all but stopped drawing.

    Args:
        owner: ``assign_members``'s result.
        log_p_members: ``log p_k(member j)``, shape ``(K, m)``.
        log_p_modes: ``log p_k(mode of k)``, shape ``(K,)``.
    """
    limit = math.log(STRAYED_RATIO)
    return [
        (k, j)
        for k, j in enumerate(owner)
        if j is not None and log_p_members[k, j] - log_p_modes[k] < limit
    ]
