"""The numpy core imports neither optuna nor torch (DESIGN.md, "The layers")."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("optuna", "torch", "torchvision", "plotly", "sklearn")

#: Registers the package ``optuna_isnas`` without running its ``__init__`` (which is not
#: part of the core), so that only the core's own imports are measured.
BYPASS_PACKAGE_INIT = (
    "import importlib.util, sys, types\n"
    "spec = importlib.util.find_spec('optuna_isnas')\n"
    "pkg = types.ModuleType('optuna_isnas')\n"
    "pkg.__path__ = list(spec.submodule_search_locations)\n"
    "sys.modules['optuna_isnas'] = pkg\n"
)


def imported_top_level(prelude: str) -> set[str]:
    code = prelude + (
        "import json, sys\n"
        "import optuna_isnas.core\n"
        "from optuna_isnas.core import ISNAS\n"
        "import optuna_isnas.core.categorical, optuna_isnas.core.utility\n"
        "import optuna_isnas.core.asng, optuna_isnas.core.importance\n"
        "import optuna_isnas.core.scales, optuna_isnas.core.isnas\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    top_level = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "optuna_isnas" in top_level and "numpy" in top_level  # the probe works
    return top_level


def test_core_modules_import_no_framework() -> None:
    leaked = sorted(imported_top_level(BYPASS_PACKAGE_INIT).intersection(FORBIDDEN))
    assert not leaked, f"the core modules imported {leaked}"


def test_import_optuna_isnas_core_in_a_fresh_process_imports_no_framework() -> None:
    leaked = sorted(imported_top_level("").intersection(FORBIDDEN))
    assert not leaked, f"importing optuna_isnas.core imported {leaked}"


def test_core_modules_import_nothing_outside_numpy_scipy_and_the_core() -> None:
    """Static check of the import statements of every core module."""
    import ast
    import pathlib

    import optuna_isnas.core

    core_dir = pathlib.Path(optuna_isnas.core.__file__).parent
    allowed = {"numpy", "scipy", "optuna_isnas", "__future__"}
    stdlib = set(sys.stdlib_module_names)
    files = sorted(core_dir.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in stdlib, f"{path.name} imports {name}"
                if top == "optuna_isnas":
                    assert name.startswith("optuna_isnas.core"), f"{path.name} imports {name}"
