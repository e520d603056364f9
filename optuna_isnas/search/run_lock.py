"""One live search per output directory.

Two searches writing into one ``--out`` (two ``--resume`` started together, or a scheduler
restarting a job whose first process still runs) interleave two trainings in one study and
overwrite each other's checkpoint. :class:`RunFolderLock` holds an exclusive ``flock`` on
``OUT/search.lock`` for the whole search and writes its holder (process, host, start, command)
into that file; a second search is refused with a message naming the holder.

The operating system releases a ``flock`` when its process dies, however it dies, so a killed
search never leaves a lock behind: the file stays, naming its last holder, but it is not held.
Where the file system offers no ``flock`` (some network mounts), the search warns and goes on.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from optuna_isnas.search.errors import SearchError

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "search.lock"


class RunFolderLock:
    """An exclusive, process-lifetime lock on a search's output directory.

    Use as a context manager around everything a search writes into ``out``.

    Raises:
        SearchError: On entry, when another live process holds the lock (the message names it).
    """

    def __init__(self, out: str | Path) -> None:
        self.path = Path(out) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunFolderLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            os.close(fd)
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise SearchError(
                f"another search is running in {self.path.parent} ({holder}); wait for it to end "
                "or stop it, or give this one another --out"
            ) from None
        except OSError as exc:  # a file system without flock
            os.close(fd)
            warnings.warn(
                f"cannot lock {self.path} ({exc.strerror}); make sure no other search writes "
                f"into {self.path.parent} at the same time",
                RuntimeWarning,
                stacklevel=2,
            )
            return self
        self._fd = fd
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # nobody holds it now
        except OSError:
            pass
        finally:
            os.close(fd)  # closing the descriptor releases the flock


def _describe(data: bytes) -> str:
    """``process 123 on host h, started ..., running: ...`` from the lock file's contents."""
    try:
        holder: Any = json.loads(data.decode())
    except (ValueError, UnicodeDecodeError):
        holder = None
    if not isinstance(holder, dict):
        return "a process that has not yet written its name"
    return (
        f"process {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}, "
        f"running: {holder.get('command')}"
    )
