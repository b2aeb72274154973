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

# --- app functions: upload -> risk, page switch ----------------------------------------------
