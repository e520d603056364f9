"""One step of the one-shot search, apart from the loop that repeats it.

A step asks a generation of trials, takes one SGD step on the shared weights with the training
losses of the architectures its plan trains (``search.weights``: by default a subset of the
generation and the space's largest and smallest child) on one training minibatch, scores every
asked architecture on one validation minibatch and tells ``(accuracy or loss, parameters)``.
When the plan leaves some asked architectures untrained, the step scores before it trains, so
that the sampler never compares architectures of which only some just took an SGD step. The four
parts are separate methods (:meth:`OneShotTrainer.ask`, :meth:`~OneShotTrainer.train`,
:meth:`~OneShotTrainer.score`, :meth:`~OneShotTrainer.tell`).

In a data-parallel search (``session.group``) rank 0 asks and broadcasts the architectures and
the plan (``search.distributed``), every process trains and scores them on its shard of the global
minibatches, DDP averages the gradients (``training.distributed.GradientSync``), the minibatch
losses and accuracies are all-reduced, and rank 0 tells: every told value is the global
minibatch's.
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

from optuna_isnas.search.config import WeightGradient
from optuna_isnas.search.distributed import Coordinator
from optuna_isnas.search.errors import NonFiniteLossWarning
from optuna_isnas.search.session import SearchSession
from optuna_isnas.search.weights import PathGradient, StepPlan, plan_step
from optuna_isnas.spaces import Architecture
from optuna_isnas.training.distributed import GradientSync
from optuna_isnas.training.evaluation import minibatch_metrics
from optuna_isnas.training.optim import make_optimizer, make_scheduler, sgd_step

LossHook = Callable[[Architecture, torch.Tensor], torch.Tensor]
"""``hook(architecture, loss) -> loss``, applied to every training and validation minibatch loss
(in a data-parallel search: on every process, to its shard's loss)."""


@dataclass
class Scores:
    """One architecture's scores on one validation minibatch."""

    loss: float
    accuracy: float


@dataclass
class StepLosses:
    """The training and validation minibatch losses of one step.

    Attributes:
        train: Each trained architecture's training loss, in training order (the sandwich's
            ends first, then the trained ones of the generation in ask order).
        val: Each asked architecture's validation loss, in ask order.
        stop: Some process asked to stop after this step (data-parallel searches agree on it).
    """

    train: list[float]
    val: list[float]
    stop: bool = False


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
        group = session.group
        self.sync = GradientSync(session.supernet, group) if group is not None else None
        self.coordinator = Coordinator(group, session.space) if group is not None else None
        if self.coordinator is not None:
            # from here on the others wait for rank 0's first message (the first architectures)
            self.coordinator.waiting = session.owns_study
        self._forward: Callable[..., torch.Tensor] = (
            self.sync if self.sync is not None else session.supernet
        )
        config = session.config
        self.path_gradient = (
            PathGradient(session.supernet)
            if config.weight_gradient is WeightGradient.PATH
            else None
        )

    def step(self, stop_requested: bool = False) -> StepLosses:
        """One whole step; advances :attr:`global_step`.

        ``stop_requested``: this process was asked to stop; the returned ``stop`` says whether
        any process was (so that all of them stop after the same step).
        """
        session = self.session
        trials, archs, plan = self.ask()
        trained = plan.architectures(archs)
        if plan.trains_all(len(archs)):
            train_losses = self.train(trained)
            scores, stop = self.score(archs, stop_requested)
        else:
            scores, stop = self.score(archs, stop_requested)
            train_losses = self.train(trained)
        if self.coordinator is not None:
            self.coordinator.waiting = session.owns_study  # the others wait for rank 0's message
        if session.owns_study:
            own: dict[int, float] = {
                i: train_losses[len(plan.extra) + j] for j, i in enumerate(plan.trained)
            }
            for i, (trial, arch, score) in enumerate(zip(trials, archs, scores)):
                self.tell(trial, arch, own.get(i), score)
        self.global_step += 1
        return StepLosses(train_losses, [s.loss for s in scores], stop)

    def ask(self) -> tuple[list[optuna.Trial], list[Architecture], StepPlan]:
        """A generation of trials, their architectures and the step's weight-update plan (no
        trials on processes other than rank 0 of a data-parallel search: they receive the
        architectures and the plan)."""
        session = self.session
        if not session.owns_study:
            assert self.coordinator is not None
            archs, plan = self.coordinator.receive_architectures()
            return [], archs, plan
        trials = [session.study.ask() for _ in range(session.generation_size)]
        archs = [session.space.suggest(trial) for trial in trials]
        config = session.config
        plan = plan_step(
            config.train_archs,
            config.sandwich,
            len(archs),
            session.space,
            config.seed,
            self.global_step,
        )
        if self.coordinator is not None:
            self.coordinator.send_architectures(archs, plan)
        return trials, archs, plan

    def train(self, archs: list[Architecture]) -> list[float]:
        """One SGD step on the training losses of ``archs`` on the next minibatch: their mean,
        or per weight the mean over the architectures that used it (``weight_gradient``)."""
        session = self.session
        batches = session.train_batches
        x, y = batches.next()
        session.supernet.train()
        path = self.path_gradient
        losses = sgd_step(
            session.supernet,
            [self._loss_fn(x, y, arch) for arch in archs],
            self.optimizer,
            self.scaler,
            session.config.training,
            sync=self.sync,
            share=len(y) / batches.batch_size,
            normalise=None
            if path is None
            else lambda finite: path.divide([archs[i] for i in finite]),
        )
        self.scheduler.step()
        return losses

    def score(
        self, archs: list[Architecture], stop_requested: bool = False
    ) -> tuple[list[Scores], bool]:
        """Each architecture's loss and accuracy on the next validation minibatch, and whether
        any process asked to stop."""
        session = self.session
        batches = session.val_batches
        x, y = batches.next()
        session.supernet.eval()
        share = len(y) / batches.batch_size
        sums = torch.zeros(2 * len(archs) + 1, dtype=torch.float64)
        with torch.no_grad():
            for i, arch in enumerate(archs):
                with session.precision.autocast():
                    logits = session.supernet(x, arch)
                loss, accuracy = minibatch_metrics(logits, y)
                sums[2 * i] = float(self._hook(arch, loss)) * share
                sums[2 * i + 1] = accuracy * share
        sums[-1] = float(stop_requested)
        if session.group is not None:
            sums = session.group.all_reduce_sum(sums, "all-reducing the validation scores")
        scores = [Scores(float(sums[2 * i]), float(sums[2 * i + 1])) for i in range(len(archs))]
        return scores, bool(sums[-1] > 0)

    def tell(
        self, trial: optuna.Trial, arch: Architecture, train_loss: float | None, score: Scores
    ) -> None:
        """Record the scores in the trial; tell FAIL (with a warning) for a non-finite loss.

        ``train_loss`` None: the step did not train this architecture (no ``train_loss``
        attribute then)."""
        study, config = self.session.study, self.session.config
        trial.set_user_attr("accuracy", score.accuracy)
        trial.set_user_attr("loss", score.loss)
        if train_loss is None:
            train_loss = 0.0  # not trained: only the validation loss is checked
        else:
            trial.set_user_attr("train_loss", train_loss)
        if math.isfinite(train_loss) and math.isfinite(score.loss):
            first = score.accuracy if config.objective.maximized else score.loss
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
                logits = self._forward(x, arch)
            return self._hook(arch, minibatch_metrics(logits, y)[0])

        return loss

    def _hook(self, arch: Architecture, loss: torch.Tensor) -> torch.Tensor:
        return loss if self.loss_hook is None else self.loss_hook(arch, loss)
