"""Data parallelism with ``torch.distributed``: a ``torchrun`` job's process group, gradients
all-reduced by ``DistributedDataParallel``, and the few other collectives a training loop needs.

Nothing here knows about architecture search. A job launched by ``torchrun`` (or any launcher that
sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``) joins one
process group: NCCL when the processes train on GPUs (each on ``cuda:LOCAL_RANK``), gloo on CPUs.
Every collective runs under a timeout, and a failed or timed-out collective is reported as one
:class:`DistributedError` naming what was being exchanged, not as a hang.

Each process takes its shard of every global minibatch (:class:`Shard`: rows ``rank::world``, the
``DistributedSampler`` layout). :class:`GradientSync` averages gradients with DDP for models whose
forward passes each use part of their parameters (a weight-sharing supernet): the gradients of
all of a step's passes are accumulated locally (``no_sync``) and all-reduced once, by a final
"flush" pass; parameters no pass of the step used keep ``grad = None`` as in a single process.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from optuna_isnas.errors import SettingsError

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 1800.0
"""Seconds any collective may wait for the other processes (``--collective-timeout``)."""

UnusedHandling = Literal["find", "zero"]
UNUSED_HANDLING: tuple[str, ...] = ("find", "zero")
"""How :class:`GradientSync` all-reduces gradients when a step used only part of the model:
``"find"``: DDP's ``find_unused_parameters=True``, flushed by a pass that touches one parameter;
``"zero"``: ``find_unused_parameters=False``, flushed by a pass that gives every parameter a zero
gradient (those that had none get ``None`` back afterwards). Both give the same gradients;
``benchmarks/bench_distributed.py`` measures their cost (``docs/benchmarks.md``)."""

_CHUNK_BYTES = 64 << 20  # broadcast_bytes sends at most this much per collective


class DistributedError(SettingsError):
    """Another process of a data-parallel job failed, stopped answering, or disagrees.

    The message names what was being exchanged and what to do (resume from the last checkpoint).
    """


@dataclass(frozen=True)
class Shard:
    """This process's part of every global minibatch: rows ``rank, rank + world, ...``.

    Attributes:
        rank: The process's rank.
        world: Number of processes.
    """

    rank: int = 0
    world: int = 1

    def take(self, batch: T) -> T:
        """The rows of ``batch`` (a tensor or sequence) that belong to this process."""
        return batch if self.world == 1 else batch[self.rank :: self.world]  # type: ignore[index]

    def size(self, n: int) -> int:
        """How many of a global minibatch of ``n`` rows belong to this process."""
        return len(range(self.rank, n, self.world))

    def share(self, n: int) -> float:
        """This process's fraction of a global minibatch of ``n`` rows."""
        return self.size(n) / n


def launched_in_parallel() -> bool:
    """True inside a job of several processes (``WORLD_SIZE`` > 1, as ``torchrun`` sets it)."""
    return _env_int("WORLD_SIZE", 1) > 1


def parallel_device(spec: str) -> str:
    """The device spec of this process in a data-parallel job: ``cuda:LOCAL_RANK`` for ``auto``
    (with GPUs) and ``cuda``; ``cpu`` stays ``cpu``.

    Raises:
        DistributedError: ``cuda:N``, which would put several processes on one GPU.
    """
    spec = spec.strip().lower()
    local_rank = _env_int("LOCAL_RANK", 0)
    if spec == "cpu":
        return spec
    if spec == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        return f"cuda:{local_rank}"
    raise DistributedError(
        f"device {spec!r} cannot be used by a job of {_env_int('WORLD_SIZE', 1)} processes: each "
        "process trains on the GPU of its LOCAL_RANK; pass --device cuda (or auto) and choose the "
        "GPUs with CUDA_VISIBLE_DEVICES"
    )


class ProcessGroup:
    """The default ``torch.distributed`` process group of this job, with the collectives we use.

    Tensors are exchanged on :attr:`device` (the process's GPU under NCCL, the CPU under gloo);
    the model trains on :attr:`model_device` (the ``device`` given).

    Args:
        device: The device this process trains on; CUDA selects NCCL, anything else gloo.
        timeout_s: Seconds any collective may wait before it fails.
    """

    def __init__(self, device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.owned = not dist.is_initialized()
        if self.owned:
            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                torch.cuda.set_device(device)
            try:
                dist.init_process_group(
                    backend, timeout=datetime.timedelta(seconds=max(timeout_s, 1.0))
                )
            except (RuntimeError, ValueError) as exc:
                raise DistributedError(
                    f"cannot join the {backend} process group of this job ({_first_line(exc)}); "
                    "launch it with torchrun, which sets WORLD_SIZE, RANK, LOCAL_RANK, "
                    "MASTER_ADDR and MASTER_PORT"
                ) from exc
        self.backend = str(dist.get_backend())
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.local_rank = _env_int("LOCAL_RANK", self.rank)
        self.device = device if self.backend == "nccl" else torch.device("cpu")
        self.model_device = device
        self.timeout_s = timeout_s

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that owns what only one process may own (a study, the outputs)."""
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world_size)

    def describe(self) -> str:
        return f"rank {self.rank} of {self.world_size} ({self.backend})"

    # ------------------------------------------------------------------ collectives
    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn a failed or timed-out collective inside the block into a :class:`DistributedError`."""
        try:
            yield
        except DistributedError:
            raise
        except RuntimeError as exc:  # gloo raises RuntimeError, NCCL DistBackendError (a subclass)
            raise DistributedError(
                f"{self.describe()}: {what} failed ({_reason(exc)}). Another process of this "
                f"job has stopped or crashed, or has not answered within {self.timeout_s:g} s "
                "(--collective-timeout)"
            ) from exc

    def broadcast(self, tensor: torch.Tensor, what: str) -> torch.Tensor:
        """Rank 0's ``tensor`` on every process (same shape and dtype everywhere)."""
        buffer = tensor.to(self.device)
        with self.guard(what):
            dist.broadcast(buffer, src=0)
        return buffer.to(tensor.device)

    def all_reduce_sum(self, tensor: torch.Tensor, what: str) -> torch.Tensor:
        """The sum of ``tensor`` over all processes (a new tensor on ``tensor``'s device)."""
        buffer = tensor.to(self.device, copy=True)
        with self.guard(what):
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        return buffer.to(tensor.device)

    def any(self, flag: bool, what: str) -> bool:
        """True on every process when ``flag`` is true on any of them."""
        return bool(self.all_reduce_sum(torch.tensor([float(flag)]), what).item() > 0)

    def check_same(self, settings: dict[str, Any], what: str) -> None:
        """Raise :class:`DistributedError` on every process unless all were given rank 0's
        ``settings`` (JSON-able); the processes that differ name each setting that does."""
        doing = f"comparing the {what} of the processes"
        theirs = self.broadcast_json(settings if self.is_main else None, doing)
        differs = settings != theirs
        if not self.any(differs, doing):
            return
        if differs:
            listed = "; ".join(
                f"{k}: rank 0 {theirs.get(k)!r}, here {settings.get(k)!r}"
                for k in sorted(set(settings) | set(theirs))
                if settings.get(k) != theirs.get(k)
            )
            raise DistributedError(
                f"rank {self.rank} was started with other {what} than rank 0 ({listed}); "
                "start every process with the same command"
            )
        raise DistributedError(
            f"another process of this job was started with other {what} than rank 0 (its "
            "message lists them); start every process with the same command"
        )

    def broadcast_bytes(self, data: bytes | None, what: str) -> bytes:
        """Rank 0's ``data`` on every process (others pass None), in chunks of at most 64 MiB."""
        size = torch.tensor([len(data) if data is not None else 0], dtype=torch.int64)
        n = int(self.broadcast(size, what).item())
        out = bytearray(n)
        for start in range(0, n, _CHUNK_BYTES):
            stop = min(start + _CHUNK_BYTES, n)
            if self.is_main:
                assert data is not None
                chunk = torch.frombuffer(bytearray(data[start:stop]), dtype=torch.uint8)
            else:
                chunk = torch.empty(stop - start, dtype=torch.uint8)
            out[start:stop] = self.broadcast(chunk, what).numpy().tobytes()
        return bytes(out)

    def broadcast_json(self, value: Any, what: str) -> Any:
        """Rank 0's JSON-able ``value`` on every process (no pickling)."""
        data = json.dumps(value).encode() if self.is_main else None
        return json.loads(self.broadcast_bytes(data, what).decode())

    def barrier(self, what: str) -> None:
        with self.guard(what):
            # A one-element all-reduce rather than dist.barrier(): it honours the timeout on every
            # backend and needs no device guess under NCCL.
            dist.all_reduce(torch.zeros(1, device=self.device))

    def run_on_main(self, fn: Callable[[], Any], what: str) -> Any:
        """Run ``fn`` on rank 0 only and hand its JSON-able result to every process.

        When ``fn`` raises on rank 0, the other processes raise a :class:`DistributedError` with
        its message (instead of waiting for an answer until the timeout) and rank 0 re-raises.
        """
        if not self.is_main:
            answer = self.broadcast_json(None, what)
            if "error" in answer:
                raise DistributedError(f"rank 0 failed while {what}: {answer['error']}")
            return answer["ok"]
        try:
            result = fn()
        except BaseException as exc:
            with contextlib.suppress(DistributedError):
                self.broadcast_json({"error": _first_line(exc) or type(exc).__name__}, what)
            raise
        self.broadcast_json({"ok": result}, what)
        return result

    def close(self) -> None:
        """Leave the process group, if this object joined it."""
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()


class _Replica(nn.Module):
    """The model as DDP wraps it: its own forward, and the flush pass of :class:`GradientSync`."""

    def __init__(self, model: nn.Module, flush_params: Sequence[nn.Parameter]) -> None:
        super().__init__()
        self.model = model
        self._flush_params = list(flush_params)

    def forward(self, *args: Any, flush: bool = False, **kwargs: Any) -> Any:
        if not flush:
            return self.model(*args, **kwargs)
        # A zero that depends on the flush parameters: back-propagating it gives them a zero
        # gradient (added to what they accumulated), which is what makes DDP reduce.
        return torch.stack([p.reshape(-1)[0] for p in self._flush_params]).sum() * 0.0


class GradientSync:
    """Gradients averaged over the processes by ``DistributedDataParallel``.

    Forward passes go through :meth:`__call__`; the backward passes of one step run inside
    :meth:`accumulate` (local accumulation, no communication); then :meth:`all_reduce_gradients`
    averages the accumulated gradients in one DDP reduction. Constructing it copies rank 0's
    parameters to every process.

    Args:
        model: The model (on this process's device).
        group: The job's process group.
        unused: How parameters a step leaves unused are handled (:data:`UNUSED_HANDLING`).
    """

    def __init__(self, model: nn.Module, group: ProcessGroup, unused: str = "find") -> None:
        if unused not in UNUSED_HANDLING:
            raise ValueError(f"unused must be one of {UNUSED_HANDLING}, got {unused!r}")
        self.group = group
        self.unused = unused
        params = [p for p in model.parameters() if p.requires_grad]
        self._flush_params = params[:1] if unused == "find" else params
        device = next(model.parameters()).device
        with group.guard("copying rank 0's weights to every process"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # DDP's notes on CPU device_ids
            self.ddp = DistributedDataParallel(
                _Replica(model, self._flush_params),
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=unused == "find",
            )

    @property
    def world_size(self) -> int:
        return self.group.world_size

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.ddp(*args, **kwargs)

    def accumulate(self) -> contextlib.AbstractContextManager[None]:
        """Backward passes inside the block accumulate gradients locally."""
        return self.ddp.no_sync()

    def all_reduce_gradients(self) -> None:
        """Average the accumulated gradients over the processes (one DDP reduction).

        Parameters without a gradient before the call have none after it on every process.
        """
        had_none = [p.grad is None for p in self._flush_params]
        with self.group.guard("all-reducing the gradients"), warnings.catch_warnings():
            # Depthwise convolutions' gradients have other (equivalent) strides for their
            # size-1 dimension than DDP's buckets; DDP copies them, and says so once.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
            self.ddp(flush=True).backward()
        for p, none in zip(self._flush_params, had_none):
            if none:
                p.grad = None

    def reduce_losses(self, values: Sequence[float], share: float) -> tuple[list[float], bool]:
        """Global minibatch losses from each process's losses on its ``share`` of the minibatch.

        Returns:
            The global losses (NaN where any process's loss was not finite), and whether every
            process agreed on which losses were finite (each process back-propagated exactly the
            losses that are finite globally).
        """
        local = torch.tensor(
            [v * share if math.isfinite(v) else 0.0 for v in values]
            + [float(math.isfinite(v)) for v in values],
            dtype=torch.float64,
        )
        total = self.group.all_reduce_sum(local, "all-reducing the training losses")
        n, world = len(values), self.world_size
        counts = [round(float(c)) for c in total[n:]]
        reduced = [float(total[i]) if counts[i] == world else math.nan for i in range(n)]
        return reduced, all(c in (0, world) for c in counts)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _reason(exc: BaseException) -> str:
    """The gist of a backend's error: its first sentence without the source location."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", _first_line(exc))
    return text.split(". ")[0].rstrip(".")[:300]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
