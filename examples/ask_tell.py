"""ISNASSampler in your own ask/tell loop: a whole generation asked, evaluated, told.

A toy "architecture" of 8 layers, each choosing a width; a wider layer lowers the loss
with diminishing returns and costs parameters. One search returns four architectures of
different sizes, one per trade-off.

    python examples/ask_tell.py
"""

from __future__ import annotations

import numpy as np
import optuna

from optuna_isnas import ISNASSampler

WIDTHS = [8, 16, 32, 64]
LAYERS = 8


def evaluate(widths: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """A noisy "validation loss" and an exact parameter count."""
    params = float(np.sum(9 * widths * widths) + 650)
    loss = 0.15 + float(np.mean(4.8 / widths)) + rng.normal(0.0, 0.03)
    return loss, params


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    sampler = ISNASSampler(epsilons=[0.0, 1.0, 3.0, 9.0], seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.set_metric_names(["loss", "params"])

    for _ in range(100):  # 100 generations of K * lambda = 8 trials
        trials = [study.ask() for _ in range(sampler.generation_size)]
        for trial in trials:
            widths = np.array(
                [trial.suggest_categorical(f"width{i}", WIDTHS) for i in range(LAYERS)]
            )
            study.tell(trial, evaluate(widths, rng))

    print(f"{len(study.trials)} trials, {sampler.generation(study)} generations")
    for eps, arch in zip(sampler.epsilons, sampler.architectures(study)):
        widths = np.array(list(arch.values()))
        print(
            f"eps={eps:4.1f}  params={int(np.sum(9 * widths * widths) + 650):7d}  widths={list(widths)}"
        )


if __name__ == "__main__":
    main()
