"""Search settings: one source of truth (SearchConfig), its flags, and what changes a result."""

from __future__ import annotations

import pytest

from optuna_isnas import DEFAULT_EPSILONS
from optuna_isnas.search import SearchConfig, SearchError, TrainingRecipe
from optuna_isnas.search.samplers import default_epsilons, num_distributions


def test_settings_differences_and_round_trip():
    config = SearchConfig(epsilons=[0, 1], batch_size=32)
    assert config.recipe.lr == 0.1  # the digits preset
    assert SearchConfig(dataset="cifar10").recipe.lr == 0.025
    again = SearchConfig.from_dict(config.to_dict())
    assert again == config and config.differences(again) == {}
    other = SearchConfig(
        epsilons=[0, 2],
        batch_size=32,
        device="cuda",
        out="elsewhere",
        recipe=TrainingRecipe(lr=0.2),
    )
    assert config.differences(other) == {
        "epsilons": ([0.0, 1.0], [0.0, 2.0]),
        "recipe.lr": (0.1, 0.2),
    }
    assert SearchConfig(study_name="digits-chain").differences(SearchConfig()) == {}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(space="nope"), "valid spaces: chain"),
        (dict(objective="f1"), "unknown objective"),
        (dict(sampler="cmaes"), "unknown sampler"),
        (dict(epsilons=[]), "epsilons must be"),
        (dict(epsilons=[0, float("nan")]), "epsilons must be"),
        (dict(budgets=[0]), "budgets must be"),
        (dict(epsilons=[0], budgets=[1]), "either epsilons or budgets"),
        (dict(epsilons=[0, 1], num_distributions=3), "disagrees"),
        (dict(epochs=0), "epochs must be at least 1"),
        (dict(recipe=TrainingRecipe(schedule="step")), "unknown schedule"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(SearchError, match=message):
        SearchConfig(**settings).validate()


def test_default_epsilon_families():
    assert default_epsilons(len(DEFAULT_EPSILONS)) == tuple(DEFAULT_EPSILONS)
    assert default_epsilons(1) == (0.0,)
    three = default_epsilons(3)
    assert three[0] == 0.0 and three[1:] == (
        min(e for e in DEFAULT_EPSILONS if e > 0),
        max(DEFAULT_EPSILONS),
    )
    assert num_distributions(SearchConfig(num_distributions=6)) == 6
    assert num_distributions(SearchConfig(budgets=[1e4, 2e4])) == 2
