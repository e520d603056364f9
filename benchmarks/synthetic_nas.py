"""Synthetic NAS-like two-objective problems with an exactly known best K-point family.

The yardstick for a sampler that returns a *family* of K architectures of different sizes:
each problem's whole space is solved exactly, so a method's family is scored against the best
family that exists, not against other methods.

Problems
--------
An architecture picks one of ``C`` choices in each of ``D`` blocks (Optuna parameters
``b0 .. b{D-1}``, ``trial.suggest_categorical(f"b{i}", list(range(C)))``). Everything below is
drawn from ``numpy.random.default_rng(problem_seed)``:

* cost of choice ``(i, j)``: ``cost_ij = base * w_i * 10**u_ij`` with ``base = 500`` and, by
  cost structure,
  ``uniform``: ``w_i = 1``, ``u_ij ~ U(0, 2)`` (two decades per block);
  ``skew``: as uniform, but two blocks cost ``w_i = 10`` times more (they dominate the size);
  ``flat``: every block has nearly the same cost ladder, ``u_ij = 2 j / (C - 1) + U(-0.05, 0.05)``;
  ``stem``: as uniform, with a large fixed stem (see ``stem`` below).
  Complexity (a parameter count) ``c(x) = stem + sum_i cost_{i, x_i}``; ``stem = 2000``
  (``50 000`` for the stem problem).
* quality of a choice: ``q_ij = a * log10(cost_ij) + luck_ij``, ``a = 1``,
  ``luck_ij ~ N(0, sigma_luck = 0.25)``; interactions between neighbouring blocks
  ``r_i(x_i, x_{i+1}) ~ N(0, sigma_int)`` with ``sigma_int`` 0 (none), 0.15 (mild) or 0.5
  (strong). ``Q(x) = sum_i q_{i, x_i} + sum_i r_i(x_i, x_{i+1})``.
* true loss: with ``t = (Q - Qmin) / (Qmax - Qmin)`` in [0, 1] (``Qmin``, ``Qmax`` over the whole
  space, exact by a max-plus chain DP) and ``g = 3``,
  ``loss = 0.05 + 0.95 * (exp(-g t) - exp(-g)) / (1 - exp(-g))``:
  strictly decreasing in ``Q``, convex (diminishing returns), 1 at the worst architecture and
  0.05 at the best. So the Pareto front of (complexity, loss) is the front of (complexity, -Q).
* observed loss: ``loss * (1 + noise * N(0, 1))``, drawn anew at every evaluation (noise 1 %, or
  3 % in the ``-noise3`` problems), from an RNG seeded by (problem seed, run seed).

Exact front and best family
---------------------------
The Pareto front of (complexity, Q) over all ``C**D`` architectures is computed by dynamic
programming along the chain of blocks: after block ``i``, state ``a = x_i`` holds the
non-dominated (cost so far, quality so far) pairs of all prefixes ending in ``a`` (minimise cost,
maximise quality); block ``i + 1`` with choice ``b`` extends every state's pairs by
``(cost_{i+1,b}, q_{i+1,b} + r_i(a, b))``, and the union is pruned again. Interactions only link
neighbours, so this is exact; back-pointers recover one architecture per front point.
``--selfcheck`` compares it with brute-force enumeration.

Scores live in the plane (true loss, log10 complexity), both minimised. The reference point is
the nadir of the TRUE front plus 10 % of the true front's range on each axis:
``ref = (max loss + 0.1 (max loss - min loss), max log10 c + 0.1 (max log10 c - min log10 c))``
over the front; it is stored in each problem record of the output JSON.
The best K-family is the K-subset of the true front with the largest hypervolume (a best subset
of the whole space can always be taken from the front), computed exactly by the 2-D subset DP
``value[m][i] = max_{j>i} (x_j - x_i) h_i + value[m-1][j]``: with the package's ``best_subset``
for small fronts, and for large ones (more than 3000 points) by the same recursion with a
monotone convex-hull trick (O(K n)), checked against ``best_subset`` and brute force in
``--selfcheck``.

Methods and scores
------------------
Each run drives ``optuna.create_study(directions=["minimize", "minimize"])`` with objectives
(observed loss, complexity) for N trials: ``random``, ``nsga2``, ``tpe`` (Optuna's samplers,
``seed=seed``) and ISNAS variants ``ISNASSampler(seed=seed, **kwargs)`` (two keys are the
harness's: ``"n_trials": "trials"`` passes the run's length, ``"enqueue_extremes": true`` enqueues
the space's cheapest and dearest architectures first, an oracle for the sampler's predicted ends). Every score is a ratio
``HV(true values of a set) / HV(best K-family)`` (at most 1):

* ``returned``: the set the method hands back. Peers: the K completed trials that are best by
  ``best_subset`` on the OBSERVED (loss, log10 c). ISNAS: ``sampler.architectures(study)``.
* ``bestk_true``: best K of all evaluated architectures, chosen on true values (search loss).
* ``bestk_obs``: best K of all evaluated trials, chosen on observed values (noise loss;
  the gap to ``returned`` is the selection loss of ISNAS's own choice).

Commands
--------
::

    python benchmarks/synthetic_nas.py --selfcheck
    python benchmarks/synthetic_nas.py --fronts                      # front sizes, DP times
    python benchmarks/synthetic_nas.py --problems all --trials 300 1000 --seeds 0 1 2 3 4 \\
        --methods random nsga2 tpe --variant isnas={} --variant isnas-hv='{"family":"hypervolume"}' \\
        --jobs 2 --out benchmarks/results/synthetic.json --resume
    python benchmarks/synthetic_nas.py --report --out benchmarks/results/synthetic.json

Results are written after every run (atomically); ``--resume`` skips (problem, method, trials,
seed) records already there.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import multiprocessing
import os
import sys
import tempfile
import time
import warnings
import zlib
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from optuna_isnas.core.hypervolume import best_subset, hypervolume, pareto_front

BASE_COST = 500.0
QUALITY_SLOPE = 1.0  # a: quality per decade of cost
SIGMA_LUCK = 0.25
INTERACTIONS = {"none": 0.0, "mild": 0.15, "strong": 0.5}
LOSS_BEST, LOSS_WORST, LOSS_CURVE = 0.05, 1.0, 3.0
REF_MARGIN = 0.1
LIBRARY_SUBSET_MAX = 3000  # fronts up to this size use the package's best_subset
PEERS = ("random", "nsga2", "tpe")


# --------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Spec:
    name: str
    blocks: int
    choices: int
    interaction: str = "none"
    noise: float = 0.01
    cost: str = "uniform"  # uniform | skew | flat | stem

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode())


SUITE: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("d8c3", 8, 3),
        Spec("d12c5-int", 12, 5, "mild"),
        Spec("d20c4-int", 20, 4, "mild"),
        Spec("d6c8-strong", 6, 8, "strong"),
        Spec("d10c4-noise3", 10, 4, "none", noise=0.03),
        Spec("d16c3-skewcost", 16, 3, "mild", cost="skew"),
        Spec("d8c6-flatcost", 8, 6, "mild", cost="flat"),
        Spec("d14c4-stem", 14, 4, "mild", noise=0.03, cost="stem"),
    )
}


#: Problems drawn after the defaults were chosen, to check them on tables no choice saw: other
#: names (so other random tables), and shapes (D, C, interactions, noise, cost) in other
#: combinations than the suite's. ``--problems heldout`` runs them.
HELDOUT: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("h-d9c4", 9, 4),
        Spec("h-d14c3-int", 14, 3, "mild"),
        Spec("h-d7c6-strong-noise3", 7, 6, "strong", noise=0.03),
        Spec("h-d18c4-skewcost", 18, 4, "mild", cost="skew"),
        Spec("h-d10c5-flat-strong", 10, 5, "strong", cost="flat"),
        Spec("h-d12c4-stem", 12, 4, "none", cost="stem"),
    )
}
PROBLEMS: dict[str, Spec] = {**SUITE, **HELDOUT}


def select_problems(
    requested: list[str], suite: dict[str, Any], heldout: dict[str, Any]
) -> list[str]:
    """``--problems``: ``all`` (the suite), ``heldout``, or names from either; SystemExit naming
    the choices for an unknown name."""
    names = {"all": list(suite), "heldout": list(heldout)}.get(" ".join(requested), requested)
    known = {**suite, **heldout}
    for n in names:
        if n not in known:
            raise SystemExit(f"unknown problem {n!r}; choose from all, heldout, {', '.join(known)}")
    return names


class Problem:
    """Tables of one problem; ``evaluate`` gives (complexity, Q, true loss)."""

    def __init__(self, spec: Spec, seed: int | None = None) -> None:
        self.spec = spec
        d, c = spec.blocks, spec.choices
        rng = np.random.default_rng(spec.seed if seed is None else seed)
        if spec.cost == "flat":
            ladder = 2.0 * np.arange(c) / max(c - 1, 1)
            u = ladder[None, :] + rng.uniform(-0.05, 0.05, size=(d, c))
        else:
            u = rng.uniform(0.0, 2.0, size=(d, c))
        weight = np.ones(d)
        if spec.cost == "skew":
            weight[rng.choice(d, size=min(2, d), replace=False)] = 10.0
        self.cost = BASE_COST * weight[:, None] * 10.0**u
        self.stem = 50_000.0 if spec.cost == "stem" else 2000.0
        luck = rng.normal(0.0, SIGMA_LUCK, size=(d, c))
        self.quality = QUALITY_SLOPE * np.log10(self.cost) + luck
        sigma = INTERACTIONS[spec.interaction]
        self.inter = (
            rng.normal(0.0, sigma, size=(d - 1, c, c)) if sigma > 0 else np.zeros((d - 1, c, c))
        )
        self.q_min, self.q_max = self._extreme(min), self._extreme(max)

    def _extreme(self, pick: Any) -> float:
        best = self.quality[0].copy()
        for i in range(1, self.spec.blocks):
            cand = best[:, None] + (self.quality[i][None, :] + self.inter[i - 1])
            best = cand.max(axis=0) if pick is max else cand.min(axis=0)
        return float(best.max() if pick is max else best.min())

    # Sums in the same order as the DP, so the two agree to the last bit.
    def cost_quality(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (n, D) int array -> (complexity, Q) arrays."""
        x = np.atleast_2d(np.asarray(x, dtype=np.int64))
        c = self.cost[0, x[:, 0]].copy()
        q = self.quality[0, x[:, 0]].copy()
        for i in range(1, self.spec.blocks):
            c = c + self.cost[i, x[:, i]]
            q = q + (self.quality[i, x[:, i]] + self.inter[i - 1, x[:, i - 1], x[:, i]])
        return c + self.stem, q

    def loss_of_q(self, q: np.ndarray | float) -> np.ndarray:
        t = (np.asarray(q, dtype=float) - self.q_min) / (self.q_max - self.q_min)
        g = LOSS_CURVE
        return LOSS_BEST + (LOSS_WORST - LOSS_BEST) * (np.exp(-g * t) - math.exp(-g)) / (
            1 - math.exp(-g)
        )

    def params_to_x(self, params: dict[str, Any]) -> np.ndarray:
        return np.array([int(params[f"b{i}"]) for i in range(self.spec.blocks)], dtype=np.int64)

    def true_points(self, xs: np.ndarray) -> np.ndarray:
        """(n, 2) array of (true loss, log10 complexity)."""
        c, q = self.cost_quality(xs)
        return np.column_stack([self.loss_of_q(q), np.log10(c)])


@cache
def get_problem(name: str) -> Problem:
    return Problem(PROBLEMS[name])


# --------------------------------------------------------------------------- exact front
def _prune(cost: np.ndarray, qual: np.ndarray) -> np.ndarray:
    """Indices of non-dominated (min cost, max quality) pairs, sorted by cost (ties kept once)."""
    order = np.lexsort((-qual, cost))
    q_sorted = qual[order]
    prev_max = np.maximum.accumulate(np.concatenate([[-np.inf], q_sorted[:-1]]))
    return order[q_sorted > prev_max]


def exact_front(p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact (complexity, Q) front over all C**D architectures and one architecture per point.

    Returns (complexity, Q, architectures) sorted by complexity ascending (Q ascending too).
    """
    d, c = p.spec.blocks, p.spec.choices
    # Per block, per state: cost, quality, back-pointer (previous state, index in its list).
    cost = [np.array([p.cost[0, a]]) for a in range(c)]
    qual = [np.array([p.quality[0, a]]) for a in range(c)]
    back: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for i in range(1, d):
        new_cost, new_qual, new_back = [], [], []
        for b in range(c):
            cc = np.concatenate([cost[a] + p.cost[i, b] for a in range(c)])
            qq = np.concatenate(
                [qual[a] + (p.quality[i, b] + p.inter[i - 1, a, b]) for a in range(c)]
            )
            st = np.concatenate([np.full(len(cost[a]), a) for a in range(c)])
            ix = np.concatenate([np.arange(len(cost[a])) for a in range(c)])
            keep = _prune(cc, qq)
            new_cost.append(cc[keep])
            new_qual.append(qq[keep])
            new_back.append((st[keep], ix[keep]))
        cost, qual = new_cost, new_qual
        back.append(new_back)
    cc = np.concatenate(cost)
    qq = np.concatenate(qual)
    st = np.concatenate([np.full(len(cost[a]), a) for a in range(c)])
    ix = np.concatenate([np.arange(len(cost[a])) for a in range(c)])
    keep = _prune(cc, qq)
    n = len(keep)
    arch = np.empty((n, d), dtype=np.int64)
    state, index = st[keep], ix[keep]
    for i in range(d - 1, -1, -1):
        arch[:, i] = state
        if i > 0:
            prev_state = np.empty(n, dtype=np.int64)
            prev_index = np.empty(n, dtype=np.int64)
            for b in range(c):
                m = state == b
                prev_state[m] = back[i - 1][b][0][index[m]]
                prev_index[m] = back[i - 1][b][1][index[m]]
            state, index = prev_state, prev_index
    return cc[keep] + p.stem, qq[keep], arch


def brute_front(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    xs = np.array(list(itertools.product(range(p.spec.choices), repeat=p.spec.blocks)))
    c, q = p.cost_quality(xs)
    keep = _prune(c, q)
    return c[keep], q[keep]


# --------------------------------------------------------------------------- best subset
def best_subset_large(points: np.ndarray, k: int, reference: np.ndarray) -> list[int]:
    """Exact best-``k`` hypervolume subset (2-D, minimise both), O(k n) after sorting.

    The package's recursion ``value[m][i] = max_{j>i} x_j h_i + value[m-1][j] - x_i h_i``
    (front sorted by the first objective, ``h = ry - y``), evaluated per layer with a monotone
    convex-hull trick: lines ``j`` (slope x_j, intercept value[m-1][j]) join in decreasing slope,
    queries ``h_i`` come in decreasing order.
    """
    pts = np.asarray(points, dtype=float)
    rx, ry = float(reference[0]), float(reference[1])
    inside = [int(i) for i in pareto_front(pts) if pts[i, 0] < rx and pts[i, 1] < ry]
    n = len(inside)
    if n <= k:
        return inside
    x = pts[inside, 0].tolist()
    h = (ry - pts[inside, 1]).tolist()
    prev = [(rx - x[i]) * h[i] for i in range(n)]
    nxt_layers: list[list[int]] = []
    for _layer in range(2, k + 1):
        cur = [-math.inf] * n
        nxt = [-1] * n
        hull: deque[int] = deque()  # line indices, slopes decreasing from left to right
        for i in range(n - 2, -1, -1):
            j = i + 1
            bj = prev[j]
            if bj > -math.inf:
                while len(hull) >= 2:
                    l1, l2 = hull[-2], hull[-1]
                    s1, s2, s3 = x[l1], x[l2], x[j]
                    b1, b2 = prev[l1], prev[l2]
                    if (bj - b2) * (s1 - s2) >= (b2 - b1) * (s2 - s3):
                        hull.pop()
                    else:
                        break
                hull.append(j)
            if not hull:
                continue
            hi = h[i]
            while (
                len(hull) >= 2
                and x[hull[0]] * hi + prev[hull[0]] <= x[hull[1]] * hi + prev[hull[1]]
            ):
                hull.popleft()
            best = hull[0]
            cur[i] = (x[best] - x[i]) * hi + prev[best]
            nxt[i] = best
        nxt_layers.append(nxt)
        prev = cur
    i = int(np.argmax(prev))
    chosen = [inside[i]]
    for nxt in reversed(nxt_layers):
        i = nxt[i]
        chosen.append(inside[i])
    return chosen


def choose_best(points: np.ndarray, k: int, reference: np.ndarray) -> list[int]:
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(points) == 0:
        return []
    if len(points) <= LIBRARY_SUBSET_MAX:
        return best_subset(points, k, reference)
    return best_subset_large(points, k, reference)


# --------------------------------------------------------------------------- problem records
def problem_record(name: str, k: int) -> dict[str, Any]:
    p = get_problem(name)
    t0 = time.perf_counter()
    c, q, arch = exact_front(p)
    dp_s = time.perf_counter() - t0
    pts = np.column_stack([p.loss_of_q(q), np.log10(c)])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    ref = hi + REF_MARGIN * (hi - lo)
    t0 = time.perf_counter()
    chosen = choose_best(pts, k, ref)
    subset_s = time.perf_counter() - t0
    hv_best = hypervolume(pts[chosen], ref)
    chosen = sorted(chosen, key=lambda i: c[i])
    s = p.spec
    return {
        "blocks": s.blocks,
        "choices": s.choices,
        "interaction": s.interaction,
        "noise": s.noise,
        "cost": s.cost,
        "seed": s.seed,
        "stem": p.stem,
        "n_architectures": s.choices**s.blocks,
        "front_size": len(c),
        "dp_seconds": round(dp_s, 4),
        "subset_seconds": round(subset_s, 4),
        "k": k,
        "reference": [float(v) for v in ref],
        "hv_best": hv_best,
        "hv_front": hypervolume(pts, ref),
        "complexity_range": [float(c.min()), float(c.max())],
        "best_family": [
            {
                "params": {f"b{i}": int(v) for i, v in enumerate(arch[j])},
                "complexity": float(c[j]),
                "loss": float(pts[j, 0]),
            }
            for j in chosen
        ],
    }


# --------------------------------------------------------------------------- runs
def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*experimental.*")
    logging.getLogger("optuna_isnas").setLevel(logging.ERROR)


def make_sampler(method: str, kwargs: dict[str, Any] | None, seed: int) -> Any:
    import optuna

    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    from optuna_isnas import ISNASSampler

    return ISNASSampler(seed=seed, **(kwargs or {}))


def _ratio(p: Problem, xs: np.ndarray, ref: np.ndarray, hv_best: float) -> float:
    if len(xs) == 0:
        return 0.0
    return hypervolume(p.true_points(xs), ref) / hv_best


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    import optuna

    _quiet()
    name, method, trials, seed, k = (
        task["problem"],
        task["method"],
        task["trials"],
        task["seed"],
        task["k"],
    )
    p = get_problem(name)
    ref, hv_best = np.asarray(task["reference"]), task["hv_best"]
    d, choices = p.spec.blocks, list(range(p.spec.choices))
    noise_rng = np.random.default_rng([p.spec.seed, seed])

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = np.array([trial.suggest_categorical(f"b{i}", choices) for i in range(d)])
        c, q = p.cost_quality(x[None, :])
        loss = float(p.loss_of_q(q[0]))
        return loss * (1.0 + p.spec.noise * noise_rng.standard_normal()), float(c[0])

    kwargs = dict(task.get("kwargs") or {})
    if kwargs.get("reference_point") == "problem":  # the scores' own reference point
        kwargs["reference_point"] = [float(ref[0]), float(10.0 ** ref[1])]
    if kwargs.get("n_trials") == "trials":  # the study's own length (finalists re-evaluated)
        kwargs["n_trials"] = trials
    extremes = kwargs.pop("enqueue_extremes", False)  # ablation: the cheapest and dearest first
    sampler = make_sampler(task["base"], kwargs, seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    if extremes:
        for pick in (np.argmin, np.argmax):
            study.enqueue_trial({f"b{i}": int(pick(p.cost[i])) for i in range(d)})
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    opt_s = time.perf_counter() - t0
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    xs = np.array([p.params_to_x(t.params) for t in done])
    obs = np.array([[t.values[0], math.log10(t.values[1])] for t in done])
    true = p.true_points(xs)
    pick_true = choose_best(true, k, ref)
    pick_obs = choose_best(obs, k, ref)
    rec: dict[str, Any] = {
        "problem": name,
        "method": method,
        "base": task["base"],
        "kwargs": task.get("kwargs"),
        "trials": trials,
        "seed": seed,
        "k": k,
        "n_complete": len(done),
        "n_distinct": len({tuple(r) for r in xs.tolist()}),
        "bestk_true": _ratio(p, xs[pick_true], ref, hv_best),
        "bestk_obs": _ratio(p, xs[pick_obs], ref, hv_best),
        "optimize_seconds": round(opt_s, 3),
    }
    if task["base"] == "isnas":
        t1 = time.perf_counter()
        family = sampler.architectures(study)
        rec["family_seconds"] = round(time.perf_counter() - t1, 3)
        fx = np.array([p.params_to_x(a) for a in family]) if family else np.zeros((0, d), int)
        rec["returned"] = _ratio(p, fx, ref, hv_best)
        rec["family_size"] = len(family)
        rec["family_distinct"] = len({tuple(r) for r in fx.tolist()})
        rec["family"] = [
            {
                "params": {f"b{i}": int(v) for i, v in enumerate(row)},
                "loss": float(pt[0]),
                "log10_complexity": float(pt[1]),
            }
            for row, pt in zip(fx, p.true_points(fx) if len(fx) else [])
        ]
    else:
        rec["returned"] = rec["bestk_obs"]
    rec["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return rec


# --------------------------------------------------------------------------- storage
def load(path: str) -> dict[str, Any]:
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"problems": {}, "runs": []}


def save(path: str, data: dict[str, Any]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".synthetic-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- report
def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    a = np.asarray(values)
    sd = a.std(ddof=1) if len(a) > 1 else 0.0
    return f"{a.mean():.3f} ± {sd:.3f}"


def report(data: dict[str, Any]) -> str:
    runs = data["runs"]
    seen = list(dict.fromkeys(r["method"] for r in runs))
    methods = [m for m in PEERS if m in seen] + [m for m in seen if m not in PEERS]
    problems = [n for n in PROBLEMS if any(r["problem"] == n for r in runs)]
    problems += [n for n in dict.fromkeys(r["problem"] for r in runs) if n not in problems]
    out: list[str] = []
    out.append("| problem | D | C | front | DP s | hv_best |")
    out.append("|---|---|---|---|---|---|")
    for n in problems:
        pr = data["problems"].get(n, {})
        out.append(
            f"| {n} | {pr.get('blocks')} | {pr.get('choices')} | {pr.get('front_size')} | "
            f"{pr.get('dp_seconds')} | {pr.get('hv_best', float('nan')):.4g} |"
        )
    for trials in sorted({r["trials"] for r in runs}):
        sel = [r for r in runs if r["trials"] == trials]
        out.append(
            f"\n### {trials} trials: returned family HV / best K-family HV (mean ± sd over seeds)\n"
        )
        out.append("| problem | " + " | ".join(methods) + " |")
        out.append("|---" * (len(methods) + 1) + "|")
        means: dict[str, list[float]] = {m: [] for m in methods}
        for n in problems:
            cells = []
            for m in methods:
                v = [r["returned"] for r in sel if r["problem"] == n and r["method"] == m]
                if v:
                    means[m].append(float(np.mean(v)))
                cells.append(_cell(v))
            out.append(f"| {n} | " + " | ".join(cells) + " |")
        out.append(
            "| **mean over problems** | "
            + " | ".join(f"**{np.mean(means[m]):.3f}**" if means[m] else "-" for m in methods)
            + " |"
        )
        out.append(
            "\nSplit, mean over problems: best-K true / best-K observed / returned; "
            "mean wall s per run\n"
        )
        out.append("| method | best-K true | best-K obs | returned | wall s |")
        out.append("|---|---|---|---|---|")
        for m in methods:
            rs = [r for r in sel if r["method"] == m]
            if not rs:
                continue

            def pm(key: str, rs: list[dict[str, Any]] = rs) -> float:
                per_problem = [[r[key] for r in rs if r["problem"] == n] for n in problems]
                return float(np.mean([np.mean(v) for v in per_problem if v]))

            wall = np.mean([r["wall_seconds"] for r in rs])
            out.append(
                f"| {m} | {pm('bestk_true'):.3f} | {pm('bestk_obs'):.3f} | "
                f"{pm('returned'):.3f} | {wall:.1f} |"
            )
    return "\n".join(out)


# --------------------------------------------------------------------------- self-check
def selfcheck() -> None:
    rng = np.random.default_rng(0)
    specs = [
        Spec("chk-a", 5, 3),
        Spec("chk-b", 5, 3, "strong"),
        Spec("chk-c", 5, 3, "mild", cost="skew"),
        Spec("chk-d", 4, 4, "mild", cost="flat"),
        Spec("chk-e", 5, 3, "strong", cost="stem"),
        Spec("chk-f", 3, 7, "strong"),
        Spec("chk-g", 1, 5),
        Spec("chk-h", 7, 4, "mild"),
    ]
    for spec in specs:
        for s in range(3):
            p = Problem(spec, seed=spec.seed + s)
            c, q, arch = exact_front(p)
            bc, bq = brute_front(p)
            assert len(c) == len(bc) and np.array_equal(c, bc) and np.array_equal(q, bq), spec
            ac, aq = p.cost_quality(arch)
            assert np.array_equal(ac, c) and np.array_equal(aq, q), "back-pointers"
            loss = p.loss_of_q(q)
            assert np.all(np.diff(loss) < 0) and loss.min() >= LOSS_BEST - 1e-12
        print(
            f"  front DP == brute force: {spec.name} (D={spec.blocks}, C={spec.choices}, "
            f"{spec.interaction}, {spec.cost}), front {len(c)} of {spec.choices**spec.blocks}"
        )
    # Loss range over a whole space.
    p = Problem(Spec("chk-h", 7, 4, "mild"))
    xs = np.array(list(itertools.product(range(4), repeat=7)))
    _, q = p.cost_quality(xs)
    whole = p.loss_of_q(q)
    assert abs(whole.min() - LOSS_BEST) < 1e-12 and abs(whole.max() - LOSS_WORST) < 1e-12
    # Best subset: brute force over all K-subsets of small fronts, library vs hull DP.
    for trial in range(40):
        n = int(rng.integers(1, 14))
        pts = rng.random((n, 2))
        if trial % 2:
            pts = np.column_stack([np.sort(pts[:, 0]), np.sort(pts[:, 1])[::-1]])
        ref = np.array([1.1, 1.1])
        for k in (1, 2, 3, 4):
            brute = max(
                (
                    hypervolume(pts[list(sub)], ref)
                    for sub in itertools.combinations(range(n), min(k, n))
                ),
                default=0.0,
            )
            lib = hypervolume(pts[best_subset(pts, k, ref)], ref)
            big = best_subset_large(pts, k, ref)
            assert len(big) <= k
            hull = hypervolume(pts[big], ref)
            assert abs(lib - brute) <= 1e-12 and abs(hull - brute) <= 1e-12, (
                trial,
                k,
                brute,
                lib,
                hull,
            )
    print(
        "  best_subset == best_subset_large == brute force over all K-subsets (40 fronts, K=1..4)"
    )
    for n in (200, 1000, 3000):
        x = np.sort(rng.random(n))
        y = np.sort(rng.random(n) ** rng.uniform(0.3, 3))[::-1]
        pts = np.column_stack([x, y])
        ref = np.array([1.05, 1.05])
        for k in (2, 4, 7):
            lib = hypervolume(pts[best_subset(pts, k, ref)], ref)
            hull = hypervolume(pts[best_subset_large(pts, k, ref)], ref)
            assert abs(lib - hull) <= 1e-12 * max(lib, 1.0), (n, k, lib, hull)
    print("  best_subset_large == best_subset on fronts of 200, 1000, 3000 points (K=2, 4, 7)")
    # Suite problems small enough to enumerate; and the hull DP on real fronts.
    for name in ("d8c3", "d6c8-strong", "h-d9c4", "h-d7c6-strong-noise3"):
        p = get_problem(name)
        c, q, _ = exact_front(p)
        bc, bq = brute_front(p)
        assert np.array_equal(c, bc) and np.array_equal(q, bq), name
        print(
            f"  {name}: front DP == brute force over all {p.spec.choices**p.spec.blocks} "
            f"architectures ({len(c)} points)"
        )
    for name in PROBLEMS:
        p = get_problem(name)
        c, q, _ = exact_front(p)
        pts = np.column_stack([p.loss_of_q(q), np.log10(c)])
        ref = pts.max(axis=0) + REF_MARGIN * np.ptp(pts, axis=0)
        lib = hypervolume(pts[best_subset(pts, 4, ref)], ref)
        hull = hypervolume(pts[best_subset_large(pts, 4, ref)], ref)
        assert abs(lib - hull) <= 1e-12 * lib, (name, lib, hull)
    print("  best_subset_large == best_subset on every suite and held-out front (K=4)")
    print("selfcheck passed")


# --------------------------------------------------------------------------- main
def _parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    if "=" not in text:
        return text, {}
    name, _, js = text.partition("=")
    kwargs = json.loads(js) if js.strip() else {}
    if not isinstance(kwargs, dict):
        raise SystemExit(f"--variant {name}: kwargs must be a JSON object, got {js!r}")
    return name, kwargs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--selfcheck", action="store_true")
    ap.add_argument("--fronts", action="store_true", help="print front sizes and DP times")
    ap.add_argument("--report", action="store_true")
    ap.add_argument(
        "--problems",
        nargs="+",
        default=["all"],
        help="problem names, or all (the suite) or heldout (problems drawn to check the defaults)",
    )
    ap.add_argument("--trials", nargs="+", type=int, default=[300])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument(
        "--methods",
        nargs="*",
        default=None,
        help="peers and/or 'isnas' (default: random nsga2 tpe isnas, or random nsga2 "
        "tpe when --variant is given)",
    )
    ap.add_argument("--isnas-kwargs", default="{}", help="JSON kwargs of the 'isnas' method")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="an ISNAS variant (repeatable)",
    )
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/synthetic.json")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)

    if args.selfcheck:
        selfcheck()
        return
    if args.report:
        print(report(load(args.out)))
        return
    names = select_problems(args.problems, SUITE, HELDOUT)
    if args.fronts:
        for n in names:
            r = problem_record(n, args.k)
            print(
                f"{n:16s} space {r['n_architectures']:.3g}  front {r['front_size']:6d}  "
                f"DP {r['dp_seconds']:.3f}s  subset {r['subset_seconds']:.3f}s  hv_best "
                f"{r['hv_best']:.4g}  (whole front {r['hv_front']:.4g})"
            )
        return

    _quiet()
    methods: dict[str, tuple[str, dict[str, Any] | None]] = {}
    default = ["random", "nsga2", "tpe"] + ([] if args.variant else ["isnas"])
    for m in args.methods if args.methods is not None else default:
        if m in PEERS:
            methods[m] = (m, None)
        elif m == "isnas":
            methods[m] = ("isnas", json.loads(args.isnas_kwargs))
        else:
            raise SystemExit(f"unknown method {m!r}")
    for v in args.variant:
        name, given = _parse_variant(v)
        methods[name] = ("isnas", given)
    for name, (base, kwargs) in list(methods.items()):
        if base != "isnas":
            continue
        probe = dict(kwargs or {})
        if probe.get("reference_point") == "problem":  # filled in per problem by run_one
            probe["reference_point"] = [1.0, 1.0]
        if probe.get("n_trials") == "trials":  # filled in per run by run_one
            probe["n_trials"] = 100
        probe.pop("enqueue_extremes", None)
        try:
            make_sampler("isnas", probe, 0)
        except (TypeError, ValueError) as e:
            print(
                f"SKIPPING variant {name} {json.dumps(kwargs)}: ISNASSampler rejected it: {e}",
                file=sys.stderr,
            )
            del methods[name]

    data = load(args.out) if args.resume else {"problems": {}, "runs": []}
    for n in names:
        rec = data["problems"].get(n)
        if rec is None or rec.get("k") != args.k:
            rec = problem_record(n, args.k)
            data["problems"][n] = rec
            print(
                f"{n}: front {rec['front_size']} points, DP {rec['dp_seconds']:.2f}s, "
                f"hv_best {rec['hv_best']:.4g}",
                flush=True,
            )
    save(args.out, data)

    done = {(r["problem"], r["method"], r["trials"], r["seed"]): r for r in data["runs"]}
    tasks = []
    for n, trials, seed, (m, (base, kwargs)) in itertools.product(
        names, args.trials, args.seeds, methods.items()
    ):
        key = (n, m, trials, seed)
        if key in done:
            if done[key].get("kwargs") != kwargs:
                print(
                    f"warning: {key} was run with kwargs {done[key].get('kwargs')}, now "
                    f"{kwargs}; kept the old record",
                    file=sys.stderr,
                )
            continue
        pr = data["problems"][n]
        tasks.append(
            {
                "problem": n,
                "method": m,
                "base": base,
                "kwargs": kwargs,
                "trials": trials,
                "seed": seed,
                "k": args.k,
                "reference": pr["reference"],
                "hv_best": pr["hv_best"],
            }
        )
    # Long runs first, so parallel workers finish together.
    tasks.sort(key=lambda t: (-t["trials"], t["base"] != "tpe"))
    print(f"{len(tasks)} runs to do ({len(done)} already in {args.out})", flush=True)
    t0 = time.perf_counter()

    def record(rec: dict[str, Any], i: int) -> None:
        data["runs"].append(rec)
        save(args.out, data)
        print(
            f"[{i}/{len(tasks)} {time.perf_counter() - t0:.0f}s] {rec['problem']} {rec['method']} "
            f"N={rec['trials']} seed={rec['seed']}: returned {rec['returned']:.3f} "
            f"(best-K true {rec['bestk_true']:.3f}, obs {rec['bestk_obs']:.3f}) "
            f"{rec['wall_seconds']:.1f}s",
            flush=True,
        )

    if args.jobs <= 1:
        for i, t in enumerate(tasks, 1):
            record(run_one(t), i)
    else:
        with multiprocessing.get_context("fork").Pool(args.jobs, initializer=_quiet) as pool:
            for i, rec in enumerate(pool.imap_unordered(run_one, tasks), 1):
                record(rec, i)
    print(f"done in {time.perf_counter() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
