"""The only Streamlit-aware module of hfviz: cached model loader, session state, shared widgets.

Pages stay thin: they read widgets, call one function of the Streamlit-free library
(:mod:`hfviz.risk.assess`, :mod:`hfviz.risk.explain`, :mod:`hfviz.risk.cohort`,
:mod:`hfviz.dashboard.report`, the ``*_figures`` modules) or of this module, and render. This
module holds what every page shares and is the only place that reads ``st.session_state``:

* :func:`get_model` — the read-only :class:`~hfviz.risk.model.RiskModel` of a cohort, loaded once per
  process with ``st.cache_resource`` and shared by every session. Nothing writes to it;
  attributions run on private copies of it (see :mod:`hfviz.risk.model_copies`), at most one in
  flight per session (:mod:`hfviz.dashboard.session_limits`).
* :func:`init_state` — the session's keys, set once (``if key not in st.session_state``); keys are
  named ``"page.widget"``.
* :func:`sidebar` — the cohort selector (key ``"sidebar.cohort"``) and the current ECG, on every
  page.
* :func:`load_uploaded` / :func:`load_example` — uploaded bytes go straight from the browser to
  :func:`hfviz.ecg.io.read_ecg` as ``(name, bytes)`` pairs; nothing is written to disk.
* :func:`guard` — library errors become one ``st.error`` sentence, never a traceback.
* accessors of the session's data (:func:`current_ecg`, :func:`current_ecg_label`, …).

Sections, in import order: state (session keys), models (shared models, cohort analyses), ecg_session
(the current ECG), widgets (page set-up, sidebar, guard), results (attributions, per-session figure
cache), compare (the Compare page's two sides), batch (the Batch page), testing (scripted sessions).
Pages write ``ui.get_model()``.

Streamlit-free helpers it uses live in :mod:`hfviz.dashboard.sources` (bundled examples, upload
signatures) and :mod:`hfviz.dashboard.settings` (models folder, torch threads).

Per-patient data (the ECG, its risk and attributions) lives only in the session's own
``st.session_state``; no patient data goes into a process-wide cache, so sessions cannot see
each other's ECGs.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from hfviz.dashboard.batch_table import SURVIVAL_COLUMN, TABLE_COLUMNS, BatchResult, ecg_files, score_batch
from hfviz.dashboard.footprint import release_free_memory
from hfviz.dashboard.session_limits import (  # noqa: F401 - tests
    K_IN_FLIGHT,
    MAX_IN_FLIGHT_PER_SESSION,
    check_shared_model,
    in_flight_slot,
)
from hfviz.dashboard.settings import (
    MODELS_DIR_ENV,  # noqa: F401 - tests set ui.MODELS_DIR_ENV
    configure_torch,
    models_dir,
)
from hfviz.dashboard.sources import EXAMPLE_PREFIX, is_synthetic_ecg, read_example, source_signature
from hfviz.dashboard.uploads import expand_batch_upload, unsupported_format_sentence, upload_problem
from hfviz.dashboard.words import md_escape  # noqa: F401 - the Batch page writes ui.md_escape
from hfviz.errors import HfvizError
from hfviz.risk.assess import prepare_source
from hfviz.risk.groups import COHORTS

# ================================================================================================
# state: Session-state keys of the app (``"page.widget"``) and their defaults, set once per session.
# ================================================================================================
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


# ================================================================================================
# models: The shared, read-only risk models and cached analyses of their shipped cohorts (no patient data).
# ================================================================================================
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
    from hfviz.dashboard.validation import source_c_index, source_predictions
    from hfviz.risk.cohort import analyse

    model = _load_model(cohort, directory)
    df = source_predictions(model, which)
    s_h = model.predict_survival_function(df["log_risk"].to_numpy(float), [horizon])[:, 0]
    # the page shows the card's C-index when there is one: no bootstrap on 20,000 subjects per control change
    n_boot = 0 if source_c_index(model, which) is not None else 200
    return analyse(df, scheme=scheme, top_k_percent=top_k, horizon_months=horizon, survival_at_horizon=s_h,
                   n_boot=n_boot)


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


# ================================================================================================
# ecg_session: The session's current ECG: loading uploads and examples (in memory) and reading it back.
# ================================================================================================
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


# ================================================================================================
# widgets: Widgets every page shares: page set-up, the sidebar, the error guard, notices.
# ================================================================================================
log = logging.getLogger("hfviz.ui")

#: Browser-tab title and icon of every page. The icon is a local PNG: an emoji or material icon
#: as ``page_icon`` makes the browser fetch the favicon from a CDN (no requests leave the app's host).
PAGE_TITLE = "hfviz — heart-failure risk from a 12-lead ECG"
PAGE_ICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")


#: On a narrow screen (a phone, ~390 px) plotly's tool bar would lie over the figures' titles, which
#: use the whole width there: it is hidden (zoom stays: drag to zoom, double-tap to reset).
NARROW_SCREEN_CSS = """<style>
@media (max-width: 640px) { [data-testid="stPlotlyChart"] .modebar-container { display: none !important; } }
</style>"""


# --- shared widgets -----------------------------------------------------------------------------
def page_setup(*, fill_status: bool = True) -> Any:
    """Start of every page: session state, then the shared sidebar.

    Every page (and the home page) calls this first, rather than ``app.py`` drawing the
    sidebar once: ``AppTest`` runs a file of ``pages/`` on its own (legacy pages-folder mode),
    while ``streamlit run app.py`` runs it through ``st.navigation``; both then get the same
    sidebar exactly once per run.

    Parameters
    ----------
    fill_status : bool
        Write the current ECG's name into the sidebar now; a page that may load another ECG
        passes ``False`` and calls :func:`sidebar_status` with the returned slot afterwards.

    Returns
    -------
    The sidebar slot for :func:`sidebar_status`.
    """
    # A page opened by its own URL on a fresh server runs in legacy pages-folder mode, without
    # app.py: repeat the page config so every page gets the wide layout the ECG paper needs.
    st.set_page_config(page_title=PAGE_TITLE, page_icon=PAGE_ICON, layout="wide")
    st.html(NARROW_SCREEN_CSS)  # style only: Streamlit adds it to the page without an element
    init_state()
    slot = sidebar()
    if fill_status:
        sidebar_status(slot)
    return slot


def sidebar() -> Any:
    """Cohort selector (kept across pages); returns a sidebar slot for :func:`sidebar_status`."""
    # Re-assigning the key keeps the widget's value when the page (and with it the widget's
    # identity) changes; Streamlit would otherwise drop it as a stale widget.
    st.session_state[K_COHORT] = st.session_state.get(K_COHORT, "mi")
    st.session_state[K_COMPACT] = st.session_state.get(K_COMPACT, _phone_browser())
    with st.sidebar:
        st.selectbox("Cohort", options=list(COHORTS), key=K_COHORT,
                     format_func=lambda c: f"{COHORTS[c]} (synthetic)",
                     help="Risk percentiles, groups and Kaplan–Meier curves refer to this cohort's model.")
        slot = st.empty()
        st.toggle("Phone layout", key=K_COMPACT,
                  help="Stacks the lead panels two per row and sizes the ECG for a narrow screen. On by default "
                       "when the browser says it is a phone (the server cannot see the screen width).")
        st.caption(":warning: Synthetic-data research model. Not for clinical use.")
    return slot


def _phone_browser() -> bool:
    """Whether the browser calls itself a phone (``Mobi`` in its User-Agent, as MDN recommends)."""
    try:
        return "Mobi" in (st.context.headers.get("User-Agent") or "")
    except Exception:  # noqa: BLE001 - no request headers (bare mode, tests): desktop
        return False


def compact_layout() -> bool:
    """Whether the session wants the phone layout (sidebar toggle :data:`K_COMPACT`)."""
    return bool(st.session_state.get(K_COMPACT, False))


def sidebar_status(slot: Any) -> None:
    """Fill ``slot`` with the current ECG's name (called after the page ran, so it is up to date)."""
    if current_ecg() is not None:
        slot.caption(f"Current ECG: **{current_ecg_label()}**")
    else:
        slot.caption("No ECG loaded — open the Patient page.")


@contextlib.contextmanager
def guard(what: str = "This step") -> Iterator[None]:
    """Show library errors as one ``st.error`` sentence; anything unexpected as a short notice.

    Streamlit's own control flow (``st.stop``, ``st.rerun``) derives from ``BaseException`` and
    passes through untouched.
    """
    try:
        yield
    except HfvizError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - never a traceback on screen
        # the log gets the type and the code location only: exception messages can quote file
        # contents or metadata (patient data must not reach the logs)
        where = "".join(traceback.format_tb(exc.__traceback__, limit=-3)).strip()
        log.error("unexpected %s in %s\n%s", type(exc).__name__, what, where)
        st.error(f"{what} failed unexpectedly ({type(exc).__name__}). The details are in the server log.")



def require_ecg() -> Any:
    """The current ECG, or an explanation with a link to the Patient page and ``st.stop()``."""
    prepared = current_ecg()
    if prepared is None:
        st.info("No ECG loaded yet. Upload one or pick a bundled example on the Patient page.")
        with contextlib.suppress(Exception):
            st.page_link("pages/1_Patient.py", label="Go to the Patient page", icon=":material/upload_file:")
        st.stop()
    return prepared



def notice() -> None:
    """The synthetic-data / not-for-clinical-use notice shown at the top of pages."""
    st.caption(":warning: Research software. The shipped model is trained on **synthetic** ECGs; "
               "its numbers are not real patients' risks. Not a medical device.")


# ================================================================================================
# results: Per-session results of the current ECG: attributions, model output and cached figures.
# ================================================================================================
# --- per-session results -------------------------------------------------------------------------
#: Attributions kept per session (4 methods x 2 baselines); the oldest goes first. Each is ~30 kB.
_MAX_CACHED_ATTRIBUTIONS = 8


def compute_attribution(model: Any, prepared: Any, *, method: str, baseline: str, n_steps: int) -> Any:
    """One attribution, with a visible "queued" notice while other users' explanations hold every slot."""
    from hfviz.risk.explain import attribute, attribution_load

    load = attribution_load()
    note = None
    if load["computing"] >= load["slots"]:
        note = st.empty()
        note.caption(f":hourglass: Queued: {load['computing']} explanations of other users are computing "
                     f"({load['waiting']} waiting); yours starts when a core is free.")
    with in_flight_slot(st.session_state) as ok:
        if not ok:
            raise HfvizError("This session is still computing another explanation; try again when it has finished.")
        try:
            return attribute(model, prepared.model_input, method=method, baseline=baseline, n_steps=int(n_steps),
                             cohort_beats=getattr(model, "cohort_beats", None))
        finally:
            if note is not None:
                note.empty()
            check_shared_model(model)
            release_free_memory()


def attributions(model: Any, prepared: Any, *, baseline: str, n_steps: int, methods: Sequence[str]) -> dict:
    """Attributions of the current ECG for ``methods``, cached in this session only.

    Each result is keyed by (ECG, cohort, baseline, steps, method) and computed the first time
    it is asked for; at most :data:`_MAX_CACHED_ATTRIBUTIONS` are kept (oldest dropped first)
    and all go when another ECG is loaded. Never put in a process-wide cache: it is patient data.
    """
    cache = st.session_state.setdefault(K_INTERP_CACHE, {})
    base_key = _session_key(baseline, int(n_steps))
    out = {}
    for method in methods:
        key = (*base_key, method)
        if key not in cache:
            result = compute_attribution(model, prepared, method=method, baseline=baseline, n_steps=n_steps)
            while len(cache) >= _MAX_CACHED_ATTRIBUTIONS:
                cache.pop(next(iter(cache)))
            cache[key] = result
        out[method] = cache[key]
    return out


def session_footprint() -> dict[str, int]:
    """Bytes this session holds, per session-state key and ``"total"`` (see :mod:`hfviz.dashboard.footprint`).

    The shared model is not included (sessions hold no reference to it); widget values are.
    """
    from hfviz.dashboard.footprint import footprint

    return footprint({k: st.session_state[k] for k in list(st.session_state.keys())})



# --- per-session figure cache and results --------------------------------------------------------
_MAX_CACHED_FIGURES = 24


def _session_key(*parts: Any) -> tuple:
    """(ECG token, cohort, *parts): what a per-session cached result depends on."""
    return (st.session_state.get(K_ECG_TOKEN), current_cohort(), *parts)


def session_cached(key: tuple, build: Callable[[], Any]) -> Any:
    """The figure ``build()`` returns, kept in this session per (ECG, cohort, ``key``).

    ``key`` holds everything else the figure depends on (method, baseline, steps, options);
    switching back to a view reuses the figure instead of building it again.
    """
    cache = st.session_state.setdefault(K_FIG_CACHE, {})
    full = _session_key(*key)
    if full not in cache:
        if len(cache) >= _MAX_CACHED_FIGURES:
            cache.pop(next(iter(cache)))
        cache[full] = build()
    return cache[full]


def model_output(model: Any, prepared: Any) -> Any:
    """The model's forward pass on the current ECG (attention maps), computed once per session and ECG."""
    return session_cached(("forward",), lambda: model.forward(prepared.model_input))


#: Said where the statements would be when the reader's files are unusable.
READER_MISSING = ("The statement reader (models/reader.safetensors) is missing or damaged; run "
                  "`python -m hfviz build-reader`.")


def model_reading(prepared: Any, k: int = 5) -> tuple[list, str | None]:
    """What the model reads in the current ECG: its ``k`` closest statements (:class:`~hfviz.risk.statements.StatementScore`).

    Returns ``([], reason)`` when the statement reader cannot be used. One forward pass of the
    shared reader (no hooks, no gradients), kept per session and ECG.
    """

    reader = get_statement_reader()
    if reader is None:
        return [], READER_MISSING
    return session_cached(("statements", k), lambda: reader.top(prepared.model_input, k)), None


def computed_attributions() -> dict:
    """The attributions of the current ECG computed so far in this session: method -> the latest result."""
    token, cohort = st.session_state.get(K_ECG_TOKEN), current_cohort()
    out = {}
    for key, attr in st.session_state.get(K_INTERP_CACHE, {}).items():
        if key[0] == token and key[1] == cohort:
            out[key[-1]] = attr
    return out


def attributions_with_progress(model: Any, prepared: Any, *, baseline: str, n_steps: int,
                               methods: Sequence[str]) -> dict:
    """:func:`attributions` one method at a time under a progress bar naming the method being computed."""
    from hfviz.risk.explain import METHODS

    out = {}
    bar = None
    for k, method in enumerate(methods):
        key = _session_key(baseline, int(n_steps), method)
        if key not in st.session_state.get(K_INTERP_CACHE, {}) and bar is None:
            bar = st.progress(0.0)
        if bar is not None:
            bar.progress(k / len(methods), text=f"Computing {METHODS.get(method, method)} ({k + 1} of {len(methods)})…")
        with guard("Computing attributions"):
            out.update(attributions(model, prepared, baseline=baseline, n_steps=n_steps, methods=[method]))
    if bar is not None:
        bar.empty()
    return out


# ================================================================================================
# compare: The Compare page's two ECGs (sides "A" and "B") and their comparison, kept in the session.
# ================================================================================================
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
_MAX_COMPARE_FIGURES = 6


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


def set_compare_side(side: str, prepared: Any, label: str, token: str) -> None:
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


def clear_compare_side(side: str) -> None:
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
    set_compare_side(side, prepared, label, sig)


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
    set_compare_side(side, prepared, current_ecg_label() or "Patient page ECG", st.session_state.get(K_ECG_TOKEN) or "")
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
    return _cached("figure", tokens, key, build, _MAX_COMPARE_FIGURES)


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


# ================================================================================================
# batch: The Batch page's session: many uploaded ECGs scored into one small table, and one of them opened elsewhere.
# ================================================================================================
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
_ROOT = Path(__file__).resolve().parents[2]


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
    """Whether the Compare page is installed next to the Batch page."""
    return (_ROOT / COMPARE_PAGE).is_file()


def compare_labels() -> dict[str, str | None]:
    """The ECGs now on the Compare page's sides: ``{"A": label or None, "B": ...}``."""

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

    set_compare_side(target, prepared, label, token)
    return True


# ================================================================================================
# testing: A scripted app session for benchmarks (Streamlit's ``AppTest``).
# ================================================================================================
def scripted_session(root: Path, upload: Sequence[tuple[str, bytes]]) -> Any:
    """A scripted app session (``streamlit.testing.v1.AppTest``) with ``upload`` loaded on the Patient page.

    For benchmarks and checks that drive the app without a browser; the caller switches pages and
    times them (``at.switch_page(...).run()``), so Streamlit stays imported in this module only.

    Parameters
    ----------
    root : Path
        Repository root holding ``app.py`` and ``pages/``.
    upload : sequence of (str, bytes)
        The ECG file(s) to upload.
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(root / "app.py"), default_timeout=120).run()
    at.switch_page("pages/1_Patient.py").run()
    at.file_uploader(key=K_UPLOAD).set_value([(n, b, "application/octet-stream") for n, b in upload]).run()
    return at
