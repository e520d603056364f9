"""The records of a comparison: small dataclasses that round-trip through JSON.

A :class:`Job` is one search (method, budget, seed); its :class:`SearchRecord` holds what the
search returned, what it cost and how its returned set and probabilities moved. Retraining a
variant's chosen architectures from scratch gives a :class:`RetrainRecord`. Records are written
to ``OUT/runs/*.json`` and read back by a resumed comparison (``read_record``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from optuna_isnas.compare.compute import PassCount
from optuna_isnas.errors import SettingsError

R = TypeVar("R")


class RecordFormatError(SettingsError):
    """A file under ``OUT/runs`` that is not a record of this release's format."""


def read_record(path: Path, parse: Callable[[dict[str, Any]], R]) -> R | None:
    """The record written to ``path`` by an earlier run, parsed by ``parse``.

    None when there is none, or when an interrupted run left it torn (not JSON): its work is
    done again. A record of another format raises ``RecordFormatError`` naming the file.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    try:
        return parse(data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise not_this_format(path, f"it does not parse ({type(exc).__name__}: {exc})") from exc


def not_this_format(path: Path, why: str) -> RecordFormatError:
    """The error for a record file this release did not write: what was found, what to do."""
    return RecordFormatError(
        f"{path} is not a comparison record of this release's format: {why}. Delete it (the "
        "comparison then runs that work again) or compare into a new --out."
    )


@dataclass(frozen=True)
class Variant:
    """A method at a compute budget, written ``"isnas@1x"`` (the budget in compute units)."""

    method: str
    multiplier: float

    @property
    def key(self) -> str:
        return f"{self.method}@{self.multiplier:g}x"

    @classmethod
    def parse(cls, key: str) -> Variant:
        """The inverse of :attr:`key`."""
        method, sep, budget = key.partition("@")
        if not sep or not budget.endswith("x"):
            raise ValueError(f"not a variant: {key!r} (expected METHOD@<multiplier>x)")
        return cls(method, float(budget[:-1]))


@dataclass(frozen=True)
class Job:
    """One search: ``method`` at ``multiplier`` compute units with ``seed`` (``k``: separate searches)."""

    method: str
    multiplier: float
    seed: int
    k: int | None = None

    @property
    def variant(self) -> str:
        """The method at its budget, e.g. ``"isnas@1x"``; the K separate jobs share one variant."""
        return Variant(self.method, self.multiplier).key

    @property
    def label(self) -> str:
        return f"{self.variant}-seed{self.seed}" + ("" if self.k is None else f"-k{self.k}")


@dataclass
class Scored:
    """An architecture scored on a whole split (validation, or test after retraining).

    Attributes:
        architecture: Parameter name -> choice name.
        params: Parameters of its child network.
        error: 1 - accuracy on the split.
        loss: Mean cross-entropy on the split (None where it was not recorded).
        eps: The trade-off it was returned for (IS-NAS and the separate searches).
        trial: The search trial it came from (other samplers).
        search: Label of the search that returned it (a variant's merged separate searches).
        val_error: After retraining: 1 - validation accuracy (``error`` is the test split's).
    """

    architecture: dict[str, str]
    params: int
    error: float
    loss: float | None = None
    eps: float | None = None
    trial: int | None = None
    search: str | None = None
    val_error: float | None = None


@dataclass
class TracePoint:
    """The returned set at one moment of a search (None before the sampler returns anything)."""

    step: int
    passes: int
    returned: list[Scored] | None


@dataclass
class ProbabilityPoint:
    """The distributions at one step: choice probabilities and expected parameters per distribution.

    ``theta[k][v][c]`` is distribution k's probability of choice c of variable v.
    """

    step: int
    passes: int
    theta: list[list[list[float]]]
    expected_params: list[float]


@dataclass
class SearchRecord:
    """Everything one finished search of a comparison contributes."""

    job: Job
    epsilons: list[float] | None
    epochs: int
    steps: int
    generation_size: int
    n_trials: int
    passes: PassCount
    passes_from_steps: int
    wall_s: float
    trace_s: float
    returned: list[Scored]
    trace: list[TracePoint]
    probs: list[ProbabilityPoint]
    variables: dict[str, list[str]]
    study_name: str
    storage: str | None
    threads: int | None
    device: str
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        return self.job.variant

    @property
    def label(self) -> str:
        return self.job.label

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["passes"] = self.passes.to_dict()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchRecord:
        data = dict(data)
        passes = {k: v for k, v in data["passes"].items() if k != "total"}
        return cls(
            **{
                **data,
                "job": Job(**data["job"]),
                "passes": PassCount(**passes),
                "returned": [Scored(**e) for e in data["returned"]],
                "trace": [
                    TracePoint(
                        t["step"],
                        t["passes"],
                        None if t["returned"] is None else [Scored(**e) for e in t["returned"]],
                    )
                    for t in data["trace"]
                ],
                "probs": [ProbabilityPoint(**p) for p in data["probs"]],
            }
        )


@dataclass
class RetrainRecord:
    """One variant's chosen architectures of one seed, retrained from scratch and tested.

    ``key`` holds what the retraining depended on; a resumed comparison reuses the record only
    when it agrees.
    """

    variant: str
    seed: int
    retrained: list[Scored]
    key: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"retrain {self.variant}-seed{self.seed}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetrainRecord:
        return cls(
            variant=data["variant"],
            seed=data["seed"],
            retrained=[Scored(**e) for e in data["retrained"]],
            key=data["key"],
        )
