"""NumPy ``.npz`` archives: a signal array or one array per lead, with optional ``fs``, ``units`` and lead names.

Recognised entries: one signal array (``signal``, ``ecg``, ``x``, ``data``, ``p_signal``,
``signal_mv``, or the only 2-D array), or one 1-D array per lead named by lead; optional
``fs`` (Hz), ``units`` and ``leads`` / ``lead_names`` / ``sig_name``. The archive is
expanded in memory after its declared sizes are checked (no zip bombs).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Sequence

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import MAX_FILE_BYTES, NamedBytes, positive_float
from hfviz.ecg.io.npy import array_to_leads, finish_record, npy_array
from hfviz.ecg.record import ECGRecord, normalise_lead_name


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read an ``.npz`` archive.

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content.
    fs : float, optional
        Sampling rate in Hz; needed unless the archive stores ``fs`` (then it must agree
        within 1 %).
    units : {"mV", "uV"}, optional
        Overrides a stored ``units`` entry; inferred from the amplitudes when neither is given.

    Returns
    -------
    ECGRecord
        ``source_format="npz"``.
    """
    name, data = files[0]
    arrays = _entries(name, data)
    fs, rate_note = _sampling_rate(arrays, name, fs)
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
        leads, note = array_to_leads(arrays[key], name, lead_names)
    return finish_record(name, leads, fs, units, note, "npz", rate_note)


def _entries(name: str, data: bytes) -> dict[str, np.ndarray]:
    """The archive's arrays by entry name (without ``.npy``), after checking sizes; ``fs``/``units`` hold one value."""
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
        arrays[key] = npy_array(f"{name} [{key}]", raw)
    for key in ("fs", "units"):
        if key in arrays and np.asarray(arrays[key]).size != 1:
            raise ECGFormatError(f"{name}: the archive's {key!r} entry must hold one value.")
    return arrays


def _sampling_rate(arrays: dict[str, np.ndarray], name: str, fs: float | None) -> tuple[float, str]:
    """Sampling rate in Hz (the stored ``fs`` entry, which is removed from ``arrays``, or ``fs``) and its source."""
    if "fs" in arrays:
        fs_file = positive_float(np.asarray(arrays.pop("fs")).reshape(-1)[0], name, "the stored sampling rate")
        if fs is not None and abs(float(fs) - fs_file) > 0.01 * fs_file:
            raise ECGFormatError(f"{name}: the given sampling rate {fs:g} Hz disagrees with the stored {fs_file:g} Hz.")
        return fs_file, "sampling rate from the file"
    if fs is None:
        raise ECGFormatError(f"{name}: the archive has no 'fs' entry; give the sampling rate (fs=…, --fs).")
    return positive_float(fs, name, "the given sampling rate"), "sampling rate given"
