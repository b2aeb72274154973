"""CSV/TSV tables of leads: a header row of lead names, or one row per lead.

A table does not say what its numbers mean, so the caller supplies what is missing:

* sampling rate — the ``fs`` argument, or a time column (``time``/``t``/``seconds`` in s,
  ``time_ms``/``ms`` in ms);
* units — the ``units`` argument (``"mV"``/``"uV"``), a unit in the column header
  (``"II (uV)"``), or else inferred from the amplitudes (the inference is stated in
  ``units_note``).

NumPy arrays are read by :mod:`hfviz.ecg.io.npy` and :mod:`hfviz.ecg.io.npz`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import (
    NamedBytes,
    amplitude_units,
    check_samples,
    is_number,
    positive_float,
    unit_scale_to_mv,
)
from hfviz.ecg.record import ECGRecord, make_record, normalise_lead_name

_TIME_COLUMNS = {"time": 1.0, "t": 1.0, "time_s": 1.0, "time (s)": 1.0, "seconds": 1.0, "sec": 1.0, "s": 1.0,
                 "time_ms": 1e-3, "time (ms)": 1e-3, "ms": 1e-3, "t_ms": 1e-3, "timestamp": 1.0}
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


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read a CSV/TSV table of leads: one column per lead (or one row per lead).

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content (UTF-8 or Latin-1 text).
    fs : float, optional
        Sampling rate in Hz; needed unless the table has a time column.
    units : {"mV", "uV"}, optional
        Amplitude units; from the column headers (``"II (uV)"``) or inferred from the
        amplitudes when not given.

    Returns
    -------
    ECGRecord
        ``source_format="csv"``.
    """
    name, data = files[0]
    first_line = _first_line(data)
    if first_line is None:
        raise ECGFormatError(f"{name}: the table has no rows.")
    if b"\x00" in data[:65536]:
        raise ECGFormatError(f"{name}: the file holds binary data, not a text table (a \"Unicode text\" export from "
                             "a spreadsheet is UTF-16: save it as CSV UTF-8 instead).")
    sep = _delimiter(first_line)
    df = _parse_table(name, data, sep)
    headers = [str(c) for c in df.columns]
    std_cols = [h for h in headers if normalise_lead_name(_split_unit(h)[0])]
    if _is_rows_per_lead(first_line, sep, df):
        return _rows_per_lead(name, data.decode("latin-1"), sep, fs=fs, units=units)
    if not std_cols:
        if all(is_number(h) for h in headers):
            raise ECGFormatError(
                f"{name}: the table has no header row; the first row must name the leads (I, II, V1 …)."
            )
        raise ECGFormatError(
            f"{name}: no standard lead names in the header ({', '.join(h[:12] for h in headers[:8])})."
        )
    check_samples(name, len(df), what="table")
    fs, rate_note = _sampling_rate(df, name, fs, decimal_comma=sep == ";")
    leads, note = _column_leads(df, std_cols, name, units, decimal_comma=sep == ";")
    return make_record(leads, fs, source_format="csv", source_name=name, units_note=f"{note}; {rate_note}")


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def _parse_problem(message: str) -> str:
    """The table parser's complaint in a user's words (never the parser's own jargon)."""
    if m := _FIELDS.search(message):
        expected, line, saw = m.groups()
        return (f"line {line} has {saw} values where the rows before it have {expected}; "
                "every row needs one value per column.")
    if m := _OPEN_QUOTE.search(message):
        return f"a quotation mark opened on line {int(m.group(1)) + 1} is never closed."
    return "the table could not be read as comma-, semicolon-, tab- or space-separated values."


def _parse_table(name: str, data: bytes, sep: str | None):
    """Parse the table with pandas (UTF-8, else Latin-1); returns a ``pandas.DataFrame``."""
    import pandas as pd

    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return pd.read_csv(
                io.BytesIO(data),  # parsed from the bytes directly: no text copies of a large file
                sep=sep if sep else r"\s+",
                engine="c",
                comment="#",
                skip_blank_lines=True,
                keep_default_na=False,
                decimal="," if sep == ";" else ".",
                encoding=encoding,
            )
        except UnicodeDecodeError:
            continue
        except Exception as exc:
            raise ECGFormatError(f"{name}: {_parse_problem(str(exc))}") from None
    raise ECGFormatError(f"{name}: the table is not readable text.")  # pragma: no cover - latin-1 decodes any bytes


def _is_rows_per_lead(first_line: str, sep: str | None, df) -> bool:
    """Whether the table holds one row per lead: lead names in the first column, numbers after."""
    raw_first = [c.strip().strip('"') for c in (first_line.split(sep) if sep else first_line.split())]
    if len(raw_first) >= 3 and sum(is_number(h) for h in raw_first[1:]) > (len(raw_first) - 1) / 2:
        first = [raw_first[0]] + [str(v) for v in df.iloc[:, 0]]
        return sum(normalise_lead_name(v.strip().strip('"')) is not None for v in first) >= 2
    return False


def _sampling_rate(df, name: str, fs: float | None, *, decimal_comma: bool) -> tuple[float, str]:
    """Sampling rate in Hz (given, or from a time column) and a note saying where it came from.

    Raises
    ------
    ECGFormatError
        No rate given and no time column, a time column that does not increase, or a given
        rate that disagrees with the time column by more than 1 %.
    """
    headers = [str(c) for c in df.columns]
    time_fs = None
    lower = {h: _split_unit(h)[0].lower() for h in headers}
    time_col = next((h for h in headers if lower[h] in _TIME_COLUMNS), None)
    if time_col is not None:
        t = _numeric(df[time_col], name, time_col, decimal_comma=decimal_comma)
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
        return fs, "sampling rate given"
    if time_fs is not None:
        fs = round(time_fs, 3)
        return fs, f"sampling rate {fs:g} Hz from the time column {time_col!r}"
    raise ECGFormatError(
        f"{name}: the sampling rate is unknown; give it (fs=…, --fs) or add a time column in seconds."
    )


def _column_leads(
    df, columns: list[str], name: str, units: str | None, *, decimal_comma: bool
) -> tuple[dict[str, np.ndarray], str]:
    """Lead columns in mV, keyed by lead label, and a note on how the units were decided.

    Units come from ``units`` when given, else from the column headers when they all name
    the same unit, else from the amplitudes (:func:`~hfviz.ecg.io._common.amplitude_units`).
    """
    leads: dict[str, np.ndarray] = {}
    header_units: set[str] = set()
    for h in columns:
        lead, unit = _split_unit(h)
        if unit:
            header_units.add(unit.lower().replace("µ", "u").replace("μ", "u"))
        leads[lead] = _numeric(df[h], name, h, decimal_comma=decimal_comma)
    if units is None and len(header_units) == 1:
        units = header_units.pop()
        scale = unit_scale_to_mv(units, name)
        note = f"units from the column headers ({ {'uv': 'µV', 'mv': 'mV'}.get(units, units)})"
    else:
        scale, note = amplitude_units(leads.values(), units, name)
    return {k: v * scale for k, v in leads.items()}, note


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
            bad = next(v for v in values if v and not is_number(v))
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
