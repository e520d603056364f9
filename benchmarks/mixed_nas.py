"""Mixed NAS-like two-objective studies (categorical ops, int sizes, float rates) with an exactly
known best K-point family (issue 15).

The studies are declared as a user declares an ordinary Optuna study: categorical operations per
block, an int ``depth`` and/or ``width``, a log-float learning rate ``lr`` and a linear float
regulariser ``wd`` (and, in one problem, a ``dropout`` that exists only for deep networks). The
loss depends on all of them, and the best learning rate and weight decay depend on the
architecture, so a sampler has to learn them jointly with the ops and the sizes.

Problems
--------
The ops part is a problem of ``benchmarks/synthetic_nas.py`` (its ``Problem``, same tables, same
seed by name): ``D`` blocks ``b0 .. b{D-1}`` of ``C`` choices, block costs ``cost_ij``, qualities
``q_ij`` and neighbour interactions. Its cost sum ``S(x) = sum_i cost_{i,x_i}`` and quality
``Q_ops(x)`` are taken from there. On top of it, for one grid point ``g`` of the int parameters:

* ``depth`` (``suggest_int("depth", lo, hi)``) and ``width`` (``suggest_int("width", lo, hi,
  log=True)`` or ``step=...``); a missing one is fixed. ``u_depth = log(depth/lo)/log(hi/lo)``,
  ``u_width`` likewise, in [0, 1] (0.5 when the parameter is absent).
* complexity ``c = STEM + m_g S(x)`` with ``m_g = (depth/lo_d) (width/lo_w)**2`` (a parameter
  count grows with depth and with width squared).
* quality ``Q = Q_ops(x) + SIZE_QUALITY * D * (h(u_depth) + h(u_width))``,
  ``h(u) = (1 - exp(-3u)) / (1 - exp(-3))`` (diminishing returns of size). ``t = (Q - Qmin) /
  (Qmax - Qmin)`` over the whole space (exact: the ops' chain-DP extremes plus the size term's)
  and ``base(Q) = 0.05 + 0.95 (exp(-3t) - exp(-3)) / (1 - exp(-3))`` as in synthetic_nas.
* the continuous part adds penalties, each ``A (sqrt(w**2 + z**2) - w)`` (pseudo-Huber: quadratic
  within ``w`` of the optimum, ``A`` per unit beyond it, exactly 0 at ``z = 0``):
  ``lr``: ``z = log10(lr) - log10(lr*)``, ``A = 0.1`` per decade, ``w = lr_width`` decades,
  ``log10 lr* = -3 + 0.5 - u_depth + 0.5 - u_width + lr_ops * mean_i delta[x_i]``
  (deeper and wider want smaller rates; ``delta`` a per-choice shift in [-1, 1], so in some
  problems the ops move the best rate too); ``lr*`` always lies in [1e-5, 1e-1];
  ``wd``: ``z = wd - wd*``, ``A = 0.3``, ``w = wd_width``, ``wd* = 0.02 + 0.2 s`` with ``s`` the
  position of ``log10 c`` in the space's range (bigger models want more weight decay), in
  [0.02, 0.22] within [0, 0.3];
  ``dropout`` (conditional problem only: suggested only when ``depth >= cond_depth``, in [0, 0.5]):
  ``z = dropout - dropout*``, ``dropout* = min(0.4, 0.08 (depth - cond_depth + 1))``,
  ``A = 0.2``, ``w = 0.05``.
  True loss ``= base(Q) + penalties``; observed ``= true * (1 + noise N(0, 1))``.

Exact front and best family
---------------------------
For every discrete point (ops, ints) the continuous optimum is known in closed form: every
penalty is 0 at its optimum, which lies inside its range, so ``min loss = base(Q)``. The front of
the whole mixed space is therefore the front of (complexity, Q) over ops and the int grid. For a
fixed grid point ``g``, ``m_g > 0`` scales the cost and the size term shifts the quality, so any
architecture off the ops front stays dominated: the mixed front is the pruned union over ``g`` of
the ops front (synthetic_nas's exact chain DP) mapped through ``g``. ``--selfcheck`` compares it
with brute force over ops x grid on small problems, and checks the closed-form continuous optimum
with scipy (L-BFGS-B from several starts) on sample points of every suite problem. The best
K-family and the scores (true loss, log10 complexity; reference = true front's nadir + 10 %)
follow synthetic_nas exactly (its ``choose_best``).

Methods and scores
------------------
``random``, ``nsga2``, ``tpe`` (Optuna's, ``seed=seed``), ``isnas`` (``ISNASSampler(seed=seed)``)
and ISNAS variants ``--variant NAME=JSON`` of keyword arguments; ``"independent_sampler": "tpe"``
(or ``"random"``) there means ``optuna.samplers.TPESampler(seed=seed)`` (``RandomSampler``);
``"categorical_ints_upto": N`` declares every linear int with at most N values (depth, a stepped
width) as ``suggest_categorical`` of its values instead of ``suggest_int``.
Every score is ``HV(true values of a set) / HV(best K-family)``:

* ``returned``: peers: their best K completed trials by ``best_subset`` on OBSERVED
  (loss, log10 c). ISNAS: ``sampler.architectures(study)``, scored with every parameter it
  returns (ops, ints and floats); a member missing a parameter of its own trial space is
  completed from the best-observed trial with the same ops and ints (counted in ``completed``).
* ``bestk_true`` / ``bestk_obs``: best K of all evaluated trials chosen on true / observed values.

Diagnostics per run: ``late_lr_near``: share of the last 100 trials with ``|log10 lr/lr*|`` <= 0.25
decade, and ``late_penalty``: their mean penalty.

Commands
--------
::

    python benchmarks/mixed_nas.py --selfcheck
    python benchmarks/mixed_nas.py --fronts
    python benchmarks/mixed_nas.py --trials 400 --seeds 0 1 2 3 4 --methods random nsga2 tpe \\
        --jobs 2 --out benchmarks/results/mixed_peers.json --resume
    python benchmarks/mixed_nas.py --trials 400 --seeds 0 1 2 3 4 --methods isnas \\
        --variant isnas_tpe='{"independent_sampler": "tpe"}' \\
        --jobs 2 --out benchmarks/results/mixed_isnas.json --resume
    python benchmarks/mixed_nas.py --report --out benchmarks/results/mixed_peers.json \\
        --merge benchmarks/results/mixed_isnas.json
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import sys
import time
import zlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import synthetic_nas as sn

from optuna_isnas.core.hypervolume import hypervolume

STEM = 2000.0
SIZE_QUALITY = 2.0  # size-term quality per block at the largest size (families span sizes)
LR_LOW, LR_HIGH, LR_CENTER = 1e-5, 1e-1, -3.0
WD_LOW, WD_HIGH = 0.0, 0.3
DROPOUT_LOW, DROPOUT_HIGH, DROPOUT_WIDTH = 0.0, 0.5, 0.05
CATEGORICAL_INTS = "categorical_ints_upto"  # a variant key that declares small ints (docstring)
LR_WEIGHT, WD_WEIGHT, DROPOUT_WEIGHT = 0.1, 0.3, 0.2
LATE = 100  # trials looked at by the late_* diagnostics
LR_NEAR = 0.25  # decades
PEERS = sn.PEERS


# --------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class MixedSpec:
    name: str
    blocks: int
    choices: int
    interaction: str = "none"
    noise: float = 0.01
    cost: str = "uniform"
    depth: tuple[int, int] | None = None  # (low, high)
    width: tuple[int, int, int, bool] | None = None  # (low, high, step, log)
    lr_width: float = 0.2  # decades
    wd_width: float = 0.04
    lr_ops: float = 0.0  # decades of lr* moved by the ops
    cond_depth: int | None = None  # dropout exists for depth >= cond_depth

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode())

    def ops_spec(self) -> sn.Spec:
        return sn.Spec(
            self.name, self.blocks, self.choices, self.interaction, self.noise, self.cost
        )


SUITE: dict[str, MixedSpec] = {
    s.name: s
    for s in (
        MixedSpec("m-d8c4-depth", 8, 4, depth=(1, 8), lr_width=0.3, wd_width=0.06),
        MixedSpec(
            "m-d12c5-width", 12, 5, "mild", width=(16, 256, 1, True), lr_width=0.1, wd_width=0.03
        ),
        MixedSpec(
            "m-d6c6-strong-step",
            6,
            6,
            "strong",
            depth=(1, 6),
            width=(32, 512, 32, False),
            lr_width=0.2,
            wd_width=0.02,
        ),
        MixedSpec(
            "m-d16c3-lrops", 16, 3, "mild", depth=(2, 12), lr_width=0.1, wd_width=0.05, lr_ops=0.8
        ),
        MixedSpec("m-d10c4-cond", 10, 4, "mild", depth=(1, 8), cond_depth=4, lr_width=0.2),
        MixedSpec(
            "m-d14c4-noise3-skew",
            14,
            4,
            "mild",
            noise=0.03,
            cost="skew",
            width=(8, 1024, 1, True),
            lr_width=0.4,
            wd_width=0.08,
            lr_ops=0.5,
        ),
    )
}

#: Problems drawn after the defaults were chosen, to check them where no choice looked: other
#: names (so other random tables) and other combinations of ints, interactions, noise and
#: conditional parameters. ``--problems heldout`` runs them.
HELDOUT: dict[str, MixedSpec] = {
    s.name: s
    for s in (
        MixedSpec(
            "h-m-d9c4-depth-width",
            9,
            4,
            "mild",
            depth=(1, 6),
            width=(16, 128, 16, False),
            lr_width=0.25,
            wd_width=0.05,
        ),
        MixedSpec("h-m-d13c3-lrops", 13, 3, depth=(2, 10), lr_width=0.15, lr_ops=0.6),
        MixedSpec("h-m-d7c5-strong-cond", 7, 5, "strong", depth=(1, 8), cond_depth=3),
        MixedSpec(
            "h-m-d11c4-noise3-width",
            11,
            4,
            "mild",
            noise=0.03,
            width=(8, 512, 1, True),
            lr_width=0.3,
            wd_width=0.06,
        ),
    )
}
PROBLEMS: dict[str, MixedSpec] = {**SUITE, **HELDOUT}


def _h(u: np.ndarray) -> np.ndarray:
    return (1.0 - np.exp(-3.0 * u)) / (1.0 - math.exp(-3.0))


def _unit(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.log(v / lo) / math.log(hi / lo) if hi > lo else np.zeros_like(v, dtype=float)


def _huber(z: np.ndarray, width: float) -> np.ndarray:
    return np.sqrt(width**2 + np.asarray(z, dtype=float) ** 2) - width


class MixedProblem:
    """Tables of one mixed problem; ``true_points`` scores parameter dicts exactly."""

    def __init__(self, spec: MixedSpec, seed: int | None = None) -> None:
        self.spec = spec
        seed = spec.seed if seed is None else seed
        self.ops = sn.Problem(spec.ops_spec(), seed=seed)
        rng = np.random.default_rng([seed, 1])
        self.delta = rng.permutation(np.linspace(-1.0, 1.0, spec.choices))
        if spec.depth is not None:
            depths = np.arange(spec.depth[0], spec.depth[1] + 1)
        else:
            depths = np.array([1])
        if spec.width is not None:
            lo, hi, step, _ = spec.width
            widths = np.arange(lo, hi + 1, step)
        else:
            widths = np.array([1])
        dd, ww = np.meshgrid(depths, widths, indexing="ij")
        self.grid_depth, self.grid_width = dd.ravel(), ww.ravel()
        self.grid_mult = self._mult(self.grid_depth, self.grid_width)
        self.grid_size_q = self._size_quality(self.grid_depth, self.grid_width)
        self.q_min = self.ops.q_min + float(self.grid_size_q.min())
        self.q_max = self.ops.q_max + float(self.grid_size_q.max())
        s_min = float(self.ops.cost.min(axis=1).sum())
        s_max = float(self.ops.cost.max(axis=1).sum())
        self.lc_min = math.log10(STEM + float(self.grid_mult.min()) * s_min)
        self.lc_max = math.log10(STEM + float(self.grid_mult.max()) * s_max)

    # -- pieces
    def _u_depth(self, depth: np.ndarray) -> np.ndarray:
        if self.spec.depth is None:
            return np.full(len(depth), 0.5)
        return _unit(depth, *self.spec.depth)

    def _u_width(self, width: np.ndarray) -> np.ndarray:
        if self.spec.width is None:
            return np.full(len(width), 0.5)
        return _unit(width, self.spec.width[0], self.spec.width[1])

    def _mult(self, depth: np.ndarray, width: np.ndarray) -> np.ndarray:
        m = np.ones(len(depth))
        if self.spec.depth is not None:
            m = m * (depth / self.spec.depth[0])
        if self.spec.width is not None:
            m = m * (width / self.spec.width[0]) ** 2
        return m

    def _size_quality(self, depth: np.ndarray, width: np.ndarray) -> np.ndarray:
        f = np.zeros(len(depth))
        scale = SIZE_QUALITY * self.spec.blocks
        if self.spec.depth is not None:
            f = f + scale * _h(self._u_depth(depth))
        if self.spec.width is not None:
            f = f + scale * _h(self._u_width(width))
        return f

    # -- parameters
    def split(self, params_list: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Parameter dicts -> arrays (ops x, depth, width, lr, wd, dropout; NaN where absent)."""
        d = self.spec.blocks
        x = np.array([[int(p[f"b{i}"]) for i in range(d)] for p in params_list], dtype=np.int64)
        n = len(params_list)
        x = x.reshape(n, d)
        depth = np.array([int(p.get("depth", 1)) for p in params_list], dtype=float)
        width = np.array([int(p.get("width", 1)) for p in params_list], dtype=float)
        get = lambda key: np.array(  # noqa: E731
            [float(p.get(key, math.nan)) for p in params_list], dtype=float
        )
        return {
            "x": x,
            "depth": depth,
            "width": width,
            "lr": get("lr"),
            "wd": get("wd"),
            "dropout": get("dropout"),
        }

    def has_dropout(self, depth: np.ndarray) -> np.ndarray:
        if self.spec.cond_depth is None:
            return np.zeros(len(depth), dtype=bool)
        return depth >= self.spec.cond_depth

    def complexity_quality(
        self, x: np.ndarray, depth: np.ndarray, width: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sums in the same order as the front's DP, so the two agree to the last bit."""
        c_ops, q_ops = self.ops.cost_quality(x)
        s = c_ops - self.ops.stem
        return STEM + self._mult(depth, width) * s, q_ops + self._size_quality(depth, width)

    def base_loss(self, q: np.ndarray) -> np.ndarray:
        t = (np.asarray(q, dtype=float) - self.q_min) / (self.q_max - self.q_min)
        g = sn.LOSS_CURVE
        return sn.LOSS_BEST + (sn.LOSS_WORST - sn.LOSS_BEST) * (np.exp(-g * t) - math.exp(-g)) / (
            1 - math.exp(-g)
        )

    def optimum(self, x: np.ndarray, depth: np.ndarray, width: np.ndarray) -> dict[str, np.ndarray]:
        """Closed-form best log10 lr, wd and dropout (NaN where no dropout) of each point."""
        x = np.atleast_2d(x)
        c, _ = self.complexity_quality(x, depth, width)
        log_lr = (
            LR_CENTER
            + (0.5 - self._u_depth(depth))
            + (0.5 - self._u_width(width))
            + self.spec.lr_ops * self.delta[x].mean(axis=1)
        )
        s = np.clip((np.log10(c) - self.lc_min) / (self.lc_max - self.lc_min), 0.0, 1.0)
        wd = 0.02 + 0.2 * s
        if self.spec.cond_depth is not None:
            dropout = np.minimum(0.4, 0.08 * (depth - self.spec.cond_depth + 1))
            dropout = np.where(self.has_dropout(depth), dropout, math.nan)
        else:
            dropout = np.full(len(depth), math.nan)
        return {"log_lr": log_lr, "wd": wd, "dropout": dropout}

    def penalty(self, a: dict[str, np.ndarray]) -> np.ndarray:
        opt = self.optimum(a["x"], a["depth"], a["width"])
        pen = LR_WEIGHT * _huber(np.log10(a["lr"]) - opt["log_lr"], self.spec.lr_width)
        pen = pen + WD_WEIGHT * _huber(a["wd"] - opt["wd"], self.spec.wd_width)
        cond = self.has_dropout(a["depth"])
        if cond.any():
            dz = np.where(cond, a["dropout"] - opt["dropout"], 0.0)
            pen = pen + DROPOUT_WEIGHT * _huber(dz, DROPOUT_WIDTH)
        return pen

    def true_loss(self, a: dict[str, np.ndarray]) -> np.ndarray:
        _, q = self.complexity_quality(a["x"], a["depth"], a["width"])
        return self.base_loss(q) + self.penalty(a)

    def true_points(self, params_list: list[dict[str, Any]]) -> np.ndarray:
        """(n, 2) array of (true loss, log10 complexity)."""
        if not params_list:
            return np.zeros((0, 2))
        a = self.split(params_list)
        c, _ = self.complexity_quality(a["x"], a["depth"], a["width"])
        return np.column_stack([self.true_loss(a), np.log10(c)])

    def suggest(self, trial: Any, categorical_upto: int = 0) -> dict[str, Any]:
        """Declare the space as a user would, in a define-by-run objective; an int with at most
        ``categorical_upto`` values is declared as a categorical of its values instead."""
        s = self.spec
        choices = list(range(s.choices))
        params: dict[str, Any] = {
            f"b{i}": trial.suggest_categorical(f"b{i}", choices) for i in range(s.blocks)
        }

        def int_param(name: str, lo: int, hi: int, step: int = 1, log: bool = False) -> int:
            values = list(range(lo, hi + 1, step))
            if not log and len(values) <= categorical_upto:
                return int(trial.suggest_categorical(name, values))
            if log:
                return int(trial.suggest_int(name, lo, hi, log=True))
            return int(trial.suggest_int(name, lo, hi, step=step))

        if s.depth is not None:
            params["depth"] = int_param("depth", s.depth[0], s.depth[1])
        if s.width is not None:
            lo, hi, step, log = s.width
            params["width"] = int_param("width", lo, hi, step or 1, bool(log))
        params["lr"] = trial.suggest_float("lr", LR_LOW, LR_HIGH, log=True)
        params["wd"] = trial.suggest_float("wd", WD_LOW, WD_HIGH)
        if s.cond_depth is not None and params["depth"] >= s.cond_depth:
            params["dropout"] = trial.suggest_float("dropout", DROPOUT_LOW, DROPOUT_HIGH)
        return params

    def best_params(self, x: np.ndarray, depth: int, width: int) -> dict[str, Any]:
        """The parameters of the continuous optimum of one discrete point."""
        opt = self.optimum(
            np.asarray(x)[None, :], np.array([float(depth)]), np.array([float(width)])
        )
        p: dict[str, Any] = {f"b{i}": int(v) for i, v in enumerate(x)}
        if self.spec.depth is not None:
            p["depth"] = int(depth)
        if self.spec.width is not None:
            p["width"] = int(width)
        p["lr"] = float(10.0 ** opt["log_lr"][0])
        p["wd"] = float(opt["wd"][0])
        if not math.isnan(float(opt["dropout"][0])):
            p["dropout"] = float(opt["dropout"][0])
        return p


@cache
def get_problem(name: str) -> MixedProblem:
    return MixedProblem(PROBLEMS[name])


# --------------------------------------------------------------------------- exact front
def exact_front(p: MixedProblem) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Exact (complexity, Q) front of the mixed space (continuous part at its optimum).

    Returns (complexity, Q, parameters of one optimal point each), sorted by complexity.
    """
    c_ops, q_ops, arch = sn.exact_front(p.ops)
    s = c_ops - p.ops.stem
    n, g = len(s), len(p.grid_mult)
    cost = (STEM + p.grid_mult[:, None] * s[None, :]).ravel()
    qual = (q_ops[None, :] + p.grid_size_q[:, None]).ravel()
    keep = sn._prune(cost, qual)
    gi, fi = np.divmod(keep, n)
    assert g * n == len(cost)
    params = [
        p.best_params(arch[f], int(p.grid_depth[gg]), int(p.grid_width[gg]))
        for gg, f in zip(gi, fi)
    ]
    return cost[keep], qual[keep], params


def brute_front(p: MixedProblem) -> tuple[np.ndarray, np.ndarray]:
    """Front over every ops choice x every int grid point (small problems only)."""
    xs = np.array(list(itertools.product(range(p.spec.choices), repeat=p.spec.blocks)))
    g = len(p.grid_mult)
    x = np.repeat(xs, g, axis=0)
    depth = np.tile(p.grid_depth, len(xs)).astype(float)
    width = np.tile(p.grid_width, len(xs)).astype(float)
    c, q = p.complexity_quality(x, depth, width)
    keep = sn._prune(c, q)
    return c[keep], q[keep]


def problem_record(name: str, k: int) -> dict[str, Any]:
    p = get_problem(name)
    t0 = time.perf_counter()
    c, q, params = exact_front(p)
    dp_s = time.perf_counter() - t0
    pts = p.true_points(params)
    assert np.allclose(pts[:, 0], p.base_loss(q), rtol=0, atol=1e-12), "optimum has penalty"
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    ref = hi + sn.REF_MARGIN * (hi - lo)
    chosen = sn.choose_best(pts, k, ref)
    hv_best = hypervolume(pts[chosen], ref)
    chosen = sorted(chosen, key=lambda i: c[i])
    s = p.spec
    n_grid = len(p.grid_mult)
    return {
        "spec": {
            "blocks": s.blocks,
            "choices": s.choices,
            "interaction": s.interaction,
            "noise": s.noise,
            "cost": s.cost,
            "depth": s.depth,
            "width": s.width,
            "lr_width": s.lr_width,
            "wd_width": s.wd_width,
            "lr_ops": s.lr_ops,
            "cond_depth": s.cond_depth,
        },
        "seed": s.seed,
        "n_discrete": s.choices**s.blocks * n_grid,
        "int_grid": n_grid,
        "front_size": len(c),
        "front_depths": sorted({int(v.get("depth", 0)) for v in params}),
        "front_widths_range": [
            min(int(v.get("width", 0)) for v in params),
            max(int(v.get("width", 0)) for v in params),
        ],
        "dp_seconds": round(dp_s, 4),
        "k": k,
        "reference": [float(v) for v in ref],
        "hv_best": hv_best,
        "hv_front": hypervolume(pts, ref),
        "best_family": [
            {"params": params[j], "complexity": float(c[j]), "loss": float(pts[j, 0])}
            for j in chosen
        ],
    }


# --------------------------------------------------------------------------- runs
@cache
def code_fingerprint() -> str:
    """Which optuna_isnas ran: the imported package's folder, a COMMIT file beside it (a
    ``git archive`` snapshot run through PYTHONPATH) and a hash of its core+sampler sources."""
    import hashlib

    import optuna_isnas

    pkg = os.path.dirname(os.path.abspath(optuna_isnas.__file__))
    digest = hashlib.sha256()
    for sub in ("", "core", "sampler"):
        folder = os.path.join(pkg, sub)
        for n in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if n.endswith(".py"):
                with open(os.path.join(folder, n), "rb") as f:
                    digest.update(os.path.join(sub, n).encode() + f.read())
    marker = os.path.join(os.path.dirname(pkg), "COMMIT")
    commit = "working tree"
    if os.path.exists(marker):
        with open(marker) as f:
            commit = f.read().strip()
    return f"{pkg} ({commit}), core+sampler sha256 {digest.hexdigest()[:12]}"


def make_sampler(method: str, kwargs: dict[str, Any] | None, seed: int) -> Any:
    import optuna

    kwargs = dict(kwargs or {})
    kwargs.pop(CATEGORICAL_INTS, None)  # how the study is declared, not a sampler argument
    named = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    ind = kwargs.get("independent_sampler")
    if isinstance(ind, str):
        if ind not in named:
            raise ValueError(f"independent_sampler: 'tpe' or 'random', got {ind!r}")
        kwargs["independent_sampler"] = named[ind](seed=seed)
    return sn.make_sampler(method, kwargs, seed)


def _ratio(p: MixedProblem, params: list[dict[str, Any]], ref: np.ndarray, hv: float) -> float:
    if not params:
        return 0.0
    return hypervolume(p.true_points(params), ref) / hv


def _discrete_key(p: MixedProblem, params: dict[str, Any]) -> tuple[int, ...]:
    keys = [f"b{i}" for i in range(p.spec.blocks)] + ["depth", "width"]
    return tuple(int(params[k]) for k in keys if k in params)


def _complete(
    p: MixedProblem, member: dict[str, Any], trials: list[Any], obs: np.ndarray
) -> tuple[dict[str, Any], bool]:
    """A family member with every parameter its trial space has; else the best-observed trial
    with the same ops and ints (by observed loss)."""
    need = {"lr", "wd"}
    if p.spec.depth is not None:
        need.add("depth")
    if p.spec.width is not None:
        need.add("width")
    if need <= member.keys():
        depth = float(member.get("depth", 1))
        if not (p.has_dropout(np.array([depth]))[0] and "dropout" not in member):
            return member, False
    key = tuple(int(member[f"b{i}"]) for i in range(p.spec.blocks))
    same = [
        i
        for i, t in enumerate(trials)
        if tuple(int(t.params[f"b{j}"]) for j in range(p.spec.blocks)) == key
        and all(t.params.get(n) == v for n, v in member.items() if n in ("depth", "width"))
    ]
    if not same:
        return member, True
    best = min(same, key=lambda i: obs[i, 0])
    return dict(trials[best].params), True


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    import optuna

    sn._quiet()
    name, method, n_trials, seed, k = (
        task["problem"],
        task["method"],
        task["trials"],
        task["seed"],
        task["k"],
    )
    p = get_problem(name)
    ref, hv_best = np.asarray(task["reference"]), task["hv_best"]
    noise_rng = np.random.default_rng([p.spec.seed, seed])

    kwargs = dict(task.get("kwargs") or {})
    categorical_upto = int(kwargs.get(CATEGORICAL_INTS, 0))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = p.suggest(trial, categorical_upto)
        pts = p.true_points([params])
        loss = float(pts[0, 0])
        return loss * (1.0 + p.spec.noise * noise_rng.standard_normal()), float(10.0 ** pts[0, 1])

    if kwargs.get("reference_point") == "problem":
        kwargs["reference_point"] = [float(ref[0]), float(10.0 ** ref[1])]
    if kwargs.get("n_trials") == "trials":  # the study's own length (finalists re-evaluated)
        kwargs["n_trials"] = n_trials
    sampler = make_sampler(task["base"], kwargs, seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    opt_s = time.perf_counter() - t0
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    params = [dict(t.params) for t in done]
    obs = np.array([[t.values[0], math.log10(t.values[1])] for t in done])
    true = p.true_points(params)
    pick_true = sn.choose_best(true, k, ref)
    pick_obs = sn.choose_best(obs, k, ref)
    late = p.split(params[-LATE:])
    opt = p.optimum(late["x"], late["depth"], late["width"])
    rec: dict[str, Any] = {
        "problem": name,
        "method": method,
        "base": task["base"],
        "kwargs": task.get("kwargs"),
        "trials": n_trials,
        "seed": seed,
        "k": k,
        "n_complete": len(done),
        "n_distinct_discrete": len({_discrete_key(p, q) for q in params}),
        "bestk_true": _ratio(p, [params[i] for i in pick_true], ref, hv_best),
        "bestk_obs": _ratio(p, [params[i] for i in pick_obs], ref, hv_best),
        "late_lr_near": float(np.mean(np.abs(np.log10(late["lr"]) - opt["log_lr"]) <= LR_NEAR)),
        "late_penalty": float(np.mean(p.penalty(late))),
        "optimize_seconds": round(opt_s, 3),
        "code": code_fingerprint(),
    }
    if task["base"] == "isnas":
        t1 = time.perf_counter()
        family = sampler.architectures(study)
        rec["family_seconds"] = round(time.perf_counter() - t1, 3)
        members, completed = [], 0
        for m in family:
            full, was = _complete(p, dict(m), done, obs)
            members.append(full)
            completed += int(was)
        rec["returned"] = _ratio(p, members, ref, hv_best)
        rec["family_size"] = len(members)
        rec["completed"] = completed
        pts = p.true_points(members)
        rec["family"] = [
            {"params": m, "loss": float(pt[0]), "log10_complexity": float(pt[1])}
            for m, pt in zip(members, pts)
        ]
        fam = p.split(members) if members else None
        rec["family_penalty"] = float(np.mean(p.penalty(fam))) if fam is not None else math.nan
    else:
        rec["returned"] = rec["bestk_obs"]
    rec["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return rec


# --------------------------------------------------------------------------- report
def report(data: dict[str, Any]) -> str:
    runs = data["runs"]
    seen = list(dict.fromkeys(r["method"] for r in runs))
    methods = [m for m in PEERS if m in seen] + [m for m in seen if m not in PEERS]
    problems = [n for n in PROBLEMS if any(r["problem"] == n for r in runs)]
    out = ["| problem | D | C | ints | int grid | front | hv_best |", "|---" * 7 + "|"]
    for n in problems:
        pr = data["problems"].get(n, {})
        sp = pr.get("spec", {})
        ints = []
        if sp.get("depth"):
            ints.append("depth {}-{}".format(*sp["depth"]))
        if sp.get("width"):
            lo, hi, step, log = sp["width"]
            ints.append(f"width {lo}-{hi} " + ("log" if log else f"step {step}"))
        if sp.get("cond_depth"):
            ints.append(f"dropout if depth>={sp['cond_depth']}")
        out.append(
            f"| {n} | {sp.get('blocks')} | {sp.get('choices')} | {', '.join(ints)} | "
            f"{pr.get('int_grid')} | {pr.get('front_size')} | {pr.get('hv_best', math.nan):.4g} |"
        )
    peers2 = [m for m in ("nsga2", "tpe") if m in methods]
    for trials in sorted({r["trials"] for r in runs}):
        sel = [r for r in runs if r["trials"] == trials]
        out.append(
            f"\n### {trials} trials: returned family HV / best K-family HV (mean ± sd over seeds)\n"
        )
        head = methods + (["best of nsga2/tpe"] if peers2 else [])
        out.append("| problem | " + " | ".join(head) + " |")
        out.append("|---" * (len(head) + 1) + "|")
        means: dict[str, list[float]] = {m: [] for m in head}
        for n in problems:
            cells = []
            for m in methods:
                v = [r["returned"] for r in sel if r["problem"] == n and r["method"] == m]
                if v:
                    means[m].append(float(np.mean(v)))
                cells.append(sn._cell(v))
            if peers2:
                best = max(
                    peers2,
                    key=lambda m: np.mean(
                        [r["returned"] for r in sel if r["problem"] == n and r["method"] == m]
                        or [-1.0]
                    ),
                )
                v = [r["returned"] for r in sel if r["problem"] == n and r["method"] == best]
                if v:
                    means[head[-1]].append(float(np.mean(v)))
                cells.append(f"{best} {sn._cell(v)}" if v else "-")
            out.append(f"| {n} | " + " | ".join(cells) + " |")
        out.append(
            "| **mean over problems** | "
            + " | ".join(f"**{np.mean(means[m]):.3f}**" if means[m] else "-" for m in head)
            + " |"
        )
        out.append(
            "\nSplit, mean over problems: best-K true / best-K observed / returned; lr learnt "
            f"(share of the last {LATE} trials within {LR_NEAR} decade of lr*) and their mean "
            "penalty; mean penalty of the returned family (ISNAS); mean wall s per run\n"
        )
        out.append(
            "| method | best-K true | best-K obs | returned | late lr near | late penalty | "
            "returned penalty | wall s |"
        )
        out.append("|---" * 8 + "|")
        for m in methods:
            rs = [r for r in sel if r["method"] == m]
            if not rs:
                continue

            def pm(key: str, rs: list[dict[str, Any]] = rs) -> float:
                per = [[r[key] for r in rs if r["problem"] == n] for n in problems]
                return float(np.mean([np.mean(v) for v in per if v]))

            wall = np.mean([r["wall_seconds"] for r in rs])
            fam = f"{pm('family_penalty'):.3f}" if all("family_penalty" in r for r in rs) else "-"
            out.append(
                f"| {m} | {pm('bestk_true'):.3f} | {pm('bestk_obs'):.3f} | {pm('returned'):.3f} "
                f"| {pm('late_lr_near'):.2f} | {pm('late_penalty'):.3f} | {fam} | {wall:.1f} |"
            )
    codes = sorted({(r["method"], r.get("code", "not recorded")) for r in runs})
    out.append("\nCode that ran (optuna_isnas imported by the runs):\n")
    out += [f"- {m}: {c}" for m, c in codes]
    return "\n".join(out)


# --------------------------------------------------------------------------- self-check
def check_continuous(p: MixedProblem, n_points: int, rng: np.random.Generator) -> float:
    """Numerically minimise the loss over the floats at random discrete points (scipy) and
    compare with the closed form; returns the largest gap found."""
    from scipy.optimize import minimize

    worst = 0.0
    s = p.spec
    for _ in range(n_points):
        x = rng.integers(0, s.choices, size=s.blocks)
        gi = int(rng.integers(len(p.grid_mult)))
        depth, width = int(p.grid_depth[gi]), int(p.grid_width[gi])
        best = p.best_params(x, depth, width)
        closed = float(p.true_points([best])[0, 0])
        base = dict(best)
        names = ["lr", "wd"] + (["dropout"] if "dropout" in best else [])
        bounds = [(math.log10(LR_LOW), math.log10(LR_HIGH)), (WD_LOW, WD_HIGH)]
        bounds += [(DROPOUT_LOW, DROPOUT_HIGH)] * ("dropout" in best)

        def f(v: np.ndarray, base: dict[str, Any] = base, names: list[str] = names) -> float:
            q = dict(base)
            for nm, val in zip(names, v):
                q[nm] = 10.0 ** float(val) if nm == "lr" else float(val)
            return float(p.true_points([q])[0, 0])

        found = math.inf
        for _start in range(4):
            v0 = np.array([rng.uniform(lo, hi) for lo, hi in bounds])
            res = minimize(f, v0, method="L-BFGS-B", bounds=bounds)
            found = min(found, float(res.fun))
            # A point sampled anywhere is never below the closed-form optimum.
            assert f(v0) >= closed - 1e-12
        assert found >= closed - 1e-12, (s.name, found, closed)
        worst = max(worst, found - closed)
    return worst


def selfcheck() -> None:
    rng = np.random.default_rng(0)
    specs = [
        MixedSpec("chk-a", 4, 3, depth=(1, 8)),
        MixedSpec("chk-b", 4, 3, "strong", width=(16, 256, 1, True)),
        MixedSpec("chk-c", 3, 4, "mild", cost="skew", depth=(1, 5), width=(32, 256, 32, False)),
        MixedSpec("chk-d", 5, 3, "mild", depth=(2, 9), cond_depth=4, lr_ops=0.8),
        MixedSpec("chk-e", 3, 5, "strong", cost="stem", width=(8, 1024, 1, True)),
    ]
    for spec in specs:
        for offset in range(2):
            p = MixedProblem(spec, seed=spec.seed + offset)
            c, q, params = exact_front(p)
            bc, bq = brute_front(p)
            assert np.array_equal(c, bc) and np.array_equal(q, bq), spec.name
            pts = p.true_points(params)
            assert np.allclose(10.0 ** pts[:, 1], c, rtol=1e-12, atol=0)
            assert np.allclose(pts[:, 0], p.base_loss(q), rtol=0, atol=1e-15)
            # The closed-form optimum lies inside every range.
            a = p.split(params)
            assert np.all((a["lr"] >= LR_LOW) & (a["lr"] <= LR_HIGH))
            assert np.all((a["wd"] >= WD_LOW) & (a["wd"] <= WD_HIGH))
        n_all = spec.choices**spec.blocks * len(p.grid_mult)
        print(
            f"  mixed front DP == brute force: {spec.name} (D={spec.blocks}, C={spec.choices}, "
            f"{len(p.grid_mult)} int points), front {len(c)} of {n_all}"
        )
    # Every suite and held-out problem: the optimum lies inside the ranges over the WHOLE int
    # grid and the extreme ops, and scipy finds nothing below the closed form.
    for name in PROBLEMS:
        p = get_problem(name)
        sp = p.spec
        for x in (np.zeros(sp.blocks, int), rng.integers(0, sp.choices, size=sp.blocks)):
            for extreme in (int(np.argmin(p.delta)), int(np.argmax(p.delta))):
                xx = np.full(sp.blocks, extreme) if sp.lr_ops else x
                g = len(p.grid_mult)
                opt = p.optimum(
                    np.repeat(xx[None, :], g, axis=0),
                    p.grid_depth.astype(float),
                    p.grid_width.astype(float),
                )
                assert np.all(opt["log_lr"] >= math.log10(LR_LOW))
                assert np.all(opt["log_lr"] <= math.log10(LR_HIGH)), name
                assert np.all((opt["wd"] >= WD_LOW) & (opt["wd"] <= WD_HIGH)), name
        gap = check_continuous(p, 6, rng)
        print(
            f"  {name}: continuous optimum closed form == scipy L-BFGS-B (6 points x 4 starts, "
            f"largest excess {gap:.1e}); optimum inside the ranges over the whole int grid"
        )
    for name in PROBLEMS:
        rec = problem_record(name, 4)
        assert len(rec["best_family"]) == 4 and rec["hv_best"] > 0
    print("selfcheck passed")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    ap.add_argument("--trials", nargs="+", type=int, default=[400])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument(
        "--methods",
        nargs="*",
        default=None,
        help="peers and/or 'isnas' (default: random nsga2 tpe isnas, or random nsga2 tpe when "
        "--variant is given)",
    )
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=JSON")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/mixed_peers.json")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument(
        "--merge",
        action="append",
        default=[],
        metavar="FILE",
        help="with --report: also the runs of these result files (repeatable)",
    )
    args = ap.parse_args(argv)

    if args.selfcheck:
        selfcheck()
        return
    if args.report:
        data = sn.load(args.out)
        for path in args.merge:
            more = sn.load(path)
            data["problems"] = {**more["problems"], **data["problems"]}
            data["runs"] += more["runs"]
        print(report(data))
        return
    names = sn.select_problems(args.problems, SUITE, HELDOUT)
    if args.fronts:
        for n in names:
            r = problem_record(n, args.k)
            print(
                f"{n:22s} discrete {r['n_discrete']:.3g}  front {r['front_size']:6d}  depths "
                f"{r['front_depths']}  widths {r['front_widths_range']}  DP "
                f"{r['dp_seconds']:.3f}s  hv_best {r['hv_best']:.4g} (front {r['hv_front']:.4g})"
            )
            for m in r["best_family"]:
                print(f"    {m['loss']:.3f}  {m['complexity']:.4g}  {m['params']}")
        return

    sn._quiet()
    methods: dict[str, tuple[str, dict[str, Any] | None]] = {}
    default = ["random", "nsga2", "tpe"] + ([] if args.variant else ["isnas"])
    for m in args.methods if args.methods is not None else default:
        if m in PEERS:
            methods[m] = (m, None)
        elif m == "isnas":
            methods[m] = ("isnas", {})
        else:
            raise SystemExit(f"unknown method {m!r}")
    for v in args.variant:
        name, given = sn._parse_variant(v)
        probe = dict(given)
        if probe.get("reference_point") == "problem":  # filled in per problem by run_one
            probe["reference_point"] = [1.0, 1.0]
        if probe.get("n_trials") == "trials":  # filled in per run by run_one
            probe["n_trials"] = 100
        try:
            make_sampler("isnas", probe, 0)
        except (TypeError, ValueError) as e:
            raise SystemExit(f"--variant {name}: ISNASSampler rejected {given}: {e}") from e
        methods[name] = ("isnas", given)

    data = sn.load(args.out) if args.resume else {"problems": {}, "runs": []}
    for n in names:
        rec = data["problems"].get(n)
        if rec is None or rec.get("k") != args.k:
            rec = problem_record(n, args.k)
            data["problems"][n] = rec
            print(f"{n}: front {rec['front_size']}, hv_best {rec['hv_best']:.4g}", flush=True)
    sn.save(args.out, data)

    done = {(r["problem"], r["method"], r["trials"], r["seed"]) for r in data["runs"]}
    tasks = []
    for n, trials, seed, (m, (base, kwargs)) in itertools.product(
        names, args.trials, args.seeds, methods.items()
    ):
        if (n, m, trials, seed) in done:
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
    tasks.sort(key=lambda t: (-t["trials"], t["method"] != "tpe", "tpe" not in str(t["kwargs"])))
    print(f"{len(tasks)} runs to do ({len(done)} already in {args.out})", flush=True)
    t0 = time.perf_counter()

    def record(rec: dict[str, Any], i: int) -> None:
        data["runs"].append(rec)
        sn.save(args.out, data)
        print(
            f"[{i}/{len(tasks)} {time.perf_counter() - t0:.0f}s] {rec['problem']} {rec['method']} "
            f"N={rec['trials']} seed={rec['seed']}: returned {rec['returned']:.3f} (best-K true "
            f"{rec['bestk_true']:.3f}, obs {rec['bestk_obs']:.3f}) lr near "
            f"{rec['late_lr_near']:.2f} {rec['wall_seconds']:.1f}s",
            flush=True,
        )

    if args.jobs <= 1:
        for i, t in enumerate(tasks, 1):
            record(run_one(t), i)
    else:
        with multiprocessing.get_context("fork").Pool(args.jobs, initializer=sn._quiet) as pool:
            for i, rec in enumerate(pool.imap_unordered(run_one, tasks), 1):
                record(rec, i)
    print(f"done in {time.perf_counter() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
