"""Retraining architectures from an architectures.json, and the saved plain PyTorch children."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from optuna_isnas.retrain import RetrainError, load_architectures, retrain
from optuna_isnas.spaces import get_space


@pytest.fixture
def document():
    space = get_space("chain", in_channels=1, num_classes=10, image_size=8)
    rng = np.random.default_rng(0)
    archs = [space.random_architecture(rng) for _ in range(3)]
    return {
        "dataset": "digits",
        "data_root": None,
        "seed": 0,
        "space": space.config(),
        "architectures": [
            {"index": i, "architecture": a, "params": space.n_params(a)}
            for i, a in enumerate(archs)
        ],
    }


def test_retrain_reports_and_saves_children(tmp_path, document):
    path = tmp_path / "architectures.json"
    path.write_text(json.dumps(document))
    results = retrain(
        path,
        [0, 2],
        epochs=1,
        batch_size=32,
        device="cpu",
        out=tmp_path / "children",
        progress=False,
        max_steps_per_epoch=5,
        eval_subset=100,
    )
    assert [r.index for r in results] == [0, 2]
    space = get_space(**document["space"])
    for result in results:
        assert result.params == document["architectures"][result.index]["params"]
        assert 0.0 <= result.test_accuracy <= 1.0
        module = torch.load(result.model_path, weights_only=False)
        rebuilt = space.build_child(result.architecture)
        rebuilt.load_state_dict(torch.load(result.state_dict_path))
        info = json.loads(Path(result.json_path).read_text())
        assert info["architecture"] == result.architecture and info["space"] == document["space"]
        module.eval(), rebuilt.eval()
        x = torch.randn(4, 1, 8, 8)
        torch.testing.assert_close(module(x), rebuilt(x))
    assert len(json.loads((tmp_path / "children" / "retrain.json").read_text())) == 2


def test_retrain_is_seeded(document):
    kwargs = dict(
        epochs=1, batch_size=32, device="cpu", progress=False, max_steps_per_epoch=3, eval_subset=60
    )
    assert retrain(document, [1], **kwargs) == retrain(document, [1], **kwargs)


def test_bad_files_and_indices(tmp_path, document):
    with pytest.raises(RetrainError, match="no architecture with index 3; the file has 3"):
        retrain(document, [3])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RetrainError, match="not valid JSON"):
        load_architectures(bad)
    bad.write_text("{}")
    with pytest.raises(RetrainError, match="missing dataset, space, architectures"):
        load_architectures(bad)
