"""Signal processing of a 12-lead strip: 500 Hz, cleaning, R peaks, median beat, model input.

Everything here is a pure function of its arguments. The pipeline is

``signal -> resample(500 Hz) -> clean -> detect_r_peaks -> median_beat -> model_input``

and :func:`hfviz.ecg.prepare.prepare` runs it for one record.

Median-beat convention
----------------------
The model was designed for UK Biobank median beats (GE CardioSoft ``MedianSamples``):
12 leads x 600 samples at 500 Hz (1.2 s). In the real CardioSoft sample the QRS complex
lies between ``QOnset`` = 432 ms (sample 216) and ``QOffset`` = 524 ms (sample 262) and the
peak of the spatial QRS magnitude ``sqrt(sum over leads of x**2)`` -- the same sample as
the lead II R peak -- is sample 238. Computed median beats put that fiducial point at
:data:`R_OFFSET` = 238. (GE's own convention appears to fix the QRS *onset* at sample 216:
the two GE MUSE samples have ``QOnset`` 216 as well, with spatial R peaks at 239 and 245
depending on QRS shape. Device median beats that already follow it are used unshifted.)

neurokit2 (R-peak detection) is imported lazily (it takes about 2 s to import).
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import signal as sps

from hfviz.errors import ECGFormatError

#: Sampling rate of every prepared strip and median beat, Hz.
FS_HZ = 500.0
#: Samples per lead of a median beat (1.2 s at 500 Hz), as UK Biobank ``MedianSamples``.
BEAT_LEN = 600
#: Samples per lead of the model input: the median beat zero-padded by 4 on each side.
MODEL_LEN = 608
PAD = (MODEL_LEN - BEAT_LEN) // 2
#: Index of the R peak (peak of the spatial QRS magnitude) inside a 600-sample median beat.
#: Measured on the real CardioSoft sample: lead II and spatial-magnitude maximum at 238,
#: QRS onset 216, QRS offset 262.
R_OFFSET = 238

#: High-pass corner for baseline-wander removal, Hz (as neurokit2's ``ecg_clean``).
HIGHPASS_HZ = 0.5
#: Mains frequencies notched out (zero-phase), Hz.
POWERLINE_HZ = (50.0, 60.0)
#: Floor on a lead's standard deviation in :func:`normalise` (mV-scale inputs).
STD_FLOOR = 1e-3
#: Smallest correlation of a beat with the provisional median for it to enter the median.
MIN_BEAT_CORR = 0.8
#: Looser threshold used only when fewer than 2 beats reach :data:`MIN_BEAT_CORR`.
FALLBACK_BEAT_CORR = 0.5
#: Largest extra shift (samples at 500 Hz) when aligning beats by cross-correlation.
MAX_ALIGN_SHIFT = 8

# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------
def check_signal(signal_mv: Any, name: str, *, min_len: int = 1) -> np.ndarray:
    """Validate a 12-lead signal, shape (12, n) in mV, and return it as float64.

    Raises :class:`~hfviz.errors.ECGFormatError` (naming ``name``) when it is not numeric,
    not 12 leads, shorter than ``min_len`` samples, or holds NaN/infinite values.
    """
    try:
        x = np.asarray(signal_mv, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ECGFormatError(f"{name}: signal is not a numeric array ({exc}).") from None
    if x.ndim != 2 or x.shape[0] != 12:
        raise ECGFormatError(f"{name}: expected a 12-lead signal of shape (12, n), got {x.shape}.")
    if x.shape[1] < min_len:
        raise ECGFormatError(f"{name}: signal has {x.shape[1]} samples; at least {min_len} are needed.")
    if not np.all(np.isfinite(x)):
        raise ECGFormatError(f"{name}: signal contains NaN or infinite values.")
    return x


def check_fs(fs: Any, name: str) -> float:
    """Validate a sampling rate in Hz and return it as a float (ECGFormatError unless finite and > 0)."""
    try:
        f = float(fs)
    except (TypeError, ValueError):
        raise ECGFormatError(f"{name}: sampling rate {fs!r} is not a number.") from None
    if not math.isfinite(f) or f <= 0:
        raise ECGFormatError(f"{name}: sampling rate {fs!r} Hz is not a positive number.")
    return f


# --------------------------------------------------------------------------------------
# resampling and cleaning
# --------------------------------------------------------------------------------------
def resample(signal: np.ndarray, fs_in: float, fs_out: float = FS_HZ) -> np.ndarray:
    """Resample along time with a polyphase anti-aliasing filter.

    Parameters
    ----------
    signal : ndarray, shape (12, n) (any leading shape works)
        Signal sampled at ``fs_in``.
    fs_in, fs_out : float
        Input and output sampling rates in Hz. The ratio is approximated by a fraction with
        denominator <= 1000 (exact for all common ECG rates).

    Returns
    -------
    ndarray, shape (12, m), float64
        ``m = ceil(n * up / down)`` where ``up / down = fs_out / fs_in``; a copy when the rates
        are equal.
    """
    fs_in = check_fs(fs_in, "resample")
    fs_out = check_fs(fs_out, "resample")
    x = np.asarray(signal, dtype=np.float64)
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    if ratio == 1:
        return x.copy()
    return sps.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1, padtype="line")


def _highpass_sos(fs: float) -> np.ndarray:
    return sps.butter(5, HIGHPASS_HZ, btype="highpass", fs=fs, output="sos")


def clean(signal_mv: np.ndarray, fs: float) -> np.ndarray:
    """Remove baseline wander and powerline interference, zero-phase, all leads at once.

    A 5th-order Butterworth high-pass at :data:`HIGHPASS_HZ` (neurokit2's ``ecg_clean``
    default) and notches at 50 and 60 Hz (quality factor 30), each applied forwards and
    backwards so that no wave is shifted in time; the ends are extended by 1 s (odd
    reflection) to keep edge transients short. Notches at or above 0.45 x ``fs`` are
    skipped.

    Parameters
    ----------
    signal_mv : ndarray, shape (12, n)
        Signal in mV.
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    ndarray, shape (12, n), float64
        Cleaned signal in mV.

    Raises
    ------
    ECGFormatError
        Wrong shape, non-finite values or a signal too short to filter (< 0.5 s).
    """
    fs = check_fs(fs, "signal")
    x = check_signal(signal_mv, "signal", min_len=max(int(0.5 * fs), 64))
    pad = min(x.shape[-1] - 1, int(fs))  # 1 s odd extension: short edge transients
    y = sps.sosfiltfilt(_highpass_sos(fs), x, axis=-1, padlen=pad)
    for f0 in POWERLINE_HZ:
        if f0 < 0.45 * fs:
            b, a = sps.iirnotch(f0, 30.0, fs=fs)
            y = sps.filtfilt(b, a, y, axis=-1, padlen=pad)
    return y


# --------------------------------------------------------------------------------------
# R peaks
# --------------------------------------------------------------------------------------
def _qrs_envelope(x: np.ndarray, fs: float) -> np.ndarray:
    """Lead-combined QRS envelope, shape (n,): median over non-flat leads of |5-30 Hz band| / scale."""
    hi = min(30.0, 0.45 * fs)
    sos = sps.butter(2, [5.0, hi], btype="bandpass", fs=fs, output="sos")
    bp = np.abs(sps.sosfiltfilt(sos, x, axis=-1))
    scale = np.percentile(bp, 99, axis=-1)
    ok = scale > 1e-3 * max(float(scale.max()), 1e-12)
    if not ok.any() or float(scale.max()) <= 1e-9:
        return np.zeros(x.shape[-1])
    return np.median(bp[ok] / scale[ok, None], axis=0)


def spatial_magnitude(x: np.ndarray) -> np.ndarray:
    """Spatial magnitude ``sqrt(sum over leads of x**2)``: shape (12, n) -> (n,), same units as ``x``."""
    return np.sqrt(np.sum(np.square(x), axis=0))


def _refine_peaks(mag: np.ndarray, peaks: np.ndarray, half_width: int) -> np.ndarray:
    """Move each peak to the maximum of ``mag`` within +-half_width samples."""
    n = mag.size
    out = []
    for p in peaks:
        lo, hi = max(int(p) - half_width, 0), min(int(p) + half_width + 1, n)
        if hi > lo:
            out.append(lo + int(np.argmax(mag[lo:hi])))
    return np.asarray(out, dtype=np.int64)


def _dedupe_peaks(peaks: np.ndarray, mag: np.ndarray, min_dist: int) -> np.ndarray:
    peaks = np.unique(peaks)
    keep: list[int] = []
    for p in peaks:
        if keep and p - keep[-1] < min_dist:
            if mag[p] > mag[keep[-1]]:
                keep[-1] = int(p)
            continue
        keep.append(int(p))
    return np.asarray(keep, dtype=np.int64)


def detect_r_peaks(signal_mv: np.ndarray, fs: float) -> np.ndarray:
    """Detect R peaks on a lead-combined signal.

    neurokit2's gradient-based detector (``method="neurokit"``) runs on a polarity-free
    envelope: the median over leads of each lead's rectified 5-30 Hz band, scaled by its
    99th percentile. A negative QRS, a bundle-branch block or one noisy lead therefore does
    not hide beats, and the detector makes no assumption of a regular rhythm (AF); beats
    closer than 200 ms are merged (rates up to 300 bpm), and detections whose envelope is
    below 30 % of the median beat's are dropped as noise. Each peak
    is then moved to the maximum of the spatial magnitude ``sqrt(sum x**2)`` of the signal
    within +-60 ms -- the fiducial point that :data:`R_OFFSET` refers to.

    Parameters
    ----------
    signal_mv : ndarray, shape (12, n)
        Cleaned signal in mV (see :func:`clean`).
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    ndarray of int64, shape (k,)
        Increasing sample indices into ``signal_mv``; empty when no beat is found.

    Raises
    ------
    ECGFormatError
        Wrong shape or non-finite values.
    """
    fs = check_fs(fs, "signal")
    x = check_signal(signal_mv, "signal", min_len=max(int(0.5 * fs), 64))
    env = _qrs_envelope(x, fs)
    if not np.any(env > 0):
        return np.zeros(0, dtype=np.int64)
    import neurokit2 as nk  # lazy: slow to import

    try:
        found = nk.ecg_findpeaks(env, sampling_rate=int(round(fs)), method="neurokit", mindelay=0.2)
        found = found["ECG_R_Peaks"]
    except (ValueError, IndexError, ZeroDivisionError):  # degenerate input inside neurokit2
        return np.zeros(0, dtype=np.int64)
    found = np.asarray(found, dtype=np.int64)
    found = found[(found >= 0) & (found < env.size)]
    if found.size == 0:
        return found
    # drop detections far smaller than a typical beat (noise in long pauses, edge effects)
    height = env[found]
    found = found[height >= 0.3 * float(np.median(height))]
    mag = spatial_magnitude(x - np.median(x, axis=-1, keepdims=True))
    peaks = _refine_peaks(mag, found, int(round(0.06 * fs)))
    return _dedupe_peaks(peaks, mag, int(round(0.2 * fs)))


# --------------------------------------------------------------------------------------
# median beat
# --------------------------------------------------------------------------------------
def _windows(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Windows ``x[:, s:s+length]`` for each start, NaN outside ``x``; shape (B, 12, length)."""
    n = x.shape[-1]
    idx = starts[:, None] + np.arange(length)[None, :]
    inside = (idx >= 0) & (idx < n)
    w = x[:, np.clip(idx, 0, n - 1)]  # (12, B, length)
    w = np.where(inside[None], w, np.nan)
    return np.transpose(w, (1, 0, 2))


def _nanmedian(beats: np.ndarray) -> np.ndarray:
    """Per-sample median over beats (axis 0) ignoring NaN; NaN where no beat has data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns at the edges
        return np.nanmedian(beats, axis=0)


def _corr_to(template: np.ndarray, beats: np.ndarray, sl: slice) -> np.ndarray:
    """Pearson correlation of each beat (all leads concatenated over ``sl``) with ``template``."""
    t = template[:, sl].reshape(-1)
    out = np.full(beats.shape[0], -1.0)
    for k, b in enumerate(beats[:, :, sl].reshape(beats.shape[0], -1)):
        ok = np.isfinite(b) & np.isfinite(t)
        if ok.sum() < 10:
            continue
        bb, tt = b[ok] - b[ok].mean(), t[ok] - t[ok].mean()
        den = math.sqrt(float(bb @ bb) * float(tt @ tt))
        out[k] = float(bb @ tt) / den if den > 0 else -1.0
    return out


def _fill_nan_edges(beat: np.ndarray) -> np.ndarray:
    """Replace NaN at the ends of each lead by the nearest finite value (constant extension)."""
    out = beat.copy()
    idx = np.arange(out.shape[-1])
    for lead in out:
        ok = np.isfinite(lead)
        if ok.all():
            continue
        lead[~ok] = np.interp(idx[~ok], idx[ok], lead[ok]) if ok.any() else 0.0
    return out


def median_beat(
    signal_mv: np.ndarray,
    fs: float,
    r_peaks: np.ndarray | None = None,
    *,
    name: str = "ECG",
) -> np.ndarray:
    """Median beat: per-sample median across aligned, mutually consistent beats.

    Steps: resample to 500 Hz; detect R peaks unless given; cut a 600-sample window around
    every beat with its R peak at :data:`R_OFFSET`; align each beat to the provisional
    median by cross-correlation of the QRS region (+-:data:`MAX_ALIGN_SHIFT` samples);
    drop beats whose correlation with the provisional median over the QRS-T region is below
    :data:`MIN_BEAT_CORR` (ectopic or noisy beats; :data:`FALLBACK_BEAT_CORR` when fewer
    than 2 beats pass) and beats whose window runs off the strip;
    take the per-sample median; finally shift so that the spatial-magnitude peak of the
    result lies exactly at :data:`R_OFFSET`. When fewer than 2 complete beats remain, beats
    cut by the strip's edges are admitted (their missing samples ignored), and the ends of a
    lead that no beat covers are extended with the nearest value.

    Parameters
    ----------
    signal_mv : ndarray, shape (12, n)
        Cleaned signal in mV (see :func:`clean`); baseline wander is not removed here.
    fs : float
        Sampling rate of ``signal_mv`` in Hz.
    r_peaks : ndarray of int, optional
        R-peak indices into ``signal_mv`` (at ``fs``); detected when omitted.
    name : str
        Record name used in error messages.

    Returns
    -------
    ndarray, shape (12, 600), float64
        Median beat at 500 Hz in mV, R peak at :data:`R_OFFSET`.

    Raises
    ------
    ECGFormatError
        Fewer than 2 usable beats, wrong shape or non-finite values.
    """
    fs = check_fs(fs, name)
    x = check_signal(signal_mv, name, min_len=2)
    if fs != FS_HZ:
        x = resample(x, fs, FS_HZ)
    if r_peaks is None:
        r = detect_r_peaks(x, FS_HZ) if x.shape[-1] >= 250 else np.zeros(0, dtype=np.int64)
    else:
        r = np.rint(np.asarray(r_peaks, dtype=np.float64).reshape(-1) * (FS_HZ / fs)).astype(np.int64)
        r = r[(r >= 0) & (r < x.shape[-1])]
        mag = spatial_magnitude(x - np.median(x, axis=-1, keepdims=True))
        r = _dedupe_peaks(_refine_peaks(mag, r, 30), mag, 100)
    return median_beat_from_peaks(x, r, name)


def median_beat_from_peaks(x: np.ndarray, r: np.ndarray, name: str) -> np.ndarray:
    """Median beat from a 500 Hz cleaned strip ``x`` (12, n) and R peaks ``r``."""
    n = x.shape[-1]
    if r.size < 2:
        raise ECGFormatError(
            f"{name}: found {r.size} heartbeat{'s' if r.size != 1 else ''}; "
            "at least 2 are needed to compute a median beat."
        )
    shift = MAX_ALIGN_SHIFT
    starts = r - R_OFFSET
    # core region that any admitted beat must contain: 200 ms before to 400 ms after R
    core = slice(R_OFFSET - 100, R_OFFSET + 200)
    core_in = (r - 100 >= 0) & (r + 200 <= n)
    starts = starts[core_in]
    if starts.size < 2:
        raise ECGFormatError(
            f"{name}: only {starts.size} heartbeat(s) lie far enough from the ends of the "
            "recording; at least 2 are needed to compute a median beat."
        )
    # provisional median of everything, then align each beat by cross-correlation of the QRS
    beats = _windows(x, starts, BEAT_LEN)
    prov = _nanmedian(beats)
    qrs = slice(R_OFFSET - 50, R_OFFSET + 60)
    ext = _windows(x, starts - shift, BEAT_LEN + 2 * shift)  # (B, 12, 600 + 2 shift)
    t = prov[:, qrs]
    best = np.zeros(starts.size, dtype=np.int64)
    best_score = np.full(starts.size, -np.inf)
    for s in range(-shift, shift + 1):
        seg = ext[:, :, qrs.start + shift + s : qrs.stop + shift + s]
        score = np.nansum(seg * t[None], axis=(1, 2)) / np.maximum(
            np.sqrt(np.nansum(seg * seg, axis=(1, 2))), 1e-12
        )
        better = score > best_score
        best[better], best_score[better] = s, score[better]
    starts = starts + best
    beats = _windows(x, starts, BEAT_LEN)
    prov = _nanmedian(beats)
    corr = _corr_to(prov, beats, core)
    good = corr >= MIN_BEAT_CORR
    if good.sum() < 2:  # very irregular rhythm or noise: accept looser agreement
        good = corr >= FALLBACK_BEAT_CORR
    if good.sum() < 2:
        raise ECGFormatError(
            f"{name}: fewer than 2 heartbeats have a consistent shape (correlation with the "
            f"median >= {FALLBACK_BEAT_CORR}); the recording is too noisy or irregular for a median beat."
        )
    starts, beats = starts[good], beats[good]
    complete = np.all(np.isfinite(beats), axis=(1, 2))
    if complete.sum() >= 2:
        starts = starts[complete]
    # place the spatial-magnitude peak of the median exactly at R_OFFSET
    for _ in range(2):
        med = _nanmedian(_windows(x, starts, BEAT_LEN))
        lo = R_OFFSET - 30
        mag = spatial_magnitude(np.nan_to_num(med[:, lo : R_OFFSET + 31]))
        delta = lo + int(np.argmax(mag)) - R_OFFSET
        if delta == 0:
            break
        starts = starts + delta
    return _fill_nan_edges(_nanmedian(_windows(x, starts, BEAT_LEN)))


# --------------------------------------------------------------------------------------
# model input
# --------------------------------------------------------------------------------------
def pad_beat(beat: np.ndarray) -> np.ndarray:
    """Zero-pad 4 samples on each side of the time axis.

    Parameters
    ----------
    beat : ndarray, shape (..., 12, 600)

    Returns
    -------
    ndarray, shape (..., 12, 608), same dtype
    """
    b = np.asarray(beat)
    if b.ndim < 2 or b.shape[-2:] != (12, BEAT_LEN):
        raise ECGFormatError(f"median beat: expected shape (..., 12, {BEAT_LEN}), got {b.shape}.")
    width = [(0, 0)] * (b.ndim - 1) + [(PAD, PAD)]
    return np.pad(b, width, mode="constant", constant_values=0)


def normalise(x: np.ndarray) -> np.ndarray:
    """Per-lead z-score along time; NaN -> 0.

    Each lead (last axis) gets mean 0 and standard deviation 1, ignoring NaN; leads whose
    standard deviation is below :data:`STD_FLOOR` (flat) are divided by the floor instead,
    so they stay near 0 rather than amplifying noise. NaN samples (and all-NaN leads) end
    as 0.

    Parameters
    ----------
    x : ndarray, shape (..., 12, T)

    Returns
    -------
    ndarray, shape (..., 12, T), float32
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 2 or a.shape[-2] != 12:
        raise ECGFormatError(f"normalise: expected shape (..., 12, T), got {a.shape}.")
    finite = np.isfinite(a)
    cnt = finite.sum(axis=-1, keepdims=True)
    safe = np.where(finite, a, 0.0)
    mean = safe.sum(axis=-1, keepdims=True) / np.maximum(cnt, 1)
    dev = np.where(finite, a - mean, 0.0)
    std = np.sqrt((dev**2).sum(axis=-1, keepdims=True) / np.maximum(cnt, 1))
    z = dev / np.maximum(std, STD_FLOOR)
    return z.astype(np.float32)


def model_input(beat_mv: np.ndarray) -> np.ndarray:
    """Model input from a median beat: ``normalise(pad_beat(beat_mv))``.

    Parameters
    ----------
    beat_mv : ndarray, shape (12, 600)
        Median beat in mV at 500 Hz.

    Returns
    -------
    ndarray, shape (12, 608), float32
    """
    return normalise(pad_beat(beat_mv))

