"""``SearchSession``: everything one search works with, built once and shared.

The session owns the settings, the data (as loaded, and on the device), the space and its supernet,
the minibatch sources, the storage, the study and the sampler, with the sizes derived from them
(steps per epoch, generation size). The loop, the training step and the results read it; step
callbacks receive it (``StepInfo.session``), so a caller never re-derives any of it.

A data-parallel search (``torchrun``) would add its process group here; a streaming data path
would put its own :class:`~optuna_isnas.training.batches.BatchSource` in ``train_batches`` and
``val_batches``.
"""

from __future__ import annotations

import contextlib
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from optuna_isnas.data import DatasetSplits, TensorSplit, load_dataset
from optuna_isnas.search.checkpoint import CHECKPOINT_NAME, Checkpoint
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import SearchError
from optuna_isnas.search.progress import quiet_optuna, say
from optuna_isnas.search.rng import set_sampler_random_states
from optuna_isnas.search.samplers import FamilySampler, family_sampler, generation_size
from optuna_isnas.search.samplers import make_sampler as build_sampler
from optuna_isnas.search.storage import (
    OpenedStorage,
    directions,
    metric_names,
    open_storage,
    output_directory,
    set_metric_names,
    study_exists,
)
from optuna_isnas.spaces import SearchSpace, Supernet, get_space
from optuna_isnas.training.batches import BatchSource, InMemoryBatches
from optuna_isnas.training.device import Precision, resolve_device, torch_threads

CONFIG_ATTR = "optuna_isnas:config"


def summary_name(study_name: str) -> str:
    """Name of the study holding a search's returned architectures."""
    return f"{study_name}-summary"


@dataclass
class SearchSession:
    """One search's parts (see the module docstring).

    Attributes:
        config: The settings.
        splits: The dataset as loaded (on the CPU).
        val: The validation split on the device (the whole-split scoring reads it).
        space: The search space.
        supernet: The weight-sharing supernet, on the device.
        precision: Device and arithmetic of every forward pass.
        train_batches: Training minibatches (one per step).
        val_batches: Validation minibatches (one per step, scoring the generation).
        storage: The Optuna storage and how to name it.
        study: The search study.
        sampler: The study's sampler.
        generation_size: Trials asked per step.
        steps_per_epoch: Steps per pass over the training split (capped by the settings).
        out: Output directory.
    """

    config: SearchConfig
    splits: DatasetSplits
    val: TensorSplit
    space: SearchSpace
    supernet: Supernet
    precision: Precision
    train_batches: BatchSource
    val_batches: BatchSource
    storage: OpenedStorage
    study: optuna.Study
    sampler: optuna.samplers.BaseSampler
    generation_size: int
    steps_per_epoch: int
    out: Path

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def device(self) -> torch.device:
        return self.precision.device

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_NAME

    @property
    def family_sampler(self) -> FamilySampler | None:
        """The sampler, when it returns a family of architectures (ISNASSampler)."""
        return family_sampler(self.sampler)


@contextlib.contextmanager
def open_session(
    config: SearchConfig,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    checkpoint: Checkpoint | None = None,
    overwrite: bool = False,
) -> Iterator[SearchSession]:
    """Build a search's session; inside the block torch runs with the search's CPU threads and
    Optuna's per-trial log lines are silenced.

    Args:
        config: Validated settings.
        sampler: Any Optuna sampler; None builds ``config.sampler`` (with the checkpoint's
            random states when resuming).
        storage: Storage object or URL; overrides ``config.storage``.
        checkpoint: The checkpoint a resumed search continues from.
        overwrite: Replace an unfinished search in ``out`` or an existing study of that name.
    """
    out = output_directory(config.out)  # before any work: a bad --out is reported at once
    precision = Precision.for_device(
        resolve_device(config.device), config.training.amp, config.training.channels_last
    )
    splits = load_dataset(
        config.dataset,
        root=config.data_root,
        seed=config.seed,
        downsample=config.downsample,
        max_train_samples=config.train_subset,
        max_eval_samples=config.val_subset,
    )
    space = get_space(
        config.space,
        in_channels=splits.in_channels,
        num_classes=splits.num_classes,
        image_size=splits.image_size,
        **config.space_options,
    )
    opened = open_storage(storage if storage is not None else config.storage, out)
    if sampler is None:
        sampler = make_sampler(config, space, checkpoint)

    with quiet_optuna(), torch_threads(config.threads, precision.device, splits.image_size):
        study = _open_study(config, opened, sampler, checkpoint, out / CHECKPOINT_NAME, overwrite)
        train, val = splits.train.to(precision.device), splits.val.to(precision.device)
        generation = generation_size(sampler, config)
        _seed_everything(config.seed)
        supernet = precision.prepare_model(space.build_supernet())
        augment = config.training.resolved_augment(splits.name)
        train_batches = InMemoryBatches(train, config.batch_size, config.seed, precision, augment)
        val_batches = InMemoryBatches(val, config.batch_size, config.seed + 1, precision)
        per_epoch = train_batches.batches_per_epoch
        yield SearchSession(
            config=config,
            splits=splits,
            val=val,
            space=space,
            supernet=supernet,
            precision=precision,
            train_batches=train_batches,
            val_batches=val_batches,
            storage=opened,
            study=study,
            sampler=sampler,
            generation_size=generation,
            steps_per_epoch=min(per_epoch, config.max_steps_per_epoch or per_epoch),
            out=out,
        )


def make_sampler(
    config: SearchConfig, space: SearchSpace, checkpoint: Checkpoint | None = None
) -> optuna.samplers.BaseSampler:
    """``config``'s sampler; when resuming, with the random states the checkpoint saved.

    ISNASSampler keeps its whole state in the study. Optuna's samplers keep random generators in
    memory: the checkpoint saved their states (``search.rng``), and they are put back here, so a
    resumed search draws what an uninterrupted one would have drawn.
    """
    sampler = build_sampler(config, space)
    if checkpoint is not None and checkpoint.sampler_random_states:
        missing = set_sampler_random_states(sampler, checkpoint.sampler_random_states)
        if missing:
            warnings.warn(
                f"the checkpoint's sampler random states {missing} have no place in the rebuilt "
                "sampler; it continues from its seed",
                RuntimeWarning,
                stacklevel=3,
            )
    return sampler


def _open_study(
    config: SearchConfig,
    opened: OpenedStorage,
    sampler: optuna.samplers.BaseSampler,
    checkpoint: Checkpoint | None,
    checkpoint_path: Path,
    overwrite: bool,
) -> optuna.Study:
    from optuna_isnas.search.checkpoint import load_checkpoint

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
    if checkpoint_path.is_file() and not overwrite:
        previous = load_checkpoint(checkpoint_path)
        if previous.global_step < previous.total_steps:
            raise SearchError(
                f"{checkpoint_path.parent} holds an unfinished search (step {previous.global_step} of "
                f"{previous.total_steps}); resume it with --resume or start over with --overwrite"
            )
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
    """Tell FAIL to trials a killed process left running; warn when trials outlive the checkpoint."""
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            study.tell(trial.number, state=TrialState.FAIL)
    if len(trials) > n_trials_at_checkpoint:
        warnings.warn(
            f"the study has {len(trials) - n_trials_at_checkpoint} trials newer than the checkpoint "
            "(the process was killed after writing it); the search continues from the checkpoint's "
            "weights with the sampler's newer state, so it will not match an uninterrupted run",
            RuntimeWarning,
            stacklevel=4,
        )


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
