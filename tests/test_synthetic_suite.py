"""The synthetic NAS-like suite's yardstick (benchmarks/synthetic_nas.py): its exact front and
best K-family agree with brute force, so the ratios it reports are ratios to the true optimum."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_nas.py"


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("synthetic_nas", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["synthetic_nas"] = module
    spec.loader.exec_module(module)
    return module


def test_exact_front_and_best_family_match_brute_force(suite, capsys):
    suite.selfcheck()  # raises AssertionError on any mismatch
    assert "selfcheck passed" in capsys.readouterr().out


def test_every_problem_has_a_reference_and_a_best_family_of_k(suite):
    assert not set(suite.SUITE) & set(suite.HELDOUT)
    for name in suite.PROBLEMS:
        record = suite.problem_record(name, 4)
        assert record["hv_best"] > 0 and len(record["best_family"]) == 4
        assert 0.0 < record["hv_best"] / record["hv_front"] <= 1.0
