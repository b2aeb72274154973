"""Model card: architecture, training data, metrics with CIs, baselines and ablations, intended use, limits."""

import streamlit as st

from hfviz.dashboard import report
from hfviz.dashboard import ui
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


def _render(blocks) -> None:
    """Draw the blocks of :func:`hfviz.dashboard.report.card_field_blocks`."""
    for kind, payload in blocks:
        if kind == "markdown":
            st.markdown(payload)
        elif kind == "table":
            st.dataframe(payload, hide_index=True)
        elif kind == "indexed_table":
            st.dataframe(payload)
        elif kind == "fields":
            st.dataframe(payload, width="stretch")
        elif kind == "json":
            with st.expander(payload[0]):
                st.json(payload[1])
        else:
            st.write(payload)


left, right = st.columns([3, 2])
with left:
    st.markdown("**Architecture**: LLM-informed dual-attention network — per-lead stem and residual time blocks, "
                "12 lead-specific temporal attention blocks and one cross-lead attention block in parallel, pooled to a "
                "512-d embedding, Cox risk head and reconstruction decoder.")
    st.dataframe(report.architecture_table(model.net), hide_index=True, key="model.architecture")
with right:
    st.metric("parameters", f"{count_parameters(model.net):,}")
    with st.expander("Configuration"):
        st.json(card.get("config", {}))
    with st.expander("Preprocessing"):
        st.json(card.get("preprocessing", {}))

for heading, blocks in report.card_sections(card):
    st.markdown(f"#### {heading}")
    _render(blocks)

st.markdown("#### Weights and integrity")
st.caption("Every file's sha256 below is checked each time the model is loaded; a changed or truncated file is refused.")
st.dataframe(report.card_sha256_table(card), hide_index=True, key="model.sha256")
with st.expander("Full model card (JSON)"):
    st.code(report.card_json(card), language="json")
