"""Make plot data as small as what the pixels can show: decimation, binning, compact numbers.

Every plotly figure the dashboard draws travels to the browser as JSON on every rerun; a
10-s 500 Hz strip has far more samples than a 1,000-pixel-wide plot has columns. These
helpers (numpy only) keep what the eye can see: the extremes of each pixel column of a trace
(:func:`minmax_indices`), one value per time bin of an attribution (:func:`bin_mean`), and
float32 numbers rounded to what is legible (:func:`compact`).
"""

from __future__ import annotations

import numpy as np


def minmax_indices(n: int, y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices of a min/max decimation of ``y`` to about ``n_out`` points (peaks are kept).

    Parameters
    ----------
    n : int
        Number of samples (``len(y)``).
    y : ndarray, shape (n,)
        The values (e.g. mV); NaN is treated as missing.
    n_out : int
        Wanted number of points, about two per pixel column of the plot.

    Returns
    -------
    ndarray of int, shape (k,), k <= max(n_out, 2) + 2
        Sorted sample indices: the first and last sample and, in each of ``n_out // 2``
        equal buckets, the sample of the minimum and of the maximum. All of ``range(n)``
        when ``n <= n_out``.
    """
    if n <= n_out or n_out < 4:
        return np.arange(n)
    buckets = n_out // 2
    edges = np.linspace(0, n, buckets + 1).astype(int)
    yy = np.where(np.isfinite(y), y, 0.0)
    starts = edges[:-1][np.diff(edges) > 0]  # non-empty buckets
    bucket = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))  # (n,) bucket of each sample
    keep = [np.array([0, n - 1])]
    for extreme in (np.minimum, np.maximum):  # the first sample at each bucket's extreme, as np.argmin/argmax
        hit = np.flatnonzero(yy == extreme.reduceat(yy, starts)[bucket])
        keep.append(hit[np.unique(bucket[hit], return_index=True)[1]])
    return np.unique(np.concatenate(keep))


def bin_mean(values: np.ndarray, size: int) -> np.ndarray:
    """Mean of consecutive bins of ``size`` samples along the last axis (NaN-aware; a last partial bin kept).

    Parameters
    ----------
    values : ndarray, shape (..., n)
    size : int
        Samples per bin (>= 1).

    Returns
    -------
    ndarray, shape (..., ceil(n / size))
        Per-bin mean of the finite values; NaN where a bin has none.
    """
    v = np.asarray(values, dtype=float)
    n = v.shape[-1]
    size = max(1, int(size))
    nb = -(-n // size)
    pad = nb * size - n
    padded = np.concatenate([v, np.full(v.shape[:-1] + (pad,), np.nan)], axis=-1) if pad else v
    blocks = padded.reshape(v.shape[:-1] + (nb, size))
    finite = np.isfinite(blocks)
    counts = finite.sum(axis=-1)
    sums = np.where(finite, blocks, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def compact(a: np.ndarray, decimals: int = 3) -> np.ndarray:
    """``a`` rounded to ``decimals`` and as float32: what a figure needs, at half the bytes of float64."""
    return np.round(np.asarray(a, dtype=float), decimals).astype(np.float32)


def robust_max_abs(values: np.ndarray, q: float = 99.0) -> float:
    """The ``q``-th percentile of |values| over finite entries (a colour-scale end); 1 when that is 0 or empty."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 1.0
    m = float(np.percentile(v, q))
    if m <= 0:
        m = float(v.max())
    return m if m > 0 else 1.0
