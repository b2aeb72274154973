"""MATLAB v5 ``.mat`` files holding a CPSC 2018 struct ``ECG{sex, age, data}``.

The China Physiological Signal Challenge 2018 distributes each 12-lead ECG as a MATLAB v5
file with one struct: ``data`` is 12 x N values in mV (leads I, II, III, aVR, aVL, aVF,
V1-V6), sampled at 500 Hz by the challenge's definition; neither rate nor units are in the
file. The rate is therefore the ``fs`` given by the caller, or 500 Hz when the struct layout
is recognised; the record's ``units_note`` says which.

MATLAB files are usually zlib-compressed element by element. Each compressed element is
inflated with a cap (:data:`MAX_INFLATED_BYTES`, enough for
``MAX_TOTAL_SAMPLES`` float64 values) before :func:`scipy.io.loadmat` sees the bytes, so a
crafted file cannot expand without bound. A MATLAB file without such a struct (e.g. the
``val`` matrix of a WFDB record) gets one sentence naming what is missing.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import (
    MAX_TOTAL_SAMPLES,
    NamedBytes,
    age_years,
    check_samples,
    clean_meta,
    positive_float,
    sex_code,
    unit_scale_to_mv,
)
from hfviz.ecg.record import LEADS, ECGRecord, make_record

#: Sampling rate of CPSC 2018 records (by the challenge's definition; not stored in the files).
CPSC_FS_HZ = 500.0
#: Largest number of bytes all elements of a MATLAB file may hold once inflated.
MAX_INFLATED_BYTES = MAX_TOTAL_SAMPLES * 8 + 65_536
_MI_COMPRESSED = 15


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read a CPSC 2018 MATLAB struct ``ECG{sex, age, data}`` from memory.

    Parameters
    ----------
    files : sequence of (str, bytes)
        One MATLAB file: its name (for messages) and content.
    fs : float, optional
        Sampling rate in Hz; 500 Hz (the CPSC 2018 rate) when omitted.
    units : {"mV", "uV"}, optional
        Amplitude units of ``data``; mV (the CPSC 2018 units) when omitted.

    Returns
    -------
    ECGRecord
        ``source_format="matlab"``; age and sex from the struct.

    Raises
    ------
    ECGFormatError
        Not a MATLAB v5 file, no struct with a 12 x N numeric ``data`` field, a crafted
        compressed element, or anything :func:`~hfviz.ecg.record.make_record` refuses.
    """
    name, data = files[0]
    if not data[:10].startswith(b"MATLAB 5.0"):
        raise ECGFormatError(
            f"{name}: a MATLAB signal file has no sampling rate or gains; upload it together with its "
            "WFDB .hea header (or save a CPSC-style struct ECG with fields sex, age, data as MATLAB v5)."
        )
    variables = _load(name, data)
    struct_name, struct = _find_struct(variables)
    if struct is None:
        found = ", ".join(sorted(variables)[:6]) or "none"
        raise ECGFormatError(
            f"{name}: no struct with a 12 x N numeric 'data' field (the CPSC 2018 layout ECG{{sex, age, data}}) "
            f"was found (variables: {found}); a plain signal matrix needs its WFDB .hea header."
        )
    signal = np.asarray(struct["data"], dtype=np.float64)
    if signal.shape[0] != 12:
        signal = signal.T
    check_samples(name, signal.shape[1])
    rate = positive_float(fs, name, "sampling rate") if fs is not None else CPSC_FS_HZ
    scale = unit_scale_to_mv(units, name) if units is not None else 1.0
    rate_note = f"sampling rate given as {rate:g} Hz" if fs is not None else (
        f"sampling rate {CPSC_FS_HZ:g} Hz assumed (CPSC 2018 layout recognised; the file states no rate; give fs if wrong)"
    )
    unit_note = f"units given as {units}" if units is not None else "units mV by the CPSC 2018 definition"
    meta = {"age": age_years(_scalar(struct.get("age"))), "sex": sex_code(_scalar(struct.get("sex")))}
    return make_record(
        {lead: signal[i] * scale for i, lead in enumerate(LEADS)},
        rate,
        source_format="matlab",
        source_name=name,
        units_note=f"{unit_note}; {rate_note}; struct {struct_name!r}",
        meta=clean_meta(meta),
    )


def _load(name: str, data: bytes) -> dict:
    """The file's variables, via :func:`scipy.io.loadmat` on capped, inflated bytes."""
    order = "little" if data[126:128] == b"IM" else "big"
    if data[126:128] not in (b"IM", b"MI"):
        raise ECGFormatError(f"{name}: the MATLAB v5 header is invalid (no byte-order mark).")
    out = bytearray(data[:128])
    pos = 128
    while pos + 8 <= len(data):
        dtype = int.from_bytes(data[pos : pos + 4], order)
        size = int.from_bytes(data[pos + 4 : pos + 8], order)
        body = data[pos + 8 : pos + 8 + size]
        if len(body) < size:
            raise ECGFormatError(f"{name}: the MATLAB file is truncated.")
        if dtype == _MI_COMPRESSED:
            out += _inflate(name, body, MAX_INFLATED_BYTES - len(out))
        else:
            out += data[pos : pos + 8 + size + (-size % 8)]
        if len(out) > MAX_INFLATED_BYTES:
            raise ECGFormatError(
                f"{name}: the MATLAB file holds more than {MAX_INFLATED_BYTES:,} bytes of data; "
                "at most 60 s of 12 leads at 1000 Hz are accepted."
            )
        pos += 8 + size + (0 if dtype == _MI_COMPRESSED else -size % 8)
    import scipy.io

    try:
        mat = scipy.io.loadmat(io.BytesIO(bytes(out)), squeeze_me=False)
    except Exception:  # noqa: BLE001 - scipy raises many types for damaged files
        raise ECGFormatError(f"{name}: not a readable MATLAB file (truncated or corrupt).") from None
    return {k: v for k, v in mat.items() if not k.startswith("__")}


def _inflate(name: str, body: bytes, limit: int) -> bytes:
    """Inflate one compressed element, refusing output beyond ``limit`` bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, max(limit, 0) + 1)
    except zlib.error:
        raise ECGFormatError(f"{name}: a compressed element of the MATLAB file is corrupt.") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ECGFormatError(
            f"{name}: a compressed element of the MATLAB file expands beyond {MAX_INFLATED_BYTES:,} bytes; "
            "at most 60 s of 12 leads at 1000 Hz are accepted."
        )
    return out


def _find_struct(variables: dict) -> tuple[str, dict | None]:
    """The first struct variable whose ``data`` field is a numeric 12 x N (or N x 12) matrix."""
    for key, value in variables.items():
        if not isinstance(value, np.ndarray) or value.dtype.names is None or value.size != 1:
            continue
        fields = {f: value[f].reshape(-1)[0] for f in value.dtype.names}
        sig = fields.get("data")
        if (
            isinstance(sig, np.ndarray) and sig.ndim == 2 and np.issubdtype(sig.dtype, np.number)
            and not np.issubdtype(sig.dtype, np.complexfloating) and 12 in sig.shape
        ):
            return key, fields
    return "", None


def _scalar(value) -> str | None:
    """A struct field such as ``array(['Male'])`` or ``array([[52]])`` as text."""
    if value is None:
        return None
    arr = np.asarray(value).reshape(-1)
    if arr.size != 1:
        return None
    item = arr[0]
    if isinstance(item, np.ndarray):
        return _scalar(item)
    return str(item)
