"""hfviz dashboard: ``streamlit run app.py``.

Sets up the page and the navigation, then hands over to the page the user chose; every page
(home included) starts with ``ui.page_setup()`` for the session state and the shared sidebar.
Every ``*.py`` file in ``pages/`` becomes a page automatically (sorted by name; a leading ``1_``
sets the order and is not shown).
"""

from pathlib import Path

import streamlit as st

from hfviz.dashboard import model_card, ui
from hfviz.dashboard import report as report
from hfviz.risk.groups import COHORTS

st.set_page_config(page_title=ui.PAGE_TITLE, page_icon=ui.PAGE_ICON, layout="wide")  # a local icon: no CDN request


def home() -> None:
    """What this is, the notice, the models, how to start."""
    ui.page_setup()
    st.title("hfviz — heart-failure risk from a 12-lead ECG")
    st.warning(
        "**Research and demonstration software — not for clinical use.** The shipped models were trained on "
        "**synthetic** ECGs from this project's simulator with a known, made-up heart-failure hazard. Their risks, "
        "percentiles and survival curves describe synthetic cohorts, not real patients. Not a medical device.",
        icon=":material/warning:",
    )
    st.markdown(
        "Upload a resting 12-lead ECG and see what an **LLM-informed dual-attention network** (after Chen et al., "
        "IEEE Trans. Big Data 2025) makes of it: the twelve leads as on ECG paper, the median beats the model reads, "
        "a predicted risk of incident heart failure placed within a cohort (percentile, risk group, HF-free survival "
        "curve against the cohort's Kaplan–Meier curve), and *why* — the model's cross-lead and temporal attention "
        "and captum attributions drawn over every lead."
    )
    st.subheader("Models")
    cols = st.columns(len(COHORTS))
    for col, cohort in zip(cols, COHORTS):
        with col:
            model = ui.get_model(cohort, show_error=False)
            st.markdown(f"**{ui.cohort_label(cohort, model)}**")
            if model is None:
                st.info("Model files not found or not usable — build them with `python -m hfviz reproduce`, "
                        "or set HFVIZ_MODELS_DIR. The Patient page still shows the ECG without a risk.")
                continue
            card = model.card
            n_par = sum(p.numel() for p in model.net.parameters())
            preds = model.cohort_predictions
            lines = [f"- parameters: {n_par:,}",
                     f"- held-out people: {len(preds):,}, events: {int(preds['event'].sum()):,}",
                     f"- training data: {model_card.card_training_data(card)}"]
            c = model_card.card_c_index(card)
            if c is not None:
                lines.append(f"- C-index on the cross-validation held-out fold: {c[0]:.3f} (95 % CI {c[1]:.3f}–{c[2]:.3f}), "
                             "as on the Model card")
            st.markdown("\n".join(lines))
    st.subheader("How to start")
    st.markdown(
        "1. Choose the cohort in the sidebar (MI-like or HYP-like; both synthetic).\n"
        "2. **Patient**: upload an ECG — GE CardioSoft XML (UK Biobank), WFDB (select the `.hea` and its `.dat`/`.mat` "
        "together), GE MUSE XML, HL7 aECG, DICOM, CSV or NumPy — or pick a bundled synthetic example.\n"
        "3. **Interpretability**: attention and attributions (Integrated Gradients, Saliency, Occlusion, "
        "GradientSHAP) over each lead, agreement between methods, CSV export.\n"
        "4. **Cohort**: Kaplan–Meier curves by predicted risk group, log-rank test, hazard ratio, C-index with CI, "
        "calibration — for the shipped model or your own predictions CSV.\n"
        "5. **Model card**: architecture, training data, metrics, intended use and limits.\n"
        "6. **Compare**: two ECGs side by side (e.g. the same patient a year apart, any mix of formats) — the change "
        "in risk, which leads and parts of the beat moved it, the measurements' differences, a compare report.\n"
        "7. **Batch**: many files or a zip at once → a sortable table of risks with failures named, CSV download; "
        "open any row in the Patient or Compare view.\n\n"
        "Uploaded files are read in memory and never written to disk. Everything runs offline."
    )


def _title(path: Path) -> str:
    stem = path.stem.split("_", 1)[1] if path.stem.split("_", 1)[0].isdigit() and "_" in path.stem else path.stem
    return stem.replace("_", " ")


_PAGES_DIR = Path(__file__).resolve().parent / "pages"
pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
pages += [st.Page(f"pages/{p.name}", title=_title(p)) for p in sorted(_PAGES_DIR.glob("*.py")) if not p.name.startswith("_")]
navigation = st.navigation(pages)
navigation.run()  # each page draws the shared sidebar itself (ui.page_setup)
