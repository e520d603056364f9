"""Optuna's own sampler contract tests, run against ISNASSampler."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from optuna.samplers import BaseSampler
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    MultiObjectiveSamplerTestCase,
    RelativeSamplerTestCase,
)

from optuna_isnas import ISNASSampler


class _Fixture:
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: ISNASSampler(seed=0, warn_independent_sampling=False)


class TestBasic(_Fixture, BasicSamplerTestCase):
    pass


class TestRelative(_Fixture, RelativeSamplerTestCase):
    pass


class TestMultiObjective(_Fixture, MultiObjectiveSamplerTestCase):
    pass
