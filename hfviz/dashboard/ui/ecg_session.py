"""The session's current ECG: loading uploads and examples (in memory) and reading it back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from hfviz.dashboard.footprint import release_free_memory
from hfviz.dashboard.sources import EXAMPLE_PREFIX, is_synthetic_ecg, read_example, source_signature
from hfviz.dashboard.ui.state import (
    K_ECG,
    K_ECG_ERROR,
    K_ECG_LABEL,
    K_ECG_TOKEN,
    K_FIG_CACHE,
    K_INTERP_CACHE,
    K_UPLOAD_ROUND,
    K_UPLOAD_SEEN,
    K_UPLOAD_SIG,
)
from hfviz.dashboard.uploads import unsupported_format_sentence, upload_problem
from hfviz.errors import HfvizError
from hfviz.risk.assess import prepare_source


# --- loading an ECG -------------------------------------------------------------------------
def _replace_ecg(prepared: Any, label: str | None, token: str | None, error: str | None) -> None:
    """The session's current ECG and its load error, with the previous ECG's cached results dropped."""
    st.session_state[K_ECG] = prepared
    st.session_state[K_ECG_LABEL] = label
    st.session_state[K_ECG_TOKEN] = token
    st.session_state[K_ECG_ERROR] = error
    st.session_state[K_INTERP_CACHE] = {}
    st.session_state[K_FIG_CACHE] = {}
    release_free_memory()  # the previous ECG's figures and attributions are garbage now


def set_ecg(prepared: Any, label: str, token: str) -> None:
    """Make ``prepared`` the session's current ECG (clears the previous one's cached results)."""
    _replace_ecg(prepared, label, token, None)


def keep_ecg_with_error(error: str) -> None:
    """A load failed: keep the current ECG (if any) on screen and remember the sentence to show."""
    st.session_state[K_ECG_ERROR] = error


def clear_ecg(error: str | None = None) -> None:
    """Forget the current ECG (and remember why, to show it)."""
    _replace_ecg(None, None, None, error)


#: How many uploads the Patient page has processed: each one gives the uploader a fresh identity,
#: so it lists only what the user chose next (``st.file_uploader`` otherwise keeps every file).


def uploader_identity() -> dict[str, Any]:
    """Keyword arguments that make the ECG ``st.file_uploader`` a new, empty widget after each processed upload.

    Streamlit resets a keyed uploader when its ``max_upload_size`` changes; it alternates
    between ``None`` (the server's ``maxUploadSize``) and that same number of MB, so the limit
    never changes while the widget key (``K_UPLOAD``, which tests address) stays the same.
    """
    if st.session_state.get(K_UPLOAD_ROUND, 0) % 2 == 0:
        return {"max_upload_size": None}
    return {"max_upload_size": int(st.get_option("server.maxUploadSize"))}


def file_id(f: Any) -> Any:
    """The uploader's id of one uploaded file (name and content hash where there is none)."""
    return getattr(f, "file_id", None) or (f.name, source_signature([(f.name, f.getvalue())]))


def load_uploaded(files: Sequence[Any] | None) -> None:
    """Read a new upload (the ``st.file_uploader`` value) into the session; it replaces the current ECG.

    The uploader keeps every file it was given, so only the files it did not hold at the last
    run are the new upload: what was chosen together in the file dialog (one ECG file, or a
    WFDB ``.hea`` with its signal files), never combined with earlier files. Files that cannot
    be one ECG, an unsupported format or an unreadable file leave the current ECG loaded and
    store one sentence for the page to show. The bytes go to :func:`hfviz.ecg.io.read_ecg` as
    ``(name, bytes)`` pairs and are never written to disk.

    Call it *before* drawing the uploader, with the uploader's value from the last run
    (``st.session_state.get(K_UPLOAD)``), and draw the uploader with :func:`uploader_identity`:
    after a new upload was handled (loaded or refused) the uploader drawn in the same run is a
    fresh widget that lists nothing, instead of every file chosen so far.
    """
    files = list(files or [])
    seen = st.session_state.get(K_UPLOAD_SEEN, frozenset())
    new = [f for f in files if file_id(f) not in seen]
    st.session_state[K_UPLOAD_SEEN] = frozenset(file_id(f) for f in files)
    if not new:
        return
    try:
        _load_new_upload(new)
    finally:  # loaded or refused: the uploader drawn after this is a new, empty one (see uploader_identity)
        st.session_state[K_UPLOAD_ROUND] = st.session_state.get(K_UPLOAD_ROUND, 0) + 1


def _load_new_upload(new: Sequence[Any]) -> None:
    """Read the files of one choice in the file dialog (see :func:`load_uploaded`)."""
    pairs = [(Path(f.name).name, f.getvalue()) for f in new]
    sig = source_signature(pairs)
    st.session_state[K_UPLOAD_SIG] = sig
    problem = upload_problem(pairs)
    if problem is not None:
        keep_ecg_with_error(problem)
        return
    try:
        prepared = prepare_source(pairs)
    except HfvizError as exc:
        keep_ecg_with_error(unsupported_format_sentence(pairs, str(exc)))
        return
    set_ecg(prepared, " + ".join(name for name, _ in pairs), sig)


def load_example(name: str, files: Sequence[Path]) -> None:
    """Read a bundled (synthetic) example into the session (errors as for uploads)."""
    pairs = read_example(files)
    sig = source_signature(pairs)
    if sig == st.session_state.get(K_ECG_TOKEN):
        return
    try:
        prepared = prepare_source(pairs)
    except HfvizError as exc:
        keep_ecg_with_error(str(exc))
        return
    set_ecg(prepared, f"{EXAMPLE_PREFIX}{name}", sig)



def current_ecg() -> Any:
    """The session's current :class:`~hfviz.ecg.prepare.PreparedECG`, or ``None``."""
    return st.session_state.get(K_ECG)


def current_ecg_label() -> str | None:
    """What the current ECG is called on screen (file or example name), or ``None``."""
    return st.session_state.get(K_ECG_LABEL)


def ecg_error() -> str | None:
    """The sentence of the last failed load (cleared by a successful one), or ``None``."""
    return st.session_state.get(K_ECG_ERROR)


def current_ecg_is_synthetic() -> bool:
    """Whether the current ECG is synthetic (metadata, simulator, or a bundled example)."""
    prepared = current_ecg()
    return prepared is not None and is_synthetic_ecg(prepared, current_ecg_label())


