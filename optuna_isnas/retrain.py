"""Retrain architectures returned by a search from scratch, and save them as deployable children.

Reads ``architectures.json`` (written by the search), rebuilds each chosen architecture's standalone
child network with fresh weights, trains it on the training split with the search's recipe (ordinary
BatchNorm with running statistics), and reports validation and test accuracy and parameters. Each
child is saved as described in :mod:`optuna_isnas.children`: ``child-<i>.pt`` (config and
state_dict, loadable with ``torch.load(weights_only=True)``), ``child-<i>.json`` (the config:
architecture, space, input normalisation, class names, scores), ``child-<i>.pt2`` (a
``torch.export`` program that runs without this package) and, on request, ``child-<i>.onnx``; the
command line also attaches them to the search's summary study for optuna-dashboard.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from optuna_isnas.children import ChildFiles, child_config, require_onnx, save_child
from optuna_isnas.data import DatasetSplits
from optuna_isnas.errors import SettingsError
from optuna_isnas.retrain_settings import RetrainSettings
from optuna_isnas.spaces import SearchSpace
from optuna_isnas.training.batches import InMemoryBatches
from optuna_isnas.training.device import Precision, resolve_device, torch_threads
from optuna_isnas.training.evaluation import evaluate, minibatch_metrics
from optuna_isnas.training.optim import make_optimizer, make_scheduler, sgd_step
from optuna_isnas.training.recipe import TrainingRecipe
from optuna_isnas.training.tables import format_table


class RetrainError(SettingsError):
    """An architectures file or a choice of architectures that cannot be retrained."""


@dataclass
class RetrainResult:
    """One retrained architecture."""

    index: int
    architecture: dict[str, str]
    params: int
    val_accuracy: float
    test_accuracy: float
    test_loss: float
    epochs: int
    model_path: str | None = None
    json_path: str | None = None
    export_path: str | None = None
    onnx_path: str | None = None


def load_architectures(path: str | Path) -> dict[str, Any]:
    """Read and check an ``architectures.json`` written by a search (:func:`check_document`).

    Raises:
        RetrainError: The file is missing, not JSON, or its content cannot be retrained.
    """
    path = Path(path)
    if not path.is_file():
        raise RetrainError(
            f"no architectures file at {path}; run `optuna-isnas search` first (it writes architectures.json)"
        )
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RetrainError(f"{path} is not valid JSON: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RetrainError(f"cannot read {path}: {exc}") from exc
    check_document(document, str(path))
    return document


_REWRITE = "rerun the search that wrote it, or fix the file"


def check_document(document: Any, source: str = "the architectures document") -> SearchSpace:
    """Check what a retrain reads from an architectures document; returns its search space.

    It must be an object with ``dataset``, ``space`` (the space's config: ``name`` and its
    arguments) and ``architectures`` (a list of entries, each with an ``architecture`` that
    gives every variable of the space one of its choices).

    Raises:
        RetrainError: The first thing that is wrong, naming ``source``.
    """
    from optuna_isnas.spaces import get_space

    if not isinstance(document, dict):
        raise RetrainError(
            f"{source} is not an optuna-isnas architectures file: it holds a JSON "
            f"{_json_kind(document)}, not an object; {_REWRITE}"
        )
    missing = [key for key in ("dataset", "space", "architectures") if key not in document]
    if missing:
        raise RetrainError(
            f"{source} is not an optuna-isnas architectures file (missing {', '.join(missing)})"
        )
    config = document["space"]
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise RetrainError(
            f"{source}: 'space' must be an object with the space's 'name' and its arguments, "
            f"got {config!r}; {_REWRITE}"
        )
    try:
        space = get_space(**config)
    except (SettingsError, TypeError) as exc:  # TypeError: keys that are not names
        raise RetrainError(f"{source}: its space cannot be built: {exc}; {_REWRITE}") from None
    entries = document["architectures"]
    if not isinstance(entries, list):
        raise RetrainError(
            f"{source}: 'architectures' must be a list of entries, got a JSON "
            f"{_json_kind(entries)}; {_REWRITE}"
        )
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), dict):
            raise RetrainError(
                f"{source}: entry {position} of 'architectures' has no 'architecture' (an "
                f"object: parameter name -> choice name); {_REWRITE}"
            )
        index = entry.get("index", position)
        if not isinstance(index, int) or isinstance(index, bool):
            raise RetrainError(
                f"{source}: entry {position} has index {index!r}, not a whole number; {_REWRITE}"
            )
        try:
            space.validate(entry["architecture"])
        except ValueError as exc:
            raise RetrainError(
                f"{source}: architecture {position} does not fit its {space.name!r} space: "
                f"{str(exc).rstrip('.')}; {_REWRITE}"
            ) from None
    return space


def _json_kind(value: Any) -> str:
    """The JSON name of ``value``'s type (``array``, ``string``, ...)."""
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def select(document: dict[str, Any], indices: list[int] | None) -> list[dict[str, Any]]:
    """The chosen entries (all when ``indices`` is None), each with its ``index`` (its position
    where the file gives none); RetrainError for an index out of range."""
    entries = [{"index": i, **entry} for i, entry in enumerate(document["architectures"])]
    if not entries:
        raise RetrainError(
            "the file holds no architectures: its search returned none (see the note it "
            "printed); run the search longer or with other settings"
        )
    if indices is None:
        return entries
    for i in indices:
        if not 0 <= i < len(entries):
            raise RetrainError(
                f"no architecture with index {i}; the file has {len(entries)} (0..{len(entries) - 1})"
            )
    return [entries[i] for i in indices]


def retrain(
    architectures: str | Path | dict[str, Any],
    indices: list[int] | None = None,
    *,
    recipe: TrainingRecipe | None = None,
    settings: RetrainSettings | None = None,
) -> list[RetrainResult]:
    """Train the chosen architectures from scratch and score them on the test split.

    Args:
        architectures: Path of ``architectures.json``, or its parsed content.
        indices: Which entries (None: all).
        recipe: Training recipe; default ``TrainingRecipe.for_dataset(dataset)``.
        settings: How to train and what to save (epochs, batch size, device, ``out``, ...);
            default ``RetrainSettings()``.

    Raises:
        RetrainError: A bad file, index or setting (``epochs`` below 1, ...).
        SearchError: ``out`` is a file or cannot be written in.
    """
    from optuna_isnas.data import load_dataset
    from optuna_isnas.spaces import get_space

    if isinstance(architectures, dict):
        document = architectures
        check_document(document)
    else:
        document = load_architectures(architectures)
    chosen = select(document, indices)
    options = settings if settings is not None else RetrainSettings()
    try:
        options.validate()
    except SettingsError as exc:
        raise RetrainError(str(exc)) from None
    out = None
    if options.out is not None:
        from optuna_isnas.search.storage import output_directory

        out = output_directory(options.out)
    if options.onnx:
        require_onnx()
    dataset = document["dataset"]
    recipe = recipe or TrainingRecipe.for_dataset(dataset)
    recipe.validate()
    precision = Precision.for_device(
        resolve_device(options.device), recipe.amp, recipe.channels_last
    )
    splits = load_dataset(
        dataset,
        root=options.data_root if options.data_root is not None else document.get("data_root"),
        seed=document.get("seed", 0),
        downsample=document.get("downsample"),
        max_train_samples=options.train_subset,
        max_eval_samples=options.eval_subset,
    )
    space = get_space(**document["space"])  # checked by check_document
    results = []
    with torch_threads(options.threads, precision.device, splits.image_size):
        for entry in chosen:
            result, model = _retrain_one(
                entry,
                space,
                splits,
                recipe,
                precision,
                options,
            )
            if out is not None:
                config = _child_config(result, space, splits, document)
                _record_files(
                    result, save_child(model, config, out, export=options.export, onnx=options.onnx)
                )
            results.append(result)
    if out is not None:
        (Path(out) / "retrain.json").write_text(
            json.dumps([asdict(r) for r in results], indent=2) + "\n"
        )
    return results


def _retrain_one(
    entry: dict[str, Any],
    space: SearchSpace,
    splits: DatasetSplits,
    recipe: TrainingRecipe,
    precision: Precision,
    options: RetrainSettings,
) -> tuple[RetrainResult, torch.nn.Module]:
    epochs, batch_size, seed = options.epochs, options.batch_size, options.seed
    progress, max_steps_per_epoch = options.progress, options.max_steps_per_epoch
    arch = space.validate(entry["architecture"])
    torch.manual_seed(seed)
    model = precision.prepare_model(space.build_child(arch))
    batches = InMemoryBatches(
        splits.train.to(precision.device),
        batch_size,
        seed,
        precision,
        recipe.resolved_augment(splits.name),
    )
    per_epoch = batches.batches_per_epoch
    total = min(per_epoch, max_steps_per_epoch or per_epoch) * epochs
    optimizer = make_optimizer(model.parameters(), recipe)
    scheduler = make_scheduler(optimizer, recipe, total)
    scaler = precision.grad_scaler()
    model.train()
    with tqdm(
        total=total, desc=f"retrain #{entry['index']}", disable=not progress, file=sys.stderr
    ) as bar:
        for _ in range(total):
            x, y = batches.next()

            def loss(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
                with precision.autocast():
                    logits = model(x)
                return minibatch_metrics(logits, y)[0]

            (value,) = sgd_step(model, [loss], optimizer, scaler, recipe)
            scheduler.step()
            bar.update(1)
            bar.set_postfix_str(f"loss {value:.3f}", refresh=False)

    model.eval()
    val_accuracy, _ = evaluate(model, splits.val.x, splits.val.y, 256, precision)
    test_accuracy, test_loss = evaluate(model, splits.test.x, splits.test.y, 256, precision)
    result = RetrainResult(
        index=entry["index"],
        architecture=arch,
        params=space.n_params(arch),
        val_accuracy=val_accuracy,
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        epochs=epochs,
    )
    return result, model


def _child_config(
    result: RetrainResult, space: SearchSpace, splits: DatasetSplits, document: dict[str, Any]
) -> dict[str, Any]:
    return child_config(
        index=result.index,
        architecture=result.architecture,
        space=space.config(),
        dataset=splits.name,
        classes=list(splits.classes),
        input_shape=(splits.in_channels, splits.image_size, splits.image_size),
        mean=list(splits.mean),
        std=list(splits.std),
        downsample=document.get("downsample"),
        scores={
            "params": result.params,
            "val_accuracy": result.val_accuracy,
            "test_accuracy": result.test_accuracy,
            "test_loss": result.test_loss,
            "epochs": result.epochs,
        },
    )


def _record_files(result: RetrainResult, files: ChildFiles) -> None:
    result.model_path = str(files.model)
    result.json_path = str(files.json)
    result.export_path = None if files.export is None else str(files.export)
    result.onnx_path = None if files.onnx is None else str(files.onnx)


def saved_files(results: list[RetrainResult]) -> list[ChildFiles]:
    """The files the results were saved to (results of a ``retrain`` with ``out``)."""
    return [
        ChildFiles(
            model=Path(r.model_path),
            json=Path(r.json_path),
            export=None if r.export_path is None else Path(r.export_path),
            onnx=None if r.onnx_path is None else Path(r.onnx_path),
        )
        for r in results
        if r.model_path is not None and r.json_path is not None
    ]


def format_retrained(results: list[RetrainResult]) -> str:
    """A plain-text table: index, parameters, validation and test accuracy."""
    return format_table(
        [
            {
                "#": str(r.index),
                "params": f"{r.params:,}",
                "val acc": f"{100 * r.val_accuracy:.2f}%",
                "test acc": f"{100 * r.test_accuracy:.2f}%",
            }
            for r in results
        ]
    )
