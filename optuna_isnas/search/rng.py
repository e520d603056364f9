"""Random states in a safe form: plain lists, dicts, numbers and tensors that
``torch.load(weights_only=True)`` reads, so a checkpoint never needs unpickling.

Two kinds: the process-wide generators (torch, CUDA, numpy's legacy global, Python's ``random``),
and the generators inside a sampler object. Optuna's samplers keep theirs in private attributes;
rather than naming those, :func:`sampler_random_states` walks the sampler's attributes and records
every numpy ``RandomState`` or ``Generator`` it finds by its attribute path, and
:func:`set_sampler_random_states` puts the states back into a sampler rebuilt from the same
settings. A sampler keeping its randomness elsewhere is simply rebuilt from its seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

_MAX_DEPTH = 4


# --------------------------------------------------------------------------- process generators
def random_states() -> dict[str, Any]:
    """The states of torch's, CUDA's, numpy's global and Python's generators."""
    version, internal, gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _legacy_state(np.random.get_state()),
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Restore what :func:`random_states` returned."""
    torch.set_rng_state(states["torch"])
    np.random.set_state(_legacy_tuple(states["numpy"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if (
        "cuda" in states
        and torch.cuda.is_available()
        and len(states["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(states["cuda"])


def _legacy_state(state: Any) -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = state
    return {
        "name": str(name),
        "keys": [int(k) for k in keys],
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _legacy_tuple(state: dict[str, Any]) -> tuple[Any, ...]:
    keys = np.asarray(state["keys"], dtype=np.uint32)
    return (state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"])


# ------------------------------------------------------------------------- sampler generators
def sampler_random_states(sampler: object) -> dict[str, Any]:
    """Attribute path -> safe state of every numpy generator inside ``sampler``."""
    found: dict[str, Any] = {}
    for path, rng in _generators(sampler, "", 0, set()):
        if isinstance(rng, np.random.RandomState):
            found[path] = {"legacy": _legacy_state(rng.get_state())}
        else:
            found[path] = {"bit_generator": _plain(rng.bit_generator.state)}
    return found


def set_sampler_random_states(sampler: object, states: dict[str, Any]) -> list[str]:
    """Put :func:`sampler_random_states`' states back; returns the paths that had no place.

    A generator that the sampler creates lazily (still None in a fresh sampler) is created here.
    """
    missing = []
    for path, state in states.items():
        owner: Any = sampler
        names = path.split(".")
        try:
            for name in names[:-1]:
                owner = getattr(owner, name)
            current = getattr(owner, names[-1])
        except AttributeError:
            missing.append(path)
            continue
        if "legacy" in state:
            if current is None:
                current = np.random.RandomState()
                setattr(owner, names[-1], current)
            if not isinstance(current, np.random.RandomState):
                missing.append(path)
                continue
            current.set_state(_legacy_tuple(state["legacy"]))
        else:
            if not isinstance(current, np.random.Generator):
                missing.append(path)
                continue
            current.bit_generator.state = state["bit_generator"]
    return missing


def _generators(
    obj: object, prefix: str, depth: int, seen: set[int]
) -> Iterator[tuple[str, np.random.RandomState | np.random.Generator]]:
    if depth > _MAX_DEPTH or id(obj) in seen:
        return
    seen.add(id(obj))
    attributes = getattr(obj, "__dict__", None)
    if not isinstance(attributes, dict):
        return
    for name, value in sorted(attributes.items()):
        path = f"{prefix}{name}"
        if isinstance(value, np.random.RandomState | np.random.Generator):
            yield path, value
        elif _walkable(value):
            yield from _generators(value, f"{path}.", depth + 1, seen)


def _walkable(value: object) -> bool:
    """Objects of samplers' own classes (not containers, arrays, studies or callables)."""
    module = type(value).__module__ or ""
    return (
        hasattr(value, "__dict__")
        and not callable(value)
        and not isinstance(value, type)
        and (module.startswith("optuna") or module.startswith("optuna_isnas"))
        and not module.startswith(("optuna.study", "optuna.storages", "optuna.trial"))
    )


def _plain(value: Any) -> Any:
    """A bit generator's state with numpy scalars and arrays turned into Python values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value
