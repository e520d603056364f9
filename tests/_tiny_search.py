"""The tiny one-shot search the search tests run, declared once.

Digits and the chain space on one CPU thread, 16-image minibatches, a few hundred examples and a
few steps per epoch: a whole search takes seconds. ``tiny_settings`` is plain data (what a torchrun
script receives as JSON), ``tiny_config`` the ``SearchConfig`` built from it; tests pass what they
vary as overrides.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import optuna

from optuna_isnas.search import SearchConfig

TINY_STEPS = 3  # training minibatches per epoch

DDP_SCRIPT = Path(__file__).with_name("_ddp_script.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
"""Two processes on this machine; run with :data:`TORCHRUN_ENV`."""
TORCHRUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
if os.path.isdir("/sys/class/net/lo"):
    # gloo finds its interface through the host name, which a container may not resolve
    TORCHRUN_ENV.setdefault("GLOO_SOCKET_IFNAME", "lo")


def tiny_settings(out: str | Path, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = dict(
        dataset="digits",
        space="chain",
        epochs=2,
        batch_size=16,
        max_steps_per_epoch=TINY_STEPS,
        train_subset=300,
        val_subset=120,
        device="cpu",
        threads=1,
        progress=False,
        out=str(out),
    )
    settings.update(overrides)
    return settings


def tiny_config(out: str | Path, **overrides: Any) -> SearchConfig:
    return SearchConfig(**tiny_settings(out, **overrides))


def search_journal(out: str | Path) -> optuna.storages.JournalStorage:
    """The journal a search without ``--storage`` writes in ``out``."""
    return optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(Path(out) / "search.journal"))
    )
