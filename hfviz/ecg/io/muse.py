"""GE MUSE XML (``<RestingECG>``): base64 little-endian int16 waveforms.

MUSE stores 8 independent leads (I, II, V1–V6); III, aVR, aVL and aVF are derived by
:func:`hfviz.ecg.record.make_record` and listed in ``derived_leads``. The ``Rhythm`` waveform
becomes the signal and the ``Median`` waveform the device median beat. Amplitudes use each
lead's ``LeadAmplitudeUnitsPerBit`` (4.88 µV when absent, the MUSE default).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from xml.etree.ElementTree import Element  # the type only: parsing goes through defusedxml

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import (
    NamedBytes,
    age_years,
    check_samples,
    clean_meta,
    parse_xml,
    positive_float,
    sex_code,
    unit_scale_to_mv,
)
from hfviz.ecg.record import ECGRecord, make_record

DEFAULT_UV_PER_BIT = 4.88

_MEASUREMENTS = (
    "VentricularRate", "AtrialRate", "PRInterval", "QRSDuration", "QTInterval", "QTCorrected",
    "QTcFrederica", "PAxis", "RAxis", "TAxis", "QRSCount",
)
_UNITS = {"VentricularRate": "BPM", "AtrialRate": "BPM", "PAxis": "degrees", "RAxis": "degrees",
          "TAxis": "degrees", "QRSCount": ""}


def _text(el: Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _waveform(wf: Element, name: str, what: str) -> tuple[dict[str, np.ndarray], float, bool]:
    """Leads in mV, sampling rate, and whether the default resolution was assumed."""
    base = positive_float(_text(wf.find("SampleBase")) or "0", name, f"{what} sampling rate")
    exp_text = _text(wf.find("SampleExponent")) or "0"
    try:
        exponent = int(exp_text)
    except ValueError:
        raise ECGFormatError(f"{name}: the {what} sample exponent {exp_text!r} is not an integer.") from None
    if not -3 <= exponent <= 3:
        raise ECGFormatError(f"{name}: the {what} sample exponent {exponent} is implausible.")
    fs = base * 10.0**exponent
    leads: dict[str, np.ndarray] = {}
    assumed = False
    for ld in wf.findall("LeadData"):
        lead = _text(ld.find("LeadID")) or "?"
        raw = "".join((_text(ld.find("WaveFormData"))).split())
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ECGFormatError(f"{name}: lead {lead} of the {what} is not valid base64.") from None
        size_text = _text(ld.find("LeadSampleSize")) or "2"
        if size_text != "2":
            raise ECGFormatError(f"{name}: lead {lead} uses {size_text}-byte samples; only 2-byte samples are supported.")
        declared_text = _text(ld.find("LeadSampleCountTotal"))
        available = len(data) // 2
        declared = int(declared_text) if declared_text.isdigit() else available
        check_samples(name, declared, what=what)
        if available < declared:
            raise ECGFormatError(
                f"{name}: lead {lead} of the {what} is truncated ({available} of {declared} samples)."
            )
        per_bit_text = _text(ld.find("LeadAmplitudeUnitsPerBit"))
        if per_bit_text:
            per_bit = positive_float(per_bit_text, name, f"lead {lead} amplitude resolution")
        else:
            per_bit, assumed = DEFAULT_UV_PER_BIT, True
        units = _text(ld.find("LeadAmplitudeUnits")) or "MICROVOLTS"
        scale = per_bit * unit_scale_to_mv(units, name, what=f"lead {lead}")
        leads[lead] = np.frombuffer(data, dtype="<i2", count=declared).astype(np.float64) * scale
    if not leads:
        raise ECGFormatError(f"{name}: the {what} has no LeadData.")
    return leads, fs, assumed


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read a GE MUSE XML file (parsed safely in memory).

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content, an XML document with root ``<RestingECG>``.
    fs, units : optional
        Ignored: the file states its sampling rate and units.

    Returns
    -------
    ECGRecord
        ``source_format="muse"``; derived limb leads listed in ``derived_leads``.
    """
    name, data = files[0]
    root = parse_xml(name, data)
    rhythm = median = None
    for wf in root.findall("Waveform"):
        kind = _text(wf.find("WaveformType")).lower()
        if kind == "rhythm" and rhythm is None:
            rhythm = wf
        elif kind == "median" and median is None:
            median = wf
    if rhythm is None:
        raise ECGFormatError(f"{name}: the MUSE XML has no Rhythm waveform.")
    leads, fs, assumed = _waveform(rhythm, name, "rhythm waveform")
    med_leads, med_fs = None, None
    if median is not None:
        try:
            med_leads, med_fs, _ = _waveform(median, name, "median beat")
        except ECGFormatError:
            med_leads, med_fs = None, None
    note = "units from the file (µV per bit per lead)"
    if assumed:
        note = f"the file gives no amplitude resolution; the MUSE default {DEFAULT_UV_PER_BIT} µV per bit was assumed"
    return make_record(
        leads,
        fs,
        source_format="muse",
        source_name=name,
        median_beats=med_leads,
        median_fs_hz=med_fs,
        units_note=note,
        meta=_meta(root),
    )


def statement_lines(diag: Element) -> list[str]:
    """The diagnosis as the device prints it: one string per printed line, statements in order.

    MUSE splits a line over several ``<DiagnosisStatement>`` elements; a statement whose
    ``<StmtFlag>`` list holds ``ENDSLINE`` ends the line, the others continue it (joined by a
    space, or directly when the next part starts with punctuation such as ``", age undetermined"``).
    """
    lines: list[str] = []
    current = ""
    for stmt in diag.findall("DiagnosisStatement"):
        text = " ".join(_text(stmt.find("StmtText")).split())
        if text:
            joined_directly = not current or text[0] in ",.;:)]"
            current = f"{current}{'' if joined_directly else ' '}{text}"
        if any(_text(flag).upper() == "ENDSLINE" for flag in stmt.findall("StmtFlag")) and current:
            lines.append(current.strip(" ;,"))
            current = ""
    if current.strip(" ;,"):
        lines.append(current.strip(" ;,"))
    return [line for line in lines if line]


def _meta(root: Element) -> dict:
    meta: dict = {}
    demo = root.find("PatientDemographics")
    if demo is not None:
        age = _text(demo.find("PatientAge"))
        unit = _text(demo.find("AgeUnits")).lower()
        if age:
            meta["age"] = age_years(age + ("m" if unit.startswith("month") else ""))
        meta["sex"] = sex_code(_text(demo.find("Gender")))
    test = root.find("TestDemographics")
    if test is not None:
        date, time = _text(test.find("AcquisitionDate")), _text(test.find("AcquisitionTime"))
        meta["acquired"] = f"{date} {time}".strip()
        meta["device"] = " ".join(
            p for p in (_text(test.find("AcquisitionDevice")), _text(test.find("AcquisitionSoftwareVersion"))) if p
        )
    if not meta.get("device"):
        version = _text(root.find("MuseInfo/MuseVersion"))
        meta["device"] = f"GE MUSE {version}".strip()
    lines = []
    for diag in root.findall("Diagnosis") or root.findall("OriginalDiagnosis"):
        lines += statement_lines(diag)
    meta["interpretation"] = "; ".join(lines)
    measurements = {}
    m = root.find("RestingECGMeasurements")
    if m is not None:
        for key in _MEASUREMENTS:
            try:
                value = float(_text(m.find(key)))
            except ValueError:
                continue
            measurements[key] = {"value": value, "unit": _UNITS.get(key, "ms")}
    meta["device_measurements"] = measurements
    return clean_meta(meta)
