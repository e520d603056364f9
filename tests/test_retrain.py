"""Retraining architectures from an architectures.json, and the saved plain PyTorch children."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from optuna_isnas.children import CHILD_FORMAT, ExportError, load_child, load_exported_config
from optuna_isnas.retrain import RetrainError, load_architectures, retrain
from optuna_isnas.retrain_settings import RetrainSettings
from optuna_isnas.search.errors import SearchError
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
        settings=RetrainSettings(
            epochs=1,
            batch_size=32,
            device="cpu",
            out=tmp_path / "children",
            progress=False,
            max_steps_per_epoch=5,
            eval_subset=100,
            export=False,
        ),
    )
    assert [r.index for r in results] == [0, 2]
    space = get_space(**document["space"])
    for result in results:
        assert result.params == document["architectures"][result.index]["params"]
        assert 0.0 <= result.test_accuracy <= 1.0
        saved = torch.load(result.model_path, weights_only=True)  # plain data and tensors
        rebuilt = space.build_child(result.architecture)
        rebuilt.load_state_dict(saved["state_dict"])
        info = json.loads(Path(result.json_path).read_text())
        assert info == saved["config"]
        assert info["architecture"] == result.architecture and info["space"] == document["space"]
        model, config = load_child(result.model_path)
        assert config == info
        rebuilt.eval()
        x = torch.randn(4, 1, 8, 8)
        torch.testing.assert_close(model(x), rebuilt(x))
        assert result.export_path is None and result.onnx_path is None
    assert len(json.loads((tmp_path / "children" / "retrain.json").read_text())) == 2


def test_child_config_describes_the_input_and_classes(tmp_path, document):
    from optuna_isnas.data import load_dataset

    (result,) = retrain(
        document,
        [1],
        settings=RetrainSettings(
            epochs=1,
            device="cpu",
            out=tmp_path,
            progress=False,
            max_steps_per_epoch=2,
            export=False,
        ),
    )
    config = json.loads(Path(result.json_path).read_text())
    splits = load_dataset("digits", seed=0)
    assert config["format"] == CHILD_FORMAT
    assert config["input"]["shape"] == [1, 8, 8] and config["input"]["layout"] == "NCHW"
    assert config["input"]["mean"] == pytest.approx(list(splits.mean))
    assert config["input"]["std"] == pytest.approx(list(splits.std))
    assert config["classes"] == list(splits.classes) and len(config["classes"]) == 10
    assert config["test_accuracy"] == result.test_accuracy and config["params"] == result.params


# Run in a fresh interpreter that cannot import optuna_isnas: the exports need PyTorch alone.
_RUN_EXPORTS = """
import json, sys
sys.modules["optuna_isnas"] = None  # any import of the package fails
try:
    import optuna_isnas  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("optuna_isnas is importable")
import torch
folder = sys.argv[1]
x = torch.load(f"{folder}/x.pt", weights_only=True)
extra = {"config.json": ""}
program = torch.export.load(f"{folder}/child-0.pt2", extra_files=extra)
torch.save(program.module()(x), f"{folder}/y_export.pt")
torch.save(program.module()(x[:1]), f"{folder}/y_export_one.pt")
print(json.loads(extra["config.json"])["format"])
try:
    import onnxruntime
except ImportError:
    print("no onnxruntime")
else:
    session = onnxruntime.InferenceSession(f"{folder}/child-0.onnx")
    (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    torch.save(torch.from_numpy(y), f"{folder}/y_onnx.pt")
"""


@pytest.mark.slow
def test_exports_run_without_this_package_and_match_the_child(tmp_path, document):
    import subprocess
    import sys

    onnx = importlib.util.find_spec("onnxscript") is not None
    (result,) = retrain(
        document,
        [0],
        settings=RetrainSettings(
            epochs=1, device="cpu", out=tmp_path, progress=False, max_steps_per_epoch=3, onnx=onnx
        ),
    )
    assert result.export_path == str(tmp_path / "child-0.pt2")
    model, config = load_child(result.model_path)
    x = torch.randn(5, *config["input"]["shape"])
    torch.save(x, tmp_path / "x.pt")
    script = tmp_path / "run_exports.py"
    script.write_text(_RUN_EXPORTS)
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == CHILD_FORMAT  # the config travels inside the export
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(torch.load(tmp_path / "y_export.pt"), expected)
    torch.testing.assert_close(torch.load(tmp_path / "y_export_one.pt"), expected[:1])
    if onnx and "no onnxruntime" not in done.stdout:
        torch.testing.assert_close(
            torch.load(tmp_path / "y_onnx.pt"), expected, rtol=1e-4, atol=1e-5
        )
    assert load_exported_config(result.export_path) == config


def test_onnx_without_its_extra_is_a_clear_error(tmp_path, document, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ExportError, match=r"needs the onnx extra .*optuna-isnas\[onnx\]"):
        retrain(
            document,
            [0],
            settings=RetrainSettings(epochs=1, out=tmp_path, onnx=True, progress=False),
        )


def test_bad_settings_are_refused_before_training(tmp_path, document):
    with pytest.raises(RetrainError, match="epochs must be a whole number of at least 1, got 0"):
        retrain(document, [0], settings=RetrainSettings(epochs=0))
    with pytest.raises(RetrainError, match="batch size must be"):
        retrain(document, [0], settings=RetrainSettings(batch_size=0))
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(SearchError, match="is a file, not a directory"):
        retrain(document, [0], settings=RetrainSettings(out=afile))


def test_retrain_is_seeded(document):
    kwargs = dict(
        epochs=1, batch_size=32, device="cpu", progress=False, max_steps_per_epoch=3, eval_subset=60
    )
    assert retrain(document, [1], settings=RetrainSettings(**kwargs)) == retrain(
        document, [1], settings=RetrainSettings(**kwargs)
    )


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


def test_retrain_flags_are_declared_with_their_settings():
    """Each retrain setting has a flag or says why not, and each flag arrives in its setting."""
    import dataclasses

    from optuna_isnas.cli import build_parser
    from optuna_isnas.flags import flags_of, given_values
    from optuna_isnas.retrain_settings import RetrainSettings

    parser = build_parser()._subparsers._group_actions[0].choices["retrain"]
    assert given_values(parser.parse_args(["a.json"]), RetrainSettings) == {}
    for field in dataclasses.fields(RetrainSettings):
        flags = flags_of(field)
        assert flags or field.metadata.get("no_flag"), field.name
        for f in flags:
            argv, expected = (
                ([f.names[-1]], f.value)
                if f.switch
                else ([f.names[-1], "3"], 3)
                if f.parse is not None
                else ([f.names[-1], "text"], "text")
            )
            given = given_values(parser.parse_args(["a.json", *argv]), RetrainSettings)
            assert getattr(RetrainSettings(**given), field.name) == expected, f.names
