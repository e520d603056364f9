"""The one-shot search loop: any Optuna sampler drives a weight-sharing supernet through ask/tell.

Each step asks a generation of trials, takes one SGD step on the shared weights with the average
training loss of their architectures on one training minibatch, scores each architecture on one
validation minibatch and tells ``(accuracy or loss, parameters)``.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import TrialState
from tqdm.auto import tqdm

from optuna_isnas.plots import write_pareto_html
from optuna_isnas.search import results as results_mod
from optuna_isnas.search.checkpoint import (
    CHECKPOINT_NAME,
    check_config,
    load_checkpoint,
    pickle_sampler,
    random_states,
    save_checkpoint,
    set_random_states,
)
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.device import Precision, resolve_device, torch_threads
from optuna_isnas.search.errors import NonFiniteLossWarning, SearchError, SearchInterrupted
from optuna_isnas.search.recipe import (
    MinibatchStream,
    augment_batch,
    make_optimizer,
    make_scheduler,
    minibatch_metrics,
    resolve_augment,
    sgd_step,
)
from optuna_isnas.search.study import (
    OpenedStorage,
    directions,
    generation_size,
    is_isnas_sampler,
    make_sampler,
    metric_names,
    open_storage,
    set_metric_names,
    study_exists,
)

LossHook = Callable[[dict[str, str], torch.Tensor], torch.Tensor]
"""``hook(architecture, loss) -> loss``, applied to every training and validation minibatch loss."""


@dataclass
class StepInfo:
    """What a step callback sees after each step."""

    epoch: int  # 0-based
    step: int  # step within the epoch, 1-based (== steps_per_epoch at the epoch's end)
    global_step: int  # steps done so far in the whole search
    total_steps: int
    study: optuna.Study
    train_losses: list[float]
    val_losses: list[float]


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
    """

    study: optuna.Study
    summary_study: optuna.Study
    architectures: list[results_mod.ArchitectureResult]
    out: Path
    architectures_path: Path
    plot_path: Path
    checkpoint_path: Path
    storage_location: str | None
    supernet: torch.nn.Module
    space: Any

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
        sampler: Any Optuna sampler; None builds ``config.sampler`` (on resume, the checkpoint's
            pickled sampler when it has one, so that its random state continues).
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
    from optuna_isnas.data import load_dataset
    from optuna_isnas.spaces import get_space

    config.validate()
    out = Path(config.out)
    checkpoint_path = out / CHECKPOINT_NAME
    checkpoint = None
    if resume:
        checkpoint = load_checkpoint(checkpoint_path)
        check_config(checkpoint, config, checkpoint_path)
    device = resolve_device(config.device)
    precision = Precision.for_device(device, config.recipe.amp, config.recipe.channels_last)
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
    out.mkdir(parents=True, exist_ok=True)
    opened = open_storage(storage if storage is not None else config.storage, out)
    if sampler is None:
        restored = checkpoint.get("sampler") if checkpoint else None
        sampler = pickle.loads(restored) if restored else make_sampler(config, space)

    with _quiet_optuna(), torch_threads(config.threads, device, splits.image_size):
        study = _open_study(config, opened, sampler, checkpoint, checkpoint_path, overwrite)
        search = _OneShotSearch(
            config, space, splits, precision, study, sampler, loss_hook, step_callback, opened
        )
        if checkpoint is not None:
            search.load_state_dict(checkpoint)
        search.run(checkpoint_path)
        entries = results_mod.evaluate_returned(
            study, sampler, space, search.supernet, search.val, config, precision
        )
        summary = results_mod.write_summary_study(opened.storage, study.study_name, space, entries)
        plot_path = write_pareto_html(study, entries, out / "pareto.html")
        opened.sync()
    architectures_path = results_mod.write_architectures_json(
        out / results_mod.ARCHITECTURES_NAME,
        entries,
        config,
        space,
        study.study_name,
        opened.location,
    )
    return SearchResult(
        study=study,
        summary_study=summary,
        architectures=entries,
        out=out,
        architectures_path=architectures_path,
        plot_path=plot_path,
        checkpoint_path=checkpoint_path,
        storage_location=opened.location,
        supernet=search.supernet,
        space=space,
    )


def _open_study(
    config: SearchConfig,
    opened: OpenedStorage,
    sampler: optuna.samplers.BaseSampler,
    checkpoint: dict[str, Any] | None,
    checkpoint_path: Path,
    overwrite: bool,
) -> optuna.Study:
    name = config.resolved_study_name
    summary_name = results_mod.summary_name(name)
    exists = study_exists(opened.storage, name)
    if checkpoint is not None:
        if not exists:
            raise SearchError(
                f"cannot resume: study {name!r} is not in storage {opened.location or '(in memory)'}; "
                "resume with the storage the search was started with"
            )
        study = optuna.load_study(study_name=name, storage=opened.storage, sampler=sampler)
        _close_stale_trials(study, checkpoint["n_trials"])
        return study
    if checkpoint_path.is_file() and not overwrite:
        previous = load_checkpoint(checkpoint_path)
        if previous["global_step"] < previous["total_steps"]:
            raise SearchError(
                f"{checkpoint_path.parent} holds an unfinished search (step {previous['global_step']} of "
                f"{previous['total_steps']}); resume it with --resume or start over with --overwrite"
            )
    if exists:
        if not (overwrite or opened.is_default_journal):
            raise SearchError(
                f"study {name!r} already exists in {opened.location}; resume it with --resume, "
                "choose another --study-name, or replace it with --overwrite"
            )
        _say(f"replacing the previous study {name!r} in {opened.location}")
        optuna.delete_study(study_name=name, storage=opened.storage)
    if study_exists(opened.storage, summary_name):
        optuna.delete_study(study_name=summary_name, storage=opened.storage)
    checkpoint_path.unlink(missing_ok=True)
    study = optuna.create_study(
        study_name=name,
        storage=opened.storage,
        sampler=sampler,
        directions=directions(config.objective),
    )
    set_metric_names(study, metric_names(config.objective))
    study.set_user_attr("optuna_isnas:config", config.to_dict())
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
            stacklevel=3,
        )


class _OneShotSearch:
    """The loop's state: supernet, optimiser, schedule, minibatch streams and position."""

    def __init__(
        self,
        config: SearchConfig,
        space: Any,
        splits: Any,
        precision: Precision,
        study: optuna.Study,
        sampler: optuna.samplers.BaseSampler,
        loss_hook: LossHook | None,
        step_callback: StepCallback | None,
        storage: OpenedStorage,
    ) -> None:
        self.config, self.space, self.precision = config, space, precision
        self.storage = storage
        self.study, self.sampler = study, sampler
        self.loss_hook, self.step_callback = loss_hook, step_callback
        self.device = precision.device
        self.train = splits.train.to(self.device)
        self.val = splits.val.to(self.device)
        self.augment = resolve_augment(config.recipe, splits.name)
        self.generation = generation_size(sampler, config)

        _seed_everything(config.seed)
        self.supernet = precision.prepare_model(space.build_supernet())
        self.optimizer = make_optimizer(self.supernet.parameters(), config.recipe)
        self.train_stream = MinibatchStream(len(self.train), config.batch_size, seed=config.seed)
        self.val_stream = MinibatchStream(len(self.val), config.batch_size, seed=config.seed + 1)
        per_epoch = len(self.train) // self.train_stream.batch_size
        self.steps_per_epoch = min(per_epoch, config.max_steps_per_epoch or per_epoch)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.scheduler = make_scheduler(self.optimizer, config.recipe, self.total_steps)
        self.scaler = precision.grad_scaler()
        self.global_step = 0
        self._complexity_shown_at = 0.0
        self._complexity_text = ""

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "study_name": self.study.study_name,
            "n_trials": len(self.study.get_trials(deepcopy=False)),
            "global_step": self.global_step,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "supernet": self.supernet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "train_stream": self.train_stream.state_dict(),
            "val_stream": self.val_stream.state_dict(),
            "random_states": random_states(),
            "sampler": None if is_isnas_sampler(self.sampler) else pickle_sampler(self.sampler),
            "space": self.space.config(),
            "time": time.time(),
        }

    def _checkpoint(self, path: Path) -> None:
        """Sync the study's journal first, so the checkpoint never gets ahead of it on disk."""
        self.storage.sync()
        save_checkpoint(path, self.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["total_steps"] != self.total_steps:
            raise SearchError(
                f"the checkpoint's search has {state['total_steps']} steps but these settings give "
                f"{self.total_steps}: the dataset or its subset changed"
            )
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.train_stream.load_state_dict(state["train_stream"])
        self.val_stream.load_state_dict(state["val_stream"])
        set_random_states(state["random_states"])
        self.global_step = state["global_step"]

    # ------------------------------------------------------------------ the loop
    def run(self, checkpoint_path: Path) -> None:
        with _GracefulInterrupt() as interrupt:
            while self.global_step < self.total_steps:
                epoch = self.global_step // self.steps_per_epoch
                self._run_epoch(epoch, interrupt, checkpoint_path)
                self._checkpoint(checkpoint_path)

    def _run_epoch(
        self, epoch: int, interrupt: "_GracefulInterrupt", checkpoint_path: Path
    ) -> None:
        start = self.global_step - epoch * self.steps_per_epoch
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=start,
            desc=f"epoch {epoch + 1}/{self.config.epochs}",
            disable=not self.config.progress,
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        with bar:
            for step in range(start + 1, self.steps_per_epoch + 1):
                train_losses, val_losses = self._step()
                self.global_step += 1
                bar.update(1)
                bar.set_postfix_str(
                    self._postfix(train_losses, val_losses, step == self.steps_per_epoch),
                    refresh=False,
                )
                if self.step_callback is not None:
                    self.step_callback(
                        StepInfo(
                            epoch,
                            step,
                            self.global_step,
                            self.total_steps,
                            self.study,
                            train_losses,
                            val_losses,
                        )
                    )
                if interrupt.requested:
                    self._checkpoint(checkpoint_path)
                    raise SearchInterrupted(
                        f"search interrupted after step {self.global_step} of {self.total_steps} "
                        f"(epoch {epoch + 1}/{self.config.epochs}); checkpoint written to {checkpoint_path}. "
                        "To resume, run the same command again with --resume "
                        "(Python API: run_search(config, resume=True)).",
                        str(checkpoint_path),
                    )

    def _step(self) -> tuple[list[float], list[float]]:
        study, space, precision = self.study, self.space, self.precision
        trials = [study.ask() for _ in range(self.generation)]
        archs = [space.suggest(trial) for trial in trials]

        idx = self.train_stream.next().to(self.device)
        x = augment_batch(self.train.x[idx], self.augment, self.train_stream.generator)
        x, y = precision.prepare_input(x), self.train.y[idx]
        self.supernet.train()
        train_losses = sgd_step(
            self.supernet,
            [self._loss_fn(x, y, arch) for arch in archs],
            self.optimizer,
            self.scaler,
            self.config.recipe,
        )
        self.scheduler.step()

        vidx = self.val_stream.next().to(self.device)
        xv, yv = precision.prepare_input(self.val.x[vidx]), self.val.y[vidx]
        self.supernet.eval()
        val_losses = []
        with torch.no_grad():
            for trial, arch, train_loss in zip(trials, archs, train_losses):
                with precision.autocast():
                    logits = self.supernet(xv, arch)
                loss, accuracy = minibatch_metrics(logits, yv)
                val_loss = float(self._hook(arch, loss))
                val_losses.append(val_loss)
                self._tell(trial, arch, train_loss, val_loss, accuracy)
        return train_losses, val_losses

    def _loss_fn(
        self, x: torch.Tensor, y: torch.Tensor, arch: dict[str, str]
    ) -> Callable[[], torch.Tensor]:
        def loss() -> torch.Tensor:
            with self.precision.autocast():
                logits = self.supernet(x, arch)
            return self._hook(arch, minibatch_metrics(logits, y)[0])

        return loss

    def _hook(self, arch: dict[str, str], loss: torch.Tensor) -> torch.Tensor:
        return loss if self.loss_hook is None else self.loss_hook(arch, loss)

    def _tell(
        self,
        trial: optuna.Trial,
        arch: dict[str, str],
        train_loss: float,
        val_loss: float,
        accuracy: float,
    ) -> None:
        trial.set_user_attr("accuracy", accuracy)
        trial.set_user_attr("loss", val_loss)
        trial.set_user_attr("train_loss", train_loss)
        if math.isfinite(train_loss) and math.isfinite(val_loss):
            first = accuracy if self.config.objective == "accuracy" else val_loss
            self.study.tell(trial, [first, self.space.n_params(arch)])
            return
        which = "training" if not math.isfinite(train_loss) else "validation"
        value = train_loss if not math.isfinite(train_loss) else val_loss
        warnings.warn(
            f"trial {trial.number}: non-finite {which} loss ({value}) for architecture {arch}; "
            "told as FAIL and left out of this step's weight update",
            NonFiniteLossWarning,
            stacklevel=2,
        )
        self.study.tell(trial, state=TrialState.FAIL)

    def _postfix(self, train_losses: list[float], val_losses: list[float], force: bool) -> str:
        text = f"train {_nanmean(train_losses):.3f} val {_nanmean(val_losses):.3f}"
        expected = getattr(self.sampler, "expected_complexity", None)
        now = time.monotonic()
        if (
            expected is not None
            and self.config.progress
            and (force or now - self._complexity_shown_at > 2.0)
        ):
            try:
                values = expected(self.study)
            except ValueError:  # ISNASSampler before its first completed trial
                values = None
            if values is not None:
                self._complexity_text = " E[params] " + "/".join(
                    "?" if v is None else _short(v) for v in values
                )
            self._complexity_shown_at = now
        return text + self._complexity_text


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def _short(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def _say(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines (thousands per search) for the duration."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


class _GracefulInterrupt:
    """Turn the first Ctrl-C into a request to stop after the current step; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> "_GracefulInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)
        _say(
            "Ctrl-C: finishing this step and writing a checkpoint (press Ctrl-C again to abort at once)"
        )

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
