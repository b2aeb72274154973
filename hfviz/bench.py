"""Speed benchmarks (``python -m hfviz bench``): measured, never asserted in unit tests.

Each ``bench_<area>`` function returns a dict of named timings (seconds, medians over
repeats) and the conditions they were measured under. Figures go into the README.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_call(fn: Callable[[], object], *, repeats: int = 10, warmup: int = 1) -> dict[str, float]:
    """Median and min wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


# --- read + preprocess (foundation) -------------------------------------------------------


def bench_read_preprocess(*, repeats: int = 10) -> dict:
    """Time ``read_ecg`` + ``preprocess.prepare`` on one 10-s 500 Hz record (target < 0.3 s median).

    Uses the real CardioSoft sample (UK Biobank format) from ``../shared/ecg-samples`` when
    present, read from bytes as an upload would be; otherwise a SYNTHETIC 12-lead CSV built in
    memory. Both the device-median path and the computed-median path are timed.

    Returns
    -------
    dict
        ``read_s``, ``read_prepare_s`` (device median when the file has one) and
        ``read_prepare_computed_s`` (median beat from our own pipeline), each
        ``{"median_s", "min_s", "repeats"}``, plus ``input`` describing the record.
    """
    from pathlib import Path

    import numpy as np

    from hfviz.ecg.io import read_ecg
    from hfviz.ecg.prepare import prepare
    from hfviz.ecg.record import LEADS

    sample = Path(__file__).resolve().parents[2] / "shared" / "ecg-samples" / "cardiosoft" / "example-XML1.xml"
    if sample.is_file():
        upload = [(sample.name, sample.read_bytes())]
        kwargs: dict = {}
        described = "CardioSoft XML sample (real, 10 s, 500 Hz, device median beats)"
    else:
        t = np.arange(5000) / 500.0
        beat = np.exp(-(((t % 0.857) - 0.3) / 0.012) ** 2) + 0.3 * np.exp(-(((t % 0.857) - 0.55) / 0.05) ** 2)
        sig = np.outer(np.linspace(0.5, 1.5, 12), beat)
        rows = [",".join(LEADS)] + [",".join(f"{v:.4f}" for v in sig[:, j]) for j in range(sig.shape[1])]
        upload = [("synthetic.csv", "\n".join(rows).encode())]
        kwargs = {"fs": 500.0, "units": "mV"}
        described = "SYNTHETIC 12-lead CSV built in memory (10 s, 500 Hz)"
    return {
        "input": described,
        "read_s": time_call(lambda: read_ecg(upload, **kwargs), repeats=repeats),
        "read_prepare_s": time_call(lambda: prepare(read_ecg(upload, **kwargs)), repeats=repeats),
        "read_prepare_computed_s": time_call(
            lambda: prepare(read_ecg(upload, **kwargs), prefer_device_median=False), repeats=repeats
        ),
    }

# --- simulator -----------------------------------------------------------------------------


def bench_simulate(*, n: int = 1000, workers: int = 2, preset: str = "mi") -> dict:
    """Time simulating ``n`` SYNTHETIC ECGs with median beats (target: 1,000 in < 60 s on 2 cores).

    Runs :func:`hfviz.synthetic.cohorts.generate_cohort` -- strip simulation, the upload pipeline
    (:func:`hfviz.ecg.prepare.prepare`: cleaning, R peaks, median beat, measurements), report
    text and outcomes -- with ``workers`` processes, once (it is long). Also times the pieces
    on 50 ECGs in this process.

    Returns
    -------
    dict
        ``total_s`` and ``per_ecg_ms`` for the whole run, ``simulate_ms`` and ``prepare_ms``
        (median per ECG, one process), and the conditions.
    """
    import os

    import numpy as np

    from hfviz.ecg import prepare as ecg_prepare
    from hfviz.synthetic import simulate as sim
    from hfviz.synthetic.cohorts import generate_cohort

    sims, preps = [], []
    for i in range(50):
        t0 = time.perf_counter()
        rec, _ = sim.simulate(("normal", "lbbb", "af", "lvh", "mi_inferior")[i % 5], seed=i)
        t1 = time.perf_counter()
        ecg_prepare.prepare(rec)
        preps.append(time.perf_counter() - t1)
        sims.append(t1 - t0)
    t0 = time.perf_counter()
    beats, _, _ = generate_cohort(preset, n=n, seed=0, workers=workers)
    total = time.perf_counter() - t0
    return {
        "n": n,
        "workers": workers,
        "cpus": os.cpu_count(),
        "total_s": total,
        "per_ecg_ms": 1000.0 * total / n,
        "simulate_ms": 1000.0 * float(np.median(sims)),
        "prepare_ms": 1000.0 * float(np.median(preps)),
        "beats_shape": list(beats.shape),
        "median_beats": "hfviz.ecg.prepare.prepare on the noisy strip (same pipeline as uploads)",
    }


# --- model forward, IG ---------------------------------------------------------------------


def bench_reader(*, threads: int = 1, repeats: int = 20) -> dict:
    """What the model reads: loading the shipped statement reader, and its top 5 for one bundled example ECG."""
    import statistics
    import time
    from pathlib import Path

    import torch

    from hfviz.risk.assess import prepare_source
    from hfviz.risk.statements import load_statement_reader

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        reader = load_statement_reader()
        load_s = time.perf_counter() - t0
        x = prepare_source(str(Path(__file__).resolve().parents[1] / "examples" / "synthetic_lbbb.hea")).model_input
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            reader.top(x, 5)
            times.append(time.perf_counter() - t)
        return {"threads": threads, "load_s": round(load_s, 3), "top5_ms_median": round(statistics.median(times) * 1e3, 2),
                "top5_ms_min": round(min(times) * 1e3, 2), "repeats": repeats}
    finally:
        torch.set_num_threads(prev)


def bench_model(*, threads: int = 2, repeats: int = 20, batch: int = 256) -> dict:
    """Forward time of the default network on CPU (inference mode), parameters, FLOPs, size on disk.

    Times one ECG and a batch of ``batch`` ECGs with ``threads`` intra-op threads; also the
    twelve lead-specific temporal attention blocks computed together (one batched matmul per
    layer) versus the same weights applied lead by lead in a Python loop, as the official
    code does. FLOPs per ECG from ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add
    counts 2). Size: bytes of the safetensors weights file.
    """
    import tempfile
    from pathlib import Path

    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from torch.utils.flop_counter import FlopCounterMode

    from hfviz.risk.network import DualAttentionNet, ModelConfig, count_parameters

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        net = DualAttentionNet(ModelConfig()).eval()
        x1, xb = torch.randn(1, 12, 608), torch.randn(batch, 12, 608)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            net(x1)
        flops = fc.get_total_flops()
        with FlopCounterMode(display=False) as fc2, torch.no_grad():
            net.encode(x1)
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "w.safetensors"
            save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(p))
            size = p.stat().st_size
        tm = net.temporal

        def looped(h):  # same weights, one lead at a time (official-code style)
            outs = []
            for i in range(h.shape[1]):
                x = h[:, i] + tm.pos  # (B, T, D)
                B, T, D = x.shape
                H, dh = tm.n_heads, D // tm.n_heads
                a = F.layer_norm(x, (D,)) * tm.ln1_w[i] + tm.ln1_b[i]
                q, k, v = (a @ tm.w_qkv[i] + tm.b_qkv[i]).view(B, T, 3, H, dh).permute(2, 0, 3, 1, 4)
                att = torch.softmax(q @ k.transpose(-1, -2) * dh**-0.5, -1)
                x = x + ((att @ v).transpose(1, 2).reshape(B, T, D) @ tm.w_o[i] + tm.b_o[i])
                m = F.layer_norm(x, (D,)) * tm.ln2_w[i] + tm.ln2_b[i]
                outs.append(x + F.gelu(m @ tm.w_1[i] + tm.b_1[i]) @ tm.w_2[i] + tm.b_2[i])
            return torch.stack(outs, 1)

        with torch.inference_mode():
            hb = net.lead_features(xb)
            h1 = net.lead_features(x1)
            res = {
                "conditions": f"CPU, torch {torch.__version__}, {threads} threads, inference_mode, float32",
                "n_parameters": count_parameters(net),
                "n_parameters_encoder_and_head": count_parameters(net) - count_parameters(net.decoder),
                "flops_per_ecg": flops,
                "flops_per_ecg_encoder": fc2.get_total_flops(),
                "weights_bytes": size,
                "forward_1_s": time_call(lambda: net(x1), repeats=repeats, warmup=3),
                f"forward_{batch}_s": time_call(lambda: net(xb), repeats=max(3, repeats // 4), warmup=1),
                "log_risk_only_1_s": time_call(lambda: net.predict_log_risk(x1), repeats=repeats, warmup=3),
                f"log_risk_only_{batch}_s": time_call(lambda: net.predict_log_risk(xb), repeats=max(3, repeats // 4), warmup=1),
                "temporal_batched_1_s": time_call(lambda: tm(h1), repeats=repeats, warmup=3),
                "temporal_looped_1_s": time_call(lambda: looped(h1), repeats=repeats, warmup=3),
                f"temporal_batched_{batch}_s": time_call(lambda: tm(hb), repeats=max(3, repeats // 4)),
                f"temporal_looped_{batch}_s": time_call(lambda: looped(hb), repeats=max(3, repeats // 4)),
            }
            ref = tm(h1)[0]
            res["looped_matches_batched"] = bool(torch.allclose(looped(h1), ref, atol=1e-5))
        return res
    finally:
        torch.set_num_threads(prev)

# --- app functions: upload -> risk, page switch ----------------------------------------------


def _bench_models_dir(tmp: str) -> tuple[str | None, str]:
    """The shipped models when they load, else SYNTHETIC stand-ins (random weights) written to ``tmp``."""
    import numpy as np
    import pandas as pd
    import torch

    from hfviz.errors import ModelFileError
    from hfviz.risk.network import DualAttentionNet, ModelConfig
    from hfviz.risk.model import load_risk_model, save_risk_model
    from hfviz.risk.survival import breslow_baseline

    try:
        load_risk_model("mi")
        load_risk_model("hyp")
        return None, "shipped models (models/)"
    except ModelFileError:
        pass
    rng = np.random.default_rng(0)
    for k, cohort in enumerate(("mi", "hyp")):
        torch.manual_seed(k)
        net = DualAttentionNet(ModelConfig()).eval()
        beats = rng.standard_normal((200, 12, 608)).astype(np.float32)
        with torch.no_grad():
            lr = net(torch.as_tensor(beats)).log_risk.numpy().astype(float)
        t = rng.exponential(300.0, 200)
        e = (t < 84).astype(int)
        t = np.minimum(t, 84.0)
        preds = pd.DataFrame({"id": np.arange(200), "log_risk": lr, "time_months": t, "event": e})
        save_risk_model(tmp, cohort, net, baseline=breslow_baseline(t, lr, e), train_log_risk=lr, predictions=preds,
                        card={"synthetic": True, "training_data": "SYNTHETIC stand-in for benchmarking"},
                        beats=beats[:16])
    return tmp, "SYNTHETIC stand-in models with random weights (models/ not built yet)"


def _app_upload(root) -> tuple[list[tuple[str, bytes]], str]:
    """The upload of the app benchmark: the real CardioSoft sample when present, else a SYNTHETIC CSV.

    Returns
    -------
    upload : list of (str, bytes)
        File name and bytes, as the browser sends them.
    described : str
        One line on what the input is.
    """
    sample = root.parent / "shared" / "ecg-samples" / "cardiosoft" / "example-XML1.xml"
    if sample.is_file():
        return [(sample.name, sample.read_bytes())], "CardioSoft XML sample (real, 10 s, 500 Hz), as uploaded bytes"
    from hfviz.ecg.record import LEADS
    from hfviz.synthetic.simulate import simulate

    rec, _ = simulate("normal", seed=0)
    rows = ["time_s," + ",".join(LEADS)] + [
        f"{j / rec.fs_hz:.4f}," + ",".join(f"{v:.4f}" for v in rec.signal_mv[:, j]) for j in range(rec.n_samples)]
    return [("synthetic.csv", "\n".join(rows).encode())], "SYNTHETIC simulated ECG as CSV bytes (10 s, 500 Hz)"


def _time_upload_to_risk(upload: list[tuple[str, bytes]], model, *, repeats: int) -> dict[str, float]:
    """Upload -> risk on screen: assess, then the Patient page's three figures serialised as Streamlit sends them."""
    from hfviz.dashboard import ecg_figures, risk_figures
    from hfviz.risk import assess as risk_assess
    from hfviz.risk.cohort import km_table

    km = km_table(model.cohort_predictions["time_months"], model.cohort_predictions["event"])

    def upload_to_risk():
        assessment = risk_assess.assess_ecg(upload, model)
        prepared, risk = assessment.prepared, assessment.risk
        figs = [ecg_figures.ecg_paper_figure(prepared.strip_mv, prepared.fs_hz),
                ecg_figures.median_beats_figure(prepared.median_beat_mv, prepared.fs_hz,
                                                source=prepared.median_source),
                risk_figures.survival_figure(risk.times_months, risk.survival, km=km)]
        return [f.to_json() for f in figs]

    return time_call(upload_to_risk, repeats=repeats)


def _time_attributions(model, x, *, repeats: int) -> dict:
    """IG with 64 steps and all four methods on one model input (12, 608); completeness gaps and hooks left."""
    from hfviz.risk import explain

    res = {
        "ig_64_steps_s": time_call(lambda: explain.attribute(model, x, method="integrated_gradients", n_steps=64),
                                   repeats=repeats),
        "all_methods_s": time_call(lambda: explain.attribute_all(model, x, cohort_beats=model.cohort_beats),
                                   repeats=max(2, repeats // 2)),
    }
    ig = explain.attribute(model, x, method="integrated_gradients", n_steps=64)
    res["ig_64_completeness_gap"] = float(ig.delta)
    res["ig_64_relative_gap"] = float(ig.relative_delta)
    res["hooks_left_on_model"] = explain.hook_count(model.net)
    return res


def time_page_switches(root, upload: list[tuple[str, bytes]], *, models_dir: str | None = None,
                       repeats: int = 5) -> dict:
    """Time switching between the app's pages with an ECG loaded (``AppTest``, no browser).

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
    import os

    from hfviz.dashboard import ui
    from hfviz.dashboard.settings import MODELS_DIR_ENV

    old = os.environ.get(MODELS_DIR_ENV)
    if models_dir:
        os.environ[MODELS_DIR_ENV] = models_dir
    try:
        at = ui.scripted_session(root, upload)
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


def bench_app(*, repeats: int = 5) -> dict:
    """The dashboard's own code paths: upload -> risk on screen, IG with 64 steps, page switch.

    * ``model_load_s``: :func:`hfviz.risk.model.load_risk_model` once (cold; the app does it once per
      process through ``st.cache_resource``).
    * ``upload_to_risk_s``: what the Patient page does with an upload — ``hfviz.risk.assess.assess_ecg``
      on (name, bytes) pairs (log-risk, percentile, group, survival curve),
      the 12-lead paper figure, the median-beat figure and the survival figure with the cohort
      KM curve, each serialised to JSON as Streamlit sends it. Target < 3 s.
    * ``ig_64_steps_s``: ``explain.attribute(..., method="integrated_gradients", n_steps=64)``.
      Target < 2 s. ``all_methods_s``: the four methods the Interpretability page computes.
    * ``page_switch_s``: ``AppTest`` with an ECG loaded, switching to each page and running it
      (attributions already computed in the session, as on a second visit). Target < 1 s.

    Input: the real CardioSoft sample when present, else a SYNTHETIC simulated ECG (CSV bytes).
    Models: the shipped ones when built, else synthetic stand-ins with random weights.
    """
    import os
    import tempfile
    from pathlib import Path

    import torch

    from hfviz.dashboard.settings import configure_torch
    from hfviz.risk.assess import prepare_source
    from hfviz.risk.model import load_risk_model

    root = Path(__file__).resolve().parents[1]
    upload, described = _app_upload(root)
    with tempfile.TemporaryDirectory() as tmp:
        mdir, models_described = _bench_models_dir(tmp)
        threads_before = torch.get_num_threads()
        configure_torch()  # the app's own setting: 1 intra-op thread unless $HFVIZ_TORCH_THREADS
        try:
            t0 = time.perf_counter()
            model = load_risk_model("mi", mdir)
            load_s = time.perf_counter() - t0
            res = {
                "conditions": (f"CPU, torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s) as the "
                               f"app sets them, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"),
                "input": described,
                "models": models_described,
                "model_load_s": {"median_s": load_s, "min_s": load_s, "repeats": 1},
                "upload_to_risk_s": _time_upload_to_risk(upload, model, repeats=repeats),
            }
            res.update(_time_attributions(model, prepare_source(upload).model_input, repeats=repeats))
            res.update(time_page_switches(root, upload, models_dir=mdir, repeats=repeats))
        finally:
            torch.set_num_threads(threads_before)
        res["targets"] = {"upload_to_risk_s": 3.0, "ig_64_steps_s": 2.0, "page_switch_s": 1.0}
        return res


# --- the Cohort page's numbers and the 12-lead figure -------------------------------------------


def bench_cohort(*, repeats: int = 5) -> dict:
    """What the Cohort page computes on the shipped MI model's validation cohort, and the 12-lead figure.

    * ``c_index_s``: Harrell's C of the validation predictions (20,000 people when the shipped
      cohort is present).
    * ``analysis_bootstrap_s``: :func:`hfviz.risk.cohort.analyse` with a 200-resample bootstrap of the
      C-index (what the page computes for uploaded predictions); ``analysis_card_c_s``: the same without
      the bootstrap (the page shows the card's C for the shipped sources).
    * ``paper_figure_s``: :func:`hfviz.dashboard.ecg_figures.ecg_paper_figure` of the bundled LBBB example.
    """
    import os
    from pathlib import Path

    import numpy as np

    from hfviz.dashboard.ecg_figures import ecg_paper_figure
    from hfviz.ecg.io import read_ecg
    from hfviz.risk import survival
    from hfviz.risk.cohort import analyse
    from hfviz.risk.model import load_risk_model

    model = load_risk_model("mi")
    df = model.validation_predictions if model.validation_predictions is not None else model.cohort_predictions
    t, e, r = (df[c].to_numpy(float) for c in ("time_months", "event", "log_risk"))
    s60 = model.predict_survival_function(r, [60.0])[:, 0]
    hea = Path(__file__).resolve().parents[1] / "examples" / "synthetic_lbbb.hea"
    rec = read_ecg([hea, hea.with_suffix(".dat")])
    signal = np.asarray(rec.signal_mv)
    return {
        "conditions": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start",
        "cohort": f"{len(df):,} people, {int(e.sum())} events",
        "c_index_s": time_call(lambda: survival.concordance_index(t, r, e), repeats=repeats * 4),
        "analysis_bootstrap_s": time_call(lambda: analyse(df, survival_at_horizon=s60), repeats=repeats, warmup=0),
        "analysis_card_c_s": time_call(lambda: analyse(df, survival_at_horizon=s60, n_boot=0), repeats=repeats),
        "paper_figure_s": time_call(lambda: ecg_paper_figure(signal, rec.fs_hz), repeats=repeats * 2),
    }


# --- the Batch page: many uploaded ECGs -> one table ------------------------------------------


def bench_batch_view(*, n: int = 200, repeats: int = 3) -> dict:
    """The Batch page's scoring of ``n`` uploaded 10-s 12-lead ECGs, as plain files and as one zip.

    The ECGs are SYNTHETIC (:func:`hfviz.synthetic.files.write_ecg_files`: GE CardioSoft XML and
    WFDB records alternating, 500 Hz), written to a temporary folder only to be read back into
    memory as the ``(name, bytes)`` pairs a browser upload gives. Each timed run is what the page
    does with an upload: :func:`hfviz.dashboard.uploads.expand_batch_upload` (the zip opened in
    memory) then :func:`hfviz.dashboard.batch_table.score_batch` (read, prepare, score with the
    cohort's model, build the table), in one process with the app's torch threads
    (:func:`hfviz.dashboard.settings.configure_torch`). Target: 200 ECGs within 60 s on 2 cores.
    The load average before and after is reported, since other work on the machine slows it.
    """
    import io
    import os
    import tempfile
    import zipfile
    from pathlib import Path

    import torch

    from hfviz.dashboard.batch_table import score_batch
    from hfviz.dashboard.settings import configure_torch
    from hfviz.dashboard.uploads import expand_batch_upload
    from hfviz.risk.model import load_risk_model
    from hfviz.synthetic.files import write_ecg_files

    with tempfile.TemporaryDirectory() as tmp:
        mdir, models_described = _bench_models_dir(tmp)
        folder = Path(tmp) / "ecgs"
        write_ecg_files(folder, n, seed=0)
        pairs = [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in pairs:
                zf.writestr(f"clinic list/{name}", data)
        zipped = [("clinic-list.zip", buf.getvalue())]
        threads_before = torch.get_num_threads()
        configure_torch()
        try:
            model = load_risk_model("mi", mdir)
            load_before = os.getloadavg()[0]
            checks = {}

            def run(upload):
                result = score_batch(model, expand_batch_upload(upload))
                checks["rows"], checks["failures"] = len(result.table), len(result.failures)
                return result

            files_s = time_call(lambda: run(pairs), repeats=repeats, warmup=1)
            rows_files = dict(checks)
            zip_s = time_call(lambda: run(zipped), repeats=repeats, warmup=0)
            res = {
                "conditions": (f"CPU, torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s) as the app "
                               f"sets them, one process, {os.cpu_count()} cores, load average {load_before:.1f} at "
                               f"start and {os.getloadavg()[0]:.1f} at the end"),
                "input": (f"{n} SYNTHETIC 10-s 12-lead ECGs at 500 Hz (GE CardioSoft XML and WFDB alternating), "
                          f"{sum(len(d) for _, d in pairs) / 2**20:.1f} MB as uploaded files, "
                          f"{len(zipped[0][1]) / 2**20:.1f} MB as one zip"),
                "models": models_described,
                "files_s": files_s,
                "zip_s": zip_s,
                "per_ecg_ms": 1000 * files_s["median_s"] / n,
                "rows": rows_files["rows"], "failures": rows_files["failures"],
                "zip_rows": checks["rows"], "zip_failures": checks["failures"],
                "targets": {"files_s": 60.0, "zip_s": 60.0},
            }
        finally:
            torch.set_num_threads(threads_before)
        return res
