"""A physiological 12-lead ECG simulator (SYNTHETIC data): a moving cardiac dipole.

Model
-----
The heart is a single current dipole whose vector ``h(t) = (X, Y, Z)`` (mV, Frank
orientation: X to the patient's left, Y to the feet, Z to the back) is, within one beat, a
sum of smooth compact waves::

    h(t) = sum_k a_k * b(t; c_k, r_k, f_k)
    b(t; c, r, f) = cos^2(pi (t - c) / (2 r))  for c - r <= t <= c,
                    cos^2(pi (t - c) / (2 f))  for c <= t <= c + f,   0 elsewhere,

one ``a_k`` (3 amplitudes) per wave: P (right then left atrial part), the QRS (septal,
early and late free-wall, terminal, and phenotype-specific parts: Q waves of an old
infarct, delayed conduction of a bundle branch block, fragmentation notches), an ST
component and the (asymmetric) T wave. Times are ms from QRS onset. Beats are placed on
an RR series with respiratory sinus arrhythmia and a 0.1 Hz component (sinus rhythm), or
drawn independently (atrial fibrillation, with a fibrillatory atrial dipole instead of P
waves). The dipole is projected with the Dower transform (Dower et al., Clin Cardiol 1980)
onto the eight independent leads I, II, V1-V6; noise is added to those eight, and III,
aVR, aVL, aVF are then derived by Einthoven's and Goldberger's equations, so the limb
relations hold to float precision, as on a real electrocardiograph.

Definitions of the ground truth (the ``truth`` dict of :func:`simulate_ecg`)
-----------------------------------------------------------------------------
- ``qrs_ms``: from the start of the first to the end of the last QRS wave.
- ``qt_ms``: QRS onset to the end of the T wave by the tangent method (the T wave's
  steepest down-slope extrapolated to the baseline), which for the ``cos^2`` fall of
  half-width ``f`` is ``0.818 f`` after the T peak.
- ``pr_ms``: P onset to QRS onset. ``hr_bpm``: 60000 / mean RR of the beats in the strip.
- ``sokolow_lyon_mv``, ``qrs_axis_deg``, ``limb_qrs_max_mv`` …: measured on the clean,
  noise-free beat.

Everything this module produces is synthetic and is labelled so (``source_format =
"simulated"``, ``meta["synthetic"] = True``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hfviz.record import LEADS, ECGRecord, make_record

FS_HZ = 500.0
DURATION_S = 10.0
N_SAMPLES = int(FS_HZ * DURATION_S)

#: Dower transform (Dower, Machado & Osborne, Clin Cardiol 1980;3:87-95): rows I, II,
#: V1..V6; columns Frank X, Y, Z. ``leads8 = DOWER @ xyz``.
DOWER = np.array(
    [
        [0.632, -0.235, 0.059],
        [0.235, 1.066, -0.132],
        [-0.515, 0.157, -0.917],
        [0.044, 0.164, -1.387],
        [0.882, 0.098, -1.277],
        [1.213, 0.127, -0.601],
        [1.125, 0.127, -0.086],
        [0.831, 0.076, 0.230],
    ]
)
INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

#: Conditions the simulator can produce (combinable, see :func:`sample_params`).
PHENOTYPES: tuple[str, ...] = (
    "normal",
    "sinus_bradycardia",
    "sinus_tachycardia",
    "av_block_1",
    "lbbb",
    "rbbb",
    "lvh",
    "mi_inferior",
    "mi_anterior",
    "mi_lateral",
    "af",
    "long_qt",
    "low_voltage",
    "t_inversion",
    "t_flat",
    "left_axis",
    "fragmented_qrs",
)

#: Tangent-method T end lies this fraction of the fall half-width after the T peak.
_TANGENT_END = 0.5 + 1.0 / math.pi

_LEAD_IDX = {name: i for i, name in enumerate(LEADS)}

# Base wave vectors of a normal adult QRS/T/P (mV), fitted by least squares through the
# Dower matrix to textbook lead amplitudes (e.g. V1 rS, V3 RS, V5 qR, T upright V2-V6).
_SEPTAL = np.array([-0.070, 0.015, -0.125])
_R_EARLY = np.array([0.746, 0.293, -0.269])
_R_LATE = np.array([0.715, 0.744, 0.694])
_TERMINAL = np.array([-0.45, -0.05, 0.50])
_T_NORMAL = np.array([0.376, 0.168, -0.171])
_P_RIGHT = np.array([0.007, 0.074, -0.025])
_P_LEFT = np.array([0.054, 0.039, 0.019])
# old infarcts: size of the lost R forces towards each territory (mV)
_R_LOSS = {"inferior": 0.5, "anterior": 0.6, "lateral": 1.0}


# --- shapes and projection ----------------------------------------------------------------
def bump(t_ms: np.ndarray, centre: float, rise: float, fall: float) -> np.ndarray:
    """Asymmetric raised-cosine wave, 1 at ``centre``, 0 outside ``[centre-rise, centre+fall]``.

    Parameters
    ----------
    t_ms : ndarray, shape (L,)
        Times in ms.
    centre, rise, fall : float
        Peak time and the half-widths before and after it, in ms (> 0).

    Returns
    -------
    ndarray, shape (L,)
    """
    x = t_ms - centre
    h = np.where(x < 0, rise, fall)
    u = np.clip(x / h, -1.0, 1.0)
    return np.cos(0.5 * np.pi * u) ** 2


def project(xyz: np.ndarray, precordial_gain: float = 1.0) -> np.ndarray:
    """Project a heart-vector signal onto the eight independent leads (Dower).

    Parameters
    ----------
    xyz : ndarray, shape (3, n)
        Dipole X, Y, Z in mV.
    precordial_gain : float
        Factor on V1-V6 (chest-wall thickness / electrode distance of the subject).

    Returns
    -------
    ndarray, shape (8, n)
        Leads I, II, V1..V6 in mV.
    """
    out = DOWER @ xyz
    if precordial_gain != 1.0:
        out[2:] *= precordial_gain
    return out


def twelve_from_eight(leads8: np.ndarray) -> np.ndarray:
    """Complete I, II, V1..V6 to the 12 standard leads (Einthoven/Goldberger).

    Parameters
    ----------
    leads8 : ndarray, shape (8, n)
        I, II, V1..V6 in mV.

    Returns
    -------
    ndarray, shape (12, n)
        Leads in :data:`hfviz.record.LEADS` order.
    """
    i, ii = leads8[0], leads8[1]
    limb = np.stack([i, ii, ii - i, -(i + ii) / 2.0, i - ii / 2.0, ii - i / 2.0])
    return np.concatenate([limb, leads8[2:]], axis=0)


def _rot_z(deg: float) -> np.ndarray:
    """Rotation in the frontal (X-Y) plane; positive turns the vector towards +Y (inferior)."""
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _rot_y(deg: float) -> np.ndarray:
    """Rotation in the horizontal (X-Z) plane; positive turns the vector from +X towards +Z (posterior)."""
    a = math.radians(deg)
    return np.array([[math.cos(a), 0.0, -math.sin(a)], [0.0, 1.0, 0.0], [math.sin(a), 0.0, math.cos(a)]])


# --- parameters ---------------------------------------------------------------------------
def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def sample_params(
    rng: np.random.Generator,
    conditions: Iterable[str] = (),
    *,
    age: float | None = None,
    sex: str | None = None,
) -> dict[str, Any]:
    """Draw the parameters of one synthetic ECG with the given conditions.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (seeded by the caller).
    conditions : iterable of str
        Subset of :data:`PHENOTYPES` (``"normal"`` or empty for none). Combinations are
        allowed; ``lbbb`` wins over ``rbbb``, ``sinus_*`` and ``av_block_1`` are ignored with
        ``af``, ``sinus_bradycardia`` wins over ``sinus_tachycardia``.
    age : float, optional
        Years; drawn from 40-80 when absent. Ages shift QRS voltage, axis and PR.
    sex : {"M", "F"}, optional
        Drawn when absent. Women have lower QRS voltage and longer QTc.

    Returns
    -------
    dict
        Scalar parameters (ms, mV, bpm, degrees) that :func:`build_waves` turns into waves;
        ``conditions`` lists the effective conditions in :data:`PHENOTYPES` order.

    Raises
    ------
    ValueError
        For an unknown condition name.
    """
    cond = {c for c in conditions if c != "normal"}
    unknown = cond - set(PHENOTYPES)
    if unknown:
        raise ValueError(f"unknown phenotype(s) {sorted(unknown)}; choose from {PHENOTYPES}")
    if "lbbb" in cond:
        cond.discard("rbbb")
    if "af" in cond:
        cond -= {"sinus_bradycardia", "sinus_tachycardia", "av_block_1"}
    if "sinus_bradycardia" in cond:
        cond.discard("sinus_tachycardia")
    if "t_inversion" in cond:
        cond.discard("t_flat")
    if age is None:
        age = float(np.clip(rng.normal(60, 9), 40, 80))
    if sex is None:
        sex = "M" if rng.random() < 0.5 else "F"
    female = sex == "F"
    p: dict[str, Any] = {"age": float(age), "sex": sex}
    p["conditions"] = [c for c in PHENOTYPES if c in cond]

    # rhythm and rate
    p["rhythm"] = "af" if "af" in cond else "sinus"
    if "sinus_bradycardia" in cond:
        hr = _u(rng, 42, 56)
    elif "sinus_tachycardia" in cond:
        hr = _u(rng, 106, 135)
    elif "af" in cond:
        hr = _u(rng, 65, 115)
    else:
        hr = float(np.clip(rng.normal(70 + (3 if female else 0), 8), 62, 95))
    p["hr_set_bpm"] = hr
    p["resp_hz"] = _u(rng, 0.15, 0.33)
    p["rsa_frac"] = _u(rng, 0.01, 0.05) * (1.3 if age < 50 else 1.0)
    p["lf_frac"] = _u(rng, 0.005, 0.02)
    p["rr_jitter_frac"] = _u(rng, 0.003, 0.01)
    p["af_rr_cv"] = _u(rng, 0.15, 0.28)
    p["af_f_mv"] = _u(rng, 0.03, 0.10)
    p["af_f_hz"] = _u(rng, 5.0, 8.0)
    p["beat_amp_mod"] = _u(rng, 0.02, 0.07)

    # atrial and AV conduction
    p["p_ms"] = float(np.clip(rng.normal(100, 9), 80, 118))
    p["p_amp"] = float(np.clip(rng.normal(1.0, 0.2), 0.55, 1.5))
    if "av_block_1" in cond:
        pr = _u(rng, 225, 320)
    else:
        pr = float(np.clip(rng.normal(155 + 0.4 * (age - 55), 18), 125, 196))
    p["pr_ms"] = max(pr, p["p_ms"] + 25.0)

    # ventricular depolarisation
    if "lbbb" in cond:
        qrs = _u(rng, 132, 172)
    elif "rbbb" in cond:
        qrs = _u(rng, 124, 156)
    else:
        qrs = float(np.clip(rng.normal(89 + (0 if female else 5), 7), 76, 108))
    p["qrs_ms"] = qrs
    amp = float(np.exp(rng.normal(0.0, 0.2))) * (0.88 if female else 1.0) * (1.0 - 0.004 * (age - 55))
    p["qrs_scale"] = amp
    # chest-wall / electrode-distance factor of the precordial leads (varies more than limb)
    p["precordial_gain"] = float(np.exp(rng.normal(0.1, 0.2)))
    if "left_axis" in cond:
        p["axis_target_deg"] = _u(rng, -75, -38)
    else:
        p["axis_target_deg"] = float(np.clip(rng.normal(48 - 0.3 * (age - 55), 20), -20, 90))
    p["horizontal_rot_deg"] = float(rng.normal(0, 10))
    p["lvh_sokolow_target_mv"] = _u(rng, 3.9, 5.3) if "lvh" in cond else None
    p["lvh_strain"] = bool("lvh" in cond and rng.random() < 0.7)
    p["low_voltage_limb_mv"] = _u(rng, 0.28, 0.45) if "low_voltage" in cond else None
    terr = [t for t in ("inferior", "anterior", "lateral") if f"mi_{t}" in cond]
    p["mi_territories"] = terr
    p["mi_q_mv"] = {t: _u(rng, 0.35, 0.8) for t in terr}
    p["mi_q_ms"] = {t: _u(rng, 50, 62) for t in terr}
    p["mi_t_inversion"] = {t: bool(rng.random() < 0.5) for t in terr}
    if "fragmented_qrs" in cond:
        p["fqrs_index"] = _u(rng, 0.35, 1.0)
    else:
        p["fqrs_index"] = 0.0
    p["fqrs_n_notches"] = int(rng.integers(2, 4))
    p["fqrs_positions"] = sorted(float(x) for x in rng.uniform(0.3, 0.85, size=p["fqrs_n_notches"]))
    v = rng.normal(size=3)
    p["fqrs_direction"] = [float(x) for x in v / np.linalg.norm(v)]

    # repolarisation
    rr_s = 60.0 / hr
    qtc_f = float(np.clip(rng.normal(398 + (10 if female else 0), 15), 365, 440))
    if "long_qt" in cond:
        qtc_f = _u(rng, 480, 545)
    p["qtc_set_fridericia_ms"] = qtc_f
    p["qt_ms"] = qtc_f * rr_s ** (1.0 / 3.0) + max(qrs - 100.0, 0.0)
    p["t_amp"] = float(np.clip(rng.normal(1.15, 0.25), 0.6, 1.8))
    if "t_flat" in cond:
        p["t_amp"] = _u(rng, 0.08, 0.25)
    p["t_inversion"] = "t_inversion" in cond
    p["t_fall_frac"] = _u(rng, 0.24, 0.29)
    return p


# --- waves --------------------------------------------------------------------------------
def build_waves(p: Mapping[str, Any]) -> list[tuple[str, np.ndarray, float, float, float]]:
    """Turn parameters into the list of dipole waves of one beat.

    Parameters
    ----------
    p : mapping
        Output of :func:`sample_params`.

    Returns
    -------
    list of (name, amplitude (3,) mV, centre ms, rise ms, fall ms)
        Times relative to QRS onset. Names start with ``"P"``, ``"QRS"``, ``"ST"`` or ``"T"``.
    """
    d = float(p["qrs_ms"])
    gain = float(p.get("precordial_gain", 1.0))
    cond = set(p["conditions"])
    waves: list[tuple[str, np.ndarray, float, float, float]] = []

    # P wave (absent in AF)
    if p["rhythm"] == "sinus":
        pd, pr = float(p["p_ms"]), float(p["pr_ms"])
        waves.append(("P_right", _P_RIGHT * p["p_amp"] * 1.2, -pr + 0.38 * pd, 0.38 * pd, 0.34 * pd))
        waves.append(("P_left", _P_LEFT * p["p_amp"] * 1.3, -pr + 0.64 * pd, 0.32 * pd, 0.36 * pd))

    qrs: list[tuple[str, np.ndarray, float, float, float]] = []
    if "lbbb" in cond:
        # septum activated right-to-left: no septal q in I/V6; slow broad leftward-posterior
        # activation with a mid-QRS notch; deep QS/rS in V1.
        qrs.append(("QRS_initial", np.array([0.45, 0.08, 0.55]), 0.15 * d, 0.15 * d, 0.15 * d))
        qrs.append(("QRS_lbbb_1", np.array([0.85, 0.10, 0.75]), 0.40 * d, 0.24 * d, 0.20 * d))
        qrs.append(("QRS_lbbb_2", np.array([1.05, -0.15, 0.85]), 0.74 * d, 0.22 * d, 0.26 * d))
    else:
        dn = min(d, 100.0) if "rbbb" in cond else d  # RBBB: normal left activation, then delay
        qrs.append(("QRS_septal", _SEPTAL, 0.17 * dn, 0.17 * dn, 0.17 * dn))
        qrs.append(("QRS_R_early", _R_EARLY, 0.35 * dn, 0.19 * dn, 0.20 * dn))
        qrs.append(("QRS_R_late", _R_LATE, 0.50 * dn, 0.20 * dn, 0.20 * dn))
        if "rbbb" in cond:
            # late, slow, right-anterior activation of the right ventricle: R' in V1, broad S in I/V6
            c = 0.5 * (0.72 * dn + d)
            qrs.append(("QRS_rbbb_Rprime", np.array([-0.62, 0.05, -0.72]), c, c - 0.72 * dn, d - c))
        else:
            qrs.append(("QRS_terminal", _TERMINAL, 0.74 * d, 0.20 * d, 0.26 * d))

    # orientation and scale
    rot = _rot_y(p["horizontal_rot_deg"])
    qrs = [(n, rot @ w * p["qrs_scale"], c, r, f) for n, w, c, r, f in qrs]
    qrs = _rotate_to_axis(qrs, float(p["axis_target_deg"]), d)

    # Q waves of an old infarct: the initial vector points away from the dead territory and
    # the R forces towards it are lost.
    away = {
        "inferior": np.array([0.05, -1.0, 0.0]),
        "anterior": np.array([0.25, -0.1, 1.0]),
        "lateral": np.array([-1.0, 0.25, 0.0]),
    }
    for terr in p["mi_territories"]:
        a = away[terr] / np.linalg.norm(away[terr])
        qd = float(p["mi_q_ms"][terr])
        qrs.append((f"QRS_q_{terr}", a * p["mi_q_mv"][terr] * 0.9 * p["qrs_scale"], 0.5 * qd, 0.5 * qd, 0.5 * qd))
        # loss of R forces towards the territory during the first half of the QRS
        qrs.append((f"QRS_Rloss_{terr}", a * _R_LOSS[terr] * p["qrs_scale"], 0.35 * d, 0.25 * d, 0.22 * d))
        if terr == "anterior":
            qrs = [(n, w * (0.2 if n == "QRS_septal" else 1.0), c, r, f) for n, w, c, r, f in qrs]


    if p.get("lvh_sokolow_target_mv"):
        # bigger, more posterior left-ventricular forces, scaled to the Sokolow-Lyon target
        qrs = [(n, _rot_y(12.0) @ w, c, r, f) for n, w, c, r, f in qrs]
        sl = _sokolow_lyon(qrs, d, gain)
        qrs = [(n, w * (p["lvh_sokolow_target_mv"] / sl), c, r, f) for n, w, c, r, f in qrs]
    else:
        sl = _sokolow_lyon(qrs, d, gain)
        if sl > 3.2:  # keep non-LVH ECGs below the voltage criterion
            qrs = [(n, w * (3.2 / sl), c, r, f) for n, w, c, r, f in qrs]
    if p.get("low_voltage_limb_mv"):
        limb, prec = _qrs_peak_to_peak(qrs, d, gain)
        k = min(p["low_voltage_limb_mv"] / limb, 0.85 / prec)
        qrs = [(n, w * k, c, r, f) for n, w, c, r, f in qrs]

    # fragmentation: 2-3 brief alternating notches inside the QRS (duration unchanged)
    if p["fqrs_index"] > 0:
        u = np.asarray(p["fqrs_direction"])
        size = 0.45 * p["fqrs_index"] * max(p["qrs_scale"], 0.6)
        for k, pos in enumerate(p["fqrs_positions"]):
            qrs.append((f"QRS_notch_{k}", u * size * (1 if k % 2 == 0 else -1), pos * d, 6.0, 6.0))
    waves.extend(qrs)

    # ST and T
    main = sum((w * (r + f) for n, w, c, r, f in qrs if not n.startswith("QRS_notch")), np.zeros(3))
    main_dir = main / (np.linalg.norm(main) + 1e-12)
    t_vec = _rot_z(0.6 * (float(p["axis_target_deg"]) - 48.0)) @ _T_NORMAL * p["t_amp"]
    t_vec = t_vec * min(1.0, 0.6 + 0.4 * p["qrs_scale"])
    st_vec = np.zeros(3)
    discordant = "lbbb" in cond or p.get("lvh_strain") or p.get("t_inversion")
    if discordant:
        # secondary (LBBB, LVH strain) or primary T inversion: T opposite to the mean QRS
        perp = t_vec - (t_vec @ main_dir) * main_dir
        t_vec = 0.3 * perp - (0.7 * float(np.linalg.norm(t_vec)) + 0.2 * p["t_amp"]) * main_dir
        if "lbbb" in cond or p.get("lvh_strain"):
            st_vec = -0.12 * main_dir * (1.5 if "lbbb" in cond else 1.0)
    if "rbbb" in cond:
        t_vec = t_vec + np.array([0.05, 0.0, 0.22]) * p["t_amp"]  # T inverted in V1-V2
    for terr in p["mi_territories"]:
        if p["mi_t_inversion"][terr]:
            a = away[terr] / np.linalg.norm(away[terr])
            t_vec = t_vec - (t_vec @ a) * a + 0.22 * a
    qt = float(p["qt_ms"])
    fall = float(p["t_fall_frac"]) * qt
    t_peak = qt - _TANGENT_END * fall
    rise = min(1.55 * fall, t_peak - d - 12.0)
    if np.any(st_vec):
        waves.append(("ST", st_vec, 0.5 * (d + t_peak), 0.5 * (t_peak - d), 0.5 * (t_peak - d)))
    waves.append(("T", t_vec, t_peak, rise, fall))
    return waves


def _template(waves, t_ms: np.ndarray, prefix: str | None = None) -> np.ndarray:
    out = np.zeros((3, t_ms.size))
    for name, a, c, r, f in waves:
        if prefix is not None and not name.startswith(prefix):
            continue
        lo, hi = np.searchsorted(t_ms, [c - r, c + f])
        if hi > lo:
            out[:, lo:hi] += np.outer(a, bump(t_ms[lo:hi], c, r, f))
    return out


def _qrs_leads(qrs, d: float, gain: float = 1.0) -> np.ndarray:
    t = np.arange(0.0, d + 1.0, 1.0)
    return twelve_from_eight(project(_template(qrs, t), gain))


def _sokolow_lyon(qrs, d: float, gain: float = 1.0) -> float:
    lead = _qrs_leads(qrs, d, gain)
    return float(-lead[_LEAD_IDX["V1"]].min() + max(lead[_LEAD_IDX["V5"]].max(), lead[_LEAD_IDX["V6"]].max()))


def _qrs_peak_to_peak(qrs, d: float, gain: float = 1.0) -> tuple[float, float]:
    p2p = np.ptp(_qrs_leads(qrs, d, gain), axis=1)
    return float(p2p[:6].max()), float(p2p[6:].max())


def _axis_deg(qrs, d: float) -> float:
    lead = _qrs_leads(qrs, d)
    return float(np.degrees(np.arctan2(lead[_LEAD_IDX["aVF"]].sum(), lead[_LEAD_IDX["I"]].sum())))


def _rotate_to_axis(qrs, target: float, d: float):
    """Rotate the QRS waves in the frontal plane so that the net-area axis is ``target`` degrees.

    The net QRS area vector is ``sum_k a_k (rise_k + fall_k) / 2`` (the area of a raised
    cosine is half its width), so the axis after a rotation by ``alpha`` is known in closed
    form; the best ``alpha`` is taken from a 0.5-degree grid.
    """
    area = sum((w * 0.5 * (r + f) for n, w, c, r, f in qrs), np.zeros(3))
    alphas = np.radians(np.arange(-180.0, 180.0, 0.5))
    ca, sa = np.cos(alphas), np.sin(alphas)
    rotated = np.stack([ca * area[0] - sa * area[1], sa * area[0] + ca * area[1], np.full_like(ca, area[2])])
    eight = DOWER @ rotated
    lead_i, lead_avf = eight[0], eight[1] - eight[0] / 2.0
    axis = np.degrees(np.arctan2(lead_avf, lead_i))
    err = np.abs((axis - target + 180.0) % 360.0 - 180.0)
    rot = _rot_z(float(np.degrees(alphas[int(np.argmin(err))])))
    return [(n, rot @ w, c, r, f) for n, w, c, r, f in qrs]


# --- rhythm -------------------------------------------------------------------------------
def _rr_series(p: Mapping[str, Any], rng: np.random.Generator, t_start: float, t_end: float) -> np.ndarray:
    """QRS onset times (s) covering [t_start, t_end]."""
    rr0 = 60.0 / p["hr_set_bpm"]
    onsets = [t_start + rng.uniform(0, rr0)]
    phase_r, phase_lf = rng.uniform(0, 2 * np.pi, size=2)
    qt_s = p["qt_ms"] / 1000.0
    while onsets[-1] < t_end:
        t = onsets[-1]
        if p["rhythm"] == "af":
            rr = rr0 * float(np.exp(rng.normal(-0.5 * p["af_rr_cv"] ** 2, p["af_rr_cv"])))
            rr = max(rr, 0.55 * rr0, qt_s + 0.06)
        else:
            rr = rr0 * (
                1.0
                + p["rsa_frac"] * math.sin(2 * math.pi * p["resp_hz"] * t + phase_r)
                + p["lf_frac"] * math.sin(2 * math.pi * 0.1 * t + phase_lf)
                + p["rr_jitter_frac"] * float(rng.normal())
            )
        onsets.append(t + rr)
    return np.asarray(onsets)


def _fibrillation(p: Mapping[str, Any], rng: np.random.Generator, t_s: np.ndarray) -> np.ndarray:
    """Fibrillatory atrial dipole (3, n): two drifting 4-9 Hz oscillators in varying directions."""
    out = np.zeros((3, t_s.size))
    for _ in range(2):
        f0 = p["af_f_hz"] * rng.uniform(0.85, 1.15)
        drift = 0.6 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t_s + rng.uniform(0, 2 * np.pi))
        phase = 2 * np.pi * np.cumsum(f0 + drift) / FS_HZ + rng.uniform(0, 2 * np.pi)
        env = 1.0 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 0.7) * t_s + rng.uniform(0, 2 * np.pi))
        direction = np.array([-0.2, 0.35, -1.0]) + rng.normal(0, 0.35, size=3)
        direction /= np.linalg.norm(direction)
        out += np.outer(direction, env * np.sin(phase)) * (p["af_f_mv"] / 0.9 / 2 ** 0.5)
    return out


# --- noise --------------------------------------------------------------------------------
#: Noise levels (mV, fractions): ``baseline_mv`` respiratory + slow drift amplitude,
#: ``powerline_mv`` 50/60 Hz amplitude, ``muscle_mv`` RMS of 20-150 Hz muscle noise,
#: ``gain_sd`` per-lead gain spread.
NOISE_PRESETS: dict[str, dict[str, float]] = {
    "none": {"baseline_mv": 0.0, "powerline_mv": 0.0, "muscle_mv": 0.0, "gain_sd": 0.0},
    "low": {"baseline_mv": 0.05, "powerline_mv": 0.005, "muscle_mv": 0.004, "gain_sd": 0.01},
    "default": {"baseline_mv": 0.12, "powerline_mv": 0.012, "muscle_mv": 0.010, "gain_sd": 0.03},
    "high": {"baseline_mv": 0.3, "powerline_mv": 0.04, "muscle_mv": 0.03, "gain_sd": 0.06},
}


def noise_params(level: str | float | Mapping[str, float] = "default") -> dict[str, float]:
    """Resolve a noise specification to the four noise amplitudes.

    Parameters
    ----------
    level : str, float or mapping
        A key of :data:`NOISE_PRESETS`, a multiplier of the ``"default"`` levels (0 = clean),
        or a mapping with some of the keys (others default).

    Returns
    -------
    dict of str to float
    """
    if isinstance(level, str):
        if level not in NOISE_PRESETS:
            raise ValueError(f"unknown noise level {level!r}; choose from {sorted(NOISE_PRESETS)} or a number")
        return dict(NOISE_PRESETS[level])
    if isinstance(level, Mapping):
        out = dict(NOISE_PRESETS["default"])
        out.update({k: float(v) for k, v in level.items()})
        return out
    return {k: float(level) * v for k, v in NOISE_PRESETS["default"].items()}


def _noise(rng: np.random.Generator, n: int, nz: Mapping[str, float], mains_hz: float, resp_hz: float) -> np.ndarray:
    """Additive noise (8, n) for the independent leads, in mV."""
    t = np.arange(n) / FS_HZ
    out = np.zeros((8, n))
    if nz["baseline_mv"] > 0:
        resp = np.sin(2 * np.pi * resp_hz * t + rng.uniform(0, 2 * np.pi))
        w = rng.uniform(0.3, 1.0, size=(8, 1)) * rng.choice([-1.0, 1.0], size=(8, 1))
        out += nz["baseline_mv"] * w * resp
        # slow electrode drift: low-passed (< 0.5 Hz) random signal per lead
        spec = np.fft.rfft(rng.normal(size=(8, n)), axis=1)
        f = np.fft.rfftfreq(n, 1 / FS_HZ)
        spec[:, f > 0.5] = 0
        drift = np.fft.irfft(spec, n=n, axis=1)
        drift /= drift.std(axis=1, keepdims=True) + 1e-12
        out += 0.5 * nz["baseline_mv"] * drift
    if nz["powerline_mv"] > 0:
        ph = rng.uniform(0, 2 * np.pi, size=(8, 1))
        a = rng.uniform(0.3, 1.0, size=(8, 1)) * nz["powerline_mv"]
        out += a * np.sin(2 * np.pi * mains_hz * t + ph)
    if nz["muscle_mv"] > 0:
        spec = np.fft.rfft(rng.normal(size=(8, n)), axis=1)
        f = np.fft.rfftfreq(n, 1 / FS_HZ)
        spec[:, (f < 20) | (f > 150)] = 0
        emg = np.fft.irfft(spec, n=n, axis=1)
        emg /= emg.std(axis=1, keepdims=True) + 1e-12
        env = 1.0 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 2 * np.pi))
        out += nz["muscle_mv"] * rng.uniform(0.5, 1.5, size=(8, 1)) * env * emg
    return out


# --- simulation ---------------------------------------------------------------------------
def clean_beat(p: Mapping[str, Any], *, pre_ms: float = 400.0, post_ms: float = 800.0) -> tuple[np.ndarray, np.ndarray]:
    """The noise-free 12-lead beat of the parameters, sampled at 500 Hz.

    Parameters
    ----------
    p : mapping
        Output of :func:`sample_params`.
    pre_ms, post_ms : float
        Window before and after QRS onset, in ms.

    Returns
    -------
    t_ms : ndarray, shape (L,)
        Times from QRS onset.
    beat : ndarray, shape (12, L)
        Leads in mV (P, QRS, ST, T of one beat, no neighbours).
    """
    t = np.arange(-pre_ms, post_ms, 1000.0 / FS_HZ)
    return t, twelve_from_eight(project(_template(build_waves(p), t), float(p.get("precordial_gain", 1.0))))


def _beat_metrics(p: Mapping[str, Any], waves) -> dict[str, Any]:
    d = float(p["qrs_ms"])
    qrs = [w for w in waves if w[0].startswith("QRS")]
    lead = _qrs_leads(qrs, d, float(p.get("precordial_gain", 1.0)))
    idx = _LEAD_IDX
    sl = float(-lead[idx["V1"]].min() + max(lead[idx["V5"]].max(), lead[idx["V6"]].max()))
    p2p = np.ptp(lead, axis=1)
    t = np.arange(0.0, d + 1.0, 1.0)
    mag = np.linalg.norm(_template(qrs, t), axis=0)
    return {
        "sokolow_lyon_mv": sl,
        "qrs_axis_deg": float(np.degrees(np.arctan2(lead[idx["aVF"]].sum(), lead[idx["I"]].sum()))),
        "limb_qrs_max_mv": float(p2p[:6].max()),
        "precordial_qrs_max_mv": float(p2p[6:].max()),
        "qrs_p2p_mv": {name: float(v) for name, v in zip(LEADS, p2p)},
        "r_peak_ms": float(t[int(np.argmax(mag))]),
    }


def simulate_ecg(
    params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    noise: str | float | Mapping[str, float] = "default",
    mains_hz: float | None = None,
    source_name: str = "synthetic ECG",
) -> tuple[ECGRecord, dict[str, Any]]:
    """Render one 10-s, 500 Hz synthetic 12-lead ECG from its parameters.

    Parameters
    ----------
    params : mapping
        Output of :func:`sample_params`.
    rng : numpy.random.Generator
        Randomness of the rhythm and the noise.
    noise : str, float or mapping
        See :func:`noise_params`.
    mains_hz : float, optional
        Powerline frequency (50 or 60); drawn when absent.
    source_name : str
        Name shown for the record.

    Returns
    -------
    record : ECGRecord
        Shape (12, 5000) at 500 Hz, ``source_format="simulated"``, ``meta["synthetic"]=True``.
    truth : dict
        All parameters plus measured truth: ``hr_bpm`` (strip mean), ``rr_ms`` list,
        ``r_peaks`` (sample indices), ``qt_ms``, ``qtc_bazett_ms``, ``qtc_fridericia_ms``,
        ``sokolow_lyon_mv``, ``qrs_axis_deg``, limb/precordial QRS peak-to-peak, noise levels.
    """
    p = dict(params)
    waves = build_waves(p)
    metrics = _beat_metrics(p, waves)
    pre = float(p["pr_ms"]) + 20.0 if p["rhythm"] == "sinus" else 20.0
    post = float(p["qt_ms"]) + 40.0
    t_tpl = np.arange(-pre, post, 1000.0 / FS_HZ)
    tpl = _template(waves, t_tpl)  # (3, L)

    margin_s = 3.0
    onsets = _rr_series(p, rng, -margin_s, DURATION_S + 1.0)
    n_ext = int(round((DURATION_S + 2 * margin_s) * FS_HZ))
    xyz = np.zeros((3, n_ext))
    phase = rng.uniform(0, 2 * np.pi)
    for t0 in onsets:
        i0 = int(round((t0 + margin_s) * FS_HZ)) + int(round(t_tpl[0] * FS_HZ / 1000.0))
        lo, hi = max(i0, 0), min(i0 + tpl.shape[1], n_ext)
        if hi <= lo:
            continue
        scale = 1.0 + p["beat_amp_mod"] * math.sin(2 * math.pi * p["resp_hz"] * t0 + phase)
        xyz[:, lo:hi] += scale * tpl[:, lo - i0 : hi - i0]
    start = int(round(margin_s * FS_HZ))
    xyz = xyz[:, start : start + N_SAMPLES]
    t_s = np.arange(N_SAMPLES) / FS_HZ
    if p["rhythm"] == "af":
        xyz += _fibrillation(p, rng, t_s)

    leads8 = project(xyz, float(p.get("precordial_gain", 1.0)))
    nz = noise_params(noise)
    mains = float(mains_hz) if mains_hz else float(rng.choice([50.0, 60.0]))
    leads8 = leads8 + _noise(rng, N_SAMPLES, nz, mains, p["resp_hz"])
    if nz["gain_sd"] > 0:
        leads8 = leads8 * (1.0 + nz["gain_sd"] * rng.normal(size=(8, 1)))
    sig = twelve_from_eight(leads8)

    in_strip = onsets[(onsets >= 0) & (onsets < DURATION_S)]
    r_times = in_strip + metrics["r_peak_ms"] / 1000.0
    r_peaks = np.round(r_times[r_times < DURATION_S] * FS_HZ).astype(int)
    rr = np.diff(onsets[(onsets >= -0.01) & (onsets <= DURATION_S)]) * 1000.0
    hr = 60000.0 / float(np.mean(rr)) if rr.size else float(p["hr_set_bpm"])
    rr_s = 60.0 / hr
    qt = float(p["qt_ms"])
    truth = dict(p)
    truth.update(metrics)
    truth.update(
        {
            "synthetic": True,
            "hr_bpm": hr,
            "rr_ms": [float(x) for x in rr],
            "r_peaks": [int(x) for x in r_peaks],
            "qtc_bazett_ms": qt / math.sqrt(rr_s),
            "qtc_fridericia_ms": qt / rr_s ** (1.0 / 3.0),
            "noise": nz,
            "mains_hz": mains,
        }
    )
    record = make_record(
        {name: sig[i] for i, name in enumerate(LEADS)},
        FS_HZ,
        source_format="simulated",
        source_name=source_name,
        units_note="synthetic signal generated in mV",
        meta={
            "synthetic": True,
            "age": round(float(p["age"])),
            "sex": p["sex"],
            "device": "hfviz dipole simulator (synthetic)",
            "interpretation": "SYNTHETIC: " + (", ".join(p["conditions"]) or "normal"),
        },
    )
    return record, truth


def simulate(
    conditions: str | Sequence[str] = "normal",
    seed: int = 0,
    *,
    noise: str | float | Mapping[str, float] = "default",
    age: float | None = None,
    sex: str | None = None,
    **overrides: Any,
) -> tuple[ECGRecord, dict[str, Any]]:
    """Simulate one synthetic ECG with given conditions and seed (convenience wrapper).

    Parameters
    ----------
    conditions : str or sequence of str
        One or more of :data:`PHENOTYPES`, e.g. ``"lbbb"`` or ``("mi_anterior", "af")``.
    seed : int
        Seed of ``numpy.random.default_rng``; the same arguments give identical output.
    noise : str, float or mapping
        See :func:`noise_params`.
    age, sex : optional
        Passed to :func:`sample_params`.
    **overrides
        Parameter values that replace the drawn ones (e.g. ``hr_set_bpm=75.0``).

    Returns
    -------
    (ECGRecord, dict)
        See :func:`simulate_ecg`.
    """
    if isinstance(conditions, str):
        conditions = [conditions]
    rng = np.random.default_rng(seed)
    p = sample_params(rng, conditions, age=age, sex=sex)
    unknown = set(overrides) - set(p)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
    p.update(overrides)
    if "hr_set_bpm" in overrides and "qt_ms" not in overrides:
        p["qt_ms"] = p["qtc_set_fridericia_ms"] * (60.0 / p["hr_set_bpm"]) ** (1 / 3) + max(p["qrs_ms"] - 100.0, 0.0)
    name = "synthetic_" + "_".join(p["conditions"] or ["normal"]) + f"_seed{seed}"
    return simulate_ecg(p, rng, noise=noise, source_name=name)
