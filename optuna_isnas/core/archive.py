"""A small archive of evaluated architectures, for returning the best ones the search evaluated.

Beyond the paper (docs/algorithm.md, section 6 "What the search returns"): after a realistic
budget the most likely architecture of a distribution is often one the search never evaluated,
or worse than ones it did. The archive keeps, for every distribution, the few evaluated
architectures that are best for that distribution's own objective, so that the search can hand
back what it can vouch for.

* **Pooled evaluations.** An architecture evaluated again updates its entry: the count, the mean
  loss and the sum of squared deviations (Welford), so repeated noisy evaluations are averaged.
* **Noise.** Entries are compared by a pessimistic loss, ``mean + KAPPA * sigma / sqrt(n)``, where
  ``sigma`` is the within-architecture standard deviation pooled over every architecture evaluated
  more than once (entries pruned since included). A single lucky minibatch then does not beat an
  architecture whose mean is known precisely. Before any architecture was evaluated twice,
  ``sigma`` is unknown and taken as 0: every entry then has n = 1, and a common penalty would not
  change their order (no noise estimate without repeats could).
* **Kept whatever the budgets become.** After each generation an entry survives if it is among
  the ``size`` best entries of at least one distribution (with the current scales and budgets),
  or if fewer than ``size`` entries dominate it in (pessimistic loss, complexity). The second
  rule does not depend on any budget or trade-off: an entry dominated by fewer than ``size``
  others is among the ``size`` best within every budget at or above its complexity, and for
  every trade-off ``L + eps c``. Size-class budgets move as the observed size range grows, and
  an entry pruned under an early budget would otherwise be lost for the budget it later falls
  under (measured on NAS-Bench-201 and HPOBench, docs/algorithm.md, "What the search returns").
* **Bounded.** At most ``K * size`` entries by the first rule and ``LIMIT_PER_SIZE * size`` more
  by the second (the least dominated first), so the update costs O(n^2 + n M) per generation
  with n <= (K + LIMIT_PER_SIZE) * size, independent of the study's length.

The archive is plain data: ``to_dict``/``from_dict`` round-trip exactly through JSON, and the
update is deterministic given its inputs, so every worker that closes a generation writes the
same archive.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Default number of entries kept per distribution.
DEFAULT_SIZE = 4
#: Standard errors added to an entry's mean loss when entries are compared.
KAPPA = 1.0
#: At most ``LIMIT_PER_SIZE * size`` entries kept for being dominated by fewer than ``size``
#: others, besides each distribution's ``size`` best. Measured: 25-55 entries in all with the
#: default size 4 after 100-1,600 trials on NAS-Bench-201 and HPOBench, so the cap (64) is rarely
#: reached; it only bounds spaces with many distinct complexities (e.g. measured latencies).
LIMIT_PER_SIZE = 16


@dataclass
class Entry:
    """One evaluated architecture and its pooled evaluations.

    Attributes:
        x: choice indices.
        complexity: its complexity (the mean over evaluations; normally exact and constant).
        n: number of evaluations pooled.
        mean: mean loss over them.
        m2: sum of squared deviations of the losses from ``mean``.
        violation: mean total constraint violation (0 when feasible).
        generation: the generation of its latest evaluation.
        trial: the caller's identifier of its latest evaluation (the adapter stores the trial
            number), -1 if none was given.
        z: the numeric parameters on the unit interval (``optuna_isnas.core.gaussian``), None
            where the evaluation did not use one; empty without numeric parameters. An entry
            is one whole evaluated configuration: ``x`` and ``z`` together.
    """

    x: tuple[int, ...]
    complexity: float
    n: int
    mean: float
    m2: float
    violation: float
    generation: int
    trial: int = -1
    z: tuple[float | None, ...] = ()

    @property
    def key(self) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
        """What makes two evaluations the same configuration (and pools them)."""
        return self.x, self.z

    def add(
        self, loss: float, complexity: float, violation: float, generation: int, trial: int
    ) -> None:
        """Pool one more evaluation (Welford's update)."""
        self.n += 1
        delta = loss - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (loss - self.mean)
        self.complexity += (complexity - self.complexity) / self.n
        self.violation += (violation - self.violation) / self.n
        self.generation = generation
        self.trial = trial

    def to_list(self) -> list[Any]:
        return [
            list(self.x),
            self.complexity,
            self.n,
            self.mean,
            self.m2,
            self.violation,
            self.generation,
            self.trial,
            list(self.z),
        ]

    @classmethod
    def from_list(cls, row: Sequence[Any]) -> Entry:
        x, complexity, n, mean, m2, violation, generation, trial, z = row
        return cls(
            tuple(int(v) for v in x),
            float(complexity),
            int(n),
            float(mean),
            float(m2),
            float(violation),
            int(generation),
            int(trial),
            tuple(None if v is None else float(v) for v in z),
        )


def _numeric_key(row: Sequence[float]) -> tuple[float | None, ...]:
    """Numeric values as a hashable key: NaN (unused) becomes None, which compares equal."""
    return tuple(None if math.isnan(v) else float(v) for v in row)


def configuration_key(
    x: Sequence[int], z: Sequence[float] | None
) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
    """The key of an evaluation's configuration, as ``Entry.key`` (``z`` None: no numeric)."""
    return tuple(int(v) for v in x), () if z is None else _numeric_key(z)


#: How one distribution ranks architectures:
#: ``rank(losses, complexities, violations) -> (keys, eligible, infeasibility)``. Among eligible
#: architectures lower keys are better; the others (over a budget, or violating constraints)
#: may never be returned and rank after them by ``infeasibility`` (>= 0).
RankKeys = Callable[
    [FloatArray, FloatArray, FloatArray], tuple[FloatArray, NDArray[np.bool_], FloatArray]
]


class Archive:
    """The best evaluated architectures of every distribution, bounded in size.

    Args:
        size: entries kept per distribution (>= 1).
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"archive size must be an integer >= 1, got {size!r}.")
        self.size = size
        self.entries: list[Entry] = []
        #: Sum of squared deviations and degrees of freedom of the repeated evaluations of
        #: entries that were pruned: the noise estimate keeps them (it describes the
        #: evaluations, not which entries happen to be kept).
        self.retired_m2 = 0.0
        self.retired_dof = 0

    def __len__(self) -> int:
        return len(self.entries)

    # ------------------------------------------------------------------ statistics
    def noise_sd(self) -> float:
        """Within-architecture standard deviation pooled over every repeated evaluation the
        archive has pooled, of kept and of pruned entries (0 before any repeat)."""
        dof = self.retired_dof + sum(e.n - 1 for e in self.entries)
        if dof <= 0:
            return 0.0
        m2 = self.retired_m2 + sum(e.m2 for e in self.entries)
        return math.sqrt(max(m2, 0.0) / dof)

    def pessimistic_losses(self) -> FloatArray:
        """``mean + KAPPA * sigma / sqrt(n)`` of every entry, in entry order."""
        sd = self.noise_sd()
        return np.array([e.mean + KAPPA * sd / math.sqrt(e.n) for e in self.entries])

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Pessimistic losses, complexities and violations of every entry, in entry order."""
        complexities = np.array([e.complexity for e in self.entries], dtype=np.float64)
        violations = np.array([e.violation for e in self.entries], dtype=np.float64)
        return self.pessimistic_losses(), complexities, violations

    # ------------------------------------------------------------------ update
    def observe(
        self,
        x: IntArray,
        losses: FloatArray,
        complexities: FloatArray,
        violations: FloatArray,
        generation: int,
        rank_keys: Sequence[RankKeys],
        trials: IntArray | None = None,
        z: FloatArray | None = None,
    ) -> None:
        """Pool one generation's evaluations, then keep each distribution's ``size`` best.

        Args:
            x: choices ``(M, D)``; losses, complexities, violations: ``(M,)``.
            generation: the generation these evaluations belong to.
            rank_keys: one ranking function per distribution (see ``RankKeys``).
            trials: an identifier of each evaluation ``(M,)`` (default -1), kept for the
                latest evaluation of each entry.
            z: numeric parameters ``(M, N)`` on the unit interval, NaN where unused.
        """
        self.pool(x, losses, complexities, violations, generation, trials, z)
        self._prune(rank_keys)

    def pool(
        self,
        x: IntArray,
        losses: FloatArray,
        complexities: FloatArray,
        violations: FloatArray,
        generation: int,
        trials: IntArray | None = None,
        z: FloatArray | None = None,
    ) -> None:
        """Pool evaluations into their entries (new configurations appended), without pruning."""
        index = {e.key: i for i, e in enumerate(self.entries)}
        ids = [-1] * len(losses) if trials is None else [int(t) for t in trials]
        numeric = [()] * len(losses) if z is None else [_numeric_key(row) for row in z.tolist()]
        rows = zip(x.tolist(), numeric, losses, complexities, violations, ids)
        for row, nums, loss, cost, viol, tid in rows:
            key = (tuple(int(v) for v in row), nums)
            at = index.get(key)
            if at is None:
                index[key] = len(self.entries)
                self.entries.append(
                    Entry(
                        key[0], float(cost), 1, float(loss), 0.0, float(viol), generation, tid, nums
                    )
                )
            else:
                self.entries[at].add(float(loss), float(cost), float(viol), generation, tid)

    def copy(self) -> Archive:
        """An independent copy (entries copied)."""
        other = Archive(self.size)
        other.entries = [dataclasses.replace(e) for e in self.entries]
        other.retired_m2, other.retired_dof = self.retired_m2, self.retired_dof
        return other

    def _prune(self, rank_keys: Sequence[RankKeys]) -> None:
        if len(self.entries) <= self.size:
            return
        keep = np.zeros(len(self.entries), dtype=bool)
        for keys in self.ranked(rank_keys):
            keep[keys[: self.size]] = True
        depth = self.dominators()
        extra = (depth < self.size) & ~keep
        room = self.size * LIMIT_PER_SIZE
        if int(extra.sum()) > room:
            losses = self.pessimistic_losses()
            idx = np.flatnonzero(extra)
            idx = idx[np.lexsort((idx, losses[idx], depth[idx]))][:room]
            extra[:] = False
            extra[idx] = True
        keep |= extra
        for e, kept in zip(self.entries, keep):
            if not kept:
                self.retired_m2 += e.m2
                self.retired_dof += e.n - 1
        self.entries = [e for e, kept in zip(self.entries, keep) if kept]

    def dominators(self) -> NDArray[np.int64]:
        """For every feasible entry, how many feasible entries dominate it in (pessimistic loss,
        complexity); infeasible entries get a count above any archive size.

        An entry dominated by fewer than ``size`` others is among the ``size`` best within
        every budget at or above its complexity, and among the ``size`` best for every
        trade-off ``L + eps c`` with ``eps >= 0``: the archive keeps those whatever budgets or
        trade-offs the distributions will have later.
        """
        losses, complexities, violations = self.arrays()
        feasible = violations <= 0
        l_i, l_j = losses[:, None], losses[None, :]
        c_i, c_j = complexities[:, None], complexities[None, :]
        dom = (l_i <= l_j) & (c_i <= c_j) & ((l_i < l_j) | (c_i < c_j))  # i dominates j
        counts = (dom & feasible[:, None]).sum(axis=0).astype(np.int64)
        return np.where(feasible, counts, np.int64(len(self.entries) + self.size))

    def ranked(self, rank_keys: Sequence[RankKeys]) -> list[list[int]]:
        """Per distribution, every entry's index, best first.

        Eligible entries come first by key, the others after them by infeasibility. Ties are
        broken by lower complexity, then by more evaluations, then by entry order, so the order
        is deterministic.
        """
        if not self.entries:
            return [[] for _ in rank_keys]
        losses, complexities, violations = self.arrays()
        counts = np.array([e.n for e in self.entries])
        order_all = np.arange(len(self.entries))
        out = []
        for rank in rank_keys:
            keys, eligible, infeasibility = rank(losses, complexities, violations)
            primary = np.where(eligible, keys, np.inf)
            secondary = np.where(eligible, 0.0, infeasibility)
            order = np.lexsort((order_all, -counts, complexities, primary, secondary))
            out.append([int(i) for i in order])
        return out

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible state (floats round-trip exactly)."""
        return {
            "size": self.size,
            "entries": [e.to_list() for e in self.entries],
            "retired": [self.retired_m2, self.retired_dof],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Archive:
        """Inverse of ``to_dict``."""
        archive = cls(int(data["size"]))
        archive.entries = [Entry.from_list(row) for row in data["entries"]]
        m2, dof = data["retired"]
        archive.retired_m2, archive.retired_dof = float(m2), int(dof)
        return archive
