"""Plotly figures of what the model looks at: attributions and attention over the ECG, per-lead importance.

No Streamlit and no model: arrays in (from :mod:`hfviz.risk.explain`), figure out. Traces carry
``meta={"role": ...}`` (``"overlay"``, ``"beat"``, ``"reference"``, ``"strip"``, ``"heatmap"``,
``"importance"``). Signed values use one diverging scale everywhere: red raises the predicted
risk, blue lowers it. Values are drawn as coloured bands (one heatmap cell per 10 ms) behind the
waveform rather than one marker per sample, and lines are decimated to what the pixels show,
so a figure stays small on its way to the browser (see :mod:`hfviz.dashboard.plot_data`).
"""

from __future__ import annotations

import functools
import json
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


def _band_trace(x0_ms: float, dx_ms: float, y_range: tuple[float, float], z: np.ndarray, *, lead: str, unit: str,
                opacity: float, axes: tuple[str, str]) -> dict:
    """One row of coloured bands (heatmap cells ``dx_ms`` wide, the first centred at ``x0_ms``) filling ``y_range``."""
    return dict(
        type="heatmap", x0=x0_ms, dx=dx_ms, y=compact(np.asarray(y_range), 2), z=compact(z[None, :], 4),
        coloraxis="coloraxis", opacity=opacity, showscale=False, hoverongaps=False, zsmooth=False,
        hovertemplate=f"{lead} %{{x:.0f}} ms: %{{z:.3g}} {unit}<extra></extra>", meta={"role": "overlay", "lead": lead},
        xaxis=axes[0], yaxis=axes[1])


def _line_trace(t_ms: np.ndarray, mv: np.ndarray, *, axes: tuple[str, str], **kw: Any) -> dict:
    """A line of ``mv`` (mV) against ``t_ms`` (ms, whole ms as int16 when they fit) on the subplot ``axes``."""
    x = np.round(t_ms).astype(np.int16) if t_ms.size and np.abs(t_ms).max() < 32_000 else compact(t_ms, 1)
    return dict(type="scatter", x=x, y=compact(mv), mode="lines", showlegend=False, xaxis=axes[0], yaxis=axes[1],
                **kw)


@functools.lru_cache(maxsize=8)
def _subplot_skeleton(rows: int, columns: int) -> str:
    """The layout :func:`plotly.subplots.make_subplots` makes for ``rows`` × ``columns`` panels (as JSON).

    Built once per shape: ``make_subplots`` and the ``update_*axes`` calls take about a second
    on a busy 2-core machine, the figure itself is then one dictionary (~30 ms).
    """
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=["·"] * (rows * columns),
                        horizontal_spacing=0.035 if columns == 4 else 0.08,
                        vertical_spacing=min(0.08, 0.24 / rows), shared_xaxes=True)
    layout = fig.to_dict()["layout"]
    layout.pop("template", None)
    return json.dumps(layout)


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
        3×4 subplots (or ``12 / columns`` rows of ``columns``); per lead a heatmap row of bands
        (``meta.role == "overlay"``) under the beat line (``"beat"``, at most
        :data:`BEAT_POINTS` points) and optionally the reference (``"reference"``). One colour
        axis (``layout.coloraxis``) with its colour bar; one mV range per row; grid lines every
        40 ms / 0.1 mV (1 mm) and 200 ms / 0.5 mV (5 mm) as on ECG paper at 25 mm/s, 10 mm/mV.
        About 50 kB as JSON (see :data:`hfviz.dashboard.plot_data` for the budget); the
        figure is assembled as one dictionary, so building it takes tens of milliseconds.
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
    dx_ms = size / fs_hz * 1000.0
    vmax = float(vmax) if vmax is not None and vmax > 0 else robust_max_abs(binned)
    unit = "" if colorbar_title is None else colorbar_title.replace("<br>", " ")
    rows = overlay_rows(columns)
    compact_view = columns < 4
    ranges = _row_ranges(beat, ref, rows)
    layout = json.loads(_subplot_skeleton(len(rows), columns))
    titles = iter(layout["annotations"])
    font = dict(size=12) if compact_view else dict(size=16)
    grid = dict(showgrid=True, gridcolor=GRID_MAJOR, gridwidth=1, zeroline=False,
                minor=dict(showgrid=True, gridcolor=GRID_MINOR, gridwidth=0.5, dtick=40))
    x_range = [0, float(t_ms[-1]) if m > 1 else 1.0]
    data = []
    k = 0
    for r, row in enumerate(rows):
        for c, lead in enumerate(row):
            k += 1
            i = LEADS.index(lead)
            axes = ("x" if k == 1 else f"x{k}", "y" if k == 1 else f"y{k}")
            xa, ya = layout["xaxis" if k == 1 else f"xaxis{k}"], layout["yaxis" if k == 1 else f"yaxis{k}"]
            xa.update(dtick=200, range=x_range, **grid)
            if r == len(rows) - 1:
                xa["title"] = dict(text="ms")
            ya.update(dtick=0.5, range=list(ranges[lead]), **{**grid, "minor": {**grid["minor"], "dtick": 0.1}})
            if c == 0:
                ya["title"] = dict(text="mV")
            if compact_view:
                xa.update(ticklabelstep=2, tickfont=dict(size=10))
                ya["tickfont"] = dict(size=10)
            next(titles).update(text=lead, font=font)
            data.append(_band_trace(dx_ms / 2, dx_ms, ranges[lead], binned[i], lead=lead, unit=unit,
                                    opacity=0.85 if signed else 0.6, axes=axes))
            idx = minmax_indices(m, beat[i], BEAT_POINTS)
            if ref is not None:
                data.append(_line_trace(t_ms[idx], ref[i, idx], axes=axes, hoverinfo="skip",
                                        line=dict(color="#777", width=1, dash="dash"),
                                        meta={"role": "reference", "lead": lead}))
            data.append(_line_trace(t_ms[idx], beat[i, idx], axes=axes, name=lead, line=dict(color="#111", width=1.2),
                                    hovertemplate=f"{lead} %{{x:.0f}} ms: %{{y:.2f}} mV<extra></extra>",
                                    meta={"role": "beat", "lead": lead}))
    if signed:
        title = colorbar_title or "attribution"
        colorbar = dict(title=dict(text=f"{title}<br>red: raises risk<br>blue: lowers risk"), thickness=14,
                        tickformat=".2~g")
        coloraxis = dict(colorscale=SIGNED_SCALE, cmin=-vmax, cmax=vmax, cmid=0.0, colorbar=colorbar)
    else:
        colorbar = dict(title=dict(text=colorbar_title or "attention"), thickness=14)
        coloraxis = dict(colorscale=UNSIGNED_SCALE, cmin=0.0, cmax=vmax, colorbar=colorbar)
    title_text, height, margin = method_label, 640, dict(l=50, r=10, t=70, b=40)
    if compact_view:  # phone width: fewer labels, colour bar underneath, title on several lines
        colorbar.update(orientation="h", x=0.5, xanchor="center", y=-0.04 - 40 / (150 * len(rows)), yanchor="top",
                        thickness=10, len=1.0, title=dict(side="top", text=(colorbar_title or (
                            "attribution" if signed else "attention")).replace("<br>", " ")
                            + ("<br>red: raises risk · blue: lowers risk" if signed else "")))
        title_text = method_label.replace(" · ", "<br>")
        lines = title_text.count("<br>") + 1
        height = 150 * len(rows) + 22 * lines + 170
        margin = dict(l=44, r=6, t=50 + 22 * lines, b=140)
    title = dict(text=title_text, x=0.01)
    if compact_view:  # a title of several lines grows down from the top, inside the top margin
        title.update(y=1.0 - 28.0 / height, yref="container", yanchor="top")  # plotly anchors line 1
    layout.update(title=title, coloraxis=coloraxis, height=height, margin=margin, plot_bgcolor=PAPER_BG,
                  meta={"method": method_label, "signed": signed, "vmax": vmax, "band_ms": dx_ms, "columns": columns})
    if width_px is not None:
        layout["width"] = width_px
    return go.Figure(data=data, layout=layout)


#: Gap between the panels of :func:`beat_overlay_paper_figure`: one 5-mm square (200 ms) across, 0.5 mV down.
PANEL_GAP_MS = 200.0
PANEL_GAP_MV = 0.5


def _paper_grid(x_range: tuple[float, float], y_range: tuple[float, float]) -> list[dict]:
    """ECG-paper grid in ms and mV as two path shapes: 40 ms / 0.1 mV (1 mm) and 200 ms / 0.5 mV (5 mm)."""

    def path(dx: float, dy: float) -> str:
        (x0, x1), (y0, y1) = x_range, y_range
        xs = np.arange(np.ceil(x0 / dx) * dx, x1 + 1e-9, dx)
        ys = np.arange(np.ceil(y0 / dy - 1e-9) * dy, y1 + 1e-9, dy)
        return "".join([f"M{x + 0.0:.0f},{y0:.2f}V{y1:.2f}" for x in xs] + [f"M{x0:.0f},{y:.2f}H{x1:.0f}" for y in ys])

    return [dict(type="path", path=path(40.0, 0.1), line=dict(color=GRID_MINOR, width=0.5), layer="below",
                 name="grid 1 mm"),
            dict(type="path", path=path(200.0, 0.5), line=dict(color=GRID_MAJOR, width=1.0), layer="below",
                 name="grid 5 mm")]


def beat_overlay_paper_figure(
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
    """Every lead's median beat with per-sample values as coloured bands behind it, on one sheet of ECG paper.

    The same picture as :func:`beat_overlay_figure` (parameters alike), drawn the way ECG
    paper is: one pair of axes in ms and mV with the panels side by side (a 200-ms gap) and
    rows stacked (a 0.5-mV gap), instead of 12 subplots. The browser then draws one plot area,
    one heatmap and two lines rather than 12 of each -- several times faster (see
    ``bench_browser``) -- and the figure stays under ~50 kB.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces (``meta.role``): ``"overlay"`` (one heatmap: a 10-ms band per cell, NaN in the
        gaps), ``"reference"`` (optional, dashed) and ``"beat"`` (all leads in one line broken
        by NaN, at most :data:`BEAT_POINTS` points per lead). ``layout.meta["panels"]`` gives per
        lead its ``row``, ``col``, its offsets ``x0`` (ms) and ``y0`` (mV: the sheet's y of the
        row's lowest value ``lo``) and the row's mV range ``lo``..``hi`` (one range per row,
        whole 0.5-mV squares); the tick labels read ms and mV within each panel. Grid every
        40 ms / 0.1 mV (1 mm) and 200 ms / 0.5 mV (5 mm), as on paper at 25 mm/s, 10 mm/mV.
    """
    beat = np.asarray(beat_mv, dtype=float)
    vals = np.asarray(values, dtype=float)
    if beat.shape != vals.shape or beat.ndim != 2 or beat.shape[0] != len(LEADS):
        raise ValueError(f"beat_mv {beat.shape} and values {vals.shape} must both be (12, m)")
    ref = None if reference_mv is None else np.asarray(reference_mv, dtype=float)
    m = beat.shape[1]
    t_ms = np.arange(m) / fs_hz * 1000.0
    width_ms = m / fs_hz * 1000.0
    size = max(1, int(round(band_ms / 1000.0 * fs_hz)))
    binned = bin_mean(vals, size)  # (12, nb)
    nb = binned.shape[1]
    dx_ms = size / fs_hz * 1000.0
    pitch = np.ceil(width_ms / 200.0 - 1e-9) * 200.0 + PANEL_GAP_MS  # panels start on a 5-mm line
    vmax = float(vmax) if vmax is not None and vmax > 0 else robust_max_abs(binned)
    unit = "" if colorbar_title is None else colorbar_title.replace("<br>", " ")
    rows = overlay_rows(columns)
    compact_view = columns < 4
    ranges = _row_ranges(beat, ref, rows)
    # rows from the bottom of the sheet up: y0 = where the row's lowest value lo sits
    y0 = {}
    base = 0.0
    for row in reversed(rows):
        lo, hi = ranges[row[0]]
        y0.update({ld: base for ld in row})
        base += (hi - lo) + PANEL_GAP_MV
    top = base - PANEL_GAP_MV
    n_cols = max(len(r) for r in rows)
    cell_edges = np.minimum(np.arange(nb + 1) * dx_ms, width_ms)
    x_edges = np.concatenate([c * pitch + cell_edges for c in range(n_cols)] + [[n_cols * pitch - PANEL_GAP_MS]])
    x_edges = np.unique(np.round(x_edges, 3))
    centres = (x_edges[:-1] + x_edges[1:]) / 2
    col_of = np.floor(centres / pitch).astype(int)
    in_panel = (centres - col_of * pitch) < width_ms
    cell_of = np.clip(((centres - col_of * pitch) // dx_ms).astype(int), 0, nb - 1)
    y_edges, z_rows, ms_rows = [], [], []
    for r, row in enumerate(reversed(rows)):
        lo, hi = ranges[row[0]]
        b = y0[row[0]]
        if r:
            z_rows.append(np.full(centres.size, np.nan))
            ms_rows.append(np.zeros(centres.size))
        y_edges += [b, b + (hi - lo)]
        z = np.full(centres.size, np.nan)
        for c, lead in enumerate(row):
            sel = in_panel & (col_of == c)
            z[sel] = binned[LEADS.index(lead), cell_of[sel]]
        z_rows.append(z)
        ms_rows.append(np.where(in_panel, (cell_of + 0.5) * dx_ms, 0.0))
    data: list[dict] = [dict(
        type="heatmap", x=compact(x_edges, 1), y=compact(np.asarray(y_edges), 2), z=compact(np.asarray(z_rows), 4),
        customdata=np.round(np.asarray(ms_rows)).astype(int).tolist(), coloraxis="coloraxis",
        opacity=0.85 if signed else 0.6, hoverongaps=False, zsmooth=False,
        hovertemplate=f"%{{customdata:.0f}} ms: %{{z:.3g}} {unit}<extra></extra>", meta={"role": "overlay"})]

    def line(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All panels' samples of ``sig`` (12, m) as one line: x in whole ms (int16), y broken by NaN between leads."""
        xs, ys = [], []
        for row in rows:
            for c, lead in enumerate(row):
                i = LEADS.index(lead)
                idx = minmax_indices(m, beat[i], BEAT_POINTS)
                xs += [np.round(c * pitch + t_ms[idx]), [c * pitch + t_ms[idx[-1]]]]
                ys += [y0[lead] + sig[i, idx] - ranges[lead][0], [np.nan]]
        return np.concatenate(xs).astype(np.int16), compact(np.concatenate(ys))

    # the lines carry no hover (the bands under them do: ms and value); the Patient page reads µV
    if ref is not None:
        x, y = line(ref)
        data.append(dict(type="scatter", x=x, y=y, mode="lines", hoverinfo="skip", showlegend=False,
                         line=dict(color="#777", width=1, dash="dash"), meta={"role": "reference"}))
    x, y = line(beat)
    data.append(dict(type="scatter", x=x, y=y, mode="lines", hoverinfo="skip", showlegend=False, name="beat",
                     line=dict(color="#111", width=1.2), meta={"role": "beat"}))
    step_ms = 400 if compact_view else 200
    # labels from 0 up to the last line before the panel's end (its end would touch the next panel's 0)
    x_ticks = [(c * pitch + t, f"{t:.0f}") for c in range(n_cols) for t in np.arange(0, width_ms - 1e-9, step_ms)]
    y_ticks = []
    for row in rows:
        lo, hi = ranges[row[0]]
        step = 0.5 if (hi - lo) <= 3 or not compact_view else 1.0
        y_ticks += [(y0[row[0]] + v - lo, f"{v:g}") for v in np.arange(lo, hi + 1e-9, step)]
    annotations = [dict(x=c * pitch + 8, y=y0[lead] + ranges[lead][1] - ranges[lead][0], xref="x", yref="y",
                        text=f"<b>{lead}</b>", showarrow=False, xanchor="left", yanchor="top",
                        font=dict(size=12 if compact_view else 14), bgcolor="rgba(255,248,248,0.7)")
                   for row in rows for c, lead in enumerate(row)]
    x_range, y_range = (-10.0, n_cols * pitch - PANEL_GAP_MS + 10.0), (-0.05, top + 0.05)
    if signed:
        title = colorbar_title or "attribution"
        colorbar = dict(title=dict(text=f"{title}<br>red: raises risk<br>blue: lowers risk"), thickness=14,
                        tickformat=".2~g")
        coloraxis = dict(colorscale=SIGNED_SCALE, cmin=-vmax, cmax=vmax, cmid=0.0, colorbar=colorbar)
    else:
        colorbar = dict(title=dict(text=colorbar_title or "attention"), thickness=14)
        coloraxis = dict(colorscale=UNSIGNED_SCALE, cmin=0.0, cmax=vmax, colorbar=colorbar)
    title_text, height, margin = method_label, 640, dict(l=50, r=10, t=60, b=45)
    tick_font = dict(size=10 if compact_view else 11)
    if compact_view:  # phone width: colour bar underneath, title on several lines
        colorbar.update(orientation="h", x=0.5, xanchor="center", y=-0.04 - 40 / (150 * len(rows)), yanchor="top",
                        thickness=10, len=1.0, title=dict(side="top", text=(colorbar_title or (
                            "attribution" if signed else "attention")).replace("<br>", " ")
                            + ("<br>red: raises risk · blue: lowers risk" if signed else "")))
        title_text = method_label.replace(" · ", "<br>")
        lines = title_text.count("<br>") + 1
        height = 150 * len(rows) + 22 * lines + 170
        margin = dict(l=40, r=6, t=50 + 22 * lines, b=140)
    title = dict(text=title_text, x=0.01)
    if compact_view:  # a title of several lines grows down from the top, inside the top margin
        title.update(y=1.0 - 28.0 / height, yref="container", yanchor="top")  # plotly anchors line 1
    layout = dict(
        title=title, coloraxis=coloraxis, height=height, margin=margin, plot_bgcolor=PAPER_BG,
        shapes=_paper_grid(x_range, y_range), annotations=annotations, hovermode="closest",
        xaxis=dict(range=list(x_range), showgrid=False, zeroline=False, tickmode="array",
                   tickvals=[v for v, _ in x_ticks], ticktext=[t for _, t in x_ticks], tickfont=tick_font,
                   title=dict(text="ms in the median beat", standoff=4)),
        yaxis=dict(range=list(y_range), showgrid=False, zeroline=False, tickmode="array",
                   tickvals=[round(v, 3) for v, _ in y_ticks], ticktext=[t for _, t in y_ticks], tickfont=tick_font,
                   title=dict(text="mV", standoff=2)),
        meta={"method": method_label, "signed": signed, "vmax": vmax, "band_ms": dx_ms, "columns": columns,
              "panels": {ld: {"row": r, "col": c, "x0": float(c * pitch), "y0": float(y0[ld]),
                              "lo": float(ranges[ld][0]), "hi": float(ranges[ld][1])}
                         for r, row in enumerate(rows) for c, ld in enumerate(row)}})
    if width_px is not None:
        layout["width"] = width_px
    return go.Figure(data=data, layout=layout)


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
        fig.update_layout(title=dict(text=title.replace(" (", "<br>(")), height=520,
                          margin=dict(l=50, r=6, t=110, b=90))
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
    """The colour-scale end the overlays use for ``values`` (12, m): the 99th percentile of the binned |values|."""
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
