"""Settings of a comparison: one search configuration, several methods, seeds and budgets.

A comparison holds one :class:`~optuna_isnas.search.SearchConfig`, the *unit search*: an IS-NAS
search of ``search.epochs`` epochs with ``K * lambda`` architectures per step. Every job of the
comparison is that search varied with ``dataclasses.replace`` (:meth:`CompareConfig.job_config`):
another sampler, seed, number of epochs (the compute budget) or single epsilon. "Equal compute"
means the same number of supernet forward and backward passes (the runner counts them and checks).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optuna_isnas.compare.records import Job
from optuna_isnas.errors import SettingsError
from optuna_isnas.flags import ParseError, flag, integer, integers, names, number, numbers, setting
from optuna_isnas.sampler import DEFAULT_EPSILONS
from optuna_isnas.search.config import SAMPLER_NAMES, SearchConfig
from optuna_isnas.search.samplers import num_distributions

METHODS: tuple[str, ...] = ("isnas", "separate", *(n for n in SAMPLER_NAMES if n != "isnas"))
"""IS-NAS, K separate single-eps IS-NAS searches, and every other sampler a search builds."""

FAMILY_METHODS = ("isnas", "separate")
"""Methods whose searches run ISNASSampler (and get the search's sampler options)."""

ISNAS_FAMILIES = ("hypervolume", "size-classes", "epsilons")
"""How the IS-NAS search of a comparison sets its K distributions: the search's default family
(the K evaluated models of largest hypervolume), K size classes, or the unit search's K epsilons
(the separate searches take one each)."""

RETRAIN_SEEDS = 3
"""Score (b) retrains the families of the first this many seeds unless ``retrain_seeds`` is given."""

COMPARE_SEARCH_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "objective": "loss",
    "device": "cpu",
    "threads": 1,
    "epsilons": DEFAULT_EPSILONS,
    "progress": False,
}
"""Where the unit search of a comparison differs from a search's defaults."""

JOB_SETTINGS = (
    "sampler",
    "seed",
    "out",
    "storage",
    "study_name",
    "progress",
    "budgets",
    "num_distributions",
    "family",
)
"""Search settings each job sets itself (no comparison flag; compare's own --family chooses)."""


class CompareError(SettingsError):
    """A comparison setting that cannot work; the message names it and what is allowed."""


def default_search() -> SearchConfig:
    """The unit search with the comparison's defaults."""
    return SearchConfig(**COMPARE_SEARCH_DEFAULTS)


def seeds(text: str) -> tuple[int, ...]:
    """``"5"`` alone means seeds 0..4; a list (``"0,3,7"``) is taken as given."""
    values = integers(text)
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise ParseError("is not allowed: give a positive count or a list such as 0,1,2")
        return tuple(range(values[0]))
    return values


@dataclass
class CompareConfig:
    """What to compare and how.

    Attributes:
        search: The unit search (dataset, space, epsilons, lambda, epochs, recipe, device, ...);
            each job varies it. ``CompareConfig.build(dataset=..., epochs=..., seeds=...)`` takes
            its settings by name with the comparison's defaults (:data:`COMPARE_SEARCH_DEFAULTS`).
        seeds: Seeds; each method runs once per seed (the separate searches K times).
        methods: Which of ``METHODS`` to run.
        isnas_multipliers: Compute budgets of IS-NAS, as multiples of the unit (e.g. 0.5, 1).
        separate_multipliers: Total compute of the K separate searches together, as multiples
            of the unit (1 means each of the K searches runs ``epochs`` epochs with lambda
            architectures per step, so the K together cost one IS-NAS search).
        baseline_multiplier: Compute of NSGA-II, TPE and random (default 1: equal to IS-NAS).
        trace_points: Times per search the returned set is scored on the whole validation split
            (for the hypervolume-against-compute curves); the last is the search's end.
        prob_points: Times per search the distributions' probabilities are recorded.
        reference_error: Reference point's error (default 1.0: 100 %).
        reference_params: Reference point's parameters; None means 1.1 times the largest child.
        retrain_epochs: Epochs to retrain each returned family from scratch and score it on the
            test split, score (b) (default 10; 0: no retraining).
        retrain_seeds: Seeds whose families are retrained (None: the first three, or all if fewer).
        family: How IS-NAS sets its K distributions: ``"hypervolume"`` (the search's default:
            the K evaluated models of largest hypervolume), ``"size-classes"`` (budgets placed
            from the sizes it observes) or ``"epsilons"`` (the unit search's K epsilons, as the
            separate searches). K = the number of epsilons.
        workers: Searches run in parallel (processes).
        out: Output directory.
        png: Also write PNG figures (needs a headless Chromium; skipped with a note otherwise).
        dashboard: Attach the figures to the first seed's IS-NAS study for optuna-dashboard.
        progress: Print one line per finished search.
        resume: Reuse the finished searches found in ``out`` (same settings) instead of rerunning them.
    """

    search: SearchConfig = setting(
        default_factory=default_search,
        no_flag="its settings have their own flags (SearchConfig, TrainingRecipe)",
    )
    seeds: tuple[int, ...] = setting(
        flag("--seeds", help="a count (5 = seeds 0..4) or a list 0,3,7", parse=seeds),
        default=(0, 1, 2, 3, 4),
    )
    methods: tuple[str, ...] = setting(
        flag("--methods", help=f"comma-separated, from {','.join(METHODS)}", parse=names),
        default=METHODS,
    )
    isnas_multipliers: tuple[float, ...] = setting(
        flag("--isnas-budgets", help="IS-NAS compute as multiples of the unit", parse=numbers),
        default=(1.0,),
    )
    separate_multipliers: tuple[float, ...] = setting(
        flag(
            "--separate-budgets",
            help="total compute of the K separate searches, multiples of the unit",
            parse=numbers,
        ),
        default=(1.0, 2.0),
    )
    baseline_multiplier: float = setting(
        flag("--baseline-budget", help="compute of NSGA-II, TPE and random", parse=number),
        default=1.0,
    )
    trace_points: int = setting(
        flag("--trace-points", help="hypervolume-vs-compute points per search", parse=integer),
        default=6,
    )
    prob_points: int = setting(
        flag("--prob-points", help="probability records per search", parse=integer), default=60
    )
    reference_error: float = setting(
        flag("--reference-error", help="reference point's error", parse=number), default=1.0
    )
    reference_params: float | None = setting(
        flag(
            "--reference-params",
            help="reference point's parameters",
            parse=number,
            default_text="1.1 x the largest child",
        ),
        default=None,
    )
    retrain_epochs: int = setting(
        flag(
            "--retrain-epochs",
            help="epochs to retrain each returned family from scratch for score (b) (0: no)",
            parse=integer,
        ),
        default=10,
    )
    retrain_seeds: tuple[int, ...] | None = setting(
        flag(
            "--retrain-seeds",
            help="seeds to retrain",
            parse=integers,
            default_text=f"the first {RETRAIN_SEEDS}",
        ),
        default=None,
    )
    family: str = setting(
        flag(
            "--family",
            help="how IS-NAS sets its K distributions: the search's default (the K models of "
            "largest hypervolume), K size classes, or the K epsilons (as the separate searches)",
            choices=ISNAS_FAMILIES,
        ),
        default="hypervolume",
    )
    workers: int = setting(
        flag("--workers", help="searches in parallel (processes)", parse=integer), default=1
    )
    out: str = setting(
        flag("--out", help="output directory", metavar="DIR"), default="runs/compare"
    )
    png: bool = setting(
        flag("--no-png", help="HTML figures only", switch=True, value=False), default=True
    )
    dashboard: bool = setting(
        flag("--no-dashboard", help="do not write the dashboard study", switch=True, value=False),
        default=True,
    )
    progress: bool = setting(
        flag("--quiet", help="no progress lines", switch=True, value=False), default=True
    )
    resume: bool = setting(
        flag("--resume", help="reuse finished searches found in OUT (same settings)", switch=True),
        default=False,
    )

    def __post_init__(self) -> None:
        if isinstance(self.search, dict):
            self.search = SearchConfig.from_dict(self.search)
        for name in ("isnas_multipliers", "separate_multipliers"):
            setattr(self, name, tuple(float(v) for v in getattr(self, name)))
        self.seeds = tuple(int(s) for s in self.seeds)
        self.methods = tuple(str(m).strip().lower() for m in self.methods)
        if self.retrain_seeds is not None:
            self.retrain_seeds = tuple(int(s) for s in self.retrain_seeds)

    @classmethod
    def build(cls, **settings: Any) -> CompareConfig:
        """A comparison from its own settings and the unit search's, all by name.

        Settings of ``SearchConfig`` and ``TrainingRecipe`` (``dataset``, ``epochs``, ``lr``, ...)
        go to the unit search, on top of :data:`COMPARE_SEARCH_DEFAULTS`.
        """
        own = {f.name for f in dataclasses.fields(cls)}
        search = {k: settings.pop(k) for k in list(settings) if k not in own}
        if search:
            if "search" in settings:
                raise TypeError("give either search=SearchConfig(...) or its settings, not both")
            settings["search"] = SearchConfig.build(**{**COMPARE_SEARCH_DEFAULTS, **search})
        return cls(**settings)

    @property
    def epsilons(self) -> tuple[float, ...]:
        """IS-NAS's tradeoffs (the separate searches use one each): those given, else
        :func:`default_epsilons` of K."""
        return self.search.epsilons or default_epsilons(num_distributions(self.search))

    @property
    def k(self) -> int:
        return len(self.epsilons)

    @property
    def chosen_retrain_seeds(self) -> tuple[int, ...]:
        return self.retrain_seeds if self.retrain_seeds is not None else self.seeds[:RETRAIN_SEEDS]

    def validate(self) -> None:
        """Raise CompareError naming the first setting that cannot work."""
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise CompareError(
                f"unknown method(s) {unknown or '(none given)'}; choose from {', '.join(METHODS)}"
            )
        if len(set(self.methods)) != len(self.methods):
            raise CompareError(f"methods repeat: {list(self.methods)}")
        if self.family not in ISNAS_FAMILIES:
            raise CompareError(
                f"unknown IS-NAS family {self.family!r}; choose one of {', '.join(ISNAS_FAMILIES)}"
            )
        if self.search.budgets is not None:
            raise CompareError("a comparison runs IS-NAS with epsilons; give epsilons, not budgets")
        try:
            self.search.validate()
        except SettingsError as exc:
            raise CompareError(str(exc)) from None
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise CompareError(
                f"seeds must be one or more distinct integers, got {list(self.seeds)}"
            )
        for name in ("trace_points", "prob_points", "workers"):
            if getattr(self, name) < 1:
                raise CompareError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.retrain_epochs < 0:
            raise CompareError(
                f"retrain_epochs must be 0 (no retraining) or more, got {self.retrain_epochs}"
            )
        if self.search.downsample is not None and self.search.downsample < 1:
            raise CompareError(f"downsample must be at least 1, got {self.search.downsample}")
        if not (self.reference_error > 0 and math.isfinite(self.reference_error)):
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
        epochs = self.search.epochs * multiplier
        if not (multiplier > 0 and abs(epochs - round(epochs)) < 1e-9 and round(epochs) >= 1):
            raise CompareError(
                f"{name} {multiplier:g} times {self.search.epochs} epochs is {epochs:g}: give "
                "multipliers that make a whole number of epochs (at least 1)"
            )
        return round(epochs)

    def job_config(self, job: Job) -> SearchConfig:
        """The unit search varied for ``job``: its sampler, seed, epochs, epsilons, names."""
        family = job.method in FAMILY_METHODS
        epsilons: tuple[float, ...] | None = (
            self.epsilons if job.k is None else (self.epsilons[job.k],)
        )
        own_family = job.method == "isnas" and self.family != "epsilons"
        if own_family:
            epsilons = None
        return dataclasses.replace(
            self.search,
            epsilons=epsilons if family else self.epsilons,
            budgets=None,
            num_distributions=self.k if own_family else None,
            family=self.family if own_family else self.search.family,
            epochs=self.epochs_for(job.multiplier),
            seed=job.seed,
            out=str(Path(self.out) / "runs" / job.label),
            study_name=f"{self.search.dataset}-{self.search.space}-{job.label}",
            storage=None,
            progress=False,
            sampler="isnas" if family else job.method,
            sampler_options=dict(self.search.sampler_options) if family else {},
            space_options=dict(self.search.space_options),
            recipe=dataclasses.replace(self.search.training),
            # Score what each sampler found: the space's largest and smallest child would join
            # every method's candidates alike and hide the differences being measured.
            widest_family=False,
        )

    def fingerprint(self, job: Job) -> dict[str, Any]:
        """What ``job``'s record depends on: its search's result settings and the recording's.

        A resumed comparison reuses a finished search only if these agree.
        """
        return {
            "search": self.job_config(job).result_settings(),
            "trace_points": self.trace_points,
            "prob_points": self.prob_points,
        }

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["search"] = self.search.to_dict()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def default_epsilons(k: int) -> tuple[float, ...]:
    """The K trade-offs of the paper's fixed-eps baseline that compare runs: 0 ("accuracy only"), then geometric between ISNASSampler's smallest and largest
    positive defaults (for the default K this is ``DEFAULT_EPSILONS`` itself)."""
    if k == len(DEFAULT_EPSILONS):
        return tuple(DEFAULT_EPSILONS)
    positive = [e for e in DEFAULT_EPSILONS if e > 0]
    low, high = min(positive), max(positive)
    if k == 1:
        return (0.0,)
    if k == 2:
        return (0.0, round(float(np.sqrt(low * high)), 3))
    return (0.0, *(round(float(e), 3) for e in np.geomspace(low, high, k - 1)))
