"""``SearchSession``: everything one search works with, built once and shared.

The session owns the settings, the data (as loaded, and the validation split where it is scored),
the space and its supernet, the minibatch sources, the storage, the study and the sampler, with
the sizes derived from them (steps per epoch, generation size). The loop, the training step and
the results read it; step callbacks receive it (``StepInfo.session``), so a caller never
re-derives any of it.

In a data-parallel search (``torchrun``) every process has a session with its own
:class:`~optuna_isnas.training.distributed.ProcessGroup` (``session.group``), its device, its
data and minibatch sources (its shard of every global minibatch) and its replica of the supernet;
only rank 0 opens the storage, the study and the sampler (``session.owns_study``). The data is
in memory or streamed by ``DataLoader`` workers (``config.data_loading``).
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import torch

from optuna_isnas.data import DatasetSplits, TensorSplit
from optuna_isnas.data.streaming import StreamedSplit, StreamedSplits, open_dataset
from optuna_isnas.search.checkpoint import CHECKPOINT_NAME, Checkpoint
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import SearchError
from optuna_isnas.search.progress import quiet_optuna
from optuna_isnas.search.rng import set_sampler_random_states
from optuna_isnas.search.samplers import FamilySampler, family_sampler, generation_size
from optuna_isnas.search.samplers import make_sampler as build_sampler
from optuna_isnas.search.storage import OpenedStorage, open_storage, open_study
from optuna_isnas.search.weights import compute_ratio
from optuna_isnas.spaces import SearchSpace, Supernet, get_space
from optuna_isnas.training.batches import BatchSource, InMemoryBatches
from optuna_isnas.training.device import Precision, resolve_device, torch_threads
from optuna_isnas.training.distributed import DistributedError, ProcessGroup
from optuna_isnas.training.streaming import StreamingBatches, default_workers


@dataclass
class StudyOwner:
    """What only one process of a search holds: the storage, the study and the sampler."""

    storage: OpenedStorage
    study: optuna.Study
    sampler: optuna.samplers.BaseSampler


@dataclass
class SearchSession:
    """One search's parts (see the module docstring).

    Attributes:
        config: The settings.
        data: The dataset: in memory (``DatasetSplits``, on the CPU) or streamed.
        val: The validation split where the whole-split scoring reads it: on the device, or
            streamed.
        space: The search space.
        supernet: The weight-sharing supernet, on the device.
        precision: Device and arithmetic of every forward pass.
        train_batches: Training minibatches (one per step; this process's shard).
        val_batches: Validation minibatches (one per step, scoring the generation).
        generation_size: Trials asked per step.
        steps_per_epoch: Steps per epoch: the training minibatches of one pass over the training
            split (capped by ``max_steps_per_epoch``), times
            :func:`~optuna_isnas.search.weights.compute_ratio` when a step trains fewer
            architectures than it evaluates (an epoch is a compute budget).
        out: Output directory.
        owner: Storage, study and sampler; None on the processes of a data-parallel search other
            than rank 0 (reading ``study``, ``sampler`` or ``storage`` there is an error).
        group: The process group of a data-parallel search; None in a single process.
        loader_workers: ``DataLoader`` workers per streamed minibatch source.
    """

    config: SearchConfig
    data: DatasetSplits | StreamedSplits
    val: TensorSplit | StreamedSplit
    space: SearchSpace
    supernet: Supernet
    precision: Precision
    train_batches: BatchSource
    val_batches: BatchSource
    generation_size: int
    steps_per_epoch: int
    out: Path
    owner: StudyOwner | None
    group: ProcessGroup | None = None
    loader_workers: int = 0

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
    def owns_study(self) -> bool:
        """This process holds the study (a single process, or rank 0 of a data-parallel search)."""
        return self.owner is not None

    @property
    def splits(self) -> DatasetSplits:
        """The dataset in memory (on the CPU); an error when it is streamed."""
        if not isinstance(self.data, DatasetSplits):
            raise SearchError(
                "this search streams its data (data_loading); its splits are not in memory: "
                "session.data holds them as datasets read one example at a time"
            )
        return self.data

    @property
    def study(self) -> optuna.Study:
        return self._owner().study

    @property
    def sampler(self) -> optuna.samplers.BaseSampler:
        return self._owner().sampler

    @property
    def storage(self) -> OpenedStorage:
        return self._owner().storage

    @property
    def family_sampler(self) -> FamilySampler | None:
        """The sampler, when it returns a family of architectures (ISNASSampler)."""
        return family_sampler(self.sampler)

    def _owner(self) -> StudyOwner:
        if self.owner is None:
            rank = self.group.rank if self.group is not None else "?"
            raise DistributedError(
                f"rank {rank} does not hold the study: in a data-parallel search only rank 0 "
                "opens the storage, the study and the sampler (check session.owns_study)"
            )
        return self.owner


@contextlib.contextmanager
def open_session(
    config: SearchConfig,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    checkpoint: Checkpoint | None = None,
    overwrite: bool = False,
    group: ProcessGroup | None = None,
) -> Iterator[SearchSession]:
    """Build a search's session; inside the block torch runs with the search's CPU threads and
    Optuna's per-trial log lines are silenced.

    Args:
        config: Validated settings; ``config.out`` exists (``run_search`` checks it, and locks it,
            before it opens the session).
        sampler: Any Optuna sampler; None builds ``config.sampler`` (with the checkpoint's
            random states when resuming). In a data-parallel search only rank 0's is used.
        storage: Storage object or URL; overrides ``config.storage`` (rank 0's is used).
        checkpoint: The checkpoint a resumed search continues from.
        overwrite: Replace an unfinished search in ``out`` or an existing study of that name.
        group: The process group of a data-parallel search (``run_search`` joins it).
    """
    out = Path(config.out)
    precision, data, workers = _open_data(config, group)
    space = get_space(
        config.space,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        image_size=data.image_size,
        **config.space_options,
    )
    with quiet_optuna():
        owner, generation = _open_owner(
            config, space, sampler, storage, checkpoint, overwrite, out, group
        )
        ratio = compute_ratio(config.train_archs, config.sandwich, generation)
        with torch_threads(config.threads, precision.device, data.image_size):
            random.seed(config.seed)
            np.random.seed(config.seed % 2**32)
            torch.manual_seed(config.seed)
            val, train_batches, val_batches = _batch_sources(
                config, data, precision, group, workers
            )
            supernet = precision.prepare_model(space.build_supernet())
            per_epoch = train_batches.batches_per_epoch
            minibatches = min(per_epoch, config.max_steps_per_epoch or per_epoch)
            yield SearchSession(
                config=config,
                data=data,
                val=val,
                space=space,
                supernet=supernet,
                precision=precision,
                train_batches=train_batches,
                val_batches=val_batches,
                generation_size=generation,
                steps_per_epoch=max(1, round(minibatches * ratio)),
                out=out,
                owner=owner,
                group=group,
                loader_workers=workers,
            )


def _open_data(
    config: SearchConfig, group: ProcessGroup | None
) -> tuple[Precision, DatasetSplits | StreamedSplits, int]:
    """This process's device and arithmetic, its dataset, and its ``DataLoader`` workers."""
    spec = config.dataset_spec()
    device = group.model_device if group is not None else resolve_device(config.device)
    precision = Precision.for_device(device, config.training.amp, config.training.channels_last)
    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", 1)) if group is not None else 1
    workers = (
        config.loader_workers if config.loader_workers is not None else default_workers(per_machine)
    )
    data = open_dataset(
        spec,
        loading=config.data_loading,
        device=precision.device,
        processes_per_machine=per_machine,
        workers=workers,
    )
    return precision, data, workers


def _batch_sources(
    config: SearchConfig,
    data: DatasetSplits | StreamedSplits,
    precision: Precision,
    group: ProcessGroup | None,
    workers: int,
) -> tuple[TensorSplit | StreamedSplit, BatchSource, BatchSource]:
    """The validation split where the whole-split scoring reads it, and this process's training
    and validation minibatches (its shard of each global minibatch, which must hold a row)."""
    augment = config.training.resolved_augment(data.name)
    shard = None
    if group is not None:
        shard = group.shard
        for name, split in (("training", data.train), ("validation", data.val)):
            rows = min(config.batch_size, len(split))
            if rows < group.world_size:
                raise SearchError(
                    f"a global {name} minibatch of {rows} examples cannot be shared by "
                    f"{group.world_size} processes; use a --batch-size (and a {name} split) of "
                    f"at least {group.world_size}"
                )
    if isinstance(data, DatasetSplits):
        train, val = data.train.to(precision.device), data.val.to(precision.device)
        return (
            val,
            InMemoryBatches(train, config.batch_size, config.seed, precision, augment, shard),
            InMemoryBatches(val, config.batch_size, config.seed + 1, precision, shard=shard),
        )
    return (
        data.val,
        StreamingBatches(
            data.train, config.batch_size, config.seed, precision, augment, shard, workers
        ),
        StreamingBatches(
            data.val, config.batch_size, config.seed + 1, precision, shard=shard, workers=workers
        ),
    )


def _open_owner(
    config: SearchConfig,
    space: SearchSpace,
    sampler: optuna.samplers.BaseSampler | None,
    storage: str | optuna.storages.BaseStorage | None,
    checkpoint: Checkpoint | None,
    overwrite: bool,
    out: Path,
    group: ProcessGroup | None,
) -> tuple[StudyOwner | None, int]:
    """Open sampler, storage and study (rank 0 only) and agree on the generation size."""

    def own() -> StudyOwner:
        chosen = sampler if sampler is not None else make_sampler(config, space, checkpoint)
        opened = open_storage(storage if storage is not None else config.storage, out)
        study = open_study(config, opened, chosen, checkpoint, out / CHECKPOINT_NAME, overwrite)
        return StudyOwner(opened, study, chosen)

    if group is None:
        owner = own()
        return owner, generation_size(owner.sampler, config)
    held: list[StudyOwner] = []

    def on_main() -> int:
        held.append(own())
        return generation_size(held[0].sampler, config)

    generation = group.run_on_main(on_main, "opening the study")
    return (held[0] if held else None), int(generation)


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
