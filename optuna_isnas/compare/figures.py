"""Plotly figures of a comparison, written as HTML (always) and PNG (with a headless Chromium).

- :func:`pareto_fronts_figure`: every method's returned set in the (parameters, validation error)
  plane, one colour per method, one marker per seed, each seed's front as a step line;
- :func:`probabilities_figure`: each IS-NAS distribution's choice probabilities over the search;
- :func:`expected_params_figure`: each distribution's expected parameter count over the search,
  IS-NAS's and the separate searches' side by side;
- :func:`hypervolume_figure`: hypervolume against compute (supernet passes), mean ± sd over seeds.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from optuna_isnas.compare.records import SearchRecord, Variant
from optuna_isnas.compare.scoring import Reference, SeedScore, mean_sd, variant_title
from optuna_isnas.core.hypervolume import pareto_front


@dataclass(frozen=True)
class FigureFiles:
    """Where one figure was written: HTML always, PNG where a headless Chromium made one."""

    html: str
    png: str | None


@dataclass
class FigureSet:
    """A comparison's figures (by name), their files, and whether PNGs were asked but not made."""

    figures: dict[str, go.Figure] = field(default_factory=dict)
    files: dict[str, FigureFiles] = field(default_factory=dict)
    png_skipped: bool = False


COLORS = {
    "isnas": "#d62728",
    "separate": "#1f77b4",
    "nsgaii": "#2ca02c",
    "tpe": "#9467bd",
    "random": "#7f7f7f",
}
SHADES = {  # further budgets of the same method: lighter shades
    "isnas": ("#d62728", "#ff9896", "#8c1a1b"),
    "separate": ("#1f77b4", "#aec7e8", "#0d3d61"),
}
SYMBOLS = (
    "circle",
    "square",
    "diamond",
    "triangle-up",
    "cross",
    "x",
    "star",
    "pentagon",
    "hexagon",
    "triangle-down",
)
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
CHOICE_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _method(variant: str) -> str:
    return Variant.parse(variant).method


def _color(variant: str, variants: Sequence[str]) -> str:
    method = _method(variant)
    same = [v for v in variants if _method(v) == method]
    shades = SHADES.get(method, (COLORS.get(method, "black"),))
    return shades[same.index(variant) % len(shades)] if variant in same else shades[0]


def _dash(variant: str, variants: Sequence[str]) -> str:
    same = [v for v in variants if _method(v) == _method(variant)]
    return DASHES[same.index(variant) % len(DASHES)]


def pareto_fronts_figure(
    scores: dict[str, list[SeedScore]], order: Sequence[str], reference: Reference, title: str
) -> go.Figure:
    """All methods' returned sets (whole-validation error against parameters), seeds as markers."""
    figure = go.Figure()
    for variant in order:
        color = _color(variant, order)
        for i, seed in enumerate(scores.get(variant, [])):
            points = [(e.params, e.error) for e in seed.returned]
            if not points:
                continue
            front = [points[j] for j in pareto_front(points)]
            xs, ys = _steps(front, reference)
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": color, "width": 1, "dash": _dash(variant, order), "shape": "hv"},
                    opacity=0.45,
                    legendgroup=variant,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            figure.add_trace(
                go.Scatter(
                    x=[p for p, _ in points],
                    y=[e for _, e in points],
                    mode="markers",
                    marker={
                        "color": color,
                        "symbol": SYMBOLS[i % len(SYMBOLS)],
                        "size": 8,
                        "line": {"width": 0.5, "color": "white"},
                    },
                    name=variant_title(variant),
                    legendgroup=variant,
                    showlegend=i == 0,
                    text=[
                        f"{variant_title(variant)}, seed {seed.seed}"
                        + (f", eps {e.eps:g}" if e.eps is not None else "")
                        for e in seed.returned
                    ],
                    hovertemplate="%{text}<br>params %{x:,}<br>val error %{y:.4f}<extra></extra>",
                )
            )
    figure.update_layout(
        title=title,
        template="plotly_white",
        xaxis_title="parameters (log scale)",
        yaxis_title="validation error (whole split)",
        legend={"orientation": "h", "y": -0.18},
        width=1000,
        height=650,
        annotations=[
            {
                "text": "markers: seeds (circle = first); lines: each seed's front",
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 1,
                "y": 1.04,
                "xanchor": "right",
                "font": {"size": 11},
            }
        ],
    )
    figure.update_xaxes(type="log")
    return figure


def _steps(
    front: list[tuple[float, float]], reference: Reference
) -> tuple[list[float], list[float]]:
    """A front's attainment line: from each point right until the next, ending at the reference's params."""
    xs = [p for p, _ in front] + [reference.params]
    ys = [e for _, e in front] + [front[-1][1]]
    return xs, ys


def probabilities_figure(record: SearchRecord, title: str) -> go.Figure:
    """One row per distribution, one column per variable: stacked choice probabilities over the steps."""
    probs = record.probs
    variables = record.variables
    names = list(variables)
    k = len(probs[0].theta) if probs else 0
    eps: Sequence[float | None] = record.epsilons or [None] * k
    figure = make_subplots(
        rows=max(k, 1),
        cols=len(names),
        shared_xaxes=True,
        shared_yaxes=True,
        column_titles=names,
        row_titles=[f"eps {e:g}" if e is not None else f"dist {i}" for i, e in enumerate(eps)],
        horizontal_spacing=0.015,
        vertical_spacing=0.03,
    )
    choices_all = sorted({c for cs in variables.values() for c in cs})
    color = {c: CHOICE_COLORS[i % len(CHOICE_COLORS)] for i, c in enumerate(choices_all)}
    steps = [p.step for p in probs]
    shown: set[str] = set()
    for row in range(k):
        for col, name in enumerate(names):
            for j, choice in enumerate(variables[name]):
                figure.add_trace(
                    go.Scatter(
                        x=steps,
                        y=[round(p.theta[row][col][j], 4) for p in probs],
                        mode="lines",
                        stackgroup=f"{row}-{col}",
                        line={"width": 0.5, "color": color[choice]},
                        name=choice,
                        legendgroup=choice,
                        showlegend=choice not in shown,
                        hovertemplate=f"{name}={choice}: %{{y:.3f}} at step %{{x}}<extra></extra>",
                    ),
                    row=row + 1,
                    col=col + 1,
                )
                shown.add(choice)
    # Ticks 0 and 0.5 only: a 1 at each row's top would sit on the 0 of the row above.
    figure.update_yaxes(range=[0, 1], tickvals=[0, 0.5], showticklabels=False)
    figure.update_yaxes(showticklabels=True, col=1)
    figure.update_xaxes(title_text="step", row=k)
    figure.update_layout(
        title=title,
        template="plotly_white",
        width=1200,
        height=220 * max(k, 1) + 160,
        legend={"orientation": "h", "y": -0.08},
        margin={"l": 60, "r": 60},
    )
    return figure


def expected_params_figure(
    isnas: Sequence[SearchRecord],
    separate: Sequence[SearchRecord],
    epsilons: Sequence[float],
    reference: Reference,
    title: str,
) -> go.Figure:
    """E[parameters] of every distribution over the steps: IS-NAS solid, separate searches dashed."""
    figure = go.Figure()
    for source, records, dash in (("IS-NAS", isnas, "solid"), ("separate", separate, "dash")):
        for r_index, record in enumerate(records):
            probs = record.probs
            if not probs or record.epsilons is None:
                continue
            steps = [p.step for p in probs]
            first_seed = records[0].job.seed
            for k in range(len(probs[0].expected_params)):
                eps_k = record.epsilons[k]
                index = list(epsilons).index(eps_k) if eps_k in epsilons else k
                figure.add_trace(
                    go.Scatter(
                        x=steps,
                        y=[round(p.expected_params[k]) for p in probs],
                        mode="lines",
                        line={
                            "dash": dash,
                            "color": CHOICE_COLORS[index % len(CHOICE_COLORS)],
                            "width": 2 if r_index < len(epsilons) else 1,
                        },
                        opacity=0.9 if record.job.seed == first_seed else 0.35,
                        name=f"{source}, eps {eps_k:g}",
                        legendgroup=f"{source}-{eps_k:g}",
                        showlegend=record.job.seed == first_seed,
                        hovertemplate=f"{source} eps {eps_k:g} seed {record.job.seed}: %{{y:,}} params at step %{{x}}<extra></extra>",
                    )
                )
    figure.update_layout(
        title=title,
        template="plotly_white",
        xaxis_title="step",
        yaxis_title="expected parameters of the distribution",
        width=1000,
        height=600,
        legend={"orientation": "h", "y": -0.18},
    )
    figure.add_hline(
        y=reference.params / 1.1,
        line={"dash": "dot", "color": "black", "width": 1},
        annotation_text="largest child",
        annotation_position="top left",
    )
    return figure


def hypervolume_figure(
    scores: dict[str, list[SeedScore]], order: Sequence[str], title: str
) -> go.Figure:
    """Hypervolume of the returned set against search compute, mean ± sd over seeds per method."""
    figure = go.Figure()
    for variant in order:
        seeds = [s for s in scores.get(variant, []) if s.trace]
        if not seeds:
            continue
        n = min(len(s.trace) for s in seeds)
        color = _color(variant, order)
        xs = [mean_sd([s.trace[i][0] for s in seeds])[0] for i in range(n)]
        stats = [mean_sd([s.trace[i][1] for s in seeds]) for i in range(n)]
        means = [m for m, _ in stats]
        figure.add_trace(
            go.Scatter(
                x=xs + xs[::-1],
                y=[m + sd for m, sd in stats] + [m - sd for m, sd in stats][::-1],
                fill="toself",
                fillcolor=color,
                opacity=0.12,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=variant,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=means,
                mode="lines+markers",
                line={"color": color, "dash": _dash(variant, order)},
                name=variant_title(variant),
                legendgroup=variant,
                hovertemplate=f"{variant_title(variant)}<br>%{{x:,.0f}} passes<br>HV %{{y:.4f}}<extra></extra>",
            )
        )
        for i, s in enumerate(seeds):
            figure.add_trace(
                go.Scatter(
                    x=[p for p, _ in s.trace],
                    y=[h for _, h in s.trace],
                    mode="markers",
                    marker={"color": color, "size": 4, "symbol": SYMBOLS[i % len(SYMBOLS)]},
                    opacity=0.4,
                    showlegend=False,
                    legendgroup=variant,
                    hovertemplate=f"seed {s.seed}: HV %{{y:.4f}}<extra></extra>",
                )
            )
    figure.update_layout(
        title=title,
        template="plotly_white",
        xaxis_title="search compute: supernet forward + backward passes",
        yaxis_title="hypervolume of the returned set",
        width=1000,
        height=600,
        legend={"orientation": "h", "y": -0.18},
    )
    return figure


def write_html(figure: go.Figure, path: Path) -> Path:
    """Write ``figure`` as HTML that opens offline (plotly.js written once beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs="directory", full_html=True)
    return path


def find_chromium() -> str | None:
    """A headless-capable Chromium or Chrome on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(chromium: str, *args: str) -> list[str]:
    """A headless Chromium command line that works as root and without a GPU."""
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        "--mute-audio",
        *args,
    ]


# Run in the page once Plotly has drawn the figure: Plotly renders it again, off screen and whole,
# into a PNG data URL that the page appends to its body, where ``--dump-dom`` finds it. A
# screenshot (``--screenshot``) would be taken when a time budget runs out, and under load that
# caught figures half drawn (no x-axis labels, no legend); the data URL exists only once the
# figure is complete.
_PNG_SCRIPT = (
    "return Plotly.toImage(document.getElementById('{plot_id}'), "
    "{format: 'png', width: %d, height: %d}).then(function (url) {"
    " var out = document.createElement('pre'); out.id = 'png-data'; out.textContent = url;"
    " document.body.appendChild(out); });"
)
_PNG_DATA = re.compile(r'<pre id="png-data">data:image/png;base64,([A-Za-z0-9+/=]+)</pre>')


def write_png(
    figure: go.Figure, png: Path, width: int, height: int, timeout: float = 90.0
) -> Path | None:
    """Render ``figure`` to ``png`` in headless Chromium; None (no PNG) when none works here.

    The page is given 5 s, then 30 s of (virtual) time to draw; a figure not complete by then
    is not written, so a PNG is never a partial one.
    """
    chromium = find_chromium()
    if chromium is None:
        return None
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "figure.html"
        figure.write_html(
            page,
            include_plotlyjs=True,
            full_html=True,
            config={"displayModeBar": False, "staticPlot": True},
            post_script=_PNG_SCRIPT % (width, height),
        )
        for budget_ms in (5000, 30000):
            command = chromium_command(
                chromium,
                f"--user-data-dir={Path(tmp) / 'profile'}",
                f"--window-size={width},{height}",
                f"--virtual-time-budget={budget_ms}",
                "--dump-dom",
                page.as_uri(),
            )
            try:
                done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
            except (OSError, subprocess.TimeoutExpired):
                return None
            found = _PNG_DATA.search(done.stdout.decode("utf-8", errors="replace"))
            if found:
                png.write_bytes(base64.b64decode(found.group(1)))
                return png
    return None


def save_figure(figure: go.Figure, stem: Path, png: bool) -> FigureFiles:
    """HTML always, PNG when asked and possible; returns their paths."""
    html = write_html(figure, stem.with_suffix(".html"))
    image = None
    if png:
        width = int(figure.layout.width or 1000)
        height = int(figure.layout.height or 600)
        image = write_png(figure, stem.with_suffix(".png"), width, height)
    return FigureFiles(html=str(html), png=None if image is None else str(image))
