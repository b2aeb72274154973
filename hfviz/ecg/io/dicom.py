"""DICOM waveform objects (12-lead ECG, general ECG) read with pydicom from memory.

The longest multiplex group holding standard leads is the rhythm signal; a group of at most
1.5 s (or labelled median/representative) is the device median beat. Samples are decoded
here with NumPy after checking the declared channel and sample counts against the bytes
present; each channel is scaled by its sensitivity, correction factor and baseline in its
sensitivity unit (µV or mV).
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
from collections.abc import Sequence

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import (
    MAX_CHANNELS,
    NamedBytes,
    age_years,
    check_samples,
    clean_meta,
    lead_from_code,
    sex_code,
    unit_scale_to_mv,
)
from hfviz.ecg.record import ECGRecord, make_record, normalise_lead_name

# pydicom reports oddities of a malformed upload both as warnings and on its logger; in a terminal or a
# server log they are noise next to the reader's own one-sentence error (and could quote header values).
logging.getLogger("pydicom").setLevel(logging.ERROR)

_DTYPES = {("SS", 16): "i2", ("US", 16): "u2", ("SB", 8): "i1", ("UB", 8): "u1", ("SS", 32): "i4", ("US", 32): "u4"}


def _channel_label(ch) -> str:
    """A channel's lead: its coded lead (SCP-ECG ``5.6.3-9-n`` / MDC ``2:n``) first, its text second."""
    src = ch.get("ChannelSourceSequence")
    if src:
        item = src[0]
        coded = lead_from_code(str(item.get("CodeValue", "") or ""))
        if coded and normalise_lead_name(coded):
            return coded
        meaning = str(item.get("CodeMeaning", "") or "")
        if normalise_lead_name(meaning):
            return meaning
        value = str(item.get("CodeValue", "") or "")
        if normalise_lead_name(value):
            return value
        label = str(ch.get("ChannelLabel", "") or "")
        if normalise_lead_name(label):
            return label
        if meaning:
            return meaning
    return str(ch.get("ChannelLabel", "") or "?")


def _group(ds, group, name: str, little: bool) -> tuple[dict[str, np.ndarray], float, str]:
    """Leads in mV, sampling rate and label of one multiplex group."""
    n_ch = int(group.get("NumberOfWaveformChannels", 0) or 0)
    n_s = int(group.get("NumberOfWaveformSamples", 0) or 0)
    fs = float(group.get("SamplingFrequency", 0) or 0)
    label = str(group.get("MultiplexGroupLabel", "") or "")
    if not 1 <= n_ch <= MAX_CHANNELS:
        raise ECGFormatError(f"{name}: a waveform group declares {n_ch} channels.")
    check_samples(name, n_s, what="waveform")
    if not np.isfinite(fs) or fs <= 0:
        raise ECGFormatError(f"{name}: a waveform group has sampling rate {fs:g} Hz.")
    bits = int(group.get("WaveformBitsAllocated", 16) or 16)
    interp = str(group.get("WaveformSampleInterpretation", "SS") or "SS")
    key = (interp, bits)
    if key not in _DTYPES:
        raise ECGFormatError(f"{name}: DICOM waveform sample type {interp} with {bits} bits is not supported.")
    dtype = np.dtype(("<" if little else ">") + _DTYPES[key])
    raw = group.get("WaveformData")
    raw = bytes(raw) if raw is not None else b""
    need = n_ch * n_s * dtype.itemsize
    if len(raw) < need:
        raise ECGFormatError(
            f"{name}: the waveform data is truncated: {n_ch} channels x {n_s:,} samples need "
            f"{need:,} bytes but {len(raw):,} are present."
        )
    data = np.frombuffer(raw, dtype=dtype, count=n_ch * n_s).reshape(n_s, n_ch)
    channels = group.get("ChannelDefinitionSequence") or []
    if len(channels) != n_ch:
        raise ECGFormatError(
            f"{name}: the waveform declares {n_ch} channels but defines {len(channels)}."
        )
    leads: dict[str, np.ndarray] = {}
    for j, ch in enumerate(channels):
        lead = _channel_label(ch)
        if normalise_lead_name(lead) is None:
            continue
        sens = float(ch.get("ChannelSensitivity", 1) or 1)
        corr = float(ch.get("ChannelSensitivityCorrectionFactor", 1) or 1)
        base = float(ch.get("ChannelBaseline", 0) or 0)
        unit_seq = ch.get("ChannelSensitivityUnitsSequence")
        unit = str(unit_seq[0].get("CodeValue", "uV")) if unit_seq else "uV"
        to_mv = unit_scale_to_mv(unit, name, what=f"lead {lead}")
        if not all(np.isfinite([sens, corr, base])) or sens == 0 or corr == 0:
            raise ECGFormatError(f"{name}: lead {lead} has an invalid channel sensitivity.")
        leads[lead] = (data[:, j].astype(np.float64) * sens * corr + base) * to_mv
    return leads, fs, label


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read a DICOM waveform file from memory.

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content (with the 128-byte preamble and ``DICM``).
    fs, units : optional
        Ignored: the file states its sampling rate and units.

    Returns
    -------
    ECGRecord
        ``source_format="dicom"``.
    """
    name, data = files[0]
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():  # see the logger note above
            warnings.simplefilter("ignore")
            return _read(name, data)
    except ECGFormatError:
        raise
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            struct.error, NotImplementedError):
        raise ECGFormatError(f"{name}: not a readable DICOM ECG (the file is truncated or corrupt).") from None


def _read(name: str, data: bytes) -> ECGRecord:
    import pydicom
    import pydicom.config

    # value-validation warnings could echo header values (names) into logs: do not emit them
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    ds = pydicom.dcmread(io.BytesIO(data), force=False)
    groups = list(ds.get("WaveformSequence") or [])
    if not groups:
        raise ECGFormatError(f"{name}: the DICOM file holds no waveform (is it an image rather than an ECG?).")
    try:
        little = bool(ds.original_encoding[1]) if ds.original_encoding[1] is not None else True
    except AttributeError:  # pragma: no cover - older pydicom
        little = True
    parsed = []
    for g in groups:
        leads, fs, label = _group(ds, g, name, little)
        if leads:
            n = next(iter(leads.values())).size
            parsed.append((leads, fs, label, n / fs))
    if not parsed:
        raise ECGFormatError(f"{name}: no standard ECG leads found in the DICOM waveform.")

    def is_median(p) -> bool:
        return p[3] <= 1.5 or any(w in p[2].lower() for w in ("median", "representative"))

    rhythm = max((p for p in parsed if not is_median(p)), key=lambda p: (len(p[0]), p[3]), default=None)
    if rhythm is None:
        raise ECGFormatError(f"{name}: the DICOM file has only median beats, no rhythm recording.")
    median = next((p for p in parsed if is_median(p)), None)
    unit_seq = groups[0]["ChannelDefinitionSequence"][0].get("ChannelSensitivityUnitsSequence")
    unit = str(unit_seq[0].get("CodeValue", "uV")) if unit_seq else "uV"
    return make_record(
        rhythm[0],
        rhythm[1],
        source_format="dicom",
        source_name=name,
        median_beats=median[0] if median else None,
        median_fs_hz=median[1] if median else None,
        units_note=f"units from the file (channel sensitivity in {unit})",
        meta=_meta(ds),
    )


def _meta(ds) -> dict:
    meta: dict = {
        "age": age_years(ds.get("PatientAge")),
        "sex": sex_code(str(ds.get("PatientSex", "") or "")),
        "device": " ".join(str(ds.get(k, "") or "") for k in ("Manufacturer", "ManufacturerModelName")).strip(),
    }
    acq = str(ds.get("AcquisitionDateTime", "") or "")
    if len(acq) >= 14:
        meta["acquired"] = f"{acq[0:4]}-{acq[4:6]}-{acq[6:8]}T{acq[8:10]}:{acq[10:12]}:{acq[12:14]}"
    elif acq:
        meta["acquired"] = acq
    interp, measurements = [], {}
    for ann in ds.get("WaveformAnnotationSequence") or []:
        text = str(ann.get("UnformattedTextValue", "") or "").strip()
        if text:
            interp.append(text)
        concept = ann.get("ConceptNameCodeSequence")
        if concept and "NumericValue" in ann:
            label = str(concept[0].get("CodeMeaning", "") or concept[0].get("CodeValue", ""))
            try:
                value = float(ann.NumericValue if not isinstance(ann.NumericValue, list) else ann.NumericValue[0])
            except (TypeError, ValueError, IndexError):
                continue
            units = ann.get("MeasurementUnitsCodeSequence")
            measurements[label] = {"value": value, "unit": str(units[0].get("CodeValue", "")) if units else ""}
    meta["interpretation"] = "; ".join(interp)
    meta["device_measurements"] = measurements
    return clean_meta(meta)
