"""The one on-disk dataset layout, for SYNTHETIC and real data alike.

A dataset is a folder::

    DIR/median_beats.npy   (N, 12, 608) float32, mV, zero-padded median beats (NOT normalised);
                           leads I, II, III, aVR, aVL, aVF, V1-V6; 500 Hz; R peak at sample
                           4 + hfviz.ecg.signal.R_OFFSET
    DIR/cohort.csv         one row per ECG, in the order of median_beats.npy. Required columns:
                           id, age, sex, time_months, event, report, scp_codes, true_log_hazard,
                           phenotype. Outcome/truth columns may be empty (real or pretraining
                           data). ``scp_codes`` is a JSON object {code: likelihood} or empty;
                           ``event`` is 0/1; ``time_months`` >= 0. Extra columns are allowed
                           (the simulator adds ``ecg_log_hazard``, ``true_*``, ``meas_*``).
    DIR/meta.json          {"source": "synthetic" | "ukb" | "ptbxl", "preset", "seed", "n", ...}

:func:`save_dataset` writes it, :func:`load_dataset` reads and checks it and raises
:class:`~hfviz.errors.DataFormatError` (one sentence naming the file and the problem) for
anything malformed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hfviz.data.scp import parse_scp_codes
from hfviz.ecg.record import LEADS
from hfviz.ecg.signal import MODEL_LEN
from hfviz.errors import DataFormatError
from hfviz.jsonutil import json_default

BEATS_FILE = "median_beats.npy"
TABLE_FILE = "cohort.csv"
META_FILE = "meta.json"
COLUMNS: tuple[str, ...] = (
    "id", "age", "sex", "time_months", "event", "report", "scp_codes", "true_log_hazard", "phenotype",
)
#: Shape of one stored median beat: (leads, samples), from the preprocessing constants.
BEAT_SHAPE: tuple[int, int] = (len(LEADS), MODEL_LEN)


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset.

    Attributes
    ----------
    beats : ndarray, shape (N, 12, 608), float32
        Zero-padded median beats in mV (read-only memory map when loaded from disk).
    table : DataFrame
        ``cohort.csv``; ``id`` as str, ``report`` and ``scp_codes`` as str ("" when empty).
    meta : dict
        ``meta.json``.
    path : Path or None
        Folder it was loaded from.
    """

    beats: np.ndarray
    table: pd.DataFrame
    meta: dict[str, Any]
    path: Path | None = None

    @property
    def n(self) -> int:
        """Number of ECGs."""
        return int(self.beats.shape[0])

    @property
    def has_outcomes(self) -> bool:
        """True when every row has a time and an event indicator."""
        t, e = self.table["time_months"], self.table["event"]
        return bool(len(t) and t.notna().all() and e.notna().all())

    def outcomes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(time_months float64 (N,), event int64 (N,))``; DataFormatError when missing."""
        if not self.has_outcomes:
            raise DataFormatError(f"{self._name()}: dataset has no complete outcome columns (time_months, event).")
        return self.table["time_months"].to_numpy(np.float64), self.table["event"].to_numpy(np.int64)

    def scp_codes(self, i: int) -> dict[str, float]:
        """SCP codes of row ``i`` as a dict (empty when none)."""
        return parse_scp_codes(self.table["scp_codes"].iloc[i], where=self._name())

    def _name(self) -> str:
        return str(self.path) if self.path else "dataset"


def save_dataset(path: str | os.PathLike, beats: np.ndarray, table: pd.DataFrame, meta: Mapping[str, Any]) -> Path:
    """Write a dataset folder (created if needed; existing dataset files are replaced).

    Parameters
    ----------
    path : path-like
        Output folder.
    beats : ndarray, shape (N, 12, 608)
        Zero-padded median beats in mV (stored as float32).
    table : DataFrame
        N rows with at least :data:`COLUMNS` (missing optional columns are added empty).
    meta : mapping
        Must contain ``source``; ``n`` is set to N.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    DataFormatError
        Shapes or columns inconsistent.
    """
    out = Path(path)
    beats = np.asarray(beats)
    if beats.ndim != 3 or beats.shape[1:] != BEAT_SHAPE:
        raise DataFormatError(f"{out}: beats have shape {beats.shape}, expected (N, {BEAT_SHAPE[0]}, {BEAT_SHAPE[1]}).")
    if len(table) != beats.shape[0]:
        raise DataFormatError(f"{out}: table has {len(table)} rows but there are {beats.shape[0]} beats.")
    if "id" not in table.columns or "source" not in meta:
        raise DataFormatError(f"{out}: table needs an 'id' column and meta a 'source' entry.")
    if not np.all(np.isfinite(beats)):
        raise DataFormatError(f"{out}: beats contain NaN or infinite values.")
    table = table.copy()
    for col in COLUMNS:
        if col not in table.columns:
            table[col] = np.nan if col in ("age", "time_months", "event", "true_log_hazard") else ""
    table = table[list(COLUMNS) + [c for c in table.columns if c not in COLUMNS]]
    meta = dict(meta)
    meta["n"] = int(beats.shape[0])
    meta.setdefault("layout", "hfviz dataset v1: median_beats.npy (N,12,608) float32 mV zero-padded; cohort.csv; meta.json")
    out.mkdir(parents=True, exist_ok=True)
    tmp = {name: out / f".{name}.tmp" for name in (BEATS_FILE, TABLE_FILE, META_FILE)}
    with open(tmp[BEATS_FILE], "wb") as fh:
        np.save(fh, beats.astype(np.float32), allow_pickle=False)
    table.to_csv(tmp[TABLE_FILE], index=False)
    tmp[META_FILE].write_text(json.dumps(meta, indent=2, default=json_default) + "\n")
    for name, t in tmp.items():
        os.replace(t, out / name)
    return out


def load_dataset(path: str | os.PathLike, *, mmap: bool = True) -> Dataset:
    """Read and check a dataset folder.

    Parameters
    ----------
    path : path-like
        Folder written by :func:`save_dataset` (or an importer).
    mmap : bool
        Memory-map ``median_beats.npy`` read-only (default) instead of reading it into memory.

    Returns
    -------
    Dataset

    Raises
    ------
    DataFormatError
        Missing folder or file, unreadable or wrongly shaped beats, missing columns, row
        count mismatch, duplicate ids, bad outcome values, bad ``scp_codes``, bad meta.json.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataFormatError(f"{root}: dataset folder not found.")
    for name in (BEATS_FILE, TABLE_FILE, META_FILE):
        if not (root / name).is_file():
            raise DataFormatError(f"{root}: {name} is missing (a dataset needs {BEATS_FILE}, {TABLE_FILE}, {META_FILE}).")
    # meta
    try:
        meta = json.loads((root / META_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{root / META_FILE}: not valid JSON ({exc}).") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("source"), str):
        raise DataFormatError(f"{root / META_FILE}: expected a JSON object with a 'source' string.")
    # beats
    try:
        beats = np.load(root / BEATS_FILE, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(f"{root / BEATS_FILE}: cannot be read as a NumPy array ({exc}).") from None
    if beats.ndim != 3 or beats.shape[1:] != BEAT_SHAPE:
        raise DataFormatError(f"{root / BEATS_FILE}: shape {beats.shape}, expected (N, {BEAT_SHAPE[0]}, {BEAT_SHAPE[1]}).")
    if beats.dtype != np.float32:
        if not np.issubdtype(beats.dtype, np.floating):
            raise DataFormatError(f"{root / BEATS_FILE}: dtype {beats.dtype}, expected float32.")
        beats = np.asarray(beats, dtype=np.float32)
    # table
    try:
        table = pd.read_csv(root / TABLE_FILE, dtype={"id": str, "report": str, "scp_codes": str, "sex": str,
                                                      "phenotype": str}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataFormatError(f"{root / TABLE_FILE}: cannot be parsed as CSV ({exc}).") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataFormatError(f"{root / TABLE_FILE}: missing column(s) {', '.join(missing)}.")
    if len(table) != beats.shape[0]:
        raise DataFormatError(
            f"{root}: {TABLE_FILE} has {len(table)} rows but {BEATS_FILE} has {beats.shape[0]} beats."
        )
    if table["id"].isna().any() or table["id"].duplicated().any():
        raise DataFormatError(f"{root / TABLE_FILE}: the id column has empty or duplicate values.")
    for col in ("report", "scp_codes", "sex", "phenotype"):
        table[col] = table[col].fillna("").astype(str)
    for col in ("age", "time_months", "event", "true_log_hazard"):
        try:
            table[col] = pd.to_numeric(table[col], errors="raise")
        except (ValueError, TypeError):
            raise DataFormatError(f"{root / TABLE_FILE}: column {col} has non-numeric values.") from None
    ev = table["event"].dropna()
    if not ev.isin([0, 1]).all():
        raise DataFormatError(f"{root / TABLE_FILE}: event must be 0 or 1.")
    tm = table["time_months"].dropna()
    if (tm < 0).any() or not np.isfinite(tm).all():
        raise DataFormatError(f"{root / TABLE_FILE}: time_months must be finite and >= 0.")
    if table["time_months"].notna().ne(table["event"].notna()).any():
        raise DataFormatError(f"{root / TABLE_FILE}: time_months and event must be both present or both empty.")
    for value in table["scp_codes"]:
        if value:
            parse_scp_codes(value, where=str(root / TABLE_FILE))
    return Dataset(beats=beats, table=table, meta=meta, path=root)
