"""Session-state keys of the app (``"page.widget"``) and their defaults, set once per session."""

from __future__ import annotations

from typing import Any

import streamlit as st

# --- session-state keys ("page.widget") ------------------------------------------------------
K_COHORT = "sidebar.cohort"
K_ECG = "patient.ecg"  # PreparedECG or None
K_ECG_LABEL = "patient.ecg_label"  # what the ECG is called on screen (file or example name)
K_ECG_TOKEN = "patient.ecg_token"  # sha256 of the source bytes: keys the per-session caches
K_ECG_ERROR = "patient.error"  # last loading error sentence, or None
K_UPLOAD = "patient.upload"  # the file_uploader widget
K_UPLOAD_SEEN = "patient.upload_seen"  # ids of the uploader's files already handled (each new choice is one upload)
K_UPLOAD_ROUND = "patient.upload_round"
K_UPLOAD_SIG = "patient.upload_sig"  # signature of the upload that was last processed
K_EXAMPLE = "patient.example"  # the example selectbox widget
K_SOURCE = "patient.source"  # radio: upload or example
K_INTERP_CACHE = "interp.cache"  # {(token, cohort, baseline, steps, method): Attribution}
K_FIG_CACHE = "session.figures"  # {(token, cohort, *what): figure or result} of session_cached
K_PRED_UPLOAD = "cohort.upload"  # the predictions CSV file_uploader
K_PRED_TABLE = "cohort.predictions"  # parsed uploaded predictions (DataFrame) or None
K_PRED_SIG = "cohort.predictions_sig"
K_PRED_ERROR = "cohort.predictions_error"
K_COMPACT = "layout.compact"  # sidebar toggle: phone layout (stacked panels, heights for a narrow screen)

_DEFAULTS: dict[str, Any] = {
    K_COHORT: "mi",
    K_ECG: None,
    K_ECG_LABEL: None,
    K_ECG_TOKEN: None,
    K_ECG_ERROR: None,
    K_UPLOAD_SIG: None,
    K_UPLOAD_SEEN: frozenset(),
    K_INTERP_CACHE: {},
    K_FIG_CACHE: {},
    K_PRED_TABLE: None,
    K_PRED_SIG: None,
    K_PRED_ERROR: None,
}


def init_state() -> None:
    """Set every session key the app uses, once per session (existing values are kept)."""
    for key, value in _DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, dict) else value

