"""What one dashboard session holds: measured, bounded, and released when another ECG is loaded.

An ``AppTest`` session uploads a SYNTHETIC ECG on the Patient page, computes attributions on the
Interpretability page, then uploads a second ECG. The session's footprint
(:func:`hfviz.dashboard.ui.session_footprint`, bytes per session-state key) must be a few MB,
hold nothing of the first ECG after the second is loaded, keep at most the capped number of
attributions, and refuse a second heavy computation while one is in flight.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from test_fuzz_readers import _csv_bytes, synthetic_ecg

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
LEADS12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: Generous bound on one session's own data (measured: ~2.6 MB with four methods and eight figures).
MAX_SESSION_MB = 8.0


def _upload(k: int) -> list[tuple[str, bytes, str]]:
    x = synthetic_ecg(seconds=10.0, hr_bpm=58 + 9 * k) * (0.8 + 0.1 * k)
    return [(f"synthetic_mem{k}.csv", _csv_bytes(x, LEADS12, time_col=500.0), "text/csv")]


def _footprint_of(at) -> dict[str, int]:
    from hfviz.dashboard.footprint import footprint

    return footprint({k: at.session_state[k] for k in at.session_state._state.filtered_state})


@pytest.fixture()
def patient():
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from hfviz.dashboard import ui

    at = AppTest.from_file(str(ROOT / "pages/1_Patient.py"), default_timeout=300)
    at.run()
    at.file_uploader(key=ui.K_UPLOAD).set_value(_upload(0)).run()
    assert not at.exception and at.session_state[ui.K_ECG] is not None
    return at


def _interpretability(at):
    from streamlit.testing.v1 import AppTest

    from hfviz.dashboard import ui

    it = AppTest.from_file(str(ROOT / "pages/2_Interpretability.py"), default_timeout=300)
    for key in (ui.K_ECG, ui.K_ECG_LABEL, ui.K_ECG_TOKEN, ui.K_FIG_CACHE, ui.K_INTERP_CACHE):
        it.session_state[key] = at.session_state[key]
    return it


def test_session_footprint_is_measured_bounded_and_released_for_a_new_ecg(patient):
    from hfviz.dashboard import ui

    it = _interpretability(patient)
    it.run()
    for method in ("saliency", "occlusion"):
        it.radio(key="interp.method").set_value(method).run()
    assert not it.exception and not it.error
    first_token = it.session_state[ui.K_ECG_TOKEN]
    full = _footprint_of(it)
    assert full["total"] > it.session_state[ui.K_ECG].model_input.nbytes  # it measures something real
    assert full["total"] < MAX_SESSION_MB * 1e6, full
    assert len(it.session_state[ui.K_INTERP_CACHE]) == 3

    it.session_state[ui.K_UPLOAD_SEEN] = patient.session_state[ui.K_UPLOAD_SEEN]
    # the second ECG arrives through the Patient page of the same session state
    patient.session_state[ui.K_FIG_CACHE] = it.session_state[ui.K_FIG_CACHE]
    patient.session_state[ui.K_INTERP_CACHE] = it.session_state[ui.K_INTERP_CACHE]
    patient.file_uploader(key=ui.K_UPLOAD).set_value(_upload(1)).run()
    assert not patient.exception
    assert patient.session_state[ui.K_ECG_TOKEN] != first_token
    assert patient.session_state[ui.K_INTERP_CACHE] == {}  # the first ECG's attributions are gone
    assert all(k[0] != first_token for k in patient.session_state[ui.K_FIG_CACHE])
    after = _footprint_of(patient)
    assert after["total"] < full["total"], (after["total"], full["total"])


def test_at_most_the_capped_number_of_attributions_is_kept(patient):
    from hfviz.dashboard import ui

    it = _interpretability(patient)
    it.run()
    [oldest] = it.session_state[ui.K_INTERP_CACHE]
    for steps in (16, 32, 128, 256):
        it.select_slider(key="interp.steps").set_value(steps).run()
    for method in ("saliency", "occlusion", "gradient_shap"):
        it.radio(key="interp.method").set_value(method).run()
    assert not it.exception and not it.error
    cache = it.session_state[ui.K_INTERP_CACHE]
    assert len(cache) == ui._MAX_CACHED_ATTRIBUTIONS  # 8 computed, none of them dropped yet
    it.radio(key="interp.method").set_value("integrated_gradients").run()  # 64 steps again: cached
    assert len(it.session_state[ui.K_INTERP_CACHE]) == ui._MAX_CACHED_ATTRIBUTIONS
    it.selectbox(key="interp.baseline").set_value("cohort_median").run()  # a ninth: the oldest goes
    cache = it.session_state[ui.K_INTERP_CACHE]
    assert len(cache) == ui._MAX_CACHED_ATTRIBUTIONS
    assert oldest not in cache and any(k[2] == "cohort_median" for k in cache)


def test_a_second_heavy_computation_of_one_session_is_refused_while_one_runs(patient):
    from hfviz.dashboard import ui

    it = _interpretability(patient)
    it.session_state[ui.K_IN_FLIGHT] = ui.MAX_IN_FLIGHT_PER_SESSION  # as if one were still computing
    it.run()
    assert [e.value for e in it.error] == [
        "This session is still computing another explanation; try again when it has finished."]
    assert it.session_state[ui.K_INTERP_CACHE] == {}
    assert it.session_state[ui.K_IN_FLIGHT] == ui.MAX_IN_FLIGHT_PER_SESSION  # not decremented by the refusal
    it.session_state[ui.K_IN_FLIGHT] = 0
    it.run()
    assert not it.error and len(it.session_state[ui.K_INTERP_CACHE]) == 1
    assert it.session_state[ui.K_IN_FLIGHT] == 0
    np.testing.assert_equal(next(iter(it.session_state[ui.K_INTERP_CACHE].values())).values.shape, (12, 608))


def test_footprint_counts_array_buffers_and_counts_a_shared_object_once():
    from hfviz.dashboard.footprint import footprint

    a = np.zeros(1000)  # 8000 bytes
    fp = footprint({"x": a, "y": [a, a], "z": {"k": np.ones((12, 608), np.float32)}})
    assert 8000 <= fp["x"] < 9000
    assert fp["y"] < 1000  # the same array again: already counted under "x"
    assert fp["z"] >= 12 * 608 * 4
    assert fp["total"] == fp["x"] + fp["y"] + fp["z"]


def test_freed_memory_is_given_back_and_arenas_capped_with_glibc():
    import platform

    from hfviz.dashboard.footprint import limit_malloc_arenas, release_free_memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim and mallopt are glibc functions")
    assert release_free_memory() is True
    assert limit_malloc_arenas(8) is True


def test_a_hook_found_on_the_shared_model_after_an_attribution_is_logged(patient, caplog):
    """The server's own guard (used by the four-user browser test through the server log) can fire."""
    from hfviz.dashboard import ui

    model = ui._load_model("mi", ui.models_dir())
    handle = model.net.register_forward_hook(lambda *a: None)  # as if something had leaked a hook
    try:
        it = _interpretability(patient)
        with caplog.at_level("ERROR", logger="hfviz.ui"):
            it.run()
    finally:
        handle.remove()
    assert "1 hooks left on the shared model after an attribution" in caplog.text
