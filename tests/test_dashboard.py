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


def _search_study(storage):
    """A search-like study: noisy minibatch trials and four returned architectures, three of them
    almost on one spot at the top (their labels would write over each other)."""
    import numpy as np

    from optuna_isnas.search.results import ArchitectureResult

    study = optuna.create_study(
        study_name="digits-chain", storage=storage, directions=["maximize", "minimize"]
    )
    rng = np.random.default_rng(0)
    dist = {"block": CategoricalDistribution(["a", "b"])}
    for i in range(300):
        params = float(10 ** rng.uniform(3.6, 5))
        accuracy = float(min(1.0, rng.uniform(0.1, 1.0)))
        study.add_trial(
            optuna.trial.create_trial(
                params={"block": "ab"[i % 2]},
                distributions=dist,
                values=[accuracy, params],
                user_attrs={"accuracy": accuracy},
            )
        )
    returned = [
        ArchitectureResult(0, {"block": "a"}, 80_000, 0.99, 0.1, eps=0.0),
        ArchitectureResult(1, {"block": "a"}, 82_000, 0.985, 0.1, eps=1.0),
        ArchitectureResult(2, {"block": "b"}, 84_000, 0.99, 0.1, eps=3.0),
        ArchitectureResult(3, {"block": "b"}, 7_800, 0.92, 0.3, eps=9.0),
    ]
    return study, returned


@pytest.mark.slow
@pytest.mark.skipif(
    find_chromium() is None, reason="no headless Chromium (Debian: apt-get install -y chromium)"
)
def test_figures_fit_their_dashboard_cards_with_axis_titles_and_readable_labels(tmp_path):
    """In a real browser: each saved figure fits the dashboard's 450 px card (nothing clipped),
    keeps its axis titles, and the returned architectures' labels neither overlap each other nor
    leave the figure or run into its title."""
    from _dashboard_harness import dump_dom, overlap, rendered_plot, screenshot

    from optuna_isnas.plots import DASHBOARD_CARD_HEIGHT, fit_dashboard_card, write_pareto_html

    location = str(tmp_path / "search.journal")
    storage = open_storage(location).storage
    study, returned = _search_study(storage)
    write_pareto_html(study, returned, tmp_path / "pareto.html")
    # A comparison-style figure: taller than the card, legend below, a two-line title.
    tall = go.Figure(
        [go.Scatter(x=[1, 2, 3], y=[0.2, 0.5, 0.9], name=f"method {i}") for i in range(6)],
        layout={
            "title": {"text": "Hypervolume against compute<br><sup>mean ± sd over seeds</sup>"},
            "xaxis_title": "search compute: supernet passes",
            "yaxis_title": "hypervolume of the returned set",
            "height": 650,
            "legend": {"orientation": "h", "y": -0.18},
        },
    )
    attach_figures(study, {"isnas-hypervolume": fit_dashboard_card(tall)})
    with serve(location) as url:
        api = check_api(url, "digits-chain")
        dom = dump_dom(url, api.study_id)
        shot = screenshot(url, api.study_id, tmp_path / "dashboard.png")
    assert shot.is_file() and shot.stat().st_size > 10_000

    search = rendered_plot(dom, "optuna-isnas-pareto")
    assert search.height <= DASHBOARD_CARD_HEIGHT
    assert search.axis_titles == ["parameters (log scale)", "validation accuracy"]
    for box in search.axis_title_boxes:
        assert box[1] >= 0 and box[3] <= search.height, box  # drawn inside the card
    labels = search.annotation_boxes
    assert sorted(labels) == ["#0", "#1", "#2", "#3"]
    for name, box in labels.items():
        assert box[0] >= 0 and box[2] <= search.width, (name, box)
        assert search.title_bottom <= box[1] and box[3] <= search.height, (name, box)
    names = sorted(labels)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not overlap(labels[a], labels[b]), (a, labels[a], b, labels[b])

    card = rendered_plot(dom, "isnas-hypervolume")
    assert card.height <= DASHBOARD_CARD_HEIGHT
    assert card.axis_titles == [
        "search compute: supernet passes",
        "hypervolume of the returned set",
    ]
    for box in card.axis_title_boxes:
        assert box[1] >= 0 and box[3] <= card.height, box
