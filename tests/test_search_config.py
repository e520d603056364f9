"""Search settings: one source of truth (SearchConfig), its flags, and what changes a result."""

from __future__ import annotations

import dataclasses

import pytest

from optuna_isnas.compare.config import default_epsilons
from optuna_isnas.sampler import DEFAULT_EPSILONS
from optuna_isnas.search import SearchConfig, SearchError, TrainingRecipe
from optuna_isnas.search.samplers import num_distributions


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


# ------------------------------------------------------------------ one source of truth
def _search_parser():
    from optuna_isnas.cli import build_parser

    parser = build_parser()
    return parser._subparsers._group_actions[0].choices["search"]


@pytest.mark.parametrize("cls", ["SearchConfig", "TrainingRecipe", "CompareConfig"])
def test_every_setting_has_a_flag_or_says_why_not(cls):
    import dataclasses

    from optuna_isnas.compare.config import CompareConfig
    from optuna_isnas.flags import flags_of

    owner = {"SearchConfig": SearchConfig, "TrainingRecipe": TrainingRecipe}.get(cls, CompareConfig)
    for field in dataclasses.fields(owner):
        reason = field.metadata.get("no_flag")
        assert flags_of(field) or (isinstance(reason, str) and reason), field.name


def test_every_search_flag_sets_its_setting():
    """Each declared flag, given on the command line, arrives in the SearchConfig it builds."""
    import dataclasses

    from optuna_isnas.flags import flags_of, given_values

    parser = _search_parser()
    examples = {
        "dataset": ("fashion-mnist", "fashion-mnist"),
        "space": ("enas", "enas"),
        "epsilons": ("0,2", (0.0, 2.0)),
        "budgets": ("20K,1M", (2e4, 1e6)),
        "objective": ("loss", "loss"),
        "sampler": ("tpe", "tpe"),
        "device": ("cpu", "cpu"),
        "lr": ("0.05", 0.05),
        "data_loading": ("stream", "stream"),
        "collective_timeout": ("60", 60.0),
        "train_archs": ("3", 3),
        "sandwich": ("none", False),
        "weight_gradient": ("mean", "mean"),
        "family": ("size-classes", "size-classes"),
    }
    for owner in (SearchConfig, TrainingRecipe):
        for field in dataclasses.fields(owner):
            for f in flags_of(field):
                if f.switch:
                    argv, expected = [f.names[-1]], f.value
                elif f.repeat:
                    argv, expected = [f.names[-1], "width=8"], {"width": 8}
                elif f.key is not None:
                    argv, expected = [f.names[-1], "8"], {f.key: 8}
                elif field.name in examples:
                    text, expected = examples[field.name]
                    argv = [f.names[-1], text]
                elif f.parse is not None and f.parse.__name__ == "integer":
                    argv, expected = [f.names[-1], "3"], 3
                else:
                    argv, expected = [f.names[-1], "text"], "text"
                args = parser.parse_args(argv)
                config = SearchConfig.build(
                    **given_values(args, SearchConfig), **given_values(args, TrainingRecipe)
                )
                value = getattr(config.training if owner is TrainingRecipe else config, field.name)
                assert value == expected, (f.names, value, expected)


def test_the_cli_and_python_build_the_same_search_by_default():
    """`optuna-isnas search` without flags is `SearchConfig()`: lambda included, one constant."""
    from optuna_isnas.flags import given_values
    from optuna_isnas.search.config import SEARCH_SAMPLES_PER_DISTRIBUTION
    from optuna_isnas.search.samplers import make_sampler

    args = _search_parser().parse_args([])
    from_cli = SearchConfig.build(
        **given_values(args, SearchConfig), **given_values(args, TrainingRecipe)
    )
    assert from_cli == SearchConfig()
    assert from_cli.samples_per_distribution == SEARCH_SAMPLES_PER_DISTRIBUTION
    k = num_distributions(from_cli)
    assert make_sampler(from_cli).generation_size == k * SEARCH_SAMPLES_PER_DISTRIBUTION


def test_every_sampler_name_has_its_builder():
    from optuna_isnas.search.config import SAMPLER_NAMES
    from optuna_isnas.search.samplers import BUILDERS

    assert tuple(BUILDERS) == SAMPLER_NAMES


def test_switches_are_enums_and_a_boolean_and_plain_text_on_disk():
    from optuna_isnas.search import Objective, WeightGradient

    config = SearchConfig(objective="loss", weight_gradient="mean", sandwich="none")
    assert config.objective is Objective.LOSS and not config.objective.maximized
    assert config.weight_gradient is WeightGradient.MEAN and config.sandwich is False
    assert SearchConfig().sandwich is True and SearchConfig().objective.maximized
    data = config.to_dict()  # a checkpoint holds it: torch.load(weights_only=True) reads it
    assert type(data["objective"]) is str and type(data["weight_gradient"]) is str
    assert (data["objective"], data["weight_gradient"], data["sandwich"]) == ("loss", "mean", False)
    assert SearchConfig.from_dict(data) == config


def test_lr_overrides_the_dataset_preset_in_one_place():
    assert SearchConfig.build(lr=0.3).recipe == TrainingRecipe.for_dataset("digits", lr=0.3)
    assert SearchConfig.build(dataset="cifar10", lr=0.3).recipe.lr == 0.3
    assert SearchConfig.build(dataset="cifar10").recipe == TrainingRecipe()


def test_result_settings_name_everything_but_where_and_how_shown():
    import dataclasses

    from optuna_isnas.search.config import RUNTIME_FIELDS

    config = SearchConfig()
    settings = config.result_settings()
    for field in dataclasses.fields(SearchConfig):
        if field.name == "recipe":
            continue
        assert (field.name in settings) != (field.name in RUNTIME_FIELDS), field.name
    for field in dataclasses.fields(TrainingRecipe):
        assert f"recipe.{field.name}" in settings
    # a change of any result setting is a difference for a resumed search, but for the device
    assert config.differences(dataclasses.replace(config, seed=1)) == {"seed": (0, 1)}
    assert config.differences(dataclasses.replace(config, sampler_options={"init_delta": 0.5}))
    assert config.differences(dataclasses.replace(config, device="cuda")) == {}
    assert config.differences(dataclasses.replace(config, out="elsewhere", threads=3)) == {}


def test_old_checkpoint_configs_read_with_new_settings_at_their_defaults():
    old = SearchConfig().to_dict()
    del old["sampler_options"]  # written before the setting existed
    old["a_setting_from_the_future"] = 1
    assert SearchConfig.from_dict(old) == SearchConfig()


def test_sampler_options_reach_the_sampler_and_reserved_ones_are_refused():
    from optuna_isnas import ISNASSampler
    from optuna_isnas.search.samplers import make_sampler

    assert isinstance(make_sampler(SearchConfig(sampler_options={"init_delta": 0.5})), ISNASSampler)
    with pytest.raises(
        SearchError, match=r"isnas sampler rejects its options \{'init_delta': 'bogus'\}"
    ):
        make_sampler(
            SearchConfig(sampler_options={"init_delta": "bogus"})
        )  # it reached the sampler
    with pytest.raises(SearchError, match="may not set"):
        SearchConfig(sampler_options={"seed": 3}).validate()
    with pytest.raises(SearchError, match="rejects its options"):
        make_sampler(SearchConfig(sampler="random", sampler_options={"bogus": 1}))


def test_family_sampler_protocol():
    import optuna

    from optuna_isnas import ISNASSampler
    from optuna_isnas.search import FamilySampler
    from optuna_isnas.search.samplers import generation_size

    assert isinstance(ISNASSampler(epsilons=[0, 1, 2]), FamilySampler)
    for other in (optuna.samplers.RandomSampler(), optuna.samplers.NSGAIISampler()):
        assert not isinstance(other, FamilySampler)
    config = SearchConfig(epsilons=[0, 1, 2], samples_per_distribution=3)
    assert (
        generation_size(ISNASSampler(epsilons=[0, 1], samples_per_distribution=2), config) == 4
    )  # the sampler's own
    assert generation_size(optuna.samplers.RandomSampler(), config) == 9  # K * lambda


def test_train_archs_words_become_their_enum_and_round_trip():
    """``auto``/``all`` are a TrainArchs wherever they come from (flag, JSON, a checkpoint's
    dict), a count stays an int, and to_dict writes plain values."""
    from optuna_isnas.search import TrainArchs

    parser = _search_parser()
    from optuna_isnas.flags import given_values

    config = SearchConfig.build(
        **given_values(parser.parse_args(["--train-archs", "ALL"]), SearchConfig)
    )
    assert config.train_archs is TrainArchs.ALL
    assert SearchConfig().train_archs is TrainArchs.AUTO
    assert SearchConfig(train_archs="all").train_archs is TrainArchs.ALL
    data = SearchConfig(train_archs="auto").to_dict()
    assert data["train_archs"] == "auto" and type(data["train_archs"]) is str
    assert SearchConfig.from_dict(data).train_archs is TrainArchs.AUTO
    assert SearchConfig.from_dict({**data, "train_archs": 3}).train_archs == 3


def test_the_search_builds_the_isnas_sampler_a_python_user_gets_but_for_lambda():
    """One default per setting: ``optuna-isnas search`` (a default SearchConfig) builds the
    ISNASSampler that ``ISNASSampler()`` is (K, family, axis, reference point, archive, ASNG's
    constants), except lambda, the loop's unit of compute (2; the sampler alone takes 4), the
    predicted ends, which the loop's sandwich already trains and rescores, and the look-ups of
    configurations evaluated before, whose values the training makes stale."""
    from optuna_isnas import ISNASSampler
    from optuna_isnas.sampler._settings import SAMPLES_PER_DISTRIBUTION
    from optuna_isnas.search.config import SEARCH_SAMPLES_PER_DISTRIBUTION
    from optuna_isnas.search.samplers import make_sampler
    from optuna_isnas.spaces import get_space

    space = get_space("chain", in_channels=1, num_classes=10, image_size=8)
    built = make_sampler(SearchConfig(), space)
    assert isinstance(built, ISNASSampler)
    python_user = ISNASSampler(complexity_fn=space.n_params)
    assert (SEARCH_SAMPLES_PER_DISTRIBUTION, SAMPLES_PER_DISTRIBUTION) == (2, 4)
    assert built._settings.samples_per_distribution == SEARCH_SAMPLES_PER_DISTRIBUTION
    assert (
        dataclasses.replace(
            built._settings,
            samples_per_distribution=SAMPLES_PER_DISTRIBUTION,
            single_objective_samples=None,
        )
        == python_user._settings
    )
    # Strayed distributions move onto their members in the search too (measured on digits and
    # Fashion-MNIST: docs/benchmarks.md, "The hypervolume family on the supernet").
    assert built._settings.recentre_members and python_user._settings.recentre_members
    assert (built._evaluate_ends, python_user._evaluate_ends) == (False, True)
    # A child's value changes as the shared weights train: no stored value stands for it.
    assert (built._skip_evaluated, python_user._skip_evaluated) == (False, True)
