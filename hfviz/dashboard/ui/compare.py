"""The Compare page's two ECGs (sides "A" and "B") and their comparison, kept in the session.

Each side has its own slot — prepared ECG, on-screen name, token (sha256 of the source bytes) and
the sentence of its last failed load — so a bad file on one side leaves the other side, and
its own previous ECG, loaded. Uploads are read in memory exactly as on the Patient page
(:func:`hfviz.risk.assess.prepare_source`, :func:`hfviz.dashboard.uploads.upload_problem`,
:func:`~hfviz.dashboard.uploads.unsupported_format_sentence`).

Results are per session only (patient data): the risk change is cheap and computed on every run
from a small cache; attributions are computed on demand, one side at a time under a progress
bar, and kept per (token, cohort, method, baseline, steps) — at most
:data:`_MAX_CACHED_SIDE_ATTRIBUTIONS` of them, and only for the ECGs now loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from hfviz.dashboard.footprint import release_free_memory
from hfviz.dashboard.sources import EXAMPLE_PREFIX, is_synthetic_ecg, read_example, source_signature
from hfviz.dashboard.ui.ecg_session import current_ecg, current_ecg_label, file_id
from hfviz.dashboard.ui.models import current_cohort
from hfviz.dashboard.ui.results import compute_attribution
from hfviz.dashboard.ui.state import K_ECG_TOKEN
from hfviz.dashboard.ui.widgets import guard
from hfviz.dashboard.uploads import unsupported_format_sentence, upload_problem
from hfviz.errors import HfvizError
from hfviz.risk.assess import prepare_source

#: The two sides of the comparison; every change is B − A.
COMPARE_SIDES: tuple[str, str] = ("A", "B")
#: Session key of the comparison's cached results: {key tuple: RiskChange or Attribution or figure}.
K_COMPARE_CACHE = "compare.cache"
#: Widget keys of the attribution set-up shared by both sides.
K_COMPARE_METHOD = "compare.method"
K_COMPARE_BASELINE = "compare.baseline"
K_COMPARE_STEPS = "compare.steps"
#: Attributions kept (per side and set-up, ~30 kB each); figures kept.
_MAX_CACHED_SIDE_ATTRIBUTIONS = 4
_MAX_CACHED_FIGURES = 6


def side_key(side: str, what: str) -> str:
    """Session key of one side's slot or widget, e.g. ``side_key("A", "ecg") == "compare.A.ecg"``."""
    if side not in COMPARE_SIDES:
        raise ValueError(f"side must be one of {COMPARE_SIDES}, got {side!r}")
    return f"compare.{side}.{what}"


# --- the two slots --------------------------------------------------------------------------------
def init_compare_state() -> None:
    """Set the Compare page's session keys once per session (both sides empty, no cached results)."""
    for side in COMPARE_SIDES:
        for what in ("ecg", "label", "token", "error"):
            st.session_state.setdefault(side_key(side, what), None)
    st.session_state.setdefault(K_COMPARE_CACHE, {})


def _prune() -> None:
    """Drop cached results of ECGs no longer on either side."""
    tokens = {st.session_state.get(side_key(s, "token")) for s in COMPARE_SIDES}
    cache = st.session_state.get(K_COMPARE_CACHE, {})
    for key in [k for k in cache if not set(k[1]) <= tokens]:
        cache.pop(key)


def set_side(side: str, prepared: Any, label: str, token: str) -> None:
    """Put ``prepared`` on ``side`` ("A" or "B"), replacing its ECG; clears the side's error.

    Parameters
    ----------
    side : str
        ``"A"`` or ``"B"``.
    prepared : PreparedECG
        The ECG.
    label : str
        Its name on screen (file name, or ``EXAMPLE_PREFIX + name`` for a bundled example).
    token : str
        sha256 of its source bytes (:func:`hfviz.dashboard.sources.source_signature`); keys the caches.
    """
    st.session_state[side_key(side, "ecg")] = prepared
    st.session_state[side_key(side, "label")] = label
    st.session_state[side_key(side, "token")] = token
    st.session_state[side_key(side, "error")] = None
    _prune()
    release_free_memory()


def clear_side(side: str) -> None:
    """Empty ``side`` (and drop what was cached for its ECG)."""
    for what in ("ecg", "label", "token", "error"):
        st.session_state[side_key(side, what)] = None
    _prune()


def compare_side(side: str) -> Any:
    """The :class:`~hfviz.ecg.prepare.PreparedECG` on ``side``, or ``None``."""
    return st.session_state.get(side_key(side, "ecg"))


def compare_side_label(side: str) -> str | None:
    """The on-screen name of the ECG on ``side``, or ``None``."""
    return st.session_state.get(side_key(side, "label"))


def compare_side_error(side: str) -> str | None:
    """The sentence of the last failed load on ``side`` (cleared by a successful one), or ``None``."""
    return st.session_state.get(side_key(side, "error"))


def compare_side_is_synthetic(side: str) -> bool:
    """Whether the ECG on ``side`` is synthetic (metadata, simulator or a bundled example)."""
    prepared = compare_side(side)
    return prepared is not None and is_synthetic_ecg(prepared, compare_side_label(side))


def _load_pairs(side: str, pairs: list[tuple[str, bytes]], label: str) -> None:
    sig = source_signature(pairs)
    if sig == st.session_state.get(side_key(side, "token")):
        st.session_state[side_key(side, "error")] = None
        return
    problem = upload_problem(pairs)
    if problem is not None:
        st.session_state[side_key(side, "error")] = problem
        return
    try:
        prepared = prepare_source(pairs)
    except HfvizError as exc:
        st.session_state[side_key(side, "error")] = unsupported_format_sentence(pairs, str(exc))
        return
    set_side(side, prepared, label, sig)


def load_side_upload(side: str, files: Sequence[Any] | None) -> None:
    """Read a new upload (a ``st.file_uploader`` value) onto ``side``; a bad one leaves the side's ECG loaded.

    As on the Patient page, only the files the uploader did not hold at the last run are the new
    upload (one ECG file, or a WFDB ``.hea`` with its signal files); bytes are never written to disk.
    """
    files = list(files or [])
    seen_key = side_key(side, "upload_seen")
    seen = st.session_state.get(seen_key, frozenset())
    new = [f for f in files if file_id(f) not in seen]
    st.session_state[seen_key] = frozenset(file_id(f) for f in files)
    if not new:
        return
    pairs = [(Path(f.name).name, f.getvalue()) for f in new]
    _load_pairs(side, pairs, " + ".join(name for name, _ in pairs))


def load_side_example(side: str, name: str, files: Sequence[Path]) -> None:
    """Read a bundled (synthetic) example onto ``side``."""
    _load_pairs(side, read_example(files), f"{EXAMPLE_PREFIX}{name}")


def on_example_chosen(side: str) -> None:
    """``on_change`` of a side's example selectbox (key ``side_key(side, "example")``): load the chosen example.

    Loading on the change only (not on every rerun while the choice stays in the box) means an
    ECG put on the side afterwards — the Patient page's, or one from the Batch table — is not
    replaced by the example still shown there.
    """
    from hfviz.dashboard.sources import find_examples

    name = st.session_state.get(side_key(side, "example"))
    files = find_examples().get(name) if name else None
    if files:
        try:
            load_side_example(side, name, files)
        except Exception as exc:  # noqa: BLE001 - a callback has no guard around it: never a traceback
            logging.getLogger("hfviz.ui").error("unexpected %s loading an example", type(exc).__name__)
            st.session_state[side_key(side, "error")] = f"{name} could not be loaded ({type(exc).__name__})."


def take_patient_ecg(side: str = "A") -> bool:
    """Put the Patient page's current ECG on ``side``; ``False`` when no ECG is loaded there."""
    prepared = current_ecg()
    if prepared is None:
        return False
    set_side(side, prepared, current_ecg_label() or "Patient page ECG", st.session_state.get(K_ECG_TOKEN) or "")
    return True


# --- results -----------------------------------------------------------------------------------------
def _tokens() -> tuple[str | None, str | None]:
    return tuple(st.session_state.get(side_key(s, "token")) for s in COMPARE_SIDES)  # type: ignore[return-value]


def _cached(kind: str, tokens: tuple, parts: tuple, build: Any, limit: int) -> Any:
    """``build()`` kept under (kind, tokens, cohort, *parts); at most ``limit`` entries of ``kind``."""
    cache = st.session_state.setdefault(K_COMPARE_CACHE, {})
    key = (kind, tokens, current_cohort(), *parts)
    if key not in cache:
        same = [k for k in cache if k[0] == kind]
        while len(same) >= limit:
            cache.pop(same.pop(0))
        cache[key] = build()
    return cache[key]


def compare_risk(model: Any) -> Any:
    """:func:`hfviz.risk.compare.risk_change` of the two sides (cached per pair and cohort), or ``None``."""
    from hfviz.risk.compare import risk_change

    a, b = compare_side("A"), compare_side("B")
    if a is None or b is None or model is None:
        return None
    return _cached("risk", _tokens(), (), lambda: risk_change(model, a, b), 2)


def _side_attribution(model: Any, side: str, method: str, baseline: str, n_steps: int) -> Any:
    prepared = compare_side(side)
    token = st.session_state.get(side_key(side, "token"))
    return _cached("attribution", (token,), (method, baseline, int(n_steps)), lambda: compute_attribution(
        model, prepared, method=method, baseline=baseline, n_steps=int(n_steps)), _MAX_CACHED_SIDE_ATTRIBUTIONS)


def _has_attribution(side: str, method: str, baseline: str, n_steps: int) -> bool:
    key = ("attribution", (st.session_state.get(side_key(side, "token")),), current_cohort(), method, baseline,
           int(n_steps))
    return key in st.session_state.get(K_COMPARE_CACHE, {})


def compare_attributions(model: Any, *, method: str, baseline: str, n_steps: int, compute: bool) -> Any:
    """The :class:`~hfviz.risk.compare.AttributionChange` of the two sides for one method and baseline, or ``None``.

    Parameters
    ----------
    model : RiskModel
        The shared model (attributions run on private copies).
    method, baseline, n_steps
        The one set-up used for both ECGs.
    compute : bool
        Compute what is missing (one side at a time, under a progress bar naming the side);
        ``False`` returns ``None`` unless both are cached already.
    """
    from hfviz.risk.compare import attribution_change_from
    from hfviz.risk.explain import METHODS

    a, b = compare_side("A"), compare_side("B")
    if a is None or b is None or model is None:
        return None
    missing = [s for s in COMPARE_SIDES if not _has_attribution(s, method, baseline, n_steps)]
    if missing and not compute:
        return None
    bar = st.progress(0.0) if missing else None
    out = {}
    with guard("Computing attributions"):
        for k, side in enumerate(COMPARE_SIDES):
            if bar is not None:
                bar.progress(k / 2, text=f"Computing {METHODS.get(method, method)} for ECG {side} ({k + 1} of 2)…")
            out[side] = _side_attribution(model, side, method, baseline, n_steps)
    if bar is not None:
        bar.empty()
    if len(out) < 2:
        return None
    return _cached("change", _tokens(), (method, baseline, int(n_steps)),
                   lambda: attribution_change_from(a, b, out["A"], out["B"]), 2)


def compare_result(model: Any) -> Any:
    """What the Compare page shows now as one :class:`~hfviz.risk.compare.Comparison`, or ``None``.

    Risk and measurements of the two sides, with the attributions of the chosen method and
    baseline when they have been computed (``attributions`` is ``None`` otherwise). For exports.
    """
    from hfviz.risk.compare import Comparison, measurement_changes
    from hfviz.risk.explain import DEFAULT_IG_STEPS

    risk = compare_risk(model)
    if risk is None:
        return None
    attrs = compare_attributions(model, method=st.session_state.get(K_COMPARE_METHOD) or "integrated_gradients",
                                 baseline=st.session_state.get(K_COMPARE_BASELINE) or "zeros",
                                 n_steps=int(st.session_state.get(K_COMPARE_STEPS) or DEFAULT_IG_STEPS), compute=False)
    return Comparison(risk=risk, attributions=attrs,
                      measurements=measurement_changes(compare_side("A").measurements, compare_side("B").measurements))


def compare_cached_figure(key: tuple, build: Any, *, side: str | None = None) -> Any:
    """A figure of the Compare page kept per (the ECGs it shows, cohort, ``key``); at most a few are kept.

    ``side``: the figure shows only that side's ECG (it is kept while that ECG stays loaded);
    default both.
    """
    tokens = (st.session_state.get(side_key(side, "token")),) if side else _tokens()
    return _cached("figure", tokens, key, build, _MAX_CACHED_FIGURES)


# --- the widgets of one side -------------------------------------------------------------------
def compare_side_panel(side: str) -> None:
    """One side of the Compare page: its own upload or bundled example, its error sentence, what was read.

    The upload goes through :func:`load_side_upload` (any supported format, in memory); an example
    is loaded when chosen (:func:`on_example_chosen`). A failed load shows one ``st.error`` sentence
    and leaves this side's previous ECG, and the other side, loaded.
    """
    from hfviz.dashboard.report import record_caption, record_summary
    from hfviz.dashboard.sources import find_examples

    st.subheader(f"ECG {side}")
    source = st.radio(f"Source of ECG {side}", ["Upload a file", "Bundled example"], horizontal=True,
                      key=side_key(side, "source"), label_visibility="collapsed")
    examples = find_examples() if source != "Upload a file" else {}
    if source == "Upload a file":
        files = st.file_uploader(
            f"ECG {side} — for WFDB choose the .hea and its signal file together", accept_multiple_files=True,
            key=side_key(side, "upload"),
            help="GE CardioSoft XML, GE MUSE XML, HL7 aECG, DICOM, Philips XML, SCP-ECG, CSV, NumPy or WFDB. "
                 "Files are read in memory, never stored.")
        with guard(f"Reading ECG {side}"):
            load_side_upload(side, files)
    elif examples:
        st.selectbox(f"Bundled example for ECG {side} (synthetic)", list(examples), index=None,
                     key=side_key(side, "example"), placeholder="Choose a synthetic example ECG",
                     on_change=on_example_chosen, args=(side,))
    else:
        st.info("No bundled examples found in examples/.")
    if compare_side_error(side):
        st.error(compare_side_error(side))
    prepared = compare_side(side)
    if prepared is None:
        st.info(f"No ECG {side} loaded yet.")
        return
    st.markdown(f"**{compare_side_label(side)}**")
    st.caption(record_caption(record_summary(prepared)) + (" · **synthetic**" if compare_side_is_synthetic(side) else ""))
