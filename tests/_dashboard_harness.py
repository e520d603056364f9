"""A test harness for optuna-dashboard: serve a storage, ask its API, render it in Chromium.

``serve`` runs the dashboard's WSGI app on a loopback port in a background thread. ``check_api``
asks the dashboard's HTTP API what a browser would get; ``check_browser`` loads the study's page in
headless Chromium, lets its JavaScript run, and looks for the rendered figures in the page.
"""

from __future__ import annotations

import contextlib
import html as html_module
import json
import re
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from optuna_isnas.compare.figures import chromium_command, find_chromium
from optuna_isnas.search.storage import open_storage


@contextlib.contextmanager
def serve(
    storage: optuna.storages.BaseStorage | str, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve optuna-dashboard on ``host:port`` (0: any free port) while the block runs; yields its URL."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from optuna_dashboard import wsgi

    class _Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    app = wsgi(open_storage(storage).storage if isinstance(storage, str) else storage)
    server = make_server(host, port, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


@dataclass
class ApiCheck:
    """What the dashboard's API says about one study."""

    study_id: int
    n_trials: int
    n_best_trials: int
    objective_names: list[str] | None
    figure_ids: list[str]
    figure_titles: list[str] = field(default_factory=list)


def check_api(base_url: str, study_name: str) -> ApiCheck:
    """Find ``study_name`` through ``/api/studies`` and read its page data from ``/api/studies/<id>``.

    Raises:
        LookupError: The dashboard does not list the study.
    """
    listing = _get_json(f"{base_url}/api/studies")
    ids = [s["study_id"] for s in listing["study_summaries"] if s["study_name"] == study_name]
    if not ids:
        names = ", ".join(s["study_name"] for s in listing["study_summaries"])
        raise LookupError(f"optuna-dashboard does not list study {study_name!r}; it lists: {names}")
    detail = _get_json(f"{base_url}/api/studies/{ids[0]}?after=0")
    titles = []
    for graph in detail.get("plotly_graph_objects", []):
        layout = json.loads(graph["graph_object"]).get("layout", {})
        title = layout.get("title", {})
        titles.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return ApiCheck(
        study_id=ids[0],
        n_trials=len(detail["trials"]),
        n_best_trials=len(detail["best_trials"]),
        objective_names=detail.get("objective_names"),
        figure_ids=[g["id"] for g in detail.get("plotly_graph_objects", [])],
        figure_titles=titles,
    )


@dataclass
class BrowserCheck:
    """What headless Chromium rendered on the study's page."""

    url: str
    plotly_plots: int  # rendered plotly graphs (``main-svg`` roots) in the page
    titles_found: list[str]
    titles_missing: list[str]
    axis_names_found: list[str]
    screenshot: str | None


def check_browser(
    base_url: str,
    study_id: int,
    titles: Sequence[str],
    axis_names: Sequence[str] = (),
    screenshot: Path | None = None,
    budget_ms: int = 20000,
    timeout: float = 120.0,
) -> BrowserCheck:
    """Load the study's page in headless Chromium and look for the figures it renders.

    Raises:
        FileNotFoundError: No Chromium on PATH (``apt-get install -y chromium``).
    """
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError(
            "no Chromium found on PATH; install it (Debian: apt-get install -y chromium)"
        )
    url = f"{base_url}/dashboard/studies/{study_id}"
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            chromium_command(
                chromium,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                "--window-size=1400,4000",
                "--dump-dom",
                url,
            ),
            capture_output=True,
            timeout=timeout,
            check=False,
            text=True,
        ).stdout
        shot = None
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                chromium_command(
                    chromium,
                    f"--user-data-dir={profile}",
                    f"--virtual-time-budget={budget_ms}",
                    "--window-size=1400,3000",
                    f"--screenshot={screenshot.resolve()}",
                    url,
                ),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
            shot = str(screenshot) if screenshot.is_file() else None
    text = re.sub(r"\s+", " ", _unescape(dom))
    titles = [first_line(t) for t in titles]
    found = [t for t in titles if t and t in text]
    return BrowserCheck(
        url=url,
        plotly_plots=dom.count('class="main-svg"'),
        titles_found=found,
        titles_missing=[t for t in titles if t and t not in found],
        axis_names_found=[a for a in axis_names if a in text],
        screenshot=shot,
    )


def first_line(title: str) -> str:
    """A plotly title's first line without markup (what the page shows as one run of text)."""
    return re.sub(r"<[^>]+>", "", title.split("<br>")[0]).strip()


def _unescape(html: str) -> str:
    import html as html_module

    return html_module.unescape(html)


def dump_dom(base_url: str, study_id: int, budget_ms: int = 20000, timeout: float = 120.0) -> str:
    """The study page's DOM after its JavaScript ran (headless Chromium)."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found on PATH (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            chromium_command(
                chromium,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                "--window-size=1400,4000",
                "--dump-dom",
                f"{base_url}/dashboard/studies/{study_id}",
            ),
            capture_output=True,
            timeout=timeout,
            check=False,
            text=True,
        ).stdout


Box = tuple[float, float, float, float]  # left, top, right, bottom in the figure's pixels


@dataclass
class RenderedPlot:
    """One saved figure as the dashboard's plotly.js drew it (coordinates in its SVG)."""

    width: float
    height: float
    title_bottom: float  # baseline of the title's last line
    axis_titles: list[str]  # x titles, then y titles
    axis_title_boxes: list[Box]  # approximate: a line of 14 px text around each anchor
    annotation_boxes: dict[str, Box]  # annotation text -> its box


def rendered_plot(dom: str, graph_id: str) -> RenderedPlot:
    """Read the plot ``user-defined-plot:<graph_id>`` out of a dumped page.

    Raises:
        LookupError: The page has no such plot (the dashboard did not draw it).
    """
    start = dom.find(f'id="user-defined-plot:{graph_id}"')
    if start < 0:
        raise LookupError(f"the page has no plot {graph_id!r}")
    end = dom.find('id="user-defined-plot:', start + 10)
    part = html_module.unescape(dom[start : end if end > 0 else len(dom)])
    svg = re.search(r'<svg class="main-svg"[^>]*width="([\d.]+)" height="([\d.]+)"', part)
    if svg is None:
        raise LookupError(f"plot {graph_id!r} was not rendered")
    titles = re.findall(r'class="gtitle"[^>]*?y="([\d.]+)"', part)
    tspans = re.findall(r'class="gtitle".*?</text>', part, flags=re.S)
    lines = tspans[0].count("<tspan") if tspans else 0
    title_bottom = float(titles[0]) + 16.0 * max(lines - 1, 0) if titles else 0.0
    names, boxes = [], []
    for axis in ("xtitle", "ytitle"):
        for match in re.finditer(
            rf'class="{axis}"(?: transform="[^"]*")? x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)', part
        ):
            x, y, text = float(match[1]), float(match[2]), match[3]
            names.append(text)
            boxes.append(
                (x - 7, y - 14, x + 7, y + 4) if axis == "ytitle" else (x, y - 14, x, y + 4)
            )
    annotations = {}
    for match in re.finditer(
        r'class="annotation-text-g" transform="rotate\(0,[\d.]+,[\d.]+\)">'
        r'<g class="cursor-pointer" transform="translate\(([\d.-]+),([\d.-]+)\)">'
        r'<rect class="bg" x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="([\d.]+)".*?'
        r'data-unformatted="([^"]*)"',
        part,
    ):
        left, top, w, h = (float(match[i]) for i in range(1, 5))
        annotations[match[5]] = (left, top, left + w, top + h)
    return RenderedPlot(
        width=float(svg[1]),
        height=float(svg[2]),
        title_bottom=title_bottom,
        axis_titles=names,
        axis_title_boxes=boxes,
        annotation_boxes=annotations,
    )


def overlap(a: Box, b: Box) -> bool:
    """Two boxes share area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def screenshot(base_url: str, study_id: int, path: Path, height: int = 3000) -> Path:
    """A PNG of the study's page, 1400 px wide (headless Chromium)."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found on PATH (Debian: apt-get install -y chromium)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            chromium_command(
                chromium,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=20000",
                f"--window-size=1400,{height}",
                f"--screenshot={path.resolve()}",
                f"{base_url}/dashboard/studies/{study_id}",
            ),
            capture_output=True,
            timeout=120,
            check=False,
        )
    return path
