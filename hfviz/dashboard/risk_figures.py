"""Plotly figures of predicted risk: one patient's survival, Kaplan–Meier by risk group, calibration, risk histogram.

No Streamlit and no model: arrays and small tables in (from :mod:`hfviz.risk.assess` and
:mod:`hfviz.risk.cohort`), figure out. Traces carry ``meta={"role": ...}`` (``"patient"``,
``"km"``, ``"km_ci"``, ``"at_risk"``, ``"ideal"``, ``"calibration"``, ``"histogram"``). Times
are in months.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hfviz.dashboard.figure_style import GROUP_COLOURS
from hfviz.dashboard.plot_data import compact


def survival_figure(
    times_months: np.ndarray,
    survival: np.ndarray,
    *,
    km: pd.DataFrame | None = None,
    patient_label: str = "this ECG (predicted)",
    cohort_label: str = "cohort Kaplan–Meier",
    horizon_months: float = 84.0,
    mark_months: float | None = 60.0,
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
    mark_months : float, optional
        The horizon the page quotes (e.g. 60 months): a dotted line there, a marker on each
        curve and both values written beside it (``layout.meta["mark"]``).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces with roles ``"patient"``, ``"km"``, ``"km_ci"`` and ``"mark"`` (the markers).
    """
    t = np.asarray(times_months, dtype=float)
    s = np.asarray(survival, dtype=float)
    fig = go.Figure()
    lows = [float(np.nanmin(s))]
    if km is not None and len(km):
        _add_km_trace(fig, km, cohort_label, "#777777", dash="dash")
        lows.append(float(np.nanmin(km["ci_lower"])))
    fig.add_trace(go.Scatter(x=compact(t, 3), y=compact(s, 5), mode="lines", name=patient_label,
                             line=dict(color="#d7301f", width=3), meta={"role": "patient"},
                             hovertemplate="%{x:.0f} months: %{y:.1%} HF-free<extra></extra>"))
    mark = None
    if mark_months is not None:
        s_p = float(np.interp(mark_months, t, s))
        s_k = km_at(km, mark_months) if km is not None and len(km) else float("nan")
        mark = {"months": float(mark_months), "patient": s_p, "cohort": s_k}
        xs, ys, names = [mark_months], [s_p], [patient_label]
        if np.isfinite(s_k):
            xs.append(mark_months), ys.append(s_k), names.append(cohort_label)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker=dict(size=10, color=["#d7301f", "#777"][:len(xs)],
                                 line=dict(color="white", width=1.5)), showlegend=False, customdata=names,
                                 hovertemplate="%{customdata} at %{x:.0f} months: %{y:.1%} HF-free<extra></extra>",
                                 meta={"role": "mark"}))
        text = f"<b>{mark_months:g} months</b><br>this ECG: {s_p:.1%}"
        if np.isfinite(s_k):
            text += f"<br>cohort: {s_k:.1%}"
        fig.add_vline(x=mark_months, line=dict(color="#444", dash="dot", width=1))
        fig.add_annotation(x=mark_months, y=1.0, yref="y", text=text, showarrow=False, xanchor="left", yanchor="top",
                           align="left", xshift=6, font=dict(size=12), bgcolor="rgba(255,255,255,0.8)")
    y_lo = max(0.0, min(lows) - 0.03)
    fig.update_layout(title=dict(text="Predicted heart-failure-free survival", x=0.01),
                      xaxis=dict(title="months since ECG", range=[0, horizon_months], dtick=12),
                      yaxis=dict(title="probability HF-free", range=[y_lo, 1.005], tickformat=".0%"),
                      height=440, margin=dict(l=60, r=20, t=50, b=50),
                      legend=dict(orientation="h", x=0.0, y=-0.2, yanchor="top"),  # under the plot: wraps on a phone
                      plot_bgcolor="white", meta={"mark": mark})
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    return fig


def step_vertices(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the right-continuous step function through ``(x[k], y[k])`` (as a KM curve is drawn).

    Parameters
    ----------
    x : ndarray, shape (k,)
        Increasing times (months).
    y : ndarray, shape (k,)
        Value from ``x[k]`` until ``x[k + 1]``.

    Returns
    -------
    xs, ys : ndarray, shape (2k - 1,)
        ``x0, x1, x1, x2, x2, …`` and ``y0, y0, y1, y1, y2, …``: drawn with straight lines,
        the same picture as plotly's ``line.shape == "hv"`` through ``(x, y)``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size == 0:
        return x, y
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


def _add_km_trace(fig: go.Figure, km: pd.DataFrame, label: str, colour: str, *, dash: str = "solid",
                  row: int | None = None, col: int | None = None) -> None:
    """A step KM curve with its CI band as the same steps (band first, so the line draws on top)."""
    km = _changes_only(km)
    x = km["timeline"].to_numpy(dtype=float)
    rgb = colour.lstrip("#")
    r, g, b = (int(rgb[i:i + 2], 16) for i in (0, 2, 4))
    kw = dict(row=row, col=col) if row is not None else {}
    if {"ci_lower", "ci_upper"} <= set(km.columns):
        ux, uy = step_vertices(x, km["ci_upper"].to_numpy(float))
        lx, ly = step_vertices(x, km["ci_lower"].to_numpy(float))
        fig.add_trace(go.Scatter(
            x=compact(np.concatenate([ux, lx[::-1]]), 3), y=compact(np.concatenate([uy, ly[::-1]]), 4),
            mode="lines", fill="toself", fillcolor=f"rgba({r},{g},{b},0.15)", line=dict(width=0),
            hoverinfo="skip", showlegend=False, name=f"{label} 95% CI", meta={"role": "km_ci", "group": label}),
            **kw)
    sx, sy = step_vertices(x, km["survival"].to_numpy(float))
    fig.add_trace(go.Scatter(x=compact(sx, 3), y=compact(sy, 4), mode="lines", name=label,
                             line=dict(color=colour, width=2.2, dash=dash),
                             meta={"role": "km", "group": label},
                             hovertemplate=f"{label} · %{{x:.0f}} months: %{{y:.1%}}<extra></extra>"), **kw)


def _changes_only(km: pd.DataFrame) -> pd.DataFrame:
    """The rows of a KM table where the curve or its band changes, and the first and last (same picture, fewer rows)."""
    cols = [c for c in ("survival", "ci_lower", "ci_upper") if c in km.columns]
    v = km[cols].to_numpy(float)
    changed = np.ones(len(km), dtype=bool)
    if len(km) > 2:
        changed[1:-1] = np.any(v[1:-1] != v[:-2], axis=1)
    return km[changed]


def km_at(km: pd.DataFrame, t_months: float) -> float:
    """Kaplan–Meier survival at ``t_months``: the step value in force then (NaN past the last time)."""
    x = km["timeline"].to_numpy(float)
    s = km["survival"].to_numpy(float)
    if x.size == 0 or t_months > x.max():
        return float("nan")
    return float(s[max(int(np.searchsorted(x, t_months, side="right")) - 1, 0)])


def km_groups_figure(
    curves: Mapping[str, pd.DataFrame],
    at_risk: pd.DataFrame,
    *,
    title: str,
    subtitle: str = "",
    horizon_months: float = 84.0,
    phone: bool = False,
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
    phone : bool
        Phone width (~360 px): the title's and subtitle's parts (split at ": " and " · ") each on
        a line of their own, anchored at the top inside the top margin.

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
        fig.add_trace(go.Scatter(x=times, y=[g] * len(times), mode="text", textposition="middle center",
                                 text=[("" if not np.isfinite(v) else f"{int(v)}") for v in counts.astype(float)],
                                 textfont=dict(color=colour, size=12), showlegend=False, hoverinfo="skip",
                                 cliponaxis=False,  # the number under 0 months is wider than the axis' margin
                                 meta={"role": "at_risk", "group": g}), row=2, col=1)
    y_lo = max(0.0, min(lows) - 0.02)
    fig.update_yaxes(title_text="probability HF-free", range=[y_lo, 1.005], tickformat=".0%", row=1, col=1,
                     showgrid=True, gridcolor="#eee")
    fig.update_yaxes(title_text="at risk", row=2, col=1, autorange="reversed", type="category",
                     showgrid=False, categoryorder="array", categoryarray=groups)
    # both rows share one x axis range and the same ticks: each at-risk number sits under its tick
    # room left of 0 for the at-risk numbers centred there (a phone's plot is ~230 px for 84 months)
    x_range = [-8, horizon_months + 5] if phone else [-2, horizon_months + 2]
    fig.update_xaxes(range=x_range, tickvals=times, showgrid=True, gridcolor="#eee", row=1, col=1)
    fig.update_xaxes(range=x_range, title_text="months since ECG", showgrid=True, gridcolor="#f4f4f4",
                     row=2, col=1, tickvals=times, showticklabels=True)
    if phone:  # a phone is ~360 px wide: one part of the title per line
        title = title.replace(": ", ":<br>")
        subtitle = subtitle.replace(" · ", "<br>")
    text = title if not subtitle else f"{title}<br><sup>{subtitle}</sup>"
    lines = text.count("<br>") + 1  # the page may break a long title (phone width)
    height = 540 + 20 * lines
    title_box = dict(text=text, x=0.01)
    if phone:  # several lines grow down from the top of the figure, all inside the top margin
        title_box.update(y=1.0 - 28.0 / height, yref="container", yanchor="top")  # plotly anchors line 1
    fig.update_layout(title=title_box, height=height, plot_bgcolor="white",
                      margin=dict(l=110, r=20, t=30 + 20 * lines + (10 if phone else 0), b=50),
                      legend=dict(x=0.01, y=0.3, yanchor="bottom"))
    return fig


def calibration_figure(table: pd.DataFrame | Mapping[str, pd.DataFrame], *, horizon_months: float,
                       title: str | None = None) -> go.Figure:
    """Predicted vs observed risk of HF by the horizon, per risk bin (one or several series, e.g. before/after).

    Parameters
    ----------
    table : DataFrame, or mapping of str to DataFrame
        One row per bin with columns ``predicted`` (mean predicted probability of HF by the
        horizon), ``observed`` (1 − KM survival at the horizon) and optionally ``observed_lower``,
        ``observed_upper`` (95 % CI) and ``n``. A mapping draws one series per entry (legend
        label -> table), e.g. ``{"before recalibration": ..., "after recalibration": ...}``.
    horizon_months : float
        The horizon, for the labels.
    title : str, optional
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        A diagonal reference line (role ``"ideal"``) and one trace of bins per series (role
        ``"calibration"``, ``meta.series`` its label); both axes share one range.
    """
    tables = {"risk bins": table} if isinstance(table, pd.DataFrame) else dict(table)
    colours = ("#d7301f",) if len(tables) == 1 else ("#969696", "#d7301f") + GROUP_COLOURS
    hi = 0.0
    for tab in tables.values():
        cols = [c for c in ("predicted", "observed", "observed_upper") if c in tab]
        hi = max(hi, float(np.nanmax(tab[cols].to_numpy(float))) if len(tab) else 0.0)
    hi = min(1.0, max(hi * 1.1, 0.02))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi], mode="lines", line=dict(color="#aaa", dash="dash"),
                             name="perfect calibration", meta={"role": "ideal"}))
    for k, (name, tab) in enumerate(tables.items()):
        pred = tab["predicted"].to_numpy(float)
        obs = tab["observed"].to_numpy(float)
        err = None
        if {"observed_lower", "observed_upper"} <= set(tab.columns):
            err = dict(type="data", symmetric=False, array=tab["observed_upper"].to_numpy(float) - obs,
                       arrayminus=obs - tab["observed_lower"].to_numpy(float), color="#888")
        n_text = [f"n={int(v)}" for v in tab["n"]] if "n" in tab else None
        colour = colours[k % len(colours)]
        fig.add_trace(go.Scatter(x=pred, y=obs, mode="markers+lines", error_y=err, name=name,
                                 marker=dict(size=9 if k == len(tables) - 1 else 7, color=colour),
                                 line=dict(color=colour), text=n_text, meta={"role": "calibration", "series": name},
                                 hovertemplate=f"{name}: predicted %{{x:.1%}}, observed %{{y:.1%}} %{{text}}"
                                               "<extra></extra>"))
    fig.update_layout(title=dict(text=title or f"Calibration at {horizon_months:g} months", x=0.01),
                      xaxis=dict(title=f"predicted P(HF by {horizon_months:g} months)", range=[0, hi],
                                 tickformat=".0%", constrain="domain"),
                      yaxis=dict(title="observed (Kaplan–Meier)", range=[0, hi], tickformat=".0%",
                                 scaleanchor="x", constrain="domain"),  # square plot, never a stretched range
                      height=420, margin=dict(l=60, r=20, t=50, b=50), plot_bgcolor="white",
                      legend=dict(x=0.01, y=0.99))
    return fig


def risk_histogram_figure(
    cohort_log_risk: np.ndarray,
    *,
    patient_log_risk: float | None = None,
    cutoffs: Mapping[str, float] | None = None,
    cohort_label: str = "cohort",
    patient_label: str = "this ECG",
    patient_name: str | None = None,
) -> go.Figure:
    """Histogram of the cohort's predicted log-risk with the current patient marked.

    The group cut-off labels sit above the plot area (staggered when two are close); the
    patient's label sits inside it, at the top, on the side of its line with more room, so
    the two never overlap.

    Parameters
    ----------
    cohort_log_risk : ndarray, shape (N,)
        Predicted log-risk of every cohort member.
    patient_log_risk : float, optional
        The current patient's log-risk; drawn as a red vertical line.
    cutoffs : mapping of str to float
        Risk-group boundaries (label -> log-risk), drawn as dotted lines.
    cohort_label, patient_label : str
        Names used in the title and the marker.
    patient_name : str, optional
        The ECG's name, written under ``patient_label`` (shortened to 32 characters; the
        full name on hover).

    Returns
    -------
    plotly.graph_objects.Figure
        A histogram trace (role ``"histogram"``) and, when given, a patient marker shape and
        annotation (``layout.meta["patient_log_risk"]``). Annotations carry ``name``
        ``"cutoff"`` or ``"patient"``.
    """
    v = np.asarray(cohort_log_risk, dtype=float)
    fig = go.Figure(go.Histogram(x=v, nbinsx=40, marker_color="#9ecae1", name=cohort_label,
                                 meta={"role": "histogram"},
                                 hovertemplate="log-risk %{x}: %{y} people<extra></extra>"))
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if patient_log_risk is not None:
        lo, hi = min(lo, float(patient_log_risk)), max(hi, float(patient_log_risk))
    span = max(hi - lo, 1e-9)
    shapes, annotations = [], []
    last_x, level = None, 0
    for label, c in sorted((cutoffs or {}).items(), key=lambda kv: kv[1]):
        level = 1 - level if last_x is not None and (c - last_x) < 0.12 * span else 0
        last_x = c
        shapes.append(dict(type="line", x0=c, x1=c, yref="paper", y0=0, y1=1,
                           line=dict(color="#555", dash="dot", width=1)))
        annotations.append(dict(x=c, y=1.0, yref="paper", text=label, showarrow=False, yanchor="bottom",
                                yshift=2 + 13 * level, font=dict(size=10, color="#555"), name="cutoff"))
    if patient_log_risk is not None:
        p = float(patient_log_risk)
        right_side = p < lo + 0.6 * span  # write the label where there is more room
        text = f"<b>{patient_label}</b>"
        if patient_name:
            short = patient_name if len(patient_name) <= 32 else patient_name[:31] + "…"
            text += f"<br>{short}"
        shapes.append(dict(type="line", x0=p, x1=p, yref="paper", y0=0, y1=1, line=dict(color="#d7301f", width=3)))
        annotations.append(dict(x=p, y=0.97, yref="paper", text=text, showarrow=False, yanchor="top",
                                xanchor="left" if right_side else "right", xshift=6 if right_side else -6,
                                align="left" if right_side else "right", font=dict(color="#d7301f", size=11),
                                bgcolor="rgba(255,255,255,0.85)", hovertext=patient_name or patient_label,
                                name="patient"))
    fig.update_layout(title=dict(text=f"Predicted log-risk<br>in the {cohort_label}", x=0.01),
                      xaxis_title="predicted log-risk", yaxis_title="people", shapes=shapes,
                      annotations=annotations, height=400, bargap=0.05, margin=dict(l=60, r=20, t=105, b=50),
                      plot_bgcolor="white", meta={"patient_log_risk": patient_log_risk})
    return fig
