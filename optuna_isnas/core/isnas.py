"""ISNAS: K ASNG distributions, one per complexity trade-off, updated by importance sampling.

Noda, Saito, Shirakawa, "Efficient Search of Multiple Neural Architectures with Different
Complexities via Importance Sampling", ICANN 2022 (arXiv 2207.10334), built on ASNG-NAS
(Akimoto et al., ICML 2019). Each generation every distribution draws ``lam`` samples;
every distribution is then updated from ALL pooled samples, reweighted by the mixture
importance weights, ranked by its own objective ``L / s_L + eps_k * c / s_c``.

The class has a small ask/tell interface in the style of the ``cmaes`` library and its
complete state serialises to plain JSON (``to_dict`` / ``from_dict``) exactly.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optuna_isnas.core import budget as budget_mode
from optuna_isnas.core import categorical as cat
from optuna_isnas.core import gaussian
from optuna_isnas.core.archive import DEFAULT_SIZE, Archive, RankKeys
from optuna_isnas.core.asng import StepSizeState, asng_steps, natural_gradient
from optuna_isnas.core.family import HypervolumeFamily, assign_members, strayed
from optuna_isnas.core.importance import mixture_log_weights, normalise_log_weights
from optuna_isnas.core.scales import RunningScales
from optuna_isnas.core.selection import choose_family
from optuna_isnas.core.utility import weighted_ranking_utility

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

STATE_VERSION = 3
#: State versions ``from_dict`` reads (3 added the numeric parameters).
READABLE_VERSIONS = (3,)

#: A distribution skips its step when the weighted utility signal ``sum_n w_n u_n^2`` is
#: below this fraction of ``min(signal of lambda untied equal-weight samples, 1/lambda)``. ASNG
#: skips when all utilities are equal (signal 0); with importance weights, a distribution
#: whose own samples tie would otherwise take a full normalised step driven by samples of
#: negligible weight. For K = 1 the signal is either 0 or well above the threshold, so the
#: update stays exactly ASNG.
SIGNAL_MIN = 0.05


@dataclass(frozen=True)
class Solution:
    """One evaluated architecture: origin distribution, choices, loss, complexity, violation.

    ``violation`` is the total constraint violation (the sum of the positive parts of the
    constraint values, Optuna's convention); 0 means feasible. ``trial`` identifies the
    evaluation for the caller (the archive keeps the latest one per architecture). ``z`` holds
    the numeric parameters on the unit interval (NaN where unused; None without any). ``known``:
    a sample of a configuration evaluated before, whose values are the pooled ones of those
    evaluations instead of a new one: the distributions learn from it, the archive and the
    scales, which saw those evaluations, do not take it (docs/algorithm.md section 9, "Repeats").
    """

    distribution: int
    x: IntArray
    loss: float
    complexity: float
    violation: float = 0.0
    trial: int = -1
    z: FloatArray | None = None
    known: bool = False


def _feasible_first(f: FloatArray, violations: FloatArray) -> FloatArray:
    """``f`` where feasible; infeasible samples after every feasible one, by violation.

    Only the ranking of the result matters (the utility is rank-based), as in Optuna's
    constrained NSGA-II and TPE: feasible first, infeasible ones by total violation.
    """
    infeasible = violations > 0
    if not infeasible.any():
        return f
    feasible = ~infeasible
    top = float(f[feasible].max()) if feasible.any() else 0.0
    base = top + 1.0 + (abs(top) if np.isfinite(top) else 0.0)
    return np.where(infeasible, base + violations, f)


def _check_positive(name: str, value: float) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not (ok and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)


class ISNAS:
    """Several categorical distributions updated jointly by importance sampling.

    Args:
        n_choices: number of choices of each of the D variables.
        epsilons: complexity trade-off ``eps_k`` of each distribution (K = its length);
            finite and >= 0. With K = 1 the update is exactly ASNG when lambda is 1, 2, 3
            or a multiple of 4 (otherwise the weighted utility is a smoothed ranking,
            e.g. lambda = 6 gives [1, .5, 0, 0, -.5, -1]).
        budgets: alternatively, a complexity budget ``b_k`` per distribution (K = its
            length, finite and > 0): each distribution then ranks by the hinge-penalised
            objective of ``optuna_isnas.core.budget`` and adapts its own ``eps_k``.
        size_classes: alternatively, K: budget mode with budgets placed automatically,
            after every generation, at the geometric middles of K size classes between the
            smallest and the largest complexity seen (``budget.size_class_budgets``), and
            the returned architectures distinct (a family that spans the front).
        hypervolume: alternatively, K: the family is the K evaluated architectures of largest
            hypervolume, and each distribution ranks samples by their uncrowded hypervolume
            improvement over the other distributions' members (``optuna_isnas.core.family``).
            Give exactly one of ``epsilons``, ``budgets``, ``size_classes`` and ``hypervolume``.
        log_complexity: hypervolume mode: complexity on a log10 axis (default) or linear.
        reference_point: hypervolume mode: a fixed reference ``(loss, complexity)``, or None
            (default) for the front's nadir plus 1 / (K - 1) of its span.
        recentre_members: hypervolume mode: after each step, a distribution that has strayed
            from the member it owns moves onto it (default True; ``_recentre_strays``).
        samples_per_distribution: ``lambda``, samples each distribution draws per
            generation (>= 1).
        alpha: ASNG's threshold on the accumulated gradient (default 1.5).
        init_delta: ASNG's initial trust-region radius ``delta_0`` (default 1.0).
        loss_scale: fixed ``s_L``, or None to estimate it online (see ``RunningScales``).
        complexity_scale: fixed ``s_c``, or None to use the largest complexity seen.
        archive_size: evaluated architectures kept per distribution for ``select`` (>= 1;
            see ``optuna_isnas.core.archive``).
        numeric_cells: one entry per numeric parameter (``optuna_isnas.core.gaussian``): its
            number of values on the unit interval, or 0 for a continuous one. Each
            distribution then also holds a diagonal Gaussian over them, weighted like its
            categorical part and stepped with the same radius, in its own Fisher norm.
        seed: seed of the generator used by ``ask``.
    """

    def __init__(
        self,
        n_choices: Sequence[int],
        epsilons: Sequence[float] | None = None,
        *,
        budgets: Sequence[float] | None = None,
        size_classes: int | None = None,
        hypervolume: int | None = None,
        log_complexity: bool = True,
        reference_point: Sequence[float] | None = None,
        recentre_members: bool = True,
        samples_per_distribution: int = 2,
        alpha: float = 1.5,
        init_delta: float = 1.0,
        loss_scale: float | None = None,
        complexity_scale: float | None = None,
        archive_size: int = DEFAULT_SIZE,
        numeric_cells: Sequence[int] = (),
        seed: int | None = None,
    ) -> None:
        self.n_choices = cat.validate_n_choices(n_choices)
        cells = np.asarray(numeric_cells, dtype=np.int64).reshape(-1)
        if np.any(cells < 0):
            raise ValueError(f"numeric_cells must be >= 0 (0: continuous), got {numeric_cells!r}.")
        self.numeric_cells = cells
        self.sigma_min = np.array([gaussian.sigma_min_for(int(c)) for c in cells], dtype=float)
        if sum(v is not None for v in (epsilons, budgets, size_classes, hypervolume)) != 1:
            raise ValueError(
                "give exactly one of epsilons (fixed trade-offs), budgets (complexity limits, "
                "one per distribution), size_classes (K automatically placed budgets) and "
                "hypervolume (K: the family of largest hypervolume)."
            )
        #: hypervolume mode: move a distribution that strayed from its member onto it
        self.recentre_members = bool(recentre_members)
        self.family: HypervolumeFamily | None = None
        if hypervolume is not None:
            self.family = HypervolumeFamily(
                hypervolume, log_complexity=log_complexity, reference=reference_point
            )
            epsilons = [0.0] * self.family.k
        self.size_classes: int | None = None
        if size_classes is not None:
            if (
                not isinstance(size_classes, (int, np.integer))
                or isinstance(size_classes, (bool, np.bool_))
                or size_classes < 1
            ):
                raise ValueError(f"size_classes must be an integer >= 1, got {size_classes!r}.")
            self.size_classes = int(size_classes)
            budgets = [1.0] * self.size_classes  # placed from the first generation's sizes
        self.budgets: FloatArray | None = None
        if budgets is not None:
            b = np.asarray(budgets, dtype=np.float64)
            if b.ndim != 1 or b.size == 0 or not np.all(np.isfinite(b)) or np.any(b <= 0):
                raise ValueError(
                    f"budgets must be a non-empty list of finite numbers > 0, got {budgets!r}."
                )
            self.budgets = b
            epsilons = [budget_mode.INITIAL_EPSILON] * b.size
        eps = np.asarray(epsilons, dtype=np.float64)
        if eps.ndim != 1 or eps.size == 0 or not np.all(np.isfinite(eps)) or np.any(eps < 0):
            raise ValueError(
                f"epsilons must be a non-empty list of finite numbers >= 0, got {epsilons!r}."
            )
        if (
            not isinstance(samples_per_distribution, (int, np.integer))
            or isinstance(samples_per_distribution, (bool, np.bool_))
            or samples_per_distribution < 1
        ):
            raise ValueError(
                f"samples_per_distribution must be an integer >= 1, got {samples_per_distribution!r}."
            )
        self.epsilons = eps
        self.lam = int(samples_per_distribution)
        self.alpha = _check_positive("alpha", alpha)
        self.init_delta = _check_positive("init_delta", init_delta)
        self.scales = RunningScales(
            fixed_loss=None if loss_scale is None else _check_positive("loss_scale", loss_scale),
            fixed_complexity=None
            if complexity_scale is None
            else _check_positive("complexity_scale", complexity_scale),
        )
        self.lower = cat.theta_min(self.n_choices)
        theta0 = cat.uniform_theta(self.n_choices)
        self.thetas = np.repeat(theta0[None], eps.size, axis=0)
        self.means = np.full((eps.size, cells.size), gaussian.INITIAL_MEAN)
        self.variances = np.full((eps.size, cells.size), gaussian.INITIAL_SIGMA**2)
        self.steps = [StepSizeState(self.init_delta, self.alpha) for _ in range(eps.size)]
        self.generation = 0
        self.expected_complexity: FloatArray | None = None
        self.archive = Archive(archive_size)
        self._asked = 0
        self._rng = np.random.default_rng(seed)
        ref = weighted_ranking_utility(np.arange(self.lam, dtype=float), np.ones(self.lam))
        # The smallest non-zero signal of equally weighted samples is about 1/lambda (one
        # distinct sample among ties), so the threshold stays below it for any lambda.
        self._reference_signal = min(float(np.mean(ref * ref)), 1.0 / self.lam)

    # ----------------------------------------------------------------- properties
    @property
    def n_distributions(self) -> int:
        """K, the number of distributions."""
        return int(self.epsilons.size)

    @property
    def generation_size(self) -> int:
        """``K * lambda``: samples per generation."""
        return self.n_distributions * self.lam

    def distribution_of_slot(self, slot: int) -> int:
        """Distribution that draws the ``slot``-th sample of a generation (blocks of lambda)."""
        return (slot // self.lam) % self.n_distributions

    @property
    def n_numeric(self) -> int:
        """N, the number of numeric parameters."""
        return int(self.numeric_cells.size)

    def modes(self) -> IntArray:
        """Most likely architecture of each distribution, shape ``(K, D)``."""
        return np.stack([cat.mode(t) for t in self.thetas])

    def sample_numeric(self, k: int, rng: np.random.Generator | None = None) -> FloatArray:
        """Draw the numeric parameters ``(N,)`` on the unit interval from distribution ``k``."""
        return gaussian.sample(self.means[k], self.variances[k], rng or self._rng)

    def log_prob(self, x: IntArray, z: FloatArray | None = None) -> FloatArray:
        """Log-likelihood ``(K, M)`` of configurations under every distribution (the
        categorical part, plus the Gaussian part when ``z`` ``(M, N)`` is given)."""
        log_p: FloatArray = cat.log_prob(self.thetas, x)
        if z is not None and self.n_numeric:
            log_p = log_p + gaussian.log_density(self.means, self.variances, z)
        return log_p

    # ----------------------------------------------------------------- ask / tell
    def sample(self, k: int, rng: np.random.Generator | None = None) -> IntArray:
        """Draw one architecture (shape ``(D,)``) from distribution ``k``."""
        row: IntArray = cat.sample(self.thetas[k], self.n_choices, rng or self._rng, 1)[0]
        return row

    def ask(self) -> tuple[int, IntArray]:
        """Next sample of the generation: ``(distribution, choices)``, round robin in blocks."""
        k = self.distribution_of_slot(self._asked)
        self._asked += 1
        return k, self.sample(k)

    def tell(
        self,
        solutions: Sequence[Solution],
        complexity_of: Callable[[IntArray], float] | None = None,
        extras: Sequence[Solution] = (),
    ) -> None:
        """Update every distribution from the pooled ``solutions`` of one generation.

        ``extras`` are evaluations that were not drawn from any distribution (e.g. given by
        the user): they go to the archive only (their ``distribution`` is ignored).
        """
        if len(solutions) == 0:
            raise ValueError("tell() needs at least one solution.")
        x = np.stack([np.asarray(s.x, dtype=np.int64) for s in solutions])
        z = self._numeric_of(solutions)
        origins = np.array([s.distribution for s in solutions], dtype=np.int64)
        losses = np.array([s.loss for s in solutions], dtype=np.float64)
        costs = np.array([s.complexity for s in solutions], dtype=np.float64)
        violations = np.array([s.violation for s in solutions], dtype=np.float64)
        extra = None
        if extras:
            extra = (
                np.stack([np.asarray(s.x, dtype=np.int64) for s in extras]),
                np.array([s.loss for s in extras], dtype=np.float64),
                np.array([s.complexity for s in extras], dtype=np.float64),
                np.array([s.violation for s in extras], dtype=np.float64),
                np.array([s.trial for s in extras], dtype=np.int64),
                self._numeric_of(extras),
            )
        self.update(
            x,
            origins,
            losses,
            costs,
            complexity_of=complexity_of,
            violations=violations,
            archive_only=extra,
            trials=np.array([s.trial for s in solutions], dtype=np.int64),
            z=z,
            known=np.array([s.known for s in solutions], dtype=bool),
        )
        self._asked = 0

    def _numeric_of(self, solutions: Sequence[Solution]) -> FloatArray:
        """The solutions' numeric parameters ``(M, N)``; NaN where a solution has none."""
        z = np.full((len(solutions), self.n_numeric), np.nan)
        for i, sol in enumerate(solutions):
            if sol.z is not None and self.n_numeric:
                z[i] = np.asarray(sol.z, dtype=np.float64)
        return z

    def update(
        self,
        x: IntArray,
        origins: IntArray,
        losses: FloatArray,
        complexities: FloatArray,
        complexity_of: Callable[[IntArray], float] | None = None,
        violations: FloatArray | None = None,
        archive_only: tuple[IntArray, FloatArray, FloatArray, FloatArray, IntArray, FloatArray]
        | None = None,
        trials: IntArray | None = None,
        z: FloatArray | None = None,
        known: NDArray[np.bool_] | None = None,
    ) -> None:
        """One generation's update from pooled samples (deterministic given its inputs).

        Args:
            x: choices ``(M, D)``; ``UNUSED`` (-1) where a sample did not use a variable (a
                conditional parameter its evaluation skipped): it then informs the other
                variables only (its weight is the likelihood of the choices it made, and it
                adds nothing to that variable's gradient).
            origins: distribution that drew each sample ``(M,)``.
            losses: performance to minimise ``(M,)``. A sample whose loss or complexity is
                not finite (a diverged run: inf or nan) ranks after every other sample, and
                neither the scales nor the archive see it.
            complexities: complexity to minimise ``(M,)``.
            complexity_of: budget mode only: exact complexity of an architecture (choice
                indices). When given, each trade-off follows whether the distribution's
                most likely architecture fits its budget instead of the sampled violation
                rate (see ``optuna_isnas.core.budget``).
            violations: total constraint violation of each sample ``(M,)`` (0 = feasible;
                default all feasible). Infeasible samples rank after every feasible one, by
                violation, in every distribution's ranking and in the archive.
            archive_only: ``(x, losses, complexities, violations, trials, z)`` of evaluations
                that were not drawn from any distribution: the archive pools them, nothing
                else does.
            trials: the caller's identifier of each sample ``(M,)`` (default -1), kept in the
                archive (the adapter stores trial numbers).
            z: numeric parameters ``(M, N)`` on the unit interval, NaN where a sample did not
                use one (required when the optimizer has numeric parameters).
            known: ``(M,)``, True for a sample whose values were looked up, not evaluated
                (``Solution.known``): ranked and learnt from like the others, but neither
                the scales nor the archive take it.
        """
        if violations is None:
            violations = np.zeros(losses.shape, dtype=np.float64)
        if z is None:
            z = np.full((x.shape[0], self.n_numeric), np.nan)
        self._check_update_inputs(x, origins, losses, complexities, violations, z)
        finite = np.isfinite(losses) & np.isfinite(complexities)
        evaluated = finite if known is None else finite & ~np.asarray(known, dtype=bool)
        to_archive = (
            x[evaluated],
            losses[evaluated],
            complexities[evaluated],
            violations[evaluated],
        )
        z_archive = z[evaluated]
        if not finite.all():
            # Rank non-finite samples last: finite stand-ins (which the ranking never sees
            # alone) and a violation above every other sample's.
            ok = finite.any()
            losses = np.where(finite, losses, float(losses[finite].max()) if ok else 0.0)
            complexities = np.where(
                finite, complexities, float(complexities[finite].max()) if ok else 0.0
            )
            violations = np.where(finite, violations, float(violations.max()) + 1.0)
        if evaluated.any():
            self.scales.observe(to_archive[1], to_archive[2])
        self._place_size_classes()
        log_p = self.log_prob(x, z)  # (K, M)
        log_w = mixture_log_weights(log_p, origins)
        onehot = cat.one_hot(x, self.n_choices)
        used = None if np.all(x >= 0) else x >= 0
        expected = np.full(self.n_distributions, np.nan)
        weights: dict[int, FloatArray] = {}
        grads = np.zeros_like(self.thetas)
        numeric_grads: dict[int, tuple[FloatArray, FloatArray]] = {}
        active: list[int] = []
        # A distribution none of whose samples has weight (possible only with other weights
        # than the mixture's, e.g. an ablation's) takes no step and has no expected size.
        has_weight = np.isfinite(log_w).any(axis=1)
        hv = self._hypervolume_keys(losses, complexities, violations)
        hv_keys, members = (None, None) if hv is None else hv
        with np.errstate(invalid="ignore"):
            all_w = normalise_log_weights(log_w)
        for k in np.flatnonzero(has_weight).tolist():
            w = all_w[k]
            weights[k] = w
            expected[k] = float(w @ complexities)
            own = self._objective(k, losses, complexities) if hv_keys is None else hv_keys[k]
            f = _feasible_first(own, violations)
            u = weighted_ranking_utility(f, w)
            if float(w @ (u * u)) >= SIGNAL_MIN * self._reference_signal:
                grads[k] = natural_gradient(onehot, self.thetas[k], w, u, used)
                if self.n_numeric:
                    numeric_grads[k] = gaussian.natural_gradient(
                        z,
                        self.means[k],
                        self.variances[k],
                        w,
                        u,
                        positive_mean=self.n_distributions == 1,
                    )
                active.append(k)
        if active:
            extra = None
            # The trust-region radius each distribution steps with (before the step adapts it).
            radii = [self.steps[k].delta for k in active]
            if self.n_numeric:
                extra = np.stack(
                    [
                        gaussian.fisher_coordinates(*numeric_grads[k], self.variances[k])
                        for k in active
                    ]
                )
            new, scales = asng_steps(
                self.thetas[active],
                grads[active],
                self.n_choices,
                self.lower,
                [self.steps[k] for k in active],
                extra,
            )
            self.thetas[active] = new
            for i, (k, scale) in enumerate(zip(active, scales)):
                own_norm = 0.0 if extra is None else float(np.linalg.norm(extra[i]))
                if scale > 0 and own_norm > 0:  # the whole radius, in the Gaussian's own norm
                    self.means[k], self.variances[k] = gaussian.step(
                        self.means[k],
                        self.variances[k],
                        *numeric_grads[k],
                        radii[i] / own_norm,
                        self.sigma_min,
                    )
        if members is not None and self.recentre_members:
            self._recentre_strays(*members)
        if self.budgets is not None:
            for k, w in weights.items():
                if complexity_of is not None:
                    over = complexity_of(cat.mode(self.thetas[k])) > self.budgets[k]
                    self.epsilons[k] = budget_mode.mode_dual_update(float(self.epsilons[k]), over)
                else:
                    violation = budget_mode.violation_probability(w, complexities, self.budgets[k])
                    self.epsilons[k] = budget_mode.dual_update(float(self.epsilons[k]), violation)
        self.expected_complexity = expected
        ids = np.full(finite.shape, -1, dtype=np.int64) if trials is None else trials
        x, losses, complexities, violations = to_archive
        ids = ids[evaluated]
        if archive_only is not None:
            ex, el, ec, ev, et, ez = archive_only
            self._check_update_inputs(ex, np.zeros(el.shape, dtype=np.int64), el, ec, ev, ez)
            keep = np.isfinite(el) & np.isfinite(ec)
            x, losses = np.concatenate([x, ex[keep]]), np.concatenate([losses, el[keep]])
            complexities = np.concatenate([complexities, ec[keep]])
            violations = np.concatenate([violations, ev[keep]])
            ids = np.concatenate([ids, et[keep]])
            z_archive = np.concatenate([z_archive, ez[keep]])
        self.archive.observe(
            x,
            losses,
            complexities,
            violations,
            self.generation,
            self.rank_keys(),
            ids,
            z_archive if self.n_numeric else None,
        )
        self.generation += 1

    def _hypervolume_keys(
        self, losses: FloatArray, complexities: FloatArray, violations: FloatArray
    ) -> tuple[list[FloatArray], tuple[IntArray, FloatArray] | None] | None:
        """Hypervolume mode: per distribution, minus each sample's uncrowded hypervolume
        improvement over the members of the archive's family that it does not own; and the
        members' choices and numeric values (None without members; None in the other modes).

        The plane is fitted to the front of the archive and of this generation's feasible
        samples; distribution k owns the member it is most likely to draw
        (``family.assign_members``).
        """
        if self.family is None:
            return None
        a_loss, a_cost, a_viol = self.archive.arrays()
        feasible = violations <= 0
        pool_l = np.concatenate([a_loss[a_viol <= 0], losses[feasible]])
        pool_c = np.concatenate([a_cost[a_viol <= 0], complexities[feasible]])
        if pool_l.size == 0:
            return [np.zeros(losses.shape) for _ in range(self.n_distributions)], None
        plane = self.family.plane(pool_l, pool_c)
        chosen = self.family.choose(a_loss, a_cost, a_viol <= 0)
        members = plane.points(a_loss[chosen], a_cost[chosen])
        owner: list[int | None] = [None] * self.n_distributions
        found: tuple[IntArray, FloatArray] | None = None
        if chosen:
            entries = [self.archive.entries[i] for i in chosen]
            xs = np.array([e.x for e in entries], dtype=np.int64)
            zs = np.array(
                [[np.nan if v is None else v for v in e.z] for e in entries], dtype=np.float64
            ).reshape(len(entries), -1)
            owner = assign_members(self.log_prob(xs, zs if self.n_numeric else None))
            found = (xs, zs)
        return self.family.keys(plane, members, owner, losses, complexities), found

    def _recentre_strays(self, xs: IntArray, zs: FloatArray) -> None:
        """After a step: a distribution that has strayed from the member it owns (it converged
        elsewhere, often on another distribution's member, while its own lies where it never
        draws, so its ranking gives it no signal towards it) moves onto that member, as a
        COMO-CMA-ES kernel searches around its own incumbent (docs/algorithm.md section 9,
        "Members without a distribution")."""
        numeric = self.n_numeric > 0
        log_p = self.log_prob(xs, zs if numeric else None)
        modes = np.diag(self.log_prob(self.modes(), self.means if numeric else None))
        for k, j in strayed(assign_members(log_p), log_p, modes):
            self.thetas[k] = cat.centred_on(self.thetas[k], self.n_choices, xs[j])
            if numeric:
                used_z = ~np.isnan(zs[j])
                self.means[k][used_z] = zs[j][used_z]

    def _place_size_classes(self) -> None:
        """Size-class mode: budgets from the smallest and largest complexity seen so far."""
        if self.size_classes is None or self.scales.min_complexity is None:
            return
        self.budgets = budget_mode.size_class_budgets(
            self.size_classes, self.scales.min_complexity, self.scales.max_complexity
        )

    def _objective(self, k: int, losses: FloatArray, complexities: FloatArray) -> FloatArray:
        """Distribution k's objective for its update's ranking (lower is better)."""
        s_loss, s_cost = self.scales.loss, self.scales.complexity
        if self.budgets is None:
            f: FloatArray = losses / s_loss + self.epsilons[k] * complexities / s_cost
            return f
        return budget_mode.budget_objective(
            losses, complexities, self.epsilons[k], self.budgets[k], s_loss, s_cost
        )

    # ----------------------------------------------------------------- selection
    def rank_keys(self, *, unbounded_top: bool = False) -> list[RankKeys]:
        """Per distribution, how it ranks architectures it may return (current scales).

        Trade-off mode: ``L / s_L + eps_k c / s_c``. Budget mode: the loss, and only
        architectures within ``b_k`` are eligible. Infeasible architectures (constraint
        violation > 0, or over the budget) are never eligible; they rank after every eligible
        one, by violation, which only matters for what the archive keeps. ``unbounded_top``:
        in size-class mode the largest class (k = 0) may take an architecture of any size, so
        the family starts at the most accurate model.
        """
        s_loss, s_cost = self.scales.loss, self.scales.complexity

        def trade_off(eps: float) -> RankKeys:
            def keys(
                losses: FloatArray, complexities: FloatArray, violations: FloatArray
            ) -> tuple[FloatArray, NDArray[np.bool_], FloatArray]:
                f = losses / s_loss + eps * complexities / s_cost
                return f, violations <= 0, violations

            return keys

        def within(budget: float) -> RankKeys:
            def keys(
                losses: FloatArray, complexities: FloatArray, violations: FloatArray
            ) -> tuple[FloatArray, NDArray[np.bool_], FloatArray]:
                feasible = (violations <= 0) & (complexities <= budget)
                excess = np.maximum(complexities - budget, 0.0) / s_cost
                return losses / s_loss, feasible, violations + excess

            return keys

        def hypervolume(family: HypervolumeFamily) -> list[RankKeys]:
            # The family and the keys depend only on the candidates: computed once for all K.
            memo: dict[bytes, list[FloatArray]] = {}

            def all_keys(
                losses: FloatArray, complexities: FloatArray, violations: FloatArray
            ) -> list[FloatArray]:
                tag = losses.tobytes() + complexities.tobytes() + violations.tobytes()
                if tag not in memo:
                    feasible = violations <= 0
                    out = [np.full(losses.shape, np.inf) for _ in range(self.n_distributions)]
                    if feasible.any():
                        loss, cost = losses[feasible], complexities[feasible]
                        chosen = family.choose(loss, cost)
                        plane = family.plane(loss, cost)
                        members = plane.points(loss[chosen], cost[chosen])
                        owner: list[int | None] = [
                            k if k < len(chosen) else None for k in range(self.n_distributions)
                        ]
                        for k, key in enumerate(family.keys(plane, members, owner, loss, cost)):
                            out[k][feasible] = key
                    memo.clear()
                    memo[tag] = out
                return memo[tag]

            def of(k: int) -> RankKeys:
                def keys(
                    losses: FloatArray, complexities: FloatArray, violations: FloatArray
                ) -> tuple[FloatArray, NDArray[np.bool_], FloatArray]:
                    return (
                        all_keys(losses, complexities, violations)[k],
                        violations <= 0,
                        violations,
                    )

                return keys

            return [of(k) for k in range(self.n_distributions)]

        if self.family is not None:
            return hypervolume(self.family)
        if self.budgets is None:
            return [trade_off(float(e)) for e in self.epsilons]
        bounds = [float(b) for b in self.budgets]
        if unbounded_top and self.size_classes is not None:
            bounds[0] = float("inf")
        return [within(b) for b in bounds]

    def archive_with(self, pending: Sequence[Solution], into: Archive | None = None) -> Archive:
        """A copy of the archive with ``pending`` evaluations pooled in (nothing pruned).

        ``pending`` are evaluations of the generation that has not closed yet: the archive
        receives them when it closes, but a family asked for now should not ignore them.
        Entries keep their indices; new architectures are appended. ``into``: pool into this
        copy (made by an earlier call) instead of a new one.
        """
        archive = self.archive.copy() if into is None else into
        pending = [s for s in pending if np.isfinite(s.loss) and np.isfinite(s.complexity)]
        if pending:
            archive.pool(
                np.stack([np.asarray(s.x, dtype=np.int64) for s in pending]),
                np.array([s.loss for s in pending], dtype=np.float64),
                np.array([s.complexity for s in pending], dtype=np.float64),
                np.array([s.violation for s in pending], dtype=np.float64),
                self.generation,
                np.array([s.trial for s in pending], dtype=np.int64),
                self._numeric_of(pending) if self.n_numeric else None,
            )
        return archive

    def select(
        self,
        x: IntArray | None = None,
        losses: FloatArray | None = None,
        complexities: FloatArray | None = None,
        violations: FloatArray | None = None,
        *,
        archive: Archive | None = None,
        unbounded_top: bool = False,
    ) -> list[int | None]:
        """Which candidate each distribution returns: indices into the candidates, or None.

        Without arguments the candidates are the archive's entries (pessimistic losses, see
        ``optuna_isnas.core.archive``); give ``x``, ``losses``, ``complexities`` (and
        ``violations``) to choose among candidates scored elsewhere, e.g. rescored on a whole
        validation split. Trade-off mode returns distinct, non-dominated architectures; budget
        mode the lowest loss within each budget (``optuna_isnas.core.selection``). A
        distribution with no eligible candidate (nothing evaluated within its budget or
        constraints) gets None. ``unbounded_top``: see ``rank_keys``.
        """
        if losses is None or complexities is None:
            losses, complexities, violations = (archive or self.archive).arrays()
        if violations is None:
            violations = np.zeros(losses.shape, dtype=np.float64)
        if self.family is not None:
            picked: list[int | None] = list(
                self.family.choose(losses, complexities, violations <= 0)
            )
            return picked + [None] * (self.n_distributions - len(picked))
        keys = []
        eligible = np.zeros(losses.shape, dtype=bool)
        for rank in self.rank_keys(unbounded_top=unbounded_top):
            key, feasible, _ = rank(losses, complexities, violations)
            keys.append(np.where(feasible, key, np.inf))
            eligible |= feasible
        distinct = self.budgets is None or self.size_classes is not None
        return choose_family(keys, losses, complexities, distinct=distinct, allowed=eligible)

    def _check_update_inputs(
        self,
        x: IntArray,
        origins: IntArray,
        losses: FloatArray,
        complexities: FloatArray,
        violations: FloatArray,
        z: FloatArray,
    ) -> None:
        m = x.shape[0]
        if x.ndim != 2 or x.shape[1] != self.n_choices.size:
            raise ValueError(f"x must have shape (M, {self.n_choices.size}), got {x.shape}.")
        if z.shape != (m, self.n_numeric):
            raise ValueError(f"z must have shape (M, {self.n_numeric}), got {z.shape}.")
        if np.any((z < 0) | (z > 1)):  # NaN (unused) compares False
            raise ValueError("z holds a numeric value outside the unit interval [0, 1].")
        if any(a.shape != (m,) for a in (origins, losses, complexities, violations)):
            raise ValueError(
                "origins, losses, complexities and violations must each have one entry per sample."
            )
        if not np.all(np.isfinite(violations)) or np.any(violations < 0):
            raise ValueError("violations must be finite and >= 0 (0 means feasible).")
        if np.any(x < cat.UNUSED) or np.any(x >= self.n_choices[None, :]):
            raise ValueError(
                "x holds a choice index outside 0..C_i-1 (or -1: variable not used) for some "
                "variable."
            )
        if np.any(origins < 0) or np.any(origins >= self.n_distributions):
            raise ValueError(f"origins must lie in 0..{self.n_distributions - 1}.")

    # ----------------------------------------------------------------- state
    def to_dict(self) -> dict[str, Any]:
        """The complete state as plain JSON-compatible data (floats round-trip exactly)."""
        return {
            "version": STATE_VERSION,
            "n_choices": self.n_choices.tolist(),
            "epsilons": self.epsilons.tolist(),
            "budgets": None if self.budgets is None else self.budgets.tolist(),
            "size_classes": self.size_classes,
            "family": None
            if self.family is None
            else {
                "k": self.family.k,
                "log_complexity": self.family.log_complexity,
                "reference": self.family.reference,
                "recentre": self.recentre_members,
            },
            "samples_per_distribution": self.lam,
            "alpha": self.alpha,
            "init_delta": self.init_delta,
            "scales": self.scales.to_dict(),
            "generation": self.generation,
            "thetas": self.thetas.tolist(),
            "numeric_cells": self.numeric_cells.tolist(),
            "means": self.means.tolist(),
            "variances": self.variances.tolist(),
            "steps": [
                {"Delta": s.Delta, "gamma": s.gamma, "s": np.asarray(s.s).tolist()}
                for s in self.steps
            ],
            "expected_complexity": None
            if self.expected_complexity is None
            else [None if np.isnan(v) else float(v) for v in self.expected_complexity],
            "archive": self.archive.to_dict(),
            "asked": self._asked,
            "rng": self._rng.bit_generator.state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ISNAS:
        """Rebuild an optimizer from ``to_dict()`` output."""
        if data.get("version") not in READABLE_VERSIONS:
            raise ValueError(
                f"unsupported ISNAS state version {data.get('version')!r}; "
                f"this release reads versions {', '.join(map(str, READABLE_VERSIONS))}."
            )
        budgets = data.get("budgets")
        size_classes = data.get("size_classes")
        family = data.get("family")
        obj = cls(
            data["n_choices"],
            None if budgets is not None or family is not None else data["epsilons"],
            budgets=None if size_classes is not None else budgets,
            size_classes=size_classes,
            hypervolume=None if family is None else family["k"],
            log_complexity=True if family is None else family["log_complexity"],
            reference_point=None if family is None else family["reference"],
            recentre_members=True if family is None else bool(family.get("recentre", True)),
            samples_per_distribution=data["samples_per_distribution"],
            alpha=data["alpha"],
            init_delta=data["init_delta"],
            numeric_cells=data["numeric_cells"],
        )
        shape = (obj.n_distributions, obj.n_numeric)
        obj.means = np.asarray(data["means"], dtype=np.float64).reshape(shape)
        obj.variances = np.asarray(data["variances"], dtype=np.float64).reshape(shape)
        obj.epsilons = np.asarray(data["epsilons"], dtype=np.float64)
        if budgets is not None:
            obj.budgets = np.asarray(budgets, dtype=np.float64)
        obj.scales = RunningScales.from_dict(data["scales"])
        obj.generation = int(data["generation"])
        obj.thetas = np.asarray(data["thetas"], dtype=np.float64)
        obj.steps = [
            StepSizeState(
                obj.init_delta,
                obj.alpha,
                Delta=float(s["Delta"]),
                gamma=float(s["gamma"]),
                s=np.asarray(s["s"], dtype=np.float64),
            )
            for s in data["steps"]
        ]
        ec = data["expected_complexity"]
        obj.expected_complexity = (
            None if ec is None else np.array([np.nan if v is None else v for v in ec], dtype=float)
        )
        obj.archive = Archive.from_dict(data["archive"])
        obj._asked = int(data["asked"])
        obj._rng.bit_generator.state = data["rng"]
        return obj
