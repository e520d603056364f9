"""Plotly figures of a search.

``pareto_figure`` draws every evaluated trial (validation-minibatch accuracy against parameters),
the Pareto front of those trials, and the returned architectures scored on the whole validation
split. ``write_pareto_html`` saves it as a self-contained HTML file (plotly.js embedded, so it
opens offline). The figure can also be attached to a study for optuna-dashboard with
``optuna_dashboard.save_plotly_graph_object(study, figure)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

if TYPE_CHECKING:
    from optuna_isnas.search.results import ArchitectureResult

MAX_POINTS = 20_000


def pareto_figure(
    study: optuna.Study,
    architectures: Sequence[ArchitectureResult] = (),
    title: str | None = None,
) -> go.Figure:
    """Accuracy against parameters of a search study's trials and of its returned architectures.

    Args:
        study: The search study; trials need the user attr ``"accuracy"`` and values
            ``[objective, params]`` (as the search loop tells them).
        architectures: Returned architectures, objects with ``index``, ``params``, ``accuracy``,
            ``eps`` and ``budget`` attributes (``ArchitectureResult``).
        title: Figure title; defaults to the study name.
    """
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if "accuracy" in t.user_attrs
    ]
    stride = max(1, len(trials) // MAX_POINTS)
    shown = trials[::stride]
    front = _front([(t.values[1], t.user_attrs["accuracy"]) for t in trials])

    figure = go.Figure()
    figure.add_trace(
        go.Scattergl(
            x=[t.values[1] for t in shown],
            y=[t.user_attrs["accuracy"] for t in shown],
            mode="markers",
            name="evaluated trials (minibatch)" + ("" if stride == 1 else f", every {stride}th"),
            marker={"size": 4, "color": "rgba(120,120,120,0.35)"},
            text=[f"trial {t.number}" for t in shown],
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[p for p, _ in front],
            y=[a for _, a in front],
            mode="lines",
            line={"shape": "hv", "color": "rgba(31,119,180,0.8)"},
            name="Pareto front of the trials",
        )
    )
    if architectures:
        figure.add_trace(
            go.Scatter(
                x=[a.params for a in architectures],
                y=[a.accuracy for a in architectures],
                mode="markers+text",
                marker={"size": 12, "color": "crimson", "symbol": "diamond"},
                text=[_label(a) for a in architectures],
                textposition="top center",
                name="returned architectures (whole validation split)",
            )
        )
    figure.update_layout(
        title=title or f"{study.study_name}: accuracy vs parameters",
        xaxis_title="parameters",
        yaxis_title="validation accuracy",
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    figure.update_xaxes(type="log")
    return figure


def write_pareto_html(
    study: optuna.Study,
    architectures: Sequence[ArchitectureResult],
    path: str | Path,
    *,
    to_dashboard: bool = True,
) -> Path:
    """Write :func:`pareto_figure` as a self-contained HTML file and return its path.

    With ``to_dashboard`` and optuna-dashboard installed, the figure is also saved into the study
    (``optuna_dashboard.save_plotly_graph_object``), where the dashboard shows it on the study's page.
    """
    path = Path(path)
    figure = pareto_figure(study, architectures)
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    if to_dashboard:
        try:
            from optuna_dashboard import save_plotly_graph_object
        except ImportError:
            return path
        save_plotly_graph_object(study, figure, graph_object_id="optuna-isnas-pareto")
    return path


def _front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by another (fewer params and higher accuracy), by increasing params."""
    front: list[tuple[float, float]] = []
    best = float("-inf")
    for params, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if accuracy > best:
            front.append((params, accuracy))
            best = accuracy
    return front


def _label(entry: ArchitectureResult) -> str:
    if entry.budget is not None:
        return f"#{entry.index} budget {entry.budget:g}"
    if entry.eps is not None:
        return f"#{entry.index} eps {entry.eps:g}"
    return f"#{entry.index}"
