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

    from hfviz.io import read_ecg
    from hfviz.preprocess import prepare
    from hfviz.record import LEADS

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

# --- model forward, IG ---------------------------------------------------------------------


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

    from hfviz.model import DualAttentionNet, ModelConfig, count_parameters

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
