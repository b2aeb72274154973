"""hfviz home page (placeholder until the dashboard lands)."""

import streamlit as st

st.set_page_config(page_title="hfviz", layout="wide")
st.title("hfviz — heart-failure risk from a 12-lead ECG")
st.warning("Research and demonstration software trained on synthetic data. Not for clinical decisions.")
