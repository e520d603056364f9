"""A supernet search through the Python API: several architecture sizes from one one-shot search.

Runs as is on a CPU in a minute or two (digits, the chain space); ``--quick`` runs a few steps
only (the test suite runs it so):

    python examples/supernet_search.py [OUTPUT_DIRECTORY] [--quick]

It drives the search with an ISNASSampler built by hand (three tradeoffs), prints the returned
architectures, then takes the smallest one out of the supernet with its shared weights, gives its
BatchNorm layers running statistics and saves its state_dict and a ``torch.export`` program (which
runs with PyTorch alone: ``torch.export.load(path).module()(images)``).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch

from optuna_isnas import ISNASSampler
from optuna_isnas.search import SearchConfig, TrainingRecipe, format_architectures, run_search
from optuna_isnas.spaces import recalibrate_batchnorm


def main(out: str = "runs/example", quick: bool = False) -> None:
    config = SearchConfig(
        dataset="digits",
        space="chain",
        epsilons=(
            0.0,
            2.0,
            8.0,
        ),  # K = 3 distributions, from "accuracy only" to "size matters most"
        epochs=8,
        batch_size=64,
        seed=0,
        out=out,
        recipe=TrainingRecipe(
            lr=0.1, weight_decay=5e-4
        ),  # ASNG-NAS's recipe, faster for a tiny set
    )
    if quick:  # a few steps on a subset: checks that the example runs, learns little
        config = replace(config, epochs=1, max_steps_per_epoch=3, train_subset=300, progress=False)
    # Any Optuna sampler works here (RandomSampler, NSGAIISampler, ...); ISNASSampler returns K architectures.
    sampler = ISNASSampler(epsilons=config.epsilons, samples_per_distribution=2, seed=config.seed)
    result = run_search(config, sampler=sampler, overwrite=True)

    print(format_architectures(result.architectures))
    print(f"\nstudies in {result.storage_location}; open them with: {result.dashboard_command()}")

    # The smallest architecture, with the weights it learned inside the supernet.
    smallest = min(result.architectures, key=lambda a: a.params)
    child = result.supernet.extract_child(smallest.architecture)
    splits = result.session.splits  # the data the search used, as loaded (CPU)
    recalibrate_batchnorm(
        child, [splits.train.x[i : i + 256] for i in range(0, len(splits.train), 256)]
    )
    with torch.no_grad():
        accuracy = (child(splits.val.x).argmax(1) == splits.val.y).float().mean().item()
    child.eval()
    weights = Path(out) / "smallest-child.state_dict.pt"
    torch.save(child.state_dict(), weights)  # loads with torch.load(weights_only=True)
    program = torch.export.export(child, (splits.val.x[:2],))
    exported = Path(out) / "smallest-child.pt2"
    torch.export.save(program, exported)
    print(
        f"saved the smallest architecture ({smallest.params:,} parameters, validation accuracy "
        f"{100 * accuracy:.2f}% as a standalone module with recalibrated BatchNorm): "
        f"{weights} and {exported}"
    )


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--quick"]
    main(arguments[0] if arguments else "runs/example", quick="--quick" in sys.argv[1:])
