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

Where things are: :mod:`hfviz.synthetic.phenotypes` (the conditions and the random draw of
parameters), :mod:`hfviz.synthetic.waves` (the dipole waves of one beat and the lead
projection), this module (rhythm, noise, the 10-s strip and its truth).

Everything this module produces is synthetic and is labelled so (``source_format =
"simulated"``, ``meta["synthetic"] = True``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hfviz.ecg.record import LEADS, ECGRecord, make_record
from hfviz.synthetic.phenotypes import PHENOTYPES, sample_params
from hfviz.synthetic.waves import Wave, build_waves, dipole, project, qrs_leads, twelve_from_eight

__all__ = ["FS_HZ", "DURATION_S", "N_SAMPLES", "PHENOTYPES", "NOISE_PRESETS", "sample_params", "build_waves",
           "noise_params", "clean_beat", "simulate_ecg", "simulate"]

FS_HZ = 500.0
DURATION_S = 10.0
N_SAMPLES = int(FS_HZ * DURATION_S)
_LEAD_IDX = {name: i for i, name in enumerate(LEADS)}


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
    return t, twelve_from_eight(project(dipole(build_waves(p), t), float(p.get("precordial_gain", 1.0))))


def _beat_metrics(p: Mapping[str, Any], waves: list[Wave]) -> dict[str, Any]:
    """Truth measured on the clean QRS: Sokolow-Lyon (mV), axis (deg), peak-to-peaks (mV), R peak (ms)."""
    d = float(p["qrs_ms"])
    qrs = [w for w in waves if w[0].startswith("QRS")]
    lead = qrs_leads(qrs, d, float(p.get("precordial_gain", 1.0)))
    idx = _LEAD_IDX
    sl = float(-lead[idx["V1"]].min() + max(lead[idx["V5"]].max(), lead[idx["V6"]].max()))
    p2p = np.ptp(lead, axis=1)
    t = np.arange(0.0, d + 1.0, 1.0)
    mag = np.linalg.norm(dipole(qrs, t), axis=0)
    return {
        "sokolow_lyon_mv": sl,
        "qrs_axis_deg": float(np.degrees(np.arctan2(lead[idx["aVF"]].sum(), lead[idx["I"]].sum()))),
        "limb_qrs_max_mv": float(p2p[:6].max()),
        "precordial_qrs_max_mv": float(p2p[6:].max()),
        "qrs_p2p_mv": {name: float(v) for name, v in zip(LEADS, p2p)},
        "r_peak_ms": float(t[int(np.argmax(mag))]),
    }


def _strip_dipole(p: Mapping[str, Any], waves: list[Wave], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The dipole (3, N_SAMPLES) of the 10-s strip: beats on the RR series (+ fibrillation in AF).

    Returns the dipole and the QRS onset times (s, including beats in the 3-s margins).
    """
    pre = float(p["pr_ms"]) + 20.0 if p["rhythm"] == "sinus" else 20.0
    post = float(p["qt_ms"]) + 40.0
    t_tpl = np.arange(-pre, post, 1000.0 / FS_HZ)
    tpl = dipole(waves, t_tpl)  # (3, L)

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
    return xyz, onsets


def _strip_leads(p: Mapping[str, Any], xyz: np.ndarray, rng: np.random.Generator, nz: Mapping[str, float],
                 mains_hz: float | None) -> tuple[np.ndarray, float]:
    """Project, add noise and per-lead gain error to the eight leads, derive the other four.

    Returns the signal (12, N_SAMPLES) in mV and the mains frequency used (Hz).
    """
    leads8 = project(xyz, float(p.get("precordial_gain", 1.0)))
    mains = float(mains_hz) if mains_hz else float(rng.choice([50.0, 60.0]))
    leads8 = leads8 + _noise(rng, N_SAMPLES, nz, mains, p["resp_hz"])
    if nz["gain_sd"] > 0:
        leads8 = leads8 * (1.0 + nz["gain_sd"] * rng.normal(size=(8, 1)))
    return twelve_from_eight(leads8), mains


def _rhythm_truth(p: Mapping[str, Any], onsets: np.ndarray, r_peak_ms: float) -> dict[str, Any]:
    """Strip heart rate (bpm), RR intervals (ms), R-peak samples and QTc (Bazett, Fridericia; ms)."""
    in_strip = onsets[(onsets >= 0) & (onsets < DURATION_S)]
    r_times = in_strip + r_peak_ms / 1000.0
    r_peaks = np.round(r_times[r_times < DURATION_S] * FS_HZ).astype(int)
    rr = np.diff(onsets[(onsets >= -0.01) & (onsets <= DURATION_S)]) * 1000.0
    hr = 60000.0 / float(np.mean(rr)) if rr.size else float(p["hr_set_bpm"])
    rr_s = 60.0 / hr
    qt = float(p["qt_ms"])
    return {
        "hr_bpm": hr,
        "rr_ms": [float(x) for x in rr],
        "r_peaks": [int(x) for x in r_peaks],
        "qtc_bazett_ms": qt / math.sqrt(rr_s),
        "qtc_fridericia_ms": qt / rr_s ** (1.0 / 3.0),
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
    xyz, onsets = _strip_dipole(p, waves, rng)
    nz = noise_params(noise)
    sig, mains = _strip_leads(p, xyz, rng, nz, mains_hz)
    rhythm = _rhythm_truth(p, onsets, metrics["r_peak_ms"])
    truth = dict(p)
    truth.update(metrics)
    truth.update({"synthetic": True, **rhythm, "noise": nz, "mains_hz": mains})
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
