"""Budget mode end to end: a supernet search whose architectures fit their budgets."""

from __future__ import annotations

import json

from optuna_isnas.search import SearchConfig, run_search
from optuna_isnas.spaces import get_space


def test_budget_search_returns_architectures_within_their_budgets(tmp_path) -> None:
    space = get_space("chain", in_channels=1, num_classes=10, image_size=8)
    rng = __import__("numpy").random.default_rng(0)
    sizes = sorted(space.n_params(space.random_architecture(rng)) for _ in range(200))
    budgets = (float(sizes[20]), float(sizes[100]), float(sizes[180]))  # low, mid, high
    config = SearchConfig(
        dataset="digits",
        space="chain",
        budgets=budgets,
        epochs=2,
        batch_size=16,
        max_steps_per_epoch=4,
        train_subset=300,
        val_subset=120,
        device="cpu",
        threads=1,
        progress=False,
        out=str(tmp_path / "run"),
    )
    result = run_search(config)
    assert [a.budget for a in result.architectures] == list(budgets)
    for entry in result.architectures:
        assert entry.params == space.n_params(entry.architecture)
        assert (
            entry.budget is not None and entry.params <= entry.budget
        )  # repaired by complexity_fn
    saved = json.loads((tmp_path / "run" / "architectures.json").read_text())
    entries = saved["architectures"] if isinstance(saved, dict) else saved
    assert [e["budget"] for e in entries] == list(budgets)
