"""WFDB records (PhysioNet): a ``.hea`` header with ``.dat`` or ``.mat`` signal files.

The header is parsed from text (:mod:`hfviz.ecg.io._wfdb_header`) and the signal bytes are
decoded here with NumPy, so uploaded files never touch the disk. Supported storage formats:
8, 16, 61, 80, 160, 212, 24, 32, and MATLAB ``.mat`` signal files (PhysioNet/CinC 2020–2021
layout, read with :func:`scipy.io.loadmat` from memory). Gains, baselines and units (mV, µV,
V) come from the header; channels that are not standard 12-lead names (e.g. Frank
``vx vy vz``) are ignored, and their signal file may be left out.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import NamedBytes, check_samples, unit_scale_to_mv
from hfviz.ecg.io._wfdb_header import Header, header_meta, parse_header
from hfviz.ecg.record import ECGRecord, make_record, normalise_lead_name

#: Bytes per sample of the byte-aligned formats and their NumPy dtype.
_SIMPLE_FORMATS = {16: "<i2", 61: ">i2", 80: "u1", 160: "<u2", 32: "<i4", 8: "i1"}
#: Digital value that marks an invalid sample, per format.
_INVALID = {16: -32768, 61: -32768, 80: -128, 160: -32768, 212: -2048, 24: -(2**23), 32: -(2**31)}


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


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read a WFDB record from its header and signal files, all in memory.

    Parameters
    ----------
    files : sequence of (str, bytes)
        The ``.hea`` header first, then the signal files; these are matched to the header's
        signal lines by file name (case-insensitive as a fallback).
    fs, units : optional
        Ignored: the header states the sampling rate, gains and units.

    Returns
    -------
    ECGRecord
        ``source_format="wfdb"``; units from the header (mV, µV or V).
    """
    (hname, hdata), others = files[0], files[1:]
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
        found = _find_file(others, file_name)
        if found is None:
            if not any(normalise_lead_name(hdr.signals[i].description) for i in idx):
                continue  # e.g. the Frank-lead .xyz file of PTB records: not needed
            raise ECGFormatError(
                f"{hname}: the header refers to signal file {file_name!r}, which was not given; "
                "provide it together with the .hea file."
            )
        digital = _digital_signals(hdr, idx, found, hname)
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
        meta=header_meta(hdr),
    )


def _digital_signals(hdr: Header, idx: list[int], file: NamedBytes, hname: str) -> np.ndarray:
    """Digital samples of the header's signals ``idx``, all stored in ``file``.

    Returns
    -------
    ndarray, shape (n_samples, len(idx)), float64
        Digital values (format 8 first differences already summed); NaN marks invalid samples.
    """
    fname, data = file
    fmts = {hdr.signals[i].fmt for i in idx}
    offsets = {hdr.signals[i].byte_offset for i in idx}
    if len(fmts) != 1 or len(offsets) != 1:
        raise ECGFormatError(f"{hname}: signals stored in {fname} use mixed formats, which is not supported.")
    fmt, offset = fmts.pop(), offsets.pop()
    if hdr.signals[idx[0]].file_name.lower().endswith(".mat"):
        return _decode_mat(data, len(idx), hdr.n_samples, fname).astype(np.float64)
    if offset > len(data):
        raise ECGFormatError(f"{fname}: the file is shorter than the header's byte offset {offset}.")
    digital = _decode(data[offset:], fmt, len(idx), hdr.n_samples, fname)
    if fmt == 8:  # first differences
        init = np.array([hdr.signals[i].init_value for i in idx], dtype=np.float64)
        digital = np.cumsum(digital, axis=0) + init
    return digital
