"""WFDB records (PhysioNet): a ``.hea`` header with ``.dat`` or ``.mat`` signal files.

The header is parsed here from text and the signal bytes are decoded with NumPy, so
uploaded files never touch the disk. Supported storage formats: 8, 16, 61, 80, 160, 212,
24, 32, and MATLAB ``.mat`` signal files (PhysioNet/CinC 2020–2021 layout, read with
:func:`scipy.io.loadmat` from memory). Gains, baselines and units (mV, µV, V) come from the
header; channels that are not standard 12-lead names (e.g. Frank ``vx vy vz``) are ignored,
and their signal file may be left out.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Sequence

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.io._common import (
    MAX_CHANNELS,
    NamedBytes,
    age_years,
    check_samples,
    clean_meta,
    sex_code,
    unit_scale_to_mv,
)
from hfviz.record import ECGRecord, make_record, normalise_lead_name

#: Bytes per sample of the byte-aligned formats and their NumPy dtype.
_SIMPLE_FORMATS = {16: "<i2", 61: ">i2", 80: "u1", 160: "<u2", 32: "<i4", 8: "i1"}
SUPPORTED_FORMATS = (8, 16, 24, 32, 61, 80, 160, 212)
#: Digital value that marks an invalid sample, per format.
_INVALID = {16: -32768, 61: -32768, 80: -128, 160: -32768, 212: -2048, 24: -(2**23), 32: -(2**31)}

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


def _decode(data: bytes, fmt: int, n_sig: int, n_samples: int | None, name: str) -> np.ndarray:
    """Decode interleaved digital samples.

    Returns
    -------
    ndarray, shape (n_samples, n_sig), float64
        Digital values; samples holding the format's "invalid" code are NaN. Format 8
        (first differences) is returned as differences.
    """
    if fmt in _SIMPLE_FORMATS:
        dtype = np.dtype(_SIMPLE_FORMATS[fmt])
        frame_bytes = dtype.itemsize * n_sig
    elif fmt == 24:
        frame_bytes = 3 * n_sig
    else:  # 212: two samples in three bytes
        frame_bytes = 1.5 * n_sig
    available = int(len(data) // frame_bytes)
    if n_samples is None:
        n_samples = available
    check_samples(name, n_samples)
    if available < n_samples:
        raise ECGFormatError(
            f"{name}: the signal file is truncated: the header declares {n_samples:,} samples per signal "
            f"but the file holds {available:,}."
        )
    total = n_samples * n_sig
    if fmt in _SIMPLE_FORMATS:
        raw = np.frombuffer(data, dtype=dtype, count=total)
        out = raw.astype(np.float64)
        if fmt == 80:
            out -= 128
        elif fmt == 160:
            out -= 32768
    elif fmt == 24:
        b = np.frombuffer(data, dtype=np.uint8, count=3 * total).reshape(-1, 3).astype(np.int32)
        raw = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        raw = np.where(raw >= 2**23, raw - 2**24, raw)
        out = raw.astype(np.float64)
    else:
        n_bytes = (total * 3 + 1) // 2
        b = np.frombuffer(data, dtype=np.uint8, count=n_bytes).astype(np.int32)
        if b.size % 3:
            b = np.concatenate([b, np.zeros(3 - b.size % 3, dtype=np.int32)])
        b = b.reshape(-1, 3)
        raw = np.empty(2 * b.shape[0], dtype=np.int32)
        raw[0::2] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        raw[1::2] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        raw = raw[:total]
        raw = np.where(raw >= 2048, raw - 4096, raw)
        out = raw.astype(np.float64)
    invalid = _INVALID.get(fmt)
    if invalid is not None:
        out[out == invalid] = np.nan
    return out.reshape(n_samples, n_sig)


_MAT4_TYPES = {0: "f8", 1: "f4", 2: "i4", 3: "i2", 4: "u2", 5: "u1"}


def _mat4_matrix(data: bytes, name: str) -> np.ndarray | None:
    """Parse the first matrix of a MATLAB v4 file by hand; ``None`` when not MAT v4.

    The declared dimensions are checked against the bytes present before anything is
    allocated. Returns shape (mrows, ncols) in the stored type.
    """
    if len(data) < 20:
        return None
    for order in ("<", ">"):
        mopt, mrows, ncols, imagf, namlen = np.frombuffer(data, dtype=order + "i4", count=5).tolist()
        m, o, p, t = mopt // 1000, (mopt // 100) % 10, (mopt // 10) % 10, mopt % 10
        if 0 <= mopt < 5000 and m == (0 if order == "<" else 1) and o == 0 and p in _MAT4_TYPES and t == 0:
            break
    else:
        return None
    if mrows <= 0 or ncols <= 0 or namlen <= 0 or namlen > 64 or imagf not in (0, 1):
        raise ECGFormatError(f"{name}: the MATLAB v4 header is invalid (shape {mrows} x {ncols}).")
    dtype = np.dtype(order + _MAT4_TYPES[p])
    start = 20 + namlen
    need = mrows * ncols * dtype.itemsize
    if len(data) - start < need:
        raise ECGFormatError(
            f"{name}: the signal file is truncated: it declares a {mrows} x {ncols} matrix "
            f"({need:,} bytes) but holds {max(len(data) - start, 0):,} bytes."
        )
    flat = np.frombuffer(data, dtype=dtype, count=mrows * ncols, offset=start)
    return flat.reshape(ncols, mrows).T  # column-major


def _mat5_has_compressed(data: bytes) -> bool:
    """Whether any top-level element of a MATLAB v5 file is zlib-compressed (type 15)."""
    order = "little" if data[126:128] == b"IM" else "big"
    pos = 128
    while pos + 8 <= len(data):
        dtype = int.from_bytes(data[pos : pos + 4], order)
        size = int.from_bytes(data[pos + 4 : pos + 8], order)
        if dtype == 15:
            return True
        pos += 8 + size + (-size % 8)
    return False


def _decode_mat(data: bytes, n_sig: int, n_samples: int | None, name: str) -> np.ndarray:
    """Read the signal matrix of a MATLAB signal file from memory.

    MATLAB v4 (PhysioNet/CinC layout) is parsed by hand; uncompressed v5 files go through
    :func:`scipy.io.loadmat` on a ``BytesIO``; compressed v5 files are refused (they could
    expand without bound).

    Returns
    -------
    ndarray, shape (n_samples, n_sig)
        Digital values in the stored type.
    """
    if n_samples is not None:
        check_samples(name, n_samples)
    val = _mat4_matrix(data, name)
    if val is None:
        if not data[:10].startswith(b"MATLAB 5.0"):
            raise ECGFormatError(f"{name}: not a MATLAB signal file (neither v4 nor v5).")
        if _mat5_has_compressed(data):
            raise ECGFormatError(f"{name}: compressed MATLAB v5 files are not supported; save the signal as MATLAB v4.")
        import scipy.io

        try:
            mat = scipy.io.loadmat(io.BytesIO(data))
        except Exception:
            raise ECGFormatError(f"{name}: not a readable MATLAB signal file (truncated or corrupt).") from None
        arrays = {k: v for k, v in mat.items() if not k.startswith("__") and isinstance(v, np.ndarray)}
        val = arrays.get("val")
        if val is None and len(arrays) == 1:
            val = next(iter(arrays.values()))
        if val is None or val.ndim != 2 or not np.issubdtype(val.dtype, np.number):
            raise ECGFormatError(f"{name}: the MATLAB file has no numeric 'val' matrix.")
    if val.shape[0] == n_sig:
        val = val.T
    elif val.shape[1] != n_sig:
        raise ECGFormatError(
            f"{name}: the MATLAB matrix has shape {val.shape} but the header declares {n_sig} signals."
        )
    if n_samples is not None:
        if val.shape[0] < n_samples:
            raise ECGFormatError(
                f"{name}: the signal file is truncated: the header declares {n_samples:,} samples per signal "
                f"but the file holds {val.shape[0]:,}."
            )
        val = val[:n_samples]
    check_samples(name, val.shape[0])
    return val


def _find_file(files: Sequence[NamedBytes], wanted: str) -> NamedBytes | None:
    base = re.split(r"[\\/]", wanted)[-1]
    for fname, data in files:
        if fname == base:
            return fname, data
    for fname, data in files:
        if fname.lower() == base.lower():
            return fname, data
    return None


def read(header: NamedBytes, others: Sequence[NamedBytes]) -> ECGRecord:
    """Read a WFDB record from its header and signal files, all in memory.

    Parameters
    ----------
    header : (str, bytes)
        The ``.hea`` file.
    others : sequence of (str, bytes)
        Signal files; matched to the header's signal lines by file name (case-insensitive
        as a fallback).

    Returns
    -------
    ECGRecord
        ``source_format="wfdb"``; units from the header (mV, µV or V).
    """
    hname, hdata = header
    try:
        text = hdata.decode("latin-1")
    except Exception:  # pragma: no cover - latin-1 decodes any bytes
        raise ECGFormatError(f"{hname}: the WFDB header is not text.") from None
    hdr = parse_header(text, hname)

    by_file: dict[str, list[int]] = {}
    for i, s in enumerate(hdr.signals):
        by_file.setdefault(s.file_name, []).append(i)

    leads: dict[str, np.ndarray] = {}
    unit_notes: set[str] = set()
    for file_name, idx in by_file.items():
        wanted_std = [normalise_lead_name(hdr.signals[i].description) for i in idx]
        found = _find_file(others, file_name)
        if found is None:
            if not any(wanted_std):
                continue  # e.g. the Frank-lead .xyz file of PTB records: not needed
            raise ECGFormatError(
                f"{hname}: the header refers to signal file {file_name!r}, which was not given; "
                "provide it together with the .hea file."
            )
        fname, data = found
        fmts = {hdr.signals[i].fmt for i in idx}
        offsets = {hdr.signals[i].byte_offset for i in idx}
        if len(fmts) != 1 or len(offsets) != 1:
            raise ECGFormatError(f"{hname}: signals stored in {fname} use mixed formats, which is not supported.")
        fmt, offset = fmts.pop(), offsets.pop()
        if file_name.lower().endswith(".mat"):
            digital = _decode_mat(data, len(idx), hdr.n_samples, fname).astype(np.float64)
        else:
            if offset > len(data):
                raise ECGFormatError(f"{fname}: the file is shorter than the header's byte offset {offset}.")
            digital = _decode(data[offset:], fmt, len(idx), hdr.n_samples, fname)
            if fmt == 8:  # first differences
                init = np.array([hdr.signals[i].init_value for i in idx], dtype=np.float64)
                digital = np.cumsum(digital, axis=0) + init
        for col, i in enumerate(idx):
            spec = hdr.signals[i]
            label = spec.description or f"signal {i + 1}"
            if normalise_lead_name(label) is None:
                continue
            scale = unit_scale_to_mv(spec.units, hname, what=f"lead {label}")
            unit_notes.add(spec.units)
            leads[label] = (digital[:, col] - spec.baseline) / spec.gain * scale

    if not leads:
        names = ", ".join(s.description or "?" for s in hdr.signals)
        raise ECGFormatError(f"{hname}: no standard ECG leads found among the WFDB signals ({names}).")
    n = {v.shape[0] for v in leads.values()}
    if len(n) > 1:  # different signal files of unequal length: keep the common part
        m = min(n)
        leads = {k: v[:m] for k, v in leads.items()}
    units_note = "units from the WFDB header (" + ", ".join(sorted(unit_notes)) + ")"
    return make_record(
        leads,
        hdr.fs_hz,
        source_format="wfdb",
        source_name=hname,
        units_note=units_note,
        meta=_meta(hdr),
    )


def _meta(hdr: Header) -> dict:
    """Age, sex, diagnoses and acquisition time from WFDB header comments."""
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
    if "acquired" not in meta and hdr.base_date:
        meta["acquired"] = f"{hdr.base_date} {hdr.base_time or ''}".strip()
    return clean_meta(meta)
