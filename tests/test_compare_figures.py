"""PNG figures: written whole (axes, titles, legend) or not at all."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from optuna_isnas.compare import figures

pytestmark = pytest.mark.skipif(
    figures.find_chromium() is None,
    reason="no headless Chromium (Debian: apt-get install chromium)",
)

LEGEND_RED = (255, 0, 0)


def busy_figure() -> go.Figure:
    """Many traces on a log axis, with the legend below the plot: the parts a screenshot missed."""
    rng = np.random.default_rng(0)
    figure = go.Figure()
    for _ in range(150):
        x = np.sort(rng.uniform(1e3, 5e4, 12))
        figure.add_trace(
            go.Scatter(
                x=x,
                y=rng.uniform(0, 0.6, 12),
                mode="lines+markers",
                line={"shape": "hv", "color": "rgb(120,120,200)"},
                showlegend=False,
            )
        )
    # Only the legend shows this colour: its trace lies outside the y range drawn.
    figure.add_trace(
        go.Scatter(x=[2e3], y=[50], mode="markers", marker={"color": "rgb(255,0,0)", "size": 14})
    )
    figure.update_layout(
        width=800,
        height=500,
        template="plotly_white",
        xaxis={"type": "log", "title": "parameters (log scale)"},
        yaxis={"range": [0, 0.7], "title": "validation error"},
        legend={"orientation": "h", "y": -0.3},
    )
    return figure


def test_png_is_the_whole_figure_at_its_size(tmp_path):
    from PIL import Image

    files = figures.save_figure(busy_figure(), tmp_path / "busy", png=True)
    assert files.png is not None
    image = np.asarray(Image.open(files.png).convert("RGB")).astype(int)
    assert image.shape == (500, 800, 3)
    bottom = image[int(0.8 * 500) :]  # below the plot area: x tick labels, x title, legend
    is_red = np.all(np.abs(bottom - LEGEND_RED) < 40, axis=-1)
    assert is_red.sum() > 20, "the legend's marker is missing from the PNG"
    dark = bottom.sum(axis=-1) < 3 * 120
    assert dark.sum() > 200, "no text (axis title, legend label) below the plot"


def test_no_png_when_chromium_renders_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "find_chromium", lambda: "/bin/true")
    files = figures.save_figure(busy_figure(), tmp_path / "none", png=True)
    assert files.png is None
    assert not (tmp_path / "none.png").exists()
    assert (tmp_path / "none.html").is_file()
