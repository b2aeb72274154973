"""The shared, read-only risk models and cached analyses of their shipped cohorts (no patient data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from hfviz.dashboard.settings import configure_torch, models_dir
from hfviz.dashboard.sources import source_signature
from hfviz.dashboard.ui.state import K_COHORT, K_PRED_ERROR, K_PRED_SIG, K_PRED_TABLE
from hfviz.errors import HfvizError
from hfviz.risk.groups import COHORTS

# --- the model -----------------------------------------------------------------------------------
#: glibc malloc arenas of the app process (``$MALLOC_ARENA_MAX`` wins when set); see
#: :func:`hfviz.dashboard.footprint.limit_malloc_arenas`.
MALLOC_ARENAS = 2


@st.cache_resource(show_spinner="Loading the model (once per server)…", max_entries=8)
def _load_model(cohort: str, directory: str | None):
    import os

    from hfviz.dashboard.footprint import limit_malloc_arenas
    from hfviz.risk.model import load_risk_model

    configure_torch()
    if "MALLOC_ARENA_MAX" not in os.environ:
        limit_malloc_arenas(MALLOC_ARENAS)  # one script thread per session: bound glibc's per-thread arenas
    return load_risk_model(cohort, directory)


def get_model(cohort: str | None = None, *, show_error: bool = True):
    """The shared, read-only risk model of ``cohort`` (default: the sidebar's), or ``None``.

    A missing, truncated or tampered model file shows one ``st.error`` sentence (when
    ``show_error``) and returns ``None``; the page carries on without risk numbers.
    """
    cohort = cohort or st.session_state.get(K_COHORT, "mi")
    try:
        return _load_model(cohort, models_dir())
    except HfvizError as exc:
        if show_error:
            st.error(f"The {COHORTS.get(cohort, cohort)} model cannot be used: {exc}")
        return None


@st.cache_resource(show_spinner="Loading the statement reader (once per server)…", max_entries=2)
def _load_reader(directory: str | None):
    from hfviz.risk.statements import load_statement_reader

    configure_torch()
    return load_statement_reader(directory)


def get_statement_reader():
    """The shared, read-only statement reader (:mod:`hfviz.risk.statements`), or ``None`` when its files are unusable."""
    try:
        return _load_reader(models_dir())
    except HfvizError:
        return None


def current_cohort() -> str:
    """The cohort chosen in the sidebar (``"mi"`` or ``"hyp"``)."""
    return st.session_state.get(K_COHORT, "mi")


def cohort_label(cohort: str | None = None, model: Any = None) -> str:
    """e.g. ``"MI-like cohort (synthetic)"`` — synthetic unless the model card says otherwise."""
    from hfviz.risk.assess import model_is_synthetic
    from hfviz.risk.groups import cohort_label as _label

    cohort = cohort or current_cohort()
    return _label(cohort, synthetic=True if model is None else model_is_synthetic(model))



# --- cached pure computations on the shipped model (no patient data) ------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _cohort_km(cohort: str, directory: str | None):
    from hfviz.risk.cohort import km_table

    p = _load_model(cohort, directory).cohort_predictions
    return km_table(p["time_months"], p["event"])


def cohort_km(cohort: str):
    """Kaplan–Meier table (with 95 % CI) of a shipped model's held-out cohort."""
    return _cohort_km(cohort, models_dir())



@st.cache_data(show_spinner="Analysing the cohort…", max_entries=32)
def _shipped_analysis(cohort: str, directory: str | None, scheme: str, top_k: float, horizon: float,
                      which: str = "shipped"):
    from hfviz.dashboard.validation import source_predictions
    from hfviz.risk.cohort import analyse

    model = _load_model(cohort, directory)
    df = source_predictions(model, which)
    s_h = model.predict_survival_function(df["log_risk"].to_numpy(float), [horizon])[:, 0]
    return analyse(df, scheme=scheme, top_k_percent=top_k, horizon_months=horizon, survival_at_horizon=s_h)


def shipped_analysis(cohort: str, *, scheme: str, top_k: float, horizon: float, which: str = "shipped"):
    """:func:`hfviz.risk.cohort.analyse` of a shipped model's predictions (cached per process).

    ``which``: ``"shipped"`` (the cross-validation held-out fold) or ``"validation"`` (the
    independent synthetic validation cohort, :func:`hfviz.dashboard.validation.source_predictions`).
    """
    return _shipped_analysis(cohort, models_dir(), scheme, float(top_k), float(horizon), which)


def uploaded_predictions() -> Any:
    """The session's parsed predictions CSV (DataFrame), or ``None``."""
    return st.session_state.get(K_PRED_TABLE)


def predictions_error() -> str | None:
    """Why the last predictions CSV could not be used, or ``None``."""
    return st.session_state.get(K_PRED_ERROR)


def load_predictions_upload(file: Any) -> None:
    """Parse an uploaded predictions CSV into this session (errors kept for the page to show)."""
    from hfviz.risk.cohort import read_predictions_csv

    if file is None:
        return
    data = file.getvalue()
    sig = source_signature([(file.name, data)])
    if sig == st.session_state.get(K_PRED_SIG):
        return
    st.session_state[K_PRED_SIG] = sig
    try:
        st.session_state[K_PRED_TABLE] = read_predictions_csv(Path(file.name).name, data)
        st.session_state[K_PRED_ERROR] = None
    except HfvizError as exc:
        st.session_state[K_PRED_TABLE] = None
        st.session_state[K_PRED_ERROR] = str(exc)

