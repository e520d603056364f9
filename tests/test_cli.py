"""The optuna-isnas command line, run in-process: clear one-line errors and a tiny search + retrain."""

from __future__ import annotations

import json

import pytest
import torch

from optuna_isnas.cli import main

TINY = [
    "--epochs",
    "1",
    "--max-steps-per-epoch",
    "2",
    "--batch-size",
    "16",
    "--train-subset",
    "200",
    "--val-subset",
    "100",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--no-progress",
]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["search", "--dataset", "mnist"],
            "error: unknown dataset 'mnist'; valid names are: digits, fashion-mnist, cifar10, imagefolder",
        ),
        (
            ["search", "--space", "resnet"],
            "error: unknown search space 'resnet'; valid spaces: chain, enas, nb201",
        ),
        (
            ["search", "--epsilons", "0,x,1"],
            "error: --epsilons '0,x,1' does not parse: give comma-separated numbers",
        ),
        (
            ["search", "--epsilons", "0,-1"],
            "error: epsilons must be one or more finite numbers >= 0",
        ),
        (["search", "--budgets", "1e4;2e4"], "error: --budgets '1e4;2e4' does not parse"),
        (
            ["search", "--budgets", "0.2M,lots"],
            "error: --budgets '0.2M,lots' does not parse at 'lots'",
        ),
        (["search", "--budgets", "20K,-5K"], "every budget must be a positive size"),
        (
            ["search", "--dataset", "fashion-mnist", "--data-root", "/nonexistent/fm"],
            "apt-get install -y dataset-fashion-mnist",
        ),
        (["search", "--storage", "nosuchdb://x/y"], "error: cannot open storage 'nosuchdb://x/y'"),
        (["search", "--resume"], "error: no checkpoint to resume from"),
        (
            ["retrain", "/nonexistent/architectures.json"],
            "error: no architectures file at /nonexistent/architectures.json",
        ),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(capsys, tmp_path, argv, message):
    code, out, err = (
        run(capsys, *argv, "--out", str(tmp_path / "out"))
        if argv[0] == "search"
        else run(capsys, *argv)
    )
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "Traceback" not in err + out


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on machines without a GPU"
)
def test_cuda_without_gpu_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "search", "--device", "cuda", "--out", str(tmp_path))
    assert code == 2 and err.startswith(
        "error: device 'cuda' was requested but no CUDA GPU is available"
    )


def test_usage_errors_and_help(capsys):
    assert main([]) == 2
    assert main(["search", "--epsilons", "0", "--budgets", "1"]) == 2
    assert "not allowed with" in capsys.readouterr().err
    assert main(["search", "--help"]) == 0
    assert "--num-distributions" in capsys.readouterr().out


def test_search_then_mismatched_resume_then_retrain(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "search", *TINY, "--epsilons", "0,2", "--out", str(out))
    assert code == 0
    assert "eps  params  val acc" in stdout
    assert f"optuna-dashboard {out / 'search.journal'}" in stdout
    document = json.loads((out / "architectures.json").read_text())
    assert [a["eps"] for a in document["architectures"]] == [0.0, 2.0]

    code, _, err = run(capsys, "search", *TINY, "--epsilons", "0,3", "--out", str(out), "--resume")
    assert (
        code == 2
        and err.startswith("error: checkpoint ")
        and "epsilons: checkpoint [0.0, 2.0], now [0.0, 3.0]" in err
    )

    code, stdout, _ = run(
        capsys,
        "retrain",
        str(out / "architectures.json"),
        "--index",
        "1",
        "--epochs",
        "1",
        "--max-steps-per-epoch",
        "2",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert code == 0 and "test acc" in stdout
    model = torch.load(out / "retrained" / "child-1.pt", weights_only=False)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)

    code, _, err = run(capsys, "retrain", str(out / "architectures.json"), "--index", "5")
    assert code == 2 and "no architecture with index 5; the file has 2" in err


def test_budgets_accept_k_and_m_suffixes():
    from optuna_isnas.flags import sizes

    assert sizes("0.2M,500k,1e6,2G") == (200_000.0, 500_000.0, 1_000_000.0, 2e9)
    assert sizes(" 20K , 50K ") == (20_000.0, 50_000.0)


def test_compare_is_a_subcommand(capsys):
    assert main(["compare", "--help"]) == 0
    out = capsys.readouterr().out
    assert "optuna-isnas compare" in out and "--epsilons" in out
