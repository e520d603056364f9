"""Search spaces and weight-sharing supernets (PyTorch).

A space is declared once (its categorical variables and their choices); that declaration
drives :meth:`SearchSpace.suggest`, the supernet, the standalone child network and the exact
parameter count. See ``docs/spaces.md``.

Example:
    >>> from optuna_isnas.spaces import get_space
    >>> space = get_space("chain", in_channels=1, num_classes=10, image_size=8)
    >>> arch = {name: choices[-1] for name, choices in space.variables.items()}
    >>> space.n_params(arch) == sum(p.numel() for p in space.build_child(arch).parameters())
    True
"""

from optuna_isnas.spaces.base import (
    DATA_OPTIONS,
    Architecture,
    BlockSpec,
    SearchSpace,
    SpaceError,
    Supernet,
    check_space_options,
    count_params,
    get_space,
    recalibrate_batchnorm,
    register_space,
    space_names,
    space_options,
)
from optuna_isnas.spaces.chain import ChainSpace
from optuna_isnas.spaces.enas import EnasSpace
from optuna_isnas.spaces.nb201 import NB201Space
from optuna_isnas.spaces.ops import CHILD_NORM, OPS, SUPERNET_NORM, Norm, make_op

SPACE_NAMES: tuple[str, ...] = space_names()
"""Names accepted by :func:`get_space` (the built-in spaces)."""

__all__ = [
    "CHILD_NORM",
    "DATA_OPTIONS",
    "OPS",
    "SPACE_NAMES",
    "SUPERNET_NORM",
    "Architecture",
    "BlockSpec",
    "ChainSpace",
    "EnasSpace",
    "NB201Space",
    "Norm",
    "SearchSpace",
    "SpaceError",
    "Supernet",
    "check_space_options",
    "count_params",
    "get_space",
    "make_op",
    "recalibrate_batchnorm",
    "register_space",
    "space_options",
]
