"""Bad input ends in one ``error: ...`` line and exit status 2, never a traceback (docs/cli.md).

Space options, ``compare``'s settings, the content of ``architectures.json``, budgets below the
smallest child, epsilons out of order; ``compare``'s table with one seed; and the base install
(no PyTorch), where ``--help`` still works and running says which extra to install.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _tiny import TINY_SEARCH

from optuna_isnas.cli import main
from optuna_isnas.spaces import get_space


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error(code: int, out: str, err: str, *parts: str) -> None:
    """Exit 2, exactly one stderr line starting ``error:``, holding every part; no traceback."""
    assert code == 2, (code, out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in out + err
    for part in parts:
        assert part in err, (part, err)


# ------------------------------------------------------------------------------ space options
@pytest.mark.parametrize(
    ("flags", "parts"),
    [
        (
            ["--space-option", "nope=3"],
            [
                "'chain' search space has no option 'nope'",
                "width, num_stages, blocks_per_stage, kernel_sizes, expansions",
            ],
        ),
        (
            ["--space-option", "width=abc"],
            ["width must be a whole number of at least 1, got 'abc'", "default width=16"],
        ),
        (["--width", "0"], ["width must be a whole number of at least 1, got 0"]),
        (
            ["--space-option", "num_stages=-1"],
            ["num_stages must be a whole number of at least 1, got -1", "default num_stages=3"],
        ),
        (
            ["--space", "enas", "--space-option", "cells_per_stage=0"],
            ["cells_per_stage must be a whole number of at least 1, got 0", "'enas'"],
        ),
        (
            ["--space-option", "kernel_sizes=[3,4]"],
            ["kernel_sizes must be odd whole numbers", "[3, 4]"],
        ),
        (["--space-option", "expansions=abc"], ["expansions must be a non-empty list"]),
        (["--space-option", "in_channels=3"], ["in_channels is set by the dataset", "drop it"]),
    ],
)
def test_bad_space_options_are_one_error_line(capsys, tmp_path, flags, parts):
    code, out, err = run(capsys, "search", *flags, "--out", str(tmp_path / "out"), *TINY_SEARCH)
    assert_one_error(code, out, err, *parts)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_spaces_raise_value_errors_for_python_users():
    from optuna_isnas.spaces import SpaceError, check_space_options

    with pytest.raises(ValueError, match="has no option 'nope'; its options are width"):
        get_space("chain", nope=3)
    with pytest.raises(ValueError, match="width must be a whole number of at least 1, got 0"):
        get_space("nb201", width=0)
    with pytest.raises(SpaceError, match="kernel_sizes must be a non-empty list"):
        get_space("chain", kernel_sizes=3)
    with pytest.raises(SpaceError, match="unknown search space 'resnet'"):
        check_space_options("resnet", {})
    check_space_options("enas", {"width": 4, "cells_per_stage": 2})  # good options pass


# ------------------------------------------------------------------------------ compare
def test_compare_with_a_bad_width_is_one_error_line(capsys, tmp_path):
    code, out, err = run(capsys, "compare", "--width", "0", "--out", str(tmp_path / "cmp"))
    assert_one_error(code, out, err, "width must be a whole number of at least 1, got 0")


def test_compare_into_an_existing_file_is_one_error_line(capsys, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("keep me\n")
    code, out, err = run(
        capsys, "compare", "--out", str(taken), "--seeds", "1", "--methods", "isnas", "--quiet"
    )
    assert_one_error(code, out, err, f"--out {str(taken)!r} is a file, not a directory")
    assert taken.read_text() == "keep me\n"


def _row(title: str, seeds: list[int], tested: list[int]) -> Any:
    from optuna_isnas.compare.scoring import SummaryRow

    pair = (0.5, 0.0 if len(seeds) < 2 else 0.01)
    return SummaryRow(
        variant=title,
        title=title,
        seeds=seeds,
        hv=pair,
        hv_best_k=pair,
        passes=(100.0, 0.0),
        wall_s=(3.0, 0.0),
        n_returned=(4.0, 0.0),
        min_error=pair,
        min_params=(4106.0, 0.0),
        test_hv=pair if tested else None,
        test_seeds=tested,
        hv_log=pair,
        hv_best_k_log=pair,
        test_hv_log=pair if tested else None,
    )


def test_compare_table_with_one_seed_prints_no_plus_minus():
    from optuna_isnas.compare.scoring import PairedComparison, Reference, format_summary

    reference = Reference(error=1.0, params=134_774.0, smallest=4106.0)
    paired = PairedComparison("isnas@1x", "random@1x", "hv_best_k", [0], 0.1, 0.0, 1, 0, 1.0)
    one = format_summary([_row("isnas@1x", [0], [0])], reference, [paired], k=4)
    assert "±" not in one and "0.5000 |" in one and "4,106 |" in one
    assert "one seed: each cell is its value, with no sd" in one and "+0.1000 (1/1)" in one
    many = format_summary([_row("isnas@1x", [0, 1], [0, 1])], reference, [], k=4)
    assert "0.5000 ± 0.0100" in many and "mean ± sd over seeds" in many


# ------------------------------------------------------------------------------ retrain
def _document() -> dict[str, Any]:
    space = get_space("chain", in_channels=1, num_classes=10, image_size=8)
    large, small = space.extreme_architectures()
    return {
        "dataset": "digits",
        "seed": 0,
        "space": space.config(),
        "architectures": [
            {"index": 0, "architecture": large, "params": space.n_params(large)},
            {"index": 1, "architecture": small, "params": space.n_params(small)},
        ],
    }


def _first(document: dict[str, Any]) -> dict[str, str]:
    return document["architectures"][0]["architecture"]


def _bad_choice(d: dict[str, Any]) -> None:
    _first(d)["stage0_block0"] = "k7_e9"


def _missing_variable(d: dict[str, Any]) -> None:
    del _first(d)["stage2_block1"]


def _extra_variable(d: dict[str, Any]) -> None:
    _first(d)["stage9_block0"] = "skip"


def _unknown_space(d: dict[str, Any]) -> None:
    d["space"]["name"] = "resnet"


def _bad_space_option(d: dict[str, Any]) -> None:
    d["space"]["width"] = 0


def _unknown_space_option(d: dict[str, Any]) -> None:
    d["space"]["depth"] = 3


def _no_architecture(d: dict[str, Any]) -> None:
    del d["architectures"][1]["architecture"]


def _not_a_list(d: dict[str, Any]) -> None:
    d["architectures"] = {"0": d["architectures"][0]}


def _space_without_name(d: dict[str, Any]) -> None:
    del d["space"]["name"]


def _empty(d: dict[str, Any]) -> None:
    d["architectures"] = []


@pytest.mark.parametrize(
    ("spoil", "parts"),
    [
        (_bad_choice, ["architecture 0", "invalid choice 'k7_e9'", "stage0_block0"]),
        (_missing_variable, ["architecture 0", "no value for parameter 'stage2_block1'"]),
        (_extra_variable, ["architecture 0", "unknown parameter 'stage9_block0'"]),
        (_unknown_space, ["unknown search space 'resnet'"]),
        (_bad_space_option, ["width must be a whole number of at least 1, got 0"]),
        (_unknown_space_option, ["has no option 'depth'"]),
        (_no_architecture, ["entry 1 of 'architectures' has no 'architecture'"]),
        (_not_a_list, ["'architectures' must be a list of entries, got a JSON object"]),
        (_space_without_name, ["'space' must be an object with the space's 'name'"]),
        (_empty, ["holds no architectures"]),
    ],
)
def test_retrain_of_well_formed_json_with_bad_content_is_one_error_line(
    capsys, tmp_path, spoil, parts
):
    document = _document()
    spoil(document)
    path = tmp_path / "architectures.json"
    path.write_text(json.dumps(document))
    code, out, err = run(capsys, "retrain", str(path), "--epochs", "1", "--no-progress")
    assert_one_error(code, out, err, *parts)
    assert not (tmp_path / "retrained").exists()  # refused before any work


@pytest.mark.parametrize("content", ["[1, 2]", '"architectures"', "null"])
def test_retrain_of_json_that_is_not_an_object_is_one_error_line(capsys, tmp_path, content):
    path = tmp_path / "architectures.json"
    path.write_text(content)
    code, out, err = run(capsys, "retrain", str(path))
    assert_one_error(code, out, err, "is not an optuna-isnas architectures file")


def test_retrain_python_api_checks_a_document_before_loading_data(tmp_path):
    from optuna_isnas.retrain import RetrainError, retrain
    from optuna_isnas.retrain_settings import RetrainSettings

    document = _document()
    _bad_choice(document)
    with pytest.raises(RetrainError, match="invalid choice 'k7_e9'"):
        retrain(document, settings=RetrainSettings(out=tmp_path / "children"))
    assert not (tmp_path / "children").exists()


# ------------------------------------------------------------------------------ budgets, epsilons
def test_a_budget_below_the_smallest_child_is_refused_naming_its_size(capsys, tmp_path):
    smallest = get_space("chain", in_channels=1, num_classes=10, image_size=8).smallest_params()
    assert smallest == 4106  # the digits chain space's smallest child
    code, out, err = run(
        capsys, "search", "--budgets", "100,20K", "--out", str(tmp_path / "out"), *TINY_SEARCH
    )
    assert_one_error(code, out, err, "budget 100 is below", "4,106 parameters", "at least 4,106")
    assert not (tmp_path / "out" / "architectures.json").exists()


def test_check_budgets_uses_a_lower_bound_where_parameters_combine():
    from optuna_isnas.search.errors import SearchError
    from optuna_isnas.search.samplers import check_budgets, fewest_params

    enas = get_space("enas", in_channels=1, num_classes=10, image_size=8, width=4)
    floor = fewest_params(enas)
    assert 0 < floor <= enas.smallest_params()
    check_budgets([floor], enas)
    with pytest.raises(SearchError, match="at least"):
        check_budgets([floor - 1], enas)


def test_epsilons_out_of_order_say_what_to_give(capsys, tmp_path):
    code, out, err = run(
        capsys, "search", "--epsilons", "3,1,0", "--out", str(tmp_path / "out"), *TINY_SEARCH
    )
    assert_one_error(code, out, err, "epsilons must be in increasing order", "give 0,1,3")
    assert "rejects its options {}" not in err


def test_the_table_heads_the_budget_column_budget_and_drops_an_empty_eps_column():
    from optuna_isnas.search.results import ArchitectureResult, format_architectures

    arch = {"b0": "k3"}
    plain = [ArchitectureResult(0, arch, 5_082, 0.95, 0.2)]
    header = format_architectures(plain).splitlines()[0].split()
    assert header == ["#", "params", "val", "acc", "architecture"]  # hypervolume family
    budget_header = format_architectures(plain, column="budget").splitlines()[0].split()
    assert budget_header[:2] == ["#", "budget"]
    assert format_architectures([]) == "no architectures returned"


def test_search_with_nothing_returned_prints_no_retrain_hint(capsys, tmp_path, monkeypatch):
    import optuna_isnas.search.loop as loop

    def nothing(config: Any, **_: Any) -> Any:
        return SimpleNamespace(
            is_main=True,
            study=SimpleNamespace(study_name="s"),
            summary_study=SimpleNamespace(study_name="s-summary"),
            architectures=[],
            architectures_path=tmp_path / "architectures.json",
            plot_path=tmp_path / "pareto.html",
            storage_location=None,
            dashboard_command=lambda: None,
        )

    monkeypatch.setattr(loop, "run_search", nothing)
    code, out, _ = run(capsys, "search", "--budgets", "5K", "--out", str(tmp_path))
    assert code == 0 and "no architectures returned" in out and "retrain:" not in out


# ------------------------------------------------------------------------------ base install
# the base install: Optuna brings tqdm, the nas extra the rest
HIDE_NAS = """
import importlib.abc, sys

class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "torchvision", "plotly", "sklearn", "scipy"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Hide())
"""
CLI = HIDE_NAS + "from optuna_isnas.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"


def without_nas(code: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent,
    )


@pytest.mark.parametrize("command", ["search", "retrain", "compare"])
def test_help_works_without_the_nas_extra_and_names_it(command):
    shown = without_nas(CLI, command, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stdout + shown.stderr
    assert f"usage: optuna-isnas {command}" in shown.stdout
    assert "pip install 'optuna-isnas[nas]'" in " ".join(shown.stdout.split())
    if command == "search":
        assert "--space-option" in shown.stdout and "--budgets" in shown.stdout


def test_running_without_the_nas_extra_is_still_one_error_line():
    ran = without_nas(CLI, "search", "--epochs", "1")
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert ran.stderr.startswith("error: the optuna-isnas command needs the 'nas' extra")
    assert ran.stderr.count("\n") == 1 and "pip install 'optuna-isnas[nas]'" in ran.stderr


def test_importing_the_search_without_the_nas_extra_names_the_extra():
    probe = HIDE_NAS + (
        "for name in ('optuna_isnas.search', 'optuna_isnas.compare'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError as exc:\n"
        "        print(type(exc).__name__, '|', exc)\n"
    )
    ran = without_nas(probe)
    lines = ran.stdout.splitlines()
    assert len(lines) == 2, ran.stderr
    for line, name in zip(lines, ("optuna_isnas.search", "optuna_isnas.compare")):
        kind, message = line.split(" | ")
        assert kind == "ImportError"  # not a bare ModuleNotFoundError
        assert message.startswith(f"{name} needs the 'nas' extra")
        assert "pip install 'optuna-isnas[nas]'" in message


def test_missing_nas_module_ignores_other_import_errors():
    from optuna_isnas.cli import missing_nas_module

    assert missing_nas_module(ModuleNotFoundError("x", name="torch.nn")) == "torch"
    wrapped = ImportError("needs the extra")
    wrapped.__cause__ = ModuleNotFoundError("x", name="plotly")
    assert missing_nas_module(wrapped) == "plotly"
    assert missing_nas_module(ModuleNotFoundError("x", name="yaml")) is None
