"""The ends of the space as the evaluations predict them: the least and most complex configurations.

Beyond the paper (docs/algorithm.md section 9, "Coverage"): in NAS spaces the complexity is a sum
of per-block costs, so random samples concentrate in the middle of its range and the
distributions reach the ends of the front late, while the reference point that follows the front
(``core.family``) only spans the part sampled so far. The sampler evaluates the two predicted
ends, and again whenever the evaluations have doubled.

The sampler does not know the costs; it fits them: ``log10(complexity)`` additive in the choices
(one coefficient per choice but the first of every categorical variable) and linear in every
numeric parameter on the unit interval, by least squares over the evaluated configurations, once
there are twice as many evaluations as coefficients. The ends are the per-variable argmin and
argmax of that model over the categorical variables whose effect the fit resolves (a coefficient
three standard errors from zero); every other variable keeps the value of a configuration the
caller gives for that end (the sampler gives the least complex and the most accurate model
evaluated), so the ends are not handed an arbitrary learning rate. Numeric parameters always keep
it: they enter the fit, but each is one dimension its Gaussian covers end to end, unlike a sum
over many blocks, and moving a width or depth to the end of its range cost on both suites that
have them (docs/benchmarks.md, "The space's two ends").

A product of per-variable factors (width squared times depth) the model fits exactly. A sum of
per-block counts it fits approximately, and that is what the measurements favour
(docs/benchmarks.md, "The space's two ends"): the misfit widens the standard errors, so only the
blocks whose cost it resolves go to their cheapest choice, and the "least complex" end is a step
beyond the least complex model evaluated, moving out at every refit, rather than the space's
cheapest model, whose loss is the worst there is. The true ends, and an exact linear fit of a
sum, gained less on the synthetic suite.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Ridge term of the fit, relative to the number of evaluations: enough to make the normal
#: equations solvable when a choice was never evaluated (its coefficient then stays near 0).
RIDGE = 1e-6


#: The fit waits for this many evaluations per coefficient (its standard errors need a residual
#: with as many degrees of freedom as coefficients).
EVALUATIONS_PER_COEFFICIENT = 2
#: No fit after this many evaluations: each fit reads every completed trial, so refitting at
#: every doubling forever would make single trials ever slower (about 0.4-0.6 s at 12,800
#: trials); by then the ends have been fitted on thousands of evaluations.
LAST_FIT = 4096
#: A coefficient this many standard errors from zero makes its variable cost-relevant. The
#: errors are not symmetric: a learning rate taken for relevant goes to an end of its range
#: (a bad model), a size taken for irrelevant only keeps a default; so 3 (a false "relevant" in
#: 0.3 % of coefficients), not 2 (4.6 %).
RELEVANT_T = 3.0


def n_coefficients(n_choices: IntArray, n_numeric: int) -> int:
    """Coefficients of the cost model: one per choice but the first, one per numeric
    parameter, and the intercept."""
    return int(np.sum(np.maximum(np.asarray(n_choices) - 1, 0))) + n_numeric + 1


def _design(x: IntArray, z: FloatArray, n_choices: IntArray) -> FloatArray:
    """One-hot columns (choice 0 of every variable is the baseline; ``UNUSED`` sets none), the
    numeric values (NaN as the middle, 0.5) and a column of ones."""
    columns = []
    for i, c in enumerate(np.asarray(n_choices)):
        for j in range(1, int(c)):
            columns.append((x[:, i] == j).astype(np.float64))
    for n in range(z.shape[1]):
        columns.append(np.where(np.isnan(z[:, n]), 0.5, z[:, n]))
    columns.append(np.ones(x.shape[0]))
    return np.stack(columns, axis=1)


def cost_extremes(
    x: IntArray,
    z: FloatArray,
    complexities: FloatArray,
    n_choices: IntArray,
    defaults: tuple[tuple[IntArray, FloatArray], tuple[IntArray, FloatArray]],
) -> tuple[tuple[IntArray, FloatArray], tuple[IntArray, FloatArray]] | None:
    """``((x, z) least complex, (x, z) most complex)`` by the fitted cost model, or None.

    Args:
        x: choices ``(M, D)`` of the evaluated configurations (``categorical.UNUSED`` where
            unused).
        z: their numeric parameters on the unit interval ``(M, N)`` (NaN where unused).
        complexities: ``(M,)``; the fit is on ``log10`` when all are positive, else linear.
        n_choices: choices per categorical variable ``(D,)``.
        defaults: ``(x, z)`` of one configuration per end (least, most complex), whose values
            that end keeps for the variables whose effect on the complexity is not
            distinguishable from zero.

    None with fewer than ``EVALUATIONS_PER_COEFFICIENT`` evaluations per coefficient, or when
    the complexities do not vary (nothing to fit).
    """
    x = np.asarray(x, dtype=np.int64)
    z = np.asarray(z, dtype=np.float64).reshape(x.shape[0], -1)
    costs = np.asarray(complexities, dtype=np.float64)
    keep = np.isfinite(costs)
    x, z, costs = x[keep], z[keep], costs[keep]
    n_choices = np.asarray(n_choices, dtype=np.int64)
    p = n_coefficients(n_choices, z.shape[1])
    if costs.size < EVALUATIONS_PER_COEFFICIENT * p or np.ptp(costs) == 0.0:
        return None
    y = np.log10(costs) if np.all(costs > 0) else costs
    a = _design(x, z, n_choices)
    inverse = np.linalg.inv(a.T @ a + RIDGE * costs.size * np.eye(p))
    beta = inverse @ (a.T @ y)
    residual = float(np.sum((y - a @ beta) ** 2)) / max(costs.size - p, 1)
    # t of every coefficient; an exact fit (no residual) makes every nonzero one relevant.
    se = np.sqrt(np.maximum(residual * np.diag(inverse), 0.0))
    relevant = np.abs(beta) > RELEVANT_T * se + 1e-12
    ends = []
    for sign, (default_x, default_z) in zip((1.0, -1.0), defaults):  # least, then most complex
        row = np.array(default_x, dtype=np.int64)
        at = 0
        for i, c in enumerate(n_choices):
            span = slice(at, at + int(c) - 1)
            if np.any(relevant[span]):
                effects = np.concatenate([[0.0], beta[span]])
                row[i] = int(np.argmin(sign * effects))
            at += int(c) - 1
        # Numeric parameters keep the default: each is one dimension its Gaussian covers end to
        # end, and moving them to the ends of their ranges cost on both measured suites.
        unit = np.array(default_z, dtype=np.float64).reshape(-1)
        ends.append((row, unit))
    return ends[0], ends[1]
