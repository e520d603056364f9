"""Errors of the search layer: bad settings a user can fix, reported as one clear line."""

from __future__ import annotations

from optuna_isnas.errors import SettingsError


class SearchError(SettingsError):
    """A setting, file or storage the search cannot use; the message says what to do instead."""


class CheckpointMismatchError(SearchError):
    """A checkpoint written by a search with different settings than the one resuming it."""


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the search after a finished step; a checkpoint to resume from was written.

    Attributes:
        checkpoint: Path of the checkpoint written before stopping.
    """

    def __init__(self, message: str, checkpoint: str) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class NonFiniteLossWarning(RuntimeWarning):
    """An architecture gave a NaN or infinite loss; its trial was told as FAIL."""
