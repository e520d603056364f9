"""The PostgreSQL worker recipes of README.md and docs/workers.md run as written, against the
test server (``tests/_postgres.py``), with a toy objective and fewer trials.

Their Python blocks carry ``<!-- test: skip, workers: ... -->`` (tests/test_docs.py skips them:
they need a server); here the placeholder URL becomes a fresh database's and ``n_trials`` shrinks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import optuna
from _postgres import postgres_server, postgres_url  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parent.parent
MARK = "workers:"
TOY = (
    "def validation_loss(arch):\n"
    "    return 1.0 / (1 + sum(op != 'skip' for op in arch.values()))\n"
    "def parameter_count(arch):\n"
    "    return sum({'skip': 0, 'conv3': 9, 'conv5': 25}[op] for op in arch.values())\n"
)


def worker_blocks(path: str) -> list[str]:
    """The Python blocks of ``path`` marked as worker recipes, in order."""
    text = (ROOT / path).read_text()
    pattern = r"<!-- test: ([^>]*?) -->\n```python\n(.*?)```"
    return [code for mark, code in re.findall(pattern, text, re.S) if MARK in mark]


def run(code: str, namespace: dict[str, Any], url: str, placeholder: str, trials: str) -> None:
    for old, new in ((placeholder, url), (trials, "n_trials=40")):
        if old in code:
            code = code.replace(old, new)
    assert placeholder not in code
    exec(compile(code, "recipe", "exec"), namespace)


def test_readme_worker_recipe_runs(postgres_url: str) -> None:  # noqa: F811
    (code,) = worker_blocks("README.md")
    assert "n_trials=500" in code
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(
        "import optuna\nfrom optuna_isnas import ISNASSampler\n" + TOY + "def objective(trial):\n"
        "    arch = {f'block{i}': trial.suggest_categorical(f'block{i}', ['skip', 'conv3', 'conv5'])"
        " for i in range(8)}\n"
        "    return validation_loss(arch), parameter_count(arch)\n",
        namespace,
    )
    run(code, namespace, postgres_url, "postgresql://user:password@dbhost/db", "n_trials=500")
    study = optuna.load_study(study_name="nas", storage=postgres_url)
    assert len(study.get_trials(deepcopy=False)) == 40


def test_workers_md_recipe_runs(postgres_url: str) -> None:  # noqa: F811
    create, worker, results = worker_blocks("docs/workers.md")
    namespace: dict[str, Any] = {"__name__": "__workers__"}
    exec(TOY, namespace)
    placeholder = "postgresql://isnas:PASSWORD@DBHOST/isnas"
    run(create, namespace, postgres_url, placeholder, "n_trials=500")
    run(worker, namespace, postgres_url, placeholder, "n_trials=500")  # two workers, one by one
    run(worker, namespace, postgres_url, placeholder, "n_trials=500")
    run(results, namespace, postgres_url, placeholder, "n_trials=500")
    study = namespace["study"]
    assert len(study.get_trials(deepcopy=False)) == 80
    family = namespace["sampler"].architectures(study)
    assert len(family) == 4 and all(set(a) >= {f"block{i}" for i in range(8)} for a in family)
