"""A batch of uploaded ECGs as one table, without Streamlit: what the Batch page shows and downloads.

The files of a batch upload (:func:`hfviz.dashboard.uploads.expand_batch_upload`: plain files,
zip archives opened in memory) are grouped into ECGs the way ``python -m hfviz predict`` groups
files on disk (:func:`hfviz.risk.batch.group_ecg_files`: a WFDB ``.hea`` with its signal files is
one ECG) and scored by the same function (:func:`hfviz.risk.batch.score_sources`: read -> prepare
-> the model's log-risk, percentile, risk group and HF-free survival). Each row gets the format in
words and the record's quality flags; each ECG that cannot be read gets one sentence naming its
file. Nothing prepared is kept: an ECG is read again from the uploaded bytes when it is opened
(:func:`ecg_files`), so a session holds only the small table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import pandas as pd

from hfviz.dashboard import report
from hfviz.dashboard.sources import is_synthetic_ecg
from hfviz.dashboard.uploads import MAX_BATCH_ECGS, BatchFiles, format_words, unsupported_format_sentence
from hfviz.ecg.io import sniff_format
from hfviz.ecg.io._wfdb_header import signal_file_names
from hfviz.risk.assess import model_is_synthetic
from hfviz.risk.batch import MemorySource, group_ecg_files, score_sources
from hfviz.risk.groups import cohort_label

#: Months of the HF-free probability the table shows (S(60 months)).
HORIZON_MONTHS = 60
#: Column of the predicted HF-free probability at :data:`HORIZON_MONTHS`, S(60 months), in percent (0–100).
SURVIVAL_COLUMN = f"HF-free at {HORIZON_MONTHS} months (%)"
#: Columns of the table, in order.
TABLE_COLUMNS = ("file", "format", "log-risk", "percentile", "risk group", SURVIVAL_COLUMN, "quality flags",
                 "synthetic ECG")
#: Columns of the list of failures.
FAILURE_COLUMNS = ("file", "reason")
#: ECGs prepared before the model scores them together (bounds the memory of a batch in flight).
SCORING_CHUNK = 32


@dataclass
class BatchResult:
    """A scored batch: small enough to keep in a session (numbers and sentences, no signals).

    Attributes
    ----------
    table : DataFrame
        One row per scored ECG, columns :data:`TABLE_COLUMNS` (log-risk, percentile 0–100 and
        the HF-free probability in percent, 0–100, as numbers; the rest as words).
    failures : DataFrame
        One row per file that could not be scored, columns :data:`FAILURE_COLUMNS`.
    cohort_label : str
        The cohort the percentiles and groups refer to, e.g. ``"MI-like cohort (synthetic)"``.
    refused : list of str
        Sentences for whole archives that were not opened (too many entries, too large, damaged).
    skipped : int
        Archive entries left out as not ECGs (folders, ``__MACOSX``, hidden files, documents).
    """

    table: pd.DataFrame
    failures: pd.DataFrame
    cohort_label: str
    refused: list[str] = field(default_factory=list)
    skipped: int = 0


def describe_prepared(prepared: Any) -> dict[str, str]:
    """The table's words for one prepared ECG: format, quality flags (``"; "``-joined), ``"yes"`` when it is synthetic.

    "Synthetic" as :func:`hfviz.dashboard.sources.is_synthetic_ecg` tells it from the file (empty
    when the file does not say so: unknown, not "real").

    Module-level so that :func:`hfviz.risk.batch.score_sources` can hand it to worker processes.
    """
    rec = prepared.record
    return {"format": format_words(rec.source_format), "quality flags": "; ".join(rec.quality),
            "synthetic ECG": "yes" if is_synthetic_ecg(prepared, None) else ""}


def _unique_names(files: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The files with names made unique (a repeated name gets `` (2)``, `` (3)`` … before its suffix)."""
    seen: dict[str, int] = {}
    out = []
    for name, data in files:
        k = seen.get(name, 0) + 1
        seen[name] = k
        if k > 1:
            p = PurePath(name)
            name = str(p.with_name(f"{p.stem} ({k}){p.suffix}"))
        out.append((name, data))
    return out


def batch_sources(files: Sequence[tuple[str, bytes]]) -> list[MemorySource]:
    """The ECGs among uploaded files, in upload order: a WFDB ``.hea`` with its signal files is one.

    Signal files are those of the header's stem (``.dat``/``.mat``) and any file of its folder its
    signal lines name (:func:`hfviz.risk.batch.group_ecg_files`).

    Parameters
    ----------
    files : sequence of (str, bytes)
        Names (archived files as ``"archive.zip/folder/name"``) and bytes.

    Returns
    -------
    list of MemorySource
        ``id`` is the ECG's label in the table: its file name, or ``"folder/rec.hea + rec.dat"``.
    """
    files = _unique_names(files)
    data = dict(files)
    listed = {n: signal_file_names(d.decode("latin-1")) for n, d in files if sniff_format(n, d) == "wfdb-header"}
    groups = [sorted(g, key=lambda f: PurePath(f).suffix.lower() != ".hea")
              for g in group_ecg_files([n for n, _ in files], listed=listed)]
    return [MemorySource(" + ".join([g[0], *(PurePath(f).name for f in g[1:])]), tuple(g), tuple(data[f] for f in g))
            for g in groups]


def ecg_files(files: Sequence[tuple[str, bytes]], label: str) -> list[tuple[str, bytes]] | None:
    """The ``(name, bytes)`` pairs of the ECG called ``label`` in the table, or ``None`` when it is not there."""
    src = next((s for s in batch_sources(files) if s.id == label), None)
    return None if src is None else src.read_arg


def build_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`hfviz.risk.batch.score_sources` (with :func:`describe_prepared`) as the page's table.

    Returns
    -------
    DataFrame
        Columns :data:`TABLE_COLUMNS`; the risk group in words ("top third").
    """
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("log-risk", "percentile", SURVIVAL_COLUMN) else str)
                             for c in TABLE_COLUMNS})
    return pd.DataFrame({
        "file": rows["id"].astype(str),
        "format": rows["format"].astype(str),
        "log-risk": rows["log_risk"].astype(float),
        "percentile": rows["percentile"].astype(float),
        "risk group": [report.group_words(g) for g in rows["risk_group"]],
        SURVIVAL_COLUMN: (100.0 * rows[f"s_{HORIZON_MONTHS}m"].astype(float)).round(2),
        "quality flags": rows["quality flags"].astype(str),
        "synthetic ECG": rows["synthetic ECG"].astype(str),
    }).reset_index(drop=True)


def score_batch(model: Any, batch: BatchFiles, *, max_ecgs: int = MAX_BATCH_ECGS,
                progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Score every ECG of a batch upload with ``model``: the table and the failures of the Batch page.

    Parameters
    ----------
    model : RiskModel
        The cohort's shared, read-only model.
    batch : BatchFiles
        The upload with its archives opened (:func:`hfviz.dashboard.uploads.expand_batch_upload`);
        its refused archives and entry problems are listed first among the failures.
    max_ecgs : int
        ECGs scored at most; the others are listed as failures, each naming the limit.
    progress : callable (done, total), optional
        Called after each ECG is read and prepared.

    Returns
    -------
    BatchResult
    """
    files = batch.files
    sources = batch_sources(files)
    failures = [tuple(p) for p in (*batch.refused, *batch.problems)]
    for src in sources[max_ecgs:]:
        failures.append((src.id, f"{src.id} was not scored: a batch holds at most {max_ecgs:,} ECGs."))
    sources = sources[:max_ecgs]
    total, done = len(sources), 0

    def step(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total)

    def failed(src: MemorySource, sentence: str) -> None:
        failures.append((src.id, unsupported_format_sentence(src.read_arg, sentence)))

    parts: list[pd.DataFrame] = []
    score_sources(model, sources, parts.append, batch_size=SCORING_CHUNK, describe=describe_prepared,
                  on_failure=failed, progress=step)
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    label = cohort_label(model.cohort, synthetic=model_is_synthetic(model))
    return BatchResult(build_table(rows), pd.DataFrame(failures, columns=list(FAILURE_COLUMNS)), label,
                       [sentence for _, sentence in batch.refused], batch.skipped)


def filter_table(table: pd.DataFrame, *, text: str = "", groups: Sequence[str] = (), formats: Sequence[str] = (),
                 flagged_only: bool = False) -> pd.DataFrame:
    """The rows of ``table`` that match every given filter (an empty filter matches all).

    Parameters
    ----------
    text : str
        Part of the file name (case-insensitive).
    groups, formats : sequence of str
        Risk groups ("top third") and formats ("WFDB") to keep.
    flagged_only : bool
        Keep only ECGs with quality flags.
    """
    keep = pd.Series(True, index=table.index)
    if text.strip():
        keep &= table["file"].str.contains(text.strip(), case=False, regex=False)
    if groups:
        keep &= table["risk group"].isin(list(groups))
    if formats:
        keep &= table["format"].isin(list(formats))
    if flagged_only:
        keep &= table["quality flags"].str.len() > 0
    return table[keep].reset_index(drop=True)


def table_csv(table: pd.DataFrame, cohort_label: str) -> bytes:
    """The table as UTF-8 CSV, with a ``cohort`` column saying what the percentiles refer to (and that it is synthetic)."""
    out = table.copy()
    out["cohort"] = cohort_label
    return out.to_csv(index=False).encode("utf-8")
