"""Interpretability: attention and captum attributions over every lead of the current ECG.

Only the chosen view is drawn (a radio, not tabs that would all render), only the chosen
method is computed, and each figure is kept in the session per (ECG, method, baseline, steps,
options), so switching back is instant.
"""

import pandas as pd
import streamlit as st
import torch

from hfviz.dashboard import attribution_figures as af
from hfviz.dashboard import report
from hfviz.dashboard import ui
from hfviz.dashboard.words import md_escape
from hfviz.ecg.record import LEADS
from hfviz.ecg.signal import R_OFFSET
from hfviz.risk import explain
from hfviz.risk import explain_summary as summary

ui.page_setup()
st.title("Interpretability")
ui.notice()
prepared = ui.require_ecg()
model = ui.get_model()
if model is None:
    st.stop()
cohort_label = ui.cohort_label(model.cohort, model)
st.caption(f"ECG: **{ui.current_ecg_label()}** · model: {cohort_label}. Attributions explain the predicted "
           "log-risk; red raises it, blue lowers it. They describe the model, not the patient's physiology.")

with st.container(border=True):
    st.markdown("**What the model reads in this ECG**")
    statements, problem = ui.model_reading(prepared)
    words, device = st.columns([3, 2], gap="medium")
    if statements:
        words.table(report.reading_table(statements), hide_index=True)
    else:
        words.info(problem)
    interpretation = prepared.record.meta.get("interpretation")
    device.markdown("**The device's own interpretation**")
    device.markdown(f"> {md_escape(interpretation)}" if interpretation else "This file carries no interpretation.")
    st.caption(report.READING_CAPTION)

view = st.radio("View", ["Attributions", "Attention", "Compare methods"], horizontal=True, key="interp.view",
                label_visibility="collapsed")
columns = 2 if ui.compact_layout() else 4  # phone layout: two leads per row (4 would be ~60 px wide)
baselines = ["zeros", "lead_mean"] + (["cohort_median"] if model.cohort_beats is not None else [])


def _controls(method: str) -> tuple[str, int]:
    """Baseline and IG steps, shown only for the methods that use them (defaults otherwise)."""
    baseline, steps = "zeros", explain.DEFAULT_IG_STEPS
    c2, c3 = st.columns(2)
    if method in explain.USES_BASELINE:
        baseline = c2.selectbox("Baseline (reference ECG)", baselines, format_func=explain.BASELINES.get,
                                key="interp.baseline",
                                help="The method compares the ECG with this reference. Inputs are z-scored per lead, "
                                     "so 'per-lead mean' is the same reference as 'zeros'.")
    if method == "integrated_gradients":
        steps = c3.select_slider("Integrated Gradients steps", options=[16, 32, 64, 128, 256],
                                 value=explain.DEFAULT_IG_STEPS, key="interp.steps")
    return baseline, int(steps)


def _ig_metrics(ig) -> None:
    m1, m2, m3 = st.columns(3)
    m1.metric("IG completeness gap", f"{ig.delta:+.2e}",
              help="Sum of all Integrated-Gradients attributions minus (f(ECG) − f(baseline)); near 0 means they "
                   "add up.")
    m2.metric("gap relative to f(x) − f(baseline)", f"{ig.relative_delta:.2%}",
              help="The path integral is approximated with the chosen number of steps; more steps usually shrink it.")
    m3.metric("f(ECG) − f(baseline)", f"{ig.f_input - ig.f_baseline:+.4f}", help="Difference in predicted log-risk.")


@st.fragment
def _attributions_view() -> None:
    """Method, options and the overlay: a fragment, so a change here reruns only this view (not the whole page)."""
    method = st.radio("Attribution method", list(explain.METHODS), format_func=explain.METHODS.get,
                      horizontal=True, key="interp.method")
    baseline, steps = _controls(method)
    o1, o2, o3 = st.columns(3)
    shared = o1.checkbox("Same colour range for all methods computed", key="interp.shared_range",
                         help="One colour scale (±the largest 99th-percentile |value|) for every method computed so "
                              "far with the same unit, so colours compare across methods.")
    draw_ref = method in explain.USES_BASELINE and o2.checkbox("Draw the reference (baseline) beat",
                                                                key="interp.draw_reference")
    on_strip = o3.checkbox("Also draw on the 10-s strip", key="interp.strip")
    what = explain.METHODS[method] + (f", {steps} steps" if method == "integrated_gradients" else "")
    chosen = None
    with ui.guard("Computing attributions"), st.spinner(f"Computing {what}…"):
        chosen = ui.attributions(model, prepared, baseline=baseline, n_steps=steps, methods=[method])[method]
    if chosen is None:  # the guard showed why
        return
    if method == "integrated_gradients":
        _ig_metrics(chosen)
    values = summary.crop_to_beat(chosen.values)
    vmax = af.shared_colour_range(ui.computed_attributions(), method, prepared.fs_hz) if shared else None
    unit = af.ATTRIBUTION_UNITS.get(method)
    label = f"{chosen.label} · {cohort_label}"
    ref = None
    if draw_ref:
        ref_input, _ = explain.make_baseline(torch.as_tensor(prepared.model_input[None]), baseline,
                                             cohort_beats=model.cohort_beats)
        ref = af.reference_beat_mv(prepared.median_beat_mv, ref_input[0].numpy())
    fig = ui.session_cached(("overlay", method, baseline, steps, vmax, draw_ref, columns),
                            lambda: af.beat_overlay_paper_figure(
                                prepared.median_beat_mv, values, prepared.fs_hz, method_label=label,
                                colorbar_title=unit, vmax=vmax, reference_mv=ref, columns=columns))
    st.plotly_chart(fig, key="interp.overlay_plot", config={"displaylogo": False})
    st.caption(f"Colour: the mean value over each {fig.layout.meta['band_ms']:.0f}-ms band, scale ±"
               f"{fig.layout.meta['vmax']:.3g}" + (" (shared by the methods computed so far)" if shared else "")
               + ". Grid 40 ms / 0.1 mV (1 mm) and 200 ms / 0.5 mV (5 mm); one mV scale for every lead."
               + (" Dashed: the reference beat the method compares with." if draw_ref else ""))
    if on_strip:
        lead = st.selectbox("Lead", LEADS, index=1, key="interp.strip_lead")
        strip_vals = summary.beat_values_on_strip(values, prepared.r_peaks, prepared.strip_mv.shape[1],
                                                  r_offset=R_OFFSET)
        strip_fig = ui.session_cached(("strip", method, baseline, steps, vmax, lead), lambda: af.strip_overlay_figure(
            prepared.strip_mv, strip_vals, prepared.fs_hz, lead=lead, method_label=chosen.label, colorbar_title=unit,
            vmax=vmax))
        st.plotly_chart(strip_fig, key="interp.strip_plot", config={"displaylogo": False})


if view == "Attributions":
    _attributions_view()
elif view == "Attention":
    output = ui.model_output(model, prepared)
    if output.temporal_attention is not None:
        temporal = summary.crop_to_beat(summary.temporal_attention_to_samples(output.temporal_attention[0].numpy()))
        st.plotly_chart(ui.session_cached(("temporal", columns), lambda: af.beat_overlay_paper_figure(
            prepared.median_beat_mv, temporal, prepared.fs_hz, signed=False,
            method_label="Temporal attention · 19 steps of 64 ms mapped to samples",
            colorbar_title="attention<br>(1 = uniform)", columns=columns)), key="interp.temporal_plot",
            config={"displaylogo": False})
        st.caption("Shading: how much attention each moment of the beat receives (1 = uniform over the 19 steps).")
    else:
        st.info("This model has no temporal attention branch (ablation).")
    if output.lead_attention is not None:
        st.plotly_chart(ui.session_cached(("lead_attention", columns), lambda: af.lead_attention_heatmap(
            output.lead_attention[0].numpy(), title="Cross-lead attention (row: query lead, column: attended lead)",
            phone=columns < 4)),
            key="interp.lead_plot", config={"displaylogo": False})
        st.caption("Each row is one lead (query) and how it spreads its attention over the twelve leads; every row "
                   "sums to 1 (head-averaged).")
    else:
        st.info("This model has no cross-lead attention branch (ablation).")
else:
    baseline = st.selectbox("Baseline (reference ECG) for all methods", baselines, format_func=explain.BASELINES.get,
                            key="interp.compare_baseline")
    if st.toggle("Compute all four methods and compare them", key="interp.compare",
                 help="Occlusion and GradientSHAP need a few hundred model evaluations; computed once per ECG."):
        attrs = ui.attributions_with_progress(model, prepared, baseline=baseline, n_steps=explain.DEFAULT_IG_STEPS,
                                              methods=list(explain.METHODS))
    else:
        attrs = ui.computed_attributions()
    if attrs:
        output = ui.model_output(model, prepared)
        importance = {explain.METHODS[m]: summary.lead_importance(a.values) for m, a in attrs.items()}
        if output.lead_attention is not None and len(attrs) > 1:
            importance["cross-lead attention"] = summary.lead_attention_importance(output.lead_attention[0].numpy())
        st.plotly_chart(af.lead_importance_figure(importance, title="Per-lead importance (share of |attribution|)"),
                        key="interp.importance_plot", config={"displaylogo": False})
        if len(importance) > 1:
            agreement = summary.method_agreement(importance)
            st.plotly_chart(af.agreement_figure(agreement), key="interp.agreement_plot", config={"displaylogo": False})
            st.markdown("**Spearman ρ of per-lead importance, pair by pair**")
            # one row per pair of methods: two narrow columns fit a phone, where a 5 × 5 matrix would be cut off
            pairs = [(a, b, agreement.loc[a, b]) for i, a in enumerate(agreement.index)
                     for b in agreement.columns[i + 1:]]
            st.table(pd.DataFrame({"methods": [f"{a} and {b}" for a, b, _ in pairs],
                                   "Spearman ρ": ["—" if v != v else f"{v:.2f}" for _, _, v in pairs]}),
                     hide_index=True)
            st.caption("1 = same ranking of leads, 0 = unrelated, −1 = reversed; — where a method ranks all leads "
                       "equally.")
    else:
        st.info("No attributions computed yet: switch on the toggle, or choose a method under Attributions.")


def _csv() -> str:
    return summary.attributions_frame(ui.computed_attributions()).to_csv(index=False, float_format="%.6g")


if ui.computed_attributions():
    st.download_button("Download the attributions computed so far (CSV)", data=_csv, file_name="hfviz-attributions.csv",
                       mime="text/csv", key="interp.download", icon=":material/download:")
