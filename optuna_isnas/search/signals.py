"""Stopping a search cleanly: the first stop signal asks the loop to stop after the current step.

The loop checks :attr:`GracefulStop.requested` after each step, writes a checkpoint and raises
``SearchInterrupted``. The signals handled are :data:`STOP_SIGNALS`: Ctrl-C (SIGINT) and SIGTERM,
which ``timeout``, SLURM and Kubernetes send before they kill a process. A second one stops at
once: the previous handlers are restored first, so a second Ctrl-C raises ``KeyboardInterrupt``
(the command line turns it into one line and exit code 130) and a second SIGTERM ends the
process as it would have without the search.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from optuna_isnas.search.progress import say

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class GracefulStop:
    """Turn the first stop signal into a request to stop after the current step.

    Handlers are installed only in the main thread (Python delivers signals there; elsewhere the
    block runs unprotected) and not for a signal the process ignores (a shell starts background
    jobs with SIGINT ignored).

    Attributes:
        requested: A stop signal arrived.
        signal: The first stop signal received (None before one arrives).
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:  # e.g. SIGINT of a background job
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.signal = signal.Signals(signum)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        say(
            f"{_NAMES.get(self.signal, self.signal.name)}: finishing this step and writing a "
            "checkpoint (a second Ctrl-C or SIGTERM stops at once, without one)"
        )

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
