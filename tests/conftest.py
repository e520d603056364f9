"""Fixtures shared by the test modules.

``fast_tmp``: a scratch directory on a fast file system (tmpfs where there is one), for the
sampler's journal-storage tests (see ``_worker_script.fast_dir``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _worker_script import fast_dir


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[str]:
    with fast_dir(tmp_path) as path:
        yield path
