"""The Makefile's venv step: without an NVIDIA GPU it tries PyTorch's CPU build first, and any
failure of that route falls back to the plain install instead of failing the build.

The step runs for real (make and sh) with stand-ins for python, pip, nvidia-smi and uname that log
their arguments, so no network and no PyTorch are needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CPU_WHEELS = "torch-2.14.1+cpu-cp311-cp311-x.whl torchvision-0.29.1+cpu-cp311-cp311-x.whl"
CUDA_WHEELS = "torch-2.14.1-cp311-cp311-x.whl torchvision-0.29.1-cp311-cp311-x.whl"

FAKE_PIP = """#!/bin/sh
echo "pip $*" >> "$FAKE_LOG"
if [ "$1" = download ]; then
    [ -n "$FAKE_DOWNLOAD_ERROR" ] && { echo "$FAKE_DOWNLOAD_ERROR" >&2; exit 1; }
    while [ "$#" -gt 0 ]; do [ "$1" = --dest ] && dest=$2; shift; done
    for wheel in $FAKE_WHEELS; do : > "$dest/$wheel"; done
fi
exit 0
"""
FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$FAKE_LOG"
[ "$1" = -m ] && [ "$2" = venv ] && mkdir -p "$3"
case "$*" in *torchvision.ops.nms*)
    [ -n "$FAKE_IMPORT_ERROR" ] && { echo "$FAKE_IMPORT_ERROR" >&2; exit 1; } ;;
esac
exit 0
"""

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("timeout") is None,
    reason="needs make and coreutils' timeout",
)


def make_venv(tmp_path, *, gpu=False, cpu_index=None, **fake):
    """Run `make venv` with the stand-ins; (exit code, stdout, the logged commands)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "pip": FAKE_PIP,
        "python": FAKE_PYTHON,
        "nvidia-smi": f"#!/bin/sh\nexit {0 if gpu else 9}\n",
        "uname": "#!/bin/sh\necho Linux x86_64\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "log"
    log.touch()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        **{f"FAKE_{k.upper()}": v for k, v in fake.items()},
    }
    command = [
        "make",
        "--no-print-directory",
        "-C",
        str(ROOT),
        "venv",
        f"VENV={tmp_path / 'venv'}",
        f"BIN={bin_dir}",
        f"PYTHON={bin_dir / 'python'}",
    ]
    if cpu_index is not None:
        command.append(f"TORCH_CPU_INDEX={cpu_index}")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, log.read_text().splitlines()


def pip_calls(calls, verb):
    return [c for c in calls if c.startswith(f"pip {verb} ")]


def assert_ends_with_the_project_install(code, calls):
    assert code == 0
    assert calls[-2] == "pip install --quiet -e .[dev]"
    assert calls[-1].startswith("python -c import torch")


def test_without_a_gpu_the_cpu_wheels_come_first(tmp_path):
    code, out, calls = make_venv(tmp_path, wheels=CPU_WHEELS)
    assert_ends_with_the_project_install(code, calls)
    (download,) = pip_calls(calls, "download")
    assert "--index-url https://download.pytorch.org/whl/cpu" in download
    assert download.endswith(" torch torchvision")
    installs = pip_calls(calls, "install")
    assert "torch-2.14.1+cpu" in installs[1] and "torchvision-0.29.1+cpu" in installs[1]
    assert not pip_calls(calls, "uninstall")
    assert f"installed {CPU_WHEELS}" in out


def test_wheels_that_are_not_cpu_builds_are_not_installed(tmp_path):
    # What pip does on a machine with a local index beside an unreachable CPU index.
    code, out, calls = make_venv(tmp_path, wheels=CUDA_WHEELS)
    assert_ends_with_the_project_install(code, calls)
    assert len(pip_calls(calls, "install")) == 2  # pip itself, then the project
    assert "no +cpu builds" in out and "installing the default index's PyTorch" in out


def test_a_failed_download_falls_back(tmp_path):
    error = "ERROR: No matching distribution found for torch"
    code, out, calls = make_venv(tmp_path, download_error=error)
    assert_ends_with_the_project_install(code, calls)
    assert len(pip_calls(calls, "install")) == 2
    assert f"download failed: {error}" in out


def test_a_pair_that_does_not_import_is_removed(tmp_path):
    error = "RuntimeError: operator torchvision::nms does not exist"
    code, out, calls = make_venv(tmp_path, wheels=CPU_WHEELS, import_error=error)
    assert_ends_with_the_project_install(code, calls)
    assert pip_calls(calls, "uninstall") == ["pip uninstall --quiet --yes torch torchvision"]
    assert error in out


@pytest.mark.parametrize("case", ["gpu", "no index"])
def test_no_cpu_route_with_a_gpu_or_without_an_index(tmp_path, case):
    options = {"gpu": True} if case == "gpu" else {"cpu_index": ""}
    code, out, calls = make_venv(tmp_path, wheels=CPU_WHEELS, **options)
    assert_ends_with_the_project_install(code, calls)
    assert not pip_calls(calls, "download")
    assert "CPU build" not in out
