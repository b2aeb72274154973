"""Widgets every page shares: page set-up, the sidebar, the error guard, notices."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import streamlit as st

from hfviz.dashboard.ui.ecg_session import current_ecg, current_ecg_label
from hfviz.dashboard.ui.state import K_COHORT, K_COMPACT, init_state
from hfviz.errors import HfvizError
from hfviz.risk.groups import COHORTS

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


