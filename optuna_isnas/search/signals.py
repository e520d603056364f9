"""Stopping a search cleanly: the first interrupt asks the loop to stop after the current step.

The loop checks :attr:`GracefulStop.requested` after each step, writes a checkpoint and raises
``SearchInterrupted``. The signals handled are :data:`STOP_SIGNALS`; a second one restores the
previous handler's behaviour at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from optuna_isnas.search.progress import say

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT,)


class GracefulStop:
    """Turn the first stop signal into a request to stop after the current step.

    Handlers are installed only in the main thread (Python delivers signals there); elsewhere the
    block runs unprotected.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        say(
            "Ctrl-C: finishing this step and writing a checkpoint (press Ctrl-C again to abort at once)"
        )

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
