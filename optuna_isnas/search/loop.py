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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna

from optuna_isnas.plots import write_pareto_html
from optuna_isnas.search import results
from optuna_isnas.search.checkpoint import CHECKPOINT_NAME
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import SearchError, SearchInterrupted
from optuna_isnas.search.progress import EpochProgress, say
from optuna_isnas.search.results import SearchResult
from optuna_isnas.search.resume import open_checkpoint, restore, write_checkpoint
from optuna_isnas.search.run_lock import RunFolderLock
from optuna_isnas.search.session import SearchSession, open_session
from optuna_isnas.search.signals import GracefulStop
from optuna_isnas.search.step import LossHook, OneShotTrainer, StepLosses
from optuna_isnas.search.storage import output_directory
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
        checkpoint = open_checkpoint(config, group, resume=resume, overwrite=overwrite)
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
                restore(trainer, checkpoint)
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
    """The job's process group under torchrun (joined here, left at the end); else None.

    Every process must have been started with rank 0's settings; that is checked first."""
    if not launched_in_parallel():
        yield None
        return
    settings = config.result_settings()
    device = resolve_device(parallel_device(config.device))
    group = ProcessGroup(device, config.collective_timeout)
    try:
        group.check_same(settings, "settings")
        yield group
        # only after a search that ended well on this process: every process has received rank
        # 0's last message before any leaves (gloo aborts a process that destroys the group while
        # a peer still reads from it)
        group.barrier("leaving the process group")
    finally:
        group.close()


@contextlib.contextmanager
def _one_search_in(config: SearchConfig, group: ProcessGroup | None) -> Iterator[None]:
    """Check that ``config.out`` can be written in and hold its :class:`RunFolderLock` (on rank 0
    of a data-parallel search), before anything is computed."""
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
    write_pareto_html(session.study, returned, session.out / results.PARETO_NAME)
    session.storage.sync()
    results.write_architectures_json(session.out / results.ARCHITECTURES_NAME, returned, session)
    return SearchResult(session, selection, session.storage.location, (session.study, summary))


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
    return SearchResult(session, selection, None if location is None else str(location), None)


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
