"""Optuna storages and studies of a search: opening them, naming their objectives.

``open_storage`` is the one way this package opens a storage (the search, the comparison and its
dashboard study all use it): a storage object, a URL, or a journal file path.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from optuna_isnas.search.errors import SearchError

JOURNAL_NAME = "search.journal"


class SearchJournalBackend(JournalFileBackend):
    """A JournalFileBackend that syncs to disk at checkpoints rather than after every operation.

    A search writes about a dozen journal lines per trial, and ``JournalFileBackend`` fsyncs each
    one (about 5 ms apiece on the development machines: most of a small search's time). Here each
    line still goes to the operating system at once, under the same file lock, so other processes
    (optuna-dashboard, a resumed search) see it at once and a killed search loses nothing; only a
    crash of the machine itself can lose the lines written since the last :meth:`sync`, which the
    search calls before writing each checkpoint. The file format is Optuna's own.

    Built on the public constructor: the lock object is created here and handed over as
    ``lock_obj``, so this class keeps its own references to the lock and the path.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = JournalFileSymlinkLock(path)
        super().__init__(path, lock_obj=self.lock)

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
    ``<out>/search.journal``.

    Raises:
        SearchError: The URL cannot be opened.
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
    try:
        if "://" not in location:
            Path(location).parent.mkdir(parents=True, exist_ok=True)
            backend = SearchJournalBackend(location)
            opened: optuna.storages.BaseStorage = optuna.storages.JournalStorage(backend)
        else:
            opened = optuna.storages.get_storage(location)
    except Exception as exc:  # any failure to open is the user's URL, reported in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(f"cannot open storage {location!r}: {reason}") from exc
    return OpenedStorage(opened, location, is_default_journal=default, backend=backend)


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
