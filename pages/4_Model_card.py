"""Model card: architecture, training data, metrics with CIs, baselines and ablations, intended use, limits."""

import json

import pandas as pd
import streamlit as st

from hfviz import report, ui

ui.page_setup()
st.title("Model card")
model = ui.get_model()
if model is None:
    st.stop()
card = model.card
label = ui.cohort_label(model.cohort, model)
st.subheader(f"Heart-failure risk, {label}")
if report.model_is_synthetic(model):
    st.warning("Trained and evaluated on **synthetic** data from this project's ECG simulator. The metrics below say "
               "how well the method recovers a known synthetic hazard — not how it performs on real patients.",
               icon=":material/science:")


def _show(value) -> None:
    """Render a card field: text, list, flat dict (table; nested dicts in expanders), dict of dicts (table)."""
    if isinstance(value, str):
        st.markdown(value)
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            st.dataframe(pd.DataFrame(value), hide_index=True)
        else:
            st.markdown("\n".join(f"- {v}" for v in value))
    elif isinstance(value, dict):
        if value and all(isinstance(v, dict) for v in value.values()):
            st.dataframe(pd.DataFrame(value).T)
            return
        flat = {k: v for k, v in value.items() if not isinstance(v, dict)}
        if flat:
            st.dataframe(pd.DataFrame({"": [str(v) for v in flat.values()]}, index=list(flat)), width="stretch")
        for k, v in value.items():
            if isinstance(v, dict):
                with st.expander(str(k)):
                    st.json(v)
    elif value is not None:
        st.write(value)


left, right = st.columns([3, 2])
with left:
    st.markdown("**Architecture**: LLM-informed dual-attention network — per-lead stem and residual time blocks, "
                "12 lead-specific temporal attention blocks and one cross-lead attention block in parallel, pooled to a "
                "512-d embedding, Cox risk head and reconstruction decoder.")
    st.dataframe(report.architecture_table(model.net), hide_index=True, key="model.architecture")
with right:
    st.metric("parameters", f"{sum(p.numel() for p in model.net.parameters()):,}")
    with st.expander("Configuration"):
        st.json(card.get("config", {}))
    with st.expander("Preprocessing"):
        st.json(card.get("preprocessing", {}))

for key, heading in (("intended_use", "Intended use"), ("training_data", "Training data"), ("training", "Training"),
                     ("metrics", "Held-out metrics (with 95 % CI)"), ("comparison", "Baselines and ablations"),
                     ("limitations", "Limitations")):
    if card.get(key) is not None:
        st.markdown(f"#### {heading}")
        _show(card[key])

st.markdown("#### Weights and integrity")
st.caption("Every file's sha256 below is checked each time the model is loaded; a changed or truncated file is refused.")
st.dataframe(pd.DataFrame({"file": list(card.get("sha256", {})), "sha256": list(card.get("sha256", {}).values())}),
             hide_index=True, key="model.sha256")
skip = {"risk_distribution", "baseline"}
with st.expander("Full model card (JSON)"):
    st.code(json.dumps({k: v for k, v in card.items() if k not in skip}, indent=1, default=str), language="json")
