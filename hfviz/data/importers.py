"""Importers: real data (UK Biobank, PTB-XL) into the dataset layout of :mod:`hfviz.data.dataset`.

Researchers with access retrain with the same commands as on the synthetic cohorts::

    python -m hfviz import-ukb --xml-dir ukb_xml/ --outcomes hf_outcomes.csv --out data/ukb_mi
    python -m hfviz import-ptbxl --root ptb-xl-1.0.3/ --out data/ptbxl

Both read every ECG with :func:`hfviz.ecg.io.read_ecg` and take its median beat with
:func:`hfviz.ecg.prepare.prepare` -- the same code an upload goes through (CardioSoft files
keep the device's own ``MedianSamples``, as in the paper; PTB-XL strips get a computed
median beat). Files that cannot be read are skipped and listed in ``meta.json``
(``skipped_files`` / ``skipped_records``: name and reason); nothing is fetched from the
network.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hfviz.data.scp import parse_scp_codes, read_ptbxl_statements
from hfviz.ecg.io import read_ecg
from hfviz.ecg.prepare import PreparedECG, prepare
from hfviz.ecg.signal import pad_beat
from hfviz.errors import DataFormatError, ECGFormatError

_ID_COLS = ("id", "eid", "f.eid", "participant_id")
_TIME_COLS = ("time_months", "time", "followup_months", "time_to_hf_months")
_EVENT_COLS = ("event", "hf", "status", "hf_event")
_MAX_LISTED = 100


def _pick_column(df: pd.DataFrame, names: tuple[str, ...], what: str, where: str) -> str:
    lower = {c.lower().strip(): c for c in df.columns}
    for name in names:
        if name in lower:
            return lower[name]
    raise DataFormatError(f"{where}: no {what} column (expected one of {', '.join(names)}).")


def read_outcomes(path: str | os.PathLike) -> pd.DataFrame:
    """Read an outcomes CSV into ``id`` (str), ``time_months`` (float >= 0), ``event`` (0/1).

    Parameters
    ----------
    path : path-like
        CSV with an id column (``id``/``eid``), a time column in months (``time_months`` or
        ``time``) and an event column (``event``: 1 = incident heart failure, 0 = censored).

    Returns
    -------
    DataFrame

    Raises
    ------
    DataFormatError
        Missing file or columns, non-numeric or out-of-range values, duplicate ids.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: outcomes file not found.")
    try:
        df = pd.read_csv(p, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{p.name}: cannot be parsed as CSV ({exc}).") from None
    idc = _pick_column(df, _ID_COLS, "id", p.name)
    tc = _pick_column(df, _TIME_COLS, "time (months)", p.name)
    ec = _pick_column(df, _EVENT_COLS, "event", p.name)
    out = pd.DataFrame({"id": df[idc].astype(str).str.strip()})
    try:
        out["time_months"] = pd.to_numeric(df[tc], errors="raise").astype(float)
        out["event"] = pd.to_numeric(df[ec], errors="raise")
    except (ValueError, TypeError):
        raise DataFormatError(f"{p.name}: time and event columns must be numeric.") from None
    if out["time_months"].isna().any() or (out["time_months"] < 0).any():
        raise DataFormatError(f"{p.name}: time must be present and >= 0 (months) in every row.")
    if not out["event"].isin([0, 1]).all():
        raise DataFormatError(f"{p.name}: event must be 0 or 1 in every row.")
    if out["id"].duplicated().any():
        raise DataFormatError(f"{p.name}: duplicate ids, e.g. {out['id'][out['id'].duplicated()].iloc[0]}.")
    out["event"] = out["event"].astype(int)
    return out


def ukb_id_from_filename(name: str) -> str:
    """Participant id of a UK Biobank ECG file: ``1234567_20205_2_0.xml`` -> ``"1234567"``.

    Other names give their stem (``patient42.xml`` -> ``"patient42"``).
    """
    stem = Path(name).stem
    m = re.match(r"^(\d+)_20205_", stem)
    return m.group(1) if m else stem


def _measurement_columns(prepared: PreparedECG) -> dict[str, float]:
    return {f"meas_{k}": (np.nan if v.value is None else v.value) for k, v in prepared.measurements.items()}


def _read_and_prepare(path: Path) -> tuple[Any, PreparedECG]:
    """Read one ECG file and run the upload pipeline on it; ECGFormatError when unusable."""
    record = read_ecg(path)
    return record, prepare(record)


# --- UK Biobank -------------------------------------------------------------------------------
def _ukb_row(eid: str, f: Path, record, prepared: PreparedECG, outcomes: pd.DataFrame) -> dict[str, Any]:
    """The cohort-table row of one imported UK Biobank ECG."""
    meta = record.meta
    return {
        "id": eid,
        "age": meta.get("age", np.nan),
        "sex": meta.get("sex", ""),
        "time_months": float(outcomes.at[eid, "time_months"]),
        "event": int(outcomes.at[eid, "event"]),
        "report": str(meta.get("interpretation", "") or ""),
        "scp_codes": "",
        "true_log_hazard": np.nan,
        "phenotype": "",
        "median_source": prepared.median_source,
        "file": f.name,
        **_measurement_columns(prepared),
    }


def _ukb_meta(table: pd.DataFrame, n_files: int, skipped: list[dict[str, str]], without_outcome: int,
              duplicates: int) -> dict[str, Any]:
    """``meta.json`` of a UK Biobank import."""
    ev = table["event"].to_numpy()
    return {
        "source": "ukb",
        "synthetic": False,
        "n": len(table),
        "n_events": int(ev.sum()),
        "event_rate": float(ev.mean()),
        "median_followup_months": float(table["time_months"].median()),
        "median_beats": "device MedianSamples (CardioSoft) via hfviz.ecg.prepare.prepare, zero-padded to 608",
        "xml_files": n_files,
        "skipped_files": skipped[:_MAX_LISTED],
        "n_skipped_files": len(skipped),
        "without_outcome": without_outcome,
        "duplicates": duplicates,
    }


def import_ukb(
    xml_dir: str | os.PathLike,
    outcomes_csv: str | os.PathLike,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any]]:
    """Import UK Biobank CardioSoft XML ECGs with their HF outcomes.

    Parameters
    ----------
    xml_dir : path-like
        Folder searched recursively for ``*.xml`` (UKB field 20205 files
        ``<eid>_20205_<instance>_0.xml``; other names use their stem as id).
    outcomes_csv : path-like
        See :func:`read_outcomes`.
    progress : callable, optional
        Called with 1 after each file.

    Returns
    -------
    beats : ndarray (N, 12, 608) float32
        The device's median beats (``MedianSamples``), zero-padded, mV.
    table : DataFrame
        ``id, age, sex, time_months, event, report`` (device interpretation text), empty
        ``scp_codes``/``true_log_hazard``/``phenotype``, ``median_source``, ``file`` and the
        pipeline's ``meas_*`` measurements.
    meta : dict
        ``source="ukb"``, counts, ``skipped_files`` (unreadable XMLs, with reasons),
        ``without_outcome`` (ECGs whose id is not in the outcomes file; dropped),
        ``duplicates`` (later instances of an id already imported; dropped).

    Raises
    ------
    DataFormatError
        Folder or outcomes file missing or malformed, or no ECG could be imported.
    """
    root = Path(xml_dir)
    if not root.is_dir():
        raise DataFormatError(f"{root}: XML folder not found.")
    outcomes = read_outcomes(outcomes_csv).set_index("id")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".xml")
    if not files:
        raise DataFormatError(f"{root}: no .xml files found.")
    beats, rows, skipped, no_outcome, dups = [], [], [], [], []
    seen: set[str] = set()
    for f in files:
        eid = ukb_id_from_filename(f.name)
        try:
            if eid in seen:
                dups.append(f.name)
                continue
            if eid not in outcomes.index:
                no_outcome.append(f.name)
                continue
            try:
                record, prepared = _read_and_prepare(f)
            except ECGFormatError as exc:
                skipped.append({"file": f.name, "reason": str(exc)})
                continue
            seen.add(eid)
            beats.append(pad_beat(prepared.median_beat_mv).astype(np.float32))
            rows.append(_ukb_row(eid, f, record, prepared, outcomes))
        finally:
            if progress:
                progress(1)
    if not rows:
        raise DataFormatError(
            f"{root}: no ECG could be imported ({len(skipped)} unreadable, {len(no_outcome)} without an outcome row)."
        )
    table = pd.DataFrame(rows)
    return np.stack(beats), table, _ukb_meta(table, len(files), skipped, len(no_outcome), len(dups))


# --- PTB-XL -----------------------------------------------------------------------------------
def _read_ptbxl_database(base: Path, rate: int) -> tuple[pd.DataFrame, str]:
    """``ptbxl_database.csv`` of a PTB-XL folder and the file-name column for ``rate``."""
    db_path = base / "ptbxl_database.csv"
    if not db_path.is_file():
        raise DataFormatError(f"{base}: ptbxl_database.csv not found (is this a PTB-XL folder?).")
    try:
        db = pd.read_csv(db_path, dtype={"report": str, "scp_codes": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"ptbxl_database.csv: cannot be parsed as CSV ({exc}).") from None
    fcol = "filename_hr" if rate == 500 else "filename_lr"
    missing = [c for c in ("ecg_id", "scp_codes", "report", fcol) if c not in db.columns]
    if missing:
        raise DataFormatError(f"ptbxl_database.csv: missing column(s) {', '.join(missing)}.")
    return db, fcol


def _ptbxl_row(r: pd.Series, name: str, codes: dict[str, float], statements: dict[str, dict[str, str]],
               prepared: PreparedECG) -> dict[str, Any]:
    """The cohort-table row of one imported PTB-XL record (database row ``r``)."""
    age = pd.to_numeric(r.get("age"), errors="coerce")
    sex = pd.to_numeric(r.get("sex"), errors="coerce")
    classes = sorted({statements[c]["diagnostic_class"] for c in codes
                      if c in statements and statements[c]["diagnostic_class"]})
    return {
        "id": str(int(r["ecg_id"])) if pd.notna(pd.to_numeric(r["ecg_id"], errors="coerce")) else str(r["ecg_id"]),
        "age": float(age) if pd.notna(age) and age <= 120 else np.nan,
        "sex": {0: "M", 1: "F"}.get(int(sex), "") if pd.notna(sex) else "",
        "time_months": np.nan,
        "event": np.nan,
        "report": "" if pd.isna(r["report"]) else str(r["report"]),
        "scp_codes": json.dumps(codes),
        "true_log_hazard": np.nan,
        "phenotype": "+".join(classes),
        "patient_id": r.get("patient_id", np.nan),
        "strat_fold": r.get("strat_fold", np.nan),
        "file": name,
        **_measurement_columns(prepared),
    }


def _import_ptbxl_record(base: Path, r: pd.Series, name: str, statements: dict[str, dict[str, str]],
                         skipped: list[dict[str, str]]) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Median beat and table row of one PTB-XL record, or None (reason appended to ``skipped``)."""
    try:
        codes = parse_scp_codes(r["scp_codes"], where="ptbxl_database.csv", python_literal=True)
    except DataFormatError:
        skipped.append({"record": name, "reason": "scp_codes is not a {code: likelihood} dict"})
        return None
    hea = base / (name + ".hea")
    if not hea.is_file():
        skipped.append({"record": name, "reason": f"{name}.hea not found"})
        return None
    try:
        _, prepared = _read_and_prepare(hea)
    except ECGFormatError as exc:
        skipped.append({"record": name, "reason": str(exc)})
        return None
    return pad_beat(prepared.median_beat_mv).astype(np.float32), _ptbxl_row(r, name, codes, statements, prepared)


def import_ptbxl(
    root: str | os.PathLike,
    *,
    rate: int = 500,
    limit: int | None = None,
    progress: Callable[..., None] | None = None,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any]]:
    """Import a PTB-XL folder (ECGs, reports, SCP codes; no outcomes).

    Parameters
    ----------
    root : path-like
        Folder with ``ptbxl_database.csv``, ``scp_statements.csv`` (optional but expected)
        and ``records500/`` (``rate=500``) or ``records100/`` (``rate=100``), laid out as the
        database's ``filename_hr`` / ``filename_lr`` columns say.
    rate : {500, 100}
        Which recordings to read (100 Hz strips are resampled to 500 Hz by the pipeline).
    limit : int, optional
        Import only the first ``limit`` rows.
    progress : callable, optional
        Called as ``progress(0, total)`` once, then ``progress(1)`` after each record.

    Returns
    -------
    beats : ndarray (N, 12, 608) float32
        Computed median beats, zero-padded, mV.
    table : DataFrame
        ``id`` (ecg_id), ``age`` (PTB-XL's 300 = "over 89" becomes empty), ``sex`` (M/F from
        0/1), empty outcomes, ``report``, ``scp_codes`` (JSON), empty ``true_log_hazard``,
        ``phenotype`` (diagnostic superclasses from the statement table, e.g. ``"MI+STTC"``),
        ``patient_id``, ``strat_fold``, ``file`` and ``meas_*``.
    meta : dict
        ``source="ptbxl"``, ``scp_statements`` (the folder's statement table),
        ``skipped_records`` (with reasons).

    Raises
    ------
    DataFormatError
        Missing folder or database, missing columns, or no record could be imported.
    """
    base = Path(root)
    db, fcol = _read_ptbxl_database(base, rate)
    statements = read_ptbxl_statements(base / "scp_statements.csv") if (base / "scp_statements.csv").is_file() else {}
    if limit is not None:
        db = db.iloc[: max(int(limit), 0)]
    if progress:
        progress(0, len(db))
    beats, rows, skipped = [], [], []
    for _, r in db.iterrows():
        try:
            done = _import_ptbxl_record(base, r, str(r[fcol]), statements, skipped)
            if done is not None:
                beats.append(done[0])
                rows.append(done[1])
        finally:
            if progress:
                progress(1)
    if not rows:
        raise DataFormatError(f"{base}: no PTB-XL record could be imported ({len(skipped)} skipped).")
    table = pd.DataFrame(rows)
    if table["id"].duplicated().any():
        raise DataFormatError("ptbxl_database.csv: duplicate ecg_id values.")
    meta = {
        "source": "ptbxl",
        "synthetic": False,
        "n": len(rows),
        "rate_hz": rate,
        "median_beats": "computed from the strip by hfviz.ecg.prepare.prepare, zero-padded to 608",
        "scp_statements": statements,
        "skipped_records": skipped[:_MAX_LISTED],
        "n_skipped_records": len(skipped),
    }
    return np.stack(beats), table, meta
