"""Tables and the self-contained HTML export of one patient's view, and the model card's tables.

:func:`patient_report_html` writes the Patient page (from :mod:`hfviz.risk.assess`) as a single
HTML file with plotly.js embedded inline, so it opens offline (a laptop at a clinical meeting)
— no network request of any kind.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from hfviz.risk.assess import NOT_FOR_CLINICAL_USE, PatientRisk


def _fig_html(fig: go.Figure, *, first: bool) -> str:
    return pio.to_html(fig, include_plotlyjs=True if first else False, full_html=False,
                       config={"displaylogo": False, "responsive": True})


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="tbl", escape=True, na_rep="—")


def patient_report_html(
    *,
    title: str,
    record_info: dict[str, Any],
    risk: PatientRisk,
    ecg_figure: go.Figure,
    survival_figure: go.Figure,
    measurements: pd.DataFrame,
    top_attributions: pd.DataFrame | None = None,
    attribution_label: str = "",
    model_info: dict[str, Any] | None = None,
) -> str:
    """A self-contained HTML page of one patient's view.

    Parameters
    ----------
    title : str
        Page heading (e.g. the file name).
    record_info : dict
        What was parsed (format, rate, duration, …), shown as a small table.
    risk : PatientRisk
        From :func:`assess`.
    ecg_figure, survival_figure : plotly Figure
        The 12-lead paper plot and the survival curve.
    measurements : DataFrame
        Measurement table as shown on the page.
    top_attributions : DataFrame, optional
        From :func:`hfviz.risk.explain_summary.top_segments`.
    attribution_label : str
        Method and baseline of ``top_attributions``.
    model_info : dict, optional
        Model name, parameter count, weights sha256, training data.

    Returns
    -------
    str
        A complete HTML document (UTF-8), plotly.js inline, no external references.
    """
    esc = html.escape
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    info_df = pd.DataFrame({"field": list(record_info), "value": [str(v) for v in record_info.values()]})
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)} — hfviz report</title>",
        "<style>body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1250px}"
        ".notice{background:#fff3cd;border:1px solid #e0c060;padding:10px 14px;border-radius:6px;margin:12px 0}"
        ".risk{display:flex;gap:28px;margin:12px 0}.risk div{background:#f6f6f6;padding:10px 16px;border-radius:6px}"
        ".risk b{display:block;font-size:1.5em}.tbl{border-collapse:collapse;margin:8px 0}"
        ".tbl td,.tbl th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}h2{margin-top:28px}</style>",
        "</head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<div class='notice'><b>Synthetic-data research model.</b> {esc(NOT_FOR_CLINICAL_USE)}</div>",
        f"<p>Report generated {esc(now)} by hfviz. Cohort: {esc(risk.cohort_label)}.</p>",
        "<h2>Risk</h2><div class='risk'>",
        f"<div>log-risk<b>{risk.log_risk:+.3f}</b></div>",
        f"<div>percentile<b>{risk.percentile:.0f}</b></div>",
        f"<div>risk group<b>{esc(risk.group)}</b></div>",
        f"<div>HF-free at 5 years<b>{risk.survival_at(60):.1%}</b></div></div>",
        f"<p>{esc(risk.sentence)}</p>",
        "<h2>12-lead ECG</h2>",
        _fig_html(ecg_figure, first=True),
        "<h2>Predicted heart-failure-free survival</h2>",
        _fig_html(survival_figure, first=False),
        "<h2>Measurements</h2>", _table_html(measurements),
        "<h2>What was read</h2>", _table_html(info_df),
    ]
    if top_attributions is not None and len(top_attributions):
        parts += [f"<h2>Top attributions</h2><p>{esc(attribution_label)}; times relative to the median beat "
                  "start; positive values raise the predicted risk.</p>", _table_html(top_attributions.round(4))]
    if model_info:
        m_df = pd.DataFrame({"field": list(model_info), "value": [str(v) for v in model_info.values()]})
        parts += ["<h2>Model</h2>", _table_html(m_df)]
    parts += [f"<div class='notice'>{esc(NOT_FOR_CLINICAL_USE)}</div>", "</body></html>"]
    return "\n".join(parts)


def architecture_table(net: Any) -> pd.DataFrame:
    """The network's modules with their parameter counts (for the model card).

    Parameters
    ----------
    net : torch.nn.Module
        The network (e.g. :class:`hfviz.risk.network.DualAttentionNet`).

    Returns
    -------
    DataFrame
        Columns ``module``, ``type``, ``parameters``; one row per top-level child plus a total.
    """
    from hfviz.risk.network import count_parameters

    rows = []
    for name, child in net.named_children():
        rows.append({"module": name, "type": type(child).__name__,
                     "parameters": count_parameters(child)})
    own = sum(p.numel() for p in net.parameters(recurse=False))
    if own:
        rows.append({"module": "(own parameters)", "type": "", "parameters": int(own)})
    rows.append({"module": "total", "type": type(net).__name__, "parameters": count_parameters(net)})
    return pd.DataFrame(rows)


_MEASUREMENT_NAMES = {
    "heart_rate_bpm": "Heart rate",
    "pr_ms": "PR interval",
    "p_ms": "P duration",
    "qrs_ms": "QRS duration",
    "qt_ms": "QT interval",
    "qt_tangent_ms": "QT (tangent method)",
    "qtc_bazett_ms": "QTc (Bazett)",
    "qtc_fridericia_ms": "QTc (Fridericia)",
    "p_axis_deg": "P axis",
    "qrs_axis_deg": "QRS axis",
    "t_axis_deg": "T axis",
    "sokolow_lyon_mv": "Sokolow-Lyon (SV1 + RV5/6)",
    "cornell_mv": "Cornell (RaVL + SV3)",
    "limb_qrs_max_mv": "Largest limb-lead QRS",
    "precordial_qrs_max_mv": "Largest chest-lead QRS",
}


def measurements_frame(measurements: dict[str, Any], device: dict[str, Any] | None = None) -> pd.DataFrame:
    """The measurements table of the Patient page and the report: ours and, when stored, the device's.

    Parameters
    ----------
    measurements : dict of str to Measurement
        From :func:`hfviz.ecg.measure.measure` (``value``, ``unit``, ``reason``).
    device : dict, optional
        ``record.meta["device_measurements"]``: name -> {"value", "unit"} as the file states them.

    Returns
    -------
    DataFrame
        Columns ``measurement``, ``value`` (ours), ``unit``, ``from the file`` (the device's own
        value) and ``difference`` (ours - device) -- both only when the file carries device
        measurements -- and ``note``: why a value is missing, or where PR, P, QRS or QT differ
        from the device beyond the IEC 60601-2-25 mean tolerance, a sentence saying so
        (:func:`hfviz.ecg.measure.compare_with_device`).
    """
    from hfviz.ecg.measure import compare_with_device, device_values

    dev = device_values(device)
    cmp = compare_with_device(measurements, device)
    rows = []
    for key, m in measurements.items():
        val, unit = getattr(m, "value", None), getattr(m, "unit", "")
        fmt = "{:.2f}" if unit == "mV" else "{:.0f}"
        diff, flag = cmp.get(key, (None, None))
        rows.append({
            "measurement": _MEASUREMENT_NAMES.get(key, key),
            "value": "—" if val is None else fmt.format(val),
            "unit": unit,
            "from the file": "" if key not in dev else fmt.format(dev[key]),
            "difference": "" if diff is None else f"{diff:+.0f}",
            "note": flag or ("" if val is not None else (getattr(m, "reason", None) or "not measurable")),
        })
    df = pd.DataFrame(rows)
    return df if dev else df.drop(columns=["from the file", "difference"])


def record_summary(prepared: Any) -> dict[str, Any]:
    """What was parsed, for display: format, rate, duration, derived leads, units decision, metadata."""
    rec = prepared.record
    meta = dict(rec.meta)
    info: dict[str, Any] = {
        "format": rec.source_format,
        "file": rec.source_name,
        "sampling rate": f"{rec.fs_hz:g} Hz" + ("" if rec.fs_hz == prepared.fs_hz else f" (resampled to {prepared.fs_hz:g} Hz)"),
        "duration": f"{rec.duration_s:.1f} s",
        "derived leads": ", ".join(rec.derived_leads) or "none (all 12 stored)",
        "units": rec.units_note or "—",
        "median beat": "from the file (device)" if prepared.median_source == "device" else "computed from the strip",
        "R peaks found": len(prepared.r_peaks),
    }
    for key, label in (("age", "age"), ("sex", "sex"), ("device", "device"), ("acquired", "acquired"),
                       ("interpretation", "interpretation in the file")):
        if meta.get(key) not in (None, ""):
            info[label] = meta[key]
    if meta.get("synthetic"):
        info["data"] = "SYNTHETIC (simulated ECG)"
    return info


def card_c_index(card: dict) -> tuple[float, float, float] | None:
    """Held-out C-index (estimate, lower, upper) from a model card, whichever way it is stored.

    Reads ``metrics_raw["c_index"]`` ([est, lo, hi]) or ``metrics["c_index"]`` ({"estimate",
    "lower", "upper"} or a number); ``None`` when the card has none.
    """
    raw = (card.get("metrics_raw") or {}).get("c_index")
    if isinstance(raw, (list, tuple)) and len(raw) == 3:
        return float(raw[0]), float(raw[1]), float(raw[2])
    c = (card.get("metrics") or {}).get("c_index")
    if isinstance(c, dict) and "estimate" in c:
        return float(c["estimate"]), float(c.get("lower", np.nan)), float(c.get("upper", np.nan))
    if isinstance(c, (int, float)):
        return float(c), float("nan"), float("nan")
    return None


def card_training_data(card: dict) -> str:
    """One line on the training data of a model card (its ``source`` when the field is a dict)."""
    td = card.get("training_data")
    if isinstance(td, dict):
        parts = [str(td.get("source", "unknown source"))]
        if "n_subjects" in td:
            parts.append(f"{td['n_subjects']:,} subjects" + (f", {td['n_events']:,} events" if "n_events" in td else ""))
        return "; ".join(parts)
    return str(td) if td else "not stated"


def cohort_subtitle(summary: Any) -> str:
    """Second title line of the Kaplan–Meier figure: log-rank p, hazard ratio with CI, C-index with CI.

    Parameters
    ----------
    summary : CohortSummary
        ``analysis.summary`` of :func:`hfviz.risk.cohort.analyse` (``logrank_p``, ``hazard_ratio``
        {"hr", "lower", "upper"}, ``high_label``, ``low_label``, ``c_index`` (est, lo, hi)).
    """
    hr = summary.hazard_ratio
    hr_text = f"{hr['hr']:.2f} ({hr['lower']:.2f}–{hr['upper']:.2f})" if np.isfinite(hr["hr"]) else "not estimable"
    c = summary.c_index
    return (f"log-rank p = {summary.logrank_p:.2g} · HR {summary.high_label} vs {summary.low_label} {hr_text}"
            f" · C-index {c[0]:.3f} ({c[1]:.3f}–{c[2]:.3f})")


# --- the Patient page's export ------------------------------------------------------------------
def model_info(model: Any, risk: PatientRisk) -> dict[str, str]:
    """The "Model" table of the HTML report: name, parameter count, training data, weights sha256.

    Parameters
    ----------
    model : RiskModel
        The model that scored the ECG (``net``, ``card``).
    risk : PatientRisk
        Its assessment (for the cohort's display name).
    """
    from hfviz.risk.network import count_parameters

    card = model.card or {}
    return {"model": f"{risk.cohort_label} dual-attention network",
            "parameters": f"{count_parameters(model.net):,}",
            "training data": str(card.get("training_data", "synthetic")),
            "weights sha256": next(iter(card.get("sha256", {}).values()), "—")}


def patient_report(
    *,
    title: str,
    prepared: Any,
    risk: PatientRisk,
    model: Any,
    ecg_figure: go.Figure,
    survival_figure: go.Figure,
    measurements: pd.DataFrame,
) -> str:
    """The Patient page as one offline HTML file, with the same numbers the page shows.

    Adds the top Integrated-Gradients segments (zeros baseline) of the ECG, computed here, and
    the model table of :func:`model_info`.

    Parameters
    ----------
    title : str
        Page heading (the ECG's name on screen).
    prepared : PreparedECG
        The ECG (``model_input`` (12, 608), record, median beat).
    risk : PatientRisk
        Its assessment from :func:`hfviz.risk.assess.assess` — the page's numbers.
    model : RiskModel
        The model that produced ``risk``.
    ecg_figure, survival_figure : plotly Figure
        The page's 12-lead and survival figures.
    measurements : DataFrame
        The page's measurement table (:func:`measurements_frame`).

    Returns
    -------
    str
        A complete HTML document (:func:`patient_report_html`).
    """
    from hfviz.risk.explain import attribute
    from hfviz.risk.explain_summary import top_segments

    ig = attribute(model, prepared.model_input, method="integrated_gradients", baseline="zeros")
    return patient_report_html(title=title, record_info=record_summary(prepared), risk=risk,
                               ecg_figure=ecg_figure, survival_figure=survival_figure, measurements=measurements,
                               top_attributions=top_segments(ig.values), attribution_label=ig.label,
                               model_info=model_info(model, risk))


def record_caption(summary: dict[str, Any]) -> str:
    """One line under the ECG's name: format · rate · duration · median beat · units · derived leads."""
    return (" · ".join(str(summary[k]) for k in ("format", "sampling rate", "duration", "median beat"))
            + f" · units: {summary['units']} · derived leads: {summary['derived leads']}")


#: Words for model-card keys that a plain underscore-to-space rewrite would leave cryptic.
_KEY_WORDS = {"lr": "learning rate", "c_index": "C-index", "heldout": "held-out", "n": "number",
              "fs_hz": "sampling rate (Hz)", "cv": "CV", "mlp": "MLP", "hr": "hazard ratio", "ecg": "ECG",
              "id": "ID", "sha256": "SHA-256", "n_subjects": "subjects", "n_events": "events",
              "n_parameters": "parameters", "wall_seconds": "wall time (s)", "n_leads": "leads", "cox": "Cox",
              "auc": "AUC", "td": "time-dependent", "val": "validation", "frac": "fraction",
              "recon": "reconstruction", "len": "length", "dim": "dimension", "hz": "Hz"}


def human_label(key: Any) -> str:
    """A model-card key in words: ``"c_index_heldout"`` -> ``"C-index held-out"``, ``"lr"`` -> ``"learning rate"``."""
    text = str(key)
    if text in _KEY_WORDS:
        return _KEY_WORDS[text][:1].upper() + _KEY_WORDS[text][1:]
    for k, v in sorted(_KEY_WORDS.items(), key=lambda kv: -len(kv[0])):
        if len(k) > 2:
            text = re.sub(rf"(?<![A-Za-z]){re.escape(k)}(?![A-Za-z])", v, text)
    words = [_KEY_WORDS.get(w, w) for w in text.replace("_", " ").split(" ")]
    text = " ".join(w for w in words if w)
    return text[:1].upper() + text[1:]


def _value_text(value: Any) -> str:
    """A card value as short text: lists joined by commas, numbers as they are, dicts as 'key: value; …'."""
    if isinstance(value, dict):
        return "; ".join(f"{human_label(k)}: {_value_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def flat_fields(value: dict, prefix: str = "") -> pd.DataFrame:
    """A (nested) dict as a two-column table ``field``, ``value`` with human labels ("Parent · child" when nested)."""
    rows = []
    for k, v in value.items():
        label = f"{prefix}{human_label(k)}"
        if isinstance(v, dict) and v and len(v) <= 20:
            rows += flat_fields(v, prefix=f"{label} · ").to_dict("records")
        else:
            rows.append({"field": label, "value": _value_text(v)})
    return pd.DataFrame(rows, columns=["field", "value"])


# --- words for numbers that must not be misread ---------------------------------------------------
#: Risk-group labels of :func:`hfviz.risk.groups.assign_groups` in words: where in the cohort a person falls.
_GROUP_WORDS = {"low": "bottom third", "intermediate": "middle third", "high": "top third",
                "Q1 (lowest)": "bottom quarter", "Q2": "second quarter", "Q3": "third quarter",
                "Q4 (highest)": "top quarter"}


def group_words(group: str) -> str:
    """A risk group as a position in the cohort, e.g. ``"high"`` -> ``"top third"`` (never a bare "high")."""
    return _GROUP_WORDS.get(group, f"{group} group")


def group_phrase(group: str, cohort_label: str) -> str:
    """e.g. ``"top third of the MI-like cohort (synthetic)"``."""
    return f"{group_words(group)} of the {cohort_label}"


def card_calibration_status(card: dict) -> str:
    """One sentence on the calibration of a model's absolute risks, from its card (or that the card has none).

    Reads ``card["calibration"]``: a string, or a dict with ``status`` / ``summary`` (and
    optionally ``horizon_months``). A card with a ``recalibration`` and its independent
    ``validation`` says the absolute risk was recalibrated on an independent synthetic cohort.
    """
    v = card.get("validation") or {}
    if card.get("recalibration") and v.get("calibration_cohort") and v.get("after"):
        cc, vc, after = v["calibration_cohort"], v.get("validation_cohort", {}), v["after"]
        ici = (after.get("at") or {}).get("60.0", {}).get("ici")
        return (f"Calibration: the absolute risk was recalibrated on an independent synthetic cohort "
                f"({cc['n']:,} people, {cc['events']:,} events) and checked on another ({vc.get('n', 0):,} people, "
                f"{vc.get('events', 0):,} events): calibration slope {after['slope']:.2f} (ideal 1)"
                + (f", ICI at 60 months {ici:.3f}" if ici is not None else "") + ".")
    cal = card.get("calibration")
    if isinstance(cal, str) and cal.strip():
        return f"Calibration (model card): {cal.strip()}"
    if isinstance(cal, dict):
        text = cal.get("summary") or cal.get("status")
        if text:
            horizon = cal.get("horizon_months")
            return f"Calibration (model card{f', at {horizon:g} months' if horizon else ''}): {text}"
    return ("Calibration: the model card reports no calibration check, so the absolute risks (survival "
            "percentages) are uncalibrated; percentile and risk group are the safer reading.")


def hazard_ratio_missing_reason(df: pd.DataFrame, groups: Any, high: str, low: str) -> str:
    """Why the high-vs-low hazard ratio could not be estimated, in words (events per compared group).

    Parameters
    ----------
    df : DataFrame
        The predictions (column ``event``), in the order of ``groups.labels``.
    groups : RiskGroups
        The risk groups the analysis used.
    high, low : str
        The compared groups.
    """
    e = df["event"].to_numpy(int)
    labels = np.asarray(groups.labels)
    n_hi, n_lo = int((labels == high).sum()), int((labels == low).sum())
    ev_hi, ev_lo = int(e[labels == high].sum()), int(e[labels == low].sum())
    if n_hi == 0 or n_lo == 0:
        return f"HR not estimable: the {high if n_hi == 0 else low} group is empty."
    if ev_hi == 0 or ev_lo == 0:
        empty = [g for g, ev in ((high, ev_hi), (low, ev_lo)) if ev == 0]
        return f"HR not estimable: no heart-failure events in the {' and '.join(empty)} group."
    return f"HR not estimable: the Cox fit did not converge ({ev_hi} vs {ev_lo} events)."


# --- the model card page ------------------------------------------------------------------------
#: Model-card fields shown as sections, with their headings, in page order.
CARD_SECTIONS = (("intended_use", "Intended use"), ("training_data", "Training data"), ("training", "Training"),
                 ("metrics", "Held-out metrics (with 95 % CI)"), ("comparison", "Baselines and ablations"),
                 ("limitations", "Limitations"))
#: Card fields left out of the full-card JSON (large arrays).
_CARD_JSON_SKIP = frozenset({"risk_distribution", "baseline"})


def card_sections(card: dict) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The card's sections as ``(heading, blocks)``, in page order, skipping absent fields.

    Each block is ``(kind, payload)``; the page renders the kinds:

    * ``"markdown"``: str — text, or a bulleted list;
    * ``"table"``: DataFrame without its index (a list of records);
    * ``"indexed_table"``: DataFrame whose index names the rows (a dict of dicts);
    * ``"fields"``: DataFrame with columns ``field`` (human label; "Parent · child" when nested)
      and ``value`` (text);
    * ``"value"``: anything else, written as is.
    """
    return [(heading, card_field_blocks(card[key])) for key, heading in CARD_SECTIONS if card.get(key) is not None]


def card_field_blocks(value: Any) -> list[tuple[str, Any]]:
    """How one model-card field is shown, as ``(kind, payload)`` blocks (see :func:`card_sections`).

    Keys become human labels (:func:`human_label`); nested dicts are flattened into
    "Parent · child" rows, never shown raw.
    """
    if isinstance(value, str):
        return [("markdown", value)]
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            table = pd.DataFrame([{human_label(k): _value_text(v) for k, v in row.items()} for row in value])
            return [("table", table)]
        return [("markdown", "\n".join(f"- {v}" for v in value))]
    if isinstance(value, dict):
        if value and all(isinstance(v, dict) for v in value.values()) and len(value) > 1:
            table = pd.DataFrame({human_label(r): {human_label(k): _value_text(v) for k, v in row.items()}
                                  for r, row in value.items()}).T
            return [("indexed_table", table.fillna("—"))]
        return [("fields", flat_fields(value))] if value else []
    return [] if value is None else [("value", value)]


def card_sha256_table(card: dict) -> pd.DataFrame:
    """Columns ``file``, ``sha256``: the weights files the loader checks, from ``card["sha256"]``."""
    sha = card.get("sha256", {})
    return pd.DataFrame({"file": list(sha), "sha256": list(sha.values())})


def card_json(card: dict) -> str:
    """The model card as indented JSON, without the large arrays (risk distribution, baseline hazard)."""
    return json.dumps({k: v for k, v in card.items() if k not in _CARD_JSON_SKIP}, indent=1, default=str)
