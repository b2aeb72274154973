"""Compare: two ECGs side by side (e.g. last year's and today's), what changed in the risk, where, and in the measurements.

Each side loads its own ECG (any supported format; the two may differ) and keeps it when a later
file on that side cannot be read. Every change is B − A. Attributions use one method and one
baseline for both ECGs and are computed only when asked for.
"""

import streamlit as st

from hfviz.dashboard import compare_figures, ecg_figures, report, ui
from hfviz.dashboard.attribution_figures import ATTRIBUTION_UNITS, beat_overlay_paper_figure
from hfviz.risk import compare, explain
from hfviz.risk.explain_summary import crop_to_beat

HORIZON_MONTHS = compare.DEFAULT_HORIZON_MONTHS
PLOT_CONFIG = {"displaylogo": False}

status = ui.page_setup(fill_status=False)
ui.init_compare_state()
st.title("Compare two ECGs")
ui.notice()
st.caption("Load ECG **A** (e.g. the previous one) and ECG **B** (e.g. today's), in any supported format. Every "
           "change below is **B − A**.")
if ui.current_ecg() is not None and st.button(f"Use the Patient page's ECG ({ui.current_ecg_label()}) as A",
                                              key="compare.take_patient", icon=":material/arrow_downward:"):
    ui.take_patient_ecg("A")

for side, col in zip(ui.COMPARE_SIDES, st.columns(2, gap="medium")):
    with col:
        ui.compare_side_panel(side)  # its own upload or example, its error, what was read

ui.sidebar_status(status)
a, b = ui.compare_side("A"), ui.compare_side("B")
if a is None or b is None:
    st.info("Load both ECGs to compare them.")
    st.stop()

# --- risk change -----------------------------------------------------------------------------------
model = ui.get_model()
change = None
if model is not None:
    with ui.guard("Risk prediction"):
        change = ui.compare_risk(model)
if change is not None:
    st.subheader("Change in predicted risk")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("log-risk of B", f"{change.b.log_risk:+.3f}", delta=f"{change.delta_log_risk:+.3f} vs A",
              delta_color="inverse", help="Cox log partial hazard; the change is B − A (red: higher risk).")
    c1.caption(f"A: {change.a.log_risk:+.3f}")
    c2.metric("percentile of B", f"{change.b.percentile:.0f}", delta=f"{change.delta_percentile:+.0f} points",
              delta_color="inverse", help=f"Percent of the {change.a.cohort_label} with a lower predicted risk.")
    c2.caption(f"A: {change.a.percentile:.0f} ({report.group_words(change.a.group)}) · "
               f"B: {report.group_words(change.b.group)}")
    c3.metric(f"HF-free at {HORIZON_MONTHS:g} months, B", f"{change.survival_b:.1%}",
              delta=f"{100 * change.delta_survival:+.1f} points",
              help="Predicted probability of no heart failure by then, from the synthetic cohort's baseline hazard.")
    c3.caption(f"A: {change.survival_a:.1%}")
    c4.metric("hazard ratio B / A", f"{change.hazard_ratio:.2f}", help="exp(change in log-risk): B's predicted "
              "hazard as a multiple of A's under the model.")
    c4.caption(f"of the {change.a.cohort_label}")
    st.markdown(f"**{change.sentence}**")

# --- the two ECGs on paper ----------------------------------------------------------------------------
st.subheader("The two ECGs")
phone = ui.compact_layout()
stacked = phone or st.toggle("One above the other (full width)", key="compare.stacked",
                             help="Side by side the two ECGs are drawn at half width; stacked, each takes the "
                                  "full width. Both always use the same paper speed and gain.")
shown_s = min(10.0, *(p.strip_mv.shape[1] / p.fs_hz for p in (a, b)))  # same length -> same scale side by side
fit_px = ecg_figures.PHONE_WIDTH_PX if phone else (ecg_figures.NOMINAL_WIDTH_PX if stacked else 520)
with ui.guard("Drawing the ECGs"):
    panels = [st.container() for _ in ui.COMPARE_SIDES] if stacked else st.columns(2, gap="small")
    for side, panel, prepared in zip(ui.COMPARE_SIDES, panels, (a, b)):
        fig = ui.compare_cached_figure(("paper", fit_px, shown_s), lambda p=prepared, s=side: ecg_figures.ecg_paper_figure(
            p.strip_mv, p.fs_hz, title=f"ECG {s}" if phone else f"ECG {s}: {ui.compare_side_label(s)}",
            max_duration_s=shown_s,
            fit_width_px=fit_px), side=side)
        panel.plotly_chart(fig, key=f"compare.{side}.paper", config={"scrollZoom": True, **PLOT_CONFIG})
st.caption(f"Both at {ecg_figures.PAPER_SPEED_MM_S:g} mm/s and {ecg_figures.PAPER_GAIN_MM_MV:g} mm/mV "
           f"(cleaned strips, first {shown_s:.1f} s of each).")

# --- where the risk moved -------------------------------------------------------------------------------
if model is not None and change is not None:
    st.subheader("Which leads and which part of the beat moved the risk")
    baselines = ["zeros", "lead_mean"] + (["cohort_median"] if model.cohort_beats is not None else [])
    m1, m2, m3 = st.columns(3)
    method = m1.selectbox("Attribution method (the same for both ECGs)", list(explain.METHODS),
                          format_func=explain.METHODS.get, key=ui.K_COMPARE_METHOD)
    baseline = m2.selectbox("Baseline (the same reference for both)", baselines, format_func=explain.BASELINES.get,
                            key=ui.K_COMPARE_BASELINE, disabled=method not in explain.USES_BASELINE)
    steps = m3.select_slider("Integrated Gradients steps", options=[16, 32, 64, 128], value=explain.DEFAULT_IG_STEPS,
                             key=ui.K_COMPARE_STEPS, disabled=method != "integrated_gradients")
    baseline = baseline if method in explain.USES_BASELINE else "zeros"
    steps = int(steps) if method == "integrated_gradients" else explain.DEFAULT_IG_STEPS
    attrs = ui.compare_attributions(model, method=method, baseline=baseline, n_steps=steps, compute=False)
    slot = st.empty()
    if attrs is None and slot.button(f"Explain both ECGs with {explain.METHODS[method]}", key="compare.explain",
                                     type="primary", icon=":material/insights:",
                                     help="Two attributions (one per ECG); a few seconds each."):
        slot.empty()
        attrs = ui.compare_attributions(model, method=method, baseline=baseline, n_steps=steps, compute=True)
    if attrs is None:
        st.caption("Attributions are computed on request: one method and one baseline for both ECGs, so their "
                   "difference means something.")
    else:
        st.markdown(f"**{attrs.sentence()}**")
        st.plotly_chart(ui.compare_cached_figure(("heatmap", method, baseline, steps, phone), lambda: (
            compare_figures.segment_change_heatmap(attrs, phone=phone))), key="compare.heatmap", config=PLOT_CONFIG)
        note = (f"Each cell: the attribution summed over that part of each ECG's own beat (boundaries from its QRS "
                f"onset, QRS end and T end), B minus A, in {attrs.unit}. ")
        if method == "integrated_gradients":
            note += (f"With Integrated Gradients all cells add up to {attrs.total_change:+.3f}; the change in "
                     f"log-risk is {change.delta_log_risk:+.3f} (completeness gaps A {attrs.attribution_a.delta:+.3f}, "
                     f"B {attrs.attribution_b.delta:+.3f}"
                     + ("; more steps make them smaller" if max(attrs.attribution_a.relative_delta,
                                                                attrs.attribution_b.relative_delta) > 0.05 else "")
                     + ").")
        nominal = [f"{s}: {', '.join(seg.nominal)} not found, nominal used" for s, seg in
                   (("A", attrs.segments_a), ("B", attrs.segments_b)) if seg.nominal]
        st.caption(note + (" " + "; ".join(nominal) + "." if nominal else ""))
        ranking = attrs.ranking()
        if phone:  # four columns fit a phone's width; A and B are in the heatmap's hover
            ranking = ranking.drop(columns=["ECG A", "ECG B"])
        st.dataframe(ranking, hide_index=True, key="compare.ranking",
                     column_config={c: st.column_config.NumberColumn(format="%+.3g") for c in
                                    ("ECG A", "ECG B", "Change (B − A)") if c in ranking.columns})
        if st.toggle("Show the difference sample by sample on the median beats", key="compare.per_sample"):
            columns = 2 if phone else 4
            diff = crop_to_beat(attrs.attribution_b.values - attrs.attribution_a.values)
            st.plotly_chart(ui.compare_cached_figure(("overlay", method, baseline, steps, columns), lambda: (
                beat_overlay_paper_figure(b.median_beat_mv, diff, b.fs_hz, method_label=f"B − A · {attrs.label}",
                                          colorbar_title=ATTRIBUTION_UNITS.get(method), reference_mv=a.median_beat_mv,
                                          columns=columns))), key="compare.overlay", config=PLOT_CONFIG)
            st.caption("Solid: ECG B's median beat; dashed: ECG A's (both with the R peak at the same time). Colour: "
                       "B's attribution minus A's at the same moment of the beat; red raised B's risk.")

# --- measurements -------------------------------------------------------------------------------
st.subheader("Measurements")
measurements = compare.measurement_change_frame(compare.measurement_changes(a.measurements, b.measurements),
                                               names=report.MEASUREMENT_NAMES)
if not measurements["Note"].any():  # every value measured on both: no empty column
    measurements = measurements.drop(columns=["Note"])
st.dataframe(measurements, hide_index=True, key="compare.measurements", height=35 * (len(measurements) + 1) + 3)
st.caption("Ours for both ECGs: global intervals on each median beat (the same method for both files, whatever "
           "their format). Axes: the change is the shorter way round (−180° to +180°).")

# --- export ------------------------------------------------------------------------------------
if model is not None and change is not None:
    shown_now = ui.compare_result(model)  # what is on screen now: the callback runs outside the script
    labels_now = (ui.compare_side_label("A"), ui.compare_side_label("B"))

    def _compare_html(model=model, comparison=shown_now, labels=labels_now) -> str:
        """Built only when the button is clicked (the attributions shown above, else Integrated Gradients)."""
        return report.compare_report_html(comparison=comparison, a=a, b=b, label_a=labels[0], label_b=labels[1],
                                          model=model)

    st.download_button("Download the compare report (HTML, prints to PDF)", data=_compare_html,
                       file_name="hfviz-compare.html", mime="text/html", key="compare.report",
                       icon=":material/download:")
