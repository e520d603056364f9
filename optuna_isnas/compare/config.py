"""Settings of a comparison: one dataset and space, several methods, several seeds, one compute unit.

The compute unit is one IS-NAS search: ``epochs`` passes over the training split with
``K * lambda`` architectures per step. Every method's budget is a multiple of it, set through the
number of epochs, so that "equal compute" means the same number of supernet forward and backward
passes (the runner counts them and checks).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

METHODS = ("isnas", "separate", "nsgaii", "tpe", "random")
OBJECTIVES = ("loss", "accuracy")
DEFAULT_EPSILONS = (0.0, 1.0, 3.0, 9.0)


class CompareError(ValueError):
    """A comparison setting that cannot work; the message names it and what is allowed."""


@dataclass
class CompareConfig:
    """What to compare and how.

    Attributes:
        dataset: Dataset name (``optuna_isnas.data.DATASET_NAMES``).
        data_root: Directory of the dataset's files, where it needs one.
        downsample: Side length to average-pool the images to (e.g. 14 for Fashion-MNIST 14x14).
        space: Search-space name; ``space_options`` are extra ``get_space`` keyword arguments.
        epsilons: IS-NAS's tradeoffs (K = their number); the separate searches use one each.
        samples_per_distribution: lambda, for IS-NAS and for each separate search.
        isnas_options: Extra ``ISNASSampler`` keyword arguments for IS-NAS and the separate searches
            (ablations, e.g. ``{"weighting": "own"}`` or ``{"loss_scale": 1.0}``).
        epochs: Epochs of the IS-NAS search at multiplier 1 (the compute unit).
        batch_size: Training and validation minibatch size of every search.
        objective: First objective told to every sampler: ``"loss"`` (validation minibatch
            cross-entropy) or ``"accuracy"``.
        seeds: Seeds; each method runs once per seed (the separate searches K times).
        methods: Which of ``METHODS`` to run.
        isnas_multipliers: Compute budgets of IS-NAS, as multiples of the unit (e.g. 0.5, 1).
        separate_multipliers: Total compute of the K separate searches together, as multiples
            of the unit (1 means each of the K searches runs ``epochs`` epochs with lambda
            architectures per step, so the K together cost one IS-NAS search).
        baseline_multiplier: Compute of NSGA-II, TPE and random (default 1: equal to IS-NAS).
        train_subset, val_subset, max_steps_per_epoch: Limits for reduced runs.
        lr: Learning rate of the shared weights (None: the search recipe's default).
        trace_points: Times per search the returned set is scored on the whole validation split
            (for the hypervolume-against-compute curves); the last is the search's end.
        prob_points: Times per search the distributions' probabilities are recorded.
        reference_error: Reference point's error (default 1.0: 100 %).
        reference_params: Reference point's parameters; None means 1.1 times the largest child.
        retrain_epochs: Epochs to retrain the chosen subset from scratch (0: no retraining).
        retrain_seeds: Seeds whose returned sets are retrained (None: the first seed).
        workers: Searches run in parallel (processes).
        threads: Torch CPU threads per search.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        out: Output directory.
        png: Also write PNG figures (needs a headless Chromium; skipped with a note otherwise).
        dashboard: Attach the figures to the first seed's IS-NAS study for optuna-dashboard.
        progress: Print one line per finished search.
        resume: Reuse the finished searches found in ``out`` (same settings) instead of rerunning them.
    """

    dataset: str = "digits"
    data_root: str | None = None
    downsample: int | None = None
    space: str = "chain"
    space_options: dict[str, Any] = field(default_factory=dict)
    epsilons: tuple[float, ...] = DEFAULT_EPSILONS
    samples_per_distribution: int = 2
    isnas_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    objective: str = "loss"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    methods: tuple[str, ...] = METHODS
    isnas_multipliers: tuple[float, ...] = (1.0,)
    separate_multipliers: tuple[float, ...] = (1.0, 2.0)
    baseline_multiplier: float = 1.0
    train_subset: int | None = None
    val_subset: int | None = None
    max_steps_per_epoch: int | None = None
    lr: float | None = None
    trace_points: int = 6
    prob_points: int = 60
    reference_error: float = 1.0
    reference_params: float | None = None
    retrain_epochs: int = 0
    retrain_seeds: tuple[int, ...] | None = None
    workers: int = 1
    threads: int = 1
    device: str = "cpu"
    out: str = "runs/compare"
    png: bool = True
    dashboard: bool = True
    progress: bool = True
    resume: bool = False

    def __post_init__(self) -> None:
        for name in ("epsilons", "isnas_multipliers", "separate_multipliers"):
            setattr(self, name, tuple(float(v) for v in getattr(self, name)))
        self.seeds = tuple(int(s) for s in self.seeds)
        self.methods = tuple(str(m).strip().lower() for m in self.methods)
        if self.retrain_seeds is not None:
            self.retrain_seeds = tuple(int(s) for s in self.retrain_seeds)

    @property
    def k(self) -> int:
        return len(self.epsilons)

    def validate(self) -> None:
        """Raise CompareError naming the first setting that cannot work."""
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise CompareError(
                f"unknown method(s) {unknown or '(none given)'}; choose from {', '.join(METHODS)}"
            )
        if len(set(self.methods)) != len(self.methods):
            raise CompareError(f"methods repeat: {list(self.methods)}")
        if self.objective not in OBJECTIVES:
            raise CompareError(
                f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}"
            )
        if not self.epsilons or not all(math.isfinite(e) and e >= 0 for e in self.epsilons):
            raise CompareError(
                f"epsilons must be one or more finite numbers >= 0, got {list(self.epsilons)}"
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise CompareError(
                f"seeds must be one or more distinct integers, got {list(self.seeds)}"
            )
        for name in (
            "samples_per_distribution",
            "epochs",
            "batch_size",
            "trace_points",
            "prob_points",
            "workers",
            "threads",
        ):
            if getattr(self, name) < 1:
                raise CompareError(f"{name} must be at least 1, got {getattr(self, name)}")
        forbidden = {"epsilons", "complexity_budgets", "samples_per_distribution", "seed"} & set(
            self.isnas_options
        )
        if forbidden:
            raise CompareError(
                f"isnas_options may not set {sorted(forbidden)}: the comparison sets them"
            )
        if self.retrain_epochs < 0:
            raise CompareError(
                f"retrain_epochs must be 0 (no retraining) or more, got {self.retrain_epochs}"
            )
        for name in ("train_subset", "val_subset", "max_steps_per_epoch", "downsample"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise CompareError(f"{name} must be at least 1, got {value}")
        if not (0 < self.reference_error and math.isfinite(self.reference_error)):
            raise CompareError(
                f"reference_error must be a positive number, got {self.reference_error}"
            )
        if self.reference_params is not None and not self.reference_params > 0:
            raise CompareError(f"reference_params must be positive, got {self.reference_params}")
        for name, values in (
            ("isnas_multipliers", self.isnas_multipliers),
            ("separate_multipliers", self.separate_multipliers),
            ("baseline_multiplier", (self.baseline_multiplier,)),
        ):
            for m in values:
                self.epochs_for(m, name)
        if self.retrain_seeds is not None and not set(self.retrain_seeds) <= set(self.seeds):
            raise CompareError(
                f"retrain_seeds {list(self.retrain_seeds)} must be among seeds {list(self.seeds)}"
            )

    def epochs_for(self, multiplier: float, name: str = "multiplier") -> int:
        """Epochs of a search that spends ``multiplier`` compute units; CompareError if not whole."""
        epochs = self.epochs * multiplier
        if not (multiplier > 0 and abs(epochs - round(epochs)) < 1e-9 and round(epochs) >= 1):
            raise CompareError(
                f"{name} {multiplier:g} times {self.epochs} epochs is {epochs:g}: give multipliers that make a "
                "whole number of epochs (at least 1)"
            )
        return int(round(epochs))

    @property
    def chosen_retrain_seeds(self) -> tuple[int, ...]:
        return self.retrain_seeds if self.retrain_seeds is not None else self.seeds[:1]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CompareConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def search_fingerprint(self) -> dict[str, Any]:
        """The settings a finished search depends on (a resumed comparison reuses a search only if they agree)."""
        keep = (
            "dataset",
            "data_root",
            "downsample",
            "space",
            "space_options",
            "epsilons",
            "samples_per_distribution",
            "isnas_options",
            "epochs",
            "batch_size",
            "objective",
            "train_subset",
            "val_subset",
            "max_steps_per_epoch",
            "lr",
            "trace_points",
            "prob_points",
            "device",
        )
        data = self.to_dict()
        return {k: data[k] for k in keep}
