"""The only Streamlit-aware module of hfviz: cached model loader, session state, shared widgets.

Pages stay thin: they read widgets, call the Streamlit-free library (``hfviz.io``,
``hfviz.preprocess``, ``hfviz.report``, ``hfviz.explain``, ``hfviz.cohort_analysis``, ``hfviz.plots``)
and render. This module holds what every page shares:

* :func:`get_model` — the read-only :class:`~hfviz.risk.RiskModel` of a cohort, loaded once per
  process with ``st.cache_resource`` and shared by every session. Nothing writes to it; the
  attribution code removes any hook it might leave (see :mod:`hfviz.explain`).
* :func:`init_state` — the session's keys, set once (``if key not in st.session_state``); keys are
  named ``"page.widget"``.
* :func:`sidebar` — the cohort selector (key ``"sidebar.cohort"``) and the current ECG, on every
  page.
* :func:`load_uploaded` / :func:`load_example` — uploaded bytes go straight from the browser to
  :func:`hfviz.io.read_ecg` as ``(name, bytes)`` pairs; nothing is written to disk.
* :func:`guard` — library errors become one ``st.error`` sentence, never a traceback.

Per-patient data (the ECG, its risk and attributions) lives only in the session's own
``st.session_state``; no patient data goes into a process-wide cache, so sessions cannot see
each other's ECGs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from hfviz.errors import HfvizError

log = logging.getLogger("hfviz.ui")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
#: Environment variable that points the app at another models folder (tests, researchers).
MODELS_DIR_ENV = "HFVIZ_MODELS_DIR"
#: Environment variable with the number of torch intra-op threads of the app process (default 1).
TORCH_THREADS_ENV = "HFVIZ_TORCH_THREADS"
COHORTS = {"mi": "MI-like", "hyp": "HYP-like"}
#: Start of the on-screen name of a bundled example ECG (every bundled example is synthetic).
EXAMPLE_PREFIX = "synthetic example: "

# --- session-state keys ("page.widget") ------------------------------------------------------
K_COHORT = "sidebar.cohort"
K_ECG = "patient.ecg"  # PreparedECG or None
K_ECG_LABEL = "patient.ecg_label"  # what the ECG is called on screen (file or example name)
K_ECG_TOKEN = "patient.ecg_token"  # sha256 of the source bytes: keys the per-session caches
K_ECG_ERROR = "patient.error"  # last loading error sentence, or None
K_UPLOAD = "patient.upload"  # the file_uploader widget
K_UPLOAD_SIG = "patient.upload_sig"  # signature of the upload that was last processed
K_EXAMPLE = "patient.example"  # the example selectbox widget
K_SOURCE = "patient.source"  # radio: upload or example
K_INTERP_CACHE = "interp.cache"  # {(token, cohort, baseline, steps, method): Attribution}
K_PRED_UPLOAD = "cohort.upload"  # the predictions CSV file_uploader
K_PRED_TABLE = "cohort.predictions"  # parsed uploaded predictions (DataFrame) or None
K_PRED_SIG = "cohort.predictions_sig"
K_PRED_ERROR = "cohort.predictions_error"

_DEFAULTS: dict[str, Any] = {
    K_COHORT: "mi",
    K_ECG: None,
    K_ECG_LABEL: None,
    K_ECG_TOKEN: None,
    K_ECG_ERROR: None,
    K_UPLOAD_SIG: None,
    K_INTERP_CACHE: {},
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
def models_dir() -> str | None:
    """Models folder: ``$HFVIZ_MODELS_DIR`` when set, else the repository's ``models/``."""
    return os.environ.get(MODELS_DIR_ENV) or None


def configure_torch() -> int:
    """Set the app process's torch intra-op threads (``$HFVIZ_TORCH_THREADS``, default 1).

    One thread per request: a server answers several sessions at once, and on 2 shared cores
    two OpenMP threads per request made Integrated Gradients 3-5x slower under load (measured:
    64 steps 2.0 s with 2 threads vs 0.7 s with 1 while other jobs ran).
    """
    import torch

    try:
        n = max(1, int(os.environ.get(TORCH_THREADS_ENV, "1")))
    except ValueError:
        n = 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@st.cache_resource(show_spinner="Loading the model (once per server)…", max_entries=8)
def _load_model(cohort: str, directory: str | None):
    from hfviz.risk import load_risk_model

    configure_torch()
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
    from hfviz.report import cohort_label as _label
    from hfviz.report import model_is_synthetic

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
    st.set_page_config(page_title="hfviz — heart-failure risk from a 12-lead ECG", layout="wide")
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
    with st.sidebar:
        st.selectbox("Cohort", options=list(COHORTS), key=K_COHORT,
                     format_func=lambda c: f"{COHORTS[c]} (synthetic)",
                     help="Risk percentiles, groups and Kaplan–Meier curves refer to this cohort's model.")
        slot = st.empty()
        st.caption(":warning: Synthetic-data research model. Not for clinical use.")
    return slot


def sidebar_status(slot: Any) -> None:
    """Fill ``slot`` with the current ECG's name (called after the page ran, so it is up to date)."""
    if st.session_state.get(K_ECG) is not None:
        slot.caption(f"Current ECG: **{st.session_state.get(K_ECG_LABEL)}**")
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
def _signature(pairs: Sequence[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for name, data in sorted(pairs):
        h.update(name.encode("utf-8", "replace") + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def set_ecg(prepared: Any, label: str, token: str) -> None:
    """Make ``prepared`` the session's current ECG (clears the previous one's cached results)."""
    st.session_state[K_ECG] = prepared
    st.session_state[K_ECG_LABEL] = label
    st.session_state[K_ECG_TOKEN] = token
    st.session_state[K_ECG_ERROR] = None
    st.session_state[K_INTERP_CACHE] = {}


def clear_ecg(error: str | None = None) -> None:
    """Forget the current ECG (and remember why, to show it)."""
    st.session_state[K_ECG] = None
    st.session_state[K_ECG_LABEL] = None
    st.session_state[K_ECG_TOKEN] = None
    st.session_state[K_ECG_ERROR] = error
    st.session_state[K_INTERP_CACHE] = {}


def read_and_prepare(source: Any):
    """``prepare(read_ecg(source))`` — the app's one path from files to a prepared ECG.

    Raises
    ------
    HfvizError
        Any problem with the input, as one sentence.
    """
    from hfviz.errors import ECGFormatError
    from hfviz.io import read_ecg
    from hfviz.preprocess import prepare

    record = read_ecg(source)
    try:
        return prepare(record)
    except HfvizError:
        raise
    except Exception as exc:  # noqa: BLE001 - a record the pipeline cannot handle is bad input
        raise ECGFormatError(f"{record.source_name}: the ECG could not be processed ({type(exc).__name__}).") from None


def load_uploaded(files: Sequence[Any] | None) -> None:
    """Read newly uploaded files (``st.file_uploader`` values) into the session.

    The bytes go to :func:`hfviz.io.read_ecg` as ``(name, bytes)`` pairs and are never written
    to disk. The same upload is processed once, however often the page reruns. A failure
    clears the current ECG and stores the error sentence for the page to show.
    """
    if not files:
        return
    pairs = [(Path(f.name).name, f.getvalue()) for f in files]
    sig = _signature(pairs)
    if sig == st.session_state.get(K_UPLOAD_SIG):
        return
    st.session_state[K_UPLOAD_SIG] = sig
    label = " + ".join(name for name, _ in pairs)
    try:
        prepared = read_and_prepare(pairs)
    except HfvizError as exc:
        clear_ecg(str(exc))
        return
    set_ecg(prepared, label, sig)


def find_examples(directory: Path = EXAMPLES_DIR) -> dict[str, list[Path]]:
    """Bundled example ECGs (all SYNTHETIC): display name -> the files to read together.

    A WFDB record is its ``.hea`` with the signal files that share its stem; every other
    supported file (``.csv``, ``.xml``, ``.dcm``, ``.npy``, ``.npz``) is one example, except a
    CSV twin of a WFDB record. Names carry the description from the folder's ``README.md``
    table (``| `stem` | description |``) when there is one.
    """
    d = Path(directory)
    if not d.is_dir():
        return {}
    described: dict[str, str] = {}
    readme = d / "README.md"
    if readme.is_file():
        for m in re.finditer(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|", readme.read_text(encoding="utf-8"), re.M):
            described[m.group(1)] = m.group(2).split(" (")[0].strip()

    def name(stem: str, kind: str) -> str:
        return f"{described[stem]} ({stem}, {kind})" if stem in described else f"{stem} ({kind})"

    out: dict[str, list[Path]] = {}
    for hea in sorted(d.glob("*.hea")):
        sig = [p for p in sorted(d.glob(hea.stem + ".*")) if p.suffix.lower() in (".dat", ".mat")]
        out[name(hea.stem, "WFDB")] = [hea, *sig]
    for ext, kind in ((".csv", "CSV"), (".xml", "XML"), (".dcm", "DICOM"), (".npy", "NumPy"), (".npz", "NumPy")):
        for p in sorted(d.glob(f"*{ext}")):
            if p.name.startswith(".") or (ext == ".csv" and (d / f"{p.stem}.hea").exists()):
                continue
            out.setdefault(name(p.stem, kind), [p])
    return out


def load_example(name: str, files: Sequence[Path]) -> None:
    """Read a bundled (synthetic) example into the session (errors as for uploads)."""
    pairs = [(p.name, p.read_bytes()) for p in files]
    sig = _signature(pairs)
    if sig == st.session_state.get(K_ECG_TOKEN):
        return
    try:
        prepared = read_and_prepare(pairs)
    except HfvizError as exc:
        clear_ecg(str(exc))
        return
    set_ecg(prepared, f"{EXAMPLE_PREFIX}{name}", sig)


def require_ecg() -> Any:
    """The current ECG, or an explanation with a link to the Patient page and ``st.stop()``."""
    prepared = st.session_state.get(K_ECG)
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


# --- cached pure computations on the shipped model (no patient data) ------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _cohort_km(cohort: str, directory: str | None):
    from hfviz.cohort_analysis import km_table

    p = _load_model(cohort, directory).cohort_predictions
    return km_table(p["time_months"], p["event"])


def cohort_km(cohort: str):
    """Kaplan–Meier table (with 95 % CI) of a shipped model's held-out cohort."""
    return _cohort_km(cohort, models_dir())


# --- per-session results -------------------------------------------------------------------------
_MAX_CACHED_ATTRIBUTIONS = 16


def attributions(model: Any, prepared: Any, *, baseline: str, n_steps: int, methods: Sequence[str]) -> dict:
    """Attributions of the current ECG for ``methods``, cached in this session only.

    Each result is keyed by (ECG, cohort, baseline, steps, method) and computed the first time
    it is asked for. Never put in a process-wide cache: it is patient data.
    """
    from hfviz.explain import attribute

    cache = st.session_state.setdefault(K_INTERP_CACHE, {})
    base_key = (st.session_state.get(K_ECG_TOKEN), getattr(model, "cohort", None), baseline, int(n_steps))
    out = {}
    for method in methods:
        key = (*base_key, method)
        if key not in cache:
            if len(cache) >= _MAX_CACHED_ATTRIBUTIONS:
                cache.clear()
            cache[key] = attribute(model, prepared.model_input, method=method, baseline=baseline,
                                   n_steps=int(n_steps), cohort_beats=getattr(model, "cohort_beats", None))
        out[method] = cache[key]
    return out
@st.cache_data(show_spinner="Analysing the cohort…", max_entries=32)
def _shipped_analysis(cohort: str, directory: str | None, scheme: str, top_k: float, horizon: float):
    from hfviz.cohort_analysis import analyse

    model = _load_model(cohort, directory)
    df = model.cohort_predictions
    s_h = model.predict_survival_function(df["log_risk"].to_numpy(float), [horizon])[:, 0]
    return analyse(df, scheme=scheme, top_k_percent=top_k, horizon_months=horizon, survival_at_horizon=s_h)


def shipped_analysis(cohort: str, *, scheme: str, top_k: float, horizon: float):
    """:func:`hfviz.cohort_analysis.analyse` of a shipped model's held-out predictions (cached per process)."""
    return _shipped_analysis(cohort, models_dir(), scheme, float(top_k), float(horizon))


def load_predictions_upload(file: Any) -> None:
    """Parse an uploaded predictions CSV into this session (errors kept for the page to show)."""
    from hfviz.cohort_analysis import read_predictions_csv

    if file is None:
        return
    data = file.getvalue()
    sig = _signature([(file.name, data)])
    if sig == st.session_state.get(K_PRED_SIG):
        return
    st.session_state[K_PRED_SIG] = sig
    try:
        st.session_state[K_PRED_TABLE] = read_predictions_csv(Path(file.name).name, data)
        st.session_state[K_PRED_ERROR] = None
    except HfvizError as exc:
        st.session_state[K_PRED_TABLE] = None
        st.session_state[K_PRED_ERROR] = str(exc)


def time_page_switches(root: Path, upload: list[tuple[str, bytes]], *, models_dir: str | None = None,
                       repeats: int = 5) -> dict[str, Any]:
    """Benchmark: time switching between the app's pages with an ECG loaded (``AppTest``, no browser).

    Lives here because it is the only ``hfviz`` module allowed to talk to Streamlit;
    :func:`hfviz.bench.bench_app` calls it.

    Parameters
    ----------
    root : Path
        Repository root holding ``app.py`` and ``pages/``.
    upload : list of (str, bytes)
        The ECG file(s) to upload on the Patient page first.
    models_dir : str, optional
        Models folder for the run (sets ``HFVIZ_MODELS_DIR`` for its duration).
    repeats : int
        Timed switches per page, after one untimed first visit that fills the caches.

    Returns
    -------
    dict
        ``page_switch_s`` (per page: median/min seconds), ``page_switch_max_median_s`` and
        ``app_exceptions`` (messages of any exception the pages raised; empty when clean).
    """
    from streamlit.testing.v1 import AppTest

    from hfviz.bench import time_call

    old = os.environ.get(MODELS_DIR_ENV)
    if models_dir:
        os.environ[MODELS_DIR_ENV] = models_dir
    try:
        at = AppTest.from_file(str(root / "app.py"), default_timeout=120).run()
        at.switch_page("pages/1_Patient.py").run()
        at.file_uploader(key=K_UPLOAD).set_value([(n, b, "application/octet-stream") for n, b in upload]).run()
        pages = sorted(p.name for p in (root / "pages").glob("*.py"))
        for p in pages:  # first visits: compute and cache what each page needs
            at.switch_page(f"pages/{p}").run()
        switch = {p: time_call(lambda p=p: at.switch_page(f"pages/{p}").run(), repeats=repeats, warmup=0)
                  for p in pages}
        return {"page_switch_s": switch,
                "page_switch_max_median_s": max(v["median_s"] for v in switch.values()),
                "app_exceptions": [str(e.value) for e in at.exception]}
    finally:
        if old is None:
            os.environ.pop(MODELS_DIR_ENV, None)
        else:
            os.environ[MODELS_DIR_ENV] = old
