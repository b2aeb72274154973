"""Plotly figure builders: data in, figure out.

No Streamlit here and no model: every function takes arrays (or small tables) and returns a
:class:`plotly.graph_objects.Figure`, so each figure is unit-testable and reusable in the
HTML report. Traces carry ``meta={"role": ...}`` so tests and callers can find them
(``"lead"``, ``"rhythm"``, ``"calibration"``, ``"km"``, ``"km_ci"``, ``"at_risk"``, …).

ECG paper conventions used throughout: x and y are in millimetres of paper, time runs at
``speed_mm_s`` (25 mm/s) and amplitude at ``gain_mm_mv`` (10 mm/mV); the y axis is anchored
to the x axis (``scaleanchor``) so one millimetre is the same length both ways, with a 1 mm
minor and 5 mm major pink grid.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hfviz.record import LEADS

#: Standard paper speed (mm per second) and gain (mm per millivolt).
PAPER_SPEED_MM_S = 25.0
PAPER_GAIN_MM_MV = 10.0
#: The clinical 3×4 arrangement: rows of leads, each column 2.5 s of a 10 s strip.
LAYOUT_3X4: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"),
    ("II", "aVL", "V2", "V5"),
    ("III", "aVF", "V3", "V6"),
)
RHYTHM_LEAD = "II"
#: Vertical distance between row baselines on the paper (mm).
ROW_PITCH_MM = 40.0
_CAL_LEFT_MM = 12.0  # room left of the traces for the calibration pulse

GRID_MINOR = "rgba(240, 120, 140, 0.22)"
GRID_MAJOR = "rgba(225, 60, 90, 0.45)"
PAPER_BG = "#fff8f8"
TRACE_COLOUR = "#111111"
#: Signed scale: red raises risk, blue lowers it (RdBu reversed); the middle is white.
SIGNED_SCALE = "RdBu_r"
UNSIGNED_SCALE = "YlOrRd"
GROUP_COLOURS = ("#2b7bba", "#f0a030", "#d7301f", "#7b3294", "#1a9850", "#636363")


# --- shared helpers ----------------------------------------------------------------------------
def _f32(a) -> np.ndarray:
    """Float32 copy: halves what a figure sends to the browser (plotly encodes arrays as binary)."""
    return np.asarray(a, dtype=np.float32)


def _grid_shapes(x0: float, x1: float, y0: float, y1: float) -> list[dict]:
    """Two path shapes (1 mm minor, 5 mm major) covering the box, in data (mm) coordinates."""

    def path(step: float) -> str:
        xs = np.arange(np.ceil(x0 / step) * step, x1 + 1e-9, step)
        ys = np.arange(np.ceil(y0 / step) * step, y1 + 1e-9, step)
        parts = [f"M{x:.2f},{y0:.2f}V{y1:.2f}" for x in xs]
        parts += [f"M{x0:.2f},{y:.2f}H{x1:.2f}" for y in ys]
        return "".join(parts)

    minor = dict(type="path", path=path(1.0), line=dict(color=GRID_MINOR, width=0.5), layer="below",
                 name="grid 1 mm")
    major = dict(type="path", path=path(5.0), line=dict(color=GRID_MAJOR, width=1.0), layer="below",
                 name="grid 5 mm")
    return [minor, major]


def _paper_axes(fig: go.Figure, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
    """Hide ticks and lock 1 mm x == 1 mm y."""
    common = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", showline=False)
    fig.update_xaxes(range=list(x_range), constrain="domain", **common)
    fig.update_yaxes(range=list(y_range), scaleanchor="x", scaleratio=1.0, constrain="domain", **common)


def _robust_max_abs(values: np.ndarray, q: float = 99.0) -> float:
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 1.0
    m = float(np.percentile(v, q))
    if m <= 0:
        m = float(v.max())
    return m if m > 0 else 1.0


def _calibration_path(x_start: float, baseline: float, gain_mm_mv: float, speed_mm_s: float):
    """A 1 mV by 0.2 s calibration pulse, returned as x and y lists (mm)."""
    w = 0.2 * speed_mm_s
    h = 1.0 * gain_mm_mv
    xs = [x_start, x_start + 2, x_start + 2, x_start + 2 + w, x_start + 2 + w, x_start + 4 + w]
    ys = [baseline, baseline, baseline + h, baseline + h, baseline, baseline]
    return xs, ys


# --- the 12-lead ECG on paper ---------------------------------------------------------------
def ecg_paper_figure(
    signal_mv: np.ndarray,
    fs_hz: float,
    *,
    title: str = "12-lead ECG",
    speed_mm_s: float = PAPER_SPEED_MM_S,
    gain_mm_mv: float = PAPER_GAIN_MM_MV,
    max_duration_s: float = 10.0,
    width_px: int = 1000,
) -> go.Figure:
    """The twelve leads as printed on ECG paper: 3×4 layout plus a lead II rhythm strip.

    Parameters
    ----------
    signal_mv : ndarray, shape (12, n)
        Signal in mV, leads in :data:`hfviz.record.LEADS` order (usually the cleaned strip).
    fs_hz : float
        Sampling rate in Hz.
    title : str
        Figure title (e.g. the file name).
    speed_mm_s, gain_mm_mv : float
        Paper speed (mm/s) and gain (mm/mV); printed on the figure.
    max_duration_s : float
        At most this many seconds are drawn (the standard page shows 10 s); each of the four
        columns shows a quarter of it.
    width_px : int
        Figure width in pixels; the height follows from the true aspect ratio.

    Returns
    -------
    plotly.graph_objects.Figure
        13 ECG traces (12 leads with ``meta.role == "lead"``, one rhythm strip with
        ``"rhythm"``), one calibration-pulse trace (``"calibration"``), the 1 mm / 5 mm grid as
        two layout shapes, lead labels and a speed/gain note as annotations. Axes are in mm.
    """
    sig = np.asarray(signal_mv, dtype=float)
    if sig.ndim != 2 or sig.shape[0] != len(LEADS):
        raise ValueError(f"signal_mv must have shape (12, n), got {sig.shape}")
    n_total = sig.shape[1]
    n = min(n_total, int(round(max_duration_s * fs_hz)))
    shown_s = n / fs_hz
    col_s = shown_s / 4.0
    col_mm = col_s * speed_mm_s
    t = np.arange(n) / fs_hz  # (n,) s
    centred = sig[:, :n] - np.median(sig[:, :n], axis=1, keepdims=True)  # (12, n) mV

    fig = go.Figure()
    rows = [*LAYOUT_3X4, (RHYTHM_LEAD,)]
    baselines = [-ROW_PITCH_MM * r for r in range(len(rows))]
    annotations = []
    for r, row in enumerate(LAYOUT_3X4):
        for c, lead in enumerate(row):
            i = LEADS.index(lead)
            lo, hi = int(round(c * col_s * fs_hz)), int(round((c + 1) * col_s * fs_hz))
            x = _f32(t[lo:hi] * speed_mm_s)
            y = _f32(baselines[r] + centred[i, lo:hi] * gain_mm_mv)
            fig.add_trace(go.Scatter(
                x=x, y=y, mode="lines", name=lead, line=dict(color=TRACE_COLOUR, width=1.1),
                customdata=_f32(np.stack([t[lo:hi], centred[i, lo:hi]], axis=-1)),
                hovertemplate=f"{lead}: %{{customdata[1]:.2f}} mV at %{{customdata[0]:.3f}} s<extra></extra>",
                meta={"role": "lead", "lead": lead}, showlegend=False,
            ))
            annotations.append(dict(x=c * col_mm + 1.5, y=baselines[r] + 13, text=f"<b>{lead}</b>",
                                    showarrow=False, xanchor="left", font=dict(size=13)))
    i2 = LEADS.index(RHYTHM_LEAD)
    fig.add_trace(go.Scatter(
        x=_f32(t * speed_mm_s), y=_f32(baselines[3] + centred[i2] * gain_mm_mv), mode="lines",
        name=f"{RHYTHM_LEAD} (rhythm)", line=dict(color=TRACE_COLOUR, width=1.1),
        customdata=_f32(np.stack([t, centred[i2]], axis=-1)),
        hovertemplate=f"{RHYTHM_LEAD}: %{{customdata[1]:.2f}} mV at %{{customdata[0]:.3f}} s<extra></extra>",
        meta={"role": "rhythm", "lead": RHYTHM_LEAD}, showlegend=False,
    ))
    annotations.append(dict(x=1.5, y=baselines[3] + 13, text=f"<b>{RHYTHM_LEAD}</b>", showarrow=False,
                            xanchor="left", font=dict(size=13)))

    cal_x: list = []
    cal_y: list = []
    for b in baselines:
        xs, ys = _calibration_path(-_CAL_LEFT_MM, b, gain_mm_mv, speed_mm_s)
        cal_x += xs + [None]
        cal_y += ys + [None]
    fig.add_trace(go.Scatter(x=cal_x, y=cal_y, mode="lines", name="1 mV calibration",
                             line=dict(color=TRACE_COLOUR, width=1.1), hoverinfo="name",
                             meta={"role": "calibration"}, showlegend=False))

    x0, x1 = -_CAL_LEFT_MM - 1, shown_s * speed_mm_s + 2
    y0, y1 = baselines[-1] - ROW_PITCH_MM / 2, ROW_PITCH_MM / 2 + 2
    shapes = _grid_shapes(x0, x1, y0, y1)
    for r in range(3):  # short column dividers, as printed
        for c in range(1, 4):
            shapes.append(dict(type="line", x0=c * col_mm, x1=c * col_mm, y0=baselines[r] - 4,
                               y1=baselines[r] + 4, line=dict(color=TRACE_COLOUR, width=1.2)))
    note = f"{speed_mm_s:g} mm/s · {gain_mm_mv:g} mm/mV · grid 1 mm / 5 mm · calibration pulse 1 mV"
    if n < n_total:
        note += f" · first {shown_s:.1f} s of {n_total / fs_hz:.1f} s"
    annotations.append(dict(x=x0, y=y0, yanchor="top", xanchor="left", showarrow=False, text=note,
                            font=dict(size=11, color="#444")))
    _paper_axes(fig, (x0, x1), (y0 - 6, y1))
    plot_w = width_px - 20
    height = int(plot_w * (y1 - y0 + 6) / (x1 - x0)) + 60
    fig.update_layout(title=dict(text=title, x=0.01), shapes=shapes, annotations=annotations,
                      plot_bgcolor=PAPER_BG, paper_bgcolor="white", width=width_px, height=height,
                      margin=dict(l=10, r=10, t=45, b=15), dragmode="zoom", hovermode="closest",
                      meta={"speed_mm_s": speed_mm_s, "gain_mm_mv": gain_mm_mv})
    return fig


def median_beats_figure(
    beat_mv: np.ndarray,
    fs_hz: float,
    *,
    source: str,
    r_index: int | None = None,
    speed_mm_s: float = 50.0,
    gain_mm_mv: float = PAPER_GAIN_MM_MV,
    width_px: int = 560,
) -> go.Figure:
    """Median (representative) beats of the 12 leads on ECG paper, in the 3×4 arrangement.

    Parameters
    ----------
    beat_mv : ndarray, shape (12, m)
        One beat per lead in mV (e.g. 600 samples at 500 Hz).
    fs_hz : float
        Sampling rate of the beats in Hz.
    source : str
        ``"device"`` (median beats stored in the file) or ``"computed"`` (from the strip); said
        in the title.
    r_index : int, optional
        Sample index of the R peak; drawn as a dotted line.
    speed_mm_s, gain_mm_mv : float
        Paper speed and gain (printed). Median beats are usually shown at 50 mm/s.
    width_px : int
        Figure width; height follows from the true aspect ratio.

    Returns
    -------
    plotly.graph_objects.Figure
        12 traces with ``meta.role == "median"``, grid shapes, labels.
    """
    beat = np.asarray(beat_mv, dtype=float)
    if beat.ndim != 2 or beat.shape[0] != len(LEADS):
        raise ValueError(f"beat_mv must have shape (12, m), got {beat.shape}")
    m = beat.shape[1]
    w_mm = m / fs_hz * speed_mm_s
    gap = 4.0
    pitch = ROW_PITCH_MM
    fig = go.Figure()
    annotations = []
    shapes: list[dict] = []
    t_mm = np.arange(m) / fs_hz * speed_mm_s
    for r, row in enumerate(LAYOUT_3X4):
        for c, lead in enumerate(row):
            i = LEADS.index(lead)
            x0 = c * (w_mm + gap)
            b = -pitch * r
            y = b + (beat[i] - np.median(beat[i][: max(1, m // 10)])) * gain_mm_mv
            fig.add_trace(go.Scatter(
                x=x0 + t_mm, y=y, mode="lines", name=lead, line=dict(color=TRACE_COLOUR, width=1.2),
                customdata=np.stack([np.arange(m) / fs_hz * 1000, beat[i]], axis=-1),
                hovertemplate=f"{lead}: %{{customdata[1]:.2f}} mV at %{{customdata[0]:.0f}} ms<extra></extra>",
                meta={"role": "median", "lead": lead}, showlegend=False))
            annotations.append(dict(x=x0 + 1, y=b + 15, text=f"<b>{lead}</b>", showarrow=False,
                                    xanchor="left", font=dict(size=12)))
            if r_index is not None:
                xr = x0 + t_mm[min(max(int(r_index), 0), m - 1)]
                shapes.append(dict(type="line", x0=xr, x1=xr, y0=b - pitch / 2 + 2, y1=b + pitch / 2 - 2,
                                   line=dict(color="rgba(0,0,0,0.25)", width=1, dash="dot")))
    x_lo, x_hi = -2.0, 4 * w_mm + 3 * gap + 2
    y_lo, y_hi = -pitch * 2 - pitch / 2, pitch / 2
    shapes = _grid_shapes(x_lo, x_hi, y_lo, y_hi) + shapes
    label = {"device": "device median beats (stored in the file)",
             "computed": "median beats computed from the strip"}.get(source, f"median beats ({source})")
    annotations.append(dict(x=x_lo, y=y_lo, yanchor="top", xanchor="left", showarrow=False,
                            text=f"{speed_mm_s:g} mm/s · {gain_mm_mv:g} mm/mV", font=dict(size=11, color="#444")))
    _paper_axes(fig, (x_lo, x_hi), (y_lo - 6, y_hi))
    height = int((width_px - 20) * (y_hi - y_lo + 6) / (x_hi - x_lo)) + 60
    fig.update_layout(title=dict(text=label[:1].upper() + label[1:], x=0.01), shapes=shapes,
                      annotations=annotations, plot_bgcolor=PAPER_BG, width=width_px, height=height,
                      margin=dict(l=10, r=10, t=45, b=15), meta={"source": source})
    return fig


# --- interpretability ----------------------------------------------------------------------------
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


# --- survival and cohort ---------------------------------------------------------------------
def survival_figure(
    times_months: np.ndarray,
    survival: np.ndarray,
    *,
    km: pd.DataFrame | None = None,
    patient_label: str = "this ECG (predicted)",
    cohort_label: str = "cohort Kaplan–Meier",
    horizon_months: float = 84.0,
) -> go.Figure:
    """Predicted HF-free survival S(t) of one patient against the cohort's Kaplan–Meier curve.

    Parameters
    ----------
    times_months : ndarray, shape (T,)
        Times (months) at which ``survival`` is given.
    survival : ndarray, shape (T,)
        Predicted probability of remaining HF-free, in [0, 1], non-increasing.
    km : DataFrame, optional
        Columns ``timeline`` (months), ``survival``, ``ci_lower``, ``ci_upper``: the cohort's KM
        estimate with its 95 % confidence band.
    patient_label, cohort_label : str
        Legend names (say "synthetic" where the cohort is synthetic).
    horizon_months : float
        Right end of the x axis.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces with roles ``"patient"``, ``"km"`` and ``"km_ci"``.
    """
    t = np.asarray(times_months, dtype=float)
    s = np.asarray(survival, dtype=float)
    fig = go.Figure()
    lows = [float(np.nanmin(s))]
    if km is not None and len(km):
        _add_km_trace(fig, km, cohort_label, "#777777", dash="dash")
        lows.append(float(np.nanmin(km["ci_lower"])))
    fig.add_trace(go.Scatter(x=t, y=s, mode="lines", name=patient_label, line=dict(color="#d7301f", width=3),
                             meta={"role": "patient"},
                             hovertemplate="%{x:.0f} months: %{y:.1%} HF-free<extra></extra>"))
    y_lo = max(0.0, min(lows) - 0.03)
    fig.update_layout(title=dict(text="Predicted heart-failure-free survival", x=0.01),
                      xaxis=dict(title="months since ECG", range=[0, horizon_months], dtick=12),
                      yaxis=dict(title="probability HF-free", range=[y_lo, 1.005], tickformat=".0%"),
                      height=400, margin=dict(l=60, r=20, t=50, b=50), legend=dict(x=0.01, y=0.02),
                      plot_bgcolor="white")
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    return fig


def _add_km_trace(fig: go.Figure, km: pd.DataFrame, label: str, colour: str, *, dash: str = "solid",
                  row: int | None = None, col: int | None = None) -> None:
    """A step KM curve with its CI band (band first, so the line draws on top)."""
    x = km["timeline"].to_numpy(dtype=float)
    rgb = colour.lstrip("#")
    r, g, b = (int(rgb[i:i + 2], 16) for i in (0, 2, 4))
    kw = dict(row=row, col=col) if row is not None else {}
    if {"ci_lower", "ci_upper"} <= set(km.columns):
        fig.add_trace(go.Scatter(
            x=np.concatenate([x, x[::-1]]),
            y=np.concatenate([km["ci_upper"].to_numpy(float), km["ci_lower"].to_numpy(float)[::-1]]),
            fill="toself", fillcolor=f"rgba({r},{g},{b},0.15)", line=dict(width=0, shape="hv"),
            hoverinfo="skip", showlegend=False, name=f"{label} 95% CI", meta={"role": "km_ci", "group": label}),
            **kw)
    fig.add_trace(go.Scatter(x=x, y=km["survival"], mode="lines", name=label,
                             line=dict(color=colour, width=2.2, shape="hv", dash=dash),
                             meta={"role": "km", "group": label},
                             hovertemplate=f"{label} · %{{x:.0f}} months: %{{y:.1%}}<extra></extra>"), **kw)


def km_groups_figure(
    curves: Mapping[str, pd.DataFrame],
    at_risk: pd.DataFrame,
    *,
    title: str,
    subtitle: str = "",
    horizon_months: float = 84.0,
) -> go.Figure:
    """Kaplan–Meier curves by risk group with 95 % CI bands and a numbers-at-risk table.

    Parameters
    ----------
    curves : mapping of str to DataFrame
        Group label -> KM table with columns ``timeline`` (months), ``survival``, ``ci_lower``,
        ``ci_upper``; order is the legend order (low to high risk).
    at_risk : DataFrame
        Numbers at risk: index = group labels (same as ``curves``), columns = times (months).
    title : str
        Figure title; say which cohort and that it is synthetic where it is.
    subtitle : str
        Second title line, e.g. the log-rank p-value and hazard ratio.
    horizon_months : float
        Right end of the time axis.

    Returns
    -------
    plotly.graph_objects.Figure
        Two rows sharing the time axis: the curves (roles ``"km"``, ``"km_ci"``, one ``km`` trace
        per group) and the at-risk table drawn as text aligned under the time ticks
        (role ``"at_risk"``, one trace per group).
    """
    groups = list(curves)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.76, 0.24], vertical_spacing=0.1)
    lows = [1.0]
    for k, g in enumerate(groups):
        colour = GROUP_COLOURS[k % len(GROUP_COLOURS)] if len(groups) > 2 else ("#2b7bba", "#d7301f")[k]
        _add_km_trace(fig, curves[g], g, colour, row=1, col=1)
        if "ci_lower" in curves[g]:
            lows.append(float(np.nanmin(curves[g]["ci_lower"])))
    times = [float(c) for c in at_risk.columns]
    for k, g in enumerate(groups):
        colour = GROUP_COLOURS[k % len(GROUP_COLOURS)] if len(groups) > 2 else ("#2b7bba", "#d7301f")[k]
        counts = at_risk.loc[g].to_numpy() if g in at_risk.index else np.full(len(times), np.nan)
        fig.add_trace(go.Scatter(x=times, y=[g] * len(times), mode="text",
                                 text=[("" if not np.isfinite(v) else f"{int(v)}") for v in counts.astype(float)],
                                 textfont=dict(color=colour, size=12), showlegend=False, hoverinfo="skip",
                                 meta={"role": "at_risk", "group": g}), row=2, col=1)
    y_lo = max(0.0, min(lows) - 0.02)
    fig.update_yaxes(title_text="probability HF-free", range=[y_lo, 1.005], tickformat=".0%", row=1, col=1,
                     showgrid=True, gridcolor="#eee")
    fig.update_yaxes(title_text="at risk", row=2, col=1, autorange="reversed", type="category",
                     showgrid=False, categoryorder="array", categoryarray=groups)
    fig.update_xaxes(range=[-2, horizon_months + 2], dtick=12, showgrid=True, gridcolor="#eee", row=1, col=1)
    fig.update_xaxes(title_text="months since ECG", showgrid=False, row=2, col=1, tickvals=times)
    text = title if not subtitle else f"{title}<br><sup>{subtitle}</sup>"
    fig.update_layout(title=dict(text=text, x=0.01), height=560, plot_bgcolor="white",
                      margin=dict(l=110, r=20, t=70, b=50), legend=dict(x=0.01, y=0.3, yanchor="bottom"))
    return fig


def calibration_figure(table: pd.DataFrame, *, horizon_months: float, title: str | None = None) -> go.Figure:
    """Predicted vs observed risk of HF by the horizon, per risk bin.

    Parameters
    ----------
    table : DataFrame
        One row per bin with columns ``predicted`` (mean predicted probability of HF by the
        horizon), ``observed`` (1 − KM survival at the horizon) and optionally ``observed_lower``,
        ``observed_upper`` (95 % CI) and ``n``.
    horizon_months : float
        The horizon, for the labels.
    title : str, optional
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        A diagonal reference line (role ``"ideal"``) and the bins (role ``"calibration"``).
    """
    pred = table["predicted"].to_numpy(float)
    obs = table["observed"].to_numpy(float)
    hi = float(np.nanmax(np.concatenate([pred, obs, table.get("observed_upper", pd.Series([0.0])).to_numpy(float)])))
    hi = min(1.0, max(hi * 1.1, 0.02))
    err = None
    if {"observed_lower", "observed_upper"} <= set(table.columns):
        err = dict(type="data", symmetric=False, array=table["observed_upper"].to_numpy(float) - obs,
                   arrayminus=obs - table["observed_lower"].to_numpy(float), color="#888")
    n_text = [f"n={int(v)}" for v in table["n"]] if "n" in table else None
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi], mode="lines", line=dict(color="#aaa", dash="dash"),
                             name="perfect calibration", meta={"role": "ideal"}))
    fig.add_trace(go.Scatter(x=pred, y=obs, mode="markers+lines", error_y=err, name="risk bins",
                             marker=dict(size=9, color="#d7301f"), text=n_text, meta={"role": "calibration"},
                             hovertemplate="predicted %{x:.1%}, observed %{y:.1%} %{text}<extra></extra>"))
    fig.update_layout(title=dict(text=title or f"Calibration at {horizon_months:g} months", x=0.01),
                      xaxis=dict(title=f"predicted P(HF by {horizon_months:g} months)", range=[0, hi],
                                 tickformat=".0%"),
                      yaxis=dict(title="observed (Kaplan–Meier)", range=[0, hi], tickformat=".0%",
                                 scaleanchor="x"),
                      height=420, width=460, margin=dict(l=60, r=20, t=50, b=50), plot_bgcolor="white",
                      legend=dict(x=0.01, y=0.99))
    return fig


def risk_histogram_figure(
    cohort_log_risk: np.ndarray,
    *,
    patient_log_risk: float | None = None,
    cutoffs: Mapping[str, float] | None = None,
    cohort_label: str = "cohort",
    patient_label: str = "this ECG",
) -> go.Figure:
    """Histogram of the cohort's predicted log-risk with the current patient marked.

    Parameters
    ----------
    cohort_log_risk : ndarray, shape (N,)
        Predicted log-risk of every cohort member.
    patient_log_risk : float, optional
        The current patient's log-risk; drawn as a red vertical line.
    cutoffs : mapping of str to float, optional
        Risk-group boundaries (label -> log-risk), drawn as dotted lines.
    cohort_label, patient_label : str
        Names used in the title and the marker.

    Returns
    -------
    plotly.graph_objects.Figure
        A histogram trace (role ``"histogram"``) and, when given, a patient marker shape and
        annotation (``layout.meta["patient_log_risk"]``).
    """
    v = np.asarray(cohort_log_risk, dtype=float)
    fig = go.Figure(go.Histogram(x=v, nbinsx=40, marker_color="#9ecae1", name=cohort_label,
                                 meta={"role": "histogram"},
                                 hovertemplate="log-risk %{x}: %{y} people<extra></extra>"))
    shapes, annotations = [], []
    for label, c in (cutoffs or {}).items():
        shapes.append(dict(type="line", x0=c, x1=c, yref="paper", y0=0, y1=1,
                           line=dict(color="#555", dash="dot", width=1)))
        annotations.append(dict(x=c, y=1.0, yref="paper", text=label, showarrow=False, yanchor="bottom",
                                font=dict(size=10, color="#555")))
    if patient_log_risk is not None:
        p = float(patient_log_risk)
        shapes.append(dict(type="line", x0=p, x1=p, yref="paper", y0=0, y1=1, line=dict(color="#d7301f", width=3)))
        annotations.append(dict(x=p, y=0.92, yref="paper", text=f"<b>{patient_label}</b>", showarrow=True,
                                arrowhead=2, ax=40, ay=-20, font=dict(color="#d7301f")))
    fig.update_layout(title=dict(text=f"Predicted log-risk in the {cohort_label}", x=0.01),
                      xaxis_title="predicted log-risk", yaxis_title="people", shapes=shapes,
                      annotations=annotations, height=360, bargap=0.05, margin=dict(l=60, r=20, t=60, b=50),
                      plot_bgcolor="white", meta={"patient_log_risk": patient_log_risk})
    return fig


def table_figure(df: pd.DataFrame, *, title: str = "") -> go.Figure:
    """A plain plotly table (used in the offline HTML report).

    Parameters
    ----------
    df : DataFrame
        Rows to show; the index is not shown.
    title : str
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure(go.Table(header=dict(values=list(df.columns), fill_color="#eee", align="left"),
                             cells=dict(values=[df[c].astype(str).tolist() for c in df.columns], align="left")))
    fig.update_layout(title=dict(text=title, x=0.01), margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      height=40 + 28 * (len(df) + 1) + (40 if title else 0))
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
        :func:`hfviz.explain.beat_values_on_strip`.
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
