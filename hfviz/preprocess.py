"""Preprocessing: 500 Hz strip, cleaning, R peaks, median beat, model input, measurements.

Everything here is a pure function of its arguments. The pipeline is

``record -> resample(500 Hz) -> clean -> detect_r_peaks -> median_beat -> model_input``

and :func:`prepare` runs it for one :class:`~hfviz.record.ECGRecord`.

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

Measurements
------------
R peaks come from neurokit2's detector. Intervals are measured globally on the median beat
by :func:`delineate_beat` rather than by neurokit2's per-lead ``ecg_delineate``: on the
real GE samples the latter's ``dwt`` method placed QRS onsets in V1-V3 more than 100 ms
early and T ends up to 260 ms off, and took 0.06-0.2 s per lead.

neurokit2 is imported lazily (it takes about 2 s to import).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import signal as sps

from hfviz.errors import ECGFormatError
from hfviz.record import LEADS, ECGRecord

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
#: Index at which GE 12SL median beats put the QRS onset (all three GE samples: 216).
GE_QRS_ONSET = 216

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

_LEAD_INDEX = {name: i for i, name in enumerate(LEADS)}

# Plausible ranges for measurements (inclusive); outside them the value becomes None.
_RANGES: dict[str, tuple[float, float]] = {
    "heart_rate_bpm": (20.0, 300.0),
    "pr_ms": (60.0, 400.0),
    "qrs_ms": (40.0, 250.0),
    "qt_ms": (200.0, 700.0),
    "qtc_bazett_ms": (250.0, 750.0),
    "qtc_fridericia_ms": (250.0, 750.0),
    "qrs_axis_deg": (-180.0, 180.0),
}
_UNITS = {
    "heart_rate_bpm": "bpm",
    "pr_ms": "ms",
    "qrs_ms": "ms",
    "qt_ms": "ms",
    "qtc_bazett_ms": "ms",
    "qtc_fridericia_ms": "ms",
    "qrs_axis_deg": "deg",
}
MEASUREMENT_KEYS: tuple[str, ...] = tuple(_UNITS)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One ECG measurement.

    Attributes
    ----------
    value : float or None
        The value, or ``None`` when it could not be measured reliably.
    unit : str
        ``"bpm"``, ``"ms"`` or ``"deg"``.
    reason : str or None
        Why ``value`` is ``None`` (e.g. ``"no P waves detected"``); ``None`` when measured.
    """

    value: float | None
    unit: str
    reason: str | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedECG:
    """A record after preprocessing; what the model, plots and pages consume.

    Attributes
    ----------
    record : ECGRecord
        The input record.
    strip_mv : ndarray, shape (12, n)
        Cleaned strip at :data:`FS_HZ`, mV.
    fs_hz : float
        Always :data:`FS_HZ`.
    r_peaks : ndarray of int, shape (k,)
        R-peak sample indices in ``strip_mv``.
    median_beat_mv : ndarray, shape (12, 600)
        Median beat at 500 Hz in mV with the R peak at :data:`R_OFFSET`.
    median_source : str
        ``"device"`` (the file's own median beats) or ``"computed"`` (from the strip).
    model_input : ndarray, shape (12, 608), float32
        ``model_input(median_beat_mv)``.
    measurements : dict of str to Measurement
        Keys :data:`MEASUREMENT_KEYS`.
    """

    record: ECGRecord
    strip_mv: np.ndarray
    fs_hz: float
    r_peaks: np.ndarray
    median_beat_mv: np.ndarray
    median_source: str
    model_input: np.ndarray
    measurements: dict[str, Measurement]


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------
def _check_signal(signal_mv: Any, name: str, *, min_len: int = 1) -> np.ndarray:
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


def _check_fs(fs: Any, name: str) -> float:
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
    fs_in = _check_fs(fs_in, "resample")
    fs_out = _check_fs(fs_out, "resample")
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
    fs = _check_fs(fs, "signal")
    x = _check_signal(signal_mv, "signal", min_len=max(int(0.5 * fs), 64))
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


def _spatial_magnitude(x: np.ndarray) -> np.ndarray:
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
    fs = _check_fs(fs, "signal")
    x = _check_signal(signal_mv, "signal", min_len=max(int(0.5 * fs), 64))
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
    mag = _spatial_magnitude(x - np.median(x, axis=-1, keepdims=True))
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
    fs = _check_fs(fs, name)
    x = _check_signal(signal_mv, name, min_len=2)
    if fs != FS_HZ:
        x = resample(x, fs, FS_HZ)
    if r_peaks is None:
        r = detect_r_peaks(x, FS_HZ) if x.shape[-1] >= 250 else np.zeros(0, dtype=np.int64)
    else:
        r = np.rint(np.asarray(r_peaks, dtype=np.float64).reshape(-1) * (FS_HZ / fs)).astype(np.int64)
        r = r[(r >= 0) & (r < x.shape[-1])]
        mag = _spatial_magnitude(x - np.median(x, axis=-1, keepdims=True))
        r = _dedupe_peaks(_refine_peaks(mag, r, 30), mag, 100)
    return _median_from_peaks(x, r, name)


def _median_from_peaks(x: np.ndarray, r: np.ndarray, name: str) -> np.ndarray:
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
        mag = _spatial_magnitude(np.nan_to_num(med[:, lo : R_OFFSET + 31]))
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


# --------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------
# Thresholds of the median-beat delineation (fractions of the wave's own amplitude above
# the local floor); checked against the device intervals of the three GE samples.
_QON_FRAC = 0.08
_QOFF_FRAC = 0.04
_PON_FRAC = 0.10
#: Smallest P-wave height (spatial magnitude above its local floor, mV) counted as a P wave.
MIN_P_MV = 0.04


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average along the last axis (edges padded with the end values)."""
    if width <= 1:
        return x
    pad = width // 2
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, width - 1 - pad)], mode="edge")
    c = np.cumsum(xp, axis=-1)
    c = np.concatenate([np.zeros(x.shape[:-1] + (1,)), c], axis=-1)
    return (c[..., width:] - c[..., :-width]) / width


def delineate_beat(beat_mv: np.ndarray, rr_s: float | None = None) -> dict[str, int | None]:
    """Global (all-lead) fiducial points of a median beat.

    QRS onset and offset come from the spatial velocity ``sqrt(sum (dx/dt)**2)``: the first
    samples before and after the R peak where it stays below a small fraction of its QRS
    maximum for 8 ms. P onset and T end come from the spatial magnitude of the beat
    referred to the PR-segment level (smoothed over 18 ms): the P wave is the largest hump
    between the previous T wave and 30 ms before the QRS (most prominent peak), and its
    onset is where the magnitude falls to 10 % of the hump's prominence above its base. The T end is the
    latest per-lead tangent-method T end among leads with a clear T wave. Like an
    electrocardiograph, everything is measured globally on the representative beat. On
    the three real GE samples (computed median beats) QRS onset/offset agree with the
    device within 8 samples (16 ms) and P onset within 8, while T end is 0-28 ms earlier
    than GE's (the tangent method is known to give shorter QT than threshold methods).

    Parameters
    ----------
    beat_mv : ndarray, shape (12, 600)
        Median beat at 500 Hz in mV, R peak at :data:`R_OFFSET`.
    rr_s : float, optional
        Mean RR interval in seconds (bounds the T-wave and P-wave search); 1 s when omitted.

    Returns
    -------
    dict
        ``p_onset``, ``qrs_onset``, ``qrs_offset``, ``t_peak``, ``t_end`` (sample indices into
        the beat, or ``None`` when not found) and ``p_height_mv`` (float).
    """
    x = np.asarray(beat_mv, dtype=np.float64)
    rr = int(round((rr_s if rr_s and rr_s > 0 else 1.0) * FS_HZ))
    n = x.shape[-1]
    out: dict[str, Any] = dict.fromkeys(("p_onset", "qrs_onset", "qrs_offset", "t_peak", "t_end"))
    out["p_height_mv"] = 0.0
    vel = _spatial_magnitude(np.gradient(_smooth(x, 3), axis=-1))
    vmax = float(vel[R_OFFSET - 40 : R_OFFSET + 41].max())
    floor = float(np.percentile(vel, 10))
    if vmax <= floor or vmax <= 1e-6:
        return out
    hold = 4
    th_on = floor + _QON_FRAC * (vmax - floor)
    i = R_OFFSET
    while i > hold and not np.all(vel[i - hold : i] < th_on):
        i -= 1
    th_off = floor + _QOFF_FRAC * (vmax - floor)
    j = R_OFFSET
    while j < n - hold and not np.all(vel[j : j + hold] < th_off):
        j += 1
    if i <= hold + 10 or j >= n - hold - 40:
        return out  # QRS runs into the window edge: no trustworthy boundaries
    qon, qoff = i, j
    out["qrs_onset"], out["qrs_offset"] = qon, qoff
    base = np.median(x[:, max(qon - 10, 0) : qon - 2], axis=-1, keepdims=True)
    y = x - base
    mag = _smooth(_spatial_magnitude(y), 9)
    # T wave: per-lead tangent method. In each lead whose T wave (largest deflection from
    # 80 ms after the QRS to 65 % of the RR interval) reaches 0.1 mV and 20 % of the
    # largest T wave, the tangent at the steepest point of the descending limb (within
    # 120 ms of the T peak) meets the PR-segment level; the global T end is the latest.
    limit = min(qon + rr - 60, n - 5)  # 120 ms before the next QRS: next P wave territory
    a, b = qoff + 40, min(R_OFFSET + int(0.65 * rr), limit - 20)
    if b - a >= 20:
        ys = _smooth(y, 5)
        seg = ys[:, a:b]
        tpk = a + np.argmax(np.abs(seg), axis=-1)
        amp = ys[np.arange(12), tpk]
        big = np.abs(amp) >= max(0.1, 0.2 * float(np.max(np.abs(amp))))
        ends = []
        for lead in np.flatnonzero(big):
            s = np.sign(amp[lead]) * ys[lead]
            tp = int(tpk[lead])
            stop = min(tp + 60, limit)
            if stop - tp < 3:
                continue
            slope = np.gradient(s[tp : stop + 1])
            k = int(np.argmin(slope))
            if slope[k] >= 0:
                continue
            end = tp + k - s[tp + k] / slope[k]
            if tp < end < limit:
                ends.append(end)
        out["t_peak"] = a + int(np.argmax(mag[a:b]))
        if ends:
            out["t_end"] = int(round(max(ends)))
    # P wave: between the previous beat's T end (or 300 ms before the QRS) and 30 ms before it
    prev_t_end = (out["t_end"] - rr) if out["t_end"] is not None else -1
    pa, pb = max(qon - 150, prev_t_end, 5), qon - 15
    if pb - pa >= 20:
        peaks, props = sps.find_peaks(mag[pa:pb], prominence=0.0)
        if peaks.size:
            best = int(np.argmax(props["prominences"]))
            p = pa + int(peaks[best])
            height = float(props["prominences"][best])
            out["p_height_mv"] = height
            if height >= MIN_P_MV:
                lvl = float(mag[p]) - height
                k = p
                while k > 0 and mag[k] > lvl + _PON_FRAC * height:
                    k -= 1
                if k > max(pa - 10, 0):
                    out["p_onset"] = k
    return out


def _m(key: str, value: float | None, reason: str | None = None) -> Measurement:
    """Measurement with the sanity range applied."""
    unit = _UNITS[key]
    if value is None or not math.isfinite(value):
        return Measurement(None, unit, reason or "could not be measured")
    lo, hi = _RANGES[key]
    if not lo <= value <= hi:
        why = f"implausible value {value:.0f} {unit} (outside {lo:g}-{hi:g}) discarded"
        return Measurement(None, unit, why)
    return Measurement(round(float(value), 1), unit, None)


def _measure(r_peaks: np.ndarray, beat: np.ndarray | None, beat_reason: str | None) -> dict[str, Measurement]:
    """Measurements from 500 Hz R peaks and a (12, 600) median beat (or why there is none)."""
    res: dict[str, Measurement] = {}
    rr_s = None
    if r_peaks.size >= 2:
        rr = np.diff(r_peaks) / FS_HZ
        rr_s = float(np.mean(rr))  # = (last - first) / (beats - 1): the beat count rate
        res["heart_rate_bpm"] = _m("heart_rate_bpm", 60.0 / rr_s)
    else:
        res["heart_rate_bpm"] = _m("heart_rate_bpm", None, f"{r_peaks.size} heartbeat(s) detected; need 2")
    if res["heart_rate_bpm"].value is None:
        rr_s = None
    if beat is None:
        why = beat_reason or "no median beat"
        for key in ("pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "qrs_axis_deg"):
            res[key] = _m(key, None, why)
        return res
    d = delineate_beat(beat, rr_s)
    ms = 1000.0 / FS_HZ
    qon, qoff, pon, tend = d["qrs_onset"], d["qrs_offset"], d["p_onset"], d["t_end"]
    if qon is None or qoff is None:
        why = "QRS boundaries not found (delineation failed)"
        for key in ("pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "qrs_axis_deg"):
            res[key] = _m(key, None, why)
        return res
    res["qrs_ms"] = _m("qrs_ms", (qoff - qon) * ms)
    if pon is None:
        res["pr_ms"] = _m("pr_ms", None, "no P waves detected")
    else:
        res["pr_ms"] = _m("pr_ms", (qon - pon) * ms)
    if tend is None:
        res["qt_ms"] = _m("qt_ms", None, "T-wave end not found (delineation failed)")
    else:
        res["qt_ms"] = _m("qt_ms", (tend - qon) * ms)
    qt = res["qt_ms"].value
    if qt is None:
        res["qtc_bazett_ms"] = _m("qtc_bazett_ms", None, "no QT interval")
        res["qtc_fridericia_ms"] = _m("qtc_fridericia_ms", None, "no QT interval")
    elif rr_s is None:
        res["qtc_bazett_ms"] = _m("qtc_bazett_ms", None, "no heart rate")
        res["qtc_fridericia_ms"] = _m("qtc_fridericia_ms", None, "no heart rate")
    else:
        res["qtc_bazett_ms"] = _m("qtc_bazett_ms", qt / math.sqrt(rr_s))
        res["qtc_fridericia_ms"] = _m("qtc_fridericia_ms", qt / rr_s ** (1.0 / 3.0))
    base = np.median(beat[:, max(qon - 10, 0) : qon - 2], axis=-1)
    area_i = float(np.sum(beat[_LEAD_INDEX["I"], qon:qoff] - base[_LEAD_INDEX["I"]]))
    area_avf = float(np.sum(beat[_LEAD_INDEX["aVF"], qon:qoff] - base[_LEAD_INDEX["aVF"]]))
    if math.hypot(area_i, area_avf) * ms < 1.0:  # < 1 mV*ms net QRS area: direction undefined
        why = "net QRS area in I and aVF too small (indeterminate axis)"
        res["qrs_axis_deg"] = _m("qrs_axis_deg", None, why)
    else:
        res["qrs_axis_deg"] = _m("qrs_axis_deg", math.degrees(math.atan2(area_avf, area_i)))
    return {k: res[k] for k in MEASUREMENT_KEYS}


def measure(signal_mv: np.ndarray, fs: float) -> dict[str, Measurement]:
    """Heart rate, PR, QRS, QT, QTc (Bazett, Fridericia) and frontal QRS axis.

    Heart rate comes from the mean RR interval of the R peaks (:func:`detect_r_peaks`,
    neurokit2). Intervals are global measurements on the median beat (:func:`median_beat`,
    :func:`delineate_beat`): PR = QRS onset - P onset, QRS = QRS offset - onset,
    QT = T end - QRS onset; QTc Bazett = QT / sqrt(RR), Fridericia = QT / RR**(1/3) with
    RR in seconds. The frontal axis is ``atan2(area aVF, area I)`` of the net QRS areas.
    A value that cannot be measured, or falls outside a plausible range (e.g. QRS
    40-250 ms), is ``None`` with the reason.

    Parameters
    ----------
    signal_mv : ndarray, shape (12, n)
        Signal in mV (cleaned or raw; it is cleaned here).
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    dict of str to Measurement
        Keys :data:`MEASUREMENT_KEYS`.

    Raises
    ------
    ECGFormatError
        Wrong shape, non-finite values or a signal shorter than 0.5 s.
    """
    fs = _check_fs(fs, "signal")
    x = _check_signal(signal_mv, "signal", min_len=max(int(0.5 * fs), 64))
    if fs != FS_HZ:
        x = resample(x, fs, FS_HZ)
    x = clean(x, FS_HZ)
    r = detect_r_peaks(x, FS_HZ)
    try:
        beat, why = _median_from_peaks(x, r, "signal"), None
    except ECGFormatError as exc:
        beat, why = None, _reason(exc)
    return _measure(r, beat, why)


def _reason(exc: ECGFormatError) -> str:
    """The message of an error without the leading ``name:``."""
    msg = str(exc)
    return msg.split(": ", 1)[1] if ": " in msg else msg


# --------------------------------------------------------------------------------------
# the whole pipeline
# --------------------------------------------------------------------------------------
def device_median_beat(record: ECGRecord) -> np.ndarray | None:
    """The record's own median beats as a (12, 600) 500 Hz beat, or ``None`` when absent.

    Beats are resampled to 500 Hz. A 600-sample beat whose spatial-magnitude peak lies
    within 15 samples of :data:`R_OFFSET` (GE CardioSoft / MUSE: QRS onset at sample 216)
    is used exactly as stored, so UK Biobank-style files reach the model unchanged. Any
    other beat is shifted so that its spatial-magnitude peak lies at :data:`R_OFFSET` and
    cut or extended (with its end values) to 600 samples.

    Parameters
    ----------
    record : ECGRecord

    Returns
    -------
    ndarray, shape (12, 600), or None
    """
    if record.median_beat_mv is None or record.median_fs_hz is None:
        return None
    b = np.asarray(record.median_beat_mv, dtype=np.float64)
    if not 0.4 <= b.shape[-1] / float(record.median_fs_hz) <= 4.0:  # not one heartbeat long: unusable
        return None
    if float(record.median_fs_hz) != FS_HZ:
        b = resample(b, float(record.median_fs_hz), FS_HZ)
    m = b.shape[-1]
    if m < 100:
        return None
    mag = _spatial_magnitude(b - np.median(b, axis=-1, keepdims=True))
    # search the QRS peak in the middle of the beat (a median beat is centred on its QRS)
    lo, hi = int(0.2 * m), int(0.8 * m)
    peak = lo + int(np.argmax(mag[lo:hi]))
    if m == BEAT_LEN and abs(peak - R_OFFSET) <= 15:
        return b.copy()
    idx = np.clip(np.arange(BEAT_LEN) + (peak - R_OFFSET), 0, m - 1)
    return b[:, idx]


def prepare(record: ECGRecord, *, prefer_device_median: bool = True) -> PreparedECG:
    """Run the whole preprocessing pipeline on one record.

    Resample to 500 Hz, clean, detect R peaks, take the median beat (the device's own when
    the file carries one and ``prefer_device_median``; otherwise computed from the strip),
    measure, and build the model input.

    Parameters
    ----------
    record : ECGRecord
        A validated record.
    prefer_device_median : bool
        Use the file's median beats when present (default), as UK Biobank's pipeline did.

    Returns
    -------
    PreparedECG

    Raises
    ------
    ECGFormatError
        No median beat can be obtained (fewer than 2 usable beats and no device median);
        the message names the record.
    """
    name = record.source_name
    x = resample(record.signal_mv, record.fs_hz, FS_HZ)
    x = clean(x, FS_HZ)
    r = detect_r_peaks(x, FS_HZ)
    device = device_median_beat(record) if prefer_device_median else None
    if device is not None:
        beat, source = device, "device"
    else:
        beat, source = _median_from_peaks(x, r, name), "computed"
    # intervals are measured on the beat the model sees
    measurements = _measure(r, beat, None)
    beat = np.array(beat, dtype=np.float64)
    beat.setflags(write=False)
    x.setflags(write=False)
    mi = model_input(beat)
    mi.setflags(write=False)
    return PreparedECG(
        record=record,
        strip_mv=x,
        fs_hz=FS_HZ,
        r_peaks=r,
        median_beat_mv=beat,
        median_source=source,
        model_input=mi,
        measurements=measurements,
    )
