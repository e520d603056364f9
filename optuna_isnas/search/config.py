"""``SearchConfig``: every setting of a one-shot search, declared once with its command-line flag.

It is the one source of truth for a search's settings: the ``search`` command builds its flags
from these declarations, ``compare`` holds one and varies it with ``dataclasses.replace``,
checkpoints record it (``to_dict`` / ``from_dict``), and :meth:`SearchConfig.result_settings` is
the one answer to "which settings change a result" (checkpoints and compare's records use it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any

from optuna_isnas.errors import SettingsError
from optuna_isnas.flags import ParseError, flag, integer, key_value, number, numbers, setting, sizes
from optuna_isnas.sampler import DEFAULT_FAMILY, FAMILIES
from optuna_isnas.search.errors import SearchError
from optuna_isnas.training.recipe import TrainingRecipe

if TYPE_CHECKING:
    from optuna_isnas.data import DatasetSpec


class Objective(StrEnum):
    """What a search tells as its first value: accuracy (maximised) or the validation
    cross-entropy (minimised)."""

    ACCURACY = "accuracy"
    LOSS = "loss"

    @property
    def maximized(self) -> bool:
        return self is Objective.ACCURACY


class WeightGradient(StrEnum):
    """How a weight's gradient is averaged (``search.weights``): over the trained architectures
    that used it (``PATH``), or over every trained architecture (``MEAN``)."""

    PATH = "path"
    MEAN = "mean"


class TrainArchs(StrEnum):
    """``train_archs``'s rules besides a count (``search.weights``): a quarter of the generation,
    rounded up and at least 2 (``AUTO``), or every asked architecture (``ALL``)."""

    AUTO = "auto"
    ALL = "all"


SANDWICH_WORDS = {"space": True, "none": False}
"""``--sandwich``'s words: ``space`` also trains the space's largest and smallest child every step."""


def _sandwich(word: str) -> bool:
    return SANDWICH_WORDS[word]


RUNTIME_FIELDS = frozenset(
    {
        "data_root",
        "threads",
        "storage",
        "out",
        "progress",
        "data_loading",
        "loader_workers",
        "collective_timeout",
    }
)
"""Where things are, how they are read and shown: settings that do not change what a search computes."""

DATA_LOADING = ("auto", "memory", "stream")
"""How a search reads its data (``optuna_isnas.data.streaming``): both ways give the same minibatches."""

SAMPLER_NAMES = ("isnas", "nsgaii", "tpe", "random")
"""Names of the samplers a search builds itself (``SearchConfig.sampler``;
``search.samplers.make_sampler`` builds them)."""

RESERVED_OPTIONS = frozenset(
    {
        "epsilons",
        "complexity_budgets",
        "complexity_fn",
        "family",
        "samples_per_distribution",
        "seed",
    }
)
"""ISNASSampler's arguments that the search sets from its own settings, never from
``sampler_options``."""

SEARCH_SAMPLES_PER_DISTRIBUTION = 2
"""lambda of a one-shot search (``--lambda``), the one setting whose default differs from
``ISNASSampler``'s (4; every other default is the sampler's, tests/test_search_config.py). In the
loop lambda is every method's unit of compute: a step asks and scores K x lambda architectures,
NSGA-II's population is K x lambda, and an epoch's compute grows with it. Measured, lambda = 4
there did not close the gap to NSGA-II and TPE, which gain as much from the doubled compute
(docs/benchmarks.md, "Ablation, lambda = 4 in the loop"); 2 also keeps the K separate single-eps
ASNG searches (ASNG-NAS's lambda = 2) IS-NAS's exact baseline. For the sampler alone 4 is better
than 2 (docs/benchmarks.md, "lambda, re-measured")."""

MOVABLE_FIELDS = frozenset({"device"})
"""Settings that change the arithmetic but may change between a search and its resumption
(moving a CPU checkpoint to a GPU is allowed; bitwise equality is not promised then)."""


def _dataset_help() -> str:
    try:
        from optuna_isnas.data import DATASET_NAMES
    except ImportError:  # the base install's --help: the names live with PyTorch
        return "dataset name (docs/datasets.md)"
    return f"dataset: {', '.join(DATASET_NAMES)} (docs/datasets.md)"


def _space_help() -> str:
    try:
        from optuna_isnas.spaces import SPACE_NAMES
    except ImportError:  # the base install's --help
        return "search space name (docs/spaces.md)"
    return f"search space: {', '.join(SPACE_NAMES)} (docs/spaces.md)"


def _default_epsilons() -> str:
    return "none: the family of --family (docs/algorithm.md)"


def _train_archs(text: str) -> int | TrainArchs:
    """``--train-archs``: ``auto``, ``all`` or a whole number."""
    word = text.strip().lower()
    if word in tuple(TrainArchs):
        return TrainArchs(word)
    try:
        return int(word)
    except ValueError:
        raise ParseError("is not allowed: give auto, all or a whole number of at least 1") from None


def _default_k() -> str:
    from optuna_isnas.sampler import DEFAULT_N_DISTRIBUTIONS

    return str(DEFAULT_N_DISTRIBUTIONS)


@dataclass
class SearchConfig:
    """What to search and how; everything a checkpoint must agree on to be resumed.

    Attributes:
        dataset: Dataset name (``optuna_isnas.data.DATASET_NAMES``).
        data_root: Directory of the dataset's files, where the dataset needs one.
        space: Search-space name (``optuna_isnas.spaces.SPACE_NAMES``).
        space_options: Extra keyword arguments of ``get_space`` (for example ``width``).
        epsilons: ISNASSampler's tradeoff coefficients, one per distribution (K = their number).
        budgets: Instead of ``epsilons``: one complexity budget (parameters) per distribution; the
            sampler adapts each tradeoff so that architecture k fits budget k.
        num_distributions: K when neither ``epsilons`` nor ``budgets`` is given (the family of
            ``family``).
        family: How K distributions spread when neither ``epsilons`` nor ``budgets`` is given:
            ``"hypervolume"`` (ISNASSampler's default: the K evaluated architectures of largest
            hypervolume, docs/algorithm.md) or ``"size-classes"``.
        samples_per_distribution: lambda, architectures each distribution draws per generation.
        train_archs: Sampled architectures each weight step trains, of the ``K * lambda`` it
            evaluates: ``"auto"`` (a quarter of them, rounded up, at least 2), ``"all"``, or a
            number (a seeded uniform subset; ``search.weights``).
        sandwich: Every weight step also trains the space's largest and smallest child (the
            sandwich rule of BigNAS; ``--sandwich space``, or ``none`` for False; those words
            are taken here too).
        weight_gradient: ``WeightGradient.PATH`` (``"path"``): each weight's gradient is divided
            by the number of trained architectures that used it; ``MEAN`` (``"mean"``): every
            gradient by the number of trained architectures (the average loss).
        epochs: Compute budget, in passes over the training split of a step that trains every
            architecture it evaluates. A step that trains fewer is cheaper (``2 T + G`` supernet
            passes for T trained and G evaluated, against ``3 G``), so an epoch then has that many
            more steps (``search.weights.compute_ratio``) and the data is passed over more often.
        batch_size: Minibatch size, for training and for the validation minibatch of each step.
        eval_batch_size: Batch size of the final evaluation on the whole validation split.
        rescore: At the end of a search with a family sampler (ISNASSampler), each distribution's
            ``rescore`` best evaluated architectures and its most likely one are scored on the
            whole validation split with the final shared weights, and the family is chosen from
            those scores (docs/search.md, "What a search returns"). Other samplers' Pareto sets
            are rescored the same way.
        widest_family: The largest size class may take a model of any size, and with the
            sandwich the space's largest and smallest child join every sampler's rescored
            candidates, so the family starts at the most accurate model (docs/algorithm.md).
            ``compare`` turns it off: it scores what each sampler found.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"`` / ``"cuda:N"``.
        data_loading: ``"memory"``, ``"stream"`` or ``"auto"`` (``optuna_isnas.data.streaming``):
            the splits as tensors on the device, or read by ``DataLoader`` workers; the same
            minibatches either way.
        loader_workers: ``DataLoader`` workers per minibatch source when streaming; None: the
            process's CPUs shared by the processes of the machine and the two sources, at most 8.
        collective_timeout: Under ``torchrun``: seconds any exchange between the processes may
            wait before the search stops with an error.
        threads: CPU threads for torch during the search (``torch.set_num_threads``, restored
            afterwards). None: 1 for images of at most 16 pixels on the CPU (their operations are too
            small to gain from threads, and threads that spin on a busy CPU slow a step down 10-50x,
            measured), torch's default otherwise.
        storage: Optuna storage URL; ``None`` means a journal file ``search.journal`` in ``out``.
        study_name: Name of the search study; ``None`` means ``"<dataset>-<space>"``.
        seed: Seed of weights, data order, augmentation and the sampler.
        out: Output directory (checkpoint, architectures.json, pareto.html, default storage).
        objective: ``Objective.ACCURACY`` (maximised) or ``LOSS`` (validation cross-entropy,
            minimised; their names as text are taken too),
            told as the first value; the number of parameters is always the second (minimised).
        sampler: ``"isnas"``, ``"nsgaii"``, ``"tpe"`` or ``"random"`` when no sampler object is
            given (``optuna_isnas.search.config.SAMPLER_NAMES``).
        sampler_options: Extra keyword arguments of that sampler's constructor (JSON-able), e.g.
            ``{"init_delta": 0.5}`` for ISNASSampler; the search sets the tradeoffs, lambda and
            the seed itself.
        progress: Show a progress bar.
        max_steps_per_epoch: Cap on steps per epoch (quick runs, tests).
        downsample: Average-pool images to this side length (e.g. 14 for Fashion-MNIST 14x14);
            it must divide the dataset's native size (docs/datasets.md).
        train_subset: Use a seeded stratified subset of at most N training examples.
        val_subset: The same for the validation split.
        recipe: The training recipe; None means ``TrainingRecipe.for_dataset(dataset)``.
    """

    dataset: str = setting(flag("--dataset", help=_dataset_help), default="digits")
    data_root: str | None = setting(
        flag(
            "--data-root", help="directory of the dataset's files (not for digits)", metavar="DIR"
        ),
        default=None,
    )
    space: str = setting(flag("--space", help=_space_help), default="chain")
    space_options: dict[str, Any] = setting(
        flag(
            "--space-option",
            help="extra argument of the search space, KEY=VALUE (repeatable), e.g. width=8",
            parse=key_value,
            metavar="KEY=VALUE",
            repeat=True,
        ),
        flag(
            "--width",
            help="channels of the space's first stage (space option width)",
            parse=integer,
            key="width",
            metavar="N",
        ),
        default_factory=dict,
    )
    epsilons: tuple[float, ...] | None = setting(
        flag(
            "--epsilons",
            help='comma-separated tradeoffs, one per distribution, e.g. "0,0.5,1" (K = their number)',
            parse=numbers,
            metavar="LIST",
            group="tradeoff",
            default_text=_default_epsilons,
        ),
        default=None,
    )
    budgets: tuple[float, ...] | None = setting(
        flag(
            "--budgets",
            help='comma-separated parameter budgets instead of epsilons, K/M/G suffixes allowed, e.g. "20K,50K,0.1M"',
            parse=sizes,
            metavar="LIST",
            group="tradeoff",
        ),
        default=None,
    )
    num_distributions: int | None = setting(
        flag(
            "-K",
            "--num-distributions",
            help="K, the number of models in the family, when no epsilons or budgets are given",
            parse=integer,
            metavar="K",
            default_text=_default_k,
        ),
        default=None,
    )
    family: str = setting(
        flag(
            "--family",
            help="the family when no epsilons or budgets are given: the K evaluated models of "
            "largest hypervolume, or K size classes",
            choices=FAMILIES,
        ),
        default=DEFAULT_FAMILY,
    )
    samples_per_distribution: int = setting(
        flag(
            "--lambda",
            help="samples per distribution and step; a step asks K x lambda trials",
            parse=integer,
            metavar="N",
        ),
        default=SEARCH_SAMPLES_PER_DISTRIBUTION,
    )
    train_archs: int | TrainArchs = setting(
        flag(
            "--train-archs",
            help="sampled architectures each weight step trains, of the K x lambda it evaluates: "
            "auto (a quarter, at least 2), all, or N",
            parse=_train_archs,
            metavar="N|auto|all",
        ),
        default=TrainArchs.AUTO,
    )
    sandwich: bool = setting(
        flag(
            "--sandwich",
            help="space: every weight step also trains the space's largest and smallest child "
            "(BigNAS's sandwich rule); none",
            choices=tuple(SANDWICH_WORDS),
            parse=_sandwich,
            default_text="space",
        ),
        default=True,
    )
    weight_gradient: WeightGradient = setting(
        flag(
            "--weight-gradient",
            help="path: each weight's gradient divided by the trained architectures that used "
            "it; mean: by all trained architectures",
            choices=tuple(WeightGradient),
        ),
        default=WeightGradient.PATH,
    )
    epochs: int = setting(
        flag(
            "--epochs",
            help="compute budget, in passes over the training split of a step that trains every "
            "architecture it evaluates (a cheaper step makes an epoch longer)",
            parse=integer,
            metavar="N",
        ),
        default=15,
    )
    batch_size: int = setting(
        flag(
            "--batch-size",
            help="training and validation minibatch size",
            parse=integer,
            metavar="N",
        ),
        default=64,
    )
    eval_batch_size: int = setting(
        flag(
            "--eval-batch-size",
            help="batch size of the scoring on the whole validation split",
            parse=integer,
            metavar="N",
        ),
        default=256,
    )
    rescore: int = setting(
        flag(
            "--rescore",
            help="at the end, each distribution's N best evaluated architectures (and its mode) "
            "are scored on the whole validation split with the final weights, and the family "
            "is chosen from those scores",
            parse=integer,
            metavar="N",
        ),
        default=4,
    )
    widest_family: bool = setting(
        flag(
            "--no-widest-family",
            help="choose the family among what the sampler evaluated only: without the space's "
            "largest and smallest child, and with a budget for the largest size class",
            switch=True,
            value=False,
        ),
        default=True,
    )
    device: str = setting(
        flag("--device", help="auto (CUDA when present), cpu, cuda or cuda:N"), default="auto"
    )
    threads: int | None = setting(
        flag(
            "--threads",
            help="CPU threads for torch",
            parse=integer,
            metavar="N",
            default_text="1 for images up to 16 px on the CPU, else torch's choice",
        ),
        default=None,
    )
    data_loading: str = setting(
        flag(
            "--data-loading",
            help="memory: the splits as tensors on the device; stream: DataLoader workers read "
            "the examples (for datasets too large for memory); auto: stream when the tensors "
            "would need over a quarter of the machine's or the GPU's memory. Both give the same "
            "minibatches",
            choices=DATA_LOADING,
        ),
        default="auto",
    )
    loader_workers: int | None = setting(
        flag(
            "--loader-workers",
            help="DataLoader worker processes per minibatch source when streaming",
            parse=integer,
            metavar="N",
            default_text="the process's CPUs / (2 x processes per machine), at most 8",
        ),
        default=None,
    )
    collective_timeout: float = setting(
        flag(
            "--collective-timeout",
            help="under torchrun: seconds a process waits for the others in any exchange before "
            "it stops with an error",
            parse=number,
            metavar="S",
        ),
        default=1800.0,
    )
    storage: str | None = setting(
        flag(
            "--storage",
            help="Optuna storage URL or journal file",
            metavar="URL",
            default_text="OUT/search.journal",
        ),
        default=None,
    )
    study_name: str | None = setting(
        flag(
            "--study-name",
            help="search study name; the summary study is NAME-summary",
            metavar="NAME",
            default_text="DATASET-SPACE",
        ),
        default=None,
    )
    seed: int = setting(
        flag(
            "--seed",
            help="seed of weights, data split and order, augmentation and sampler",
            parse=integer,
        ),
        default=0,
    )
    out: str = setting(flag("--out", help="output directory", metavar="DIR"), default="runs/search")
    objective: Objective = setting(
        flag(
            "--objective",
            help="first value told to the sampler: accuracy (maximised) or loss (validation "
            "cross-entropy, minimised)",
            choices=tuple(Objective),
        ),
        default=Objective.ACCURACY,
    )
    sampler: str = setting(
        flag(
            "--sampler",
            help="isnas returns K architectures, the others their Pareto set",
            choices=SAMPLER_NAMES,
        ),
        default="isnas",
    )
    sampler_options: dict[str, Any] = setting(
        flag(
            "--sampler-option",
            help="extra argument of the sampler's constructor, KEY=VALUE (repeatable), e.g. "
            "init_delta=0.5",
            parse=key_value,
            metavar="KEY=VALUE",
            repeat=True,
        ),
        default_factory=dict,
    )
    progress: bool = setting(
        flag("--no-progress", help="no progress bar", switch=True, value=False), default=True
    )
    max_steps_per_epoch: int | None = setting(
        flag(
            "--max-steps-per-epoch",
            help="cap on steps per epoch (quick runs)",
            parse=integer,
            metavar="N",
        ),
        default=None,
    )
    downsample: int | None = setting(
        flag(
            "--downsample",
            help="average-pool images to this side, e.g. 14 for Fashion-MNIST 14x14",
            parse=integer,
            metavar="N",
        ),
        default=None,
    )
    train_subset: int | None = setting(
        flag(
            "--train-subset",
            help="use at most N training examples (quick runs)",
            parse=integer,
            metavar="N",
        ),
        default=None,
    )
    val_subset: int | None = setting(
        flag(
            "--val-subset",
            help="use at most N validation examples (quick runs)",
            parse=integer,
            metavar="N",
        ),
        default=None,
    )
    recipe: TrainingRecipe | None = setting(
        no_flag="its settings have their own flags (TrainingRecipe)", default=None
    )

    def __post_init__(self) -> None:
        # the switches' names as text (a flag's, a JSON file's) become their enums; a name that
        # is none of them is left for validate() to report
        if self.objective in tuple(Objective):
            self.objective = Objective(self.objective)
        if self.weight_gradient in tuple(WeightGradient):
            self.weight_gradient = WeightGradient(self.weight_gradient)
        if self.train_archs in tuple(TrainArchs):
            self.train_archs = TrainArchs(self.train_archs)
        if isinstance(self.sandwich, str) and self.sandwich in SANDWICH_WORDS:
            self.sandwich = SANDWICH_WORDS[self.sandwich]
        if self.epsilons is not None:
            self.epsilons = tuple(float(e) for e in self.epsilons)
        if self.budgets is not None:
            self.budgets = tuple(float(b) for b in self.budgets)
        if self.recipe is None:
            self.recipe = TrainingRecipe.for_dataset(self.dataset)
        elif isinstance(self.recipe, dict):
            self.recipe = TrainingRecipe(**self.recipe)

    @classmethod
    def build(cls, **settings: Any) -> SearchConfig:
        """A config from settings of both ``SearchConfig`` and ``TrainingRecipe``, by name.

        Recipe settings (``lr=0.05``) override the dataset's default recipe; this is how the
        command lines apply ``--lr`` and the like.
        """
        recipe_names = {f.name for f in dataclasses.fields(TrainingRecipe)}
        overrides = {k: settings.pop(k) for k in list(settings) if k in recipe_names}
        if overrides:
            dataset = settings.get("dataset", cls.dataset)
            base = settings.pop("recipe", None) or TrainingRecipe.for_dataset(dataset)
            settings["recipe"] = dataclasses.replace(base, **overrides)
        return cls(**settings)

    @property
    def training(self) -> TrainingRecipe:
        """The recipe (never None after construction)."""
        assert self.recipe is not None
        return self.recipe

    def dataset_spec(self, seed: int | None = None) -> DatasetSpec:
        """The search's dataset (with another ``seed`` where given: a comparison's first)."""
        from optuna_isnas.data import DatasetSpec

        return DatasetSpec(
            self.dataset,
            root=self.data_root,
            seed=self.seed if seed is None else seed,
            downsample=self.downsample,
            max_train_samples=self.train_subset,
            max_eval_samples=self.val_subset,
        )

    @property
    def resolved_study_name(self) -> str:
        return self.study_name or f"{self.dataset}-{self.space}"

    def validate(self) -> None:
        """Raise SearchError naming the first setting that cannot work.

        The dataset name and its options are checked by ``load_dataset`` (DatasetError).
        """
        from optuna_isnas.spaces import SPACE_NAMES, SpaceError, check_space_options

        if self.space not in SPACE_NAMES:
            raise SearchError(
                f"unknown search space {self.space!r}; valid spaces: {', '.join(SPACE_NAMES)}"
            )
        try:
            check_space_options(self.space, self.space_options)
        except SpaceError as exc:
            raise SearchError(str(exc)) from None
        _check_choice("objective", self.objective, tuple(Objective))
        _check_choice("sampler", self.sampler, SAMPLER_NAMES)
        reserved = sorted(RESERVED_OPTIONS & set(self.sampler_options))
        if reserved:
            raise SearchError(
                f"sampler options may not set {reserved}: the search sets them from its own "
                "settings (epsilons, budgets, samples_per_distribution, seed)"
            )
        if self.epsilons is not None and self.budgets is not None:
            raise SearchError("give either epsilons or budgets, not both")
        _check_choice("family", self.family, FAMILIES)
        if self.family != DEFAULT_FAMILY and (
            self.epsilons is not None or self.budgets is not None
        ):
            raise SearchError(
                f"family={self.family!r} applies when no epsilons or budgets are given; "
                "drop one of them"
            )
        for name, positive in (("epsilons", False), ("budgets", True)):
            values = getattr(self, name)
            if values is None:
                continue
            if len(values) == 0 or not all(
                math.isfinite(v) and (v > 0 if positive else v >= 0) for v in values
            ):
                bound = "> 0" if positive else ">= 0"
                raise SearchError(
                    f"{name} must be one or more finite numbers {bound}, got {list(values)}"
                )
            if name == "epsilons" and list(values) != sorted(values):
                raise SearchError(
                    f"epsilons must be in increasing order, smallest first (distribution k has "
                    f"the k-th smallest trade-off, so the family runs from the largest model to "
                    f"the smallest); got {_listed(values)}: give {_listed(sorted(values))}"
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
        if self.rescore < 0:
            raise SearchError(f"rescore must be 0 or more, got {self.rescore}")
        _check_choice("data loading", self.data_loading, DATA_LOADING)
        if self.loader_workers is not None and self.loader_workers < 0:
            raise SearchError(f"loader_workers must be at least 0, got {self.loader_workers}")
        if not (math.isfinite(self.collective_timeout) and self.collective_timeout > 0):
            raise SearchError(
                f"collective_timeout must be a positive number of seconds, got {self.collective_timeout}"
            )
        if not (isinstance(self.train_archs, TrainArchs) or _whole(self.train_archs, 1)):
            raise SearchError(
                f"train_archs must be 'auto', 'all' or a whole number of at least 1, got "
                f"{self.train_archs!r}"
            )
        if not isinstance(self.sandwich, bool):
            raise SearchError(f"sandwich must be True or False, got {self.sandwich!r}")
        _check_choice("weight_gradient", self.weight_gradient, tuple(WeightGradient))
        for name in ("samples_per_distribution", "epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise SearchError(f"{name} must be at least 1, got {getattr(self, name)}")
        try:
            self.training.validate()
        except SettingsError as exc:
            raise SearchError(str(exc)) from None

    # ------------------------------------------------------------------------ JSON and results
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("epsilons", "budgets"):
            if data[name] is not None:
                data[name] = list(data[name])
        # plain values: a checkpoint is read back with torch.load(weights_only=True)
        return {k: v.value if isinstance(v, Enum) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """The inverse of :meth:`to_dict`; settings it does not know are ignored, and settings
        missing from ``data`` (written before they existed) take their defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def result_settings(self) -> dict[str, Any]:
        """The settings that change what the search computes, flat and JSON-able.

        Everything but :data:`RUNTIME_FIELDS`; the study name resolved; recipe settings as
        ``recipe.<name>``. Resumed searches (:meth:`differences`) and compare's reuse of finished
        searches both ask this one function.
        """
        data = self.to_dict()
        flat = {k: v for k, v in data.items() if k != "recipe" and k not in RUNTIME_FIELDS}
        flat["study_name"] = self.resolved_study_name
        flat.update({f"recipe.{k}": v for k, v in data["recipe"].items()})
        return flat

    def differences(self, other: SearchConfig | dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Result settings (:meth:`result_settings`, but for :data:`MOVABLE_FIELDS`) whose values
        differ: name -> (self's, other's)."""
        other = other if isinstance(other, SearchConfig) else SearchConfig.from_dict(other)
        mine, theirs = self.result_settings(), other.result_settings()
        return {
            key: (mine.get(key), theirs.get(key))
            for key in sorted(set(mine) | set(theirs))
            if key not in MOVABLE_FIELDS and mine.get(key) != theirs.get(key)
        }


def _check_choice(label: str, value: object, choices: Sequence[str]) -> None:
    """SearchError ``unknown LABEL 'VALUE'; choose one of ...`` unless ``value`` is a choice."""
    if value not in choices:
        raise SearchError(f"unknown {label} {value!r}; choose one of {', '.join(choices)}")


def _listed(values: Sequence[float]) -> str:
    """``(3.0, 1.0, 0.5)`` -> ``"3,1,0.5"``, as the flags take them."""
    return ",".join(f"{v:g}" for v in values)


def _whole(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
