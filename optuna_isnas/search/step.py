"""One step of the one-shot search, apart from the loop that repeats it.

A step asks a generation of trials, takes one SGD step on the shared weights with the average
training loss of their architectures on one training minibatch, scores each architecture on one
validation minibatch and tells ``(accuracy or loss, parameters)``. The four parts are separate
methods (:meth:`OneShotTrainer.ask`, :meth:`~OneShotTrainer.train`,
:meth:`~OneShotTrainer.score`, :meth:`~OneShotTrainer.tell`), so that a data-parallel step can ask
and tell on one process and train and score on all of them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from optuna_isnas.search.errors import NonFiniteLossWarning
from optuna_isnas.search.session import SearchSession
from optuna_isnas.spaces import Architecture
from optuna_isnas.training.evaluation import minibatch_metrics
from optuna_isnas.training.optim import make_optimizer, make_scheduler, sgd_step

LossHook = Callable[[Architecture, torch.Tensor], torch.Tensor]
"""``hook(architecture, loss) -> loss``, applied to every training and validation minibatch loss."""


@dataclass
class Scores:
    """One architecture's scores on one validation minibatch."""

    loss: float
    accuracy: float


@dataclass
class StepLosses:
    """Every architecture's training and validation minibatch loss of one step, in ask order."""

    train: list[float]
    val: list[float]


class OneShotTrainer:
    """The shared weights' training state (optimiser, schedule, loss scaler, position) and the step.

    Args:
        session: The search's parts.
        loss_hook: Applied to every minibatch loss (compute accounting, tests, regularisers).
    """

    def __init__(self, session: SearchSession, loss_hook: LossHook | None = None) -> None:
        recipe = session.config.training
        self.session = session
        self.loss_hook = loss_hook
        self.optimizer = make_optimizer(session.supernet.parameters(), recipe)
        self.scheduler = make_scheduler(self.optimizer, recipe, session.total_steps)
        self.scaler = session.precision.grad_scaler()
        self.global_step = 0

    def step(self) -> StepLosses:
        """One whole step; advances :attr:`global_step`."""
        trials, archs = self.ask()
        train_losses = self.train(archs)
        scores = self.score(archs)
        for trial, arch, train_loss, score in zip(trials, archs, train_losses, scores):
            self.tell(trial, arch, train_loss, score)
        self.global_step += 1
        return StepLosses(train_losses, [s.loss for s in scores])

    def ask(self) -> tuple[list[optuna.Trial], list[Architecture]]:
        """A generation of trials and their architectures."""
        study, space = self.session.study, self.session.space
        trials = [study.ask() for _ in range(self.session.generation_size)]
        return trials, [space.suggest(trial) for trial in trials]

    def train(self, archs: list[Architecture]) -> list[float]:
        """One SGD step on the average training loss of ``archs`` on the next minibatch."""
        session = self.session
        x, y = session.train_batches.next()
        session.supernet.train()
        losses = sgd_step(
            session.supernet,
            [self._loss_fn(x, y, arch) for arch in archs],
            self.optimizer,
            self.scaler,
            session.config.training,
        )
        self.scheduler.step()
        return losses

    def score(self, archs: list[Architecture]) -> list[Scores]:
        """Each architecture's loss and accuracy on the next validation minibatch."""
        session = self.session
        x, y = session.val_batches.next()
        session.supernet.eval()
        scores = []
        with torch.no_grad():
            for arch in archs:
                with session.precision.autocast():
                    logits = session.supernet(x, arch)
                loss, accuracy = minibatch_metrics(logits, y)
                scores.append(Scores(float(self._hook(arch, loss)), accuracy))
        return scores

    def tell(
        self, trial: optuna.Trial, arch: Architecture, train_loss: float, score: Scores
    ) -> None:
        """Record the scores in the trial; tell FAIL (with a warning) for a non-finite loss."""
        study, config = self.session.study, self.session.config
        trial.set_user_attr("accuracy", score.accuracy)
        trial.set_user_attr("loss", score.loss)
        trial.set_user_attr("train_loss", train_loss)
        if math.isfinite(train_loss) and math.isfinite(score.loss):
            first = score.accuracy if config.objective == "accuracy" else score.loss
            study.tell(trial, [first, self.session.space.n_params(arch)])
            return
        which = "training" if not math.isfinite(train_loss) else "validation"
        value = train_loss if not math.isfinite(train_loss) else score.loss
        warnings.warn(
            f"trial {trial.number}: non-finite {which} loss ({value}) for architecture {arch}; "
            "told as FAIL and left out of this step's weight update",
            NonFiniteLossWarning,
            stacklevel=3,
        )
        study.tell(trial, state=TrialState.FAIL)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Optimiser, schedule, scaler, minibatch positions and step (plain data and tensors)."""
        session = self.session
        return {
            "global_step": self.global_step,
            "supernet": session.supernet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "train_stream": session.train_batches.state_dict(),
            "val_stream": session.val_batches.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        session = self.session
        session.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        session.train_batches.load_state_dict(state["train_stream"])
        session.val_batches.load_state_dict(state["val_stream"])
        self.global_step = state["global_step"]

    # ------------------------------------------------------------------ losses
    def _loss_fn(
        self, x: torch.Tensor, y: torch.Tensor, arch: Architecture
    ) -> Callable[[], torch.Tensor]:
        def loss() -> torch.Tensor:
            with self.session.precision.autocast():
                logits = self.session.supernet(x, arch)
            return self._hook(arch, minibatch_metrics(logits, y)[0])

        return loss

    def _hook(self, arch: Architecture, loss: torch.Tensor) -> torch.Tensor:
        return loss if self.loss_hook is None else self.loss_hook(arch, loss)
