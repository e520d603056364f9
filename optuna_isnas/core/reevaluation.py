"""Which finalist to evaluate again in the counted share of trials at the end of a search.

Beyond the paper (docs/algorithm.md, section 9 "Noise"): a family chosen from single noisy
evaluations is biased towards lucky ones (the winner's curse). When the sampler knows how many
trials the study will run, its last trials re-evaluate finalists instead of sampling, and the
archive pools the repeats (``optuna_isnas.core.archive``), so the family is chosen on means of
several evaluations and the pooled noise estimate makes the comparisons pessimistic.

The rule spends every re-evaluation where it can change the family, and adapts as means move:

* **Finalists**: the members of the family as it would be chosen now, and every feasible archive
  entry no other entry dominates in (pessimistic loss, complexity). A member whose repeats show
  it was lucky drops out of the family; the entry that replaces it is a finalist too.
* **Fewest evaluations first**: the finalist evaluated least often, counting the re-evaluations
  other workers are running now, is evaluated next. Among equals, members of the family before
  the other finalists, then the lower pessimistic loss, then the entry order, so every worker
  makes the same choice from the same study.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from optuna_isnas.core.archive import Archive

#: Share of the trials a sampler told the study's length spends on re-evaluations at its end.
DEFAULT_SHARE = 0.05
#: At most this many re-evaluations, whatever the study's length. They keep the sampler's
#: window of open trials growing (no generation closes while they run), so their cost per trial
#: grows with their number; 200 give 20 finalists ten more evaluations each, beyond which a
#: finalist's standard error shrinks by less than 5 % per round. No measured study reached it
#: (5 % of 1,000 trials is 50).
MAX_REEVALUATIONS = 200


def reevaluation_start(n_trials: int, share: float) -> int:
    """Number of the first trial that re-evaluates: the last ``round(share * n_trials)`` trials
    of a study of ``n_trials`` trials (numbered from 0) do, at most ``MAX_REEVALUATIONS``, and
    none when that rounds to 0."""
    return n_trials - min(math.floor(share * n_trials + 0.5), MAX_REEVALUATIONS)


def next_reevaluation(
    archive: Archive, family: Sequence[int | None], running: Sequence[int] = ()
) -> int | None:
    """Index of the archive entry to evaluate next, or None for an empty archive.

    Args:
        archive: the evaluated architectures, repeats pooled.
        family: the entry each distribution returns now (``ISNAS.select(archive=archive)``);
            None where a distribution has none.
        running: the entries re-evaluations still running repeat (one index per trial).
    """
    if not archive.entries:
        return None
    members = {int(i) for i in family if i is not None}
    losses, _, _ = archive.arrays()
    front = archive.dominators() == 0
    finalists = [i for i in range(len(archive.entries)) if i in members or front[i]]
    if not finalists:  # nothing feasible and no member: the least evaluated entry at all
        finalists = list(range(len(archive.entries)))
    busy = np.bincount(np.asarray(running, dtype=np.int64), minlength=len(archive.entries))
    counts = np.array([archive.entries[i].n + busy[i] for i in finalists])
    outside = np.array([i not in members for i in finalists])
    order = np.lexsort((np.array(finalists), losses[finalists], outside, counts))
    return int(finalists[int(order[0])])
