"""Storage, studies and samplers of a search."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages.journal import JournalFileBackend

from optuna_isnas.search.config import SearchConfig
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
    """

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        self._lock.acquire()
        try:
            with open(self._file_path, "ab") as f:
                f.write(text.encode("utf-8"))
        finally:
            self._lock.release()

    def sync(self) -> None:
        with open(self._file_path, "ab") as f:
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
    storage: str | optuna.storages.BaseStorage | None, out: str | Path
) -> OpenedStorage:
    """Open ``storage``: a storage object, a URL, a journal file path, or None for ``<out>/search.journal``.

    Raises:
        SearchError: The URL cannot be opened.
    """
    if isinstance(storage, optuna.storages.BaseStorage):
        location = getattr(storage, "url", None)
        return OpenedStorage(storage, location)
    default = storage is None
    location = str(Path(out) / JOURNAL_NAME) if default else storage
    backend = None
    try:
        if "://" not in location:
            Path(location).parent.mkdir(parents=True, exist_ok=True)
            backend = SearchJournalBackend(location)
            opened = optuna.storages.JournalStorage(backend)
        else:
            opened = optuna.storages.get_storage(location)
    except Exception as exc:  # noqa: BLE001 - any failure to open is the user's URL, reported in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(f"cannot open storage {location!r}: {reason}") from exc
    return OpenedStorage(opened, location, is_default_journal=default, backend=backend)


def default_epsilons(k: int) -> tuple[float, ...]:
    """K tradeoffs: 0 ("accuracy only"), then geometric between ISNASSampler's smallest and largest
    positive defaults (for the default K this is ``DEFAULT_EPSILONS`` itself)."""
    from optuna_isnas import DEFAULT_EPSILONS

    if k == len(DEFAULT_EPSILONS):
        return tuple(DEFAULT_EPSILONS)
    positive = [e for e in DEFAULT_EPSILONS if e > 0]
    low, high = min(positive), max(positive)
    if k == 1:
        return (0.0,)
    if k == 2:
        return (0.0, round(float(np.sqrt(low * high)), 3))
    return (0.0, *(round(float(e), 3) for e in np.geomspace(low, high, k - 1)))


def num_distributions(config: SearchConfig) -> int:
    """K: the number of epsilons or budgets given, else ``num_distributions``, else the sampler's default."""
    from optuna_isnas import DEFAULT_EPSILONS

    for given in (config.epsilons, config.budgets):
        if given is not None:
            return len(given)
    return config.num_distributions or len(DEFAULT_EPSILONS)


def make_sampler(config: SearchConfig, space: Any = None) -> optuna.samplers.BaseSampler:
    """The sampler named by ``config.sampler``, seeded with ``config.seed``.

    With budgets and a ``space``, ISNASSampler gets ``complexity_fn=space.n_params``: the
    exact parameter count steers each trade-off and repairs the returned architectures
    into their budgets (docs/algorithm.md, section 4).
    """
    generation = num_distributions(config) * config.samples_per_distribution
    if config.sampler == "isnas":
        from optuna_isnas import ISNASSampler

        if config.budgets is not None:
            tradeoff: dict[str, Any] = {"complexity_budgets": list(config.budgets)}
            if space is not None:
                tradeoff["complexity_fn"] = space.n_params
        else:
            tradeoff = {
                "epsilons": list(config.epsilons or default_epsilons(num_distributions(config)))
            }
        return ISNASSampler(
            **tradeoff, samples_per_distribution=config.samples_per_distribution, seed=config.seed
        )
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=config.seed)
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=config.seed, multivariate=True)
    if config.sampler == "nsgaii":
        return optuna.samplers.NSGAIISampler(population_size=max(generation, 2), seed=config.seed)
    raise SearchError(f"unknown sampler {config.sampler!r}")


def is_isnas_sampler(sampler: Any) -> bool:
    """Duck-typed ISNASSampler: it returns K architectures and keeps its whole state in the study storage."""
    return hasattr(sampler, "architectures") and hasattr(sampler, "generation_size")


def generation_size(sampler: optuna.samplers.BaseSampler, config: SearchConfig) -> int:
    """Trials asked per step: the sampler's generation, else K * lambda from the configuration."""
    size = getattr(sampler, "generation_size", None)
    return int(size) if size else num_distributions(config) * config.samples_per_distribution


def metric_names(objective: str) -> list[str]:
    return [objective, "params"]


def directions(objective: str) -> list[str]:
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
