"""Would evaluating each distribution's mode help the mixed suite's family? A probe, not a method.

For every problem of ``mixed_nas.py`` and seed, one default ``ISNASSampler`` study of N trials;
then each distribution's mode (its likeliest categorical choices, each numeric parameter at its
Gaussian's mean) is evaluated once, with the suite's noise, and the best K of the trials plus
those modes are chosen on their observed values at the suite's reference. Printed per problem
(mean over seeds): the returned family, the best K of the trials, the best K of trials and
modes, and each distribution's Gaussian standard deviation of ``lr`` at the end (a share of its
log range: 0.5 at the start). Scores are ratios to the best K-family, as in ``mixed_nas.py``.

    .venv/bin/python benchmarks/mixed_modes.py --trials 400 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

import mixed_nas as mn
import numpy as np
import optuna
import synthetic_nas as sn

from optuna_isnas import ISNASSampler


def _second(item: tuple[Any, float]) -> float:
    return item[1]


def modes(sampler: ISNASSampler, study: optuna.Study, p: mn.MixedProblem) -> list[dict[str, Any]]:
    """Each distribution's likeliest configuration, numeric parameters at their means."""
    out = []
    gaussians = sampler.numeric_distributions(study)
    for k, probs in enumerate(sampler.probabilities(study)):
        params: dict[str, Any] = {n: max(pr.items(), key=_second)[0] for n, pr in probs.items()}
        params.update({n: v for n, (v, _) in gaussians[k].items()})
        if "depth" in params and not p.has_dropout(np.array([params["depth"]]))[0]:
            params.pop("dropout", None)
        out.append(params)
    return out


def run(name: str, trials: int, seed: int) -> tuple[float, float, float, float]:
    p = mn.get_problem(name)
    record = mn.problem_record(name, 4)
    ref, hv_best = np.asarray(record["reference"]), record["hv_best"]
    rng = np.random.default_rng([p.spec.seed, seed])

    def noisy(params: dict[str, Any]) -> tuple[float, float]:
        loss, log_c = p.true_points([params])[0]
        return float(loss) * (1.0 + p.spec.noise * rng.standard_normal()), float(log_c)

    sampler = ISNASSampler(seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        loss, log_c = noisy(p.suggest(trial, 0))
        return loss, 10.0**log_c

    study.optimize(objective, trials)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    params = [dict(t.params) for t in done]
    obs = [[t.values[0], math.log10(t.values[1])] for t in done]
    obs_arr = np.array(obs)
    family = [mn._complete(p, dict(m), done, obs_arr)[0] for m in sampler.architectures(study)]
    extra = modes(sampler, study, p)
    both = params + extra
    both_obs = np.array(obs + [list(noisy(m)) for m in extra])
    best = sn.choose_best(obs_arr, 4, ref)
    best_both = sn.choose_best(both_obs, 4, ref)
    sd = statistics.mean(g["lr"][1] for g in sampler.numeric_distributions(study))
    return (
        mn._ratio(p, family, ref, hv_best),
        mn._ratio(p, [params[i] for i in best], ref, hv_best),
        mn._ratio(p, [both[i] for i in best_both], ref, hv_best),
        sd,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--problems", nargs="+", default=list(mn.SUITE))
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sn._quiet()
    print("| problem | returned | best 4 of the trials | best 4 of trials + modes | lr sd |")
    print("|---|---|---|---|---|")
    rows = []
    for name in args.problems:
        runs = [run(name, args.trials, s) for s in args.seeds]
        row = [statistics.mean(col) for col in zip(*runs)]
        rows.append(row)
        print(f"| {name} | {row[0]:.3f} | {row[1]:.3f} | {row[2]:.3f} | {row[3]:.2f} |", flush=True)
    mean = [statistics.mean(col) for col in zip(*rows)]
    print(f"| **mean** | {mean[0]:.3f} | {mean[1]:.3f} | {mean[2]:.3f} | {mean[3]:.2f} |")


if __name__ == "__main__":
    main()
