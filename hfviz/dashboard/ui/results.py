"""Per-session results of the current ECG: attributions, model output and cached figures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from hfviz.dashboard.footprint import release_free_memory
from hfviz.dashboard.session_limits import check_shared_model, in_flight_slot
from hfviz.dashboard.ui.models import current_cohort
from hfviz.dashboard.ui.state import K_ECG_TOKEN, K_FIG_CACHE, K_INTERP_CACHE
from hfviz.dashboard.ui.widgets import guard
from hfviz.errors import HfvizError

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


def model_reading(prepared: Any, k: int = 5) -> tuple[list, str | None]:
    """What the model reads in the current ECG: its ``k`` closest statements (:class:`~hfviz.risk.statements.StatementScore`).

    Returns ``([], reason)`` when the statement reader cannot be used. One forward pass of the
    shared reader (no hooks, no gradients), kept per session and ECG.
    """
    from hfviz.dashboard.ui.models import get_statement_reader

    reader = get_statement_reader()
    if reader is None:
        return [], "The statement reader (models/reader.safetensors) is missing or damaged; run `python -m hfviz build-reader`."
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


