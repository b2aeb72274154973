"""Per-phenotype fidelity of a risk score: does it rank textbook ECGs the way the true hazard does?

On a SYNTHETIC cohort the simulator knows each subject's conditions and the ECG part of the
true log-hazard (``ecg_log_hazard``). A score is faithful when

* its rank correlation (Spearman) with ``ecg_log_hazard`` is high, and
* every phenotype sits where the truth puts it: the mean percentile of the score among the
  subjects with that phenotype is close to the mean percentile of ``ecg_log_hazard`` among them.

The C-index alone hides systematic mis-ranking of whole phenotypes (e.g. LBBB scored as
intermediate although its true hazard is among the highest); this table shows it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Phenotype names of the simulator (:data:`hfviz.synthetic.phenotypes.PHENOTYPES`) in words.
PHENOTYPE_NAMES: dict[str, str] = {
    "normal": "normal ECG",
    "sinus_bradycardia": "sinus bradycardia",
    "sinus_tachycardia": "sinus tachycardia",
    "av_block_1": "first-degree AV block",
    "lbbb": "left bundle branch block",
    "rbbb": "right bundle branch block",
    "lvh": "left ventricular hypertrophy",
    "mi_inferior": "inferior Q-wave MI",
    "mi_anterior": "anterior Q-wave MI",
    "mi_lateral": "lateral Q-wave MI",
    "af": "atrial fibrillation",
    "long_qt": "long QT",
    "low_voltage": "low QRS voltage",
    "t_inversion": "T-wave inversion",
    "t_flat": "flat T waves",
    "left_axis": "left axis deviation",
    "fragmented_qrs": "QRS fragmentation",
}

#: A phenotype's mean model percentile must lie within this many points of its true percentile (#18).
PERCENTILE_TOLERANCE = 10.0


def replace_markdown_section(text: str, heading: str, section: str) -> str:
    """``text`` with the ``## `` section starting at ``heading`` replaced by ``section`` (appended when absent).

    The old section runs up to the next ``## `` heading; the sections after it are kept.
    """
    head, sep, rest = text.partition(heading)
    tail = rest.split("\n## ", 1)[1] if sep and "\n## " in rest else ""
    return head.rstrip() + "\n\n" + section.rstrip() + "\n" + ("\n## " + tail if tail else "")


def percentile_rank(x: np.ndarray) -> np.ndarray:
    """Percentile (0–100] of each value within ``x`` (average rank of ties / N × 100), shape (N,)."""
    return pd.Series(np.asarray(x, float)).rank(method="average", pct=True).to_numpy() * 100.0


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two score vectors of the same subjects."""
    return float(pd.Series(np.asarray(a, float)).corr(pd.Series(np.asarray(b, float)), method="spearman"))


def phenotype_membership(phenotype: pd.Series) -> dict[str, np.ndarray]:
    """Boolean membership (N,) per phenotype from the cohort table's ``phenotype`` column ("a+b" or "normal")."""
    parts = phenotype.fillna("normal").astype(str).str.split("+")
    names = sorted({p for ps in parts for p in ps})
    return {name: parts.map(lambda ps, n=name: n in ps).to_numpy(bool) for name in names}


def phenotype_table(phenotype: pd.Series, truth: np.ndarray, scores: Mapping[str, np.ndarray], *,
                    event: np.ndarray | None = None, min_n: int = 20) -> pd.DataFrame:
    """Mean percentile of the truth and of each score per phenotype.

    Parameters
    ----------
    phenotype : Series of str, length N
        The cohort table's ``phenotype`` column.
    truth : ndarray, shape (N,)
        The ECG part of the true log-hazard.
    scores : mapping of str to ndarray (N,)
        Risk scores (log-risk) by name, e.g. ``{"network": ..., "measurement Cox": ...}``.
    event : ndarray (N,), optional
        Event indicators; adds an ``events`` column.
    min_n : int
        Phenotypes with fewer subjects are left out (their mean percentile is noise).

    Returns
    -------
    DataFrame
        One row per phenotype (sorted by true percentile, highest first): ``phenotype`` (words),
        ``n``, ``events`` (if given), ``true percentile`` and ``<name> percentile`` per score, plus
        ``<name> − true`` (points).
    """
    pt = percentile_rank(truth)
    ps = {name: percentile_rank(s) for name, s in scores.items()}
    rows = []
    for name, member in phenotype_membership(phenotype).items():
        if member.sum() < min_n:
            continue
        row = {"phenotype": PHENOTYPE_NAMES.get(name, name), "n": int(member.sum())}
        if event is not None:
            row["events"] = int(np.asarray(event)[member].sum())
        row["true percentile"] = round(float(pt[member].mean()), 1)
        for s, p in ps.items():
            row[f"{s} percentile"] = round(float(p[member].mean()), 1)
            row[f"{s} − true"] = round(row[f"{s} percentile"] - row["true percentile"], 1)
        rows.append(row)
    return pd.DataFrame(rows).sort_values("true percentile", ascending=False, ignore_index=True)


def fidelity_summary(table: pd.DataFrame, truth: np.ndarray, scores: Mapping[str, np.ndarray]) -> dict:
    """Spearman with the truth and the worst phenotype offset per score (for the model card)."""
    out = {}
    for s, x in scores.items():
        off = table[f"{s} − true"].abs()
        worst = table.loc[off.idxmax()]
        out[s] = {"spearman_with_true_ecg_log_hazard": round(spearman(x, truth), 3),
                  "phenotypes_within_10_points": f"{int((off <= PERCENTILE_TOLERANCE).sum())} of {len(table)}",
                  "largest_offset": f"{worst['phenotype']}: {worst[f'{s} − true']:+.0f} points"}
    return out
