"""WFDB header text (``.hea``): recognising it, parsing it, and the metadata in its comments.

:func:`parse_header` turns the record line and signal lines into a :class:`Header`;
:func:`hfviz.ecg.io.wfdb.read` decodes the signal files it names.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import MAX_CHANNELS, age_years, clean_meta, sex_code

#: WFDB storage formats the reader decodes.
SUPPORTED_FORMATS = (8, 16, 24, 32, 61, 80, 160, 212)

_RECORD_LINE = re.compile(r"^\S+\s+\d+(\s|$)")
_SIGNAL_FMT = re.compile(r"^(\d+)(?:x(\d+))?(?::(-?\d+))?(?:\+(\d+))?$")
_GAIN = re.compile(r"^([-+]?[\d.eE+-]+)(?:\(([-+]?\d+)\))?(?:/(\S+))?$")


@dataclasses.dataclass(frozen=True)
class SignalSpec:
    """One signal line of a WFDB header (fields the reader uses)."""

    file_name: str
    fmt: int
    byte_offset: int
    gain: float  # digital units per physical unit
    baseline: int
    units: str
    init_value: int
    description: str


@dataclasses.dataclass(frozen=True)
class Header:
    """A parsed WFDB header."""

    record_name: str
    n_signals: int
    fs_hz: float
    n_samples: int | None
    base_time: str | None
    base_date: str | None
    signals: tuple[SignalSpec, ...]
    comments: tuple[str, ...]


def looks_like_header(data: bytes) -> bool:
    """Whether ``data`` is plausibly a WFDB header.

    Text whose first non-comment line is a record line (``name nsig [fs [nsamp …]]``) and whose
    next lines start like signal lines (``file format …``, the file name not a number).
    """
    head = data[:8192]
    if b"\x00" in head:
        return False
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    body = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    body = [ln for ln in body if ln]
    if not body or not _RECORD_LINE.match(body[0]):
        return False
    parts = body[0].split()
    if "/" in parts[0]:  # multi-segment record: still WFDB (refused later with a clear message)
        return True
    if len(parts) < 2 or not parts[1].isdigit():
        return False
    n_sig = int(parts[1])
    for line in body[1 : 1 + min(n_sig, 3)]:
        tokens = line.split()
        if len(tokens) < 2 or not _SIGNAL_FMT.match(tokens[1]):
            return False
        try:
            float(tokens[0])
            return False  # a row of numbers, not "file format ..."
        except ValueError:
            pass
    return n_sig == 0 or len(body) > 1


def parse_header(text: str, name: str) -> Header:
    """Parse WFDB header text.

    Parameters
    ----------
    text : str
        Content of the ``.hea`` file.
    name : str
        File name for messages.

    Returns
    -------
    Header

    Raises
    ------
    ECGFormatError
        Malformed record or signal lines, unsupported formats, multi-segment records.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    comments = tuple(ln[1:].strip() for ln in lines if ln.startswith("#"))
    body = [ln.split("#", 1)[0].strip() for ln in lines if ln and not ln.startswith("#")]
    body = [ln for ln in body if ln]
    if not body:
        raise ECGFormatError(f"{name}: the WFDB header has no record line.")
    rec = body[0].split()
    if "/" in rec[0]:
        raise ECGFormatError(f"{name}: multi-segment WFDB records are not supported; upload a single-segment record.")
    try:
        n_signals = int(rec[1])
    except (IndexError, ValueError):
        raise ECGFormatError(f"{name}: the WFDB record line {body[0][:60]!r} has no valid signal count.") from None
    if not 1 <= n_signals <= MAX_CHANNELS:
        raise ECGFormatError(f"{name}: the WFDB header declares {n_signals} signals (expected 1–{MAX_CHANNELS}).")
    fs_hz = 250.0  # WFDB default when the field is absent
    if len(rec) > 2:
        fs_text = rec[2].split("/", 1)[0].split("(", 1)[0]
        try:
            fs_hz = float(fs_text)
        except ValueError:
            raise ECGFormatError(f"{name}: the WFDB sampling rate {rec[2]!r} is not a number.") from None
        if not np.isfinite(fs_hz) or fs_hz <= 0:
            raise ECGFormatError(f"{name}: the WFDB sampling rate {fs_hz:g} Hz is not positive.")
    n_samples = None
    if len(rec) > 3:
        try:
            n_samples = int(rec[3])
        except ValueError:
            raise ECGFormatError(f"{name}: the WFDB sample count {rec[3]!r} is not an integer.") from None
        if n_samples < 0:
            raise ECGFormatError(f"{name}: the WFDB sample count {n_samples} is negative.")
        if n_samples == 0:
            n_samples = None  # 0 means "not stated"
    base_time = rec[4] if len(rec) > 4 else None
    base_date = rec[5] if len(rec) > 5 else None

    sig_lines = body[1:]
    if len(sig_lines) < n_signals:
        raise ECGFormatError(
            f"{name}: the WFDB header declares {n_signals} signals but has {len(sig_lines)} signal lines."
        )
    signals = tuple(_parse_signal_line(ln, name, i) for i, ln in enumerate(sig_lines[:n_signals]))
    return Header(rec[0], n_signals, fs_hz, n_samples, base_time, base_date, signals, comments)


def _parse_signal_line(line: str, name: str, index: int) -> SignalSpec:
    parts = line.split(maxsplit=8)
    where = f"signal line {index + 1} of the WFDB header"
    if len(parts) < 2:
        raise ECGFormatError(f"{name}: {where} has no storage format.")
    m = _SIGNAL_FMT.match(parts[1])
    if not m:
        raise ECGFormatError(f"{name}: {where} has an invalid storage format {parts[1]!r}.")
    fmt = int(m.group(1))
    spf = int(m.group(2) or 1)
    offset = int(m.group(4) or 0)
    if fmt not in SUPPORTED_FORMATS:
        raise ECGFormatError(
            f"{name}: WFDB storage format {fmt} is not supported (supported: "
            f"{', '.join(map(str, SUPPORTED_FORMATS))})."
        )
    if spf != 1:
        raise ECGFormatError(f"{name}: multi-frequency WFDB records ({spf} samples per frame) are not supported.")
    gain, baseline, units = 200.0, None, "mV"
    if len(parts) > 2:
        g = _GAIN.match(parts[2])
        if not g:
            raise ECGFormatError(f"{name}: {where} has an invalid gain {parts[2]!r}.")
        try:
            gain = float(g.group(1))
        except ValueError:
            raise ECGFormatError(f"{name}: {where} has an invalid gain {parts[2]!r}.") from None
        if gain == 0:
            gain = 200.0  # WFDB: zero gain means the default
        if not np.isfinite(gain) or gain < 0:
            raise ECGFormatError(f"{name}: {where} has an invalid gain {gain:g} (must be positive).")
        if g.group(2) is not None:
            baseline = int(g.group(2))
        if g.group(3):
            units = g.group(3)
    ints = []
    for field in parts[3:7]:
        try:
            ints.append(int(field))
        except ValueError:
            raise ECGFormatError(f"{name}: {where} has a non-integer field {field!r}.") from None
    adc_zero = ints[1] if len(ints) > 1 else 0
    init_value = ints[2] if len(ints) > 2 else adc_zero
    description = parts[8].strip() if len(parts) > 8 else ""
    if baseline is None:
        baseline = adc_zero
    return SignalSpec(parts[0], fmt, offset, gain, baseline, units, init_value, description)


def signal_file_names(header_text: str) -> list[str]:
    """Signal file names a header refers to (best effort; empty on a malformed header)."""
    try:
        hdr = parse_header(header_text, "header")
    except ECGFormatError:
        return []
    return list(dict.fromkeys(s.file_name for s in hdr.signals))


def header_meta(hdr: Header) -> dict:
    """Age, sex, diagnoses, acquisition time and a synthetic-data mark from WFDB header comments."""
    meta: dict = {}
    interp: list[str] = []
    free: list[str] = []
    in_dx_block = False
    for c in hdr.comments:
        if not c:
            in_dx_block = False
            continue
        m = re.match(r"^<?([A-Za-z][^:>]*)>?\s*:\s*(.*)$", c)
        key = m.group(1).strip().lower() if m else ""
        value = m.group(2).strip() if m else c
        if key == "age":
            meta["age"] = age_years(value)
        elif key == "sex":
            meta["sex"] = sex_code(value)
        elif key == "dx":
            if value and value.lower() != "unknown":
                interp.append(f"SNOMED-CT codes: {value}")
        elif key in ("diagnoses", "diagnose", "diagnosis"):
            in_dx_block = True
            if value:
                interp.append(value)
        elif key in ("ecg date", "date"):
            meta["acquired"] = value
        elif "name" in key:
            continue  # never keep names
        elif key.startswith(("reason for admission", "acute infarction", "former infarction", "additional diagnoses")):
            if value and value.lower() not in ("n/a", "no"):
                interp.append(f"{m.group(1).strip()}: {value}")
        elif m and not value:
            in_dx_block = False  # a new section heading such as "Hemodynamics:"
        elif in_dx_block and not m:
            interp.append(c.rstrip("."))
        elif in_dx_block and m and value:
            interp.append(f"{m.group(1).strip()}: {value}")
        else:
            free.append(c)
    if interp:
        meta["interpretation"] = "; ".join(interp)
    if any("synthetic" in c.lower() for c in free):
        meta["synthetic"] = True  # e.g. "# SYNTHETIC ECG (hfviz simulator)" from hfviz.synthetic.files
    if "acquired" not in meta and hdr.base_date:
        meta["acquired"] = f"{hdr.base_date} {hdr.base_time or ''}".strip()
    return clean_meta(meta)
