"""Plotly figures of what the model looks at: attributions and attention over the ECG, per-lead importance.

No Streamlit and no model: arrays in (from :mod:`hfviz.risk.explain`), figure out. Traces carry
``meta={"role": ...}`` (``"overlay"``, ``"beat"``, ``"reference"``, ``"strip"``, ``"heatmap"``,
``"importance"``). Signed values use one diverging scale everywhere: red raises the predicted
risk, blue lowers it. Values are drawn as coloured bands (one heatmap cell per 10 ms) behind the
waveform rather than one marker per sample, and lines are decimated to what the pixels show,
so a figure stays small on its way to the browser (see :mod:`hfviz.dashboard.plot_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hfviz.dashboard.ecg_figures import GRID_MAJOR, GRID_MINOR, LAYOUT_3X4, PAPER_BG
from hfviz.dashboard.figure_style import GROUP_COLOURS, SIGNED_SCALE, UNSIGNED_SCALE
from hfviz.dashboard.plot_data import bin_mean, compact, minmax_indices, robust_max_abs
from hfviz.ecg.record import LEADS
from hfviz.ecg.signal import STD_FLOOR, pad_beat
from hfviz.risk.explain_summary import crop_to_beat


#: Colour-bar titles (with units) of the attribution methods: what one coloured 10-ms band means.
ATTRIBUTION_UNITS = {
    "integrated_gradients": "Δ log-risk<br>per sample",
    "occlusion": "Δ log-risk<br>per sample",
    "gradient_shap": "Δ log-risk<br>per sample",
    "saliency": "∂ log-risk /<br>∂ input (per SD)",
}
#: Default width of one attribution colour band (ms): 5 samples at 500 Hz, ~2 px per band on screen.
BAND_MS = 10.0
#: Points kept per median-beat line (a 12-panel figure has ~250 px per panel).
BEAT_POINTS = 300


def _band_trace(x_edges: np.ndarray, y_range: tuple[float, float], z: np.ndarray, *, lead: str, unit: str,
                opacity: float) -> go.Heatmap:
    """One row of coloured bands (heatmap cells ``x_edges`` wide) filling ``y_range`` behind a trace."""
    return go.Heatmap(
        x=compact(x_edges, 1), y=compact(np.asarray(y_range), 2), z=compact(z[None, :], 4),
        coloraxis="coloraxis", opacity=opacity, showscale=False, hoverongaps=False, zsmooth=False,
        hovertemplate=f"{lead} %{{x:.0f}} ms: %{{z:.3g}} {unit}<extra></extra>", meta={"role": "overlay", "lead": lead})


def overlay_rows(columns: int = 4) -> tuple[tuple[str, ...], ...]:
    """The panel rows of :func:`beat_overlay_figure`: the clinical 3×4 for 4 columns, else leads in order.

    ``columns`` 2 gives six rows (I, II), (III, aVR), … (V5, V6) and 1 twelve rows of one lead:
    the layouts for a phone-width screen, where 4 panels per row are ~60 px wide.
    """
    if columns == 4:
        return LAYOUT_3X4
    if columns not in (1, 2, 3):
        raise ValueError(f"columns must be 1, 2, 3 or 4, got {columns}")
    return tuple(tuple(LEADS[i:i + columns]) for i in range(0, len(LEADS), columns))


def _row_ranges(beat: np.ndarray, reference: np.ndarray | None,
                rows: tuple[tuple[str, ...], ...] = LAYOUT_3X4) -> dict[str, tuple[float, float]]:
    """One shared mV range per row of panels (lead -> (lo, hi)), padded by 0.1 mV."""
    out = {}
    for row in rows:
        idx = [LEADS.index(ld) for ld in row]
        parts = [beat[idx]] + ([reference[idx]] if reference is not None else [])
        v = np.concatenate([p.ravel() for p in parts])
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if v.size else (-1.0, 1.0)
        lo, hi = np.floor((lo - 0.1) * 2) / 2, np.ceil((hi + 0.1) * 2) / 2  # whole 0.5 mV (5 mm) squares
        out.update({ld: (lo, hi) for ld in row})
    return out


def beat_overlay_figure(
    beat_mv: np.ndarray,
    values: np.ndarray,
    fs_hz: float,
    *,
    method_label: str,
    signed: bool = True,
    colorbar_title: str | None = None,
    vmax: float | None = None,
    reference_mv: np.ndarray | None = None,
    band_ms: float = BAND_MS,
    width_px: int | None = None,
    columns: int = 4,
) -> go.Figure:
    """Each lead's median beat on ECG-paper grid, with per-sample values as coloured bands behind it.

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
        Colour-bar title with the values' unit (see :data:`ATTRIBUTION_UNITS`).
    vmax : float, optional
        End of the colour scale (±vmax when signed); default the 99th percentile of the
        binned |values|. Pass one value to several figures to compare them on one scale.
    reference_mv : ndarray, shape (12, m), optional
        The reference (baseline) beat in mV, drawn dashed grey.
    band_ms : float
        Width of one colour band: the values are averaged over bins of this many ms.
    width_px : int, optional
        Figure width in pixels; default: the width of the page.
    columns : int
        Panels per row (:func:`overlay_rows`): 4 is the clinical 3×4; 2 or 1 stack the leads
        for a phone-width screen (x labels on every other grid line, the colour bar under the
        panels, the title broken at its " · ").

    Returns
    -------
    plotly.graph_objects.Figure
        3×4 subplots (or ``12 / columns`` rows of ``columns``); per lead a heatmap row of bands (``meta.role == "overlay"``) under the
        beat line (``"beat"``, at most :data:`BEAT_POINTS` points) and optionally the
        reference (``"reference"``). One colour axis (``layout.coloraxis``) with its colour
        bar; one mV range per row; grid lines every 40 ms / 0.1 mV (1 mm) and 200 ms / 0.5 mV
        (5 mm) as on ECG paper at 25 mm/s, 10 mm/mV.
    """
    beat = np.asarray(beat_mv, dtype=float)
    vals = np.asarray(values, dtype=float)
    if beat.shape != vals.shape or beat.ndim != 2 or beat.shape[0] != len(LEADS):
        raise ValueError(f"beat_mv {beat.shape} and values {vals.shape} must both be (12, m)")
    ref = None if reference_mv is None else np.asarray(reference_mv, dtype=float)
    m = beat.shape[1]
    t_ms = np.arange(m) / fs_hz * 1000.0
    size = max(1, int(round(band_ms / 1000.0 * fs_hz)))
    binned = bin_mean(vals, size)  # (12, nb)
    x_edges = np.minimum(np.arange(binned.shape[1] + 1) * size, m) / fs_hz * 1000.0
    vmax = float(vmax) if vmax is not None and vmax > 0 else robust_max_abs(binned)
    unit = "" if colorbar_title is None else colorbar_title.replace("<br>", " ")
    rows = overlay_rows(columns)
    compact_view = columns < 4
    ranges = _row_ranges(beat, ref, rows)
    keep = minmax_indices(m, beat[0], BEAT_POINTS)
    fig = make_subplots(rows=len(rows), cols=columns, subplot_titles=[ld for row in rows for ld in row],
                        horizontal_spacing=0.035 if columns == 4 else 0.08,
                        vertical_spacing=min(0.08, 0.24 / len(rows)), shared_xaxes=True)
    for r, row in enumerate(rows):
        for c, lead in enumerate(row):
            i = LEADS.index(lead)
            pos = dict(row=r + 1, col=c + 1)
            fig.add_trace(_band_trace(x_edges, ranges[lead], binned[i], lead=lead, unit=unit,
                                      opacity=0.85 if signed else 0.6), **pos)
            if ref is not None:
                fig.add_trace(go.Scatter(x=compact(t_ms[keep], 1), y=compact(ref[i, keep]), mode="lines",
                                         line=dict(color="#777", width=1, dash="dash"), hoverinfo="skip",
                                         showlegend=False, meta={"role": "reference", "lead": lead}), **pos)
            idx = minmax_indices(m, beat[i], BEAT_POINTS) if m > BEAT_POINTS else keep
            fig.add_trace(go.Scatter(x=compact(t_ms[idx], 1), y=compact(beat[i, idx]), mode="lines",
                                     line=dict(color="#111", width=1.2), showlegend=False, name=lead,
                                     hovertemplate=f"{lead} %{{x:.0f}} ms: %{{y:.2f}} mV<extra></extra>",
                                     meta={"role": "beat", "lead": lead}), **pos)
            fig.update_yaxes(range=list(ranges[lead]), **pos)
    if signed:
        title = colorbar_title or "attribution"
        colorbar = dict(title=dict(text=f"{title}<br>red: raises risk<br>blue: lowers risk"), thickness=14,
                        tickformat=".2~g")
        coloraxis = dict(colorscale=SIGNED_SCALE, cmin=-vmax, cmax=vmax, cmid=0.0, colorbar=colorbar)
    else:
        colorbar = dict(title=dict(text=colorbar_title or "attention"), thickness=14)
        coloraxis = dict(colorscale=UNSIGNED_SCALE, cmin=0.0, cmax=vmax, colorbar=colorbar)
    grid = dict(showgrid=True, gridcolor=GRID_MAJOR, gridwidth=1, zeroline=False,
                minor=dict(showgrid=True, gridcolor=GRID_MINOR, gridwidth=0.5))
    fig.update_xaxes(dtick=200, minor_dtick=40, range=[0, t_ms[-1] if m > 1 else 1], **grid)
    fig.update_xaxes(title_text="ms", row=len(rows))
    fig.update_yaxes(dtick=0.5, minor_dtick=0.1, **grid)
    fig.update_yaxes(title_text="mV", col=1)
    title_text, height, margin = method_label, 640, dict(l=50, r=10, t=70, b=40)
    if compact_view:  # phone width: fewer labels, colour bar underneath, title on several lines
        fig.update_xaxes(ticklabelstep=2, tickfont=dict(size=10))
        fig.update_yaxes(tickfont=dict(size=10))
        fig.update_annotations(font=dict(size=12))
        colorbar.update(orientation="h", x=0.5, xanchor="center", y=-0.04 - 40 / (150 * len(rows)), yanchor="top",
                        thickness=10, len=1.0, title=dict(side="top", text=(colorbar_title or ("attribution" if signed else "attention")).replace(
                            "<br>", " ") + ("<br>red: raises risk · blue: lowers risk" if signed else "")))
        title_text = method_label.replace(" · ", "<br>")
        lines = title_text.count("<br>") + 1
        height = 150 * len(rows) + 22 * lines + 170
        margin = dict(l=44, r=6, t=50 + 22 * lines, b=140)
    title = dict(text=title_text, x=0.01)
    if compact_view:  # a title of several lines grows down from the top, inside the top margin
        title.update(y=1.0 - 28.0 / height, yref="container", yanchor="top")  # plotly anchors line 1
    fig.update_layout(title=title, coloraxis=coloraxis, width=width_px, height=height,
                      margin=margin, plot_bgcolor=PAPER_BG,
                      meta={"method": method_label, "signed": signed, "vmax": vmax, "band_ms": size / fs_hz * 1000,
                            "columns": columns})
    return fig


def lead_attention_heatmap(attention: np.ndarray, *, title: str = "Cross-lead attention (row: query lead, column: "
                                                                  "attended lead)", phone: bool = False) -> go.Figure:
    """The 12×12 cross-lead attention map.

    Parameters
    ----------
    attention : ndarray, shape (12, 12)
        Row ``i`` is how lead ``i`` (query) distributes its attention over the leads (keys);
        rows sum to 1 (head-averaged).
    title : str
        Figure title.
    phone : bool
        Phone width: the values on hover only (twelve printed numbers do not fit in ~25 px
        cells), the colour bar under the map and the title broken at its " (".

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap trace with lead names on both axes and the values printed.
    """
    a = np.asarray(attention, dtype=float)
    if a.shape != (12, 12):
        raise ValueError(f"attention must be (12, 12), got {a.shape}")
    fig = go.Figure(go.Heatmap(z=compact(a, 3), x=list(LEADS), y=list(LEADS), colorscale="Blues", zmin=0,
                               texttemplate="%{z:.2f}", textfont=dict(size=12),
                               colorbar=dict(title="attention<br>(row sums to 1)", thickness=14, len=0.9,
                                             x=1.0, xpad=6),
                               hovertemplate="%{y} attends to %{x}: %{z:.3f}<extra></extra>",
                               meta={"role": "heatmap"}))
    fig.update_yaxes(autorange="reversed", title="query lead", tickfont=dict(size=12))
    fig.update_xaxes(side="top", tickfont=dict(size=12))  # "attended lead" is said in the title: no overlap
    fig.update_layout(title=dict(text=title, x=0.01), height=620, font=dict(size=12),
                      margin=dict(l=60, r=10, t=90, b=20))
    if phone:
        fig.update_traces(texttemplate=None, colorbar=dict(orientation="h", x=0.5, xanchor="center", y=-0.04,
                                                           yanchor="top", thickness=10, len=1.0,
                                                           title=dict(text="attention (row sums to 1)", side="top")))
        fig.update_layout(title=dict(text=title.replace(" (", "<br>(")), height=520, margin=dict(l=50, r=6, t=110, b=90))
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
                               zmin=-1, zmax=1, texttemplate="%{z:.2f}", textfont=dict(size=12),
                               colorbar=dict(title="ρ", thickness=14),
                               meta={"role": "heatmap"}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=dict(text=title, x=0.01), height=400, margin=dict(l=20, r=10, t=50, b=20))
    return fig


def strip_overlay_figure(
    strip_mv: np.ndarray,
    values: np.ndarray,
    fs_hz: float,
    *,
    lead: str = "II",
    method_label: str,
    signed: bool = True,
    colorbar_title: str | None = None,
    vmax: float | None = None,
    max_duration_s: float = 10.0,
    band_ms: float = 20.0,
    max_points: int = 2400,
) -> go.Figure:
    """One lead of the strip with per-sample values (attribution or attention) as coloured bands behind it.

    Parameters
    ----------
    strip_mv : ndarray, shape (12, n)
        The cleaned strip in mV.
    values : ndarray, shape (12, n)
        Values per strip sample (NaN where undefined), e.g. from
        :func:`hfviz.risk.explain.beat_values_on_strip`.
    fs_hz : float
        Sampling rate in Hz.
    lead : str
        Lead to draw.
    method_label : str
        Written on the plot.
    signed : bool
        Diverging scale centred on zero (attributions) or sequential (attention).
    colorbar_title : str, optional
        Colour-bar title with the unit.
    vmax : float, optional
        End of the colour scale; default the 99th percentile of the binned |values|.
    max_duration_s : float
        At most this many seconds are drawn.
    band_ms : float
        Width of one colour band in ms.
    max_points : int
        The strip line is decimated (min/max per bucket) to about this many points.

    Returns
    -------
    plotly.graph_objects.Figure
        A heatmap row of bands (role ``"overlay"``; empty where values are NaN) under the
        strip line (role ``"strip"``), grid every 0.2 s / 0.5 mV.
    """
    i = LEADS.index(lead)
    n = min(np.asarray(strip_mv).shape[1], int(max_duration_s * fs_hz))
    y = np.asarray(strip_mv, dtype=float)[i, :n]
    v = np.asarray(values, dtype=float)[i, :n]
    size = max(1, int(round(band_ms / 1000.0 * fs_hz)))
    binned = bin_mean(v, size)
    x_edges = np.minimum(np.arange(binned.size + 1) * size, n) / fs_hz
    vmax = float(vmax) if vmax is not None and vmax > 0 else robust_max_abs(binned)
    lo, hi = float(np.nanmin(y)) - 0.1, float(np.nanmax(y)) + 0.1
    idx = minmax_indices(n, y, max_points)
    title = colorbar_title or ("attribution" if signed else "attention")
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        x=compact(x_edges, 3), y=compact([lo, hi], 2), z=compact(binned[None, :], 4), zsmooth=False,
        colorscale=SIGNED_SCALE if signed else UNSIGNED_SCALE, zmin=-vmax if signed else 0.0, zmax=vmax,
        zmid=0.0 if signed else None, opacity=0.85 if signed else 0.6, hoverongaps=False,
        colorbar=dict(title=dict(text=title + ("<br>red: raises risk<br>blue: lowers risk" if signed else "")),
                      thickness=12, tickformat=".2~g"),
        hovertemplate="%{x:.2f} s: %{z:.3g}<extra></extra>", meta={"role": "overlay", "lead": lead}))
    fig.add_trace(go.Scatter(x=compact(idx / fs_hz, 4), y=compact(y[idx]), mode="lines",
                             line=dict(color="#111", width=1), showlegend=False, name=lead,
                             hovertemplate="%{x:.3f} s: %{y:.2f} mV<extra></extra>",
                             meta={"role": "strip", "lead": lead}))
    fig.update_layout(title=dict(text=f"{method_label} · lead {lead}, median-beat values placed on every beat", x=0.01),
                      xaxis_title="s", yaxis_title="mV", height=320, margin=dict(l=50, r=10, t=50, b=40),
                      plot_bgcolor=PAPER_BG)
    fig.update_xaxes(showgrid=True, gridcolor=GRID_MAJOR, dtick=1.0, range=[0, n / fs_hz], zeroline=False,
                     minor=dict(showgrid=True, gridcolor=GRID_MINOR, dtick=0.2))
    fig.update_yaxes(showgrid=True, gridcolor=GRID_MAJOR, dtick=0.5, range=[lo, hi], zeroline=False)
    return fig


def colour_range(values: np.ndarray, fs_hz: float, *, band_ms: float = BAND_MS) -> float:
    """The colour-scale end :func:`beat_overlay_figure` uses for ``values`` (12, m): 99th percentile of binned |values|."""
    return robust_max_abs(bin_mean(values, max(1, int(round(band_ms / 1000.0 * fs_hz)))))


def shared_colour_range(attributions: Mapping[str, Any], method: str, fs_hz: float) -> float:
    """One colour-scale end for every computed method with the same unit as ``method`` (the largest of their ranges).

    Parameters
    ----------
    attributions : mapping of str to Attribution
        Method -> result (``values`` of shape (12, 608), model-input samples).
    method : str
        The method on screen; methods with another unit (:data:`ATTRIBUTION_UNITS`) are left out.
    fs_hz : float
        Sampling rate in Hz.
    """
    unit = ATTRIBUTION_UNITS.get(method)
    ranges = [colour_range(crop_to_beat(a.values), fs_hz) for m, a in attributions.items()
              if ATTRIBUTION_UNITS.get(m) == unit]
    return max(ranges) if ranges else 1.0


def reference_beat_mv(beat_mv: np.ndarray, reference_input: np.ndarray) -> np.ndarray:
    """A reference (baseline) input of the model drawn in the units of this ECG's median beat.

    The model reads each lead z-scored over the zero-padded beat; the reference is mapped back
    with this ECG's own per-lead mean and standard deviation, so "zeros" is a flat line at the
    lead's mean and the cohort median beat is scaled like this ECG.

    Parameters
    ----------
    beat_mv : ndarray, shape (12, m)
        This ECG's median beat in mV (m = 600).
    reference_input : ndarray, shape (12, m + 2 * PAD)
        The reference in model-input units (z-scores), e.g. from
        :func:`hfviz.risk.explain.make_baseline`.

    Returns
    -------
    ndarray, shape (12, m)
        The reference in mV.
    """
    padded = pad_beat(np.asarray(beat_mv, dtype=float))
    mean = np.nanmean(padded, axis=-1, keepdims=True)
    std = np.maximum(np.nanstd(padded, axis=-1, keepdims=True), STD_FLOOR)
    return crop_to_beat(np.asarray(reference_input, dtype=float)) * std + mean
