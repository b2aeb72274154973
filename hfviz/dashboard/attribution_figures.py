"""Plotly figures of what the model looks at: attributions and attention over the ECG, per-lead importance.

No Streamlit and no model: arrays in (from :mod:`hfviz.risk.explain`), figure out. Traces carry
``meta={"role": ...}`` (``"overlay"``, ``"beat"``, ``"strip"``, ``"heatmap"``, ``"importance"``).
Signed values use one diverging scale everywhere: red raises the predicted risk, blue lowers it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hfviz.dashboard.ecg_figures import LAYOUT_3X4
from hfviz.dashboard.figure_style import GROUP_COLOURS, SIGNED_SCALE, UNSIGNED_SCALE
from hfviz.ecg.record import LEADS


def _robust_max_abs(values: np.ndarray, q: float = 99.0) -> float:
    """The ``q``-th percentile of |values| over finite entries (colour-scale end); 1 when that is 0 or empty."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 1.0
    m = float(np.percentile(v, q))
    if m <= 0:
        m = float(v.max())
    return m if m > 0 else 1.0


def beat_overlay_figure(
    beat_mv: np.ndarray,
    values: np.ndarray,
    fs_hz: float,
    *,
    method_label: str,
    signed: bool = True,
    colorbar_title: str | None = None,
    width_px: int = 1100,
) -> go.Figure:
    """Each lead's median beat with per-sample values (attributions or attention) as colour.

    Parameters
    ----------
    beat_mv : ndarray, shape (12, m)
        Median beats in mV.
    values : ndarray, shape (12, m)
        One value per sample: signed attributions (``signed=True``; red raises the predicted
        risk, blue lowers it, white is neutral) or non-negative attention (``signed=False``).
    fs_hz : float
        Sampling rate in Hz.
    method_label : str
        Written on the plot, e.g. ``"Integrated Gradients · baseline: zeros · 64 steps"``.
    signed : bool
        Diverging colour scale centred on zero, or sequential from zero.
    colorbar_title : str, optional
        Legend title; a sensible default is used.
    width_px : int
        Figure width in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        3×4 subplots; per lead, coloured markers (``meta.role == "overlay"``) under a thin dark beat
        line (``"beat"``) sharing one colour axis with a legend (colour bar). The colour range is
        symmetric (±99th percentile of |values|) when signed.
    """
    beat = np.asarray(beat_mv, dtype=float)
    vals = np.asarray(values, dtype=float)
    if beat.shape != vals.shape or beat.ndim != 2 or beat.shape[0] != len(LEADS):
        raise ValueError(f"beat_mv {beat.shape} and values {vals.shape} must both be (12, m)")
    m = beat.shape[1]
    t_ms = np.arange(m) / fs_hz * 1000.0
    fig = make_subplots(rows=3, cols=4, subplot_titles=[ld for row in LAYOUT_3X4 for ld in row],
                        horizontal_spacing=0.03, vertical_spacing=0.09, shared_xaxes=True)
    vmax = _robust_max_abs(vals)
    for r, row in enumerate(LAYOUT_3X4):
        for c, lead in enumerate(row):
            i = LEADS.index(lead)
            fig.add_trace(go.Scatter(
                x=t_ms, y=beat[i], mode="markers", showlegend=False, name=lead,
                marker=dict(color=vals[i], coloraxis="coloraxis",
                            size=3.0 + 7.0 * np.minimum(1.0, np.abs(vals[i]) / vmax), line=dict(width=0)),
                customdata=vals[i],
                hovertemplate=f"{lead} %{{x:.0f}} ms: %{{y:.2f}} mV, value %{{customdata:.3g}}<extra></extra>",
                meta={"role": "overlay", "lead": lead}), row=r + 1, col=c + 1)
            fig.add_trace(go.Scatter(x=t_ms, y=beat[i], mode="lines", line=dict(color="#333", width=0.9),
                                     hoverinfo="skip", showlegend=False, meta={"role": "beat", "lead": lead}),
                          row=r + 1, col=c + 1)
    if signed:
        title = colorbar_title or "attribution<br>red: raises risk<br>blue: lowers risk"
        coloraxis = dict(colorscale=SIGNED_SCALE, cmin=-vmax, cmax=vmax, cmid=0.0,
                         colorbar=dict(title=dict(text=title), thickness=14, tickformat=".2~g"))
    else:
        title = colorbar_title or "attention"
        coloraxis = dict(colorscale=UNSIGNED_SCALE, cmin=0.0, cmax=vmax,
                         colorbar=dict(title=dict(text=title), thickness=14))
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_xaxes(title_text="ms", row=3)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(title_text="mV", col=1)
    fig.update_layout(title=dict(text=method_label, x=0.01), coloraxis=coloraxis, width=width_px,
                      height=620, margin=dict(l=50, r=20, t=70, b=40), plot_bgcolor="white",
                      meta={"method": method_label, "signed": signed})
    return fig


def lead_attention_heatmap(attention: np.ndarray, *, title: str = "Cross-lead attention") -> go.Figure:
    """The 12×12 cross-lead attention map.

    Parameters
    ----------
    attention : ndarray, shape (12, 12)
        Row ``i`` is how lead ``i`` (query) distributes its attention over the leads (keys);
        rows sum to 1 (head-averaged).
    title : str
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap trace with lead names on both axes and the values printed.
    """
    a = np.asarray(attention, dtype=float)
    if a.shape != (12, 12):
        raise ValueError(f"attention must be (12, 12), got {a.shape}")
    fig = go.Figure(go.Heatmap(z=a, x=list(LEADS), y=list(LEADS), colorscale="Blues", zmin=0,
                               texttemplate="%{z:.2f}", textfont=dict(size=9),
                               colorbar=dict(title="attention"),
                               hovertemplate="%{y} attends to %{x}: %{z:.3f}<extra></extra>",
                               meta={"role": "heatmap"}))
    fig.update_yaxes(autorange="reversed", title="query lead", scaleanchor="x", constrain="domain")
    fig.update_xaxes(title="attended lead", side="top", constrain="domain")
    fig.update_layout(title=dict(text=title, x=0.01), width=520, height=520,
                      margin=dict(l=60, r=20, t=90, b=20))
    return fig


def lead_importance_figure(importance: Mapping[str, np.ndarray], *, title: str = "Per-lead importance"
                           ) -> go.Figure:
    """Grouped bars of per-lead importance, one bar group per lead and one colour per method.

    Parameters
    ----------
    importance : mapping of str to ndarray, shape (12,)
        Method label -> importance per lead (e.g. share of total |attribution|, sums to 1).
    title : str
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace per method (``meta.role == "importance"``).
    """
    fig = go.Figure()
    for k, (label, v) in enumerate(importance.items()):
        v = np.asarray(v, dtype=float)
        if v.shape != (12,):
            raise ValueError(f"importance for {label!r} must be (12,), got {v.shape}")
        fig.add_trace(go.Bar(x=list(LEADS), y=v, name=label, marker_color=GROUP_COLOURS[k % len(GROUP_COLOURS)],
                             meta={"role": "importance", "method": label},
                             hovertemplate=f"{label} · %{{x}}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(barmode="group", title=dict(text=title, x=0.01), yaxis_title="share of importance",
                      height=380, margin=dict(l=50, r=20, t=50, b=40),
                      legend=dict(orientation="h", y=-0.15))
    return fig


def agreement_figure(matrix: pd.DataFrame, *, title: str = "Agreement between methods (Spearman ρ)"
                     ) -> go.Figure:
    """Heatmap of a square method-by-method correlation table.

    Parameters
    ----------
    matrix : DataFrame, shape (k, k)
        Spearman correlations with method labels as index and columns, values in [-1, 1].
    title : str
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    z = matrix.to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(z=z, x=list(matrix.columns), y=list(matrix.index), colorscale="RdBu",
                               zmin=-1, zmax=1, texttemplate="%{z:.2f}", colorbar=dict(title="ρ"),
                               meta={"role": "heatmap"}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=dict(text=title, x=0.01), height=380, width=480, margin=dict(l=20, r=20, t=50, b=20))
    return fig


def strip_overlay_figure(
    strip_mv: np.ndarray,
    values: np.ndarray,
    fs_hz: float,
    *,
    lead: str = "II",
    method_label: str,
    signed: bool = True,
    max_duration_s: float = 10.0,
) -> go.Figure:
    """One lead of the strip with per-sample values (attribution or attention) as colour.

    Parameters
    ----------
    strip_mv : ndarray, shape (12, n)
        The cleaned strip in mV.
    values : ndarray, shape (12, n)
        Values per strip sample (NaN where undefined), e.g. from
        :func:`hfviz.risk.explain_summary.beat_values_on_strip`.
    fs_hz : float
        Sampling rate in Hz.
    lead : str
        Lead to draw.
    method_label : str
        Written on the plot.
    signed : bool
        Diverging scale centred on zero (attributions) or sequential (attention).
    max_duration_s : float
        At most this many seconds are drawn.

    Returns
    -------
    plotly.graph_objects.Figure
        A grey strip line (role ``"strip"``) and coloured markers (role ``"overlay"``).
    """
    i = LEADS.index(lead)
    n = min(np.asarray(strip_mv).shape[1], int(max_duration_s * fs_hz))
    x = np.arange(n) / fs_hz
    y = np.asarray(strip_mv, dtype=float)[i, :n]
    v = np.asarray(values, dtype=float)[i, :n]
    vmax = _robust_max_abs(v[np.isfinite(v)]) if np.isfinite(v).any() else 1.0
    ok = np.isfinite(v)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color="#999", width=1), hoverinfo="skip",
                               showlegend=False, meta={"role": "strip", "lead": lead}))
    fig.add_trace(go.Scatter(
        x=x[ok], y=y[ok], mode="markers", showlegend=False,
        marker=dict(color=v[ok], size=3.0 + 5.0 * np.minimum(1.0, np.abs(v[ok]) / vmax),
                    colorscale=SIGNED_SCALE if signed else UNSIGNED_SCALE,
                    cmin=-vmax if signed else 0.0, cmax=vmax, cmid=0.0 if signed else None,
                    colorbar=dict(title="raises risk ↑<br>lowers risk ↓" if signed else "attention", thickness=12,
                                  tickformat=".2~g")),
        customdata=v[ok], hovertemplate="%{x:.3f} s: %{y:.2f} mV, value %{customdata:.3g}<extra></extra>",
        meta={"role": "overlay", "lead": lead}))
    fig.update_layout(title=dict(text=f"{method_label} · lead {lead}, median-beat values placed on every beat", x=0.01),
                      xaxis_title="s", yaxis_title="mV", height=300, margin=dict(l=50, r=20, t=50, b=40),
                      plot_bgcolor="white")
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    return fig
