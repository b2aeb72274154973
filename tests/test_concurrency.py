"""Concurrent users: own results per session, an untouched shared model, deterministic inference.

Ten ``AppTest`` sessions of the Patient and Interpretability pages run at the same time in
threads of one process -- as sessions do in one ``streamlit run`` server -- each uploading a
different ECG (two upload the same one). Each must show the log-risk of its own ECG, hold only
its own ECG in its session state, and get the same attributions as a single-threaded run. The
risk model is the one ``st.cache_resource`` object shared by all sessions; afterwards its
parameters and buffers are bit-identical (sha256 of the state dict), it is still in eval mode
with gradients off, and no forward, backward or tensor hook is left on any module.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import types
from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import pytest
import torch

from test_fuzz_readers import SAMPLES_DIR, _csv_bytes, synthetic_ecg
from test_model_integrity import write_tiny_model

torch.set_num_threads(1)  # 2 shared cores
ROOT = Path(__file__).resolve().parents[1]
PATIENT = "pages/1_Patient.py"
INTERP = "pages/2_Interpretability.py"
LEADS12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
N_SESSIONS = 10


def state_sha256(net: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def leftover_hooks(net: torch.nn.Module) -> list[str]:
    """Every hook still registered on a module, a parameter, or globally."""
    from torch.nn.modules import module as mod

    out = []
    for name, m in net.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            if getattr(m, attr, None):
                out.append(f"{name or 'net'}.{attr}")
    for name, p in net.named_parameters():
        if getattr(p, "_backward_hooks", None):
            out.append(f"{name}._backward_hooks")
        if getattr(p, "_post_accumulate_grad_hooks", None):
            out.append(f"{name}._post_accumulate_grad_hooks")
    for attr in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks"):
        if getattr(mod, attr, None):
            out.append(attr)
    return out


def uploads() -> list[tuple[str, list[tuple[str, bytes]]]]:
    """Distinct ECG uploads (SYNTHETIC CSVs at different rates and amplitudes, examples, real samples)."""
    ups = []
    for k in range(6):
        x = synthetic_ecg(seconds=10.0, hr_bpm=55 + 9 * k) * (0.7 + 0.12 * k)
        name = f"synthetic_user{k}.csv"
        ups.append((name, [(name, _csv_bytes(x, LEADS12, time_col=500.0))]))
    for hea in sorted((ROOT / "examples").glob("*.hea"))[:2]:
        ups.append((hea.name, [(p.name, p.read_bytes()) for p in (hea, hea.with_suffix(".dat"))
                               if p.is_file()]))
    for rel in ("cardiosoft/example-XML1.xml", "muse/example2.xml", "aecg/HL7_Example_aECG.xml"):
        if (SAMPLES_DIR / rel).is_file():
            ups.append((Path(rel).name, [(Path(rel).name, (SAMPLES_DIR / rel).read_bytes())]))
    return ups


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A tiny model folder selected for the app, and the expected per-ECG results computed alone."""
    pytest.importorskip("streamlit")
    if not (ROOT / PATIENT).is_file() or not (ROOT / INTERP).is_file():
        pytest.skip("the dashboard pages do not exist yet")
    from hfviz.risk import explain
    from hfviz.dashboard import ui
    from hfviz.ecg.io import read_ecg
    from hfviz.risk.network import ModelConfig
    from hfviz.ecg.prepare import prepare
    from hfviz.risk.model import load_risk_model

    # the full-size architecture with random weights: the tiny test configuration gives (nearly) the
    # same log-risk for every ECG, which could not reveal one session showing another's result
    models = write_tiny_model(tmp_path_factory.mktemp("conc") / "models", cfg=ModelConfig(), seed=7)
    mp = pytest.MonkeyPatch()
    mp.setenv(ui.MODELS_DIR_ENV, str(models))
    reference = load_risk_model("mi", models)  # a private copy, never given to the app
    expected = {}
    for label, files in uploads():
        prepared = prepare(read_ecg(files))
        lr = float(reference.predict_log_risk(prepared.model_input[None])[0])
        ig = explain.attribute(reference, prepared.model_input, method="integrated_gradients", baseline="zeros",
                               n_steps=64, cohort_beats=reference.cohort_beats)
        expected[label] = {"files": files, "log_risk": f"{lr:+.3f}", "ig": ig.values,
                           "model_input": prepared.model_input}
    shown = [e["log_risk"] for e in expected.values()]
    assert len(set(shown)) >= len(shown) - 1, f"log-risks too alike to tell sessions apart: {shown}"
    yield {"models": models, "expected": expected}
    mp.undo()


@contextlib.contextmanager
def one_runtime_for_all_sessions():
    """Make ``AppTest`` usable from several threads at once, the way one server hosts many sessions.

    Each ``AppTest.run`` compiles the page afresh and swaps two process-global objects in and out: ``Runtime._instance`` (set to
    a fresh mock, then to ``None``) and ``config.get_option`` (patched so that ``global.appTest`` is
    true, then restored). Overlapping runs in threads undo each other's swaps -- one session's run
    then executes with another's runtime gone or with the unpatched option, and its widgets go
    missing -- and CPython 3.11 can fail compiling the same source in several threads at once
    ("AST constructor recursion depth mismatch"). These are limits of the test harness, not of the
    app. Here the runtime, the option and one script cache are installed once for all sessions (a
    real server likewise has one Runtime and one ScriptCache), and AppTest's per-run swaps go to a
    stand-in. Everything that belongs to a session (script runner, session state, uploaded-file
    manager, forward-message queue) stays per session.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner
    from streamlit.testing.v1.util import patch_config_options

    shared_runtime = MagicMock(spec=Runtime)
    shared_runtime.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared_runtime.dataframe_source_mgr = DataframeSourceManager()
    shared_runtime.cache_storage_manager = MemoryCacheStorageManager()
    mp = pytest.MonkeyPatch()
    script_cache = ScriptCache()  # one compiled copy of each page, as in a server (and no concurrent compile:
    mp.setattr(app_test, "ScriptCache", lambda: script_cache)  # CPython 3.11 can fail compiling in threads)
    mp.setattr(local_script_runner, "ScriptCache", lambda: script_cache)
    mp.setattr(app_test, "Runtime", types.SimpleNamespace(_instance=None))
    mp.setattr(app_test, "patch_config_options", lambda overrides: contextlib.nullcontext())
    mp.setattr(Runtime, "_instance", shared_runtime)
    try:
        with patch_config_options({"global.appTest": True}):
            yield
    finally:
        mp.undo()


def _session(files, results: dict, label: str, barrier: threading.Barrier) -> None:
    """One user: upload on the Patient page, then open the Interpretability page with the same state.

    Each page is its own ``AppTest`` (the Interpretability one starts from the Patient session's
    state): ``AppTest.switch_page`` resolves pages through process-global Streamlit state and is not
    safe to call from several threads at once, whereas separate page runs are.
    """
    from streamlit.testing.v1 import AppTest

    from hfviz.dashboard import ui

    try:
        at = AppTest.from_file(str(ROOT / PATIENT), default_timeout=300)
        barrier.wait(timeout=300)
        at.run()
        at.file_uploader(key=ui.K_UPLOAD).set_value([(n, b, "application/octet-stream") for n, b in files]).run()
        metrics = {m.label: m.value for m in at.metric}
        prepared = at.session_state[ui.K_ECG]
        res = {"exception": [str(e.value) for e in at.exception], "errors": [e.value for e in at.error],
               "log_risk": metrics.get("log-risk"), "label": at.session_state[ui.K_ECG_LABEL],
               "source": prepared.record.source_name if prepared is not None else None,
               "model_input": None if prepared is None else prepared.model_input}
        interp = AppTest.from_file(str(ROOT / INTERP), default_timeout=300)
        for key in (ui.K_ECG, ui.K_ECG_LABEL, ui.K_ECG_TOKEN):
            interp.session_state[key] = at.session_state[key]
        interp.run()
        cache = interp.session_state[ui.K_INTERP_CACHE]
        ig = [v for k, v in cache.items() if k[-1] == "integrated_gradients"]
        res["exception"] += [str(e.value) for e in interp.exception]
        res["errors"] += [e.value for e in interp.error]
        res["ig"], res["n_ig"] = (ig[0].values if len(ig) == 1 else None), len(ig)
        results[label] = res
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        results[label] = {"crash": f"{type(exc).__name__}: {exc}"}


def test_ten_concurrent_sessions_get_their_own_results_and_leave_the_shared_model_untouched(shared):
    from hfviz.dashboard import ui
    from hfviz.risk import model as risk_module

    expected = shared["expected"]
    labels = list(expected)
    assert len(labels) >= 8
    # the model the app caches: load it here first, so every session below must reuse this object
    model = ui._load_model("mi", str(shared["models"]))
    before = state_sha256(model.net)
    loads = []
    original = risk_module.load_risk_model
    risk_module.load_risk_model = lambda *a, **k: loads.append(a) or original(*a, **k)
    try:
        plan = [labels[i % len(labels)] for i in range(max(N_SESSIONS, len(labels)))]
        plan[-1] = plan[0]  # two sessions with the same ECG
        barrier = threading.Barrier(len(plan))
        results: dict[str, dict] = {}
        threads = [threading.Thread(target=_session, args=(expected[lab]["files"], results, f"{i}:{lab}", barrier))
                   for i, lab in enumerate(plan)]
        with one_runtime_for_all_sessions():
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=900)
    finally:
        risk_module.load_risk_model = original
    assert not any(t.is_alive() for t in threads), "a session hung"
    assert len(results) == len(plan)
    for key, res in sorted(results.items()):
        label = key.split(":", 1)[1]
        assert "crash" not in res, (key, res)
        assert not res["exception"] and not res["errors"], (key, res["exception"], res["errors"])
        assert res["log_risk"] == expected[label]["log_risk"], (key, res["log_risk"], expected[label]["log_risk"])
        assert res["label"] == " + ".join(n for n, _ in expected[label]["files"]), (key, res["label"])
        assert res["source"] == expected[label]["files"][0][0], (key, res["source"])
        assert np.array_equal(res["model_input"], expected[label]["model_input"]), key
        assert res["n_ig"] == 1, (key, res["n_ig"])  # the session cache holds its own ECG only
        np.testing.assert_allclose(res["ig"], expected[label]["ig"], rtol=1e-5, atol=1e-7, err_msg=key)
    assert loads == [], "a session loaded its own model instead of the shared cached one"
    assert ui._load_model("mi", str(shared["models"])) is model
    assert state_sha256(model.net) == before, "the shared model's parameters or buffers changed"
    assert leftover_hooks(model.net) == []
    assert not model.net.training and not any(p.requires_grad for p in model.net.parameters())
    assert all(p.grad is None for p in model.net.parameters())


# --- deterministic inference ----------------------------------------------------------------------


def test_same_input_gives_bit_identical_output(shared):
    """Reading, preprocessing, scoring and explaining the same file twice (and after a fresh load)."""
    from hfviz.risk import explain
    from hfviz.ecg.io import read_ecg
    from hfviz.ecg.prepare import prepare
    from hfviz.risk.model import load_risk_model

    label, spec = next(iter(shared["expected"].items()))
    runs = []
    for _ in range(3):
        model = load_risk_model("mi", shared["models"])
        prepared = prepare(read_ecg(spec["files"]))
        out = model.forward(prepared.model_input)
        attrs = explain.attribute_all(model, prepared.model_input, n_steps=16, cohort_beats=model.cohort_beats)
        runs.append({"input": prepared.model_input.copy(), "forward": out.log_risk.numpy().copy(),
                     "predict": model.predict_log_risk(prepared.model_input[None]),
                     "lead_attention": out.lead_attention.numpy().copy(),
                     "temporal_attention": out.temporal_attention.numpy().copy(),
                     **{m: a.values.copy() for m, a in attrs.items()}, "weights": state_sha256(model.net)})
    for other in runs[1:]:
        for key, value in runs[0].items():
            assert np.array_equal(value, other[key]) if isinstance(value, np.ndarray) else value == other[key], key


def test_the_weight_and_hook_checks_see_a_change():
    """The instruments of the concurrency test: a hook or a changed buffer must be noticed."""
    from hfviz.risk.network import DualAttentionNet

    from test_model_integrity import TINY

    net = DualAttentionNet(TINY).eval()
    before = state_sha256(net)
    assert leftover_hooks(net) == []
    handles = [net.head.register_forward_hook(lambda *a: None), next(net.parameters()).register_hook(lambda g: g)]
    assert len(leftover_hooks(net)) == 2
    for h in handles:
        h.remove()
    assert leftover_hooks(net) == []
    net.train()
    with torch.no_grad():
        net(torch.randn(2, 12, 608))  # BatchNorm running statistics move
    assert state_sha256(net) != before
