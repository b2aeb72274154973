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

import streamlit as st

from hfviz.dashboard.settings import MODELS_DIR_ENV, configure_torch, models_dir  # noqa: F401 - tests set ui.MODELS_DIR_ENV
from hfviz.dashboard.footprint import release_free_memory
from hfviz.dashboard.session_limits import (  # noqa: F401 - K_IN_FLIGHT, MAX_IN_FLIGHT_PER_SESSION: tests
    K_IN_FLIGHT, MAX_IN_FLIGHT_PER_SESSION, check_shared_model, in_flight_slot)
from hfviz.dashboard.sources import EXAMPLE_PREFIX, is_synthetic_ecg, read_example, source_signature
from hfviz.dashboard.uploads import unsupported_format_sentence, upload_problem
from hfviz.errors import HfvizError
from hfviz.risk.assess import prepare_source
from hfviz.risk.groups import COHORTS

log = logging.getLogger("hfviz.ui")

#: Browser-tab title and icon of every page. The icon is a local PNG: an emoji or material icon
#: as ``page_icon`` makes the browser fetch the favicon from a CDN (no requests leave the app's host).
PAGE_TITLE = "hfviz — heart-failure risk from a 12-lead ECG"
PAGE_ICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")

# --- session-state keys ("page.widget") ------------------------------------------------------
K_COHORT = "sidebar.cohort"
K_ECG = "patient.ecg"  # PreparedECG or None
K_ECG_LABEL = "patient.ecg_label"  # what the ECG is called on screen (file or example name)
K_ECG_TOKEN = "patient.ecg_token"  # sha256 of the source bytes: keys the per-session caches
K_ECG_ERROR = "patient.error"  # last loading error sentence, or None
K_UPLOAD = "patient.upload"  # the file_uploader widget
K_UPLOAD_SEEN = "patient.upload_seen"  # ids of the uploader's files already handled (each new choice is one upload)
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


def current_cohort() -> str:
    """The cohort chosen in the sidebar (``"mi"`` or ``"hyp"``)."""
    return st.session_state.get(K_COHORT, "mi")


def cohort_label(cohort: str | None = None, model: Any = None) -> str:
    """e.g. ``"MI-like cohort (synthetic)"`` — synthetic unless the model card says otherwise."""
    from hfviz.risk.assess import model_is_synthetic
    from hfviz.risk.groups import cohort_label as _label

    cohort = cohort or current_cohort()
    return _label(cohort, synthetic=True if model is None else model_is_synthetic(model))


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


# --- loading an ECG -------------------------------------------------------------------------
def set_ecg(prepared: Any, label: str, token: str) -> None:
    """Make ``prepared`` the session's current ECG (clears the previous one's cached results)."""
    st.session_state[K_ECG] = prepared
    st.session_state[K_ECG_LABEL] = label
    st.session_state[K_ECG_TOKEN] = token
    st.session_state[K_ECG_ERROR] = None
    st.session_state[K_INTERP_CACHE] = {}
    st.session_state[K_FIG_CACHE] = {}
    release_free_memory()  # the previous ECG's figures and attributions are garbage now


def keep_ecg_with_error(error: str) -> None:
    """A load failed: keep the current ECG (if any) on screen and remember the sentence to show."""
    st.session_state[K_ECG_ERROR] = error


def clear_ecg(error: str | None = None) -> None:
    """Forget the current ECG (and remember why, to show it)."""
    st.session_state[K_ECG] = None
    st.session_state[K_ECG_LABEL] = None
    st.session_state[K_ECG_TOKEN] = None
    st.session_state[K_ECG_ERROR] = error
    st.session_state[K_INTERP_CACHE] = {}
    st.session_state[K_FIG_CACHE] = {}


def _file_id(f: Any) -> Any:
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
    """
    files = list(files or [])
    seen = st.session_state.get(K_UPLOAD_SEEN, frozenset())
    new = [f for f in files if _file_id(f) not in seen]
    st.session_state[K_UPLOAD_SEEN] = frozenset(_file_id(f) for f in files)
    if not new:
        return
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


def require_ecg() -> Any:
    """The current ECG, or an explanation with a link to the Patient page and ``st.stop()``."""
    prepared = current_ecg()
    if prepared is None:
        st.info("No ECG loaded yet. Upload one or pick a bundled example on the Patient page.")
        with contextlib.suppress(Exception):
            st.page_link("pages/1_Patient.py", label="Go to the Patient page", icon=":material/upload_file:")
        st.stop()
    return prepared


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


def notice() -> None:
    """The synthetic-data / not-for-clinical-use notice shown at the top of pages."""
    st.caption(":warning: Research software. The shipped model is trained on **synthetic** ECGs; "
               "its numbers are not real patients' risks. Not a medical device.")


# --- cached pure computations on the shipped model (no patient data) ------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _cohort_km(cohort: str, directory: str | None):
    from hfviz.risk.cohort import km_table

    p = _load_model(cohort, directory).cohort_predictions
    return km_table(p["time_months"], p["event"])


def cohort_km(cohort: str):
    """Kaplan–Meier table (with 95 % CI) of a shipped model's held-out cohort."""
    return _cohort_km(cohort, models_dir())


# --- per-session results -------------------------------------------------------------------------
#: Attributions kept per session (4 methods x 2 baselines); the oldest goes first. Each is ~30 kB.
_MAX_CACHED_ATTRIBUTIONS = 8


def _compute_attribution(model: Any, prepared: Any, *, method: str, baseline: str, n_steps: int) -> Any:
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
            result = _compute_attribution(model, prepared, method=method, baseline=baseline, n_steps=n_steps)
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
