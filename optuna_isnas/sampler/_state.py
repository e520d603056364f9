"""The sampler's state as it lives in the study's storage.

One study system attribute, ``isnas:state``, holds a JSON string with the numpy core's
complete state, the modelled search space and the first trial number of the current
generation. Everything else is derived from trials, so any worker process, or a
restarted one with a fresh sampler object, continues the same search.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from optuna.distributions import (
    CategoricalChoiceType,
    CategoricalDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.study import Study

from optuna_isnas.core import ISNAS
from optuna_isnas.sampler import _storage

STATE_KEY = "isnas:state"
GENERATION_KEY = "isnas:generation"
DISTRIBUTION_KEY = "isnas:distribution"
CLOSED_KEY = "isnas:closed"


@dataclass
class SamplerState:
    """Decoded state: the core optimizer, the modelled parameters and the generation start."""

    core: ISNAS
    distributions: dict[str, CategoricalDistribution]
    start: int
    raw: str = ""
    cdf: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    params_json: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.refresh_cdf()
        # The modelled space never changes: serialise it once.
        self.params_json = {n: distribution_to_json(d) for n, d in self.distributions.items()}

    @property
    def names(self) -> list[str]:
        """Modelled parameter names, in variable order."""
        return list(self.distributions)

    def refresh_cdf(self) -> None:
        """Cumulative probabilities ``(K, D, C_max)`` for fast inverse-CDF sampling."""
        cdf = np.cumsum(self.core.thetas, axis=2)
        cdf[:, :, -1] = 1.0
        self.cdf = cdf

    def params_of(self, row: NDArray[np.int64]) -> dict[str, CategoricalChoiceType]:
        """Choice indices (one per modelled parameter) as parameter name -> choice."""
        return {name: self.choice(name, int(i)) for name, i in zip(self.names, row)}

    def choice(self, name: str, index: int) -> CategoricalChoiceType:
        """External value of choice ``index`` of parameter ``name``."""
        return self.distributions[name].choices[index]

    def encode(self) -> str:
        """JSON string stored under ``STATE_KEY``."""
        payload: dict[str, Any] = {
            "core": self.core.to_dict(),
            "params": self.params_json,
            "start": self.start,
        }
        return json.dumps(payload, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> SamplerState:
        """Inverse of ``encode``; raises ValueError on a state this release can't read."""
        try:
            payload = json.loads(raw)
            core = ISNAS.from_dict(payload["core"])
            dists: dict[str, CategoricalDistribution] = {}
            for name, text in payload["params"].items():
                dist = json_to_distribution(text)
                if not isinstance(dist, CategoricalDistribution):
                    raise ValueError(f"parameter {name!r} is not categorical")
                dists[name] = dist
            return cls(core=core, distributions=dists, start=int(payload["start"]), raw=raw)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"the study's {STATE_KEY!r} attribute is not an ISNASSampler state this "
                f"release can read ({exc}); use a new study or the release that wrote it."
            ) from exc


class StateStore:
    """Reads and writes ``SamplerState`` in a study's storage, caching the decoded state.

    Decoding happens only when the stored string changes, so a trial that finds the
    same state as the previous one pays a dictionary lookup and a string comparison.
    """

    def __init__(self) -> None:
        self._cached: SamplerState | None = None

    def raw(self, study: Study) -> str | None:
        """The stored JSON string, or None when the study has no state yet."""
        value = _storage.study_system_attrs(study).get(STATE_KEY)
        return value if isinstance(value, str) else None

    def load(self, study: Study) -> SamplerState | None:
        """Current state of the study (decoded once per distinct stored string)."""
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
        """Write ``state`` and make it the cached one."""
        state.raw = state.encode()
        state.refresh_cdf()
        _storage.set_study_system_attr(study, STATE_KEY, state.raw)
        self._cached = state

    def forget(self) -> None:
        """Drop the cache (the next ``load`` decodes again)."""
        self._cached = None
