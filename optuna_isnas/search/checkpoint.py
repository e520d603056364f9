"""Search checkpoints: everything besides the study storage that a resumed search needs.

A checkpoint holds the supernet, optimiser, scheduler and GradScaler states, the loop position,
the minibatch streams, the torch / numpy / Python random states, the configuration and (when it
pickles) the sampler. The study itself lives in its Optuna storage.
"""

from __future__ import annotations

import io
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import CheckpointMismatchError, SearchError

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


def random_states() -> dict[str, Any]:
    states = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if (
        "cuda" in states
        and torch.cuda.is_available()
        and len(states["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(states["cuda"])


def pickle_sampler(sampler: Any) -> bytes | None:
    """The sampler's pickle, or None for a sampler that does not pickle (it is then re-created)."""
    try:
        return pickle.dumps(sampler)
    except Exception:  # noqa: BLE001 - any pickling failure just means "not restorable"
        return None


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically (a temporary file renamed over ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buffer)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU.

    Raises:
        SearchError: The file is missing or is not a search checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise SearchError(
            f"no checkpoint to resume from at {path}; run the search without --resume first"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt file is reported, not re-raised
        raise SearchError(f"cannot read checkpoint {path}: {exc}") from exc
    if (
        not isinstance(state, dict)
        or state.get("format_version") != FORMAT_VERSION
        or "config" not in state
    ):
        raise SearchError(
            f"{path} is not an optuna-isnas search checkpoint (format {FORMAT_VERSION})"
        )
    return state


def check_config(checkpoint: dict[str, Any], config: SearchConfig, path: str | Path) -> None:
    """Raise CheckpointMismatchError naming each setting that differs from the checkpoint's."""
    diffs = config.differences(checkpoint["config"])
    if diffs:
        listed = "; ".join(
            f"{name}: checkpoint {old!r}, now {new!r}" for name, (new, old) in diffs.items()
        )
        raise CheckpointMismatchError(
            f"checkpoint {path} was written by a search with different settings ({listed}); "
            "resume with the same settings or start a new search in another --out directory"
        )
