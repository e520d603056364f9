"""The GPU check's code paths, tiny and on the CPU (the script itself runs on a GPU machine)."""

from __future__ import annotations

import dataclasses
import os
import sys

import torch

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
)

import gpu_check

TINY = dataclasses.replace(gpu_check.SMOKE, steps=1, blocks=2, warmup=1, train_examples=64)


def test_step_case_times_supernet_and_child_in_both_precisions():
    device = torch.device("cpu")
    rows = [
        gpu_check._step_case(TINY, "nb201", label, precision, seed=0)
        for label, precision in gpu_check._precisions(device).items()
    ]
    assert [r["precision"] for r in rows] == ["fp32", "bf16"]
    for row in rows:
        assert row["supernet_ms"][0] > 0 and row["child_ms"][0] > 0 and row["ratio"] > 0
        assert 0 < row["child_params"] < row["supernet_params"]
        assert row["supernet_peak_mib"] is None  # measured on CUDA only


def test_synthetic_session_runs_the_real_search_step():
    from optuna_isnas.search.step import OneShotTrainer

    precision = gpu_check._precisions(torch.device("cpu"))["bf16"]
    session = gpu_check._synthetic_session(TINY, precision, None, "chain", seed=0)
    trainer = OneShotTrainer(session)
    losses = trainer.step()
    assert len(losses.val) == session.generation_size == 8
    assert len(losses.train) == 4  # the default step trains 2 of them and the space's 2 ends
    assert len(session.study.trials) == 8
    report = {
        "mode": "test",
        "command": "x",
        "environment": {},
        "step_times": [],
        "search_space": "chain",
        "search_steps": {
            "1 process, no DDP": {
                "bf16": {
                    "steps_per_s": 1.0,
                    "examples_per_s": 16.0,
                    "architectures_per_step": 8,
                    "peak_mib_per_process": None,
                }
            },
            "DDP x2": {"skipped": "time budget spent"},
        },
        "seconds": 1.0,
    }
    text = gpu_check.markdown(report)
    assert "| 1 process, no DDP | bf16 | 1.00 | 16 | - |" in text
    assert "skipped: time budget spent" in text
