"""What the reports say: tables and words of the Patient page, its printable report and the Compare report.

:func:`patient_report` (the Patient page's download) and
:func:`compare_report_html` (the Compare page's) write one HTML file each, laid out for print
by :mod:`hfviz.dashboard.report_html`: self-contained (plotly.js inline), offline — no
network request of any kind — and two to three landscape pages on A4 or Letter when printed.
Everything is in words: human labels, no program keys, no raw dicts; synthetic is said so.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from hfviz.dashboard import report_html as doc
from hfviz.dashboard.model_card import card_calibration_status, card_training_data
from hfviz.dashboard.uploads import format_words
from hfviz.dashboard.words import human_label, value_text
from hfviz.ecg.signal import FS_HZ, R_OFFSET
from hfviz.risk.assess import NOT_FOR_CLINICAL_USE, PatientRisk

MEASUREMENT_NAMES = {
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
            "measurement": MEASUREMENT_NAMES.get(key, key),
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
        "format": format_words(rec.source_format),
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


def record_caption(summary: dict[str, Any]) -> str:
    """One line under the ECG's name: format · rate · duration · median beat · units · derived leads."""
    return (" · ".join(str(summary[k]) for k in ("format", "sampling rate", "duration", "median beat"))
            + f" · units: {summary['units']} · derived leads: {summary['derived leads']}")


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




# --- the printed reports --------------------------------------------------------------------------
#: Horizon (months) at which the reports quote HF-free survival, as the pages do.
REPORT_HORIZON_MONTHS = 60.0
#: The attribution the reports compute when they are given none; both are named in the report.
DEFAULT_METHOD = "integrated_gradients"
DEFAULT_BASELINE = "zeros"
#: The Patient page's measurement columns as the report writes them.
_REPORT_COLUMNS = {"measurement": "Measurement", "value": "hfviz", "unit": "Unit", "from the file": "Device",
                   "difference": "Difference", "note": "Note"}


def human_table(df: pd.DataFrame) -> pd.DataFrame:
    """A table in words: human column names (:func:`human_label`), nested values as text, never a raw dict.

    The Patient page's measurement columns get the report's names (``"value"`` -> ``"hfviz"``,
    ``"from the file"`` -> ``"Device"``, ``"difference"`` -> ``"Difference"`` (hfviz − device), …).
    """
    out = df.rename(columns={c: _REPORT_COLUMNS.get(str(c), human_label(c)) for c in df.columns})
    return out.apply(lambda col: col.map(lambda v: value_text(v) if isinstance(v, (dict, list, tuple)) else v))


def human_fields(fields: dict[str, Any]) -> dict[str, str]:
    """Labelled values in words: keys through :func:`human_label`, values as text (dicts as "Key: value; …")."""
    return {human_label(k): value_text(v) for k, v in fields.items()}


def numbered_notes(table: pd.DataFrame, column: str = "Note") -> tuple[pd.DataFrame, list[str]]:
    """Long notes out of a printed table: each non-empty note becomes "(1)", "(2)", … and the list of notes.

    Keeps one line per row on paper; the notes are printed under the table. A table without
    ``column`` is returned as it is, with no notes; a column with no note at all is left out.
    """
    if column not in table.columns:
        return table, []
    notes: list[str] = []
    marks = []
    for v in table[column].fillna(""):
        if str(v).strip():
            notes.append(str(v))
            marks.append(f"({len(notes)})")
        else:
            marks.append("")
    return (table.assign(**{column: marks}) if notes else table.drop(columns=column)), notes


def _signed(value: float, fmt: str = "+.3f") -> str:
    """A signed number with a typographic minus, e.g. ``−0.942``."""
    return format(value, fmt).replace("-", "−")


def model_info(model: Any, risk: PatientRisk) -> dict[str, str]:
    """The "Model and data" table of the reports, in words.

    Parameters
    ----------
    model : RiskModel
        The model that scored the ECG (``net``, ``card``).
    risk : PatientRisk
        Its assessment (for the cohort's display name).

    Returns
    -------
    dict of str to str
        "Model", "Parameters", "Training data" (:func:`card_training_data`: the source and its
        size, never the card's raw dict), "Weights (SHA-256)".
    """
    from hfviz.risk.network import count_parameters

    card = model.card or {}
    return {"Model": f"{risk.cohort_label} dual-attention network",
            "Parameters": f"{count_parameters(model.net):,}",
            "Training data": card_training_data(card) if card.get("training_data") else "synthetic",
            "Weights (SHA-256)": next(iter(card.get("sha256", {}).values()), "—")}


def segments_words(top: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`hfviz.risk.explain_summary.top_segments` in words.

    Returns
    -------
    DataFrame
        Columns "Lead", "Time from the R peak" (e.g. "−36 to +28 ms"; the R peak lies
        :data:`~hfviz.ecg.signal.R_OFFSET` samples into the median beat), "Sum of attribution"
        (signed) and "Effect" ("raises risk" / "lowers risk").
    """
    r_ms = R_OFFSET / FS_HZ * 1000.0
    rows = [{"Lead": r["lead"],
             "Time from the R peak": f"{_signed(r['from_ms'] - r_ms, '+.0f')} to {_signed(r['to_ms'] - r_ms, '+.0f')} ms",
             "Sum of attribution": _signed(float(r["attribution"])), "Effect": r["direction"]}
            for _, r in top.iterrows()]
    return pd.DataFrame(rows, columns=["Lead", "Time from the R peak", "Sum of attribution", "Effect"])


#: What the "What the model reads" table means, under it on the Interpretability page and in the printed report.
READING_CAPTION = ("The SCP statements closest to this ECG's embedding (cosine similarity) in the risk model's "
                   "encoder, pretrained on SYNTHETIC ECGs and reports. Held-out AUROC: how well the similarity "
                   "separates synthetic ECGs with and without the statement (—: too few cases). What the model "
                   "associates with the ECG, not an interpretation.")


def reading_table(statements: Any) -> pd.DataFrame:
    """The statements the model reads in an ECG as a table in words.

    Parameters
    ----------
    statements : sequence of StatementScore
        From :meth:`hfviz.risk.statements.StatementReader.top`, closest first.

    Returns
    -------
    DataFrame
        Columns ``statement`` ("text (code)"), ``similarity`` and ``held-out AUROC`` (two decimals, "—"
        where not measured), one row per statement.
    """
    return pd.DataFrame({"statement": [f"{s.text} ({s.code})" for s in statements],
                         "similarity": [f"{s.score:.2f}" for s in statements],
                         "held-out AUROC": ["—" if s.auroc is None else f"{s.auroc:.2f}" for s in statements]})


def _reading_html(statements: Any, problem: str | None) -> str:
    """The printed "What the model reads" block: the statements and what they are, or why they are missing."""
    body = (doc.table_html(reading_table(statements)) + f"<p class='small'>{doc.esc(READING_CAPTION)}</p>"
            if statements else f"<p>{doc.esc(problem or 'Not computed.')}</p>")
    return "<h3>What the model reads</h3>" + body


def _notice() -> str:
    return doc.notice_html(NOT_FOR_CLINICAL_USE, lead="Synthetic-data research model.")


def _now() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


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
    attribution_figure: go.Figure | None = None,
    notes: tuple[str, ...] | list[str] = (),
    quality: tuple[str, ...] | list[str] = (),
    reading: Any = None,
    reading_problem: str | None = None,
    horizon_months: float = REPORT_HORIZON_MONTHS,
) -> str:
    """One patient's view as a printable, self-contained HTML document (three landscape pages).

    Page 1: risk in words (percentile, risk group, HF-free survival against the cohort), the
    survival curve with the cohort's Kaplan–Meier curve, the model and its data, and what was
    read from the file; page 2: the 12-lead ECG on paper; page 3: which leads and which part of
    the beat moved the risk (method and baseline named) and the measurements (the device's
    values and the differences when the file has them) and what the model reads in the ECG.

    Parameters
    ----------
    title : str
        Page heading (e.g. the file name).
    record_info : dict
        What was parsed (:func:`record_summary`), shown as labelled fields.
    risk : PatientRisk
        From :func:`hfviz.risk.assess.assess`.
    ecg_figure, survival_figure : plotly Figure
        The Patient page's 12-lead paper plot and survival curve (with the cohort curve);
        resized here for print, the originals untouched.
    measurements : DataFrame
        The page's measurement table (:func:`measurements_frame`); columns are written in words.
    top_attributions : DataFrame, optional
        From :func:`hfviz.risk.explain_summary.top_segments`, written by :func:`segments_words`.
    attribution_label : str
        Method and baseline of the attributions, e.g. "Integrated Gradients · baseline: zeros · 64 steps".
    model_info : dict, optional
        Model name, parameter count, training data, weights hash (:func:`model_info`).
    attribution_figure : plotly Figure, optional
        The attribution view (:func:`hfviz.dashboard.report_html.important_leads_figure`).
    notes : sequence of str
        Sentences under the risk (e.g. the calibration of the absolute risks).
    quality : sequence of str
        Quality flags of the recording (flat or saturated leads, …), printed under the ECG.
    reading : sequence of StatementScore, optional
        The statements closest to the ECG's embedding (:meth:`hfviz.risk.statements.StatementReader.top`);
        when empty or None, ``reading_problem`` says why.
    reading_problem : str, optional
        Why there are no statements (e.g. the reader's files are missing).
    horizon_months : float
        Where survival is quoted (months).

    Returns
    -------
    str
        A complete HTML document (UTF-8), plotly.js inline once, no external reference.
    """
    w = doc.CONTENT_WIDTH_PX
    mark = (survival_figure.layout.meta or {}).get("mark") or {}
    s_cohort = mark.get("cohort") if mark.get("months") == horizon_months else None
    cohort_note = (f"cohort (Kaplan–Meier): {s_cohort:.1%}" if s_cohort is not None and np.isfinite(s_cohort)
                   else "predicted from the cohort's baseline hazard")
    tiles = doc.tiles_html([
        ("Percentile in the cohort", f"{risk.percentile:.0f}", f"higher than {risk.percentile:.0f} % of the cohort"),
        ("Risk group", group_words(risk.group), f"of the {risk.cohort_label}"),
        (f"Heart-failure-free at {horizon_months:g} months", f"{risk.survival_at(horizon_months):.1%}", cohort_note),
        ("Log-risk", _signed(risk.log_risk), "model output (Cox log partial hazard)"),
    ])
    words = (f"<p><b>{doc.esc(risk.sentence)}</b> This ECG is in the <b>{doc.esc(group_phrase(risk.group, risk.cohort_label))}"
             "</b>. Absolute risks come from a synthetic cohort's baseline hazard: simulated people, not patients.</p>"
             + "".join(f"<p>{doc.esc(n)}</p>" for n in notes))
    surv = go.Figure(survival_figure)  # the legend inside the plot's empty lower left: the axis title stays clear
    surv.update_layout(legend={"x": 0.01, "y": 0.02, "xanchor": "left", "yanchor": "bottom",
                               "bgcolor": "rgba(255,255,255,0.85)"}, margin={"b": 45})
    left = doc.figure_html(surv, width=500, height=290, first=True)
    if model_info:
        left += "<h3>Model and data</h3>" + doc.fields_html(human_fields(model_info), wrap=("Weights (SHA-256)",))
    read = "<h3>What was read from the file</h3>" + doc.fields_html(human_fields(record_info), wrap=("File",))
    page1 = doc.section("Risk in words", tiles + words + doc.columns_html((500, left), (444, read)), key="risk")

    ecg, h = doc.paper_figure(ecg_figure, w)
    page2 = doc.section("12-lead ECG", doc.figure_html(
        ecg, width=w, height=h, caption="Cleaned strip on ECG paper (25 mm/s, 10 mm/mV; small square 40 ms × 0.1 mV), "
                                        "printed to the page's width: read intervals on the grid. "
                                        + (" ".join(f"Quality: {q}" for q in quality) or "No flat or saturated leads.")),
        new_page=True, key="ecg")

    why = [(f"<p>Attribution: <b>{doc.esc(attribution_label or 'method not stated')}</b>. Red bands raised the "
            "predicted risk, blue lowered it; they describe the model, not the patient's physiology.</p>")]
    if attribution_figure is not None:
        why.append(doc.figure_html(attribution_figure, width=w, height=attribution_figure.layout.height or 300))
    table, meas_notes = numbered_notes(human_table(measurements))
    meas = "<h3>Measurements</h3>" + doc.table_html(table, cls="first-nowrap")
    where = ""
    if top_attributions is not None and len(top_attributions):
        where = "<h3>Where in the beat (64-ms windows)</h3>" + doc.table_html(segments_words(top_attributions),
                                                                            cls="nowrap")
    if reading is not None or reading_problem:
        where += _reading_html(reading, reading_problem)
    if meas_notes:  # under their table
        meas += "<h3>Notes on the measurements</h3>" + "".join(
            f"<p class='small'>({i}) {doc.esc(n)}</p>" for i, n in enumerate(meas_notes, start=1))
    why.append(doc.columns_html((520, meas), (424, where)))
    page3 = doc.section("Which leads moved the risk, and the measurements", "".join(why), new_page=True, key="why")
    return doc.document(title, subtitle=f"Heart-failure risk from a 12-lead ECG · {risk.cohort_label} · report "
                                        f"generated {_now()} by hfviz", notice=_notice(),
                        sections=[page1, page2, page3],
                        footer=f"<p class='sub'>{doc.esc(NOT_FOR_CLINICAL_USE)}</p>")


def patient_report(
    *,
    title: str,
    prepared: Any,
    risk: PatientRisk,
    model: Any,
    ecg_figure: go.Figure,
    survival_figure: go.Figure,
    measurements: pd.DataFrame,
    attribution: Any = None,
    reading: Any = None,
    reading_problem: str | None = None,
) -> str:
    """The Patient page as one printable offline HTML file, with the same numbers the page shows.

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
    attribution : Attribution, optional
        An attribution of ``prepared.model_input`` already computed (e.g. the one the
        Interpretability page shows); default: computed here with :data:`DEFAULT_METHOD` and
        :data:`DEFAULT_BASELINE` (Integrated Gradients from the zero input, 64 steps).
    reading : sequence of StatementScore, optional
        What the model reads in the ECG (the Interpretability page's statements).
    reading_problem : str, optional
        Why ``reading`` is empty (printed instead of the statements).

    Returns
    -------
    str
        A complete HTML document (:func:`patient_report_html`).
    """
    from hfviz.risk.explain import attribute
    from hfviz.risk.explain_summary import top_segments

    if attribution is None:
        attribution = attribute(model, prepared.model_input, method=DEFAULT_METHOD, baseline=DEFAULT_BASELINE,
                                cohort_beats=getattr(model, "cohort_beats", None))
    fig = doc.important_leads_figure(prepared.median_beat_mv, attribution, prepared.fs_hz,
                                 title=f"The {doc.TOP_LEADS} leads with the largest share of |attribution|")
    notes = [card_calibration_status(model.card or {})]
    return patient_report_html(title=title, record_info=record_summary(prepared), risk=risk, ecg_figure=ecg_figure,
                               survival_figure=survival_figure, measurements=measurements,
                               top_attributions=top_segments(attribution.values), attribution_label=attribution.label,
                               model_info=model_info(model, risk), attribution_figure=fig, notes=notes,
                               quality=tuple(prepared.record.quality), reading=reading, reading_problem=reading_problem)


def _record_fields(prepared: Any) -> dict[str, str]:
    """The short "what was read" of one ECG in a compare report: format, file, rate, duration, median beat, device."""
    summary = record_summary(prepared)
    keys = ("format", "file", "sampling rate", "duration", "derived leads", "median beat", "device", "acquired", "data")
    return human_fields({k: summary[k] for k in keys if k in summary})


def compare_report_html(
    *,
    comparison: Any,
    a: Any,
    b: Any,
    label_a: str,
    label_b: str,
    model: Any,
    explain: bool = True,
) -> str:
    """The Compare page as a printable, self-contained HTML document (three landscape pages); every change is B − A.

    Page 1: the change in predicted risk in words (hazard ratio, percentile, risk group, HF-free
    survival, log-risk) and both ECGs' measurements with their differences; page 2: the two
    ECGs on paper at the same scale, with what was read from each file; page 3: which leads and
    which part of the beat moved the risk — one attribution method and baseline for both, named.

    Parameters
    ----------
    comparison : Comparison or None
        :func:`hfviz.risk.compare.compare_ecgs` of ``a`` and ``b`` (what the page shows). Its
        ``attributions`` may be ``None``: they are then computed here with :data:`DEFAULT_METHOD`
        and :data:`DEFAULT_BASELINE` when ``explain`` is true. ``None``: everything is computed here.
    a, b : PreparedECG
        ECG A (e.g. the previous one) and ECG B.
    label_a, label_b : str
        Their on-screen names.
    model : RiskModel
        The model of the comparison (card: training data, calibration).
    explain : bool
        Compute the attributions when ``comparison`` has none (two attribution runs).

    Returns
    -------
    str
        A complete HTML document (UTF-8), plotly.js inline once, no external reference.
    """
    from hfviz.dashboard.compare_figures import segment_change_heatmap
    from hfviz.dashboard.ecg_figures import ecg_paper_figure
    from hfviz.risk import compare as cmp

    if comparison is None:
        comparison = cmp.compare_ecgs(model, a, b, explain=False)
    change, attrs = comparison.risk, comparison.attributions
    if attrs is None and explain:
        attrs = cmp.attribution_change(model, a, b, method=DEFAULT_METHOD, baseline=DEFAULT_BASELINE)
    cohort, h = change.a.cohort_label, change.horizon_months

    tiles = doc.tiles_html([
        ("Hazard ratio B / A", f"{change.hazard_ratio:.2f}", "B's predicted hazard as a multiple of A's"),
        ("Percentile in the cohort", f"{change.a.percentile:.0f} → {change.b.percentile:.0f}",
         f"{_signed(change.delta_percentile, '+.0f')} points"),
        (f"Heart-failure-free at {h:g} months", f"{change.survival_a:.1%} → {change.survival_b:.1%}",
         f"{_signed(100 * change.delta_survival, '+.1f')} percentage points"),
        ("Log-risk", f"{_signed(change.a.log_risk)} → {_signed(change.b.log_risk)}",
         f"change {_signed(change.delta_log_risk)}"),
    ])
    words = (f"<p><b>{doc.esc(change.sentence)}</b> ECG A is in the {doc.esc(group_words(change.a.group))}, ECG B in "
             f"the {doc.esc(group_phrase(change.b.group, cohort))}.</p>"
             f"<p>{doc.esc(card_calibration_status(model.card or {}))}</p>")
    table, notes = numbered_notes(cmp.measurement_change_frame(comparison.measurements, names=MEASUREMENT_NAMES))
    meas = "<h3>Measurements (hfviz, the same method for both files)</h3>" + doc.table_html(table, cls="first-nowrap")
    side = ("<h3>Notes on the measurements</h3>" + "".join(f"<p class='small'>({i}) {doc.esc(n)}</p>"
                                                           for i, n in enumerate(notes, start=1))) if notes else ""
    side += "<h3>Model and data</h3>" + doc.fields_html(human_fields(model_info(model, change.a)),
                                                        wrap=("Weights (SHA-256)",))
    page1 = doc.section(f"Change in predicted risk (B − A) in the {cohort}",
                        tiles + words + doc.columns_html((560, meas), (384, side)), key="risk")

    half = (doc.CONTENT_WIDTH_PX - 16) // 2
    shown_s = min(10.0, *(p.strip_mv.shape[1] / p.fs_hz for p in (a, b)))  # the same length: the same scale
    papers, reads = [], []
    for k, (side_name, p, label) in enumerate((("A", a, label_a), ("B", b, label_b))):
        fig, height = doc.paper_figure(ecg_paper_figure(p.strip_mv, p.fs_hz, title=f"ECG {side_name}: {label}",
                                                    max_duration_s=shown_s), half, keep_title=True)
        papers.append((half, doc.figure_html(fig, width=half, height=height, first=k == 0)))
        reads.append((half, f"<h3>ECG {side_name}: what was read</h3>" + doc.fields_html(_record_fields(p),
                                                                                        wrap=("File",))))
    page2 = doc.section("The two ECGs", doc.columns_html(*papers) + f"<p class='small'>Both cleaned strips at 25 mm/s "
                        f"and 10 mm/mV (the first {shown_s:.1f} s of each), printed at the same scale.</p>"
                        + doc.columns_html(*reads), new_page=True, key="ecgs")

    sections = [page1, page2]
    if attrs is not None:
        ranking = attrs.ranking()
        for col in ("ECG A", "ECG B", "Change (B − A)"):
            ranking[col] = ranking[col].map(_signed)
        note = (f"Each cell: the attribution summed over that part of each ECG's own beat (from its QRS onset, QRS "
                f"end and T end), B minus A, in {attrs.unit}.")
        if attrs.method == "integrated_gradients":
            note += (f" With Integrated Gradients all cells add up to {_signed(attrs.total_change)}; the change in "
                     f"log-risk is {_signed(change.delta_log_risk)}.")
        nominal = [f"ECG {s}: {', '.join(seg.nominal)} not found, nominal boundaries used."
                   for s, seg in (("A", attrs.segments_a), ("B", attrs.segments_b)) if seg.nominal]
        heatmap = segment_change_heatmap(attrs)
        heatmap.update_layout(title_text="", margin={"t": 60})  # the section's text names it and the method
        heat = doc.figure_html(heatmap, width=516, height=520)
        right = ("<h3>The largest changes</h3>" + doc.table_html(ranking) + f"<p class='small'>{doc.esc(note)}"
                 + "".join(f" {doc.esc(n)}" for n in nominal) + "</p>")
        body = (f"<p><b>{doc.esc(attrs.sentence())}</b></p><p>Attribution: <b>{doc.esc(attrs.label)}</b>, the same "
                "method and baseline for both ECGs. Red: raised B's predicted risk relative to A; blue: lowered it.</p>"
                + doc.columns_html((516, heat), (428, right)))
        sections.append(doc.section("Which leads and which part of the beat moved the risk", body, new_page=True,
                                    key="why"))
    return doc.document(f"ECG A: {label_a} → ECG B: {label_b}",
                        subtitle=f"Comparison of two ECGs (every change is B − A) · {cohort} · report generated "
                                 f"{_now()} by hfviz", notice=_notice(), sections=sections,
                        footer=f"<p class='sub'>{doc.esc(NOT_FOR_CLINICAL_USE)}</p>")
