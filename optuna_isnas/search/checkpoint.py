"""Search checkpoints: everything besides the study storage that a resumed search needs.

A checkpoint holds the supernet, optimiser, scheduler and GradScaler states, the loop position,
the minibatch streams, the process-wide random states, the sampler's random states, and the
configuration; the study itself lives in its Optuna storage. Everything in it is plain data and
tensors, so it loads with ``torch.load(weights_only=True)``: the sampler is never pickled but
rebuilt from the configuration (``search.session.make_sampler``).

Checkpoints of format 1 (which pickled the sampler) are refused with a message; convert one you
trust with ``python -m optuna_isnas.search.checkpoint upgrade PATH``.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import CheckpointMismatchError, SearchError
from optuna_isnas.search.rng import sampler_random_states

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 2
UPGRADE_COMMAND = "python -m optuna_isnas.search.checkpoint upgrade"


@dataclass
class Checkpoint:
    """The contents of ``checkpoint.pt`` (all plain data and tensors)."""

    config: dict[str, Any]
    study_name: str
    n_trials: int
    global_step: int
    total_steps: int
    steps_per_epoch: int
    supernet: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    train_stream: dict[str, Any]
    val_stream: dict[str, Any]
    random_states: dict[str, Any]
    sampler_random_states: dict[str, Any]
    space: dict[str, Any]
    time: float


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` atomically (a temporary file renamed over ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **dataclasses.asdict(checkpoint)}, buffer)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint onto the CPU (``weights_only=True``: nothing in it is unpickled).

    Raises:
        SearchError: The file is missing, is not a search checkpoint, or has the old format.
    """
    path = Path(path)
    if not path.is_file():
        raise SearchError(
            f"no checkpoint to resume from at {path}; run the search without --resume first"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or old file is reported, not re-raised
        if _format_of(path) == 1:
            raise SearchError(
                f"{path} has checkpoint format 1, which stored a pickled sampler; if you trust the "
                f"file, convert it with `{UPGRADE_COMMAND} {path}` and resume again"
            ) from exc
        raise SearchError(f"cannot read checkpoint {path}: {exc}") from exc
    return _from_state(state, path)


def checkpoint_from_bytes(data: bytes, path: str | Path) -> Checkpoint:
    """A checkpoint from the bytes of its file (as :func:`load_checkpoint`; ``path`` names it)."""
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt file is reported, not re-raised
        raise SearchError(f"cannot read checkpoint {path}: {exc}") from exc
    return _from_state(state, Path(path))


def _from_state(state: Any, path: Path) -> Checkpoint:
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise SearchError(
            f"{path} is not an optuna-isnas search checkpoint (format {FORMAT_VERSION})"
        )
    names = {f.name for f in dataclasses.fields(Checkpoint)}
    missing = names - set(state)
    if missing:
        raise SearchError(f"{path} is not a complete search checkpoint (missing {sorted(missing)})")
    return Checkpoint(**{k: v for k, v in state.items() if k in names})


def _format_of(path: Path) -> int | None:
    """The format of a checkpoint that did not load as the current one (read safely)."""
    state = _load_with_numpy_arrays(path)
    return state.get("format_version") if isinstance(state, dict) else None


def _load_with_numpy_arrays(path: Path) -> Any:
    """``torch.load(weights_only=True)`` that also accepts numpy arrays (format 1 kept numpy's
    random state as one); None when the file holds anything else that would need unpickling."""
    names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    allowed: list[Any] = []
    for name in names:
        module, _, attr = name.rpartition(".")
        if not (name in _NUMPY_ARRAY_GLOBALS or module == "numpy.dtypes"):
            return None
        allowed.append(getattr(importlib.import_module(module), attr))
    # dtypes are rebuilt from their classes, which the scan above does not list
    dtypes = importlib.import_module("numpy.dtypes")
    allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


_NUMPY_ARRAY_GLOBALS = frozenset(
    {
        "numpy.dtype",
        "numpy.ndarray",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray._reconstruct",
    }
)


def check_config(checkpoint: Checkpoint, config: SearchConfig, path: str | Path) -> None:
    """Raise CheckpointMismatchError naming each setting that differs from the checkpoint's."""
    diffs = config.differences(checkpoint.config)
    if diffs:
        listed = "; ".join(
            f"{name}: checkpoint {old!r}, now {new!r}" for name, (new, old) in diffs.items()
        )
        raise CheckpointMismatchError(
            f"checkpoint {path} was written by a search with different settings ({listed}); "
            "resume with the same settings or start a new search in another --out directory"
        )


def upgrade_checkpoint(path: str | Path) -> Path:
    """Convert a format-1 checkpoint into the current format, in place (a copy stays as ``.v1``).

    Format 1 pickled the sampler, so converting it unpickles those bytes: only for files you
    trust. The sampler's random states are kept; the random states of the process are converted.
    """
    from optuna_isnas.search.rng import _legacy_state

    path = Path(path)
    state = _load_with_numpy_arrays(path)
    if not isinstance(state, dict) or state.get("format_version") != 1:
        raise SearchError(f"{path} is not a format-1 optuna-isnas search checkpoint")
    sampler = pickle.loads(state["sampler"]) if state.get("sampler") else None
    old = state["random_states"]
    version, internal, gauss = old["python"]
    random_states = {
        **{k: v for k, v in old.items() if k in ("torch", "cuda")},
        "numpy": _legacy_state(old["numpy"]),
        "python": [version, list(internal), gauss],
    }
    names = {f.name for f in dataclasses.fields(Checkpoint)}
    fields = {k: v for k, v in state.items() if k in names}
    fields.update(
        random_states=random_states,
        sampler_random_states={} if sampler is None else sampler_random_states(sampler),
    )
    path.replace(path.with_name(path.name + ".v1"))
    save_checkpoint(path, Checkpoint(**fields))
    return path


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "upgrade":
        print(f"usage: {UPGRADE_COMMAND} CHECKPOINT", file=sys.stderr)
        return 2
    try:
        print(f"upgraded {upgrade_checkpoint(argv[1])} (the old file is kept as .v1)")
    except (OSError, SearchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
