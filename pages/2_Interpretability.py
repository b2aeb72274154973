"""Interpretability: attention and captum attributions over every lead of the current ECG."""

import streamlit as st

from hfviz.risk import explain

from hfviz.risk import explain_summary
from hfviz.dashboard import attribution_figures
from hfviz.dashboard import ui
from hfviz.ecg.signal import R_OFFSET
from hfviz.ecg.record import LEADS

ui.page_setup()
st.title("Interpretability")
ui.notice()
prepared = ui.require_ecg()
model = ui.get_model()
if model is None:
    st.stop()
cohort_label = ui.cohort_label(model.cohort, model)
st.caption(f"ECG: **{ui.current_ecg_label()}** · model: {cohort_label}. Attributions explain the "
           "predicted log-risk; red raises it, blue lowers it. They describe the model, not the patient's physiology.")

c1, c2, c3 = st.columns(3)
method = c1.selectbox("Attribution method", list(explain.METHODS), format_func=explain.METHODS.get, key="interp.method")
baselines = ["zeros", "lead_mean"] + (["cohort_median"] if model.cohort_beats is not None else [])
baseline = c2.selectbox("Baseline (reference ECG)", baselines, format_func=explain.BASELINES.get, key="interp.baseline",
                        help="Integrated Gradients, Occlusion and GradientSHAP compare the ECG with this reference. "
                             "Inputs are z-scored per lead, so 'per-lead mean' is the same reference as 'zeros'.")
steps = c3.select_slider("Integrated Gradients steps", options=[16, 32, 64, 128, 256], value=64, key="interp.steps")

attrs = None
with ui.guard("Computing attributions"), st.spinner("Computing attributions…"):
    attrs = ui.attributions(model, prepared, baseline=baseline, n_steps=steps,
                            methods=sorted({method, "integrated_gradients"}))
    output = model.forward(prepared.model_input)
if attrs is None:
    st.stop()
chosen = attrs[method]
ig = attrs["integrated_gradients"]

m1, m2, m3 = st.columns(3)
m1.metric("IG completeness gap", f"{ig.delta:+.2e}",
          help="Sum of all Integrated-Gradients attributions minus (f(ECG) − f(baseline)); near 0 means they add up.")
m2.metric("gap relative to f(x) − f(baseline)", f"{ig.relative_delta:.2%}",
          help="The path integral is approximated with the chosen number of steps; the ReLU/max-pool kinks of the "
               "network make it converge slowly. More steps usually shrink the gap.")
m3.metric("f(ECG) − f(baseline)", f"{ig.f_input - ig.f_baseline:+.4f}", help="Difference in predicted log-risk.")

tab_attr, tab_att, tab_cmp = st.tabs(["Attributions", "Attention", "Compare methods"])
with tab_attr:
    values = explain_summary.crop_to_beat(chosen.values)
    st.plotly_chart(attribution_figures.beat_overlay_figure(prepared.median_beat_mv, values, prepared.fs_hz,
                                              method_label=f"{chosen.label} · {cohort_label}"),
                    key="interp.overlay_plot")
    if st.checkbox("Also draw on the 10-s strip", key="interp.strip"):
        lead = st.selectbox("Lead", LEADS, index=1, key="interp.strip_lead")
        on_strip = explain_summary.beat_values_on_strip(values, prepared.r_peaks, prepared.strip_mv.shape[1], r_offset=R_OFFSET)
        st.plotly_chart(attribution_figures.strip_overlay_figure(prepared.strip_mv, on_strip, prepared.fs_hz, lead=lead,
                                                   method_label=chosen.label), key="interp.strip_plot")
with tab_att:
    if output.temporal_attention is not None:
        temporal = explain_summary.crop_to_beat(explain_summary.temporal_attention_to_samples(output.temporal_attention[0].numpy()))
        st.plotly_chart(attribution_figures.beat_overlay_figure(
            prepared.median_beat_mv, temporal, prepared.fs_hz, signed=False,
            method_label="Temporal attention (19 steps of 64 ms mapped to samples; 1 = uniform)",
            colorbar_title="attention<br>(1 = uniform)"), key="interp.temporal_plot")
    else:
        st.info("This model has no temporal attention branch (ablation).")
    if output.lead_attention is not None:
        st.plotly_chart(attribution_figures.lead_attention_heatmap(output.lead_attention[0].numpy(),
                                                     title="Cross-lead attention (row: query lead)"),
                        key="interp.lead_plot")
    else:
        st.info("This model has no cross-lead attention branch (ablation).")
with tab_cmp:
    if st.toggle("Compute all four methods and compare them", key="interp.compare",
                 help="Occlusion and GradientSHAP need a few hundred model evaluations; computed once per ECG."):
        with ui.guard("Computing attributions"), st.spinner("Computing all methods…"):
            attrs = ui.attributions(model, prepared, baseline=baseline, n_steps=steps, methods=list(explain.METHODS))
        importance = explain_summary.lead_importances(
            attrs, lead_attention=None if output.lead_attention is None else output.lead_attention[0].numpy())
        baseline_name = explain.BASELINES[baseline]
        st.plotly_chart(attribution_figures.lead_importance_figure(importance, title=f"Per-lead importance (baseline: {baseline_name})"),
                        key="interp.importance_plot")
        agreement = explain_summary.method_agreement(importance)
        a1, a2 = st.columns([3, 2])
        with a1:
            st.plotly_chart(attribution_figures.agreement_figure(agreement), key="interp.agreement_plot")
        with a2:
            st.markdown("**Spearman ρ of per-lead importance**")
            st.dataframe(agreement.round(2), key="interp.agreement_table")
            st.caption("1 = same ranking of leads, 0 = unrelated, −1 = reversed. Empty where a method ranks all "
                       "leads equally.")
    else:
        imp = explain_summary.lead_importances(attrs)
        st.plotly_chart(attribution_figures.lead_importance_figure(imp, title="Per-lead importance of the methods computed so far"),
                        key="interp.importance_plot")


def _csv(attrs=attrs) -> str:
    return explain_summary.attributions_frame(attrs).to_csv(index=False, float_format="%.6g")


st.download_button("Download the attributions computed so far (CSV)", data=_csv, file_name="hfviz-attributions.csv", mime="text/csv",
                   key="interp.download", icon=":material/download:")
