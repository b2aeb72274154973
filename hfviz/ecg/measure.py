"""Measurements on a median beat: global intervals, axes and QRS voltages.

Intervals are *global* (IEC 60601-2-25): every wave boundary is found over all 12 leads
of the median beat together (:func:`hfviz.ecg.delineate.delineate`), PR = QRS onset - P
onset, P = P offset - P onset, QRS = QRS offset - QRS onset, QT = T end (return to
baseline) - QRS onset. R peaks come from :func:`hfviz.ecg.signal.detect_r_peaks`. A value
that cannot be measured reliably, or falls outside a plausible range, is ``None`` with the
reason -- never a guess.

How these compare with the devices' own measurements stored in real files, against the
IEC tolerances (:data:`IEC_TOLERANCE_MS`), is in ``docs/measurements_vs_device.md``
(``scripts/measurements_vs_device.py``). neurokit2's per-lead ``ecg_delineate`` was
compared there too and measured worse.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from hfviz.ecg.delineate import _IX, delineate, frontal_area
from hfviz.ecg.signal import (
    FS_HZ,
    R_OFFSET,
    check_fs,
    check_signal,
    clean,
    detect_r_peaks,
    median_beat_from_peaks,
    resample,
)
from hfviz.errors import ECGFormatError

_UNITS: dict[str, str] = {
    "heart_rate_bpm": "bpm",
    "pr_ms": "ms",
    "p_ms": "ms",
    "qrs_ms": "ms",
    "qt_ms": "ms",
    "qt_tangent_ms": "ms",
    "qtc_bazett_ms": "ms",
    "qtc_fridericia_ms": "ms",
    "p_axis_deg": "deg",
    "qrs_axis_deg": "deg",
    "t_axis_deg": "deg",
    "sokolow_lyon_mv": "mV",
    "cornell_mv": "mV",
    "limb_qrs_max_mv": "mV",
    "precordial_qrs_max_mv": "mV",
}
#: Keys of every measurement dict, in display order.
MEASUREMENT_KEYS: tuple[str, ...] = tuple(_UNITS)

# Plausible ranges (inclusive); outside them the value becomes None with a reason.
_RANGES: dict[str, tuple[float, float]] = {
    "heart_rate_bpm": (20.0, 300.0),
    "pr_ms": (50.0, 450.0),
    "p_ms": (30.0, 200.0),
    "qrs_ms": (40.0, 250.0),
    "qt_ms": (200.0, 720.0),
    "qt_tangent_ms": (200.0, 720.0),
    "qtc_bazett_ms": (250.0, 800.0),
    "qtc_fridericia_ms": (250.0, 800.0),
}

#: IEC 60601-2-25 global-interval tolerances on biological ECGs: (|mean difference|, SD)
#: in ms of the device against the reference.
IEC_TOLERANCE_MS: dict[str, tuple[float, float]] = {
    "pr_ms": (10.0, 10.0), "qrs_ms": (6.0, 10.0), "qt_ms": (12.0, 30.0), "p_ms": (10.0, 15.0)}

#: Names under which devices store the same measurement in ``record.meta["device_measurements"]``
#: (GE MUSE / CardioSoft, HL7 aECG, Philips, SCP-ECG section 7).
DEVICE_NAMES: dict[str, tuple[str, ...]] = {
    "heart_rate_bpm": ("VentricularRate", "HeartRate"),
    "pr_ms": ("PRInterval", "PQInterval", "TIME_PD_PR"),
    "p_ms": ("PDuration", "TIME_PD_P"),
    "qrs_ms": ("QRSDuration", "TIME_PD_QRS"),
    "qt_ms": ("QTInterval", "TIME_PD_QT"),
    "qtc_bazett_ms": ("QTCorrected", "QTCInterval", "TIME_PD_QTc"),
    "qtc_fridericia_ms": ("QTcFrederica", "QTcFridericia"),
    "p_axis_deg": ("PAxis", "ANGLE_P_FRONT"),
    "qrs_axis_deg": ("RAxis", "ANGLE_QRS_FRONT"),
    "t_axis_deg": ("TAxis", "ANGLE_T_FRONT"),
}


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One ECG measurement.

    Attributes
    ----------
    value : float or None
        The value, or ``None`` when it could not be measured reliably.
    unit : str
        ``"bpm"``, ``"ms"``, ``"deg"`` or ``"mV"``.
    reason : str or None
        Why ``value`` is ``None`` (e.g. ``"no P wave found ..."``); ``None`` when measured.
    """

    value: float | None
    unit: str
    reason: str | None = None


def _m(key: str, value: float | None, reason: str | None = None) -> Measurement:
    """Measurement with the plausible range of ``key`` applied (rounded: 0.1 or 0.001 mV)."""
    unit = _UNITS[key]
    if value is None or not math.isfinite(value):
        return Measurement(None, unit, reason or "could not be measured")
    lo, hi = _RANGES.get(key, (-math.inf, math.inf))
    if not lo <= value <= hi:
        return Measurement(None, unit, f"implausible value {value:.0f} {unit} (outside {lo:g}-{hi:g}) discarded")
    return Measurement(round(float(value), 3 if unit == "mV" else 1), unit, None)


def _axis(key: str, area: tuple[float, float] | None, min_area: float, why: str) -> Measurement:
    """Frontal axis ``atan2(area aVF, area I)`` in degrees, None when indeterminate."""
    if area is None:
        return _m(key, None, why)
    if math.hypot(*area) < min_area:
        return _m(key, None, f"net area in I and aVF too small ({math.hypot(*area):.2f} mV*ms): axis indeterminate")
    return _m(key, math.degrees(math.atan2(area[1], area[0])))


def _amplitudes(y: np.ndarray, qon: float, qoff: float) -> dict[str, Measurement]:
    """Voltage criteria on the QRS of a baseline-referred beat (mV)."""
    q = y[:, int(math.floor(qon)) : int(math.ceil(qoff)) + 1]
    r = np.maximum(q.max(axis=1), 0.0)
    s = np.maximum(-q.min(axis=1), 0.0)
    p2p = np.ptp(q, axis=1)
    return {
        "sokolow_lyon_mv": _m("sokolow_lyon_mv", s[_IX["V1"]] + max(r[_IX["V5"]], r[_IX["V6"]])),
        "cornell_mv": _m("cornell_mv", r[_IX["aVL"]] + s[_IX["V3"]]),
        "limb_qrs_max_mv": _m("limb_qrs_max_mv", p2p[:6].max()),
        "precordial_qrs_max_mv": _m("precordial_qrs_max_mv", p2p[6:].max()),
    }


def _check(median: Any, fs: Any) -> tuple[np.ndarray, float]:
    x = np.asarray(median, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != 12:
        raise ValueError(f"median beat must have shape (12, n); got {x.shape}")
    fs = float(fs)
    if not math.isfinite(fs) or fs < 100:
        raise ValueError(f"sampling rate must be >= 100 Hz; got {fs}")
    if x.shape[1] < 0.6 * fs:
        raise ValueError(f"median beat must span at least 0.6 s; got {x.shape[1] / fs:.2f} s")
    if not np.all(np.isfinite(x)):
        raise ValueError("median beat contains NaN or infinite values")
    return x, fs


def _intervals(fid: dict[str, float | None], why: dict[str, str | None], fs: float,
               rr: float | None) -> dict[str, Measurement]:
    """PR, P duration, QRS, QT, QT tangent and QTc from the fiducials (sample positions)."""
    ms = 1000.0 / fs
    qon, qoff, pon, poff, tend, ttan = (fid[k] for k in ("qrs_onset", "qrs_offset", "p_onset", "p_offset",
                                                         "t_end", "t_end_tangent"))
    res = {"qrs_ms": _m("qrs_ms", (qoff - qon) * ms),
           "pr_ms": _m("pr_ms", None if pon is None else (qon - pon) * ms, why["p"]),
           "p_ms": _m("p_ms", None if pon is None or poff is None else (poff - pon) * ms, why["p"]),
           "qt_ms": _m("qt_ms", None if tend is None else (tend - qon) * ms, why["t"]),
           "qt_tangent_ms": _m("qt_tangent_ms", None if ttan is None else (ttan - qon) * ms,
                               why["t"] or "no descending T limb for a tangent")}
    qt = res["qt_ms"].value
    for key, power in (("qtc_bazett_ms", 0.5), ("qtc_fridericia_ms", 1.0 / 3.0)):
        reason = "no QT interval" if qt is None else "no heart rate (RR interval unknown)"
        res[key] = _m(key, None if qt is None or rr is None else qt / (rr / 1000.0) ** power, reason)
    return res


def measure_global(median: np.ndarray, fs: float, *, r_index: int | None = None, rr_ms: float | None = None
                   ) -> tuple[dict[str, Measurement], dict[str, float | None]]:
    """Global intervals, axes and QRS voltages of a 12-lead median beat.

    QRS onset/offset come from the spatial velocity of the 40 Hz low-passed beat, P onset/
    offset and T end from that of the 25 Hz low-passed P and T segments
    (:mod:`hfviz.ecg.delineate`); each lead's isoelectric level is its median over the
    16-4 ms before QRS onset.

    Parameters
    ----------
    median : ndarray, shape (12, n)
        Median beat in mV, leads in :data:`~hfviz.ecg.record.LEADS` order, at least 0.6 s
        long, one QRS complex roughly in the middle.
    fs : float
        Sampling rate of ``median`` in Hz (>= 100).
    r_index : int, optional
        Sample index of the R peak (any point inside the QRS works); by default the
        maximum of the spatial velocity in the middle 70 % of the beat.
    rr_ms : float, optional
        Mean RR interval of the recording in ms. Needed for heart rate and QTc; also
        bounds the T-wave search and excludes the previous beat's T wave from the P search.
        Ignored outside 200-3000 ms.

    Returns
    -------
    measurements : dict of str to Measurement
        Keys :data:`MEASUREMENT_KEYS`: ``heart_rate_bpm``; ``pr_ms``, ``p_ms``, ``qrs_ms``,
        ``qt_ms`` (T end at the return to baseline), ``qt_tangent_ms`` (tangent method on
        the T-vector lead), ``qtc_bazett_ms``, ``qtc_fridericia_ms`` (ms); ``p_axis_deg``,
        ``qrs_axis_deg``, ``t_axis_deg`` (frontal, degrees); ``sokolow_lyon_mv`` (S V1 +
        max R V5/V6), ``cornell_mv`` (R aVL + S V3), ``limb_qrs_max_mv`` and
        ``precordial_qrs_max_mv`` (largest QRS peak-to-peak), mV.
    fiducials : dict of str to float or None
        :data:`hfviz.ecg.delineate.FIDUCIALS` as sub-sample positions into ``median``.

    Raises
    ------
    ValueError
        Wrong shape, non-finite values, ``fs`` < 100 Hz or a beat shorter than 0.6 s.
    """
    x, fs = _check(median, fs)
    rr = float(rr_ms) if rr_ms is not None and math.isfinite(rr_ms) and 200 <= rr_ms <= 3000 else None
    res = {"heart_rate_bpm": _m("heart_rate_bpm", None if rr is None else 60000.0 / rr,
                                "RR interval unknown or implausible")}
    fid, why, y = delineate(x, fs, r_index=r_index, rr_ms=rr)
    if y is None:
        res.update({k: _m(k, None, why["qrs"]) for k in MEASUREMENT_KEYS if k != "heart_rate_bpm"})
        return res, fid
    qon, qoff = fid["qrs_onset"], fid["qrs_offset"]
    res.update(_intervals(fid, why, fs, rr))
    res["p_axis_deg"] = _axis("p_axis_deg", frontal_area(y, fid["p_onset"], fid["p_offset"], fs), 0.5,
                              why["p"] or "no P wave")
    res["qrs_axis_deg"] = _axis("qrs_axis_deg", frontal_area(y, qon, qoff, fs), 1.0, "no QRS")
    res["t_axis_deg"] = _axis("t_axis_deg", frontal_area(y, qoff, fid["t_end"], fs), 1.0, why["t"] or "no T end")
    res.update(_amplitudes(y, qon, qoff))
    return {k: res[k] for k in MEASUREMENT_KEYS}, fid


def measure_beat(r_peaks: np.ndarray, beat: np.ndarray | None, beat_reason: str | None) -> dict[str, Measurement]:
    """Measurements from 500 Hz R peaks and a (12, 600) median beat (or why there is none).

    Parameters
    ----------
    r_peaks : ndarray of int, shape (k,)
        R peaks of the strip at :data:`FS_HZ`; their mean RR gives heart rate and QTc.
    beat : ndarray, shape (12, 600), or None
        Median beat at :data:`FS_HZ` in mV with the R peak at :data:`R_OFFSET`.
    beat_reason : str or None
        Why there is no median beat (used as every interval's reason when ``beat`` is None).

    Returns
    -------
    dict of str to Measurement
        Keys :data:`MEASUREMENT_KEYS`.
    """
    rr_ms = float(np.mean(np.diff(r_peaks))) * 1000.0 / FS_HZ if r_peaks.size >= 2 else None
    if beat is None:
        why = beat_reason or "no median beat"
        res = {k: _m(k, None, why) for k in MEASUREMENT_KEYS}
        res["heart_rate_bpm"] = _m("heart_rate_bpm", None if rr_ms is None else 60000.0 / rr_ms)
    else:
        res, _ = measure_global(beat, FS_HZ, r_index=R_OFFSET, rr_ms=rr_ms)
    if rr_ms is None:
        res["heart_rate_bpm"] = _m("heart_rate_bpm", None, f"{r_peaks.size} heartbeat(s) detected; need 2")
    return res


def measure(signal_mv: np.ndarray, fs: float) -> dict[str, Measurement]:
    """All measurements of a 12-lead strip (:data:`MEASUREMENT_KEYS`).

    The strip is resampled to 500 Hz and cleaned; heart rate comes from the mean RR interval
    of the R peaks (:func:`~hfviz.ecg.signal.detect_r_peaks`); everything else is measured
    globally on the median beat (:func:`measure_global`). QTc Bazett = QT / sqrt(RR),
    Fridericia = QT / RR**(1/3), RR in seconds.

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
    fs = check_fs(fs, "signal")
    x = check_signal(signal_mv, "signal", min_len=max(int(0.5 * fs), 64))
    if fs != FS_HZ:
        x = resample(x, fs, FS_HZ)
    x = clean(x, FS_HZ)
    r = detect_r_peaks(x, FS_HZ)
    try:
        beat, why = median_beat_from_peaks(x, r, "signal"), None
    except ECGFormatError as exc:
        beat, why = None, _reason(exc)
    return measure_beat(r, beat, why)


def _reason(exc: ECGFormatError) -> str:
    """The message of an error without the leading ``name:``."""
    msg = str(exc)
    return msg.split(": ", 1)[1] if ": " in msg else msg


def device_values(device: dict[str, Any] | None) -> dict[str, float]:
    """The device's own values for our keys, from ``record.meta["device_measurements"]``.

    Parameters
    ----------
    device : dict or None
        Name -> ``{"value", "unit"}`` (or a bare number) as the file states it.

    Returns
    -------
    dict of str to float
        Our key (ms, bpm, deg) -> the device's value, for the keys the file carries
        (:data:`DEVICE_NAMES`, first name found).
    """
    out: dict[str, float] = {}
    for key, names in DEVICE_NAMES.items():
        for name in names:
            raw = (device or {}).get(name)
            raw = raw.get("value") if isinstance(raw, dict) else raw
            try:
                value = float(raw)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                out[key] = value
                break
    return out


#: Interval name and what to look at when ours and the device's differ.
_DISAGREEMENT_HINT = {"pr_ms": ("PR", "check the P wave"), "p_ms": ("P duration", "check the P-wave boundaries"),
                      "qrs_ms": ("QRS", "check the QRS onset and end"), "qt_ms": ("QT", "check the end of the T wave")}


def compare_with_device(measurements: dict[str, Measurement], device: dict[str, Any] | None
                        ) -> dict[str, tuple[float, str | None]]:
    """Our values against the device's, with a sentence where an interval differs beyond IEC.

    Parameters
    ----------
    measurements : dict of str to Measurement
        Ours (:func:`measure`).
    device : dict or None
        ``record.meta["device_measurements"]`` (see :func:`device_values`).

    Returns
    -------
    dict of str to (float, str or None)
        For every key both have a value for: ours - device (in the key's unit), and for PR,
        P duration, QRS and QT a sentence when the difference exceeds the IEC 60601-2-25
        mean tolerance (:data:`IEC_TOLERANCE_MS`), e.g. ``"PR differs from the device by
        76 ms; check the P wave (...)"``; None otherwise.
    """
    out: dict[str, tuple[float, str | None]] = {}
    for key, dev in device_values(device).items():
        ours = measurements.get(key)
        if ours is None or ours.value is None:
            continue
        diff = float(ours.value) - dev
        note = None
        if key in IEC_TOLERANCE_MS and abs(diff) > IEC_TOLERANCE_MS[key][0]:
            name, hint = _DISAGREEMENT_HINT[key]
            note = (f"{name} differs from the device by {abs(diff):.0f} ms; {hint} (ours {ours.value:.0f} ms, "
                    f"device {dev:.0f} ms; IEC 60601-2-25 accepts a mean difference of ±{IEC_TOLERANCE_MS[key][0]:g} ms)")
        out[key] = (diff, note)
    return out
