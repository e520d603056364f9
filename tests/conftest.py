"""Fixtures shared by the test modules.

``fast_tmp``: a scratch directory on a fast file system (tmpfs where there is one), for the
sampler's journal-storage tests (see ``_worker_script.fast_dir``); ``storage_spec``: each
storage the sampler's multi-process tests run on, a journal file there or a fresh PostgreSQL
database (``_postgres.postgres_url``).

Hypothesis profiles: ``HYPOTHESIS_PROFILE=ci`` (set by ``.ci/run``) draws the same examples on
every run, so CI passes or fails as the same run here does; without it each run explores new
examples, and a failure prints the example to reproduce it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _postgres import postgres_server, postgres_url  # noqa: F401 - fixtures
from _worker_script import fast_dir
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[str]:
    with fast_dir(tmp_path) as path:
        yield path


@pytest.fixture(params=["journal", "postgres"])
def storage_spec(request: pytest.FixtureRequest, fast_tmp: str) -> str:
    """Where the study lives: a journal file on tmpfs, or a fresh PostgreSQL database."""
    if request.param == "journal":
        return os.path.join(fast_tmp, "study.log")
    return str(request.getfixturevalue("postgres_url"))
