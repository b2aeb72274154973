"""Plotly figures of the Compare view: where in the twelve leads and the beat the risk of ECG B moved against A.

No Streamlit and no model: a :class:`hfviz.risk.compare.AttributionChange` in, a figure out. The
two ECGs themselves are drawn with :func:`hfviz.dashboard.ecg_figures.ecg_paper_figure` (same
paper speed and gain for both) and the per-sample difference with
:func:`hfviz.dashboard.attribution_figures.beat_overlay_figure`. Signed colours follow the
dashboard's one convention (:data:`~hfviz.dashboard.figure_style.SIGNED_SCALE`): red = pushed
B's predicted risk up relative to A, blue = down.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from hfviz.dashboard.figure_style import SIGNED_SCALE
from hfviz.ecg.record import LEADS
from hfviz.risk.compare import SEGMENTS, AttributionChange

#: Column of the heatmap holding each lead's total over the whole beat.
WHOLE_LEAD = "whole lead"


def segment_change_heatmap(change: AttributionChange, *, phone: bool = False) -> go.Figure:
    """Lead × part-of-the-beat heatmap of the attribution difference B − A, with each lead's total.

    Parameters
    ----------
    change : AttributionChange
        From :func:`hfviz.risk.compare.attribution_change` (one method and baseline for both).
    phone : bool
        Phone width: shorter column names, smaller text, the colour bar under the map.

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap trace (``meta.role == "compare-heatmap"``), 12 rows (leads, I at the top) ×
        5 columns (:data:`~hfviz.risk.compare.SEGMENTS` and :data:`WHOLE_LEAD`), values printed
        in the attribution's unit, a colour scale symmetric around 0.
    """
    d = np.asarray(change.by_segment_change, dtype=float)
    if d.shape != (len(LEADS), len(SEGMENTS)):
        raise ValueError(f"by_segment_change must be (12, {len(SEGMENTS)}), got {d.shape}")
    z = np.concatenate([d, d.sum(axis=1, keepdims=True)], axis=1)  # (12, 5)
    columns = [*SEGMENTS, WHOLE_LEAD]
    if phone:
        columns = [c.replace("P wave and PR", "P, PR").replace("after the T wave", "after T").replace(" lead", "")
                   for c in columns]
    vmax = float(np.max(np.abs(z))) or 1.0
    a = np.asarray(change.by_segment_a, dtype=float)
    b = np.asarray(change.by_segment_b, dtype=float)
    custom = np.stack([np.concatenate([a, a.sum(axis=1, keepdims=True)], axis=1),
                       np.concatenate([b, b.sum(axis=1, keepdims=True)], axis=1)], axis=-1)  # (12, 5, 2)
    unit = change.unit
    fig = go.Figure(go.Heatmap(
        z=z.astype(np.float32), x=columns, y=list(LEADS), colorscale=SIGNED_SCALE, zmin=-vmax, zmax=vmax, zmid=0.0,
        customdata=custom.astype(np.float32), texttemplate="%{z:+.2g}", textfont={"size": 10 if phone else 12},
        hovertemplate=("%{y}, %{x}: B − A = %{z:+.3g}" + f" {unit}" + "<br>A: %{customdata[0]:+.3g}, "
                       "B: %{customdata[1]:+.3g}<extra></extra>"),
        colorbar={"title": {"text": "B − A<br>red: raised B's risk<br>blue: lowered it"}, "thickness": 14},
        xgap=2, ygap=2, meta={"role": "compare-heatmap"}))
    title = f"Where the risk moved: attribution B − A per lead and part of the beat<br><sup>{change.label}</sup>"
    fig.update_yaxes(autorange="reversed", tickfont={"size": 12})
    fig.update_xaxes(side="top", tickfont={"size": 10 if phone else 12})
    fig.update_layout(title={"text": title, "x": 0.01}, height=560, margin={"l": 50, "r": 10, "t": 110, "b": 20},
                      meta={"vmax": vmax, "unit": unit})
    if phone:
        fig.update_traces(colorbar={"orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.03, "yanchor": "top",
                                    "thickness": 10, "len": 1.0,
                                    "title": {"text": "B − A · red: raised B's risk · blue: lowered it", "side": "top"}})
        fig.update_layout(title={"text": title.replace(" per lead", "<br>per lead")}, height=600,
                          margin={"l": 40, "r": 6, "t": 130, "b": 90})
    return fig
