"""The sampler's state as it lives in the study's storage.

The state is a JSON string with the numpy core's complete state, the modelled search space,
the first trial number of the current generation and the numbers of earlier trials whose
fate was not known when their generation closed (``pending``: still running, or finished after
the close; docs/algorithm.md section 5). Everything else is derived from
trials, so any worker process, or a restarted one with a fresh sampler object, continues
the same search.

Optuna's storages write a study system attribute last-writer-wins, with no compare-and-swap
(RDBStorage updates the row, a journal replays its log in order). With a single attribute, a
worker that checked the state at generation g and wrote g + 1 after others had written g + 2
would roll the search back. So generation g's state goes to one of ``STATE_SLOTS`` study system
attributes, ``isnas:state:<g mod STATE_SLOTS>``, as ``{"generation": g, "state": <JSON>}``, and
a reader takes the slot with the highest generation. Workers that close the same generation
write identical states to the same slot, and a late writer of g + 1 lands in a slot that
holds g + 1 or an older generation, unless ``STATE_SLOTS`` generations closed during that one
write. A study whose state attributes hold anything else (the single ``isnas:state``
attribute of an unreleased development version, say) gets one ``ValueError`` that names it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.study import Study

from optuna_isnas.core import ISNAS
from optuna_isnas.sampler import _numeric, _storage

STATE_KEY = "isnas:state"
#: Number of state slots: a stale write can hide the newest state only if this many
#: generations closed while it was in flight.
STATE_SLOTS = 8
GENERATION_KEY = "isnas:generation"
DISTRIBUTION_KEY = "isnas:distribution"
CLOSED_KEY = "isnas:closed"
#: Trial attribute of a trial that re-evaluates a finalist: the number of the trial whose
#: architecture it repeats (``ISNASSampler(n_trials=...)``).
REEVALUATES_KEY = "isnas:reevaluates"
#: Trial attribute of a trial that evaluates one end of the space: "least" or "most" complex.
EXTREME_KEY = "isnas:extreme"
#: Trial attribute of a sample: the configurations its distribution drew before it that the
#: archive already held, with the archive's values (``sampler/_known.py``).
KNOWN_KEY = "isnas:known"


@dataclass
class SamplerState:
    """Decoded state: the core optimizer, the modelled parameters, the generation start and
    the pending trials (numbered below ``start``, not yet in the archive nor dropped).

    The modelled parameters are the categorical ones (the core's variables, ``names``) and the
    numeric ones (its Gaussians, ``numeric_names``). A study without categorical parameters
    gives the core one variable with a single choice, which no trial names.
    """

    core: ISNAS
    distributions: dict[str, BaseDistribution]
    start: int
    raw: str = ""
    pending: list[int] = field(default_factory=list)
    cdf: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    params_json: dict[str, str] = field(default_factory=dict)
    #: The space's ends (``core.extremes``): ``{"at": n, "x": [...], "z": [...], "refit": m}``:
    #: trials ``n`` and ``n + 1`` evaluate the least and the most complex configuration (none
    #: when ``n`` is -1), and the ends are fitted again once the study holds ``m`` evaluations
    #: (never again when -1: after ``core.extremes.LAST_FIT``); None before the first fit.
    extremes: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.refresh_cdf()
        # The modelled space never changes: serialise it once.
        self.params_json = {n: distribution_to_json(d) for n, d in self.distributions.items()}

    @cached_property
    def names(self) -> list[str]:
        """Modelled categorical parameter names, in the core's variable order (the modelled
        space never changes, so computed once)."""
        return [n for n, d in self.distributions.items() if isinstance(d, CategoricalDistribution)]

    @cached_property
    def numeric_names(self) -> list[str]:
        """Modelled numeric parameter names, in the core's Gaussian order."""
        return [n for n, d in self.distributions.items() if _numeric.is_numeric(d)]

    def numeric(self, name: str) -> _numeric.NumericDistribution:
        dist = self.distributions[name]
        assert _numeric.is_numeric(dist)
        return dist  # type: ignore[return-value]

    def numeric_params(self, z: NDArray[np.float64] | None) -> dict[str, int | float]:
        """Numeric parameters on the unit interval as name -> value (NaN ones left out)."""
        if z is None:
            return {}
        return {
            name: _numeric.from_unit(self.numeric(name), float(u))
            for name, u in zip(self.numeric_names, z)
            if not np.isnan(u)
        }

    def numeric_units(self, params: dict[str, Any]) -> NDArray[np.float64]:
        """The numeric parameters of ``params`` on the unit interval (NaN where absent)."""
        return np.array(
            [
                _numeric.to_unit(self.numeric(name), params[name]) if name in params else np.nan
                for name in self.numeric_names
            ],
            dtype=np.float64,
        )

    def refresh_cdf(self) -> None:
        """Cumulative probabilities ``(K, D, C_max)`` for fast inverse-CDF sampling."""
        cdf = np.cumsum(self.core.thetas, axis=2)
        cdf[:, :, -1] = 1.0
        self.cdf = cdf

    def params_of(
        self, row: NDArray[np.int64], z: NDArray[np.float64] | None = None
    ) -> dict[str, Any]:
        """Choice indices (one per categorical parameter) and numeric values on the unit
        interval as parameter name -> value; a parameter the evaluation did not use (index -1,
        NaN) is left out."""
        params: dict[str, Any] = {
            name: self.choice(name, int(i)) for name, i in zip(self.names, row) if i >= 0
        }
        params.update(self.numeric_params(z))
        return params

    def choice(self, name: str, index: int) -> CategoricalChoiceType:
        """External value of choice ``index`` of categorical parameter ``name``."""
        dist = self.distributions[name]
        assert isinstance(dist, CategoricalDistribution)
        return dist.choices[index]

    def encode(self) -> str:
        """JSON string stored under ``STATE_KEY``."""
        payload: dict[str, Any] = {
            "core": self.core.to_dict(),
            "params": self.params_json,
            "start": self.start,
            "pending": self.pending,
        }
        if self.extremes is not None:
            payload["extremes"] = self.extremes
        return json.dumps(payload, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> SamplerState:
        """Inverse of ``encode``; raises ValueError on a state this release can't read."""
        try:
            payload = json.loads(raw)
            core = ISNAS.from_dict(payload["core"])
            dists: dict[str, BaseDistribution] = {}
            for name, text in payload["params"].items():
                dist = json_to_distribution(text)
                if not (isinstance(dist, CategoricalDistribution) or _numeric.is_numeric(dist)):
                    raise ValueError(f"parameter {name!r} is neither categorical nor numeric")
                dists[name] = dist
            pending = [int(n) for n in payload["pending"]]
            return cls(
                core=core,
                distributions=dists,
                start=int(payload["start"]),
                raw=raw,
                pending=pending,
                extremes=_extremes(payload.get("extremes")),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"the study's {STATE_KEY!r} attribute is not an ISNASSampler state this "
                f"release can read ({exc}); use a new study or the release that wrote it."
            ) from exc


def _extremes(value: Any) -> dict[str, Any] | None:
    """A stored ``extremes`` record, checked (TypeError, KeyError for a malformed one)."""
    if value is None:
        return None
    x = [[int(v) for v in row] for row in value["x"]]
    z = [[float(v) for v in row] for row in value["z"]]
    if len(x) != len(z):
        raise TypeError("extremes: as many numeric rows as categorical ones")
    return {"at": int(value["at"]), "x": x, "z": z, "refit": int(value["refit"])}


def slot_key(generation: int) -> str:
    """The study system attribute that holds generation ``generation``'s state."""
    return f"{STATE_KEY}:{generation % STATE_SLOTS}"


def _not_a_state(key: str, value: Any) -> ValueError:
    """The error for a state attribute this release does not write (another format)."""
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return ValueError(
        f"the study's system attribute {key!r} holds {shown}, which is not an ISNASSampler "
        f"state this release wrote: it keeps {{'generation': <int>, 'state': <JSON>}} in "
        f"'{STATE_KEY}:0' to '{STATE_KEY}:{STATE_SLOTS - 1}'. Run ISNASSampler on a new study "
        "(or continue this one with the version of optuna-isnas that wrote it)."
    )


def newest_state(attrs: dict[str, Any]) -> tuple[int, str] | None:
    """(generation, JSON state) of the newest state in a study's system attributes.

    None without any state; ValueError (``_not_a_state``) for a state attribute in another
    format.
    """
    if STATE_KEY in attrs:
        raise _not_a_state(STATE_KEY, attrs[STATE_KEY])
    best: tuple[int, str] | None = None
    for i in range(STATE_SLOTS):
        key = f"{STATE_KEY}:{i}"
        if key not in attrs:
            continue
        value = attrs[key]
        generation = value.get("generation") if isinstance(value, dict) else None
        raw = value.get("state") if isinstance(value, dict) else None
        if (
            isinstance(generation, bool)
            or not isinstance(generation, int)
            or not isinstance(raw, str)
        ):
            raise _not_a_state(key, value)
        if best is None or generation > best[0]:
            best = (generation, raw)
    return best


class StateStore:
    """Reads and writes ``SamplerState`` in a study's storage, caching the decoded state.

    Decoding happens only when the newest stored string changes, so a trial that finds the
    same state as the previous one pays one read of the study's system attributes, a
    dictionary lookup per slot and a string comparison.
    """

    def __init__(self) -> None:
        self._cached: SamplerState | None = None

    def raw(self, study: Study) -> str | None:
        """The newest stored JSON state, or None when the study has no state yet."""
        newest = newest_state(_storage.study_system_attrs(study))
        return None if newest is None else newest[1]

    def load(self, study: Study) -> SamplerState | None:
        """Newest state of the study (decoded once per distinct stored string)."""
        raw = self.raw(study)
        if raw is None:
            return None
        cached = self._cached
        if cached is not None and (cached.raw is raw or cached.raw == raw):
            return cached
        state = SamplerState.decode(raw)
        self._cached = state
        return state

    def save(self, study: Study, state: SamplerState) -> None:
        """Store ``state`` in its generation's slot and make it the cached one.

        Nothing is written when the storage already holds this generation or a later one
        (another worker wrote it first: the first writer's state stands).
        """
        state.raw = state.encode()
        state.refresh_cdf()
        generation = int(state.core.generation)
        newest = newest_state(_storage.study_system_attrs(study))
        if newest is None or newest[0] < generation:
            _storage.set_study_system_attr(
                study, slot_key(generation), {"generation": generation, "state": state.raw}
            )
        self._cached = state

    def cached(self) -> SamplerState | None:
        """The state decoded last, without reading the storage (None before the first load)."""
        return self._cached

    def forget(self) -> None:
        """Drop the cache (the next ``load`` decodes again)."""
        self._cached = None
