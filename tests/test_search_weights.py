"""Which architectures a weight step trains (search/weights.py): plan, per-path gradient, compute,
resume and the data-parallel path, with the defaults (a subset, the sandwich, per-path)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from _tiny_search import DDP_SCRIPT, TORCHRUN, TORCHRUN_ENV, search_journal, tiny_settings

from optuna_isnas.cli import main
from optuna_isnas.compare import CompareConfig
from optuna_isnas.compare.compute import PassCounter
from optuna_isnas.compare.runner import Job, run_job
from optuna_isnas.search import SearchConfig, SearchError, SearchInterrupted, TrainArchs, run_search
from optuna_isnas.search.weights import (
    PathGradient,
    compute_ratio,
    passes_per_step,
    plan_step,
    sampled_count,
)
from optuna_isnas.spaces import get_space

STEPS = 2  # training minibatches per epoch
GENERATION = 8  # K = 4 x lambda = 2


def tiny(tmp_path: Path, name: str = "run", **overrides: Any) -> SearchConfig:
    return SearchConfig(**settings(tmp_path / name, **overrides))


def settings(out: Path, **overrides: Any) -> dict[str, Any]:
    """A narrower, shorter tiny search (width 4, 200 + 80 examples, 2 steps per epoch)."""
    smaller = dict(
        space_options={"width": 4}, max_steps_per_epoch=STEPS, train_subset=200, val_subset=80
    )
    return tiny_settings(out, **{**smaller, **overrides})


def chain(width: int = 2):
    return get_space("chain", in_channels=1, num_classes=3, image_size=8, width=width)


# ------------------------------------------------------------------------------------ the plan
def test_trained_counts_per_setting():
    assert [sampled_count(TrainArchs.AUTO, g) for g in (1, 2, 4, 8, 12, 16)] == [1, 2, 2, 2, 3, 4]
    assert (
        sampled_count(TrainArchs.ALL, 8) == 8
        and sampled_count(3, 8) == 3
        and sampled_count(20, 8) == 8
    )
    # forward + backward per trained (2 sampled + 2 ends), one forward per evaluated
    assert passes_per_step(TrainArchs.AUTO, True, 8) == 2 * 4 + 8
    assert passes_per_step(TrainArchs.ALL, False, 8) == 3 * 8
    assert compute_ratio(TrainArchs.ALL, False, 8) == 1.0
    assert compute_ratio(TrainArchs.AUTO, True, 8) == pytest.approx(1.5)


def test_plan_trains_the_space_extremes_under_sandwich_and_a_seeded_subset():
    space = chain()
    generation = [space.random_architecture(np.random.default_rng(i)) for i in range(GENERATION)]
    plan = plan_step("auto", True, GENERATION, space, seed=3, step=5)
    large, small = plan.extra
    assert space.n_params(large) == space.largest_params()
    sizes = [
        space.n_params(space.random_architecture(np.random.default_rng(i))) for i in range(300)
    ]
    assert space.n_params(small) <= min(sizes) and space.n_params(small) == space.smallest_params()
    assert (large, small) == space.extreme_architectures()
    assert len(plan.trained) == 2 and list(plan.trained) == sorted(set(plan.trained))
    trained = plan.architectures(generation)
    assert trained[:2] == [large, small]
    assert trained[2:] == [generation[i] for i in plan.trained]
    # drawn from (seed, step) alone: the same again, other subsets at other steps
    assert plan_step("auto", True, GENERATION, space, seed=3, step=5) == plan
    subsets = {plan_step("auto", True, GENERATION, space, 3, s).trained for s in range(30)}
    assert len(subsets) > 10
    assert plan_step("auto", False, GENERATION, space, 3, 5).extra == ()
    assert plan_step("all", False, GENERATION, space, 3, 5).trained == tuple(range(GENERATION))


# ------------------------------------------------------------------------ per-path gradient
def test_path_gradient_is_each_weights_mean_over_the_architectures_that_used_it():
    torch.manual_seed(0)
    space = chain()
    supernet = space.build_supernet()
    rng = np.random.default_rng(1)
    archs = [space.random_architecture(rng) for _ in range(4)]
    archs[1] = dict(archs[0])  # two architectures share every operation
    x, y = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    params = list(supernet.parameters())

    def loss(arch: dict[str, str]) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(supernet(x, arch), y)

    # by hand: each architecture's own gradient; a weight it did not use has none
    own = [torch.autograd.grad(loss(a), params, allow_unused=True) for a in archs]
    supernet.zero_grad(set_to_none=True)
    for arch in archs:
        loss(arch).backward()
    PathGradient(supernet).divide(archs)
    checked = {1: 0, 2: 0, 4: 0}
    for j, p in enumerate(params):
        users = [g[j] for g in own if g[j] is not None]
        if not users:
            assert p.grad is None
            continue
        expected = torch.stack(users).sum(0) / len(users)
        torch.testing.assert_close(p.grad, expected, rtol=1e-5, atol=1e-7)
        checked[len(users)] = checked.get(len(users), 0) + 1
    assert checked[4] > 0 and (checked[1] + checked[2]) > 0  # shared and per-choice weights


# -------------------------------------------------------------------------- a search, compute
def test_default_search_trains_the_plan_and_counts_its_compute(tmp_path):
    calls: list[str] = []
    per_step: list[list[str]] = []

    def hook(arch: dict[str, str], loss: torch.Tensor) -> torch.Tensor:
        calls.append("train" if loss.requires_grad else "val")
        return counter(arch, loss)

    def callback(info: Any) -> None:
        per_step.append(list(calls))
        calls.clear()

    counter = PassCounter()
    result = run_search(tiny(tmp_path), loss_hook=hook, step_callback=callback)
    session = result.session
    assert session.steps_per_epoch == round(STEPS * 1.5)  # 16 passes a step instead of 24
    assert len(per_step) == session.total_steps
    # evaluated first (some asked architectures are not trained), then 2 sampled + 2 ends trained
    assert all(step == ["val"] * GENERATION + ["train"] * 4 for step in per_step)
    assert counter.count.total == session.total_steps * (2 * 4 + GENERATION)
    trials = result.study.get_trials(deepcopy=False)
    assert len(trials) == session.total_steps * GENERATION
    assert sum("train_loss" in t.user_attrs for t in trials) == 2 * session.total_steps

    result = run_search(tiny(tmp_path, "three", train_archs=3, sandwich=False, epochs=1))
    trials = result.study.get_trials(deepcopy=False)
    assert sum("train_loss" in t.user_attrs for t in trials) == 3 * result.session.total_steps
    assert result.session.steps_per_epoch == round(STEPS * 24 / (2 * 3 + 8))


def test_compare_counts_the_default_steps_compute(tmp_path):
    config = CompareConfig.build(
        dataset="digits",
        space_options={"width": 4},
        epsilons=(0.0, 9.0),
        epochs=1,
        max_steps_per_epoch=STEPS,
        batch_size=16,
        train_subset=200,
        val_subset=80,
        seeds=(0,),
        methods=("isnas",),
        trace_points=1,
        prob_points=1,
        png=False,
        dashboard=False,
        progress=False,
        out=str(tmp_path / "cmp"),
    )
    record = run_job(Job("isnas", 1.0, 0), config)
    # generation 4: 2 sampled + 2 ends trained = 4 x 2 + 4 passes a step
    assert record.passes.total == record.passes_from_steps == record.steps * (4 * 2 + 4)
    assert record.passes.backward == record.passes.train_forward == 4 * record.steps


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_default_search_resumes_bit_identically(tmp_path):
    straight = run_search(tiny(tmp_path, "straight", sampler="isnas"))

    def interrupt(info: Any) -> None:
        if info.global_step == 4:  # inside the second epoch
            os.kill(os.getpid(), signal.SIGINT)

    config = tiny(tmp_path, "resumed", sampler="isnas")
    with pytest.raises(SearchInterrupted):
        run_search(config, step_callback=interrupt)
    resumed = run_search(config, resume=True)

    def record(study: optuna.Study) -> list[tuple[Any, ...]]:
        return [(t.state, t.params, t.values, t.user_attrs) for t in study.trials]

    assert record(resumed.study) == record(straight.study)
    for name, tensor in straight.supernet.state_dict().items():
        assert torch.equal(tensor, resumed.supernet.state_dict()[name]), name
    assert resumed.architectures == straight.architectures


# --------------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train_archs": 0}, "train_archs must be 'auto', 'all' or a whole number"),
        ({"train_archs": "some"}, "train_archs must be"),
        ({"sandwich": "family"}, "sandwich must be True or False, got 'family'"),
        ({"weight_gradient": "sum"}, "unknown weight_gradient 'sum'"),
    ],
)
def test_bad_settings_are_named(tmp_path, overrides, message):
    with pytest.raises(SearchError, match=message):
        tiny(tmp_path, **overrides).validate()


def test_cli_flags_parse_and_bad_values_are_one_error_line(capsys, tmp_path):
    code = main(["search", "--train-archs", "many", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: --train-archs 'many' is not allowed")
    assert err.count("\n") == 1 and "Traceback" not in out + err
    code = main(["search", "--train-archs", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "train_archs must be 'auto', 'all' or a whole number" in err
    assert err.count("\n") == 1
    code = main(["search", "--sandwich", "family"])  # argparse's choices check: usage + error
    assert code == 2 and "invalid choice: 'family'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ data-parallel


def test_two_processes_train_the_same_plan(tmp_path):
    out = tmp_path / "ddp"
    config = settings(out, epochs=1)
    done = subprocess.run(
        [*TORCHRUN, str(DDP_SCRIPT), "search", str(tmp_path), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=240,
        env=TORCHRUN_ENV,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    main_rank, other = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    # the same architectures scored and trained, in the same order, and the same weights
    assert [a for a, _ in main_rank["seen"]] == [a for a, _ in other["seen"]]
    assert main_rank["digest"] == other["digest"]
    steps = round(STEPS * 1.5)
    assert len(main_rank["seen"]) == steps * (GENERATION + 4)
    study = optuna.load_study(
        study_name="digits-chain",
        storage=search_journal(out),
    )
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == steps * GENERATION
    assert sum("train_loss" in t.user_attrs for t in trials) == 2 * steps
