"""Model card: architecture, training data, metrics with CIs, baselines and ablations, intended use, limits.

Every table has human labels (no snake_case keys, no raw dicts) and wraps its text instead of
cutting it off (``st.table``).
"""

import streamlit as st

from hfviz.dashboard import model_card, risk_figures, ui, validation, words
from hfviz.risk import assess as risk_assess
from hfviz.risk.network import count_parameters

ui.page_setup()
st.title("Model card")
model = ui.get_model()
if model is None:
    st.stop()
card = model.card
label = ui.cohort_label(model.cohort, model)
st.subheader(f"Heart-failure risk, {label}")
if risk_assess.model_is_synthetic(model):
    st.warning("Trained and evaluated on **synthetic** data from this project's ECG simulator. The metrics below say "
               "how well the method recovers a known synthetic hazard — not how it performs on real patients.",
               icon=":material/science:")
c = model_card.card_c_index(card)
if c is not None:
    st.markdown(f"**Held-out C-index: {c[0]:.3f} (95 % CI {c[1]:.3f}–{c[2]:.3f})** on the cross-validation "
                "held-out fold — the same number as on Home and on the Cohort page for that fold (the Cohort page "
                "opens on the independent validation cohort, which has its own C-index).")
st.caption(model_card.card_calibration_status(card))


def _render(blocks) -> None:
    """Draw the blocks of :func:`hfviz.dashboard.model_card.card_field_blocks` (tables wrap, never truncate)."""
    for kind, payload in blocks:
        if kind == "markdown":
            st.markdown(payload)
        elif kind == "fields":
            st.table(payload.set_index("field"))
        elif kind in ("table", "indexed_table"):
            st.table(payload)
        else:
            st.write(payload)


left, right = st.columns([3, 2])
with left:
    st.markdown("**Architecture**: LLM-informed dual-attention network — per-lead stem and residual time blocks, "
                "12 lead-specific temporal attention blocks and one cross-lead attention block in parallel, pooled "
                "to a 512-d embedding, Cox risk head and reconstruction decoder.")
    st.dataframe(model_card.architecture_table(model.net), hide_index=True, key="model.architecture")
with right:
    st.metric("parameters", f"{count_parameters(model.net):,}")
    with st.expander("Configuration"):
        st.table(words.flat_fields(card.get("config", {})).set_index("field"))
    with st.expander("Preprocessing"):
        st.table(words.flat_fields(card.get("preprocessing", {})).set_index("field"))

for heading, blocks in model_card.card_sections(card):
    st.markdown(f"#### {heading}")
    _render(blocks)

facts = validation.validation_facts(card)
if facts is not None:
    st.markdown("#### Independent validation and calibration (synthetic cohorts the model never saw)")
    st.table(facts.set_index("field"))
    metrics = validation.calibration_metrics_frame(card)
    if metrics is not None:
        st.table(metrics.set_index(["horizon", "absolute risk"]))
        st.caption("Calibration slope: 1 is ideal, below 1 means predictions too extreme. Calibration-in-the-large: "
                   "observed minus mean predicted risk. ICI: mean absolute gap between predicted and smoothed observed "
                   "risk. " + (validation.calibration_verdict(card) or ""))
    tables = validation.calibration_tables_60m(model)
    if tables:
        plot_col, note_col = st.columns([3, 2])
        plot_col.plotly_chart(risk_figures.calibration_figure(
            tables, horizon_months=60, title="Calibration at 60 months<br>validation cohort (synthetic), deciles"),
            key="model.calibration_plot", config={"displaylogo": False})
        note_col.caption("Each point is a tenth of the validation cohort by predicted risk: mean predicted risk of "
                         "heart failure by 60 months against the Kaplan–Meier observed risk. *Before*: the model's "
                         "own baseline from its training half; *after*: recalibrated on the independent calibration "
                         "cohort.")

st.markdown("#### Weights and integrity")
st.caption("Every file's SHA-256 below is checked each time the model is loaded; a changed or truncated file is "
           "refused.")
st.table(model_card.card_sha256_table(card).set_index("file"))
with st.expander("Full model card (JSON)"):
    st.code(model_card.card_json(card), language="json")
