"""The optuna-isnas command line, run in-process: clear one-line errors and a tiny search + retrain."""

from __future__ import annotations

import json
import re

import pytest
import torch
from _tiny import TINY_SEARCH

from optuna_isnas.cli import main

TINY = TINY_SEARCH


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
    assert re.search(r"#\s+eps\s+params\s+val acc", stdout)
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
    saved = torch.load(out / "retrained" / "child-1.pt", weights_only=True)
    assert saved["config"]["input"]["shape"] == [1, 8, 8]
    program = torch.export.load(out / "retrained" / "child-1.pt2")
    assert program.module()(torch.zeros(2, 1, 8, 8)).shape == (2, 10)

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


# ------------------------------------------------------------------ one error line, not a traceback
def _unwritable(tmp_path):
    """A directory this process cannot write in (as root, chmod does not stop writes: /sys does)."""
    import os
    import tempfile

    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        return locked
    try:
        with tempfile.TemporaryFile(dir="/sys"):
            pass
    except OSError:
        return "/sys"
    pytest.skip("no unwritable directory on this machine (root, and /sys is writable)")


def _one_error_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert "Traceback" not in out + err
    return err


def test_search_out_that_is_a_file_or_unwritable(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    _one_error_line(capsys, ["search", *TINY, "--out", str(afile)], "is a file, not a directory")
    _one_error_line(
        capsys, ["search", *TINY, "--out", str(_unwritable(tmp_path))], "cannot write in --out"
    )


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A tiny finished search (its architectures.json)."""
    out = tmp_path_factory.mktemp("searched") / "run"
    assert main(["search", *TINY, "--epsilons", "0,2", "--out", str(out)]) == 0
    return out


def test_retrain_out_that_is_a_file_or_unwritable(capsys, tmp_path, searched):
    afile = tmp_path / "afile"
    afile.write_text("")
    argv = ["retrain", str(searched / "architectures.json"), "--epochs", "1", "--no-progress"]
    _one_error_line(capsys, [*argv, "--out", str(afile)], "is a file, not a directory")
    _one_error_line(capsys, [*argv, "--out", str(_unwritable(tmp_path))], "cannot write in --out")


def test_retrain_epochs_0_is_refused(capsys, searched):
    argv = ["retrain", str(searched / "architectures.json"), "--epochs", "0", "--no-progress"]
    _one_error_line(capsys, argv, "epochs must be a whole number of at least 1, got 0")
    assert not (searched / "retrained").exists()


def test_storage_that_is_not_a_journal_is_refused_and_left_alone(capsys, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a journal\n")
    _one_error_line(
        capsys,
        ["search", *TINY, "--out", str(tmp_path / "o"), "--storage", str(notes)],
        "exists but is not an Optuna journal file",
    )
    assert notes.read_text() == "not a journal\n"  # nothing appended to it
    import sqlite3

    database = tmp_path / "studies.db"
    sqlite3.connect(database).execute("create table t (x)").connection.commit()
    _one_error_line(
        capsys,
        ["search", *TINY, "--out", str(tmp_path / "o"), "--storage", str(database)],
        f"is an SQLite database, not a journal file; give it as a URL: sqlite:///{database}",
    )


def test_storage_in_a_missing_directory_is_refused_not_created(capsys, tmp_path):
    missing = tmp_path / "nonexistent" / "dir"
    _one_error_line(
        capsys,
        ["search", *TINY, "--out", str(tmp_path / "o"), "--storage", str(missing / "x.journal")],
        f"the directory {str(missing)!r} of storage",
    )
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_storage_is_refused(capsys, tmp_path, url):
    _one_error_line(
        capsys,
        ["search", *TINY, "--out", str(tmp_path / "o"), "--storage", url],
        "is an in-memory SQLite database: the studies would be lost",
    )


def test_retrain_attaches_the_children_to_the_summary_study(capsys, tmp_path, searched):
    """optuna-dashboard offers the children for download: they are artifacts of the summary study."""
    import optuna
    from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta

    from optuna_isnas.search.storage import open_storage

    out = tmp_path / "children"
    argv = ["retrain", str(searched / "architectures.json"), "--index", "1", "--epochs", "1"]
    argv += ["--max-steps-per-epoch", "2", "--device", "cpu", "--no-progress", "--out", str(out)]
    for _ in range(2):  # a rerun replaces the files, it does not add copies
        code, stdout, _ = run(capsys, *argv)
        assert code == 0
    artifacts = searched / "artifacts"
    assert f"optuna-dashboard {searched / 'search.journal'} --artifact-dir {artifacts}" in stdout
    storage = open_storage(str(searched / "search.journal")).storage
    summary = optuna.load_study(study_name="digits-chain-summary", storage=storage)
    metas = get_all_artifact_meta(summary)
    assert sorted(m.filename for m in metas) == ["child-1.json", "child-1.pt", "child-1.pt2"]
    store = FileSystemArtifactStore(str(artifacts))
    for meta in metas:
        download_artifact(
            artifact_store=store,
            artifact_id=meta.artifact_id,
            file_path=str(tmp_path / f"got-{meta.filename}"),
        )
        assert (tmp_path / f"got-{meta.filename}").read_bytes() == (
            out / meta.filename
        ).read_bytes()


def test_the_dashboard_hint_says_how_to_install_it_when_missing(monkeypatch):
    import importlib.util
    import shutil

    from optuna_isnas.cli import dashboard_install_hint

    assert dashboard_install_hint() == ""  # installed here (the dev extra)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "optuna_dashboard" else real(name, *a),
    )
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert "optuna-dashboard is not installed: pip install 'optuna-isnas[dashboard]'" in (
        dashboard_install_hint()
    )
