"""The README's and docs' code cannot drift: their Python blocks run, their command lines parse,
and the examples run as scripts.

A Python block is marked with an HTML comment on the line before it, ``<!-- test: NAME -->``
(``<!-- test: skip, REASON -->`` for one that cannot run here); every Python block must carry a
mark. ``SETUPS[NAME]`` gives what a block needs to run cheaply: lines run before it (a toy
objective) and replacements (fewer steps), each of which must still match the block's text.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _tiny import TINY_SEARCH

ROOT = Path(__file__).resolve().parent.parent
PYTHON_DOCS = ["README.md", "docs/dashboard.md"]
COMMAND_DOCS = ["README.md", "docs/cli.md", "docs/dashboard.md", "docs/search.md"]
QUICK_SEARCH = (
    "epochs=1, max_steps_per_epoch=2, train_subset=200, val_subset=100, device='cpu', "
    "progress=False,"
)
QUICK_FLAGS = TINY_SEARCH


@dataclass
class Setup:
    before: str = ""
    replace: dict[str, str] = field(default_factory=dict)
    search_first: bool = False  # run a tiny CLI search into runs/demo first


SETUPS = {
    "sampler": Setup(
        before=(
            "import math\n"
            "def validation_loss(c):\n"
            "    ops = [c[f'block{i}'] for i in range(8)]\n"
            "    return (1.0 / (1 + sum(op != 'skip' for op in ops)) / math.log2(c['width'])\n"
            "            + (math.log10(c['lr']) + 2.5) ** 2 + (c['dropout'] - 0.1) ** 2)\n"
            "def parameter_count(c):\n"
            "    ops = [c[f'block{i}'] for i in range(8)]\n"
            "    return c['width'] * sum({'skip': 0, 'conv3': 9, 'conv5': 25}[op] for op in ops)\n"
        ),
        replace={"n_trials=2000": "n_trials=160"},
    ),
    "search": Setup(replace={"epochs=15,": QUICK_SEARCH}),
    "dashboard": Setup(search_first=True),
}


def python_blocks(path: str) -> list[tuple[str, str]]:
    """(mark, code) of each Python block in ``path``; mark is "" where there is none."""
    text = (ROOT / path).read_text()
    found = []
    for match in re.finditer(r"(?:<!-- test: ([^>]*?) -->\n)?```python\n(.*?)```", text, re.S):
        found.append(((match[1] or "").strip(), match[2]))
    return found


ALL_BLOCKS = [(path, mark, code) for path in PYTHON_DOCS for mark, code in python_blocks(path)]


def test_every_python_block_is_marked_and_has_a_setup():
    assert len(ALL_BLOCKS) >= 3
    for path, mark, _ in ALL_BLOCKS:
        assert mark, f"{path}: a python block without <!-- test: NAME --> before it"
        name = mark.split()[0].rstrip(",")
        assert name == "skip" or name in SETUPS, f"{path}: no setup for block {name!r}"


@pytest.mark.parametrize(
    ("path", "mark", "code"),
    [b for b in ALL_BLOCKS if not b[1].startswith("skip")],
    ids=[b[1].split()[0] for b in ALL_BLOCKS if not b[1].startswith("skip")],
)
def test_python_block_runs(path, mark, code, tmp_path, monkeypatch):
    setup = SETUPS[mark.split()[0]]
    for old, new in setup.replace.items():
        assert old in code, f"{path}: the block no longer contains {old!r}; update SETUPS"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)  # blocks write runs/...
    if setup.search_first:
        from optuna_isnas.cli import main

        assert main(["search", *QUICK_FLAGS, "--out", "runs/demo"]) == 0
    namespace = {"__name__": "__readme__"}
    exec(compile(setup.before + code, f"{path}:{mark}", "exec"), namespace)


def command_lines(path: str) -> list[str]:
    """``optuna-isnas ...`` command lines in the doc's shell blocks (comments and prompts cut;
    usage synopses, with ``[...]``, are checked by ``test_usage_synopses_name_real_flags``)."""
    text = (ROOT / path).read_text()
    lines = []
    for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("optuna-isnas ") and " [" not in line:
                lines.append(line.split(" #")[0].strip())
    return lines


def synopses(path: str) -> list[tuple[str, list[str]]]:
    """(subcommand, flags named) of each usage synopsis ``optuna-isnas SUB [--flag ...] ...``."""
    text = (ROOT / path).read_text()
    found = []
    for block in re.findall(r"```\n(optuna-isnas \w+ .*?)```", text, re.S):
        if "[" in block:
            found.append((block.split()[1], re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", block)))
    return found


def test_usage_synopses_name_real_flags(capsys):
    from optuna_isnas.cli import main

    checked = 0
    for path in COMMAND_DOCS:
        for sub, flags in synopses(path):
            assert main([sub, "--help"]) == 0
            helptext = capsys.readouterr().out
            missing = [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}\b", helptext)]
            assert not missing, f"{path}: `optuna-isnas {sub}` synopsis names unknown {missing}"
            checked += 1
    assert checked >= 2


ALL_COMMANDS = [(path, line) for path in COMMAND_DOCS for line in command_lines(path)]


@pytest.mark.parametrize(("path", "line"), ALL_COMMANDS, ids=[c[1][:60] for c in ALL_COMMANDS])
def test_documented_command_lines_parse(path, line):
    """Each documented command is accepted by the parser (its flags and values exist)."""
    from optuna_isnas.cli import build_parser

    argv = shlex.split(line)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{path}: `{line}` does not parse (exit {exc.code})")
    if args.command == "search":  # the values parse too (lists, sizes, KEY=VALUE)
        from optuna_isnas.flags import given_values
        from optuna_isnas.search.config import SearchConfig
        from optuna_isnas.training.recipe import TrainingRecipe

        SearchConfig.build(
            **given_values(args, SearchConfig), **given_values(args, TrainingRecipe)
        ).validate()


EXAMPLES = {
    "ask_tell.py": [],
    "optimize_toy.py": [],
    "supernet_search.py": ["runs/example", "--quick"],
}


def test_every_example_is_run_here():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_as_a_script(name, tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *EXAMPLES[name]],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the example printed nothing"
    assert "np.int64(" not in done.stdout and "np.float64(" not in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
