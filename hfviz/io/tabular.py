"""Tables and arrays: CSV/TSV text with a header of lead names, NumPy ``.npy`` / ``.npz``.

These formats do not say what their numbers mean, so the caller supplies what is missing:

* sampling rate — the ``fs`` argument, a time column in a CSV (``time``/``t``/``seconds`` in
  s, ``time_ms``/``ms`` in ms), or an ``fs`` entry in an ``.npz``;
* units — the ``units`` argument (``"mV"``/``"uV"``), a unit in the column header
  (``"II (uV)"``), a ``units`` entry in an ``.npz``, or else inferred from the amplitudes
  (the inference is stated in ``units_note``);
* lead names — the CSV header, a ``leads`` entry in an ``.npz``, or the standard order for a
  bare 12-lead array (8-lead arrays are read as I, II, V1–V6).
"""

from __future__ import annotations

import io
import math
import re
import tokenize
import zipfile
import zlib

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.io._common import (
    MAX_FILE_BYTES,
    _is_number,
    amplitude_units,
    check_samples,
    positive_float,
    unit_scale_to_mv,
)
from hfviz.record import LEADS, ECGRecord, make_record, normalise_lead_name

EIGHT_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
_TIME_COLUMNS = {"time": 1.0, "t": 1.0, "time_s": 1.0, "time (s)": 1.0, "seconds": 1.0, "sec": 1.0, "s": 1.0,
                 "time_ms": 1e-3, "time (ms)": 1e-3, "ms": 1e-3, "t_ms": 1e-3, "timestamp": 1.0}
_INDEX_COLUMNS = {"sample", "samples", "index", "idx", "n", "sample_index", "", "unnamed: 0"}
_UNIT_IN_HEADER = re.compile(r"^(.*?)[\s_]*[\(\[]\s*(mv|uv|µv|μv|v)\s*[\)\]]\s*$|^(.*?)_(mv|uv)$", re.I)


def _split_unit(header: str) -> tuple[str, str | None]:
    m = _UNIT_IN_HEADER.match(header.strip())
    if not m:
        return header.strip(), None
    if m.group(1) is not None:
        return m.group(1).strip(), m.group(2)
    return m.group(3).strip(), m.group(4)


def _first_line(data: bytes) -> str | None:
    """First line that is neither blank nor a ``#`` comment, decoded; ``None`` when there is none."""
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = data[pos:end].decode("utf-8", errors="replace").strip()
        if line and not line.startswith("#"):
            return line
        pos = end + 1
    return None


def _delimiter(first_line: str) -> str | None:
    if "\t" in first_line:
        return "\t"
    if ";" in first_line and "," not in first_line:
        return ";"
    if "," in first_line:
        return ","
    return None  # whitespace


def read_csv(name: str, data: bytes, *, fs: float | None, units: str | None) -> ECGRecord:
    """Read a CSV/TSV table of leads.

    Parameters
    ----------
    name : str
        File name for messages.
    data : bytes
        File content (UTF-8 or Latin-1 text).
    fs : float, optional
        Sampling rate in Hz; needed unless the table has a time column.
    units : {"mV", "uV"}, optional
        Amplitude units; inferred from the amplitudes when not given.

    Returns
    -------
    ECGRecord
        ``source_format="csv"``.
    """
    import pandas as pd

    first_line = _first_line(data)
    if first_line is None:
        raise ECGFormatError(f"{name}: the table has no rows.")
    sep = _delimiter(first_line)
    df = None
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            df = pd.read_csv(
                io.BytesIO(data),  # parsed from the bytes directly: no text copies of a large file
                sep=sep if sep else r"\s+",
                engine="c",
                comment="#",
                skip_blank_lines=True,
                keep_default_na=False,
                decimal="," if sep == ";" else ".",
                encoding=encoding,
            )
            break
        except UnicodeDecodeError:
            continue
        except Exception as exc:
            raise ECGFormatError(
                f"{name}: the table could not be parsed ({str(exc).splitlines()[0][:80]})."
            ) from None
    if df is None:  # pragma: no cover - latin-1 decodes any bytes
        raise ECGFormatError(f"{name}: the table is not readable text.")
    headers = [str(c) for c in df.columns]
    std_cols = [h for h in headers if normalise_lead_name(_split_unit(h)[0])]
    raw_first = [c.strip().strip('"') for c in (first_line.split(sep) if sep else first_line.split())]
    if len(raw_first) >= 3 and sum(_is_number(h) for h in raw_first[1:]) > (len(raw_first) - 1) / 2:
        # one row per lead: the first column holds lead names, the rest are samples
        first = [raw_first[0]] + [str(v) for v in df.iloc[:, 0]]
        if sum(normalise_lead_name(v.strip().strip('"')) is not None for v in first) >= 2:
            return _rows_per_lead(name, data.decode("latin-1"), sep, fs=fs, units=units)
    if not std_cols:
        if all(_is_number(h) for h in headers):
            raise ECGFormatError(
                f"{name}: the table has no header row; the first row must name the leads (I, II, V1 …)."
            )
        raise ECGFormatError(
            f"{name}: no standard lead names in the header ({', '.join(h[:12] for h in headers[:8])})."
        )
    n = len(df)
    check_samples(name, n, what="table")

    time_fs = None
    lower = {h: _split_unit(h)[0].lower() for h in headers}
    time_col = next((h for h in headers if lower[h] in _TIME_COLUMNS), None)
    if time_col is not None:
        t = _numeric(df[time_col], name, time_col, decimal_comma=sep == ";")
        dt = np.diff(t[np.isfinite(t)])
        if dt.size < 1 or not np.all(dt > 0):
            raise ECGFormatError(f"{name}: the time column {time_col!r} is not strictly increasing.")
        step = float(np.median(dt)) * _TIME_COLUMNS[lower[time_col]]
        time_fs = 1.0 / step
    if fs is not None:
        fs = positive_float(fs, name, "the given sampling rate")
        if time_fs is not None and abs(time_fs - fs) > 0.01 * fs:
            raise ECGFormatError(
                f"{name}: the given sampling rate {fs:g} Hz disagrees with the time column ({time_fs:.4g} Hz)."
            )
        rate_note = "sampling rate given"
    elif time_fs is not None:
        fs = round(time_fs, 3)
        rate_note = f"sampling rate {fs:g} Hz from the time column {time_col!r}"
    else:
        raise ECGFormatError(
            f"{name}: the sampling rate is unknown; give it (fs=…, --fs) or add a time column in seconds."
        )

    leads: dict[str, np.ndarray] = {}
    header_units: set[str] = set()
    for h in std_cols:
        lead, unit = _split_unit(h)
        if unit:
            header_units.add(unit.lower().replace("µ", "u").replace("μ", "u"))
        leads[lead] = _numeric(df[h], name, h, decimal_comma=sep == ";")
    if units is None and len(header_units) == 1:
        units = header_units.pop()
        scale = unit_scale_to_mv(units, name)
        note = f"units from the column headers ({ {'uv': 'µV', 'mv': 'mV'}.get(units, units)})"
    else:
        scale, note = amplitude_units(leads.values(), units, name)
    leads = {k: v * scale for k, v in leads.items()}
    return make_record(leads, fs, source_format="csv", source_name=name, units_note=f"{note}; {rate_note}")


def _rows_per_lead(name: str, text: str, sep: str | None, *, fs: float | None, units: str | None) -> ECGRecord:
    """A table with one row per lead: lead name, then the samples."""
    leads: dict[str, np.ndarray] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split(sep) if sep else line.split()
        label = cells[0].strip().strip('"')
        if normalise_lead_name(label) is None:
            continue
        values = [c.strip() for c in cells[1:]]
        try:
            leads[label] = np.array([float(v) if v else np.nan for v in values], dtype=np.float64)
        except ValueError:
            bad = next(v for v in values if v and not _is_number(v))
            raise ECGFormatError(f"{name}: lead {label} contains a non-numeric value {bad[:20]!r}.") from None
        check_samples(name, leads[label].size, what=f"lead {label}")
    if fs is None:
        raise ECGFormatError(f"{name}: the sampling rate is unknown; give it (fs=…, --fs).")
    fs = positive_float(fs, name, "the given sampling rate")
    scale, note = amplitude_units(leads.values(), units, name)
    leads = {k: v * scale for k, v in leads.items()}
    return make_record(leads, fs, source_format="csv", source_name=name, units_note=f"{note}; sampling rate given")


def _numeric(col, name: str, header: str, *, decimal_comma: bool = False) -> np.ndarray:
    """Column of strings -> float64; empty/NaN cells are NaN, text cells are an error."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=np.float64)  # the parser already read every cell as a number
    s = col.astype(str).str.strip()
    if decimal_comma:
        s = s.str.replace(",", ".", regex=False)
    values = pd.to_numeric(s.where(s != "", "nan"), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & ~s.str.lower().isin(["", "nan", "na", "null", "none"]).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ECGFormatError(
            f"{name}: column {header!r} has a non-numeric value {s.iloc[row][:20]!r} in data row {row + 1}."
        )
    return values


# --- NumPy --------------------------------------------------------------------------------------


def _npy_array(name: str, data: bytes) -> np.ndarray:
    """Load one ``.npy`` file from memory after checking its declared size against the bytes present."""
    fobj = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fobj)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fobj)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fobj)
        else:
            raise ValueError(version)
    except (ValueError, SyntaxError, TypeError, tokenize.TokenError):  # numpy parses the header as Python
        raise ECGFormatError(f"{name}: not a readable NumPy array (bad .npy header).") from None
    if dtype.hasobject:
        raise ECGFormatError(f"{name}: NumPy arrays of Python objects are refused for safety.")
    if any(int(d) < 0 for d in shape):
        raise ECGFormatError(f"{name}: not a readable NumPy array (negative shape {shape}).")
    count = math.prod(int(d) for d in shape)  # Python ints: a forged header cannot overflow the size check
    need = count * dtype.itemsize
    header_end = fobj.tell()
    remaining = len(data) - header_end
    if need > remaining:
        raise ECGFormatError(
            f"{name}: the array is truncated: its header declares shape {shape} ({need:,} bytes) "
            f"but {max(remaining, 0):,} bytes follow."
        )
    if need > 4 * MAX_FILE_BYTES:
        raise ECGFormatError(f"{name}: the array is too large ({need / 2**20:.0f} MB).")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header_end)
    return arr.reshape(shape, order="F" if fortran else "C")


def _array_to_leads(arr: np.ndarray, name: str, lead_names=None) -> tuple[dict[str, np.ndarray], str]:
    """Orient a 2-D array as leads x samples and name its rows."""
    if arr.dtype.names:  # structured array with lead-named fields
        return {f: np.asarray(arr[f], dtype=np.float64).reshape(-1) for f in arr.dtype.names}, ""
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ECGFormatError(f"{name}: expected a 2-D array of leads x samples, got shape {arr.shape}.")
    if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.complexfloating)):
        raise ECGFormatError(f"{name}: the array holds {arr.dtype} values, not real numbers.")
    n_names = len(lead_names) if lead_names is not None else None
    if n_names is not None:
        if arr.shape[0] == n_names:
            rows = arr
        elif arr.shape[1] == n_names:
            rows = arr.T
        else:
            raise ECGFormatError(f"{name}: {n_names} lead names do not match an array of shape {arr.shape}.")
        return {str(k): rows[i].astype(np.float64) for i, k in enumerate(lead_names)}, ""
    if arr.shape[0] in (8, 12) and arr.shape[1] > arr.shape[0]:
        rows = arr
    elif arr.shape[1] in (8, 12):
        rows = arr.T
    else:
        raise ECGFormatError(
            f"{name}: an array of shape {arr.shape} is not 12 (or 8) leads; expected (12, n) or (n, 12)."
        )
    names = LEADS if rows.shape[0] == 12 else EIGHT_LEADS
    note = "" if rows.shape[0] == 12 else "8 rows read as I, II, V1–V6; "
    return {k: rows[i].astype(np.float64) for i, k in enumerate(names)}, note


def read_npy(name: str, data: bytes, *, fs: float | None, units: str | None) -> ECGRecord:
    """Read a ``.npy`` array of shape (12, n) or (n, 12) (standard lead order), or (8, n).

    Parameters
    ----------
    name : str
        File name for messages.
    data : bytes
        File content.
    fs : float
        Sampling rate in Hz (required).
    units : {"mV", "uV"}, optional
        Inferred from the amplitudes when not given.
    """
    arr = _npy_array(name, data)
    if fs is None:
        raise ECGFormatError(f"{name}: a NumPy array carries no sampling rate; give it (fs=…, --fs).")
    fs = positive_float(fs, name, "the given sampling rate")
    leads, note = _array_to_leads(arr, name)
    return _finish(name, leads, fs, units, note, "npy", "sampling rate given")


def read_npz(name: str, data: bytes, *, fs: float | None, units: str | None) -> ECGRecord:
    """Read an ``.npz`` archive.

    Recognised entries: one signal array (``signal``, ``ecg``, ``x``, ``data``, ``p_signal``
    or the only 2-D array), or one 1-D array per lead named by lead; optional ``fs``,
    ``leads`` (lead names) and ``units``.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ECGFormatError(f"{name}: not a readable .npz archive (truncated or corrupt).") from None
    if not infos:
        raise ECGFormatError(f"{name}: the .npz archive is empty.")
    if not all(i.filename.endswith(".npy") for i in infos):
        raise ECGFormatError(
            f"{name}: a zip archive that is not a NumPy .npz; unpack it and upload the ECG files themselves."
        )
    total = sum(i.file_size for i in infos)
    # expanded, an archive may hold no more than an uncompressed upload may (keeps peak memory < 300 MB)
    if total > MAX_FILE_BYTES or len(infos) > 256:
        raise ECGFormatError(f"{name}: the .npz archive expands to {total / 2**20:.0f} MB; too large.")
    arrays: dict[str, np.ndarray] = {}
    for info in infos:
        key = info.filename.removesuffix(".npy")
        try:
            with zf.open(info) as f:
                raw = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, EOFError, NotImplementedError, ValueError):
            raise ECGFormatError(f"{name}: entry {key!r} of the .npz archive is corrupt.") from None
        arrays[key] = _npy_array(f"{name} [{key}]", raw)

    for key in ("fs", "units"):
        if key in arrays and np.asarray(arrays[key]).size != 1:
            raise ECGFormatError(f"{name}: the archive's {key!r} entry must hold one value.")
    if "fs" in arrays:
        fs_file = positive_float(np.asarray(arrays.pop("fs")).reshape(-1)[0], name, "the stored sampling rate")
        if fs is not None and abs(float(fs) - fs_file) > 0.01 * fs_file:
            raise ECGFormatError(f"{name}: the given sampling rate {fs:g} Hz disagrees with the stored {fs_file:g} Hz.")
        fs, rate_note = fs_file, "sampling rate from the file"
    elif fs is None:
        raise ECGFormatError(f"{name}: the archive has no 'fs' entry; give the sampling rate (fs=…, --fs).")
    else:
        fs, rate_note = positive_float(fs, name, "the given sampling rate"), "sampling rate given"
    if "units" in arrays:
        stored = str(np.asarray(arrays.pop("units")).reshape(-1)[0])
        if units is None:
            units = stored
    lead_names = None
    for k in ("leads", "lead_names", "sig_name"):
        if k in arrays:
            lead_names = [str(v) for v in np.asarray(arrays.pop(k)).reshape(-1)]
            break
    per_lead = {k: v for k, v in arrays.items() if normalise_lead_name(k) and np.ndim(v) == 1}
    if len(per_lead) >= 2:
        leads, note = {k: np.asarray(v, dtype=np.float64) for k, v in per_lead.items()}, ""
    else:
        key = next((k for k in ("signal", "ecg", "x", "data", "p_signal", "signal_mv") if k in arrays), None)
        if key is None:
            two_d = [k for k, v in arrays.items() if np.ndim(v) == 2]
            if len(two_d) != 1:
                raise ECGFormatError(
                    f"{name}: cannot tell which array is the ECG (entries: {', '.join(sorted(arrays))[:80]})."
                )
            key = two_d[0]
        leads, note = _array_to_leads(arrays[key], name, lead_names)
    return _finish(name, leads, fs, units, note, "npz", rate_note)


def _finish(name, leads, fs, units, note, fmt, rate_note) -> ECGRecord:
    for k, v in leads.items():
        check_samples(name, v.size, what=f"lead {k}")
    scale, unit_note = amplitude_units(leads.values(), units, name)
    leads = {k: v * scale for k, v in leads.items()}
    return make_record(leads, fs, source_format=fmt, source_name=name, units_note=f"{note}{unit_note}; {rate_note}")
