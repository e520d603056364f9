"""What a search shows while it runs: one progress bar per epoch and one-line messages."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator, Sequence

import optuna
from tqdm.auto import tqdm

from optuna_isnas.search.samplers import FamilySampler

_REFRESH_S = 2.0  # the expected complexity is read from the study at most this often


def say(message: str) -> None:
    """A line on stderr that does not break a progress bar."""
    tqdm.write(message, file=sys.stderr)


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines (thousands per search) for the duration."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


class EpochProgress:
    """The progress bar of one epoch: steps, mean losses, and each distribution's expected size.

    Args:
        epoch: 0-based epoch.
        epochs: Number of epochs.
        steps: Steps per epoch.
        done: Steps of this epoch already done (resumed searches).
        family: The sampler, when it returns a family (its expected complexity is shown).
        study: The search study.
        enabled: Show the bar at all.
    """

    def __init__(
        self,
        epoch: int,
        epochs: int,
        steps: int,
        done: int,
        family: FamilySampler | None,
        study: optuna.Study,
        enabled: bool,
    ) -> None:
        self.steps, self.family, self.study, self.enabled = steps, family, study, enabled
        self.bar = tqdm(
            total=steps,
            initial=done,
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not enabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        self._complexity_shown_at = 0.0
        self._complexity_text = ""

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def update(self, step: int, train_losses: Sequence[float], val_losses: Sequence[float]) -> None:
        """After step ``step`` (1-based within the epoch)."""
        self.bar.update(1)
        text = f"train {_nanmean(train_losses):.3f} val {_nanmean(val_losses):.3f}"
        self.bar.set_postfix_str(text + self._complexity(step == self.steps), refresh=False)

    def _complexity(self, force: bool) -> str:
        now = time.monotonic()
        if (
            self.family is not None
            and self.enabled
            and (force or now - self._complexity_shown_at > _REFRESH_S)
        ):
            try:
                values = self.family.expected_complexity(self.study)
            except ValueError:  # ISNASSampler before its first completed trial
                values = None
            if values is not None:
                self._complexity_text = " E[params] " + "/".join(
                    "?" if v is None else _short(v) for v in values
                )
            self._complexity_shown_at = now
        return self._complexity_text


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def _short(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"
