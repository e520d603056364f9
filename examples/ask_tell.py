"""ISNASSampler in your own ask/tell loop: a whole generation asked, evaluated, told.

A toy "architecture" of 8 layers, each choosing a width; a wider layer lowers the loss
with diminishing returns and costs parameters. One search returns a family of four
architectures of different sizes: by default the four it evaluated whose hypervolume is
largest (docs/algorithm.md section 9), largest first.

    python examples/ask_tell.py
"""

from __future__ import annotations

from typing import cast

import numpy as np
import optuna

from optuna_isnas import ISNASSampler

WIDTHS = [8, 16, 32, 64]
LAYERS = 8


def n_params(widths: np.ndarray) -> int:
    """The exact parameter count of the toy network."""
    return int(np.sum(9 * widths * widths) + 650)


def evaluate(widths: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """A noisy "validation loss" and the parameter count."""
    loss = 0.15 + float(np.mean(4.8 / widths)) + rng.normal(0.0, 0.03)
    return loss, float(n_params(widths))


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    sampler = ISNASSampler(seed=0)  # K = 4, the family of largest hypervolume
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)

    for _ in range(100):  # 100 generations of K * lambda = 16 trials
        trials = [study.ask() for _ in range(sampler.generation_size)]
        for trial in trials:
            widths = np.array(
                [trial.suggest_categorical(f"width{i}", WIDTHS) for i in range(LAYERS)]
            )
            study.tell(trial, evaluate(widths, rng))

    print(f"{len(study.trials)} trials, {sampler.generation(study)} updates of the distributions")
    for k, arch in enumerate(sampler.architectures(study)):
        chosen = np.array([cast(int, arch[f"width{i}"]) for i in range(LAYERS)])
        loss = 0.15 + float(np.mean(4.8 / chosen))
        print(f"#{k}  params={n_params(chosen):7,d}  loss={loss:.3f}  widths={chosen.tolist()}")


if __name__ == "__main__":
    main()
