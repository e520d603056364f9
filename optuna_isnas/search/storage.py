"""Optuna storages and studies of a search: opening them, naming their objectives.

``open_storage`` is the one way this package opens a storage (the search, the comparison and its
dashboard study all use it): a storage object, a URL, or a journal file path. What cannot be used
is refused with a :class:`SearchError` that says what to do: a file that is not an Optuna
journal, a journal in a directory that does not exist (no directory is created silently), an
in-memory SQLite URL (the studies would vanish with the process). ``output_directory`` checks an
output directory the same way before anything is computed.

Journal files are locked with :class:`JournalLock`: Optuna's own lock (a ``<journal>.lock``
symbolic link, so other Optuna processes writing to the same journal stay excluded) that recovers
from a lock left behind by a killed process instead of waiting for it forever.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from optuna_isnas.search.errors import SearchError
from optuna_isnas.search.progress import say

JOURNAL_NAME = "search.journal"
LOCK_SUFFIX = ".lock"  # Optuna's: JournalFileBackend's default lock is <journal>.lock
LOCK_GRACE_S = 10.0
"""A journal lock held this long by one holder is stale: a write holds it for milliseconds."""
LOCK_CONFIRM_S = 1.0
"""How long a lock that was already older than the grace period must stay unchanged."""


class JournalLock(JournalFileSymlinkLock):
    """Optuna's symbolic-link lock of a journal file, recovering from stale locks.

    The lock is the symbolic link ``<journal>.lock`` (created atomically by ``os.symlink``, as
    ``optuna.storages.journal.JournalFileSymlinkLock`` does, so that optuna-dashboard or a user's
    own Optuna process writing to the same journal is excluded too). A process killed while it
    holds the lock leaves the link behind. Optuna's lock then waits for a grace period measured
    by the journal's modification time, and where the link dangles (a journal given by a relative
    path) it retries without sleeping, forever. This lock instead:

    - points the link at the journal's absolute path, so it never dangles;
    - judges a lock by the link itself (``os.lstat``: its inode and creation time): one holder
      keeping it for ``grace_s`` seconds (a write takes milliseconds) is a stale lock, and so is
      one already older than ``grace_s`` when first seen that stays unchanged for
      ``LOCK_CONFIRM_S`` seconds;
    - removes a stale lock by renaming it aside first (only one waiter can), says so in one
      line, and takes the lock.

    Args:
        journal: Path of the journal file.
        grace_s: Seconds after which a lock held by one holder counts as stale.
    """

    def __init__(self, journal: str | Path, grace_s: float = LOCK_GRACE_S) -> None:
        self.target = os.path.abspath(journal)
        self.path = self.target + LOCK_SUFFIX
        self.grace_s = grace_s
        super().__init__(self.target, grace_period=None)  # the same lock file as Optuna's

    def acquire(self) -> bool:
        """Wait for the lock (taking over a stale one) and hold it; returns True."""
        holder: tuple[int, int] | None = None
        since = patience = 0.0
        delay = 0.001
        told = False
        while True:
            try:
                os.symlink(self.target, self.path)
                return True
            except FileExistsError:
                pass
            seen = _identity(self.path)
            if seen is None:  # released between our attempt and our look
                continue
            now = time.monotonic()
            if seen != holder:
                holder, since = seen, now
                age = time.time() - seen[1] / 1e9
                patience = LOCK_CONFIRM_S if age > self.grace_s else self.grace_s
            elif now - since > patience:
                if self._remove_stale(holder):
                    say(
                        f"removed a stale lock {self.path} (held for over {self.grace_s:g} s: "
                        "left by a process killed while writing to the journal)"
                    )
                holder = None
                continue
            elif not told and now - since > 2.0:
                told = True
                say(
                    f"waiting for the journal lock {self.path}: another process holds it, or a "
                    f"killed one left it (then it is removed after {self.grace_s:g} s)"
                )
            time.sleep(delay)
            delay = min(2 * delay, 0.05)

    def release(self) -> None:
        """Remove the lock (renamed aside first, as Optuna's lock does)."""
        aside = f"{self.path}.{uuid.uuid4().hex}.release"
        try:
            os.rename(self.path, aside)
        except OSError as exc:
            raise RuntimeError(f"the journal lock {self.path} was not held") from exc
        os.unlink(aside)

    def _remove_stale(self, holder: tuple[int, int]) -> bool:
        """Remove the lock if it is still ``holder``'s; False if it changed hands meanwhile."""
        aside = f"{self.path}.{uuid.uuid4().hex}.stale"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:  # released (or removed by another waiter) meanwhile
            return False
        if _identity(aside) != holder:
            # Another process took the lock between our look and the rename: put it back (a
            # hard link of the same link keeps its identity; it fails if the place is taken).
            with contextlib.suppress(OSError):
                os.link(aside, self.path, follow_symlinks=False)
            os.unlink(aside)
            return False
        os.unlink(aside)
        return True


def _identity(path: str) -> tuple[int, int] | None:
    """The lock link's inode and modification time (of the link, not its target), or None."""
    try:
        stat = os.lstat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


class SearchJournalBackend(JournalFileBackend):
    """A JournalFileBackend that syncs to disk at checkpoints rather than after every operation.

    A search writes about a dozen journal lines per trial, and ``JournalFileBackend`` fsyncs each
    one (about 5 ms apiece on the development machines: most of a small search's time). Here each
    line still goes to the operating system at once, under the same file lock, so other processes
    (optuna-dashboard, a resumed search) see it at once and a killed search loses nothing; only a
    crash of the machine itself can lose the lines written since the last :meth:`sync`, which the
    search calls before writing each checkpoint. The file format is Optuna's own.

    Built on the public constructor: the lock (a :class:`JournalLock`) is created here and handed
    over as ``lock_obj``, so this class keeps its own references to the lock and the path (made
    absolute: a later change of directory does not move the journal).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = os.path.abspath(path)
        self.lock = JournalLock(self.path)
        super().__init__(self.path, lock_obj=self.lock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        self.lock.acquire()
        try:
            with open(self.path, "ab") as f:
                f.write(text.encode("utf-8"))
        finally:
            self.lock.release()

    def sync(self) -> None:
        with open(self.path, "ab") as f:
            os.fsync(f.fileno())


@dataclass
class OpenedStorage:
    """An Optuna storage and how to name it to a user (for the optuna-dashboard hint)."""

    storage: optuna.storages.BaseStorage
    location: str | None  # URL or journal file path; None for an in-memory storage
    is_default_journal: bool = False
    backend: SearchJournalBackend | None = None

    def sync(self) -> None:
        """Flush a journal file to disk (other storages commit each operation themselves)."""
        if self.backend is not None:
            self.backend.sync()


def open_storage(
    storage: str | optuna.storages.BaseStorage | None, out: str | Path | None = None
) -> OpenedStorage:
    """Open ``storage``: a storage object, a URL, a journal file path, or None for
    ``<out>/search.journal`` (``out`` must exist).

    Raises:
        SearchError: The URL cannot be opened, is an in-memory SQLite database, or the path is
            not an Optuna journal file or lies in a directory that does not exist.
    """
    if isinstance(storage, optuna.storages.BaseStorage):
        return OpenedStorage(storage, getattr(storage, "url", None))
    default = storage is None
    if storage is None:
        if out is None:
            raise SearchError("no storage given and no output directory for the default journal")
        location = str(Path(out) / JOURNAL_NAME)
    else:
        location = storage
    backend = None
    if "://" in location:
        _check_url(location)
    else:
        _check_journal_path(location)
    try:
        if "://" not in location:
            backend = SearchJournalBackend(location)
            opened: optuna.storages.BaseStorage = optuna.storages.JournalStorage(backend)
        else:
            opened = optuna.storages.get_storage(location)
    except Exception as exc:  # any failure to open is the user's URL, reported in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "; is it an Optuna journal file?" if backend is not None else ""
        raise SearchError(f"cannot open storage {location!r}: {reason}{hint}") from exc
    return OpenedStorage(opened, location, is_default_journal=default, backend=backend)


def _check_url(url: str) -> None:
    """Refuse an in-memory SQLite URL: its studies would vanish when the process ends."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # get_storage reports it
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        raise SearchError(
            f"storage {url!r} is an in-memory SQLite database: the studies would be lost when "
            "the search ends (and optuna-dashboard could not open them); give a file, e.g. "
            "sqlite:///runs/studies.db or a journal path, or leave --storage out for "
            "OUT/search.journal"
        )


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_journal_path(location: str) -> None:
    """A journal path must lie in an existing directory and, if the file exists, be a journal."""
    path = Path(location)
    if path.is_dir():
        raise SearchError(
            f"storage {location!r} is a directory; give a journal file path (e.g. "
            f"{path / JOURNAL_NAME}) or a URL"
        )
    if not path.parent.is_dir():
        raise SearchError(
            f"the directory {str(path.parent)!r} of storage {location!r} does not exist; create "
            "it first, or give a journal file in an existing directory"
        )
    if not path.is_file():
        return
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
    except OSError as exc:
        raise SearchError(f"cannot read storage {location!r}: {exc.strerror}") from exc
    if not first:
        return  # an empty file becomes a new journal
    if first.startswith(_SQLITE_MAGIC):
        raise SearchError(
            f"storage {location!r} is an SQLite database, not a journal file; give it as a URL: "
            f"sqlite:///{location}"
        )
    try:
        entry = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError):
        entry = None
    if not (isinstance(entry, dict) and "op_code" in entry) and not first.startswith(
        b'{"op_code":'  # a first line longer than the part read
    ):
        raise SearchError(
            f"storage {location!r} exists but is not an Optuna journal file (its first line is "
            "not a journal entry); give another path, or a URL such as sqlite:///runs/studies.db"
        )


def output_directory(out: str | Path, flag: str = "--out") -> Path:
    """Create the output directory ``out`` if needed and check that files can be written in it.

    Raises:
        SearchError: ``out`` is a file, cannot be created, or cannot be written in.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise SearchError(
            f"{flag} {str(out)!r} is a file, not a directory; give a directory (it is created "
            "if missing)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise SearchError(
            f"cannot write in {flag} {str(out)!r}: {exc.strerror or exc}; give a directory you "
            "can write to"
        ) from exc
    return path


def metric_names(objective: str) -> list[str]:
    return [objective, "params"]


def directions(objective: str) -> list[Literal["maximize", "minimize"]]:
    return ["maximize" if objective == "accuracy" else "minimize", "minimize"]


def set_metric_names(study: optuna.Study, names: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)


def study_exists(storage: optuna.storages.BaseStorage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True
