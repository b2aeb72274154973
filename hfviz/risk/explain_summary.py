"""Summaries of explanations: attention and attributions as per-sample maps, per-lead importance, tables.

Pure numpy/pandas functions over what :mod:`hfviz.risk.explain` computes (attention maps from a
forward pass, :class:`~hfviz.risk.explain.Attribution` objects); the dashboard draws them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from hfviz.ecg.record import LEADS
from hfviz.ecg.signal import FS_HZ, MODEL_LEN, PAD
from hfviz.risk.explain import BASELINES, METHODS, Attribution

# --- attention --------------------------------------------------------------------------------
def temporal_attention_to_samples(temporal_attention: Any, *, n_samples: int = MODEL_LEN) -> np.ndarray:
    """Map per-lead temporal attention over time tokens back to input samples.

    The attention each token *receives* is the mean over the query rows; the 19 tokens tile
    the 608 samples (32 samples = 64 ms each) and the values are linearly interpolated between
    token centres. Values are scaled so that 1 means uniform attention (1/19 per token).

    Parameters
    ----------
    temporal_attention : array, shape (12, S, S) or (B, 12, S, S)
        Head-averaged attention, rows sum to 1 (S = 19 for the shipped model).
    n_samples : int
        Samples the tokens span (608).

    Returns
    -------
    ndarray, float32, shape (12, n_samples) or (B, 12, n_samples)
        Non-negative; the mean over samples is about 1 for every lead.
    """
    a = np.asarray(temporal_attention.detach() if torch.is_tensor(temporal_attention) else temporal_attention,
                   dtype=np.float64)
    if a.ndim not in (3, 4) or a.shape[-1] != a.shape[-2] or a.shape[-3] != len(LEADS):
        raise ValueError(f"temporal attention must be (12, S, S) or (B, 12, S, S), got {a.shape}")
    s = a.shape[-1]
    received = a.mean(axis=-2) * s  # (..., 12, S), 1 = uniform
    centres = (np.arange(s) + 0.5) * n_samples / s - 0.5
    grid = np.arange(n_samples)
    flat = received.reshape(-1, s)
    out = np.stack([np.interp(grid, centres, row) for row in flat])  # (..., n_samples)
    return out.reshape(*received.shape[:-1], n_samples).astype(np.float32)


def lead_attention_importance(lead_attention: Any) -> np.ndarray:
    """How much attention each lead receives from all leads: column mean of (12, 12), sums to 1."""
    a = np.asarray(lead_attention.detach() if torch.is_tensor(lead_attention) else lead_attention, dtype=np.float64)
    if a.shape != (len(LEADS), len(LEADS)):
        raise ValueError(f"lead attention must be (12, 12), got {a.shape}")
    col = a.mean(axis=0)
    return col / col.sum() if col.sum() > 0 else col


def crop_to_beat(x: np.ndarray) -> np.ndarray:
    """Drop the zero padding: (..., 608) -> (..., 600), aligned with the median beat in mV."""
    x = np.asarray(x)
    if x.shape[-1] != MODEL_LEN:
        raise ValueError(f"expected last axis {MODEL_LEN}, got {x.shape[-1]}")
    return x[..., PAD:MODEL_LEN - PAD]


# --- summaries ------------------------------------------------------------------------------
def lead_importance(values: np.ndarray) -> np.ndarray:
    """Share of the total absolute attribution carried by each lead.

    Parameters
    ----------
    values : ndarray, shape (12, T)
        Attributions of one input.

    Returns
    -------
    ndarray, shape (12,)
        Non-negative, sums to 1 (all zeros when every attribution is zero).
    """
    v = np.abs(np.asarray(values, dtype=np.float64))
    if v.ndim != 2 or v.shape[0] != len(LEADS):
        raise ValueError(f"values must be (12, T), got {v.shape}")
    per = v.sum(axis=1)
    total = per.sum()
    return per / total if total > 0 else per


def lead_importances(attributions: Mapping[str, Attribution], *, lead_attention: Any = None) -> dict[str, np.ndarray]:
    """Per-lead importance of every computed method, labelled for plots, plus cross-lead attention.

    Parameters
    ----------
    attributions : mapping of str to Attribution
        Method key (of :data:`METHODS`) -> its attribution of one input (values (12, T)).
    lead_attention : array (12, 12), optional
        Cross-lead attention of the same input; added as ``"cross-lead attention"``.

    Returns
    -------
    dict of str to ndarray (12,)
        Method label -> :func:`lead_importance` (or :func:`lead_attention_importance`).
    """
    out = {METHODS[m]: lead_importance(a.values) for m, a in attributions.items()}
    if lead_attention is not None:
        out["cross-lead attention"] = lead_attention_importance(lead_attention)
    return out


def method_agreement(importances: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Spearman rank correlation of per-lead importance between every pair of methods.

    Parameters
    ----------
    importances : mapping of str to ndarray (12,)
        Method label -> per-lead importance.

    Returns
    -------
    DataFrame, shape (k, k)
        Symmetric, ones on the diagonal; NaN where a method gives every lead the same value.
    """
    names = list(importances)
    k = len(names)
    m = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            a, b = np.asarray(importances[names[i]]), np.asarray(importances[names[j]])
            if np.ptp(a) == 0 or np.ptp(b) == 0:
                rho = np.nan
            else:
                rho = float(stats.spearmanr(a, b).statistic)
            m[i, j] = m[j, i] = rho
    return pd.DataFrame(m, index=names, columns=names)


def attributions_frame(attributions: Mapping[str, Attribution], *, fs_hz: float = FS_HZ) -> pd.DataFrame:
    """All attributions of one input in long format, for CSV download.

    Parameters
    ----------
    attributions : mapping of str to Attribution
        Each with ``values`` of shape (12, 608).
    fs_hz : float
        Sampling rate, for the time column.

    Returns
    -------
    DataFrame
        Columns ``method``, ``baseline``, ``lead``, ``sample`` (0–607 in the model input),
        ``time_ms`` (relative to the start of the 600-sample median beat; the 4 padding samples
        each side lie outside 0–1198 ms), ``attribution``.
    """
    frames = []
    for attr in attributions.values():
        v = np.asarray(attr.values)
        if v.ndim != 2:
            raise ValueError("attributions_frame expects single-input attributions (12, T)")
        n = v.shape[1]
        samples = np.tile(np.arange(n), len(LEADS))
        frames.append(pd.DataFrame({
            "method": METHODS.get(attr.method, attr.method),
            "baseline": BASELINES.get(attr.baseline, attr.baseline) if attr.baseline else "",
            "lead": np.repeat(LEADS, n),
            "sample": samples,
            "time_ms": (samples - PAD) / fs_hz * 1000.0,
            "attribution": v.reshape(-1),
        }))
    if not frames:
        return pd.DataFrame(columns=["method", "baseline", "lead", "sample", "time_ms", "attribution"])
    return pd.concat(frames, ignore_index=True)


def top_segments(values: np.ndarray, *, k: int = 5, window: int = 32, fs_hz: float = FS_HZ) -> pd.DataFrame:
    """The ``k`` lead/time windows with the largest summed |attribution| (for reports).

    Parameters
    ----------
    values : ndarray, shape (12, 608)
        Attributions of one input.
    k : int
        Rows to return.
    window : int
        Window length in samples (non-overlapping).
    fs_hz : float
        Sampling rate in Hz.

    Returns
    -------
    DataFrame
        Columns ``lead``, ``from_ms``, ``to_ms`` (relative to the median beat start),
        ``attribution`` (signed sum), ``direction`` ("raises risk" / "lowers risk").
    """
    v = np.asarray(values, dtype=np.float64)
    n_win = v.shape[1] // window
    sums = v[:, : n_win * window].reshape(len(LEADS), n_win, window).sum(axis=2)  # (12, n_win)
    order = np.argsort(-np.abs(sums), axis=None)[:k]
    rows = []
    for flat in order:
        li, wi = divmod(int(flat), n_win)
        s = float(sums[li, wi])
        rows.append({"lead": LEADS[li], "from_ms": round((wi * window - PAD) / fs_hz * 1000),
                     "to_ms": round(((wi + 1) * window - PAD) / fs_hz * 1000), "attribution": s,
                     "direction": "raises risk" if s > 0 else "lowers risk"})
    return pd.DataFrame(rows)


def beat_values_on_strip(values: np.ndarray, r_peaks: np.ndarray, n_samples: int, *, r_offset: int) -> np.ndarray:
    """Repeat per-sample values of the median beat around every R peak of the strip.

    Parameters
    ----------
    values : ndarray, shape (12, 600)
        Values on the median beat (R peak at ``r_offset``), e.g. cropped attributions.
    r_peaks : ndarray of int, shape (k,)
        R-peak indices in the strip (same sampling rate as the beat, 500 Hz).
    n_samples : int
        Strip length.
    r_offset : int
        Index of the R peak inside the beat.

    Returns
    -------
    ndarray, shape (12, n_samples)
        The beat's values placed on each beat of the strip; NaN where no beat covers a sample.
        Where beats overlap, the later beat wins.
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.full((v.shape[0], int(n_samples)), np.nan)
    m = v.shape[1]
    for r in np.asarray(r_peaks, dtype=int):
        lo = r - r_offset
        a, b = max(lo, 0), min(lo + m, n_samples)
        if a < b:
            out[:, a:b] = v[:, a - lo:b - lo]
    return out
