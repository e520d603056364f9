"""Deployable children: the files ``retrain`` writes for each architecture, and how to load them.

For the child with index ``I`` it writes into its output directory:

- ``child-I.pt``: ``{"config": ..., "state_dict": ...}``, plain data and tensors, so
  ``torch.load(path, weights_only=True)`` reads it; :func:`load_child` rebuilds the module
  (with this package installed).
- ``child-I.json``: the same config, readable: format, architecture, space, input (shape, pixel
  range, the normalisation's mean and std), class names, parameters and scores.
- ``child-I.pt2``: a ``torch.export`` program of the child in eval mode, any batch size, that
  runs with PyTorch alone: ``torch.export.load(path).module()(x)``. The config travels inside it
  (the extra file ``config.json``).
- ``child-I.onnx`` (optional, with the ``onnx`` extra): the same program for ONNX runtimes.

Every export takes the child's own input: images scaled to ``[0, 1]`` and normalised with the
config's ``mean`` and ``std``, shape ``(N, C, H, W)``; it returns class logits ``(N, classes)``.
:func:`attach_children` uploads the files to the search's summary study with
``optuna.artifacts``, where optuna-dashboard offers them for download.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from optuna_isnas.errors import SettingsError

CHILD_FORMAT = "optuna-isnas-child/1"
CONFIG_NAME = "config.json"  # the config inside an exported program
ARTIFACT_DIR = "artifacts"
ONNX_EXTRA = "pip install 'optuna-isnas[onnx]'"


class ExportError(SettingsError):
    """A child that cannot be exported as asked (for example ONNX without its extra)."""


@dataclass
class ChildFiles:
    """The files written for one child (None: not written)."""

    model: Path
    json: Path
    export: Path | None = None
    onnx: Path | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.model, self.json, self.export, self.onnx) if p is not None]


def child_config(
    *,
    index: int,
    architecture: dict[str, Any],
    space: dict[str, Any],
    dataset: str,
    classes: list[str],
    input_shape: tuple[int, int, int],
    mean: list[float],
    std: list[float],
    downsample: int | None,
    scores: dict[str, Any],
) -> dict[str, Any]:
    """The self-description of a child (JSON-able; also what ``torch.load(weights_only=True)``
    reads from ``child-I.pt``)."""
    return {
        "format": CHILD_FORMAT,
        "index": index,
        "architecture": dict(architecture),
        "space": space,
        "dataset": dataset,
        "classes": list(classes),
        "input": {
            "shape": list(input_shape),
            "layout": "NCHW",
            "dtype": "float32",
            "pixel_range": [0.0, 1.0],
            "mean": list(mean),
            "std": list(std),
            "downsample": downsample,
            "transform": (
                "x = (pixels / pixel_max - mean[c]) / std[c] per channel c, pixels scaled to "
                "[0, 1] (8-bit images: / 255; scikit-learn's digits: / 16), after "
                "average-pooling to the input size when downsample is set"
            ),
        },
        "output": "class logits, shape (N, len(classes)); softmax gives probabilities",
        **scores,
    }


def save_child(
    model: torch.nn.Module,
    config: dict[str, Any],
    out: Path,
    *,
    export: bool = True,
    onnx: bool = False,
) -> ChildFiles:
    """Write ``child-I.pt``, ``child-I.json`` and the exports of ``model`` (moved to the CPU,
    put in eval mode) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"child-{config['index']}"
    model = model.to("cpu").eval()
    files = ChildFiles(model=out / f"{stem}.pt", json=out / f"{stem}.json")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"config": config, "state_dict": state}, files.model)
    files.json.write_text(json.dumps(config, indent=2) + "\n")
    example = torch.zeros(2, *config["input"]["shape"])
    if export:
        files.export = export_program(model, config, example, out / f"{stem}.pt2")
    if onnx:
        files.onnx = export_onnx(model, example, out / f"{stem}.onnx")
    return files


def _batch_dim() -> Any:
    return torch.export.Dim("batch", min=1, max=1 << 20)


def export_program(
    model: torch.nn.Module, config: dict[str, Any], example: torch.Tensor, path: Path
) -> Path:
    """``torch.export`` the model (eval mode, dynamic batch) with its config inside; returns path."""
    with torch.no_grad():
        program = torch.export.export(model, (example,), dynamic_shapes=({0: _batch_dim()},))
    torch.export.save(program, path, extra_files={CONFIG_NAME: json.dumps(config)})
    return path


def require_onnx() -> None:
    """Raise ExportError unless the ONNX exporter's packages (the ``onnx`` extra) are installed."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ExportError(
            f"--onnx needs the onnx extra ({exc.name} is not installed): {ONNX_EXTRA}"
        ) from None


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    """ONNX export (opset chosen by torch) with a dynamic batch; needs the ``onnx`` extra."""
    require_onnx()
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # the exporter's chatter
        program = torch.onnx.export(
            model,
            (example,),
            dynamic_shapes=({0: _batch_dim()},),
            input_names=["images"],
            output_names=["logits"],
            dynamo=True,
            verbose=False,
        )
    if program is None:  # pragma: no cover - the dynamo exporter always returns a program
        raise ExportError("torch.onnx.export returned no program")
    program.save(str(path))
    return path


def load_child(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a child (eval mode) and its config from ``child-I.pt``; needs this package.

    Raises:
        SettingsError: The file is not a child written by ``optuna-isnas retrain``.
    """
    from optuna_isnas.spaces import get_space

    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not (isinstance(saved, dict) and saved.get("config", {}).get("format") == CHILD_FORMAT):
        raise SettingsError(f"{path} is not a child written by optuna-isnas retrain")
    config = saved["config"]
    model = get_space(**config["space"]).build_child(config["architecture"])
    model.load_state_dict(saved["state_dict"])
    return model.eval(), config


def load_exported_config(path: str | Path) -> dict[str, Any]:
    """The config stored inside an exported ``child-I.pt2``."""
    extra = {CONFIG_NAME: ""}
    torch.export.load(path, extra_files=extra)
    return dict(json.loads(extra[CONFIG_NAME]))


@dataclass
class Attached:
    """Where the children were attached: storage, summary study, artifact directory, ids."""

    storage: str
    study_name: str
    artifact_dir: Path
    artifact_ids: list[str]

    def dashboard_command(self) -> str:
        return f"optuna-dashboard {self.storage} --artifact-dir {self.artifact_dir}"


def attach_children(
    document: dict[str, Any], architectures_path: Path, files: list[ChildFiles]
) -> Attached | str:
    """Upload the children's files to the search's summary study (``optuna.artifacts``).

    The artifact store is the directory ``artifacts`` beside ``architectures.json``; a rerun
    replaces a child's earlier files (same artifact ids). Returns where they went, or, when the
    search's storage or summary study cannot be found, a sentence saying why nothing was attached.
    """
    import optuna
    from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact

    from optuna_isnas.search.storage import open_storage

    location = document.get("storage")
    name = document.get("summary_study_name")
    if not location or not name:
        return "the architectures file names no storage or summary study"
    if "://" not in location and not Path(location).is_file():
        beside = architectures_path.parent / Path(location).name  # the search ran elsewhere
        if not beside.is_file():
            return f"the search's storage {location} was not found"
        location = str(beside)
    try:
        opened = open_storage(location)
        study = optuna.load_study(study_name=name, storage=opened.storage)
    except (SettingsError, KeyError) as exc:
        return f"the summary study {name!r} could not be opened in {location} ({exc})"
    artifact_dir = architectures_path.parent / ARTIFACT_DIR
    artifact_dir.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(str(artifact_dir))
    existing = {meta.filename: meta.artifact_id for meta in get_all_artifact_meta(study)}
    ids = []
    for path in (p for child in files for p in child.paths()):
        if path.name in existing:  # a rerun: new content under the same id
            with open(path, "rb") as f:
                store.write(existing[path.name], f)
            ids.append(existing[path.name])
        else:
            ids.append(
                upload_artifact(
                    artifact_store=store,
                    file_path=str(path),
                    study_or_trial=study,
                    mimetype=_MIMETYPES.get(path.suffix),
                )
            )
    opened.sync()
    return Attached(location, name, artifact_dir, ids)


_MIMETYPES = {
    ".pt": "application/octet-stream",
    ".pt2": "application/octet-stream",
    ".onnx": "application/octet-stream",
    ".json": "application/json",
}
