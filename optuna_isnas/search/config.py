"""Settings of a one-shot search: the training recipe and the search configuration.

Both are plain dataclasses that round-trip through JSON (``to_dict`` / ``from_dict``), so a checkpoint
can record them and a resumed search can say exactly which settings differ.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from optuna_isnas.search.errors import SearchError

OBJECTIVES = ("accuracy", "loss")
SAMPLER_NAMES = ("isnas", "random", "nsgaii", "tpe")
AUGMENTATIONS = ("auto", "none", "crop", "crop-flip")

# Settings that may change between a search and its resumption: where things are and how they are
# shown, not what is computed (moving a CPU checkpoint to a GPU is allowed; bitwise equality is not
# promised then).
RUNTIME_FIELDS = frozenset({"data_root", "device", "threads", "storage", "out", "progress"})


@dataclass
class TrainingRecipe:
    """How the shared weights are trained; the defaults follow ASNG-NAS (Akimoto et al., 2019).

    SGD with Nesterov momentum 0.9, a cosine learning-rate schedule over all steps of the search,
    weight decay 3e-4 and gradient clipping at norm 5. On CUDA, mixed precision (bfloat16 where the GPU
    supports it, float16 with a GradScaler otherwise) and channels_last memory format.

    Attributes:
        lr: Initial learning rate.
        lr_min: Learning rate at the end of the cosine schedule.
        momentum: SGD momentum.
        nesterov: Use Nesterov momentum.
        weight_decay: L2 weight decay.
        grad_clip_norm: Clip the gradient's global norm to this value; ``None`` disables clipping.
        schedule: ``"cosine"`` (annealed per step to ``lr_min``) or ``"constant"``.
        augment: ``"none"``, ``"crop"`` (random crop after 4-pixel zero padding), ``"crop-flip"``
            (and horizontal flips) or ``"auto"`` (crop-flip for natural images: cifar10, imagefolder;
            none otherwise).
        amp: Mixed precision on CUDA (ignored on CPU, which always computes in float32).
        channels_last: ``"auto"`` (on CUDA with mixed precision), ``True`` or ``False``.
    """

    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 3e-4
    grad_clip_norm: float | None = 5.0
    schedule: str = "cosine"
    augment: str = "auto"
    amp: bool = True
    channels_last: bool | str = "auto"

    @classmethod
    def for_dataset(cls, dataset: str) -> "TrainingRecipe":
        """The default recipe for ``dataset``: ASNG-NAS's, with ``lr=0.1`` for the tiny digits set.

        A digits search lasts a few hundred steps, in which 0.025 barely moves the weights
        (docs/search.md has the measurements).
        """
        return cls(lr=0.1) if dataset.strip().lower() == "digits" else cls()

    def validate(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise SearchError(f"learning rate must be a positive number, got {self.lr!r}")
        if self.schedule not in ("cosine", "constant"):
            raise SearchError(f"unknown schedule {self.schedule!r}; choose 'cosine' or 'constant'")
        if self.augment not in AUGMENTATIONS:
            raise SearchError(
                f"unknown augment {self.augment!r}; choose one of {', '.join(AUGMENTATIONS)}"
            )
        if self.channels_last not in (True, False, "auto"):
            raise SearchError(
                f"channels_last must be True, False or 'auto', got {self.channels_last!r}"
            )
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise SearchError(
                f"grad_clip_norm must be positive or None, got {self.grad_clip_norm!r}"
            )


@dataclass
class SearchConfig:
    """What to search and how; everything a checkpoint must agree on to be resumed.

    Attributes:
        dataset: Dataset name (``optuna_isnas.data.DATASET_NAMES``).
        data_root: Directory of the dataset's files, where the dataset needs one.
        space: Search-space name (``optuna_isnas.spaces.SPACE_NAMES``).
        space_options: Extra keyword arguments of ``get_space`` (for example widths).
        epsilons: ISNASSampler's tradeoff coefficients, one per distribution (K = their number).
        budgets: Instead of ``epsilons``: one complexity budget (parameters) per distribution; the
            sampler adapts each tradeoff so that architecture k fits budget k.
        num_distributions: K when neither ``epsilons`` nor ``budgets`` is given (a default family of
            epsilons: 0, then geometric between ISNASSampler's default extremes).
        samples_per_distribution: lambda, architectures each distribution draws per generation.
        epochs: Passes over the training split (each step uses one training minibatch).
        batch_size: Minibatch size, for training and for the validation minibatch of each step.
        eval_batch_size: Batch size of the final evaluation on the whole validation split.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"`` / ``"cuda:N"``.
        threads: CPU threads for torch during the search (``torch.set_num_threads``, restored
            afterwards). None: 1 for images of at most 16 pixels on the CPU (their operations are too
            small to gain from threads, and threads that spin on a busy CPU slow a step down 10-50x,
            measured), torch's default otherwise.
        storage: Optuna storage URL; ``None`` means a journal file ``search.journal`` in ``out``.
        study_name: Name of the search study; ``None`` means ``"<dataset>-<space>"``.
        seed: Seed of weights, data order, augmentation and the sampler.
        out: Output directory (checkpoint, architectures.json, pareto.html, default storage).
        objective: ``"accuracy"`` (maximised) or ``"loss"`` (validation cross-entropy, minimised),
            told as the first value; the number of parameters is always the second (minimised).
        sampler: ``"isnas"``, ``"random"``, ``"nsgaii"`` or ``"tpe"`` when no sampler object is given.
        progress: Show a progress bar.
        max_steps_per_epoch: Cap on steps per epoch (quick runs, tests).
        downsample: Average-pool images to this side length (e.g. 14 for Fashion-MNIST 14x14);
            it must divide the dataset's native size (docs/datasets.md).
        train_subset: Use a seeded stratified subset of at most N training examples.
        val_subset: The same for the validation split.
        recipe: The training recipe; None means ``TrainingRecipe.for_dataset(dataset)``.
    """

    dataset: str = "digits"
    data_root: str | None = None
    space: str = "chain"
    space_options: dict[str, Any] = field(default_factory=dict)
    epsilons: tuple[float, ...] | None = None
    budgets: tuple[float, ...] | None = None
    num_distributions: int | None = None
    samples_per_distribution: int = 2
    epochs: int = 15
    batch_size: int = 64
    eval_batch_size: int = 256
    device: str = "auto"
    threads: int | None = None
    storage: str | None = None
    study_name: str | None = None
    seed: int = 0
    out: str = "runs/search"
    objective: str = "accuracy"
    sampler: str = "isnas"
    progress: bool = True
    max_steps_per_epoch: int | None = None
    downsample: int | None = None
    train_subset: int | None = None
    val_subset: int | None = None
    recipe: TrainingRecipe | None = None

    def __post_init__(self) -> None:
        if self.epsilons is not None:
            self.epsilons = tuple(float(e) for e in self.epsilons)
        if self.budgets is not None:
            self.budgets = tuple(float(b) for b in self.budgets)
        if self.recipe is None:
            self.recipe = TrainingRecipe.for_dataset(self.dataset)
        elif isinstance(self.recipe, dict):
            self.recipe = TrainingRecipe(**self.recipe)

    @property
    def resolved_study_name(self) -> str:
        return self.study_name or f"{self.dataset}-{self.space}"

    def validate(self) -> None:
        """Raise SearchError naming the first setting that cannot work.

        The dataset name and its options are checked by ``load_dataset`` (DatasetError).
        """
        from optuna_isnas.spaces import SPACE_NAMES

        if self.space not in SPACE_NAMES:
            raise SearchError(
                f"unknown search space {self.space!r}; valid spaces: {', '.join(SPACE_NAMES)}"
            )
        if self.objective not in OBJECTIVES:
            raise SearchError(
                f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}"
            )
        if self.sampler not in SAMPLER_NAMES:
            raise SearchError(
                f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLER_NAMES)}"
            )
        if self.epsilons is not None and self.budgets is not None:
            raise SearchError("give either epsilons or budgets, not both")
        for name, lowest in (("epsilons", 0.0), ("budgets", None)):
            values = getattr(self, name)
            if values is None:
                continue
            if len(values) == 0 or not all(
                math.isfinite(v) and (v >= 0 if lowest == 0.0 else v > 0) for v in values
            ):
                bound = ">= 0" if lowest == 0.0 else "> 0"
                raise SearchError(
                    f"{name} must be one or more finite numbers {bound}, got {list(values)}"
                )
            if self.num_distributions is not None and self.num_distributions != len(values):
                raise SearchError(
                    f"num_distributions={self.num_distributions} disagrees with the {len(values)} {name} given"
                )
        for name in (
            "num_distributions",
            "threads",
            "max_steps_per_epoch",
            "train_subset",
            "val_subset",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SearchError(f"{name} must be at least 1, got {value}")
        for name in ("samples_per_distribution", "epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise SearchError(f"{name} must be at least 1, got {getattr(self, name)}")
        self.recipe.validate()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("epsilons", "budgets"):
            if data[name] is not None:
                data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def differences(self, other: "SearchConfig | dict[str, Any]") -> dict[str, tuple[Any, Any]]:
        """Settings (other than RUNTIME_FIELDS) whose values differ: name -> (self's, other's).

        Recipe settings are named ``recipe.<field>``.
        """
        other = other if isinstance(other, SearchConfig) else SearchConfig.from_dict(other)
        mine, theirs = _flatten(self), _flatten(other)
        return {
            key: (mine.get(key), theirs.get(key))
            for key in sorted(set(mine) | set(theirs))
            if key not in RUNTIME_FIELDS and mine.get(key) != theirs.get(key)
        }


def _flatten(config: SearchConfig) -> dict[str, Any]:
    data = config.to_dict()
    flat = {k: v for k, v in data.items() if k != "recipe"}
    flat["study_name"] = config.resolved_study_name
    flat.update({f"recipe.{k}": v for k, v in data["recipe"].items()})
    return flat
