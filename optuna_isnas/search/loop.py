"""The one-shot search: any Optuna sampler drives a weight-sharing supernet through ask/tell.

``run_search`` opens a :class:`~optuna_isnas.search.session.SearchSession`, repeats the
:class:`~optuna_isnas.search.step.OneShotTrainer`'s step epoch by epoch with a checkpoint after
each, and scores what the sampler returns on the whole validation split.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the same call runs data-parallel: every process joins the
job's process group, rank 0 owns the study, the checkpoints and the outputs, and every process
returns the same architectures (``docs/search.md``, "Data-parallel search").
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna

from optuna_isnas.plots import write_pareto_html
from optuna_isnas.search import results
from optuna_isnas.search.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    check_config,
    checkpoint_from_bytes,
    load_checkpoint,
    save_checkpoint,
)
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import SearchError, SearchInterrupted
from optuna_isnas.search.progress import EpochProgress, say
from optuna_isnas.search.rng import random_states, sampler_random_states, set_random_states
from optuna_isnas.search.run_lock import RunFolderLock
from optuna_isnas.search.session import SearchSession, open_session
from optuna_isnas.search.signals import GracefulStop
from optuna_isnas.search.step import LossHook, OneShotTrainer, StepLosses
from optuna_isnas.search.storage import output_directory
from optuna_isnas.spaces import SearchSpace, Supernet
from optuna_isnas.training.device import resolve_device
from optuna_isnas.training.distributed import (
    DistributedError,
    ProcessGroup,
    launched_in_parallel,
    parallel_device,
)


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

    In a data-parallel search every process returns one; ``study`` and ``summary_study`` are
    rank 0's alone (``is_main``), the rest is the same everywhere.

    Attributes:
        architectures: The returned architectures with parameters and whole-validation accuracy.
        out: Output directory; ``architectures_path``, ``plot_path`` and ``checkpoint_path`` lie in it.
        storage_location: Journal file or URL of the storage (None for an in-memory storage).
        supernet: The trained supernet (``supernet.extract_child(arch)`` gives a child with its weights).
        space: The search space.
        session: Everything the search worked with (splits, sampler, sizes).
        selection: How the family was chosen: every candidate rescored on the whole validation
            split, the compute that took, and a note where the choice was special.
        studies: The search study (one trial per evaluated architecture) and the summary study
            ``"<study_name>-summary"`` (the returned architectures, scored on the whole
            validation split); None on the processes other than rank 0.
    """

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
    studies: tuple[optuna.Study, optuna.Study] | None

    @property
    def is_main(self) -> bool:
        """This process wrote the outputs and holds the studies (always, in a single process)."""
        return self.studies is not None

    @property
    def study(self) -> optuna.Study:
        """The search study (rank 0 only in a data-parallel search)."""
        return self._studies()[0]

    @property
    def summary_study(self) -> optuna.Study:
        """The summary study (rank 0 only in a data-parallel search)."""
        return self._studies()[1]

    def dashboard_command(self) -> str | None:
        return (
            None if self.storage_location is None else f"optuna-dashboard {self.storage_location}"
        )

    def _studies(self) -> tuple[optuna.Study, optuna.Study]:
        if self.studies is None:
            return self.session.study, self.session.study  # raises: no study on this process
        return self.studies


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

    Launched by ``torchrun`` with several processes, the search is data-parallel (see the module
    docstring): every process calls ``run_search`` with the same settings; ``sampler`` and
    ``storage`` are used by rank 0, ``loss_hook`` runs on every process, ``step_callback`` on
    rank 0.

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
        DistributedError: Another process of a data-parallel search failed or stopped answering
            (a ``SettingsError``, so the CLI prints it as one line); resume from the last
            checkpoint.
    """
    config.validate()
    try:
        return _run(config, sampler, storage, resume, overwrite, loss_hook, step_callback)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" while writing {exc.filename}" if exc.filename else ""
        raise SearchError(
            f"no space left on the device{where}; free some space, then continue the search "
            f"with --resume (from its last checkpoint, {Path(config.out) / CHECKPOINT_NAME})"
        ) from exc


def _run(
    config: SearchConfig,
    sampler: optuna.samplers.BaseSampler | None,
    storage: str | optuna.storages.BaseStorage | None,
    resume: bool,
    overwrite: bool,
    loss_hook: LossHook | None,
    step_callback: StepCallback | None,
) -> SearchResult:
    with _process_group(config) as group, _one_search_in(config, group):
        checkpoint = _read_checkpoint(config, group) if resume else None
        opened = open_session(
            config,
            sampler=sampler,
            storage=storage,
            checkpoint=checkpoint,
            overwrite=overwrite,
            group=group,
        )
        with opened as session:
            trainer = OneShotTrainer(session, loss_hook)
            if checkpoint is not None:
                _restore(trainer, checkpoint)
            _train(trainer, step_callback)
            if group is None:
                return _finish(session)
            finished: list[SearchResult] = []
            answer = group.run_on_main(
                lambda: _finish_on_main(session, finished), "writing the results"
            )
            if finished:
                return finished[0]
            return _worker_result(session, answer)


@contextlib.contextmanager
def _process_group(config: SearchConfig) -> Iterator[ProcessGroup | None]:
    """The job's process group under torchrun (joined here, left at the end); else None."""
    if not launched_in_parallel():
        yield None
        return
    group = ProcessGroup(resolve_device(parallel_device(config.device)), config.collective_timeout)
    try:
        yield group
    finally:
        group.close()


@contextlib.contextmanager
def _one_search_in(config: SearchConfig, group: ProcessGroup | None) -> Iterator[None]:
    """Hold ``config.out``'s :class:`RunFolderLock` (on rank 0 of a data-parallel search)."""
    with contextlib.ExitStack() as stack:

        def lock() -> None:
            stack.enter_context(RunFolderLock(output_directory(config.out)))

        if group is None:
            lock()
        else:
            group.run_on_main(lock, "locking the output directory")
        yield


def _finish(session: SearchSession) -> SearchResult:
    """Choose the family and write the outputs (the process that owns the study)."""
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
        studies=(session.study, summary),
    )


def _finish_on_main(session: SearchSession, finished: list[SearchResult]) -> dict[str, object]:
    result = _finish(session)
    finished.append(result)
    return {
        "selection": dataclasses.asdict(result.selection),
        "storage_location": result.storage_location,
    }


def _worker_result(session: SearchSession, answer: dict[str, object]) -> SearchResult:
    """What rank 0 returned, on another process of a data-parallel search."""
    sent = answer["selection"]
    assert isinstance(sent, dict)
    selection = results.Selection(
        returned=[results.ArchitectureResult(**entry) for entry in sent["returned"]],
        candidates=[results.ArchitectureResult(**entry) for entry in sent["candidates"]],
        evaluated_examples=int(sent["evaluated_examples"]),
        note=sent["note"],
    )
    location = answer["storage_location"]
    return SearchResult(
        architectures=selection.returned,
        out=session.out,
        architectures_path=session.out / results.ARCHITECTURES_NAME,
        plot_path=session.out / "pareto.html",
        checkpoint_path=session.checkpoint_path,
        storage_location=None if location is None else str(location),
        supernet=session.supernet,
        space=session.space,
        session=session,
        selection=selection,
        studies=None,
    )


def _read_checkpoint(config: SearchConfig, group: ProcessGroup | None) -> Checkpoint:
    """The checkpoint to resume from; in a data-parallel search rank 0 reads it and sends every
    process the same bytes (the other machines of the job need no access to the file)."""
    path = Path(config.out) / CHECKPOINT_NAME

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


def _train(trainer: OneShotTrainer, step_callback: StepCallback | None) -> None:
    """Epochs of steps until the last; a checkpoint after each epoch and on a stop request."""
    session = trainer.session
    try:
        with GracefulStop() as stop:
            while trainer.global_step < session.total_steps:
                epoch = trainer.global_step // session.steps_per_epoch
                _run_epoch(trainer, epoch, stop, step_callback)
                if session.owns_study:
                    write_checkpoint(trainer)
    except DistributedError as exc:
        raise DistributedError(
            f"{exc}. The search stopped at step {trainer.global_step} of {session.total_steps}; "
            f"once every process can run again, continue from the last checkpoint "
            f"({session.checkpoint_path}) with the same torchrun command and --resume"
        ) from exc
    except BaseException as exc:
        if trainer.coordinator is not None:
            trainer.coordinator.fail(exc)  # the others are waiting for rank 0: tell them
        raise


def _run_epoch(
    trainer: OneShotTrainer, epoch: int, stop: GracefulStop, step_callback: StepCallback | None
) -> None:
    session = trainer.session
    per_epoch = session.steps_per_epoch
    done = trainer.global_step - epoch * per_epoch
    with _progress(session, epoch, done) as progress:
        for step in range(done + 1, per_epoch + 1):
            losses: StepLosses = trainer.step(stop.requested)
            if progress is not None:
                progress.update(step, losses.train, losses.val)
            if step_callback is not None and session.owns_study:
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
            if losses.stop or (stop.requested and session.group is None):
                _stop(trainer, epoch)


def _progress(
    session: SearchSession, epoch: int, done: int
) -> contextlib.AbstractContextManager[EpochProgress | None]:
    if not session.owns_study:
        return contextlib.nullcontext()
    return EpochProgress(
        epoch,
        session.config.epochs,
        session.steps_per_epoch,
        done,
        session.family_sampler,
        session.study,
        session.config.progress,
    )


def _stop(trainer: OneShotTrainer, epoch: int) -> None:
    """Write a checkpoint (rank 0) and raise SearchInterrupted on every process."""
    session = trainer.session
    coordinator = trainer.coordinator
    if session.owns_study:
        write_checkpoint(trainer)
        if coordinator is not None:
            coordinator.send_stopped(str(session.checkpoint_path))
    elif coordinator is not None:
        coordinator.receive_stopped()
    raise SearchInterrupted(
        f"search interrupted after step {trainer.global_step} of {session.total_steps} "
        f"(epoch {epoch + 1}/{session.config.epochs}); checkpoint written to "
        f"{session.checkpoint_path}. To resume, run the same command again with --resume "
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
