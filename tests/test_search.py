"""The one-shot search loop: end to end, NaN handling, checkpoints and exact resume (CPU, tiny runs)."""

from __future__ import annotations

import json
import math
import os
import signal
import threading

import optuna
import pytest
import torch
from _tiny_search import TINY_STEPS, search_journal, tiny_config
from optuna.trial import TrialState

from optuna_isnas.sampler import DEFAULT_EPSILONS
from optuna_isnas.search import (
    CheckpointMismatchError,
    NonFiniteLossWarning,
    SearchConfig,
    SearchError,
    SearchInterrupted,
    run_search,
)
from optuna_isnas.search.storage import summary_name

STEPS = TINY_STEPS


def tiny(tmp_path, name="run", **overrides) -> SearchConfig:
    return tiny_config(tmp_path / name, **overrides)


def trial_record(study: optuna.Study) -> list[tuple]:
    return [
        (t.number, t.state, t.params, t.values, t.user_attrs)
        for t in study.get_trials(deepcopy=False)
    ]


def test_end_to_end_isnas_writes_architectures_and_summary(tmp_path):
    config = tiny(tmp_path)
    result = run_search(config)
    space = result.space
    k = len(DEFAULT_EPSILONS)
    # epochs * steps * K * lambda; the default step trains 4 of the 8 (2 sampled + 2 sandwich
    # ends): 2 * 8 + 8 passes instead of 3 * 8, so an epoch has 1.5 times as many steps
    assert result.session.steps_per_epoch == round(STEPS * 1.5)
    assert len(result.study.trials) == 2 * round(STEPS * 1.5) * k * 2
    assert all(t.state == TrialState.COMPLETE for t in result.study.trials)
    assert result.study.metric_names == ["accuracy", "params"]
    for trial in result.study.trials:
        assert trial.values[0] == trial.user_attrs["accuracy"]
        assert trial.values[1] == space.n_params(trial.params)
        # trials the step did not train have no train_loss
        assert math.isfinite(trial.user_attrs["loss"]) and math.isfinite(
            trial.user_attrs.get("train_loss", 0.0)
        )
    trained = [t for t in result.study.trials if "train_loss" in t.user_attrs]
    assert len(trained) == 2 * result.session.total_steps  # 2 sampled ones per step

    document = json.loads(result.architectures_path.read_text())
    assert document["study_name"] == "digits-chain" and document["space"] == space.config()
    entries = document["architectures"]
    # The default family: the K rescored candidates of largest hypervolume, largest first,
    # distinct, with neither trade-offs nor budgets; none dominates another when K candidates
    # on the front exist.
    assert [e["index"] for e in entries] == list(range(k))
    assert all(e["eps"] is None and e["budget"] is None for e in entries)
    sizes = [e["params"] for e in entries]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == k
    for entry, returned in zip(entries, result.architectures):
        assert entry["params"] == space.n_params(entry["architecture"]) == returned.params
        assert 0.0 <= entry["accuracy"] <= 1.0
    scored = [(c.accuracy, c.params) for c in result.selection.candidates]
    on_front = [
        p for p in scored if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in scored)
    ]
    if len(set(on_front)) >= k:
        for e in entries:
            assert (e["accuracy"], e["params"]) in on_front
    # Chosen from candidates rescored on the whole validation split, counted as compute.
    selection = result.selection
    assert len(selection.candidates) >= k
    assert selection.evaluated_examples == len(selection.candidates) * len(result.session.val)
    rescored = {tuple(c.architecture.items()): c for c in selection.candidates}
    for returned in result.architectures:
        assert rescored[tuple(returned.architecture.items())].accuracy == returned.accuracy
    # Distinct as far as the rescored front allows, none dominated by another member.
    points = [(e["accuracy"], e["params"]) for e in entries]
    eligible = [(c.accuracy, c.params) for c in selection.candidates]  # the top class: any size
    front = {
        a for a in eligible if not any(b != a and b[0] >= a[0] and b[1] <= a[1] for b in eligible)
    }
    assert len({tuple(e["architecture"].items()) for e in entries}) == k  # distinct
    if len(front) >= k:  # then none is dominated by another member
        for a in points:
            assert not any(b != a and b[0] >= a[0] and b[1] <= a[1] for b in points)
    # The candidates include the Pareto set of the trials (what other samplers rescore).
    trial_front = {
        tuple(space.validate(t.params, ignore_extra=True).items()) for t in result.study.best_trials
    }
    assert trial_front <= set(rescored)

    summary = optuna.load_study(
        study_name=summary_name("digits-chain"), storage=search_journal(tmp_path / "run")
    )
    assert summary.metric_names == ["accuracy", "params"]
    assert [d.name for d in summary.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert [t.values for t in summary.trials] == [[e["accuracy"], e["params"]] for e in entries]
    assert [t.params for t in summary.trials] == [e["architecture"] for e in entries]
    assert result.plot_path.is_file() and result.checkpoint_path.is_file()
    assert result.dashboard_command() == f"optuna-dashboard {tmp_path / 'run' / 'search.journal'}"


@pytest.mark.parametrize("sampler", ["random", "nsgaii"])
def test_other_samplers_return_their_rescored_pareto_set(tmp_path, sampler):
    result = run_search(tiny(tmp_path, sampler=sampler, epochs=1))
    assert len(result.study.trials) == result.session.total_steps * 8
    archs = [tuple(a.architecture.items()) for a in result.architectures]
    assert len(archs) == len(set(archs)) >= 1
    # Candidates: the deduplicated Pareto set of the trials and the two children the sandwich
    # trains every step; returned: those the whole-split rescoring leaves undominated.
    pareto = {tuple(t.params.items()) for t in result.study.best_trials}
    extremes = {tuple(a.items()) for a in result.session.space.extreme_architectures()}
    assert {tuple(c.architecture.items()) for c in result.selection.candidates} == pareto | extremes
    assert set(archs) <= pareto | extremes
    points = [(a.accuracy, a.params) for a in result.selection.candidates]
    kept = {p for p in points if not any(q != p and q[0] >= p[0] and q[1] <= p[1] for q in points)}
    assert {(a.accuracy, a.params) for a in result.architectures} == kept
    assert all(a.eps is None for a in result.architectures)
    assert all(
        (a.trial is not None) == (tuple(a.architecture.items()) in pareto)
        for a in result.architectures
    )
    params = [a.params for a in result.architectures]
    assert params == sorted(params, reverse=True)


def test_without_the_widest_family_only_what_the_sampler_found_is_rescored(tmp_path):
    result = run_search(tiny(tmp_path, sampler="random", epochs=1, widest_family=False))
    pareto = {tuple(t.params.items()) for t in result.study.best_trials}
    assert {tuple(c.architecture.items()) for c in result.selection.candidates} == pareto
    # compare scores what each sampler found: its searches run without it.
    from optuna_isnas.compare.config import CompareConfig
    from optuna_isnas.compare.runner import plan_jobs

    config = CompareConfig.build(dataset="digits", seeds=(0,), out=str(tmp_path / "cmp"))
    jobs = plan_jobs(config)
    assert jobs and all(not config.job_config(job).widest_family for job in jobs)


def test_trade_off_mode_records_each_members_epsilon(tmp_path):
    result = run_search(tiny(tmp_path, epsilons=DEFAULT_EPSILONS, epochs=1))
    assert [a.eps for a in result.architectures] == list(DEFAULT_EPSILONS)
    assert all(a.budget is None for a in result.architectures)


@pytest.mark.parametrize(
    "overrides",
    [
        # the tiny searches: one step (the original step; the default's is cheaper, so
        # an epoch of one minibatch would have 2 steps)
        {"epochs": 1, "max_steps_per_epoch": 1, "train_archs": "all", "sandwich": "none"},
        {"train_subset": 5, "batch_size": 5, "epochs": 1, "train_archs": "all", "sandwich": "none"},
    ],
)
def test_a_search_that_completed_no_generation_ends_cleanly_and_says_so(
    tmp_path, capsys, overrides
):
    result = run_search(tiny(tmp_path, **overrides))
    assert result.selection.note and "completed no generation" in result.selection.note
    assert "completed no generation" in capsys.readouterr().err
    pareto = {tuple(t.params.items()) for t in result.study.best_trials}
    assert {tuple(a.architecture.items()) for a in result.architectures} <= pareto
    assert json.loads(result.architectures_path.read_text())["architectures"]


def test_loss_objective_tells_validation_loss(tmp_path):
    result = run_search(tiny(tmp_path, objective="loss", epochs=1, sampler="random"))
    assert result.study.metric_names == ["loss", "params"]
    assert [d.name for d in result.study.directions] == ["MINIMIZE", "MINIMIZE"]
    for trial in result.study.trials:
        assert trial.values[0] == trial.user_attrs["loss"]
        assert "accuracy" in trial.user_attrs


def test_nan_loss_fails_the_trial_and_the_search_goes_on(tmp_path):
    calls = {"train": 0, "val": 0}

    def hook(arch, loss):
        phase = "train" if loss.requires_grad else "val"
        calls[phase] += 1
        bad = (phase == "train" and calls[phase] == 3) or (phase == "val" and calls[phase] == 13)
        return loss * float("nan") if bad else loss

    with pytest.warns(NonFiniteLossWarning) as caught:
        # the original step (all trained, then scored): the n-th training loss is trial n's
        old = dict(train_archs="all", sandwich="none", weight_gradient="mean")
        result = run_search(tiny(tmp_path, **old), loss_hook=hook)
    # pytest.warns records every warning raised in the process meanwhile (a CI run once counted
    # 14 here, where this test alone raises 2); count the search's own.
    ours = [str(w.message) for w in caught if issubclass(w.category, NonFiniteLossWarning)]
    assert len(ours) == 2, [(w.category.__name__, str(w.message)[:100]) for w in caught]
    assert ours[0].startswith("trial 2: non-finite training loss")
    assert ours[1].startswith("trial 12: non-finite validation loss")
    states = [t.state for t in result.study.trials]
    failed = [t.number for t in result.study.trials if t.state == TrialState.FAIL]
    assert failed == [2, 12]  # 3rd trial's training loss, 13th trial's validation loss
    assert states.count(TrialState.COMPLETE) == len(states) - 2
    assert math.isnan(result.study.trials[2].user_attrs["train_loss"])
    assert all(torch.isfinite(p).all() for p in result.supernet.parameters())
    assert len(result.architectures) == len(DEFAULT_EPSILONS)


def _interrupt_at(step: int):
    def callback(info):
        if info.global_step == step:
            os.kill(os.getpid(), signal.SIGINT)

    return callback


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
@pytest.mark.parametrize(("sampler", "stop"), [("isnas", 4), ("random", STEPS), ("nsgaii", 4)])
def test_resume_after_ctrl_c_equals_uninterrupted_run(tmp_path, sampler, stop):
    straight = run_search(tiny(tmp_path, "straight", sampler=sampler))

    config = tiny(tmp_path, "resumed", sampler=sampler)
    with pytest.raises(SearchInterrupted, match="--resume") as info:
        run_search(config, step_callback=_interrupt_at(stop))
    assert info.value.checkpoint == str(tmp_path / "resumed" / "checkpoint.pt")
    interrupted = optuna.load_study(
        study_name="digits-chain", storage=search_journal(tmp_path / "resumed")
    )
    assert (
        len(interrupted.trials) == stop * 8
    )  # the step in progress was finished, no further one begun
    with pytest.raises(SearchError, match="unfinished search"):
        run_search(config)  # a fresh start would throw the interrupted search away
    resumed = run_search(config, resume=True)

    assert trial_record(resumed.study) == trial_record(straight.study)
    for name, tensor in straight.supernet.state_dict().items():
        assert torch.equal(tensor, resumed.supernet.state_dict()[name]), name
    assert resumed.architectures == straight.architectures


def test_resume_with_other_settings_names_them(tmp_path):
    run_search(tiny(tmp_path, epochs=1, sampler="random"))
    with pytest.raises(
        CheckpointMismatchError,
        match=r"batch_size: checkpoint 16, now 8.*recipe\.lr: checkpoint 0\.1, now 0\.05",
    ):
        changed = tiny(tmp_path, epochs=1, sampler="random", batch_size=8)
        changed.recipe.lr = 0.05
        run_search(changed, resume=True)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(SearchError, match="no checkpoint to resume from"):
        run_search(tiny(tmp_path), resume=True)


def test_existing_study_in_given_storage_needs_overwrite(tmp_path):
    url = str(tmp_path / "shared.journal")  # a storage the user named, not OUT's own journal
    run_search(tiny(tmp_path, "a", epochs=1, sampler="random", storage=url))
    with pytest.raises(SearchError, match="already exists"):
        run_search(tiny(tmp_path, "b", epochs=1, sampler="random", storage=url))
    again = run_search(tiny(tmp_path, "b", epochs=1, sampler="random", storage=url), overwrite=True)
    assert len(again.study.trials) == again.session.total_steps * 8


def test_checkpoint_is_plain_data_behind_a_checksummed_header(tmp_path):
    """A checkpoint is a header line (format, sha256, length) and torch.save's bytes, which load
    with weights_only=True; a file without the header (e.g. a bare torch.save) is refused."""
    import hashlib
    import io

    from optuna_isnas.search.checkpoint import FORMAT_VERSION

    config = tiny(tmp_path, "run", sampler="random")
    with pytest.raises(SearchInterrupted):
        run_search(config, step_callback=_interrupt_at(STEPS))
    path = tmp_path / "run" / "checkpoint.pt"
    header, _, payload = path.read_bytes().partition(b"\n")
    magic, version, algorithm, digest, length = header.rsplit(b" ", 4)
    assert (magic, int(version), algorithm) == (
        b"optuna-isnas checkpoint",
        FORMAT_VERSION,
        b"sha256",
    )
    assert int(length) == len(payload) and digest.decode() == hashlib.sha256(payload).hexdigest()
    state = torch.load(io.BytesIO(payload), weights_only=True)  # nothing in it needs unpickling
    assert (
        state["format_version"] == FORMAT_VERSION and "_rng._rng" in state["sampler_random_states"]
    )

    torch.save(state, path)  # the same contents without the header
    with pytest.raises(SearchError, match=r"not an optuna-isnas search checkpoint of format"):
        run_search(config, resume=True)


def test_the_table_prints_budgets_as_parameter_counts_and_tradeoffs_as_given():
    from optuna_isnas.search.results import ArchitectureResult, format_architectures

    arch = {"b0": "k3"}
    budgets = [ArchitectureResult(0, arch, 65_306, 0.9777, 0.1, budget=70225.9)]
    assert "70,226" in format_architectures(budgets) and "70225.9" not in format_architectures(
        budgets
    )
    eps = [ArchitectureResult(0, arch, 5_082, 0.95, 0.2, eps=0.5)]
    table = format_architectures(eps)
    assert "eps" in table.splitlines()[0] and " 0.5 " in table and "5,082" in table
