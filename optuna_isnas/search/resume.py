"""A search's checkpoints as the loop uses them: written after each epoch, read and restored on resume.

``search.checkpoint`` is the file (its record, its format, its checks) and sits below the session,
which reads a checkpoint's trial count and sampler states when it reopens a study. Writing one
needs the whole running search (session and trainer), so it lives here, above both: the loop
calls :func:`write_checkpoint` after each epoch and on a stop request, :func:`open_checkpoint`
before it opens the session (the checkpoint to resume from, or the check that a new search replaces
no unfinished one), and :func:`restore` once the trainer is built.
"""

from __future__ import annotations

import time
from pathlib import Path

from optuna_isnas.search.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    check_config,
    checkpoint_from_bytes,
    load_checkpoint,
    save_checkpoint,
)
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import SearchError
from optuna_isnas.search.rng import random_states, sampler_random_states, set_random_states
from optuna_isnas.search.step import OneShotTrainer
from optuna_isnas.training.distributed import ProcessGroup


def write_checkpoint(trainer: OneShotTrainer) -> None:
    """Sync the study's journal first, so the checkpoint never gets ahead of it on disk."""
    session = trainer.session
    session.storage.sync()
    save_checkpoint(
        session.checkpoint_path,
        Checkpoint(
            config=session.config.to_dict(),
            study_name=session.study.study_name,
            n_trials=len(session.study.get_trials(deepcopy=False)),
            total_steps=session.total_steps,
            steps_per_epoch=session.steps_per_epoch,
            random_states=random_states(),
            # A family sampler (ISNASSampler) keeps its whole state in the study.
            sampler_random_states=(
                {} if session.family_sampler else sampler_random_states(session.sampler)
            ),
            space=session.space.config(),
            time=time.time(),
            **trainer.state_dict(),
        ),
    )


def open_checkpoint(
    config: SearchConfig, group: ProcessGroup | None, *, resume: bool, overwrite: bool
) -> Checkpoint | None:
    """The checkpoint a resumed search continues from; None for a new search.

    A new search is refused where ``config.out`` holds an unfinished one, unless ``overwrite``.
    In a data-parallel search rank 0 reads the file and sends every process the same bytes (the
    other machines of the job need no access to it).
    """
    path = Path(config.out) / CHECKPOINT_NAME
    if not resume:
        if overwrite:
            return None
        if group is None:
            _refuse_unfinished(path)
        else:
            group.run_on_main(lambda: _refuse_unfinished(path), "checking the output directory")
        return None

    def read() -> Checkpoint:
        checkpoint = load_checkpoint(path)
        check_config(checkpoint, config, path)
        return checkpoint

    if group is None:
        return read()
    group.run_on_main(lambda: read() and None, "reading the checkpoint")
    data = group.broadcast_bytes(
        path.read_bytes() if group.is_main else None, "sending the checkpoint"
    )
    return checkpoint_from_bytes(data, path)


def _refuse_unfinished(path: Path) -> None:
    if not path.is_file():
        return
    previous = load_checkpoint(path)
    if previous.global_step < previous.total_steps:
        raise SearchError(
            f"{path.parent} holds an unfinished search (step {previous.global_step} of "
            f"{previous.total_steps}); resume it with --resume or start over with --overwrite"
        )


def restore(trainer: OneShotTrainer, checkpoint: Checkpoint) -> None:
    """Put the checkpoint's weights, optimiser, streams and random states back into ``trainer``."""
    if checkpoint.total_steps != trainer.session.total_steps:
        raise SearchError(
            f"the checkpoint's search has {checkpoint.total_steps} steps but these settings give "
            f"{trainer.session.total_steps}: the dataset or its subset changed"
        )
    trainer.load_state_dict(
        {
            "global_step": checkpoint.global_step,
            "supernet": checkpoint.supernet,
            "optimizer": checkpoint.optimizer,
            "scheduler": checkpoint.scheduler,
            "scaler": checkpoint.scaler,
            "train_stream": checkpoint.train_stream,
            "val_stream": checkpoint.val_stream,
        }
    )
    set_random_states(checkpoint.random_states)
