"""Limits on one dashboard session's heavy work, and the shared-model check (Streamlit-free).

:mod:`hfviz.dashboard.ui` passes its ``st.session_state`` in; everything here works on any
mutable mapping, so it is testable without Streamlit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

log = logging.getLogger("hfviz.ui")

#: Heavy computations (attributions) one session may have in flight at once.
MAX_IN_FLIGHT_PER_SESSION = 1
#: Session key: number of this session's heavy computations running now.
K_IN_FLIGHT = "session.in_flight"
_LOCK = threading.Lock()


@contextlib.contextmanager
def in_flight_slot(state: MutableMapping) -> Iterator[bool]:
    """Count one heavy computation of the session holding ``state``; yields ``False`` when it already has its cap.

    A refused computation changes nothing; an admitted one is uncounted on exit (also on error).
    """
    with _LOCK:
        busy = state.get(K_IN_FLIGHT, 0)
        ok = busy < MAX_IN_FLIGHT_PER_SESSION
        if ok:
            state[K_IN_FLIGHT] = busy + 1
    try:
        yield ok
    finally:
        if ok:
            with _LOCK:
                state[K_IN_FLIGHT] = max(0, state.get(K_IN_FLIGHT, 1) - 1)


def check_shared_model(model: Any) -> int:
    """Hooks found on the shared model (a module or an object with ``.net``); logs an error when there are any.

    :func:`hfviz.risk.explain.attribute` works on private copies, so this must always be 0.
    """
    from hfviz.risk.model_copies import hook_count_local

    left = hook_count_local(getattr(model, "net", model))
    if left:
        log.error("%d hooks left on the shared model after an attribution", left)
    return left
