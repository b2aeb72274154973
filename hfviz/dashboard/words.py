"""Program keys and nested values in words: human labels, never a raw dict or a snake_case key on screen."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

#: Words for model-card keys that a plain underscore-to-space rewrite would leave cryptic.
_KEY_WORDS = {"lr": "learning rate", "c_index": "C-index", "heldout": "held-out", "n": "number",
              "fs_hz": "sampling rate (Hz)", "cv": "CV", "mlp": "MLP", "hr": "hazard ratio", "ecg": "ECG",
              "id": "ID", "sha256": "SHA-256", "n_subjects": "subjects", "n_events": "events",
              "n_parameters": "parameters", "wall_seconds": "wall time (s)", "n_leads": "leads", "cox": "Cox",
              "auc": "AUC", "td": "time-dependent", "val": "validation", "frac": "fraction",
              "recon": "reconstruction", "len": "length", "dim": "dimension", "hz": "Hz"}


def human_label(key: Any) -> str:
    """A model-card key in words: ``"c_index_heldout"`` -> ``"C-index held-out"``, ``"lr"`` -> ``"learning rate"``."""
    text = str(key)
    if text in _KEY_WORDS:
        return _KEY_WORDS[text][:1].upper() + _KEY_WORDS[text][1:]
    for k, v in sorted(_KEY_WORDS.items(), key=lambda kv: -len(kv[0])):
        if len(k) > 2:
            text = re.sub(rf"(?<![A-Za-z]){re.escape(k)}(?![A-Za-z])", v, text)
    words = [_KEY_WORDS.get(w, w) for w in text.replace("_", " ").split(" ")]
    text = " ".join(w for w in words if w)
    return text[:1].upper() + text[1:]


def value_text(value: Any) -> str:
    """A card value as short text: lists joined by commas, numbers as they are, dicts as 'key: value; …'."""
    if isinstance(value, dict):
        return "; ".join(f"{human_label(k)}: {value_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def flat_fields(value: dict, prefix: str = "") -> pd.DataFrame:
    """A (nested) dict as a two-column table ``field``, ``value`` with human labels ("Parent · child" when nested)."""
    rows = []
    for k, v in value.items():
        label = f"{prefix}{human_label(k)}"
        if isinstance(v, dict) and v and len(v) <= 20:
            rows += flat_fields(v, prefix=f"{label} · ").to_dict("records")
        else:
            rows.append({"field": label, "value": value_text(v)})
    return pd.DataFrame(rows, columns=["field", "value"])


def md_escape(text: str) -> str:
    """``text`` safe inside Streamlit markdown: file names like ``a_b_c.xml`` are not turned into italics."""
    return re.sub(r"([\\`*_\[\]<>#|~$])", r"\\\1", str(text))
