"""Published ECG diagnostic criteria, checked with the project's own measurements.

:func:`evaluate_criteria` reads a prepared ECG (:class:`hfviz.ecg.prepare.PreparedECG`: its
global measurements from :mod:`hfviz.ecg.measure`, its R peaks and its median beat) and says,
for every condition the simulator can produce (the keys of :data:`CRITERIA`, the same names as
``hfviz.synthetic.phenotypes.PHENOTYPES``), whether the published criterion holds and with
which measured values. It is a check of the simulator ("does a synthetic LBBB meet the LBBB
criteria?"), not a diagnostic tool, and it is not shown to clinicians as a diagnosis.

Interval, axis and voltage criteria use :mod:`hfviz.ecg.measure` as it is. Lead-by-lead QRS
morphology (q waves, R/S waves, notches, R-peak time) and T-wave amplitudes, which
:mod:`hfviz.ecg.measure` does not provide, are measured here (:func:`lead_morphology`) on the
same baseline-referred median beat between the same global QRS onset and offset
(:func:`hfviz.ecg.delineate.delineate`). Where a criterion needs a number the published text
leaves open (what counts as "broad" or as a notch), the value chosen is in :data:`SETTINGS`
and in the criterion's ``rule``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import signal as sps

from hfviz.ecg.delineate import delineate
from hfviz.ecg.measure import Measurement
from hfviz.ecg.prepare import PreparedECG
from hfviz.ecg.record import LEADS
from hfviz.ecg.signal import R_OFFSET

_IX = {name: i for i, name in enumerate(LEADS)}

#: Operational settings where a published criterion leaves a number open.
SETTINGS: dict[str, float] = {
    # zero-phase low-pass of the beat before finding turning points (Das et al. 2006 recorded at 0.15-100 Hz)
    "morphology_lowpass_hz": 100.0,
    "turning_point_mv": 0.04,  # a peak or notch must stand out by this much (mV) ...
    "turning_point_frac": 0.05,  # ... and by this fraction of the lead's QRS peak-to-peak
    "wave_mv": 0.05,  # smallest R, r', q or S counted as a wave (mV)
    "broad_r_half_width_ms": 40.0,  # LBBB: R wider than this at half its amplitude
    "lbbb_r_peak_time_ms": 60.0,  # LBBB: R-peak time in V5-V6 above this (AHA/ACC/HRS 2009)
    "rbbb_s_ms": 40.0,  # RBBB: S in I and V6 longer than this, or than the R (AHA/ACC/HRS 2009)
    "q_ms": 30.0,  # prior MI: Q at least this long (20 ms in V2-V3) (4th universal definition)
    "q_mv": 0.1,  # prior MI: and at least this deep
    "t_inversion_mv": 0.1,  # T inversion at least this deep (international criteria, 2017)
    "t_flat_mv": 0.1,  # flat T: |T| below this
    "t_flat_r_mv": 0.5,  # ... in a lead whose R is at least this tall
    "af_rmssd_frac": 0.10,  # AF: RMS of successive RR differences >= this fraction of the mean RR
}

#: Lead pairs counted as contiguous (4th universal definition of MI groupings: I-aVL,
#: II-III-aVF, adjacent precordial leads).
CONTIGUOUS: tuple[tuple[str, str], ...] = (
    ("I", "aVL"), ("II", "III"), ("II", "aVF"), ("III", "aVF"),
    ("V1", "V2"), ("V2", "V3"), ("V3", "V4"), ("V4", "V5"), ("V5", "V6"),
)

#: Leads of each infarct territory (the simulator's territories).
TERRITORY_LEADS: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"),
    "anterior": ("V1", "V2", "V3", "V4"),
    "lateral": ("I", "aVL", "V5", "V6"),
}

#: Das et al. 2006/2008 fragmented QRS: coronary territories whose contiguous leads count.
_FQRS_TERRITORIES: dict[str, tuple[str, ...]] = {
    "anterior": ("V1", "V2", "V3", "V4", "V5"),
    "inferior": ("II", "III", "aVF"),
    "lateral": ("I", "aVL", "V6"),
}


@dataclasses.dataclass(frozen=True)
class CriterionSpec:
    """One published criterion: its condition key, a name, the source and the rule in words."""

    key: str
    name: str
    reference: str
    rule: str


#: The criteria, one per simulator condition, in the simulator's order.
CRITERIA: dict[str, CriterionSpec] = {s.key: s for s in (
    CriterionSpec("normal", "Within normal limits", "AHA/ACCF/HRS 2009 normal limits",
                  "sinus rhythm 50-100 bpm, PR 120-200 ms, QRS < 120 ms, QTc (Bazett) < 450 ms (men) / "
                  "< 460 ms (women), QRS axis -30 to +90 deg, and no other criterion below met"),
    CriterionSpec("sinus_bradycardia", "Sinus bradycardia", "conventional definition",
                  "P waves present (sinus rhythm) and heart rate < 60 bpm"),
    CriterionSpec("sinus_tachycardia", "Sinus tachycardia", "conventional definition",
                  "P waves present (sinus rhythm) and heart rate > 100 bpm"),
    CriterionSpec("av_block_1", "First-degree AV block", "AHA/ACCF/HRS 2009", "PR interval > 200 ms"),
    CriterionSpec("lbbb", "Complete left bundle branch block", "AHA/ACCF/HRS 2009 (Surawicz et al.)",
                  "QRS >= 120 ms; broad notched or slurred R in I, aVL, V5 and V6 (R at least as tall as "
                  "S, > 40 ms wide at half its amplitude, at most one notch); no q wave in I, V5, V6; "
                  "R-peak time > 60 ms in V5 and V6"),
    CriterionSpec("rbbb", "Complete right bundle branch block", "AHA/ACCF/HRS 2009 (Surawicz et al.)",
                  "QRS >= 120 ms; rsr', rsR' or rSR' (a terminal R' after an S) or a broad notched R in "
                  "V1 or V2; S wave in I and V6 longer than 40 ms or than the R wave"),
    CriterionSpec("lvh", "Left ventricular hypertrophy (voltage)", "Sokolow-Lyon 1949; Cornell (Casale 1985)",
                  "S V1 + R V5/V6 >= 3.5 mV, or R aVL + S V3 > 2.8 mV (men) / > 2.0 mV (women; "
                  "men's threshold when sex is unknown)"),
    CriterionSpec("mi_inferior", "Prior inferior Q-wave infarct", "Fourth universal definition of MI (2018)",
                  "Q >= 30 ms and >= 0.1 mV deep, or QS, in 2 contiguous leads of II, III, aVF"),
    CriterionSpec("mi_anterior", "Prior anterior Q-wave infarct", "Fourth universal definition of MI (2018)",
                  "Q >= 30 ms and >= 0.1 mV deep, or QS, in 2 contiguous leads of V1-V4 (any Q >= 20 ms "
                  "or QS in V2-V3)"),
    CriterionSpec("mi_lateral", "Prior lateral Q-wave infarct", "Fourth universal definition of MI (2018)",
                  "Q >= 30 ms and >= 0.1 mV deep, or QS, in I and aVL or in V5 and V6"),
    CriterionSpec("af", "Atrial fibrillation", "ESC 2020 AF guideline",
                  "no distinct P waves (none found on the median beat) and irregular RR intervals (RMS of "
                  "successive differences >= 10 % of the mean RR)"),
    CriterionSpec("long_qt", "Long QT", "ESC 2015 / AHA 2009 thresholds",
                  "QTc (Bazett) >= 470 ms (men) / >= 480 ms (women; 480 ms when sex is unknown)"),
    CriterionSpec("low_voltage", "Low QRS voltage", "AHA/ACCF/HRS 2009",
                  "QRS peak-to-peak < 0.5 mV in every limb lead or < 1.0 mV in every precordial lead"),
    CriterionSpec("t_inversion", "T-wave inversion", "International criteria for ECG interpretation in "
                  "athletes (Sharma et al. 2017)",
                  "T inverted by >= 0.1 mV in 2 contiguous leads (aVR, III and V1 not counted)"),
    CriterionSpec("t_flat", "Flat T waves", "Minnesota code 5-3 (simplified)",
                  "|T| < 0.1 mV in at least 2 of I, aVL, II, aVF, V4-V6, counting leads whose R is >= 0.5 mV"),
    CriterionSpec("left_axis", "Left axis deviation", "AHA/ACCF/HRS 2009", "QRS axis between -90 and -30 deg"),
    CriterionSpec("fragmented_qrs", "Fragmented QRS", "Das et al. 2006 (narrow QRS), 2008 (wide QRS)",
                  "QRS < 120 ms: an extra R' or a notch in the R or in the nadir of the S (>= 1 notch); QRS >= "
                  "120 ms: > 2 notches; in 2 contiguous leads of one coronary territory (V1-V5; II, III, aVF; "
                  "I, aVL, V6)"),
)}


@dataclasses.dataclass(frozen=True)
class CriterionResult:
    """Whether one criterion holds on one ECG.

    Attributes
    ----------
    spec : CriterionSpec
        The criterion.
    met : bool or None
        True / False, or None when a needed measurement is missing.
    evidence : str
        The measured values behind the verdict, in words (e.g. ``"QRS 152 ms; ..."``).
    values : dict of str to float or None
        The same values as numbers (ms, mV, bpm, deg, counts).
    """

    spec: CriterionSpec
    met: bool | None
    evidence: str
    values: dict[str, float | None]


@dataclasses.dataclass(frozen=True)
class LeadMorphology:
    """QRS and T-wave shape of one lead of a median beat (mV, ms from the global QRS onset).

    Attributes
    ----------
    r_mv, s_mv : float
        Largest positive and (positive number) largest negative QRS deflection.
    q_mv, q_ms : float
        Depth and duration of an initial negative deflection (0 when the QRS starts upwards).
    qs : bool
        No R wave (< ``wave_mv``) in a QRS at least 0.1 mV deep.
    r_half_width_ms : float
        Width of the main R wave at half its amplitude (0 without an R wave).
    r_peak_time_ms : float
        QRS onset to the last peak of the main R wave (R-peak time; 0 without an R wave).
    r_ms : float
        Duration of the main positive lobe (0 without one).
    terminal_s_ms, terminal_s_mv : float
        Duration and depth of the negative lobe after the main R wave (0 when none).
    r_prime_mv : float
        Height of a positive wave after a negative S that follows an initial r (0 when none).
    r_notches : int
        Dips inside the main R wave (notched R).
    notches : int
        Das notches: dips inside positive waves, bumps inside negative waves, extra R' waves.
    t_mv : float
        Signed T-wave amplitude (the larger of its positive and negative extremes).
    """

    r_mv: float
    s_mv: float
    q_mv: float
    q_ms: float
    qs: bool
    r_half_width_ms: float
    r_peak_time_ms: float
    r_ms: float
    terminal_s_ms: float
    terminal_s_mv: float
    r_prime_mv: float
    r_notches: int
    notches: int
    t_mv: float


def _lowpass(x: np.ndarray, fs: float, hz: float) -> np.ndarray:
    if hz >= 0.45 * fs:
        return x
    sos = sps.butter(2, hz, btype="lowpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, x, axis=-1)


def _turning_points(x: np.ndarray, prominence: float) -> list[tuple[int, str]]:
    """Interior local maxima/minima of ``x`` standing out by ``prominence``, in time order."""
    padded = np.concatenate([[x[0]], x, [x[-1]]])
    hi, _ = sps.find_peaks(padded, prominence=prominence)
    lo, _ = sps.find_peaks(-padded, prominence=prominence)
    pts = sorted([(int(i) - 1, "max") for i in hi] + [(int(i) - 1, "min") for i in lo])
    return [(min(max(i, 0), x.size - 1), kind) for i, kind in pts]


def _lobe(x: np.ndarray, k: int, positive: bool) -> tuple[int, int]:
    """First and last index of the run of same-signed samples around ``k``."""
    inside = x > 0 if positive else x < 0
    a = k
    while a > 0 and inside[a - 1]:
        a -= 1
    b = k
    while b < x.size - 1 and inside[b + 1]:
        b += 1
    return a, b


def _q_wave(x: np.ndarray, ms: float, wave: float) -> tuple[float, float]:
    """Depth (mV) and duration (ms) of an initial negative deflection, (0, 0) when none."""
    big = np.flatnonzero(np.abs(x) >= 0.5 * wave)
    if big.size == 0 or x[big[0]] > 0:
        return 0.0, 0.0
    a, b = _lobe(x, int(big[0]), positive=False)
    depth = float(-x[a : b + 1].min())
    return (depth, (b - a + 1) * ms) if depth >= wave else (0.0, 0.0)


def _count_notches(x: np.ndarray, pts: list[tuple[int, str]]) -> tuple[int, int]:
    """Das notches of a QRS (all leads' rule) and the dips inside its largest R wave."""
    notches, seen_r, seen_s_after_r = 0, False, False
    for i, kind in pts:
        if kind == "min" and x[i] > 0:
            notches += 1  # a dip that stays above the baseline: notched R
        elif kind == "max" and x[i] < 0:
            notches += 1  # a bump that stays below the baseline: notched Q or S
        elif kind == "max":
            if seen_s_after_r:
                notches += 1  # an R' after an S
            seen_r = True
        elif kind == "min" and seen_r:
            seen_s_after_r = True
    k = int(np.argmax(x))
    if x[k] <= 0:
        return notches, 0
    a, b = _lobe(x, k, positive=True)
    r_dips = sum(1 for i, kind in pts if kind == "min" and a < i < b and x[i] > 0)
    return notches, r_dips


def _one_lead(x: np.ndarray, t: np.ndarray, ms: float) -> LeadMorphology:
    """:class:`LeadMorphology` of one lead's QRS ``x`` and ST-T segment ``t`` (baseline-referred, mV)."""
    wave = SETTINGS["wave_mv"]
    p2p = float(np.ptp(x))
    prom = max(SETTINGS["turning_point_mv"], SETTINGS["turning_point_frac"] * p2p)
    pts = _turning_points(x, prom)
    r_mv, s_mv = max(float(x.max()), 0.0), max(float(-x.min()), 0.0)
    q_mv, q_ms = _q_wave(x, ms, wave)
    notches, r_dips = _count_notches(x, pts)
    half_w = peak_t = r_ms = s_ms = s_depth = r_prime = 0.0
    if r_mv >= wave:
        k = int(np.argmax(x))
        a, b = _lobe(x, k, positive=True)
        above = np.flatnonzero(x[a : b + 1] >= 0.5 * r_mv) + a
        half_w = (above[-1] - above[0] + 1) * ms
        peaks = [i for i, kind in pts if kind == "max" and a <= i <= b and x[i] >= 0.5 * r_mv] or [k]
        peak_t = peaks[-1] * ms
        r_ms = (b - a + 1) * ms
        if b + 1 < x.size and x[b + 1 :].min() < 0:
            k2 = b + 1 + int(np.argmin(x[b + 1 :]))
            sa, sb = _lobe(x, k2, positive=False)
            s_ms, s_depth = (sb - sa + 1) * ms, float(-x[k2])
    # r' after an S: the last maximum, positive, preceded by a negative minimum, itself preceded by a positive max
    kinds = [(kind, float(x[i])) for i, kind in pts]
    for j in range(len(kinds) - 1, 1, -1):
        if kinds[j][0] == "max" and kinds[j][1] >= wave and kinds[j - 1][0] == "min" and kinds[j - 1][1] < 0 \
                and any(kd == "max" and v > 0 for kd, v in kinds[: j - 1]):
            r_prime = kinds[j][1]
            break
    t_mv = float(t.max()) if t.size and t.max() >= -t.min() else float(t.min()) if t.size else 0.0
    return LeadMorphology(
        r_mv=r_mv, s_mv=s_mv, q_mv=q_mv, q_ms=q_ms, qs=bool(r_mv < wave and s_mv >= 0.1),
        r_half_width_ms=half_w, r_peak_time_ms=peak_t, r_ms=r_ms, terminal_s_ms=s_ms, terminal_s_mv=s_depth,
        r_prime_mv=r_prime, r_notches=r_dips, notches=notches, t_mv=t_mv)


def lead_morphology(beat: np.ndarray, fs: float, fiducials: dict[str, float | None]
                    ) -> dict[str, LeadMorphology] | None:
    """QRS and T-wave shape of every lead of a baseline-referred median beat.

    Parameters
    ----------
    beat : ndarray, shape (12, n)
        Median beat in mV minus each lead's isoelectric level (the ``beat`` that
        :func:`hfviz.ecg.delineate.delineate` returns), leads in :data:`LEADS` order.
    fs : float
        Sampling rate in Hz.
    fiducials : dict
        Global ``qrs_onset``, ``qrs_offset`` and (optionally) ``t_end`` as sample positions.

    Returns
    -------
    dict of str to LeadMorphology, or None
        Per lead name; None when the QRS boundaries are missing.
    """
    qon, qoff = fiducials.get("qrs_onset"), fiducials.get("qrs_offset")
    if qon is None or qoff is None:
        return None
    ms = 1000.0 / fs
    y = _lowpass(np.asarray(beat, dtype=np.float64), fs, SETTINGS["morphology_lowpass_hz"])
    i0, i1 = math.floor(qon), math.ceil(qoff) + 1
    t_end = fiducials.get("t_end")
    t0 = int(qoff + 60.0 / ms)
    t1 = int(t_end) if t_end is not None else min(int(qoff + 400.0 / ms), y.shape[1])
    return {lead: _one_lead(y[k, i0:i1], y[k, t0 : max(t1, t0)], ms) for lead, k in _IX.items()}


# --- the criteria -----------------------------------------------------------------------------
def _v(m: dict[str, Measurement], key: str) -> float | None:
    meas = m.get(key)
    return None if meas is None else meas.value


def _pairs(leads: tuple[str, ...]) -> list[tuple[str, str]]:
    return [p for p in CONTIGUOUS if p[0] in leads and p[1] in leads]


def _fmt(x: float | None, unit: str, nd: int = 0) -> str:
    return "not measured" if x is None else f"{x:.{nd}f} {unit}"


def _intervals(m: dict[str, Measurement], sex: str | None) -> dict[str, tuple[bool | None, str, dict]]:
    """Criteria on heart rate, PR, QTc, axis and voltages (hfviz.ecg.measure values)."""
    hr, pr, qtc, axis = (_v(m, k) for k in ("heart_rate_bpm", "pr_ms", "qtc_bazett_ms", "qrs_axis_deg"))
    sl, cornell = _v(m, "sokolow_lyon_mv"), _v(m, "cornell_mv")
    limb, prec = _v(m, "limb_qrs_max_mv"), _v(m, "precordial_qrs_max_mv")
    sinus = pr is not None
    out: dict[str, tuple[bool | None, str, dict]] = {}
    hr_txt = f"heart rate {_fmt(hr, 'bpm')}, P waves {'present' if sinus else 'not found'}"
    out["sinus_bradycardia"] = (None if hr is None else sinus and hr < 60, hr_txt, {"heart_rate_bpm": hr})
    out["sinus_tachycardia"] = (None if hr is None else sinus and hr > 100, hr_txt, {"heart_rate_bpm": hr})
    out["av_block_1"] = (None if pr is None else pr > 200, f"PR {_fmt(pr, 'ms')}", {"pr_ms": pr})
    cornell_th = 2.0 if sex == "F" else 2.8
    lvh = None if sl is None or cornell is None else bool(sl >= 3.5 or cornell > cornell_th)
    lvh_txt = f"Sokolow-Lyon {_fmt(sl, 'mV', 2)}, Cornell {_fmt(cornell, 'mV', 2)} (threshold {cornell_th:g} mV)"
    out["lvh"] = (lvh, lvh_txt, {"sokolow_lyon_mv": sl, "cornell_mv": cornell})
    qt_th = 470.0 if sex == "M" else 480.0
    qt_txt = f"QTc (Bazett) {_fmt(qtc, 'ms')} (threshold {qt_th:.0f} ms)"
    out["long_qt"] = (None if qtc is None else qtc >= qt_th, qt_txt,
                      {"qtc_bazett_ms": qtc, "qtc_fridericia_ms": _v(m, "qtc_fridericia_ms")})
    low = None if limb is None or prec is None else bool(limb < 0.5 or prec < 1.0)
    low_txt = (f"largest QRS peak-to-peak {_fmt(limb, 'mV', 2)} in the limb leads, "
               f"{_fmt(prec, 'mV', 2)} in the precordial leads")
    out["low_voltage"] = (low, low_txt, {"limb_qrs_max_mv": limb, "precordial_qrs_max_mv": prec})
    out["left_axis"] = (None if axis is None else -90.0 <= axis < -30.0, f"QRS axis {_fmt(axis, 'deg')}",
                        {"qrs_axis_deg": axis})
    return out


def _lbbb(qrs: float, lm: dict[str, LeadMorphology]) -> tuple[bool, str, dict]:
    broad = {}
    for lead in ("I", "aVL", "V5", "V6"):
        x = lm[lead]
        broad[lead] = (x.r_mv >= SETTINGS["wave_mv"] and x.r_mv >= x.s_mv
                       and x.r_half_width_ms > SETTINGS["broad_r_half_width_ms"] and x.r_notches <= 1)
    no_q = all(lm[lead].q_mv == 0.0 for lead in ("I", "V5", "V6"))
    rpt = all(lm[lead].r_peak_time_ms > SETTINGS["lbbb_r_peak_time_ms"] for lead in ("V5", "V6"))
    met = qrs >= 120 and all(broad.values()) and no_q and rpt
    ev = "; ".join(f"{lead}: R {lm[lead].r_mv:.2f} mV, S {lm[lead].s_mv:.2f} mV, {lm[lead].r_half_width_ms:.0f} ms "
                   f"wide at half height, {lm[lead].r_notches} notch(es)" for lead in broad)
    ev += f"; q in I/V5/V6: {'none' if no_q else 'present'}; R-peak time V5 {lm['V5'].r_peak_time_ms:.0f} ms, " \
          f"V6 {lm['V6'].r_peak_time_ms:.0f} ms"
    vals = {f"r_half_width_{lead}_ms": lm[lead].r_half_width_ms for lead in broad}
    vals.update({"r_peak_time_V5_ms": lm["V5"].r_peak_time_ms, "r_peak_time_V6_ms": lm["V6"].r_peak_time_ms,
                 "broad_r_leads": float(sum(broad.values()))})
    return met, ev, vals


def _rbbb(qrs: float, lm: dict[str, LeadMorphology]) -> tuple[bool, str, dict]:
    def v1_like(x: LeadMorphology) -> bool:
        broad_r = x.r_mv >= 2 * x.s_mv and x.r_notches >= 1 and x.r_peak_time_ms > 50
        return x.r_prime_mv >= SETTINGS["wave_mv"] or broad_r

    def wide_s(x: LeadMorphology) -> bool:
        return x.terminal_s_mv >= SETTINGS["wave_mv"] and (x.terminal_s_ms > SETTINGS["rbbb_s_ms"] or
                                                           x.terminal_s_ms > x.r_ms)
    v12 = v1_like(lm["V1"]) or v1_like(lm["V2"])
    s_ok = wide_s(lm["I"]) and wide_s(lm["V6"])
    ev = (f"R' {lm['V1'].r_prime_mv:.2f} mV in V1, {lm['V2'].r_prime_mv:.2f} mV in V2; S in I "
          f"{lm['I'].terminal_s_ms:.0f} ms (R {lm['I'].r_ms:.0f} ms), in V6 {lm['V6'].terminal_s_ms:.0f} ms "
          f"(R {lm['V6'].r_ms:.0f} ms)")
    return qrs >= 120 and v12 and s_ok, ev, {"r_prime_V1_mv": lm["V1"].r_prime_mv, "r_prime_V2_mv": lm["V2"].r_prime_mv,
                                              "s_I_ms": lm["I"].terminal_s_ms, "s_V6_ms": lm["V6"].terminal_s_ms}


def _pathological_q(lead: str, x: LeadMorphology) -> bool:
    min_ms = 20.0 if lead in ("V2", "V3") else SETTINGS["q_ms"]
    min_mv = SETTINGS["wave_mv"] if lead in ("V2", "V3") else SETTINGS["q_mv"]
    return x.qs or (x.q_ms >= min_ms and x.q_mv >= min_mv)


def _mi(territory: str, lm: dict[str, LeadMorphology], lbbb: bool) -> tuple[bool | None, str, dict]:
    leads = TERRITORY_LEADS[territory]
    if lbbb:
        return None, "not applicable: the QRS meets the LBBB criteria (Q-wave criteria exclude LBBB)", {}
    path = {lead: _pathological_q(lead, lm[lead]) for lead in leads}
    met = any(path[a] and path[b] for a, b in _pairs(leads))
    ev = "; ".join(f"{lead}: " + ("QS" if lm[lead].qs else f"Q {lm[lead].q_ms:.0f} ms, {lm[lead].q_mv:.2f} mV")
                   for lead in leads)
    return met, ev, {"pathological_q_leads": float(sum(path.values()))}


def _t_inversion(lm: dict[str, LeadMorphology]) -> tuple[bool, str, dict]:
    leads = tuple(lead for lead in LEADS if lead not in ("aVR", "III", "V1"))
    inv = {lead: lm[lead].t_mv <= -SETTINGS["t_inversion_mv"] for lead in leads}
    met = any(inv[a] and inv[b] for a, b in _pairs(leads))
    shown = [lead for lead in leads if inv[lead]]
    return met, "T inverted by >= 0.1 mV in " + (", ".join(shown) or "no lead"), {"inverted_leads": float(len(shown))}


def _t_flat(lm: dict[str, LeadMorphology]) -> tuple[bool | None, str, dict]:
    leads = ("I", "aVL", "II", "aVF", "V4", "V5", "V6")
    usable = [lead for lead in leads if lm[lead].r_mv >= SETTINGS["t_flat_r_mv"]]
    flat = {lead: lead in usable and abs(lm[lead].t_mv) < SETTINGS["t_flat_mv"] for lead in leads}
    met = sum(flat.values()) >= 2
    shown = [lead for lead in leads if flat[lead]]
    return met, "flat T (< 0.1 mV, R >= 0.5 mV) in " + (", ".join(shown) or "no lead"), {"flat_leads": float(len(shown))}


def _fqrs(qrs: float, lm: dict[str, LeadMorphology]) -> tuple[bool, str, dict]:
    need = 1 if qrs < 120 else 3
    frag = {lead: lm[lead].notches >= need for lead in LEADS}
    met = False
    for leads in _FQRS_TERRITORIES.values():
        pairs = _pairs(leads) if leads[0] == "V1" else [(a, b) for i, a in enumerate(leads) for b in leads[i + 1 :]]
        met = met or any(frag[a] and frag[b] for a, b in pairs)
    shown = [f"{lead} ({lm[lead].notches})" for lead in LEADS if frag[lead]]
    return met, f"leads with >= {need} notch(es): " + (", ".join(shown) or "none"), \
        {"fragmented_leads": float(sum(frag.values()))}


def _rr_irregularity(r_peaks: np.ndarray) -> float | None:
    """RMS of successive RR differences as a fraction of the mean RR (None with < 4 beats)."""
    rr = np.diff(np.asarray(r_peaks, dtype=np.float64))
    if rr.size < 3:
        return None
    return float(np.sqrt(np.mean(np.diff(rr) ** 2)) / np.mean(rr))


def evaluate_criteria(prepared: PreparedECG, sex: str | None = None) -> dict[str, CriterionResult]:
    """Check every criterion of :data:`CRITERIA` on one prepared ECG.

    Parameters
    ----------
    prepared : PreparedECG
        Output of :func:`hfviz.ecg.prepare.prepare` (500 Hz median beat with the R peak at
        :data:`~hfviz.ecg.signal.R_OFFSET`, strip R peaks, global measurements).
    sex : {"M", "F"}, optional
        For the sex-specific thresholds (Cornell, QTc); by default ``record.meta["sex"]``.
        Unknown sex uses the men's Cornell and the women's QTc threshold.

    Returns
    -------
    dict of str to CriterionResult
        One result per key of :data:`CRITERIA`, in that order.
    """
    sex = sex if sex is not None else prepared.record.meta.get("sex")
    m = prepared.measurements
    fs = prepared.fs_hz
    r = np.asarray(prepared.r_peaks)
    rr = float(np.mean(np.diff(r))) * 1000.0 / fs if r.size >= 2 else None
    fid, _, y = delineate(np.asarray(prepared.median_beat_mv), fs, r_index=R_OFFSET, rr_ms=rr)
    lm = None if y is None else lead_morphology(y, fs, fid)
    qrs = _v(m, "qrs_ms")
    raw: dict[str, tuple[bool | None, str, dict[str, Any]]] = _intervals(m, sex)
    if lm is None or qrs is None:
        for key in ("lbbb", "rbbb", "mi_inferior", "mi_anterior", "mi_lateral", "t_inversion", "t_flat",
                    "fragmented_qrs"):
            raw[key] = (None, "no QRS complex could be delineated on the median beat", {})
    else:
        raw["lbbb"] = _lbbb(qrs, lm)
        raw["rbbb"] = _rbbb(qrs, lm)
        for terr in TERRITORY_LEADS:
            raw[f"mi_{terr}"] = _mi(terr, lm, bool(raw["lbbb"][0]))
        raw["t_inversion"] = _t_inversion(lm)
        raw["t_flat"] = _t_flat(lm)
        raw["fragmented_qrs"] = _fqrs(qrs, lm)
    irr = _rr_irregularity(r)
    no_p = _v(m, "pr_ms") is None
    raw["af"] = (None if irr is None else bool(no_p and irr >= SETTINGS["af_rmssd_frac"]),
                 f"P waves {'not found' if no_p else 'present'}; successive RR differences "
                 + ("not measurable" if irr is None else f"{100 * irr:.0f} % of the mean RR"),
                 {"rr_rmssd_frac": irr})
    raw["normal"] = _normal(m, sex, raw)
    return {key: CriterionResult(spec, raw[key][0], raw[key][1], dict(raw[key][2])) for key, spec in CRITERIA.items()}


def _normal(m: dict[str, Measurement], sex: str | None, raw: dict[str, tuple[bool | None, str, dict]]
            ) -> tuple[bool | None, str, dict]:
    hr, pr, qrs, qtc, axis = (_v(m, k) for k in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qtc_bazett_ms",
                                                 "qrs_axis_deg"))
    qt_th = 460.0 if sex == "F" else 450.0
    checks = {
        "sinus rhythm 50-100 bpm": hr is not None and pr is not None and 50 <= hr <= 100,
        "PR 120-200 ms": pr is not None and 120 <= pr <= 200,
        "QRS < 120 ms": qrs is not None and qrs < 120,
        f"QTc < {qt_th:.0f} ms": qtc is not None and qtc < qt_th,
        "axis -30 to +90 deg": axis is not None and -30 <= axis <= 90,
    }
    others = [CRITERIA[k].name for k, v in raw.items() if k != "normal" and v[0]]
    failed = [k for k, ok in checks.items() if not ok]
    met = not failed and not others
    ev = ("all limits met" if not failed else "outside: " + ", ".join(failed)) + \
         ("; also meets: " + ", ".join(others) if others else "")
    return met, ev, {"failed_limits": float(len(failed)), "other_criteria_met": float(len(others))}
