"""Global fiducial points of a 12-lead median beat (P onset/offset, QRS onset/offset, T end).

IEC 60601-2-25 (201.12.4.102.3.2) defines *global* intervals: each wave boundary is
determined over all leads together -- the earliest onset and the latest offset seen in any
lead -- on the representative beat, and the fiducials are where a wave departs from or
returns to the isoelectric line. Here every boundary is found on a lead-combined signal,
the spatial velocity ``v(t) = sqrt(sum_leads (dx/dt)**2)`` of the low-passed beat. It is
polarity-free, rises as soon as *any* lead moves (earliest onset / latest offset) and does
not depend on the baseline level. A boundary is where ``v`` falls below ``floor + frac *
(peak - floor)`` for :data:`HOLD_MS`, walking outwards from the wave's steepest point;
``floor`` is the 10th percentile of ``v`` (the flat segments). P and T waves are filtered
on their own segment so the QRS cannot leak into them.

Acceptance (keep None rather than wrong): a QRS boundary must be confirmed by some lead
changing by :data:`CONFIRM_MV` within 20 ms inside it. A P wave must be the dominant hump
(:data:`MIN_P_MV`, :data:`MIN_P_RATIO` x any other hump) between the preceding T wave and
the QRS, have isoelectric flanks, a duration in :data:`P_DURATION_MS` and a sinus frontal
axis (:data:`P_AXIS_DEG`); atrial fibrillation's residual humps in a median beat fail
these. The T end is cut at the velocity valley where a following U/P wave starts, and
dropped when it runs past the next P onset. Two T ends are given: the return of T to
baseline (the standard's QT) and the tangent-method end on the T-vector lead (the
simulator's QT truth; 15-25 ms earlier).

All settings were chosen on simulated data only (simulator seed 1, 21 phenotype groups,
default noise; an AF-only set for the P-wave acceptance) and were not adjusted on the real
device files (``docs/measurements_vs_device.md``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import signal as sps

from hfviz.ecg.record import LEADS
from hfviz.ecg.signal import spatial_magnitude

_IX = {name: i for i, name in enumerate(LEADS)}

# --- settings (chosen on simulated development data, see module docstring) ---------------
QRS_LP_HZ = 40.0  #: low-pass for the QRS velocity (zero-phase 2nd-order Butterworth)
SLOW_LP_HZ = 25.0  #: low-pass for P and T waves (filtered on their own segment)
QRS_ON_FRAC = 0.05  #: QRS onset: fraction of the QRS peak velocity
QRS_OFF_FRAC = 0.10  #: QRS offset: fraction of the QRS peak velocity
P_FRAC = 0.20  #: P onset / offset: fraction of the P edge's peak velocity
T_FRAC = 0.10  #: T end: fraction of the T descending limb's peak velocity
HOLD_MS = 8.0  #: a boundary needs the velocity to stay below threshold this long
CONFIRM_MV = 0.02  #: per-lead confirmation of a QRS boundary (mV change within 20 ms)
MIN_P_MV = 0.06  #: smallest spatial P height (mV above the PR level)
MIN_P_RATIO = 3.0  #: P hump height / largest other hump in the P search window
P_AXIS_DEG = (-45.0, 105.0)  #: frontal axis of a sinus P wave; others are not measured
MIN_T_MV = 0.05  #: smallest spatial T height (mV) for a T end
P_SEARCH_MS = 360.0  #: P wave searched at most this long before QRS onset
P_DURATION_MS = (40.0, 180.0)  #: accepted P-wave durations
QRS_SEARCH_MS = 140.0  #: QRS searched within +-this of the R peak


def _lowpass(x: np.ndarray, fs: float, hz: float) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth low-pass along the last axis (no-op above 0.45 fs)."""
    if hz >= 0.45 * fs:
        return x
    sos = sps.butter(2, hz, btype="lowpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, x, axis=-1, padtype="constant" if x.shape[-1] < 40 else "odd")


def spatial_velocity(x: np.ndarray, fs: float, hz: float) -> np.ndarray:
    """Spatial velocity of a low-passed multi-lead signal.

    Parameters
    ----------
    x : ndarray, shape (L, n)
        Leads in mV.
    fs : float
        Sampling rate in Hz.
    hz : float
        Low-pass corner in Hz applied before differentiation.

    Returns
    -------
    ndarray, shape (n,)
        ``sqrt(sum_leads (dx/dt)**2)`` in mV/s.
    """
    return spatial_magnitude(np.gradient(_lowpass(x, fs, hz), axis=-1)) * fs


def _walk(v: np.ndarray, start: int, step: int, th: float, hold: int, stop: int) -> float | None:
    """First threshold crossing of ``v`` from ``start`` in direction ``step`` (+1/-1).

    The crossing must be followed (in walking direction) by ``hold`` samples below ``th``,
    and must come before index ``stop``. Returns the sub-sample crossing position (linear
    interpolation between the last sample above and the first below), or None.
    """
    i = start
    while (i - stop) * step < 0:
        nxt = i + step
        if v[nxt] < th:
            seg = v[nxt : nxt + step * hold : step] if step > 0 else v[max(nxt - hold + 1, 0) : nxt + 1]
            if np.all(seg < th):
                frac = (v[i] - th) / max(v[i] - v[nxt], 1e-12)
                return i + step * float(np.clip(frac, 0.0, 1.0))
        i = nxt
    return None


def _qrs_bounds(x: np.ndarray, fs: float, r: int) -> tuple[float | None, float | None, str | None]:
    """QRS onset and offset (sample positions) from the spatial velocity around ``r``."""
    v = spatial_velocity(x, fs, QRS_LP_HZ)
    n, w, hold = v.size, int(QRS_SEARCH_MS * fs / 1000), max(int(HOLD_MS * fs / 1000), 1)
    lo, hi = max(r - w, 1), min(r + w, n - 2)
    if hi - lo < 10:
        return None, None, "R peak too close to the end of the beat"
    floor = float(np.percentile(v, 10))
    seg = v[lo:hi]
    vmax = float(seg.max())
    if vmax <= 3 * floor or vmax <= 1e-6:
        return None, None, "no QRS complex distinguishable from noise"
    strong = np.flatnonzero(seg >= 0.3 * vmax) + lo
    # keep the cluster around the steepest point: gaps of > 30 ms separate it from P or T
    cut = np.flatnonzero(np.diff(strong) > 0.03 * fs)
    peak = lo + int(np.argmax(seg))
    first = strong[cut + 1][strong[cut + 1] <= peak]
    last = strong[cut][strong[cut] >= peak]
    strong = np.array([first[-1] if first.size else strong[0], last[0] if last.size else strong[-1]])
    on = _walk(v, int(strong[0]), -1, floor + QRS_ON_FRAC * (vmax - floor), hold, hold + 2)
    off = _walk(v, int(strong[-1]), 1, floor + QRS_OFF_FRAC * (vmax - floor), hold, n - hold - 2)
    if on is None or off is None:
        return None, None, "QRS boundary runs into the edge of the beat"
    # per-lead confirmation: some lead must move by CONFIRM_MV within 20 ms inside the QRS
    k = max(int(0.02 * fs), 2)
    i0, i1 = int(math.ceil(on)), int(off)
    if np.ptp(x[:, i0 : i0 + k], axis=1).max() < CONFIRM_MV or np.ptp(x[:, i1 - k : i1 + 1], axis=1).max() < CONFIRM_MV:
        return None, None, "QRS boundary not confirmed in any single lead"
    return on, off, None


def _wave_edges(v: np.ndarray, peak: int, lo: int, hi: int, frac: float, floor: float, hold: int
                ) -> tuple[float | None, float | None]:
    """Onset/offset of a slow wave: ``frac`` crossings outside its steepest rise and fall."""
    k_on = lo + int(np.argmax(v[lo : peak + 1]))
    k_off = peak + int(np.argmax(v[peak : hi + 1]))
    on = _walk(v, k_on, -1, floor + frac * (v[k_on] - floor), hold, max(lo - hold, hold))
    off = _walk(v, k_off, 1, floor + frac * (v[k_off] - floor), hold, hi)
    return on, off


def _slow(y: np.ndarray, fs: float, a: int, b: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Low-passed segment ``y[:, a:b]``, its spatial velocity and velocity floor.

    Filtering only the segment keeps the QRS (far larger and faster than P or T) from
    leaking into the P and T waves through the filter's impulse response.
    """
    ys = _lowpass(y[:, a:b], fs, SLOW_LP_HZ)
    v = spatial_magnitude(np.gradient(ys, axis=-1)) * fs
    return ys, v, float(np.percentile(v, 10))


def _valley(v: np.ndarray, k: int, th: float) -> int:
    """Index of the velocity minimum after ``k`` at which a new wave begins, else the last index.

    A new wave (U wave, next P wave) is a rise of ``v`` to more than twice, and more than
    ``th`` above, its running minimum since ``k``.
    """
    run_min = np.minimum.accumulate(v[k:])
    rise = np.flatnonzero((v[k:] > 2 * run_min) & (v[k:] > run_min + th))
    if rise.size == 0:
        return v.size - 1
    return k + int(np.argmin(v[k : k + int(rise[0]) + 1]))


def _t_wave(y: np.ndarray, fs: float, qon: float, qoff: float, rr: float | None) -> dict[str, Any]:
    """T peak, T end (velocity threshold) and tangent-method T end of a baseline-referred beat."""
    n, ms = y.shape[1], fs / 1000.0
    limit = n - int(10 * ms) if rr is None else min(n - int(10 * ms), int(qon + (rr - 80) * ms))
    a = int(qoff + 20 * ms)
    lo, hi = int(qoff + 40 * ms), min(int(qon + (0.75 * rr if rr else 650) * ms), limit - int(40 * ms))
    out: dict[str, Any] = {"t_peak": None, "t_end": None, "t_end_tangent": None, "reason": None}
    if hi - lo < 20 * ms:
        out["reason"] = "no room for a T wave after the QRS"
        return out
    ys, v, floor = _slow(y, fs, a, limit)
    mag = spatial_magnitude(ys)
    tpk = lo - a + int(np.argmax(mag[lo - a : hi - a]))
    out["t_peak"] = tpk + a
    if mag[tpk] < MIN_T_MV:
        out["reason"] = f"T wave too flat ({mag[tpk]:.3f} mV) to find its end"
        return out
    hold = max(int(HOLD_MS * ms), 1)
    k = tpk + int(np.argmax(v[tpk : tpk + int(200 * ms)]))
    th = floor + T_FRAC * (v[k] - floor)
    valley = _valley(v, k, th)
    end = _walk(v, k, 1, th, hold, valley)
    if end is None and valley < v.size - 1 and v[valley] < 2 * th:
        end = float(valley)  # a following wave (U, next P) starts before T is flat: cut at the valley
    if end is None:
        out["reason"] = "T wave end not found (merges with the next P/U wave or the next beat)"
        return out
    out["t_end"] = end + a
    # tangent method on the T-vector lead (the beat projected on the T peak's direction)
    s = (ys[:, tpk] / mag[tpk]) @ ys
    slope = np.gradient(s)
    j = tpk + int(np.argmin(slope[tpk : int(end) + 1]))
    if slope[j] < 0:
        out["t_end_tangent"] = j - s[j] / slope[j] + a
    return out


def _p_wave(y: np.ndarray, fs: float, qon: float, prev_t_end: float | None) -> dict[str, Any]:
    """P onset/offset between the previous T wave and the QRS, or the reason there is none."""
    ms = fs / 1000.0
    lo = max(int(qon - P_SEARCH_MS * ms), int(10 * ms))
    cut = prev_t_end is not None and prev_t_end + 20 * ms > lo
    if cut:
        lo = int(prev_t_end + 20 * ms)
    hi = int(qon - 2 * ms)
    out: dict[str, Any] = {"p_onset": None, "p_offset": None, "p_mv": 0.0, "reason": None}
    if hi - lo < 60 * ms:
        out["reason"] = "no room for a P wave between the preceding T wave and the QRS"
        return out
    a = max(lo - int(40 * ms), 0)
    ys, v, floor = _slow(y, fs, a, hi)
    mag = spatial_magnitude(ys)[lo - a :]
    seg = mag - float(mag.min())
    peaks, props = sps.find_peaks(seg, prominence=0.0)
    if peaks.size == 0:
        out["reason"] = "no P wave found (atrial fibrillation or junctional rhythm?)"
        return out
    heights = props["prominences"]
    best = int(np.argmax(heights))
    ppk, height = int(peaks[best]) + lo - a, float(heights[best])
    others = [h for p, h in zip(peaks, heights) if abs(int(p) + lo - a - ppk) > 60 * ms]
    out["p_mv"], out["p_others_mv"] = height, max(others, default=0.0)
    if height < MIN_P_MV or (others and height < MIN_P_RATIO * max(others)):
        out["reason"] = (f"no P wave found (atrial fibrillation?): best atrial hump {height:.3f} mV"
                         + (f", other humps up to {max(others):.3f} mV" if others else "")
                         + ("; a P wave may be hidden in the preceding T wave" if cut else ""))
        return out
    hold = max(int(HOLD_MS * ms), 1)
    on, off = _wave_edges(v, ppk, max(lo - a, ppk - int(100 * ms)), min(v.size - 1, ppk + int(100 * ms)),
                          P_FRAC, floor, hold)
    if on is None or off is None:
        out["reason"] = "no isoelectric P wave found (atrial fibrillation/flutter, or P merged with T/QRS?)"
        return out
    if not P_DURATION_MS[0] <= (off - on) / ms <= P_DURATION_MS[1]:
        out["reason"] = f"atrial deflection of implausible duration ({(off - on) / ms:.0f} ms): not a P wave"
        return out
    area = frontal_area(y, on + a, off + a, fs)
    axis = math.degrees(math.atan2(area[1], area[0])) if area else 0.0
    if not P_AXIS_DEG[0] <= axis <= P_AXIS_DEG[1]:
        out["reason"] = (f"atrial deflection with frontal axis {axis:.0f} deg is not a sinus P wave "
                         "(atrial fibrillation or ectopic atrial rhythm?)")
        return out
    out["p_onset"], out["p_offset"] = on + a, off + a
    return out


def frontal_area(y: np.ndarray, a: float | None, b: float | None, fs: float) -> tuple[float, float] | None:
    """Net areas (mV*ms) of leads I and aVF over ``[a, b]`` (sample positions)."""
    if a is None or b is None or b - a < 2:
        return None
    i0, i1 = int(round(a)), int(round(b)) + 1
    return (float(np.sum(y[_IX["I"], i0:i1])) * 1000 / fs, float(np.sum(y[_IX["aVF"], i0:i1])) * 1000 / fs)




FIDUCIALS: tuple[str, ...] = ("p_onset", "p_offset", "qrs_onset", "qrs_offset", "t_peak", "t_end", "t_end_tangent")


def delineate(x: np.ndarray, fs: float, *, r_index: int | None = None, rr_ms: float | None = None
              ) -> tuple[dict[str, float | None], dict[str, str | None], np.ndarray | None]:
    """Global fiducials of a median beat, why any is missing, and the baseline-referred beat.

    Parameters
    ----------
    x : ndarray, shape (12, n)
        Median beat in mV, leads in :data:`~hfviz.ecg.record.LEADS` order, finite.
    fs : float
        Sampling rate in Hz.
    r_index : int, optional
        Sample index inside the QRS; by default the maximum of the spatial velocity in the
        middle 70 % of the beat.
    rr_ms : float, optional
        Mean RR interval in ms (200-3000), bounds the T search and excludes the previous
        beat's T wave from the P search.

    Returns
    -------
    fiducials : dict of str to float or None
        :data:`FIDUCIALS` as sub-sample positions into ``x``.
    reasons : dict of str to str or None
        ``"qrs"``, ``"p"``, ``"t"``: why that wave has no boundaries (None when found).
    beat : ndarray, shape (12, n), or None
        ``x`` minus each lead's isoelectric level (median over 16-4 ms before QRS onset),
        mV; None when the QRS was not found.
    """
    n = x.shape[1]
    rr = rr_ms
    fid: dict[str, float | None] = dict.fromkeys(FIDUCIALS)
    why: dict[str, str | None] = dict.fromkeys(("qrs", "p", "t"))
    if r_index is None:  # steepest point of the beat: inside the QRS even with a tall T wave
        lo = int(0.15 * n)
        r_index = lo + int(np.argmax(spatial_velocity(x, fs, QRS_LP_HZ)[lo : n - lo]))
    qon, qoff, why["qrs"] = _qrs_bounds(x, fs, int(r_index))
    if qon is None or qoff is None:
        why["p"] = why["t"] = why["qrs"]
        return fid, why, None
    i0 = int(qon)
    base = np.median(x[:, max(i0 - int(0.016 * fs), 0) : max(i0 - int(0.004 * fs), 1)], axis=1)
    y = x - base[:, None]
    t = _t_wave(y, fs, qon, qoff, rr)
    prev_t = None if t["t_end"] is None or rr is None else t["t_end"] - rr * fs / 1000.0
    p = _p_wave(y, fs, qon, prev_t)
    if p["p_onset"] is not None and t["t_end"] is not None and rr is not None \
            and t["t_end"] > p["p_onset"] + rr * fs / 1000.0:
        t.update(t_end=None, t_end_tangent=None, reason="T wave end overlaps the next P wave")
    fid.update(qrs_onset=qon, qrs_offset=qoff, t_peak=t["t_peak"], t_end=t["t_end"],
               t_end_tangent=t["t_end_tangent"], p_onset=p["p_onset"], p_offset=p["p_offset"])
    why["p"], why["t"] = p["reason"], t["reason"]
    return fid, why, y
