"""The one place that touches Optuna's private storage handles.

Optuna 5 removed the public setters of system attributes; its own samplers write their state
through ``study._storage`` and ``trial._trial_id``. Every such access of this package goes
through the functions below, so that a change in Optuna's internals is fixed here alone.
"""

from __future__ import annotations

from typing import Any

from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

_CACHED: tuple[type, ...]
try:  # Optuna's trial cache around RDBStorage (private: a later Optuna may move it)
    from optuna.storages._cached_storage import _CachedStorage

    _CACHED = (_CachedStorage,)
except ImportError:  # pragma: no cover - then the window is read trial by trial, as before
    _CACHED = ()


def study_key(study: Study) -> tuple[int, int]:
    """Identifies ``study`` within this process: (storage object, study id)."""
    return id(study._storage), study._study_id


def study_system_attrs(study: Study) -> dict[str, Any]:
    """The study's system attributes, read afresh from its storage."""
    return study._storage.get_study_system_attrs(study._study_id)


def set_study_system_attr(study: Study, key: str, value: Any) -> None:
    """Write one study system attribute."""
    study._storage.set_study_system_attr(study._study_id, key, value)


def set_trial_system_attr(study: Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """Write one system attribute of a trial of ``study``."""
    study._storage.set_trial_system_attr(trial._trial_id, key, value)


def n_trials(study: Study) -> int:
    """Number of trials in ``study`` (any state), without copying them."""
    return study._storage.get_n_trials(study._study_id)


def trial_by_number(study: Study, number: int) -> FrozenTrial | None:
    """Trial ``number`` of ``study``, or None when it does not exist (yet)."""
    storage = study._storage
    try:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    except KeyError:
        return None
    return storage.get_trial(trial_id)


def completed_trials(study: Study) -> list[FrozenTrial]:
    """Every COMPLETE trial of ``study``, in one read, not copied (do not modify them)."""
    return study._storage.get_all_trials(
        study._study_id, deepcopy=False, states=(TrialState.COMPLETE,)
    )


def unfinished_trials(study: Study) -> dict[int, FrozenTrial] | None:
    """The study's running and waiting trials by number, in one read, where that is cheaper.

    On an RDB storage (which Optuna wraps in its trial cache) ``get_trial`` of a trial still
    running costs a query, and the sampler's window holds every other worker's running trial:
    one read of all unfinished trials replaces a query per trial. None for storages that keep
    the study in this process (journal, in-memory), where reading trials one by one is cheap.
    """
    storage = study._storage
    if not isinstance(storage, _CACHED):
        return None
    states = (TrialState.RUNNING, TrialState.WAITING)
    trials = storage.get_all_trials(study._study_id, deepcopy=False, states=states)
    return {trial.number: trial for trial in trials}
