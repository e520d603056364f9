"""A real PostgreSQL server for the tests, and a fresh database on it per test.

The server comes from ``OPTUNA_ISNAS_TEST_POSTGRES_URL`` when it is set (``.ci/run`` sets it:
a SQLAlchemy URL of a user that may create databases, e.g.
``postgresql://me@localhost/postgres``). Otherwise each pytest process starts a throwaway
server from the installed binaries with ``.ci/postgres.sh`` and stops it at the end; without
binaries the tests skip with a reason, except under CI (``CI`` set), where they fail.

Test modules import the fixtures: ``from _postgres import postgres_server, postgres_url``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

ENV = "OPTUNA_ISNAS_TEST_POSTGRES_URL"
HELPER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".ci", "postgres.sh"
)
HOW = (
    f"set {ENV} to a server's SQLAlchemy URL (a user that may create databases), or install "
    "PostgreSQL's server binaries (Debian: apt-get install postgresql) for the tests to start one"
)


def _unavailable(reason: str) -> None:
    """Skip, or fail under CI, where the PostgreSQL tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server: {reason}; {HOW}")


def _engine(url: str) -> Any:
    """An engine for administration (CREATE/DROP DATABASE): autocommit, no pooling."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    return sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _answers(url: str) -> str | None:
    """None when ``url`` accepts a connection, else the reason why not (one line)."""
    try:
        import sqlalchemy

        with _engine(url).connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        return text[0] if text else type(exc).__name__
    return None


def _start_throwaway() -> tuple[str, str]:
    """(URL, directory) of a new server started by ``.ci/postgres.sh``."""
    if shutil.which("bash") is None:
        _unavailable("bash is needed to start a throwaway server")
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # tmpfs: no disk writes
    directory = tempfile.mkdtemp(prefix="isnas-pg-", dir=base)
    done = subprocess.run(
        ["bash", HELPER, "start", directory],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        subprocess.run(
            ["bash", HELPER, "stop", directory], check=False, capture_output=True, timeout=120
        )
        shutil.rmtree(directory, ignore_errors=True)
        _unavailable(
            done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "start failed"
        )
    return done.stdout.strip(), directory


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server for this test session (see the module docstring)."""
    url = os.environ.get(ENV)
    if url:
        reason = _answers(url)
        if reason is not None:
            pytest.fail(f"{ENV}={url!r} does not answer: {reason}", pytrace=False)
        yield url
        return
    url, directory = _start_throwaway()
    try:
        yield url
    finally:
        subprocess.run(
            ["bash", HELPER, "stop", directory], check=False, capture_output=True, timeout=120
        )


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """URL of a new, empty database on the test server, dropped after the test."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    name = f"isnas_test_{uuid.uuid4().hex[:12]}"
    admin = _engine(postgres_server)
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            try:  # FORCE (PostgreSQL >= 13) also ends connections a test left open
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except sqlalchemy.exc.ProgrammingError:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
