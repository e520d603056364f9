"""A one-shot search over the processes of a ``torchrun`` job: what rank 0 tells the others.

Rank 0 owns the study, the sampler, the checkpoints and every output; every process trains and
scores the same architectures on its shard of each global minibatch (``docs/search.md``,
"Data-parallel search"). Besides the all-reduces of the step (``training.distributed``), the
processes exchange only rank 0's *messages*, JSON objects broadcast in one order that every
process follows:

1. when the session opens: the generation size and rank 0's settings (every process checks its
   own against them);
2. before each step: ``{"archs": [...], "plan": {...}}``, the architectures all processes score
   and the plan of the weight update (``search.weights.StepPlan``: which of them, and which
   others, all processes train), or
   ``{"stopped": ...}`` after a stop request, once rank 0 has written the checkpoint;
3. at the end: the returned architectures.

A message may instead be ``{"error": ...}``: rank 0 failed while the others were waiting for it,
and they stop with that message instead of waiting until the collective timeout.
"""

from __future__ import annotations

import contextlib
from typing import Any

from optuna_isnas.search.weights import StepPlan
from optuna_isnas.spaces import Architecture, SearchSpace
from optuna_isnas.training.distributed import DistributedError, ProcessGroup


class Coordinator:
    """Rank 0's messages to the other processes of a search (see the module docstring).

    Attributes:
        waiting: On rank 0: the other processes are waiting for its next message (so a failure
            of rank 0 can be reported to them by :meth:`fail`).
    """

    def __init__(self, group: ProcessGroup, space: SearchSpace) -> None:
        self.group = group
        self.space = space
        self.waiting = False

    def send(self, message: dict[str, Any], what: str) -> None:
        """Rank 0: send ``message`` to the other processes."""
        self.waiting = False
        self.group.broadcast_json(message, what)

    def receive(self, what: str) -> dict[str, Any]:
        """The other processes: rank 0's next message (raises on an error message)."""
        message: dict[str, Any] = self.group.broadcast_json(None, what)
        if "error" in message:
            raise DistributedError(f"rank 0 failed ({what}): {message['error']}")
        return message

    def send_architectures(self, archs: list[Architecture], plan: StepPlan) -> None:
        self.send({"archs": archs, "plan": plan.to_json()}, "sending the step's architectures")

    def receive_architectures(self) -> tuple[list[Architecture], StepPlan]:
        message = self.receive("receiving the step's architectures")
        archs = [self.space.validate(arch) for arch in message["archs"]]
        return archs, StepPlan.from_json(message["plan"], self.space)

    def send_stopped(self, checkpoint: str) -> None:
        self.send({"stopped": checkpoint}, "reporting the checkpoint written on a stop request")

    def receive_stopped(self) -> str:
        """After an agreed stop: the checkpoint rank 0 wrote."""
        return str(self.receive("waiting for the checkpoint of a stop request")["stopped"])

    def fail(self, exc: BaseException) -> None:
        """Rank 0: tell waiting processes that it failed (nothing if they are not waiting)."""
        if self.waiting:
            text = str(exc).strip().splitlines()
            with contextlib.suppress(DistributedError):  # the others may be gone already
                self.send({"error": text[0] if text else type(exc).__name__}, "reporting a failure")
