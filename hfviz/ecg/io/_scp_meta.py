"""SCP-ECG metadata sections: 1 (age, sex), 7 (global measurements) and 8 (textual diagnosis).

Layout followed from the Apache-2.0 C# "ECG Toolkit" (van Ettinger / Erasmus MC); no code
copied. Read leniently: a malformed section yields what could be read, never an error.
"""

from __future__ import annotations

import datetime as _dt
import struct
from typing import Any

__all__ = ["section1", "section7", "section8"]

_NO_VALUE = 29999


def _u16(b: bytes, o: int) -> int:
    return struct.unpack_from("<H", b, o)[0]


def section1(s: bytes) -> tuple[Any, str | None]:
    age = None
    sex = None
    born = None
    acquired = None
    o = 0
    while o + 3 <= len(s):
        tag = s[o]
        size = _u16(s, o + 1)
        value = s[o + 3 : o + 3 + size]
        o += 3 + size
        if tag == 255 or len(value) < size:
            break
        if tag == 4 and size >= 3:
            v, unit = _u16(value, 0), value[2]
            years = {0: v, 1: v, 2: v / 12, 3: v / 52.18, 4: v / 365.25, 5: v / 8766}.get(unit)
            if years is not None and 0 <= years <= 130 and not (v == 0 and unit == 0):
                age = int(years) if years == int(years) else round(years, 1)
        elif tag == 8 and size >= 1:
            sex = {1: "M", 2: "F"}.get(value[0])
        elif tag == 5 and size >= 4:
            born = _date(value)
        elif tag == 25 and size >= 4:
            acquired = _date(value)
    if age is None and born and acquired and born <= acquired:
        years = acquired.year - born.year - ((acquired.month, acquired.day) < (born.month, born.day))
        age = years if 0 <= years <= 130 else None
    return age, sex


def _date(b: bytes) -> _dt.date | None:
    try:
        return _dt.date(_u16(b, 0), b[2], b[3])
    except ValueError:
        return None


def section7(s: bytes) -> dict[str, dict[str, Any]]:
    """Global measurements; lenient (returns what could be read)."""
    out: dict[str, dict[str, Any]] = {}
    if len(s) < 6:
        return out

    def put(key: str, value: int | float | None, unit: str) -> None:
        if value is not None:
            out[key] = {"value": value, "unit": unit}

    def ok(v: int) -> int | None:
        return None if v in (_NO_VALUE, 0xFFFF) else v

    n_ref, n_spikes, rr, pp = struct.unpack_from("<BBHH", s, 0)
    o = 6
    if n_ref >= 1 and o + 16 <= len(s):
        p_on, p_off, q_on, q_off, t_off = (ok(v) for v in struct.unpack_from("<5H", s, o))
        p_ax, qrs_ax, t_ax = (None if v == _NO_VALUE else v for v in struct.unpack_from("<3h", s, o + 10))
        if p_on is not None and q_on is not None and q_on > p_on:
            put("PRInterval", q_on - p_on, "ms")
        if p_on is not None and p_off is not None and p_off > p_on:
            put("PDuration", p_off - p_on, "ms")
        if q_on is not None and q_off is not None and q_off > q_on:
            put("QRSDuration", q_off - q_on, "ms")
        if q_on is not None and t_off is not None and t_off > q_on:
            put("QTInterval", t_off - q_on, "ms")
        put("PAxis", p_ax, "degrees")
        put("RAxis", qrs_ax, "degrees")
        put("TAxis", t_ax, "degrees")
    rr = ok(rr)
    if rr:
        put("RRInterval", rr, "ms")
        put("VentricularRate", int(round(60000 / rr)), "BPM")
    o += 16 * n_ref + 4 * n_spikes
    if n_spikes:
        o += 6 * n_spikes  # spike information (assumed present, as in the standard's layout)
    if o + 2 > len(s):
        return out
    n_qrs = _u16(s, o)
    o += 2 + n_qrs
    if o + 6 > len(s):
        return out
    vent, atrial, qtc = (ok(v) for v in struct.unpack_from("<3H", s, o))
    if vent:
        put("VentricularRate", vent, "BPM")
    if atrial:
        put("AtrialRate", atrial, "BPM")
    if qtc:
        put("QTCorrected", qtc, "ms")
    return out


def section8(s: bytes) -> str:
    """Textual diagnosis; lenient."""
    if len(s) < 9:
        return ""
    n = s[8]
    o = 9
    lines = []
    for _ in range(n):
        if o + 3 > len(s):
            break
        size = _u16(s, o + 1)
        text = s[o + 3 : o + 3 + size]
        o += 3 + size
        for part in text.replace(b"\r", b"\n").split(b"\x00"):
            t = " ".join(part.decode("latin-1").split())
            if t:
                lines.append(t)
    return "; ".join(lines)
