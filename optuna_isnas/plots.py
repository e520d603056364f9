"""Plotly figures of a search.

``pareto_figure`` draws every evaluated trial (validation-minibatch accuracy against parameters),
the Pareto front of those trials, and the returned architectures scored on the whole validation
split. ``write_pareto_html`` saves it as a self-contained HTML file (plotly.js embedded, so it
opens offline). The figure can also be attached to a study for optuna-dashboard with
``optuna_dashboard.save_plotly_graph_object(study, figure)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

MAX_POINTS = 20_000


class ReturnedModel(Protocol):
    """What the figures read of a returned architecture (``search.ArchitectureResult`` is one).

    Attributes:
        index: Its position in the returned family.
        params: Parameters of its standalone network.
        accuracy: Its accuracy on the whole validation split.
        eps: Its trade-off coefficient in trade-off mode, else None.
        budget: Its complexity budget in budget mode, else None.
    """

    @property
    def index(self) -> int: ...
    @property
    def params(self) -> int: ...
    @property
    def accuracy(self) -> float: ...
    @property
    def eps(self) -> float | None: ...
    @property
    def budget(self) -> float | None: ...


def pareto_figure(
    study: optuna.Study,
    architectures: Sequence[ReturnedModel] = (),
    title: str | None = None,
) -> go.Figure:
    """Accuracy against parameters of a search study's trials and of its returned architectures.

    Args:
        study: The search study; trials need the user attr ``"accuracy"`` and values
            ``[objective, params]`` (as the search loop tells them).
        architectures: Returned architectures (``ReturnedModel``: ``index``, ``params``,
            ``accuracy``, ``eps`` and ``budget``; e.g. a search's ``ArchitectureResult``).
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
    # The returned architectures: a short label "#i" on a white box beside each marker, placed
    # where it meets no other label (_label_offsets), and the details (eps or budget,
    # parameters, accuracy) in the legend.
    ordered = sorted(architectures, key=lambda a: a.params)
    ys_all = [t.user_attrs["accuracy"] for t in shown] + [a.accuracy for a in architectures]
    offsets = _label_offsets(
        [(math.log10(max(a.params, 1)), a.accuracy) for a in ordered],
        y_span=max(ys_all, default=1.0) - min(ys_all, default=0.0),
    )
    for rank, (entry, offset) in enumerate(zip(ordered, offsets)):
        figure.add_trace(
            go.Scatter(
                x=[entry.params],
                y=[entry.accuracy],
                mode="markers",
                marker={"size": 11, "color": "crimson", "symbol": "diamond"},
                name=_label(entry),
                legendgroup="returned",
                legendgrouptitle={"text": "returned (whole validation split)"}
                if rank == 0
                else None,
                hovertemplate=f"{_label(entry)}<extra></extra>",
            )
        )
        figure.add_annotation(
            x=math.log10(max(entry.params, 1)),  # annotations on a log axis take log10(x)
            y=entry.accuracy,
            text=f"#{entry.index}",
            showarrow=True,
            arrowcolor="crimson",
            arrowwidth=1,
            arrowhead=0,
            ax=offset[0],
            ay=offset[1],
            font={"size": 11, "color": "crimson"},
            bgcolor="rgba(255,255,255,0.9)",
            bordercolor="crimson",
            borderwidth=1,
            borderpad=1,
        )
    ys = ys_all
    figure.update_layout(
        title=title or f"{study.study_name}: accuracy vs parameters",
        xaxis_title="parameters (log scale)",
        yaxis_title="validation accuracy",
        template="plotly_white",
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "font": {"size": 11}},
        margin={"t": 60},
    )
    if ys:  # room above the top marker and below the lowest for their labels
        low, high = min(ys), max(ys)
        span = max(high - low, 0.02)
        figure.update_yaxes(range=[low - 0.12 * span, high + 0.15 * span])
    figure.update_xaxes(type="log")
    return figure


DASHBOARD_CARD_HEIGHT = 450
"""optuna-dashboard 0.21 draws each saved figure in a half-width card 450 px high (its page
clips a taller figure: axis titles and legend vanish)."""
_TOOLBAR_PX = 30


def fit_dashboard_card(figure: go.Figure) -> go.Figure:
    """A copy of ``figure`` laid out for an optuna-dashboard card: its width and 450 px high,
    smaller title and legend, the legend below the axis title, no clipped top label."""
    copy = go.Figure(figure)
    copy.layout.width = None
    copy.layout.height = DASHBOARD_CARD_HEIGHT
    copy.layout.autosize = True
    lines = (copy.layout.title.text or "").count("<br>") + 1
    # The title starts below the dashboard's toolbar (the top right 30 px of the card).
    copy.update_layout(
        title={
            "font": {"size": 13},
            "yref": "container",
            "y": 1 - _TOOLBAR_PX / DASHBOARD_CARD_HEIGHT,
            "yanchor": "top",
            "x": 0.01,
            "xanchor": "left",
        },
        margin={"l": 60, "r": 25, "t": _TOOLBAR_PX + 20 * lines + 14, "b": 10},
        legend={
            "orientation": "h",
            "font": {"size": 10},
            "yref": "container",
            "y": 0,
            "yanchor": "bottom",
            "itemsizing": "constant",
        },
    )
    for annotation in copy.layout.annotations or ():
        annotation.font.size = min(annotation.font.size or 12, 10)
    copy.update_xaxes(automargin=True, title_standoff=4)
    copy.update_yaxes(automargin=True)
    return copy


def write_pareto_html(
    study: optuna.Study,
    architectures: Sequence[ReturnedModel],
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
        save_plotly_graph_object(
            study, fit_dashboard_card(figure), graph_object_id="optuna-isnas-pareto"
        )
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


_CANDIDATE_OFFSETS = [
    (0, -24),
    (0, 24),
    (30, -24),
    (-30, -24),
    (30, 24),
    (-30, 24),
    (0, -46),
    (0, 46),
]
_LABEL_W, _LABEL_H = 26.0, 18.0  # a label's box in pixels (with a margin)
_PLOT_W, _PLOT_H = 450.0, 250.0  # the smallest plot area the figure is drawn in (dashboard card)


def _label_offsets(points: Sequence[tuple[float, float]], y_span: float) -> list[tuple[int, int]]:
    """Arrow offsets (pixels) of one label per point, each placed where its box meets no box
    placed before (``points``: (log10 params, accuracy); tried in order of size)."""
    if not points:
        return []
    xs = [x for x, _ in points]
    x_span = max(max(xs) - min(xs), 1.0)
    y_span = max(y_span, 0.02)
    boxes: list[tuple[float, float]] = []
    chosen = []
    for x, y in points:
        px, py = x / x_span * _PLOT_W, -y / y_span * _PLOT_H
        best = _CANDIDATE_OFFSETS[0]
        for dx, dy in _CANDIDATE_OFFSETS:
            centre = (px + dx, py + dy)
            if all(
                abs(centre[0] - bx) >= _LABEL_W or abs(centre[1] - by) >= _LABEL_H
                for bx, by in boxes
            ):
                best = (dx, dy)
                break
        boxes.append((px + best[0], py + best[1]))
        chosen.append(best)
    return chosen


def _label(entry: ReturnedModel) -> str:
    """``#0 eps 0: 80,234 params, 98.05 %`` (or ``budget 2e+04``)."""
    if entry.budget is not None:
        which = f" budget {entry.budget:,.0f}"
    elif entry.eps is not None:
        which = f" eps {entry.eps:g}"
    else:
        which = ""
    return f"#{entry.index}{which}: {entry.params:,} params, {100 * entry.accuracy:.2f} %"
