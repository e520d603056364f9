"""Running a comparison's jobs: in this process, or in a pool of worker processes."""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import torch

from optuna_isnas.compare.config import CompareConfig


class _Labelled(Protocol):
    @property
    def label(self) -> str: ...


Result = TypeVar("Result", bound=_Labelled)


def say(config: CompareConfig, message: str) -> None:
    """A progress line on stderr (unless the comparison is quiet)."""
    if config.progress:
        print(message, file=sys.stderr, flush=True)


def run_jobs(
    config: CompareConfig,
    labels: Sequence[str],
    worker: Callable[[Any], Result],
    payloads: Sequence[Any],
    what: str,
) -> list[Result]:
    """Run ``worker(payload)`` for each job, in ``config.workers`` processes (in this one for 1)."""
    results: list[Result] = []
    if not payloads:  # everything was reused (--resume)
        return results
    start = time.perf_counter()
    if config.workers == 1 or len(payloads) == 1:
        threads = torch.get_num_threads()
        try:
            for i, payload in enumerate(payloads):
                results.append(worker(payload))
                say(
                    config,
                    f"[{time.perf_counter() - start:7.1f}s] {what} {i + 1}/{len(payloads)}: {labels[i]}",
                )
        finally:
            torch.set_num_threads(threads)
        return results
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(config.workers, len(payloads)), maxtasksperchild=8) as pool:
        for i, result in enumerate(pool.imap_unordered(worker, payloads)):
            results.append(result)
            say(
                config,
                f"[{time.perf_counter() - start:7.1f}s] {what} {i + 1}/{len(payloads)} {result.label}",
            )
        # Let the workers exit on their own (leaving the block would terminate them, and a
        # terminated worker leaves its semaphores to the resource tracker's leak warning).
        pool.close()
        pool.join()
    return results
