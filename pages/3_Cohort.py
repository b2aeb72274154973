"""Cohort: Kaplan–Meier curves by predicted risk group, tests, C-index, calibration.

Starts on the model's independent (synthetic) validation cohort when it ships one; the
cross-validation held-out fold and uploaded predictions stay selectable.
"""

import numpy as np
import streamlit as st

from hfviz.dashboard import report, risk_figures, ui, validation
from hfviz.risk import assess as risk_assess
from hfviz.risk import cohort

PLOT_CONFIG = {"displaylogo": False}

ui.page_setup()
st.title("Cohort")
ui.notice()
model = ui.get_model()
cohort_name = ui.current_cohort()
label = ui.cohort_label(cohort_name, model)
sources = validation.prediction_sources(model)

# Switching cohort never leaves the choice empty: a source this model lacks falls back to its default.
if st.session_state.get("cohort.source") not in sources:
    st.session_state["cohort.source"] = validation.default_source(model)
source = st.radio("Predictions", list(sources), horizontal=True, key="cohort.source", format_func=sources.get)
c1, c2, c3 = st.columns(3)
scheme = c1.radio("Risk groups", ["tertiles", "quartiles", "top_k"], horizontal=True, key="cohort.scheme",
                  format_func={"tertiles": "tertiles", "quartiles": "quartiles", "top_k": "top k %"}.get)
top_k = c2.slider("k (% in the high-risk group)", 1, 50, 10, key="cohort.top_k", disabled=scheme != "top_k",
                  help="The paper splits at the 96th (MI) and 98th (HYP) percentile: k = 4 or 2.")
horizon = c3.slider("Calibration horizon (months)", 12, 84, 60, step=12, key="cohort.horizon")

analysis = df = None
title = where = ""
c_index, c_note = None, "Harrell's C with a 200-resample bootstrap CI, on these predictions."
shipped = source in ("validation", "shipped")
if shipped:
    with ui.guard("The cohort analysis"):
        analysis = ui.shipped_analysis(cohort_name, scheme=scheme, top_k=top_k, horizon=horizon, which=source)
        df = validation.source_predictions(model, source)
    calib_note = validation.absolute_risk_note(model)
    c_index = validation.source_c_index(model, source)
    if source == "validation":
        title, where = f"{label}: independent validation cohort", "validation cohort (synthetic)"
        oracle = (model.card.get("validation") or {}).get("oracle_c_index")
        c_note = ("C-index on the independent validation cohort with its 95 % CI, as in the model card"
                  + (f"; the simulator's true log-hazard reaches {oracle:.3f} (oracle C)." if oracle else "."))
    else:
        title, where = f"{label}: cross-validation held-out fold", "held-out fold (synthetic)"
        if c_index is not None:
            c_note = "Held-out C-index with its 95 % CI as in the model card (the same number on Home and Model card)."
else:
    st.caption("CSV with columns **id, risk, time, event**: risk = predicted log-risk (higher = worse), time = months "
               "from the ECG to heart failure or censoring, event = 1 for heart failure, 0 for censored.")
    up = st.file_uploader("Predictions CSV", type=["csv", "tsv", "txt"], key=ui.K_PRED_UPLOAD)
    ui.load_predictions_upload(up)
    if ui.predictions_error():
        st.error(ui.predictions_error())
    df = ui.uploaded_predictions()
    if df is None:
        st.info("Upload a predictions CSV to see its Kaplan–Meier curves.")
        st.stop()
    with ui.guard("The cohort analysis"):
        analysis = cohort.analyse(df, scheme=scheme, top_k_percent=top_k, horizon_months=horizon)
    title = "Your predictions"
    calib_note = ("No model baseline for uploaded predictions: a Breslow baseline is fitted on the same data "
                  "(in-sample).")
if analysis is None:
    st.stop()

s = analysis.summary
c_index = c_index or s.c_index
hr = s.hazard_ratio
hr_ok = bool(np.isfinite(hr["hr"]))
m1, m2, m3, m4 = st.columns(4)
m1.metric("people / events", f"{s.n:,} / {s.events:,}")
m2.metric("C-index (95 % CI)", f"{c_index[0]:.3f}", help=c_note)
m2.caption(f"{c_index[1]:.3f}–{c_index[2]:.3f}")
m3.metric("log-rank p", f"{s.logrank_p:.2g}")
m4.metric(f"HR {s.high_label} vs {s.low_label}", f"{hr['hr']:.2f}" if hr_ok else "—")
if hr_ok:
    m4.caption(f"95 % CI {hr['lower']:.2f}–{hr['upper']:.2f}")
else:
    reason = report.hazard_ratio_missing_reason(df, analysis.groups, s.high_label, s.low_label)
    m3.caption(reason)
    m4.caption(reason)

subtitle = (f"log-rank p = {s.logrank_p:.2g} · HR {s.high_label} vs {s.low_label} "
            + (f"{hr['hr']:.2f} ({hr['lower']:.2f}–{hr['upper']:.2f})" if hr_ok else "not estimable")
            + f" · C-index {c_index[0]:.3f} ({c_index[1]:.3f}–{c_index[2]:.3f})")
km_fig = risk_figures.km_groups_figure(analysis.curves, analysis.at_risk,
                                       title=f"Kaplan–Meier by predicted risk<br>{title}", subtitle=subtitle,
                                       phone=ui.compact_layout())
st.plotly_chart(km_fig, key="cohort.km_plot", config=PLOT_CONFIG)

left, right = st.columns(2)
with left:
    st.plotly_chart(risk_figures.calibration_figure(analysis.calibration, horizon_months=analysis.horizon_months),
                    key="cohort.calibration_plot", config=PLOT_CONFIG)
    st.caption(calib_note)
with right:
    patient_lr = None
    if shipped and ui.current_ecg() is not None:
        with ui.guard("Scoring the current ECG"):
            patient_lr = risk_assess.assess(model, ui.current_ecg().model_input).log_risk
    st.plotly_chart(risk_figures.risk_histogram_figure(df["log_risk"].to_numpy(float), patient_log_risk=patient_lr,
                                                       cutoffs=analysis.groups.cutoffs,
                                                       cohort_label=where if shipped else "uploaded cohort",
                                                       patient_label="current ECG",
                                                       patient_name=ui.current_ecg_label()),
                    key="cohort.histogram_plot", config=PLOT_CONFIG)
    if shipped and patient_lr is None:
        st.caption("Load an ECG on the Patient page to mark it here.")
