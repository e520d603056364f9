"""The one-shot search: any Optuna sampler drives a weight-sharing supernet through ask/tell.

``run_search`` opens a :class:`~optuna_isnas.search.session.SearchSession`, repeats the
:class:`~optuna_isnas.search.step.OneShotTrainer`'s step epoch by epoch with a checkpoint after
each, and scores what the sampler returns on the whole validation split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna

from optuna_isnas.plots import write_pareto_html
from optuna_isnas.search import results
from optuna_isnas.search.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    check_config,
    load_checkpoint,
    save_checkpoint,
)
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import SearchError, SearchInterrupted
from optuna_isnas.search.progress import EpochProgress, say
from optuna_isnas.search.rng import random_states, sampler_random_states, set_random_states
from optuna_isnas.search.session import SearchSession, open_session
from optuna_isnas.search.signals import GracefulStop
from optuna_isnas.search.step import LossHook, OneShotTrainer, StepLosses
from optuna_isnas.spaces import SearchSpace, Supernet


@dataclass
class StepInfo:
    """What a step callback sees after each step.

    Attributes:
        epoch: 0-based epoch.
        step: Step within the epoch, 1-based (``steps_per_epoch`` at the epoch's end).
        global_step: Steps done so far in the whole search.
        total_steps: Steps of the whole search.
        study: The search study.
        train_losses: Each architecture's training minibatch loss, in ask order.
        val_losses: Each architecture's validation minibatch loss.
        session: The search's parts: supernet, space, splits, sampler, sizes.
    """

    epoch: int
    step: int
    global_step: int
    total_steps: int
    study: optuna.Study
    train_losses: list[float]
    val_losses: list[float]
    session: SearchSession


StepCallback = Callable[[StepInfo], None]


@dataclass
class SearchResult:
    """What a finished search returns.

    Attributes:
        study: The search study (one trial per evaluated architecture).
        summary_study: ``"<study_name>-summary"``: the returned architectures, scored on the whole
            validation split (directions maximize accuracy, minimize params).
        architectures: The returned architectures with parameters and whole-validation accuracy.
        out: Output directory; ``architectures_path``, ``plot_path`` and ``checkpoint_path`` lie in it.
        storage_location: Journal file or URL of the storage (None for an in-memory storage).
        supernet: The trained supernet (``supernet.extract_child(arch)`` gives a child with its weights).
        space: The search space.
        session: Everything the search worked with (splits, sampler, sizes).
        selection: How the family was chosen: every candidate rescored on the whole validation
            split, the compute that took, and a note where the choice was special.
    """

    study: optuna.Study
    summary_study: optuna.Study
    architectures: list[results.ArchitectureResult]
    out: Path
    architectures_path: Path
    plot_path: Path
    checkpoint_path: Path
    storage_location: str | None
    supernet: Supernet
    space: SearchSpace
    session: SearchSession
    selection: results.Selection

    def dashboard_command(self) -> str | None:
        return (
            None if self.storage_location is None else f"optuna-dashboard {self.storage_location}"
        )


def run_search(
    config: SearchConfig,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    resume: bool = False,
    overwrite: bool = False,
    loss_hook: LossHook | None = None,
    step_callback: StepCallback | None = None,
) -> SearchResult:
    """Run (or resume) a one-shot search and return its architectures.

    Args:
        config: What to search and how.
        sampler: Any Optuna sampler; None builds ``config.sampler`` (on resume with the random
            states the checkpoint saved, so that its draws continue).
        storage: Storage object or URL; overrides ``config.storage``.
        resume: Continue from ``<out>/checkpoint.pt`` and the study in the storage.
        overwrite: Start afresh even where ``out`` holds an unfinished search or the storage
            already holds a study of that name (both are deleted).
        loss_hook: ``hook(arch, loss) -> loss`` applied to every minibatch loss (for example to
            inject a NaN in tests, or to add a regulariser).
        step_callback: Called after every step with a :class:`StepInfo`.

    Raises:
        SearchError: Bad settings, an unopenable storage, a missing or mismatched checkpoint.
        SearchInterrupted: Ctrl-C; the current step was finished and a checkpoint written.
    """
    config.validate()
    checkpoint = None
    if resume:
        path = Path(config.out) / CHECKPOINT_NAME
        checkpoint = load_checkpoint(path)
        check_config(checkpoint, config, path)
    opened = open_session(
        config, sampler=sampler, storage=storage, checkpoint=checkpoint, overwrite=overwrite
    )
    with opened as session:
        trainer = OneShotTrainer(session, loss_hook)
        if checkpoint is not None:
            _restore(trainer, checkpoint)
        _train(trainer, step_callback)
        selection = results.select_returned(session)
        if selection.note:
            say(selection.note)
        returned = selection.returned
        summary = results.write_summary_study(
            session.storage.storage, session.study.study_name, session.space, returned
        )
        plot_path = write_pareto_html(session.study, returned, session.out / "pareto.html")
        session.storage.sync()
    architectures_path = results.write_architectures_json(
        session.out / results.ARCHITECTURES_NAME, returned, session
    )
    return SearchResult(
        study=session.study,
        summary_study=summary,
        architectures=returned,
        out=session.out,
        architectures_path=architectures_path,
        plot_path=plot_path,
        checkpoint_path=session.checkpoint_path,
        storage_location=session.storage.location,
        supernet=session.supernet,
        space=session.space,
        session=session,
        selection=selection,
    )


def _train(trainer: OneShotTrainer, step_callback: StepCallback | None) -> None:
    """Epochs of steps until the last; a checkpoint after each epoch and on a stop request."""
    session = trainer.session
    with GracefulStop() as stop:
        while trainer.global_step < session.total_steps:
            epoch = trainer.global_step // session.steps_per_epoch
            _run_epoch(trainer, epoch, stop, step_callback)
            write_checkpoint(trainer)


def _run_epoch(
    trainer: OneShotTrainer, epoch: int, stop: GracefulStop, step_callback: StepCallback | None
) -> None:
    session = trainer.session
    per_epoch, epochs = session.steps_per_epoch, session.config.epochs
    done = trainer.global_step - epoch * per_epoch
    with EpochProgress(
        epoch,
        epochs,
        per_epoch,
        done,
        session.family_sampler,
        session.study,
        session.config.progress,
    ) as progress:
        for step in range(done + 1, per_epoch + 1):
            losses: StepLosses = trainer.step()
            progress.update(step, losses.train, losses.val)
            if step_callback is not None:
                step_callback(
                    StepInfo(
                        epoch,
                        step,
                        trainer.global_step,
                        session.total_steps,
                        session.study,
                        losses.train,
                        losses.val,
                        session,
                    )
                )
            if stop.requested:
                write_checkpoint(trainer)
                raise SearchInterrupted(
                    f"search interrupted after step {trainer.global_step} of {session.total_steps} "
                    f"(epoch {epoch + 1}/{epochs}); checkpoint written to {session.checkpoint_path}. "
                    "To resume, run the same command again with --resume "
                    "(Python API: run_search(config, resume=True)).",
                    str(session.checkpoint_path),
                )


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


def _restore(trainer: OneShotTrainer, checkpoint: Checkpoint) -> None:
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
