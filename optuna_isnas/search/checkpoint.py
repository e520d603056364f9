"""Search checkpoints: everything besides the study storage that a resumed search needs.

A checkpoint holds the supernet, optimiser, scheduler and GradScaler states, the loop position,
the minibatch streams, the process-wide random states, the sampler's random states, and the
configuration; the study itself lives in its Optuna storage. Everything in it is plain data and
tensors (``torch.load(weights_only=True)``): the sampler is never pickled but rebuilt from the
configuration (``search.session.make_sampler``).

The file is one header line, ``optuna-isnas checkpoint 3 sha256 <hex> <bytes>``, followed by the
bytes ``torch.save`` wrote. A file whose bytes do not match the header (garbled, truncated, empty)
is refused with one line, never resumed from: torch's loader does not check its archive's CRCs,
and a resumed search on garbled weights would go on silently with NaN losses. The file is written
to ``checkpoint.pt.tmp``, synced, and renamed over the old one; a failed write (a full disk)
removes the temporary file and leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from optuna_isnas.search.config import SearchConfig
from optuna_isnas.search.errors import CheckpointMismatchError, SearchError

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 3
_MAGIC = b"optuna-isnas checkpoint"


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
    """Write ``checkpoint`` atomically: a checksummed temporary file, synced, renamed over ``path``.

    Raises:
        SearchError: The file could not be written (e.g. the disk is full); the temporary file
            is removed and an earlier checkpoint at ``path`` is left as it was.
    """
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **dataclasses.asdict(checkpoint)}, buffer)
    payload = buffer.getbuffer()
    digest = hashlib.sha256(payload).hexdigest()
    header = b"%s %d sha256 %s %d\n" % (_MAGIC, FORMAT_VERSION, digest.encode(), len(payload))
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        hint = "free some space" if full else "check the directory"
        raise SearchError(
            f"cannot write checkpoint {path}: {exc.strerror or exc}; {hint}, then continue the "
            "search with --resume (from the previous checkpoint, which is left as it was)"
        ) from exc


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and verify a checkpoint, onto the CPU (nothing in it is unpickled).

    Raises:
        SearchError: The file is missing, is not a search checkpoint of this format, or its
            bytes do not match its checksum (garbled, truncated or empty).
    """
    path = Path(path)
    if not path.is_file():
        raise SearchError(
            f"no checkpoint to resume from at {path}; run the search without --resume first"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SearchError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    return checkpoint_from_bytes(data, path)


def checkpoint_from_bytes(data: bytes, path: str | Path) -> Checkpoint:
    """A checkpoint from the bytes of its file (as :func:`load_checkpoint`; ``path`` names it)."""
    path = Path(path)
    payload = _verified_payload(data, path)
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # its checksum matched, so torch itself could not read what it wrote
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(f"cannot read checkpoint {path}: {first}") from exc
    return _from_state(state, path)


_START_OVER = "start the search again with --overwrite (its study is replaced)"


def _verified_payload(data: bytes, path: Path) -> bytes:
    """The bytes after the header line, checked against the header's length and checksum."""
    if not data:
        raise SearchError(
            f"checkpoint {path} is empty (it was never completely written); {_START_OVER}"
        )
    line, _, payload = data.partition(b"\n")
    fields = line.split(b" ")
    if not line.startswith(_MAGIC + b" ") or len(fields) != 6 or fields[3] != b"sha256":
        raise SearchError(
            f"{path} is not an optuna-isnas search checkpoint of format {FORMAT_VERSION} (it was "
            f"written by another program or another version, or its start is garbled); {_START_OVER}"
        )
    if fields[2] != str(FORMAT_VERSION).encode():
        raise SearchError(
            f"checkpoint {path} has format {fields[2].decode(errors='replace')}, not "
            f"{FORMAT_VERSION}; {_START_OVER}"
        )
    digest, length = fields[4].decode(errors="replace"), fields[5]
    if not length.isdigit() or int(length) != len(payload):
        raise SearchError(
            f"checkpoint {path} is truncated or extended ({len(payload)} bytes after its header, "
            f"which says {length.decode(errors='replace')}); {_START_OVER}, or restore the file "
            "from a copy and resume"
        )
    if hashlib.sha256(payload).hexdigest() != digest:
        raise SearchError(
            f"checkpoint {path} is damaged: its bytes do not match its checksum (they were changed "
            f"after it was written); {_START_OVER}, or restore the file from a copy and resume"
        )
    return payload


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
