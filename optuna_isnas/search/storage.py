"""Optuna storages and studies of a search: opening them, naming their objectives.

``open_storage`` is the one way this package opens a storage (the search, the comparison and its
dashboard study all use it): a storage object, a URL, or a journal file path. What cannot be used
is refused with a :class:`SearchError` that says what to do: a file that is not an Optuna
journal, a journal in a directory that does not exist (no directory is created silently), an
in-memory SQLite URL (the studies would vanish with the process). ``output_directory`` checks an
output directory the same way before anything is computed.

Journal files are written through :class:`optuna_isnas.journal.JournalFile`: Optuna's format and
lock, a lock left behind by a killed process removed instead of waited for, a torn last line
repaired before the next write, and a damaged journal refused with the line that is damaged.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import optuna
from optuna.trial import TrialState

from optuna_isnas.journal import JournalError, JournalFile
from optuna_isnas.search.checkpoint import Checkpoint
from optuna_isnas.search.config import Objective, SearchConfig
from optuna_isnas.search.errors import SearchError
from optuna_isnas.search.progress import say

JOURNAL_NAME = "search.journal"
CONFIG_ATTR = "optuna_isnas:config"


def summary_name(study_name: str) -> str:
    """Name of the study holding a search's returned architectures."""
    return f"{study_name}-summary"


@dataclass
class OpenedStorage:
    """An Optuna storage and how to name it to a user (for the optuna-dashboard hint)."""

    storage: optuna.storages.BaseStorage
    location: str | None  # URL or journal file path; None for an in-memory storage
    is_default_journal: bool = False
    backend: JournalFile | None = None

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
            backend = JournalFile(location, tell=say)
            opened: optuna.storages.BaseStorage = backend.storage()
        else:
            opened = optuna.storages.get_storage(location)
    except JournalError as exc:
        raise SearchError(str(exc)) from exc
    except OSError as exc:  # e.g. no space left to keep a copy of a torn journal
        raise SearchError(f"cannot open storage {location!r}: {exc.strerror or exc}") from exc
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


def metric_names(objective: Objective) -> list[str]:
    return [objective.value, "params"]


def directions(objective: Objective) -> list[Literal["maximize", "minimize"]]:
    return ["maximize" if objective.maximized else "minimize", "minimize"]


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


def open_study(
    config: SearchConfig,
    opened: OpenedStorage,
    sampler: optuna.samplers.BaseSampler,
    checkpoint: Checkpoint | None,
    checkpoint_path: Path,
    overwrite: bool,
) -> optuna.Study:
    name = config.resolved_study_name
    exists = study_exists(opened.storage, name)
    if checkpoint is not None:
        if not exists:
            raise SearchError(
                f"cannot resume: study {name!r} is not in storage {opened.location or '(in memory)'}; "
                "resume with the storage the search was started with"
            )
        study = optuna.load_study(study_name=name, storage=opened.storage, sampler=sampler)
        _close_stale_trials(study, checkpoint.n_trials)
        return study
    if exists:
        if not (overwrite or opened.is_default_journal):
            raise SearchError(
                f"study {name!r} already exists in {opened.location}; resume it with --resume, "
                "choose another --study-name, or replace it with --overwrite"
            )
        say(f"replacing the previous study {name!r} in {opened.location}")
        optuna.delete_study(study_name=name, storage=opened.storage)
    if study_exists(opened.storage, summary_name(name)):
        optuna.delete_study(study_name=summary_name(name), storage=opened.storage)
    checkpoint_path.unlink(missing_ok=True)
    study = optuna.create_study(
        study_name=name,
        storage=opened.storage,
        sampler=sampler,
        directions=directions(config.objective),
    )
    set_metric_names(study, metric_names(config.objective))
    study.set_user_attr(CONFIG_ATTR, config.to_dict())
    return study


def _close_stale_trials(study: optuna.Study, n_trials_at_checkpoint: int) -> None:
    """Tell FAIL to trials a killed process left running; warn when the study and the checkpoint
    disagree on how many trials there were."""
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            study.tell(trial.number, state=TrialState.FAIL)
    if len(trials) > n_trials_at_checkpoint:
        warnings.warn(
            f"the study has {len(trials) - n_trials_at_checkpoint} trials newer than the checkpoint "
            "(the process was stopped after writing it: killed, or out of disk space); the search "
            "continues from the checkpoint's weights with the sampler's newer state, so it will not "
            "match an uninterrupted run",
            RuntimeWarning,
            stacklevel=4,
        )
    elif len(trials) < n_trials_at_checkpoint:
        warnings.warn(
            f"the study has {len(trials)} trials but the checkpoint was written after "
            f"{n_trials_at_checkpoint}: {n_trials_at_checkpoint - len(trials)} are missing from "
            "the storage (was it replaced by an older copy, or its journal cut short?); the "
            "search continues from the checkpoint's weights, but the study lacks their results",
            RuntimeWarning,
            stacklevel=4,
        )
