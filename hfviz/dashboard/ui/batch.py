"""The Batch page's session: many uploaded ECGs scored into one small table, and one of them opened elsewhere.

The session keeps only the :class:`~hfviz.dashboard.batch_table.BatchResult` (two small tables
and a few sentences) and the signature of the bytes it was scored from; the uploaded bytes stay
with the file uploader and nothing prepared is kept. Opening a row reads that ECG again from
the uploaded bytes (in memory) and hands it to the Patient page (:func:`~hfviz.dashboard.ui.set_ecg`)
or to one side of the Compare page.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from hfviz.dashboard.batch_table import SURVIVAL_COLUMN, TABLE_COLUMNS, BatchResult, ecg_files, score_batch
from hfviz.dashboard.footprint import release_free_memory
from hfviz.dashboard.settings import models_dir
from hfviz.dashboard.sources import source_signature
from hfviz.dashboard.ui.ecg_session import set_ecg
from hfviz.dashboard.ui.models import current_cohort, get_model
from hfviz.dashboard.uploads import expand_batch_upload
from hfviz.dashboard.words import md_escape  # noqa: F401 - the Batch page writes batch_ui.md_escape
from hfviz.errors import HfvizError
from hfviz.risk.assess import prepare_source

K_BATCH_UPLOAD = "batch.upload"  # the file_uploader (many files, or .zip archives)
K_BATCH_RESULT = "batch.result"  # BatchResult of the last scored batch, or None
K_BATCH_SIG = "batch.sig"  # (cohort, models folder, signature of the uploaded bytes) it was scored from
K_BATCH_SELECT = "batch.table"  # the table's row selection (st.dataframe on_select)
K_BATCH_FILTER = "batch.filter_sig"  # the filters the selection was made under
K_BATCH_ERROR = "batch.error"  # why the last "open" failed, or None
#: The filter widgets (file-name text, risk groups, formats, quality flags only); reset for a new batch.
K_FILTER_TEXT, K_FILTER_GROUPS, K_FILTER_FORMATS, K_FILTER_FLAGGED = (
    "batch.filter_text", "batch.filter_groups", "batch.filter_formats", "batch.filter_flagged")

PATIENT_PAGE = "pages/1_Patient.py"
COMPARE_PAGE = "pages/5_Compare.py"
_ROOT = Path(__file__).resolve().parents[3]


def _pairs(files: Sequence[Any] | None) -> list[tuple[str, bytes]]:
    """The uploader's files as ``(name, bytes)`` pairs (base names, as the browser sends them)."""
    return [(Path(f.name).name, f.getvalue()) for f in (files or [])]


def _signature(pairs: Sequence[tuple[str, bytes]]) -> tuple[str, str | None, str]:
    return current_cohort(), models_dir(), source_signature(pairs)


def batch_result() -> BatchResult | None:
    """The session's last scored batch, or ``None``."""
    return st.session_state.get(K_BATCH_RESULT)


def batch_error() -> str | None:
    """Why the last attempt to open an ECG of the batch failed, or ``None``."""
    return st.session_state.get(K_BATCH_ERROR)


def score_batch_upload(files: Sequence[Any] | None) -> None:
    """Score the uploader's files with the cohort's shared model, once per set of bytes and cohort.

    Archives are opened in memory (:func:`hfviz.dashboard.uploads.expand_batch_upload`), every ECG
    is scored (:func:`hfviz.dashboard.batch_table.score_batch`) under a progress bar, and only the
    small result table is kept. An empty uploader keeps the last table.
    """
    pairs = _pairs(files)
    if not pairs:
        return
    sig = _signature(pairs)
    if sig == st.session_state.get(K_BATCH_SIG):
        return
    model = get_model()
    if model is None:
        return
    batch = expand_batch_upload(pairs)
    del pairs
    bar = st.progress(0.0, text="Opening the files…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Reading and scoring the ECGs: {done} of {total}")

    result = score_batch(model, batch, progress=progress)
    del batch
    bar.empty()
    st.session_state[K_BATCH_RESULT] = result
    st.session_state[K_BATCH_SIG] = sig
    st.session_state[K_BATCH_ERROR] = None
    for key in (K_BATCH_SELECT, K_FILTER_TEXT, K_FILTER_GROUPS, K_FILTER_FORMATS, K_FILTER_FLAGGED):
        st.session_state.pop(key, None)  # a new table: no row selected, no filter left from the old one
    release_free_memory()


#: Column order on a phone (sidebar "Phone layout"): where the ECG falls in the cohort first.
_PHONE_ORDER = ("percentile", "risk group", "file", SURVIVAL_COLUMN, "log-risk", "format", "quality flags",
                "synthetic ECG")


def show_table(shown: pd.DataFrame, filters: tuple, *, phone: bool = False) -> str | None:
    """Draw the (filtered) table with single-row selection; return the chosen ECG's file label, or ``None``.

    ``filters`` are the filter values ``shown`` was made with: when they change, the selection
    (row positions in the shown table) is dropped rather than pointing at another ECG. ``phone``
    puts percentile and risk group first, so a narrow screen shows them without scrolling. The
    "synthetic ECG" column is shown when some ECG says it is synthetic.
    """
    if st.session_state.get(K_BATCH_FILTER) != filters:
        st.session_state.pop(K_BATCH_SELECT, None)
        st.session_state[K_BATCH_FILTER] = filters
    order = [c for c in (_PHONE_ORDER if phone else TABLE_COLUMNS) if c in shown.columns]
    if not (shown["synthetic ECG"] == "yes").any():  # an empty column says nothing (the CSV keeps it)
        order.remove("synthetic ECG")
    event = st.dataframe(
        shown, key=K_BATCH_SELECT, on_select="rerun", selection_mode="single-row", hide_index=True,
        height=min(38 + 35 * max(len(shown), 1), 600), column_order=order,
        column_config={
            "file": st.column_config.TextColumn("file", width="medium",
                                                help="File name (archived files: archive/folder/name)."),
            "format": st.column_config.TextColumn("format"),
            "log-risk": st.column_config.NumberColumn(
                "log-risk", format="%+.3f", width="small", help="Cox log partial hazard of the model (higher = higher risk)."),
            "percentile": st.column_config.NumberColumn(
                "percentile", format="%.0f", width="small", help="Percent of the cohort with a lower predicted risk."),
            "risk group": st.column_config.TextColumn("risk group", help="Third of the cohort's predicted risk."),
            SURVIVAL_COLUMN: st.column_config.NumberColumn(
                SURVIVAL_COLUMN, format="%.1f",
                help="S(60 months): predicted probability of no heart failure by 60 months, from the synthetic "
                     "cohort's baseline hazard."),
            "quality flags": st.column_config.TextColumn("quality flags", width="medium", help="Flat, saturated or "
                                                         "implausibly large leads, from the record's quality checks."),
            "synthetic ECG": st.column_config.TextColumn("synthetic ECG", width="small", help="yes: the file says it is "
                                                         "simulated."),
        })
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    if not rows or not 0 <= rows[0] < len(shown):
        return None
    return str(shown["file"].iloc[rows[0]])


def compare_available() -> bool:
    """Whether the Compare page and its session module are installed (they come with another change)."""
    return (_ROOT / COMPARE_PAGE).is_file() and importlib.util.find_spec("hfviz.dashboard.ui.compare") is not None


def compare_labels() -> dict[str, str | None]:
    """The ECGs now on the Compare page's sides: ``{"A": label or None, "B": ...}``."""
    from hfviz.dashboard.ui.compare import COMPARE_SIDES, compare_side_label

    return {side: compare_side_label(side) for side in COMPARE_SIDES}


def open_from_batch(files: Sequence[Any] | None, label: str, target: str) -> bool:
    """Read the batch's ECG ``label`` again from the uploaded bytes and hand it on; whether it worked.

    Parameters
    ----------
    files : sequence of UploadedFile
        The uploader's files (must be those the table was scored from).
    label : str
        The ECG's ``file`` in the table.
    target : {"patient", "A", "B"}
        ``"patient"``: make it the session's current ECG and switch to the Patient page;
        ``"A"``/``"B"``: put it on that side of the Compare page (the Batch page stays).

    Failures (the uploaded files changed or are gone, the ECG cannot be read) store one sentence
    for :func:`batch_error` and return ``False``.
    """
    st.session_state[K_BATCH_ERROR] = None
    pairs = _pairs(files)
    if not pairs or _signature(pairs) != st.session_state.get(K_BATCH_SIG):
        st.session_state[K_BATCH_ERROR] = (f"{label} cannot be opened: the files this table was scored from are no "
                                           "longer uploaded here; upload them again (the table is kept).")
        return False
    ecg = ecg_files(expand_batch_upload(pairs).files, label)
    del pairs
    if ecg is None:
        st.session_state[K_BATCH_ERROR] = f"{label} is not among the uploaded files any more."
        return False
    try:
        prepared = prepare_source(ecg)
    except HfvizError as exc:
        st.session_state[K_BATCH_ERROR] = str(exc)
        return False
    token = source_signature(ecg)
    if target == "patient":
        set_ecg(prepared, label, token)
        st.switch_page(PATIENT_PAGE)
    from hfviz.dashboard.ui.compare import set_side

    set_side(target, prepared, label, token)
    return True
