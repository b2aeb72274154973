"""SYNTHETIC heart-failure cohorts with a known hazard (presets ``mi``, ``hyp``, ``pretrain``).

Each subject gets an age, a sex and a set of ECG conditions drawn with the preset's
prevalences, one simulated 10-s ECG (:mod:`hfviz.synthetic.simulate`, random noise level), its median
beat computed by the same pipeline as an upload (:func:`hfviz.ecg.prepare.prepare`), a
PTB-XL-style report (:mod:`hfviz.synthetic.reports`), and -- for the outcome presets -- a time to
heart failure drawn from a proportional-hazards model.

Hazard model (time ``t`` in months)
-----------------------------------
::

    h(t | x) = lambda * k * t**(k - 1) * exp(eta),      Weibull baseline, k = 1.3
    eta      = eta_ecg + eta_demo + u,                  u ~ Normal(0, sigma_u**2) (unobserved)

    eta_ecg  = 0.020 * max(QRS - 100 ms, 0)             wide QRS (150 ms -> +1.0)
             + 0.35 * LBBB
             + 0.55 * LVH + 0.25 * LVH strain
             + 0.75 * atrial fibrillation
             + 0.55 * anterior / 0.35 * inferior / 0.45 * lateral Q-wave infarct (summed)
             + 0.012 * max(QTc_Bazett - 440 ms, 0)      long QTc (500 ms -> +0.72)
             + 0.025 * max(HR - 70 bpm, 0)              tachycardia (100 bpm -> +0.75)
             + 0.50 * low QRS voltage
             + 0.90 * fQRS index (0-1)                  QRS fragmentation: the "hidden" feature
                                                        that interval measurements miss
             + 0.30 * T-wave inversion (primary or post-infarct) + 0.20 * flat T waves
    eta_demo = 0.05 * (age - 60 years) + 0.30 * male

QRS, QTc and HR are the ground-truth values of the simulated ECG (see
:mod:`hfviz.synthetic.simulate`). ``true_log_hazard = eta_ecg + eta_demo`` is stored per subject
(``ecg_log_hazard = eta_ecg`` as well); ``u`` is not (``sigma_u = 1.0`` for ``mi`` and
``hyp``). The **oracle C-index** -- Harrell's C of ``true_log_hazard`` against the observed
outcomes -- is about 0.75-0.77 (0.74-0.76 for ``eta_ecg`` alone), which leaves room for a
model to be measurably good or bad. Note: with rare events (2-4 %) an independent
unobserved component barely lowers the oracle C-index (marginalising ``u`` only rescales
the hazard: P(event | x) is still proportional to ``exp(eta_ecg + eta_demo)``); measured
over 20 outcome draws on 3,000-6,000 subjects, ``sigma_u`` 0 -> 1.1 lowers it from 0.773 to
0.750 (mi) and 0.773 to 0.754 (hyp). The oracle is set mainly by the spread of the ECG
part (SD about 0.8).

Event times: ``T = (-log V / (lambda * exp(eta)))**(1/k)``, ``V ~ U(0,1)``. ``lambda`` is
solved (bisection) so that the expected fraction of subjects with an event before
censoring equals the preset's target rate. Censoring: administrative at the end of study,
``C_admin ~ U(27, 84)`` months (staggered entry; 84 months maximum), and loss to follow-up
``C_loss ~ Exponential(mean 1200 months)`` (about 4 % lost); ``time = min(T, C_admin,
C_loss)``, ``event = T <= min(C_admin, C_loss)``. The median follow-up is then about 53
months, as in the paper's UKB-MI cohort.

Presets
-------
- ``mi``: prior myocardial infarction (UKB-MI-like): 800 subjects, ~4 % events; 80 % male,
  age ~ N(64, 6); all have a prior infarct (80 % with Q waves in its territory).
- ``hyp``: hypertension (UKB-HYP-like): 3,000 subjects (small enough that training
  stays cheap on a CPU; the real cohort is larger), ~2 % events; LVH-rich (30 %).
- ``pretrain``: 20,000 ECGs with reports and a PTB-XL-like mix of diagnoses; no outcomes.

Seeds: subject ``i`` of a cohort with seed ``s`` uses ``numpy.random.default_rng([s, i, attempt])``
(attempt 0 unless no median beat could be taken) for its ECG and report, and the cohort-level draws use ``default_rng(s)`` -- the same
preset, ``n`` and seed give identical data regardless of the number of worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing as mp
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from hfviz.ecg.prepare import prepare
from hfviz.ecg.signal import pad_beat
from hfviz.errors import ECGFormatError
from hfviz.synthetic.reports import make_report, scp_statement_table
from hfviz.synthetic.simulate import sample_params, simulate_ecg

#: Coefficients of the ECG part of the log-hazard (see the module docstring).
ECG_COEF: dict[str, float] = {
    "qrs_per_ms_over_100": 0.020,
    "lbbb": 0.35,
    "lvh": 0.55,
    "lvh_strain": 0.25,
    "af": 0.75,
    "mi_anterior": 0.55,
    "mi_inferior": 0.35,
    "mi_lateral": 0.45,
    "qtc_per_ms_over_440": 0.012,
    "hr_per_bpm_over_70": 0.025,
    "low_voltage": 0.50,
    "fqrs_index": 0.90,
    "t_inversion": 0.30,
    "t_flat": 0.20,
}
#: Coefficients of the demographic part.
DEMO_COEF: dict[str, float] = {"age_per_year_over_60": 0.05, "male": 0.30}
WEIBULL_SHAPE = 1.3
ADMIN_CENSOR_MONTHS = (27.0, 84.0)
LOSS_MEAN_MONTHS = 1200.0

@dataclasses.dataclass(frozen=True)
class CohortPreset:
    """Parameters of a synthetic cohort.

    Attributes
    ----------
    name : str
    n : int
        Default number of subjects.
    outcomes : bool
        Whether HF outcomes are drawn.
    event_rate : float
        Target fraction of subjects with an observed event.
    sigma_u : float
        SD of the unobserved log-hazard component.
    age_mean, age_sd, age_min, age_max : float
        Age distribution (years, clipped normal).
    male_frac : float
    prevalence : dict of str to float
        Independent probability of each condition in :data:`hfviz.synthetic.simulate.PHENOTYPES`.
    mi_territories : dict of str to float
        For ``mi``: probability of each infarct territory pattern (``"inferior+lateral"`` etc.).
    mi_q_frac : float
        Fraction of prior infarcts that left Q waves.
    description : str
    """

    name: str
    n: int
    outcomes: bool
    event_rate: float
    sigma_u: float
    age_mean: float
    age_sd: float
    age_min: float
    age_max: float
    male_frac: float
    prevalence: dict[str, float]
    mi_territories: dict[str, float] = dataclasses.field(default_factory=dict)
    mi_q_frac: float = 0.0
    description: str = ""


PRESETS: dict[str, CohortPreset] = {
    "mi": CohortPreset(
        name="mi", n=800, outcomes=True, event_rate=0.04, sigma_u=1.0,
        age_mean=64, age_sd=6, age_min=45, age_max=80, male_frac=0.8,
        prevalence={"sinus_bradycardia": 0.12, "sinus_tachycardia": 0.03, "av_block_1": 0.08, "lbbb": 0.05,
                    "rbbb": 0.07, "lvh": 0.08, "af": 0.07, "long_qt": 0.06, "low_voltage": 0.05,
                    "t_inversion": 0.12, "t_flat": 0.10, "left_axis": 0.10, "fragmented_qrs": 0.25},
        mi_territories={"inferior": 0.42, "anterior": 0.38, "lateral": 0.12, "inferior+lateral": 0.05,
                        "anterior+lateral": 0.03},
        mi_q_frac=0.8,
        description="SYNTHETIC UKB-MI-like cohort: prior myocardial infarction",
    ),
    "hyp": CohortPreset(
        name="hyp", n=3000, outcomes=True, event_rate=0.02, sigma_u=1.0,
        age_mean=63, age_sd=7, age_min=45, age_max=80, male_frac=0.5,
        prevalence={"sinus_bradycardia": 0.08, "sinus_tachycardia": 0.04, "av_block_1": 0.07, "lbbb": 0.03,
                    "rbbb": 0.05, "lvh": 0.30, "af": 0.05, "long_qt": 0.05, "low_voltage": 0.03,
                    "t_inversion": 0.06, "t_flat": 0.10, "left_axis": 0.10, "fragmented_qrs": 0.15,
                    "mi_inferior": 0.02, "mi_anterior": 0.015, "mi_lateral": 0.005},
        description="SYNTHETIC UKB-HYP-like cohort: hypertension, LVH-rich",
    ),
    "pretrain": CohortPreset(
        name="pretrain", n=20000, outcomes=False, event_rate=0.0, sigma_u=0.0,
        age_mean=58, age_sd=16, age_min=18, age_max=95, male_frac=0.52,
        prevalence={"sinus_bradycardia": 0.07, "sinus_tachycardia": 0.05, "av_block_1": 0.05, "lbbb": 0.04,
                    "rbbb": 0.05, "lvh": 0.10, "af": 0.07, "long_qt": 0.04, "low_voltage": 0.03,
                    "t_inversion": 0.06, "t_flat": 0.07, "left_axis": 0.08, "fragmented_qrs": 0.08,
                    "mi_inferior": 0.08, "mi_anterior": 0.07, "mi_lateral": 0.02},
        description="SYNTHETIC PTB-XL-like pretraining corpus with reports, no outcomes",
    ),
}


# --- hazard ---------------------------------------------------------------------------------
def ecg_log_hazard(truth: Mapping[str, Any]) -> float:
    """ECG part ``eta_ecg`` of the log-hazard of one simulated ECG (module docstring)."""
    c = ECG_COEF
    cond = set(truth["conditions"])
    eta = c["qrs_per_ms_over_100"] * max(float(truth["qrs_ms"]) - 100.0, 0.0)
    eta += c["lbbb"] * ("lbbb" in cond)
    eta += c["lvh"] * ("lvh" in cond) + c["lvh_strain"] * bool(truth.get("lvh_strain"))
    eta += c["af"] * ("af" in cond)
    for terr in truth.get("mi_territories") or []:
        eta += c[f"mi_{terr}"]
    eta += c["qtc_per_ms_over_440"] * max(float(truth["qtc_bazett_ms"]) - 440.0, 0.0)
    eta += c["hr_per_bpm_over_70"] * max(float(truth["hr_bpm"]) - 70.0, 0.0)
    eta += c["low_voltage"] * ("low_voltage" in cond)
    eta += c["fqrs_index"] * float(truth.get("fqrs_index") or 0.0)
    t_inv = bool(truth.get("t_inversion")) or any((truth.get("mi_t_inversion") or {}).values())
    eta += c["t_inversion"] * t_inv + c["t_flat"] * ("t_flat" in cond)
    return float(eta)


def demographic_log_hazard(age: float, sex: str) -> float:
    """Demographic part ``eta_demo`` of the log-hazard."""
    return DEMO_COEF["age_per_year_over_60"] * (float(age) - 60.0) + DEMO_COEF["male"] * (sex == "M")


def _expected_event_rate(lam: float, eta: np.ndarray, c: np.ndarray) -> float:
    return float(np.mean(1.0 - np.exp(-lam * np.exp(eta) * c**WEIBULL_SHAPE)))


def draw_outcomes(
    eta: np.ndarray, event_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Draw Weibull event times and censoring for given full log-hazards.

    Parameters
    ----------
    eta : ndarray, shape (N,)
        Full log-hazard per subject (including the unobserved part).
    event_rate : float
        Target expected fraction of observed events.
    rng : numpy.random.Generator

    Returns
    -------
    time_months : ndarray (N,)
    event : ndarray (N,) of int (0/1)
    info : dict
        ``weibull_lambda``, ``weibull_shape`` and the censoring parameters.
    """
    n = eta.size
    c_admin = rng.uniform(*ADMIN_CENSOR_MONTHS, size=n)
    c_loss = rng.exponential(LOSS_MEAN_MONTHS, size=n)
    c = np.minimum(c_admin, c_loss)
    lo, hi = 1e-12, 1.0
    while _expected_event_rate(hi, eta, c) < event_rate:
        hi *= 10
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        if _expected_event_rate(mid, eta, c) < event_rate:
            lo = mid
        else:
            hi = mid
    lam = math.sqrt(lo * hi)
    v = rng.uniform(size=n)
    t_event = (-np.log(v) / (lam * np.exp(eta))) ** (1.0 / WEIBULL_SHAPE)
    time = np.minimum(t_event, c)
    event = (t_event <= c).astype(int)
    info = {
        "weibull_lambda": lam,
        "weibull_shape": WEIBULL_SHAPE,
        "admin_censor_uniform_months": list(ADMIN_CENSOR_MONTHS),
        "loss_to_followup_mean_months": LOSS_MEAN_MONTHS,
    }
    return np.round(time, 3), event, info


def concordance(time: np.ndarray, log_risk: np.ndarray, event: np.ndarray) -> float:
    """Harrell's C of a log-risk (higher = earlier event); = lifelines ``concordance_index(time, -risk, event)``."""
    from lifelines.utils import concordance_index

    return float(concordance_index(np.asarray(time), -np.asarray(log_risk), np.asarray(event)))


# --- subjects ---------------------------------------------------------------------------------
def draw_subjects(preset: CohortPreset, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Draw age, sex, conditions and noise level of ``n`` subjects.

    Returns
    -------
    list of dict
        Keys ``age`` (years), ``sex`` ("M"/"F"), ``conditions`` (list of str), ``noise_level``
        (multiplier of the default noise).
    """
    out = []
    terr_names = list(preset.mi_territories)
    terr_p = np.array([preset.mi_territories[t] for t in terr_names]) if terr_names else None
    for _ in range(n):
        age = float(np.clip(rng.normal(preset.age_mean, preset.age_sd), preset.age_min, preset.age_max))
        sex = "M" if rng.random() < preset.male_frac else "F"
        cond = [c for c, p in preset.prevalence.items() if rng.random() < p]
        if terr_p is not None:
            pattern = terr_names[int(rng.choice(len(terr_names), p=terr_p / terr_p.sum()))]
            if rng.random() < preset.mi_q_frac:
                cond += [f"mi_{t}" for t in pattern.split("+")]
            elif rng.random() < 0.4:
                cond.append("t_inversion")  # non-Q infarct: repolarisation changes only
        out.append({"age": age, "sex": sex, "conditions": sorted(set(cond)), "noise_level": float(rng.uniform(0.3, 1.5))})
    return out


def simulate_subject(seed: int, index: int, subject: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Simulate one subject: ECG, median beat, report, truth row.

    Parameters
    ----------
    seed : int
        Cohort seed.
    index : int
        Subject index (with ``seed`` it fixes the subject's random stream).
    subject : mapping
        One item of :func:`draw_subjects`.

    Returns
    -------
    beat : ndarray, shape (12, 608), float32
        Zero-padded median beat in mV (not normalised).
    row : dict
        Cohort-table columns except the outcomes (see :func:`generate_cohort`).
    """
    for attempt in range(5):
        rng = np.random.default_rng([seed, index, attempt])
        params = sample_params(rng, subject["conditions"], age=subject["age"], sex=subject["sex"])
        record, truth = simulate_ecg(params, rng, noise=subject["noise_level"], source_name=f"synthetic {index}")
        try:
            prepared = prepare(record)
        except ECGFormatError:
            continue  # no usable median beat (very rare): draw this subject's ECG again
        break
    else:  # pragma: no cover - never seen in practice
        raise RuntimeError(f"subject {index}: no median beat after 5 attempts")
    text, codes = make_report(truth, rng)
    beat = pad_beat(prepared.median_beat_mv).astype(np.float32)
    m = prepared.measurements
    row = {
        "age": int(round(subject["age"])),
        "sex": subject["sex"],
        "report": text,
        "scp_codes": json.dumps(codes),
        "phenotype": "+".join(truth["conditions"]) or "normal",
        "ecg_log_hazard": round(ecg_log_hazard(truth), 6),
        "demo_log_hazard": round(demographic_log_hazard(subject["age"], subject["sex"]), 6),
        "noise_level": round(subject["noise_level"], 3),
        "true_hr_bpm": round(truth["hr_bpm"], 2),
        "true_pr_ms": round(truth["pr_ms"], 1) if truth["rhythm"] == "sinus" else np.nan,
        "true_qrs_ms": round(truth["qrs_ms"], 1),
        "true_qt_ms": round(truth["qt_ms"], 1),
        "true_qtc_bazett_ms": round(truth["qtc_bazett_ms"], 1),
        "true_qrs_axis_deg": round(truth["qrs_axis_deg"], 1),
        "true_sokolow_lyon_mv": round(truth["sokolow_lyon_mv"], 3),
        "true_fqrs_index": round(float(truth["fqrs_index"]), 3),
    }
    for key, meas in m.items():
        row[f"meas_{key}"] = np.nan if meas.value is None else meas.value
    return beat, row


def _work(args):
    seed, start, subjects = args
    return [simulate_subject(seed, start + k, s) for k, s in enumerate(subjects)]


def _simulate_subjects(seed: int, subjects: list[dict[str, Any]], workers: int,
                       progress: Callable[[int], None] | None) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """:func:`simulate_subject` for every subject, in chunks of 25, in order (optionally in processes)."""
    chunk = 25
    n = len(subjects)
    jobs = [(seed, i, subjects[i : i + chunk]) for i in range(0, n, chunk)]
    results = []
    if workers > 1 and n > chunk:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")
        with ctx.Pool(workers) as pool:
            for res in pool.imap(_work, jobs):
                results.extend(res)
                if progress:
                    progress(len(res))
    else:
        for job in jobs:
            res = _work(job)
            results.extend(res)
            if progress:
                progress(len(res))
    return results


def _add_outcomes(table: pd.DataFrame, meta: dict[str, Any], p: CohortPreset, seed: int,
                  sigma_u: float | None, event_rate: float | None) -> None:
    """Draw times and events into ``table`` and describe the hazard model in ``meta`` (in place)."""
    n = len(table)
    orng = np.random.default_rng([seed, 0x5EED])
    su = p.sigma_u if sigma_u is None else float(sigma_u)
    rate = p.event_rate if event_rate is None else float(event_rate)
    u = orng.normal(0.0, su, size=n) if su > 0 else np.zeros(n)
    eta_full = table["true_log_hazard"].to_numpy() + u
    time, event, info = draw_outcomes(eta_full, rate, orng)
    table["time_months"] = time
    table["event"] = event
    tl = table["true_log_hazard"].to_numpy()
    meta["hazard_model"] = {
        "formula": "h(t|x) = lambda*k*t^(k-1)*exp(eta); eta = eta_ecg + eta_demo + u, u ~ N(0, sigma_u^2)",
        "true_log_hazard": "eta_ecg + eta_demo (ECG part + age/sex; the unobserved u is not stored)",
        "ecg_log_hazard": "eta_ecg only",
        "ecg_coefficients": ECG_COEF,
        "demographic_coefficients": DEMO_COEF,
        "sigma_u": su,
        "target_event_rate": rate,
        "time_unit": "months",
        **info,
    }
    meta["event_rate"] = float(event.mean())
    meta["n_events"] = int(event.sum())
    meta["median_followup_months"] = float(np.median(time))
    meta["max_followup_months"] = float(np.max(time))
    if event.sum() > 0:
        meta["oracle_cindex"] = concordance(time, tl, event)
        meta["oracle_cindex_ecg_only"] = concordance(time, table["ecg_log_hazard"].to_numpy(), event)
        meta["oracle_cindex_with_unobserved"] = concordance(time, eta_full, event)


def generate_cohort(
    preset: str | CohortPreset,
    *,
    n: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    sigma_u: float | None = None,
    event_rate: float | None = None,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any]]:
    """Generate a synthetic cohort in the dataset layout of :mod:`hfviz.data.dataset`.

    Parameters
    ----------
    preset : str or CohortPreset
        ``"mi"``, ``"hyp"``, ``"pretrain"`` or a custom preset.
    n : int, optional
        Number of subjects (default: the preset's).
    seed : int
        Master seed; same preset, ``n`` and seed give identical output.
    workers : int
        Processes used for simulation (results do not depend on it).
    progress : callable, optional
        Called with the number of subjects just finished (for a progress bar).
    sigma_u, event_rate : float, optional
        Override the preset's unobserved-component SD and target event rate.

    Returns
    -------
    beats : ndarray, shape (N, 12, 608), float32
        Zero-padded median beats in mV.
    table : DataFrame
        Columns ``id, age, sex, time_months, event, report, scp_codes, true_log_hazard,
        phenotype`` plus ``ecg_log_hazard``, ``demo_log_hazard``, ``noise_level``, ``true_*``
        (ground-truth intervals) and ``meas_*`` (the pipeline's measurements of the strip).
        Outcome columns are empty (NaN) for ``pretrain``.
    meta : dict
        ``source="synthetic"``, preset, seed, n, the hazard model (formula, coefficients,
        Weibull and censoring parameters, ``sigma_u``) and the realised event rate, median
        follow-up and oracle C-indices.
    """
    p = PRESETS[preset] if isinstance(preset, str) else preset
    if isinstance(preset, str) and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    n = int(p.n if n is None else n)
    if n < 1:
        raise ValueError("n must be at least 1")
    subjects = draw_subjects(p, n, np.random.default_rng(seed))
    results = _simulate_subjects(seed, subjects, workers, progress)
    beats = np.stack([b for b, _ in results]).astype(np.float32)
    table = pd.DataFrame([r for _, r in results])
    table.insert(0, "id", [f"SYN-{p.name}-{seed}-{i:06d}" for i in range(n)])
    table["true_log_hazard"] = (table["ecg_log_hazard"] + table["demo_log_hazard"]).round(6)

    meta: dict[str, Any] = {
        "source": "synthetic",
        "synthetic": True,
        "preset": p.name,
        "description": p.description,
        "seed": int(seed),
        "n": int(n),
        "median_beats": "hfviz.ecg.prepare.prepare (same pipeline as uploads), zero-padded to 608",
        "generator": "hfviz.synthetic.cohorts.generate_cohort",
    }
    if p.outcomes:
        _add_outcomes(table, meta, p, seed, sigma_u, event_rate)
    else:
        table["time_months"] = np.nan
        table["event"] = np.nan
    meta["scp_statements"] = scp_statement_table()
    meta["phenotype_counts"] = {k: int(v) for k, v in table["phenotype"].str.split("+").explode().value_counts().items()}
    first = ["id", "age", "sex", "time_months", "event", "report", "scp_codes", "true_log_hazard", "phenotype"]
    table = table[first + [c for c in table.columns if c not in first]]
    return beats, table, meta
