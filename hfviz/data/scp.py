"""The one SCP-ECG statement table and the one SCP-code parser.

SCP-ECG statements are the coded findings of an ECG report (``"LVH"``, ``"CLBBB"`` …), each
with a likelihood in [0, 100] (PTB-XL's scale: 0 = not stated, 15, 35, 50, 80, 100). They
appear in three places, all served from here:

- the synthetic report generator (:mod:`hfviz.synthetic.reports`) emits codes and writes
  their PTB-XL description/category/diagnostic class into a dataset's ``meta.json``;
- the text side of the pretraining (:mod:`hfviz.training.text`) turns each code into the
  prompt ``"{group}: {description}"`` (:func:`statement_prompt`);
- datasets store them per ECG as a JSON object ``{code: likelihood}`` in ``cohort.csv``
  (:func:`parse_scp_codes`); PTB-XL's own ``ptbxl_database.csv`` stores a Python dict
  literal (``python_literal=True``) and ships ``scp_statements.csv``
  (:func:`read_ptbxl_statements`).

Descriptions, statement categories and diagnostic classes are PTB-XL's
(``scp_statements.csv``, CC-BY-4.0), embedded so nothing is read at run time; the
category and class are filled in for the codes the synthetic generator emits and empty for
the others.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hfviz.errors import DataFormatError

_IMP = "Statements related to impulse formation (abnormalities)"
_AVC = "Sinus node dysfunction, atrial and AV-conduction defects"
_IVC = "Intraventricular and intra-atrial Conduction disturbances"
_HYP = "Ventricular Hypertrophy"
_MI = "Myocardial Infarction"
_QRS = "Other QRS morphology descriptive statements"
_STT = "other ST-T descriptive statements"
_ROOT = "Basic roots for coding ST-T changes and abnormalities"


@dataclasses.dataclass(frozen=True)
class Statement:
    """One SCP-ECG statement.

    Attributes
    ----------
    group : str
        Short heading used in the text prompt (``"Rhythm"``, ``"ST/T change"`` …).
    description : str
        PTB-XL's description.
    category : str
        PTB-XL's ``Statement Category`` ("" where not embedded).
    diagnostic_class : str
        PTB-XL's diagnostic superclass (``NORM``, ``MI``, ``STTC``, ``CD``, ``HYP``) or "".
    prompt_description : str or None
        Wording of the prompt when it differs from ``description`` (kept so that the text
        embeddings of existing models do not change).
    """

    group: str
    description: str
    category: str = ""
    diagnostic_class: str = ""
    prompt_description: str | None = None

    @property
    def prompt(self) -> str:
        """``"{group}: {description}"``, the text embedded for this statement."""
        return f"{self.group}: {self.prompt_description or self.description}"


_S = Statement
#: THE statement table: code -> :class:`Statement`.
STATEMENTS: dict[str, Statement] = {
    "NORM": _S("Normal ECG", "normal ECG", "Normal/abnormal", "NORM"),
    "SR": _S("Rhythm", "sinus rhythm", _IMP),
    "SBRAD": _S("Rhythm", "sinus bradycardia", _IMP),
    "STACH": _S("Rhythm", "sinus tachycardia", _IMP),
    "SARRH": _S("Rhythm", "sinus arrhythmia", _IMP),
    "AFIB": _S("Rhythm", "atrial fibrillation", _IMP),
    "AFLT": _S("Rhythm", "atrial flutter"),
    "PACE": _S("Rhythm", "normal functioning artificial pacemaker"),
    "PVC": _S("Rhythm", "ventricular premature complex"),
    "IMI": _S("Myocardial infarction", "inferior myocardial infarction", _MI, "MI"),
    "ILMI": _S("Myocardial infarction", "inferolateral myocardial infarction", _MI, "MI"),
    "IPMI": _S("Myocardial infarction", "inferoposterior myocardial infarction"),
    "AMI": _S("Myocardial infarction", "anterior myocardial infarction", _MI, "MI"),
    "ASMI": _S("Myocardial infarction", "anteroseptal myocardial infarction", _MI, "MI"),
    "ALMI": _S("Myocardial infarction", "anterolateral myocardial infarction", _MI, "MI"),
    "LMI": _S("Myocardial infarction", "lateral myocardial infarction", _MI, "MI"),
    "PMI": _S("Myocardial infarction", "posterior myocardial infarction"),
    "LVH": _S("Hypertrophy", "left ventricular hypertrophy", _HYP, "HYP"),
    "RVH": _S("Hypertrophy", "right ventricular hypertrophy"),
    "LAO/LAE": _S("Hypertrophy", "left atrial overload/enlargement"),
    "RAO/RAE": _S("Hypertrophy", "right atrial overload/enlargement"),
    "SEHYP": _S("Hypertrophy", "septal hypertrophy"),
    "VCLVH": _S("Hypertrophy", "voltage criteria (QRS) for left ventricular hypertrophy", _HYP),
    "HVOLT": _S("Voltage", "high QRS voltage"),
    "LVOLT": _S("Voltage", "low QRS voltages in the frontal and horizontal leads", _QRS),
    "LAFB": _S("Conduction disturbance", "left anterior fascicular block", _IVC, "CD"),
    "LPFB": _S("Conduction disturbance", "left posterior fascicular block"),
    "CLBBB": _S("Conduction disturbance", "complete left bundle branch block", _IVC, "CD"),
    "CRBBB": _S("Conduction disturbance", "complete right bundle branch block", _IVC, "CD"),
    "ILBBB": _S("Conduction disturbance", "incomplete left bundle branch block"),
    "IRBBB": _S("Conduction disturbance", "incomplete right bundle branch block"),
    "IVCD": _S("Conduction disturbance", "non-specific intraventricular conduction disturbance (block)", _IVC, "CD"),
    "1AVB": _S("Conduction disturbance", "first degree AV block", _AVC, "CD"),
    "WPW": _S("Conduction disturbance", "Wolf-Parkinson-White syndrome"),
    "LNGQT": _S("ST/T change", "long QT-interval", _STT, "STTC", prompt_description="long QT interval"),
    "NDT": _S("ST/T change", "non-diagnostic T abnormalities"),
    "NST_": _S("ST/T change", "non-specific ST changes"),
    "NT_": _S("ST/T change", "non-specific T-wave changes", _ROOT),
    "ISC_": _S("ST/T change", "non-specific ischemic"),
    "ISCAL": _S("ST/T change", "ischemic in anterolateral leads"),
    "ISCIN": _S("ST/T change", "ischemic in inferior leads"),
    "ISCAS": _S("ST/T change", "ischemic in anteroseptal leads"),
    "ISCLA": _S("ST/T change", "ischemic in lateral leads", "ischemic ST-T changes", "STTC"),
    "ISCIL": _S("ST/T change", "ischemic in inferolateral leads"),
    "INVT": _S("ST/T change", "inverted T-waves", _STT),
    "LOWT": _S("ST/T change", "low amplitude T-waves", _STT),
    "STD_": _S("ST/T change", "non-specific ST depression", _ROOT),
    "STE_": _S("ST/T change", "non-specific ST elevation"),
    "QWAVE": _S("Morphology", "Q waves present", _QRS),
    "ABQRS": _S("Morphology", "abnormal QRS", "Normal/abnormal"),
    "LPR": _S("Morphology", "prolonged PR interval", _AVC),
    "TAB_": _S("Morphology", "T-wave abnormality"),
}
del _S


def statement_prompt(code: str) -> str:
    """``"{group}: {description}"`` for an SCP code (unknown codes: ``"ECG statement: CODE"``)."""
    st = STATEMENTS.get(code)
    return st.prompt if st is not None else f"ECG statement: {code}"


def statement_rows(codes: Iterable[str]) -> dict[str, dict[str, str]]:
    """PTB-XL columns of the given codes as ``{code: {"description", "category", "diagnostic_class"}}``.

    The format of :func:`read_ptbxl_statements`, stored as ``meta["scp_statements"]``.
    """
    return {c: {"description": STATEMENTS[c].description, "category": STATEMENTS[c].category,
                "diagnostic_class": STATEMENTS[c].diagnostic_class} for c in codes}


def read_ptbxl_statements(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """PTB-XL ``scp_statements.csv`` as ``{code: {"description", "category", "diagnostic_class"}}``.

    Raises
    ------
    DataFormatError
        Unreadable file or no ``description`` column.
    """
    p = Path(path)
    try:
        df = pd.read_csv(p, index_col=0, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{p.name}: cannot be read as the SCP statement table ({exc}).") from None
    if "description" not in df.columns:
        raise DataFormatError(f"{p.name}: no 'description' column; is this PTB-XL's scp_statements.csv?")
    out = {}
    for code, row in df.iterrows():
        out[str(code)] = {
            "description": str(row.get("description", "") or ""),
            "category": str(row.get("Statement Category", "") if pd.notna(row.get("Statement Category")) else ""),
            "diagnostic_class": str(row.get("diagnostic_class", "") if pd.notna(row.get("diagnostic_class")) else ""),
        }
    return out


def parse_scp_codes(value: Any, *, where: str = "cohort.csv", python_literal: bool = False) -> dict[str, float]:
    """Parse one ``scp_codes`` cell into ``{code: likelihood}``.

    Parameters
    ----------
    value : str, mapping, None or float NaN
        A JSON object (the dataset layout), a mapping, or empty (None, NaN, blank -> ``{}``).
    where : str
        Named in error messages (file or dataset).
    python_literal : bool
        Also accept a Python dict literal (single quotes), as PTB-XL's ``ptbxl_database.csv``
        stores it; parsed with :func:`ast.literal_eval`, never ``eval``.

    Returns
    -------
    dict of str to float

    Raises
    ------
    DataFormatError
        Not a JSON object (or dict literal), or non-numeric likelihoods.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return {}
    if isinstance(value, Mapping):
        obj: Any = value
    else:
        try:
            obj = json.loads(str(value))
        except json.JSONDecodeError as exc:
            if not python_literal:
                raise DataFormatError(f"{where}: scp_codes cell {str(value)[:40]!r} is not JSON ({exc.msg}).") from None
            try:
                obj = ast.literal_eval(str(value))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                raise DataFormatError(
                    f"{where}: scp_codes cell {str(value)[:40]!r} is neither JSON nor a Python dict literal."
                ) from None
    if not isinstance(obj, Mapping):
        raise DataFormatError(f"{where}: scp_codes cell {str(value)[:40]!r} is not a JSON object.")
    try:
        return {str(k): float(v) for k, v in obj.items()}
    except (TypeError, ValueError):
        raise DataFormatError(f"{where}: scp_codes cell {str(value)[:40]!r} has non-numeric likelihoods.") from None
