"""A search's own files survive faults: torn journal lines, two searches in one folder, garbled
or truncated checkpoints, a full disk, and a journal shorter than its checkpoint.

Each fault is made for real (bytes cut or overwritten, a second real process, a full tmpfs where
the machine allows mounting one) and the test checks that nothing written before it is lost and
that the user gets one ``error:`` line or one line saying what was repaired.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from _tiny import TINY_SEARCH

from optuna_isnas.journal import JournalError, JournalFile, journal_storage
from optuna_isnas.search import SearchError, run_search
from optuna_isnas.search.checkpoint import load_checkpoint, save_checkpoint
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.run_lock import LOCK_NAME, RunFolderLock
from optuna_isnas.search.storage import open_storage

CREATE_TRIAL = 4  # optuna.storages.journal's operation code
CLI = [sys.executable, "-c", "import sys; from optuna_isnas.cli import main; sys.exit(main())"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _study_with_trials(path: Path, n: int) -> None:
    study = optuna.create_study(study_name="s", storage=journal_storage(path, tell=lambda m: None))
    for i in range(n):
        study.enqueue_trial({"x": float(i)})
        study.optimize(lambda t: t.suggest_float("x", 0, 100), n_trials=1)


def _values(path: Path, tell=None) -> list[float]:
    study = optuna.load_study(study_name="s", storage=journal_storage(path, tell=tell))
    return [t.params["x"] for t in study.trials]


# ------------------------------------------------------------------------------ the journal
@pytest.mark.parametrize("cut", [2, 17, 60])
def test_a_torn_last_line_is_repaired_with_a_copy_kept_and_one_line(tmp_path, cut):
    journal = tmp_path / "s.journal"
    _study_with_trials(journal, 3)
    whole = journal.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    torn = whole[: len(whole) - cut]  # the last line lost its end (and its newline)
    journal.write_bytes(torn)
    told: list[str] = []

    study = optuna.load_study(study_name="s", storage=journal_storage(journal, tell=told.append))
    study.enqueue_trial({"x": 42.0})
    study.optimize(lambda t: t.suggest_float("x", 0, 100), n_trials=1)  # appends after the repair

    assert (
        len(told) == 1
        and "torn last line" in told[0]
        and f"({len(torn) - last_start} bytes" in told[0]
    )
    copies = list(tmp_path.glob("s.journal.torn-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == torn  # the file as it was
    assert journal.read_bytes().startswith(whole[:last_start])  # nothing before the tear is lost
    assert _values(journal) == [0.0, 1.0, 2.0, 42.0]  # and the journal reads again
    assert all(json.loads(line) for line in journal.read_bytes().splitlines())


def test_a_whole_last_entry_without_its_newline_is_kept(tmp_path):
    journal = tmp_path / "s.journal"
    _study_with_trials(journal, 2)
    journal.write_bytes(journal.read_bytes()[:-1])
    told: list[str] = []
    assert _values(journal, told.append) == [0.0, 1.0]
    assert journal.read_bytes().endswith(b"}\n") and "added it" in told[0]
    assert not list(tmp_path.glob("s.journal.torn-*"))


def test_a_torn_line_on_a_full_disk_is_left_as_it_was_with_a_message(tmp_path, monkeypatch):
    journal = tmp_path / "s.journal"
    _study_with_trials(journal, 2)
    torn = journal.read_bytes()[:-20]
    journal.write_bytes(torn)

    def full_disk(src, dst, **kwargs):
        Path(dst).write_bytes(b"partial")  # what a copy that ran out of space leaves
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("optuna_isnas.journal.shutil.copyfile", full_disk)
    with pytest.raises(OSError) as raised:
        journal_storage(journal, tell=lambda m: None)
    assert raised.value.errno == errno.ENOSPC  # the search maps it to its one error line
    assert "cannot repair the torn last line" in str(raised.value)
    assert "free some space" in str(raised.value)
    assert journal.read_bytes() == torn  # untouched
    assert not list(tmp_path.glob("s.journal.torn-*"))  # and no partial copy left


def test_a_line_torn_by_another_writer_is_repaired_before_the_next_append(tmp_path):
    journal = tmp_path / "s.journal"
    _study_with_trials(journal, 1)
    told: list[str] = []
    backend = JournalFile(journal, tell=told.append)
    with open(journal, "ab") as f:  # a process killed in the middle of its append
        f.write(b'{"op_code":5,"worker_id":"w","trial_id":0,"par')
    backend.append_logs([{"op_code": 0, "worker_id": "w", "study_name": "t", "directions": [1]}])
    assert len(told) == 1 and "torn last line" in told[0]
    lines = journal.read_bytes().splitlines()
    assert all(json.loads(line) for line in lines) and json.loads(lines[-1])["study_name"] == "t"


def test_a_damaged_line_inside_the_journal_is_refused_with_its_number(tmp_path):
    journal = tmp_path / "s.journal"
    _study_with_trials(journal, 2)
    lines = journal.read_bytes().splitlines(keepends=True)
    for where in (3, len(lines)):  # inside, and the last complete line (Optuna reads past it)
        damaged = lines.copy()
        damaged.insert(where, b"garbage\n")
        journal.write_bytes(b"".join(damaged))
        with pytest.raises(JournalError, match=rf"line {where + 1} is not an Optuna journal entry"):
            journal_storage(journal)
        with pytest.raises(SearchError, match=rf"line {where + 1} is not"):
            open_storage(str(journal))
        assert journal.read_bytes() == b"".join(damaged)  # nothing repaired behind the user's back


# ----------------------------------------------------------------------------- the run folder
def test_a_second_search_in_the_same_folder_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    config = SearchConfig.build(dataset="digits", out=str(out), epochs=1, max_steps_per_epoch=1)
    with (
        RunFolderLock(out),
        pytest.raises(SearchError, match=rf"another search is running in .*process {os.getpid()}"),
    ):
        run_search(config)
    assert (out / LOCK_NAME).read_bytes() == b""  # released: nobody holds it


def test_two_real_searches_one_folder_and_a_killed_holder_leaves_no_lock(tmp_path):
    """The first search holds the folder; a second exits 2 naming it; once the first is killed
    (SIGKILL: no clean-up runs), the next search starts at once."""
    out = tmp_path / "run"
    first = subprocess.Popen(
        [*CLI, "search", *TINY_SEARCH, "--epochs", "50", "--out", str(out)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_NAME).is_file() or not (out / LOCK_NAME).read_bytes():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
        second = subprocess.run(
            [*CLI, "search", *TINY_SEARCH, "--out", str(out), "--resume"],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith("error: another search is running in")
        assert f"process {first.pid} " in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    third = subprocess.run(
        [*CLI, "search", *TINY_SEARCH, "--out", str(out), "--overwrite"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert third.returncode == 0, third.stderr


# ------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    done = subprocess.run(
        [*CLI, "search", *TINY_SEARCH, "--out", str(out)], env=ENV, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return out


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = os.urandom(4096)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (_garble, "is damaged: its bytes do not match its checksum"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 3]), "is truncated"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"\x00" * 300), "is not an optuna-isnas search checkpoint"),
    ],
    ids=["garbled", "truncated", "empty", "garbage"],
)
def test_a_damaged_checkpoint_is_one_error_line_and_nothing_is_touched(
    finished_run, tmp_path, fault, message
):
    out = tmp_path / "run"
    subprocess.run(["cp", "-r", str(finished_run), str(out)], check=True)
    fault(out / "checkpoint.pt")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    done = subprocess.run(
        [*CLI, "search", *TINY_SEARCH, "--out", str(out), "--resume"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != LOCK_NAME}
    assert after == {k: v for k, v in before.items() if k != LOCK_NAME}


def test_a_full_disk_while_checkpointing_removes_the_temporary_file(
    finished_run, tmp_path, monkeypatch
):
    path = tmp_path / "checkpoint.pt"
    checkpoint = load_checkpoint(finished_run / "checkpoint.pt")
    save_checkpoint(path, checkpoint)
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(
        SearchError, match="No space left on device; free some space, then continue"
    ):
        save_checkpoint(path, checkpoint)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no .tmp left
    assert path.read_bytes() == before  # the previous checkpoint is intact


@pytest.fixture
def tiny_disk(tmp_path):
    """A 4 MB tmpfs (root only, where mounting is allowed): a search's files do not fit in it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4000K", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_disk_is_one_error_line_and_the_run_resumes_elsewhere(tiny_disk, tmp_path):
    out = tiny_disk / "run"
    flags = [*TINY_SEARCH, "--epochs", "3", "--max-steps-per-epoch", "30"]
    done = subprocess.run(
        [*CLI, "search", *flags, "--out", str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "space" in done.stderr and "--resume" in done.stderr
    assert not list(out.glob("*.tmp"))
    moved = tmp_path / "run"
    subprocess.run(["cp", "-r", str(out), str(moved)], check=True)
    again = subprocess.run(
        [*CLI, "search", *flags, "--out", str(moved), "--resume"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr


def test_a_journal_shorter_than_its_checkpoint_warns(finished_run, tmp_path):
    out = tmp_path / "run"
    subprocess.run(["cp", "-r", str(finished_run), str(out)], check=True)
    journal = out / "search.journal"
    storage = open_storage(str(journal)).storage
    study = optuna.load_study(study_name="digits-chain", storage=storage)
    n = len(study.trials)
    # An older copy of the journal: the same study before its last trials were written.
    lines = journal.read_bytes().splitlines(keepends=True)
    created = [i for i, line in enumerate(lines) if json.loads(line)["op_code"] == CREATE_TRIAL]
    journal.write_bytes(b"".join(lines[: created[n - 3]]))  # trials n - 3 ... are gone
    done = subprocess.run(
        [*CLI, "search", *TINY_SEARCH, "--out", str(out), "--resume"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "but the checkpoint" in line]
    assert line.startswith(
        f"warning: the study has {n - 3} trials but the checkpoint was written after {n}"
    )
    assert "session.py" not in done.stderr and "warnings.warn" not in done.stderr  # no source line


def test_the_workers_md_journal_recipe_runs_and_keeps_optunas_format(tmp_path, monkeypatch):
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "workers.md").read_text()
    (code,) = re.findall(r"<!-- test: skip, journal: [^>]*-->\n```python\n(.*?)```", text, re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "workers.md", "exec"), namespace)
    study = optuna.create_study(study_name="nas", storage=namespace["storage"])
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    # Plain Optuna reads what it wrote.
    plain = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "nas.log"))
    )
    assert len(optuna.load_study(study_name="nas", storage=plain).trials) == 3
