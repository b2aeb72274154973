"""From a validated record to what the model, figures and pages consume (:class:`PreparedECG`).

:func:`prepare` resamples, cleans, finds R peaks, takes the median beat (the device's own
when the file has one), measures it and builds the model input. :data:`PREPROCESSING` is the
record of these settings that every model card stores; it is built from the constants of
:mod:`hfviz.ecg.signal`, not retyped.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hfviz.ecg.measure import Measurement, measure_beat
from hfviz.ecg.record import LEADS, ECGRecord
from hfviz.ecg.signal import (
    BEAT_LEN,
    FS_HZ,
    MODEL_LEN,
    PAD,
    R_OFFSET,
    clean,
    detect_r_peaks,
    median_beat_from_peaks,
    model_input,
    resample,
    spatial_magnitude,
)

#: Preprocessing the network expects (stored in every card; checked when a model loads).
PREPROCESSING = {
    "fs_hz": FS_HZ,
    "beat_len": BEAT_LEN,
    "model_len": MODEL_LEN,
    "padding": f"{PAD} zero samples each side",
    "normalisation": "per-lead z-score over time, NaN -> 0 (hfviz.ecg.signal.normalise)",
    "lead_order": list(LEADS),
    "units_before_normalisation": "mV",
}


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedECG:
    """A record after preprocessing; what the model, plots and pages consume.

    Attributes
    ----------
    record : ECGRecord
        The input record.
    strip_mv : ndarray, shape (12, n)
        Cleaned strip at :data:`FS_HZ`, mV.
    fs_hz : float
        Always :data:`FS_HZ`.
    r_peaks : ndarray of int, shape (k,)
        R-peak sample indices in ``strip_mv``.
    median_beat_mv : ndarray, shape (12, 600)
        Median beat at 500 Hz in mV with the R peak at :data:`R_OFFSET`.
    median_source : str
        ``"device"`` (the file's own median beats) or ``"computed"`` (from the strip).
    model_input : ndarray, shape (12, 608), float32
        ``model_input(median_beat_mv)``.
    measurements : dict of str to Measurement
        Keys :data:`MEASUREMENT_KEYS`.
    """

    record: ECGRecord
    strip_mv: np.ndarray
    fs_hz: float
    r_peaks: np.ndarray
    median_beat_mv: np.ndarray
    median_source: str
    model_input: np.ndarray
    measurements: dict[str, Measurement]



# --------------------------------------------------------------------------------------
# the whole pipeline
# --------------------------------------------------------------------------------------
def device_median_beat(record: ECGRecord) -> np.ndarray | None:
    """The record's own median beats as a (12, 600) 500 Hz beat, or ``None`` when absent.

    Beats are resampled to 500 Hz. A 600-sample beat whose spatial-magnitude peak lies
    within 15 samples of :data:`R_OFFSET` (GE CardioSoft / MUSE: QRS onset at sample 216)
    is used exactly as stored, so UK Biobank-style files reach the model unchanged. Any
    other beat is shifted so that its spatial-magnitude peak lies at :data:`R_OFFSET` and
    cut or extended (with its end values) to 600 samples.

    Parameters
    ----------
    record : ECGRecord

    Returns
    -------
    ndarray, shape (12, 600), or None
    """
    if record.median_beat_mv is None or record.median_fs_hz is None:
        return None
    b = np.asarray(record.median_beat_mv, dtype=np.float64)
    if not 0.4 <= b.shape[-1] / float(record.median_fs_hz) <= 4.0:  # not one heartbeat long: unusable
        return None
    if float(record.median_fs_hz) != FS_HZ:
        b = resample(b, float(record.median_fs_hz), FS_HZ)
    m = b.shape[-1]
    if m < 100:
        return None
    mag = spatial_magnitude(b - np.median(b, axis=-1, keepdims=True))
    # search the QRS peak in the middle of the beat (a median beat is centred on its QRS)
    lo, hi = int(0.2 * m), int(0.8 * m)
    peak = lo + int(np.argmax(mag[lo:hi]))
    if m == BEAT_LEN and abs(peak - R_OFFSET) <= 15:
        return b.copy()
    idx = np.clip(np.arange(BEAT_LEN) + (peak - R_OFFSET), 0, m - 1)
    return b[:, idx]


def prepare(record: ECGRecord, *, prefer_device_median: bool = True) -> PreparedECG:
    """Run the whole preprocessing pipeline on one record.

    Resample to 500 Hz, clean, detect R peaks, take the median beat (the device's own when
    the file carries one and ``prefer_device_median``; otherwise computed from the strip),
    measure, and build the model input.

    Parameters
    ----------
    record : ECGRecord
        A validated record.
    prefer_device_median : bool
        Use the file's median beats when present (default), as UK Biobank's pipeline did.

    Returns
    -------
    PreparedECG

    Raises
    ------
    ECGFormatError
        No median beat can be obtained (fewer than 2 usable beats and no device median);
        the message names the record.
    """
    name = record.source_name
    x = resample(record.signal_mv, record.fs_hz, FS_HZ)
    x = clean(x, FS_HZ)
    r = detect_r_peaks(x, FS_HZ)
    device = device_median_beat(record) if prefer_device_median else None
    if device is not None:
        beat, source = device, "device"
    else:
        beat, source = median_beat_from_peaks(x, r, name), "computed"
    # intervals are measured on the beat the model sees
    measurements = measure_beat(r, beat, None)
    beat = np.array(beat, dtype=np.float64)
    beat.setflags(write=False)
    x.setflags(write=False)
    mi = model_input(beat)
    mi.setflags(write=False)
    return PreparedECG(
        record=record,
        strip_mv=x,
        fs_hz=FS_HZ,
        r_peaks=r,
        median_beat_mv=beat,
        median_source=source,
        model_input=mi,
        measurements=measurements,
    )
