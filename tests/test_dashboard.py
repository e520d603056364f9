"""optuna-dashboard serves a study with the comparison's figures: over HTTP, and rendered in headless Chromium."""

from __future__ import annotations

import optuna
import plotly.graph_objects as go
import pytest
from optuna.distributions import CategoricalDistribution

pytest.importorskip(
    "optuna_dashboard", reason="optuna-dashboard is not installed (the dashboard extra)"
)

from _dashboard_harness import check_api, check_browser, serve

from optuna_isnas.compare.dashboard import attach_figures
from optuna_isnas.compare.figures import find_chromium
from optuna_isnas.search.storage import open_storage

TITLES = ("IS-NAS probabilities over the search", "Hypervolume against search compute")


@pytest.fixture()
def journal(tmp_path):
    location = str(tmp_path / "dashboard.journal")
    study = optuna.create_study(
        study_name="digits-chain-isnas",
        storage=open_storage(location).storage,
        directions=["minimize", "minimize"],
    )
    study.set_metric_names(["loss", "params"])
    dist = {"block": CategoricalDistribution(["skip", "k3_e1", "k5_e6"])}
    for i, (loss, params) in enumerate([(0.9, 3000), (0.5, 9000), (0.4, 20000), (0.6, 25000)]):
        study.add_trial(
            optuna.trial.create_trial(
                params={"block": dist["block"].choices[i % 3]},
                distributions=dist,
                values=[loss, params],
            )
        )
    figures = {
        "isnas-probabilities": go.Figure(
            go.Scatter(x=[1, 2, 3], y=[0.2, 0.5, 0.9]), layout={"title": {"text": TITLES[0]}}
        ),
        "isnas-hypervolume": go.Figure(
            go.Scatter(x=[10, 20], y=[0.1, 0.3]), layout={"title": {"text": TITLES[1]}}
        ),
    }
    attach_figures(study, figures, note="| method | HV |\n| --- | --- |\n| IS-NAS | 0.5 |")
    return location


def test_dashboard_api_serves_the_study_its_figures_and_named_pareto_axes(journal):
    with serve(journal) as url:
        api = check_api(url, "digits-chain-isnas")
        with pytest.raises(LookupError, match="does not list study 'nope'"):
            check_api(url, "nope")
    assert api.n_trials == 4
    assert (
        api.n_best_trials == 3
    )  # (0.9, 3000), (0.5, 9000), (0.4, 20000); (0.6, 25000) is dominated
    assert api.objective_names == ["loss", "params"]
    assert sorted(api.figure_ids) == ["isnas-hypervolume", "isnas-probabilities"]
    assert sorted(api.figure_titles) == sorted(TITLES)


@pytest.mark.slow
@pytest.mark.skipif(
    find_chromium() is None, reason="no headless Chromium (Debian: apt-get install -y chromium)"
)
def test_dashboard_page_renders_the_figures_in_a_real_browser(journal):
    with serve(journal) as url:
        api = check_api(url, "digits-chain-isnas")
        page = check_browser(url, api.study_id, TITLES, axis_names=["loss", "params"])
    assert page.titles_missing == [], page
    assert page.titles_found == list(TITLES)
    # the dashboard's own plots (Pareto front, history, ...) and our two are rendered by plotly.js
    assert page.plotly_plots >= 4
    assert page.axis_names_found == ["loss", "params"]
