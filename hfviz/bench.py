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

# --- simulator -----------------------------------------------------------------------------

# --- model forward, IG ---------------------------------------------------------------------

# --- app functions: upload -> risk, page switch ----------------------------------------------
