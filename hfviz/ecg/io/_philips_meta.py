"""Metadata of Philips resting-ECG XML: device measurements, interpretation, age, device, time.

Element names as in the SierraECG 1.03 / PhilipsECG 1.04 schemas (see :mod:`hfviz.ecg.io.philips`).
Measurement names follow the other readers (``VentricularRate``, ``QRSDuration`` …) so the app
shows them beside its own. Namespaces are already stripped from the tree.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any
from xml.etree.ElementTree import Element  # the type only: parsing goes through defusedxml

from hfviz.ecg.io._common import age_years

__all__ = ["measurements", "interpretation", "device", "acquired", "age"]


def _text(el: Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _number(text: Any) -> float | None:
    try:
        v = float(str(text).strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None



# device measurement name (as the other readers name them) -> (candidate tags, unit)
_MEASURES: dict[str, tuple[tuple[str, ...], str]] = {
    "VentricularRate": (("heartrate", "meanventrate"), "BPM"),
    "RRInterval": (("rrint", "meanrrint"), "ms"),
    "PRInterval": (("print", "meanprint"), "ms"),
    "QRSDuration": (("qrsdur", "meanqrsdur"), "ms"),
    "QTInterval": (("qtint", "meanqtint"), "ms"),
    "QTCorrected": (("qtcb", "meanqtc", "qtc"), "ms"),
    "QTcFridericia": (("qtcf",), "ms"),
    "PDuration": (("pdur",), "ms"),
    "AtrialRate": (("atrialrate",), "BPM"),
    "PAxis": (("pfrontaxis",), "degrees"),
    "RAxis": (("qrsfrontaxis",), "degrees"),
    "TAxis": (("tfrontaxis",), "degrees"),
}
_CONTAINERS = (
    ".//interpretations/interpretation/globalmeasurements",  # 1.04
    ".//interpretations/interpretation/interpretationmeasurements",  # 1.03
    ".//measurements/globalmeasurements",  # 1.03
    ".//internalmeasurements/crossleadmeasurements",  # 1.04
    ".//groupmeasurements/groupmeasurement",
)


def measurements(root: Element) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    containers = [c for path in _CONTAINERS if (c := root.find(path)) is not None]
    for key, (tags, unit) in _MEASURES.items():
        for c in containers:
            value = None
            for tag in tags:
                value = _number(_text(c.find(tag)))
                if value is not None:
                    break
            if value is not None:
                found[key] = {"value": int(value) if value == int(value) else value, "unit": unit}
                break
    return found


def interpretation(root: Element) -> str:
    interp = root.find(".//interpretations/interpretation")
    if interp is None:
        return ""
    lines: list[str] = []
    for st in interp.findall("statement"):
        left = " ".join(_text(st.find("leftstatement")).split())
        right = " ".join(_text(st.find("rightstatement")).split())
        if left and right:
            lines.append(f"{left} ({right})")
        elif left or right:
            lines.append(left or right)
    severity = " ".join(_text(interp.find("severity")).split())
    if severity:
        lines.append(severity)
    return "; ".join(lines)


def device(root: Element) -> str:
    machine = root.find(".//dataacquisition/machine")
    return " ".join(_text(machine).split()) if machine is not None else ""


def acquired(root: Element) -> str:
    acq = root.find(".//dataacquisition")
    if acq is None:
        return ""
    date, time = (acq.get("date") or "").strip(), (acq.get("time") or "").strip()
    return f"{date}T{time}" if date and time else date


def _parse_date(text: str) -> _dt.date | None:
    try:
        return _dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def age(root: Element) -> int | float | None:
    age = root.find(".//patient/generalpatientdata/age")
    if age is None:
        return None
    for tag, unit in (("years", "y"), ("months", "m"), ("weeks", "w"), ("days", "d")):
        value = _text(age.find(tag))
        if value:
            return age_years(value + unit)
    born = _parse_date(_text(age.find("dateofbirth")))
    acq = root.find(".//dataacquisition")
    when = _parse_date(acq.get("date", "")) if acq is not None else None
    if born and when and born <= when:
        return age_years(when.year - born.year - ((when.month, when.day) < (born.month, born.day)))
    return None
