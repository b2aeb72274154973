"""GE CardioSoft XML (``<CardiologyXML>``): the UK Biobank resting-ECG format (field 20205).

Reads the 10-s ``StripData`` and the device ``MedianSamples`` (600 samples at 500 Hz), each
with its own ``Resolution`` (µV per LSB, 5 in UK Biobank), plus age, sex, device, the
diagnosis/conclusion text, the acquisition time and the device measurements
(``VentricularRate``, ``QRSDuration`` …). Patient names and identifiers are never kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree.ElementTree import Element  # the type only: parsing goes through defusedxml

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import (
    NamedBytes,
    age_years,
    check_samples,
    clean_meta,
    parse_numbers,
    parse_xml,
    positive_float,
    sex_code,
    unit_scale_to_mv,
)
from hfviz.ecg.record import ECGRecord, make_record

#: Device measurements copied into ``meta["device_measurements"]`` (value, unit).
_MEASUREMENTS = (
    "VentricularRate", "PQInterval", "PDuration", "QRSDuration", "QTInterval", "QTCInterval",
    "RRInterval", "PPInterval", "PAxis", "RAxis", "TAxis", "QRSNum",
)


def _text(el: Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _block(block: Element, name: str, what: str) -> tuple[dict[str, np.ndarray], float]:
    """Leads (in mV) and sampling rate of a ``StripData`` or ``MedianSamples`` element."""
    fs = positive_float(_text(block.find("SampleRate")), name, f"{what} sampling rate")
    res_el = block.find("Resolution")
    if res_el is None:
        raise ECGFormatError(f"{name}: the {what} has no amplitude Resolution.")
    resolution = positive_float(_text(res_el), name, f"{what} amplitude resolution")
    units = (res_el.get("units") or "uVperLsb").lower().replace("perlsb", "").replace("/lsb", "")
    scale = resolution * unit_scale_to_mv(units, name, what=what)
    declared_text = _text(block.find("ChannelSampleCountTotal"))
    declared = int(declared_text) if declared_text.isdigit() else None
    if declared is not None:
        check_samples(name, declared, what=what)
    leads: dict[str, np.ndarray] = {}
    for wf in block.findall("WaveformData"):
        lead = wf.get("lead") or "?"
        values = parse_numbers(wf.text, name, f"lead {lead} of the {what}")
        check_samples(name, values.size, what=what)
        if declared is not None and values.size < declared:
            raise ECGFormatError(
                f"{name}: lead {lead} of the {what} is truncated ({values.size} of {declared} samples)."
            )
        leads[lead] = values[: declared or values.size] * scale
    if not leads:
        raise ECGFormatError(f"{name}: the {what} has no WaveformData.")
    return leads, fs


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read a GE CardioSoft XML file (parsed safely in memory).

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content, an XML document with root ``<CardiologyXML>``.
    fs, units : optional
        Ignored: the file states its sampling rate and units.

    Returns
    -------
    ECGRecord
        ``source_format="cardiosoft"``; ``median_beat_mv`` from ``MedianSamples`` when present.
    """
    name, data = files[0]
    root = parse_xml(name, data)
    strip = root.find("StripData")
    if strip is None:
        raise ECGFormatError(f"{name}: the CardioSoft XML has no StripData (10-s rhythm strip).")
    leads, fs = _block(strip, name, "rhythm strip")
    median, median_fs = None, None
    med_el = root.find("RestingECGMeasurements/MedianSamples")
    if med_el is not None:
        try:
            median, median_fs = _block(med_el, name, "median beat")
        except ECGFormatError:
            median, median_fs = None, None  # optional; the strip is what matters
    res = _text(strip.find("Resolution"))
    return make_record(
        leads,
        fs,
        source_format="cardiosoft",
        source_name=name,
        median_beats=median,
        median_fs_hz=median_fs,
        units_note=f"units from the file ({res} µV per unit)",
        meta=_meta(root),
    )


def _meta(root: Element) -> dict:
    meta: dict = {}
    info = root.find("PatientInfo")
    if info is not None:
        meta["age"] = age_years(_text(info.find("Age")))
        meta["sex"] = sex_code(_text(info.find("Gender")))
        pace = _text(info.find("PaceMaker"))
        if pace:
            meta["pacemaker"] = pace.lower()
    dev = root.find("ClinicalInfo/DeviceInfo")
    if dev is not None:
        parts = [_text(dev.find("Desc")), _text(dev.find("SoftwareVer")), _text(dev.find("AnalysisVer"))]
        meta["device"] = " ".join(p for p in parts if p)
    t = root.find("ObservationDateTime")
    if t is not None:
        try:
            y, mo, d, h, mi, s = (int(_text(t.find(k)) or 0) for k in ("Year", "Month", "Day", "Hour", "Minute", "Second"))
            if y:
                meta["acquired"] = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
        except ValueError:
            pass
    interp = root.find("Interpretation")
    if interp is not None:
        lines = [_text(e) for e in interp.findall("Diagnosis/DiagnosisText")]
        if not any(lines):
            lines = [_text(e) for e in interp.findall("Conclusion/ConclusionText")]
        lines = [ln for ln in lines if ln and ln != "---"]
        meta["interpretation"] = "; ".join(lines)
    measurements: dict = {}
    m = root.find("RestingECGMeasurements")
    if m is not None:
        for key in _MEASUREMENTS:
            el = m.find(key)
            if el is None or not _text(el):
                continue
            try:
                value = float(_text(el))
            except ValueError:
                continue
            measurements[key] = {"value": value, "unit": el.get("units", "")}
    meta["device_measurements"] = measurements
    return clean_meta(meta)
