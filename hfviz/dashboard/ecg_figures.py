"""Plotly figures of the ECG itself on ECG paper: the 12-lead page and the median beats.

No Streamlit and no model: arrays in, :class:`plotly.graph_objects.Figure` out, so each figure
is unit-testable and reusable in the HTML report. Traces carry ``meta={"role": ...}`` so tests
and callers can find them (``"lead"``, ``"rhythm"``, ``"calibration"``, ``"median"``).

ECG paper conventions used throughout: x and y are in millimetres of paper, time runs at
``speed_mm_s`` (25 mm/s) and amplitude at ``gain_mm_mv`` (10 mm/mV); the y axis is anchored
to the x axis (``scaleanchor``) so one millimetre is the same length both ways, with a 1 mm
minor and 5 mm major pink grid.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from hfviz.dashboard.plot_data import compact, minmax_indices
from hfviz.ecg.record import LEADS

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


# --- shared helpers ----------------------------------------------------------------------------
#: Points per millimetre of paper a trace keeps (min/max decimation): 2 per pixel at ~1,250 px for 250 mm.
POINTS_PER_MM = 10.0
#: Width (px) the figure heights are computed for when the figure takes the page's width.
NOMINAL_WIDTH_PX = 1250
#: Width (px) of the main column on a 390-px phone screen (the figure heights of the phone layout).
PHONE_WIDTH_PX = 358


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


def _calibration_path(x_start: float, baseline: float, gain_mm_mv: float, speed_mm_s: float):
    """A 1 mV by 0.2 s calibration pulse, returned as x and y lists (mm)."""
    w = 0.2 * speed_mm_s
    h = 1.0 * gain_mm_mv
    xs = [x_start, x_start + 2, x_start + 2, x_start + 2 + w, x_start + 2 + w, x_start + 4 + w]
    ys = [baseline, baseline, baseline + h, baseline + h, baseline, baseline]
    return xs, ys


# --- the 12-lead ECG on paper ---------------------------------------------------------------
def _lead_label(x: float, y: float, lead: str) -> dict:
    """Bold lead name just above a row's baseline (an annotation, mm coordinates)."""
    return dict(x=x, y=y + 13, text=f"<b>{lead}</b>", showarrow=False, xanchor="left", font=dict(size=13))


def _ecg_trace(t_s: np.ndarray, mv: np.ndarray, baseline_mm: float, *, lead: str, role: str,
               speed_mm_s: float, gain_mm_mv: float) -> go.Scatter:
    """One lead segment on paper: times ``t_s`` (s, from the strip start) and centred values ``mv`` (mV), both (k,)."""
    name = lead if role == "lead" else f"{lead} (rhythm)"
    n_out = int((t_s[-1] - t_s[0]) * speed_mm_s * POINTS_PER_MM) if len(t_s) > 1 else len(t_s)
    keep = minmax_indices(len(t_s), mv, max(n_out, 4))
    t_s, mv = t_s[keep], mv[keep]
    return go.Scatter(
        x=compact(t_s * speed_mm_s, 2),
        y=compact(baseline_mm + mv * gain_mm_mv, 2), mode="lines", name=name,
        line=dict(color=TRACE_COLOUR, width=1.1),
        customdata=np.stack([np.round(t_s * 1000), np.round(mv * 1000)], axis=-1).astype(np.int16),
        hovertemplate=f"{lead}: %{{customdata[1]}} µV at %{{customdata[0]}} ms<extra></extra>",
        meta={"role": role, "lead": lead}, showlegend=False,
    )


def _add_lead_traces(fig: go.Figure, centred: np.ndarray, fs_hz: float, baselines: list[float], *,
                     speed_mm_s: float, gain_mm_mv: float) -> list[dict]:
    """The 3×4 lead segments (each a quarter of the shown time) and the lead II rhythm strip.

    ``centred`` is (12, n) in mV; returns the lead-name annotations.
    """
    n = centred.shape[1]
    t = np.arange(n) / fs_hz  # (n,) s
    col_s = n / fs_hz / 4.0
    annotations = []
    for r, row in enumerate(LAYOUT_3X4):
        for c, lead in enumerate(row):
            i = LEADS.index(lead)
            lo, hi = int(round(c * col_s * fs_hz)), int(round((c + 1) * col_s * fs_hz))
            fig.add_trace(_ecg_trace(t[lo:hi], centred[i, lo:hi], baselines[r], lead=lead, role="lead",
                                     speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv))
            annotations.append(_lead_label(c * col_s * speed_mm_s + 1.5, baselines[r], lead))
    i2 = LEADS.index(RHYTHM_LEAD)
    fig.add_trace(_ecg_trace(t, centred[i2], baselines[3], lead=RHYTHM_LEAD, role="rhythm",
                             speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv))
    annotations.append(_lead_label(1.5, baselines[3], RHYTHM_LEAD))
    return annotations


def _add_calibration_pulses(fig: go.Figure, baselines: list[float], *, speed_mm_s: float, gain_mm_mv: float) -> None:
    """One 1 mV calibration pulse left of every row, all in one trace (role ``"calibration"``)."""
    cal_x: list = []
    cal_y: list = []
    for b in baselines:
        xs, ys = _calibration_path(-_CAL_LEFT_MM, b, gain_mm_mv, speed_mm_s)
        cal_x += xs + [None]
        cal_y += ys + [None]
    fig.add_trace(go.Scatter(x=cal_x, y=cal_y, mode="lines", name="1 mV calibration",
                             line=dict(color=TRACE_COLOUR, width=1.1), hoverinfo="name",
                             meta={"role": "calibration"}, showlegend=False))


def _column_dividers(baselines: list[float], col_mm: float) -> list[dict]:
    """Short vertical marks between the four columns of the three lead rows, as printed."""
    return [dict(type="line", x0=c * col_mm, x1=c * col_mm, y0=baselines[r] - 4, y1=baselines[r] + 4,
                 line=dict(color=TRACE_COLOUR, width=1.2))
            for r in range(3) for c in range(1, 4)]


def ecg_paper_figure(
    signal_mv: np.ndarray,
    fs_hz: float,
    *,
    title: str = "12-lead ECG",
    speed_mm_s: float = PAPER_SPEED_MM_S,
    gain_mm_mv: float = PAPER_GAIN_MM_MV,
    max_duration_s: float = 10.0,
    width_px: int | None = None,
    fit_width_px: int | None = None,
) -> go.Figure:
    """The twelve leads as printed on ECG paper: 3×4 layout plus a lead II rhythm strip.

    Parameters
    ----------
    signal_mv : ndarray, shape (12, n)
        Signal in mV, leads in :data:`hfviz.ecg.record.LEADS` order (usually the cleaned strip).
    fs_hz : float
        Sampling rate in Hz.
    title : str
        Figure title (e.g. the file name).
    speed_mm_s, gain_mm_mv : float
        Paper speed (mm/s) and gain (mm/mV); printed on the figure.
    max_duration_s : float
        At most this many seconds are drawn (the standard page shows 10 s); each of the four
        columns shows a quarter of it.
    width_px : int, optional
        Figure width in pixels; default: the page's width, with the height computed for
        ``fit_width_px`` (1 mm x = 1 mm y is kept either way).
    fit_width_px : int, optional
        The width (px) the page is expected to give the figure when ``width_px`` is not set:
        the height follows it, so the paper fills the figure without a band of white above and
        below (default :data:`NOMINAL_WIDTH_PX`; :data:`PHONE_WIDTH_PX` on a phone).

    Returns
    -------
    plotly.graph_objects.Figure
        13 ECG traces (decimated to :data:`POINTS_PER_MM` points per mm, keeping every
        minimum and maximum) (12 leads with ``meta.role == "lead"``, one rhythm strip with
        ``"rhythm"``), one calibration-pulse trace (``"calibration"``), the 1 mm / 5 mm grid as
        two layout shapes, lead labels and a speed/gain note as annotations. Axes are in mm.
    """
    sig = np.asarray(signal_mv, dtype=float)
    if sig.ndim != 2 or sig.shape[0] != len(LEADS):
        raise ValueError(f"signal_mv must have shape (12, n), got {sig.shape}")
    n_total = sig.shape[1]
    n = min(n_total, int(round(max_duration_s * fs_hz)))
    shown_s = n / fs_hz
    centred = sig[:, :n] - np.median(sig[:, :n], axis=1, keepdims=True)  # (12, n) mV
    baselines = [-ROW_PITCH_MM * r for r in range(len(LAYOUT_3X4) + 1)]  # three lead rows + the rhythm strip

    fig = go.Figure()
    annotations = _add_lead_traces(fig, centred, fs_hz, baselines, speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv)
    _add_calibration_pulses(fig, baselines, speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv)

    x0, x1 = -_CAL_LEFT_MM - 1, shown_s * speed_mm_s + 2
    y0, y1 = baselines[-1] - ROW_PITCH_MM / 2, ROW_PITCH_MM / 2 + 2
    shapes = _grid_shapes(x0, x1, y0, y1) + _column_dividers(baselines, shown_s / 4.0 * speed_mm_s)
    note = f"{speed_mm_s:g} mm/s · {gain_mm_mv:g} mm/mV · grid 1 mm / 5 mm · calibration pulse 1 mV"
    if n < n_total:
        note += f" · first {shown_s:.1f} s of {n_total / fs_hz:.1f} s"
    annotations.append(dict(x=x0, y=y0, yanchor="top", xanchor="left", showarrow=False, text=note,
                            font=dict(size=11, color="#444")))
    _paper_axes(fig, (x0, x1), (y0 - 6, y1))
    plot_w = (width_px or fit_width_px or NOMINAL_WIDTH_PX) - 20
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
    width_px: int | None = None,
    fit_width_px: int | None = None,
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
    width_px : int, optional
        Figure width; default the column's width (the height is computed for ``fit_width_px``).
    fit_width_px : int, optional
        Expected width (px) when ``width_px`` is not set; default 560 (a 3/5 column).

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
            keep = minmax_indices(m, beat[i], int(w_mm * POINTS_PER_MM / 2))  # a quarter-width panel
            fig.add_trace(go.Scatter(
                x=compact(x0 + t_mm[keep], 2), y=compact(y[keep], 2), mode="lines", name=lead,
                line=dict(color=TRACE_COLOUR, width=1.2),
                customdata=np.stack([np.round(np.arange(m)[keep] / fs_hz * 1000), np.round(beat[i][keep] * 1000)],
                                    axis=-1).astype(np.int16),
                hovertemplate=f"{lead}: %{{customdata[1]}} µV at %{{customdata[0]}} ms<extra></extra>",
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
    height = int(((width_px or fit_width_px or 560) - 20) * (y_hi - y_lo + 6) / (x_hi - x_lo)) + 60
    fig.update_layout(title=dict(text=label[:1].upper() + label[1:], x=0.01), shapes=shapes,
                      annotations=annotations, plot_bgcolor=PAPER_BG, width=width_px, height=height,
                      margin=dict(l=10, r=10, t=45, b=15), meta={"source": source})
    return fig

