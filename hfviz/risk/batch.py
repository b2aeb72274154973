"""Batch scoring of a whole cohort: many files, folders, list files or a dataset folder -> one table.

``python -m hfviz predict`` runs on this module. Every ECG file goes through the library's one
path from file to model input (:func:`hfviz.risk.assess.prepare_source`: read -> prepare),
optionally in ``workers`` processes; the model then scores the prepared inputs in batches
(:func:`score_inputs`: log-risk, percentile and risk group within the training cohort, HF-free
survival at 12/36/60 months, the numbers :func:`hfviz.risk.assess.assess` gives one ECG), and
the rows are appended to the output (CSV, or Parquet when pyarrow is installed) as they come,
so an interrupted run keeps what it scored and ``resume`` skips those IDs. Failures are listed
by file and never stop the run.

The dashboard's Batch page scores uploads through the same :func:`score_sources`: its ECGs are
:class:`MemorySource` (names and bytes, never on disk), and a ``describe`` function adds columns
taken from each prepared ECG (format, quality flags) before the prepared ECG is dropped.

Under ``torchrun`` each rank scores the sources ``r::W`` into its own part file (with an
``_order`` column); :func:`merge_parts` joins them into the file a single process would have
written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hfviz.errors import DataFormatError, HfvizError

#: Months at which the predicted HF-free survival is reported (columns s_12m, s_36m, s_60m).
SURVIVAL_MONTHS = (12, 36, 60)
#: Suffixes of the files of one WFDB record (header + signal files), grouped into one ECG.
WFDB_SUFFIXES = (".hea", ".dat", ".mat")
#: Files a folder search skips (documentation and images beside the ECGs); files named explicitly are always read.
NOT_ECG_SUFFIXES = (".md", ".rst", ".pdf", ".html", ".png", ".jpg", ".jpeg", ".svg")
#: Name of the row-order column in the part files of a data-parallel run (dropped by the merge).
ORDER_COLUMN = "_order"


@dataclass(frozen=True)
class Source:
    """One ECG to score: its ID and the file(s) it is read from (a WFDB header travels with its signal file)."""

    id: str
    files: tuple[str, ...]

    @property
    def read_arg(self) -> str | list[str]:
        """What :func:`hfviz.ecg.io.read_ecg` takes for it."""
        return self.files[0] if len(self.files) == 1 else list(self.files)


@dataclass(frozen=True)
class MemorySource(Source):
    """One ECG held in memory (an upload): ``files`` are its names, ``data`` their bytes, in the same order.

    Read as ``(name, bytes)`` pairs, as a browser upload gives them; nothing touches the disk.
    """

    data: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def read_arg(self) -> list[tuple[str, bytes]]:
        """``(name, bytes)`` pairs for :func:`hfviz.ecg.io.read_ecg`."""
        return list(zip(self.files, self.data))


# --- which ECGs ---------------------------------------------------------------------------------


def group_ecg_files(files: Sequence[str], *, listed: dict[str, Sequence[str]] | None = None) -> list[list[str]]:
    """WFDB records travel as .hea + signal file(s) (.dat/.mat): group those by stem; other files stand alone.

    ``listed`` (optional) maps a header's path to the signal file names its own signal lines give
    (:func:`hfviz.ecg.io._wfdb_header.signal_file_names`); those files, in the header's folder,
    join its record whatever their suffix (e.g. PTB's ``.xyz`` Frank leads).
    """
    stems_with_hea = {Path(f).with_suffix("") for f in files if Path(f).suffix.lower() == ".hea"}
    named = {str(Path(hea).parent / name): Path(hea).with_suffix("")
             for hea, names in (listed or {}).items() for name in names}
    groups, seen = [], {}
    for f in files:
        stem = Path(f).with_suffix("")
        if stem in stems_with_hea and Path(f).suffix.lower() in WFDB_SUFFIXES:
            key = stem
        elif named.get(str(Path(f))) in stems_with_hea:
            key = named[str(Path(f))]
        else:
            groups.append([f])
            continue
        if key not in seen:
            seen[key] = []
            groups.append(seen[key])
        seen[key].append(f)
    return groups


def _expand(item: str) -> list[str]:
    """A path as files: a folder -> its non-hidden ECG candidates, recursively, sorted; ``@list.txt`` -> the listed paths."""
    if item.startswith("@") and Path(item[1:]).is_file():
        return [f for line in read_list_file(item[1:]) for f in _expand(line)]
    p = Path(item)
    if p.is_dir():
        return sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() not in NOT_ECG_SUFFIXES
                      and not any(part.startswith(".") for part in f.relative_to(p).parts))
    return [item]


def read_list_file(path: str | os.PathLike) -> list[str]:
    """Paths listed one per line in ``path`` (blank lines and ``#`` comments skipped; relative to the list's folder)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{p.name}: the list file cannot be read ({type(exc).__name__}).") from None
    out = []
    for line in lines:
        s = line.strip()
        if s and not s.startswith("#"):
            out.append(s if Path(s).is_absolute() or Path(s).exists() else str(p.parent / s))
    return out


def collect_sources(inputs: Iterable[str], *, list_file: str | None = None) -> list[Source]:
    """The ECGs named by files, folders (searched recursively), ``@list.txt`` items and ``list_file``.

    IDs are file stems (the WFDB record name for a header + signal pair); stems that occur more
    than once get the first file's path as ID instead, so IDs are unique and stable across runs (``resume``).
    Order: as given, folders sorted; a file named twice is scored once.
    """
    files = [f for item in inputs for f in _expand(str(item))]
    if list_file:
        files += [f for line in read_list_file(list_file) for f in _expand(line)]
    files = list(dict.fromkeys(files))
    groups = [sorted(g, key=lambda f: Path(f).suffix.lower() != ".hea") for g in group_ecg_files(files)]
    stems = [Path(g[0]).stem for g in groups]
    counts = pd.Series(stems).value_counts() if stems else {}
    return [Source(stem if counts[stem] == 1 else str(g[0]), tuple(g)) for stem, g in zip(stems, groups)]


# --- reading and preparing (worker processes) ------------------------------------------------------


def prepare_described(task: tuple) -> tuple[np.ndarray | None, dict | None, str | None]:
    """(source, fs, units[, describe]) -> (model input (12, 608) float32, details, None) or (None, None, sentence).

    ``describe``, when given, is a module-level function (it travels to worker processes) that
    turns the :class:`~hfviz.ecg.prepare.PreparedECG` into a dict of extra columns for the row
    (e.g. format and quality flags); the prepared ECG itself is dropped as soon as it is described.
    """
    from hfviz.risk.assess import prepare_source

    source, fs, units, *rest = task
    describe = rest[0] if rest else None
    try:
        prepared = prepare_source(source.read_arg, fs=fs, units=units)
        details = describe(prepared) if describe is not None else None
        return np.asarray(prepared.model_input, np.float32), details, None
    except HfvizError as exc:
        return None, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a cohort run
        return None, None, f"{source.files[0]}: the ECG could not be processed ({type(exc).__name__})."


def prepare_one(task: tuple[Source, float | None, str | None]) -> tuple[np.ndarray | None, str | None]:
    """(source, fs, units) -> (model input (12, 608) float32, None) or (None, one-sentence error)."""
    x, _, err = prepare_described(task)
    return x, err


def _silence_worker() -> None:
    import warnings

    warnings.simplefilter("ignore", RuntimeWarning)  # NaN arithmetic on damaged input, as in the CLI


def prepared_stream(sources: Sequence[Source], *, workers: int = 1, fs: float | None = None,
                    units: str | None = None, describe: Callable[[Any], dict] | None = None,
                    ) -> Iterator[tuple[np.ndarray | None, dict | None, str | None]]:
    """:func:`prepare_described` of every source, in order; ``workers`` > 1 spreads them over spawned processes."""
    tasks = ((s, fs, units, describe) for s in sources)
    if workers <= 1 or len(sources) < 2:
        yield from map(prepare_described, tasks)
        return
    import multiprocessing as mp

    chunk = max(1, min(32, len(sources) // (workers * 8)))
    with mp.get_context("spawn").Pool(workers, initializer=_silence_worker) as pool:
        yield from pool.imap(prepare_described, tasks, chunksize=chunk)


# --- scoring ------------------------------------------------------------------------------------------


def score_inputs(model: Any, x: np.ndarray, *, scheme: str = "tertiles", top_k: float = 10.0) -> pd.DataFrame:
    """Score model inputs with a shipped model: the numbers :func:`hfviz.risk.assess.assess` gives, for a batch.

    Parameters
    ----------
    model : RiskModel
        A loaded model (its network may sit on any device).
    x : ndarray (B, 12, 608) float32
        Normalised median beats.
    scheme, top_k
        Risk groups within the training cohort (:meth:`RiskModel.risk_group`).

    Returns
    -------
    DataFrame
        B rows: ``log_risk`` (4 decimals), ``percentile`` (0-100, 1 decimal), ``risk_group``,
        ``s_12m``, ``s_36m``, ``s_60m`` (predicted HF-free probability, 4 decimals).
    """
    lr = np.asarray(model.predict_log_risk(x), np.float64).reshape(-1)  # (B,)
    surv = model.predict_survival_function(lr, np.asarray(SURVIVAL_MONTHS, float))  # (B, 3)
    groups = model.risk_group(lr, scheme, top_k_percent=top_k) if len(lr) else []
    out = pd.DataFrame({"log_risk": np.round(lr, 4), "percentile": np.round(np.atleast_1d(model.percentile(lr)), 1),
                        "risk_group": [str(g) for g in groups]})
    for j, m in enumerate(SURVIVAL_MONTHS):
        out[f"s_{m}m"] = np.round(surv[:, j], 4)
    return out


# --- output ---------------------------------------------------------------------------------------------


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """A results file (CSV or Parquet) as written by :class:`ResultWriter`, IDs as str, floats exact."""
    p = Path(path)
    try:
        if _is_parquet(p):
            return pd.read_parquet(p)
        return pd.read_csv(p, dtype={"id": str, "file": str, "risk_group": str}, float_precision="round_trip",
                           keep_default_na=False, na_values=[""])
    except Exception as exc:  # noqa: BLE001 - a damaged output file is bad input for --resume
        raise DataFormatError(f"{p.name}: the results file cannot be read ({type(exc).__name__}).") from None


def done_ids(path: str | os.PathLike) -> set[str]:
    """IDs already in a results file (empty when it does not exist yet): what ``resume`` skips."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        return set()
    t = read_results(p)
    if "id" not in t:
        raise DataFormatError(f"{p.name}: the results file has no id column, so it cannot be resumed.")
    return set(t["id"].astype(str))


class ResultWriter:
    """Append result rows to a CSV (flushed after every batch) or a Parquet file (one row group per batch).

    ``resume=True`` keeps the rows already there; otherwise the file is started afresh. Parquet
    needs pyarrow (not a dependency of hfviz: used only when installed); a resumed Parquet file
    is rewritten with its old rows first, as Parquet files cannot be appended to.
    """

    def __init__(self, path: str | os.PathLike, *, resume: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.parquet = _is_parquet(self.path)
        self._pq = None
        self._old = None
        if self.parquet:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise DataFormatError(f"{self.path.name}: writing Parquet needs pyarrow, which is not installed; "
                                      "write a .csv instead.") from None
            self._tmp = self.path.with_name(self.path.name + ".writing")
            if resume and self.path.is_file():
                self._old = read_results(self.path)
        elif not resume and self.path.exists():
            self.path.unlink()

    def write(self, rows: pd.DataFrame) -> None:
        """Append ``rows`` (the same columns every call)."""
        if not self.parquet:
            header = not self.path.is_file() or self.path.stat().st_size == 0
            rows.to_csv(self.path, mode="a", header=header, index=False)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(rows, preserve_index=False)
        if self._pq is None:
            self._pq = pq.ParquetWriter(self._tmp, table.schema)
            if self._old is not None and len(self._old):
                self._pq.write_table(pa.Table.from_pandas(self._old[rows.columns], preserve_index=False,
                                                          schema=table.schema))
        self._pq.write_table(table)

    def close(self) -> None:
        """Finish the file (Parquet: footer written, then moved into place)."""
        if self._pq is not None:
            self._pq.close()
            self._tmp.replace(self.path)
            self._pq = None


def part_path(out: str | os.PathLike, rank: int, world: int) -> Path:
    """Part file of rank ``rank`` of ``world`` for the output ``out`` (same format as ``out``)."""
    p = Path(out)
    return p.with_name(f"{p.stem}.part-{rank}-of-{world}{p.suffix}")


def merge_parts(out: str | os.PathLike, *, keep_parts: bool = False) -> int:
    """Join the part files of a data-parallel ``predict`` into ``out``, in the single-process row order.

    Returns the number of rows. Raises :class:`DataFormatError` when no parts exist or some are missing.
    """
    p = Path(out)
    parts = sorted(p.parent.glob(f"{p.stem}.part-*-of-*{p.suffix}"))
    if not parts:
        raise DataFormatError(f"{p.name}: no part files ({p.stem}.part-R-of-W{p.suffix}) to merge.")
    worlds = {int(f.stem.rsplit("-of-", 1)[1]) for f in parts}
    if len(worlds) != 1 or len(parts) != worlds.pop():
        raise DataFormatError(f"{p.name}: part files are missing or from runs of different sizes "
                              f"({', '.join(f.name for f in parts)}).")
    table = pd.concat([read_results(f) for f in parts], ignore_index=True)
    table = table.sort_values(ORDER_COLUMN, kind="stable").drop(columns=ORDER_COLUMN)
    writer = ResultWriter(p)
    writer.write(table.reset_index(drop=True))
    writer.close()
    if not keep_parts:
        for f in parts:
            f.unlink()
    return len(table)


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class BatchReport:
    """What a batch run did (this rank's share under torchrun).

    Attributes
    ----------
    scored, skipped : int
        Rows written, and IDs skipped because the output already had them (resume).
    failures : list of str
        One sentence per ECG that could not be scored, naming its file.
    seconds : float
        Wall time.
    failed_total : int
        Failures summed over all ranks (= ``len(failures)`` in one process).
    """

    scored: int
    skipped: int
    failures: list[str]
    seconds: float
    failed_total: int = 0


def score_sources(model: Any, sources: Sequence[Source], emit: Callable[[pd.DataFrame], None], *,
                  workers: int = 1, batch_size: int = 256, fs: float | None = None, units: str | None = None,
                  scheme: str = "tertiles", top_k: float = 10.0, order: Sequence[int] | None = None,
                  on_error: Callable[[str], None] | None = None, progress: Callable[[int], None] | None = None,
                  describe: Callable[[Any], dict] | None = None,
                  on_failure: Callable[[Source, str], None] | None = None) -> tuple[int, list[str]]:
    """Read, prepare and score ``sources``; hand each batch of rows to ``emit`` as soon as it is scored.

    Rows: ``id``, ``file``, then :func:`score_inputs`' columns (plus ``_order`` when ``order`` gives
    each source's position in the whole run, and the keys of ``describe(prepared)`` when a
    ``describe`` function is given). Each failure goes to ``on_error(sentence)`` and
    ``on_failure(source, sentence)``. Returns (rows emitted, failure sentences).
    """
    failures, ids, files, xs, pos, extra, n = [], [], [], [], [], [], 0

    def flush():
        nonlocal n
        if not xs:
            return
        rows = score_inputs(model, np.stack(xs), scheme=scheme, top_k=top_k)
        rows.insert(0, "file", files)
        rows.insert(0, "id", ids)
        if describe is not None:
            rows = pd.concat([rows, pd.DataFrame(extra, index=rows.index)], axis=1)
        if order is not None:
            rows[ORDER_COLUMN] = pos
        emit(rows)
        n += len(rows)
        ids.clear(), files.clear(), xs.clear(), pos.clear(), extra.clear()

    stream = prepared_stream(sources, workers=workers, fs=fs, units=units, describe=describe)
    for k, (src, (x, details, err)) in enumerate(zip(sources, stream)):
        if err is not None:
            failures.append(err)
            if on_error:
                on_error(err)
            if on_failure:
                on_failure(src, err)
        else:
            ids.append(src.id), files.append(src.files[0]), xs.append(x), extra.append(details or {})
            pos.append(order[k] if order is not None else k)
            if len(xs) >= batch_size:
                flush()
        if progress:
            progress(1)
    flush()
    return n, failures


def score_dataset(model: Any, path: str | os.PathLike, emit: Callable[[pd.DataFrame], None], *,
                  rows: np.ndarray | None = None, skip_ids: set[str] = frozenset(), batch_size: int = 256,
                  scheme: str = "tertiles", top_k: float = 10.0, with_order: bool = False,
                  progress: Callable[[int], None] | None = None) -> int:
    """Score a dataset folder (:mod:`hfviz.data.dataset` layout) in batches; returns the rows emitted.

    Rows: ``id``, :func:`score_inputs`' columns, and ``time_months``, ``event`` when the dataset
    has outcomes. ``rows`` restricts to those row indices (a rank's shard); IDs in ``skip_ids``
    are skipped (resume).
    """
    from hfviz.data.dataset import load_dataset
    from hfviz.ecg.signal import normalise

    ds = load_dataset(path)
    idx = np.arange(ds.n) if rows is None else np.asarray(rows)
    ids = ds.table["id"].astype(str).to_numpy()
    idx = idx[[i not in skip_ids for i in ids[idx]]] if skip_ids else idx
    outcomes = ds.has_outcomes
    n = 0
    for s in range(0, len(idx), batch_size):
        b = idx[s : s + batch_size]
        out = score_inputs(model, normalise(np.asarray(ds.beats[b])), scheme=scheme, top_k=top_k)
        out.insert(0, "id", ids[b])
        if outcomes:
            out["time_months"] = ds.table["time_months"].to_numpy(float)[b]
            out["event"] = ds.table["event"].to_numpy()[b].astype(int)
        if with_order:
            out[ORDER_COLUMN] = b
        emit(out)
        n += len(out)
        if progress:
            progress(len(b))
    return n


def progress_bar(total: int, desc: str):
    """tqdm bar on stderr (shown on a terminal only, so logs and captured output stay clean)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ECG", file=sys.stderr, dynamic_ncols=True,
                disable=not sys.stderr.isatty())


def run_batch(model: Any, out: str | os.PathLike, *, sources: Sequence[Source] | None = None,
              dataset: str | os.PathLike | None = None, resume: bool = False, workers: int = 1,
              batch_size: int = 256, fs: float | None = None, units: str | None = None, scheme: str = "tertiles",
              top_k: float = 10.0, on_error: Callable[[str], None] | None = None) -> BatchReport:
    """Score ``sources`` (files) or a ``dataset`` folder into ``out``, streaming; data-parallel under torchrun.

    In one process the rows go straight to ``out``. In a process group of W ranks, rank r scores
    every W-th source (or dataset row) from r into :func:`part_path` (``out`` with
    ``.part-r-of-W``); once all ranks are done rank 0 merges the parts into ``out`` in the
    single-process order (:func:`merge_parts`). The parts stay, so ``resume`` can continue each
    rank's share; the merged file is rebuilt from them. Failures are summed over the ranks.

    Returns
    -------
    BatchReport
        This rank's rows, skips and failures; ``failed_total`` over all ranks.
    """
    import time

    from hfviz.device import barrier, rank_world, sum_over_ranks

    t0 = time.perf_counter()
    rank, world = rank_world()
    target = Path(out) if world == 1 else part_path(out, rank, world)
    skip = done_ids(target) if resume else set()
    writer = ResultWriter(target, resume=resume)
    try:
        if dataset is not None:
            from hfviz.data.dataset import load_dataset

            n_all = load_dataset(dataset).n
            mine = np.arange(n_all)[rank::world]
            with progress_bar(len(mine), "predict") if rank == 0 else _null_bar() as bar:
                n = score_dataset(model, dataset, writer.write, rows=mine, skip_ids=skip, batch_size=batch_size,
                                  scheme=scheme, top_k=top_k, with_order=world > 1, progress=bar.update)
            skipped, failures = len(mine) - n, []
        else:
            positions = list(range(len(sources)))[rank::world]
            todo = [k for k in positions if sources[k].id not in skip]
            with progress_bar(len(todo), "predict") if rank == 0 else _null_bar() as bar:
                n, failures = score_sources(model, [sources[k] for k in todo], writer.write, workers=workers,
                                            batch_size=batch_size, fs=fs, units=units, scheme=scheme, top_k=top_k,
                                            order=todo if world > 1 else None, on_error=on_error,
                                            progress=bar.update)
            skipped = len(positions) - len(todo)
    finally:
        writer.close()
    failed_total = len(failures)
    if world > 1:
        failed_total = int(sum_over_ranks([len(failures)])[0])  # also waits until every part is complete
        if rank == 0:
            merge_parts(out, keep_parts=True)
        barrier()  # nobody exits (and so nobody ends the torchrun job) before the merge is written
    return BatchReport(n, skipped, failures, time.perf_counter() - t0, failed_total)


def score_in_memory(model: Any, *, sources: Sequence[Source] | None = None, dataset: str | os.PathLike | None = None,
                    on_error: Callable[[str], None] | None = None, **kw) -> tuple[pd.DataFrame, int]:
    """Score ``sources`` or a ``dataset`` into one DataFrame (a few ECGs at a terminal); returns (rows, failures).

    ``kw``: ``workers``, ``batch_size``, ``fs``, ``units``, ``scheme``, ``top_k`` as for :func:`run_batch`.
    """
    parts: list[pd.DataFrame] = []
    if dataset is not None:
        score_dataset(model, dataset, parts.append, batch_size=kw.get("batch_size", 256),
                      scheme=kw.get("scheme", "tertiles"), top_k=kw.get("top_k", 10.0))
        failures: list[str] = []
    else:
        _, failures = score_sources(model, sources, parts.append, on_error=on_error, **kw)
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()), len(failures)


class _null_bar:
    """Stands in for a progress bar on ranks other than 0."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, k: int = 1) -> None:
        pass
