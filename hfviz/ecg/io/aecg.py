"""HL7 v3 annotated ECG (FDA aECG, ``<AnnotatedECG xmlns="urn:hl7-org:v3">``).

The first ``RHYTHM`` series gives the signal, a ``REPRESENTATIVE_BEAT`` derived series the
device median beat. Each lead sequence is ``origin + scale * digits`` in the sequence's unit
(µV or mV); the sampling rate is ``1 / increment`` of the time sequence.
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
    local,
    parse_numbers,
    parse_xml,
    positive_float,
    sex_code,
    unit_scale_to_mv,
)
from hfviz.ecg.record import ECGRecord, make_record

_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def _iter_local(el: Element, name: str):
    for e in el.iter():
        if local(e.tag) == name:
            yield e


def _code(el: Element) -> str:
    for child in el:
        if local(child.tag) == "code":
            return child.get("code", "")
    return ""


def _sequence_set(series: Element, name: str, what: str) -> tuple[dict[str, np.ndarray], float]:
    """Leads in mV and sampling rate of the first ``sequenceSet`` of a series."""
    seq_set = next(_iter_local(series, "sequenceSet"), None)
    if seq_set is None:
        raise ECGFormatError(f"{name}: the {what} has no sequenceSet.")
    fs = None
    leads: dict[str, np.ndarray] = {}
    for seq in _iter_local(seq_set, "sequence"):
        code = _code(seq)
        value = next((c for c in seq if local(c.tag) == "value"), None)
        if value is None:
            continue
        if code.startswith("TIME_"):
            inc = next((c for c in value if local(c.tag) == "increment"), None)
            if inc is not None:
                step = positive_float(inc.get("value"), name, f"{what} time increment")
                unit = (inc.get("unit") or "s").lower()
                if unit not in _TIME_UNITS:
                    raise ECGFormatError(f"{name}: the {what} time increment has unknown unit {unit!r}.")
                fs = 1.0 / (step * _TIME_UNITS[unit])
            continue
        digits = next((c for c in value if local(c.tag) == "digits"), None)
        if digits is None:
            continue
        origin_el = next((c for c in value if local(c.tag) == "origin"), None)
        scale_el = next((c for c in value if local(c.tag) == "scale"), None)
        lead = code or "?"
        try:
            scale = 1.0 if scale_el is None else float(scale_el.get("value", "1"))
            origin = 0.0 if origin_el is None else float(origin_el.get("value", "0"))
        except ValueError:
            raise ECGFormatError(f"{name}: lead {lead} of the {what} has a scale or origin that is not a number.") from None
        if not np.isfinite(scale) or scale == 0 or not np.isfinite(origin):
            raise ECGFormatError(f"{name}: lead {lead} of the {what} has an invalid scale or origin.")
        unit = (scale_el.get("unit") if scale_el is not None else None) or "uV"
        to_mv = unit_scale_to_mv(unit, name, what=f"lead {lead}")
        values = parse_numbers(digits.text, name, f"lead {lead} of the {what}")
        check_samples(name, values.size, what=what)
        leads[lead] = (origin + scale * values) * to_mv
    if fs is None:
        raise ECGFormatError(f"{name}: the {what} has no time increment, so the sampling rate is unknown.")
    if not leads:
        raise ECGFormatError(f"{name}: the {what} has no lead sequences.")
    return leads, fs


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read an HL7 aECG XML file (parsed safely in memory).

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content, an XML document with root ``<AnnotatedECG>``.
    fs, units : optional
        Ignored: the file states its sampling rate and units.

    Returns
    -------
    ECGRecord
        ``source_format="aecg"``.
    """
    name, data = files[0]
    root = parse_xml(name, data)
    rhythm = beat = None
    for series in _iter_local(root, "series"):
        if _code(series) == "RHYTHM" and rhythm is None:
            rhythm = series
    for series in _iter_local(root, "derivedSeries"):
        if _code(series) == "REPRESENTATIVE_BEAT" and beat is None:
            beat = series
    if rhythm is None:
        raise ECGFormatError(f"{name}: the aECG file has no RHYTHM series.")
    # the rhythm series contains the derived series; read the rhythm's own sequenceSet only
    own = Element("series")
    own.extend(c for c in rhythm if local(c.tag) == "component")
    leads, fs = _sequence_set(own, name, "rhythm series")
    med, med_fs = None, None
    if beat is not None:
        try:
            med, med_fs = _sequence_set(beat, name, "representative beat")
        except ECGFormatError:
            med, med_fs = None, None
    return make_record(
        leads,
        fs,
        source_format="aecg",
        source_name=name,
        median_beats=med,
        median_fs_hz=med_fs,
        units_note="units from the file (origin + scale × digits)",
        meta=_meta(root, rhythm),
    )


def _meta(root: Element, rhythm: Element) -> dict:
    meta: dict = {}
    for person in _iter_local(root, "subjectDemographicPerson"):
        for c in person:
            if local(c.tag) == "administrativeGenderCode":
                meta["sex"] = sex_code(c.get("code"))
        break
    for obs in _iter_local(root, "relatedObservation"):
        if _code(obs) == "21612-7":  # LOINC reported age
            value = next((c for c in obs if local(c.tag) == "value"), None)
            if value is not None:
                meta["age"] = age_years(f"{value.get('value', '')}{'m' if value.get('unit') == 'mo' else ''}")
    eff = next((c for c in root if local(c.tag) == "effectiveTime"), None)
    if eff is not None:
        point = next((c for c in eff if local(c.tag) in ("center", "low")), None)
        if point is not None and point.get("value"):
            v = point.get("value")
            meta["acquired"] = f"{v[0:4]}-{v[4:6]}-{v[6:8]}T{v[8:10]}:{v[10:12]}:{v[12:14]}" if len(v) >= 14 else v
    model = next(_iter_local(rhythm, "manufacturerModelName"), None)
    org = next((e for e in _iter_local(rhythm, "manufacturerOrganization")), None)
    maker = ""
    if org is not None:
        maker = next((e.text or "" for e in org if local(e.tag) == "name"), "")
    meta["device"] = " ".join(p.strip() for p in (maker, model.text if model is not None else "") if p and p.strip())
    interp, measurements = [], {}
    for ann in _iter_local(root, "annotation"):
        code = _code(ann)
        value = next((c for c in ann if local(c.tag) == "value"), None)
        if value is None or not code:
            continue
        if value.get("displayName") and code in ("MDC_ECG_RHY", "MDC_ECG_INTERPRETATION_STATEMENT", "MDC_ECG_INTERPRETATION"):
            interp.append(value.get("displayName"))
        elif (code.startswith(("MDC_ECG_TIME_PD_", "MDC_ECG_ANGLE_", "MDC_ECG_HEART_RATE"))) and value.get("value"):
            try:
                measurements[code.removeprefix("MDC_ECG_")] = {"value": float(value.get("value")), "unit": value.get("unit", "")}
            except ValueError:
                pass
        elif code.startswith("MDC_ECG_INTERPRETATION") and (value.text or "").strip():
            interp.append(value.text.strip())
    meta["interpretation"] = "; ".join(dict.fromkeys(interp))
    meta["device_measurements"] = measurements
    return clean_meta(meta)
