"""SIGTERM stops a search like Ctrl-C (finish the step, checkpoint, one line, exit 130), and a second
Ctrl-C stops it at once without a traceback. Real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from optuna_isnas.search.signals import GracefulStop

CLI = [sys.executable, "-c", "import sys; from optuna_isnas.cli import main; sys.exit(main())"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Long enough never to finish during the test; each step trains 8 architectures on 512 images.
LONG = [
    "--epochs",
    "50",
    "--batch-size",
    "512",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--no-progress",
]


def _start(out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "search", *LONG, "--out", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A process started from a background job may inherit SIGINT ignored; a terminal's is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_steps(process: subprocess.Popen[str], journal: Path, timeout: float = 240) -> None:
    """Until the search has told some trials (its loop is running)."""
    deadline = time.monotonic() + timeout
    while not (journal.is_file() and journal.stat().st_size > 30_000):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the search did not start"
        time.sleep(0.2)


def test_sigterm_finishes_the_step_and_writes_a_checkpoint(tmp_path):
    from optuna_isnas.search.checkpoint import load_checkpoint

    process = _start(tmp_path / "run")
    _wait_for_steps(process, tmp_path / "run" / "search.journal")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "SIGTERM: finishing this step and writing a checkpoint" in err
    assert "search interrupted after step" in err and "--resume" in err
    assert "Traceback" not in err
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert 0 < checkpoint.global_step < checkpoint.total_steps


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(tmp_path):
    process = _start(tmp_path / "run")
    _wait_for_steps(process, tmp_path / "run" / "search.journal")
    process.send_signal(signal.SIGINT)
    assert process.stderr is not None
    first = process.stderr.readline()  # the handler's line: the previous handler is back
    assert first.startswith("Ctrl-C: finishing this step"), first
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130, rest
    assert rest.strip().startswith("interrupted: stopped at once"), rest
    assert rest.count("\n") == 1 and "Traceback" not in rest


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_graceful_stop_takes_sigterm_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with GracefulStop() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # delivered between bytecodes
        assert stop.requested and stop.signal == signal.SIGTERM
        # the first signal gave the process its previous handlers back (a second stops at once)
        assert signal.getsignal(signal.SIGTERM) == before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
