"""What the dashboard says about a model's independent validation and recalibration (no Streamlit).

A shipped model may carry predictions on an independent SYNTHETIC validation cohort
(``RiskModel.validation_predictions``) and a recalibration of its absolute risk fitted on
another independent cohort (``RiskModel.recalibration``); the card's ``"validation"`` entry
holds the figures measured when they were made (:mod:`hfviz.training.validation`). This module
turns them into the Cohort page's choice of predictions, the Model card's tables with human
labels and the before/after calibration tables of the calibration plot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hfviz.risk import survival

#: Cohort-page predictions sources, in the order offered (``"validation"`` only when the model has it).
SOURCE_KEYS = ("validation", "shipped", "upload")
#: Targets of the independent calibration (issue #12): slope range and ICI at 60 months.
SLOPE_TARGET = (0.8, 1.2)
ICI_60_TARGET = 0.02


def _n_events(df: pd.DataFrame) -> str:
    return f"{len(df):,} people, {int(df['event'].sum()):,} events"


def prediction_sources(model: Any) -> dict[str, str]:
    """The Cohort page's predictions sources: key -> label (with n and events, and "synthetic").

    Parameters
    ----------
    model : RiskModel or None
        ``None`` (no model) leaves only the upload.

    Returns
    -------
    dict
        ``"validation"`` (only when ``model.validation_predictions`` is not ``None``),
        ``"shipped"`` (the cross-validation held-out fold) and ``"upload"``, in that order.
    """
    out = {}
    if model is not None and getattr(model, "validation_predictions", None) is not None:
        out["validation"] = f"Independent validation cohort (synthetic; {_n_events(model.validation_predictions)})"
    if model is not None:
        out["shipped"] = f"Cross-validation held-out fold (synthetic; {_n_events(model.cohort_predictions)})"
    out["upload"] = "Upload your own predictions CSV"
    return out


def default_source(model: Any) -> str:
    """The source the Cohort page starts on: the validation cohort when the model ships one."""
    return next(iter(prediction_sources(model)))


def source_predictions(model: Any, source: str) -> pd.DataFrame:
    """The shipped predictions table of ``source`` (``"validation"`` or ``"shipped"``)."""
    return model.validation_predictions if source == "validation" else model.cohort_predictions


def validation_c_index(card: dict) -> tuple[float, float, float] | None:
    """C-index on the independent validation cohort (estimate, lower, upper) from the card, or ``None``."""
    v = card.get("validation") or {}
    if "c_index" not in v:
        return None
    lo, hi = v.get("c_index_ci") or (float("nan"), float("nan"))
    return float(v["c_index"]), float(lo), float(hi)


def source_c_index(model: Any, source: str) -> tuple[float, float, float] | None:
    """The C-index (estimate, lower, upper) the model card states for a shipped prediction source, or ``None``.

    ``"validation"``: the independent validation cohort's; ``"shipped"``: the held-out fold's. The
    Cohort page shows it rather than recomputing a bootstrap on every change of its controls.
    """
    from hfviz.dashboard.model_card import card_c_index

    if source == "validation":
        return validation_c_index(model.card)
    return card_c_index(model.card) if source == "shipped" else None


def absolute_risk_note(model: Any) -> str:
    """Where the model's absolute risks (S(t | ECG)) come from, in one sentence."""
    recal = getattr(model, "recalibration", None)
    if recal is None:
        return "Predicted risk from the model's own Breslow baseline (its training half), not recalibrated."
    return (f"Predicted risk recalibrated on an independent synthetic calibration cohort ({recal.n:,} people, "
            f"{recal.events:,} events; log-risk slope {recal.slope:.2f}), not on these people.")


def validation_facts(card: dict) -> pd.DataFrame | None:
    """The validation entry of a card as two columns ``field`` and ``value`` (human labels), or ``None``."""
    v = card.get("validation")
    if not v:
        return None
    vc, cc = v.get("validation_cohort", {}), v.get("calibration_cohort", {})
    c = validation_c_index(card)
    rows = [("Validation cohort (synthetic)", f"{vc.get('n', 0):,} people, {vc.get('events', 0):,} events "
                                              f"(simulator seed {vc.get('seed', '?')})")]
    if cc:
        rows.append(("Calibration cohort (synthetic)", f"{cc.get('n', 0):,} people, {cc.get('events', 0):,} events "
                                                       f"(simulator seed {cc.get('seed', '?')})"))
    if c is not None:
        rows.append(("C-index on the validation cohort", f"{c[0]:.3f} (95 % CI {c[1]:.3f}–{c[2]:.3f})"))
    if v.get("oracle_c_index") is not None:
        rows.append(("Oracle C-index (the simulator's true log-hazard)", f"{v['oracle_c_index']:.3f}"))
    if v.get("oracle_c_index_ecg_part") is not None:
        rows.append(("Oracle C-index (ECG part of the true log-hazard)", f"{v['oracle_c_index_ecg_part']:.3f}"))
    recal = card.get("recalibration") or {}
    if "slope" in recal:
        rows.append(("Recalibration: log-risk multiplier", f"{float(recal['slope']):.3f}, with a new Breslow baseline"))
    return pd.DataFrame(rows, columns=["field", "value"])


def calibration_metrics_frame(card: dict) -> pd.DataFrame | None:
    """Calibration before and after recalibration, one row per (horizon, stage), human column names.

    Returns
    -------
    DataFrame or None
        Columns ``horizon``, ``absolute risk``, ``calibration slope``, ``mean predicted``,
        ``observed (Kaplan–Meier)``, ``calibration-in-the-large`` and ``ICI`` (risks as %,
        slope and ICI as numbers); ``None`` when the card has no validation.
    """
    v = card.get("validation") or {}
    rows = []
    for stage, label in (("before", "before recalibration"), ("after", "after recalibration")):
        m = v.get(stage)
        if not m:
            continue
        for t, a in m.get("at", {}).items():
            rows.append({"horizon": f"{float(t):.0f} months", "absolute risk": label,
                         "calibration slope": f"{m['slope']:.2f}", "mean predicted": f"{a['predicted']:.1%}",
                         "observed (Kaplan–Meier)": f"{a['observed']:.1%}",
                         "calibration-in-the-large": f"{100 * a['citl']:+.1f} points", "ICI": f"{a['ici']:.3f}"})
    return pd.DataFrame(rows) if rows else None


def calibration_verdict(card: dict) -> str | None:
    """One sentence comparing the recalibrated slope and ICI(60 m) with their targets, or ``None``."""
    after = (card.get("validation") or {}).get("after")
    if not after:
        return None
    slope = float(after["slope"])
    ici = float(after.get("at", {}).get("60.0", {}).get("ici", np.nan))
    lo, hi = SLOPE_TARGET
    ok_s, ok_i = lo <= slope <= hi, ici <= ICI_60_TARGET
    return (f"After recalibration: calibration slope {slope:.2f} ({'within' if ok_s else 'outside'} the target "
            f"{lo:g}–{hi:g}), ICI at 60 months {ici:.3f} ({'meets' if ok_i else 'misses'} the target ≤ "
            f"{ICI_60_TARGET:g}).")


def calibration_tables_60m(model: Any, *, n_groups: int = 10) -> dict[str, pd.DataFrame]:
    """Predicted vs observed risk of HF by 60 months on the validation cohort, before and after recalibration.

    "after" is the card's ``calibration_table_60m`` (as measured when the model was validated);
    "before" is the same table with the model's own (training) Breslow baseline, computed from
    the shipped validation predictions with :func:`hfviz.risk.survival.calibration_table`.

    Returns
    -------
    dict of str to DataFrame
        Legend label -> table with columns ``group``, ``n``, ``events``, ``predicted``,
        ``observed`` (probabilities); empty when the model has no validation.
    """
    out: dict[str, pd.DataFrame] = {}
    v = getattr(model, "validation_predictions", None)
    if v is not None:
        s60 = model.baseline.predict_survival_function(v["log_risk"].to_numpy(float), [60.0])[:, 0]
        out["before recalibration"] = survival.calibration_table(v["time_months"], v["event"], s60, t=60.0,
                                                                 n_groups=n_groups)
    table = (model.card.get("validation") or {}).get("calibration_table_60m")
    if table:
        out["after recalibration" if model.recalibration is not None else "validation cohort"] = pd.DataFrame(table)
    return out
