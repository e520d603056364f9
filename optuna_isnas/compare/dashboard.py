"""optuna-dashboard integration: attach the comparison's figures to a study.

``attach_figures`` saves plotly figures into a study with ``optuna_dashboard.save_plotly_graph_object``
(fixed ids, so a rerun replaces them) and the summary table as the study's note.
"""

from __future__ import annotations

import optuna
import plotly.graph_objects as go


def attach_figures(
    study: optuna.Study, figures: dict[str, go.Figure], note: str | None = None
) -> list[str]:
    """Save ``figures`` (id -> figure) into ``study`` for optuna-dashboard; returns the ids."""
    from optuna_dashboard import save_note, save_plotly_graph_object

    ids = [
        save_plotly_graph_object(study, figure, graph_object_id=gid)
        for gid, figure in figures.items()
    ]
    if note is not None:
        save_note(study, note)
    return ids
