"""Optuna journal files that survive killed processes, torn writes and stale locks.

``journal_storage(path)`` is an ``optuna.storages.JournalStorage`` for any Optuna study (the search
uses the same file class). Its file, :class:`JournalFile`, keeps Optuna's file format and lock, and:

- takes the lock with :class:`JournalLock`, which removes a lock a killed process left behind
  instead of waiting for it (Optuna's own lock waits, or, for a relative path, spins forever);
- repairs a torn last line before it writes: a process killed, or a disk that filled, in the middle
  of an append leaves a last line without its newline, and the next append would glue a new entry
  onto it, after which no process could read the journal again. The torn part is removed (a copy
  of the file as it was is kept beside it) and one line says so;
- refuses, with a message naming the line, a journal damaged elsewhere (a line in the middle that
  is not a journal entry), rather than letting Optuna fail later with a decoding error;
- goes to disk with :meth:`JournalFile.sync` (at a search's checkpoints) instead of an fsync after
  every line.

This module imports neither torch nor the search: ``from optuna_isnas.journal import
journal_storage`` works in the base install.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

LOCK_SUFFIX = ".lock"  # Optuna's: JournalFileBackend's default lock is <journal>.lock
LOCK_GRACE_S = 10.0
"""A journal lock held this long by one holder is stale: a write holds it for milliseconds."""
LOCK_CONFIRM_S = 1.0
"""How long a lock that was already older than the grace period must stay unchanged."""
TORN_SUFFIX = ".torn-"
"""A repaired journal's copy as it was: ``<journal>.torn-<UTC time>``."""


class JournalError(ValueError):
    """A journal file that cannot be used as it is; the message says what to do."""


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def journal_storage(
    path: str | Path, tell: Callable[[str], None] | None = None
) -> optuna.storages.JournalStorage:
    """An Optuna ``JournalStorage`` on the journal file ``path`` (created if missing), written
    through :class:`JournalFile`: stale locks are removed, a torn last line is repaired.

    Use it wherever you would write ``JournalStorage(JournalFileBackend(path))``::

        study = optuna.create_study(storage=journal_storage("runs/study.journal"))

    Args:
        path: The journal file; its directory must exist.
        tell: Where the one-line repair and lock messages go (default: standard error).

    Raises:
        JournalError: The file is damaged before its last line (the message names the line).
    """
    return JournalFile(path, tell=tell).storage()


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
        tell: Where its one-line messages go (default: standard error).
    """

    def __init__(
        self,
        journal: str | Path,
        grace_s: float = LOCK_GRACE_S,
        tell: Callable[[str], None] | None = None,
    ) -> None:
        self.target = os.path.abspath(journal)
        self.path = self.target + LOCK_SUFFIX
        self.grace_s = grace_s
        self.tell = tell or _to_stderr
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
                    self.tell(
                        f"removed a stale lock {self.path} (held for over {self.grace_s:g} s: "
                        "left by a process killed while writing to the journal)"
                    )
                holder = None
                continue
            elif not told and now - since > 2.0:
                told = True
                self.tell(
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
        """Remove the lock if it is still ``holder``'s; False if it changed hands meanwhile.

        Waiters that judge the same lock stale break it one at a time, under ``<lock>.break`` (a
        directory: ``os.mkdir`` is atomic). Under it the link is checked and then renamed aside:
        a stale holder is dead and no other breaker runs, so nothing can replace the link between
        the two. (Renaming first and putting a live lock back when it turned out to be another
        waiter's, as this did before, left a moment with no link, in which a third waiter took
        the lock too: two holders.)
        """
        breaker = self.path + ".break"
        try:
            os.mkdir(breaker)
        except FileExistsError:
            _clear_abandoned(breaker, self.grace_s)
            return False
        try:
            if _identity(self.path) != holder:  # released, or already broken and retaken
                return False
            aside = f"{self.path}.{uuid.uuid4().hex}.stale"
            os.rename(self.path, aside)
            os.unlink(aside)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):  # cleared as abandoned: not possible
                os.rmdir(breaker)  # within grace_s, which the break takes milliseconds of


def _clear_abandoned(breaker: str, grace_s: float) -> None:
    """Remove a breaker's directory older than ``grace_s`` (its process died while breaking)."""
    with contextlib.suppress(OSError):
        if time.time() - os.stat(breaker).st_mtime > grace_s:
            os.rmdir(breaker)


def _identity(path: str) -> tuple[int, int] | None:
    """The lock link's inode and modification time (of the link, not its target), or None."""
    try:
        stat = os.lstat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


class JournalFile(JournalFileBackend):
    """Optuna's journal file, with a stale-safe lock, torn-line repair and explicit syncs.

    A search writes about a dozen journal lines per trial, and ``JournalFileBackend`` fsyncs each
    one (about 5 ms apiece on the development machines: most of a small search's time). Here each
    line still goes to the operating system at once, under the same file lock, so other processes
    (optuna-dashboard, a resumed search) see it at once and a killed process loses nothing; only a
    crash of the machine itself can lose the lines written since the last :meth:`sync`. The file
    format is Optuna's own.

    Before it first reads the file, and before each append, a torn last line (no newline: its
    writer was killed or the disk filled) is repaired under the lock (:func:`repair_torn_tail`).

    Args:
        path: The journal file (made absolute: a later change of directory does not move it).
        tell: Where one-line messages (a repair, a stale lock) go; default standard error.
    """

    def __init__(self, path: str | Path, tell: Callable[[str], None] | None = None) -> None:
        self.path = os.path.abspath(path)
        self.tell = tell or _to_stderr
        self.lock = JournalLock(self.path, tell=self.tell)
        if os.path.exists(self.path):
            with self._locked():
                repair_torn_tail(self.path, self.tell)
            if not _last_line_is_entry(self.path):
                raise JournalError(_damage(self.path) or f"journal {self.path} is damaged")
        super().__init__(self.path, lock_obj=self.lock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        data = text.encode("utf-8")
        with self._locked():
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    repair_torn_tail(self.path, self.tell)  # another writer was cut off
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
            finally:
                os.close(fd)

    def storage(self) -> optuna.storages.JournalStorage:
        """An Optuna ``JournalStorage`` on this file (it reads the whole journal).

        Raises:
            JournalError: A line of the journal is not a journal entry (the message names it).
        """
        try:
            return optuna.storages.JournalStorage(self)
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise JournalError(
                _damage(self.path) or f"cannot read journal {self.path}: {exc}"
            ) from exc

    def sync(self) -> None:
        """Flush the file to disk (a search calls it before each checkpoint)."""
        with open(self.path, "ab") as f:
            os.fsync(f.fileno())

    @contextlib.contextmanager
    def _locked(self) -> Any:
        self.lock.acquire()
        try:
            yield
        finally:
            self.lock.release()


def repair_torn_tail(path: str | Path, tell: Callable[[str], None] = _to_stderr) -> Path | None:
    """Make the journal ``path`` end at a whole line; call it holding the journal's lock.

    A last line without its newline was cut off while being written. If what is there is still a
    whole journal entry, only the newline is added; otherwise the cut-off part is removed, after
    a copy of the file as it was is kept as ``<path>.torn-<UTC time>``. One line through ``tell``
    says which. Returns the copy's path (None when nothing was removed).

    Raises:
        OSError: The copy or the repair could not be written (e.g. the disk is full); the
            journal is then left as it was.
    """
    path = str(path)
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) == b"\n":  # the common case: one byte read
            return None
        start = _last_line_start(f, size)
        f.seek(start)
        tail = f.read()
        if _is_entry(tail):
            f.seek(size)
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
            tell(f"repaired {path}: its last entry had lost its line end; added it")
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        copy = Path(path + TORN_SUFFIX + stamp)
        try:
            shutil.copyfile(path, copy)
        except OSError as e:
            copy.unlink(missing_ok=True)  # a partial copy must not fill the disk
            raise OSError(
                e.errno,
                f"cannot repair the torn last line of {path}: keeping a copy of it first failed "
                f"({e.strerror or e}); free some space or move the journal to a larger disk, then "
                f"open it again (the journal is left as it was)",
            ) from e
        f.truncate(start)
        f.flush()
        os.fsync(f.fileno())
    tell(
        f"repaired {path}: removed its torn last line ({size - start} bytes cut off when a "
        f"process was killed or the disk filled while writing it); the file as it was is kept "
        f"as {copy}"
    )
    return copy


def _last_line_start(f: Any, size: int) -> int:
    """The offset just after the last newline of the open file ``f`` (0 if there is none)."""
    end = size
    while end > 0:
        begin = max(0, end - (1 << 16))
        f.seek(begin)
        found = f.read(end - begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return 0


def _last_line_is_entry(path: str) -> bool:
    """Whether the last line of a journal that ends with a newline is a journal entry."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return True
        start = _last_line_start(f, size - 1)
        f.seek(start)
        return _is_entry(f.read())


def _is_entry(line: bytes) -> bool:
    try:
        entry = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(entry, dict) and "op_code" in entry


def _damage(path: str | Path) -> str | None:
    """A message naming the first line of the journal that is not a journal entry, or None."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if line.endswith(b"\n") and not _is_entry(line):
                return (
                    f"journal {path} is damaged: line {number} is not an Optuna journal entry "
                    f"(it starts {line[:40]!r}); the study cannot be read past it. Restore the "
                    "file from a copy, or start a new study in another file"
                )
    return None
