"""SYNTHETIC test signals shared by the reader tests (imported like ``dashboard_fixtures``)."""

from __future__ import annotations

import numpy as np


def synthetic_ecg(fs: float = 500.0, seconds: float = 10.0, hr_bpm: float = 70.0) -> np.ndarray:
    """A SYNTHETIC 12-lead ECG-like signal in mV, shape (12, n): Gaussian P, QRS and T waves."""
    t = np.arange(int(fs * seconds)) / fs
    rr = 60.0 / hr_bpm
    phase = (t % rr) - rr / 3
    p = 0.15 * np.exp(-(((phase + 0.16) / 0.025) ** 2))
    qrs = 1.2 * np.exp(-((phase / 0.012) ** 2)) - 0.25 * np.exp(-(((phase - 0.03) / 0.01) ** 2))
    tw = 0.3 * np.exp(-(((phase - 0.25) / 0.05) ** 2))
    gains = np.array([0.8, 1.0, 0.4, -0.9, 0.3, 0.7, -0.6, 0.9, 1.3, 1.5, 1.2, 0.9])
    return gains[:, None] * (p + qrs + tw)[None, :] + 0.01 * np.arange(12)[:, None]
