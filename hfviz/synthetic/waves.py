"""The cardiac dipole of one beat: wave shapes, lead projection, and parameters -> waves.

The heart is a single current dipole whose vector ``h(t) = (X, Y, Z)`` (mV, Frank
orientation: X to the patient's left, Y to the feet, Z to the back) is, within one beat, a
sum of smooth compact waves ``h(t) = sum_k a_k * b(t; c_k, r_k, f_k)`` (:func:`bump`), one
amplitude vector ``a_k`` (3,) per wave. :func:`build_waves` turns the parameters of
:func:`hfviz.synthetic.phenotypes.sample_params` into that list; :func:`project` maps the
dipole onto the eight independent leads with the Dower transform and
:func:`twelve_from_eight` completes the twelve standard leads. Times are ms from QRS onset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hfviz.ecg.record import LEADS

#: One dipole wave: (name, amplitude (3,) in mV, centre ms, rise ms, fall ms).
Wave = tuple[str, np.ndarray, float, float, float]

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

#: Tangent-method T end lies this fraction of the fall half-width after the T peak.
_TANGENT_END = 0.5 + 1.0 / math.pi

_LEAD_IDX = {name: i for i, name in enumerate(LEADS)}

# Base wave vectors of a normal adult QRS/T/P (mV), fitted by least squares through the
# Dower matrix to textbook lead amplitudes (e.g. V1 rS, V3 RS, V5 qR, T upright V2-V6).
_SEPTAL = np.array([-0.070, 0.015, -0.125])
_R_EARLY = np.array([0.746, 0.293, -0.269])
_R_LATE = np.array([0.715, 0.744, 0.694])
# terminal (basal) forces: rightward, superior and posterior; they keep this direction when the
# frontal axis turns (a left axis comes from the anterosuperior wall activating late, which gives
# no terminal r' in the inferior leads)
_TERMINAL = np.array([-0.45, -0.35, 0.35])
_FIXED_DIRECTION = ("QRS_terminal",)
_T_NORMAL = np.array([0.376, 0.168, -0.171])
_P_RIGHT = np.array([0.007, 0.074, -0.025])
_P_LEFT = np.array([0.054, 0.039, 0.019])
# old infarcts: size of the lost R forces towards each territory (mV)
_R_LOSS = {"inferior": 0.5, "anterior": 0.6, "lateral": 1.0}
# old infarcts: the initial QRS vector points away from the dead territory (unnormalised)
_AWAY = {
    "inferior": np.array([0.05, -1.0, 0.0]),
    "anterior": np.array([0.25, -0.1, 1.0]),
    "lateral": np.array([-1.0, 0.25, 0.0]),
}


# --- shapes and projection ----------------------------------------------------------------
def bump(t_ms: np.ndarray, centre: float, rise: float, fall: float) -> np.ndarray:
    """Asymmetric raised-cosine wave, 1 at ``centre``, 0 outside ``[centre-rise, centre+fall]``.

    ``b(t) = cos^2(pi (t - c) / (2 r))`` for ``c - r <= t <= c`` and
    ``cos^2(pi (t - c) / (2 f))`` for ``c <= t <= c + f``.

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
        Leads in :data:`hfviz.ecg.record.LEADS` order.
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


def dipole(waves: list[Wave], t_ms: np.ndarray, prefix: str | None = None) -> np.ndarray:
    """The dipole signal (3, L) of the waves at times ``t_ms`` (only names starting with ``prefix``)."""
    out = np.zeros((3, t_ms.size))
    for name, a, c, r, f in waves:
        if prefix is not None and not name.startswith(prefix):
            continue
        lo, hi = np.searchsorted(t_ms, [c - r, c + f])
        if hi > lo:
            out[:, lo:hi] += np.outer(a, bump(t_ms[lo:hi], c, r, f))
    return out


def qrs_leads(qrs: list[Wave], d: float, gain: float = 1.0) -> np.ndarray:
    """The 12 leads (12, d + 1) of the QRS waves, 1-ms steps from QRS onset to ``d`` ms."""
    t = np.arange(0.0, d + 1.0, 1.0)
    return twelve_from_eight(project(dipole(qrs, t), gain))


def _sokolow_lyon(qrs: list[Wave], d: float, gain: float = 1.0) -> float:
    lead = qrs_leads(qrs, d, gain)
    return float(-lead[_LEAD_IDX["V1"]].min() + max(lead[_LEAD_IDX["V5"]].max(), lead[_LEAD_IDX["V6"]].max()))


def _qrs_peak_to_peak(qrs: list[Wave], d: float, gain: float = 1.0) -> tuple[float, float]:
    p2p = np.ptp(qrs_leads(qrs, d, gain), axis=1)
    return float(p2p[:6].max()), float(p2p[6:].max())


def _rotate_to_axis(qrs: list[Wave], target: float, d: float) -> list[Wave]:
    """Rotate the QRS waves in the frontal plane so that the net-area axis is ``target`` degrees.

    The net QRS area vector is ``sum_k a_k (rise_k + fall_k) / 2`` (the area of a raised
    cosine is half its width), so the axis after a rotation by ``alpha`` is known in closed
    form; the best ``alpha`` is taken from a 0.5-degree grid.
    """
    turns = [n not in _FIXED_DIRECTION for n, *_ in qrs]
    area = sum((w * 0.5 * (r + f) for (n, w, c, r, f), t in zip(qrs, turns) if t), np.zeros(3))
    fixed = sum((w * 0.5 * (r + f) for (n, w, c, r, f), t in zip(qrs, turns) if not t), np.zeros(3))
    alphas = np.radians(np.arange(-180.0, 180.0, 0.5))
    ca, sa = np.cos(alphas), np.sin(alphas)
    rotated = np.stack([ca * area[0] - sa * area[1], sa * area[0] + ca * area[1], np.full_like(ca, area[2])])
    eight = DOWER @ (rotated + fixed[:, None])
    lead_i, lead_avf = eight[0], eight[1] - eight[0] / 2.0
    axis = np.degrees(np.arctan2(lead_avf, lead_i))
    err = np.abs((axis - target + 180.0) % 360.0 - 180.0)
    rot = _rot_z(float(np.degrees(alphas[int(np.argmin(err))])))
    return [(n, rot @ w if t else w, c, r, f) for (n, w, c, r, f), t in zip(qrs, turns)]


# --- parameters -> waves -------------------------------------------------------------------
def _p_waves(p: Mapping[str, Any]) -> list[Wave]:
    """Right and left atrial P-wave parts (none in AF)."""
    if p["rhythm"] != "sinus":
        return []
    pd, pr = float(p["p_ms"]), float(p["pr_ms"])
    return [("P_right", _P_RIGHT * p["p_amp"] * 1.2, -pr + 0.38 * pd, 0.38 * pd, 0.34 * pd),
            ("P_left", _P_LEFT * p["p_amp"] * 1.3, -pr + 0.64 * pd, 0.32 * pd, 0.36 * pd)]


def _conduction_waves(cond: set[str], d: float) -> list[Wave]:
    """QRS waves of normal conduction, LBBB or RBBB, before orientation and scaling."""
    qrs: list[Wave] = []
    if "lbbb" in cond:
        # septum activated right-to-left, then the left ventricle slowly through the muscle:
        # two broad overlapping leftward-posterior lobes. Their sum is one broad R in I, aVL,
        # V5, V6 with a single mid-QRS notch or slur (no septal q) and a deep QS in V1-V3.
        qrs.append(("QRS_lbbb_1", np.array([1.10, 0.12, 0.63]), 0.34 * d, 0.34 * d, 0.31 * d))
        qrs.append(("QRS_lbbb_2", np.array([1.15, -0.12, 1.15]), 0.69 * d, 0.31 * d, 0.31 * d))
        return qrs
    dn = min(d, 100.0) if "rbbb" in cond else d  # RBBB: normal left activation, then delay
    qrs.append(("QRS_septal", _SEPTAL, 0.17 * dn, 0.17 * dn, 0.17 * dn))
    qrs.append(("QRS_R_early", _R_EARLY, 0.35 * dn, 0.19 * dn, 0.20 * dn))
    qrs.append(("QRS_R_late", _R_LATE, 0.50 * dn, 0.20 * dn, 0.20 * dn))
    if "rbbb" in cond:
        # late, slow, right-anterior activation of the right ventricle: R' in V1, broad S in I/V6
        c = 0.5 * (0.72 * dn + d)
        qrs.append(("QRS_rbbb_Rprime", np.array([-0.62, 0.05, -0.72]), c, c - 0.72 * dn, d - c))
    else:
        qrs.append(("QRS_terminal", _TERMINAL, 0.66 * d, 0.22 * d, 0.34 * d))
    return qrs


def _add_infarcts(qrs: list[Wave], p: Mapping[str, Any], d: float) -> list[Wave]:
    """Q waves of old infarcts: the initial vector points away from the dead territory and
    the R forces towards it are lost during the first half of the QRS."""
    for terr in p["mi_territories"]:
        a = _AWAY[terr] / np.linalg.norm(_AWAY[terr])
        qd = float(p["mi_q_ms"][terr])
        qrs.append((f"QRS_q_{terr}", a * p["mi_q_mv"][terr] * 0.9 * p["qrs_scale"], 0.5 * qd, 0.5 * qd, 0.5 * qd))
        qrs.append((f"QRS_Rloss_{terr}", a * _R_LOSS[terr] * p["qrs_scale"], 0.35 * d, 0.25 * d, 0.22 * d))
        if terr == "anterior":
            qrs = [(n, w * (0.2 if n == "QRS_septal" else 1.0), c, r, f) for n, w, c, r, f in qrs]
    return qrs


def _scale_voltage(qrs: list[Wave], p: Mapping[str, Any], d: float, gain: float) -> list[Wave]:
    """LVH (scaled to its Sokolow-Lyon target), the cap of non-LVH voltage, low limb voltage."""
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
    return qrs


#: Fragmentation notches: half-width (ms) of each half of a notch, how far their direction strays
#: from the scarred territory (weight of a random unit vector added to the territory's), and their
#: size (mV of dipole) at fragmentation index 1.
FQRS_NOTCH_MS = 5.0
FQRS_SPREAD = 0.35
FQRS_SIZE_MV = 0.6


def _add_fragmentation(qrs: list[Wave], p: Mapping[str, Any], d: float) -> list[Wave]:
    """Fragmentation: 2-3 brief alternating notches inside the QRS (duration unchanged),
    pointing at the scarred territory so that its contiguous leads show them."""
    if p["fqrs_index"] > 0:
        towards = -_AWAY[p["fqrs_territory"]] / np.linalg.norm(_AWAY[p["fqrs_territory"]])
        u = towards + FQRS_SPREAD * np.asarray(p["fqrs_direction"])
        u = u / np.linalg.norm(u)
        size = FQRS_SIZE_MV * p["fqrs_index"] * max(p["qrs_scale"], 0.6)
        for k, pos in enumerate(p["fqrs_positions"]):
            sign = 1 if k % 2 == 0 else -1
            for j, part in enumerate((sign, -sign)):  # each notch a brief reversal: out and back
                qrs.append((f"QRS_notch_{k}_{j}", u * size * part, pos * d + (2 * j - 1) * FQRS_NOTCH_MS,
                            FQRS_NOTCH_MS, FQRS_NOTCH_MS))
    return qrs


def _qrs_waves(p: Mapping[str, Any]) -> list[Wave]:
    """All QRS waves: conduction pattern, orientation, infarcts, voltage, fragmentation."""
    d = float(p["qrs_ms"])
    gain = float(p.get("precordial_gain", 1.0))
    qrs = _conduction_waves(set(p["conditions"]), d)
    rot = _rot_y(p["horizontal_rot_deg"])
    qrs = [(n, rot @ w * p["qrs_scale"], c, r, f) for n, w, c, r, f in qrs]
    qrs = _rotate_to_axis(qrs, float(p["axis_target_deg"]), d)
    qrs = _add_infarcts(qrs, p, d)
    qrs = _scale_voltage(qrs, p, d, gain)
    return _add_fragmentation(qrs, p, d)


def _repolarisation_waves(p: Mapping[str, Any], qrs: list[Wave]) -> list[Wave]:
    """ST (LBBB, LVH strain) and T waves; the T vector follows the QRS axis unless discordant."""
    d = float(p["qrs_ms"])
    cond = set(p["conditions"])
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
            a = _AWAY[terr] / np.linalg.norm(_AWAY[terr])
            t_vec = t_vec - (t_vec @ a) * a + 0.22 * a
    qt = float(p["qt_ms"])
    fall = float(p["t_fall_frac"]) * qt
    t_peak = qt - _TANGENT_END * fall
    rise = min(1.55 * fall, t_peak - d - 12.0)
    out: list[Wave] = []
    if np.any(st_vec):
        out.append(("ST", st_vec, 0.5 * (d + t_peak), 0.5 * (t_peak - d), 0.5 * (t_peak - d)))
    out.append(("T", t_vec, t_peak, rise, fall))
    return out


def build_waves(p: Mapping[str, Any]) -> list[Wave]:
    """Turn parameters into the list of dipole waves of one beat.

    Parameters
    ----------
    p : mapping
        Output of :func:`hfviz.synthetic.phenotypes.sample_params`.

    Returns
    -------
    list of (name, amplitude (3,) mV, centre ms, rise ms, fall ms)
        Times relative to QRS onset. Names start with ``"P"``, ``"QRS"``, ``"ST"`` or ``"T"``.
    """
    qrs = _qrs_waves(p)
    return _p_waves(p) + qrs + _repolarisation_waves(p, qrs)
