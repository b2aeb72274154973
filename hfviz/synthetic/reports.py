"""PTB-XL-style report text and SCP-ECG codes for SYNTHETIC ECGs, derived from their truth.

Each simulated ECG gets what a PTB-XL row has: a free-text English report ("sinus rhythm.
left ventricular hypertrophy with repolarisation abnormality. …", lower case, statements
separated by ". ") and a dict of SCP-ECG statement codes with likelihoods. Both come from
the ground truth of :func:`hfviz.synthetic.simulate.simulate_ecg`, with realistic variation in
wording (several phrasings per statement, optional measurements, optional closing
remarks), so that ECG-report alignment pretraining has something true to learn.

Likelihoods use PTB-XL's scale (15, 35, 50, 80, 100) and grow with how clearly the
criterion is met (e.g. Sokolow-Lyon 3.6 mV -> 50, >= 4.5 mV -> 100). Unlike PTB-XL, which
stores 0 for rhythm and form statements ("likelihood not stated"), every statement here
carries a likelihood.

The report is written section by section (rhythm, AV conduction, axis, intraventricular
conduction, hypertrophy, infarction, voltage, fragmentation, repolarisation, closing); each
section is one function that appends its phrases and codes and says whether it found
something abnormal. The statements themselves (descriptions, categories) live in the one
table :data:`hfviz.data.scp.STATEMENTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hfviz.data.scp import statement_rows

#: Every code this module emits (keys of :data:`hfviz.data.scp.STATEMENTS`), in the order
#: they are listed in a synthetic dataset's ``meta["scp_statements"]``.
EMITTED_CODES: tuple[str, ...] = (
    "NORM", "ABQRS", "SR", "SBRAD", "STACH", "SARRH", "AFIB", "1AVB", "LPR", "CLBBB", "CRBBB", "IVCD", "LAFB",
    "LVH", "VCLVH", "IMI", "ASMI", "AMI", "LMI", "ILMI", "ALMI", "QWAVE", "LVOLT", "LNGQT", "INVT", "LOWT",
    "NT_", "STD_", "ISCLA",
)

_LIK = (15.0, 35.0, 50.0, 80.0, 100.0)

Truth = Mapping[str, Any]
Codes = dict[str, float]


def scp_statement_table() -> dict[str, dict[str, str]]:
    """The emitted statements as ``{code: {"description", "category", "diagnostic_class"}}`` (for meta.json)."""
    return statement_rows(EMITTED_CODES)


def _lik(strength: float) -> float:
    """Map a criterion strength in [0, 1] to PTB-XL's likelihood scale."""
    return _LIK[int(np.clip(np.floor(strength * len(_LIK)), 0, len(_LIK) - 1))]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


# --- sections: each appends phrases to ``parts`` and codes to ``codes``, returns "abnormal" ---
def _rhythm(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    hr = float(truth["hr_bpm"])
    abnormal = False
    if truth["rhythm"] == "af":
        abnormal = True
        if hr > 100:
            parts.append(_pick(rng, ["atrial fibrillation with rapid ventricular response",
                                     "atrial fibrillation, rapid ventricular rate", "atrial fibrillation"]))
        else:
            parts.append(_pick(rng, ["atrial fibrillation", "atrial fibrillation with controlled ventricular rate",
                                     "atrial fibrillation, irregular ventricular rhythm"]))
        codes["AFIB"] = 100.0
    elif hr < 60:
        parts.append(_pick(rng, ["sinus bradycardia", "sinus bradycardia", "marked sinus bradycardia" if hr < 48
                                 else "sinus bradycardia", f"sinus bradycardia, rate {hr:.0f}/min"]))
        codes["SBRAD"] = _lik((60 - hr) / 15)
        abnormal = hr < 50
    elif hr > 100:
        parts.append(_pick(rng, ["sinus tachycardia", "sinus tachycardia", f"sinus tachycardia, rate {hr:.0f}/min"]))
        codes["STACH"] = _lik((hr - 100) / 25)
        abnormal = True
    else:
        parts.append(_pick(rng, ["sinus rhythm", "sinus rhythm", "normal sinus rhythm", "regular sinus rhythm"]))
        codes["SR"] = 100.0
    rr = np.asarray(truth.get("rr_ms") or [], dtype=float)
    if truth["rhythm"] == "sinus" and rr.size > 3 and rr.std() / rr.mean() > 0.06:
        parts.append(_pick(rng, ["sinus arrhythmia", "respiratory sinus arrhythmia"]))
        codes["SARRH"] = 50.0
    return abnormal


def _av_conduction(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    if not (truth["rhythm"] == "sinus" and truth["pr_ms"] > 210):
        return False
    pr = float(truth["pr_ms"])
    parts.append(_pick(rng, ["first degree av block", "av block i", f"first degree av block (pr {pr:.0f} ms)",
                             "prolonged pr interval, first degree av block"]))
    codes["1AVB"] = _lik((pr - 200) / 80)
    return True


def _axis(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    cond = set(truth["conditions"])
    axis = float(truth["qrs_axis_deg"])
    if axis < -30:
        if axis <= -45 and "lbbb" not in cond and "mi_inferior" not in cond:
            parts.append(_pick(rng, ["left anterior fascicular block", "left axis deviation, left anterior hemiblock",
                                     "left anterior hemiblock"]))
            codes["LAFB"] = _lik((-axis - 40) / 40)
        else:
            parts.append(_pick(rng, ["left axis deviation", "left axis", "abnormal left axis deviation"]))
        return True
    if axis > 100:
        parts.append(_pick(rng, ["right axis deviation", "rightward axis"]))
    return False


def _intraventricular(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    cond = set(truth["conditions"])
    qrs = float(truth["qrs_ms"])
    if "lbbb" in cond:
        parts.append(_pick(rng, ["complete left bundle branch block", "left bundle branch block",
                                 f"complete left bundle branch block, qrs {qrs:.0f} ms"]))
        codes["CLBBB"] = 100.0
        return True
    if "rbbb" in cond:
        parts.append(_pick(rng, ["complete right bundle branch block", "right bundle branch block",
                                 "complete right bundle branch block with secondary repolarisation changes"]))
        codes["CRBBB"] = 100.0
        return True
    if qrs >= 110:
        parts.append(_pick(rng, ["non-specific intraventricular conduction delay", "intraventricular conduction delay"]))
        codes["IVCD"] = 50.0
    return False


def _hypertrophy(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    if "lvh" not in set(truth["conditions"]):
        return False
    sl = float(truth["sokolow_lyon_mv"])
    lik = _lik((sl - 3.5) / 1.5)
    if truth.get("lvh_strain"):
        parts.append(_pick(rng, ["left ventricular hypertrophy with repolarisation abnormality",
                                 "left ventricular hypertrophy with strain pattern",
                                 "lvh with secondary st-t changes",
                                 f"left ventricular hypertrophy (sokolow-lyon {sl:.1f} mv) with strain"]))
        codes["LVH"] = lik
        codes["STD_"] = 50.0
    else:
        parts.append(_pick(rng, ["left ventricular hypertrophy", "voltage criteria for left ventricular hypertrophy",
                                 "lvh by voltage criteria", f"left ventricular hypertrophy, sokolow-lyon index {sl:.1f} mv"]))
        codes["LVH"] = lik
        codes["VCLVH"] = 100.0
    return True


def _infarction(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    terr = list(truth.get("mi_territories") or [])
    if not terr:
        return False
    q = {t: float(truth["mi_q_mv"][t]) for t in terr}
    age_phrase = _pick(rng, [", age undetermined", ", probably old", " (old)", ""])
    for pair, code, phrases in ((("inferior", "lateral"), "ILMI", ["inferolateral myocardial infarction",
                                                                   "old inferolateral infarction"]),
                                (("anterior", "lateral"), "ALMI", ["anterolateral myocardial infarction",
                                                                   "extensive anterior infarction"])):
        if all(t in terr for t in pair):
            parts.append(_pick(rng, phrases) + age_phrase)
            codes[code] = _lik(0.3 + (min(q[pair[0]], q[pair[1]]) - 0.35) / 0.6)
            terr = [t for t in terr if t not in pair]
            break
    for t in terr:
        lik = _lik(0.3 + (q[t] - 0.35) / 0.6)
        if t == "inferior":
            parts.append(_pick(rng, ["inferior myocardial infarction", "old inferior infarction",
                                     "q waves in ii, iii, avf consistent with inferior infarction"]) + age_phrase)
            codes["IMI"] = lik
        elif t == "anterior":
            if rng.random() < 0.5:
                parts.append(_pick(rng, ["anteroseptal myocardial infarction", "old anteroseptal infarct"]) + age_phrase)
                codes["ASMI"] = lik
            else:
                parts.append(_pick(rng, ["anterior myocardial infarction", "qs complexes v1-v3, old anterior infarction"]) + age_phrase)
                codes["AMI"] = lik
        else:
            parts.append(_pick(rng, ["lateral myocardial infarction", "high lateral infarction",
                                     "q waves in i, avl, v5, v6 consistent with lateral infarction"]) + age_phrase)
            codes["LMI"] = lik
    if rng.random() < 0.3:
        codes["QWAVE"] = 100.0
    return True


def _voltage(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    limb = float(truth["limb_qrs_max_mv"])
    if not ("low_voltage" in set(truth["conditions"]) or limb < 0.5):
        return False
    parts.append(_pick(rng, ["low qrs voltages in the frontal leads", "low voltage", "peripheral low voltage",
                             "low limb lead voltage"]))
    codes["LVOLT"] = _lik((0.5 - limb) / 0.2)
    return True


def _fragmentation(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    """Fragmentation is not captured by interval measurements; readers mention it sometimes."""
    fq = float(truth.get("fqrs_index") or 0.0)
    if not (fq > 0 and rng.random() < 0.25 + 0.5 * fq):
        return False
    parts.append(_pick(rng, ["fragmented qrs complexes", "notched qrs complexes", "abnormal qrs morphology (fragmentation)",
                             "qrs fragmentation in several leads"]))
    codes["ABQRS"] = _lik(fq * 0.9)
    return True


def _repolarisation(truth: Truth, rng: np.random.Generator, parts: list[str], codes: Codes) -> bool:
    cond = set(truth["conditions"])
    abnormal = False
    mi_tinv = [t for t in (truth.get("mi_territories") or []) if truth["mi_t_inversion"][t]]
    if truth.get("t_inversion"):
        abnormal = True
        parts.append(_pick(rng, ["t wave inversion in lateral leads", "negative t waves in i, avl, v5, v6",
                                 "inverted t waves", "t wave inversion, consider ischaemia"]))
        codes["INVT"] = 80.0
        if rng.random() < 0.4:
            codes["ISCLA"] = 35.0
    elif mi_tinv:
        parts.append("t wave inversion in " + " and ".join(mi_tinv) + " leads")
        codes["INVT"] = 50.0
    if "t_flat" in cond:
        abnormal = True
        parts.append(_pick(rng, ["flat t waves", "low amplitude t waves", "non-specific t wave flattening",
                                 "t wave flattening"]))
        codes["LOWT" if rng.random() < 0.6 else "NT_"] = 50.0
    qtc = float(truth["qtc_bazett_ms"])
    if qtc >= 460 and not ("lbbb" in cond or "rbbb" in cond) or "long_qt" in cond:
        abnormal = True
        parts.append(_pick(rng, ["prolonged qt interval", "long qt", f"qtc prolonged ({qtc:.0f} ms)",
                                 "prolonged qt, consider drug effect or electrolyte disturbance"]))
        codes["LNGQT"] = _lik((qtc - 450) / 80)
    return abnormal


_SECTIONS = (_rhythm, _av_conduction, _axis, _intraventricular, _hypertrophy, _infarction, _voltage,
             _fragmentation, _repolarisation)


def make_report(truth: Mapping[str, Any], rng: np.random.Generator) -> tuple[str, dict[str, float]]:
    """Write the report and SCP codes of one synthetic ECG.

    Parameters
    ----------
    truth : mapping
        Truth dict from :func:`hfviz.synthetic.simulate.simulate_ecg` (needs ``conditions``, ``rhythm``,
        ``hr_bpm``, ``pr_ms``, ``qrs_ms``, ``qtc_bazett_ms``, ``qrs_axis_deg``,
        ``sokolow_lyon_mv``, ``limb_qrs_max_mv``, ``mi_territories``, ``mi_q_mv``,
        ``mi_t_inversion``, ``lvh_strain``, ``fqrs_index``, ``rr_ms``).
    rng : numpy.random.Generator
        Randomness of the wording.

    Returns
    -------
    text : str
        Lower-case English report, statements separated by ``". "`` and ending in ``"."``.
    scp_codes : dict of str to float
        SCP-ECG codes (in :data:`EMITTED_CODES`) with likelihoods in (0, 100].
    """
    parts: list[str] = []
    codes: Codes = {}
    abnormal = False
    for section in _SECTIONS:  # every section runs (in this order): the wording stream depends on it
        abnormal = section(truth, rng, parts, codes) or abnormal
    if not abnormal and len(codes) <= 2:
        parts.append(_pick(rng, ["normal ecg", "normal ecg", "otherwise normal ecg", "within normal limits"]))
        codes["NORM"] = 100.0 if rng.random() < 0.8 else 80.0
    elif abnormal and rng.random() < 0.25:
        parts.append(_pick(rng, ["abnormal ecg", "abnormal ecg, compare with previous tracing"]))
    return ". ".join(parts) + ".", codes
