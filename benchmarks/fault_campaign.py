"""A fault campaign against a search's own files: kills, torn journal lines, garbled checkpoints,
full disks and two searches in one folder, each followed by the user's next step (``--resume``).

Every case runs the real command line in its own processes on digits (1 CPU thread each):

* ``kill``: SIGKILL at a random moment of a search (``--kills`` times in one run), each followed
  by ``--resume``; the run must finish.
* ``tear``: SIGKILL, then the journal cut at a random byte (as a kill or a full disk in the middle
  of an append leaves it), then ``--resume``: the tear must be repaired with one line, a copy kept.
* ``garble``: 4 KB of random bytes written at a random place of ``checkpoint.pt`` (also: cut short,
  emptied); ``--resume`` must end with one ``error:`` line and change no file.
* ``disk-full``: the search in a tmpfs too small for it; it must end with one ``error:`` line, leave
  no ``.tmp`` file, and resume to the end once the folder is copied to a larger disk (root only).
* ``twice``: a second search started in the folder of a running one must be refused naming it;
  after the first is SIGKILLed, a third must start at once.

"Lost" is measured on bytes: every whole journal line on disk just before a fault must still be in
the final journal, in order, and no trial that was COMPLETE before the fault may be missing or
changed. The report lists each case: fault, exit status, first error line, lines lost, trials lost.

    python benchmarks/fault_campaign.py --out benchmarks/results/fault_campaign.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-c", "import sys; from optuna_isnas.cli import main; sys.exit(main())"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
FLAGS = [
    "--dataset", "digits", "--epochs", "30", "--max-steps-per-epoch", "4", "--batch-size", "16",
    "--train-subset", "400", "--val-subset", "150", "--device", "cpu", "--threads", "1",
    "--no-progress",
]  # fmt: skip


def _search(out: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "search", *FLAGS, "--out", str(out), *extra],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _start(out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, "search", *FLAGS, "--out", str(out), *extra],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _whole_lines(journal: Path) -> bytes:
    data = journal.read_bytes() if journal.exists() else b""
    return data[: data.rfind(b"\n") + 1]


def _complete_trials(journal: Path) -> dict[int, str]:
    """Trial number -> its values and params, for the COMPLETE trials of the search study."""
    import optuna

    from optuna_isnas.journal import journal_storage

    if not journal.exists():
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:  # read a copy: opening repairs a torn tail
        copy = Path(scratch) / journal.name
        copy.write_bytes(journal.read_bytes())
        storage = journal_storage(copy, tell=lambda m: None)
        try:
            study = optuna.load_study(study_name="digits-chain", storage=storage)
        except KeyError:
            return {}
        return {
            t.number: json.dumps([t.values, t.params], sort_keys=True)
            for t in study.get_trials(deepcopy=False)
            if t.state.name == "COMPLETE"
        }


def _lost(before_lines: bytes, before_trials: dict[int, str], journal: Path) -> tuple[int, int]:
    """(journal lines, COMPLETE trials) present before a fault and missing or changed after it."""
    after = journal.read_bytes()
    lines_before = before_lines.splitlines()
    if after.startswith(before_lines):
        lines_lost = 0
    else:
        kept = set(after.splitlines())
        lines_lost = sum(1 for line in lines_before if line not in kept)
    trials_after = _complete_trials(journal)
    trials_lost = sum(1 for k, v in before_trials.items() if trials_after.get(k) != v)
    return lines_lost, trials_lost


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith(("error:", "repaired", "removed a stale")):
            return line[:160]
    return ""


def _kill_at_random(out: Path, rng: random.Random, low: float, high: float) -> None:
    """Start (or resume) a search, wait until it has written a checkpoint (a new one, when
    resuming), then SIGKILL it after a random time of ``low`` to ``high`` seconds."""
    checkpoint = out / "checkpoint.pt"
    resume = ["--resume"] if checkpoint.exists() else []
    seen = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
    process = _start(out, *resume)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoint.exists() and checkpoint.stat().st_mtime_ns != seen:
            break
        time.sleep(0.05)
    time.sleep(rng.uniform(low, high))
    process.send_signal(signal.SIGKILL)
    process.wait()


def case_kill(root: Path, rng: random.Random, kills: int) -> list[dict[str, Any]]:
    out = root / "kill"
    rows: list[dict[str, Any]] = []
    before: dict[int, tuple[bytes, dict[int, str]]] = {}
    for i in range(kills):
        _kill_at_random(out, rng, 0.0, 3.0)
        lines, trials = (
            _whole_lines(out / "search.journal"),
            _complete_trials(out / "search.journal"),
        )
        if not (out / "checkpoint.pt").exists():
            rows.append({"case": "kill", "round": i, "note": "killed before the first checkpoint"})
            continue
        rows.append({"case": "kill", "round": i, "lines_before": len(lines.splitlines()),
                     "trials_before": len(trials)})  # fmt: skip
        before[len(rows) - 1] = (lines, trials)
    done = _search(out, "--resume")
    for at, (lines, trials) in before.items():
        rows[at]["lines_lost"], rows[at]["trials_lost"] = _lost(
            lines, trials, out / "search.journal"
        )
    rows.append({"case": "kill", "round": "final resume", "exit": done.returncode,
                 "message": _first_error(done.stderr)})  # fmt: skip
    return rows


def case_tear(root: Path, rng: random.Random, rounds: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(rounds):
        out = root / f"tear{i}"
        _kill_at_random(out, rng, 0.0, 3.0)
        journal = out / "search.journal"
        data = journal.read_bytes()
        last = data.rstrip(b"\n").rfind(b"\n") + 1
        cut = rng.randrange(last + 1, len(data) - 1)  # inside the last line
        journal.write_bytes(data[:cut])
        lines, trials = _whole_lines(journal), _complete_trials(journal)
        done = _search(out, "--resume")
        lines_lost, trials_lost = _lost(lines, trials, journal)
        copies = list(out.glob("search.journal.torn-*"))
        rows.append({
            "case": "tear", "round": i, "cut_bytes": len(data) - cut, "exit": done.returncode,
            "message": _first_error(done.stderr), "copy_kept": len(copies) == 1
            and copies[0].read_bytes() == data[:cut], "lines_lost": lines_lost,
            "trials_lost": trials_lost, "trials_before": len(trials),
        })  # fmt: skip
    return rows


def case_garble(root: Path, rng: random.Random, rounds: int) -> list[dict[str, Any]]:
    base = root / "garble-base"
    _kill_at_random(base, rng, 0.0, 2.0)
    rows = []
    faults = ["garble"] * rounds + ["truncate", "empty"]
    for i, fault in enumerate(faults):
        out = root / f"garble{i}"
        subprocess.run(["cp", "-r", str(base), str(out)], check=True)
        path = out / "checkpoint.pt"
        data = bytearray(path.read_bytes())
        if fault == "garble":
            at = rng.randrange(0, len(data) - 4096)
            data[at : at + 4096] = rng.randbytes(4096)
        elif fault == "truncate":
            data = data[: rng.randrange(1, len(data))]
        else:
            data = bytearray()
        path.write_bytes(bytes(data))
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "search.lock"}
        done = _search(out, "--resume")
        after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "search.lock"}
        rows.append({
            "case": "garble", "round": i, "fault": fault, "exit": done.returncode,
            "message": _first_error(done.stderr), "error_lines": done.stderr.count("\n"),
            "files_unchanged": before == after, "traceback": "Traceback" in done.stderr,
        })  # fmt: skip
    return rows


def case_disk_full(root: Path, rng: random.Random, sizes_kb: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n, size in enumerate(sizes_kb):
        mount = root / f"disk{n}-{size}"
        mount.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}K", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            rows.append({"case": "disk-full", "size_kb": size, "note": "cannot mount a tmpfs"})
            continue
        try:
            out = mount / "run"
            done = _search(out)
            lines, trials = (
                _whole_lines(out / "search.journal"),
                _complete_trials(out / "search.journal"),
            )
            tmp_left = [p.name for p in out.glob("*.tmp")]
            moved = root / f"moved{n}-{size}"
            subprocess.run(["cp", "-r", str(out), str(moved)], check=True)
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)
        again = _search(moved, "--resume" if (moved / "checkpoint.pt").exists() else "--overwrite")
        lines_lost, trials_lost = _lost(lines, trials, moved / "search.journal")
        rows.append({
            "case": "disk-full", "size_kb": size, "exit": done.returncode,
            "message": _first_error(done.stderr), "traceback": "Traceback" in done.stderr,
            "tmp_left": tmp_left, "resumed_exit": again.returncode,
            "resume_message": _first_error(again.stderr), "lines_lost": lines_lost,
            "resume_failure": again.stderr[-1500:] if again.returncode not in (0, 2) else "",
            "trials_lost": trials_lost, "trials_before": len(trials),
        })  # fmt: skip
    return rows


def case_twice(root: Path, rng: random.Random, rounds: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(rounds):
        out = root / f"twice{i}"
        first = _start(out)
        deadline = time.monotonic() + 120
        lock = out / "search.lock"
        while not (lock.exists() and lock.read_bytes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 3.0))
        second = _search(out, "--resume")
        first.send_signal(signal.SIGKILL)
        first.wait()
        started = time.monotonic()
        third = _search(out, "--resume" if (out / "checkpoint.pt").exists() else "--overwrite")
        rows.append({
            "case": "twice", "round": i, "second_exit": second.returncode,
            "message": _first_error(second.stderr),
            "names_holder": f"process {first.pid} " in second.stderr,
            "third_exit": third.returncode, "third_s": round(time.monotonic() - started, 1),
        })  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--disk-kb", default="2000,3000,4000,6000")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    parser.add_argument("--cases", default="kill,tear,garble,disk-full,twice", help="which cases")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        root = Path(tmp)
        for name, run in (
            ("kill", lambda: case_kill(root, rng, args.kills)),
            ("tear", lambda: case_tear(root, rng, args.rounds)),
            ("garble", lambda: case_garble(root, rng, args.rounds)),
            (
                "disk-full",
                lambda: case_disk_full(root, rng, [int(s) for s in args.disk_kb.split(",")]),
            ),
            ("twice", lambda: case_twice(root, rng, max(2, args.rounds // 2))),
        ):
            if name not in args.cases.split(","):
                continue
            started = time.monotonic()
            got = run()
            rows += got
            print(
                f"{name}: {len(got)} cases in {time.monotonic() - started:.0f} s", file=sys.stderr
            )
            for row in got:
                print(json.dumps(row), file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"seed": args.seed, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
