"""The conditions the simulator can produce and the random draw of one ECG's parameters.

:func:`sample_params` draws, from a seeded generator and in a fixed order (the draw order is
part of the output: the same seed must give the same ECG), every scalar that
:func:`hfviz.synthetic.waves.build_waves` and :func:`hfviz.synthetic.simulate.simulate_ecg`
need: rhythm and rate, atrial and AV conduction, ventricular depolarisation (duration,
voltage, axis, hypertrophy, infarcts, fragmentation) and repolarisation (QT, T wave).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

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

#: Rate adaptation of the PR interval (ms per bpm above 70): AV conduction quickens with sinus
#: rate, by roughly 20 ms between 70 and 120 bpm (an approximate size, not fitted to any data).
#: Without it a fast sinus rhythm puts the P wave on the previous T wave.
PR_SHORTENING_MS_PER_BPM = 0.4


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def effective_conditions(conditions: Iterable[str]) -> set[str]:
    """The conditions that apply together (see :func:`sample_params`); ValueError for unknown names."""
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
    return cond


# Each drawing step below fills its part of ``p`` in place; ``age`` is the caller's value as
# given (``p["age"]`` is its float), so the arithmetic matches the unsplit original exactly.
def _rhythm(p: dict[str, Any], cond: set[str], age: float, rng: np.random.Generator) -> None:
    """Rhythm, set rate (bpm), RR variability and the fibrillation parameters."""
    female = p["sex"] == "F"
    p["rhythm"] = "af" if "af" in cond else "sinus"
    if "sinus_bradycardia" in cond:
        hr = _u(rng, 42, 56)
    elif "sinus_tachycardia" in cond:
        hr = _u(rng, 104, 125)
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


def _atrial(p: dict[str, Any], cond: set[str], age: float, rng: np.random.Generator) -> None:
    """P-wave duration (ms) and amplitude factor, PR interval (ms)."""
    p["p_ms"] = float(np.clip(rng.normal(100, 9), 80, 118))
    p["p_amp"] = float(np.clip(rng.normal(1.0, 0.2), 0.55, 1.5))
    if "av_block_1" in cond:
        pr = _u(rng, 225, 320)
    else:
        pr = float(np.clip(rng.normal(155 + 0.4 * (age - 55), 18), 125, 196))
        pr -= PR_SHORTENING_MS_PER_BPM * max(p["hr_set_bpm"] - 70.0, 0.0)  # AV conduction speeds up with rate
    p["pr_ms"] = max(pr, p["p_ms"] + 25.0)


def _depolarisation(p: dict[str, Any], cond: set[str], age: float, rng: np.random.Generator) -> None:
    """QRS duration (ms), voltage scale, precordial gain, axis (deg), LVH, low voltage."""
    female = p["sex"] == "F"
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
        axis = float(np.clip(rng.normal(48 - 0.3 * (age - 55), 20), -20, 90))
        if "lbbb" in cond:  # leftward activation: axis -25..+30 deg (R in I and aVL); same draw, mapped
            axis = 0.5 * (axis - 48.0) + 5.0
        p["axis_target_deg"] = axis
    p["horizontal_rot_deg"] = float(rng.normal(0, 10))
    p["lvh_sokolow_target_mv"] = _u(rng, 3.9, 5.3) if "lvh" in cond else None
    p["lvh_strain"] = bool("lvh" in cond and rng.random() < 0.7)
    p["low_voltage_limb_mv"] = _u(rng, 0.28, 0.45) if "low_voltage" in cond else None


def _scar(p: dict[str, Any], cond: set[str], age: float, rng: np.random.Generator) -> None:
    """Old infarcts (Q-wave size mV and width ms, T inversion per territory) and QRS fragmentation."""
    terr = [t for t in ("inferior", "anterior", "lateral") if f"mi_{t}" in cond]
    p["mi_territories"] = terr
    p["mi_q_mv"] = {t: _u(rng, 0.35, 0.8) for t in terr}
    p["mi_q_ms"] = {t: _u(rng, 50, 62) for t in terr}
    p["mi_t_inversion"] = {t: bool(rng.random() < 0.5) for t in terr}
    if "fragmented_qrs" in cond:
        p["fqrs_index"] = _u(rng, 0.5, 1.0)
    else:
        p["fqrs_index"] = 0.0
    p["fqrs_n_notches"] = int(rng.integers(2, 4))
    p["fqrs_positions"] = sorted(float(x) for x in rng.uniform(0.3, 0.85, size=p["fqrs_n_notches"]))
    v = rng.normal(size=3)
    p["fqrs_direction"] = [float(x) for x in v / np.linalg.norm(v)]
    # the scar that fragments the QRS lies in one coronary territory; the notches point at it
    p["fqrs_territory"] = ("inferior", "anterior", "lateral")[int(rng.integers(3))]


def _repolarisation(p: dict[str, Any], cond: set[str], age: float, rng: np.random.Generator) -> None:
    """QTc (Fridericia, ms), QT at the set rate (ms), T amplitude, inversion and shape."""
    female = p["sex"] == "F"
    rr_s = 60.0 / p["hr_set_bpm"]
    # Fridericia QTc to the T wave's tangent end; the IEC end (return to baseline) adds ~16 ms,
    # so the upper bound keeps a normal QTc below the long-QT thresholds (450 / 460 ms, Bazett)
    qtc_f = float(np.clip(rng.normal(394 + (10 if female else 0), 14), 360, 425 + (10 if female else 0)))
    if "long_qt" in cond:
        qtc_f = _u(rng, 480, 545)
    p["qtc_set_fridericia_ms"] = qtc_f
    p["qt_ms"] = qtc_f * rr_s ** (1.0 / 3.0) + max(p["qrs_ms"] - 100.0, 0.0)
    p["t_amp"] = float(np.clip(rng.normal(1.15, 0.25), 0.6, 1.8))
    if "t_flat" in cond:
        p["t_amp"] = _u(rng, 0.08, 0.25)
    p["t_inversion"] = "t_inversion" in cond
    p["t_fall_frac"] = _u(rng, 0.24, 0.29)


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
        Scalar parameters (ms, mV, bpm, degrees) that :func:`hfviz.synthetic.waves.build_waves`
        turns into waves; ``conditions`` lists the effective conditions in :data:`PHENOTYPES` order.

    Raises
    ------
    ValueError
        For an unknown condition name.
    """
    cond = effective_conditions(conditions)
    if age is None:
        age = float(np.clip(rng.normal(60, 9), 40, 80))
    if sex is None:
        sex = "M" if rng.random() < 0.5 else "F"
    p: dict[str, Any] = {"age": float(age), "sex": sex}
    p["conditions"] = [c for c in PHENOTYPES if c in cond]
    for draw in (_rhythm, _atrial, _depolarisation, _scar, _repolarisation):  # this order is the rng stream
        draw(p, cond, age, rng)
    return p
