"""Data-parallel search under ``torchrun`` on the CPU (gloo), with real processes.

Every test launches ``torchrun --standalone --nproc-per-node 2`` on ``tests/_ddp_script.py`` (or on
the command line) and reads what each rank wrote. Tiny digits runs: a few seconds each, most of it
starting the processes.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from _tiny_search import (
    DDP_SCRIPT,
    TINY_STEPS,
    TORCHRUN,
    TORCHRUN_ENV,
    search_journal,
    tiny_settings,
)
from optuna.trial import TrialState

from optuna_isnas.sampler import DEFAULT_EPSILONS
from optuna_isnas.search import SearchConfig, run_search

pytestmark = pytest.mark.slow


STEPS, EPOCHS = TINY_STEPS, 2
GENERATION = len(DEFAULT_EPSILONS) * 2  # K x lambda trials per step


def settings(out: Path, **overrides: Any) -> dict[str, Any]:
    # the original step (every asked architecture trained, then scored): the checks below follow
    # its order of losses; tests/test_search_weights.py runs the default plan
    original = dict(train_archs="all", sandwich="none", weight_gradient="mean")
    return tiny_settings(out, **{"epochs": EPOCHS, **original, **overrides})


def torchrun(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    # A slow monitor lets the survivors of a killed rank report before torchrun stops them.
    return subprocess.run(
        [*TORCHRUN, "--monitor-interval", "5", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**TORCHRUN_ENV, **(env or {})},
    )


def ranks(out: Path) -> list[dict[str, Any]]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_gradient_sync_equals_one_process_on_the_global_minibatch(tmp_path):
    done = torchrun(str(DDP_SCRIPT), "gradients", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    records = [record[unused] for record in ranks(tmp_path) for unused in ("find", "zero")]
    assert len(records) == 4
    for rank in records:
        assert rank["losses"] == pytest.approx(rank["ref_losses"], rel=1e-6)
        # uneven shards (4 + 3 rows) weighted to the global mean; the unused layer has no grad
        assert rank["grads"]["right.weight"] is None and rank["ref_grads"]["right.weight"] is None
        for name, ref in rank["ref_grads"].items():
            if ref is not None:
                np.testing.assert_allclose(rank["grads"][name], ref, rtol=1e-5, atol=1e-7)
        for name, ref in rank["ref_weights"].items():
            np.testing.assert_allclose(rank["weights"][name], ref, rtol=1e-5, atol=1e-7)


def test_two_process_search_trains_the_same_architectures_and_weights(tmp_path):
    out = tmp_path / "ddp"
    done = torchrun(str(DDP_SCRIPT), "search", str(tmp_path), json.dumps(settings(out)))
    assert done.returncode == 0, done.stderr[-3000:]
    main, other = ranks(tmp_path)
    assert main["is_main"] and not other["is_main"]
    # the same architectures, in the same order, at every step on both ranks
    assert [arch for arch, _ in main["seen"]] == [arch for arch, _ in other["seen"]]
    assert main["digest"] == other["digest"]  # identical weights at the end
    assert main["architectures"] == other["architectures"]
    assert main["accuracies"] == other["accuracies"]

    study = optuna.load_study(study_name="digits-chain", storage=search_journal(out))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == EPOCHS * STEPS * GENERATION
    assert all(t.state == TrialState.COMPLETE for t in trials)
    per_step = 2 * GENERATION  # loss hook calls: training, then validation
    for step in range(EPOCHS * STEPS):
        told = trials[step * GENERATION : (step + 1) * GENERATION]
        seen = [main["seen"][step * per_step + i] for i in range(per_step)]
        other_seen = [other["seen"][step * per_step + i] for i in range(per_step)]
        assert [json.loads(a) for a, _ in seen[:GENERATION]] == [t.params for t in told]
        for i, trial in enumerate(told):
            # told values are the global minibatch's: the mean of the two halves' losses
            train = (seen[i][1] + other_seen[i][1]) / 2
            val = (seen[GENERATION + i][1] + other_seen[GENERATION + i][1]) / 2
            assert trial.user_attrs["train_loss"] == pytest.approx(train, rel=1e-9)
            assert trial.user_attrs["loss"] == pytest.approx(val, rel=1e-9)

    # the outputs have the form of a single process's
    single = run_search(SearchConfig(**settings(tmp_path / "single")))
    for name in ("architectures.json", "pareto.html", "checkpoint.pt", "search.journal"):
        assert (out / name).is_file(), name
    ddp_doc = json.loads((out / "architectures.json").read_text())
    one_doc = json.loads((tmp_path / "single" / "architectures.json").read_text())
    assert ddp_doc.keys() == one_doc.keys()
    assert [e.keys() for e in ddp_doc["architectures"]] == [
        e.keys() for e in one_doc["architectures"]
    ]
    assert [e["architecture"] for e in ddp_doc["architectures"]] == main["architectures"]
    summary = optuna.load_study(study_name="digits-chain-summary", storage=search_journal(out))
    assert len(summary.trials) == len(ddp_doc["architectures"])
    assert len(trials) == len(single.study.trials)


def test_killed_rank_stops_the_other_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    first = settings(out)
    # rank 1 dies (SIGKILL) while training step 4, just after the epoch-1 checkpoint (3 steps)
    done = torchrun(
        str(DDP_SCRIPT),
        "search",
        str(tmp_path),
        json.dumps(first),
        env={"KILL_AT": str(STEPS * 2 * GENERATION + 3)},
    )
    assert done.returncode != 0
    assert "error: rank 0 of 2 (gloo)" in done.stderr
    assert "Another process of this job has stopped or crashed" in done.stderr
    assert "--resume" in done.stderr and str(out / "checkpoint.pt") in done.stderr
    assert not (out / "architectures.json").exists()

    # the resume streams its data (DataLoader workers): same minibatches, same checkpoint form
    streamed = ["--data-loading", "stream", "--loader-workers", "1"]
    resumed = subprocess.run(
        [*TORCHRUN, "-m", "optuna_isnas.cli", "search", *cli_flags(first), *streamed, "--resume"],
        capture_output=True,
        text=True,
        timeout=240,
        env=TORCHRUN_ENV,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("Returned architectures") == 1  # rank 0 alone reports
    document = json.loads((out / "architectures.json").read_text())
    assert len(document["architectures"]) >= 1
    study = optuna.load_study(study_name="digits-chain", storage=search_journal(out))
    states = [t.state for t in study.trials]
    # 6 steps of trials complete: 3 before the checkpoint, 3 after resuming; the trials of the
    # killed step were left running and are told FAIL on resume
    assert states.count(TrialState.COMPLETE) == EPOCHS * STEPS * GENERATION
    assert states[STEPS * GENERATION : (STEPS + 1) * GENERATION] == [TrialState.FAIL] * GENERATION
    assert len(states) == (EPOCHS * STEPS + 1) * GENERATION


def cli_flags(config: dict[str, Any]) -> list[str]:
    return [
        "--dataset", config["dataset"], "--space", config["space"],
        "--epochs", str(config["epochs"]), "--batch-size", str(config["batch_size"]),
        "--max-steps-per-epoch", str(config["max_steps_per_epoch"]),
        "--train-subset", str(config["train_subset"]), "--val-subset", str(config["val_subset"]),
        "--device", "cpu", "--threads", "1", "--no-progress", "--out", config["out"],
        "--train-archs", str(config["train_archs"]), "--sandwich", config["sandwich"],
        "--weight-gradient", config["weight_gradient"],
    ]  # fmt: skip


def test_a_failure_of_rank_0_reaches_the_waiting_process_at_once(tmp_path):
    config = settings(tmp_path / "run", collective_timeout=120.0)
    done = torchrun(
        str(DDP_SCRIPT), "search", str(tmp_path), json.dumps(config), env={"BREAK_AT": "2"}
    )
    assert done.returncode != 0
    assert "RuntimeError: the callback broke at step 2" in done.stderr  # rank 0's own error
    # rank 1 was waiting for the third step's architectures: it stops with rank 0's message
    assert (
        "error: rank 0 failed (receiving the step's architectures): the callback broke at step 2"
        in done.stderr
    )


def test_a_silent_process_times_out_with_a_message_instead_of_hanging(tmp_path):
    done = torchrun(str(DDP_SCRIPT), "silent", str(tmp_path), "3")
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert record["error"] is not None, done.stderr[-2000:]
    assert "rank 0 of 2 (gloo)" in record["error"]
    assert "has not answered within 3 s" in record["error"]
    assert 2 < record["waited"] < 60


def test_settings_that_differ_between_processes_are_refused(tmp_path):
    script = tmp_path / "differ.py"
    script.write_text(
        "import os, sys\n"
        "from optuna_isnas.cli import main\n"
        "sys.exit(main(sys.argv[1:] + (['--lr', '0.5'] if os.environ['RANK'] == '1' else [])))\n"
    )
    done = subprocess.run(
        [*TORCHRUN, str(script), "search", *cli_flags(settings(tmp_path / "x"))],
        capture_output=True,
        text=True,
        timeout=240,
        env=TORCHRUN_ENV,
    )
    assert done.returncode != 0
    assert "rank 1 was started with other settings than rank 0 (recipe.lr" in done.stderr
    assert "another process of this job was started with other settings" in done.stderr


def test_single_process_results_do_not_depend_on_streaming(tmp_path):
    memory = run_search(SearchConfig(**settings(tmp_path / "m", epochs=1, data_loading="memory")))
    stream = run_search(
        SearchConfig(**settings(tmp_path / "s", epochs=1, data_loading="stream", loader_workers=1))
    )
    records = [
        [(t.params, t.values, t.user_attrs) for t in r.study.trials] for r in (memory, stream)
    ]
    assert records[0] == records[1]
    assert [a.accuracy for a in memory.architectures] == [a.accuracy for a in stream.architectures]
    assert all(math.isfinite(a.loss) for a in stream.architectures)


@pytest.fixture(autouse=True)
def _no_torchrun_env(monkeypatch):
    """These tests start their own jobs; a test process itself is never a rank."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
