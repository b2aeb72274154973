"""Write a SYNTHETIC dataset folder: the one path used by ``python -m hfviz simulate`` and by ``reproduce``.

Imports no torch (the ``simulate`` command stays light).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hfviz.data.dataset import save_dataset
from hfviz.synthetic.cohorts import PRESETS, generate_cohort


def preset_size(preset: str, n: int | None = None) -> int:
    """ECGs that :func:`simulate_dataset` writes: ``n``, or the preset's default size when None."""
    return PRESETS[preset].n if n is None else n


def simulate_dataset(preset: str, out: str | os.PathLike, *, n: int | None = None, seed: int = 0, workers: int = 1,
                     progress: Callable[[int], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """Generate the ``preset`` cohort (:func:`hfviz.synthetic.cohorts.generate_cohort`) and save it in ``out``.

    Parameters
    ----------
    preset : {"mi", "hyp", "pretrain"}
    n : int, optional
        Number of ECGs (default: the preset's).
    seed : int
        Master seed: same preset, ``n`` and seed give identical files, whatever ``workers``.
    workers : int
        Simulation processes (values below 1 count as 1).
    progress : callable, optional
        Called with the number of ECGs just finished.

    Returns
    -------
    (Path, dict)
        The dataset folder and its ``meta.json`` content.
    """
    beats, table, meta = generate_cohort(preset, n=preset_size(preset, n), seed=seed, workers=max(1, workers),
                                         progress=progress)
    return save_dataset(out, beats, table, meta), meta
