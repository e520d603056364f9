"""ISNASSampler with ``study.optimize``, a persistent storage, and complexity budgets.

The objective is a toy: each of 6 "blocks" picks an operation with a known accuracy gain
and parameter cost. The first study uses trade-offs (epsilons), the second asks for
three models under 0.5 M, 1 M and 2 M parameters. With ``--journal`` both studies are
kept in a journal file that optuna-dashboard can open (slower: every write is synced):

    python examples/optimize_toy.py [--journal]
    optuna-dashboard examples_toy.journal    # needs the `dashboard` extra
"""

from __future__ import annotations

import sys

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from optuna_isnas import ISNASSampler

# operation -> (accuracy gain in %, parameters)
OPS = {
    "skip": (0.0, 0),
    "mbconv": (3.0, 60_000),
    "conv3x3": (4.5, 150_000),
    "conv5x5": (5.5, 400_000),
}
BLOCKS = 6
WITH_JOURNAL = "--journal" in sys.argv[1:]


def objective_params(arch: dict[str, str]) -> float:
    return float(20_000 + sum(OPS[op][1] for op in arch.values()))


def objective(trial: optuna.trial.BaseTrial) -> tuple[float, float]:
    ops = {f"block{i}": trial.suggest_categorical(f"block{i}", list(OPS)) for i in range(BLOCKS)}
    accuracy = 60.0 + sum(OPS[op][0] for op in ops.values())
    return accuracy, objective_params(ops)


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A journal file keeps both studies for optuna-dashboard (and lets a second worker
    # process join the same search); use storage=None for an in-memory study.
    storage = JournalStorage(JournalFileBackend("examples_toy.journal")) if WITH_JOURNAL else None

    sampler = ISNASSampler(epsilons=[0.0, 1.0, 3.0, 9.0], seed=1)
    study = optuna.create_study(
        study_name="toy-epsilons",
        storage=storage,
        directions=["maximize", "minimize"],  # accuracy up, parameters down
        sampler=sampler,
        load_if_exists=True,
    )
    study.set_metric_names(["accuracy", "params"])
    study.optimize(objective, n_trials=800)
    print("trade-offs:", sampler.epsilons)
    for arch in sampler.architectures(study):
        print("  ", objective(optuna.trial.FixedTrial(arch)), arch)

    budgets = [0.5e6, 1.0e6, 2.0e6]
    # complexity_fn (optional) gives the exact size of any architecture: the sampler then
    # steers each trade-off by its most likely architecture and returns, per budget, the
    # most likely architecture that fits.
    sampler = ISNASSampler(
        complexity_budgets=budgets, complexity_fn=lambda arch: objective_params(arch), seed=1
    )
    study = optuna.create_study(
        study_name="toy-budgets",
        storage=storage,
        directions=["maximize", "minimize"],
        sampler=sampler,
        load_if_exists=True,
    )
    study.set_metric_names(["accuracy", "params"])
    study.optimize(objective, n_trials=800)
    print(
        "budgets:", budgets, "adapted trade-offs:", [round(e, 3) for e in sampler.tradeoffs(study)]
    )
    for budget, arch in zip(budgets, sampler.architectures(study)):
        accuracy, params = objective(optuna.trial.FixedTrial(arch))
        print(f"   budget {budget:>9,.0f}: params {params:>9,.0f}  accuracy {accuracy:.1f}")


if __name__ == "__main__":
    main()
