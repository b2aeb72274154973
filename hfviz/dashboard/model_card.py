"""The model card in words and tables: the Model card page, the Home page and the reports read it from here."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from hfviz.dashboard.words import flat_fields, human_label, value_text


def architecture_table(net: Any) -> pd.DataFrame:
    """The network's modules with their parameter counts (for the model card).

    Parameters
    ----------
    net : torch.nn.Module
        The network (e.g. :class:`hfviz.risk.network.DualAttentionNet`).

    Returns
    -------
    DataFrame
        Columns ``module``, ``type``, ``parameters``; one row per top-level child plus a total.
    """
    from hfviz.risk.network import count_parameters

    rows = []
    for name, child in net.named_children():
        rows.append({"module": name, "type": type(child).__name__,
                     "parameters": count_parameters(child)})
    own = sum(p.numel() for p in net.parameters(recurse=False))
    if own:
        rows.append({"module": "(own parameters)", "type": "", "parameters": int(own)})
    rows.append({"module": "total", "type": type(net).__name__, "parameters": count_parameters(net)})
    return pd.DataFrame(rows)


def card_c_index(card: dict) -> tuple[float, float, float] | None:
    """Held-out C-index (estimate, lower, upper) from a model card, whichever way it is stored.

    Reads ``metrics_raw["c_index"]`` ([est, lo, hi]) or ``metrics["c_index"]`` ({"estimate",
    "lower", "upper"} or a number); ``None`` when the card has none.
    """
    raw = (card.get("metrics_raw") or {}).get("c_index")
    if isinstance(raw, (list, tuple)) and len(raw) == 3:
        return float(raw[0]), float(raw[1]), float(raw[2])
    c = (card.get("metrics") or {}).get("c_index")
    if isinstance(c, dict) and "estimate" in c:
        return float(c["estimate"]), float(c.get("lower", np.nan)), float(c.get("upper", np.nan))
    if isinstance(c, (int, float)):
        return float(c), float("nan"), float("nan")
    return None


def card_training_data(card: dict) -> str:
    """One line on the training data of a model card (its ``source`` when the field is a dict)."""
    td = card.get("training_data")
    if isinstance(td, dict):
        parts = [str(td.get("source", "unknown source"))]
        if "n_subjects" in td:
            parts.append(f"{td['n_subjects']:,} subjects" + (f", {td['n_events']:,} events" if "n_events" in td else ""))
        return "; ".join(parts)
    return str(td) if td else "not stated"


def card_calibration_status(card: dict) -> str:
    """One sentence on the calibration of a model's absolute risks, from its card (or that the card has none).

    Reads ``card["calibration"]``: a string, or a dict with ``status`` / ``summary`` (and
    optionally ``horizon_months``). A card with a ``recalibration`` and its independent
    ``validation`` says the absolute risk was recalibrated on an independent synthetic cohort.
    """
    v = card.get("validation") or {}
    if card.get("recalibration") and v.get("calibration_cohort") and v.get("after"):
        cc, vc, after = v["calibration_cohort"], v.get("validation_cohort", {}), v["after"]
        ici = (after.get("at") or {}).get("60.0", {}).get("ici")
        return (f"Calibration: the absolute risk was recalibrated on an independent synthetic cohort "
                f"({cc['n']:,} people, {cc['events']:,} events) and checked on another ({vc.get('n', 0):,} people, "
                f"{vc.get('events', 0):,} events): calibration slope {after['slope']:.2f} (ideal 1)"
                + (f", ICI at 60 months {ici:.3f}" if ici is not None else "") + ".")
    cal = card.get("calibration")
    if isinstance(cal, str) and cal.strip():
        return f"Calibration (model card): {cal.strip()}"
    if isinstance(cal, dict):
        text = cal.get("summary") or cal.get("status")
        if text:
            horizon = cal.get("horizon_months")
            return f"Calibration (model card{f', at {horizon:g} months' if horizon else ''}): {text}"
    return ("Calibration: the model card reports no calibration check, so the absolute risks (survival "
            "percentages) are uncalibrated; percentile and risk group are the safer reading.")


#: Model-card fields shown as sections, with their headings, in page order.
CARD_SECTIONS = (("intended_use", "Intended use"), ("training_data", "Training data"), ("training", "Training"),
                 ("metrics", "Held-out metrics (with 95 % CI)"), ("comparison", "Baselines and ablations"),
                 ("phenotype_fidelity", "Per-phenotype fidelity (validation cohort)"), ("limitations", "Limitations"))


#: Card fields left out of the full-card JSON (large arrays).
_CARD_JSON_SKIP = frozenset({"risk_distribution", "baseline"})


def card_sections(card: dict) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The card's sections as ``(heading, blocks)``, in page order, skipping absent fields.

    Each block is ``(kind, payload)``; the page renders the kinds:

    * ``"markdown"``: str — text, or a bulleted list;
    * ``"table"``: DataFrame without its index (a list of records);
    * ``"indexed_table"``: DataFrame whose index names the rows (a dict of dicts);
    * ``"fields"``: DataFrame with columns ``field`` (human label; "Parent · child" when nested)
      and ``value`` (text);
    * ``"value"``: anything else, written as is.
    """
    return [(heading, card_field_blocks(card[key])) for key, heading in CARD_SECTIONS if card.get(key) is not None]


def card_field_blocks(value: Any) -> list[tuple[str, Any]]:
    """How one model-card field is shown, as ``(kind, payload)`` blocks (see :func:`card_sections`).

    Keys become human labels (:func:`human_label`); nested dicts are flattened into
    "Parent · child" rows, never shown raw.
    """
    if isinstance(value, str):
        return [("markdown", value)]
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            table = pd.DataFrame([{human_label(k): value_text(v) for k, v in row.items()} for row in value])
            return [("table", table)]
        return [("markdown", "\n".join(f"- {v}" for v in value))]
    if isinstance(value, dict):
        if value and all(isinstance(v, dict) for v in value.values()) and len(value) > 1:
            table = pd.DataFrame({human_label(r): {human_label(k): value_text(v) for k, v in row.items()}
                                  for r, row in value.items()}).T
            return [("indexed_table", table.fillna("—"))]
        return [("fields", flat_fields(value))] if value else []
    return [] if value is None else [("value", value)]


def card_sha256_table(card: dict) -> pd.DataFrame:
    """Columns ``file``, ``sha256``: the weights files the loader checks, from ``card["sha256"]``."""
    sha = card.get("sha256", {})
    return pd.DataFrame({"file": list(sha), "sha256": list(sha.values())})


def card_json(card: dict) -> str:
    """The model card as indented JSON, without the large arrays (risk distribution, baseline hazard)."""
    return json.dumps({k: v for k, v in card.items() if k not in _CARD_JSON_SKIP}, indent=1, default=str)
