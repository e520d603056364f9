"""`make demo` run twice: the second run replaces the first (one line says so), so the journal does
not double and no old retrained/ folder is left beside the new results."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICK = (
    "--epochs 1 --max-steps-per-epoch 2 --batch-size 16 --train-subset 200 --val-subset 100 "
    "--device cpu --threads 1 --no-progress"
)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_rerunning_the_demo_replaces_the_previous_run(tmp_path):
    out = tmp_path / "demo"
    command = [
        "make",
        "--no-print-directory",
        "-C",
        str(ROOT),
        "demo-run",
        f"DEMO_OUT={out}",
        f"DEMO_ARGS={QUICK}",
        f"BIN={Path(sys.executable).parent}",  # this interpreter's optuna-isnas
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "replacing the previous demo run" not in first.stdout
    size = (out / "search.journal").stat().st_size
    (out / "retrained").mkdir()
    (out / "retrained" / "child-0.pt").write_bytes(b"an old child")

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"make demo: replacing the previous demo run in {out}" in second.stdout
    assert (out / "search.journal").stat().st_size < 1.2 * size  # not doubled
    assert not (out / "retrained").exists()
    assert (out / "architectures.json").is_file()
