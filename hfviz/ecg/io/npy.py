"""NumPy ``.npy`` arrays of 12 (or 8) leads, and the array helpers :mod:`hfviz.ecg.io.npz` shares.

An array says nothing about its sampling rate (the ``fs`` argument is required) or units
(the ``units`` argument, else inferred from the amplitudes and stated in ``units_note``).
A bare array of 12 rows is in :data:`~hfviz.ecg.record.LEADS` order; 8 rows are read as
I, II, V1–V6 (the limb leads III, aVR, aVL, aVF are then derived).
"""

from __future__ import annotations

import io
import math
import tokenize
from collections.abc import Sequence

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import MAX_FILE_BYTES, NamedBytes, amplitude_units, check_samples, positive_float
from hfviz.ecg.record import LEADS, ECGRecord, make_record

#: Row names of a bare 8-lead array (the independent leads).
EIGHT_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read a ``.npy`` array of shape (12, n) or (n, 12) (standard lead order), or (8, n).

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content.
    fs : float
        Sampling rate in Hz (required).
    units : {"mV", "uV"}, optional
        Inferred from the amplitudes when not given.

    Returns
    -------
    ECGRecord
        ``source_format="npy"``.
    """
    name, data = files[0]
    arr = npy_array(name, data)
    if fs is None:
        raise ECGFormatError(f"{name}: a NumPy array carries no sampling rate; give it (fs=…, --fs).")
    fs = positive_float(fs, name, "the given sampling rate")
    leads, note = array_to_leads(arr, name)
    return finish_record(name, leads, fs, units, note, "npy", "sampling rate given")


def npy_array(name: str, data: bytes) -> np.ndarray:
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


def array_to_leads(
    arr: np.ndarray, name: str, lead_names: Sequence[str] | None = None
) -> tuple[dict[str, np.ndarray], str]:
    """Orient an array as leads x samples and name its rows.

    Parameters
    ----------
    arr : ndarray, shape (L, n), (n, L) or (1, L, n), or a structured array with lead-named fields
        Signals in the file's units.
    name : str
        File name for messages.
    lead_names : sequence of str, optional
        Names of the ``L`` leads; without them ``L`` must be 12 (:data:`LEADS` order) or 8
        (:data:`EIGHT_LEADS`).

    Returns
    -------
    leads : dict of str to ndarray, each shape (n,), float64
    note : str
        ``""``, or how 8 rows were named (starts the record's ``units_note``).
    """
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


def finish_record(
    name: str,
    leads: dict[str, np.ndarray],
    fs: float,
    units: str | None,
    note: str,
    fmt: str,
    rate_note: str,
) -> ECGRecord:
    """Scale unlabelled amplitudes to mV (given or inferred units) and build the record.

    ``note`` and ``rate_note`` say how lead names and the sampling rate were decided; they
    end up in ``units_note`` with the units decision. ``fmt`` is ``"npy"`` or ``"npz"``.
    """
    for k, v in leads.items():
        check_samples(name, v.size, what=f"lead {k}")
    scale, unit_note = amplitude_units(leads.values(), units, name)
    leads = {k: v * scale for k, v in leads.items()}
    return make_record(leads, fs, source_format=fmt, source_name=name, units_note=f"{note}{unit_note}; {rate_note}")
