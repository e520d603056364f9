"""A search never hangs on a stale journal lock (issue: a killed search left OUT/search.journal.lock).

The lock is Optuna's ``<journal>.lock`` symbolic link. A process killed while holding it leaves it
behind; with a relative ``--out`` the link even dangles, and Optuna's own lock then retried
forever at 100 % CPU. ``JournalLock`` removes a stale lock (with one line saying so), waits for a
live one, and keeps writers exclusive while it does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
from _tiny import TINY_SEARCH

from optuna_isnas.journal import JournalLock
from optuna_isnas.search.storage import open_storage

TINY = TINY_SEARCH
CLI = [sys.executable, "-c", "import sys; from optuna_isnas.cli import main; sys.exit(main())"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_the_issues_repro_recovers_in_a_real_process(tmp_path):
    """``mkdir d && ln -s d/search.journal d/search.journal.lock && optuna-isnas search --out d``."""
    (tmp_path / "d").mkdir()
    os.symlink("d/search.journal", tmp_path / "d" / "search.journal.lock")
    start = time.monotonic()
    done = subprocess.run(
        [*CLI, "search", *TINY, "--out", "d"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,  # the bug: it never ended
    )
    assert done.returncode == 0, done.stderr
    assert "removed a stale lock" in done.stderr and "Traceback" not in done.stderr
    assert not os.path.lexists(tmp_path / "d" / "search.journal.lock")
    study = optuna.load_study(
        study_name="digits-chain",
        storage=open_storage(str(tmp_path / "d" / "search.journal")).storage,
    )
    assert len(study.trials) == 3 * 8  # 2 minibatches: 3 steps of the default (cheaper) step
    assert time.monotonic() - start < 240


def _stale_lock(journal: Path, age_s: float) -> Path:
    lock = Path(str(journal) + ".lock")
    os.symlink(str(journal), lock)
    then = time.time() - age_s
    os.utime(lock, (then, then), follow_symlinks=False)
    return lock


def test_a_lock_left_long_ago_is_removed_within_seconds(tmp_path, capsys):
    journal = tmp_path / "x.journal"
    lock = _stale_lock(journal, age_s=3600)
    start = time.monotonic()
    JournalLock(journal).acquire()
    assert time.monotonic() - start < 5
    assert "removed a stale lock" in capsys.readouterr().err
    assert os.readlink(lock) == str(journal)  # now ours, pointing at the absolute path


def test_a_live_lock_is_waited_for_and_not_broken(tmp_path, capsys):
    journal = tmp_path / "x.journal"
    lock = Path(str(journal) + ".lock")
    os.symlink(str(journal), lock)  # held by "another process" for 2 s

    def release_later():
        time.sleep(2.0)
        os.unlink(lock)

    holder = threading.Thread(target=release_later)
    holder.start()
    start = time.monotonic()
    JournalLock(journal, grace_s=10).acquire()
    waited = time.monotonic() - start
    holder.join()
    assert 1.5 < waited < 8
    assert "removed a stale lock" not in capsys.readouterr().err


def test_waiters_stay_exclusive_while_taking_over_a_stale_lock(tmp_path):
    journal = tmp_path / "x.journal"
    _stale_lock(journal, age_s=3600)
    counter = tmp_path / "counter"
    counter.write_text("0")

    def work():
        lock = JournalLock(journal)
        for _ in range(20):
            lock.acquire()
            try:  # a read-modify-write that loses counts without exclusion
                value = int(counter.read_text())
                time.sleep(0.001)
                counter.write_text(str(value + 1))
            finally:
                lock.release()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert int(counter.read_text()) == 80
