"""Packaging: the sampler alone needs numpy and Optuna only; the version has one source.

``test_clean_install_without_extras`` builds a real virtual environment without PyTorch, installs
the package from a copy of this tree without extras (pip fetches numpy and Optuna from the
configured package index, or its cache), and runs the sampler there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import optuna_isnas
from optuna_isnas.cli import main

ROOT = Path(__file__).resolve().parents[1]
NAS_ONLY = ("torch", "torchvision", "plotly", "sklearn", "scipy")

STUDY = """
import optuna, optuna_isnas, sys
optuna.logging.set_verbosity(optuna.logging.WARNING)
sampler = optuna_isnas.ISNASSampler(epsilons=[0.0, 2.0], seed=0)
study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)

def objective(trial):
    xs = [trial.suggest_categorical(f"x{i}", [0, 1, 2]) for i in range(4)]
    return float(sum(2 - x for x in xs)), float(sum(xs))

study.optimize(objective, n_trials=60)
archs = sampler.architectures(study)
assert len(archs) == 2 and all(len(a) == 4 for a in archs), archs
leaked = sorted(m for m in {NAS_ONLY} if m in sys.modules)
assert not leaked, leaked
print("ok", optuna_isnas.__version__)
""".replace("{NAS_ONLY}", repr(NAS_ONLY))

BLOCK = """
import importlib.abc, sys

class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NAS_ONLY}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Block())
""".replace("{NAS_ONLY}", repr(NAS_ONLY))


def test_the_top_level_names_only_the_sampler_and_the_version():
    """The paper's epsilons are not the default, so they stay with the sampler's settings."""
    assert optuna_isnas.__all__ == ["ISNASSampler", "__version__"]
    from optuna_isnas.sampler import ISNASSampler

    assert optuna_isnas.ISNASSampler is ISNASSampler
    with pytest.raises(AttributeError, match="DEFAULT_EPSILONS"):
        optuna_isnas.DEFAULT_EPSILONS  # noqa: B018


def test_version_has_one_source(capsys):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" in project["dynamic"] and "version" not in project
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"optuna-isnas {optuna_isnas.__version__}"
    assert (ROOT / "optuna_isnas" / "py.typed").is_file()


def test_base_dependencies_are_numpy_and_optuna_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0] for d in project["dependencies"]) == ["numpy", "optuna"]
    extras = project["optional-dependencies"]
    assert {"torch", "torchvision", "plotly", "scikit-learn", "tqdm"} <= {
        d.split(">")[0] for d in extras["nas"]
    }
    assert any("[nas" in d for d in extras["dev"]) and any("scipy" in d for d in extras["dev"])


def test_sampler_and_cli_without_torch_in_this_environment():
    """The same checks in this environment with PyTorch and the other NAS packages hidden."""
    ran = subprocess.run(
        [sys.executable, "-c", BLOCK + STUDY], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0 and ran.stdout.startswith("ok"), ran.stderr
    cli = BLOCK + "from optuna_isnas.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"
    version = subprocess.run(
        [sys.executable, "-c", cli, "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and version.stdout.strip().endswith(optuna_isnas.__version__)
    search = subprocess.run(
        [sys.executable, "-c", cli, "search"], capture_output=True, text=True, timeout=60
    )
    assert search.returncode == 2
    assert search.stderr.startswith("error: the optuna-isnas command needs the 'nas' extra")
    assert "Traceback" not in search.stderr and search.stderr.count("\n") == 1


@pytest.mark.slow
def test_clean_install_without_extras(tmp_path):
    """A fresh venv, ``pip install optuna-isnas`` (no extras): no torch, and the sampler runs."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "optuna_isnas", source / "optuna_isnas", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    for module in NAS_ONLY:
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
        assert probe.returncode != 0, f"{module} was installed without the nas extra"
    ran = subprocess.run(
        [str(python), "-c", STUDY], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert ran.returncode == 0 and ran.stdout.strip() == f"ok {optuna_isnas.__version__}", (
        ran.stderr
    )
    cli = venv / "bin" / "optuna-isnas"
    version = subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"optuna-isnas {optuna_isnas.__version__}"
    search = subprocess.run([str(cli), "search"], capture_output=True, text=True, timeout=60)
    assert search.returncode == 2 and "pip install 'optuna-isnas[nas]'" in search.stderr
