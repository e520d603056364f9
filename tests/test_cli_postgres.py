"""``optuna-isnas search --storage postgresql://...``: a tiny search whose studies live on a real
PostgreSQL server (``tests/_postgres.py``)."""

from __future__ import annotations

import json

import optuna
import pytest
from _postgres import postgres_server, postgres_url  # noqa: F401 - fixtures
from _tiny import TINY_SEARCH
from sqlalchemy.engine import make_url

from optuna_isnas.cli import main

TINY = [
    "--dataset",
    "digits",
    "--space",
    "chain",
    "--epsilons",
    "0,2",
    *TINY_SEARCH,
]


def test_search_on_postgres(
    capsys: pytest.CaptureFixture[str],
    tmp_path: object,
    postgres_url: str,  # noqa: F811
) -> None:
    # The plain scheme, as users write it (SQLAlchemy >= 2.1 picks psycopg 3 for it).
    url = make_url(postgres_url)
    assert url.drivername == "postgresql", url
    out = f"{tmp_path}/run"
    assert main(["search", *TINY, "--storage", postgres_url, "--out", out]) == 0
    stdout = capsys.readouterr().out
    assert f"optuna-dashboard {postgres_url}" in stdout

    study = optuna.load_study(study_name="digits-chain", storage=postgres_url)
    first = study.get_trials(deepcopy=False)
    assert first and all(t.state == optuna.trial.TrialState.COMPLETE for t in first)
    summary = optuna.load_study(study_name="digits-chain-summary", storage=postgres_url)
    assert len(summary.get_trials(deepcopy=False)) == 2
    with open(f"{out}/architectures.json") as f:
        document = json.load(f)
    assert [a["eps"] for a in document["architectures"]] == [0.0, 2.0]

    # The same search again finds its study on the server: a clear error, not a second study.
    argv = ["search", *TINY, "--storage", postgres_url, "--out", out]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'digits-chain' already exists in postgresql://" in err
    assert len(optuna.get_all_study_names(storage=postgres_url)) == 2
