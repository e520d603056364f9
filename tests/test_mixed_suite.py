"""The mixed NAS-like suite's yardstick (benchmarks/mixed_nas.py, issue 15): its exact front over
ops x ints with the floats at their closed-form optimum agrees with brute force and with a
numerical minimiser, so the ratios it reports are ratios to the true optimum."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import mixed_nas as mn

TINY = mn.MixedSpec(
    "tiny", 3, 3, "strong", depth=(1, 6), width=(16, 64, 16, False), cond_depth=3, lr_ops=0.8
)


def test_exact_front_matches_brute_force_on_a_tiny_problem():
    p = mn.MixedProblem(TINY)
    c, q, params = mn.exact_front(p)
    bc, bq = mn.brute_front(p)
    assert len(c) > 4
    assert np.array_equal(c, bc) and np.array_equal(q, bq)
    # Every front point's parameters reach it, penalty-free.
    pts = p.true_points(params)
    assert np.allclose(10.0 ** pts[:, 1], c, rtol=1e-12)
    assert np.allclose(pts[:, 0], p.base_loss(q), rtol=0, atol=1e-15)
    # The conditional parameter appears exactly where the space has it.
    assert all(("dropout" in v) == (v["depth"] >= 3) for v in params)


def test_closed_form_continuous_optimum_is_the_minimum():
    p = mn.MixedProblem(TINY)
    rng = np.random.default_rng(1)
    assert mn.check_continuous(p, 3, rng) < 1e-8  # scipy finds nothing below it, and gets there
    x = np.array([2, 0, 1])
    for depth in (1, 4):
        best = p.best_params(x, depth, 32)
        at_best = float(p.true_points([best])[0, 0])
        moves = [("lr", best["lr"] * 1.5), ("wd", best["wd"] + 0.01)]
        moves += [("dropout", best["dropout"] - 0.01)] if "dropout" in best else []
        for name, value in moves:
            worse = float(p.true_points([{**best, name: value}])[0, 0])
            assert worse > at_best, (depth, name)


def test_best_family_scores_one_and_a_random_family_less():
    name = "m-d8c4-depth"
    p = mn.get_problem(name)
    rec = mn.problem_record(name, 4)
    ref = np.asarray(rec["reference"])
    family = [m["params"] for m in rec["best_family"]]
    assert math.isclose(mn._ratio(p, family, ref, rec["hv_best"]), 1.0, rel_tol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        members = []
        for _m in range(4):
            params = {f"b{i}": int(rng.integers(4)) for i in range(8)}
            params |= {"depth": int(rng.integers(1, 9)), "lr": 10 ** rng.uniform(-5, -1)}
            params["wd"] = float(rng.uniform(0.0, 0.3))
            members.append(params)
        assert mn._ratio(p, members, ref, rec["hv_best"]) < 1.0
    # The best family with its floats moved off their optimum scores less too.
    off = [{**m, "lr": m["lr"] * 3.0} for m in family]
    assert mn._ratio(p, off, ref, rec["hv_best"]) < 1.0


def test_held_out_problems_are_new_and_their_best_family_scores_one():
    assert not set(mn.SUITE) & set(mn.HELDOUT)
    for name in mn.HELDOUT:
        p = mn.get_problem(name)
        rec = mn.problem_record(name, 4)
        ref = np.asarray(rec["reference"])
        family = [m["params"] for m in rec["best_family"]]
        assert len(family) == 4
        assert math.isclose(mn._ratio(p, family, ref, rec["hv_best"]), 1.0, rel_tol=1e-12)
        # The floats of every best member sit at their closed-form optimum (no penalty).
        assert float(np.max(p.penalty(p.split(family)))) < 1e-12, name
